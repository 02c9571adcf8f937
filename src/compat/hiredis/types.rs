//! The C structs of include/hiredis/*.h, field for field (hiredis 1.5.0's layouts on LP64),
//! with their sizes checked at compile time.

#![allow(non_camel_case_types, non_snake_case)]

use std::os::raw::{c_char, c_int, c_longlong, c_void};

pub use libc::timeval;

pub type redisFD = c_int;
pub const REDIS_INVALID_FD: redisFD = -1;

pub const REDIS_OK: c_int = 0;
pub const REDIS_ERR: c_int = -1;

pub const REDIS_ERR_IO: c_int = 1;
pub const REDIS_ERR_OTHER: c_int = 2;
pub const REDIS_ERR_EOF: c_int = 3;
pub const REDIS_ERR_PROTOCOL: c_int = 4;
pub const REDIS_ERR_OOM: c_int = 5;
pub const REDIS_ERR_TIMEOUT: c_int = 6;

pub const REDIS_REPLY_STRING: c_int = 1;
pub const REDIS_REPLY_ARRAY: c_int = 2;
pub const REDIS_REPLY_INTEGER: c_int = 3;
pub const REDIS_REPLY_NIL: c_int = 4;
pub const REDIS_REPLY_STATUS: c_int = 5;
pub const REDIS_REPLY_ERROR: c_int = 6;
pub const REDIS_REPLY_DOUBLE: c_int = 7;
pub const REDIS_REPLY_BOOL: c_int = 8;
pub const REDIS_REPLY_MAP: c_int = 9;
pub const REDIS_REPLY_SET: c_int = 10;
pub const REDIS_REPLY_ATTR: c_int = 11;
pub const REDIS_REPLY_PUSH: c_int = 12;
pub const REDIS_REPLY_BIGNUM: c_int = 13;
pub const REDIS_REPLY_VERB: c_int = 14;

pub const REDIS_READER_MAX_BUF: usize = 1024 * 16;
pub const REDIS_READER_MAX_ARRAY_ELEMENTS: c_longlong = (1 << 32) - 1;
pub const REDIS_READER_MAX_REPLY_DEPTH: c_int = 1024;

pub const REDIS_BLOCK: c_int = 0x1;
pub const REDIS_CONNECTED: c_int = 0x2;
pub const REDIS_DISCONNECTING: c_int = 0x4;
pub const REDIS_FREEING: c_int = 0x8;
pub const REDIS_IN_CALLBACK: c_int = 0x10;
pub const REDIS_SUBSCRIBED: c_int = 0x20;
pub const REDIS_MONITORING: c_int = 0x40;
pub const REDIS_REUSEADDR: c_int = 0x80;
pub const REDIS_SUPPORTS_PUSH: c_int = 0x100;
pub const REDIS_NO_AUTO_FREE: c_int = 0x200;
pub const REDIS_NO_AUTO_FREE_REPLIES: c_int = 0x400;
pub const REDIS_PREFER_IPV4: c_int = 0x800;
pub const REDIS_PREFER_IPV6: c_int = 0x1000;
/// hiredis 1.4+ records REDIS_OPT_SET_SOCK_CLOEXEC in the context flags under its option
/// value, which is also REDIS_REUSEADDR's bit; we keep that so flags read back the same.
pub const REDIS_SOCK_CLOEXEC: c_int = 0x80;

pub const REDIS_KEEPALIVE_INTERVAL: c_int = 15;
pub const REDIS_CONNECT_RETRIES: c_int = 10;

pub const REDIS_OPT_NONBLOCK: c_int = 0x01;
pub const REDIS_OPT_REUSEADDR: c_int = 0x02;
pub const REDIS_OPT_NOAUTOFREE: c_int = 0x04;
pub const REDIS_OPT_NO_PUSH_AUTOFREE: c_int = 0x08;
pub const REDIS_OPT_NOAUTOFREEREPLIES: c_int = 0x10;
pub const REDIS_OPT_PREFER_IPV4: c_int = 0x20;
pub const REDIS_OPT_PREFER_IPV6: c_int = 0x40;
pub const REDIS_OPT_SET_SOCK_CLOEXEC: c_int = 0x80;

pub const REDIS_CONN_TCP: c_int = 0;
pub const REDIS_CONN_UNIX: c_int = 1;
pub const REDIS_CONN_USERFD: c_int = 2;

/// A reply built by the default object functions.
#[repr(C)]
pub struct redisReply {
    pub type_: c_int,
    pub integer: c_longlong,
    pub dval: f64,
    pub len: usize,
    pub str_: *mut c_char,
    pub vtype: [c_char; 4],
    pub elements: usize,
    pub element: *mut *mut redisReply,
}

#[repr(C)]
pub struct redisReadTask {
    pub type_: c_int,
    pub elements: c_longlong,
    pub idx: c_int,
    pub obj: *mut c_void,
    pub parent: *mut redisReadTask,
    pub privdata: *mut c_void,
}

