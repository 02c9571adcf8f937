//! Connections of their own for streams (pub/sub subscribers, MONITOR): opened on a node
//! beside its pools, owned by the feature that asked for one and closed when it lets go; the
//! requests sent on them (subscription commands answered by their confirmations); and the
//! features' hook on topology changes (a shard channel moves with its slot's owner).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::Engine;
use crate::config::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::{Completion, Conn, Lease, Msg, Stream};
use crate::resp::{encode_command, Reply};
use crate::session::push::SubscriptionKind;
use crate::session::RequestMeta;

/// Spreads the streams that may go to any primary over the healthy ones.
static SPREAD: AtomicUsize = AtomicUsize::new(0);

/// A node a stream connection may be opened on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StreamTarget {
    /// The node pool's id (0 when the node is not in the node set).
    pub(crate) node: u64,
    pub(crate) endpoint: Endpoint,
    pub(crate) server_name: Option<String>,
}

/// Told, on a reactor thread outside every lock, after each topology refresh or patch of a
/// cluster client.
pub(crate) trait TopologyListener: Send + Sync {
    fn topology_changed(&self);
}

/// The listeners of one engine; dead ones are dropped as they are met.
#[derive(Default)]
pub(crate) struct Listeners(Mutex<Vec<Weak<dyn TopologyListener>>>);

impl Engine {
    /// The node a stream goes to: for `Some(slot)` of a cluster client, the slot's primary
    /// (an error while it is down); otherwise a primary of the cluster, or the one server.
    pub(crate) fn stream_target(&self, slot: Option<u16>) -> Result<StreamTarget> {
        let nodes = self.nodes.load();
        let pool = match (&self.cluster, slot) {
            (None, _) => nodes
                .pools
                .first()
                .ok_or_else(|| Error::new(ErrorKind::Internal, "no node to connect to"))?,
            (Some(_), Some(slot)) => {
                let pool = self.primary_of_slot(&nodes, slot)?;
                if !self.serves(&pool.endpoint) {
                    return Err(Error::new(
                        ErrorKind::ClusterDown,
                        format!("the primary of slot {slot} is down"),
                    ));
                }
                pool
            }
            (Some(_), None) => {
                // A healthy primary (one whose failover is under way would refuse the
                // connection until it is replaced); subscribers are spread over them.
                let topology = nodes.topology.as_deref();
                let healthy: Vec<usize> = topology
                    .map(|t| t.primaries().filter(|&i| t.node(i).healthy).collect())
                    .unwrap_or_default();
                let next = SPREAD.fetch_add(1, Ordering::Relaxed);
                match healthy.get(next % healthy.len().max(1)) {
                    Some(&i) => &nodes.pools[i],
                    None => self.some_primary(&nodes)?,
                }
            }
        };
        Ok(StreamTarget {
            node: pool.id,
            endpoint: pool.endpoint.clone(),
            server_name: pool.server_name.clone(),
        })
    }

    /// True when `endpoint` serves as the node set stands: a node of a single server's set,
    /// or a healthy primary that serves slots of a cluster.
    pub(crate) fn serves(&self, endpoint: &Endpoint) -> bool {
        let nodes = self.nodes.load();
        match nodes.topology.as_deref() {
            None => nodes.pools.iter().any(|p| p.endpoint == *endpoint),
            Some(topology) => topology.primaries().any(|i| {
                topology.node(i).healthy
                    && nodes.pools.get(i).is_some_and(|p| p.endpoint == *endpoint)
            }),
        }
    }

    /// True for a cluster client.
    pub(crate) fn is_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// Asks a cluster client for a topology refresh (nothing for one server).
    pub(crate) fn refresh_topology(&self) {
        if self.cluster.is_some() {
            self.request_refresh();
        }
    }

    /// Opens a connection to `target` carrying `stream`, with its own health-check interval.
    /// It connects in the background and reconnects like any other; `close_stream` ends it.
    pub(crate) fn open_stream(
        &self,
        target: &StreamTarget,
        stream: Arc<dyn Stream>,
        health_check: Option<Duration>,
    ) -> Result<Arc<Conn>> {
        self.check_usable()?;
        let conn = Arc::new(self.conn_for(
            target.node,
            &target.endpoint,
            target.server_name.as_deref(),
            true,
        ));
        {
            let mut st = conn.lock();
            // Held by its owner: never pooled, never a cluster detour (a MOVED answers the
            // request that got it).
            st.lease = Lease::Held;
            st.detours = false;
            st.stream = Some(stream);
            st.health_check = health_check;
            st.listens = true;
        }
        self.reactors[conn.reactor].notify(Msg::Adopt(conn.clone()));
        Ok(conn)
    }

