//! One connection's protocol state, sans-I/O: the handshake (`handshake`), and later the FIFO
//! of requests awaiting replies, push routing, modes and the client-side cache. The reactor
//! moves the bytes; nothing here touches a socket, a clock or a thread.

pub mod handshake;

#[cfg(test)]
mod handshake_tests;
