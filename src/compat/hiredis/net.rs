//! The socket work of a hiredis context, on the context's own file descriptor: resolving and
//! connecting (blocking with a timeout, or non-blocking), socket options, and the read and
//! write functions of the plain transport. Errors go into the context with hiredis's codes
//! and texts ("Connection refused", "Server closed the connection", ...), which callers
//! compare against.
//!
//! These are hiredis's internal functions (net.h), exported under their hiredis names as
//! libhiredis does, because some callers and TLS layers use them.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_long, c_uint};
use std::time::{Duration, Instant};

use super::alloc::{hi_free, hi_malloc, hi_strdup};
use super::reader::copy_errstr;
use super::sds;
use super::types::*;
use crate::ffi::guard::guard;

pub(crate) fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

pub(crate) fn set_errno(e: c_int) {
    // SAFETY: the calling thread's errno.
    unsafe { *libc::__errno_location() = e };
}

/// The C library's text for an errno value ("Connection refused").
pub(crate) fn strerror(e: c_int) -> String {
    let mut buf = [0 as c_char; 128];
    // SAFETY: the XSI strerror_r writes a NUL-terminated text into buf.
    unsafe {
        if libc::strerror_r(e, buf.as_mut_ptr(), buf.len()) != 0 {
            return format!("Unknown error {e}");
        }
        CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
    }
}

/// Sets the context's error: `msg`, or for None (REDIS_ERR_IO) the text of errno.
pub(crate) unsafe fn set_error(c: *mut redisContext, kind: c_int, msg: Option<&[u8]>) {
    let text;
    let msg = match msg {
        Some(m) => m,
        None => {
            text = strerror(errno());
            text.as_bytes()
        }
    };
    // SAFETY: c is a live context.
    unsafe {
        (*c).err = kind;
        copy_errstr(&mut (*c).errstr, msg);
    }
}

/// Sets an I/O error from errno, as "<prefix>: <strerror>" when a prefix is given; errno is
/// left as it was.
unsafe fn set_error_errno(c: *mut redisContext, kind: c_int, prefix: Option<&str>) {
    let e = errno();
    let text = match prefix {
        Some(p) => format!("{p}: {}", strerror(e)),
        None => strerror(e),
    };
    // SAFETY: c is a live context.
    unsafe { set_error(c, kind, Some(text.as_bytes())) };
    set_errno(e);
}

/// Sets the context's error (hiredis's internal `__redisSetError`, exported as it is there).
/// A NULL text is allowed for REDIS_ERR_IO and means the text of errno.
#[no_mangle]
pub unsafe extern "C" fn __redisSetError(c: *mut redisContext, kind: c_int, text: *const c_char) {
    guard((), || {
        if c.is_null() {
            return;
        }
        // SAFETY: c is a live context; text is NULL or NUL-terminated.
        unsafe {
            if text.is_null() {
                set_error(c, kind, None);
            } else {
                set_error(c, kind, Some(CStr::from_ptr(text).to_bytes()));
            }
        }
    })
}

/// Closes the socket (the plain transport's `close`).
#[no_mangle]
pub unsafe extern "C" fn redisNetClose(c: *mut redisContext) {
    guard((), || {
        // SAFETY: c is NULL or a live context that owns fd.
        unsafe {
            if let Some(cc) = c.as_mut() {
                if cc.fd != REDIS_INVALID_FD {
                    libc::close(cc.fd);
                    cc.fd = REDIS_INVALID_FD;
                }
            }
        }
    })
}

