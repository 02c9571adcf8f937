//! Pub/sub: a subscriber (`PubSub`) on connections of its own. On RESP2 a subscribed
//! connection carries nothing else; on RESP3 messages come as pushes and the same connection
//! also takes ordinary commands (`PubSub::command`).
//!
//! What a subscriber wants (its channels, patterns and shard channels) is kept apart from
//! what each connection has been asked for, so that a connection that comes back gets its
//! subscriptions again by itself, with a `Resubscribed` event telling the consumer that
//! messages published meanwhile were lost; and on a cluster client, shard channels live on
//! connections to their slot's primary and move when the slot does (the server drops them
//! with an unsolicited SUNSUBSCRIBE, the client refreshes its topology and places them where
//! the slot is now).
//!
//! Messages wait in a bounded inbox (`inbox`), filled on reactor threads without ever
//! blocking them, and are taken by the consumer: a handler on the subscriber's own thread
//! (`delivery`), or `get_message` with a timeout.

mod delivery;
mod inbox;
mod link;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::client::stream::{StreamTarget, TopologyListener};
use crate::client::Client;
use crate::client::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::{Completion, Outcome, PipelineDone, PipelineRun, Waiter};
use crate::resp::Reply;
use crate::route::command::{classify, CommandClass};
use crate::route::slot::key_slot;
use crate::session::push::{NameClass, SubscriptionKind};
use crate::session::subscriptions::Subscriptions;

use inbox::{closed_subscriber, Inbox, Next};
pub use inbox::{Event, InboxStats, Message, MessageKind, Overflow};
use link::{Link, LinkHandle, Regain};

/// How many times a subscription command turned away because its slot moved is sent again
/// (after a topology refresh) before the caller gets the error.
const MOVE_ATTEMPTS: u32 = 5;

/// A subscriber's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PubSubOptions {
    /// Most messages waiting for the consumer. Default 10,000.
    pub max_pending_messages: usize,
    /// Most bytes of messages waiting for the consumer. Default 64 MiB.
    pub max_pending_bytes: usize,
    /// What happens to a message that arrives when either bound is reached. Default
    /// `Overflow::DropOldest`.
    pub overflow: Overflow,
    /// Idle time after which a subscriber's connection is checked with PING (in subscribed
    /// mode), so that a dead connection is found and replaced even when no message comes.
    /// Default 30 s; None turns the checks off.
    pub health_check_interval: Option<Duration>,
}

impl Default for PubSubOptions {
    fn default() -> PubSubOptions {
        PubSubOptions {
            max_pending_messages: 10_000,
            max_pending_bytes: 64 << 20,
            overflow: Overflow::DropOldest,
            health_check_interval: Some(Duration::from_secs(30)),
        }
    }
}

/// Takes the subscriber's events on its own thread (see `PubSub::set_handler`).
pub type Handler = Box<dyn FnMut(Event) + Send>;

/// A subscriber: SUBSCRIBE, PSUBSCRIBE and SSUBSCRIBE (and their unsubscribes) on
/// connections of its own, messages taken by a handler or by `get_message`.
///
/// The subscription calls block until the server confirmed them (or the command timeout),
/// and may be made from the handler. Dropping the subscriber closes its connections; events
/// still waiting are dropped, and so is the handler (kept until then, also after
/// `Event::Closed`).
pub struct PubSub {
    core: Arc<Core>,
    delivery: Mutex<Option<delivery::Delivery>>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PubSub>();
};

/// What a subscriber's front, its connections and the topology hook share.
pub(crate) struct Core {
    engine: Arc<Engine>,
    options: PubSubOptions,
    inbox: Arc<Inbox>,
    /// Everything the user subscribed to and did not unsubscribe from.
    wanted: Mutex<Subscriptions>,
    links: Mutex<Links>,
    stopping: AtomicBool,
    me: Weak<Core>,
}

#[derive(Default)]
struct Links {
    /// Channels and patterns (and, on one server, shard channels).
    main: Option<LinkHandle>,
    /// A cluster's shard channels, one connection per primary that serves some.
    shards: Vec<LinkHandle>,
    /// The subscriber was dropped or stopped: no connection is opened any more.
    closed: bool,
}

/// True for errors that mean "not here, not now": a cluster slot moved or is moving, a node
/// is down or loading.
pub(crate) fn moved_away(err: &Error) -> bool {
    crate::reactor::conn::turned_away(err.kind())
}

