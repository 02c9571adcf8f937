//! The engine's sentinel half: the master (or the replicas) of a service, as the sentinels
//! name them, published as the node set; commands routed there without a lock, and held in
//! the engine while there is nowhere to send them (no master known, a failover under way, a
//! lost connection waiting for the sentinels' word).
//!
//! The sentinels are nodes of their own (`SentinelNode`: a pool with its own credentials, TLS
//! and RESP3, see `ConnProfile`), asked through the normal submit path. The decisions are
//! sans-I/O (`route::sentinel`); these files carry them out: `mod.rs` routes and publishes,
//! `discover.rs` asks the sentinels, `listen.rs` follows their events, `failover.rs` keeps
//! and resends what could not be sent, and closes connections to a master that is one no
//! longer.

mod discover;
mod failover;
mod listen;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::nodes::{NodePool, NodeSet, ServiceView};
use super::pipeline::Pipeline;
use super::Engine;
use crate::config::{Config, Endpoint, Protocol, SentinelOptions, SentinelRole};
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::{Completion, ConnProfile, Msg, PipelineRun};
use crate::resp::{encode_command, Reply};
use crate::route::cluster::RefreshSchedule;
use crate::route::sentinel::{DiscoveryRules, FailoverWatch};
use crate::route::topology::NodeAddr;
use crate::session::RequestMeta;

/// Sentinels a client keeps at most (configured ones and those learned from answers).
const MAX_SENTINELS: usize = 32;
/// Shortest time between two discoveries.
const DISCOVERY_GAP: Duration = Duration::from_millis(100);

/// What a sentinel client has met since it started: discoveries, master changes, events.
/// For monitoring and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SentinelStats {
    /// Discoveries started (at start, on events and errors, periodically).
    pub discoveries: u64,
    /// Discoveries that found no master (MASTER_NOT_FOUND).
    pub discovery_failures: u64,
    /// Times the master changed (the first discovery not counted).
    pub master_changes: u64,
    /// Sentinel events about this service received.
    pub events: u64,
    /// Times commands started being held for a failover of the master.
    pub holds: u64,
    /// Commands kept in the client until they could be sent (to the new master, ...).
    pub parked: u64,
    /// Sentinels with a live subscription to their events now.
    pub subscribed: u64,
    /// Sentinels known now.
    pub sentinels: u64,
}

#[derive(Default)]
struct Counters {
    discoveries: AtomicU64,
    discovery_failures: AtomicU64,
    master_changes: AtomicU64,
    events: AtomicU64,
    holds: AtomicU64,
    parked: AtomicU64,
}

/// One sentinel: its connection and the state of its subscription.
struct SentinelNode {
    addr: NodeAddr,
    pool: Arc<NodePool>,
    /// The socket (its `epoch`) the subscription to events was confirmed on.
    subscribed: Option<u64>,
    /// A subscription was sent on the socket of this epoch and is not confirmed yet.
    subscribing: Option<u64>,
    /// The sentinel speaks RESP2 only: no subscription there (its events are missed; the
    /// periodic discovery stands in).
    resp2: bool,
}

/// What waits in the engine: one command, or a pipeline not sent at all.
enum Waiting {
    Command {
        completion: Completion,
        frame: Vec<u8>,
        /// A blocking command: it goes on a dedicated connection.
        blocking: bool,
    },
    Pipeline {
        pipeline: Pipeline,
        run: Arc<PipelineRun>,
    },
}

impl Waiting {
    /// Completes it with `err` (a pipeline: every one of its commands).
    fn fail(self, err: &Error, completions: &mut Vec<(Completion, Result<Reply>)>) {
        match self {
            Waiting::Command { completion, .. } => completions.push((completion, Err(err.clone()))),
            Waiting::Pipeline { run, .. } => completions.extend(run.failed_slots(err)),
        }
    }
}

/// A request kept in the engine until there is somewhere to send it.
struct Parked {
    what: Waiting,
    meta: RequestMeta,
    /// Why it waits (its error if its time runs out and discovery has nothing better).
    cause: Error,
    /// Not sent before this (a LOADING replica is given a moment).
    due: Instant,
}

