//! TLS over a TCP or Unix stream, with rustls (ring provider), driven non-blockingly by the
//! reactor; the building of the `rustls::ClientConfig` from `TlsOptions` (reusable by other
//! faces, e.g. the hiredis layer's SSL contexts); and the translation of rustls failures
//! into `TLS` errors that say what went wrong (unknown CA, expired certificate, wrong name,
//! client certificate required, plain server, ...).
//!
//! `TlsStream` keeps the reactor's contract of a non-blocking socket: `read` returns
//! plaintext or `WouldBlock`, `write` takes plaintext or returns `WouldBlock`. Plaintext is
//! refused while the TLS handshake runs, so the Redis handshake (which may carry a password)
//! is encrypted straight from the caller's buffer instead of waiting in a rustls buffer.
//! Two things differ from a plain socket and are exposed for the reactor: encrypted output
//! may wait in rustls after a write (`flush`, `has_pending_output`), and decrypted input may
//! wait in rustls while the socket is not readable (`has_buffered_input`), so whoever polls
//! the descriptor must look there first.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
pub use rustls::pki_types::ServerName;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
pub use rustls::ClientConfig;
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct};
use rustls::{RootCertStore, SignatureScheme};

pub use super::looks_like_tls;
use super::Transport;
use crate::config::{OcspStaple, OcspVerifier, TlsOptions, TlsVersion};
use crate::error::{Error, ErrorKind, Result};

/// Largest slice of plaintext handed to rustls at once: bounds the encrypted bytes that can
/// wait inside rustls when the socket is full.
const MAX_WRITE_CHUNK: usize = 64 * 1024;

/// Builds the rustls client configuration for `options`: reads the CA files and the client
/// certificate, picks the verifier (WebPKI with the trust anchors, or none in the insecure
/// mode), and the TLS versions. Build it once and share it: every connection of a client uses
/// the same `Arc`.
///
/// Errors are `TLS` (a file that cannot be read or parsed, no trust anchor at all) and name
/// the setting.
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>> {
    options.validate()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = match options.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| config_error(format!("cannot use the TLS versions asked for: {e}")))?;
    let verifier = server_verifier_with(options, provider)?;
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&options.client_cert_file, &options.client_key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert, "tls_cert_file")?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                config_error(format!(
                    "cannot read a private key from tls_key_file '{}': {e}",
                    key.display()
                ))
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| match e {
                    rustls::Error::InvalidCertificate(ref c) if unsupported_version(c) => {
                        config_error(format!(
                        "tls_cert_file '{}' is an X.509 v1 certificate, which rustls (redcore's \
                         TLS library) does not support; the key is fine: issue the certificate \
                         as X.509 v3 (any extension makes one, e.g. `openssl x509 -req ... \
                         -extfile` with extendedKeyUsage=clientAuth)",
                        cert.display()
                    ))
                    }
                    e => config_error(format!(
                    "tls_cert_file and tls_key_file do not make a usable client certificate: {e}"
                )),
                })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The certificate verifier `client_config` installs for `options` (WebPKI with the trust
/// anchors, none in the insecure mode, plus the OCSP check), for faces that wrap it: the
/// hiredis layer checks the chain without the name unless asked for one, as hiredis does.
pub fn server_verifier(options: &TlsOptions) -> Result<Arc<dyn ServerCertVerifier>> {
    options.validate()?;
    server_verifier_with(options, Arc::new(rustls::crypto::ring::default_provider()))
}

fn server_verifier_with(
    options: &TlsOptions,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>> {
    let mut verifier: Arc<dyn ServerCertVerifier> = if options.insecure_skip_verify {
        Arc::new(NoVerification(provider.clone()))
    } else {
        let roots = trust_anchors(options)?;
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| config_error(format!("cannot build the certificate verifier: {e}")))?
    };
    if let Some(check) = &options.ocsp_verifier {
        verifier = Arc::new(OcspChecking {
            inner: verifier,
            check: check.clone(),
        });
    }
    Ok(verifier)
}

/// The name to verify the server's certificate against (and send with SNI): the configured
/// server name, else `host`. `INVALID_ARGUMENT` when it is neither a DNS name nor an IP.
pub fn server_name(options: &TlsOptions, host: Option<&str>) -> Result<ServerName<'static>> {
    let name = match (&options.server_name, host) {
        (Some(name), _) => name.as_str(),
        (None, Some(host)) => host,
        (None, None) if options.insecure_skip_verify => "localhost",
        (None, None) => {
            return Err(Error::invalid_argument(
                "tls_server_name is required for TLS over a unix socket (the name the \
                 server's certificate must carry)",
            ))
        }
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(name.to_string()).map_err(|_| {
        Error::invalid_argument(format!(
            "'{name}' is not a valid TLS server name (a DNS name or an IP address)"
        ))
    })
}

fn config_error(message: String) -> Error {
    Error::new(ErrorKind::Tls, message)
}

fn trust_anchors(options: &TlsOptions) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let mut add = |certs: Vec<CertificateDer<'static>>, what: &str| -> Result<usize> {
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(config_error(format!(
                "{what} holds no usable CA certificate"
            )));
        }
        Ok(added)
    };
    if let Some(path) = &options.ca_file {
        add(
            read_certs(path, "tls_ca_file")?,
            &format!("tls_ca_file '{}'", path.display()),
        )?;
    }
    if let Some(dir) = &options.ca_dir {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            config_error(format!("cannot read tls_ca_dir '{}': {e}", dir.display()))
        })?;
        let mut certs = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            if let Ok(iter) = CertificateDer::pem_file_iter(&path) {
                certs.extend(iter.flatten());
            }
        }
        add(certs, &format!("tls_ca_dir '{}'", dir.display()))?;
    }
    if let Some(pem) = &options.ca_pem {
        let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| config_error(format!("cannot parse tls_ca_pem: {e}")))?;
        add(certs, "tls_ca_pem")?;
    }
    let asked = options.ca_file.is_some() || options.ca_dir.is_some() || options.ca_pem.is_some();
    if options.system_roots || !asked {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 && roots.is_empty() {
            return Err(config_error(
                "no CA to trust: the system's trust store is empty or unreadable; set \
                 tls_ca_file, tls_ca_dir or tls_ca_pem"
                    .into(),
            ));
        }
    }
    Ok(roots)
}

