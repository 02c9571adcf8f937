//! Pub/sub against a real server: messages in order (RESP2 and RESP3), patterns and shard
//! channels, the handler and polling forms (the handler kept until the subscriber is
//! dropped, no waiting inside a client's callback), subscriptions restored after the server
//! restarts (with the gap event), changes made while it is down or before the first
//! connection applied once it is up, health checks on an idle subscribed connection (also
//! after a command timed out on it, and a dropped subscriber's connection closed then), the
//! bounded inbox and its two overflow policies, commands on a RESP3 subscriber's connection,
//! and PUBLISH / SPUBLISH / PUBSUB through the client.

mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use redcore::client::Client;
use redcore::config::{Config, Endpoint, Protocol};
use redcore::pubsub::{Event, MessageKind, Overflow, PubSub, PubSubOptions};
use redcore::resp::Value;
use redcore::ErrorKind;
use support::fault_proxy::FaultProxy;
use support::RedisServer;

const WAIT: Duration = Duration::from_secs(10);

fn config(server: &RedisServer, protocol: Protocol) -> Config {
    Config {
        protocol,
        ..server.config()
    }
}

fn client(server: &RedisServer, protocol: Protocol) -> Client {
    Client::new(config(server, protocol)).expect("client connects")
}

/// (kind, channel, pattern, payload) of the next message, skipping nothing.
fn next_message(ps: &PubSub) -> (MessageKind, String, Option<String>, String) {
    match ps.get_message(Some(WAIT)).expect("get_message") {
        Some(Event::Message(m)) => (
            m.kind(),
            String::from_utf8_lossy(m.channel()).into_owned(),
            m.pattern().map(|p| String::from_utf8_lossy(p).into_owned()),
            String::from_utf8_lossy(m.payload()).into_owned(),
        ),
        other => panic!("expected a message, got {other:?}"),
    }
}

fn publish(c: &Client, channel: &str, payload: &str) -> i64 {
    c.command(&["PUBLISH", channel, payload])
        .expect("PUBLISH")
        .value()
        .as_integer()
        .expect("an integer")
}

#[test]
fn messages_arrive_in_order_on_resp3_and_resp2() {
    let server = RedisServer::start();
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let c = client(&server, protocol);
        let ps = PubSub::new(&c, PubSubOptions::default()).unwrap();
        ps.subscribe(&["news", "sport"]).unwrap();
        ps.psubscribe(&["w*"]).unwrap();
        assert_eq!(ps.subscriptions(), (2, 1, 0));
        for i in 0..200 {
            let channel = ["news", "sport", "weather"][i % 3];
            assert_eq!(publish(&c, channel, &i.to_string()), 1, "{protocol:?}");
        }
        for i in 0..200 {
            let (kind, channel, pattern, payload) = next_message(&ps);
            assert_eq!(payload, i.to_string(), "{protocol:?}: order");
            match i % 3 {
                2 => {
                    assert_eq!(kind, MessageKind::Pattern);
                    assert_eq!(channel, "weather");
                    assert_eq!(pattern.as_deref(), Some("w*"));
                }
                n => {
                    assert_eq!(kind, MessageKind::Message);
                    assert_eq!(channel, ["news", "sport"][n]);
                    assert_eq!(pattern, None);
                }
            }
        }
        assert!(ps
            .get_message(Some(Duration::from_millis(50)))
            .unwrap()
            .is_none());
        // Binary channel names and payloads travel as they are.
        ps.subscribe(&[&b"bin\0\r\n"[..]]).unwrap();
        c.command(&[&b"PUBLISH"[..], b"bin\0\r\n", b"\xff\x00"])
            .unwrap();
        match ps.get_message(Some(WAIT)).unwrap() {
            Some(Event::Message(m)) => {
                assert_eq!(m.channel(), b"bin\0\r\n");
                assert_eq!(m.payload(), b"\xff\x00");
            }
            other => panic!("{other:?}"),
        }
        // Unsubscribed channels get nothing more; an empty unsubscribe drops all.
        ps.unsubscribe(&["news"]).unwrap();
        assert_eq!(publish(&c, "news", "x"), 0);
        ps.unsubscribe::<&str>(&[]).unwrap();
        ps.punsubscribe::<&str>(&[]).unwrap();
        assert_eq!(ps.subscriptions(), (0, 0, 0));
        assert_eq!(publish(&c, "sport", "x"), 0);
        assert_eq!(publish(&c, "weather", "x"), 0);
        assert_eq!(ps.stats().received, 201);
    }
}

