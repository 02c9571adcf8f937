//! `redisContext`: a connection with its own socket, used by one thread at a time, as in
//! hiredis. A blocking context writes its queued commands and reads until a reply is complete;
//! a non-blocking one leaves the I/O to `redisBufferRead` / `redisBufferWrite` (and is what an
//! async context embeds). Replies are parsed by the context's `redisReader`.

use std::os::raw::{c_char, c_int, c_uint, c_void};

use super::alloc::{hi_calloc_one, hi_free};
use super::async_ctx::{redisAsyncRead, redisAsyncWrite};
use super::format::argv_slices;
use super::net::*;
use super::reader::{redisReaderCreate, redisReaderFeed, redisReaderFree, redisReaderGetReply};
use super::reply::freeReplyObject;
use super::sds;
use super::types::*;
use crate::ffi::guard::guard;
use crate::resp::encode_command;

/// The plain socket transport.
pub(crate) static PLAIN_FUNCS: redisContextFuncs = redisContextFuncs {
    close: Some(redisNetClose),
    free_privctx: None,
    async_read: Some(redisAsyncRead),
    async_write: Some(redisAsyncWrite),
    read: Some(redisNetRead),
    write: Some(redisNetWrite),
};

/// The push handler a sync context gets unless told otherwise: pushes are dropped.
unsafe extern "C" fn push_auto_free(_privdata: *mut c_void, reply: *mut c_void) {
    // SAFETY: the handler owns the push reply.
    unsafe { freeReplyObject(reply) }
}

/// A new, unconnected context (NULL when out of memory).
pub(crate) unsafe fn context_new() -> *mut redisContext {
    // SAFETY: fresh allocations, each checked; a half-built context is freed whole.
    unsafe {
        let c = hi_calloc_one::<redisContext>();
        if c.is_null() {
            return c;
        }
        (*c).funcs = &PLAIN_FUNCS;
        (*c).fd = REDIS_INVALID_FD;
        (*c).obuf = sds::new_len(b"".as_ptr(), 0);
        (*c).reader = redisReaderCreate();
        if (*c).obuf.is_null() || (*c).reader.is_null() {
            redisFree(c);
            return std::ptr::null_mut();
        }
        c
    }
}

unsafe fn oom(c: *mut redisContext) -> c_int {
    // SAFETY: c is live.
    unsafe { set_error(c, REDIS_ERR_OOM, Some(b"Out of memory")) };
    REDIS_ERR
}

/// Frees the context: closes its socket (through its transport), frees its buffers and
/// settings, calls free_privdata on privdata and the transport's free_privctx.
#[no_mangle]
pub unsafe extern "C" fn redisFree(c: *mut redisContext) {
    guard((), || {
        // SAFETY: c is NULL or a live context, freed once.
        unsafe {
            let Some(cc) = c.as_mut() else { return };
            let funcs = cc.funcs.as_ref();
            if let Some(close) = funcs.and_then(|f| f.close) {
                close(c);
            }
            sds::free(cc.obuf);
            redisReaderFree(cc.reader);
            hi_free(cc.tcp.host.cast());
            hi_free(cc.tcp.source_addr.cast());
            hi_free(cc.unix_sock.path.cast());
            hi_free(cc.connect_timeout.cast());
            hi_free(cc.command_timeout.cast());
            hi_free(cc.saddr.cast());
            if let (false, Some(free)) = (cc.privdata.is_null(), cc.free_privdata) {
                free(cc.privdata);
            }
            if let Some(free) = funcs.and_then(|f| f.free_privctx) {
                free(cc.privctx);
            }
            hi_free(c.cast());
        }
    })
}

/// Frees the context but leaves its socket open; returns it.
#[no_mangle]
pub unsafe extern "C" fn redisFreeKeepFd(c: *mut redisContext) -> redisFD {
    guard(REDIS_INVALID_FD, || {
        // SAFETY: c is a live context.
        unsafe {
            let Some(cc) = c.as_mut() else {
                return REDIS_INVALID_FD;
            };
            let fd = cc.fd;
            cc.fd = REDIS_INVALID_FD;
            redisFree(c);
            fd
        }
    })
}

