//! The Rust API every face is built on: `Client` (blocking calls, submissions with a
//! completion, pipelines), `Dedicated` (a connection held for WATCH / MULTI / EXEC and other
//! stateful work), and the `Engine` they share with the reactor threads.
//!
//! A command's trip: classify it (normal, blocking, stateful), route it to a node, pick a
//! connection, append its frame to that connection's exchange under the connection's lock,
//! and tell the owning reactor, unless it already knows. A blocking call on an idle
//! connection writes the frame itself, like hiredis does, saving the hand-off to the reactor.

mod caching;
mod cluster;
mod direct;
mod nodes;
pub mod pipeline;
mod pool;
mod reauth;
mod replicated;
mod scripts;
mod sentinel;
pub(crate) mod stream;
mod transaction;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{Config, Endpoint};
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::conn::IDLE_CHECK;
use crate::reactor::tracking::OwnWrites;
pub use crate::reactor::LoopStats;
use crate::reactor::{
    self, Completion, Conn, Lease, Msg, Outcome, Owner, Phase, RawCallback, Waiter,
};
use crate::reactor::{PipelineDone, PipelineRun};
use crate::resp::{encode_command, Reply};
use crate::route::command::{classify, CommandClass, StatefulKind};
use crate::session::RequestMeta;
pub use cluster::ClusterStats;
use nodes::{NodePool, NodeSet};
use pipeline::Views;
pub use pipeline::{Pipeline, PipelineResult};
pub use reauth::{ReauthHandler, ReauthReport};
pub use sentinel::SentinelStats;
pub use transaction::Transaction;

/// A handler for pushes that arrive outside any request (RESP3 `>` frames on shared
/// connections: invalidations, server notices). Runs on a reactor thread.
pub type PushHandler = Box<dyn Fn(&Reply) + Send + Sync>;

type SharedPushHandler = Arc<dyn Fn(&Reply) + Send + Sync>;

/// A connected client. Cheap to share between threads (`Send + Sync`); all methods take
/// `&self`. Dropping it (or `close`) completes every pending command with CLOSED.
pub struct Client {
    engine: Arc<Engine>,
    threads: Vec<JoinHandle<()>>,
    /// `stop` ran (the reactors were told to exit).
    stopped: bool,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
    assert_send_sync::<Engine>();
};

/// What callers and reactor threads share.
pub(crate) struct Engine {
    pub(crate) config: Config,
    pub(crate) reactors: Vec<Arc<reactor::Shared>>,
    /// The TLS client configuration, built once from `config.tls_options` when TLS is on.
    pub(crate) tls: Option<Arc<crate::net::tls::ClientConfig>>,
    /// The current credentials and their renewal.
    pub(crate) auth: reactor::auth::Auth,
    reauth_handler: Mutex<Option<Arc<ReauthHandler>>>,
    /// The nodes, read by callers without a lock and replaced whole when they change.
    nodes: ArcSwap<NodeSet>,
    /// A cluster client's routing state (None: one server).
    cluster: Option<cluster::Cluster>,
    /// A sentinel client's state (None: not one).
    sentinel: Option<sentinel::Sentinel>,
    /// This engine, for completions that must come back to it later (a refresh answer, a
    /// SCAN step, keys asked of the server).
    me: std::sync::Weak<Engine>,
    next_reactor: AtomicUsize,
    /// Blocking calls in progress (see `Engine::try_direct`).
    blocking_callers: AtomicUsize,
    closed: AtomicBool,
    fork_generation: u64,
    push_handler: Mutex<Option<SharedPushHandler>>,
    /// Helper threads (name lookups, credential provider calls, token renewals), joined when
    /// the client closes.
    helpers: Mutex<Vec<JoinHandle<()>>>,
    /// Features told of topology changes (pub/sub's shard channels).
    listeners: stream::Listeners,
    /// The client-side cache, when the config asks for one.
    cache: Option<reactor::tracking::SharedCache>,
}

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
}

fn fork_generation() -> u64 {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        // SAFETY: registering a handler that only touches an atomic is async-signal-safe.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
    FORK_GENERATION.load(Ordering::SeqCst)
}

impl Client {
    /// Starts the reactor threads and the connections. Unless `config.lazy_connect`, waits
    /// for the first connection and returns its error if it cannot be made.
    pub fn new(config: Config) -> Result<Client> {
        config.validate()?;
        Client::with_spawner(config, &spawn_thread)
    }