#[test]
fn shard_channels_and_the_publish_commands_through_the_client() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp3);
    let ps = PubSub::new(&c, PubSubOptions::default()).unwrap();
    ps.ssubscribe(&["orders", "{user}1"]).unwrap();
    ps.subscribe(&["plain"]).unwrap();
    let n = c.command(&["SPUBLISH", "orders", "o1"]).unwrap();
    assert_eq!(n.value().as_integer(), Some(1));
    assert_eq!(
        next_message(&ps),
        (MessageKind::Shard, "orders".into(), None, "o1".into())
    );
    let numsub = c.command(&["PUBSUB", "NUMSUB", "plain", "none"]).unwrap();
    assert_eq!(
        numsub.to_value(),
        Value::Array(vec![
            Value::bulk("plain"),
            Value::Integer(1),
            Value::bulk("none"),
            Value::Integer(0)
        ])
    );
    let shard = c.command(&["PUBSUB", "SHARDCHANNELS"]).unwrap().to_value();
    let Value::Array(mut names) = shard else {
        panic!("{shard:?}")
    };
    names.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(names, vec![Value::bulk("orders"), Value::bulk("{user}1")]);
    ps.sunsubscribe(&["orders"]).unwrap();
    assert_eq!(
        c.command(&["SPUBLISH", "orders", "o2"])
            .unwrap()
            .value()
            .as_integer(),
        Some(0)
    );
    assert_eq!(ps.subscriptions(), (1, 0, 1));
}

#[test]
fn the_handler_gets_every_event_on_its_own_thread() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp3);
    let ps = PubSub::new(&c, PubSubOptions::default()).unwrap();
    let (tx, rx) = mpsc::channel();
    let caller = std::thread::current().id();
    ps.set_handler(Box::new(move |event| {
        assert_ne!(std::thread::current().id(), caller);
        if let Event::Message(m) = event {
            tx.send(String::from_utf8_lossy(m.payload()).into_owned())
                .unwrap();
        }
    }))
    .unwrap();
    let err = ps.get_message(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        ps.set_handler(Box::new(|_| {})).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    ps.subscribe(&["ch"]).unwrap();
    for i in 0..500 {
        publish(&c, "ch", &i.to_string());
    }
    for i in 0..500 {
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), i.to_string());
    }
    drop(ps); // joins the handler's thread
    assert!(rx.recv_timeout(Duration::from_millis(10)).is_err());
}

/// Waits for the next event that is not a message (messages before it are skipped).
fn next_gap(ps: &PubSub) -> Event {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ps.get_message(Some(left)).unwrap() {
            Some(Event::Message(_)) => continue,
            Some(event) => return event,
            None => panic!("no event within {WAIT:?}"),
        }
    }
}