    /// Closes a stream connection once what is pending on it is answered.
    pub(crate) fn close_stream(&self, conn: &Arc<Conn>) {
        self.reactors[conn.reactor].notify(Msg::Retire(conn.clone()));
    }

    /// Closes a stream connection now: what it has not answered fails (its owner's calls
    /// waiting for it return at once, also when the server stopped answering).
    pub(crate) fn abandon_stream(&self, conn: &Arc<Conn>, err: Error) {
        self.reactors[conn.reactor].notify(Msg::Abandon(conn.clone(), err));
    }

    /// Sends a command on a stream connection; a subscription command (`confirms`) is
    /// answered by its confirmations, the last one as its reply. `record` runs under the
    /// connection's lock: with `true` just before the command is queued, so that state the
    /// stream keeps (what it is subscribed to) changes in the order the commands go out; with
    /// `false` when the connection refuses the command because it is down (past its
    /// retries): the command fails, but the stream may keep the change for the connection's
    /// next handshake to make, which cannot come between. Not at all when the connection
    /// is closed. Returns the request's deadline.
    pub(crate) fn stream_send<A: AsRef<[u8]>>(
        &self,
        conn: &Arc<Conn>,
        args: &[A],
        confirms: Option<(SubscriptionKind, u32)>,
        completion: Completion,
        record: impl FnOnce(bool),
    ) -> std::result::Result<Option<Instant>, (Error, Completion)> {
        if let Err(e) = self.check_usable() {
            return Err((e, completion));
        }
        if let Err(e) = super::check_frame_size(args) {
            return Err((e, completion));
        }
        let meta = RequestMeta {
            deadline: self.deadline(Some(Duration::ZERO)),
            ..RequestMeta::default()
        };
        let mut st = conn.lock();
        if let Some(err) = st.refuses(&self.config) {
            if err.kind() != ErrorKind::Closed {
                record(false);
            }
            return Err((err, completion));
        }
        record(true);
        st.ex
            .enqueue(|buf| encode_command(buf, args), completion, meta);
        if let Some((kind, count)) = confirms {
            st.ex.expect_confirmations(kind, count);
        }
        let notify = self.after_enqueue(&mut st, false, conn.reactor, false, None);
        drop(st);
        if notify {
            self.reactors[conn.reactor].flush(conn.clone());
        }
        Ok(meta.deadline)
    }

    /// Refuses a blocking call on a closed client, in a forked child, or on a reactor thread.
    pub(crate) fn check_caller(&self) -> Result<()> {
        self.check_blocking_allowed()
    }

    /// The protocol a stream connection speaks (the configured one until it has connected).
    pub(crate) fn stream_protocol(&self, conn: &Conn) -> u8 {
        match conn.lock().protocol {
            0 => self.config.protocol.version(),
            p => p,
        }
    }

    /// Runs `f` on a reactor thread, outside every lock (from code that holds one).
    pub(crate) fn run_later(&self, f: impl FnOnce() + Send + 'static) {
        let run = Completion::Boxed(Box::new(move |_: Result<Reply>| f()));
        let nothing = Err(Error::new(ErrorKind::Internal, "not a reply"));
        self.reactors[0].notify(Msg::Deliver(vec![(run, nothing)], Vec::new()));
    }

    /// Adds a listener for topology changes; it is dropped once `listener` is gone.
    pub(crate) fn listen_topology(&self, listener: Weak<dyn TopologyListener>) {
        let mut listeners = self.listeners.0.lock().unwrap_or_else(|e| e.into_inner());
        listeners.retain(|l| l.strong_count() > 0);
        listeners.push(listener);
    }

    /// The cluster's topology was refreshed or patched (`changed`: to another shape): tells
    /// the listeners, later, on a reactor thread (the caller may hold the publishing lock).
    /// A change empties the client-side cache: the slots' new owners track nothing for it.
    pub(in crate::client) fn topology_settled(&self, changed: bool) {
        if changed {
            self.cache_flush();
        }
        let listeners: Vec<Arc<dyn TopologyListener>> = {
            let mut listeners = self.listeners.0.lock().unwrap_or_else(|e| e.into_inner());
            listeners.retain(|l| l.strong_count() > 0);
            listeners.iter().filter_map(Weak::upgrade).collect()
        };
        if listeners.is_empty() {
            return;
        }
        self.run_later(move || {
            for listener in listeners {
                listener.topology_changed();
            }
        });
    }
}
