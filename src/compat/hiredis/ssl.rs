//! hiredis_ssl.h on rustls: SSL contexts (a rustls client configuration built by
//! `net::tls`, with hiredis's verification rules), and a TLS transport for a context's own
//! socket (`redisInitiateSSLWithContext`), for blocking contexts (the handshake completes in
//! the call) and for async ones (the handshake runs in the event loop callbacks).
//!
//! hiredis's verification rules, which differ from rustls's defaults: with
//! REDIS_SSL_VERIFY_PEER and no `verify_name`, the server's chain is checked but not its name
//! (any certificate from a trusted CA is accepted); with `verify_name`, the certificate must
//! carry that DNS name or IP address; with REDIS_SSL_VERIFY_NONE nothing is checked.
//! `server_name` is only what is sent with SNI.

#![allow(non_camel_case_types)]

use std::cell::Cell;
use std::ffi::CStr;
use std::io::{self, Read, Write};
use std::os::raw::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme,
};

use super::abi;
use super::async_ctx::{disconnect_now, process_callbacks, stop_write, want_read, want_write};
use super::context::{redisBufferRead, redisBufferWrite};
use super::net::{redisNetClose, set_errno, set_error, strerror};
use super::sds;
use super::types::*;
use crate::config::TlsOptions;
use crate::ffi::guard::guard;
use crate::net::tls::{client_config, server_verifier, tls_error};

pub const REDIS_SSL_CTX_NONE: c_int = 0;
pub const REDIS_SSL_CTX_CREATE_FAILED: c_int = 1;
pub const REDIS_SSL_CTX_CERT_KEY_REQUIRED: c_int = 2;
pub const REDIS_SSL_CTX_CA_CERT_LOAD_FAILED: c_int = 3;
pub const REDIS_SSL_CTX_CLIENT_CERT_LOAD_FAILED: c_int = 4;
pub const REDIS_SSL_CTX_CLIENT_DEFAULT_CERT_FAILED: c_int = 5;
pub const REDIS_SSL_CTX_PRIVATE_KEY_LOAD_FAILED: c_int = 6;
pub const REDIS_SSL_CTX_OS_CERTSTORE_OPEN_FAILED: c_int = 7;
pub const REDIS_SSL_CTX_OS_CERT_ADD_FAILED: c_int = 8;
pub const REDIS_SSL_CTX_VERIFY_NAME_FAILED: c_int = 9;

const REDIS_SSL_VERIFY_PEER: c_int = 0x01;

/// `redisSSLOptions`.
#[repr(C)]
pub struct redisSSLOptions {
    pub cacert_filename: *const c_char,
    pub capath: *const c_char,
    pub cert_filename: *const c_char,
    pub private_key_filename: *const c_char,
    pub server_name: *const c_char,
    pub verify_mode: c_int,
    pub verify_name: *const c_char,
}

/// `redisSSLOptions` of hiredis 1.2 to 1.4: 1.5's without `verify_name`.
#[repr(C)]
pub struct redisSSLOptionsV12 {
    pub cacert_filename: *const c_char,
    pub capath: *const c_char,
    pub cert_filename: *const c_char,
    pub private_key_filename: *const c_char,
    pub server_name: *const c_char,
    pub verify_mode: c_int,
}

const _: () = assert!(std::mem::size_of::<redisSSLOptions>() == 56);
const _: () = assert!(std::mem::size_of::<redisSSLOptionsV12>() == 48);