/// True for an error the server answered with (the subscription was refused), rather than
/// one that left the command unanswered (the connection dropped: it is made again later).
fn refused(err: &Error) -> bool {
    !err.is(ErrorKind::Connection)
        && !matches!(
            err.kind(),
            ErrorKind::Timeout | ErrorKind::Closed | ErrorKind::Internal
        )
}

/// True for an error that left a command unanswered (as opposed to `refused`, and to CLOSED:
/// a connection closed on purpose): the change it carried may not have reached the server.
fn unanswered(err: &Error) -> bool {
    !refused(err) && err.kind() != ErrorKind::Closed
}

impl PubSub {
    /// A subscriber on `client`'s server (or cluster), with `options`. Its first connection
    /// opens in the background; the first subscription call waits for it.
    pub fn new(client: &Client, options: PubSubOptions) -> Result<PubSub> {
        if options.health_check_interval == Some(Duration::ZERO) {
            return Err(Error::invalid_argument(
                "health_check_interval must be above zero (or none)",
            ));
        }
        let engine = client.engine().clone();
        let inbox = Arc::new(Inbox::new(
            options.max_pending_messages,
            options.max_pending_bytes,
            options.overflow,
        ));
        let core = Arc::new_cyclic(|me| Core {
            engine,
            options,
            inbox,
            wanted: Mutex::new(Subscriptions::new()),
            links: Mutex::new(Links::default()),
            stopping: AtomicBool::new(false),
            me: me.clone(),
        });
        core.main_link(&mut core.links())?;
        let listener: Weak<dyn TopologyListener> = Arc::downgrade(&core) as _;
        core.engine.listen_topology(listener);
        Ok(PubSub {
            core,
            delivery: Mutex::new(None),
        })
    }

    /// SUBSCRIBE: waits until the server confirmed every channel. A channel the server
    /// refuses is not kept; after a connection error or a timeout the channels stay wanted and
    /// are subscribed when the connection is back (or up for the first time), followed by an
    /// `Event::Resubscribed`. The same holds for every subscription call: an unsubscribe that
    /// failed so still takes the names out of what is wanted.
    pub fn subscribe<A: AsRef<[u8]>>(&self, channels: &[A]) -> Result<()> {
        self.core.change(SubscriptionKind::Subscribe, channels)
    }

    /// PSUBSCRIBE (glob-style patterns).
    pub fn psubscribe<A: AsRef<[u8]>>(&self, patterns: &[A]) -> Result<()> {
        self.core.change(SubscriptionKind::Psubscribe, patterns)
    }

    /// SSUBSCRIBE: on a cluster client, each shard channel goes to its slot's primary (one
    /// connection per primary), and follows the slot when it moves.
    pub fn ssubscribe<A: AsRef<[u8]>>(&self, channels: &[A]) -> Result<()> {
        self.core.change(SubscriptionKind::Ssubscribe, channels)
    }

    /// UNSUBSCRIBE; no channel: every channel.
    pub fn unsubscribe<A: AsRef<[u8]>>(&self, channels: &[A]) -> Result<()> {
        self.core.change(SubscriptionKind::Unsubscribe, channels)
    }

    /// PUNSUBSCRIBE; no pattern: every pattern.
    pub fn punsubscribe<A: AsRef<[u8]>>(&self, patterns: &[A]) -> Result<()> {
        self.core.change(SubscriptionKind::Punsubscribe, patterns)
    }

    /// SUNSUBSCRIBE; no shard channel: every shard channel.
    pub fn sunsubscribe<A: AsRef<[u8]>>(&self, channels: &[A]) -> Result<()> {
        self.core.change(SubscriptionKind::Sunsubscribe, channels)
    }

    /// How many channels, patterns and shard channels this subscriber wants.
    pub fn subscriptions(&self) -> (usize, usize, usize) {
        let wanted = self.core.wanted();
        (
            wanted.len(NameClass::Channel),
            wanted.len(NameClass::Pattern),
            wanted.len(NameClass::Shard),
        )
    }

