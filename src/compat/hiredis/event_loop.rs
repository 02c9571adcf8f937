//! adapters/redcore.h: async contexts run on an event loop thread of redcore's own, so a
//! program needs no event loop. One mio poll thread serves every attached context: the `ev`
//! hooks turn read/write interest into registrations and the timer into a deadline, and the
//! thread calls `redisAsyncHandleRead/Write/Timeout`. The thread starts with the first attached
//! context and stops when the last one lets go (it is joined by the next call from a program
//! thread holding no context lock), so a program that frees its contexts leaves nothing behind.
//!
//! Attached contexts may be used from any thread: each has a re-entrant lock, held by the loop
//! thread while it drives the context (so callbacks run under it) and taken by every
//! `redisAsync*` entry point (`with_context_lock`). Callbacks calling back into the context
//! already hold it. The lock lives in the attachment (`Attached`), which outlives the context.

use std::cell::Cell;
use std::collections::HashMap;
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use super::async_ctx::{redisAsyncHandleRead, redisAsyncHandleTimeout, redisAsyncHandleWrite};
use super::types::*;
use crate::ffi::guard::guard;

const WAKER: Token = Token(0);

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn this_thread() -> libc::pthread_t {
    // SAFETY: always callable; identifies the calling thread while it lives.
    unsafe { libc::pthread_self() }
}

thread_local! {
    /// Context locks this thread holds (to know when it may join a retired loop thread).
    static HELD: Cell<usize> = const { Cell::new(0) };
    /// Set on loop threads.
    static ON_LOOP: Cell<bool> = const { Cell::new(false) };
}

/// A lock the holding thread may take again.
#[derive(Default)]
struct ReentrantLock {
    owner: Mutex<Option<(libc::pthread_t, usize)>>,
    released: Condvar,
}

impl ReentrantLock {
    fn lock(&self) -> Held<'_> {
        let me = this_thread();
        let mut owner = locked(&self.owner);
        loop {
            match owner.as_mut() {
                None => {
                    *owner = Some((me, 1));
                    break;
                }
                // SAFETY: comparing thread ids.
                Some((id, depth)) if unsafe { libc::pthread_equal(*id, me) } != 0 => {
                    *depth += 1;
                    break;
                }
                Some(_) => owner = self.released.wait(owner).unwrap_or_else(|e| e.into_inner()),
            }
        }
        HELD.with(|h| h.set(h.get() + 1));
        Held(self)
    }
}

/// Unlocks on drop, so a panic cannot leave the context locked.
struct Held<'a>(&'a ReentrantLock);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut owner = locked(&self.0.owner);
        if let Some((_, depth)) = owner.as_mut() {
            *depth -= 1;
            if *depth == 0 {
                *owner = None;
                self.0.released.notify_one();
            }
        }
        HELD.with(|h| h.set(h.get() - 1));
    }
}

#[derive(Default)]
struct Interests {
    read: bool,
    write: bool,
    registered: bool,
    /// Counts `update`s, so the loop sees whether handling an event re-armed the socket.
    updates: u64,
    deadline: Option<Instant>,
}

/// One attached context. `ev.data` of the context holds one strong reference (given back by
/// the cleanup hook); its loop's table and `ATTACHED` hold others until cleanup.
struct Attached {
    lock: ReentrantLock,
    /// The context; NULL once it let go of the loop (it may be freed right after).
    ac: AtomicPtr<redisAsyncContext>,
    fd: redisFD,
    token: Token,
    el: Arc<EventLoop>,
    interests: Mutex<Interests>,
}

struct EventLoop {
    registry: Registry,
    waker: Waker,
    attached: Mutex<HashMap<Token, Arc<Attached>>>,
    next_token: AtomicUsize,
    stop: AtomicBool,
}

/// The running loop, if any.
static LOOP: Mutex<Option<Arc<EventLoop>>> = Mutex::new(None);
/// Every attachment by context address, for `with_context_lock`.
static ATTACHED: Mutex<Option<HashMap<usize, Arc<Attached>>>> = Mutex::new(None);
/// Loop threads and their loops; those told to stop are joined by a program thread holding
/// no context lock.
static THREADS: Mutex<Vec<(Arc<EventLoop>, JoinHandle<()>)>> = Mutex::new(Vec::new());

