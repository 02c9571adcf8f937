//! One connection's protocol state, sans-I/O: the exchange of requests and replies (FIFO
//! pairing, pushes apart, timeouts, what a disconnect does to each request) and, later, the
//! handshake, modes and the client-side cache.

pub mod exchange;

pub use exchange::{Event, Exchange, RequestMeta};
