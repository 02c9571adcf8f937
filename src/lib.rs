//! redcore: a Redis / Valkey client with a Rust engine and a C ABI.
//!
//! The layers, bottom to top (see ARCHITECTURE.md): `error` (the taxonomy), `resp` (the
//! protocol, sans-I/O), `route` (routing policy, sans-I/O), and `ffi` (the C face). Each
//! module's first lines say what it owns.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod error;
pub mod resp;
pub mod route;

pub mod ffi;

pub use error::{Error, ErrorKind, Result};