/// Connects as `options` say. NULL only when out of memory or for an unknown type; otherwise
/// check `err`.
#[no_mangle]
pub unsafe extern "C" fn redisConnectWithOptions(
    options: *const redisOptions,
) -> *mut redisContext {
    guard(std::ptr::null_mut(), || {
        // SAFETY: options is readable; the context is ours until returned.
        unsafe {
            let Some(o) = options.as_ref() else {
                return std::ptr::null_mut();
            };
            let c = context_new();
            if c.is_null() {
                return c;
            }
            let cc = &mut *c;
            let bits = [
                (REDIS_OPT_REUSEADDR, REDIS_REUSEADDR),
                (REDIS_OPT_NOAUTOFREE, REDIS_NO_AUTO_FREE),
                (REDIS_OPT_NOAUTOFREEREPLIES, REDIS_NO_AUTO_FREE_REPLIES),
                (REDIS_OPT_PREFER_IPV4, REDIS_PREFER_IPV4),
                (REDIS_OPT_PREFER_IPV6, REDIS_PREFER_IPV6),
                (REDIS_OPT_SET_SOCK_CLOEXEC, REDIS_SOCK_CLOEXEC),
            ];
            if o.options & REDIS_OPT_NONBLOCK == 0 {
                cc.flags |= REDIS_BLOCK;
            }
            for (opt, flag) in bits {
                if o.options & opt != 0 {
                    cc.flags |= flag;
                }
            }
            if o.push_cb.is_some() {
                cc.push_cb = o.push_cb;
            } else if o.options & REDIS_OPT_NO_PUSH_AUTOFREE == 0 {
                cc.push_cb = Some(push_auto_free);
            }
            cc.privdata = o.privdata;
            cc.free_privdata = o.free_privdata;
            if redisContextUpdateConnectTimeout(c, o.connect_timeout) != REDIS_OK
                || redisContextUpdateCommandTimeout(c, o.command_timeout) != REDIS_OK
            {
                oom(c);
                return c;
            }
            match o.type_ {
                REDIS_CONN_TCP => {
                    let tcp = o.endpoint.tcp;
                    redisContextConnectBindTcp(
                        c,
                        tcp.ip,
                        tcp.port,
                        o.connect_timeout,
                        tcp.source_addr,
                    );
                }
                REDIS_CONN_UNIX => {
                    redisContextConnectUnix(c, o.endpoint.unix_socket, o.connect_timeout);
                }
                REDIS_CONN_USERFD => {
                    // connection_type stays REDIS_CONN_TCP (0), as hiredis leaves it: its
                    // redisReconnect then tries the loopback address's port 0, and so does ours.
                    cc.fd = o.endpoint.fd;
                    cc.flags |= REDIS_CONNECTED;
                }
                _ => {
                    redisFree(c);
                    return std::ptr::null_mut();
                }
            }
            let cc = &mut *c;
            if cc.err == 0 && cc.fd != REDIS_INVALID_FD && cc.flags & REDIS_BLOCK != 0 {
                if let Some(tv) = o.command_timeout.as_ref() {
                    redisContextSetTimeout(c, *tv);
                }
            }
            c
        }
    })
}

fn tcp_options(
    ip: *const c_char,
    port: c_int,
    source_addr: *const c_char,
    options: c_int,
) -> redisOptions {
    let mut o = redisOptions::zeroed();
    o.type_ = REDIS_CONN_TCP;
    o.options = options;
    o.endpoint.tcp = TcpEndpoint {
        source_addr,
        ip,
        port,
    };
    o
}

fn unix_options(path: *const c_char, options: c_int) -> redisOptions {
    let mut o = redisOptions::zeroed();
    o.type_ = REDIS_CONN_UNIX;
    o.options = options;
    o.endpoint.unix_socket = path;
    o
}

#[no_mangle]
pub unsafe extern "C" fn redisConnect(ip: *const c_char, port: c_int) -> *mut redisContext {
    // SAFETY: the options point at caller strings for the duration of the call.
    unsafe { redisConnectWithOptions(&tcp_options(ip, port, std::ptr::null(), 0)) }
}

#[no_mangle]
pub unsafe extern "C" fn redisConnectWithTimeout(
    ip: *const c_char,
    port: c_int,
    tv: timeval,
) -> *mut redisContext {
    let mut o = tcp_options(ip, port, std::ptr::null(), 0);
    o.connect_timeout = &tv;
    // SAFETY: as above; tv outlives the call.
    unsafe { redisConnectWithOptions(&o) }
}

#[no_mangle]
pub unsafe extern "C" fn redisConnectNonBlock(ip: *const c_char, port: c_int) -> *mut redisContext {
    // SAFETY: as above.
    unsafe { redisConnectWithOptions(&tcp_options(ip, port, std::ptr::null(), REDIS_OPT_NONBLOCK)) }
}

