//! Discovery rounds: every known sentinel is asked at once for `SENTINEL MASTER`,
//! `SENTINEL REPLICAS` and `SENTINEL SENTINELS` of the service; `route::sentinel::Discovery`
//! weighs the answers as they come, and the first outcome is carried out: the master (and
//! replicas) published, the sentinel list reordered and extended, held requests sent on. One
//! round at a time; triggers while one runs collapse into one more (`RefreshSchedule`).

#[allow(unused_imports)]
use super::*;

use crate::resp::Reply;
use crate::route::sentinel::{Discovery, Found, InstanceState, SentinelAnswer};

/// One round's state, shared by the completions of its commands.
struct Round {
    discovery: Discovery,
    /// Per sentinel, the replies to MASTER, REPLICAS and SENTINELS as they come.
    replies: Vec<[Option<Result<Reply>>; 3]>,
}

/// A sentinel's three replies, read.
fn answer_of(replies: &[Option<Result<Reply>>; 3]) -> Result<SentinelAnswer> {
    let read = |i: usize| match &replies[i] {
        Some(Ok(reply)) => Ok(reply),
        Some(Err(e)) => Err(e.clone()),
        None => Err(Error::new(ErrorKind::Internal, "a reply is missing")),
    };
    let master = match read(0) {
        Ok(reply) => InstanceState::parse(reply.value()),
        // The sentinel's own refusal (it does not monitor the service, NOAUTH, ...).
        Err(e) if e.kind().is(ErrorKind::Response) => Err(e),
        Err(e) => return Err(e),
    };
    let list = |i: usize| {
        read(i)
            .and_then(|reply| InstanceState::parse_list(reply.value()))
            .unwrap_or_default()
    };
    Ok(SentinelAnswer {
        master,
        replicas: list(1),
        sentinels: list(2),
    })
}

impl Engine {
    /// Asks for a discovery: it starts now unless one runs or one started less than
    /// `DISCOVERY_GAP` ago (then one more runs after it).
    pub(in crate::client) fn request_discovery(&self) {
        let start = self
            .sentinel()
            .schedule
            .lock()
            .unwrap()
            .trigger(Instant::now());
        if start {
            self.start_discovery();
        } else {
            // A reactor may sleep without a timer for the deferred one.
            self.reactors[0].notify(Msg::Timers);
        }
    }

    /// Sends the round's three commands to every known sentinel.
    pub(super) fn start_discovery(&self) {
        let sentinel = self.sentinel();
        sentinel
            .counters
            .discoveries
            .fetch_add(1, Ordering::Relaxed);
        let targets: Vec<(NodeAddr, Arc<NodePool>)> = sentinel
            .sentinels
            .lock()
            .unwrap()
            .iter()
            .map(|n| (n.addr.clone(), n.pool.clone()))
            .collect();
        let addrs = targets.iter().map(|(addr, _)| addr.clone()).collect();
        let round = Arc::new(Mutex::new(Round {
            discovery: Discovery::new(sentinel.rules.clone(), addrs),
            replies: (0..targets.len()).map(|_| [None, None, None]).collect(),
        }));
        if targets.is_empty() {
            let outcome = round.lock().unwrap().discovery.poll_outcome();
            if let Some(Err(err)) = outcome {
                self.discovery_failed(err);
            }
            return;
        }
        // A sentinel that does not answer within the connect timeout counts as failed.
        let meta = sentinel_request(self.config.connect_timeout);
        let service = sentinel.options.service_name.as_bytes();
        let queries: [[&[u8]; 3]; 3] = [
            [b"SENTINEL", b"MASTER", service],
            [b"SENTINEL", b"REPLICAS", service],
            [b"SENTINEL", b"SENTINELS", service],
        ];
        for (i, (_, pool)) in targets.iter().enumerate() {
            for (k, query) in queries.iter().enumerate() {
                let engine = self.me.clone();
                let round = round.clone();
                let done = move |result: Result<Reply>| {
                    if let Some(engine) = engine.upgrade() {
                        engine.sentinel_reply(&round, i, k, result);
                    }
                };
                let sent = self.enqueue(
                    pool.pick(),
                    |buf| encode_command(buf, query),
                    Completion::Boxed(Box::new(done)),
                    meta,
                    false,
                );
                if let Err((err, completion)) = sent {
                    completion.run(Err(err));
                }
            }
        }
    }

    /// One reply of a round; a sentinel's answer counts once its three replies are in.
    fn sentinel_reply(&self, round: &Mutex<Round>, i: usize, k: usize, result: Result<Reply>) {
        let decided = {
            let mut round = round.lock().unwrap();
            round.replies[i][k] = Some(result);
            if round.replies[i].iter().any(Option::is_none) {
                return;
            }
            let answer = answer_of(&round.replies[i]);
            round.discovery.handle_answer(i, answer);
            round.discovery.poll_outcome().map(|outcome| {
                let missing = match &outcome {
                    Ok(found) if found.replicas.is_empty() => {
                        Some(round.discovery.replica_not_found(&found.master))
                    }
                    _ => None,
                };
                (outcome, missing)
            })
        };
        match decided {
            Some((Ok(found), missing)) => self.discovered(found, missing),
            Some((Err(err), _)) => self.discovery_failed(err),
            None => {}
        }
    }

    /// A round found the master: publish it (and the replicas), reorder the sentinels, and
    /// send what waited.
    fn discovered(&self, found: Found, no_replica: Option<Error>) {
        let sentinel = self.sentinel();
        self.reorder_sentinels(&found.sentinels);
        let held = {
            let mut watch = sentinel.watch.lock().unwrap();
            watch.handle_discovered(&found.master);
            watch.is_fenced()
        };
        {
            let _publishing = sentinel.publish.lock().unwrap();
            self.publish_service(Some(found.master), found.replicas, held);
        }
        let replica_client = sentinel.role() == SentinelRole::Replica;
        *sentinel.last_error.lock().unwrap() =
            no_replica.filter(|_| replica_client && !sentinel.options.replica_fallback);
        sentinel
            .schedule
            .lock()
            .unwrap()
            .finished(Instant::now(), true);
        sentinel.finished.fetch_add(1, Ordering::SeqCst);
        self.resend_parked(true);
    }

    /// A round found no master: commands keep going to the one known (if any); those that
    /// wait fail with this error when their time runs out. Another round follows soon.
    fn discovery_failed(&self, err: Error) {
        let sentinel = self.sentinel();
        sentinel
            .counters
            .discovery_failures
            .fetch_add(1, Ordering::Relaxed);
        *sentinel.last_error.lock().unwrap() = Some(err);
        sentinel
            .schedule
            .lock()
            .unwrap()
            .finished(Instant::now(), false);
        sentinel.finished.fetch_add(1, Ordering::SeqCst);
        self.reactors[0].notify(Msg::Timers);
    }

    /// Puts the sentinels in `order` (those that answered first), adding the new ones.
    fn reorder_sentinels(&self, order: &[NodeAddr]) {
        let missing: Vec<NodeAddr> = {
            let mut nodes = self.sentinel().sentinels.lock().unwrap();
            nodes.sort_by_key(|n| {
                order
                    .iter()
                    .position(|a| *a == n.addr)
                    .unwrap_or(usize::MAX)
            });
            order
                .iter()
                .filter(|a| !nodes.iter().any(|n| n.addr == **a))
                .cloned()
                .collect()
        };
        for addr in missing {
            self.add_sentinel(addr);
        }
    }
}