fn read_certs(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            config_error(format!(
                "cannot read certificates from {setting} '{}': {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(config_error(format!(
            "{setting} '{}' holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The insecure mode's verifier: accepts any certificate, but still checks the handshake
/// signatures (so the session keys belong to whoever holds the certificate's key).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Runs the caller's stapled-OCSP check after the normal verification.
struct OcspChecking {
    inner: Arc<dyn ServerCertVerifier>,
    check: OcspVerifier,
}

impl fmt::Debug for OcspChecking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OcspChecking")
    }
}

/// The reason an OCSP check gave for refusing a certificate.
#[derive(Debug)]
struct OcspRejected(String);

impl fmt::Display for OcspRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the OCSP check refused the certificate: {}", self.0)
    }
}

impl std::error::Error for OcspRejected {}

impl ServerCertVerifier for OcspChecking {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let name = server_name.to_str();
        let staple = OcspStaple {
            server_name: &name,
            end_entity: end_entity.as_ref(),
            intermediates: intermediates.iter().map(|c| c.as_ref()).collect(),
            response: ocsp_response,
        };
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.check.0)(&staple)))
                .unwrap_or_else(|_| Err("the OCSP check panicked".into()));
        match outcome {
            Ok(()) => Ok(verified),
            Err(reason) => Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(OcspRejected(reason))),
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A TLS client connection over a non-blocking TCP or Unix stream.
pub struct TlsStream {
    sock: Transport,
    conn: rustls::ClientConnection,
    /// The peer closed the socket (read returned 0).
    eof: bool,
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("sock", &self.sock)
            .field("handshaking", &self.conn.is_handshaking())
            .finish()
    }
}

/// The socket under a `TlsStream`, as `io::Read` / `io::Write` for rustls.
struct SockIo<'a>(&'a mut Transport);

impl Read for SockIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for SockIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A rustls failure carried inside an `io::Error` (see [`tls_error`]).
#[derive(Debug)]
pub struct TlsFailure(pub rustls::Error);

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TlsFailure {}

fn failure(err: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, TlsFailure(err))
}