    /// The next event, waiting up to `timeout` (`None`: until one comes). `Ok(None)` when the
    /// time ran out. After `Event::Closed`, fails with its error. Refused while a handler
    /// takes the events, and inside a client's callback unless `timeout` is zero (a poll):
    /// the messages come through the event loop that the wait would hold up.
    pub fn get_message(&self, timeout: Option<Duration>) -> Result<Option<Event>> {
        if self.lock_delivery().is_some() {
            return Err(Error::invalid_argument(
                "this subscriber's events go to its handler: get_message has nothing to take",
            ));
        }
        if timeout != Some(Duration::ZERO) {
            crate::client::check_not_in_callback()?;
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        match self.core.inbox.next(deadline) {
            Next::Event(event) => Ok(Some(event)),
            Next::TimedOut => Ok(None),
            Next::Ended(err) => Err(err),
        }
    }

    /// Hands every event, in order, to `handler`, on a thread of the subscriber's own (so a
    /// slow handler delays only this subscriber), from now until the subscriber is dropped
    /// or closed (`Event::Closed` is the last call). Events that arrived before are handed
    /// first. Set once.
    pub fn set_handler(&self, handler: Handler) -> Result<()> {
        let mut delivery = self.lock_delivery();
        if delivery.is_some() {
            return Err(Error::invalid_argument(
                "this subscriber already has a handler",
            ));
        }
        *delivery = Some(delivery::Delivery::start(self.core.inbox.clone(), handler)?);
        Ok(())
    }

    fn lock_delivery(&self) -> MutexGuard<'_, Option<delivery::Delivery>> {
        self.delivery.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counters: messages received, dropped, waiting.
    pub fn stats(&self) -> InboxStats {
        self.core.inbox.stats()
    }

    /// Sends a command on the subscriber's (first) connection and waits for its reply. On
    /// RESP3 any command that leaves the connection's state alone; on RESP2 a subscribed
    /// connection takes only PING (the server refuses the rest).
    pub fn command<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<Reply> {
        self.core.command(args)
    }

    /// Stops the subscriber without giving it up, for one that other threads may still be
    /// calling: its connections close now, a subscription call or command in progress
    /// returns CLOSED at once (also one waiting on a server that stopped answering), and
    /// later ones fail with CLOSED. The consumer still gets the events that were waiting,
    /// then `Event::Closed`. Dropping the subscriber still frees it.
    pub fn shutdown(&self) {
        self.core.inbox.close(closed_subscriber());
        self.core.close_links(true);
    }
}

impl Drop for PubSub {
    fn drop(&mut self) {
        self.core.close_links(false);
        self.core.inbox.stop();
        if let Some(delivery) = self.lock_delivery().take() {
            delivery.stop();
        }
    }
}

impl Core {
    fn links(&self) -> MutexGuard<'_, Links> {
        self.links.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wanted(&self) -> MutexGuard<'_, Subscriptions> {
        self.wanted.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open_link(&self, target: &StreamTarget) -> Result<LinkHandle> {
        let link = Link::new(
            target.endpoint.clone(),
            self.inbox.clone(),
            self.me.clone(),
            self.engine.is_cluster(),
        );
        let conn =
            self.engine
                .open_stream(target, link.clone(), self.options.health_check_interval)?;
        Ok(LinkHandle { link, conn })
    }

    /// The connection for channels and patterns, opened when there is none.
    fn main_link(&self, links: &mut Links) -> Result<LinkHandle> {
        if links.closed {
            return Err(self.inbox.closed().unwrap_or_else(closed_subscriber));
        }
        if let Some(main) = &links.main {
            return Ok(main.clone());
        }
        let main = self.open_link(&self.engine.stream_target(None)?)?;
        links.main = Some(main.clone());
        Ok(main)
    }

    /// The connection for shard channels of `target` (a cluster primary).
    fn shard_link(&self, links: &mut Links, target: &StreamTarget) -> Result<LinkHandle> {
        if links.closed {
            return Err(self.inbox.closed().unwrap_or_else(closed_subscriber));
        }
        if let Some(found) = links
            .shards
            .iter()
            .find(|h| h.link.endpoint == target.endpoint)
        {
            return Ok(found.clone());
        }
        let handle = self.open_link(target)?;
        links.shards.push(handle.clone());
        Ok(handle)
    }

