//! One connection of a subscriber and what is subscribed on it. The reactor hands it the
//! connection's out-of-band frames (messages go to the inbox; a shard channel the server
//! dropped because its slot moved goes back to the subscriber to be placed again), and asks
//! it to restore its subscriptions each time the connection is ready after a loss, which is
//! the gap the subscriber is told about once the server has confirmed them again. What was
//! asked of a connection while it could not take it (down, or not up yet and out of retries)
//! is recorded all the same and made by its next handshake, the first one included.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::inbox::{Event, Inbox, Message, MessageKind};
use super::Core;
use crate::config::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::{Completion, Conn, Stream};
use crate::resp::{encode_command, Reply};
use crate::route::slot::key_slot;
use crate::session::push::{read_push, NameClass, Push, SubscriptionKind};
use crate::session::subscriptions::Subscriptions;
use crate::session::{Exchange, RequestMeta, StreamMode};

/// A subscriber's connection, as the subscriber holds it.
#[derive(Clone)]
pub(crate) struct LinkHandle {
    pub(crate) link: Arc<Link>,
    pub(crate) conn: Arc<Conn>,
}

/// What the reactor reaches of a subscriber's connection.
pub(crate) struct Link {
    pub(crate) endpoint: Endpoint,
    state: Mutex<LinkState>,
    inbox: Arc<Inbox>,
    core: Weak<Core>,
    /// Shard channels are grouped by slot when restored (a cluster wants one slot per
    /// SSUBSCRIBE).
    cluster: bool,
    /// Closed by the subscriber itself (moved, emptied, dropped): its close stops nothing.
    retired: AtomicBool,
    me: Weak<Link>,
}

#[derive(Default)]
struct LinkState {
    /// What this connection was asked to subscribe to (and not to unsubscribe from since),
    /// whether the command reached the server or not: what it is restored to when ready.
    placed: Subscriptions,
    /// Why the connection was last lost, for the gap event.
    lost: Option<Error>,
    /// Some change recorded in `placed` may not have reached the server: its command was
    /// refused while the connection was down, dropped when its retries ran out, or timed out.
    /// The next handshake restores `placed` even on a first connection (a later one always
    /// does).
    owed: bool,
}

