//! Re-authentication from C: switch a client's live connections to new credentials, wait or
//! be called back with the outcome, and hear about automatic token renewals.

use std::os::raw::{c_char, c_void};

use super::redcore_client;
use crate::client::ReauthReport;
use crate::config::{Credentials, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::ffi::error::redcore_error;
use crate::ffi::guard::{guard_code, null_arg, opt_str_arg};
use crate::ffi::userdata::Userdata;

/// The outcome of a re-authentication: how many live connections were sent AUTH, how many
/// failed (refused the credentials, timed out), and the first failure's error (NULL when
/// none failed; borrowed until the callback returns). Connections that were not up are not
/// counted: they use the new credentials when they connect. A connection lost before it
/// answered is counted in `connections` but is not a failure: it uses the new credentials
/// when it reconnects. Runs once, on a library thread (or on the calling thread when no
/// connection was up).
pub type redcore_reauth_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        connections: usize,
        failed: usize,
        first_error: *const redcore_error,
    ),
>;

/// Reads the credentials arguments; a NULL password means "ask the provider" (None).
///
/// # Safety
/// username is NULL or NUL-terminated; password is NULL or valid for password_len bytes.
unsafe fn credentials(
    username: *const c_char,
    password: *const c_char,
    password_len: usize,
) -> Result<Option<Credentials>> {
    // SAFETY: per the contract above.
    let username = unsafe { opt_str_arg(username, "username") }?;
    if password.is_null() {
        return Ok(None);
    }
    // SAFETY: per the contract above.
    let bytes = unsafe { std::slice::from_raw_parts(password.cast::<u8>(), password_len) };
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::invalid_argument("password is not valid UTF-8"))?;
    if text.is_empty() {
        return Err(Error::invalid_argument("password is empty"));
    }
    Ok(Some(Credentials {
        username: username.filter(|u| !u.is_empty()).map(String::from),
        password: Secret::new(text),
        lifetime: None,
    }))
}

fn report_to(callback: redcore_reauth_callback, userdata: &Userdata, report: &ReauthReport) {
    let Some(f) = callback else {
        return;
    };
    let first = report.first_error().cloned().map(redcore_error::new);
    let first_ptr = first
        .as_ref()
        .map_or(std::ptr::null(), |e| e as *const redcore_error);
    // SAFETY: the C function follows its contract; the error lives until it returns.
    unsafe {
        f(
            userdata.get(),
            report.connections,
            report.errors.len(),
            first_ptr,
        )
    };
}

/// Switches the client to new credentials without dropping a connection: `username`
/// (NUL-terminated; NULL for the `default` user) and `password_len` bytes of UTF-8 at
/// `password`, both copied (the library's copy of the password is overwritten once sent; wipe
/// yours after this returns). A NULL `password` asks the configured credential provider
/// instead. The credentials serve every later connect, and AUTH with them is queued on every
/// live connection (shared and dedicated, held ones too), after the commands already queued
/// there, which complete as before; a held connection inside MULTI gets it after EXEC or
/// DISCARD. `callback` (may be NULL) then runs once with the outcome (see
/// `redcore_reauth_callback`); a connection that refused the credentials keeps its previous
/// identity, and one lost before it answered reconnects with the new credentials.
///
/// Returns `REDCORE_OK` (the callback will run), or an error without running it:
/// `REDCORE_ERR_INVALID_ARGUMENT` (NULL client, bad text, no password and no provider),
/// `REDCORE_ERR_AUTHENTICATION` (the provider failed), `REDCORE_ERR_CLOSED`.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_reauthenticate(
    client: *const redcore_client,
    username: *const c_char,
    password: *const c_char,
    password_len: usize,
    callback: redcore_reauth_callback,
    userdata: *mut c_void,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        // SAFETY: client is NULL or a live client.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        // SAFETY: per this function's contract.
        let credentials = unsafe { credentials(username, password, password_len) }?;
        let data = Userdata::new(userdata, None);
        client
            .inner
            .submit_reauthenticate(credentials, move |report| {
                report_to(callback, &data, &report)
            })
    })
}

/// `redcore_client_reauthenticate`, waiting for every live connection's answer. Returns
/// `REDCORE_OK` when none failed (the number of connections sent AUTH written to
/// `*connections_out` when it is not NULL; a connection lost before it answered is not a
/// failure, it reconnects with the new credentials), else the first failure's code (e.g.
/// `REDCORE_ERR_AUTHENTICATION` for a wrong password) with its error in `*err_out`; the
/// message never contains the password.
/// Not from inside a callback (`REDCORE_ERR_INVALID_ARGUMENT`: it would deadlock).
#[no_mangle]
pub unsafe extern "C" fn redcore_client_reauthenticate_blocking(
    client: *const redcore_client,
    username: *const c_char,
    password: *const c_char,
    password_len: usize,
    connections_out: *mut usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or a live client.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        // SAFETY: per this function's contract.
        let credentials = unsafe { credentials(username, password, password_len) }?;
        let report = client.inner.reauthenticate(credentials)?;
        if !connections_out.is_null() {
            // SAFETY: connections_out is writable when not NULL.
            unsafe { *connections_out = report.connections };
        }
        Ok(())
    })
}

/// Sets the callback told the outcome of each automatic renewal of expiring credentials
/// (see `redcore_credentials_set`'s `lifetime_ms`); NULL removes it. A renewal whose provider
/// call failed reports 0 connections, 1 failure and the provider's error. `userdata` must
/// stay valid until the callback is replaced or the client freed.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_set_reauth_callback(
    client: *const redcore_client,
    callback: redcore_reauth_callback,
    userdata: *mut c_void,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        // SAFETY: client is NULL or a live client.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        let data = Userdata::new(userdata, None);
        client.inner.set_reauth_handler(callback.map(|_| {
            Box::new(move |report: &ReauthReport| report_to(callback, &data, report))
                as Box<crate::client::ReauthHandler>
        }));
        Ok(())
    })
}