    /// `new`, starting the reactor threads with `spawn` (tests make it fail).
    fn with_spawner(config: Config, spawn: &Spawner) -> Result<Client> {
        let fork_generation = fork_generation();
        // A sentinel client's data nodes are the ones the sentinels name.
        let endpoints = match &config.sentinel {
            Some(_) => Vec::new(),
            None => config.startup_nodes(),
        };
        let sentinel = match &config.sentinel {
            Some(_) => Some(sentinel::Sentinel::new(&config, Instant::now())?),
            None => None,
        };
        let tls = if config.tls {
            // Settings errors (unreadable CA file, bad server name) show now, not at connect.
            for endpoint in &endpoints {
                let host = match endpoint {
                    Endpoint::Tcp { host, .. } => Some(host.as_str()),
                    Endpoint::Unix { .. } => None,
                };
                crate::net::tls::server_name(&config.tls_options, host)?;
            }
            Some(crate::net::tls::client_config(&config.tls_options)?)
        } else {
            None
        };
        let auth = reactor::auth::Auth::new(&config);
        let threads = config.reactor_threads.max(1);
        let mut shareds = Vec::with_capacity(threads);
        let mut loops = Vec::with_capacity(threads);
        for _ in 0..threads {
            let (shared, reactor) = reactor::create().map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("cannot create the event loop: {e}"),
                )
            })?;
            shareds.push(shared);
            loops.push(reactor);
        }
        let cluster = config
            .cluster
            .as_ref()
            .map(|options| cluster::Cluster::new(options, Instant::now()));
        let engine = Arc::new_cyclic(|me| Engine {
            reactors: shareds,
            nodes: ArcSwap::from_pointee(NodeSet::default()),
            cluster,
            sentinel,
            me: me.clone(),
            next_reactor: AtomicUsize::new(0),
            blocking_callers: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            fork_generation,
            push_handler: Mutex::new(None),
            helpers: Mutex::new(Vec::new()),
            listeners: stream::Listeners::default(),
            cache: caching::new_cache(config.cache),
            tls,
            auth,
            reauth_handler: Mutex::new(None),
            config,
        });
        let pools = endpoints
            .into_iter()
            .map(|endpoint| engine.new_pool(endpoint, None))
            .collect();
        engine.nodes.store(Arc::new(NodeSet {
            pools,
            topology: None,
            service: None,
        }));
        let handles = start_reactors(&engine, loops, spawn)?;
        for pool in &engine.nodes.load().pools {
            engine.adopt(pool);
        }
        let client = Client {
            stopped: false,
            engine,
            threads: handles,
        };
        let limit = client
            .engine
            .config
            .connect_timeout
            .unwrap_or(Duration::from_secs(30));
        if client.engine.sentinel.is_some() {
            client.engine.start_sentinel();
            if !client.engine.config.lazy_connect {
                client.engine.wait_service(limit * 2)?;
                client.wait_connected()?;
            }
        } else if client.engine.cluster.is_some() {
            // The startup nodes are asked for the topology, in turn, until one answers.
            client.engine.request_refresh();
            if !client.engine.config.lazy_connect {
                let limit = client
                    .engine
                    .config
                    .connect_timeout
                    .unwrap_or(Duration::from_secs(30));
                client.engine.wait_topology(limit * 2)?;
            }
        } else if !client.engine.config.lazy_connect {
            client.wait_connected()?;
        }
        Ok(client)
    }

    /// Waits until a connection is ready, or the first attempt of each failed.
    fn wait_connected(&self) -> Result<()> {
        let limit = self
            .engine
            .config
            .connect_timeout
            .unwrap_or(Duration::from_secs(30));
        let deadline = Instant::now() + limit + Duration::from_millis(100);
        loop {
            let mut failed = 0;
            let mut last = None;
            let nodes = self.engine.nodes.load();
            let conns = nodes.pools.iter().flat_map(|n| n.conns.iter());
            let total = nodes.pools.iter().map(|n| n.conns.len()).sum::<usize>();
            for conn in conns {
                let st = conn.lock();
                match (&st.phase, &st.last_error) {
                    (Phase::Ready, _) => return Ok(()),
                    (_, Some(err)) => {
                        failed += 1;
                        last = Some(err.clone());
                    }
                    _ => {}
                }
            }
            if failed == total {
                return Err(last.expect("an error per failed connection"));
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "timed out waiting for the first connection",
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sends a command and waits for its reply. A server error reply is returned as an `Err`
    /// with its kind (RESPONSE, NO_SCRIPT, MOVED, ...). Fails with TIMEOUT after the command
    /// timeout (extended by the server-side block time of blocking commands).
    pub fn command<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<Reply> {
        self.engine.command_blocking(args)
    }

    /// Sends a command; `done` runs once with the result, on a reactor thread.
    pub fn submit<A: AsRef<[u8]>>(
        &self,
        args: &[A],
        done: impl FnOnce(Result<Reply>) + Send + 'static,
    ) -> Result<()> {
        self.engine
            .submit(args, Completion::Boxed(Box::new(done)), false)
            .map_err(|(e, _)| e)
    }

    /// Sends a command; `f(ctx, result)` runs once on a reactor thread. No allocation: this is
    /// what the C face uses for its callbacks. On `Err`, `f` will not run.
    pub fn submit_raw<A: AsRef<[u8]>>(
        &self,
        args: &[A],
        f: RawCallback,
        ctx: [usize; 2],
    ) -> Result<()> {
        self.engine
            .submit(args, Completion::Raw(f, ctx), false)
            .map_err(|(e, _)| e)
    }

    /// Cancels the blocking commands (BLPOP, XREAD BLOCK, WAIT, ...) sent with `submit_raw`
    /// and this very `f` and `ctx`, that wait for a dedicated connection or run on one:
    /// each completes at once with CANCELLED (on a reactor thread), and one already written
    /// has its connection closed, so that the server drops it rather than run it for
    /// nobody (a BLPOP would pop an element no one reads). A reply the server sent before
    /// the close is lost with it. Commands not sent yet that wait in a cluster client (a
    /// retry's delay, a topology) or a sentinel client (a master) are cancelled too,
    /// blocking or not; other commands are left to complete as they would.
    /// Returns how many were cancelled; fails with CLOSED in a forked child (whose sockets
    /// are the parent's).
    pub fn cancel_raw(&self, f: RawCallback, ctx: [usize; 2]) -> Result<usize> {
        self.engine.check_usable()?;
        Ok(self.engine.cancel_blocking(
            |c| matches!(c, Completion::Raw(g, x) if *g as usize == f as usize && *x == ctx),
        ))
    }

    /// Runs a pipeline and waits for all its results. On an idle connection the calling thread
    /// writes the frames and reads the replies itself, like a single blocking call. A
    /// fail-fast pipeline (`Pipeline::fail_fast`) returns its first failure as the error.
    pub fn run_pipeline(&self, pipeline: &Pipeline) -> Result<PipelineResult> {
        let result = self.run_pipeline_whole(pipeline)?;
        pipeline.settle(result)
    }

    /// `run_pipeline`, every result kept.
    fn run_pipeline_whole(&self, pipeline: &Pipeline) -> Result<PipelineResult> {
        self.engine.check_blocking_allowed()?;
        self.engine.cache_forget_frames(pipeline.frames());
        let waiter = Waiter::for_this_thread();
        let seq = waiter.begin();
        let deadline = self.engine.pipeline_deadline(pipeline);
        // A pipeline calling scripts first makes sure the server has them.
        if pipeline.blocking.is_none() && !pipeline.is_empty() && pipeline.scripts.is_empty() {
            let run = self
                .engine
                .new_run(pipeline, PipelineDone::Wait(waiter.clone(), seq));
            let meta = RequestMeta {
                deadline,
                retry_written: self.engine.config.retry.retry_written_commands,
                ..RequestMeta::default()
            };
            if let Some(result) = self
                .engine
                .try_direct_pipeline(pipeline, &run, &waiter, seq, meta)
            {
                return result;
            }
        }
        self.engine
            .submit_pipeline(pipeline, PipelineDone::Wait(waiter.clone(), seq), deadline)?;
        // A run with blocking commands may first wait for a dedicated connection.
        let pool_wait = if pipeline.blocking.is_some() {
            self.engine.config.dedicated_wait_timeout
        } else {
            Duration::ZERO
        };
        match waiter.wait(
            seq,
            deadline.map(|d| d + pool_wait + Duration::from_millis(5)),
        ) {
            Some(Outcome::Pipeline(result)) => Ok(result),
            Some(_) => Err(Error::new(ErrorKind::Internal, "unexpected outcome")),
            None => Err(timeout_error()),
        }
    }

    /// Runs a pipeline; `done` runs once with all results, on a reactor thread.
    pub fn submit_pipeline(
        &self,
        pipeline: &Pipeline,
        done: impl FnOnce(PipelineResult) + Send + 'static,
    ) -> Result<()> {
        let deadline = self.engine.pipeline_deadline(pipeline);
        self.engine
            .submit_pipeline(pipeline, PipelineDone::Boxed(Box::new(done)), deadline)
    }

    /// Runs a pipeline; `f(ctx, result)` runs once on a reactor thread (the C face).
    pub fn submit_pipeline_raw(
        &self,
        pipeline: &Pipeline,
        f: fn([usize; 2], PipelineResult),
        ctx: [usize; 2],
    ) -> Result<()> {
        let deadline = self.engine.pipeline_deadline(pipeline);
        self.engine
            .submit_pipeline(pipeline, PipelineDone::Raw(f, ctx), deadline)
    }

    /// Takes a dedicated connection for stateful work (WATCH / MULTI / EXEC, SELECT, ...).
    /// Waits up to the configured time for one to be free, then fails with MAX_CONNECTIONS.
    ///
    /// On a cluster client the connection is taken by the first command, on the primary of
    /// that command's slot (any primary for a keyless command), and every later command with
    /// keys must hash to that slot (else `CROSS_SLOT_TRANSACTION`): start with `WATCH key`, or
    /// use `dedicated_for_key`.
    pub fn dedicated(&self) -> Result<Dedicated> {
        self.engine.check_blocking_allowed()?;
        let conn = if self.engine.cluster.is_some() {
            None
        } else {
            let nodes = self.engine.nodes.load();
            let (pool, _) = self.engine.route(&nodes, &[])?;
            Some(self.engine.acquire_held(pool)?)
        };
        Ok(Dedicated {
            engine: self.engine.clone(),
            unbound: conn.is_none(),
            conn,
            state: HolderState::default(),
            slot: None,
        })
    }

    /// `dedicated`, on the node that serves `key` (its slot's primary) on a cluster client:
    /// for WATCH / MULTI / EXEC on keys of that slot. The same as `dedicated` otherwise.
    pub fn dedicated_for_key(&self, key: &[u8]) -> Result<Dedicated> {
        let mut dedicated = self.dedicated()?;
        if self.engine.cluster.is_some() {
            dedicated.bind(Some(crate::route::slot::key_slot(key)))?;
        }
        Ok(dedicated)
    }

    /// What a sentinel client has met so far (discoveries, master changes, events, held
    /// commands); `None` for other clients.
    pub fn sentinel_stats(&self) -> Option<SentinelStats> {
        self.engine.sentinel.as_ref().map(sentinel::Sentinel::stats)
    }

    /// The client-side cache's counters (hits, misses, evictions, invalidations, flushes,
    /// what it holds); `None` when the config asks for no cache.
    pub fn cache_stats(&self) -> Option<crate::session::cache::CacheStats> {
        self.engine.cache_stats()
    }

    /// How often the client's event loops were woken from their sleep by other threads, and
    /// how many lone submissions their submitters wrote themselves.
    pub fn loop_stats(&self) -> LoopStats {
        let mut stats = LoopStats::default();
        for shared in &self.engine.reactors {
            shared.add_stats(&mut stats);
        }
        stats
    }

    /// The engine, for the features built on the client (pub/sub, MONITOR).
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// What a cluster client has met so far (redirections, retries, refreshes); `None` for a
    /// client of one server.
    pub fn cluster_stats(&self) -> Option<ClusterStats> {
        self.engine.cluster.as_ref().map(cluster::Cluster::stats)
    }

    /// Sets the handler for pushes that arrive outside any request.
    pub fn set_push_handler(&self, handler: Option<PushHandler>) {
        *self
            .engine
            .push_handler
            .lock()
            .unwrap_or_else(|e| e.into_inner()) =
            handler.map(|h| Arc::from(h) as SharedPushHandler);
    }

    /// Waits until every command submitted so far has completed (its reply came, or it failed
    /// or timed out) and its callback has run, or `timeout` passes (the reactors get at least
    /// 100 ms to confirm the callbacks have run): `Err(TIMEOUT)` then. Commands submitted
    /// meanwhile are waited for too, so stop submitting first. Call it before `close` (or
    /// dropping the client) to have written commands answered instead of completed with
    /// CLOSED, which does not mean they did not run: the server may have run them. Not from a
    /// callback.
    pub fn drain(&self, timeout: Duration) -> Result<()> {
        self.engine.check_blocking_allowed()?;
        let deadline = Instant::now() + timeout;
        let late = || {
            Error::new(
                ErrorKind::Timeout,
                format!(
                    "commands were still pending after {} ms",
                    timeout.as_millis()
                ),
            )
        };
        loop {
            let mut pause = Duration::from_micros(100);
            while !self.engine.is_drained() {
                if Instant::now() >= deadline {
                    return Err(late());
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(5));
            }
            // No command waits on a connection any more, but the replies a reactor has taken
            // may still wait for their callbacks, on it or on their way to another reactor.
            // Each reactor answers a barrier once it has run what it held; if none ran
            // anything meanwhile (which could have submitted more) and nothing is on its
            // way, everything submitted so far has completed. The reactors answer within a
            // turn; a drain without time left (`drain(0)` on an idle client) still gets that.
            let ran = self.engine.completions_run();
            let answered_by = deadline.max(Instant::now() + BARRIER_GRACE);
            if !self.engine.barrier(answered_by) {
                return Err(late());
            }
            if self.engine.completions_run() == ran
                && !self.engine.reactors.iter().any(|r| r.delivering())
                && self.engine.is_drained()
            {
                return Ok(());
            }
        }
    }

    /// Closes the client: every pending command completes with CLOSED before this returns
    /// (when called from a callback, as soon as the callback returns).
    pub fn close(mut self) {
        self.stop();
    }

    /// Shuts the client down without giving it up, for a client other threads are still
    /// using: every pending command completes with CLOSED, blocking calls in progress on
    /// other threads return CLOSED at once (also those waiting on a server that stopped
    /// answering, with no timeout), and every later call fails with CLOSED. Returns once the
    /// event loops have done so (at once when called from a callback: they do it as soon as
    /// it returns). Dropping the client (or `close`) still frees it. As with `close`, CLOSED
    /// does not mean that the server did not run a command already written.
    pub fn shutdown(&self) {
        let engine = &self.engine;
        if FORK_GENERATION.load(Ordering::SeqCst) != engine.fork_generation
            || engine.closed.swap(true, Ordering::SeqCst)
        {
            return;
        }
        for shared in &engine.reactors {
            shared.notify(Msg::Close);
        }
        if !reactor::on_reactor_thread() {
            // Each reactor answers once it has closed everything and run what that completed.
            engine.barrier(Instant::now() + Duration::from_secs(5));
        }
    }

    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        if FORK_GENERATION.load(Ordering::SeqCst) != self.engine.fork_generation {
            // In a forked child the reactor threads do not exist and the sockets are the
            // parent's: touch nothing.
            std::mem::forget(std::mem::take(&mut self.threads));
            return;
        }
        self.engine.closed.store(true, Ordering::SeqCst);
        for shared in &self.engine.reactors {
            shared.notify(Msg::Shutdown);
        }
        if reactor::on_reactor_of(Arc::as_ptr(&self.engine) as *const ()) {
            // Freed from one of its own callbacks: its reactors finish once it returns.
            // (Freed from another client's callback, it is joined like anywhere else.)
            self.threads.clear();
            return;
        }
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
        self.engine.join_helpers();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a named thread running `f`.
type Spawner = dyn Fn(String, Box<dyn FnOnce() + Send>) -> std::io::Result<JoinHandle<()>>;

fn spawn_thread(name: String, f: Box<dyn FnOnce() + Send>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name).spawn(f)
}

/// Starts a thread per reactor loop. When one cannot start, those already running are shut
/// down and joined before the error is returned: nothing of the client outlives it.
fn start_reactors(
    engine: &Arc<Engine>,
    loops: Vec<reactor::Reactor>,
    spawn: &Spawner,
) -> Result<Vec<JoinHandle<()>>> {
    let mut handles = Vec::with_capacity(loops.len());
    for (i, reactor) in loops.into_iter().enumerate() {
        let engine_ref = engine.clone();
        let spawned = spawn(
            format!("redcore-reactor-{i}"),
            Box::new(move || {
                let run = std::panic::AssertUnwindSafe(|| reactor.run(engine_ref.clone()));
                if std::panic::catch_unwind(run).is_err() {
                    engine_ref.reactor_died(i);
                }
            }),
        );
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                engine.closed.store(true, Ordering::SeqCst);
                for shared in &engine.reactors {
                    shared.notify(Msg::Shutdown);
                }
                for handle in handles {
                    let _ = handle.join();
                }
                return Err(Error::new(
                    ErrorKind::Internal,
                    format!("cannot start a reactor thread: {e}"),
                ));
            }
        }
    }
    Ok(handles)
}

