//! The client-side cache, sans-I/O: replies to an allow-list of read-only commands, keyed by
//! the command's encoded frame (its name and arguments), kept while the server tracks the
//! keys they read (CLIENT TRACKING) and dropped when it says one changed.
//!
//! A read that misses takes a token; its reply is kept only if no invalidation of its keys
//! came between the lookup and the reply (the invalidation removes the token). The reactor
//! feeds replies and invalidations here in the order they arrive on the tracking connection,
//! under that connection's lock, so a reply is never kept after an invalidation that followed
//! it on the wire. Bounded by entries and bytes, least recently used evicted first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::config::CacheOptions;
use crate::resp::{Decoder, Kind, Limits, Reply, ValueRef};

/// What the cache has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Cacheable reads sent to the server.
    pub misses: u64,
    /// Replies dropped to stay within the bounds (least recently used first).
    pub evictions: u64,
    /// Replies (and reads in flight) dropped because a key they read changed.
    pub invalidations: u64,
    /// Times everything was dropped (an invalidation of every key, a lost connection, a
    /// failover).
    pub flushes: u64,
    /// Replies held now.
    pub entries: u64,
    /// Their size in bytes.
    pub bytes: u64,
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// The cached reply, as the server sent it.
    Hit(Reply),
    /// Not cached: send the read with this token, and give its reply to `fill`.
    Miss(u64),
}

/// The read-only commands whose replies may be cached, each with where its keys are: `One`
/// is the first argument, `All` every argument.
const CACHEABLE: &[(&str, Keys)] = &[
    ("BITCOUNT", Keys::One),
    ("EXISTS", Keys::All),
    ("GET", Keys::One),
    ("GETBIT", Keys::One),
    ("GETRANGE", Keys::One),
    ("HEXISTS", Keys::One),
    ("HGET", Keys::One),
    ("HGETALL", Keys::One),
    ("HKEYS", Keys::One),
    ("HLEN", Keys::One),
    ("HMGET", Keys::One),
    ("HSTRLEN", Keys::One),
    ("HVALS", Keys::One),
    ("LINDEX", Keys::One),
    ("LLEN", Keys::One),
    ("LRANGE", Keys::One),
    ("MGET", Keys::All),
    ("SCARD", Keys::One),
    ("SISMEMBER", Keys::One),
    ("SMEMBERS", Keys::One),
    ("SMISMEMBER", Keys::One),
    ("STRLEN", Keys::One),
    ("TYPE", Keys::One),
    ("ZCARD", Keys::One),
    ("ZCOUNT", Keys::One),
    ("ZMSCORE", Keys::One),
    ("ZRANGE", Keys::One),
    ("ZRANK", Keys::One),
    ("ZSCORE", Keys::One),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keys {
    One,
    All,
}

/// Writes that change keys without naming them: the client's own drop the whole cache.
const CHANGES_EVERY_KEY: &[&str] = &["FLUSHALL", "FLUSHDB", "SWAPDB"];

/// True for a command that changes keys it does not name (`FLUSHALL`, `FLUSHDB`, `SWAPDB`):
/// no key list covers what it changes.
pub fn changes_every_key(name: &[u8]) -> bool {
    CHANGES_EVERY_KEY
        .iter()
        .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
}

/// The names of the cacheable commands (for the documentation and the tests).
pub fn cacheable_commands() -> impl Iterator<Item = &'static str> {
    CACHEABLE.iter().map(|(name, _)| *name)
}

/// The keys a read depends on, when its replies may be cached; `None` for any other command
/// (and for a cacheable one without its key).
pub fn cached_keys<'a>(args: &[&'a [u8]]) -> Option<Vec<&'a [u8]>> {
    let (name, rest) = args.split_first()?;
    let (_, keys) = CACHEABLE
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))?;
    match keys {
        Keys::One => rest.first().map(|k| vec![*k]),
        Keys::All if rest.is_empty() => None,
        Keys::All => Some(rest.to_vec()),
    }
}

struct Entry {
    keys: Vec<Arc<[u8]>>,
    state: State,
}

enum State {
    /// A read in flight; its reply is kept if the token still matches.
    Pending(u64),
    /// The reply's bytes, and when it was last used (its place in the LRU order).
    Ready { reply: Vec<u8>, used: u64 },
}

