//! A subscriber's inbox: what its connections received (messages, and events such as a gap
//! after a reconnect), waiting for the consumer (the handler's thread, or `get_message`).
//! Filled on reactor threads, which it never blocks; bounded in messages and bytes, with the
//! overflow policy applied as messages arrive, so one slow consumer costs memory up to its
//! bound and nothing else.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::error::{Error, ErrorKind};
use crate::resp::{Reply, ValueRef};

/// What kind of subscription a message came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A channel (SUBSCRIBE): `message`.
    Message,
    /// A pattern (PSUBSCRIBE): `pmessage`, with the pattern that matched.
    Pattern,
    /// A shard channel (SSUBSCRIBE): `smessage`.
    Shard,
}

/// A message published to a channel this subscriber listens to. Holds the frame it came in;
/// the accessors read from it without copying.
#[derive(Clone, Debug)]
pub struct Message {
    kind: MessageKind,
    frame: Reply,
}

impl Message {
    /// `frame` must be a message frame of `kind` (checked by `session::push::read_push`).
    pub(crate) fn new(kind: MessageKind, frame: Reply) -> Message {
        Message { kind, frame }
    }

    /// How it was subscribed to.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    fn part(&self, i: usize) -> ValueRef<'_> {
        self.frame
            .value()
            .child(i)
            .expect("a checked message frame")
    }

    /// The channel it was published to.
    pub fn channel(&self) -> &[u8] {
        let i = if self.kind == MessageKind::Pattern {
            2
        } else {
            1
        };
        self.part(i).as_bytes().unwrap_or_default()
    }

    /// The pattern that matched it (PSUBSCRIBE), else `None`.
    pub fn pattern(&self) -> Option<&[u8]> {
        (self.kind == MessageKind::Pattern).then(|| self.part(1).as_bytes().unwrap_or_default())
    }

    /// The payload's bytes (empty when it is not a string, see `payload_value`).
    pub fn payload(&self) -> &[u8] {
        self.payload_value().as_bytes().unwrap_or_default()
    }

    /// The payload as sent: a string, except for the server's own messages such as RESP2
    /// cache invalidations (an array of keys).
    pub fn payload_value(&self) -> ValueRef<'_> {
        self.part(self.frame.value().len() - 1)
    }

    fn size(&self) -> usize {
        self.frame.heap_size() + std::mem::size_of::<Message>()
    }
}

/// What a subscriber receives, in order.
#[derive(Clone, Debug)]
pub enum Event {
    /// A message.
    Message(Message),
    /// Messages may have been lost: a connection was lost and came back, or a shard channel
    /// moved to another node, and the subscriptions were made again (`cause` says why).
    /// Messages published in between were not received. `failed` is set when restoring some
    /// of them failed (the subscriber keeps trying: they stay wanted).
    Resubscribed { cause: Error, failed: Option<Error> },
    /// This many messages were dropped, the oldest first, because the inbox was full (policy
    /// `Overflow::DropOldest`).
    Dropped(u64),
    /// The subscriber stopped for good, with why: it fell behind (policy
    /// `Overflow::Disconnect`), or its client was closed. Comes after every message received
    /// before, and last.
    Closed(Error),
}

/// What to do with a message that arrives when the inbox is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// Drop the oldest messages to make room, and count them (an `Event::Dropped` comes before
    /// the next message delivered). The default.
    #[default]
    DropOldest,
    /// Stop the subscriber: its connections are closed (as the server closes a client whose
    /// output buffer overflows), what it holds is still delivered, then `Event::Closed` with
    /// a PUBSUB error.
    Disconnect,
}

/// Counters of one subscriber.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InboxStats {
    /// Messages received since the subscriber was made.
    pub received: u64,
    /// Messages dropped because the inbox was full.
    pub dropped: u64,
    /// Messages waiting for the consumer now.
    pub pending: u64,
    /// Their size in bytes, as counted against the bound.
    pub pending_bytes: u64,
}

/// What `Inbox::next` found.
pub(crate) enum Next {
    Event(Event),
    TimedOut,
    /// Nothing more will come: the stop error, or the subscriber was dropped.
    Ended(Error),
}

pub(crate) struct Inbox {
    state: Mutex<State>,
    arrived: Condvar,
    max_messages: usize,
    max_bytes: usize,
    overflow: Overflow,
}