/// Counts a blocking call in progress for as long as it lives.
struct BlockingCall<'a> {
    calls: &'a AtomicUsize,
    /// The calls in progress when this one began, itself included.
    count: usize,
}

impl<'a> BlockingCall<'a> {
    fn enter(calls: &'a AtomicUsize) -> BlockingCall<'a> {
        let count = calls.fetch_add(1, Ordering::Relaxed) + 1;
        BlockingCall { calls, count }
    }
}

impl Drop for BlockingCall<'_> {
    fn drop(&mut self) {
        self.calls.fetch_sub(1, Ordering::Relaxed);
    }
}

fn timeout_error() -> Error {
    Error::new(ErrorKind::Timeout, "the command timed out")
}

impl Engine {
    /// Waits for the helper threads to finish (they never wait on the client, so they end
    /// unless a credential provider hangs): a provider the caller gave is not called after
    /// the client is gone. One that has not returned within the connect timeout is left
    /// running, detached.
    fn join_helpers(&self) {
        let helpers = std::mem::take(&mut *self.helpers.lock().unwrap_or_else(|e| e.into_inner()));
        let limit = self
            .config
            .connect_timeout
            .unwrap_or(Duration::from_secs(30));
        let deadline = Instant::now() + limit;
        for handle in helpers {
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if handle.is_finished() {
                let _ = handle.join();
            }
        }
    }

    /// A new connection to `node`'s endpoint, on the next reactor in turn (not started).
    fn new_conn(&self, node: &NodePool, dedicated: bool) -> Conn {
        let conn = self.conn_for(
            node.id,
            &node.endpoint,
            node.server_name.as_deref(),
            dedicated,
        );
        conn.lock().require_master = node.master_only;
        conn
    }

    fn conn_for(
        &self,
        node: u64,
        endpoint: &Endpoint,
        server_name: Option<&str>,
        dedicated: bool,
    ) -> Conn {
        let reactor = self.next_reactor.fetch_add(1, Ordering::Relaxed) % self.reactors.len();
        let conn = Conn::new(
            reactor,
            node,
            dedicated,
            endpoint.clone(),
            server_name.map(str::to_string),
            &self.config,
        );
        // A cluster node's requests may be redirected or retried elsewhere, and a sentinel
        // client's may go to the next master.
        let mut st = conn.lock();
        st.detours = self.cluster.is_some() || self.sentinel.is_some();
        st.forgets = self.cache.clone();
        drop(st);
        conn
    }

