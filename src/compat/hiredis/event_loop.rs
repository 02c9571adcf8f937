//! adapters/redcore.h: async contexts run on an event loop thread of redcore's own, so a
//! program needs no event loop. One mio poll thread, started on first use, serves every
//! attached context: the `ev` hooks turn read/write interest into registrations and the timer
//! into a deadline, and the thread calls `redisAsyncHandleRead/Write/Timeout`.
//!
//! Attached contexts may be used from any thread: each has a re-entrant lock, held by the loop
//! thread while it drives the context (so callbacks run under it) and taken by every
//! `redisAsync*` entry point (`with_context_lock`). Callbacks calling back into the context
//! already hold it. The lock lives in the attachment (`Attached`), which outlives the context.

use std::collections::HashMap;
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use super::async_ctx::{redisAsyncHandleRead, redisAsyncHandleTimeout, redisAsyncHandleWrite};
use super::types::*;
use crate::ffi::guard::guard;

const WAKER: Token = Token(0);

/// A lock the holding thread may take again.
#[derive(Default)]
struct ReentrantLock {
    owner: Mutex<Option<(ThreadId, usize)>>,
    released: Condvar,
}

impl ReentrantLock {
    fn lock(&self) {
        let me = std::thread::current().id();
        let mut owner = self.owner.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match owner.as_mut() {
                None => {
                    *owner = Some((me, 1));
                    return;
                }
                Some((id, depth)) if *id == me => {
                    *depth += 1;
                    return;
                }
                Some(_) => {
                    owner = self.released.wait(owner).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }

    fn unlock(&self) {
        let mut owner = self.owner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, depth)) = owner.as_mut() {
            *depth -= 1;
            if *depth == 0 {
                *owner = None;
                self.released.notify_one();
            }
        }
    }
}

/// Unlocks on drop, so a panic cannot leave the context locked.
struct Held<'a>(&'a ReentrantLock);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

#[derive(Default)]
struct Interests {
    read: bool,
    write: bool,
    registered: bool,
    deadline: Option<Instant>,
}

/// One attached context. `ev.data` of the context holds one strong reference (released by
/// the cleanup hook); the loop's table holds another until cleanup.
struct Attached {
    lock: ReentrantLock,
    /// The context; NULL once it let go of the loop (it may be freed right after).
    ac: AtomicPtr<redisAsyncContext>,
    fd: redisFD,
    token: Token,
    interests: Mutex<Interests>,
}

struct EventLoop {
    registry: Registry,
    waker: Waker,
    attached: Mutex<HashMap<Token, Arc<Attached>>>,
    /// The same attachments by context address, for `with_context_lock`.
    by_context: Mutex<HashMap<usize, Arc<Attached>>>,
    next_token: AtomicUsize,
}

static LOOP: OnceLock<Option<&'static EventLoop>> = OnceLock::new();

fn event_loop() -> Option<&'static EventLoop> {
    *LOOP.get_or_init(|| {
        let poll = Poll::new().ok()?;
        let waker = Waker::new(poll.registry(), WAKER).ok()?;
        let registry = poll.registry().try_clone().ok()?;
        let el: &'static EventLoop = Box::leak(Box::new(EventLoop {
            registry,
            waker,
            attached: Mutex::new(HashMap::new()),
            by_context: Mutex::new(HashMap::new()),
            next_token: AtomicUsize::new(1),
        }));
        std::thread::Builder::new()
            .name("redcore-hiredis-loop".into())
            .spawn(move || run(el, poll))
            .ok()?;
        Some(el)
    })
}

fn run(el: &'static EventLoop, mut poll: Poll) {
    let mut events = Events::with_capacity(256);
    loop {
        let timeout = next_deadline(el)
            .map(|d| d.saturating_duration_since(Instant::now()) + Duration::from_millis(1));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                return;
            }
        }
        for event in events.iter() {
            if event.token() == WAKER {
                continue;
            }
            let Some(a) = el
                .attached
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&event.token())
                .cloned()
            else {
                continue;
            };
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            let writable = event.is_writable() || event.is_write_closed() || event.is_error();
            drive(&a, |ac| {
                if readable {
                    // SAFETY: ac is live: it is unset under this lock before being freed.
                    unsafe { redisAsyncHandleRead(ac) };
                }
            });
            drive(&a, |ac| {
                if writable {
                    // SAFETY: as above.
                    unsafe { redisAsyncHandleWrite(ac) };
                }
            });
        }
        let now = Instant::now();
        let due: Vec<Arc<Attached>> = el
            .attached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|a| {
                let mut i = a.interests.lock().unwrap_or_else(|e| e.into_inner());
                if i.deadline.is_some_and(|d| d <= now) {
                    i.deadline = None;
                    true
                } else {
                    false
                }
            })
            .cloned()
            .collect();
        for a in due {
            // SAFETY: as above.
            drive(&a, |ac| unsafe { redisAsyncHandleTimeout(ac) });
        }
    }
}

/// Runs `f` on the context under its lock, if it is still attached.
fn drive(a: &Attached, f: impl FnOnce(*mut redisAsyncContext)) {
    a.lock.lock();
    let _held = Held(&a.lock);
    let ac = a.ac.load(Ordering::Acquire);
    if !ac.is_null() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(ac)));
    }
}

