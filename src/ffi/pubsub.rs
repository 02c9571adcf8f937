//! C classes `redcore_pubsub_options` (a subscriber's settings), `redcore_pubsub` (a
//! subscriber: subscription calls, a callback or polling form, commands on its connection)
//! and `redcore_pubsub_message` (a message, or an event such as a gap after a reconnect).

use std::os::raw::{c_char, c_int, c_void};
use std::time::Duration;

use super::client::{byte_strings, command_into, redcore_client};
use super::error::redcore_error;
use super::guard::{guard, guard_code, null_arg};
use super::reply::redcore_reply;
use super::userdata::{redcore_userdata_free, Userdata};
use crate::error::{Error, ErrorKind, Result};
use crate::pubsub::{Event, MessageKind, Overflow, PubSub, PubSubOptions};

/// A subscriber's settings, copied by `redcore_pubsub_new`. Defaults: at most 10,000 messages
/// and 64 MiB waiting for the consumer, the oldest dropped beyond that, a health-check PING
/// after 30 s of silence. Underneath: a `Box`; not thread-safe while being modified.
pub struct redcore_pubsub_options {
    inner: PubSubOptions,
}

/// A subscriber: SUBSCRIBE, PSUBSCRIBE and SSUBSCRIBE (and their unsubscribes) on connections
/// of its own, so that a slow subscriber never holds up the client's other commands. On RESP2
/// its connection carries nothing else; on RESP3 it also takes commands
/// (`redcore_pubsub_command_blocking`). When a connection is lost it reconnects and subscribes
/// again by itself, then reports a `REDCORE_PUBSUB_KIND_RESUBSCRIBED` event: messages
/// published in between were lost. On a cluster client each shard channel lives on its slot's
/// primary and follows the slot when it moves.
///
/// Messages wait in a bounded inbox and are taken either by callbacks, on a thread of the
/// subscriber's own (`redcore_pubsub_set_callbacks`), or by `redcore_pubsub_get_message`.
///
/// Underneath: a `Box`. Thread-safe: any thread may call any function on it, the callbacks
/// included (subscription calls from a callback are fine; from a client callback,
/// `redcore_callback`, they are refused, being blocking calls). Free it with
/// `redcore_pubsub_free`, before or after its client.
pub struct redcore_pubsub {
    inner: PubSub,
}

/// What a `redcore_pubsub_message` is.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum redcore_pubsub_kind {
    /// A message on a channel (SUBSCRIBE).
    Message = 0,
    /// A message on a channel matching a pattern (PSUBSCRIBE): it has a pattern.
    Pmessage = 1,
    /// A message on a shard channel (SSUBSCRIBE).
    Smessage = 2,
    /// Messages may have been lost: a connection was lost and came back (or a cluster shard
    /// channel moved to another node) and the subscriptions were made again. Its error says
    /// why; `redcore_pubsub_message_restore_error` says whether some could not be restored.
    Resubscribed = 3,
    /// `redcore_pubsub_message_dropped` messages were dropped, the oldest first, because the
    /// inbox was full.
    Dropped = 4,
    /// The subscriber stopped for good; its error says why (`REDCORE_ERR_PUBSUB`: it fell
    /// behind with the disconnect policy; `REDCORE_ERR_CLOSED`: its client was freed). The
    /// last thing it delivers.
    Closed = 5,
}

/// A message or an event. Owned when returned by `redcore_pubsub_get_message` (free it with
/// `redcore_pubsub_message_free`), borrowed inside a `redcore_pubsub_callback`. Immutable;
/// its strings are NUL-terminated and live as long as it does.
pub struct redcore_pubsub_message {
    event: Event,
    /// The event's error, for lending to C.
    error: Option<redcore_error>,
    /// A `Resubscribed` event's failure, for lending to C.
    restore_error: Option<redcore_error>,
}

impl redcore_pubsub_message {
    fn new(event: Event) -> redcore_pubsub_message {
        let (error, restore_error) = match &event {
            Event::Resubscribed { cause, failed } => (
                Some(redcore_error::new(cause.clone())),
                failed.clone().map(redcore_error::new),
            ),
            Event::Closed(err) => (Some(redcore_error::new(err.clone())), None),
            _ => (None, None),
        };
        redcore_pubsub_message {
            event,
            error,
            restore_error,
        }
    }