#[no_mangle]
pub unsafe extern "C" fn redisConnectBindNonBlock(
    ip: *const c_char,
    port: c_int,
    source_addr: *const c_char,
) -> *mut redisContext {
    // SAFETY: as above.
    unsafe { redisConnectWithOptions(&tcp_options(ip, port, source_addr, REDIS_OPT_NONBLOCK)) }
}

#[no_mangle]
pub unsafe extern "C" fn redisConnectBindNonBlockWithReuse(
    ip: *const c_char,
    port: c_int,
    source_addr: *const c_char,
) -> *mut redisContext {
    let o = tcp_options(
        ip,
        port,
        source_addr,
        REDIS_OPT_NONBLOCK | REDIS_OPT_REUSEADDR,
    );
    // SAFETY: as above.
    unsafe { redisConnectWithOptions(&o) }
}

#[no_mangle]
pub unsafe extern "C" fn redisConnectUnix(path: *const c_char) -> *mut redisContext {
    // SAFETY: as above.
    unsafe { redisConnectWithOptions(&unix_options(path, 0)) }
}

#[no_mangle]
pub unsafe extern "C" fn redisConnectUnixWithTimeout(
    path: *const c_char,
    tv: timeval,
) -> *mut redisContext {
    let mut o = unix_options(path, 0);
    o.connect_timeout = &tv;
    // SAFETY: as above.
    unsafe { redisConnectWithOptions(&o) }
}

#[no_mangle]
pub unsafe extern "C" fn redisConnectUnixNonBlock(path: *const c_char) -> *mut redisContext {
    // SAFETY: as above.
    unsafe { redisConnectWithOptions(&unix_options(path, REDIS_OPT_NONBLOCK)) }
}

/// A context over a socket the caller connected; the context owns it from now on. As in
/// hiredis its connection_type is REDIS_CONN_TCP, with no host and port 0.
#[no_mangle]
pub unsafe extern "C" fn redisConnectFd(fd: redisFD) -> *mut redisContext {
    let mut o = redisOptions::zeroed();
    o.type_ = REDIS_CONN_USERFD;
    o.endpoint.fd = fd;
    // SAFETY: plain options.
    unsafe { redisConnectWithOptions(&o) }
}

/// Connects again with the stored settings; queued output and partial input are dropped.
#[no_mangle]
pub unsafe extern "C" fn redisReconnect(c: *mut redisContext) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context.
        unsafe {
            let Some(cc) = c.as_mut() else {
                return REDIS_ERR;
            };
            cc.err = 0;
            cc.errstr = [0; 128];
            if let Some(free) = cc.funcs.as_ref().and_then(|f| f.free_privctx) {
                if !cc.privctx.is_null() {
                    free(cc.privctx);
                    cc.privctx = std::ptr::null_mut();
                }
            }
            if let Some(close) = cc.funcs.as_ref().and_then(|f| f.close) {
                close(c);
            }
            // The new connection starts plain; a TLS layer is set up again by the caller.
            let cc = &mut *c;
            cc.funcs = &PLAIN_FUNCS;
            sds::free(cc.obuf);
            redisReaderFree(cc.reader);
            cc.obuf = sds::new_len(b"".as_ptr(), 0);
            cc.reader = redisReaderCreate();
            if cc.obuf.is_null() || cc.reader.is_null() {
                return oom(c);
            }
            let rc = match cc.connection_type {
                REDIS_CONN_TCP => redisContextConnectBindTcp(
                    c,
                    cc.tcp.host,
                    cc.tcp.port,
                    cc.connect_timeout,
                    cc.tcp.source_addr,
                ),
                REDIS_CONN_UNIX => {
                    redisContextConnectUnix(c, cc.unix_sock.path, cc.connect_timeout)
                }
                _ => {
                    set_error(
                        c,
                        REDIS_ERR_OTHER,
                        Some(b"Not enough information to reconnect"),
                    );
                    REDIS_ERR
                }
            };
            let cc = &*c;
            if rc == REDIS_OK && cc.flags & REDIS_BLOCK != 0 {
                if let Some(tv) = cc.command_timeout.as_ref() {
                    return redisContextSetTimeout(c, *tv);
                }
            }
            rc
        }
    })
}

/// Sets the push handler; returns the previous one.
#[no_mangle]
pub unsafe extern "C" fn redisSetPushCallback(
    c: *mut redisContext,
    f: Option<PushFn>,
) -> Option<PushFn> {
    guard(None, || {
        // SAFETY: c is a live context.
        unsafe {
            c.as_mut()
                .and_then(|cc| std::mem::replace(&mut cc.push_cb, f))
        }
    })
}