/// The cache.
pub struct Cache {
    limits: CacheOptions,
    entries: HashMap<Arc<[u8]>, Entry>,
    /// Frames by key: what an invalidation of the key drops.
    by_key: HashMap<Arc<[u8]>, HashSet<Arc<[u8]>>>,
    /// Ready frames by last use, oldest first.
    lru: BTreeMap<u64, Arc<[u8]>>,
    clock: u64,
    next_token: u64,
    bytes: usize,
    ready: usize,
    stats: CacheStats,
}

impl Cache {
    /// An empty cache.
    pub fn new(limits: CacheOptions) -> Cache {
        Cache {
            limits: CacheOptions {
                max_entries: limits.max_entries.max(1),
                max_bytes: limits.max_bytes.max(1),
            },
            entries: HashMap::new(),
            by_key: HashMap::new(),
            lru: BTreeMap::new(),
            clock: 0,
            next_token: 0,
            bytes: 0,
            ready: 0,
            stats: CacheStats::default(),
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The cached reply of `frame`, if there is one (a hit; a miss is not counted).
    pub fn peek(&mut self, frame: &[u8]) -> Option<Reply> {
        match self.entries.get(frame).map(|e| &e.state) {
            Some(State::Ready { .. }) => match self.lookup(frame, &[]) {
                Lookup::Hit(reply) => Some(reply),
                Lookup::Miss(_) => unreachable!("a ready entry is a hit"),
            },
            _ => None,
        }
    }

    /// A cacheable read (`frame`, reading `keys`) is about to be sent: its cached reply, or
    /// a token for its reply. A second read of the same frame while one is in flight takes
    /// the token over: only the reply of the latest read sent is kept.
    pub fn lookup(&mut self, frame: &[u8], keys: &[&[u8]]) -> Lookup {
        let now = self.tick();
        if let Some(entry) = self.entries.get_mut(frame) {
            if let State::Ready { reply, used } = &mut entry.state {
                let previous = std::mem::replace(used, now);
                let reply = decode(reply);
                let key = self
                    .lru
                    .remove(&previous)
                    .expect("a ready entry is in the LRU");
                self.lru.insert(now, key);
                self.stats.hits += 1;
                return Lookup::Hit(reply);
            }
        }
        self.stats.misses += 1;
        self.next_token += 1;
        let token = self.next_token;
        if self.entries.len() - self.ready >= self.limits.max_entries {
            // Reads whose replies never came (timed out, sent elsewhere): forgotten, so the
            // reads in flight are bounded too. Their replies are just not kept.
            self.drop_pending();
        }
        match self.entries.get_mut(frame) {
            Some(entry) => entry.state = State::Pending(token),
            None => {
                let frame: Arc<[u8]> = Arc::from(frame);
                let keys: Vec<Arc<[u8]>> = keys.iter().map(|k| Arc::from(*k)).collect();
                for key in &keys {
                    self.by_key
                        .entry(key.clone())
                        .or_default()
                        .insert(frame.clone());
                }
                let entry = Entry {
                    keys,
                    state: State::Pending(token),
                };
                self.entries.insert(frame, entry);
            }
        }
        Lookup::Miss(token)
    }

    /// The reply to the read sent with `token` arrived: kept unless an invalidation (or a
    /// later read of the same frame) came first, or it is an error.
    pub fn fill(&mut self, frame: &[u8], token: u64, reply: ValueRef<'_>) {
        let current = matches!(
            self.entries.get(frame).map(|e| &e.state),
            Some(State::Pending(t)) if *t == token
        );
        if !current {
            return;
        }
        if matches!(reply.kind(), Kind::Error | Kind::BlobError) {
            self.remove(frame);
            return;
        }
        let mut bytes = Vec::new();
        reply.encode(&mut bytes);
        let now = self.tick();
        let entry = self.entries.get_mut(frame).expect("checked above");
        let size = frame.len() + bytes.len() + entry.keys.iter().map(|k| k.len()).sum::<usize>();
        entry.state = State::Ready {
            reply: bytes,
            used: now,
        };
        let frame = self
            .entries
            .get_key_value(frame)
            .map(|(k, _)| k.clone())
            .expect("checked above");
        self.lru.insert(now, frame);
        self.bytes += size;
        self.ready += 1;
        self.evict_over_bounds();
    }

    fn evict_over_bounds(&mut self) {
        while self.ready > self.limits.max_entries || self.bytes > self.limits.max_bytes {
            let Some((_, frame)) = self.lru.pop_first() else {
                return;
            };
            self.remove(&frame);
            self.stats.evictions += 1;
        }
    }

    /// Drops what read these keys (the server says they changed): kept replies, and reads in
    /// flight, whose replies will not be kept.
    pub fn invalidate<'k>(&mut self, keys: impl IntoIterator<Item = &'k [u8]>) {
        for key in keys {
            let Some(frames) = self.by_key.get(key).cloned() else {
                continue;
            };
            for frame in frames {
                self.remove(&frame);
                self.stats.invalidations += 1;
            }
        }
    }

    fn drop_pending(&mut self) {
        let pending: Vec<Arc<[u8]>> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.state, State::Pending(_)))
            .map(|(f, _)| f.clone())
            .collect();
        for frame in pending {
            self.remove(&frame);
        }
    }

    /// Drops everything, reads in flight included.
    pub fn flush(&mut self) {
        if !self.entries.is_empty() {
            self.stats.flushes += 1;
        }
        self.entries.clear();
        self.by_key.clear();
        self.lru.clear();
        self.bytes = 0;
        self.ready = 0;
    }

    /// Removes one frame's entry (kept or in flight) and its links.
    fn remove(&mut self, frame: &[u8]) {
        let Some((frame, entry)) = self.entries.remove_entry(frame) else {
            return;
        };
        for key in &entry.keys {
            if let Some(frames) = self.by_key.get_mut(key) {
                frames.remove(&frame);
                if frames.is_empty() {
                    self.by_key.remove(key);
                }
            }
        }
        if let State::Ready { reply, used } = entry.state {
            self.lru.remove(&used);
            self.bytes -=
                frame.len() + reply.len() + entry.keys.iter().map(|k| k.len()).sum::<usize>();
            self.ready -= 1;
        }
    }

    /// The counters, and what is held now.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.ready as u64,
            bytes: self.bytes as u64,
            ..self.stats
        }
    }
}

