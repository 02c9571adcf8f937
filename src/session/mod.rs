//! One connection's protocol state, sans-I/O: the handshake (`handshake`), the exchange of
//! requests and replies (`exchange`: FIFO pairing, pushes apart, timeouts, what a disconnect
//! does to each request), and later modes and the client-side cache. The reactor moves the
//! bytes; nothing here touches a socket, a clock or a thread.

pub mod batch;
pub mod exchange;
pub mod handshake;

#[cfg(test)]
mod handshake_tests;

pub use batch::PipelineResult;
pub use exchange::{Event, Exchange, RequestMeta, Sent, Unanswered};