/// The caller's options, read with the layout this build answers for (`abi`): a program
/// built against hiredis 1.2 to 1.4 passes 48 bytes, and what follows them is not its.
unsafe fn read_options(options: *const redisSSLOptions) -> Option<redisSSLOptions> {
    if options.is_null() {
        return None;
    }
    if abi::ssl_options_have_verify_name() {
        // SAFETY: a 1.5 caller's options, readable.
        return Some(unsafe { options.read() });
    }
    // SAFETY: a 1.2 to 1.4 caller's options, readable for their 48 bytes.
    let o = unsafe { options.cast::<redisSSLOptionsV12>().read() };
    Some(redisSSLOptions {
        cacert_filename: o.cacert_filename,
        capath: o.capath,
        cert_filename: o.cert_filename,
        private_key_filename: o.private_key_filename,
        server_name: o.server_name,
        verify_mode: o.verify_mode,
        verify_name: std::ptr::null(),
    })
}

/// A TLS configuration shared by any number of connections (`Box`, freed with
/// redisFreeSSLContext; connections keep their own reference to the configuration).
pub struct redisSSLContext {
    config: Arc<ClientConfig>,
    /// Sent with SNI.
    server_name: Option<String>,
    /// The name the certificate must carry, if any.
    verify_name: Option<String>,
}

/// hiredis's name rule on top of the WebPKI verifier: check `expected` when there is one,
/// otherwise the chain only.
#[derive(Debug)]
struct HiredisVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    expected: Option<ServerName<'static>>,
}

