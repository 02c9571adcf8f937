//! A tracking connection's part in the client-side cache (`session::cache`): it turns CLIENT
//! TRACKING on in its handshake, offers the cache each awaited read's reply and applies each
//! invalidation push as it decodes them, under its own lock, so the cache sees them in the
//! order the server sent them; and it empties the cache when it is lost (what the server
//! tracked for it is gone with it).

use std::sync::{Arc, Mutex, MutexGuard};

use crate::resp::Reply;
use crate::session::cache::Cache;
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

/// The connection was lost: the server forgot what it tracked for it.
pub(crate) fn lost(cache: &SharedCache) {
    lock(cache).flush();
}