pub type CreateStringFn =
    unsafe extern "C" fn(*const redisReadTask, *mut c_char, usize) -> *mut c_void;
pub type CreateArrayFn = unsafe extern "C" fn(*const redisReadTask, usize) -> *mut c_void;
pub type CreateIntegerFn = unsafe extern "C" fn(*const redisReadTask, c_longlong) -> *mut c_void;
pub type CreateDoubleFn =
    unsafe extern "C" fn(*const redisReadTask, f64, *mut c_char, usize) -> *mut c_void;
pub type CreateNilFn = unsafe extern "C" fn(*const redisReadTask) -> *mut c_void;
pub type CreateBoolFn = unsafe extern "C" fn(*const redisReadTask, c_int) -> *mut c_void;
pub type FreeObjectFn = unsafe extern "C" fn(*mut c_void);

#[repr(C)]
pub struct redisReplyObjectFunctions {
    pub createString: Option<CreateStringFn>,
    pub createArray: Option<CreateArrayFn>,
    pub createInteger: Option<CreateIntegerFn>,
    pub createDouble: Option<CreateDoubleFn>,
    pub createNil: Option<CreateNilFn>,
    pub createBool: Option<CreateBoolFn>,
    pub freeObject: Option<FreeObjectFn>,
}

#[repr(C)]
pub struct redisReader {
    pub err: c_int,
    pub errstr: [c_char; 128],
    pub buf: *mut c_char,
    pub pos: usize,
    pub len: usize,
    pub maxbuf: usize,
    pub maxelements: c_longlong,
    pub task: *mut *mut redisReadTask,
    pub tasks: c_int,
    pub ridx: c_int,
    pub reply: *mut c_void,
    pub fn_: *mut redisReplyObjectFunctions,
    pub privdata: *mut c_void,
    pub maxdepth: c_int,
}

pub type PushFn = unsafe extern "C" fn(*mut c_void, *mut c_void);
pub type AsyncPushFn = unsafe extern "C" fn(*mut redisAsyncContext, *mut c_void);
pub type PrivdataFreeFn = unsafe extern "C" fn(*mut c_void);

#[repr(C)]
pub struct redisContextFuncs {
    pub close: Option<unsafe extern "C" fn(*mut redisContext)>,
    pub free_privctx: Option<unsafe extern "C" fn(*mut c_void)>,
    pub async_read: Option<unsafe extern "C" fn(*mut redisAsyncContext)>,
    pub async_write: Option<unsafe extern "C" fn(*mut redisAsyncContext)>,
    pub read: Option<unsafe extern "C" fn(*mut redisContext, *mut c_char, usize) -> isize>,
    pub write: Option<unsafe extern "C" fn(*mut redisContext) -> isize>,
}

#[repr(C)]
pub struct TcpInfo {
    pub host: *mut c_char,
    pub source_addr: *mut c_char,
    pub port: c_int,
}

#[repr(C)]
pub struct UnixInfo {
    pub path: *mut c_char,
}