    /// Where each name of a subscription change goes: the connection, and the names one
    /// command carries (a cluster takes one slot per SSUBSCRIBE / SUNSUBSCRIBE).
    fn plan(
        &self,
        kind: SubscriptionKind,
        names: &[Vec<u8>],
    ) -> Result<Vec<(LinkHandle, Vec<Vec<u8>>)>> {
        let mut links = self.links();
        let cluster = self.engine.is_cluster();
        if kind.class() != NameClass::Shard || !cluster {
            return Ok(vec![(self.main_link(&mut links)?, names.to_vec())]);
        }
        let mut by_slot: BTreeMap<u16, Vec<Vec<u8>>> = BTreeMap::new();
        for name in names {
            by_slot
                .entry(key_slot(name))
                .or_default()
                .push(name.clone());
        }
        let mut plan = Vec::new();
        for (slot, names) in by_slot {
            if kind.subscribes() {
                let target = self.engine.stream_target(Some(slot))?;
                plan.push((self.shard_link(&mut links, &target)?, names));
                continue;
            }
            // Unsubscribed where each one is (a name placed nowhere needs no command).
            for handle in &links.shards {
                let here: Vec<Vec<u8>> = names
                    .iter()
                    .filter(|n| handle.link.contains(NameClass::Shard, n))
                    .cloned()
                    .collect();
                if !here.is_empty() {
                    plan.push((handle.clone(), here));
                }
            }
        }
        Ok(plan)
    }

    /// A subscription command from the user: waits for the server's confirmations. Parts
    /// turned away because their cluster slot moved are sent again after a topology refresh.
    fn change<A: AsRef<[u8]>>(&self, kind: SubscriptionKind, names: &[A]) -> Result<()> {
        self.engine.check_caller()?;
        if let Some(err) = self.inbox.closed() {
            return Err(err);
        }
        let class = kind.class();
        let mut names: Vec<Vec<u8>> = names.iter().map(|n| n.as_ref().to_vec()).collect();
        if names.is_empty() {
            if kind.subscribes() {
                return Err(Error::invalid_argument(format!(
                    "{} needs at least one name",
                    kind.command()
                )));
            }
            names = self.wanted().names(class).map(<[u8]>::to_vec).collect();
        }
        {
            let mut wanted = self.wanted();
            let iter = names.iter().map(Vec::as_slice);
            if kind.subscribes() {
                wanted.add(class, iter);
            } else {
                wanted.remove(class, iter);
            }
        }
        if names.is_empty() {
            return Ok(());
        }
        let mut attempt = 0;
        loop {
            let failed = self.send_change(kind, &names)?;
            let Some((first, _)) = failed.first() else {
                return Ok(());
            };
            if let Some(stopped) = self.inbox.closed() {
                // Stopped meanwhile (`PubSub::shutdown`, the client's close): that is why.
                return Err(stopped);
            }
            let moved: Vec<Vec<u8>> = failed
                .iter()
                .filter(|(e, _)| moved_away(e))
                .flat_map(|(_, names)| names.iter().cloned())
                .collect();
            if moved.len() < failed.iter().map(|(_, n)| n.len()).sum::<usize>()
                || attempt >= MOVE_ATTEMPTS
            {
                let err = first.clone();
                if kind.subscribes() && refused(&err) {
                    // Refused: not wanted after all (a dropped connection keeps them wanted).
                    let mut wanted = self.wanted();
                    for (e, names) in &failed {
                        if refused(e) {
                            wanted.remove(class, names.iter().map(Vec::as_slice));
                        }
                    }
                }
                return Err(err);
            }
            attempt += 1;
            self.engine.refresh_topology();
            std::thread::sleep(Duration::from_millis(50 << attempt));
            names = moved;
        }
    }

