//! The hiredis-compatible C API (include/hiredis/), so that programs written for hiredis 1.x
//! build and run on redcore by changing only their include and link flags. Built only with
//! the `hiredis` feature, as libhiredis.so / libhiredis.a (see the Makefile), so that
//! libredcore.so exports none of these names.
//!
//! Written for redcore with hiredis's contract: the same structs, field for field (`types`),
//! the same functions and error texts, the same memory rules (everything the caller may free
//! comes from `hiredisAllocFns`, `alloc`), sds strings with hiredis's layout (`sds`). A sync
//! context does its own I/O on its own socket (`net`, `context`); the reader (`reader`,
//! `reply`) builds hiredis's reply objects; async contexts are driven by an event loop through
//! the `ev` hooks (`async_ctx`), including redcore's own loop thread (`event_loop`); TLS is
//! rustls through `net::tls` (`ssl`). The functions taking `...` or a va_list are in C
//! (`variadic`).
//!
//! Every exported function runs behind the panic guard of `ffi::guard`.

#![allow(non_snake_case)]
#![allow(clippy::missing_safety_doc)]

mod abi;
pub mod alloc;
pub mod async_ctx;
pub mod context;
mod event_loop;
pub mod format;
pub mod net;
pub mod reader;
pub mod reply;
pub mod sds;
pub mod ssl;
pub mod types;
mod variadic;

pub use event_loop::redcoreHiredisAttach;
