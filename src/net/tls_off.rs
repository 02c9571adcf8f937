//! `net::tls` in a build without the `tls` feature (`make minimal`): the same names, no TLS
//! stack. A TLS configuration (`rediss://`, `redcore_config_set_tls`) fails where the TLS
//! build would build its rustls configuration, with an error that says why; the types are
//! uninhabited, so the transports' TLS arms compile to nothing.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;

use super::Transport;
use crate::config::TlsOptions;
use crate::error::{Error, ErrorKind, Result};

pub use super::looks_like_tls;

/// Never built: there is no TLS client configuration in this build.
pub enum ClientConfig {}

/// Never built: no TLS server name in this build.
pub struct ServerName<'a>(Infallible, PhantomData<&'a ()>);

/// Never built: no TLS failure in this build.
#[derive(Debug)]
pub enum TlsError {}

/// Never built: no TLS stream in this build.
pub enum TlsStream {}

fn no_tls() -> Error {
    Error::new(
        ErrorKind::Tls,
        "this build of redcore has no TLS (built without the `tls` feature, as `make minimal` \
         builds it); use a TLS build for rediss:// and the TLS settings",
    )
}

/// Always the "no TLS in this build" error.
pub fn client_config(_options: &TlsOptions) -> Result<Arc<ClientConfig>> {
    Err(no_tls())
}

/// Always the "no TLS in this build" error.
pub fn server_name(_options: &TlsOptions, _host: Option<&str>) -> Result<ServerName<'static>> {
    Err(no_tls())
}

/// Never a TLS failure in this build.
pub fn tls_failure(_err: &io::Error) -> Option<&TlsError> {
    None
}

/// Never called: there is no TLS failure to describe in this build.
pub fn tls_error(err: &TlsError, _peer: &str) -> Error {
    match *err {}
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

impl TlsStream {
    pub fn new(
        _sock: Transport,
        config: Arc<ClientConfig>,
        _name: ServerName<'static>,
    ) -> Result<TlsStream> {
        match *config {}
    }
    pub fn socket(&self) -> &Transport {
        match *self {}
    }
    pub fn socket_mut(&mut self) -> &mut Transport {
        match *self {}
    }
    pub fn is_handshaking(&self) -> bool {
        match *self {}
    }
    pub fn has_pending_output(&self) -> bool {
        match *self {}
    }
    pub fn has_buffered_input(&mut self) -> bool {
        match *self {}
    }
    pub fn flush(&mut self) -> io::Result<()> {
        match *self {}
    }
    pub fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        match *self {}
    }
    pub fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_configuration_says_this_build_has_no_tls() {
        let options = TlsOptions::default();
        for err in [
            client_config(&options).err().expect("no TLS"),
            server_name(&options, Some("localhost"))
                .err()
                .expect("no TLS"),
        ] {
            assert_eq!(err.kind(), ErrorKind::Tls);
            assert!(err.message().contains("has no TLS"), "{}", err.message());
        }
    }
}