#[repr(C)]
pub struct redisContext {
    pub funcs: *const redisContextFuncs,
    pub err: c_int,
    pub errstr: [c_char; 128],
    pub fd: redisFD,
    pub flags: c_int,
    pub obuf: *mut c_char,
    pub reader: *mut redisReader,
    pub connection_type: c_int,
    pub connect_timeout: *mut timeval,
    pub command_timeout: *mut timeval,
    pub tcp: TcpInfo,
    pub unix_sock: UnixInfo,
    pub saddr: *mut libc::sockaddr,
    pub addrlen: usize,
    pub privdata: *mut c_void,
    pub free_privdata: Option<PrivdataFreeFn>,
    pub privctx: *mut c_void,
    pub push_cb: Option<PushFn>,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct TcpEndpoint {
    pub source_addr: *const c_char,
    pub ip: *const c_char,
    pub port: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub union Endpoint {
    pub tcp: TcpEndpoint,
    pub unix_socket: *const c_char,
    pub fd: redisFD,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct redisOptions {
    pub type_: c_int,
    pub options: c_int,
    pub connect_timeout: *const timeval,
    pub command_timeout: *const timeval,
    pub endpoint: Endpoint,
    pub privdata: *mut c_void,
    pub free_privdata: Option<PrivdataFreeFn>,
    pub push_cb: Option<PushFn>,
    pub async_push_cb: Option<AsyncPushFn>,
}

impl redisOptions {
    /// All zero, as C callers start (`redisOptions options = {0};`).
    pub fn zeroed() -> redisOptions {
        // SAFETY: every field is a number, a nullable pointer or an Option of a function
        // pointer, all valid as zero.
        unsafe { std::mem::zeroed() }
    }
}

pub type redisCallbackFn = unsafe extern "C" fn(*mut redisAsyncContext, *mut c_void, *mut c_void);

#[repr(C)]
#[derive(Clone, Copy)]
pub struct redisCallback {
    pub next: *mut redisCallback,
    pub fn_: Option<redisCallbackFn>,
    pub pending_subs: c_int,
    pub unsubscribe_sent: c_int,
    pub privdata: *mut c_void,
}

impl redisCallback {
    pub const NONE: redisCallback = redisCallback {
        next: std::ptr::null_mut(),
        fn_: None,
        pending_subs: 0,
        unsubscribe_sent: 0,
        privdata: std::ptr::null_mut(),
    };
}

#[repr(C)]
pub struct redisCallbackList {
    pub head: *mut redisCallback,
    pub tail: *mut redisCallback,
}

pub type DisconnectFn = unsafe extern "C" fn(*const redisAsyncContext, c_int);
pub type ConnectFn = unsafe extern "C" fn(*const redisAsyncContext, c_int);
pub type ConnectNcFn = unsafe extern "C" fn(*mut redisAsyncContext, c_int);
pub type HookFn = unsafe extern "C" fn(*mut c_void);
pub type TimerHookFn = unsafe extern "C" fn(*mut c_void, timeval);

#[repr(C)]
pub struct EventHooks {
    pub data: *mut c_void,
    pub addRead: Option<HookFn>,
    pub delRead: Option<HookFn>,
    pub addWrite: Option<HookFn>,
    pub delWrite: Option<HookFn>,
    pub cleanup: Option<HookFn>,
    pub scheduleTimer: Option<TimerHookFn>,
}

#[repr(C)]
pub struct Subscriptions {
    pub replies: redisCallbackList,
    /// Our `SubscriptionMap` (`Box`), behind hiredis's `struct dict *`.
    pub channels: *mut c_void,
    pub patterns: *mut c_void,
    pub pending_unsubs: c_int,
}

#[repr(C)]
pub struct redisAsyncContext {
    pub c: redisContext,
    pub err: c_int,
    pub errstr: *mut c_char,
    pub data: *mut c_void,
    pub dataCleanup: Option<PrivdataFreeFn>,
    pub ev: EventHooks,
    pub onDisconnect: Option<DisconnectFn>,
    pub onConnect: Option<ConnectFn>,
    pub onConnectNC: Option<ConnectNcFn>,
    pub replies: redisCallbackList,
    pub saddr: *mut libc::sockaddr,
    pub addrlen: usize,
    pub sub: Subscriptions,
    pub push_cb: Option<AsyncPushFn>,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct hiredisAllocFuncs {
    pub mallocFn: Option<unsafe extern "C" fn(usize) -> *mut c_void>,
    pub callocFn: Option<unsafe extern "C" fn(usize, usize) -> *mut c_void>,
    pub reallocFn: Option<unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void>,
    pub strdupFn: Option<unsafe extern "C" fn(*const c_char) -> *mut c_char>,
    pub freeFn: Option<unsafe extern "C" fn(*mut c_void)>,
}

// The layouts hiredis documents for LP64 targets (tests/c/hiredis_layout_test.c checks the
// C side of the same numbers).
#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<redisReply>() == 64);
    assert!(offset_of!(redisReply, element) == 56);
    assert!(size_of::<redisReadTask>() == 48);
    assert!(size_of::<redisReplyObjectFunctions>() == 56);
    assert!(size_of::<redisReader>() == 224);
    assert!(offset_of!(redisReader, buf) == 136);
    assert!(offset_of!(redisReader, maxdepth) == 216);
    assert!(size_of::<redisContextFuncs>() == 48);
    assert!(size_of::<redisContext>() == 272);
    assert!(offset_of!(redisContext, fd) == 140);
    assert!(offset_of!(redisContext, obuf) == 152);
    assert!(offset_of!(redisContext, tcp) == 192);
    assert!(offset_of!(redisContext, privctx) == 256);
    assert!(offset_of!(redisContext, push_cb) == 264);
    assert!(size_of::<redisOptions>() == 80);
    assert!(offset_of!(redisOptions, endpoint) == 24);
    assert!(offset_of!(redisOptions, privdata) == 48);
    assert!(offset_of!(redisOptions, async_push_cb) == 72);
    assert!(size_of::<redisCallback>() == 32);
    assert!(size_of::<redisAsyncContext>() == 464);
    assert!(offset_of!(redisAsyncContext, ev) == 304);
    assert!(offset_of!(redisAsyncContext, onDisconnect) == 360);
    assert!(offset_of!(redisAsyncContext, replies) == 384);
    assert!(offset_of!(redisAsyncContext, sub) == 416);
    assert!(offset_of!(redisAsyncContext, push_cb) == 456);
    assert!(size_of::<hiredisAllocFuncs>() == 40);
};