impl TlsStream {
    /// Starts a TLS client session on a connected socket. Nothing is sent until the first
    /// `flush`, `write` or `read`.
    pub fn new(
        sock: Transport,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<TlsStream> {
        let conn = rustls::ClientConnection::new(config, name)
            .map_err(|e| Error::new(ErrorKind::Tls, format!("cannot start TLS: {e}")))?;
        Ok(TlsStream {
            sock,
            conn,
            eof: false,
        })
    }

    /// The socket underneath.
    pub fn socket(&self) -> &Transport {
        &self.sock
    }

    /// True until the TLS handshake has finished.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// True when encrypted bytes wait to be written to the socket.
    pub fn has_pending_output(&self) -> bool {
        self.conn.wants_write()
    }

    /// True when decrypted bytes (or whole records not yet decrypted) wait inside rustls:
    /// `read` can return data without the socket being readable.
    pub fn has_buffered_input(&mut self) -> bool {
        match self.conn.process_new_packets() {
            Ok(state) => state.plaintext_bytes_to_read() > 0 || state.peer_has_closed(),
            // Let `read` report it.
            Err(_) => true,
        }
    }

    /// Writes waiting encrypted bytes to the socket: `Ok` when all are out, `WouldBlock`
    /// when the socket is full.
    pub fn flush(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut SockIo(&mut self.sock)) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote 0 bytes")),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Encrypts and writes plaintext. `WouldBlock` while the TLS handshake runs (the reactor
    /// writes again once `read` has finished it) and when the socket is full.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.flush()?;
        if self.conn.is_handshaking() {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "TLS handshake in progress",
            ));
        }
        let chunk = &buf[..buf.len().min(MAX_WRITE_CHUNK)];
        let n = self.conn.writer().write(chunk)?;
        match self.flush() {
            Ok(()) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
            Err(e) => Err(e),
        }
    }

    /// Reads decrypted bytes. `Ok(0)` when the peer closed; `WouldBlock` when nothing is
    /// buffered and the socket has nothing either. Handshake messages are processed (and
    /// answered) on the way. A TLS failure is an `io::Error` carrying a [`TlsFailure`].
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Closed without close_notify: as good as a close for a Redis client, which
                // frames its own replies.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.eof {
                return Ok(0);
            }
            match self.conn.read_tls(&mut SockIo(&mut self.sock)) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(err) = self.conn.process_new_packets() {
                // Tell the peer why (the alert rustls queued), if the socket takes it.
                let _ = self.flush();
                return Err(failure(err));
            }
            if self.conn.wants_write() {
                match self.flush() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// The socket, for registration with the poll.
    pub fn socket_mut(&mut self) -> &mut Transport {
        &mut self.sock
    }
}

/// The rustls failure inside an I/O error from a `TlsStream`, if any.
pub fn tls_failure(err: &io::Error) -> Option<&rustls::Error> {
    err.get_ref()?
        .downcast_ref::<TlsFailure>()
        .map(|failure| &failure.0)
}

/// A `TLS` error for a failed handshake or session with `peer`, saying what went wrong and
/// what to do about it.
pub fn tls_error(err: &rustls::Error, peer: &str) -> Error {
    use rustls::Error as E;
    let why = match err {
        E::InvalidCertificate(cert) => certificate_problem(cert),
        E::AlertReceived(alert) => alert_problem(*alert),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => format!(
            "the server did not answer in TLS ({err}); it may be a plain (non-TLS) port: use \
             redis:// without TLS, or the server's TLS port"
        ),
        E::PeerIncompatible(_) => format!(
            "the server's TLS settings are incompatible with ours ({err}); check \
             tls_min_version and the server's protocols and ciphers"
        ),
        E::NoCertificatesPresented => "the server presented no certificate".into(),
        _ => format!("{err}"),
    };
    Error::new(
        ErrorKind::Tls,
        format!("TLS handshake with {peer} failed: {why}"),
    )
}

/// Whether webpki refused the certificate for its X.509 version: it accepts v3 only (a v1 CA
/// certificate only as a trust anchor). Its error reaches us inside `CertificateError::Other`,
/// known by its name.
fn unsupported_version(err: &CertificateError) -> bool {
    matches!(err, CertificateError::Other(other) if other.to_string().contains("UnsupportedCertVersion"))
}