/// Reads up to `cap` bytes (the plain transport's `read`): the count, 0 to try again later,
/// or -1 with the context's error set.
#[no_mangle]
pub unsafe extern "C" fn redisNetRead(c: *mut redisContext, buf: *mut c_char, cap: usize) -> isize {
    guard(-1, || {
        // SAFETY: c is a live context; buf has room for cap bytes.
        unsafe {
            let n = libc::recv((*c).fd, buf.cast(), cap, 0);
            if n > 0 {
                return n;
            }
            if n == 0 {
                set_error(c, REDIS_ERR_EOF, Some(b"Server closed the connection"));
                return -1;
            }
            let e = errno();
            let blocking = (*c).flags & REDIS_BLOCK != 0;
            if (e == libc::EWOULDBLOCK && !blocking) || e == libc::EINTR {
                return 0;
            }
            if e == libc::ETIMEDOUT && blocking {
                set_error(c, REDIS_ERR_TIMEOUT, Some(b"recv timeout"));
            } else {
                set_error(c, REDIS_ERR_IO, None);
            }
            // Callers look at errno after a failed read (EAGAIN after a read timeout).
            set_errno(e);
            -1
        }
    })
}

/// Writes as much of `obuf` as the socket takes (the plain transport's `write`): the count, 0
/// to try again later, or -1 with the context's error set.
#[no_mangle]
pub unsafe extern "C" fn redisNetWrite(c: *mut redisContext) -> isize {
    guard(-1, || {
        // SAFETY: c is a live context with an sds obuf.
        unsafe {
            let out = sds::bytes((*c).obuf);
            // MSG_NOSIGNAL: a write to a closed connection is an error, not a SIGPIPE.
            let n = libc::send((*c).fd, out.as_ptr().cast(), out.len(), libc::MSG_NOSIGNAL);
            if n >= 0 {
                return n;
            }
            let e = errno();
            if (e == libc::EWOULDBLOCK && (*c).flags & REDIS_BLOCK == 0) || e == libc::EINTR {
                return 0;
            }
            set_error(c, REDIS_ERR_IO, None);
            set_errno(e);
            -1
        }
    })
}

unsafe fn set_int_opt(fd: c_int, level: c_int, name: c_int, value: c_int) -> bool {
    // SAFETY: fd is a socket; value is a c_int of the size passed.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const c_int).cast(),
            std::mem::size_of::<c_int>() as libc::socklen_t,
        ) == 0
    }
}

unsafe fn set_blocking(c: *mut redisContext, blocking: bool) -> bool {
    // SAFETY: c is a live context with an open fd.
    unsafe {
        let fd = (*c).fd;
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags == -1 {
            set_error_errno(c, REDIS_ERR_IO, Some("fcntl(F_GETFL)"));
            redisNetClose(c);
            return false;
        }
        let flags = if blocking {
            flags & !libc::O_NONBLOCK
        } else {
            flags | libc::O_NONBLOCK
        };
        if libc::fcntl(fd, libc::F_SETFL, flags) == -1 {
            set_error_errno(c, REDIS_ERR_IO, Some("fcntl(F_SETFL)"));
            redisNetClose(c);
            return false;
        }
        true
    }
}

#[no_mangle]
pub unsafe extern "C" fn redisSetTcpNoDelay(c: *mut redisContext) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context.
        unsafe {
            if set_int_opt((*c).fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1) {
                REDIS_OK
            } else {
                set_error_errno(c, REDIS_ERR_IO, Some("setsockopt(TCP_NODELAY)"));
                redisNetClose(c);
                REDIS_ERR
            }
        }
    })
}

/// TCP keepalive: first probe after `interval` seconds, then every interval/3, 3 probes.
/// REDIS_ERR without an error on Unix sockets, where it means nothing.
#[no_mangle]
pub unsafe extern "C" fn redisKeepAlive(c: *mut redisContext, interval: c_int) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context.
        unsafe {
            if (*c).connection_type == REDIS_CONN_UNIX {
                return REDIS_ERR;
            }
            let fd = (*c).fd;
            let steps = [
                (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
                (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, interval),
                (
                    libc::IPPROTO_TCP,
                    libc::TCP_KEEPINTVL,
                    (interval / 3).max(1),
                ),
                (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3),
            ];
            for (level, name, value) in steps {
                if !set_int_opt(fd, level, name, value) {
                    set_error(c, REDIS_ERR_OTHER, Some(strerror(errno()).as_bytes()));
                    return REDIS_ERR;
                }
            }
            REDIS_OK
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn redisContextSetTcpUserTimeout(
    c: *mut redisContext,
    timeout: c_uint,
) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context; the option takes an unsigned int.
        unsafe {
            let ok = libc::setsockopt(
                (*c).fd,
                libc::IPPROTO_TCP,
                libc::TCP_USER_TIMEOUT,
                (&timeout as *const c_uint).cast(),
                std::mem::size_of::<c_uint>() as libc::socklen_t,
            ) == 0;
            if ok {
                REDIS_OK
            } else {
                set_error_errno(c, REDIS_ERR_IO, Some("setsockopt(TCP_USER_TIMEOUT)"));
                redisNetClose(c);
                REDIS_ERR
            }
        }
    })
}

