//! A tracking connection's part in the client-side cache (`session::cache`): it turns CLIENT
//! TRACKING on in its handshake, offers the cache each awaited read's reply and applies each
//! invalidation push as it decodes them, under its own lock, so the cache sees them in the
//! order the server sent them; and it empties the cache when it is lost (what the server
//! tracked for it is gone with it).
//!
//! The client's own writes drop what they may change twice: before they are sent, and when
//! their reply is read, on whichever connection, before their completion runs. The second
//! time matters: a read of another thread, sent after the first drop but run by the server
//! before the write, fills the cache with the old value, and the server's invalidation for
//! the write comes on the tracking connection, maybe after the writer has its reply and reads
//! again.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::resp::{Decoder, Limits, Reply};
use crate::route::keys::{for_each_key, BUILTIN_TABLE as BUILTIN};
use crate::session::cache::{changes_every_key, Cache};
use crate::session::push::{read_push, Push};
use crate::session::Sent;

/// The client's cache, shared by callers (lookups) and tracking connections (fills and
/// invalidations; locked after the connection's lock).
pub(crate) type SharedCache = Arc<Mutex<Cache>>;

fn lock(cache: &SharedCache) -> MutexGuard<'_, Cache> {
    cache.lock().unwrap_or_else(|e| e.into_inner())
}

/// The handshake command that turns tracking on.
pub(crate) fn tracking_on() -> Vec<Vec<u8>> {
    vec![b"CLIENT".to_vec(), b"TRACKING".to_vec(), b"ON".to_vec()]
}

/// A reply read: kept by the cache if its read waited for one (and nothing invalidated it).
pub(crate) fn offer(cache: &SharedCache, sent: &Sent<'_>, reply: &Reply) {
    if sent.meta.cache_token != 0 {
        lock(cache).fill(sent.frame, sent.meta.cache_token, reply.value());
    }
}

/// A push read: true when it was an invalidation, now applied.
pub(crate) fn invalidated(cache: &SharedCache, push: &Reply) -> bool {
    let Push::Invalidate { keys } = read_push(push.value()) else {
        return false;
    };
    let mut cache = lock(cache);
    match keys {
        Some(keys) => cache.invalidate(keys.children().filter_map(|k| k.as_bytes())),
        // Every key (FLUSHALL, or the server's tracking table overflowed).
        None => cache.flush(),
    }
    true
}

/// A command of the client's own: drops the cached replies of the keys it may change (all
/// of them for FLUSHALL, FLUSHDB, SWAPDB, and for a command whose keys only the server
/// knows), and reads of them in flight. True when it may change keys: its reply must drop
/// them again (`forget_frame`).
pub(crate) fn forget(cache: &SharedCache, args: &[&[u8]]) -> bool {
    let Some(spec) = BUILTIN.get(args) else {
        return false; // unknown: the server refuses it
    };
    if spec.read_only {
        return false;
    }
    let mut keys = Vec::new();
    match for_each_key(spec, args, |i| keys.push(args[i])) {
        Ok(()) if keys.is_empty() => {
            if !args.first().is_some_and(|name| changes_every_key(name)) {
                return false;
            }
            lock(cache).flush();
        }
        Ok(()) => lock(cache).invalidate(keys),
        Err(_) => lock(cache).flush(),
    }
    true
}

/// The reply to a write (`RequestMeta::forgets`) was read: what it may have changed is
/// dropped again, with the reads of it in flight, before its completion runs.
pub(crate) fn forget_frame(cache: &SharedCache, frame: &[u8]) {
    let Ok((_, Some(command))) = Decoder::new(Limits::unlimited()).decode(frame) else {
        return;
    };
    let args: Vec<&[u8]> = command
        .value()
        .children()
        .filter_map(|a| a.as_bytes())
        .collect();
    forget(cache, &args);
}

/// A pipeline's writes (a transaction's too, whose replies before EXEC are only QUEUED),
/// dropped from the cache again when the last reply of its run has come (`PipelineRun`).
pub(crate) struct OwnWrites {
    cache: SharedCache,
    /// The pipeline's frames, back to back, and their lengths.
    buf: Vec<u8>,
    lens: Vec<u32>,
}

impl OwnWrites {
    pub(crate) fn new(cache: SharedCache, buf: Vec<u8>, lens: Vec<u32>) -> OwnWrites {
        OwnWrites { cache, buf, lens }
    }

    /// `forget_frame` for each frame.
    pub(crate) fn forget(&self) {
        let mut at = 0;
        for len in &self.lens {
            let end = at + *len as usize;
            if let Some(frame) = self.buf.get(at..end) {
                forget_frame(&self.cache, frame);
            }
            at = end;
        }
    }
}

/// The connection was lost: the server forgot what it tracked for it.
pub(crate) fn lost(cache: &SharedCache) {
    lock(cache).flush();
}
