//! The topology: asked of the known nodes in turn (those that failed lately last), published
//! as a new node set when it changed (pools opened for new nodes, retired for nodes that
//! left), and the server's COMMAND table fetched once.

#[allow(unused_imports)]
use super::*;

/// How soon a topology is read again while some replica is not serving yet.
const REPLICA_SYNC_RECHECK: Duration = Duration::from_secs(1);

impl Engine {
    /// Publishes a node set for `topology`: pools kept for nodes it still names, opened for
    /// new ones, retired for those it no longer names. The caller holds `publish`.
    pub(super) fn publish_topology(&self, old: &NodeSet, topology: Topology) {
        let mut pools = Vec::with_capacity(topology.nodes().len());
        let mut opened = Vec::new();
        for node in topology.nodes() {
            let endpoint = endpoint_of(&node.addr);
            // The name a node's TLS certificate is checked against: its announced hostname.
            // It may come after the node (a MOVED gives only an address), and a pool keeps
            // the name it was made with, so a pool with another name is replaced.
            let name = node.hostname.clone().filter(|_| self.tls.is_some());
            let same = |p: &&Arc<NodePool>| p.endpoint == endpoint && p.server_name == name;
            match old.pools.iter().find(same) {
                Some(pool) => pools.push(pool.clone()),
                None => {
                    let pool = self.new_pool(endpoint, name);
                    opened.push(pool.clone());
                    pools.push(pool);
                }
            }
        }
        let gone: Vec<Arc<NodePool>> = old
            .pools
            .iter()
            .filter(|p| !pools.iter().any(|q| Arc::ptr_eq(p, q)))
            .cloned()
            .collect();
        self.nodes.store(Arc::new(NodeSet {
            pools,
            topology: Some(Arc::new(topology)),
            service: None,
        }));
        self.cluster()
            .counters
            .topology_changes
            .fetch_add(1, Ordering::Relaxed);
        for pool in &opened {
            self.adopt(pool);
        }
        for pool in gone {
            self.retire_pool(&pool);
        }
        self.topology_settled(true);
    }

    /// A node left the topology: its connections close once what is in flight on them is
    /// answered (unwritten requests and later redirections move to the new owners).
    pub(super) fn retire_pool(&self, pool: &NodePool) {
        for conn in pool.node_conns() {
            self.reactors[conn.reactor].notify(Msg::Retire(conn.clone()));
        }
        let mut completions = Vec::new();
        let err = Error::new(
            ErrorKind::Connection,
            format!(
                "{} left the cluster",
                crate::net::endpoint_name(&pool.endpoint)
            ),
        );
        for conn in pool.dedicated.retire_idle() {
            self.reactors[conn.reactor].notify(Msg::Retire(conn));
        }
        pool.dedicated.fail_all(&err, &mut completions);
        self.deliver_now(completions);
    }

    pub(super) fn mark_failed(&self, endpoint: &Endpoint) {
        let mut failed = self.cluster().failed.lock().unwrap();
        if !failed.contains(endpoint) {
            failed.push(endpoint.clone());
        }
    }

    /// Asks for a topology refresh; one runs at a time, and triggers while it runs collapse
    /// into at most one more.
    pub(in crate::client) fn request_refresh(&self) {
        let start = self
            .cluster()
            .schedule
            .lock()
            .unwrap()
            .trigger(Instant::now());
        if start {
            self.start_refresh();
        } else if !crate::reactor::on_reactor_of(self as *const Engine as *const ()) {
            // Deferred (one ran a moment ago): a reactor that sleeps without a timer must
            // learn when it is due. A reactor thread looks at the timers after its turn.
            self.reactors[0].notify(Msg::Timers);
        }
    }