/// Stores a copy of `tv` in `*slot` (allocating it once). False when out of memory.
unsafe fn store_timeout(slot: *mut *mut timeval, tv: *const timeval) -> bool {
    // SAFETY: slot is a context field; tv is NULL-checked by callers and readable.
    unsafe {
        if std::ptr::eq(*slot, tv) {
            return true;
        }
        if (*slot).is_null() {
            *slot = hi_malloc(std::mem::size_of::<timeval>()).cast();
            if (*slot).is_null() {
                return false;
            }
        }
        **slot = *tv;
        true
    }
}

#[no_mangle]
pub unsafe extern "C" fn redisContextUpdateConnectTimeout(
    c: *mut redisContext,
    tv: *const timeval,
) -> c_int {
    guard(REDIS_ERR, || {
        if tv.is_null() {
            return REDIS_OK;
        }
        // SAFETY: c is a live context.
        if unsafe { store_timeout(&mut (*c).connect_timeout, tv) } {
            REDIS_OK
        } else {
            REDIS_ERR
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn redisContextUpdateCommandTimeout(
    c: *mut redisContext,
    tv: *const timeval,
) -> c_int {
    guard(REDIS_ERR, || {
        if tv.is_null() {
            return REDIS_OK;
        }
        // SAFETY: c is a live context.
        if unsafe { store_timeout(&mut (*c).command_timeout, tv) } {
            REDIS_OK
        } else {
            REDIS_ERR
        }
    })
}

/// Records `tv` as the command timeout and applies it to the socket (SO_RCVTIMEO and
/// SO_SNDTIMEO).
#[no_mangle]
pub unsafe extern "C" fn redisContextSetTimeout(c: *mut redisContext, tv: timeval) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context.
        unsafe {
            if !store_timeout(&mut (*c).command_timeout, &tv) {
                set_error(c, REDIS_ERR_OOM, Some(b"Out of memory"));
                return REDIS_ERR;
            }
            for (name, what) in [
                (libc::SO_RCVTIMEO, "setsockopt(SO_RCVTIMEO)"),
                (libc::SO_SNDTIMEO, "setsockopt(SO_SNDTIMEO)"),
            ] {
                let rc = libc::setsockopt(
                    (*c).fd,
                    libc::SOL_SOCKET,
                    name,
                    (&tv as *const timeval).cast(),
                    std::mem::size_of::<timeval>() as libc::socklen_t,
                );
                if rc == -1 {
                    set_error_errno(c, REDIS_ERR_IO, Some(what));
                    return REDIS_ERR;
                }
            }
            REDIS_OK
        }
    })
}

/// The connect timeout in milliseconds (-1: none); an error for values hiredis rejects.
unsafe fn connect_timeout_ms(c: *mut redisContext) -> Result<c_long, ()> {
    // SAFETY: c is a live context.
    unsafe {
        let Some(tv) = (*c).connect_timeout.as_ref() else {
            return Ok(-1);
        };
        let max_sec = (c_long::MAX - 999) / 1000;
        if tv.tv_usec > 1_000_000 || tv.tv_sec > max_sec {
            set_error(c, REDIS_ERR_IO, Some(b"Invalid timeout specified"));
            return Err(());
        }
        let ms = tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
        Ok(if !(0..=c_int::MAX as c_long).contains(&ms) {
            c_int::MAX as c_long
        } else {
            ms
        })
    }
}

/// Empties the socket's error queue (e.g. timestamping records), so that a connected socket
/// does not keep reporting EPOLLERR to an event loop.
unsafe fn drain_error_queue(fd: c_int) {
    let saved = errno();
    loop {
        let mut byte = 0u8;
        let mut iov = libc::iovec {
            iov_base: (&mut byte as *mut u8).cast(),
            iov_len: 1,
        };
        // SAFETY: a zeroed msghdr pointing at one local byte.
        let rc = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT)
        };
        if rc >= 0 || errno() == libc::EINTR {
            continue;
        }
        break;
    }
    set_errno(saved);
}