/// The running loop, started if need be (with `LOOP` held, so it cannot be retiring).
fn current_loop(slot: &mut Option<Arc<EventLoop>>) -> Option<Arc<EventLoop>> {
    if let Some(el) = slot.as_ref() {
        return Some(el.clone());
    }
    let poll = Poll::new().ok()?;
    let waker = Waker::new(poll.registry(), WAKER).ok()?;
    let registry = poll.registry().try_clone().ok()?;
    let el = Arc::new(EventLoop {
        registry,
        waker,
        attached: Mutex::new(HashMap::new()),
        next_token: AtomicUsize::new(1),
        stop: AtomicBool::new(false),
    });
    let for_thread = el.clone();
    let handle = std::thread::Builder::new()
        .name("redcore-hiredis-loop".into())
        .spawn(move || run(for_thread, poll))
        .ok()?;
    locked(&THREADS).push((el.clone(), handle));
    *slot = Some(el.clone());
    Some(el)
}

/// Joins loop threads that stopped (not from a loop thread, nor while holding a context lock,
/// which a stopping loop thread might be waiting for).
fn join_retired() {
    if ON_LOOP.with(|l| l.get()) || HELD.with(|h| h.get()) != 0 {
        return;
    }
    let stopped: Vec<JoinHandle<()>> = {
        let mut threads = locked(&THREADS);
        let (stopped, running) = std::mem::take(&mut *threads)
            .into_iter()
            .partition(|(el, _)| el.stop.load(Ordering::Acquire));
        *threads = running;
        stopped.into_iter().map(|(_, handle)| handle).collect()
    };
    for handle in stopped {
        let _ = handle.join();
    }
}

fn run(el: Arc<EventLoop>, mut poll: Poll) {
    ON_LOOP.with(|l| l.set(true));
    let mut events = Events::with_capacity(256);
    while !el.stop.load(Ordering::Acquire) {
        let timeout = next_deadline(&el)
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
            let Some(a) = locked(&el.attached).get(&event.token()).cloned() else {
                continue;
            };
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            let writable = event.is_writable() || event.is_write_closed() || event.is_error();
            let updates = locked(&a.interests).updates;
            if readable {
                // SAFETY: ac is live: it is unset under this lock before being freed.
                drive(&a, |ac| unsafe { redisAsyncHandleRead(ac) });
            }
            if writable {
                // SAFETY: as above.
                drive(&a, |ac| unsafe { redisAsyncHandleWrite(ac) });
            }
            rearm_if_left(&a, updates);
        }
        let now = Instant::now();
        let due: Vec<Arc<Attached>> = locked(&el.attached)
            .values()
            .filter(|a| {
                let mut i = locked(&a.interests);
                let fire = i.deadline.is_some_and(|d| d <= now);
                if fire {
                    i.deadline = None;
                }
                fire
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
    let _held = a.lock.lock();
    let ac = a.ac.load(Ordering::Acquire);
    if !ac.is_null() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(ac)));
    }
}

fn next_deadline(el: &EventLoop) -> Option<Instant> {
    locked(&el.attached)
        .values()
        .filter_map(|a| locked(&a.interests).deadline)
        .min()
}

/// hiredis's adapters poll level-triggered: an event the context handled without acting on
/// it comes again on the next turn. The context counts on that after a connect that it
/// finishes without writing (its connect callback asked to disconnect: the queued commands go
/// out on the next writable event). mio is edge-triggered, so when handling the event did not
/// re-register the socket (`update`, as every add hook does) while the context still wants
/// to read or write, re-register it here: the kernel reports it again if it is still ready.
fn rearm_if_left(a: &Attached, updates_before: u64) {
    let left = {
        let i = locked(&a.interests);
        i.updates == updates_before && i.registered && (i.read || i.write)
    };
    if left {
        update(a);
    }
}