/// A sentinel client's state besides its node set.
pub(crate) struct Sentinel {
    options: SentinelOptions,
    rules: DiscoveryRules,
    /// The sentinels' connection settings: their credentials, TLS, RESP3.
    profile: Arc<ConnProfile>,
    sentinels: Mutex<Vec<SentinelNode>>,
    schedule: Mutex<RefreshSchedule>,
    watch: Mutex<FailoverWatch>,
    /// Serializes changes of the published node set.
    publish: Mutex<()>,
    parked: Mutex<Vec<Parked>>,
    /// Why the last discovery found nothing to send to (MASTER_NOT_FOUND,
    /// REPLICA_NOT_FOUND); cleared by one that did.
    last_error: Mutex<Option<Error>>,
    /// Discoveries finished, successful or not (client creation waits for the first).
    finished: AtomicU64,
    /// When the subscriptions were last looked after.
    last_listen: Mutex<Option<Instant>>,
    /// Spreads reads over the replicas.
    counter: AtomicU64,
    counters: Counters,
}

/// Some connection of `pool` is ready.
fn ready(pool: &NodePool) -> bool {
    pool.conns
        .iter()
        .any(|c| c.ready_hint.load(Ordering::Relaxed))
}

/// Where a sentinel client's command goes now.
pub(crate) enum Pick<'n> {
    Pool(&'n Arc<NodePool>),
    /// Nowhere yet: keep it, failing with this error if its time runs out.
    Wait(Error),
}

impl Sentinel {
    /// Takes out the commands parked for a master (or replica) whose completion `cancel`
    /// picks: none of them is on a connection, so they are never sent.
    pub(crate) fn take_parked(&self, cancel: impl Fn(&Completion) -> bool) -> Vec<Completion> {
        let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken = Vec::new();
        for p in std::mem::take(&mut *parked) {
            match p.what {
                Waiting::Command { completion, .. } if cancel(&completion) => {
                    taken.push(completion)
                }
                _ => parked.push(p),
            }
        }
        taken
    }

    /// The state for `config`'s sentinel options; fails on bad sentinel TLS settings.
    pub(crate) fn new(config: &Config, now: Instant) -> Result<Sentinel> {
        let options = config.sentinel.clone().expect("a sentinel config");
        let profile = Arc::new(sentinel_profile(config, &options)?);
        Ok(Sentinel {
            rules: DiscoveryRules {
                service: options.service_name.clone(),
                quorum: options.quorum,
                min_other_sentinels: options.min_other_sentinels,
            },
            profile,
            sentinels: Mutex::new(Vec::new()),
            schedule: Mutex::new(RefreshSchedule::new(
                options.refresh_interval,
                DISCOVERY_GAP,
                now,
            )),
            watch: Mutex::new(FailoverWatch::new(
                options.service_name.clone(),
                options.failover_hold,
            )),
            publish: Mutex::new(()),
            parked: Mutex::new(Vec::new()),
            last_error: Mutex::new(None),
            finished: AtomicU64::new(0),
            last_listen: Mutex::new(None),
            counter: AtomicU64::new(0),
            counters: Counters::default(),
            options,
        })
    }

    /// Whether commands wait for a master to send them to (`Client::drain` waits for them).
    pub(crate) fn has_parked(&self) -> bool {
        !self.parked.lock().unwrap().is_empty()
    }

    pub(crate) fn stats(&self) -> SentinelStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let sentinels = self.sentinels.lock().unwrap();
        SentinelStats {
            discoveries: get(&c.discoveries),
            discovery_failures: get(&c.discovery_failures),
            master_changes: get(&c.master_changes),
            events: get(&c.events),
            holds: get(&c.holds),
            parked: get(&c.parked),
            subscribed: sentinels.iter().filter(|s| s.subscribed.is_some()).count() as u64,
            sentinels: sentinels.len() as u64,
        }
    }

    fn role(&self) -> SentinelRole {
        self.options.role
    }

    /// A replica client with no healthy replica may read from the master.
    fn uses_master(&self) -> bool {
        self.role() == SentinelRole::Master || self.options.replica_fallback
    }
}

/// The sentinels' connection settings: the client's timeouts and name, with the sentinels'
/// own credentials and TLS, database 0, RESP3 (events arrive as pushes on the connection that
/// also carries the discovery's commands), one connection each.
fn sentinel_profile(config: &Config, options: &SentinelOptions) -> Result<ConnProfile> {
    let mut c = config.clone();
    c.username = options.username.clone();
    c.password = options.password.clone();
    c.credential_provider = None;
    c.db = 0;
    c.protocol = Protocol::Resp3;
    c.tls = options.tls.unwrap_or(config.tls);
    if let Some(tls) = &options.tls_options {
        c.tls_options = tls.clone();
    }
    c.cluster = None;
    // A sentinel holds no data: nothing of it is cached, and it need not speak RESP3.
    c.cache = None;
    c.sentinel = None;
    c.connections_per_node = 1;
    c.max_direct_connections_per_node = 0;
    c.max_dedicated_connections = 0;
    let tls = if c.tls {
        for sentinel in &options.sentinels {
            if let Endpoint::Tcp { host, .. } = sentinel {
                crate::net::tls::server_name(&c.tls_options, Some(host))?;
            }
        }
        Some(crate::net::tls::client_config(&c.tls_options)?)
    } else {
        None
    };
    let auth = crate::reactor::auth::Auth::new(&c);
    Ok(ConnProfile {
        config: c,
        tls,
        auth,
    })
}