    fn kind(&self) -> redcore_pubsub_kind {
        match &self.event {
            Event::Message(m) => match m.kind() {
                MessageKind::Message => redcore_pubsub_kind::Message,
                MessageKind::Pattern => redcore_pubsub_kind::Pmessage,
                MessageKind::Shard => redcore_pubsub_kind::Smessage,
            },
            Event::Resubscribed { .. } => redcore_pubsub_kind::Resubscribed,
            Event::Dropped(_) => redcore_pubsub_kind::Dropped,
            Event::Closed(_) => redcore_pubsub_kind::Closed,
        }
    }
}

/// A subscriber callback: gets a message or an event, borrowed until it returns. Runs on the
/// subscriber's own thread, one call at a time, in order. It may take its time (the messages
/// that arrive meanwhile wait in the inbox, up to its bound), call any function of the
/// subscriber (subscribe, unsubscribe, even `redcore_pubsub_free`) and of the client.
pub type redcore_pubsub_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, message: *const redcore_pubsub_message)>;

/// Writes new default subscriber options to `*out` (free them with
/// `redcore_pubsub_options_free`).
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_options_new(
    out: *mut *mut redcore_pubsub_options,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        if out.is_null() {
            return Err(null_arg("out"));
        }
        let boxed = Box::new(redcore_pubsub_options {
            inner: PubSubOptions::default(),
        });
        // SAFETY: out was checked non-NULL.
        unsafe { *out = Box::into_raw(boxed) };
        Ok(())
    })
}

/// Frees subscriber options. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_options_free(options: *mut redcore_pubsub_options) {
    guard((), || {
        if !options.is_null() {
            // SAFETY: options came from redcore_pubsub_options_new and is freed once.
            drop(unsafe { Box::from_raw(options) });
        }
    })
}

/// Applies `change` to the options behind `options`.
///
/// # Safety
/// `options` is NULL or live options used by this thread only.
unsafe fn edit(
    options: *mut redcore_pubsub_options,
    change: impl FnOnce(&mut PubSubOptions),
) -> Result<()> {
    // SAFETY: per the contract above.
    let options = unsafe { options.as_mut() }.ok_or_else(|| null_arg("options"))?;
    change(&mut options.inner);
    Ok(())
}

/// Bounds the inbox: at most `max_messages` messages and `max_bytes` bytes of them wait for
/// the consumer (each at least 1).
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_options_set_max_pending(
    options: *mut redcore_pubsub_options,
    max_messages: usize,
    max_bytes: usize,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        if max_messages == 0 || max_bytes == 0 {
            return Err(Error::invalid_argument(
                "max_messages and max_bytes must be at least 1",
            ));
        }
        // SAFETY: options is NULL or live, used by this thread only.
        unsafe {
            edit(options, |o| {
                o.max_pending_messages = max_messages;
                o.max_pending_bytes = max_bytes;
            })
        }
    })
}

/// What happens to a message that arrives when the inbox is full: with `disconnect` false
/// (the default) the oldest messages are dropped to make room and counted (a
/// `REDCORE_PUBSUB_KIND_DROPPED` event comes before the next message); with `disconnect` true
/// the subscriber stops: its connections close, what it holds is still delivered, then a
/// `REDCORE_PUBSUB_KIND_CLOSED` event with `REDCORE_ERR_PUBSUB`.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_options_set_overflow_disconnect(
    options: *mut redcore_pubsub_options,
    disconnect: bool,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        let overflow = if disconnect {
            Overflow::Disconnect
        } else {
            Overflow::DropOldest
        };
        // SAFETY: options is NULL or live, used by this thread only.
        unsafe { edit(options, |o| o.overflow = overflow) }
    })
}

