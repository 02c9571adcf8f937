//! C classes `redcore_monitor` (a running MONITOR with a callback on its own thread) and
//! `redcore_monitor_event` (a command the server ran, or an event of the stream).

use std::os::raw::{c_char, c_void};

use super::client::redcore_client;
use super::error::redcore_error;
use super::guard::{guard, guard_code, null_arg};
use super::userdata::{redcore_userdata_free, Userdata};
use crate::error::ErrorKind;
use crate::monitor::{Monitor, MonitorEvent, MonitorOptions};

/// A running MONITOR: a connection of its own on which the server reports every command it
/// runs; each one goes to a callback on the monitor's own thread. Underneath: a `Box`.
/// Thread-safe. Stop it with `redcore_monitor_stop`.
pub struct redcore_monitor {
    inner: Monitor,
}

/// What a `redcore_monitor_event` is.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum redcore_monitor_kind {
    /// A command the server ran: time, database, client and arguments.
    Command = 0,
    /// The connection was lost (the event's error says how) and MONITOR runs again on a new
    /// one: commands run in between were not seen.
    Restarted = 1,
    /// `redcore_monitor_event_dropped` commands were dropped: the callback fell behind and the
    /// queue was full.
    Dropped = 2,
    /// The monitor stopped by itself (its client was freed; the error says so). Comes after
    /// every event queued before (it is never dropped, however full the queue), and last.
    Closed = 3,
}

/// One event of a monitor, lent to its callback until it returns. Its strings are
/// NUL-terminated.
pub struct redcore_monitor_event {
    event: MonitorEvent,
    /// The client's address and each argument, NUL-terminated for C.
    client: Vec<u8>,
    args: Vec<Vec<u8>>,
    error: Option<redcore_error>,
}

/// A monitor's callback: runs on the monitor's own thread, one event at a time, in order;
/// `event` is borrowed until it returns. It may take its time (events wait in the queue, up
/// to its bound) and call any function, `redcore_monitor_stop` on its own monitor included.
pub type redcore_monitor_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const redcore_monitor_event)>;

fn with_nul(bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.extend_from_slice(bytes);
    v.push(0);
    v
}

impl redcore_monitor_event {
    fn new(event: MonitorEvent) -> redcore_monitor_event {
        let (client, args) = match &event {
            MonitorEvent::Command(entry) => (
                with_nul(entry.client.as_bytes()),
                entry.args.iter().map(|a| with_nul(a)).collect(),
            ),
            _ => (Vec::new(), Vec::new()),
        };
        let error = match &event {
            MonitorEvent::Restarted(err) | MonitorEvent::Closed(err) => {
                Some(redcore_error::new(err.clone()))
            }
            _ => None,
        };
        redcore_monitor_event {
            event,
            client,
            args,
            error,
        }
    }
}

/// Starts a MONITOR on `client` and waits until the server answered it, so every command run
/// after this returns is seen (on a cluster client: the commands of one primary). Each event
/// then goes to `callback` (see `redcore_monitor_callback`); at most `max_pending` wait for it
/// (0: 10,000), more are dropped and counted. The library keeps `userdata` until the monitor
/// is stopped, then calls `userdata_free` (may be NULL) once; on an error it is released at
/// once. Writes the monitor to `*monitor_out`.
#[no_mangle]
pub unsafe extern "C" fn redcore_monitor_start(
    client: *const redcore_client,
    max_pending: usize,
    callback: redcore_monitor_callback,
    userdata: *mut c_void,
    userdata_free: redcore_userdata_free,
    monitor_out: *mut *mut redcore_monitor,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let data = Userdata::new(userdata, userdata_free);
        // SAFETY: client is NULL or a live client.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        let f = callback.ok_or_else(|| null_arg("callback"))?;
        if monitor_out.is_null() {
            return Err(null_arg("monitor_out"));
        }
        let options = MonitorOptions {
            max_pending: if max_pending == 0 {
                MonitorOptions::default().max_pending
            } else {
                max_pending
            },
        };
        let inner = Monitor::start(&client.inner, options, move |event| {
            let event = redcore_monitor_event::new(event);
            // SAFETY: the C function follows its contract; event outlives the call.
            unsafe { f(data.get(), &event) };
        })?;
        // SAFETY: monitor_out was checked non-NULL.
        unsafe { *monitor_out = Box::into_raw(Box::new(redcore_monitor { inner })) };
        Ok(())
    })
}

/// Stops a monitor: its connection closes and its thread is joined (the callback in progress
/// finishes, then `userdata_free` runs), so no callback runs after this returns, unless it is
/// called from that callback. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn redcore_monitor_stop(monitor: *mut redcore_monitor) {
    guard((), || {
        if !monitor.is_null() {
            // SAFETY: monitor came from redcore_monitor_start and is stopped once.
            drop(unsafe { Box::from_raw(monitor) });
        }
    })
}