/// Whether a non-blocking connect has completed (`*completed` 1 or 0); REDIS_ERR when it
/// failed (errno then tells why).
#[no_mangle]
pub unsafe extern "C" fn redisCheckConnectDone(
    c: *mut redisContext,
    completed: *mut c_int,
) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context with saddr set by its connect; completed is writable.
        unsafe {
            let fd = (*c).fd;
            let tcp = (*c).connection_type == REDIS_CONN_TCP;
            let mut e = if libc::connect(fd, (*c).saddr, (*c).addrlen as libc::socklen_t) == 0 {
                0
            } else {
                errno()
            };
            if e == libc::EINPROGRESS {
                let mut so_error: c_int = 0;
                let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
                if libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&mut so_error as *mut c_int).cast(),
                    &mut len,
                ) == 0
                {
                    e = so_error;
                    if e != 0 {
                        set_errno(e);
                    }
                }
            }
            match e {
                0 | libc::EISCONN => {
                    *completed = 1;
                    if tcp {
                        drain_error_queue(fd);
                    }
                    REDIS_OK
                }
                libc::EALREADY | libc::EWOULDBLOCK => {
                    *completed = 0;
                    if tcp {
                        drain_error_queue(fd);
                    }
                    REDIS_OK
                }
                _ => REDIS_ERR,
            }
        }
    })
}

/// Sets the context's error from the socket's pending error (or errno); REDIS_ERR if any.
#[no_mangle]
pub unsafe extern "C" fn redisCheckSocketError(c: *mut redisContext) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context.
        unsafe {
            let saved = errno();
            let mut err: c_int = 0;
            let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
            if libc::getsockopt(
                (*c).fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut c_int).cast(),
                &mut len,
            ) == -1
            {
                set_error_errno(c, REDIS_ERR_IO, Some("getsockopt(SO_ERROR)"));
                return REDIS_ERR;
            }
            if err == 0 {
                err = saved;
            }
            if err != 0 {
                set_errno(err);
                set_error(c, REDIS_ERR_IO, None);
                return REDIS_ERR;
            }
            REDIS_OK
        }
    })
}

