//! C class `redcore_credentials`: the slot a credential provider callback fills, and the
//! config setters for the provider and for token renewal.
//!
//! Ownership: the callback copies the username and password into the slot with
//! `redcore_credentials_set`; the library owns the copies (the password's is overwritten
//! when no longer needed) and the caller keeps its own buffers, to wipe as it likes. Nothing
//! is handed back that the caller would have to free.

use std::os::raw::{c_char, c_void};
use std::time::Duration;

use super::config::redcore_config;
use super::error::redcore_error;
use super::guard::{guard_code, null_arg, opt_str_arg};
use super::userdata::{redcore_userdata_free, Userdata};
use crate::config::{CredentialProvider, CredentialSource, Credentials, Secret, TokenRefresh};
use crate::error::{Error, ErrorKind, Result};

/// The credentials a provider callback hands over. Underneath: a slot on the library's stack,
/// borrowed by the callback for the duration of the call; never freed by the caller.
pub struct redcore_credentials {
    credentials: Option<Credentials>,
    error: Option<String>,
}

/// Asked for the username and password at every connect and reconnect (and by
/// `redcore_client_reauthenticate` without a password). Fills `out` with
/// `redcore_credentials_set` and returns true; or returns false (optionally after
/// `redcore_credentials_set_error`) to fail the connection with `REDCORE_ERR_AUTHENTICATION`.
/// Runs on a library thread and should return quickly (fetch tokens ahead of time, hand out
/// the latest here); `out` is valid only during the call.
pub type redcore_credentials_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, out: *mut redcore_credentials) -> bool>;

/// Sets the credentials in a provider callback's slot: `username` (NUL-terminated; NULL for
/// the `default` user) and the password or token, `password_len` bytes of UTF-8 at
/// `password` (no terminator needed). Both are copied: the library's copy of the password is
/// overwritten when it is no longer needed; wipe yours as you like after this returns.
/// `lifetime_ms` is how long the credentials stay valid from now (a token's lifetime), 0 for
/// no expiry: the client then asks again before they run out (see
/// `redcore_config_set_token_refresh`) and re-authenticates every connection.
///
/// Returns `REDCORE_ERR_INVALID_ARGUMENT` for a NULL `out` or `password`, an empty password or
/// text that is not UTF-8 (the message never quotes the password).
#[no_mangle]
pub unsafe extern "C" fn redcore_credentials_set(
    out: *mut redcore_credentials,
    username: *const c_char,
    password: *const c_char,
    password_len: usize,
    lifetime_ms: u64,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        // SAFETY: out is NULL or the slot lent to the running callback.
        let out = unsafe { out.as_mut() }.ok_or_else(|| null_arg("out"))?;
        // SAFETY: username is NULL or NUL-terminated, per the contract.
        let username = unsafe { opt_str_arg(username, "username") }?;
        if password.is_null() {
            return Err(null_arg("password"));
        }
        // SAFETY: password is valid for password_len bytes, per the contract.
        let bytes = unsafe { std::slice::from_raw_parts(password.cast::<u8>(), password_len) };
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::invalid_argument("password is not valid UTF-8"))?;
        if text.is_empty() {
            return Err(Error::invalid_argument("password is empty"));
        }
        out.credentials = Some(Credentials {
            username: username.filter(|u| !u.is_empty()).map(String::from),
            password: Secret::new(text),
            lifetime: (lifetime_ms != 0).then(|| Duration::from_millis(lifetime_ms)),
        });
        Ok(())
    })
}

/// Records why a provider callback could not give credentials (copied; quoted in the
/// `REDCORE_ERR_AUTHENTICATION` error, so it must not hold a secret). The callback then
/// returns false.
#[no_mangle]
pub unsafe extern "C" fn redcore_credentials_set_error(
    out: *mut redcore_credentials,
    message: *const c_char,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        // SAFETY: out is NULL or the slot lent to the running callback.
        let out = unsafe { out.as_mut() }.ok_or_else(|| null_arg("out"))?;
        // SAFETY: message is NULL or NUL-terminated, per the contract.
        let message = unsafe { opt_str_arg(message, "message") }?;
        out.error = message.map(String::from);
        Ok(())
    })
}

/// A C provider callback as a `CredentialProvider`.
struct CProvider {
    callback: unsafe extern "C" fn(*mut c_void, *mut redcore_credentials) -> bool,
    userdata: Userdata,
}

impl CredentialProvider for CProvider {
    fn credentials(&self) -> Result<Credentials> {
        let mut slot = redcore_credentials {
            credentials: None,
            error: None,
        };
        // SAFETY: the C function follows its contract; the slot lives until it returns.
        let ok = unsafe { (self.callback)(self.userdata.get(), &mut slot) };
        match (ok, slot.credentials) {
            (true, Some(credentials)) => Ok(credentials),
            (true, None) => Err(Error::new(
                ErrorKind::Authentication,
                "the credential provider returned true without calling redcore_credentials_set",
            )),
            (false, _) => Err(Error::new(
                ErrorKind::Authentication,
                format!(
                    "the credential provider failed: {}",
                    slot.error.as_deref().unwrap_or("it returned false")
                ),
            )),
        }
    }
}

/// Makes `callback` the source of the username and password, asked at every connect and
/// reconnect (see `redcore_credentials_callback`); NULL removes it. Exclusive with
/// `redcore_config_set_username` / `_set_password` (clear those first, or this fails with
/// `REDCORE_ERR_INVALID_ARGUMENT`). `userdata` is passed to every call; it must stay valid, and
/// be usable from any thread, until `userdata_free` (when not NULL) is called with it: once,
/// after the config, its clones and every client made from them are freed or the provider is
/// replaced, and at once when this function fails or `callback` is NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_credential_provider(
    cfg: *mut redcore_config,
    callback: redcore_credentials_callback,
    userdata: *mut c_void,
    userdata_free: redcore_userdata_free,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let userdata = Userdata::new(userdata, userdata_free);
        let source =
            callback.map(|callback| CredentialSource::new(CProvider { callback, userdata }));
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { super::config::edit(cfg, |c| c.credential_provider = source) }
    })
}

/// Sets when expiring credentials (from a provider, with a lifetime) are renewed: after
/// `ratio_percent` percent of their lifetime (1 to 100; default 80), but at least
/// `min_ahead_ms` before they expire (default 0). A failed renewal is tried again every
/// `retry_ms` (default 1000; 0 keeps the default).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_token_refresh(
    cfg: *mut redcore_config,
    ratio_percent: u32,
    min_ahead_ms: u64,
    retry_ms: u64,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        if !(1..=100).contains(&ratio_percent) {
            return Err(Error::invalid_argument(format!(
                "ratio_percent must be 1 to 100, not {ratio_percent}"
            )));
        }
        let refresh = TokenRefresh {
            ratio: f64::from(ratio_percent) / 100.0,
            min_ahead: Duration::from_millis(min_ahead_ms),
            retry_delay: if retry_ms == 0 {
                TokenRefresh::default().retry_delay
            } else {
                Duration::from_millis(retry_ms)
            },
        };
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { super::config::edit(cfg, |c| c.token_refresh = refresh) }
    })
}
