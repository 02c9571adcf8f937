//! Routing policy, sans-I/O: what a command needs from a connection (`command`), and the
//! cluster rooms: hash slots (`slot`), the command table of key
//! positions and policies (`keys`, `builtin`, `command_info`), the cluster's shape
//! (`topology`) and the decisions taken on it (`cluster`: plans, replica choice, fan-out
//! merges, SCAN cursors, redirects and retries, refresh scheduling), and the sentinel rooms
//! (`sentinel`: discovery from sentinel answers, their events, failover holds). Input: a command, a
//! reply or an event, and the time; output: a decision. Nothing here touches a socket, a
//! clock or a thread.

mod builtin;
pub mod cluster;
pub mod command;
mod command_info;
pub mod keys;
pub mod sentinel;
pub mod slot;
pub mod topology;