/// Waits for a connect in progress (errno EINPROGRESS) to finish, up to `ms` (-1: no
/// limit). On failure the error is set, and the socket closed unless the connect itself
/// failed (refused, unreachable): as in hiredis, that one stays in `fd` (see connect_tcp).
unsafe fn wait_connected(c: *mut redisContext, ms: c_long) -> bool {
    // SAFETY: c is a live context with an open fd.
    unsafe {
        if errno() != libc::EINPROGRESS {
            set_error_errno(c, REDIS_ERR_IO, None);
            redisNetClose(c);
            return false;
        }
        let deadline = (ms >= 0).then(|| Instant::now() + Duration::from_millis(ms as u64));
        loop {
            let wait = match deadline {
                None => -1,
                Some(d) => d.saturating_duration_since(Instant::now()).as_millis() as c_int,
            };
            let mut pfd = libc::pollfd {
                fd: (*c).fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            let res = libc::poll(&mut pfd, 1, wait);
            if res < 0 && errno() != libc::EINTR {
                set_error_errno(c, REDIS_ERR_IO, Some("poll(2)"));
                redisNetClose(c);
                return false;
            }
            if res > 0 {
                let mut completed = 0;
                if redisCheckConnectDone(c, &mut completed) != REDIS_OK {
                    redisCheckSocketError(c);
                    return false;
                }
                if completed != 0 {
                    return true;
                }
            }
            let timed_out = res == 0 || deadline.is_some_and(|d| Instant::now() >= d);
            if timed_out {
                set_errno(libc::ETIMEDOUT);
                set_error_errno(c, REDIS_ERR_IO, None);
                redisNetClose(c);
                return false;
            }
        }
    }
}

/// Replaces an owned string field with a copy of `value` (unless it is that very string).
/// False when out of memory.
unsafe fn take_string(slot: *mut *mut c_char, value: *const c_char) -> bool {
    // SAFETY: slot is a context field owning its string; value is NULL or NUL-terminated.
    unsafe {
        if std::ptr::eq(*slot, value) {
            return true;
        }
        hi_free((*slot).cast());
        *slot = std::ptr::null_mut();
        if value.is_null() {
            return true;
        }
        *slot = hi_strdup(value);
        !(*slot).is_null()
    }
}

/// Stores the connect timeout (or clears it) for a new connect.
unsafe fn take_connect_timeout(c: *mut redisContext, tv: *const timeval) -> bool {
    // SAFETY: c is a live context.
    unsafe {
        if tv.is_null() {
            hi_free((*c).connect_timeout.cast());
            (*c).connect_timeout = std::ptr::null_mut();
            true
        } else {
            store_timeout(&mut (*c).connect_timeout, tv)
        }
    }
}

/// Keeps a copy of the address being connected to, for `redisCheckConnectDone`.
unsafe fn take_saddr(c: *mut redisContext, addr: *const libc::sockaddr, len: usize) -> bool {
    // SAFETY: c is a live context; addr holds len bytes.
    unsafe {
        hi_free((*c).saddr.cast());
        (*c).saddr = hi_malloc(len).cast();
        if (*c).saddr.is_null() {
            return false;
        }
        std::ptr::copy_nonoverlapping(addr.cast::<u8>(), (*c).saddr.cast::<u8>(), len);
        (*c).addrlen = len;
        true
    }
}

fn socket_type(c_flags: c_int) -> c_int {
    if c_flags & REDIS_SOCK_CLOEXEC != 0 {
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC
    } else {
        libc::SOCK_STREAM
    }
}

struct AddrInfo(*mut libc::addrinfo);

impl Drop for AddrInfo {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: a list from getaddrinfo, freed once.
            unsafe { libc::freeaddrinfo(self.0) }
        }
    }
}

fn gai_text(rc: c_int) -> String {
    // SAFETY: gai_strerror returns a static string.
    unsafe {
        CStr::from_ptr(libc::gai_strerror(rc))
            .to_string_lossy()
            .into_owned()
    }
}

unsafe fn lookup(
    host: *const c_char,
    port: Option<&CStr>,
    family: c_int,
) -> Result<AddrInfo, c_int> {
    // SAFETY: hints is zeroed then filled; res receives a list owned by the guard.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_family = family;
        hints.ai_socktype = libc::SOCK_STREAM;
        let mut res = std::ptr::null_mut();
        let rc = libc::getaddrinfo(
            host,
            port.map_or(std::ptr::null(), |p| p.as_ptr()),
            &hints,
            &mut res,
        );
        if rc == 0 {
            Ok(AddrInfo(res))
        } else {
            Err(rc)
        }
    }
}

/// Connects the context to `addr:port` over TCP, optionally from `source_addr`: blocking
/// (within the connect timeout) or not, per the context's flags. The address, port, source and
/// timeout are kept for redisReconnect.
///
/// As in hiredis, a failure once the socket exists (the source address not resolved or not
/// bound, the connection refused) leaves the socket in `fd`, where redisFree or redisReconnect
/// closes it; a timeout or a failed socket option closes it at once.
#[no_mangle]
pub unsafe extern "C" fn redisContextConnectBindTcp(
    c: *mut redisContext,
    addr: *const c_char,
    port: c_int,
    timeout: *const timeval,
    source_addr: *const c_char,
) -> c_int {
    // SAFETY: c is a live context; the strings are NUL-terminated or NULL.
    guard(REDIS_ERR, || unsafe {
        connect_tcp(c, addr, port, timeout, source_addr)
    })
}

