//! redcore: a Redis / Valkey client with a Rust engine and a C ABI.
//!
//! The layers, bottom to top (see ARCHITECTURE.md): `error` (the taxonomy), `resp` (the
//! protocol), `config` (every knob, URL parsing, backoff), `session` (one connection's
//! protocol state), `route` (routing policy), `net` (transports), `reactor` (the event loop), `client`
//! (the Rust API), features built on it (`lock`, `pubsub`, `script`, `monitor`), and `ffi` (the C face). `resp`, `session` and
//! `route` are sans-I/O. Each module's first lines say what it owns. With the `hiredis`
//! feature, `compat` adds the hiredis-compatible C API (built as libhiredis, not libredcore).

#![deny(unsafe_op_in_unsafe_fn)]

pub mod client;
pub mod config;
pub mod error;
pub mod lock;
pub mod monitor;
pub mod net;
pub mod pubsub;
mod reactor;
pub mod resp;
pub mod route;
pub mod script;
pub mod session;

pub mod ffi;

/// cbindgen:ignore
#[cfg(feature = "hiredis")]
pub mod compat;

pub use error::{Error, ErrorKind, Result};
