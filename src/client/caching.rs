//! The client side of client-side caching (`Config::cache`): reads of the allow-list are
//! answered from the cache when it has them, and otherwise sent on each node's tracking
//! connection (its first multiplexed one, with CLIENT TRACKING on) with a token, so that their
//! replies fill the cache as they are read (`reactor::tracking`). Every other command drops
//! the cached replies of the keys it may change before it is sent, and again when its reply
//! is read (`RequestMeta::forgets`; a pipeline's when its run ends), so the client reads its
//! own writes; the server's invalidations cover everyone else's.
//!
//! One tracking connection per node keeps replies and invalidations in the server's order:
//! a reply read on it is stale only if an invalidation follows it on the same connection.

use std::sync::{Arc, Mutex};

use super::nodes::NodePool;
use super::pipeline::Pipeline;
use super::Engine;
use crate::config::CacheOptions;
use crate::reactor::tracking::{self, OwnWrites, SharedCache};
use crate::reactor::{Completion, Conn, Msg};
use crate::resp::{encode_command, Reply};
use crate::route::keys::BUILTIN_TABLE as BUILTIN;
use crate::route::slot::key_slot;
use crate::session::cache::{cached_keys, Cache, CacheStats, Lookup};

/// What the cache makes of a command.
pub(super) enum CacheStep {
    /// A cached read, answered.
    Hit(Reply),
    /// A cacheable read to send on a tracking connection, with its token.
    Miss(u64),
    /// A command that may change keys: their cached replies were dropped, and its reply
    /// drops them again (`RequestMeta::forgets`).
    Write,
    /// Neither.
    Other,
}

/// What the cache makes of a blocking call before it picks its path.
pub(super) enum Peek {
    Hit(Reply),
    /// A cacheable read not cached: it goes through the tracking connection.
    Read,
    /// As `CacheStep::Write`.
    Write,
    Other,
}

/// The cache of a client whose config asks for one.
pub(super) fn new_cache(options: Option<CacheOptions>) -> Option<SharedCache> {
    options.map(|o| Arc::new(Mutex::new(Cache::new(o))))
}

impl Engine {
    fn cache_lock(&self) -> Option<std::sync::MutexGuard<'_, Cache>> {
        self.cache
            .as_ref()
            .map(|c| c.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Makes `pool`'s first connection the node's tracking connection (before it connects).
    pub(super) fn track(&self, pool: &NodePool) {
        if let (Some(cache), Some(conn)) = (&self.cache, pool.conns.first()) {
            let mut st = conn.lock();
            st.cache = Some(cache.clone());
            // Invalidations come while nothing is pending: the reactor keeps reading.
            st.listens = true;
        }
    }

    /// The connection a request goes to: the tracking one for a cached read.
    pub(super) fn conn_for_read(pool: &NodePool, cache_token: u64) -> &Arc<Conn> {
        if cache_token != 0 {
            &pool.conns[0]
        } else {
            pool.pick()
        }
    }

    /// The cache's answer to a command about to be submitted (nothing without a cache).
    pub(super) fn cache_step(&self, args: &[&[u8]]) -> CacheStep {
        let Some(keys) = cached_keys(args) else {
            return match self.cache_forget(args) {
                true => CacheStep::Write,
                false => CacheStep::Other,
            };
        };
        if !self.one_node(&keys) {
            return CacheStep::Other;
        }
        let Some(mut cache) = self.cache_lock() else {
            return CacheStep::Other;
        };
        let mut frame = Vec::new();
        encode_command(&mut frame, args);
        match cache.lookup(&frame, &keys) {
            Lookup::Hit(reply) => CacheStep::Hit(reply),
            Lookup::Miss(token) => CacheStep::Miss(token),
        }
    }

    /// For a blocking call: a cached reply, or whether it is a cacheable read.
    pub(super) fn cache_peek(&self, args: &[&[u8]]) -> Peek {
        match cached_keys(args) {
            None if self.cache_forget(args) => return Peek::Write,
            None => return Peek::Other,
            Some(keys) if !self.one_node(&keys) => return Peek::Other,
            Some(_) => {}
        }
        let Some(mut cache) = self.cache_lock() else {
            return Peek::Other;
        };
        let mut frame = Vec::new();
        encode_command(&mut frame, args);
        match cache.peek(&frame) {
            Some(reply) => Peek::Hit(reply),
            None => Peek::Read,
        }
    }

    /// True when a read of `keys` goes to one node: always for one server; on a cluster,
    /// when they share a slot (a read split across nodes is not cached).
    fn one_node(&self, keys: &[&[u8]]) -> bool {
        if self.cluster.is_none() {
            return true;
        }
        let mut slots = keys.iter().map(|k| key_slot(k));
        let first = slots.next();
        slots.all(|s| Some(s) == first)
    }

    /// A command that may write: the cached replies of its keys are dropped now, and reads
    /// of them in flight will not be kept. A command whose keys only the server knows, and
    /// FLUSHALL, FLUSHDB and SWAPDB, empty the cache. True when it may change keys: its reply
    /// must drop them again (`RequestMeta::forgets`).
    pub(super) fn cache_forget(&self, args: &[&[u8]]) -> bool {
        match &self.cache {
            Some(cache) => tracking::forget(cache, args),
            None => false,
        }
    }

    /// `cache_forget` for every command of a pipeline.
    pub(super) fn cache_forget_frames<'f>(&self, frames: impl Iterator<Item = &'f [u8]>) {
        if self.cache.is_none() {
            return;
        }
        for frame in frames {
            if let Some(args) = super::cluster::frame_args(frame) {
                self.cache_forget(args.as_slice());
            }
        }
    }

    /// What a pipeline's run drops from the cache again when its last reply has come: its
    /// frames, when the client has a cache and one of them may write.
    pub(super) fn own_writes(&self, pipeline: &Pipeline) -> Option<OwnWrites> {
        let cache = self.cache.as_ref()?;
        let writes = pipeline.frames().any(|frame| {
            super::cluster::frame_args(frame)
                .is_some_and(|args| BUILTIN.get(args.as_slice()).is_some_and(|s| !s.read_only))
        });
        writes.then(|| OwnWrites::new(cache.clone(), pipeline.buf.clone(), pipeline.lens.clone()))
    }

    /// Runs a cached read's completion with its reply, on a reactor thread (a callback never
    /// runs on the caller's thread).
    pub(super) fn deliver_hit(&self, completion: Completion, reply: Reply) {
        self.reactors[0].notify(Msg::Deliver(vec![(completion, Ok(reply))], Vec::new()));
    }

    /// Empties the cache (a failover: the new owners tracked nothing for this client).
    pub(super) fn cache_flush(&self) {
        if let Some(mut cache) = self.cache_lock() {
            cache.flush();
        }
    }

    /// The cache's counters, when the client has one.
    pub(super) fn cache_stats(&self) -> Option<CacheStats> {
        self.cache_lock().map(|c| c.stats())
    }
}