    /// A pool for a node (its connections not started yet: see `adopt`).
    fn new_pool(&self, endpoint: Endpoint, server_name: Option<String>) -> Arc<NodePool> {
        let pool = Arc::new(NodePool::new(
            endpoint,
            server_name,
            &self.config,
            |id, endpoint, name| self.conn_for(id, endpoint, name, false),
        ));
        self.track(&pool);
        pool
    }

    /// Hands a new pool's multiplexed connections to their reactors, which connect them.
    fn adopt(&self, pool: &NodePool) {
        for conn in &pool.conns {
            self.reactors[conn.reactor].notify(Msg::Adopt(conn.clone()));
        }
    }

    /// True when no command waits anywhere: on a connection (written or not, or answered but
    /// handed to the reactor for its completion), for a dedicated connection, for its time
    /// in a cluster (a retry's delay, a topology), or for a sentinel client's master.
    fn is_drained(&self) -> bool {
        let mut conns = self.node_conns();
        conns.extend(self.dedicated_conns());
        let idle = conns.iter().all(|conn| {
            let st = conn.lock();
            st.ex.pending() == 0 && st.handoff.is_empty() && st.detoured.is_empty()
        });
        let cluster_idle = self.cluster.is_none() || !self.cluster_has_delayed();
        let sentinel_idle = self.sentinel.as_ref().is_none_or(|s| !s.has_parked());
        idle && cluster_idle && sentinel_idle && self.pool_next_deadline().is_none()
    }

    /// How many completions the reactors have run so far.
    fn completions_run(&self) -> u64 {
        self.reactors.iter().map(|r| r.completions_run()).sum()
    }

    /// Waits until every reactor has run the completions it held when asked; false when
    /// `deadline` passed first. A reactor that has exited ran everything before it did.
    fn barrier(&self, deadline: Instant) -> bool {
        let (answer, answers) = crossbeam_channel::bounded(self.reactors.len());
        for reactor in &self.reactors {
            reactor.notify(Msg::Barrier(answer.clone()));
        }
        drop(answer);
        for _ in &self.reactors {
            match answers.recv_deadline(deadline) {
                Ok(()) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return true,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => return false,
            }
        }
        true
    }

    /// Refuses calls on a closed client or in a forked child.
    fn check_usable(&self) -> Result<()> {
        if FORK_GENERATION.load(Ordering::Relaxed) != self.fork_generation {
            return Err(Error::new(
                ErrorKind::Closed,
                "this client was created before fork(); create a new client in the child",
            ));
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(reactor::completion::closed_error());
        }
        Ok(())
    }

    fn check_blocking_allowed(&self) -> Result<()> {
        self.check_usable()?;
        check_not_in_callback()
    }

    /// For a request a primary dropped as it became a replica (`UNBLOCKED`): true when it is a
    /// command blocked on keys, which may run at the new primary, its deadline then restarted
    /// as if it were submitted now (the server starts its block time again); false for
    /// anything else, which must fail with the error.
    pub(crate) fn restart_blocked(&self, frame: &[u8], meta: &mut RequestMeta) -> bool {
        let Some(block) = cluster::frame_args(frame)
            .and_then(|args| crate::route::command::blocks_on_keys(args.as_slice()))
        else {
            return false;
        };
        meta.deadline = self.deadline(block);
        true
    }

    /// The deadline of a command submitted now: the command timeout plus how long the server
    /// may block it (`None` inside: forever).
    fn deadline(&self, block: Option<Duration>) -> Option<Instant> {
        let timeout = self.config.command_timeout?;
        let block = block?;
        Some(Instant::now() + timeout + block)
    }