impl Link {
    pub(crate) fn new(
        endpoint: Endpoint,
        inbox: Arc<Inbox>,
        core: Weak<Core>,
        cluster: bool,
    ) -> Arc<Link> {
        Arc::new_cyclic(|me| Link {
            endpoint,
            state: Mutex::new(LinkState::default()),
            inbox,
            core,
            cluster,
            retired: AtomicBool::new(false),
            me: me.clone(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a subscription change (under the connection's lock, so the record and the
    /// commands keep one order, and no reconnect's restore comes between). `queued`: its
    /// command is about to be sent; false: the connection refused it, being down, and the
    /// change is made when the connection is back.
    pub(crate) fn apply(&self, class: NameClass, subscribe: bool, names: &[Vec<u8>], queued: bool) {
        let mut state = self.lock();
        let names = names.iter().map(Vec::as_slice);
        if subscribe {
            state.placed.add(class, names);
        } else {
            state.placed.remove(class, names);
        }
        state.owed |= !queued;
    }

    /// A subscription command on this connection ended unanswered (`super::unanswered`): the
    /// change it carried is made by the next handshake's restore.
    pub(crate) fn owe(&self) {
        self.lock().owed = true;
    }

    /// Forgets names the server refused (an error reply to their subscription).
    pub(crate) fn forget(&self, class: NameClass, names: &[Vec<u8>]) {
        self.lock()
            .placed
            .remove(class, names.iter().map(Vec::as_slice));
    }

    /// The names of `class` subscribed here.
    pub(crate) fn names(&self, class: NameClass) -> Vec<Vec<u8>> {
        self.lock()
            .placed
            .names(class)
            .map(<[u8]>::to_vec)
            .collect()
    }

    pub(crate) fn contains(&self, class: NameClass, name: &[u8]) -> bool {
        self.lock().placed.contains(class, name)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().placed.is_empty()
    }

    /// Marks the link closed on purpose (its close is not the subscriber's end).
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
    }

    fn deliver(&self, kind: MessageKind, frame: Reply) {
        if !self.inbox.push_message(Message::new(kind, frame)) {
            // The subscriber stopped (it fell behind): its connections close.
            if let Some(core) = self.core.upgrade() {
                core.stop_later();
            }
        }
    }

    /// The server dropped a shard channel by itself (its slot moved to another node): it is
    /// no longer placed here, and the subscriber places it where the slot is now once the
    /// refreshed topology says where (it stays wanted).
    fn dropped_by_server(&self, name: &[u8]) {
        let placed = self.lock().placed.remove(NameClass::Shard, [name]) == 1;
        if !placed {
            return;
        }
        if let Some(core) = self.core.upgrade() {
            // Not under this connection's lock: the refresh sends on other connections.
            let engine = core.engine.clone();
            core.engine.run_later(move || engine.refresh_topology());
        }
    }
}

impl Stream for Link {
    fn on_frame(&self, frame: Reply) {
        let kind = match read_push(frame.value()) {
            Push::Message { .. } => MessageKind::Message,
            Push::PatternMessage { .. } => MessageKind::Pattern,
            Push::ShardMessage { .. } => MessageKind::Shard,
            Push::Confirmation {
                kind: SubscriptionKind::Sunsubscribe,
                name: Some(name),
                ..
            } => {
                self.dropped_by_server(name);
                return;
            }
            // Confirmations are their commands' replies; anything else is not ours.
            _ => return,
        };
        self.deliver(kind, frame);
    }

    fn on_ready(&self, ex: &mut Exchange<Completion>, protocol: u8, again: bool) {
        ex.set_mode(if protocol == 2 {
            StreamMode::SubscribedResp2
        } else {
            StreamMode::Requests
        });
        let mut state = self.lock();
        let lost = state.lost.take();
        let owed = std::mem::take(&mut state.owed);
        if !again && !owed {
            // A first connection: the commands asked for so far are queued on it.
            return;
        }
        let cause =
            lost.unwrap_or_else(|| Error::new(ErrorKind::Connection, "the connection was lost"));
        let cluster = self.cluster;
        let commands = state
            .placed
            .restore(|name| if cluster { key_slot(name) } else { 0 });
        if commands.is_empty() && !again {
            // Nothing was subscribed, nothing is: no gap to tell.
            return;
        }
        if commands.is_empty() {
            self.inbox.push_event(Event::Resubscribed {
                cause,
                failed: None,
            });
            return;
        }
        let regain = Regain::new(cause, commands.len(), self.inbox.clone());
        for (kind, names) in commands {
            let mut args: Vec<&[u8]> = Vec::with_capacity(names.len() + 1);
            args.push(kind.command().as_bytes());
            args.extend(&names);
            let part = regain.clone();
            let owned: Vec<Vec<u8>> = names.iter().map(|n| n.to_vec()).collect();
            let link = self.me.clone();
            let done = move |result: Result<Reply>| part.done(&link, kind, owned, result);
            ex.enqueue(
                |buf| encode_command(buf, &args),
                Completion::Boxed(Box::new(done)),
                RequestMeta::default(),
            );
            ex.expect_confirmations(kind, names.len() as u32);
        }
    }

    fn on_lost(&self, err: &Error, dropped: bool) {
        {
            let mut state = self.lock();
            // The first loss is the cause; failed reconnect attempts after it are not.
            state.lost.get_or_insert_with(|| err.clone());
            state.owed |= dropped;
        }
        if self.cluster {
            // The node may have failed over: a new topology moves what lived here.
            if let Some(core) = self.core.upgrade() {
                let engine = core.engine.clone();
                core.engine.run_later(move || engine.refresh_topology());
            }
        }
    }

    fn on_closed(&self, err: &Error) {
        if !self.retired.load(Ordering::SeqCst) {
            // The client shut down under the subscriber.
            self.inbox.close(err.clone());
        }
    }
}

/// Subscriptions being made again (on a connection that came back, or on the node a shard
/// channel moved to): the gap event goes out once the server has answered every command.
pub(crate) struct Regain {
    cause: Error,
    left: AtomicUsize,
    failed: Mutex<Option<Error>>,
    inbox: Arc<Inbox>,
}

impl Regain {
    pub(crate) fn new(cause: Error, commands: usize, inbox: Arc<Inbox>) -> Arc<Regain> {
        Arc::new(Regain {
            cause,
            left: AtomicUsize::new(commands),
            failed: Mutex::new(None),
            inbox,
        })
    }

    /// One command sent on `link` for `names` was answered.
    pub(crate) fn done(
        &self,
        link: &Weak<Link>,
        kind: SubscriptionKind,
        names: Vec<Vec<u8>>,
        result: Result<Reply>,
    ) {
        let failure = match result {
            // CLOSED: the connection was closed on purpose, its names moved elsewhere.
            Err(err) if err.kind() != ErrorKind::Closed => Some(err),
            _ => None,
        };
        if let Some(err) = failure {
            // Shard channels whose slot moved meanwhile are placed again once the topology
            // says where (they stay wanted); the others are tried again at the next reconnect
            // (also when this connection has not been ready yet: a shard channel's new one).
            if kind == SubscriptionKind::Ssubscribe && super::moved_away(&err) {
                if let Some(link) = link.upgrade() {
                    link.forget(NameClass::Shard, &names);
                    if let Some(core) = link.core.upgrade() {
                        core.engine.refresh_topology();
                    }
                }
            } else if super::unanswered(&err) {
                if let Some(link) = link.upgrade() {
                    link.owe();
                }
            }
            let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            failed.get_or_insert(err);
        }
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            let failed = self.failed.lock().unwrap_or_else(|e| e.into_inner()).take();
            self.inbox.push_event(Event::Resubscribed {
                cause: self.cause.clone(),
                failed,
            });
        }
    }
}