/// A kept reply back from its bytes (they were encoded from a reply, so they decode whole).
fn decode(bytes: &[u8]) -> Reply {
    match Decoder::new(Limits::unlimited()).decode(bytes) {
        Ok((_, Some(reply))) => reply,
        _ => unreachable!("a kept reply decodes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{encode_command, Value};

    fn frame(args: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_command(&mut out, args);
        out
    }

    fn reply(v: &Value) -> Reply {
        Reply::from_value(v)
    }

    fn miss(cache: &mut Cache, f: &[u8], keys: &[&[u8]]) -> u64 {
        match cache.lookup(f, keys) {
            Lookup::Miss(token) => token,
            Lookup::Hit(r) => panic!("unexpected hit {r:?}"),
        }
    }

    fn hit(cache: &mut Cache, f: &[u8]) -> Option<Value> {
        match cache.lookup(f, &[]) {
            Lookup::Hit(r) => Some(r.to_value()),
            Lookup::Miss(_) => None,
        }
    }

    #[test]
    fn the_allow_list_finds_keys() {
        let args = |s: &'static [&'static str]| s.iter().map(|a| a.as_bytes()).collect::<Vec<_>>();
        assert_eq!(cached_keys(&args(&["get", "k"])), Some(vec![&b"k"[..]]));
        assert_eq!(
            cached_keys(&args(&["MGET", "a", "b"])),
            Some(vec![&b"a"[..], b"b"])
        );
        assert_eq!(
            cached_keys(&args(&["HGET", "h", "f"])),
            Some(vec![&b"h"[..]])
        );
        assert_eq!(cached_keys(&args(&["SET", "k", "v"])), None);
        assert_eq!(cached_keys(&args(&["GET"])), None);
        assert_eq!(cached_keys(&args(&["MGET"])), None);
        assert!(cacheable_commands().any(|c| c == "HGETALL"));
        assert!(changes_every_key(b"flushall") && changes_every_key(b"SWAPDB"));
        assert!(!changes_every_key(b"DEL") && !changes_every_key(b"FLUSH"));
    }

    #[test]
    fn a_reply_is_kept_until_its_key_is_invalidated() {
        let mut cache = Cache::new(CacheOptions::default());
        let f = frame(&["GET", "k"]);
        let token = miss(&mut cache, &f, &[b"k"]);
        // A read in flight is not a hit.
        assert_eq!(hit(&mut cache, &f), None);
        let v = reply(&Value::bulk("v1"));
        // Only the latest read's reply is kept.
        cache.fill(&f, token, v.value());
        assert_eq!(hit(&mut cache, &f), None);
        let token = miss(&mut cache, &f, &[b"k"]);
        cache.fill(&f, token, v.value());
        assert_eq!(hit(&mut cache, &f), Some(Value::bulk("v1")));
        assert_eq!(hit(&mut cache, &f), Some(Value::bulk("v1")));
        cache.invalidate([&b"other"[..]]);
        assert_eq!(hit(&mut cache, &f), Some(Value::bulk("v1")));
        cache.invalidate([&b"k"[..]]);
        assert_eq!(hit(&mut cache, &f), None);
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.invalidations), (3, 1));
    }

    #[test]
    fn an_invalidation_between_the_read_and_its_reply_keeps_nothing() {
        let mut cache = Cache::new(CacheOptions::default());
        let f = frame(&["MGET", "a", "b"]);
        let token = miss(&mut cache, &f, &[b"a", b"b"]);
        cache.invalidate([&b"b"[..]]);
        cache.fill(
            &f,
            token,
            reply(&Value::Array(vec![Value::Null, Value::Null])).value(),
        );
        assert_eq!(hit(&mut cache, &f), None);
        // Nor after a flush.
        let token = miss(&mut cache, &f, &[b"a", b"b"]);
        cache.flush();
        cache.fill(&f, token, reply(&Value::Null).value());
        assert_eq!(hit(&mut cache, &f), None);
        // Errors are never kept.
        let token = miss(&mut cache, &f, &[b"a", b"b"]);
        cache.fill(
            &f,
            token,
            reply(&Value::Error(b"WRONGTYPE x".to_vec())).value(),
        );
        assert_eq!(hit(&mut cache, &f), None);
        assert_eq!(cache.stats().entries, 0);
    }

    #[test]
    fn kept_replies_come_back_byte_for_byte() {
        let mut cache = Cache::new(CacheOptions::default());
        let f = frame(&["HGETALL", "h"]);
        let original = reply(&Value::Map(vec![
            (Value::bulk("f"), Value::Double(1.5)),
            (
                Value::bulk("g"),
                Value::Verbatim(*b"txt", b"x\r\ny".to_vec()),
            ),
        ]));
        let token = miss(&mut cache, &f, &[b"h"]);
        cache.fill(&f, token, original.value());
        let Lookup::Hit(cached) = cache.lookup(&f, &[]) else {
            panic!("a hit")
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        original.value().encode(&mut a);
        cached.value().encode(&mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn bounds_evict_the_least_recently_used() {
        let mut cache = Cache::new(CacheOptions {
            max_entries: 2,
            max_bytes: 1 << 20,
        });
        let frames: Vec<Vec<u8>> = ["a", "b", "c"].iter().map(|k| frame(&["GET", k])).collect();
        for (f, k) in frames.iter().zip(["a", "b", "c"]) {
            let token = miss(&mut cache, f, &[k.as_bytes()]);
            cache.fill(f, token, reply(&Value::bulk(k)).value());
            if k == "b" {
                // `a` used again: `b` is now the oldest.
                assert!(hit(&mut cache, &frames[0]).is_some());
            }
        }
        assert!(hit(&mut cache, &frames[0]).is_some());
        assert!(hit(&mut cache, &frames[1]).is_none());
        assert!(hit(&mut cache, &frames[2]).is_some());
        assert_eq!(cache.stats().evictions, 1);

        // Reads in flight are bounded too: beyond the entry bound they are forgotten.
        let mut cache = Cache::new(CacheOptions {
            max_entries: 2,
            max_bytes: 1 << 20,
        });
        let first = frame(&["GET", "p0"]);
        let token = miss(&mut cache, &first, &[b"p0"]);
        miss(&mut cache, &frame(&["GET", "p1"]), &[b"p1"]);
        miss(&mut cache, &frame(&["GET", "p2"]), &[b"p2"]);
        assert!(cache.entries.len() <= 2);
        cache.fill(&first, token, reply(&Value::bulk("late")).value());
        assert!(hit(&mut cache, &first).is_none());

        // The byte bound: one big reply pushes the others out.
        let mut cache = Cache::new(CacheOptions {
            max_entries: 100,
            max_bytes: 200,
        });
        for (i, size) in [50usize, 50, 150].iter().enumerate() {
            let key = format!("k{i}");
            let f = frame(&["GET", &key]);
            let token = miss(&mut cache, &f, &[key.as_bytes()]);
            cache.fill(&f, token, reply(&Value::bulk(vec![b'x'; *size])).value());
        }
        let stats = cache.stats();
        assert!(stats.bytes <= 200, "{stats:?}");
        assert_eq!(stats.entries, 1);
        // Removing everything leaves no index behind.
        cache.flush();
        assert!(cache.by_key.is_empty() && cache.lru.is_empty());
    }
}
