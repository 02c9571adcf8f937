//! The library's version, as a string and as header macros.

use std::os::raw::c_char;

/// Major version of the redcore this header came with.
pub const REDCORE_VERSION_MAJOR: u32 = 0;
/// Minor version of the redcore this header came with.
pub const REDCORE_VERSION_MINOR: u32 = 1;
/// Patch version of the redcore this header came with.
pub const REDCORE_VERSION_PATCH: u32 = 0;

static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The version of the linked library, as "MAJOR.MINOR.PATCH" (a static NUL-terminated string;
/// never free it). Compare with the REDCORE_VERSION_* macros to detect a header/library
/// mismatch. Thread-safe.
#[no_mangle]
pub extern "C" fn redcore_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// True when this build of the library has TLS (`rediss://`, the TLS settings); false for
/// the build without it (`make minimal`), where a client asked for TLS fails to be created
/// with `REDCORE_ERR_TLS`. Thread-safe.
#[no_mangle]
pub extern "C" fn redcore_has_tls() -> bool {
    cfg!(feature = "tls")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_tls_follows_the_feature() {
        assert_eq!(redcore_has_tls(), cfg!(feature = "tls"));
    }

    #[test]
    fn macros_match_cargo_toml() {
        assert_eq!(
            REDCORE_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            REDCORE_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            REDCORE_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        let s = unsafe { std::ffi::CStr::from_ptr(redcore_version()) };
        assert_eq!(s.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