/// Sets the idle time (ms) after which a subscriber's connection is checked with a PING, so a
/// dead connection is found and replaced even when no message comes; 0 turns the checks off.
/// Default 30000.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_options_set_health_check_ms(
    options: *mut redcore_pubsub_options,
    interval_ms: u64,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        let interval = (interval_ms != 0).then(|| Duration::from_millis(interval_ms));
        // SAFETY: options is NULL or live, used by this thread only.
        unsafe { edit(options, |o| o.health_check_interval = interval) }
    })
}

/// Makes a subscriber on `client` with `options` (copied; NULL for the defaults) and writes
/// it to `*pubsub_out`. Its connection opens in the background; the first subscription call
/// waits for it.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_new(
    client: *const redcore_client,
    options: *const redcore_pubsub_options,
    pubsub_out: *mut *mut redcore_pubsub,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or a live client.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        if pubsub_out.is_null() {
            return Err(null_arg("pubsub_out"));
        }
        // SAFETY: options is NULL or live.
        let options =
            unsafe { options.as_ref() }.map_or_else(PubSubOptions::default, |o| o.inner.clone());
        let inner = PubSub::new(&client.inner, options)?;
        // SAFETY: pubsub_out was checked non-NULL.
        unsafe { *pubsub_out = Box::into_raw(Box::new(redcore_pubsub { inner })) };
        Ok(())
    })
}

/// Frees a subscriber: its connections close, its callback thread is stopped and joined (the
/// callback in progress finishes; messages still waiting are dropped; the callbacks'
/// `userdata_free` runs), so no callback runs after this returns, unless it is called from
/// that callback (then the thread ends when it returns). NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_free(pubsub: *mut redcore_pubsub) {
    guard((), || {
        if !pubsub.is_null() {
            // SAFETY: pubsub came from redcore_pubsub_new and is freed once.
            drop(unsafe { Box::from_raw(pubsub) });
        }
    })
}

/// Shuts a subscriber down without freeing it, for one that other threads may still be
/// calling: its connections close at once, a subscription call or
/// `redcore_pubsub_command_blocking` in progress on another thread returns
/// `REDCORE_ERR_CLOSED` at once (also one waiting on a server that stopped answering), and
/// later ones fail with it. The callbacks (or `redcore_pubsub_get_message`) still get the
/// messages that were waiting, then the `REDCORE_PUBSUB_KIND_CLOSED` event. Does not wait
/// for anything, so it may be called from any callback. Free the subscriber with
/// `redcore_pubsub_free` afterwards, once no other thread uses it. Calling it again does
/// nothing; NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_shutdown(pubsub: *const redcore_pubsub) {
    guard((), || {
        // SAFETY: pubsub is NULL or a live subscriber.
        if let Some(pubsub) = unsafe { pubsub.as_ref() } {
            pubsub.inner.shutdown();
        }
    })
}

/// The subscriber behind a handle, or INVALID_ARGUMENT.
///
/// # Safety
/// `pubsub` is NULL or live for `'a`.
unsafe fn pubsub_arg<'a>(pubsub: *const redcore_pubsub) -> Result<&'a PubSub> {
    // SAFETY: per the contract above.
    unsafe { pubsub.as_ref() }
        .map(|p| &p.inner)
        .ok_or_else(|| null_arg("pubsub"))
}

/// Runs one subscription call of `pubsub` with the names given.
///
/// # Safety
/// As for `pubsub_arg` and `byte_strings`.
unsafe fn subscription(
    pubsub: *const redcore_pubsub,
    count: usize,
    names: *const *const c_char,
    lens: *const usize,
    err_out: *mut *mut redcore_error,
    call: fn(&PubSub, &[&[u8]]) -> Result<()>,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: per this function's contract.
        let pubsub = unsafe { pubsub_arg(pubsub) }?;
        // SAFETY: per this function's contract.
        let names = unsafe { byte_strings(count, names, lens) }?;
        call(pubsub, names.as_slice())
    })
}