    /// Asks the known nodes for the topology in turn (those that failed lately last) until
    /// one answers.
    pub(super) fn start_refresh(&self) {
        self.cluster()
            .counters
            .refreshes
            .fetch_add(1, Ordering::Relaxed);
        let nodes = self.nodes.load();
        let failed = self.cluster().failed.lock().unwrap().clone();
        let mut order: Vec<Arc<NodePool>> = nodes.pools.clone();
        if let Some(topology) = nodes.topology.as_deref() {
            // Primaries first: they know their own slots best.
            order.sort_by_key(|p| {
                let index = nodes.pools.iter().position(|q| Arc::ptr_eq(p, q));
                let primary = index.is_some_and(|i| topology.node(i).primary);
                (failed.contains(&p.endpoint), !primary)
            });
        } else {
            order.sort_by_key(|p| failed.contains(&p.endpoint));
        }
        self.ask_topology(order, 0, Vec::new(), true);
    }

    /// Sends CLUSTER SHARDS (or CLUSTER SLOTS, `shards` false) to `order[i]`.
    pub(super) fn ask_topology(
        &self,
        order: Vec<Arc<NodePool>>,
        i: usize,
        errors: Vec<String>,
        shards: bool,
    ) {
        let mut errors = errors;
        let mut i = i;
        while let Some(pool) = order.get(i) {
            let engine = self.me.clone();
            let asked = pool.clone();
            let order_next = order.clone();
            let errors_next = errors.clone();
            let answer = move |result: Result<Reply>| {
                if let Some(engine) = engine.upgrade() {
                    engine.topology_answer(order_next, i, errors_next, shards, &asked, result);
                }
            };
            let command: &[&[u8]] = if shards {
                &[b"CLUSTER", b"SHARDS"]
            } else {
                &[b"CLUSTER", b"SLOTS"]
            };
            let meta = RequestMeta {
                deadline: Some(
                    Instant::now()
                        + self
                            .config
                            .command_timeout
                            .unwrap_or(Duration::from_secs(5)),
                ),
                pinned: true,
                ..RequestMeta::default()
            };
            match self.enqueue(
                pool.pick(),
                |buf| encode_command(buf, command),
                Completion::Boxed(Box::new(answer)),
                meta,
                false,
            ) {
                Ok(()) => return,
                Err((err, _)) => {
                    errors.push(format!(
                        "{}: {}",
                        crate::net::endpoint_name(&pool.endpoint),
                        err.message()
                    ));
                    i += 1;
                }
            }
        }
        self.refresh_failed(errors);
    }

    pub(super) fn topology_answer(
        &self,
        order: Vec<Arc<NodePool>>,
        i: usize,
        mut errors: Vec<String>,
        shards: bool,
        asked: &NodePool,
        result: Result<Reply>,
    ) {
        let Endpoint::Tcp { host, port } = &asked.endpoint else {
            return self.refresh_failed(errors);
        };
        let asked_addr = NodeAddr {
            host: host.clone(),
            port: *port,
        };
        let remap = |addr: &NodeAddr| {
            let (host, port) = self.remap(&addr.host, addr.port);
            NodeAddr { host, port }
        };
        let parsed = result.and_then(|reply| {
            if shards {
                Topology::from_cluster_shards(reply.value(), &asked_addr, self.config.tls, &remap)
            } else {
                Topology::from_cluster_slots(reply.value(), &asked_addr, &remap)
            }
        });
        match parsed {
            Ok(topology) if topology.covered_slots() > 0 => {
                self.apply_topology(topology);
            }
            Ok(_) => {
                errors.push(format!(
                    "{}: the node serves no slot yet",
                    crate::net::endpoint_name(&asked.endpoint)
                ));
                self.ask_topology(order, i + 1, errors, true);
            }
            // Servers before 7.0 have no CLUSTER SHARDS.
            Err(e) if shards && e.kind() == ErrorKind::Response => {
                self.ask_topology(order, i, errors, false);
            }
            Err(e) => {
                errors.push(format!(
                    "{}: {}",
                    crate::net::endpoint_name(&asked.endpoint),
                    e.message()
                ));
                self.ask_topology(order, i + 1, errors, true);
            }
        }
    }