    /// Sends one subscription change and waits for it: the parts that failed, with their
    /// errors and names.
    fn send_change(
        &self,
        kind: SubscriptionKind,
        names: &[Vec<u8>],
    ) -> Result<Vec<(Error, Vec<Vec<u8>>)>> {
        let plan = self.plan(kind, names)?;
        if plan.is_empty() {
            return Ok(Vec::new());
        }
        let waiter = Waiter::for_this_thread();
        let seq = waiter.begin();
        let run = PipelineRun::new(plan.len(), false, PipelineDone::Wait(waiter.clone(), seq));
        let (class, subscribe) = (kind.class(), kind.subscribes());
        let mut deadline = None;
        for (i, (handle, part)) in plan.iter().enumerate() {
            let mut args: Vec<&[u8]> = vec![kind.command().as_bytes()];
            args.extend(part.iter().map(Vec::as_slice));
            let (slot_run, link, forget) = (run.clone(), handle.link.clone(), part.clone());
            let done = move |result: Result<Reply>| {
                if let Err(e) = &result {
                    if subscribe && refused(e) {
                        link.forget(class, &forget);
                    } else if unanswered(e) {
                        // Down, or timed out: the change stays, made when the connection is
                        // (back) up.
                        link.owe();
                    }
                }
                slot_run.complete(i, result);
            };
            let sent = self.engine.stream_send(
                &handle.conn,
                &args,
                Some((kind, part.len() as u32)),
                Completion::Boxed(Box::new(done)),
                |queued| handle.link.apply(class, subscribe, part, queued),
            );
            match sent {
                Ok(d) => deadline = d,
                Err((err, completion)) => completion.run(Err(err)),
            }
        }
        let outcome = waiter.wait(seq, deadline.map(|d| d + Duration::from_millis(5)));
        let Some(Outcome::Pipeline(result)) = outcome else {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("{} was not confirmed in time", kind.command()),
            ));
        };
        Ok(plan
            .into_iter()
            .enumerate()
            .filter_map(|(i, (_, names))| match result.get(i) {
                Some(Err(err)) => Some((err.clone(), names)),
                _ => None,
            })
            .collect())
    }

    fn command<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<Reply> {
        self.engine.check_caller()?;
        match classify(args)? {
            CommandClass::Normal => {}
            _ => {
                return Err(Error::invalid_argument(
                    "a subscriber's connection takes only commands that neither block nor \
                     change its state; subscribe with the subscriber's own calls",
                ))
            }
        }
        let main = self.main_link(&mut self.links())?;
        let ping = args
            .first()
            .is_some_and(|a| a.as_ref().eq_ignore_ascii_case(b"PING"));
        if self.engine.stream_protocol(&main.conn) == 2 && !ping {
            return Err(Error::invalid_argument(
                "on RESP2 a subscriber's connection takes only PING besides subscriptions \
                 (use the client, or RESP3)",
            ));
        }
        let waiter = Waiter::for_this_thread();
        let seq = waiter.begin();
        let deadline = self
            .engine
            .stream_send(
                &main.conn,
                args,
                None,
                Completion::Wait(waiter.clone(), seq),
                |_| {},
            )
            .map_err(|(e, _)| e)?;
        match waiter.wait(seq, deadline.map(|d| d + Duration::from_millis(5))) {
            // Stopped meanwhile (`PubSub::shutdown`, the client's close): that is why.
            Some(Outcome::Reply(Err(err))) => Err(self.inbox.closed().unwrap_or(err)),
            Some(Outcome::Reply(result)) => result,
            Some(_) => Err(Error::new(ErrorKind::Internal, "unexpected outcome")),
            None => Err(Error::new(ErrorKind::Timeout, "the command timed out")),
        }
    }

    /// Closes every connection; nothing is opened any more. `now`: at once, failing what
    /// they have not answered (else once it is answered).
    fn close_links(&self, now: bool) {
        let mut links = self.links();
        links.closed = true;
        for handle in links.main.take().into_iter().chain(links.shards.drain(..)) {
            handle.link.retire();
            if now {
                self.engine
                    .abandon_stream(&handle.conn, closed_subscriber());
            } else {
                self.engine.close_stream(&handle.conn);
            }
        }
    }

    /// The subscriber fell behind (overflow policy `Disconnect`): its connections close, off
    /// the reactor thread's locks.
    pub(crate) fn stop_later(&self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(core) = self.me.upgrade() {
            self.engine.run_later(move || core.close_links(false));
        }
    }

    /// After a topology change: the connection for channels moves off a node that left, and
    /// shard channels go to their slot's primary (those the server dropped, and those whose
    /// slot the topology now gives to another node), each move followed by a gap event.
    fn rebalance(&self) {
        let mut links = self.links();
        if links.closed {
            return;
        }
        let wanted = self.wanted().clone();
        let mut sends: Vec<(LinkHandle, SubscriptionKind, Vec<Vec<u8>>)> = Vec::new();
        if let Some(main) = links.main.clone() {
            if !self.engine.serves(&main.link.endpoint) {
                main.link.retire();
                self.engine.close_stream(&main.conn);
                links.main = None;
            }
        }
        let cluster = self.engine.is_cluster();
        if let Ok(main) = self.main_link(&mut links) {
            // Off a cluster, shard channels live on the main connection too, and move with it
            // (a sentinel client's new master).
            let shard = (!cluster).then_some((NameClass::Shard, SubscriptionKind::Ssubscribe));
            for (class, kind) in [
                (NameClass::Channel, SubscriptionKind::Subscribe),
                (NameClass::Pattern, SubscriptionKind::Psubscribe),
            ]
            .into_iter()
            .chain(shard)
            {
                let missing: Vec<Vec<u8>> = wanted
                    .names(class)
                    .filter(|n| !main.link.contains(class, n))
                    .map(<[u8]>::to_vec)
                    .collect();
                if !missing.is_empty() {
                    sends.push((main.clone(), kind, missing));
                }
            }
        }
        if cluster {
            self.rebalance_shards(&mut links, &wanted, &mut sends);
        }
        if sends.is_empty() {
            return;
        }
        let cause = Error::new(
            ErrorKind::Connection,
            if cluster {
                "the cluster's topology changed: subscriptions moved to other nodes"
            } else {
                "the server changed (a new master): subscriptions moved to it"
            },
        );
        let regain = Regain::new(cause, sends.len(), self.inbox.clone());
        for (handle, kind, names) in sends {
            let mut args: Vec<&[u8]> = vec![kind.command().as_bytes()];
            args.extend(names.iter().map(Vec::as_slice));
            let (part, link, owned) = (regain.clone(), Arc::downgrade(&handle.link), names.clone());
            let done = move |result: Result<Reply>| part.done(&link, kind, owned, result);
            let sent = self.engine.stream_send(
                &handle.conn,
                &args,
                Some((kind, names.len() as u32)),
                Completion::Boxed(Box::new(done)),
                |queued| handle.link.apply(kind.class(), true, &names, queued),
            );
            if let Err((err, completion)) = sent {
                completion.run(Err(err));
            }
        }
    }

    /// Shard channels placed where their slot no longer is are unsubscribed there; wanted
    /// ones placed nowhere are queued in `sends` for their slot's primary; connections left
    /// with nothing close.
    fn rebalance_shards(
        &self,
        links: &mut Links,
        wanted: &Subscriptions,
        sends: &mut Vec<(LinkHandle, SubscriptionKind, Vec<Vec<u8>>)>,
    ) {
        let mut kept = Vec::new();
        for handle in std::mem::take(&mut links.shards) {
            let gone = !self.engine.serves(&handle.link.endpoint);
            let mut away: BTreeMap<u16, Vec<Vec<u8>>> = BTreeMap::new();
            for name in handle.link.names(NameClass::Shard) {
                let slot = key_slot(&name);
                let here = self
                    .engine
                    .stream_target(Some(slot))
                    .is_ok_and(|t| t.endpoint == handle.link.endpoint);
                if gone || !here {
                    away.entry(slot).or_default().push(name);
                }
            }
            for names in away.into_values() {
                let unsubscribe = SubscriptionKind::Sunsubscribe;
                let args: Vec<&[u8]> = std::iter::once(unsubscribe.command().as_bytes())
                    .chain(names.iter().map(Vec::as_slice))
                    .collect();
                // Its reply matters to no one: the names are placed elsewhere below.
                let sent = self.engine.stream_send(
                    &handle.conn,
                    &args,
                    Some((unsubscribe, names.len() as u32)),
                    Completion::Ignore,
                    |queued| handle.link.apply(NameClass::Shard, false, &names, queued),
                );
                if sent.is_err() {
                    handle.link.forget(NameClass::Shard, &names);
                }
            }
            if gone || handle.link.is_empty() {
                handle.link.retire();
                self.engine.close_stream(&handle.conn);
            } else {
                kept.push(handle);
            }
        }
        links.shards = kept;
        let mut placed_nowhere: BTreeMap<u16, Vec<Vec<u8>>> = BTreeMap::new();
        for name in wanted.names(NameClass::Shard) {
            if !links
                .shards
                .iter()
                .any(|h| h.link.contains(NameClass::Shard, name))
            {
                placed_nowhere
                    .entry(key_slot(name))
                    .or_default()
                    .push(name.to_vec());
            }
        }
        let mut unplaced = false;
        for (slot, names) in placed_nowhere {
            let handle = self
                .engine
                .stream_target(Some(slot))
                .and_then(|target| self.shard_link(links, &target));
            match handle {
                Ok(handle) => sends.push((handle, SubscriptionKind::Ssubscribe, names)),
                Err(_) => unplaced = true,
            }
        }
        if unplaced {
            // No owner for now (a failover in progress): ask again until there is one.
            self.engine.refresh_topology();
        }
    }
}

impl TopologyListener for Core {
    fn topology_changed(&self) {
        self.rebalance();
    }
}
