//! `redisAsyncContext`: a non-blocking context driven by an event loop through the `ev`
//! hooks, with a callback per command. Written for redcore with hiredis's contract, which
//! programs and adapters depend on: the same callback order, each reply callback called
//! exactly once (NULL on errors and when the context goes away), subscribe callbacks called
//! for every message until the last unsubscribe, connect and disconnect callbacks called once,
//! the hooks called exactly when hiredis calls them, and the context freed by the library
//! after a disconnect unless REDIS_OPT_NOAUTOFREE.
//!
//! Callbacks may call back into the context, even free it: the code here works on the raw
//! context pointer and re-reads every field after a callback, like the C it replaces.
//! `redisAsyncHandleRead/Write/Timeout` are ignored when called from inside a callback.

use std::collections::HashMap;
use std::os::raw::{c_char, c_int, c_void};

use super::alloc::{hi_calloc_one, hi_free, hi_realloc};
use super::context::{
    __redisAppendCommand, redisBufferRead, redisBufferWrite, redisConnectWithOptions, redisFree,
    redisGetReply,
};
use super::event_loop::with_context_lock;
use super::format::{argv_slices, format_to_block};
use super::net::{redisCheckConnectDone, redisCheckSocketError, redisSetTcpNoDelay, set_error};
use super::sds;
use super::types::*;
use crate::ffi::guard::guard;

/// Subscription callbacks by channel or pattern (behind `sub.channels` / `sub.patterns`).
type SubscriptionMap = HashMap<Vec<u8>, redisCallback>;

unsafe fn map<'a>(p: *mut c_void) -> Option<&'a mut SubscriptionMap> {
    // SAFETY: p is NULL or a SubscriptionMap created by `init`.
    unsafe { p.cast::<SubscriptionMap>().as_mut() }
}

// ---- callback lists (nodes from the installed allocator, as in hiredis) ---------------------

unsafe fn push_callback(list: *mut redisCallbackList, cb: &redisCallback) -> bool {
    // SAFETY: list is a live list; the node is fresh.
    unsafe {
        let node = hi_calloc_one::<redisCallback>();
        if node.is_null() {
            return false;
        }
        *node = *cb;
        (*node).next = std::ptr::null_mut();
        if (*list).head.is_null() {
            (*list).head = node;
        }
        if !(*list).tail.is_null() {
            (*(*list).tail).next = node;
        }
        (*list).tail = node;
        true
    }
}

unsafe fn shift_callback(list: *mut redisCallbackList, out: Option<&mut redisCallback>) -> bool {
    // SAFETY: list is a live list of nodes made by push_callback.
    unsafe {
        let node = (*list).head;
        if node.is_null() {
            return false;
        }
        (*list).head = (*node).next;
        if node == (*list).tail {
            (*list).tail = std::ptr::null_mut();
        }
        if let Some(out) = out {
            *out = *node;
        }
        hi_free(node.cast());
        true
    }
}

// ---- the event loop hooks -------------------------------------------------------------------

fn timer_set(tv: *const timeval) -> Option<timeval> {
    // SAFETY: tv is NULL or a context's stored timeout.
    unsafe { tv.as_ref() }
        .filter(|tv| tv.tv_sec != 0 || tv.tv_usec != 0)
        .copied()
}

/// Before asking for read or write readiness, hiredis re-arms the one timer of the
/// connection: the command timeout once connected, the connect timeout before.
unsafe fn refresh_timer(ac: *mut redisAsyncContext) {
    // SAFETY: ac is live.
    unsafe {
        let Some(schedule) = (*ac).ev.scheduleTimer else {
            return;
        };
        let tv = if (*ac).c.flags & REDIS_CONNECTED != 0 {
            timer_set((*ac).c.command_timeout)
        } else {
            timer_set((*ac).c.connect_timeout)
        };
        if let Some(tv) = tv {
            schedule((*ac).ev.data, tv);
        }
    }
}

pub(crate) unsafe fn want_read(ac: *mut redisAsyncContext) {
    // SAFETY: ac is live; the hook is the adapter's.
    unsafe {
        refresh_timer(ac);
        if let Some(hook) = (*ac).ev.addRead {
            hook((*ac).ev.data);
        }
    }
}

pub(crate) unsafe fn want_write(ac: *mut redisAsyncContext) {
    // SAFETY: as above.
    unsafe {
        refresh_timer(ac);
        if let Some(hook) = (*ac).ev.addWrite {
            hook((*ac).ev.data);
        }
    }
}

pub(crate) unsafe fn stop_write(ac: *mut redisAsyncContext) {
    // SAFETY: as above.
    unsafe {
        if let Some(hook) = (*ac).ev.delWrite {
            hook((*ac).ev.data);
        }
    }
}

/// Tells the adapter to let go, once.
unsafe fn release_loop(ac: *mut redisAsyncContext) {
    // SAFETY: as above.
    unsafe {
        if let Some(hook) = (*ac).ev.cleanup.take() {
            hook((*ac).ev.data);
        }
    }
}

// ---- callbacks --------------------------------------------------------------------------------

