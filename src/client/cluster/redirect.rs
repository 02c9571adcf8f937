//! What nodes turn away (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, lost connections): decided by
//! `route::cluster::decide`, then sent on, kept for later, or failed; and the requests that
//! wait in the engine until their time.

#[allow(unused_imports)]
use super::*;

impl Engine {
    /// A request not sent (no node serves it now, or its node refuses new commands): decided
    /// as one a lost connection left unwritten, with a growing delay, a refresh and bounded
    /// attempts (`decide`).
    pub(super) fn retry_unsent(
        &self,
        completion: Completion,
        frame: Vec<u8>,
        meta: RequestMeta,
        cause: Error,
    ) {
        self.retry_waiting(Waiting::Command { completion, frame }, meta, cause);
    }

    /// `retry_unsent` for what waits, a command or a whole pipeline.
    pub(super) fn retry_waiting(&self, what: Waiting, mut meta: RequestMeta, cause: Error) {
        let cluster = self.cluster();
        let failure = Failure::Connection {
            error: &cause,
            written: false,
        };
        let attempt = u32::from(meta.redirects) + 1;
        let err = match decide(failure, attempt, meta.read_only, false, &cluster.policy) {
            Decision::Retry { after, refresh, .. } => {
                meta.redirects = meta.redirects.saturating_add(1);
                if refresh {
                    // First: the wake-up `wait` sends also makes a reactor see a deferred
                    // refresh (this may be a caller's thread).
                    self.request_refresh();
                }
                self.wait(after, what, meta, RetryTo::Slot, cause, None);
                return;
            }
            Decision::Fail(err) => err,
            Decision::Deliver => cause,
        };
        let mut completions = Vec::new();
        what.fail(err, &mut completions);
        self.deliver_now(completions);
    }

