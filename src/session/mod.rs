//! One connection's protocol state, sans-I/O: the handshake (`handshake`), the exchange of
//! requests and replies (`exchange`: FIFO pairing, pushes apart, timeouts, what a disconnect
//! does to each request, subscribed and MONITOR modes), what out-of-band frames say (`push`),
//! a subscriber's wanted subscriptions (`subscriptions`), MONITOR's lines (`monitor`), and
//! the client-side cache (`cache`). The reactor moves the bytes; nothing here touches a
//! socket, a clock or a thread.

pub mod batch;
pub mod cache;
pub mod exchange;
pub mod handshake;
pub mod monitor;
pub mod push;
pub mod subscriptions;

#[cfg(test)]
mod stream_tests;

#[cfg(test)]
mod handshake_tests;

pub use batch::PipelineResult;
pub use exchange::{Event, Exchange, RequestMeta, Sent, StreamMode, Unanswered};