/// A request to a sentinel: it stays there, and fails after `limit` (5 s when none).
fn sentinel_request(limit: Option<Duration>) -> RequestMeta {
    RequestMeta {
        deadline: Some(Instant::now() + limit.unwrap_or(Duration::from_secs(5))),
        pinned: true,
        ..RequestMeta::default()
    }
}

fn addr_of(endpoint: &Endpoint) -> Option<NodeAddr> {
    match endpoint {
        Endpoint::Tcp { host, port } => Some(NodeAddr::new(host.clone(), *port)),
        Endpoint::Unix { .. } => None,
    }
}

impl Engine {
    pub(super) fn sentinel(&self) -> &Sentinel {
        self.sentinel.as_ref().expect("a sentinel client")
    }

    /// Starts a sentinel client: connections to the configured sentinels, and the first
    /// discovery.
    pub(in crate::client) fn start_sentinel(&self) {
        let configured: Vec<NodeAddr> = self
            .sentinel()
            .options
            .sentinels
            .iter()
            .filter_map(addr_of)
            .collect();
        for addr in configured {
            self.add_sentinel(addr);
        }
        self.request_discovery();
    }

    /// A pool for the sentinel at `addr` (unless known already), connected at once.
    fn add_sentinel(&self, addr: NodeAddr) {
        let sentinel = self.sentinel();
        let mut nodes = sentinel.sentinels.lock().unwrap();
        if nodes.len() >= MAX_SENTINELS || nodes.iter().any(|n| n.addr == addr) {
            return;
        }
        let profile = sentinel.profile.clone();
        let pool = Arc::new(NodePool::new(
            addr.endpoint(),
            None,
            &profile.config,
            |id, endpoint, name| {
                let conn = self.conn_for(id, endpoint, name, false);
                {
                    let mut st = conn.lock();
                    st.detours = false;
                    st.profile = Some(profile.clone());
                }
                conn
            },
        ));
        self.adopt(&pool);
        nodes.push(SentinelNode {
            addr,
            pool,
            subscribed: None,
            subscribing: None,
            resp2: false,
        });
    }

