//! What an out-of-band frame says, sans-I/O: a pub/sub message, a subscription confirmation
//! or a cache invalidation, read in place from the frame (a RESP3 push, or on a RESP2
//! subscribed connection a plain array of the same shape), without copying.

use crate::resp::{Kind, ValueRef};

/// The six subscription commands. Each one's confirmation frames carry its name in lower case
/// (`subscribe`, `sunsubscribe`, ...), one per channel, pattern or shard channel named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubscriptionKind {
    /// SUBSCRIBE channel ...
    Subscribe,
    /// PSUBSCRIBE pattern ...
    Psubscribe,
    /// SSUBSCRIBE shardchannel ...
    Ssubscribe,
    /// UNSUBSCRIBE channel ...
    Unsubscribe,
    /// PUNSUBSCRIBE pattern ...
    Punsubscribe,
    /// SUNSUBSCRIBE shardchannel ...
    Sunsubscribe,
}

/// What a subscription names: a channel, a glob-style pattern, or a shard channel (hashed to
/// a cluster slot like a key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NameClass {
    /// A channel (SUBSCRIBE).
    Channel,
    /// A pattern (PSUBSCRIBE).
    Pattern,
    /// A shard channel (SSUBSCRIBE).
    Shard,
}

impl SubscriptionKind {
    /// The command's name, as sent.
    pub fn command(self) -> &'static str {
        match self {
            SubscriptionKind::Subscribe => "SUBSCRIBE",
            SubscriptionKind::Psubscribe => "PSUBSCRIBE",
            SubscriptionKind::Ssubscribe => "SSUBSCRIBE",
            SubscriptionKind::Unsubscribe => "UNSUBSCRIBE",
            SubscriptionKind::Punsubscribe => "PUNSUBSCRIBE",
            SubscriptionKind::Sunsubscribe => "SUNSUBSCRIBE",
        }
    }

    /// The kind whose command (or confirmation) is `name`, in any case.
    pub fn from_name(name: &[u8]) -> Option<SubscriptionKind> {
        const ALL: [SubscriptionKind; 6] = [
            SubscriptionKind::Subscribe,
            SubscriptionKind::Psubscribe,
            SubscriptionKind::Ssubscribe,
            SubscriptionKind::Unsubscribe,
            SubscriptionKind::Punsubscribe,
            SubscriptionKind::Sunsubscribe,
        ];
        ALL.into_iter()
            .find(|k| k.command().as_bytes().eq_ignore_ascii_case(name))
    }

    /// The subscribing command for `class` (`subscribe` true) or the unsubscribing one.
    pub fn of(class: NameClass, subscribe: bool) -> SubscriptionKind {
        match (class, subscribe) {
            (NameClass::Channel, true) => SubscriptionKind::Subscribe,
            (NameClass::Pattern, true) => SubscriptionKind::Psubscribe,
            (NameClass::Shard, true) => SubscriptionKind::Ssubscribe,
            (NameClass::Channel, false) => SubscriptionKind::Unsubscribe,
            (NameClass::Pattern, false) => SubscriptionKind::Punsubscribe,
            (NameClass::Shard, false) => SubscriptionKind::Sunsubscribe,
        }
    }

    /// What it names.
    pub fn class(self) -> NameClass {
        match self {
            SubscriptionKind::Subscribe | SubscriptionKind::Unsubscribe => NameClass::Channel,
            SubscriptionKind::Psubscribe | SubscriptionKind::Punsubscribe => NameClass::Pattern,
            SubscriptionKind::Ssubscribe | SubscriptionKind::Sunsubscribe => NameClass::Shard,
        }
    }

    /// True for the three that subscribe.
    pub fn subscribes(self) -> bool {
        matches!(
            self,
            SubscriptionKind::Subscribe
                | SubscriptionKind::Psubscribe
                | SubscriptionKind::Ssubscribe
        )
    }
}

/// An out-of-band frame, read.
#[derive(Clone, Copy, Debug)]
pub enum Push<'a> {
    /// `message channel payload`.
    Message {
        channel: &'a [u8],
        payload: ValueRef<'a>,
    },
    /// `pmessage pattern channel payload`.
    PatternMessage {
        pattern: &'a [u8],
        channel: &'a [u8],
        payload: ValueRef<'a>,
    },
    /// `smessage shardchannel payload`.
    ShardMessage {
        channel: &'a [u8],
        payload: ValueRef<'a>,
    },
    /// `subscribe channel count` and the five others: the server confirms one name (none for
    /// an unsubscribe-all that found nothing to drop) and says how many subscriptions of that
    /// family the connection has now.
    Confirmation {
        kind: SubscriptionKind,
        name: Option<&'a [u8]>,
        count: i64,
    },
    /// `invalidate [key ...]` (client-side caching): these keys changed; `None` (a null) means
    /// every key may have changed (FLUSHALL, or the server's tracking table overflowed).
    Invalidate { keys: Option<ValueRef<'a>> },
    /// Anything else (a server notice this library does not know).
    Other,
}

