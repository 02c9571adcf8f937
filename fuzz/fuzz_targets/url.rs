//! URL and config parsing: any text given to `Config::from_url` (and to the C face's
//! `redcore_config_from_url`) is parsed or refused with INVALID_ARGUMENT, never a panic; a
//! URL that parses prints (passwords redacted) as a URL that parses to the same printout.

#![no_main]

use std::ffi::CString;
use std::ptr;

use libfuzzer_sys::fuzz_target;
use redcore::config::Config;
use redcore::ffi::config::{redcore_config_free, redcore_config_from_url};
use redcore::ffi::error::redcore_error_free;
use redcore::ErrorKind;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_url(text) {
        Ok(config) => {
            assert!(
                config.validate().is_ok(),
                "from_url let an invalid config through"
            );
            let printed = config.to_url_redacted();
            let again = Config::from_url(&printed)
                .unwrap_or_else(|e| panic!("printed URL {printed:?} does not parse: {e}"));
            assert_eq!(again.to_url_redacted(), printed);
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}"),
    }
    // The same through C, where the text arrives NUL-terminated.
    let Ok(c_text) = CString::new(text) else {
        return;
    };
    let mut cfg = ptr::null_mut();
    let mut err = ptr::null_mut();
    let rc = unsafe { redcore_config_from_url(c_text.as_ptr(), &mut cfg, &mut err) };
    if rc == ErrorKind::Ok {
        assert!(err.is_null());
        unsafe { redcore_config_free(cfg) };
    } else {
        assert_eq!(rc, ErrorKind::InvalidArgument);
        assert!(cfg.is_null());
        unsafe { redcore_error_free(err) };
    }
});