    /// Where a command of a sentinel client goes in `nodes`.
    pub(in crate::client) fn sentinel_pick<'n>(&self, nodes: &'n NodeSet) -> Pick<'n> {
        let sentinel = self.sentinel();
        let view = nodes.service.as_ref();
        let master = view
            .and_then(|v| v.master.filter(|_| !v.held))
            .and_then(|i| nodes.pools.get(i));
        let held = view.is_some_and(|v| v.held);
        if sentinel.role() == SentinelRole::Replica {
            let replicas = view.map_or(&[][..], |v| &v.replicas[..]);
            let fallback = master.filter(|_| sentinel.options.replica_fallback);
            if !replicas.is_empty() {
                let n = replicas.len();
                let start = sentinel.counter.fetch_add(1, Ordering::Relaxed) as usize;
                // A replica whose connections are down is skipped while another is up.
                let up = (0..n)
                    .map(|k| &nodes.pools[replicas[(start + k) % n]])
                    .find(|pool| ready(pool));
                return Pick::Pool(match (up, fallback) {
                    (Some(pool), _) => pool,
                    (None, Some(master)) if ready(master) => master,
                    (None, _) => &nodes.pools[replicas[start % n]],
                });
            }
            if let Some(master) = fallback {
                return Pick::Pool(master);
            }
        } else if let Some(master) = master {
            return Pick::Pool(master);
        }
        let known = sentinel.last_error.lock().unwrap().clone();
        Pick::Wait(match known {
            Some(err) => err,
            None if held => Error::new(
                ErrorKind::MasterNotFound,
                format!(
                    "the master of '{}' is being failed over; waiting for the new one",
                    sentinel.options.service_name
                ),
            ),
            None => Error::new(
                ErrorKind::MasterNotFound,
                format!(
                    "the sentinels have not named a {} of '{}' yet",
                    match sentinel.role() {
                        SentinelRole::Master => "master",
                        SentinelRole::Replica => "replica",
                    },
                    sentinel.options.service_name
                ),
            ),
        })
    }

    /// The pool a sentinel client's blocking command, pipeline or held connection goes to,
    /// or the error to fail it with when there is none now.
    pub(in crate::client) fn sentinel_pool<'n>(
        &self,
        nodes: &'n NodeSet,
    ) -> Result<&'n Arc<NodePool>> {
        match self.sentinel_pick(nodes) {
            Pick::Pool(pool) => Ok(pool),
            Pick::Wait(err) => Err(err),
        }
    }

    /// Sends a sentinel client's command where it goes now, or keeps it until there is
    /// somewhere to send it. `frame` is its encoding when the caller has one (a request sent
    /// again), else it is encoded from `args`; a `blocking` command goes on a dedicated
    /// connection.
    pub(in crate::client) fn sentinel_dispatch(
        &self,
        args: &[&[u8]],
        frame: Option<&[u8]>,
        completion: Completion,
        meta: RequestMeta,
        direct: bool,
        blocking: bool,
    ) {
        let write = |buf: &mut Vec<u8>| match frame {
            Some(frame) => buf.extend_from_slice(frame),
            None => encode_command(buf, args),
        };
        let nodes = self.nodes.load();
        let (completion, cause) = match self.sentinel_pick(&nodes) {
            Pick::Pool(pool) => {
                match self.sentinel_send(pool, write, completion, meta, direct, blocking) {
                    Ok(()) => return,
                    // The node is down (its retries ran out) or leaving: ask the sentinels.
                    Err((err, completion)) => {
                        self.request_discovery();
                        (completion, err)
                    }
                }
            }
            Pick::Wait(cause) => (completion, cause),
        };
        let mut buf = Vec::new();
        write(&mut buf);
        let what = Waiting::Command {
            completion,
            frame: buf,
            blocking,
        };
        self.sentinel_park(what, meta, cause, Instant::now());
    }

    /// Sends a command to `pool`: on a multiplexed connection, or a dedicated one when it
    /// blocks.
    fn sentinel_send(
        &self,
        pool: &NodePool,
        write: impl FnOnce(&mut Vec<u8>),
        completion: Completion,
        meta: RequestMeta,
        direct: bool,
        blocking: bool,
    ) -> std::result::Result<(), (Error, Completion)> {
        if blocking {
            self.submit_dedicated(pool, write, completion, meta)
        } else {
            // A cached read goes on the tracking connection, whose replies fill the cache.
            let conn = Engine::conn_for_read(pool, meta.cache_token);
            self.enqueue(conn, write, completion, meta, direct)
        }
    }

    /// Sends a sentinel client's pipeline where it goes now, or keeps it whole until there
    /// is somewhere to send it.
    pub(in crate::client) fn sentinel_pipeline(
        &self,
        pipeline: &Pipeline,
        run: Arc<PipelineRun>,
        meta: RequestMeta,
    ) {
        let nodes = self.nodes.load();
        let cause = match self.sentinel_pick(&nodes) {
            Pick::Pool(pool) => match self.sentinel_send_pipeline(pool, pipeline, &run, meta) {
                Ok(()) => return,
                Err(err) => {
                    self.request_discovery();
                    err
                }
            },
            Pick::Wait(cause) => cause,
        };
        let what = Waiting::Pipeline {
            pipeline: pipeline.clone(),
            run,
        };
        self.sentinel_park(what, meta, cause, Instant::now());
    }

    fn sentinel_send_pipeline(
        &self,
        pool: &NodePool,
        pipeline: &Pipeline,
        run: &Arc<PipelineRun>,
        meta: RequestMeta,
    ) -> Result<()> {
        if pipeline.blocking.is_some() {
            self.submit_pipeline_dedicated(pool, pipeline, run.clone(), meta)
        } else {
            self.enqueue_pipeline(pool.pick(), None, pipeline, run, meta)
        }
    }

    /// Publishes the data nodes: pools kept for the nodes still named in their role, opened
    /// for new ones; those that left (a master that is one no longer, a replica no longer
    /// healthy) have their connections closed at once (what they had not answered is sent on
    /// or failed). The caller holds `publish`.
    fn publish_service(&self, master: Option<NodeAddr>, replicas: Vec<NodeAddr>, held: bool) {
        let old = self.nodes.load();
        let old_view = old.service.clone().unwrap_or_default();
        let old_master = old_view.master.and_then(|i| old.pools.get(i));
        let mut pools: Vec<Arc<NodePool>> = Vec::new();
        let mut opened = Vec::new();
        let mut view = ServiceView {
            held,
            ..ServiceView::default()
        };
        if let Some(addr) = master.as_ref().filter(|_| self.sentinel().uses_master()) {
            let endpoint = addr.endpoint();
            let pool = match old_master.filter(|p| p.endpoint == endpoint) {
                Some(pool) => pool.clone(),
                None => {
                    let pool = self.new_master_pool(endpoint);
                    opened.push(pool.clone());
                    pool
                }
            };
            view.master = Some(pools.len());
            pools.push(pool);
        }
        if self.sentinel().role() == SentinelRole::Replica {
            for addr in &replicas {
                let endpoint = addr.endpoint();
                let kept = old_view
                    .replicas
                    .iter()
                    .filter_map(|&i| old.pools.get(i))
                    .find(|p| p.endpoint == endpoint);
                let pool = match kept {
                    Some(pool) => pool.clone(),
                    None => {
                        let pool = self.new_pool(endpoint, None);
                        opened.push(pool.clone());
                        pool
                    }
                };
                view.replicas.push(pools.len());
                pools.push(pool);
            }
        }
        let gone: Vec<Arc<NodePool>> = old
            .pools
            .iter()
            .filter(|p| !pools.iter().any(|q| Arc::ptr_eq(p, q)))
            .cloned()
            .collect();
        let master_changed = match (old_master, view.master.map(|i| &pools[i])) {
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            (None, Some(_)) => false,
            (_, None) => false,
        };
        self.nodes.store(Arc::new(NodeSet {
            pools,
            topology: None,
            service: Some(view),
        }));
        if master_changed {
            self.sentinel()
                .counters
                .master_changes
                .fetch_add(1, Ordering::Relaxed);
        }
        let changed = !opened.is_empty() || !gone.is_empty();
        for pool in &opened {
            self.adopt(pool);
        }
        for pool in gone {
            let name = crate::net::endpoint_name(&pool.endpoint);
            let service = &self.sentinel().options.service_name;
            let was_master = old_master.is_some_and(|m| Arc::ptr_eq(m, &pool));
            let why = match (&master, was_master) {
                (Some(new), true) => format!(
                    "{name} is no longer the master of '{service}' (the sentinels name {new})"
                ),
                (None, true) => format!("{name} is no longer the master of '{service}'"),
                (_, false) => {
                    format!("{name} is no longer a healthy replica of '{service}'")
                }
            };
            // Closed at once, in flight or not: a master that is one no longer must not be
            // written to again, and a replica the sentinels dropped is usually gone.
            self.abandon_pool(&pool, Error::new(ErrorKind::Connection, why));
        }
        // Subscribers on a node that left move to one that serves, and the client-side
        // cache empties: the new nodes track nothing for it.
        self.topology_settled(changed);
    }

    /// A pool whose connections check in their handshake that the node is a master.
    fn new_master_pool(&self, endpoint: Endpoint) -> Arc<NodePool> {
        let mut pool = NodePool::new(endpoint, None, &self.config, |id, endpoint, name| {
            let conn = self.conn_for(id, endpoint, name, false);
            conn.lock().require_master = true;
            conn
        });
        pool.master_only = true;
        self.track(&pool);
        Arc::new(pool)
    }

    /// Closes every connection of `pool` now (multiplexed, direct, dedicated, held ones
    /// too): their unanswered requests are detoured (sent to the new master unless written)
    /// or fail with `err`; callers waiting for a dedicated connection fail with it.
    fn abandon_pool(&self, pool: &NodePool, err: Error) {
        for conn in pool.node_conns().chain(pool.dedicated.live().iter()) {
            // Nothing more is written to it by submitters (`Engine::after_enqueue`): what
            // they queue now is detoured to the new master.
            conn.lock().doomed = true;
            self.reactors[conn.reactor].notify(Msg::Abandon(conn.clone(), err.clone()));
        }
        let mut completions = Vec::new();
        pool.dedicated.fail_all(&err, &mut completions);
        self.deliver_now(completions);
    }

    /// Waits until the first discovery found where to send commands (client creation), or
    /// fails with why it did not.
    pub(in crate::client) fn wait_service(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        let sentinel = self.sentinel();
        loop {
            let nodes = self.nodes.load();
            if matches!(self.sentinel_pick(&nodes), Pick::Pool(_)) {
                return Ok(());
            }
            if sentinel.finished.load(Ordering::SeqCst) > 0 {
                if let Some(err) = sentinel.last_error.lock().unwrap().clone() {
                    return Err(err);
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "timed out waiting for the sentinels to name the master",
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