/// Reads an out-of-band frame: a RESP3 push, or an array on a RESP2 subscribed connection.
pub fn read_push(frame: ValueRef<'_>) -> Push<'_> {
    if !matches!(frame.kind(), Kind::Push | Kind::Array) {
        return Push::Other;
    }
    let text = |i: usize| frame.child(i).and_then(|v| v.as_bytes());
    let Some(name) = text(0) else {
        return Push::Other;
    };
    let n = frame.len();
    let payload = |i: usize| frame.child(i).filter(|_| n == i + 1);
    match name {
        b"message" => match (text(1), payload(2)) {
            (Some(channel), Some(payload)) => Push::Message { channel, payload },
            _ => Push::Other,
        },
        b"smessage" => match (text(1), payload(2)) {
            (Some(channel), Some(payload)) => Push::ShardMessage { channel, payload },
            _ => Push::Other,
        },
        b"pmessage" => match (text(1), text(2), payload(3)) {
            (Some(pattern), Some(channel), Some(payload)) => Push::PatternMessage {
                pattern,
                channel,
                payload,
            },
            _ => Push::Other,
        },
        b"invalidate" if n == 2 => {
            let keys = frame.child(1).filter(|v| !v.is_null());
            Push::Invalidate { keys }
        }
        _ => {
            // Confirmations name their command in lower case.
            let kind = name
                .iter()
                .all(u8::is_ascii_lowercase)
                .then(|| SubscriptionKind::from_name(name))
                .flatten();
            match (kind, frame.child(2).and_then(|v| v.as_integer())) {
                (Some(kind), Some(count)) if n == 3 => Push::Confirmation {
                    kind,
                    name: text(1),
                    count,
                },
                _ => Push::Other,
            }
        }
    }
}

/// True when a RESP2 array on a subscribed connection is a pub/sub frame rather than a
/// command's reply (`pong` answers a PING and is not).
pub fn is_pubsub_frame(frame: ValueRef<'_>) -> bool {
    frame.kind() == Kind::Array
        && matches!(
            read_push(frame),
            Push::Message { .. }
                | Push::PatternMessage { .. }
                | Push::ShardMessage { .. }
                | Push::Confirmation { .. }
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Decoder, Limits, Reply};

    pub(crate) fn decode_complete(wire: &[u8]) -> Reply {
        let (used, reply) = Decoder::new(Limits::default()).decode(wire).unwrap();
        assert_eq!(used, wire.len());
        reply.expect("a whole frame")
    }

    /// Wire examples, RESP3 and RESP2, and what each reads as.
    #[test]
    fn frames_read_as_what_they_say() {
        let cases: &[(&str, &[u8], &str)] = &[
            (
                "RESP3 message",
                b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
                "message news hello",
            ),
            (
                "RESP2 message",
                b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$0\r\n\r\n",
                "message news ",
            ),
            (
                "pmessage",
                b">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$1\r\nx\r\n",
                "pmessage n* news x",
            ),
            (
                "smessage",
                b">3\r\n$8\r\nsmessage\r\n$1\r\na\r\n$1\r\nb\r\n",
                "smessage a b",
            ),
            (
                "subscribe",
                b">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
                "Subscribe news 1",
            ),
            (
                "RESP2 psubscribe",
                b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n",
                "Psubscribe n* 2",
            ),
            (
                "unsubscribe of nothing",
                b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n",
                "Unsubscribe - 0",
            ),
            (
                "RESP2 unsubscribe of nothing",
                b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
                "Unsubscribe - 0",
            ),
            (
                "sunsubscribe (a slot moved away)",
                b">3\r\n$12\r\nsunsubscribe\r\n$1\r\na\r\n:0\r\n",
                "Sunsubscribe a 0",
            ),
            (
                "invalidate",
                b">2\r\n$10\r\ninvalidate\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n",
                "invalidate 2",
            ),
            (
                "invalidate everything",
                b">2\r\n$10\r\ninvalidate\r\n_\r\n",
                "invalidate all",
            ),
            ("pong", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n", "other"),
            (
                "message of the wrong length",
                b">2\r\n$7\r\nmessage\r\n$4\r\nnews\r\n",
                "other",
            ),
            (
                "upper-case name",
                b">3\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n:1\r\n",
                "other",
            ),
            ("not an aggregate", b"+message\r\n", "other"),
        ];
        for (name, wire, expected) in cases {
            let reply = decode_complete(wire);
            let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let got = match read_push(reply.value()) {
                Push::Message { channel, payload } => {
                    format!("message {} {}", s(channel), s(payload.as_bytes().unwrap()))
                }
                Push::PatternMessage {
                    pattern,
                    channel,
                    payload,
                } => format!(
                    "pmessage {} {} {}",
                    s(pattern),
                    s(channel),
                    s(payload.as_bytes().unwrap())
                ),
                Push::ShardMessage { channel, payload } => {
                    format!("smessage {} {}", s(channel), s(payload.as_bytes().unwrap()))
                }
                Push::Confirmation { kind, name, count } => {
                    format!("{kind:?} {} {count}", name.map_or("-".into(), s))
                }
                Push::Invalidate { keys: Some(keys) } => format!("invalidate {}", keys.len()),
                Push::Invalidate { keys: None } => "invalidate all".into(),
                Push::Other => "other".into(),
            };
            assert_eq!(got, *expected, "{name}");
        }
    }

    #[test]
    fn resp2_arrays_are_pubsub_frames_only_when_shaped_like_one() {
        let yes: &[&[u8]] = &[
            b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\np\r\n",
            b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
        ];
        let no: &[&[u8]] = &[
            b"*2\r\n$4\r\npong\r\n$0\r\n\r\n",
            b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\np\r\n",
            b"*1\r\n$7\r\nmessage\r\n",
        ];
        for wire in yes {
            assert!(is_pubsub_frame(decode_complete(wire).value()), "{wire:?}");
        }
        for wire in no {
            assert!(!is_pubsub_frame(decode_complete(wire).value()), "{wire:?}");
        }
    }
}