    /// Keeps a request until `after` has passed; then it goes where `to` says.
    fn wait(
        &self,
        after: Duration,
        what: Waiting,
        meta: RequestMeta,
        to: RetryTo,
        cause: Error,
        from: Option<Endpoint>,
    ) {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            // Shut down (`Client::shutdown`): nothing waits for a retry that will not come.
            let mut completions = Vec::new();
            what.fail(crate::reactor::completion::closed_error(), &mut completions);
            self.deliver_now(completions);
            return;
        }
        let delayed = Delayed {
            due: Instant::now() + after,
            what,
            meta,
            to,
            cause,
            from,
        };
        self.cluster().delayed.lock().unwrap().push(delayed);
        // A reactor may sleep without a timer for it.
        self.reactors[0].notify(Msg::Timers);
    }

    /// Runs completions on a reactor thread (never on a caller's, never under a lock): this
    /// one when called on one (the first may have shut down already, and what it was sent
    /// would be dropped unrun), else the first.
    pub(in crate::client) fn deliver_now(&self, completions: Vec<(Completion, Result<Reply>)>) {
        if completions.is_empty() {
            return;
        }
        let msg = Msg::Deliver(completions, Vec::new());
        match crate::reactor::this_reactor(self as *const Engine as *const ()) {
            Some(here) => here.notify(msg),
            None => self.reactors[0].notify(msg),
        }
    }

    /// The reactor's detours: each is decided (`route::cluster::decide`) and sent on, kept
    /// for later, or failed into `completions`. A notice (of a request that may not move) is
    /// only learnt from: a MOVED patches the slot map, and a refresh is asked for as for a
    /// request that would be sent on.
    pub(in crate::client) fn on_cluster_detours(
        &self,
        detours: &mut Vec<Detour>,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    ) {
        let cluster = self.cluster();
        let retry_written = self.config.retry.retry_written_commands;
        let mut suspected = Vec::new();
        for detour in detours.drain(..) {
            if detour.notice && detour.cause.kind() == ErrorKind::Timeout {
                // A command timed out on that node: it may hang (a paused primary) while its
                // replica is promoted, which only a new topology tells. Ask for one, other
                // nodes first (as redis-py does on a timeout).
                if let Some(pool) = self.nodes.load().by_id(detour.node) {
                    self.mark_failed(&pool.endpoint);
                }
                self.request_refresh();
                continue;
            }
            let mut detour = detour;
            if !detour.notice && detour.cause.unblocked_by_role_change() {
                // Dropped by a primary turned replica: a command blocked on keys goes on at
                // the new primary, with its block time from now; anything else (WAIT) fails.
                if !self.restart_blocked(&detour.frame, &mut detour.meta) {
                    completions.push((detour.completion, Err(detour.cause)));
                    continue;
                }
            }
            // A notice of a lost connection: nothing was sent again.
            if detour.refused || !detour.notice {
                cluster.count(&detour.cause, detour.refused);
            }
            let failure = if detour.refused {
                Failure::Reply(&detour.cause)
            } else {
                Failure::Connection {
                    error: &detour.cause,
                    written: detour.written,
                }
            };
            let pool = self.nodes.load().by_id(detour.node).cloned();
            let from = pool.as_ref().map(|p| p.endpoint.clone());
            if let (false, Some(pool)) = (detour.refused, &pool) {
                self.mark_failed(&pool.endpoint);
                if !suspected.contains(&pool.id) {
                    suspected.push(pool.id);
                    suspect_siblings(pool);
                }
            }
            // A notice is learnt from however often its request went round.
            let attempt = match detour.notice {
                true => 1,
                false => u32::from(detour.meta.redirects) + 1,
            };
            let decision = decide(
                failure,
                attempt,
                detour.meta.read_only,
                retry_written,
                &cluster.policy,
            );
            match decision {
                Decision::Deliver => completions.push((detour.completion, Err(detour.cause))),
                Decision::Fail(err) => completions.push((detour.completion, Err(err))),
                Decision::Retry { to, after, refresh } => {
                    if let RetryTo::Moved { slot, addr } = &to {
                        self.apply_moved(*slot, addr, from.as_ref());
                    }
                    if refresh {
                        self.request_refresh();
                    }
                    if detour.notice {
                        // It failed where it was (it may not move): the next one goes where
                        // the patched slot map or the refresh says.
                        continue;
                    }
                    let mut meta = detour.meta;
                    meta.redirects = meta.redirects.saturating_add(1);
                    let what = Waiting::Command {
                        completion: detour.completion,
                        frame: detour.frame,
                    };
                    if after.is_zero() {
                        let delayed = Delayed {
                            due: Instant::now(),
                            what,
                            meta,
                            to,
                            cause: detour.cause,
                            from,
                        };
                        self.resend(delayed, completions);
                    } else {
                        self.wait(after, what, meta, to, detour.cause, from);
                    }
                }
            }
        }
    }

    /// Sends a waiting or redirected request where its `to` says.
    pub(super) fn resend(&self, d: Delayed, completions: &mut Vec<(Completion, Result<Reply>)>) {
        if d.meta.deadline.is_some_and(|t| t <= Instant::now()) {
            // Still TIMEOUT (what the caller's deadline gave), naming why it was waiting.
            let err = Error::new(
                ErrorKind::Timeout,
                format!(
                    "the command timed out waiting to be sent again; last: {}",
                    d.cause
                ),
            );
            d.what.fail(err, completions);
            return;
        }
        let (completion, frame) = match d.what {
            Waiting::Command { completion, frame } => (completion, frame),
            Waiting::Whole {
                pipeline,
                run,
                slot,
            } => {
                let sent = self.send_whole(&pipeline, &run, slot, d.meta);
                if let Err(err) = sent {
                    completions.extend(run.failed_slots(&err));
                }
                return;
            }
        };
        let Some(args) = frame_args(&frame) else {
            let err = Error::new(ErrorKind::Internal, "a redirected frame is malformed");
            completions.push((completion, Err(err)));
            return;
        };
        // A blocking command holds its connection until it is served: wherever it is sent
        // on, it goes on a dedicated connection, never on a node's shared one.
        let blocking = matches!(classify(args.as_slice()), Ok(CommandClass::Blocking { .. }));
        match &d.to {
            RetryTo::Ask { addr } => {
                let pool = self.pool_for_addr(addr, d.from.as_ref());
                let Some(pool) = pool else {
                    // A node we do not know yet: route again once the topology names it.
                    self.retry_unsent(completion, frame, d.meta, d.cause);
                    return;
                };
                let sent = if blocking {
                    self.submit_dedicated_asking(&pool, &frame, completion, d.meta)
                } else {
                    let write = |buf: &mut Vec<u8>| buf.extend_from_slice(&frame);
                    self.enqueue_asking(pool.pick(), None, write, completion, d.meta)
                };
                match sent {
                    Ok(()) => {}
                    // Dedicated connections are turned off: nothing to wait for.
                    Err((err, completion)) if err.kind() == ErrorKind::MaxConnections => {
                        completions.push((completion, Err(err)))
                    }
                    Err((err, completion)) => self.retry_unsent(completion, frame, d.meta, err),
                }
            }
            RetryTo::Slot | RetryTo::Moved { .. } => {
                let dispatched =
                    self.dispatch(args.as_slice(), Some(&frame), completion, d.meta, blocking);
                if let Err((err, completion)) = dispatched {
                    completions.push((completion, Err(err)));
                }
            }
        }
    }

    /// Appends `ASKING` and then the command `write` encodes to `conn`, in one critical
    /// section: ASKING holds for the next command on the connection, so nothing may come
    /// between them. `lease` is set in the same section (see `enqueue_leased`).
    pub(in crate::client) fn enqueue_asking(
        &self,
        conn: &Arc<crate::reactor::Conn>,
        lease: Option<crate::reactor::Lease>,
        write: impl FnOnce(&mut Vec<u8>),
        completion: Completion,
        meta: RequestMeta,
    ) -> std::result::Result<(), (Error, Completion)> {
        let asking = RequestMeta {
            pinned: true,
            deadline: meta.deadline,
            ..RequestMeta::default()
        };
        let mut st = conn.lock();
        if let Some(err) = st.refuses(&self.config) {
            return Err((err, completion));
        }
        if let Some(lease) = lease {
            st.lease = lease;
        }
        st.ex.enqueue_frame(
            crate::reactor::conn::ASKING_FRAME,
            Completion::Ignore,
            asking,
        );
        st.ex.enqueue(write, completion, meta);
        let notify = self.after_enqueue(&mut st, false, conn.reactor, false, None);
        drop(st);
        if notify {
            self.reactors[conn.reactor].flush(conn.clone());
        }
        Ok(())
    }

    /// The pool of a node named by a redirection (an empty host is the node that answered).
    pub(super) fn pool_for_addr(
        &self,
        addr: &NodeAddr,
        from: Option<&Endpoint>,
    ) -> Option<Arc<NodePool>> {
        let host = match (addr.host.as_str(), from) {
            ("", Some(Endpoint::Tcp { host, .. })) => host.clone(),
            (host, _) => host.to_string(),
        };
        let (host, port) = self.remap(&host, addr.port);
        let endpoint = Endpoint::Tcp { host, port };
        self.nodes
            .load()
            .pools
            .iter()
            .find(|p| p.endpoint == endpoint)
            .cloned()
    }

    pub(super) fn remap(&self, host: &str, port: u16) -> (String, u16) {
        match &self.cluster().options.address_remap {
            Some(remap) => remap.remap(host, port),
            None => (host.to_string(), port),
        }
    }

    /// MOVED: the slot belongs to `addr` now. The published topology is patched at once, so
    /// the next commands for that slot go there without waiting for the refresh.
    pub(super) fn apply_moved(&self, slot: u16, addr: &NodeAddr, from: Option<&Endpoint>) {
        let cluster = self.cluster();
        let _publishing = cluster.publish.lock().unwrap();
        let nodes = self.nodes.load();
        let Some(topology) = nodes.topology.as_deref() else {
            return;
        };
        let host = match (addr.host.as_str(), from) {
            ("", Some(Endpoint::Tcp { host, .. })) => host.clone(),
            (host, _) => host.to_string(),
        };
        let (host, port) = self.remap(&host, addr.port);
        let target = NodeAddr { host, port };
        if let Some(shard) = topology.slot_shard(slot) {
            if topology.node(shard.primary).addr == target {
                return; // patched already (by an earlier MOVED for this slot)
            }
        }
        let patched = topology.with_moved(slot, &target);
        self.publish_topology(&nodes, patched);
    }

    /// A connection to node `id` was lost: its siblings are checked before their next write.
    pub(in crate::client) fn suspect_node(&self, id: u64) {
        if let Some(pool) = self.nodes.load().by_id(id) {
            suspect_siblings(pool);
        }
    }

    /// Sends the waiting requests that are due (all of them when `all`: a topology came).
    pub(super) fn run_delayed(&self, all: bool) {
        let now = Instant::now();
        let due: Vec<Delayed> = {
            let mut delayed = self.cluster().delayed.lock().unwrap();
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut *delayed)
                .into_iter()
                .partition(|d| all || d.due <= now || d.meta.deadline.is_some_and(|t| t <= now));
            *delayed = later;
            due
        };
        if due.is_empty() {
            return;
        }
        let mut completions = Vec::new();
        for d in due {
            self.resend(d, &mut completions);
        }
        self.deliver_now(completions);
    }

    /// The cluster's earliest timer: a waiting request, or the refresh schedule.
    pub(in crate::client) fn cluster_next_deadline(&self) -> Option<Instant> {
        let cluster = self.cluster();
        let delayed = cluster
            .delayed
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.meta.deadline.map_or(d.due, |t| t.min(d.due)))
            .min();
        let refresh = cluster.schedule.lock().unwrap().next_due();
        [delayed, refresh].into_iter().flatten().min()
    }

    /// True when requests wait for their time (a retry's delay, a topology).
    pub(in crate::client) fn cluster_has_delayed(&self) -> bool {
        !self.cluster().delayed.lock().unwrap().is_empty()
    }

    /// The cluster's timers: waiting requests that are due, a periodic or deferred refresh.
    pub(in crate::client) fn cluster_timers(&self, now: Instant) {
        let refresh = self.cluster().schedule.lock().unwrap().poll(now);
        if refresh {
            self.start_refresh();
        }
        self.run_delayed(false);
    }

    /// Fails every waiting request (shutdown).
    pub(in crate::client) fn cluster_fail_waiting(
        &self,
        err: &Error,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    ) {
        let delayed = std::mem::take(&mut *self.cluster().delayed.lock().unwrap());
        for d in delayed {
            d.what.fail(err.clone(), completions);
        }
    }
}

/// A connection to `pool`'s node was lost: its other connections are checked for a hang-up
/// before their next write (the node may be dead: a process killed closes every socket).
fn suspect_siblings(pool: &NodePool) {
    for conn in pool.node_conns() {
        let mut st = conn.lock();
        if matches!(st.phase, crate::reactor::Phase::Ready) {
            st.suspect = true;
        }
    }
}
