//! Transports: TCP (nodelay, keepalive) and Unix sockets, and TLS over either (`tls`),
//! registered with the reactor's mio `Poll`. The reactor's reads and writes never block; a
//! connected plain socket is put in blocking mode so that a blocking caller can wait for its
//! reply in one `recv` (see `set_caller_blocking`).

#[cfg(feature = "tls")]
pub mod tls;
#[cfg(not(feature = "tls"))]
#[path = "tls_off.rs"]
pub mod tls;

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};

/// TCP keepalive probing, as the config asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepaliveOptions {
    /// Idle time before the first probe.
    pub idle: Duration,
    /// Time between probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is declared dead.
    pub count: u32,
}

/// One connection's byte stream.
#[derive(Debug)]
pub enum Transport {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix domain socket connection.
    Unix(UnixStream),
    /// TLS over a TCP or Unix connection.
    Tls(Box<tls::TlsStream>),
}

/// Resolves `host:port`. IP literals need no lookup; names go through the system resolver
/// (blocking: callers run it off the reactor thread when the name is not a literal).
pub fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no address found for {host}"),
        ));
    }
    Ok(addrs)
}

/// True when `bytes` start like a TLS record (handshake or alert, version 3.x): what a TLS
/// server sends to a client that spoke plain text to it.
pub fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [0x15 | 0x16, 0x03, ..])
}

/// Sends from `buf` on plain socket `fd` without blocking, whatever the socket's mode
/// (`MSG_DONTWAIT`), and without SIGPIPE.
pub(crate) fn send_nonblocking(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes; the caller keeps `fd` open.
    let n = unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// True when `fd` has data or a hang-up waiting (checked without blocking).
pub fn has_input(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; zero timeout.
    unsafe { libc::poll(&mut pfd, 1, 0) > 0 }
}

/// How an endpoint is named in messages: `host:port` (`[v6]:port`), or the socket's path.
pub fn endpoint_name(endpoint: &crate::config::Endpoint) -> String {
    use crate::config::Endpoint;
    match endpoint {
        Endpoint::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
        Endpoint::Tcp { host, port } => format!("{host}:{port}"),
        Endpoint::Unix { path } => path.display().to_string(),
    }
}

/// True when resolving `host` needs no name lookup.
pub fn is_ip_literal(host: &str) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok()
}

impl Transport {
    /// Starts a non-blocking TCP connect. Completion is signalled by writability; then call
    /// `finish_connect`.
    pub fn connect_tcp(addr: SocketAddr) -> io::Result<Transport> {
        Ok(Transport::Tcp(TcpStream::connect(addr)?))
    }

    /// Connects a Unix socket (completes at once or fails).
    pub fn connect_unix(path: &Path) -> io::Result<Transport> {
        Ok(Transport::Unix(UnixStream::connect(path)?))
    }

    /// Wraps a connected socket in a TLS client session verifying `name`.
    pub fn into_tls(
        self,
        config: Arc<tls::ClientConfig>,
        name: tls::ServerName<'static>,
    ) -> crate::Result<Transport> {
        Ok(Transport::Tls(Box::new(tls::TlsStream::new(
            self, config, name,
        )?)))
    }

    /// True for a TLS transport.
    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// True while a TLS transport's handshake runs (false for plain sockets).
    pub fn is_tls_handshaking(&self) -> bool {
        matches!(self, Transport::Tls(t) if t.is_handshaking())
    }

