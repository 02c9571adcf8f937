//! redcore: a Redis / Valkey client with a Rust engine and a C ABI.
//!
//! The layers, bottom to top (see ARCHITECTURE.md): `error` (the taxonomy), `resp` (the
//! protocol, sans-I/O), `config` (every knob, URL parsing, backoff), and `ffi` (the C face). Each module's
//! first lines say what it owns.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod config;
pub mod error;
pub mod resp;

pub mod ffi;

pub use config::Config;
pub use error::{Error, ErrorKind, Result};
