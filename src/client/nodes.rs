//! The node table: each node's connections (multiplexed, direct, dedicated), published as an
//! immutable `NodeSet` that callers read on every command without a lock (an `ArcSwap`
//! load), and that the engine replaces whole when the topology changes. A node keeps its
//! `NodePool` for as long as the topology names it, so a refresh that changes nothing else
//! leaves its connections alone; a node that leaves has its connections retired (closed once
//! what is in flight on them is answered).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::pool::DedicatedPool;
use crate::config::{Config, Endpoint};
use crate::reactor::Conn;
use crate::route::topology::Topology;

/// Ids of node pools, unique within the process (a connection names its pool by id).
static NEXT_NODE_ID: AtomicU64 = AtomicU64::new(1);

/// One node's connections.
pub(crate) struct NodePool {
    /// Unique id; `Conn::node` refers to it.
    pub(crate) id: u64,
    pub(crate) endpoint: Endpoint,
    /// The name to verify in the node's TLS certificate (and send as SNI) when it is not the
    /// configured one or the host: a cluster node's announced hostname.
    pub(crate) server_name: Option<String>,
    /// The multiplexed connections, shared by every caller.
    pub(crate) conns: Vec<Arc<Conn>>,
    next: AtomicUsize,
    /// Connections that blocking callers open when the shared ones are busy, and use only
    /// on the direct path (see `Engine::try_direct`): `max_direct_connections_per_node`
    /// slots, each filled once, when first needed.
    pub(crate) direct: Box<[OnceLock<Arc<Conn>>]>,
    /// Connections set apart for blocking commands and for holders (`Dedicated`).
    pub(crate) dedicated: DedicatedPool,
    /// Every connection checks in its handshake that the node is a master (a sentinel
    /// client's master pool).
    pub(crate) master_only: bool,
}

impl NodePool {
    /// A pool for `endpoint`, its multiplexed connections made by `new_conn(id)` (not started:
    /// the caller hands them to their reactors).
    pub(crate) fn new(
        endpoint: Endpoint,
        server_name: Option<String>,
        config: &Config,
        mut new_conn: impl FnMut(u64, &Endpoint, Option<&str>) -> Conn,
    ) -> NodePool {
        let id = NEXT_NODE_ID.fetch_add(1, Ordering::Relaxed);
        let conns = (0..config.connections_per_node)
            .map(|_| Arc::new(new_conn(id, &endpoint, server_name.as_deref())))
            .collect();
        NodePool {
            id,
            conns,
            next: AtomicUsize::new(0),
            direct: (0..config.max_direct_connections_per_node)
                .map(|_| OnceLock::new())
                .collect(),
            dedicated: DedicatedPool::new(
                config.max_dedicated_connections,
                config.dedicated_wait_timeout,
            ),
            endpoint,
            server_name,
            master_only: false,
        }
    }

    /// A multiplexed connection: round robin over those that are ready (any, when none is).
    pub(crate) fn pick(&self) -> &Arc<Conn> {
        let n = self.conns.len();
        if n == 1 {
            return &self.conns[0];
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|k| &self.conns[(start + k) % n])
            .find(|c| c.ready_hint.load(Ordering::Relaxed))
            .unwrap_or(&self.conns[start % n])
    }

    /// The multiplexed connections and the direct ones opened so far.
    pub(crate) fn node_conns(&self) -> impl Iterator<Item = &Arc<Conn>> {
        self.conns
            .iter()
            .chain(self.direct.iter().filter_map(OnceLock::get))
    }
}

/// The nodes a client talks to, as published: replaced whole, never changed in place.
#[derive(Default)]
pub(crate) struct NodeSet {
    /// One pool per node; in a cluster, `pools[i]` is `topology.nodes[i]` (before the first
    /// topology is known: the startup nodes).
    pub(crate) pools: Vec<Arc<NodePool>>,
    /// A cluster's slots and nodes, once known.
    pub(crate) topology: Option<Arc<Topology>>,
    /// A sentinel client's master and replicas among `pools`.
    pub(crate) service: Option<ServiceView>,
}

/// A sentinel client's data nodes, by index in `NodeSet::pools`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServiceView {
    /// The master's pool, once the sentinels named one.
    pub(crate) master: Option<usize>,
    /// The pools of the healthy replicas (a replica client's).
    pub(crate) replicas: Vec<usize>,
    /// Commands for the master are held: a failover of it is under way.
    pub(crate) held: bool,
}

impl NodeSet {
    /// The pool with this id, if it is still in the set.
    pub(crate) fn by_id(&self, id: u64) -> Option<&Arc<NodePool>> {
        self.pools.iter().find(|p| p.id == id)
    }
}