#[no_mangle]
pub unsafe extern "C" fn redisContextConnectTcp(
    c: *mut redisContext,
    addr: *const c_char,
    port: c_int,
    timeout: *const timeval,
) -> c_int {
    // SAFETY: as above.
    guard(REDIS_ERR, || unsafe {
        connect_tcp(c, addr, port, timeout, std::ptr::null())
    })
}

unsafe fn connect_tcp(
    c: *mut redisContext,
    addr: *const c_char,
    port: c_int,
    timeout: *const timeval,
    source_addr: *const c_char,
) -> c_int {
    // SAFETY: as in redisContextConnectBindTcp.
    unsafe {
        let oom = |c: *mut redisContext| {
            set_error(c, REDIS_ERR_OOM, Some(b"Out of memory"));
            REDIS_ERR
        };
        let flags = (*c).flags;
        let blocking = flags & REDIS_BLOCK != 0;
        let reuseaddr = flags & REDIS_REUSEADDR != 0;
        (*c).connection_type = REDIS_CONN_TCP;
        (*c).tcp.port = port;
        if !take_string(&mut (*c).tcp.host, addr) || !take_connect_timeout(c, timeout) {
            return oom(c);
        }
        let Ok(timeout_ms) = connect_timeout_ms(c) else {
            return REDIS_ERR;
        };
        if !take_string(&mut (*c).tcp.source_addr, source_addr) {
            return oom(c);
        }

        // IPv4 first, then IPv6, unless the flags ask otherwise (both: either).
        let family = match (
            flags & REDIS_PREFER_IPV4 != 0,
            flags & REDIS_PREFER_IPV6 != 0,
        ) {
            (true, true) => libc::AF_UNSPEC,
            (_, true) => libc::AF_INET6,
            _ => libc::AF_INET,
        };
        let port_text = std::ffi::CString::new(port.to_string()).expect("digits");
        // A NULL host is looked up as NULL, which (without AI_PASSIVE) is the loopback address.
        let host = (*c).tcp.host;
        let mut family_used = family;
        let list = match lookup(host, Some(&port_text), family) {
            Ok(list) => list,
            Err(first) => {
                if family == libc::AF_UNSPEC {
                    set_error(c, REDIS_ERR_OTHER, Some(gai_text(first).as_bytes()));
                    return REDIS_ERR;
                }
                family_used = if family == libc::AF_INET {
                    libc::AF_INET6
                } else {
                    libc::AF_INET
                };
                match lookup(host, Some(&port_text), family_used) {
                    Ok(list) => list,
                    Err(rc) => {
                        set_error(c, REDIS_ERR_OTHER, Some(gai_text(rc).as_bytes()));
                        return REDIS_ERR;
                    }
                }
            }
        };

        let mut p = list.0;
        while let Some(ai) = p.as_ref() {
            let mut reuses = 0;
            loop {
                let fd = libc::socket(ai.ai_family, socket_type(flags), ai.ai_protocol);
                if fd == -1 {
                    break;
                }
                (*c).fd = fd;
                if !set_blocking(c, false) {
                    return REDIS_ERR;
                }
                if !(*c).tcp.source_addr.is_null() {
                    let src = match lookup((*c).tcp.source_addr, None, family_used) {
                        Ok(src) => src,
                        Err(rc) => {
                            let text = format!("Can't get addr: {}", gai_text(rc));
                            set_error(c, REDIS_ERR_OTHER, Some(text.as_bytes()));
                            return REDIS_ERR;
                        }
                    };
                    if reuseaddr && !set_int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1) {
                        set_error_errno(c, REDIS_ERR_IO, None);
                        return REDIS_ERR;
                    }
                    let mut bound = false;
                    let mut b = src.0;
                    while let Some(bi) = b.as_ref() {
                        if libc::bind(fd, bi.ai_addr, bi.ai_addrlen) != -1 {
                            bound = true;
                            break;
                        }
                        b = bi.ai_next;
                    }
                    if !bound {
                        let text = format!("Can't bind socket: {}", strerror(errno()));
                        set_error(c, REDIS_ERR_OTHER, Some(text.as_bytes()));
                        return REDIS_ERR;
                    }
                }
                if !take_saddr(c, ai.ai_addr, ai.ai_addrlen as usize) {
                    return oom(c);
                }
                if libc::connect(fd, ai.ai_addr, ai.ai_addrlen) == -1 {
                    let e = errno();
                    if e == libc::EHOSTUNREACH {
                        redisNetClose(c);
                        break;
                    }
                    if e == libc::EADDRNOTAVAIL && reuseaddr {
                        reuses += 1;
                        if reuses >= REDIS_CONNECT_RETRIES {
                            set_error_errno(c, REDIS_ERR_IO, None);
                            return REDIS_ERR;
                        }
                        redisNetClose(c);
                        continue;
                    }
                    if e != libc::EINPROGRESS || blocking {
                        // Blocking, or failed at once: wait_connected reports the failure.
                        if !wait_connected(c, timeout_ms) || redisSetTcpNoDelay(c) != REDIS_OK {
                            return REDIS_ERR;
                        }
                    }
                }
                if blocking && !set_blocking(c, true) {
                    return REDIS_ERR;
                }
                (*c).flags |= REDIS_CONNECTED;
                return REDIS_OK;
            }
            p = ai.ai_next;
        }
        let text = format!("Can't create socket: {}", strerror(errno()));
        set_error(c, REDIS_ERR_OTHER, Some(text.as_bytes()));
        REDIS_ERR
    }
}

