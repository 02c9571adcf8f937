//! The C ABI: one file per C "class" (`config`, `error`, `reply`, `reader`, ...), private
//! plumbing in `guard` (NULL and panic guards, string arguments) and `handle` (casts between
//! handles and Rust values).
//!
//! The only place with `extern "C"` functions besides the hiredis compatibility layer. Every
//! function here is safe to call with NULL and never lets a panic unwind into C.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

pub(crate) mod guard;
mod handle;
pub(crate) mod userdata;

pub mod batch;
pub mod client;
pub mod config;
pub mod credentials;
pub mod error;
pub mod item;
pub mod lock;
pub mod monitor;
pub mod pubsub;
pub mod queue;
pub mod reader;
pub mod reply;
pub mod script;
pub mod transaction;
pub mod version;