    /// The node `args` goes to, in `nodes` (a snapshot the caller loaded), with whether it
    /// only reads; an error for what does not go to one node now (a cluster's fan-outs and
    /// splits, a slot without owner), which `submit` handles on its own path.
    fn route<'n>(&self, nodes: &'n NodeSet, args: &[&[u8]]) -> Result<(&'n Arc<NodePool>, bool)> {
        if self.sentinel.is_some() {
            return self.sentinel_pool(nodes).map(|pool| (pool, false));
        }
        match &self.cluster {
            None => nodes
                .pools
                .first()
                .map(|pool| (pool, false))
                .ok_or_else(|| Error::new(ErrorKind::Internal, "no node to send to")),
            Some(cluster) => match self.route_cluster(cluster, nodes, args)? {
                cluster::Routed::Node(pool, read_only) => Ok((pool, read_only)),
                cluster::Routed::Later(err) => Err(err),
                cluster::Routed::Plan(_) => Err(Error::new(
                    ErrorKind::ClusterException,
                    format!(
                        "{} goes to several nodes of the cluster: send it alone, not here",
                        String::from_utf8_lossy(args.first().copied().unwrap_or_default())
                    ),
                )),
            },
        }
    }

    /// Every connection of the nodes: the multiplexed ones and those opened for the direct
    /// path so far.
    fn node_conns(&self) -> Vec<Arc<Conn>> {
        let nodes = self.nodes.load();
        nodes
            .pools
            .iter()
            .flat_map(|n| n.node_conns())
            .cloned()
            .collect()
    }

    fn command_blocking<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<Reply> {
        self.check_blocking_allowed()?;
        let waiter = Waiter::for_this_thread();
        let seq = waiter.begin();
        let callers = BlockingCall::enter(&self.blocking_callers);
        let mut direct = true;
        let mut forgets = false;
        if self.cache.is_some() {
            match self.cache_peek(Views::new(args).as_slice()) {
                caching::Peek::Hit(reply) => return Ok(reply),
                // Through the tracking connection, whose replies fill the cache.
                caching::Peek::Read => direct = false,
                caching::Peek::Write => forgets = true,
                caching::Peek::Other => {}
            }
        }
        let replicated = self.config.replicated_writes.is_some()
            && self.waits_for_replicas(Views::new(args).as_slice());
        if direct && !replicated {
            if let Some(result) = self.try_direct(args, &waiter, seq, callers.count, forgets) {
                return result;
            }
        }
        // The direct path declined (the connection is busy, or showed input while idle that
        // the reactor must look at first): the reactor writes and reads.
        let deadline = self
            .submit_inner(args, Completion::Wait(waiter.clone(), seq), false)
            .map_err(|(e, _)| e)?;
        match waiter.wait(seq, deadline.map(|d| d + Duration::from_millis(5))) {
            Some(Outcome::Reply(result)) => result,
            Some(_) => Err(Error::new(ErrorKind::Internal, "unexpected outcome")),
            None => Err(timeout_error()),
        }
    }

    pub(crate) fn submit<A: AsRef<[u8]>>(
        &self,
        args: &[A],
        completion: Completion,
        direct: bool,
    ) -> std::result::Result<(), (Error, Completion)> {
        self.submit_inner(args, completion, direct).map(|_| ())
    }

    /// Submits; returns the request's deadline.
    fn submit_inner<A: AsRef<[u8]>>(
        &self,
        args: &[A],
        completion: Completion,
        direct: bool,
    ) -> std::result::Result<Option<Instant>, (Error, Completion)> {
        if let Err(e) = self.check_usable() {
            return Err((e, completion));
        }
        if args.is_empty() {
            return Err((
                Error::invalid_argument("a command needs at least one argument"),
                completion,
            ));
        }
        if let Err(e) = check_frame_size(args) {
            return Err((e, completion));
        }
        let views = Views::new(args);
        let class = match classify(views.as_slice()) {
            Ok(c) => c,
            Err(e) => return Err((e, completion)),
        };
        let block = match class {
            CommandClass::Normal => Some(Duration::ZERO),
            CommandClass::Blocking { block } => block,
            CommandClass::Stateful(kind) => {
                return Err((stateful_error(kind), completion));
            }
        };
        let deadline = self.deadline(block);
        let mut meta = RequestMeta {
            deadline,
            retry_written: self.config.retry.retry_written_commands,
            ..RequestMeta::default()
        };
        if self.cache.is_some() {
            match self.cache_step(views.as_slice()) {
                caching::CacheStep::Hit(reply) => {
                    self.deliver_hit(completion, reply);
                    return Ok(deadline);
                }
                caching::CacheStep::Miss(token) => meta.cache_token = token,
                caching::CacheStep::Write => meta.forgets = true,
                caching::CacheStep::Other => {}
            }
        }
        if self.waits_for_replicas(views.as_slice()) {
            let block = match class {
                CommandClass::Blocking { block } => Some(block),
                _ => None,
            };
            return self.submit_replicated(args, block, completion);
        }
        if self.cluster.is_some() {
            // Blocking commands too: by slot, waiting for a topology if need be, and on
            // dedicated connections wherever they are sent (see `dispatch`).
            let blocking = !matches!(class, CommandClass::Normal);
            self.dispatch(views.as_slice(), None, completion, meta, blocking)?;
            // A blocking command may first wait for a dedicated connection.
            let wait = self.config.dedicated_wait_timeout;
            return Ok(deadline.map(|d| if blocking { d + wait } else { d }));
        }
        if self.sentinel.is_some() {
            let blocking = !matches!(class, CommandClass::Normal);
            let args = views.as_slice();
            self.sentinel_dispatch(args, None, completion, meta, direct, blocking);
            // A blocking command may first wait for a dedicated connection.
            let wait = self.config.dedicated_wait_timeout;
            return Ok(deadline.map(|d| if blocking { d + wait } else { d }));
        }
        let nodes = self.nodes.load();
        let pool = match self.route(&nodes, views.as_slice()) {
            Ok((pool, read_only)) => {
                meta.read_only = read_only;
                pool
            }
            Err(e) => return Err((e, completion)),
        };
        if !matches!(class, CommandClass::Normal) {
            self.submit_dedicated(pool, |buf| encode_command(buf, args), completion, meta)?;
            // It may first wait for a dedicated connection: its deadline moves by that wait.
            return Ok(deadline.map(|d| d + self.config.dedicated_wait_timeout));
        }
        let conn = Engine::conn_for_read(pool, meta.cache_token);
        self.enqueue(
            conn,
            |buf| encode_command(buf, args),
            completion,
            meta,
            direct,
        )?;
        Ok(deadline)
    }

    /// Appends a request to `conn` and makes sure it gets written.
    fn enqueue(
        &self,
        conn: &Arc<Conn>,
        write: impl FnOnce(&mut Vec<u8>),
        completion: Completion,
        meta: RequestMeta,
        direct: bool,
    ) -> std::result::Result<(), (Error, Completion)> {
        self.enqueue_leased(conn, None, write, completion, meta, direct)
    }

    /// `enqueue`, setting the connection's lease in the same critical section (a lease set
    /// apart would let the reactor see a leased connection with nothing pending and give it
    /// back before the command lands on it).
    pub(super) fn enqueue_leased(
        &self,
        conn: &Arc<Conn>,
        lease: Option<Lease>,
        write: impl FnOnce(&mut Vec<u8>),
        completion: Completion,
        meta: RequestMeta,
        direct: bool,
    ) -> std::result::Result<(), (Error, Completion)> {
        let mut st = conn.lock();
        if let Some(err) = st.refuses_request(&self.config, &meta) {
            return Err((err, completion));
        }
        if let Some(lease) = lease {
            st.lease = lease;
        }
        let idle = st.ex.pending() == 0;
        let lone = st.count_submission(idle);
        let deadline = meta.deadline;
        st.ex.enqueue(write, completion, meta);
        let notify = self.after_enqueue(&mut st, direct && idle, conn.reactor, lone, deadline);
        if !notify {
            // Written here, or flushed by the reactor on its way: either way the reply must
            // be read, and a direct caller may have left the connection disarmed while idle.
            st.ensure_armed(&self.reactors[conn.reactor].registry);
        }
        drop(st);
        if notify {
            self.reactors[conn.reactor].flush(conn.clone());
        }
        Ok(())
    }

    /// After appending under the lock: writes at once (a blocking call on an idle connection,
    /// or a lone submission while the reactor sleeps) or reports whether the reactor must be
    /// told (it writes when the connection is ready, and must in any case learn the new
    /// request's deadline).
    ///
    /// `lone`: the submission is a lone one (`ConnState::count_submission`), and `deadline`
    /// is what it appended's. It is written here when the connection had I/O within
    /// `IDLE_CHECK` and the reactor sleeps and will wake by that deadline
    /// (`Shared::wakes_by`): the reply wakes the reactor, and it sees the deadline in time,
    /// so it needs no wake-up. A window of one command then costs one `send` on the
    /// submitter's thread, instead of an eventfd write, the reactor's wake-up and its `send`.
    /// Bursts, and whatever comes while the reactor is awake, are scheduled for its next
    /// write, in one batch, as before.
    fn after_enqueue(
        &self,
        st: &mut reactor::conn::ConnState,
        direct: bool,
        reactor: usize,
        lone: bool,
        deadline: Option<Instant>,
    ) -> bool {
        // Written at once, or the socket is full and the reactor's writable event finishes
        // it; on an error, the reactor's flush meets it again and fails the connection.
        let can_write = matches!(st.phase, Phase::Ready)
            && st.writable
            && !st.suspect
            && !st.scheduled
            && !st.doomed
            && !st.sending;
        if can_write && direct {
            let registry = &self.reactors[reactor].registry;
            if !st.input_waits(registry, Instant::now()) && st.write_pending().is_ok() {
                return false;
            }
        } else if lone {
            let shared = &self.reactors[reactor];
            let now = Instant::now();
            // Keeps the reactor's sleep short for a while, for the next one (see
            // `Reactor::next_timeout`).
            st.last_lone = Some(now);
            // After a long idle time the reactor writes, as before. A close while idle is
            // looked for first (`ConnState::input_waits`): the reactor reads it.
            if can_write
                && !st.caller_reading
                && now.duration_since(st.last_io) <= IDLE_CHECK
                && shared.wakes_by(deadline)
                && !st.input_waits(&shared.registry, now)
            {
                st.ensure_armed(&shared.registry);
                if st.armed && st.write_pending().is_ok() {
                    st.last_io = now;
                    shared.count_caller_write();
                    return false;
                }
            }
        }
        if st.scheduled {
            return false;
        }
        st.scheduled = true;
        true
    }

    /// Submits a pipeline run. Any failure before the run is queued is returned, and then
    /// `done` never runs; once queued, `done` runs exactly once on a reactor thread.
    fn submit_pipeline(
        &self,
        pipeline: &Pipeline,
        done: PipelineDone,
        deadline: Option<Instant>,
    ) -> Result<()> {
        self.check_usable()?;
        if pipeline.is_empty() && !pipeline.transaction {
            return Err(Error::invalid_argument("the pipeline is empty"));
        }
        self.cache_forget_frames(pipeline.frames());
        if !pipeline.scripts.is_empty() {
            return self.submit_pipeline_with_scripts(pipeline, done, deadline);
        }
        let (run, meta) = self.pipeline_run(pipeline, done, deadline);
        self.submit_run(pipeline, run, meta)
    }

    /// The run of `pipeline` and its requests' meta.
    fn pipeline_run(
        &self,
        pipeline: &Pipeline,
        done: PipelineDone,
        deadline: Option<Instant>,
    ) -> (Arc<PipelineRun>, RequestMeta) {
        let run = self.new_run(pipeline, done);
        (run, self.pipeline_run_meta(deadline))
    }

    /// The meta of a pipeline's requests.
    fn pipeline_run_meta(&self, deadline: Option<Instant>) -> RequestMeta {
        RequestMeta {
            deadline,
            retry_written: self.config.retry.retry_written_commands,
            ..RequestMeta::default()
        }
    }

    /// Queues a pipeline's run; a failure is returned before anything is queued.
    fn submit_run(
        &self,
        pipeline: &Pipeline,
        run: Arc<PipelineRun>,
        meta: RequestMeta,
    ) -> Result<()> {
        if self.cluster.is_some() {
            return self.submit_cluster_pipeline(pipeline, run, meta);
        }
        if self.sentinel.is_some() {
            self.sentinel_pipeline(pipeline, run, meta);
            return Ok(());
        }
        let nodes = self.nodes.load();
        let (pool, _) = self.route(&nodes, &[])?;
        if pipeline.blocking.is_some() {
            return self.submit_pipeline_dedicated(pool, pipeline, run, meta);
        }
        let conn = pool.pick().clone();
        self.enqueue_pipeline(&conn, None, pipeline, &run, meta)
    }

    /// Appends a pipeline's frames (with MULTI / EXEC around a transaction) to `conn` at once,
    /// so nothing interleaves.
    pub(super) fn enqueue_pipeline(
        &self,
        conn: &Arc<Conn>,
        lease: Option<Lease>,
        pipeline: &Pipeline,
        run: &Arc<PipelineRun>,
        meta: RequestMeta,
    ) -> Result<()> {
        let mut st = conn.lock();
        if let Some(err) = st.refuses_request(&self.config, &meta) {
            return Err(err);
        }
        if let Some(lease) = lease {
            st.lease = lease;
        }
        let idle = st.ex.pending() == 0;
        let lone = st.count_submission(idle);
        enqueue_pipeline_frames(&mut st, pipeline, run, meta);
        let notify = self.after_enqueue(&mut st, false, conn.reactor, lone, meta.deadline);
        drop(st);
        if notify {
            self.reactors[conn.reactor].flush(conn.clone());
        }
        Ok(())
    }

    /// A reactor thread panicked (a bug): its connections can no longer be served. The client
    /// refuses new commands, and the commands pending on that reactor's connections complete
    /// with INTERNAL here, on its thread, instead of never.
    fn reactor_died(&self, index: usize) {
        self.closed.store(true, Ordering::SeqCst);
        let err = Error::new(
            ErrorKind::Internal,
            "redcore's event loop stopped on an internal error; the client is closed",
        );
        let mut completions = Vec::new();
        let mut conns = self.node_conns();
        conns.extend(self.dedicated_conns());
        for conn in conns.iter().filter(|c| c.reactor == index) {
            let mut st = conn.lock();
            st.caller_reading = false;
            // Replies a direct reader handed over first, in stream order, then the rest.
            completions.append(&mut st.handoff);
            st.handoff_pushes.clear();
            st.ex.fail_all(|c| completions.push((c, Err(err.clone()))));
            // A direct caller blocked in recv wakes up (the socket stays open, so its
            // number is not reused under it).
            if let Some(transport) = st.transport.as_ref() {
                transport.shutdown();
            }
        }
        self.pool_fail_all(&err, &mut completions);
        for (completion, result) in completions {
            let _ =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| completion.run(result)));
        }
        for shared in &self.reactors {
            shared.notify(Msg::Shutdown);
        }
    }

    pub(crate) fn on_push(&self, reply: Reply) {
        if self.sentinel.is_some() && self.sentinel_push(&reply) {
            return;
        }
        let handler = self
            .push_handler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(handler) = handler {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&reply)));
        }
    }
}

