//! The exchange on connections that carry streams: subscription commands answered by their
//! confirmations, messages apart from replies (RESP3 pushes, RESP2 arrays), MONITOR lines.
//! Wire bytes in, events out.

use super::exchange::tests::{read, Ex};
use super::exchange::{RequestMeta, StreamMode};
use super::push::SubscriptionKind;
use crate::resp::{encode_command, Limits, Value};

fn ready(mode: StreamMode) -> Ex {
    let mut ex = Ex::new(Limits::default(), 0);
    ex.set_ready();
    ex.set_mode(mode);
    ex
}

fn send(ex: &mut Ex, args: &[&str], id: u32) {
    ex.enqueue(|b| encode_command(b, args), id, RequestMeta::default());
    let out = ex.pending_output().len();
    ex.handle_written(out);
}

fn subscribe(ex: &mut Ex, kind: SubscriptionKind, names: &[&str], id: u32) {
    let mut args = vec![kind.command()];
    args.extend_from_slice(names);
    ex.enqueue(|b| encode_command(b, &args), id, RequestMeta::default());
    ex.expect_confirmations(kind, names.len() as u32);
    let out = ex.pending_output().len();
    ex.handle_written(out);
}

fn push(items: &[Value]) -> Value {
    Value::Push(items.to_vec())
}

#[test]
fn resp3_subscribe_is_answered_by_its_last_confirmation() {
    let mut ex = ready(StreamMode::Requests);
    subscribe(&mut ex, SubscriptionKind::Subscribe, &["a", "b"], 1);
    send(&mut ex, &["GET", "k"], 2);
    let first = b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n";
    assert!(read(&mut ex, first).is_empty(), "one of two confirmations");
    let events = read(
        &mut ex,
        b">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n$1\r\nv\r\n",
    );
    assert_eq!(
        events,
        vec![
            (
                None,
                push(&[Value::bulk("message"), Value::bulk("a"), Value::bulk("hi")])
            ),
            (
                Some(1),
                push(&[
                    Value::bulk("subscribe"),
                    Value::bulk("b"),
                    Value::Integer(2)
                ])
            ),
            (Some(2), Value::bulk("v")),
        ]
    );
    assert!(ex.is_idle());
}

#[test]
fn an_unsubscription_the_server_makes_itself_is_a_push() {
    let mut ex = ready(StreamMode::Requests);
    subscribe(&mut ex, SubscriptionKind::Ssubscribe, &["{s}x"], 1);
    // A slot moved away while SSUBSCRIBE waited: its SUNSUBSCRIBE is not the answer.
    let events = read(
        &mut ex,
        b">3\r\n$12\r\nsunsubscribe\r\n$4\r\n{s}y\r\n:0\r\n>3\r\n$10\r\nssubscribe\r\n$4\r\n{s}x\r\n:1\r\n",
    );
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].0, None);
    assert_eq!(events[1].0, Some(1));
}

#[test]
fn an_error_answers_a_subscription_command_like_any_reply() {
    let mut ex = ready(StreamMode::Requests);
    subscribe(&mut ex, SubscriptionKind::Ssubscribe, &["a", "b"], 1);
    let events = read(
        &mut ex,
        b"-CROSSSLOT Keys in request don't hash to the same slot\r\n",
    );
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, Some(1));
    assert!(ex.is_idle());
}

#[test]
fn resp2_subscribed_arrays_are_pushes_and_pong_answers_ping() {
    let mut ex = ready(StreamMode::SubscribedResp2);
    subscribe(&mut ex, SubscriptionKind::Psubscribe, &["n*"], 1);
    send(&mut ex, &["PING"], 2);
    let events = read(
        &mut ex,
        b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:1\r\n\
          *4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$1\r\nx\r\n\
          *2\r\n$4\r\npong\r\n$0\r\n\r\n",
    );
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].0, Some(1));
    assert_eq!(events[1].0, None);
    assert_eq!(
        events[2],
        (
            Some(2),
            Value::Array(vec![Value::bulk("pong"), Value::bulk("")])
        )
    );
    // Without the mode, the same message array would answer no request: a protocol error.
    let mut plain = ready(StreamMode::Requests);
    let err = plain
        .handle_read(b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n", |_| {})
        .unwrap_err();
    assert_eq!(err.kind(), crate::error::ErrorKind::Protocol);
}

#[test]
fn monitor_lines_come_after_monitor_is_answered() {
    let mut ex = ready(StreamMode::Monitor);
    send(&mut ex, &["MONITOR"], 1);
    let events = read(
        &mut ex,
        b"+OK\r\n+1.5 [0 127.0.0.1:1] \"GET\" \"k\"\r\n+2.5 [0 lua] \"PING\"\r\n",
    );
    assert_eq!(events[0], (Some(1), Value::simple("OK")));
    assert_eq!(events[1].0, None);
    assert_eq!(events[2], (None, Value::simple("2.5 [0 lua] \"PING\"")));
}

#[test]
fn a_kept_subscription_command_waits_for_all_its_confirmations_again() {
    let mut ex = ready(StreamMode::Requests);
    ex.enqueue(
        |b| encode_command(b, &["SUBSCRIBE", "a", "b"]),
        1,
        RequestMeta {
            retry_written: true,
            ..RequestMeta::default()
        },
    );
    ex.expect_confirmations(SubscriptionKind::Subscribe, 2);
    let n = ex.pending_output().len();
    ex.handle_written(n);
    assert!(read(&mut ex, b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n").is_empty());
    ex.handle_disconnect(3, |_| panic!("kept"));
    ex.set_ready();
    let n = ex.pending_output().len();
    ex.handle_written(n);
    assert!(read(&mut ex, b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n").is_empty());
    let events = read(&mut ex, b">3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, Some(1));
}
