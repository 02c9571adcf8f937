//! Routing policy, sans-I/O: what a command needs from a connection (`command`), and later
//! topology (standalone, cluster slots and redirections, sentinel). Input: a command or an
//! event; output: a decision. Nothing here touches a socket, a clock or a thread.

pub mod command;
pub mod router;
