//! Compatibility faces: C APIs of other clients, built on redcore so that programs written for
//! them run unchanged. Only with the `hiredis` feature (see `hiredis`).

pub mod hiredis;
