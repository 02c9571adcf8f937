//! TLS settings: which CAs to trust (a file, a directory, PEM in memory, the system's store),
//! the client certificate for mutual TLS, the name the server's certificate must carry, the
//! lowest TLS version accepted, an optional check of a stapled OCSP response, and the
//! explicitly named insecure mode that skips verification (never the default).
//!
//! Only the settings live here; `net::tls` turns them into a rustls client configuration.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};

/// The lowest TLS version a connection accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TlsVersion {
    /// TLS 1.2 or 1.3. The default.
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl TlsVersion {
    /// `"1.2"` or `"1.3"`.
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "1.2",
            TlsVersion::Tls13 => "1.3",
        }
    }

    /// Reads `1.2`, `1.3` (also `12`, `13`, `tls1.2`, `TLSv1.3`).
    pub fn from_name(text: &str) -> Option<TlsVersion> {
        let t = text.to_ascii_lowercase();
        let t = t
            .strip_prefix("tlsv")
            .or_else(|| t.strip_prefix("tls"))
            .unwrap_or(&t);
        match t {
            "1.2" | "12" => Some(TlsVersion::Tls12),
            "1.3" | "13" => Some(TlsVersion::Tls13),
            _ => None,
        }
    }
}

/// What a stapled-OCSP check is shown, for the length of the call.
#[derive(Debug)]
pub struct OcspStaple<'a> {
    /// The name the certificate was verified against (host or `server_name`).
    pub server_name: &'a str,
    /// The server's certificate, DER.
    pub end_entity: &'a [u8],
    /// The intermediate certificates the server sent, DER, leaf's issuer first.
    pub intermediates: Vec<&'a [u8]>,
    /// The stapled OCSP response, DER; empty when the server stapled none.
    pub response: &'a [u8],
}

/// The function a stapled OCSP response is checked with: `Ok(())` accepts the connection,
/// `Err(reason)` fails it with a TLS error carrying the reason.
pub type OcspCheck = dyn Fn(&OcspStaple<'_>) -> std::result::Result<(), String> + Send + Sync;

/// A stapled-OCSP check (see [`OcspCheck`]). It runs on a reactor thread during each TLS
/// handshake, after the certificate chain was verified (or skipped in the insecure mode).
/// Full OCSP (asking the responder) is not done: the check decides with what the server
/// stapled.
#[derive(Clone)]
pub struct OcspVerifier(pub Arc<OcspCheck>);

impl OcspVerifier {
    /// Wraps a check function.
    pub fn new(
        check: impl Fn(&OcspStaple<'_>) -> std::result::Result<(), String> + Send + Sync + 'static,
    ) -> OcspVerifier {
        OcspVerifier(Arc::new(check))
    }
}

impl PartialEq for OcspVerifier {
    fn eq(&self, other: &OcspVerifier) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for OcspVerifier {}

impl fmt::Debug for OcspVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OcspVerifier")
    }
}

/// How a TLS connection is set up. Used when `Config::tls` is true.
///
/// Trust: the CAs of `ca_file`, `ca_dir` and `ca_pem` together, plus the system's trust store
/// when `system_roots` is true; with none of the three set, the system's store is used.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// A PEM file of CA certificates to trust (`tls_ca_file`, redis-py's `ssl_ca_certs`).
    pub ca_file: Option<PathBuf>,
    /// A directory whose PEM files hold CA certificates to trust (`tls_ca_dir`); files that
    /// hold no certificate are skipped.
    pub ca_dir: Option<PathBuf>,
    /// CA certificates to trust, PEM text in memory.
    pub ca_pem: Option<Vec<u8>>,
    /// Also trust the operating system's CA store. Default false (but see above: it is the
    /// fallback when no CA is given).
    pub system_roots: bool,
    /// PEM certificate chain presented to the server (mutual TLS); needs `client_key_file`.
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate (PKCS#8, PKCS#1 or SEC1).
    pub client_key_file: Option<PathBuf>,
    /// The name sent with SNI and required in the server's certificate. Default: the host
    /// connected to (an IP address is checked against the certificate's IP names and sends
    /// no SNI). Set it when connecting by IP to a server whose certificate names a host, as
    /// cluster nodes announced by IP are.
    pub server_name: Option<String>,
    /// Lowest TLS version accepted. Default 1.2.
    pub min_version: TlsVersion,
    /// Skip every check of the server's certificate: anyone in the middle can read and
    /// change the traffic. For tests only; never the default, and only set explicitly
    /// (`tls_insecure=true`, `redcore_config_set_tls_insecure_skip_verify`).
    pub insecure_skip_verify: bool,
    /// Optional check of the stapled OCSP response.
    pub ocsp_verifier: Option<OcspVerifier>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca_file", &self.ca_file)
            .field("ca_dir", &self.ca_dir)
            .field(
                "ca_pem",
                &self.ca_pem.as_ref().map(|p| format!("<{} bytes>", p.len())),
            )
            .field("system_roots", &self.system_roots)
            .field("client_cert_file", &self.client_cert_file)
            .field("client_key_file", &self.client_key_file)
            .field("server_name", &self.server_name)
            .field("min_version", &self.min_version)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("ocsp_verifier", &self.ocsp_verifier.is_some())
            .finish()
    }
}

impl TlsOptions {
    /// Checks the fields that can be checked without reading files (those are read when a
    /// client is created). Errors are `INVALID_ARGUMENT` and name the field.
    pub fn validate(&self) -> Result<()> {
        let empty = |p: &Option<PathBuf>| p.as_ref().is_some_and(|p| p.as_os_str().is_empty());
        for (name, path) in [
            ("tls_ca_file", &self.ca_file),
            ("tls_ca_dir", &self.ca_dir),
            ("tls_cert_file", &self.client_cert_file),
            ("tls_key_file", &self.client_key_file),
        ] {
            if empty(path) {
                return Err(Error::invalid_argument(format!(
                    "{name} is empty (use none for no file)"
                )));
            }
        }
        if self.ca_pem.as_ref().is_some_and(|p| p.is_empty()) {
            return Err(Error::invalid_argument(
                "tls_ca_pem is empty (use none for no PEM)",
            ));
        }
        if self.client_cert_file.is_some() != self.client_key_file.is_some() {
            return Err(Error::invalid_argument(
                "tls_cert_file and tls_key_file go together: set both for mutual TLS, or neither",
            ));
        }
        if let Some(name) = &self.server_name {
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::invalid_argument(
                    "tls_server_name must be a host name or an IP address",
                ));
            }
        }
        Ok(())
    }
}