/// SUBSCRIBE to `count` channels (`channels[i]` of `lens[i]` bytes, or NUL-terminated
/// strings when `lens` is NULL; copied), waiting until the server confirmed them all (or the
/// command timeout: `REDCORE_ERR_TIMEOUT`). A channel the server refuses (an ACL) is
/// `REDCORE_ERR_NO_PERMISSION` and is not kept; after a connection error (or a timeout) the
/// channels stay wanted and are subscribed when the connection is back, or up for the first
/// time, and a `REDCORE_PUBSUB_KIND_RESUBSCRIBED` event says when.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_subscribe(
    pubsub: *const redcore_pubsub,
    count: usize,
    channels: *const *const c_char,
    lens: *const usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    // SAFETY: per this function's contract.
    unsafe {
        subscription(pubsub, count, channels, lens, err_out, |p, n| {
            p.subscribe(n)
        })
    }
}

/// PSUBSCRIBE to `count` glob-style patterns (as `redcore_pubsub_subscribe`).
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_psubscribe(
    pubsub: *const redcore_pubsub,
    count: usize,
    patterns: *const *const c_char,
    lens: *const usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    // SAFETY: per this function's contract.
    unsafe {
        subscription(pubsub, count, patterns, lens, err_out, |p, n| {
            p.psubscribe(n)
        })
    }
}

/// SSUBSCRIBE to `count` shard channels (as `redcore_pubsub_subscribe`). On a cluster client
/// each goes to its slot's primary, and moves with the slot.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_ssubscribe(
    pubsub: *const redcore_pubsub,
    count: usize,
    channels: *const *const c_char,
    lens: *const usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    // SAFETY: per this function's contract.
    unsafe {
        subscription(pubsub, count, channels, lens, err_out, |p, n| {
            p.ssubscribe(n)
        })
    }
}

/// UNSUBSCRIBE from `count` channels; `count` 0: from every channel. After a connection error
/// (or a timeout) the channels are no longer wanted all the same: they are not subscribed
/// again when the connection is back.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_unsubscribe(
    pubsub: *const redcore_pubsub,
    count: usize,
    channels: *const *const c_char,
    lens: *const usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    // SAFETY: per this function's contract.
    unsafe {
        subscription(pubsub, count, channels, lens, err_out, |p, n| {
            p.unsubscribe(n)
        })
    }
}

/// PUNSUBSCRIBE from `count` patterns; `count` 0: from every pattern.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_punsubscribe(
    pubsub: *const redcore_pubsub,
    count: usize,
    patterns: *const *const c_char,
    lens: *const usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    // SAFETY: per this function's contract.
    unsafe {
        subscription(pubsub, count, patterns, lens, err_out, |p, n| {
            p.punsubscribe(n)
        })
    }
}

/// SUNSUBSCRIBE from `count` shard channels; `count` 0: from every shard channel.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_sunsubscribe(
    pubsub: *const redcore_pubsub,
    count: usize,
    channels: *const *const c_char,
    lens: *const usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    // SAFETY: per this function's contract.
    unsafe {
        subscription(pubsub, count, channels, lens, err_out, |p, n| {
            p.sunsubscribe(n)
        })
    }
}

/// Hands every message to `on_message` and every event (resubscribed, dropped, closed) to
/// `on_event` (NULL: events are dropped), on the subscriber's own thread, from now until it is
/// freed (see `redcore_pubsub_callback`). Messages that arrived before are handed first. Set
/// once; afterwards `redcore_pubsub_get_message` is refused. The library keeps `userdata`
/// until the subscriber is freed, then calls `userdata_free` (may be NULL) once; on an error
/// it is released at once.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_set_callbacks(
    pubsub: *const redcore_pubsub,
    on_message: redcore_pubsub_callback,
    on_event: redcore_pubsub_callback,
    userdata: *mut c_void,
    userdata_free: redcore_userdata_free,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let data = Userdata::new(userdata, userdata_free);
        // SAFETY: pubsub is NULL or live.
        let pubsub = unsafe { pubsub_arg(pubsub) }?;
        let on_message = on_message.ok_or_else(|| null_arg("on_message"))?;
        pubsub.set_handler(Box::new(move |event| {
            let callback = match event {
                Event::Message(_) => Some(on_message),
                _ => on_event,
            };
            if let Some(f) = callback {
                let message = redcore_pubsub_message::new(event);
                // SAFETY: the C function follows its contract; message outlives the call.
                unsafe { f(data.get(), &message) };
            }
        }))
    })
}