impl Owner for Engine {
    fn config(&self) -> &Config {
        &self.config
    }

    fn tls(&self) -> Option<&Arc<crate::net::tls::ClientConfig>> {
        self.tls.as_ref()
    }

    fn auth(&self) -> &reactor::auth::Auth {
        &self.auth
    }

    fn release_single(&self, conn: &Arc<Conn>) {
        Engine::release_single(self, conn);
    }

    fn next_deadline(&self) -> Option<Instant> {
        if self.closed.load(Ordering::Acquire) {
            // Shut down: the other timers do not run (`on_timers`), so their deadlines, once
            // passed, would keep the reactor from sleeping.
            return self.pool_next_deadline();
        }
        let cluster = self
            .cluster
            .as_ref()
            .and_then(|_| self.cluster_next_deadline());
        let sentinel = self
            .sentinel
            .as_ref()
            .and_then(|_| self.sentinel_next_deadline());
        [
            self.pool_next_deadline(),
            self.auth.next_renewal(),
            cluster,
            sentinel,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_timers(
        self: &Arc<Self>,
        now: Instant,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    ) {
        self.pool_expire(now, completions);
        if self.closed.load(Ordering::Acquire) {
            // Shut down (`Client::shutdown`): no refresh, rediscovery or renewal makes new
            // connections only for them to be closed, and what a caller racing the shutdown
            // left waiting (a cluster retry, a sentinel client's parked request) fails now.
            self.fail_waiting(&reactor::completion::closed_error(), completions);
            return;
        }
        if self.cluster.is_some() {
            self.cluster_timers(now);
        }
        if self.sentinel.is_some() {
            self.sentinel_timers(now);
        }
        if self.auth.begin_renewal(now) {
            // The provider may take its time (a token service): ask it on a thread of its own.
            let renewer = self.clone();
            let spawned = std::thread::Builder::new()
                .name("redcore-credentials".into())
                .spawn(move || renewer.renew_credentials());
            match spawned {
                Ok(handle) => self.keep_thread(handle),
                Err(_) => self.auth.end_renewal(false, now),
            }
        }
    }

    fn on_push(&self, reply: Reply) {
        Engine::on_push(self, reply);
    }

    fn on_detours(
        self: &Arc<Self>,
        detours: &mut Vec<reactor::Detour>,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    ) {
        if self.closed.load(Ordering::Acquire) {
            // Nothing is sent again, and nothing waits for a refresh, once shut down.
            for detour in detours.drain(..) {
                completions.push((detour.completion, Err(reactor::completion::closed_error())));
            }
            return;
        }
        if self.cluster.is_some() {
            self.on_cluster_detours(detours, completions);
            return;
        }
        if self.sentinel.is_some() {
            self.on_sentinel_detours(detours, completions);
            return;
        }
        for detour in detours.drain(..) {
            completions.push((detour.completion, Err(detour.cause)));
        }
    }

    fn node_up(&self, conn: &Arc<Conn>, now: Instant) {
        let nodes = self.nodes.load();
        let Some(pool) = nodes.by_id(conn.node) else {
            return;
        };
        let mut siblings: Vec<Arc<Conn>> = pool.node_conns().cloned().collect();
        siblings.extend(pool.dedicated.live());
        for sibling in siblings.iter().filter(|c| !Arc::ptr_eq(c, conn)) {
            if sibling.lock().node_up(now) {
                self.reactors[sibling.reactor].notify(Msg::Timers);
            }
        }
    }

    fn fail_waiting(&self, err: &Error, completions: &mut Vec<(Completion, Result<Reply>)>) {
        self.pool_fail_all(err, completions);
        if self.cluster.is_some() {
            self.cluster_fail_waiting(err, completions);
        }
        if self.sentinel.is_some() {
            self.sentinel_fail_waiting(err, completions);
        }
    }

    fn keep_thread(&self, handle: JoinHandle<()>) {
        let mut helpers = self.helpers.lock().unwrap_or_else(|e| e.into_inner());
        // Reap the finished ones, so a long-lived client keeps a handful at most.
        let (done, running): (Vec<_>, Vec<_>) =
            helpers.drain(..).partition(JoinHandle::is_finished);
        *helpers = running;
        helpers.push(handle);
        drop(helpers);
        for handle in done {
            let _ = handle.join();
        }
    }
}

/// Appends a pipeline's frames (with MULTI / EXEC around a transaction), one request per
/// slot of `run`, under the connection's lock so nothing interleaves.
pub(super) fn enqueue_pipeline_frames(
    st: &mut reactor::conn::ConnState,
    pipeline: &Pipeline,
    run: &Arc<PipelineRun>,
    meta: RequestMeta,
) {
    // A batch whose writes wait for replicas stays on its connection, whole: its writes
    // must not be sent again without their WAIT, nor the WAIT on its own (where it would
    // confirm nothing), so a lost connection or a refusal is each request's result.
    let waits = run.wait_frame().is_some();
    let meta = if waits {
        RequestMeta {
            pinned: true,
            ..meta
        }
    } else {
        meta
    };
    let mut slot = 0;
    let mut push = |st: &mut reactor::conn::ConnState, frame: &[u8]| {
        st.ex
            .enqueue_frame(frame, Completion::Pipeline(run.clone(), slot), meta);
        // A transaction goes out whole or not at all (see `Exchange::link_last`).
        if (pipeline.transaction || waits) && slot > 0 {
            st.ex.link_last();
        }
        slot += 1;
    };
    if pipeline.transaction {
        push(st, b"*1\r\n$5\r\nMULTI\r\n");
    }
    for frame in pipeline.frames() {
        push(st, frame);
    }
    if pipeline.transaction {
        push(st, b"*1\r\n$4\r\nEXEC\r\n");
    }
    if let Some(frame) = run.wait_frame() {
        // On the same connection, right after the writes it confirms.
        push(st, frame);
    }
}

/// Refuses a command whose encoded frame would not fit the exchange's 32-bit frame lengths.
pub(super) fn check_frame_size<A: AsRef<[u8]>>(args: &[A]) -> Result<()> {
    let payload: u64 = args.iter().map(|a| a.as_ref().len() as u64).sum();
    // Each argument adds at most 25 bytes of framing (`$` + 20 digits + two CRLF).
    if payload + 25 * (args.len() as u64 + 1) > u32::MAX as u64 {
        return Err(Error::invalid_argument(format!(
            "a command of {payload} bytes is larger than the 4 GiB a frame may hold"
        )));
    }
    Ok(())
}

fn cross_slot_transaction(slot: u16, bound: u16) -> Error {
    Error::new(
        ErrorKind::CrossSlotTransaction,
        format!(
            "keys of hash slots {bound} and {slot} in one transaction or held connection: in a \
             cluster they must share one slot (put a {{hash tag}} in the keys)"
        ),
    )
}

fn stateful_error(kind: StatefulKind) -> Error {
    Error::invalid_argument(format!(
        "{kind:?} changes the state of the connection it runs on, and connections are shared: \
         run it on a dedicated connection (redcore_client_dedicated), or use a transaction \
         pipeline for MULTI/EXEC"
    ))
}

/// How long `drain` waits at least for the reactors to say they have run what they held.
const BARRIER_GRACE: Duration = Duration::from_millis(100);

/// A dedicated connection, held until released (or dropped): for WATCH / MULTI / EXEC and
/// other commands that change a connection's state. Not shared: use it from one thread.
pub struct Dedicated {
    engine: Arc<Engine>,
    conn: Option<Arc<Conn>>,
    /// A cluster client's connection not taken yet: its first command takes it.
    unbound: bool,
    /// A cluster client's: the slot its commands' keys must hash to (`None` until a command
    /// with keys came).
    slot: Option<u16>,
    state: HolderState,
}

/// What a `Dedicated` holder keeps on the server's side of its connection.
#[derive(Default)]
struct HolderState {
    watching: bool,
    in_multi: bool,
    /// Changed otherwise (SELECT, CLIENT SETNAME, ...): closed rather than reused.
    tainted: bool,
    /// A cached client's writes queued since MULTI (frames back to back, and their
    /// lengths): their replies are only QUEUED, so EXEC's drops them from the cache again.
    queued_writes: (Vec<u8>, Vec<u32>),
}

impl HolderState {
    /// EXEC's completion: when writes were queued since MULTI on a cached client, it first
    /// drops what they may have changed from the cache again (their replies were QUEUED), as
    /// a write's own reply does (`RequestMeta::forgets`).
    fn exec_completion(
        &mut self,
        cache: Option<&reactor::tracking::SharedCache>,
        completion: Completion,
    ) -> Completion {
        let (buf, lens) = std::mem::take(&mut self.queued_writes);
        let Some(cache) = cache.filter(|_| !lens.is_empty()) else {
            return completion;
        };
        let writes = OwnWrites::new(cache.clone(), buf, lens);
        Completion::Boxed(Box::new(move |result| {
            writes.forget();
            completion.run(result);
        }))
    }

    /// Whether the server keeps state of this holder's on the connection: watched keys, an
    /// open transaction, or a change such as SELECT or CLIENT SETNAME.
    fn holds(&self) -> bool {
        self.watching || self.in_multi || self.tainted
    }

    /// Refuses a command when the connection was lost (and reconnected) while the server held
    /// this holder's state, which the new socket does not have: sent there, it would run
    /// outside the transaction, unwatched, or in the wrong database. The commands pending at
    /// the loss failed with the connection's error. Then, until the holder has said how it
    /// goes on, every command fails (so that commands sent back to back, MULTI, SET, EXEC,
    /// never run alone):
    /// - after a SELECT or another change, with CONNECTION until the connection is released
    ///   (it is closed then);
    /// - inside MULTI, with WATCH when keys were watched, else
    ///   CONNECTION, until EXEC or DISCARD, which fail too and end the transaction;
    /// - with keys watched only, with WATCH until EXEC or DISCARD (which fail too) or a new
    ///   WATCH or UNWATCH (which go out on the new socket): start again.
    ///
    /// `kind`: the command's, when it is one of the stateful ones.
    fn check_lost(&mut self, conn: &Conn, kind: Option<StatefulKind>) -> Result<()> {
        let mut st = conn.lock();
        if !st.session_lost {
            return Ok(());
        }
        let ends = matches!(kind, Some(StatefulKind::Exec | StatefulKind::Discard));
        let (error, what) = if self.tainted {
            (
                ErrorKind::Connection,
                "with a change the holder made to it (SELECT, CLIENT SETNAME, ...); release it",
            )
        } else if self.in_multi {
            let error = if self.watching {
                ErrorKind::Watch
            } else {
                ErrorKind::Connection
            };
            if ends {
                self.in_multi = false;
                self.watching = false;
            }
            (
                error,
                "inside MULTI: the transaction is gone (every command fails until EXEC or \
                 DISCARD)",
            )
        } else if self.watching {
            match kind {
                Some(StatefulKind::Watch | StatefulKind::Unwatch) => {
                    // Starting over, or giving up: on the new socket, which watches nothing.
                    self.watching = false;
                    st.session_lost = false;
                    return Ok(());
                }
                _ if ends => self.watching = false,
                _ => {}
            }
            (
                ErrorKind::Watch,
                "while it watched keys: start again (every command fails until EXEC, DISCARD, \
                 WATCH or UNWATCH)",
            )
        } else {
            st.session_lost = false;
            return Ok(());
        };
        if !self.holds() {
            st.session_lost = false;
        }
        Err(Error::new(
            error,
            format!("the dedicated connection was lost and reconnected {what}"),
        ))
    }
}

impl Dedicated {
    /// Sends a command on this connection and waits for its reply.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Reply> {
        self.engine.check_blocking_allowed()?;
        let waiter = Waiter::for_this_thread();
        let seq = waiter.begin();
        let deadline = self
            .submit_inner(args, Completion::Wait(waiter.clone(), seq), true)
            .map_err(|(e, _)| e)?;
        match waiter.wait(seq, deadline.map(|d| d + Duration::from_millis(5))) {
            Some(Outcome::Reply(result)) => result,
            Some(_) => Err(Error::new(ErrorKind::Internal, "unexpected outcome")),
            None => Err(timeout_error()),
        }
    }

    /// Sends a command on this connection; `f(ctx, result)` runs once on a reactor thread.
    pub fn submit_raw<A: AsRef<[u8]>>(
        &mut self,
        args: &[A],
        f: RawCallback,
        ctx: [usize; 2],
    ) -> Result<()> {
        // Through the reactor: it must learn the request's deadline to enforce it.
        self.submit_inner(args, Completion::Raw(f, ctx), false)
            .map(|_| ())
            .map_err(|(e, _)| e)
    }

    /// `direct`: a blocking caller, which may write at once (it enforces its own deadline).
    fn submit_inner<A: AsRef<[u8]>>(
        &mut self,
        args: &[A],
        completion: Completion,
        direct: bool,
    ) -> std::result::Result<Option<Instant>, (Error, Completion)> {
        if let Err(e) = self.engine.check_usable() {
            return Err((e, completion));
        }
        if args.is_empty() {
            return Err((
                Error::invalid_argument("a command needs at least one argument"),
                completion,
            ));
        }
        if let Err(e) = check_frame_size(args) {
            return Err((e, completion));
        }
        let views = Views::new(args);
        if self.engine.cluster.is_some() {
            if let Err(e) = self.pin(views.as_slice()) {
                return Err((e, completion));
            }
        }
        let forgets = self.engine.cache_forget(views.as_slice());
        let Some(conn) = self.conn.as_ref() else {
            return Err((
                Error::invalid_argument("this dedicated connection was released"),
                completion,
            ));
        };
        let class = match classify(views.as_slice()) {
            Ok(class) => class,
            Err(e) => return Err((e, completion)),
        };
        let stateful = match class {
            CommandClass::Stateful(kind) => Some(kind),
            _ => None,
        };
        if let Err(e) = self.state.check_lost(conn, stateful) {
            return Err((e, completion));
        }
        let before = self.state.holds();
        let mut ends_transaction = false;
        let block = match class {
            CommandClass::Normal => Some(Duration::ZERO),
            CommandClass::Blocking { block } => block,
            CommandClass::Stateful(kind) => {
                match kind {
                    StatefulKind::Watch => self.state.watching = true,
                    StatefulKind::Unwatch => self.state.watching = false,
                    StatefulKind::Multi => {
                        self.state.in_multi = true;
                        self.state.queued_writes = Default::default();
                        // Before MULTI is queued, so no re-authentication slips in after it.
                        conn.lock().in_transaction = true;
                    }
                    StatefulKind::Exec | StatefulKind::Discard => {
                        self.state.watching = false;
                        self.state.in_multi = false;
                        ends_transaction = true;
                    }
                    StatefulKind::Subscribe | StatefulKind::Monitor => {
                        return Err((
                            Error::invalid_argument(format!(
                                "{kind:?} turns the connection into a stream of pushes; \
                                 it is not supported on a dedicated connection yet"
                            )),
                            completion,
                        ));
                    }
                    _ => self.state.tainted = true,
                }
                Some(Duration::ZERO)
            }
        };
        let completion = match class {
            CommandClass::Stateful(StatefulKind::Exec) => self
                .state
                .exec_completion(self.engine.cache.as_ref(), completion),
            _ if forgets && self.state.in_multi && stateful.is_none() => {
                let (buf, lens) = &mut self.state.queued_writes;
                let start = buf.len();
                encode_command(buf, args);
                lens.push((buf.len() - start) as u32);
                completion
            }
            _ => completion,
        };
        let after = self.state.holds();
        if after {
            // Before the command is queued: a socket lost from now on takes the state along.
            conn.lock().session = true;
        }
        let deadline = self.engine.deadline(block);
        let meta = RequestMeta {
            deadline,
            retry_written: false,
            // It belongs to this connection: once given back (while it is unanswered), the
            // connection no longer counts as held, and a cluster node's connection would hand
            // it over to be sent on a shared one after a drop.
            pinned: true,
            session: before || after,
            forgets,
            ..RequestMeta::default()
        };
        let queued = self.engine.enqueue(
            conn,
            |buf| encode_command(buf, args),
            completion,
            meta,
            direct,
        );
        if !after {
            // Nothing left to lose (what is still pending is marked `session`).
            conn.lock().session = false;
        }
        if queued.is_err() {
            self.refused(conn);
        }
        queued?;
        if ends_transaction {
            self.engine.end_transaction(conn);
        }
        Ok(deadline)
    }

    /// A cluster client's command: takes the connection on its slot's primary when none is
    /// held yet, or checks that its keys hash to the slot the connection serves.
    fn pin(&mut self, args: &[&[u8]]) -> Result<()> {
        let slot = self.engine.command_slot(args)?;
        if self.unbound {
            return self.bind(slot);
        }
        let (Some(slot), Some(conn)) = (slot, self.conn.as_ref()) else {
            return Ok(());
        };
        match self.slot {
            Some(bound) if bound == slot => Ok(()),
            Some(bound) => Err(cross_slot_transaction(slot, bound)),
            None => {
                // Taken by a keyless command: keys are fine if their slot lives here.
                let nodes = self.engine.nodes.load();
                let here = self.engine.primary_of_slot(&nodes, slot)?;
                if here.id != conn.node {
                    return Err(Error::new(
                        ErrorKind::CrossSlotTransaction,
                        format!(
                            "hash slot {slot} is served by another node than the one this \
                             dedicated connection was taken on (by a keyless command)"
                        ),
                    ));
                }
                self.slot = Some(slot);
                Ok(())
            }
        }
    }

    /// The connection refused a command. When that is because a cluster node is down (past
    /// its retries), a refresh is asked for: the connection does not move (the server holds
    /// its state), but the next `dedicated_for_key` should find the slot's new owner.
    fn refused(&self, conn: &Conn) {
        if self.engine.cluster.is_some() && conn.lock().refuses(&self.engine.config).is_some() {
            self.engine.request_refresh();
        }
    }

    /// Takes the connection on the primary of `slot` (any primary for `None`).
    fn bind(&mut self, slot: Option<u16>) -> Result<()> {
        let nodes = self.engine.nodes.load();
        let pool = match slot {
            Some(slot) => self.engine.primary_of_slot(&nodes, slot)?,
            None => self.engine.some_primary(&nodes)?,
        };
        self.conn = Some(self.engine.acquire_held(pool)?);
        self.unbound = false;
        self.slot = slot;
        Ok(())
    }

    /// Gives the connection back: open transactions are discarded and watches dropped; a
    /// connection whose state was changed otherwise (SELECT, CLIENT REPLY, ...) is closed
    /// instead of reused.
    pub fn release(mut self) {
        self.release_inner();
    }

    fn release_inner(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let mut cleanup: Vec<&[u8]> = Vec::new();
        if self.state.in_multi {
            cleanup.push(b"*1\r\n$7\r\nDISCARD\r\n");
        }
        if self.state.watching {
            cleanup.push(b"*1\r\n$7\r\nUNWATCH\r\n");
        }
        let lost = conn.lock().session_lost;
        self.engine
            .release_held(conn, &cleanup, self.state.tainted || lost);
    }
}

impl Drop for Dedicated {
    fn drop(&mut self) {
        self.release_inner();
    }
}

/// Refuses to wait on a reactor thread (inside a callback): what is waited for would have to
/// come from the event loop that the wait holds up.
pub(crate) fn check_not_in_callback() -> Result<()> {
    if reactor::on_reactor_thread() {
        return Err(Error::invalid_argument(
            "a blocking call from a callback would deadlock the event loop; \
             submit asynchronously instead",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reactor_that_cannot_start_takes_the_started_ones_down() {
        let finished = Arc::new(AtomicUsize::new(0));
        let count = finished.clone();
        let spawn = move |name: String, f: Box<dyn FnOnce() + Send>| {
            if name.ends_with("-1") {
                return Err(std::io::Error::other("no more threads"));
            }
            let count = count.clone();
            std::thread::Builder::new().name(name).spawn(move || {
                f();
                count.fetch_add(1, Ordering::SeqCst);
            })
        };
        let config = Config {
            reactor_threads: 2,
            lazy_connect: true,
            ..Config::default()
        };
        let err = Client::with_spawner(config, &spawn).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(err.message().contains("no more threads"), "{err}");
        // The first reactor ran, was told to stop and was joined before the error returned.
        assert_eq!(finished.load(Ordering::SeqCst), 1);
    }

    /// In a build without TLS, a client asked for TLS (to its nodes or to its sentinels) is
    /// refused when it is created, even with a lazy connect: it never talks in plain text.
    #[cfg(not(feature = "tls"))]
    #[test]
    fn without_the_tls_feature_a_tls_client_is_refused() {
        let nodes = Config {
            tls: true,
            lazy_connect: true,
            ..Config::default()
        };
        let sentinels = Config {
            lazy_connect: true,
            sentinel: Some(crate::config::SentinelOptions {
                service_name: "mymaster".into(),
                sentinels: vec![Endpoint::Tcp {
                    host: "127.0.0.1".into(),
                    port: 26379,
                }],
                tls: Some(true),
                ..Default::default()
            }),
            ..Config::default()
        };
        for config in [nodes, sentinels] {
            let err = Client::new(config).err().expect("refused");
            assert_eq!(err.kind(), ErrorKind::Tls);
            assert!(err.message().contains("has no TLS"), "{err}");
        }
    }
}