    pub(super) fn apply_topology(&self, topology: Topology) {
        let cluster = self.cluster();
        let syncing_replicas = topology
            .shards()
            .iter()
            .flat_map(|shard| &shard.replicas)
            .any(|&r| !topology.node(r).healthy);
        let changed = {
            let _publishing = cluster.publish.lock().unwrap();
            let nodes = self.nodes.load();
            let unchanged = nodes
                .topology
                .as_deref()
                .is_some_and(|t| t.same_shape(&topology));
            if !unchanged {
                self.publish_topology(&nodes, topology);
            }
            !unchanged
        };
        *cluster.last_refresh_error.lock().unwrap() = None;
        cluster.failed.lock().unwrap().clear();
        let now = Instant::now();
        let mut schedule = cluster.schedule.lock().unwrap();
        schedule.finished(now, true);
        if syncing_replicas && cluster.read_from() != ReadFrom::Primary {
            // Replicas still syncing serve no reads yet: look again soon rather than an
            // interval later.
            schedule.due_by(now + REPLICA_SYNC_RECHECK);
        }
        drop(schedule);
        self.fetch_command_table();
        if changed {
            // Requests that waited for the topology to move go now.
            self.run_delayed(true);
        } else {
            // Streams check their nodes after every refresh, a change or not.
            self.topology_settled(false);
        }
    }

    pub(super) fn refresh_failed(&self, errors: Vec<String>) {
        let cluster = self.cluster();
        let message = if errors.is_empty() {
            "no node to ask for the cluster's topology".to_string()
        } else {
            format!("no node answered with the topology ({})", errors.join("; "))
        };
        *cluster.last_refresh_error.lock().unwrap() =
            Some(Error::new(ErrorKind::Connection, message));
        cluster
            .schedule
            .lock()
            .unwrap()
            .finished(Instant::now(), false);
        self.reactors[0].notify(Msg::Timers);
    }

    /// Once per client: the server's COMMAND table replaces the built-in one (it knows the
    /// server's own and its modules' commands).
    pub(super) fn fetch_command_table(&self) {
        let cluster = self.cluster();
        if cluster.table_fetched.swap(true, Ordering::SeqCst) {
            return;
        }
        let nodes = self.nodes.load();
        let Some(topology) = nodes.topology.as_deref() else {
            return;
        };
        let Some(pool) = self.any_primary(cluster, &nodes, topology) else {
            return;
        };
        let engine = self.me.clone();
        let answer = move |result: Result<Reply>| {
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let table = result.and_then(|reply| CommandTable::from_command_reply(reply.value()));
            match table {
                Ok(table) => engine.cluster().table.store(Arc::new(table)),
                // The built-in table stays; ask again with the next topology.
                Err(_) => engine
                    .cluster()
                    .table_fetched
                    .store(false, Ordering::SeqCst),
            }
        };
        let meta = RequestMeta {
            pinned: true,
            ..RequestMeta::default()
        };
        let sent = self.enqueue(
            pool.pick(),
            |buf| encode_command(buf, &["COMMAND"]),
            Completion::Boxed(Box::new(answer)),
            meta,
            false,
        );
        if sent.is_err() {
            // Not asked after all: the next topology asks again.
            cluster.table_fetched.store(false, Ordering::SeqCst);
        }
    }

    /// Waits until the first topology is known (client creation), or fails with why not.
    pub(in crate::client) fn wait_topology(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if self.nodes.load().topology.is_some() {
                return Ok(());
            }
            let cluster = self.cluster();
            let idle = !cluster.schedule.lock().unwrap().running();
            if let Some(err) = cluster.last_refresh_error.lock().unwrap().clone() {
                if idle {
                    return Err(err);
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "timed out waiting for the cluster's topology",
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