impl ServerCertVerifier for HiredisVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = self.expected.as_ref().unwrap_or(server_name);
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
        {
            // The chain was verified before the name was compared (WebPKI's order).
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.expected.is_none() => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

unsafe fn opt_string(p: *const c_char) -> Option<String> {
    // SAFETY: p is NULL or NUL-terminated.
    unsafe { p.as_ref() }.map(|_| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

thread_local! {
    /// Whether the last context creation on this thread failed because the client certificate
    /// is X.509 v1, which rustls refuses (OpenSSL accepts it): hiredis has only "Failed to load
    /// client certificate" for that, so redisSSLContextGetError says why instead.
    static CLIENT_CERT_V1: Cell<bool> = const { Cell::new(false) };
}

/// hiredis's error code for a failure of `net::tls::client_config`, from the setting its
/// message names.
fn config_error_code(message: &str) -> c_int {
    CLIENT_CERT_V1.with(|v1| v1.set(message.contains("X.509 v1")));
    if message.contains("private key") || message.contains("do not make a usable") {
        REDIS_SSL_CTX_PRIVATE_KEY_LOAD_FAILED
    } else if message.contains("tls_cert_file") {
        REDIS_SSL_CTX_CLIENT_CERT_LOAD_FAILED
    } else if message.contains("tls_ca_") {
        REDIS_SSL_CTX_CA_CERT_LOAD_FAILED
    } else if message.contains("no CA to trust") {
        REDIS_SSL_CTX_OS_CERTSTORE_OPEN_FAILED
    } else {
        REDIS_SSL_CTX_CREATE_FAILED
    }
}

unsafe fn create(o: &redisSSLOptions) -> Result<Box<redisSSLContext>, c_int> {
    // SAFETY: the option strings are NULL or NUL-terminated.
    let (ca, capath, cert, key, server_name, verify_name) = unsafe {
        (
            opt_string(o.cacert_filename),
            opt_string(o.capath),
            opt_string(o.cert_filename),
            opt_string(o.private_key_filename),
            opt_string(o.server_name),
            opt_string(o.verify_name),
        )
    };
    if cert.is_some() != key.is_some() {
        return Err(REDIS_SSL_CTX_CERT_KEY_REQUIRED);
    }
    let verify = o.verify_mode & REDIS_SSL_VERIFY_PEER != 0;
    let expected = match &verify_name {
        None => None,
        // A name that would not be enforced is refused rather than silently ignored.
        Some(name) if name.is_empty() || !verify => return Err(REDIS_SSL_CTX_VERIFY_NAME_FAILED),
        Some(name) => {
            Some(ServerName::try_from(name.clone()).map_err(|_| REDIS_SSL_CTX_VERIFY_NAME_FAILED)?)
        }
    };
    let options = TlsOptions {
        ca_file: ca.map(PathBuf::from),
        ca_dir: capath.map(PathBuf::from),
        client_cert_file: cert.map(PathBuf::from),
        client_key_file: key.map(PathBuf::from),
        insecure_skip_verify: !verify,
        ..TlsOptions::default()
    };
    let base = client_config(&options).map_err(|e| config_error_code(e.message()))?;
    let mut config = (*base).clone();
    // SNI only when a server name is given, as hiredis.
    config.enable_sni = server_name.is_some();
    if verify {
        let inner = server_verifier(&options).map_err(|e| config_error_code(e.message()))?;
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(HiredisVerifier { inner, expected }));
    }
    Ok(Box::new(redisSSLContext {
        config: Arc::new(config),
        server_name,
        verify_name,
    }))
}

#[no_mangle]
pub unsafe extern "C" fn redisCreateSSLContextWithOptions(
    options: *mut redisSSLOptions,
    error: *mut c_int,
) -> *mut redisSSLContext {
    guard(std::ptr::null_mut(), || {
        // SAFETY: options is readable; error is NULL or writable.
        unsafe {
            CLIENT_CERT_V1.with(|v1| v1.set(false));
            let result = match read_options(options) {
                Some(o) => create(&o),
                None => Err(REDIS_SSL_CTX_CREATE_FAILED),
            };
            let (ctx, code) = match result {
                Ok(ctx) => (Box::into_raw(ctx), REDIS_SSL_CTX_NONE),
                Err(code) => (std::ptr::null_mut(), code),
            };
            if !error.is_null() {
                *error = code;
            }
            ctx
        }
    })
}

/// A context that checks the server's chain (not its name) against the given CA file or
/// directory (the system's store when both are NULL), with an optional client certificate.
#[no_mangle]
pub unsafe extern "C" fn redisCreateSSLContext(
    cacert_filename: *const c_char,
    capath: *const c_char,
    cert_filename: *const c_char,
    private_key_filename: *const c_char,
    server_name: *const c_char,
    error: *mut c_int,
) -> *mut redisSSLContext {
    let mut o = redisSSLOptions {
        cacert_filename,
        capath,
        cert_filename,
        private_key_filename,
        server_name,
        verify_mode: REDIS_SSL_VERIFY_PEER,
        verify_name: std::ptr::null(),
    };
    // SAFETY: the options live for the call.
    unsafe { redisCreateSSLContextWithOptions(&mut o, error) }
}

#[no_mangle]
pub unsafe extern "C" fn redisFreeSSLContext(ctx: *mut redisSSLContext) {
    guard((), || {
        if !ctx.is_null() {
            // SAFETY: ctx came from redisCreateSSLContext*, freed once.
            drop(unsafe { Box::from_raw(ctx) });
        }
    })
}

#[no_mangle]
pub extern "C" fn redisSSLContextGetError(error: c_int) -> *const c_char {
    let text: &'static CStr = match error {
        REDIS_SSL_CTX_NONE => c"No Error",
        REDIS_SSL_CTX_CREATE_FAILED => c"Failed to create OpenSSL SSL_CTX",
        REDIS_SSL_CTX_CERT_KEY_REQUIRED => c"Client cert and key must both be specified or skipped",
        REDIS_SSL_CTX_CA_CERT_LOAD_FAILED => c"Failed to load CA Certificate or CA Path",
        REDIS_SSL_CTX_CLIENT_CERT_LOAD_FAILED if CLIENT_CERT_V1.with(Cell::get) => {
            c"Failed to load client certificate: it is an X.509 v1 certificate, which the TLS \
              library (rustls) does not support (the key is fine); issue it as X.509 v3"
        }
        REDIS_SSL_CTX_CLIENT_CERT_LOAD_FAILED => c"Failed to load client certificate",
        REDIS_SSL_CTX_CLIENT_DEFAULT_CERT_FAILED => {
            c"Failed to set client default certificate directory"
        }
        REDIS_SSL_CTX_PRIVATE_KEY_LOAD_FAILED => c"Failed to load private key",
        REDIS_SSL_CTX_OS_CERTSTORE_OPEN_FAILED => c"Failed to open system certificate store",
        REDIS_SSL_CTX_OS_CERT_ADD_FAILED => {
            c"Failed to add CA certificates obtained from system to the SSL context"
        }
        REDIS_SSL_CTX_VERIFY_NAME_FAILED => {
            c"Failed to set the expected peer certificate name for verification"
        }
        _ => c"Unknown error code",
    };
    text.as_ptr()
}

/// Nothing to initialise with rustls.
#[no_mangle]
pub extern "C" fn redisInitOpenSSL() -> c_int {
    REDIS_OK
}

// ---- the TLS transport ----------------------------------------------------------------------

/// A context's TLS session (its `privctx`).
struct Session {
    conn: ClientConnection,
    peer: String,
}

/// The context's socket as a byte stream for rustls.
struct Fd(c_int);

impl Read for Fd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::recv(self.0, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl Write for Fd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: buf is readable for its length.
        let n = unsafe { libc::send(self.0, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

unsafe fn session<'a>(c: *mut redisContext) -> &'a mut Session {
    // SAFETY: privctx of a context whose funcs are SSL_FUNCS is its Session.
    unsafe { &mut *(*c).privctx.cast::<Session>() }
}

/// Records an I/O failure in the context the way hiredis does: EOF, a read timeout (EAGAIN on
/// a blocking socket), a TLS failure with its explanation, or the system's text.
unsafe fn io_failure(c: *mut redisContext, e: &io::Error, peer: &str) {
    // SAFETY: c is live.
    unsafe {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            set_error(c, REDIS_ERR_EOF, Some(b"Server closed the connection"));
        } else if let Some(os) = e.raw_os_error() {
            set_error(c, REDIS_ERR_IO, Some(strerror(os).as_bytes()));
            set_errno(os);
        } else if let Some(tls) = crate::net::tls::tls_failure(e) {
            set_error(
                c,
                REDIS_ERR_IO,
                Some(tls_error(tls, peer).message().as_bytes()),
            );
        } else {
            set_error(c, REDIS_ERR_IO, Some(e.to_string().as_bytes()));
        }
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Sends what rustls has to send. Ok(false) when the socket is full (non-blocking).
fn flush(s: &mut Session, fd: c_int) -> io::Result<bool> {
    while s.conn.wants_write() {
        match s.conn.write_tls(&mut Fd(fd)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if would_block(&e) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

unsafe extern "C" fn ssl_read(c: *mut redisContext, buf: *mut c_char, cap: usize) -> isize {
    guard(-1, || {
        // SAFETY: c is a live TLS context; buf has room for cap bytes.
        unsafe {
            let fd = (*c).fd;
            let blocking = (*c).flags & REDIS_BLOCK != 0;
            let s = session(c);
            let out = std::slice::from_raw_parts_mut(buf.cast::<u8>(), cap);
            loop {
                match s.conn.reader().read(out) {
                    Ok(0) if cap > 0 => {
                        set_error(c, REDIS_ERR_EOF, Some(b"Server closed the connection"));
                        return -1;
                    }
                    Ok(n) => return n as isize,
                    Err(e) if would_block(&e) => {}
                    Err(e) => {
                        io_failure(c, &e, &s.peer);
                        return -1;
                    }
                }
                match s.conn.read_tls(&mut Fd(fd)) {
                    Ok(0) => {
                        set_error(c, REDIS_ERR_EOF, Some(b"Server closed the connection"));
                        return -1;
                    }
                    Ok(_) => {
                        if let Err(err) = s.conn.process_new_packets() {
                            // Tell the server why (the alert is queued), then fail.
                            let _ = flush(s, fd);
                            let text = tls_error(&err, &s.peer);
                            set_error(c, REDIS_ERR_IO, Some(text.message().as_bytes()));
                            return -1;
                        }
                        // Handshake messages or a key update may need an answer.
                        if let Err(e) = flush(s, fd) {
                            io_failure(c, &e, &s.peer);
                            return -1;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if would_block(&e) && !blocking => return 0,
                    Err(e) => {
                        io_failure(c, &e, &s.peer);
                        return -1;
                    }
                }
            }
        }
    })
}

unsafe extern "C" fn ssl_write(c: *mut redisContext) -> isize {
    guard(-1, || {
        // SAFETY: c is a live TLS context with an sds obuf.
        unsafe {
            let fd = (*c).fd;
            let blocking = (*c).flags & REDIS_BLOCK != 0;
            let s = session(c);
            let out = sds::bytes((*c).obuf);
            // rustls keeps plaintext given during the handshake until it completes.
            let taken = if out.is_empty() {
                0
            } else {
                match s.conn.writer().write(out) {
                    Ok(n) => n,
                    Err(e) => {
                        io_failure(c, &e, &s.peer);
                        return -1;
                    }
                }
            };
            match flush(s, fd) {
                Ok(true) => {}
                Ok(false) if !blocking => {}
                Ok(false) => {
                    // A blocking socket's send timeout.
                    set_errno(libc::EAGAIN);
                    set_error(c, REDIS_ERR_IO, None);
                    return -1;
                }
                Err(e) => {
                    io_failure(c, &e, &s.peer);
                    return -1;
                }
            }
            taken as isize
        }
    })
}

unsafe extern "C" fn ssl_free(privctx: *mut c_void) {
    guard((), || {
        if !privctx.is_null() {
            // SAFETY: a Session installed by redisInitiateSSLWithContext, freed once.
            drop(unsafe { Box::from_raw(privctx.cast::<Session>()) });
        }
    })
}

/// Plaintext rustls decrypted but nobody read yet (the socket may not signal it again).
unsafe fn buffered_plaintext(c: *mut redisContext) -> bool {
    // SAFETY: c is a live TLS context.
    unsafe {
        session(c)
            .conn
            .process_new_packets()
            .is_ok_and(|state| state.plaintext_bytes_to_read() > 0)
    }
}

unsafe extern "C" fn ssl_async_read(ac: *mut redisAsyncContext) {
    guard((), || {
        // SAFETY: ac is a live async context with a TLS transport.
        unsafe {
            let c: *mut redisContext = &mut (*ac).c;
            loop {
                if redisBufferRead(c) == REDIS_ERR {
                    disconnect_now(ac);
                    return;
                }
                if !buffered_plaintext(c) {
                    break;
                }
            }
            want_read(ac);
            if session(c).conn.wants_write() {
                want_write(ac);
            }
            process_callbacks(ac);
        }
    })
}

unsafe extern "C" fn ssl_async_write(ac: *mut redisAsyncContext) {
    guard((), || {
        // SAFETY: ac is a live async context with a TLS transport.
        unsafe {
            let c: *mut redisContext = &mut (*ac).c;
            // Handshake records go out even when there is no command to write.
            if let Err(e) = flush(session(c), (*c).fd) {
                io_failure(c, &e, &session(c).peer);
                disconnect_now(ac);
                return;
            }
            let mut done = 0;
            if redisBufferWrite(c, &mut done) == REDIS_ERR {
                disconnect_now(ac);
                return;
            }
            if done == 0 || session(c).conn.wants_write() {
                want_write(ac);
            } else {
                stop_write(ac);
            }
            want_read(ac);
        }
    })
}

static SSL_FUNCS: redisContextFuncs = redisContextFuncs {
    close: Some(redisNetClose),
    free_privctx: Some(ssl_free),
    async_read: Some(ssl_async_read),
    async_write: Some(ssl_async_write),
    read: Some(ssl_read),
    write: Some(ssl_write),
};

/// Starts TLS on a connected context. A blocking context completes the handshake here (and
/// fails with the reason, e.g. an unknown CA or a name mismatch); a non-blocking one runs it
/// as the event loop reports the socket ready.
#[no_mangle]
pub unsafe extern "C" fn redisInitiateSSLWithContext(
    c: *mut redisContext,
    ctx: *mut redisSSLContext,
) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context; ctx a live SSL context.
        unsafe {
            let (Some(cc), Some(ctx)) = (c.as_mut(), ctx.as_ref()) else {
                return REDIS_ERR;
            };
            if !cc.privctx.is_null() {
                set_error(
                    c,
                    REDIS_ERR_OTHER,
                    Some(b"redisContext was already associated"),
                );
                return REDIS_ERR;
            }
            let host = if cc.connection_type == REDIS_CONN_TCP {
                opt_string(cc.tcp.host)
            } else {
                None
            };
            // The connection's name: sent with SNI (when enabled) and, without a verify_name,
            // not checked.
            let name = ctx
                .server_name
                .clone()
                .or_else(|| ctx.verify_name.clone())
                .or(host.clone())
                .unwrap_or_else(|| "localhost".into());
            let Ok(server_name) = ServerName::try_from(
                name.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
            ) else {
                set_error(c, REDIS_ERR_OTHER, Some(b"Failed to set server_name/SNI"));
                return REDIS_ERR;
            };
            let Ok(conn) = ClientConnection::new(ctx.config.clone(), server_name) else {
                set_error(
                    c,
                    REDIS_ERR_OTHER,
                    Some(b"Couldn't create new SSL instance"),
                );
                return REDIS_ERR;
            };
            let peer = match host {
                Some(h) => format!("{h}:{}", cc.tcp.port),
                None => opt_string(cc.unix_sock.path).unwrap_or_else(|| "the server".into()),
            };
            let mut session = Box::new(Session { conn, peer });
            if cc.flags & REDIS_BLOCK != 0 {
                let mut io = Fd(cc.fd);
                while session.conn.is_handshaking() {
                    if let Err(e) = session.conn.complete_io(&mut io) {
                        // Send the alert saying why, if any.
                        let _ = flush(&mut session, cc.fd);
                        let e = if e.kind() == io::ErrorKind::WouldBlock {
                            set_errno(libc::EAGAIN);
                            io::Error::from_raw_os_error(libc::EAGAIN)
                        } else {
                            e
                        };
                        handshake_failure(c, &e, &session.peer);
                        return REDIS_ERR;
                    }
                }
            }
            cc.privctx = Box::into_raw(session).cast();
            cc.funcs = &SSL_FUNCS;
            REDIS_OK
        }
    })
}

/// A handshake failure: rustls's reason (complete_io wraps it as InvalidData), or the I/O
/// error.
unsafe fn handshake_failure(c: *mut redisContext, e: &io::Error, peer: &str) {
    // SAFETY: c is live.
    unsafe {
        let tls = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match tls {
            Some(err) => set_error(
                c,
                REDIS_ERR_IO,
                Some(tls_error(err, peer).message().as_bytes()),
            ),
            None => io_failure(c, e, peer),
        }
    }
}

/// Needs an OpenSSL `SSL *`, which redcore does not use.
#[no_mangle]
pub unsafe extern "C" fn redisInitiateSSL(c: *mut redisContext, _ssl: *mut c_void) -> c_int {
    guard(REDIS_ERR, || {
        if !c.is_null() {
            // SAFETY: c is a live context.
            unsafe {
                set_error(
                    c,
                    REDIS_ERR_OTHER,
                    Some(b"redisInitiateSSL needs OpenSSL; use redisInitiateSSLWithContext"),
                )
            };
        }
        REDIS_ERR
    })
}