/// Takes the next message or event, waiting up to `timeout_ms` (negative: as long as it
/// takes; 0: only what is there). On `REDCORE_OK` writes it to `*message_out` (owned: free it
/// with `redcore_pubsub_message_free`), or NULL when the time ran out. After the
/// `REDCORE_PUBSUB_KIND_CLOSED` event, fails with its error. `REDCORE_ERR_INVALID_ARGUMENT`
/// when callbacks take the messages, and inside a client's callback unless `timeout_ms` is 0
/// (waiting there would deadlock the event loop that delivers the messages).
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_get_message(
    pubsub: *const redcore_pubsub,
    timeout_ms: i64,
    message_out: *mut *mut redcore_pubsub_message,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: pubsub is NULL or live.
        let pubsub = unsafe { pubsub_arg(pubsub) }?;
        if message_out.is_null() {
            return Err(null_arg("message_out"));
        }
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        let message = pubsub
            .get_message(timeout)?
            .map_or(std::ptr::null_mut(), |event| {
                Box::into_raw(Box::new(redcore_pubsub_message::new(event)))
            });
        // SAFETY: message_out was checked non-NULL.
        unsafe { *message_out = message };
        Ok(())
    })
}

/// Sends a command on the subscriber's connection and waits for its reply (arguments and
/// results as `redcore_client_command_blocking`). On RESP3 any command that neither blocks nor
/// changes the connection's state; on RESP2 only PING (a subscribed RESP2 connection takes
/// nothing else). Messages that arrive meanwhile stay messages.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_command_blocking(
    pubsub: *const redcore_pubsub,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
    reply_out: *mut *mut redcore_reply,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: pubsub is NULL or live.
        let pubsub = unsafe { pubsub_arg(pubsub) }?;
        // SAFETY: per this function's contract.
        unsafe { command_into(argc, argv, argvlen, reply_out, |a| pubsub.command(a)) }
    })
}

/// How many channels, patterns and shard channels the subscriber wants (any output may be
/// NULL).
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_counts(
    pubsub: *const redcore_pubsub,
    channels_out: *mut usize,
    patterns_out: *mut usize,
    shard_channels_out: *mut usize,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        // SAFETY: pubsub is NULL or live.
        let (channels, patterns, shards) = unsafe { pubsub_arg(pubsub) }?.subscriptions();
        // SAFETY: each output is NULL or writable.
        unsafe { write_opt(channels_out, channels) };
        unsafe { write_opt(patterns_out, patterns) };
        unsafe { write_opt(shard_channels_out, shards) };
        Ok(())
    })
}

/// The subscriber's counters: messages received since it was made, dropped (inbox full),
/// and waiting now (any output may be NULL).
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_stats(
    pubsub: *const redcore_pubsub,
    received_out: *mut u64,
    dropped_out: *mut u64,
    pending_out: *mut u64,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        // SAFETY: pubsub is NULL or live.
        let stats = unsafe { pubsub_arg(pubsub) }?.stats();
        // SAFETY: each output is NULL or writable.
        unsafe { write_opt(received_out, stats.received) };
        unsafe { write_opt(dropped_out, stats.dropped) };
        unsafe { write_opt(pending_out, stats.pending) };
        Ok(())
    })
}

/// Writes `value` to `out` unless it is NULL.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn write_opt<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: per the contract above.
        unsafe { *out = value };
    }
}

/// The kind of a message or event (`REDCORE_PUBSUB_KIND_CLOSED` for NULL).
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_message_kind(
    message: *const redcore_pubsub_message,
) -> redcore_pubsub_kind {
    guard(redcore_pubsub_kind::Closed, || {
        // SAFETY: message is NULL or live.
        unsafe { message.as_ref() }.map_or(redcore_pubsub_kind::Closed, |m| m.kind())
    })
}