unsafe fn copy_error(ac: *mut redisAsyncContext) {
    // SAFETY: ac is live; errstr points into the embedded context.
    unsafe {
        (*ac).err = (*ac).c.err;
        (*ac).errstr = (*ac).c.errstr.as_mut_ptr();
    }
}

/// Runs `f` with REDIS_IN_CALLBACK set, unless it already is.
unsafe fn in_callback(ac: *mut redisAsyncContext, f: impl FnOnce()) {
    // SAFETY: ac is live before the call; the flag is cleared only if the context still is,
    // which it is: a context is never freed while the flag is set.
    unsafe {
        if (*ac).c.flags & REDIS_IN_CALLBACK != 0 {
            f();
        } else {
            (*ac).c.flags |= REDIS_IN_CALLBACK;
            f();
            (*ac).c.flags &= !REDIS_IN_CALLBACK;
        }
    }
}

unsafe fn run_connect_callback(ac: *mut redisAsyncContext, status: c_int) {
    // SAFETY: ac is live.
    unsafe {
        if let Some(f) = (*ac).onConnect {
            in_callback(ac, || f(ac, status));
        } else if let Some(f) = (*ac).onConnectNC {
            in_callback(ac, || f(ac, status));
        }
    }
}

unsafe fn run_disconnect_callback(ac: *mut redisAsyncContext, status: c_int) {
    // SAFETY: ac is live.
    unsafe {
        if let Some(f) = (*ac).onDisconnect {
            in_callback(ac, || f(ac, status));
        }
    }
}

unsafe fn run_callback(ac: *mut redisAsyncContext, cb: &redisCallback, reply: *mut c_void) {
    // SAFETY: ac is live; hiredis sets and clears the flag around every reply callback.
    unsafe {
        if let Some(f) = cb.fn_ {
            (*ac).c.flags |= REDIS_IN_CALLBACK;
            f(ac, reply, cb.privdata);
            (*ac).c.flags &= !REDIS_IN_CALLBACK;
        }
    }
}

unsafe fn run_push_callback(ac: *mut redisAsyncContext, reply: *mut c_void) {
    // SAFETY: ac is live.
    unsafe {
        if let Some(f) = (*ac).push_cb {
            (*ac).c.flags |= REDIS_IN_CALLBACK;
            f(ac, reply);
            (*ac).c.flags &= !REDIS_IN_CALLBACK;
        }
    }
}

unsafe fn free_reply(ac: *mut redisAsyncContext, reply: *mut c_void) {
    // SAFETY: reply was built by the context's reader functions.
    unsafe {
        let reader = (*ac).c.reader;
        if let Some(free) = reader
            .as_ref()
            .and_then(|r| r.fn_.as_ref())
            .and_then(|f| f.freeObject)
        {
            free(reply);
        }
    }
}

// ---- teardown -------------------------------------------------------------------------------

/// Frees the context now: every pending callback gets a NULL reply, the disconnect callback
/// runs (if the connection was up), then dataCleanup, then the memory goes.
unsafe fn free_now(ac: *mut redisAsyncContext) {
    // SAFETY: ac is live until redisFree at the end; callbacks cannot free it again (FREEING or
    // DISCONNECTING refuses new work, and IN_CALLBACK defers redisAsyncFree).
    unsafe {
        let mut cb = redisCallback::NONE;
        while shift_callback(&mut (*ac).replies, Some(&mut cb)) {
            run_callback(ac, &cb, std::ptr::null_mut());
        }
        while shift_callback(&mut (*ac).sub.replies, Some(&mut cb)) {
            run_callback(ac, &cb, std::ptr::null_mut());
        }
        for slot in [
            &mut (*ac).sub.channels as *mut *mut c_void,
            &mut (*ac).sub.patterns,
        ] {
            let taken = std::mem::replace(&mut *slot, std::ptr::null_mut());
            if !taken.is_null() {
                let subs = Box::from_raw(taken.cast::<SubscriptionMap>());
                for cb in subs.values() {
                    run_callback(ac, cb, std::ptr::null_mut());
                }
            }
        }
        release_loop(ac);
        let flags = (*ac).c.flags;
        if flags & REDIS_CONNECTED != 0 {
            let status = if flags & REDIS_FREEING != 0 || (*ac).err == 0 {
                REDIS_OK
            } else {
                REDIS_ERR
            };
            run_disconnect_callback(ac, status);
        }
        if let Some(cleanup) = (*ac).dataCleanup {
            cleanup((*ac).data);
        }
        for slot in [
            &mut (*ac).sub.channels as *mut *mut c_void,
            &mut (*ac).sub.patterns,
        ] {
            let taken = std::mem::replace(&mut *slot, std::ptr::null_mut());
            if !taken.is_null() {
                drop(Box::from_raw(taken.cast::<SubscriptionMap>()));
            }
        }
        redisFree(&mut (*ac).c);
    }
}

/// Ends the connection (hiredis's `__redisAsyncDisconnect`): after an error, pending callbacks
/// may not queue commands; the loop is released; and the context is freed unless
/// REDIS_NO_AUTO_FREE.
pub(crate) unsafe fn disconnect_now(ac: *mut redisAsyncContext) {
    // SAFETY: ac is live.
    unsafe {
        copy_error(ac);
        if (*ac).err != 0 {
            (*ac).c.flags |= REDIS_DISCONNECTING;
        }
        release_loop(ac);
        if (*ac).c.flags & REDIS_NO_AUTO_FREE == 0 {
            free_now(ac);
        }
    }
}