/// Sets the command timeout of a blocking context (REDIS_ERR on a non-blocking one).
#[no_mangle]
pub unsafe extern "C" fn redisSetTimeout(c: *mut redisContext, tv: timeval) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context.
        unsafe {
            match c.as_ref() {
                Some(cc) if cc.flags & REDIS_BLOCK != 0 => redisContextSetTimeout(c, tv),
                _ => REDIS_ERR,
            }
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn redisEnableKeepAlive(c: *mut redisContext) -> c_int {
    // SAFETY: c is a live context.
    unsafe { redisEnableKeepAliveWithInterval(c, REDIS_KEEPALIVE_INTERVAL) }
}

#[no_mangle]
pub unsafe extern "C" fn redisEnableKeepAliveWithInterval(
    c: *mut redisContext,
    interval: c_int,
) -> c_int {
    if c.is_null() {
        return REDIS_ERR;
    }
    // SAFETY: c is a live context.
    unsafe { redisKeepAlive(c, interval) }
}

#[no_mangle]
pub unsafe extern "C" fn redisSetTcpUserTimeout(c: *mut redisContext, timeout: c_uint) -> c_int {
    if c.is_null() {
        return REDIS_ERR;
    }
    // SAFETY: c is a live context.
    unsafe { redisContextSetTcpUserTimeout(c, timeout) }
}

/// Reads once from the socket (up to 16 KiB) into the reader.
#[no_mangle]
pub unsafe extern "C" fn redisBufferRead(c: *mut redisContext) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context.
        unsafe {
            let Some(cc) = c.as_mut() else {
                return REDIS_ERR;
            };
            if cc.err != 0 {
                return REDIS_ERR;
            }
            let Some(read) = cc.funcs.as_ref().and_then(|f| f.read) else {
                return REDIS_ERR;
            };
            // Not zeroed: the read fills what the reader is given (zeroing 16 KiB cost more than
            // parsing a short reply).
            let mut buf = std::mem::MaybeUninit::<[u8; 16 * 1024]>::uninit();
            let n = read(c, buf.as_mut_ptr().cast(), 16 * 1024);
            if n < 0 {
                return REDIS_ERR;
            }
            if n > 0 && redisReaderFeed((*c).reader, buf.as_ptr().cast(), n as usize) != REDIS_OK {
                let reader = &*(*c).reader;
                let kind = reader.err;
                let text = reader.errstr;
                (*c).err = kind;
                (*c).errstr = text;
                return REDIS_ERR;
            }
            REDIS_OK
        }
    })
}

/// Writes what the socket takes of the output buffer; `*done` says whether it is empty now.
#[no_mangle]
pub unsafe extern "C" fn redisBufferWrite(c: *mut redisContext, done: *mut c_int) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context; done is NULL or writable.
        unsafe {
            let Some(cc) = c.as_mut() else {
                return REDIS_ERR;
            };
            if cc.err != 0 {
                return REDIS_ERR;
            }
            if sds::len(cc.obuf) > 0 {
                let Some(write) = cc.funcs.as_ref().and_then(|f| f.write) else {
                    return REDIS_ERR;
                };
                let n = write(c);
                if n < 0 {
                    return REDIS_ERR;
                }
                let cc = &mut *c;
                if n as usize >= sds::len(cc.obuf) {
                    // All written: keep a small buffer, give a large one back.
                    if sds::avail(cc.obuf) > REDIS_READER_MAX_BUF {
                        let fresh = sds::new_len(b"".as_ptr(), 0);
                        if fresh.is_null() {
                            return oom(c);
                        }
                        sds::free(cc.obuf);
                        cc.obuf = fresh;
                    } else {
                        sds::set_len(cc.obuf, 0);
                    }
                } else if n > 0 {
                    sds::range(cc.obuf, n, -1);
                }
            }
            if !done.is_null() {
                *done = (sds::len((*c).obuf) == 0) as c_int;
            }
            REDIS_OK
        }
    })
}

/// Takes a reply the reader already has (*reply NULL when none); copies a reader error into
/// the context.
#[no_mangle]
pub unsafe extern "C" fn redisGetReplyFromReader(
    c: *mut redisContext,
    reply: *mut *mut c_void,
) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context; reply is NULL or writable.
        unsafe {
            let Some(cc) = c.as_mut() else {
                return REDIS_ERR;
            };
            if redisReaderGetReply(cc.reader, reply) == REDIS_ERR {
                let reader = &*cc.reader;
                cc.err = reader.err;
                cc.errstr = reader.errstr;
                return REDIS_ERR;
            }
            REDIS_OK
        }
    })
}