fn next_deadline(el: &EventLoop) -> Option<Instant> {
    el.attached
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .filter_map(|a| {
            a.interests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .deadline
        })
        .min()
}

/// Registers the socket for what the context wants. Called on every add: re-registering
/// re-arms mio's edge-triggered readiness, so data left after a read is reported again.
fn update(a: &Attached) {
    let Some(el) = event_loop() else { return };
    let mut i = a.interests.lock().unwrap_or_else(|e| e.into_inner());
    let interest = match (i.read, i.write) {
        (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
        (true, false) => Some(Interest::READABLE),
        (false, true) => Some(Interest::WRITABLE),
        (false, false) => None,
    };
    let fd = a.fd;
    let mut source = SourceFd(&fd);
    match (interest, i.registered) {
        (Some(interest), false) => {
            i.registered = el.registry.register(&mut source, a.token, interest).is_ok()
        }
        (Some(interest), true) => {
            let _ = el.registry.reregister(&mut source, a.token, interest);
        }
        (None, true) => {
            let _ = el.registry.deregister(&mut source);
            i.registered = false;
        }
        (None, false) => {}
    }
}

unsafe fn attached<'a>(data: *mut c_void) -> &'a Attached {
    // SAFETY: ev.data of an attached context is a live Arc<Attached> (see `Attached`).
    unsafe { &*data.cast::<Attached>() }
}

fn set_interest(data: *mut c_void, read: Option<bool>, write: Option<bool>) {
    guard((), || {
        // SAFETY: called by the context through its hooks while attached.
        let a = unsafe { attached(data) };
        {
            let mut i = a.interests.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(r) = read {
                i.read = r;
            }
            if let Some(w) = write {
                i.write = w;
            }
        }
        update(a);
    })
}

unsafe extern "C" fn add_read(data: *mut c_void) {
    set_interest(data, Some(true), None);
}

unsafe extern "C" fn del_read(data: *mut c_void) {
    set_interest(data, Some(false), None);
}

unsafe extern "C" fn add_write(data: *mut c_void) {
    set_interest(data, None, Some(true));
}

unsafe extern "C" fn del_write(data: *mut c_void) {
    set_interest(data, None, Some(false));
}

unsafe extern "C" fn schedule_timer(data: *mut c_void, tv: timeval) {
    guard((), || {
        // SAFETY: as in set_interest.
        let a = unsafe { attached(data) };
        let wait = Duration::from_secs(tv.tv_sec.max(0) as u64)
            + Duration::from_micros(tv.tv_usec.max(0) as u64);
        a.interests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .deadline = Some(Instant::now() + wait);
        if let Some(el) = event_loop() {
            let _ = el.waker.wake();
        }
    })
}

unsafe extern "C" fn cleanup(data: *mut c_void) {
    guard((), || {
        // SAFETY: ev.data's reference, given back once (hiredis calls cleanup once).
        let a = unsafe { Arc::from_raw(data.cast::<Attached>()) };
        let ac = a.ac.swap(std::ptr::null_mut(), Ordering::AcqRel);
        {
            let mut i = a.interests.lock().unwrap_or_else(|e| e.into_inner());
            i.read = false;
            i.write = false;
            i.deadline = None;
        }
        update(&a);
        if let Some(el) = event_loop() {
            el.attached
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&a.token);
            el.by_context
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&(ac as usize));
        }
    })
}

/// Hands an async context to redcore's loop thread (adapters/redcore.h). REDIS_ERR when
/// something is attached already or the thread cannot be started.
#[no_mangle]
pub unsafe extern "C" fn redcoreHiredisAttach(ac: *mut redisAsyncContext) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: ac is a live async context, not yet attached.
        unsafe {
            let Some(acr) = ac.as_mut() else {
                return REDIS_ERR;
            };
            if !acr.ev.data.is_null() {
                return REDIS_ERR;
            }
            let Some(el) = event_loop() else {
                return REDIS_ERR;
            };
            let token = Token(el.next_token.fetch_add(1, Ordering::Relaxed));
            let a = Arc::new(Attached {
                lock: ReentrantLock::default(),
                ac: AtomicPtr::new(ac),
                fd: acr.c.fd,
                token,
                interests: Mutex::new(Interests::default()),
            });
            el.attached
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(token, a.clone());
            el.by_context
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(ac as usize, a.clone());
            acr.ev.data = Arc::into_raw(a) as *mut c_void;
            acr.ev.addRead = Some(add_read);
            acr.ev.delRead = Some(del_read);
            acr.ev.addWrite = Some(add_write);
            acr.ev.delWrite = Some(del_write);
            acr.ev.cleanup = Some(cleanup);
            acr.ev.scheduleTimer = Some(schedule_timer);
            REDIS_OK
        }
    })
}

/// Runs `f` holding the context's lock when the context is attached to redcore's loop (other
/// contexts belong to one thread and need none).
///
/// # Safety
/// `ac` is a live async context.
pub(crate) unsafe fn with_context_lock<T>(ac: *mut redisAsyncContext, f: impl FnOnce() -> T) -> T {
    // Our own reference: the context, and its attachment's other references, may go away
    // inside `f`.
    let a = match LOOP.get() {
        Some(Some(el)) => el
            .by_context
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(ac as usize))
            .cloned(),
        _ => None,
    };
    let Some(a) = a else {
        return f();
    };
    a.lock.lock();
    let _held = Held(&a.lock);
    f()
}