/// Exported as in hiredis (`__redisAsyncDisconnect`), for TLS layers and adapters.
#[no_mangle]
pub unsafe extern "C" fn __redisAsyncDisconnect(ac: *mut redisAsyncContext) {
    // SAFETY: ac is a live context.
    guard((), || unsafe {
        if !ac.is_null() {
            disconnect_now(ac)
        }
    })
}

// ---- creation -------------------------------------------------------------------------------

/// Turns a new non-blocking context into an async one (in place, as hiredis does: the
/// context's block grows). NULL when out of memory (the context is then still valid).
unsafe fn init(c: *mut redisContext) -> *mut redisAsyncContext {
    // SAFETY: c is a live context from redisConnectWithOptions; the tail of the grown block
    // is initialised before use.
    unsafe {
        let ac = hi_realloc(c.cast(), std::mem::size_of::<redisAsyncContext>())
            .cast::<redisAsyncContext>();
        if ac.is_null() {
            return ac;
        }
        let tail = std::ptr::addr_of_mut!((*ac).err).cast::<u8>();
        let tail_len =
            std::mem::size_of::<redisAsyncContext>() - std::mem::size_of::<redisContext>();
        std::ptr::write_bytes(tail, 0, tail_len);
        // The connect is only done once the loop reports the socket writable.
        (*ac).c.flags &= !REDIS_CONNECTED;
        (*ac).sub.channels = Box::into_raw(Box::<SubscriptionMap>::default()).cast();
        (*ac).sub.patterns = Box::into_raw(Box::<SubscriptionMap>::default()).cast();
        ac
    }
}