/// Connects the context to the Unix socket at `path`.
#[no_mangle]
pub unsafe extern "C" fn redisContextConnectUnix(
    c: *mut redisContext,
    path: *const c_char,
    timeout: *const timeval,
) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context; path is NUL-terminated.
        unsafe {
            let blocking = (*c).flags & REDIS_BLOCK != 0;
            let fd = libc::socket(libc::AF_UNIX, socket_type((*c).flags), 0);
            if fd == -1 {
                set_error_errno(c, REDIS_ERR_IO, None);
                return REDIS_ERR;
            }
            (*c).fd = fd;
            if !set_blocking(c, false) {
                return REDIS_ERR;
            }
            (*c).connection_type = REDIS_CONN_UNIX;
            if !take_string(&mut (*c).unix_sock.path, path) || !take_connect_timeout(c, timeout) {
                set_error(c, REDIS_ERR_OOM, Some(b"Out of memory"));
                return REDIS_ERR;
            }
            let Ok(timeout_ms) = connect_timeout_ms(c) else {
                return REDIS_ERR;
            };
            let mut sa: libc::sockaddr_un = std::mem::zeroed();
            sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
            let path_bytes = CStr::from_ptr((*c).unix_sock.path).to_bytes();
            let n = path_bytes.len().min(sa.sun_path.len() - 1);
            for (d, &s) in sa.sun_path.iter_mut().zip(&path_bytes[..n]) {
                *d = s as c_char;
            }
            let len = std::mem::size_of::<libc::sockaddr_un>();
            if !take_saddr(c, (&sa as *const libc::sockaddr_un).cast(), len) {
                set_error(c, REDIS_ERR_OOM, Some(b"Out of memory"));
                return REDIS_ERR;
            }
            if libc::connect(
                fd,
                (&sa as *const libc::sockaddr_un).cast(),
                len as libc::socklen_t,
            ) == -1
            {
                let e = errno();
                let pending = e == libc::EAGAIN || e == libc::EINPROGRESS;
                if (!pending || blocking) && !wait_connected(c, timeout_ms) {
                    return REDIS_ERR;
                }
            }
            if blocking && !set_blocking(c, true) {
                return REDIS_ERR;
            }
            (*c).flags |= REDIS_CONNECTED;
            REDIS_OK
        }
    })
}