    /// Writes bytes that wait inside the transport (TLS records): `Ok` when none is left,
    /// `WouldBlock` when the socket is full.
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Tls(t) => t.flush(),
            _ => Ok(()),
        }
    }

    /// True when bytes wait inside the transport to be written (`flush`).
    pub fn has_pending_output(&self) -> bool {
        matches!(self, Transport::Tls(t) if t.has_pending_output())
    }

    /// True when `read` may return data although the socket is not readable (TLS keeps
    /// decrypted bytes): poll the descriptor only when this is false.
    pub fn has_buffered_input(&mut self) -> bool {
        match self {
            Transport::Tls(t) => t.has_buffered_input(),
            _ => false,
        }
    }

    /// After the first writable event: `Ok(())` when connected, the connect error otherwise.
    pub fn finish_connect(&self) -> io::Result<()> {
        match self {
            Transport::Tls(t) => t.socket().finish_connect(),
            Transport::Tcp(s) => {
                if let Some(err) = s.take_error()? {
                    return Err(err);
                }
                match s.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        "connect in progress",
                    )),
                    Err(e) => Err(e),
                }
            }
            Transport::Unix(s) => {
                if let Some(err) = s.take_error()? {
                    return Err(err);
                }
                Ok(())
            }
        }
    }

    /// Applies TCP options (no-op for Unix sockets).
    pub fn configure(&self, nodelay: bool, keepalive: Option<KeepaliveOptions>) -> io::Result<()> {
        let s = match self {
            Transport::Tcp(s) => s,
            Transport::Tls(t) => return t.socket().configure(nodelay, keepalive),
            Transport::Unix(_) => return Ok(()),
        };
        s.set_nodelay(nodelay)?;
        let fd = s.as_raw_fd();
        match keepalive {
            None => set_opt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 0),
            Some(k) => {
                set_opt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
                let secs = |d: Duration| d.as_secs().clamp(1, i32::MAX as u64) as libc::c_int;
                set_opt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs(k.idle))?;
                set_opt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, secs(k.interval))?;
                set_opt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_KEEPCNT,
                    k.count.clamp(1, 127) as libc::c_int,
                )
            }
        }
    }

    /// The socket's file descriptor.
    pub fn raw_fd(&self) -> RawFd {
        match self {
            Transport::Tcp(s) => s.as_raw_fd(),
            Transport::Unix(s) => s.as_raw_fd(),
            Transport::Tls(t) => t.socket().raw_fd(),
        }
    }

    /// Reads into `buf` without blocking, whatever the socket's mode (`MSG_DONTWAIT`).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => recv(s.as_raw_fd(), buf, libc::MSG_DONTWAIT),
            Transport::Unix(s) => recv(s.as_raw_fd(), buf, libc::MSG_DONTWAIT),
            Transport::Tls(t) => t.read(buf),
        }
    }

    /// Writes from `buf` without blocking, whatever the socket's mode (`MSG_DONTWAIT`), and
    /// without SIGPIPE.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let fd = match self {
            Transport::Tcp(s) => s.as_raw_fd(),
            Transport::Unix(s) => s.as_raw_fd(),
            Transport::Tls(t) => return t.write(buf),
        };
        send_nonblocking(fd, buf)
    }

    /// Puts a connected plain socket in blocking mode, so a blocking caller can wait for its
    /// reply in `recv_blocking` (one system call, where a non-blocking socket needs poll(2)
    /// first). The event loop is not affected: `read` and `write` never block. TLS transports
    /// stay non-blocking (rustls reads ahead) and answer false.
    pub fn set_caller_blocking(&self) -> io::Result<bool> {
        let fd = match self {
            Transport::Tcp(s) => s.as_raw_fd(),
            Transport::Unix(s) => s.as_raw_fd(),
            Transport::Tls(_) => return Ok(false),
        };
        // SAFETY: fcntl on an open descriptor with integer arguments.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(true)
    }

    /// Shuts both directions down, so a peer (or a forked child holding a copy of the socket)
    /// sees the end at once.
    pub fn shutdown(&self) {
        let _ = match self {
            Transport::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Transport::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            Transport::Tls(t) => {
                t.socket().shutdown();
                Ok(())
            }
        };
    }
}

fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes; fd is an open socket.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Waits for bytes on a socket that `set_caller_blocking` made blocking, up to the socket's
/// receive timeout (`set_recv_timeout`): `WouldBlock` when it passes. The caller must keep the
/// descriptor open for the duration (a `shutdown` wakes it with `Ok(0)`).
pub fn recv_blocking(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    recv(fd, buf, 0)
}

/// Sets how long `recv_blocking` waits on `fd` (`Duration::ZERO`: without limit).
pub fn set_recv_timeout(fd: RawFd, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: fd is an open socket; `tv` is a valid timeval for the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_opt(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: fd is an open socket owned by the caller; value is a valid c_int for the size
    // passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Source for Transport {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.register(registry, token, interests),
            Transport::Unix(s) => s.register(registry, token, interests),
            Transport::Tls(t) => t.socket_mut().register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.reregister(registry, token, interests),
            Transport::Unix(s) => s.reregister(registry, token, interests),
            Transport::Tls(t) => t.socket_mut().reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.deregister(registry),
            Transport::Unix(s) => s.deregister(registry),
            Transport::Tls(t) => t.socket_mut().deregister(registry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_records_are_recognised() {
        assert!(looks_like_tls(&[0x15, 0x03, 0x03, 0x00, 0x02]));
        assert!(looks_like_tls(&[0x16, 0x03, 0x01]));
        assert!(!looks_like_tls(b"+OK\r\n"));
        assert!(!looks_like_tls(b"-ERR"));
        assert!(!looks_like_tls(&[0x16]));
    }
}