#[test]
fn a_restarted_server_gets_the_subscriptions_back_and_the_gap_is_told() {
    let mut server = RedisServer::start();
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let c = client(&server, protocol);
        let ps = PubSub::new(&c, PubSubOptions::default()).unwrap();
        ps.subscribe(&["a", "b"]).unwrap();
        ps.psubscribe(&["p*"]).unwrap();
        ps.ssubscribe(&["s"]).unwrap();
        publish(&c, "a", "before");
        assert_eq!(next_message(&ps).3, "before");

        server.restart();
        // Nothing is asked of the subscriber: it reconnects and subscribes again by itself,
        // and says so once the server has confirmed every subscription.
        match next_gap(&ps) {
            Event::Resubscribed { cause, failed } => {
                assert!(cause.is(ErrorKind::Connection), "{cause}");
                assert!(failed.is_none(), "{failed:?}");
            }
            other => panic!("{other:?}"),
        }
        // The client's own connection may need a moment to come back too.
        let deadline = Instant::now() + WAIT;
        let n = loop {
            match c.command(&["PUBLISH", "a", "after"]) {
                Ok(reply) => break reply.value().as_integer().unwrap(),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(n, 1, "{protocol:?}: the subscription is back");
        publish(&c, "b", "b1");
        publish(&c, "pq", "p1");
        c.command(&["SPUBLISH", "s", "s1"]).unwrap();
        let got: Vec<String> = (0..4).map(|_| next_message(&ps).3).collect();
        assert_eq!(got, ["after", "b1", "p1", "s1"], "{protocol:?}");
    }
}

#[test]
fn an_idle_subscriber_finds_a_dead_connection_by_health_checks() {
    let server = RedisServer::start();
    let mut cfg = config(&server, Protocol::Resp2);
    cfg.command_timeout = Some(Duration::from_millis(300));
    cfg.connect_timeout = Some(Duration::from_millis(300));
    let c = Client::new(cfg).unwrap();
    let options = PubSubOptions {
        health_check_interval: Some(Duration::from_millis(100)),
        ..PubSubOptions::default()
    };
    let ps = PubSub::new(&c, options).unwrap();
    ps.subscribe(&["ch"]).unwrap();
    // Pings on the idle subscribed connection are answered (RESP2's ["pong", ""]).
    std::thread::sleep(Duration::from_millis(400));
    assert!(ps.get_message(Some(Duration::ZERO)).unwrap().is_none());
    // A server that stops answering: the PING times out, the connection is replaced.
    server.pause();
    std::thread::sleep(Duration::from_millis(800));
    server.resume();
    match next_gap(&ps) {
        Event::Resubscribed { cause, .. } => {
            assert!(cause.message().contains("health check"), "{cause}")
        }
        other => panic!("{other:?}"),
    }
    let deadline = Instant::now() + WAIT;
    while publish_retrying(&c, "ch", "back", deadline) == 0 {
        assert!(Instant::now() < deadline, "resubscribed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(next_message(&ps).3, "back");
}

fn publish_retrying(c: &Client, channel: &str, payload: &str, deadline: Instant) -> i64 {
    loop {
        match c.command(&["PUBLISH", channel, payload]) {
            Ok(r) => return r.value().as_integer().unwrap(),
            Err(e) if Instant::now() >= deadline => panic!("{e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Waits until the subscriber has received `n` messages.
fn wait_received(ps: &PubSub, n: u64) {
    let deadline = Instant::now() + WAIT;
    while ps.stats().received < n {
        assert!(Instant::now() < deadline, "{:?}", ps.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A subscriber to "ch" with `options`, sent `n` messages ("0", "1", ...) it does not take.
fn flooded(
    server: &RedisServer,
    protocol: Protocol,
    options: PubSubOptions,
    n: usize,
) -> (Client, PubSub) {
    let c = client(server, protocol);
    let ps = PubSub::new(&c, options).unwrap();
    ps.subscribe(&["ch"]).unwrap();
    for i in 0..n {
        publish(&c, "ch", &i.to_string());
    }
    (c, ps)
}

#[test]
fn a_slow_consumer_loses_the_oldest_messages_and_is_told_how_many() {
    let server = RedisServer::start();
    let options = PubSubOptions {
        max_pending_messages: 10,
        ..PubSubOptions::default()
    };
    let (c, ps) = flooded(&server, Protocol::Resp3, options, 100);
    wait_received(&ps, 100);
    let stats = ps.stats();
    assert_eq!((stats.dropped, stats.pending), (90, 10));
    match ps.get_message(Some(WAIT)).unwrap() {
        Some(Event::Dropped(90)) => {}
        other => panic!("{other:?}"),
    }
    for i in 90..100 {
        assert_eq!(next_message(&ps).3, i.to_string());
    }
    // The client and its other connections were never held up.
    assert_eq!(publish(&c, "ch", "fine"), 1);
    assert_eq!(next_message(&ps).3, "fine");
}

#[test]
fn the_disconnect_policy_stops_a_subscriber_that_falls_behind() {
    let server = RedisServer::start();
    let options = PubSubOptions {
        max_pending_messages: 5,
        overflow: Overflow::Disconnect,
        ..PubSubOptions::default()
    };
    let (c, ps) = flooded(&server, Protocol::Resp2, options, 20);
    wait_received(&ps, 6);
    // What it held is still delivered, then the end, with why.
    for i in 0..5 {
        assert_eq!(next_message(&ps).3, i.to_string());
    }
    match ps.get_message(Some(WAIT)).unwrap() {
        Some(Event::Closed(err)) => assert_eq!(err.kind(), ErrorKind::Pubsub, "{err}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ps.get_message(Some(WAIT)).unwrap_err().kind(),
        ErrorKind::Pubsub
    );
    assert_eq!(ps.subscribe(&["x"]).unwrap_err().kind(), ErrorKind::Pubsub);
    // Its connection is closed: the server no longer counts the subscriber.
    let deadline = Instant::now() + WAIT;
    while publish(&c, "ch", "x") != 0 {
        assert!(
            Instant::now() < deadline,
            "the subscriber's connection closed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_resp3_subscriber_connection_also_takes_commands() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp3);
    c.command(&["SET", "k", "v"]).unwrap();
    let ps = PubSub::new(&c, PubSubOptions::default()).unwrap();
    ps.subscribe(&["ch"]).unwrap();
    assert_eq!(
        ps.command(&["GET", "k"]).unwrap().to_value(),
        Value::bulk("v")
    );
    publish(&c, "ch", "m");
    // A message pushed between replies stays a message.
    assert_eq!(
        ps.command(&["PING"]).unwrap().to_value(),
        Value::simple("PONG")
    );
    assert_eq!(next_message(&ps).3, "m");
    for bad in [
        &["SUBSCRIBE", "x"][..],
        &["BLPOP", "l", "0"],
        &["SELECT", "1"],
    ] {
        assert_eq!(
            ps.command(bad).unwrap_err().kind(),
            ErrorKind::InvalidArgument,
            "{bad:?}"
        );
    }

    let c2 = client(&server, Protocol::Resp2);
    let ps2 = PubSub::new(&c2, PubSubOptions::default()).unwrap();
    ps2.subscribe(&["ch"]).unwrap();
    assert_eq!(
        ps2.command(&["PING"]).unwrap().to_value(),
        Value::Array(vec![Value::bulk("pong"), Value::bulk("")])
    );
    assert_eq!(
        ps2.command(&["GET", "k"]).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn subscribing_is_refused_when_it_makes_no_sense() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp3);
    let ps = PubSub::new(&c, PubSubOptions::default()).unwrap();
    let none: [&str; 0] = [];
    assert_eq!(
        ps.subscribe(&none).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    // Nothing subscribed: unsubscribing from all sends nothing and succeeds.
    ps.sunsubscribe(&none).unwrap();
    // An ACL that forbids a channel: the server's refusal, and it is not wanted afterwards.
    c.command(&["ACL", "SETUSER", "default", "resetchannels", "&allowed"])
        .unwrap();
    let err = ps.subscribe(&["forbidden"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoPermission, "{err}");
    assert_eq!(ps.subscriptions(), (0, 0, 0));
    ps.subscribe(&["allowed"]).unwrap();
    assert_eq!(ps.subscriptions(), (1, 0, 0));
    c.command(&["ACL", "SETUSER", "default", "allchannels"])
        .unwrap();
    // A subscriber of a closed client refuses everything.
    let ps2 = PubSub::new(&c, PubSubOptions::default()).unwrap();
    drop(ps);
    c.close();
    match ps2.get_message(Some(WAIT)) {
        Ok(Some(Event::Closed(err))) => assert_eq!(err.kind(), ErrorKind::Closed),
        other => panic!("{other:?}"),
    }
    assert_eq!(ps2.subscribe(&["x"]).unwrap_err().kind(), ErrorKind::Closed);
}

/// `shutdown` ends a subscription call that waits on a server that stopped answering (no
/// command timeout: it would wait for good) at once with CLOSED, from another thread, while
/// the subscriber is still in use; later calls fail with CLOSED, and the consumer gets the
/// `Closed` event. The subscriber is freed afterwards as usual.
#[test]
fn shutdown_ends_a_subscription_waiting_on_a_stopped_server() {
    let server = RedisServer::start();
    let mut cfg = config(&server, Protocol::Resp3);
    cfg.command_timeout = None;
    let c = Client::new(cfg).expect("client connects");
    let ps = std::sync::Arc::new(PubSub::new(&c, PubSubOptions::default()).unwrap());
    ps.subscribe(&["before"]).unwrap();
    server.pause();
    struct Resume<'a>(&'a RedisServer);
    impl Drop for Resume<'_> {
        fn drop(&mut self) {
            self.0.resume();
        }
    }
    let _resume = Resume(&server);
    let waiting = {
        let ps = ps.clone();
        std::thread::spawn(move || ps.subscribe(&["during"]))
    };
    std::thread::sleep(Duration::from_millis(200));
    assert!(!waiting.is_finished(), "the subscription did not wait");
    let started = Instant::now();
    ps.shutdown();
    let err = waiting.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        ps.subscribe(&["after"]).unwrap_err().kind(),
        ErrorKind::Closed
    );
    match ps.get_message(Some(WAIT)) {
        Ok(Some(Event::Closed(err))) => assert_eq!(err.kind(), ErrorKind::Closed),
        other => panic!("{other:?}"),
    }
    ps.shutdown(); // again: nothing
    drop(ps);
}

/// Waits until PUBLISH on `channel` reaches `n` subscribers (the subscriber may still be
/// restoring its subscriptions, the client reconnecting).
fn wait_publish_reaches(c: &Client, channel: &str, n: i64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = publish_retrying(c, channel, "probe", deadline);
        if got == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "PUBLISH {channel} reaches {got} subscribers, not {n}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn changes_made_while_the_server_is_down_are_applied_when_it_is_back() {
    let mut server = RedisServer::start();
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let c = client(&server, protocol);
        let ps = PubSub::new(&c, PubSubOptions::default()).unwrap();
        ps.subscribe(&["a", "c"]).unwrap();
        server.stop();
        // Past the reconnect attempts of the default retry policy: the subscriber's
        // connection now refuses commands at once.
        std::thread::sleep(Duration::from_millis(1000));
        let err = ps.subscribe(&["b"]).unwrap_err();
        assert!(err.is(ErrorKind::Connection), "{protocol:?}: {err}");
        let err = ps.unsubscribe(&["c"]).unwrap_err();
        assert!(err.is(ErrorKind::Connection), "{protocol:?}: {err}");
        assert_eq!(
            ps.subscriptions(),
            (2, 0, 0),
            "{protocol:?}: a and b wanted"
        );

        server.restart();
        match next_gap(&ps) {
            Event::Resubscribed { failed, .. } => assert!(failed.is_none(), "{failed:?}"),
            other => panic!("{other:?}"),
        }
        wait_publish_reaches(&c, "a", 1);
        assert_eq!(publish(&c, "b", "to-b"), 1, "{protocol:?}: b subscribed");
        assert_eq!(publish(&c, "c", "to-c"), 0, "{protocol:?}: c unsubscribed");
        let payloads: Vec<String> = (0..2).map(|_| next_message(&ps).3).collect();
        assert_eq!(payloads.last().map(String::as_str), Some("to-b"));
        assert!(ps
            .get_message(Some(Duration::from_millis(100)))
            .unwrap()
            .is_none());
    }
}

#[test]
fn a_subscriber_that_never_connected_subscribes_once_the_server_is_up() {
    let mut server = RedisServer::start();
    server.stop();
    let c = Client::new(Config {
        lazy_connect: true,
        ..config(&server, Protocol::Resp3)
    })
    .unwrap();
    let ps = PubSub::new(&c, PubSubOptions::default()).unwrap();
    let err = ps.subscribe(&["x"]).unwrap_err();
    assert!(err.is(ErrorKind::Connection), "{err}");
    assert_eq!(ps.subscriptions(), (1, 0, 0), "x stays wanted");

    server.restart();
    // The consumer hears that its subscriptions are in place now.
    match next_gap(&ps) {
        Event::Resubscribed { cause, failed } => {
            assert!(cause.is(ErrorKind::Connection), "{cause}");
            assert!(failed.is_none(), "{failed:?}");
        }
        other => panic!("{other:?}"),
    }
    wait_publish_reaches(&c, "x", 1);
}

#[test]
fn a_command_that_timed_out_does_not_stop_the_health_checks() {
    let server = RedisServer::start();
    let mut cfg = config(&server, Protocol::Resp2);
    cfg.command_timeout = Some(Duration::from_millis(300));
    cfg.connect_timeout = Some(Duration::from_millis(300));
    let c = Client::new(cfg).unwrap();
    let options = PubSubOptions {
        health_check_interval: Some(Duration::from_millis(500)),
        ..PubSubOptions::default()
    };
    let ps = PubSub::new(&c, options).unwrap();
    ps.subscribe(&["a"]).unwrap();
    // A server that stops answering: SUBSCRIBE b times out, written and unanswered, before
    // any health check is due.
    server.pause();
    let err = ps.subscribe(&["b"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    // The next health check (idle 500 ms) times out (300 ms): the connection is replaced.
    std::thread::sleep(Duration::from_millis(1500));
    server.resume();
    match next_gap(&ps) {
        Event::Resubscribed { cause, .. } => {
            assert!(cause.message().contains("health check"), "{cause}")
        }
        other => panic!("{other:?}"),
    }
    // b stayed wanted (a timeout is no refusal), and is subscribed on the new connection.
    wait_publish_reaches(&c, "b", 1);
    wait_publish_reaches(&c, "a", 1);
}

#[test]
fn a_dropped_subscriber_closes_its_connection_with_a_timed_out_command_pending() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    let c = Client::new(Config {
        endpoint: Endpoint::Tcp {
            host: server.host().to_string(),
            port: proxy.port(),
        },
        command_timeout: Some(Duration::from_millis(300)),
        ..server.config()
    })
    .unwrap();
    c.command(&["PING"]).unwrap();
    let options = PubSubOptions {
        health_check_interval: None,
        ..PubSubOptions::default()
    };
    let ps = PubSub::new(&c, options).unwrap();
    ps.subscribe(&["a"]).unwrap();
    let links = proxy.open_links();
    server.pause();
    let err = ps.subscribe(&["b"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    drop(ps);
    // Nobody waits for the late reply: the connection closes now, stalled server or not.
    let deadline = Instant::now() + WAIT;
    while proxy.open_links() >= links {
        if Instant::now() >= deadline {
            server.resume();
            panic!("the dropped subscriber's connection stayed open");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    server.resume();
}

#[test]
fn the_handler_is_kept_until_the_subscriber_is_dropped() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp3);
    let ps = PubSub::new(&c, PubSubOptions::default()).unwrap();
    let (tx, rx) = mpsc::channel();
    ps.set_handler(Box::new(move |event| {
        let _ = tx.send(event);
    }))
    .unwrap();
    c.close();
    match rx.recv_timeout(WAIT) {
        Ok(Event::Closed(err)) => assert_eq!(err.kind(), ErrorKind::Closed),
        other => panic!("{other:?}"),
    }
    // The handler (and what it holds: the channel's sender here, a C caller's userdata) is
    // still alive: the subscriber is.
    let kept = rx.recv_timeout(Duration::from_millis(200));
    assert!(
        matches!(kept, Err(mpsc::RecvTimeoutError::Timeout)),
        "{kept:?}"
    );
    drop(ps);
    let dropped = rx.recv_timeout(WAIT);
    assert!(
        matches!(dropped, Err(mpsc::RecvTimeoutError::Disconnected)),
        "{dropped:?}"
    );
}

#[test]
fn waiting_for_a_message_inside_a_callback_is_refused() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp3);
    let ps = std::sync::Arc::new(PubSub::new(&c, PubSubOptions::default()).unwrap());
    ps.subscribe(&["ch"]).unwrap();
    let (tx, rx) = mpsc::channel();
    let inner = ps.clone();
    // (Waiting there would wait for messages that only this thread could deliver.)
    c.submit(&["PING"], move |_| {
        let waiting = inner.get_message(Some(Duration::from_secs(2))).map(|_| ());
        let polling = inner.get_message(Some(Duration::ZERO)).map(|_| ());
        let _ = tx.send((waiting, polling));
    })
    .unwrap();
    let (waiting, polling) = rx.recv_timeout(WAIT).expect("the callback returned");
    assert_eq!(waiting.unwrap_err().kind(), ErrorKind::InvalidArgument);
    polling.unwrap();
}