#[derive(Default)]
struct State {
    events: VecDeque<Event>,
    messages: usize,
    bytes: usize,
    /// Dropped since the consumer was last told.
    unreported: u64,
    received: u64,
    dropped: u64,
    /// No more messages will be taken; delivered as `Event::Closed` once the rest is out.
    closed: Option<Error>,
    closed_delivered: bool,
    /// The consumer is gone: `next` returns at once.
    stopped: bool,
}

impl Inbox {
    pub(crate) fn new(max_messages: usize, max_bytes: usize, overflow: Overflow) -> Inbox {
        Inbox {
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
            max_messages: max_messages.max(1),
            max_bytes: max_bytes.max(1),
            overflow,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a message, applying the overflow policy. False when the subscriber is stopped
    /// (closed, or it has just overflowed with `Overflow::Disconnect`): the connection that
    /// got it should close.
    pub(crate) fn push_message(&self, message: Message) -> bool {
        let mut state = self.lock();
        if state.closed.is_some() {
            return false;
        }
        state.received += 1;
        let size = message.size();
        let full = |s: &State| s.messages >= self.max_messages || s.bytes + size > self.max_bytes;
        if full(&state) {
            match self.overflow {
                Overflow::Disconnect => {
                    state.dropped += 1;
                    let err = Error::new(
                        ErrorKind::Pubsub,
                        format!(
                            "the subscriber fell behind: {} messages ({} bytes) were waiting, \
                             the most it may hold; it was disconnected (overflow policy)",
                            state.messages, state.bytes
                        ),
                    );
                    state.closed = Some(err);
                    drop(state);
                    self.arrived.notify_all();
                    return false;
                }
                Overflow::DropOldest => {
                    while full(&state) && state.messages > 0 {
                        let Some(i) = state
                            .events
                            .iter()
                            .position(|e| matches!(e, Event::Message(_)))
                        else {
                            break;
                        };
                        if let Some(Event::Message(old)) = state.events.remove(i) {
                            state.messages -= 1;
                            state.bytes -= old.size();
                            state.dropped += 1;
                            state.unreported += 1;
                        }
                    }
                }
            }
        }
        state.messages += 1;
        state.bytes += size;
        state.events.push_back(Event::Message(message));
        drop(state);
        self.arrived.notify_one();
        true
    }

    /// Takes an event that is not a message (never dropped, never counted in the bound).
    pub(crate) fn push_event(&self, event: Event) {
        let mut state = self.lock();
        if state.closed.is_some() {
            return;
        }
        state.events.push_back(event);
        drop(state);
        self.arrived.notify_one();
    }

    /// No more messages will come: the consumer gets what is here, then `Event::Closed(err)`.
    /// The first reason stays.
    pub(crate) fn close(&self, err: Error) {
        let mut state = self.lock();
        if state.closed.is_none() {
            state.closed = Some(err);
        }
        drop(state);
        self.arrived.notify_all();
    }

    /// The consumer is gone: a waiting `next` returns, and everything held is dropped.
    pub(crate) fn stop(&self) {
        let mut state = self.lock();
        state.stopped = true;
        state.events.clear();
        state.messages = 0;
        state.bytes = 0;
        drop(state);
        self.arrived.notify_all();
    }

    /// Why the subscriber stopped, if it has.
    pub(crate) fn closed(&self) -> Option<Error> {
        self.lock().closed.clone()
    }

    pub(crate) fn stats(&self) -> InboxStats {
        let state = self.lock();
        InboxStats {
            received: state.received,
            dropped: state.dropped,
            pending: state.messages as u64,
            pending_bytes: state.bytes as u64,
        }
    }

    /// The next event, waiting until `deadline` (`None`: as long as it takes).
    pub(crate) fn next(&self, deadline: Option<Instant>) -> Next {
        let mut state = self.lock();
        loop {
            if state.stopped {
                return Next::Ended(closed_subscriber());
            }
            if state.unreported > 0 {
                // The dropped messages were older than everything still here.
                let count = std::mem::take(&mut state.unreported);
                return Next::Event(Event::Dropped(count));
            }
            if let Some(event) = state.events.pop_front() {
                if let Event::Message(m) = &event {
                    state.messages -= 1;
                    state.bytes -= m.size();
                }
                return Next::Event(event);
            }
            if let Some(err) = state.closed.clone() {
                if state.closed_delivered {
                    return Next::Ended(err);
                }
                state.closed_delivered = true;
                return Next::Event(Event::Closed(err));
            }
            state = match deadline {
                None => self.arrived.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Next::TimedOut;
                    }
                    self.arrived
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

pub(crate) fn closed_subscriber() -> Error {
    Error::new(ErrorKind::Closed, "the subscriber was closed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::Value;
    use std::time::Duration;

    fn message(payload: &str) -> Message {
        let frame = Reply::from_value(&Value::Push(vec![
            Value::bulk("message"),
            Value::bulk("c"),
            Value::bulk(payload),
        ]));
        Message::new(MessageKind::Message, frame)
    }

    fn take(inbox: &Inbox) -> String {
        match inbox.next(Some(Instant::now())) {
            Next::Event(Event::Message(m)) => String::from_utf8_lossy(m.payload()).into_owned(),
            Next::Event(Event::Dropped(n)) => format!("dropped {n}"),
            Next::Event(Event::Closed(e)) => format!("closed {:?}", e.kind()),
            Next::Event(Event::Resubscribed { .. }) => "resubscribed".into(),
            Next::TimedOut => "timed out".into(),
            Next::Ended(e) => format!("ended {:?}", e.kind()),
        }
    }

    #[test]
    fn messages_keep_their_order_and_parts() {
        let inbox = Inbox::new(10, 1 << 20, Overflow::DropOldest);
        let frame = Reply::from_value(&Value::Push(vec![
            Value::bulk("pmessage"),
            Value::bulk("n*"),
            Value::bulk("news"),
            Value::bulk("x"),
        ]));
        assert!(inbox.push_message(Message::new(MessageKind::Pattern, frame)));
        assert!(inbox.push_message(message("two")));
        match inbox.next(None) {
            Next::Event(Event::Message(m)) => {
                assert_eq!(m.kind(), MessageKind::Pattern);
                assert_eq!(m.pattern(), Some(&b"n*"[..]));
                assert_eq!(m.channel(), b"news");
                assert_eq!(m.payload(), b"x");
            }
            _ => panic!("a message"),
        }
        assert_eq!(take(&inbox), "two");
        assert_eq!(take(&inbox), "timed out");
    }

    #[test]
    fn drop_oldest_counts_and_reports_before_the_rest() {
        let inbox = Inbox::new(2, 1 << 20, Overflow::DropOldest);
        for p in ["1", "2", "3", "4"] {
            assert!(inbox.push_message(message(p)));
        }
        inbox.push_event(Event::Dropped(0)); // an event is never dropped nor counted
        assert!(inbox.push_message(message("5")));
        let stats = inbox.stats();
        assert_eq!((stats.received, stats.dropped, stats.pending), (5, 3, 2));
        assert_eq!(take(&inbox), "dropped 3");
        assert_eq!(take(&inbox), "4");
        assert_eq!(take(&inbox), "dropped 0");
        assert_eq!(take(&inbox), "5");
    }

    #[test]
    fn the_byte_bound_counts_too() {
        let one = message("x").size();
        let inbox = Inbox::new(100, one * 2, Overflow::DropOldest);
        for p in ["a", "b", "c"] {
            inbox.push_message(message(p));
        }
        assert_eq!(inbox.stats().pending, 2);
        assert_eq!(take(&inbox), "dropped 1");
    }

    #[test]
    fn disconnect_stops_taking_and_ends_after_the_rest() {
        let inbox = Inbox::new(2, 1 << 20, Overflow::Disconnect);
        assert!(inbox.push_message(message("1")));
        assert!(inbox.push_message(message("2")));
        assert!(!inbox.push_message(message("3")));
        assert!(!inbox.push_message(message("4")));
        assert_eq!(inbox.closed().map(|e| e.kind()), Some(ErrorKind::Pubsub));
        assert_eq!(take(&inbox), "1");
        assert_eq!(take(&inbox), "2");
        assert_eq!(take(&inbox), "closed Pubsub");
        assert_eq!(take(&inbox), "ended Pubsub");
    }

    #[test]
    fn a_waiting_consumer_wakes_for_a_message_and_for_stop() {
        let inbox = std::sync::Arc::new(Inbox::new(10, 1 << 20, Overflow::DropOldest));
        let filler = inbox.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            filler.push_message(message("late"));
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        assert!(matches!(
            inbox.next(Some(deadline)),
            Next::Event(Event::Message(_))
        ));
        t.join().unwrap();
        let stopper = inbox.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            stopper.stop();
        });
        assert!(matches!(inbox.next(None), Next::Ended(_)));
        t.join().unwrap();
    }
}
