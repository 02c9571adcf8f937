//! Routing policy, sans-I/O: what a command needs from a connection (`command`), the
//! standalone `router`, and the cluster rooms: hash slots (`slot`). Input: a command or an
//! event; output: a decision. Nothing here touches a socket, a clock or a thread.

pub mod command;
pub mod router;
pub mod slot;