/// Lends `bytes` to C: the pointer (NUL-terminated) and, when `len_out` is not NULL, the
/// length; NULL (length 0) for `None`.
///
/// # Safety
/// `len_out` is NULL or writable; `bytes` lives as long as the C caller may read it.
unsafe fn lend_bytes(bytes: Option<&[u8]>, len_out: *mut usize) -> *const c_char {
    // SAFETY: passed on from the caller.
    unsafe { write_opt(len_out, bytes.map_or(0, <[u8]>::len)) };
    bytes.map_or(std::ptr::null(), |b| b.as_ptr().cast())
}

/// A message's channel: its bytes (NUL-terminated, owned by the message) and length in
/// `*len_out` (may be NULL). NULL for an event.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_message_channel(
    message: *const redcore_pubsub_message,
    len_out: *mut usize,
) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: message is NULL or live; len_out is NULL or writable.
        let bytes = match unsafe { message.as_ref() }.map(|m| &m.event) {
            Some(Event::Message(m)) => Some(m.channel()),
            _ => None,
        };
        // SAFETY: the bytes live inside the message.
        unsafe { lend_bytes(bytes, len_out) }
    })
}

/// The pattern that matched a `REDCORE_PUBSUB_KIND_PMESSAGE` (as `_channel`); NULL for any
/// other kind.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_message_pattern(
    message: *const redcore_pubsub_message,
    len_out: *mut usize,
) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: message is NULL or live.
        let bytes = match unsafe { message.as_ref() }.map(|m| &m.event) {
            Some(Event::Message(m)) => m.pattern(),
            _ => None,
        };
        // SAFETY: the bytes live inside the message.
        unsafe { lend_bytes(bytes, len_out) }
    })
}

/// A message's payload (as `_channel`; binary-safe: use the length). NULL for an event.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_message_payload(
    message: *const redcore_pubsub_message,
    len_out: *mut usize,
) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: message is NULL or live.
        let bytes = match unsafe { message.as_ref() }.map(|m| &m.event) {
            Some(Event::Message(m)) => Some(m.payload()),
            _ => None,
        };
        // SAFETY: the bytes live inside the message.
        unsafe { lend_bytes(bytes, len_out) }
    })
}

/// How many messages a `REDCORE_PUBSUB_KIND_DROPPED` event stands for (0 for other kinds).
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_message_dropped(
    message: *const redcore_pubsub_message,
) -> u64 {
    guard(0, || {
        // SAFETY: message is NULL or live.
        match unsafe { message.as_ref() }.map(|m| &m.event) {
            Some(Event::Dropped(n)) => *n,
            _ => 0,
        }
    })
}

/// Why an event happened: the loss behind a `RESUBSCRIBED`, the reason of a `CLOSED`
/// (borrowed from the message; do not free). NULL for messages and `DROPPED`.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_message_error(
    message: *const redcore_pubsub_message,
) -> *const redcore_error {
    guard(std::ptr::null(), || {
        // SAFETY: message is NULL or live.
        unsafe { message.as_ref() }
            .and_then(|m| m.error.as_ref())
            .map_or(std::ptr::null(), |e| e as *const redcore_error)
    })
}

/// For a `RESUBSCRIBED` event whose subscriptions could not all be made again, the first
/// failure (borrowed; they stay wanted and are tried again at the next reconnect); NULL
/// otherwise.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_message_restore_error(
    message: *const redcore_pubsub_message,
) -> *const redcore_error {
    guard(std::ptr::null(), || {
        // SAFETY: message is NULL or live.
        unsafe { message.as_ref() }
            .and_then(|m| m.restore_error.as_ref())
            .map_or(std::ptr::null(), |e| e as *const redcore_error)
    })
}

/// Frees a message returned by `redcore_pubsub_get_message`. NULL is ignored; never free one
/// lent to a callback.
#[no_mangle]
pub unsafe extern "C" fn redcore_pubsub_message_free(message: *mut redcore_pubsub_message) {
    guard((), || {
        if !message.is_null() {
            // SAFETY: message came from redcore_pubsub_get_message and is freed once.
            drop(unsafe { Box::from_raw(message) });
        }
    })
}