#[no_mangle]
pub unsafe extern "C" fn redisAsyncConnectWithOptions(
    options: *const redisOptions,
) -> *mut redisAsyncContext {
    guard(std::ptr::null_mut(), || {
        // SAFETY: options is readable.
        unsafe {
            let Some(o) = options.as_ref() else {
                return std::ptr::null_mut();
            };
            let mut mine = *o;
            mine.options |= REDIS_OPT_NONBLOCK | REDIS_OPT_NO_PUSH_AUTOFREE;
            // Sync push handlers do not apply to async contexts.
            mine.push_cb = None;
            let c = redisConnectWithOptions(&mine);
            if c.is_null() {
                return std::ptr::null_mut();
            }
            let ac = init(c);
            if ac.is_null() {
                redisFree(c);
                return ac;
            }
            (*ac).push_cb = o.async_push_cb;
            copy_error(ac);
            ac
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

#[no_mangle]
pub unsafe extern "C" fn redisAsyncConnect(
    ip: *const c_char,
    port: c_int,
) -> *mut redisAsyncContext {
    // SAFETY: options pointing at caller strings for the call.
    unsafe { redisAsyncConnectWithOptions(&tcp_options(ip, port, std::ptr::null(), 0)) }
}

#[no_mangle]
pub unsafe extern "C" fn redisAsyncConnectBind(
    ip: *const c_char,
    port: c_int,
    source_addr: *const c_char,
) -> *mut redisAsyncContext {
    // SAFETY: as above.
    unsafe { redisAsyncConnectWithOptions(&tcp_options(ip, port, source_addr, 0)) }
}

#[no_mangle]
pub unsafe extern "C" fn redisAsyncConnectBindWithReuse(
    ip: *const c_char,
    port: c_int,
    source_addr: *const c_char,
) -> *mut redisAsyncContext {
    // SAFETY: as above.
    unsafe {
        redisAsyncConnectWithOptions(&tcp_options(ip, port, source_addr, REDIS_OPT_REUSEADDR))
    }
}

#[no_mangle]
pub unsafe extern "C" fn redisAsyncConnectUnix(path: *const c_char) -> *mut redisAsyncContext {
    let mut o = redisOptions::zeroed();
    o.type_ = REDIS_CONN_UNIX;
    o.endpoint.unix_socket = path;
    // SAFETY: as above.
    unsafe { redisAsyncConnectWithOptions(&o) }
}

// ---- settings -------------------------------------------------------------------------------

unsafe fn set_connect_callback(
    ac: *mut redisAsyncContext,
    f: Option<ConnectFn>,
    nc: Option<ConnectNcFn>,
) -> c_int {
    // SAFETY: ac is a live context.
    unsafe {
        with_context_lock(ac, || {
            if (*ac).onConnect.is_some() || (*ac).onConnectNC.is_some() {
                return REDIS_ERR;
            }
            if f.is_some() {
                (*ac).onConnect = f;
            } else {
                (*ac).onConnectNC = nc;
            }
            // The connect is detected by the first write event.
            want_write(ac);
            REDIS_OK
        })
    }
}

#[no_mangle]
pub unsafe extern "C" fn redisAsyncSetConnectCallback(
    ac: *mut redisAsyncContext,
    f: Option<ConnectFn>,
) -> c_int {
    // SAFETY: ac is a live context.
    guard(REDIS_ERR, || unsafe {
        if ac.is_null() {
            return REDIS_ERR;
        }
        set_connect_callback(ac, f, None)
    })
}

#[no_mangle]
pub unsafe extern "C" fn redisAsyncSetConnectCallbackNC(
    ac: *mut redisAsyncContext,
    f: Option<ConnectNcFn>,
) -> c_int {
    // SAFETY: ac is a live context.
    guard(REDIS_ERR, || unsafe {
        if ac.is_null() {
            return REDIS_ERR;
        }
        set_connect_callback(ac, None, f)
    })
}

#[no_mangle]
pub unsafe extern "C" fn redisAsyncSetDisconnectCallback(
    ac: *mut redisAsyncContext,
    f: Option<DisconnectFn>,
) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: ac is a live context.
        unsafe {
            if ac.is_null() {
                return REDIS_ERR;
            }
            with_context_lock(ac, || {
                if (*ac).onDisconnect.is_none() {
                    (*ac).onDisconnect = f;
                    REDIS_OK
                } else {
                    REDIS_ERR
                }
            })
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn redisAsyncSetPushCallback(
    ac: *mut redisAsyncContext,
    f: Option<AsyncPushFn>,
) -> Option<AsyncPushFn> {
    guard(None, || {
        // SAFETY: ac is a live context.
        unsafe {
            if ac.is_null() {
                return None;
            }
            with_context_lock(ac, || std::mem::replace(&mut (*ac).push_cb, f))
        }
    })
}

/// Sets the command timeout: a command pending for longer fails every pending command and
/// ends the connection (hiredis's semantics: one timer per connection).
#[no_mangle]
pub unsafe extern "C" fn redisAsyncSetTimeout(ac: *mut redisAsyncContext, tv: timeval) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: ac is a live context.
        unsafe {
            if ac.is_null() {
                return REDIS_ERR;
            }
            with_context_lock(ac, || {
                if (*ac).c.command_timeout.is_null() {
                    let slot = hi_calloc_one::<timeval>();
                    if slot.is_null() {
                        set_error(&mut (*ac).c, REDIS_ERR_OOM, Some(b"Out of memory"));
                        copy_error(ac);
                        return REDIS_ERR;
                    }
                    (*ac).c.command_timeout = slot;
                }
                *(*ac).c.command_timeout = tv;
                REDIS_OK
            })
        }
    })
}

// ---- closing --------------------------------------------------------------------------------

/// Closes now: pending callbacks get NULL, the disconnect callback gets REDIS_OK, the context
/// is freed. From inside a callback, this happens when the callback returns.
#[no_mangle]
pub unsafe extern "C" fn redisAsyncFree(ac: *mut redisAsyncContext) {
    guard((), || {
        // SAFETY: ac is NULL or a live context.
        unsafe {
            if ac.is_null() {
                return;
            }
            with_context_lock(ac, || {
                (*ac).c.flags |= REDIS_FREEING;
                if (*ac).c.flags & REDIS_IN_CALLBACK == 0 {
                    free_now(ac);
                }
            })
        }
    })
}

/// Stops taking commands; once the pending replies are in, closes and frees the context
/// (disconnect callback REDIS_OK).
#[no_mangle]
pub unsafe extern "C" fn redisAsyncDisconnect(ac: *mut redisAsyncContext) {
    guard((), || {
        // SAFETY: ac is a live context.
        unsafe {
            if ac.is_null() {
                return;
            }
            with_context_lock(ac, || {
                (*ac).c.flags |= REDIS_DISCONNECTING;
                // An explicit disconnect frees the context even with REDIS_OPT_NOAUTOFREE.
                (*ac).c.flags &= !REDIS_NO_AUTO_FREE;
                if (*ac).c.flags & REDIS_IN_CALLBACK == 0 && (*ac).replies.head.is_null() {
                    disconnect_now(ac);
                }
            })
        }
    })
}

// ---- replies --------------------------------------------------------------------------------

unsafe fn reply_ref<'a>(reply: *mut c_void) -> &'a redisReply {
    // SAFETY: replies of the default functions (hiredis makes the same assumption).
    unsafe { &*reply.cast::<redisReply>() }
}

unsafe fn element_bytes<'a>(r: &redisReply, i: usize) -> Option<&'a [u8]> {
    // SAFETY: element holds `elements` replies.
    unsafe {
        if i >= r.elements || r.element.is_null() {
            return None;
        }
        let e = (*r.element.add(i)).as_ref()?;
        if e.type_ != REDIS_REPLY_STRING || e.str_.is_null() {
            return None;
        }
        Some(std::slice::from_raw_parts(e.str_.cast::<u8>(), e.len))
    }
}

/// A push that is part of pub/sub (subscribe, message, unsubscribe and their p-variants, by
/// hiredis's prefix rule) rather than out of band.
unsafe fn is_pubsub_push(r: &redisReply) -> bool {
    // SAFETY: r is a live reply.
    let Some(kind) = (unsafe { element_bytes(r, 0) }) else {
        return false;
    };
    if kind.len() < "message".len() {
        return false;
    }
    let kind = match kind.first() {
        Some(b'p' | b'P') => &kind[1..],
        _ => kind,
    };
    [&b"subscribe"[..], b"message", b"unsubscribe"]
        .iter()
        .any(|word| word.len() >= kind.len() && word[..kind.len()].eq_ignore_ascii_case(kind))
}

/// Finds the callback of a reply in a subscribed context, and keeps the subscription books.
unsafe fn subscription_callback(
    ac: *mut redisAsyncContext,
    reply: *mut c_void,
    out: &mut redisCallback,
) {
    // SAFETY: ac is live; reply is a redisReply.
    unsafe {
        let r = reply_ref(reply);
        let flags = (*ac).c.flags;
        let message_shaped =
            (r.type_ == REDIS_REPLY_ARRAY && flags & REDIS_SUPPORTS_PUSH == 0 && r.elements >= 3)
                || r.type_ == REDIS_REPLY_PUSH;
        if !message_shaped {
            // A regular command sent while subscribed.
            shift_callback(&mut (*ac).sub.replies, Some(out));
            return;
        }
        let Some(kind) = element_bytes(r, 0) else {
            return;
        };
        let pattern = matches!(kind.first(), Some(b'p' | b'P'));
        let kind = if pattern { &kind[1..] } else { kind };
        let slot = if pattern {
            (*ac).sub.patterns
        } else {
            (*ac).sub.channels
        };
        let Some(subs) = map(slot) else {
            return;
        };
        let name = element_bytes(r, 1).map(<[u8]>::to_vec);
        let found = name.as_ref().and_then(|n| subs.get(n)).copied();
        if let Some(cb) = found {
            *out = cb;
        }
        if kind.eq_ignore_ascii_case(b"subscribe") {
            if let Some(cb) = name.as_ref().and_then(|n| subs.get_mut(n)) {
                cb.pending_subs -= 1;
            }
        } else if kind.eq_ignore_ascii_case(b"unsubscribe") {
            match found {
                None => (*ac).sub.pending_unsubs -= 1,
                Some(cb) if cb.pending_subs == 0 => {
                    if let Some(n) = &name {
                        subs.remove(n);
                    }
                }
                Some(_) => {}
            }
            let remaining = (r.elements > 2)
                .then(|| (*r.element.add(2)).as_ref())
                .flatten()
                .map_or(0, |e| e.integer);
            let channels_left = map((*ac).sub.channels).map_or(0, |m| m.len());
            let patterns_left = map((*ac).sub.patterns).map_or(0, |m| m.len());
            if remaining == 0
                && channels_left == 0
                && patterns_left == 0
                && (*ac).sub.pending_unsubs == 0
            {
                (*ac).c.flags &= !REDIS_SUBSCRIBED;
                // Commands sent while subscribed now wait in the regular queue.
                let mut cb = redisCallback::NONE;
                while shift_callback(&mut (*ac).sub.replies, Some(&mut cb)) {
                    push_callback(&mut (*ac).replies, &cb);
                }
            }
        }
    }
}

/// Hands every complete reply to its callback (exported as in hiredis).
#[no_mangle]
pub unsafe extern "C" fn redisProcessCallbacks(ac: *mut redisAsyncContext) {
    // SAFETY: ac is a live context.
    guard((), || unsafe {
        if !ac.is_null() {
            process_callbacks(ac)
        }
    })
}

pub(crate) unsafe fn process_callbacks(ac: *mut redisAsyncContext) {
    // SAFETY: ac is live at the top of each turn: a callback that frees it only marks it
    // (FREEING), and the free happens here, after which we return at once.
    unsafe {
        let c: *mut redisContext = &mut (*ac).c;
        let mut reply: *mut c_void = std::ptr::null_mut();
        let status = loop {
            let status = redisGetReply(c, &mut reply);
            if status != REDIS_OK {
                break status;
            }
            if reply.is_null() {
                // All replies are in: a disconnect that was waiting for them goes ahead.
                if (*c).flags & REDIS_DISCONNECTING != 0
                    && sds::len((*c).obuf) == 0
                    && (*ac).replies.head.is_null()
                {
                    disconnect_now(ac);
                    return;
                }
                break REDIS_OK;
            }
            let r = reply_ref(reply);
            if r.type_ == REDIS_REPLY_PUSH {
                (*c).flags |= REDIS_SUPPORTS_PUSH;
                if !is_pubsub_push(r) {
                    run_push_callback(ac, reply);
                    free_reply(ac, reply);
                    continue;
                }
            }
            // Pending regular commands get their replies before pub/sub messages.
            let mut cb = redisCallback::NONE;
            if !shift_callback(&mut (*ac).replies, Some(&mut cb)) {
                if r.type_ == REDIS_REPLY_ERROR {
                    // Unasked-for error (e.g. "max number of clients reached", LOADING): the
                    // server closes the connection after it; report it as the cause.
                    let text = std::slice::from_raw_parts(r.str_.cast::<u8>(), r.len);
                    set_error(c, REDIS_ERR_OTHER, Some(text));
                    free_reply(ac, reply);
                    disconnect_now(ac);
                    return;
                }
                if (*c).flags & REDIS_SUBSCRIBED != 0 {
                    subscription_callback(ac, reply, &mut cb);
                }
            }
            if cb.fn_.is_some() {
                run_callback(ac, &cb, reply);
                if (*c).flags & REDIS_NO_AUTO_FREE_REPLIES == 0 {
                    free_reply(ac, reply);
                }
                if (*c).flags & REDIS_FREEING != 0 {
                    free_now(ac);
                    return;
                }
            } else {
                free_reply(ac, reply);
            }
            // MONITOR: the same callback takes every following line.
            if (*c).flags & REDIS_MONITORING != 0 {
                push_callback(&mut (*ac).replies, &cb);
            }
        };
        if status != REDIS_OK {
            disconnect_now(ac);
        }
    }
}

// ---- I/O --------------------------------------------------------------------------------------

unsafe fn connect_failed(ac: *mut redisAsyncContext) {
    // SAFETY: ac is live.
    unsafe {
        run_connect_callback(ac, REDIS_ERR);
        disconnect_now(ac);
    }
}

/// On the first readiness event: has the connect completed? False when it failed (the
/// context is then gone) or the connect callback ended the context.
unsafe fn finish_connect(ac: *mut redisAsyncContext) -> bool {
    // SAFETY: ac is live on entry.
    unsafe {
        let c: *mut redisContext = &mut (*ac).c;
        let mut completed = 0;
        if redisCheckConnectDone(c, &mut completed) == REDIS_ERR {
            if redisCheckSocketError(c) == REDIS_ERR {
                copy_error(ac);
            }
            connect_failed(ac);
            return false;
        }
        if completed == 0 {
            return true;
        }
        if (*c).connection_type == REDIS_CONN_TCP && redisSetTcpNoDelay(c) == REDIS_ERR {
            connect_failed(ac);
            return false;
        }
        (*c).flags |= REDIS_CONNECTED;
        run_connect_callback(ac, REDIS_OK);
        // The connect callback may have asked to disconnect or free.
        if (*c).flags & REDIS_DISCONNECTING != 0 {
            redisAsyncDisconnect(ac);
            return false;
        }
        if (*c).flags & REDIS_FREEING != 0 {
            redisAsyncFree(ac);
            return false;
        }
        true
    }
}

/// The default `async_read`: read once, then dispatch every complete reply.
#[no_mangle]
pub unsafe extern "C" fn redisAsyncRead(ac: *mut redisAsyncContext) {
    guard((), || {
        // SAFETY: ac is a live context.
        unsafe {
            if redisBufferRead(&mut (*ac).c) == REDIS_ERR {
                disconnect_now(ac);
            } else {
                want_read(ac);
                process_callbacks(ac);
            }
        }
    })
}

/// The default `async_write`: write what the socket takes, keep write interest while output
/// remains, and always read afterwards.
#[no_mangle]
pub unsafe extern "C" fn redisAsyncWrite(ac: *mut redisAsyncContext) {
    guard((), || {
        // SAFETY: ac is a live context.
        unsafe {
            let mut done = 0;
            if redisBufferWrite(&mut (*ac).c, &mut done) == REDIS_ERR {
                disconnect_now(ac);
                return;
            }
            if done == 0 {
                want_write(ac);
            } else {
                stop_write(ac);
            }
            want_read(ac);
        }
    })
}

unsafe fn handle_io(ac: *mut redisAsyncContext, write: bool) {
    // SAFETY: ac is a live context.
    unsafe {
        if (*ac).c.flags & REDIS_IN_CALLBACK != 0 {
            return;
        }
        if (*ac).c.flags & REDIS_CONNECTED == 0 {
            // The first event after a non-blocking connect: did it succeed? The context may be
            // gone after this (a failed connect frees it), or still be connecting.
            if !finish_connect(ac) {
                return;
            }
            let connected = (*ac).c.flags & REDIS_CONNECTED != 0;
            if !connected {
                return;
            }
        }
        let funcs = (*ac).c.funcs.as_ref();
        let f = if write {
            funcs.and_then(|f| f.async_write)
        } else {
            funcs.and_then(|f| f.async_read)
        };
        if let Some(f) = f {
            f(ac);
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn redisAsyncHandleRead(ac: *mut redisAsyncContext) {
    // SAFETY: ac is a live context.
    guard((), || unsafe {
        if !ac.is_null() {
            with_context_lock(ac, || handle_io(ac, false))
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn redisAsyncHandleWrite(ac: *mut redisAsyncContext) {
    // SAFETY: ac is a live context.
    guard((), || unsafe {
        if !ac.is_null() {
            with_context_lock(ac, || handle_io(ac, true))
        }
    })
}

/// The timer fired: with commands pending (or a connect in progress), fail them all with
/// "Timeout" and end the connection; otherwise it was an idle timer and nothing happens.
#[no_mangle]
pub unsafe extern "C" fn redisAsyncHandleTimeout(ac: *mut redisAsyncContext) {
    guard((), || {
        // SAFETY: ac is a live context.
        unsafe {
            if ac.is_null() {
                return;
            }
            with_context_lock(ac, || {
                let c: *mut redisContext = &mut (*ac).c;
                if (*c).flags & REDIS_IN_CALLBACK != 0 {
                    return;
                }
                if (*c).flags & REDIS_CONNECTED != 0 {
                    if (*ac).replies.head.is_null() && (*ac).sub.replies.head.is_null() {
                        return;
                    }
                    if timer_set((*c).command_timeout).is_none() {
                        // A connect timer arriving after the connect.
                        return;
                    }
                }
                if (*c).err == 0 {
                    set_error(c, REDIS_ERR_TIMEOUT, Some(b"Timeout"));
                    copy_error(ac);
                }
                if (*c).flags & REDIS_CONNECTED == 0 {
                    run_connect_callback(ac, REDIS_ERR);
                }
                let mut cb = redisCallback::NONE;
                while shift_callback(&mut (*ac).replies, Some(&mut cb)) {
                    run_callback(ac, &cb, std::ptr::null_mut());
                }
                disconnect_now(ac);
            })
        }
    })
}

// ---- commands -------------------------------------------------------------------------------

/// Reads a buffer meant to hold one command, as the server will. A multibulk (`*N`, then N
/// `$len` bulk strings) gives its arguments; an inline command (one line, `PING\r\n`) gives
/// none (only a multibulk's are looked at, for SUBSCRIBE and the like). None when the server would not answer it with exactly
/// one reply, which its callback waits for: nothing to run (no bytes, `*0`, a blank line), cut
/// short or malformed (the server would wait for the rest, or take the next command as it),
/// or more than one command.
fn one_command(cmd: &[u8]) -> Option<Vec<&[u8]>> {
    if cmd.first() != Some(&b'*') {
        // Inline: the server splits the line at C's isspace and ignores a line of nothing.
        let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
        let end = cmd.iter().position(|&b| b == b'\n')?;
        return (end + 1 == cmd.len() && !cmd.iter().all(is_space)).then(Vec::new);
    }
    let (count, mut pos) = number_line(cmd, 1)?;
    if count == 0 {
        return None;
    }
    let mut args = Vec::new();
    for _ in 0..count {
        if cmd.get(pos) != Some(&b'$') {
            return None;
        }
        let (len, start) = number_line(cmd, pos + 1)?;
        let end = start.checked_add(len)?;
        if cmd.get(end..end.checked_add(2)?)? != b"\r\n" {
            return None;
        }
        args.push(&cmd[start..end]);
        pos = end + 2;
    }
    (pos == cmd.len()).then_some(args)
}

/// The decimal number (digits only, no leading zero) from `from` to the next CRLF, and where
/// the line after it starts.
fn number_line(cmd: &[u8], from: usize) -> Option<(usize, usize)> {
    let rest = cmd.get(from..)?;
    let n = rest.windows(2).position(|w| w == b"\r\n")?;
    let digits = &rest[..n];
    if digits.is_empty() || (digits[0] == b'0' && n > 1) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((value, from + n + 2))
}

unsafe fn queue_command(
    ac: *mut redisAsyncContext,
    f: Option<redisCallbackFn>,
    privdata: *mut c_void,
    cmd: &[u8],
) -> c_int {
    // SAFETY: ac is a live context.
    unsafe {
        let c: *mut redisContext = &mut (*ac).c;
        if (*c).flags & (REDIS_DISCONNECTING | REDIS_FREEING) != 0 {
            return REDIS_ERR;
        }
        // hiredis asserts here; queued, it would shift every later reply onto the wrong
        // callback.
        let Some(args) = one_command(cmd) else {
            return REDIS_ERR;
        };
        let cb = redisCallback {
            next: std::ptr::null_mut(),
            fn_: f,
            pending_subs: 1,
            unsubscribe_sent: 0,
            privdata,
        };
        let name = args.first().copied().unwrap_or(b"");
        let pattern = matches!(name.first(), Some(b'p' | b'P'));
        let bare = if pattern { &name[1..] } else { name };
        let oom = |ac: *mut redisAsyncContext| {
            set_error(&mut (*ac).c, REDIS_ERR_OOM, Some(b"Out of memory"));
            copy_error(ac);
            REDIS_ERR
        };
        if args.len() > 1 && bare.eq_ignore_ascii_case(b"subscribe") {
            (*c).flags |= REDIS_SUBSCRIBED;
            let slot = if pattern {
                (*ac).sub.patterns
            } else {
                (*ac).sub.channels
            };
            if let Some(subs) = map(slot) {
                for target in &args[1..] {
                    let mut entry = cb;
                    if let Some(existing) = subs.get(*target) {
                        entry.pending_subs = existing.pending_subs + 1;
                    }
                    subs.insert(target.to_vec(), entry);
                }
            }
        } else if bare.eq_ignore_ascii_case(b"unsubscribe") {
            // Only meaningful while subscribed; it has no reply of its own: each channel's
            // confirmation goes to that channel's callback.
            if (*c).flags & REDIS_SUBSCRIBED == 0 {
                return REDIS_ERR;
            }
            let slot = if pattern {
                (*ac).sub.patterns
            } else {
                (*ac).sub.channels
            };
            let mut ignored = 0;
            if let Some(subs) = map(slot) {
                if args.len() > 1 {
                    for target in &args[1..] {
                        match subs.get_mut(*target) {
                            Some(existing) if existing.unsubscribe_sent == 0 => {
                                existing.unsubscribe_sent = 1
                            }
                            _ => ignored += 1,
                        }
                    }
                } else {
                    let mut any = false;
                    for existing in subs.values_mut() {
                        if existing.unsubscribe_sent == 0 {
                            existing.unsubscribe_sent = 1;
                            any = true;
                        }
                    }
                    if !any {
                        ignored += 1;
                    }
                }
            }
            (*ac).sub.pending_unsubs += ignored;
        } else if name.eq_ignore_ascii_case(b"monitor") {
            (*c).flags |= REDIS_MONITORING;
            if !push_callback(&mut (*ac).replies, &cb) {
                return oom(ac);
            }
        } else {
            let list = if (*c).flags & REDIS_SUBSCRIBED != 0 {
                &mut (*ac).sub.replies as *mut redisCallbackList
            } else {
                &mut (*ac).replies
            };
            if !push_callback(list, &cb) {
                return oom(ac);
            }
        }
        if __redisAppendCommand(c, cmd.as_ptr().cast(), cmd.len()) != REDIS_OK {
            copy_error(ac);
            return REDIS_ERR;
        }
        want_write(ac);
        REDIS_OK
    }
}

/// Queues an already formatted command with its callback. The buffer must hold exactly one
/// complete command (a multibulk, or one inline line): anything else (empty, cut short,
/// several commands) gets REDIS_ERR, with nothing queued and the callback never called.
#[no_mangle]
pub unsafe extern "C" fn redisAsyncFormattedCommand(
    ac: *mut redisAsyncContext,
    f: Option<redisCallbackFn>,
    privdata: *mut c_void,
    cmd: *const c_char,
    len: usize,
) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: ac is a live context; cmd holds len bytes.
        unsafe {
            if ac.is_null() || (cmd.is_null() && len > 0) {
                return REDIS_ERR;
            }
            let bytes = if len == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(cmd.cast::<u8>(), len)
            };
            with_context_lock(ac, || queue_command(ac, f, privdata, bytes))
        }
    })
}

/// Queues a command given as an argument vector (argvlen NULL: C strings). A command without
/// arguments gets REDIS_ERR, with nothing queued and the callback never called.
#[no_mangle]
pub unsafe extern "C" fn redisAsyncCommandArgv(
    ac: *mut redisAsyncContext,
    f: Option<redisCallbackFn>,
    privdata: *mut c_void,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: ac is a live context; argv as documented.
        unsafe {
            if ac.is_null() {
                return REDIS_ERR;
            }
            let Some(args) = argv_slices(argc, argv, argvlen) else {
                return REDIS_ERR;
            };
            let Some((cmd, n)) = format_to_block(&args) else {
                return REDIS_ERR;
            };
            let bytes = std::slice::from_raw_parts(cmd.cast::<u8>(), n);
            let rc = with_context_lock(ac, || queue_command(ac, f, privdata, bytes));
            hi_free(cmd.cast());
            rc
        }
    })
}

#[cfg(test)]
mod tests {
    use super::one_command;

    #[test]
    fn reads_one_command() {
        /// A case's name, its buffer and the arguments read from it.
        type Accepted = (&'static str, &'static [u8], &'static [&'static [u8]]);
        let accepted: &[Accepted] = &[
            ("multibulk", b"*1\r\n$4\r\nPING\r\n", &[b"PING"]),
            (
                "empty argument",
                b"*3\r\n$9\r\nsubscribe\r\n$1\r\nA\r\n$0\r\n\r\n",
                &[b"subscribe", b"A", b""],
            ),
            (
                "CRLF inside an argument",
                b"*1\r\n$4\r\n\r\n\r\n\r\n",
                &[b"\r\n\r\n"],
            ),
            ("inline", b"ECHO hi\r\n", &[]),
            ("inline ending in LF", b"PING\n", &[]),
        ];
        for (name, cmd, args) in accepted {
            assert_eq!(one_command(cmd).as_deref(), Some(*args), "{name}");
        }
        let refused: &[(&str, &[u8])] = &[
            ("nothing", b""),
            ("no arguments", b"*0\r\n"),
            ("negative count", b"*-1\r\n"),
            ("blank line", b"\r\n"),
            ("line of spaces", b" \t\x0b\r\n"),
            ("inline without its end", b"PING"),
            ("one argument of two", b"*2\r\n$4\r\nPING\r\n"),
            ("cut short", b"*2\r\n$4\r\nPING\r\n$10\r\nshort"),
            ("no CRLF after the argument", b"*1\r\n$4\r\nPINGxx"),
            ("no $ header", b"*1\r\nPING\r\n"),
            ("count not a number", b"*x\r\n$4\r\nPING\r\n"),
            ("length with a sign", b"*1\r\n$+4\r\nPING\r\n"),
            ("length with a leading zero", b"*1\r\n$04\r\nPING\r\n"),
            ("huge length", b"*1\r\n$18446744073709551615\r\nPING\r\n"),
            ("two commands", b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n"),
            ("two inline commands", b"PING\r\nPING\r\n"),
        ];
        for (name, cmd) in refused {
            assert_eq!(one_command(cmd), None, "{name}");
        }
    }
}
