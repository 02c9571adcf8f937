//! The sentinels' events: a subscription on every sentinel's connection (RESP3, so the same
//! connection carries the discovery's commands and the events, as pushes), renewed on each
//! new socket, and the events acted on: a failover of the master holds its commands, a new
//! master, a replica down or back, a failover given up, ask for a discovery.
//!
//! The subscription is one request holding two commands, `SUBSCRIBE <channels>` and `PING`:
//! in RESP3 the confirmations are pushes, so `PING`'s reply is the request's one reply and
//! the exchange stays paired. A sentinel that speaks only RESP2 gets no subscription; the
//! periodic discovery stands in for its events.

#[allow(unused_imports)]
use super::*;

use crate::reactor::{Conn, Phase};
use crate::resp::{Kind, Reply};
use crate::route::sentinel::{SentinelEvent, CHANNELS};

/// How often the subscriptions are looked after: while one is missing, and when all are up
/// (a sentinel's lost connection is noticed within this time, then a discovery runs).
const LISTEN_BUSY: Duration = Duration::from_millis(100);
const LISTEN_IDLE: Duration = Duration::from_secs(1);

impl Engine {
    /// Subscribes on every sentinel connection that is up and not subscribed on its current
    /// socket.
    pub(super) fn look_after_subscriptions(&self, now: Instant) {
        let sentinel = self.sentinel();
        *sentinel.last_listen.lock().unwrap() = Some(now);
        let mut wanted = Vec::new();
        {
            let mut nodes = sentinel.sentinels.lock().unwrap();
            for node in nodes.iter_mut() {
                let conn = &node.pool.conns[0];
                let (ready, epoch, protocol) = {
                    let st = conn.lock();
                    (matches!(st.phase, Phase::Ready), st.epoch, st.protocol)
                };
                if node.subscribed != Some(epoch) {
                    node.subscribed = None;
                }
                if !ready || node.subscribed.is_some() || node.subscribing == Some(epoch) {
                    continue;
                }
                node.resp2 = protocol != 3;
                if !node.resp2 {
                    node.subscribing = Some(epoch);
                    wanted.push((conn.clone(), node.addr.clone(), epoch));
                }
            }
        }
        for (conn, addr, epoch) in wanted {
            self.subscribe(&conn, addr, epoch);
        }
    }

    /// When the subscriptions are next looked after (`None`: now, they never were).
    pub(super) fn next_listen(&self) -> Option<Instant> {
        let sentinel = self.sentinel();
        let last = (*sentinel.last_listen.lock().unwrap())?;
        let all = sentinel
            .sentinels
            .lock()
            .unwrap()
            .iter()
            .all(|n| n.subscribed.is_some() || n.resp2);
        Some(last + if all { LISTEN_IDLE } else { LISTEN_BUSY })
    }

    fn subscribe(&self, conn: &Arc<Conn>, addr: NodeAddr, epoch: u64) {
        let engine = self.me.clone();
        let confirmed = addr.clone();
        let done = move |result: Result<Reply>| {
            if let Some(engine) = engine.upgrade() {
                engine.subscription_answered(&confirmed, epoch, result.is_ok());
            }
        };
        let meta = sentinel_request(self.config.command_timeout);
        let frame = |buf: &mut Vec<u8>| {
            let mut args: Vec<&str> = vec!["SUBSCRIBE"];
            args.extend_from_slice(CHANNELS);
            encode_command(buf, &args);
            encode_command(buf, &["PING"]);
        };
        if let Err((_, completion)) =
            self.enqueue(conn, frame, Completion::Boxed(Box::new(done)), meta, false)
        {
            drop(completion);
            self.subscription_answered(&addr, epoch, false);
        }
    }

    /// The subscription on `addr`'s socket of `epoch` was confirmed (or failed).
    fn subscription_answered(&self, addr: &NodeAddr, epoch: u64, ok: bool) {
        {
            let mut nodes = self.sentinel().sentinels.lock().unwrap();
            let Some(node) = nodes.iter_mut().find(|n| n.addr == *addr) else {
                return;
            };
            if node.subscribing == Some(epoch) {
                node.subscribing = None;
            }
            if !ok {
                return;
            }
            node.subscribed = Some(epoch);
        }
        // Events may have been missed while there was no subscription.
        self.request_discovery();
    }

    /// A push that may come from a sentinel: its events are acted on, and they and the
    /// subscription's confirmations are consumed (true); anything else is not (false).
    pub(in crate::client) fn sentinel_push(&self, reply: &Reply) -> bool {
        let value = reply.value();
        if value.kind() != Kind::Push {
            return false;
        }
        let ours = value
            .get(1)
            .and_then(|c| c.as_str())
            .is_some_and(|c| CHANNELS.contains(&c));
        match value.get(0).and_then(|v| v.as_bytes()) {
            Some(b"subscribe") if ours => true,
            Some(b"message") if ours => {
                if let Some(event) = SentinelEvent::from_push(value) {
                    self.on_sentinel_event(&event);
                }
                true
            }
            _ => false,
        }
    }

    fn on_sentinel_event(&self, event: &SentinelEvent) {
        let sentinel = self.sentinel();
        if event.service() != sentinel.options.service_name {
            return;
        }
        sentinel.counters.events.fetch_add(1, Ordering::Relaxed);
        let master = {
            let nodes = self.nodes.load();
            let view = nodes.service.as_ref();
            view.and_then(|v| v.master)
                .and_then(|i| nodes.pools.get(i))
                .and_then(|p| addr_of(&p.endpoint))
        };
        let (reaction, held) = {
            let mut watch = sentinel.watch.lock().unwrap();
            let reaction = watch.handle_event(event, master.as_ref(), Instant::now());
            (reaction, watch.is_fenced())
        };
        if reaction.fence_changed {
            self.set_held(held);
        }
        if reaction.rediscover {
            self.request_discovery();
        }
    }
}