/// Commands dropped so far because the callback fell behind (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn redcore_monitor_dropped(monitor: *const redcore_monitor) -> u64 {
    guard(0, || {
        // SAFETY: monitor is NULL or live.
        unsafe { monitor.as_ref() }.map_or(0, |m| m.inner.dropped())
    })
}

/// The event behind a handle.
///
/// # Safety
/// `event` is NULL or lent to the running callback.
unsafe fn event_arg<'a>(event: *const redcore_monitor_event) -> Option<&'a redcore_monitor_event> {
    // SAFETY: per the contract above.
    unsafe { event.as_ref() }
}

/// The kind of an event (`REDCORE_MONITOR_KIND_CLOSED` for NULL).
#[no_mangle]
pub unsafe extern "C" fn redcore_monitor_event_kind(
    event: *const redcore_monitor_event,
) -> redcore_monitor_kind {
    guard(redcore_monitor_kind::Closed, || {
        // SAFETY: event is NULL or lent to the running callback.
        match unsafe { event_arg(event) }.map(|e| &e.event) {
            Some(MonitorEvent::Command(_)) => redcore_monitor_kind::Command,
            Some(MonitorEvent::Restarted(_)) => redcore_monitor_kind::Restarted,
            Some(MonitorEvent::Dropped(_)) => redcore_monitor_kind::Dropped,
            _ => redcore_monitor_kind::Closed,
        }
    })
}

/// When a command ran, in seconds since the Unix epoch, to the microsecond (0 for other
/// kinds).
#[no_mangle]
pub unsafe extern "C" fn redcore_monitor_event_time(event: *const redcore_monitor_event) -> f64 {
    guard(0.0, || {
        // SAFETY: event is NULL or lent to the running callback.
        match unsafe { event_arg(event) }.map(|e| &e.event) {
            Some(MonitorEvent::Command(entry)) => entry.time(),
            _ => 0.0,
        }
    })
}

/// The database a command ran in (-1 for other kinds).
#[no_mangle]
pub unsafe extern "C" fn redcore_monitor_event_db(event: *const redcore_monitor_event) -> i64 {
    guard(-1, || {
        // SAFETY: event is NULL or lent to the running callback.
        match unsafe { event_arg(event) }.map(|e| &e.event) {
            Some(MonitorEvent::Command(entry)) => entry.db,
            _ => -1,
        }
    })
}

/// Who ran a command: `ip:port`, `[ipv6]:port`, `unix:/path`, or `lua` for a script
/// (NUL-terminated, borrowed from the event); NULL for other kinds.
#[no_mangle]
pub unsafe extern "C" fn redcore_monitor_event_client(
    event: *const redcore_monitor_event,
) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: event is NULL or lent to the running callback.
        match unsafe { event_arg(event) } {
            Some(e) if !e.client.is_empty() => e.client.as_ptr().cast(),
            _ => std::ptr::null(),
        }
    })
}

/// How many arguments a command had, its name included (0 for other kinds).
#[no_mangle]
pub unsafe extern "C" fn redcore_monitor_event_argc(event: *const redcore_monitor_event) -> usize {
    guard(0, || {
        // SAFETY: event is NULL or lent to the running callback.
        unsafe { event_arg(event) }.map_or(0, |e| e.args.len())
    })
}

/// Argument `index` of a command (0 is its name): its bytes, unescaped and NUL-terminated
/// (borrowed from the event), and its length in `*len_out` (may be NULL). NULL when out of
/// range.
#[no_mangle]
pub unsafe extern "C" fn redcore_monitor_event_arg(
    event: *const redcore_monitor_event,
    index: usize,
    len_out: *mut usize,
) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: event is NULL or lent to the running callback.
        let Some(arg) = unsafe { event_arg(event) }.and_then(|e| e.args.get(index)) else {
            return std::ptr::null();
        };
        if !len_out.is_null() {
            // SAFETY: len_out is writable when not NULL.
            unsafe { *len_out = arg.len() - 1 };
        }
        arg.as_ptr().cast()
    })
}

/// How many commands a `REDCORE_MONITOR_KIND_DROPPED` event stands for (0 otherwise).
#[no_mangle]
pub unsafe extern "C" fn redcore_monitor_event_dropped(event: *const redcore_monitor_event) -> u64 {
    guard(0, || {
        // SAFETY: event is NULL or lent to the running callback.
        match unsafe { event_arg(event) }.map(|e| &e.event) {
            Some(MonitorEvent::Dropped(n)) => *n,
            _ => 0,
        }
    })
}

/// Why a `RESTARTED` or `CLOSED` event happened (borrowed from the event); NULL otherwise.
#[no_mangle]
pub unsafe extern "C" fn redcore_monitor_event_error(
    event: *const redcore_monitor_event,
) -> *const redcore_error {
    guard(std::ptr::null(), || {
        // SAFETY: event is NULL or lent to the running callback.
        unsafe { event_arg(event) }
            .and_then(|e| e.error.as_ref())
            .map_or(std::ptr::null(), |e| e as *const redcore_error)
    })
}
