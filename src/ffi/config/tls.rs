//! The TLS setters of `redcore_config`. Paths and strings are copied; NULL clears a setting.
//! Files are read when a client is created (`redcore_client_new` fails with
//! `REDCORE_ERR_TLS` naming the setting when one cannot be read).

use std::os::raw::{c_char, c_int, c_void};

use super::{edit, redcore_config};
use crate::config::{OcspVerifier, TlsVersion};
use crate::error::{Error, ErrorKind};
use crate::ffi::error::redcore_error;
use crate::ffi::guard::{guard_code, opt_str_arg};
use crate::ffi::userdata::{redcore_userdata_free, Userdata};

/// Checks a stapled OCSP response during a TLS handshake; returns true to accept the
/// connection, false to fail it with `REDCORE_ERR_TLS`. Gets the server's certificate (DER)
/// and the stapled response (DER; `ocsp_len` is 0 and `ocsp` may be NULL when the server
/// stapled none). Both are borrowed for the duration of the call. Runs on a library thread,
/// after the certificate chain was verified, and must not block for long.
pub type redcore_ocsp_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        cert_der: *const u8,
        cert_len: usize,
        ocsp: *const u8,
        ocsp_len: usize,
    ) -> bool,
>;

/// Turns TLS on or off for TCP (and Unix) connections (default off; a `rediss://` URL turns
/// it on). With TLS on and no CA set, the system's trust store is used.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_tls(
    cfg: *mut redcore_config,
    enabled: bool,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.tls = enabled) }
    })
}

/// Trusts the CA certificates of the PEM file at `path` (copied; NULL clears).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_tls_ca_file(
    cfg: *mut redcore_config,
    path: *const c_char,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: path is NULL or a NUL-terminated string, per the contract.
        let path = unsafe { opt_str_arg(path, "path") }?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.tls_options.ca_file = path.map(Into::into)) }
    })
}

/// Trusts the CA certificates of every PEM file in the directory `path` (copied; NULL
/// clears). Files holding no certificate are skipped.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_tls_ca_dir(
    cfg: *mut redcore_config,
    path: *const c_char,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: path is NULL or a NUL-terminated string, per the contract.
        let path = unsafe { opt_str_arg(path, "path") }?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.tls_options.ca_dir = path.map(Into::into)) }
    })
}

/// Trusts the CA certificates in `pem`, `len` bytes of PEM text (copied; NULL clears).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_tls_ca_pem(
    cfg: *mut redcore_config,
    pem: *const c_char,
    len: usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let pem = if pem.is_null() {
            None
        } else {
            // SAFETY: pem is valid for len bytes, per the contract.
            Some(unsafe { std::slice::from_raw_parts(pem.cast::<u8>(), len) }.to_vec())
        };
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.tls_options.ca_pem = pem) }
    })
}

/// Also trusts the operating system's CA store (default false; it is used anyway when no CA
/// file, directory or PEM is set).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_tls_system_roots(
    cfg: *mut redcore_config,
    enabled: bool,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.tls_options.system_roots = enabled) }
    })
}

/// Presents a client certificate (mutual TLS): the PEM chain at `cert_file` and its PEM
/// private key at `key_file` (PKCS#8, PKCS#1 or SEC1). Both or neither: two NULLs clear it.
/// The paths are copied; the files are read when a client is created.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_tls_client_cert(
    cfg: *mut redcore_config,
    cert_file: *const c_char,
    key_file: *const c_char,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: both are NULL or NUL-terminated strings, per the contract.
        let cert = unsafe { opt_str_arg(cert_file, "cert_file") }?;
        // SAFETY: as above.
        let key = unsafe { opt_str_arg(key_file, "key_file") }?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe {
            edit(cfg, |c| {
                c.tls_options.client_cert_file = cert.map(Into::into);
                c.tls_options.client_key_file = key.map(Into::into);
            })
        }
    })
}

/// Sets the name sent with SNI and required in the server's certificate (copied; NULL
/// clears: the host connected to). Needed when connecting by IP to a server whose
/// certificate names a host, and for TLS over a Unix socket.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_tls_server_name(
    cfg: *mut redcore_config,
    name: *const c_char,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: name is NULL or a NUL-terminated string, per the contract.
        let name = unsafe { opt_str_arg(name, "name") }?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.tls_options.server_name = name.map(String::from)) }
    })
}

/// Sets the lowest TLS version accepted: 12 for TLS 1.2 (the default) or 13 for TLS 1.3.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_tls_min_version(
    cfg: *mut redcore_config,
    version: c_int,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let version = match version {
            12 => TlsVersion::Tls12,
            13 => TlsVersion::Tls13,
            other => {
                return Err(Error::invalid_argument(format!(
                    "version must be 12 (TLS 1.2) or 13 (TLS 1.3), not {other}"
                )))
            }
        };
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.tls_options.min_version = version) }
    })
}

/// DANGEROUS: skips every check of the server's certificate (CA, expiry, name), so anyone on
/// the path can read and change the traffic, passwords included. For tests against servers
/// with throwaway certificates only. Off by default; nothing else turns it on.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_tls_insecure_skip_verify(
    cfg: *mut redcore_config,
    skip: bool,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.tls_options.insecure_skip_verify = skip) }
    })
}

/// Sets a check of the stapled OCSP response (see `redcore_ocsp_callback`); NULL `callback`
/// removes it. `userdata` is passed to every call; it must stay valid, and be usable from any
/// thread, until `userdata_free` (when not NULL) is called with it: once, after the config,
/// its clones and every client made from them are freed or the check is replaced, and at
/// once when this function fails or `callback` is NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_tls_ocsp_verifier(
    cfg: *mut redcore_config,
    callback: redcore_ocsp_callback,
    userdata: *mut c_void,
    userdata_free: redcore_userdata_free,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let verifier = callback.map(|f| {
            let data = Userdata::new(userdata, userdata_free);
            OcspVerifier::new(move |staple| {
                let (ocsp, ocsp_len) = if staple.response.is_empty() {
                    (std::ptr::null(), 0)
                } else {
                    (staple.response.as_ptr(), staple.response.len())
                };
                // SAFETY: the C function follows its documented contract; the slices live
                // until it returns.
                let accepted = unsafe {
                    f(
                        data.get(),
                        staple.end_entity.as_ptr(),
                        staple.end_entity.len(),
                        ocsp,
                        ocsp_len,
                    )
                };
                if accepted {
                    Ok(())
                } else {
                    Err("the OCSP callback returned false".into())
                }
            })
        });
        if verifier.is_none() {
            // SAFETY: freeing what the caller handed over with a NULL callback.
            drop(Userdata::new(userdata, userdata_free));
        }
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.tls_options.ocsp_verifier = verifier) }
    })
}
