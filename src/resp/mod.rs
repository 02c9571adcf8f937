//! The RESP2 / RESP3 protocol, sans-I/O: the reply representation (`Reply`, `ValueRef`),
//! the incremental `Decoder`, the command encoder, and the owned `Value` tree.
//!
//! Nothing here touches a socket, a clock or a thread.

mod decoder;
mod encoder;
mod reply;
mod value;

#[cfg(test)]
pub(crate) use decoder::parse_int;
pub use decoder::{Decoder, Limits, MAX_DEPTH};
pub use encoder::{encode_command, encoded_len, write_header};
pub use reply::{Kind, Reply, ValueRef};
pub(crate) use reply::{Node, F_ROOT};
pub use value::Value;

#[cfg(test)]
mod tests;