fn certificate_problem(err: &CertificateError) -> String {
    use CertificateError as C;
    if unsupported_version(err) {
        return "the server's certificate is an X.509 v1 certificate, which rustls (redcore's TLS \
                library) does not accept: the server needs an X.509 v3 certificate"
            .into();
    }
    match err {
        C::UnknownIssuer => "the server's certificate is signed by an unknown CA (unknown \
             issuer); trust the CA that signed it with tls_ca_file, tls_ca_dir or tls_ca_pem"
            .into(),
        C::Expired => "the server's certificate has expired".into(),
        C::ExpiredContext { not_after, .. } => format!(
            "the server's certificate has expired (it was valid until {})",
            format_unix_time(not_after.as_secs())
        ),
        C::NotValidYet => "the server's certificate is not valid yet".into(),
        C::NotValidYetContext { not_before, .. } => format!(
            "the server's certificate is not valid yet (it is valid from {})",
            format_unix_time(not_before.as_secs())
        ),
        C::NotValidForName => "the server's certificate does not name the host connected to \
             (hostname mismatch); connect by a name it carries, or set tls_server_name"
            .into(),
        C::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "the server's certificate is not valid for '{}' (hostname mismatch; it names {}); \
             connect by one of those names, or set tls_server_name",
            expected.to_str(),
            if presented.is_empty() {
                "nothing".into()
            } else {
                presented.join(", ")
            }
        ),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "the server's certificate is not meant for a TLS server (extended key usage)".into()
        }
        C::Revoked => "the server's certificate has been revoked".into(),
        C::BadSignature => "the server's certificate has a bad signature".into(),
        C::Other(other) => match other.0.downcast_ref::<OcspRejected>() {
            Some(rejected) => rejected.to_string(),
            None => format!("the server's certificate was rejected: {other}"),
        },
        other => format!("the server's certificate was rejected: {other:?}"),
    }
}

fn alert_problem(alert: AlertDescription) -> String {
    use AlertDescription as A;
    match alert {
        A::CertificateRequired => "the server requires a client certificate (mutual TLS); set \
             tls_cert_file and tls_key_file"
            .into(),
        A::HandshakeFailure => "the server refused the handshake (handshake_failure alert): it \
             may require a client certificate (set tls_cert_file and tls_key_file), or share no \
             TLS version or cipher with us"
            .into(),
        A::BadCertificate
        | A::UnknownCA
        | A::UnsupportedCertificate
        | A::CertificateUnknown
        | A::DecryptError
        | A::AccessDenied => format!(
            "the server rejected our client certificate ({alert:?} alert); check \
             tls_cert_file and tls_key_file, and that the server trusts their CA"
        ),
        A::CertificateExpired => "the server rejected our client certificate as expired".into(),
        A::ProtocolVersion => "the server does not speak a TLS version we accept (see \
             tls_min_version)"
            .into(),
        other => format!("the server sent the TLS alert {other:?}"),
    }
}

/// `2024-01-31 12:00:00 UTC` for seconds since the Unix epoch.
fn format_unix_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(format_unix_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_unix_time(1_577_923_200), "2020-01-02 00:00:00 UTC");
        assert_eq!(format_unix_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_unix_time(4_102_444_799), "2099-12-31 23:59:59 UTC");
    }

    #[test]
    fn messages_say_what_went_wrong() {
        let cases = [
            (
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
                "unknown CA",
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::Expired),
                "expired",
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
                "hostname mismatch",
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::CertificateRequired),
                "requires a client certificate",
            ),
        ];
        for (err, fragment) in cases {
            let e = tls_error(&err, "h:1");
            assert_eq!(e.kind(), ErrorKind::Tls);
            assert!(e.is(ErrorKind::Connection));
            assert!(e.message().contains(fragment), "{e}");
            assert!(e.message().contains("h:1"), "{e}");
        }
    }

    #[test]
    fn config_errors_name_the_setting() {
        let options = TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        let err = client_config(&options).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls);
        assert!(err.message().contains("tls_ca_file"), "{err}");
        let options = TlsOptions {
            ca_pem: Some(b"not a certificate".to_vec()),
            ..TlsOptions::default()
        };
        let err = client_config(&options).unwrap_err();
        assert!(err.message().contains("tls_ca_pem"), "{err}");
        let insecure = TlsOptions {
            insecure_skip_verify: true,
            ..TlsOptions::default()
        };
        client_config(&insecure).unwrap();
        assert!(server_name(&TlsOptions::default(), None).is_err());
        assert!(server_name(&TlsOptions::default(), Some("127.0.0.1")).is_ok());
        assert!(server_name(&TlsOptions::default(), Some("[::1]")).is_ok());
    }
}