/// The next reply that is not a push taken by the push handler.
unsafe fn next_in_band(c: *mut redisContext, reply: &mut *mut c_void) -> c_int {
    // SAFETY: c is a live context.
    unsafe {
        loop {
            if redisGetReplyFromReader(c, reply) == REDIS_ERR {
                return REDIS_ERR;
            }
            let r = (*reply).cast::<redisReply>();
            match ((*c).push_cb, r.as_ref()) {
                (Some(handler), Some(rr)) if rr.type_ == REDIS_REPLY_PUSH => {
                    *reply = std::ptr::null_mut();
                    handler((*c).privdata, r.cast());
                }
                _ => return REDIS_OK,
            }
        }
    }
}

/// The next reply: one already read, or (blocking contexts) write everything queued and read
/// until one is complete. A NULL `reply` frees it.
#[no_mangle]
pub unsafe extern "C" fn redisGetReply(c: *mut redisContext, reply: *mut *mut c_void) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context; reply is NULL or writable.
        unsafe {
            if c.is_null() {
                return REDIS_ERR;
            }
            let mut got: *mut c_void = std::ptr::null_mut();
            if next_in_band(c, &mut got) == REDIS_ERR {
                return REDIS_ERR;
            }
            if got.is_null() && (*c).flags & REDIS_BLOCK != 0 {
                let mut done = 0;
                while done == 0 {
                    if redisBufferWrite(c, &mut done) == REDIS_ERR {
                        return REDIS_ERR;
                    }
                }
                while got.is_null() {
                    if redisBufferRead(c) == REDIS_ERR || next_in_band(c, &mut got) == REDIS_ERR {
                        return REDIS_ERR;
                    }
                }
            }
            if reply.is_null() {
                freeReplyObject(got);
            } else {
                *reply = got;
            }
            REDIS_OK
        }
    })
}

/// Appends bytes to the output buffer (hiredis's internal `__redisAppendCommand`).
#[no_mangle]
pub unsafe extern "C" fn __redisAppendCommand(
    c: *mut redisContext,
    cmd: *const c_char,
    len: usize,
) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context; cmd holds len bytes.
        unsafe {
            let Some(cc) = c.as_mut() else {
                return REDIS_ERR;
            };
            let grown = sds::cat_len(cc.obuf, cmd.cast(), len);
            if grown.is_null() {
                return oom(c);
            }
            cc.obuf = grown;
            REDIS_OK
        }
    })
}

/// Queues an already formatted command: the caller's bytes, appended as they are (one command,
/// several, or part of one).
#[no_mangle]
pub unsafe extern "C" fn redisAppendFormattedCommand(
    c: *mut redisContext,
    cmd: *const c_char,
    len: usize,
) -> c_int {
    // SAFETY: as for __redisAppendCommand.
    unsafe { __redisAppendCommand(c, cmd, len) }
}

/// Queues a command given as an argument vector (argvlen NULL: C strings). A command without
/// arguments is refused: REDIS_ERR_OTHER, "Empty command".
#[no_mangle]
pub unsafe extern "C" fn redisAppendCommandArgv(
    c: *mut redisContext,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: c is a live context; argv as documented.
        unsafe {
            let Some(cc) = c.as_mut() else {
                return REDIS_ERR;
            };
            let Some(args) = argv_slices(argc, argv, argvlen) else {
                return oom(c);
            };
            if args.is_empty() {
                // The server never answers a command without arguments, so the reply asked
                // for next would not come (hiredis sends it and waits, until the timeout). An
                // error the context already has stays: hiredis's next call reports that one.
                if cc.err == 0 {
                    set_error(c, REDIS_ERR_OTHER, Some(b"Empty command"));
                }
                return REDIS_ERR;
            }
            // Encoded into a frame, then appended to the output buffer.
            let mut frame = Vec::new();
            encode_command(&mut frame, &args);
            let grown = sds::cat_bytes(cc.obuf, &frame);
            if grown.is_null() {
                return oom(c);
            }
            cc.obuf = grown;
            REDIS_OK
        }
    })
}

/// Sends a command given as an argument vector; on a blocking context, returns its reply.
#[no_mangle]
pub unsafe extern "C" fn redisCommandArgv(
    c: *mut redisContext,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        // SAFETY: as for redisAppendCommandArgv.
        unsafe {
            if redisAppendCommandArgv(c, argc, argv, argvlen) != REDIS_OK
                || (*c).flags & REDIS_BLOCK == 0
            {
                return std::ptr::null_mut();
            }
            let mut reply = std::ptr::null_mut();
            if redisGetReply(c, &mut reply) != REDIS_OK {
                return std::ptr::null_mut();
            }
            reply
        }
    })
}