/// Registers the socket for what the context wants. Called on every add: re-registering
/// re-arms mio's edge-triggered readiness, so data left after a read is reported again.
fn update(a: &Attached) {
    let mut i = locked(&a.interests);
    i.updates = i.updates.wrapping_add(1);
    let interest = match (i.read, i.write) {
        (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
        (true, false) => Some(Interest::READABLE),
        (false, true) => Some(Interest::WRITABLE),
        (false, false) => None,
    };
    let fd = a.fd;
    let mut source = SourceFd(&fd);
    let registry = &a.el.registry;
    match (interest, i.registered) {
        (Some(interest), false) => {
            i.registered = registry.register(&mut source, a.token, interest).is_ok()
        }
        (Some(interest), true) => {
            let _ = registry.reregister(&mut source, a.token, interest);
        }
        (None, true) => {
            let _ = registry.deregister(&mut source);
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
            let mut i = locked(&a.interests);
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
        locked(&a.interests).deadline = Some(Instant::now() + wait);
        let _ = a.el.waker.wake();
    })
}

unsafe extern "C" fn cleanup(data: *mut c_void) {
    guard((), || {
        // SAFETY: ev.data's reference, given back once (the context calls cleanup once).
        let a = unsafe { Arc::from_raw(data.cast::<Attached>()) };
        let ac = a.ac.swap(std::ptr::null_mut(), Ordering::AcqRel);
        {
            let mut i = locked(&a.interests);
            i.read = false;
            i.write = false;
            i.deadline = None;
        }
        update(&a);
        {
            let mut all = locked(&ATTACHED);
            if let Some(map) = all.as_mut() {
                map.remove(&(ac as usize));
                if map.is_empty() {
                    // Nothing attached: give the table back (a program that frees its contexts
                    // leaves nothing allocated).
                    *all = None;
                }
            }
        }
        // The last context of the loop: stop its thread (under LOOP, so that no attach can
        // pick the loop up meanwhile).
        let mut current = locked(&LOOP);
        let mut attached = locked(&a.el.attached);
        attached.remove(&a.token);
        if attached.is_empty() && current.as_ref().is_some_and(|el| Arc::ptr_eq(el, &a.el)) {
            a.el.stop.store(true, Ordering::Release);
            let _ = a.el.waker.wake();
            *current = None;
        }
    })
}

/// Hands an async context to redcore's loop thread (adapters/redcore.h). REDIS_ERR when
/// something is attached already or the thread cannot be started.
#[no_mangle]
pub unsafe extern "C" fn redcoreHiredisAttach(ac: *mut redisAsyncContext) -> c_int {
    guard(REDIS_ERR, || {
        join_retired();
        // SAFETY: ac is a live async context, not yet attached.
        let Some(acr) = (unsafe { ac.as_mut() }) else {
            return REDIS_ERR;
        };
        if !acr.ev.data.is_null() {
            return REDIS_ERR;
        }
        let mut current = locked(&LOOP);
        let Some(el) = current_loop(&mut current) else {
            return REDIS_ERR;
        };
        let token = Token(el.next_token.fetch_add(1, Ordering::Relaxed));
        let a = Arc::new(Attached {
            lock: ReentrantLock::default(),
            ac: AtomicPtr::new(ac),
            fd: acr.c.fd,
            token,
            el: el.clone(),
            interests: Mutex::new(Interests::default()),
        });
        locked(&el.attached).insert(token, a.clone());
        drop(current);
        locked(&ATTACHED)
            .get_or_insert_with(HashMap::new)
            .insert(ac as usize, a.clone());
        acr.ev.data = Arc::into_raw(a) as *mut c_void;
        acr.ev.addRead = Some(add_read);
        acr.ev.delRead = Some(del_read);
        acr.ev.addWrite = Some(add_write);
        acr.ev.delWrite = Some(del_write);
        acr.ev.cleanup = Some(cleanup);
        acr.ev.scheduleTimer = Some(schedule_timer);
        REDIS_OK
    })
}

/// Runs `f` holding the context's lock when the context is attached to redcore's loop (other
/// contexts belong to one thread and need none).
///
/// # Safety
/// `ac` is a live async context.
pub(crate) unsafe fn with_context_lock<T>(ac: *mut redisAsyncContext, f: impl FnOnce() -> T) -> T {
    // Our own reference: the context, and the attachment's other references, may go away
    // inside `f`.
    let a = locked(&ATTACHED)
        .as_ref()
        .and_then(|map| map.get(&(ac as usize)).cloned());
    let Some(a) = a else {
        return f();
    };
    let result = {
        let _held = a.lock.lock();
        f()
    };
    drop(a);
    join_retired();
    result
}
