//! The engine against real servers: reply types, concurrency, failures (server killed,
//! restarted, paused, slow), shutdown, dedicated connections, pipelines and transactions.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use redcore::client::{Client, Pipeline};
use redcore::config::{Config, Endpoint, Protocol};
use redcore::resp::{Kind, Value};
use redcore::ErrorKind;
use support::RedisServer;

fn config(server: &RedisServer) -> Config {
    Config {
        endpoint: Endpoint::Tcp {
            host: server.host().to_string(),
            port: server.port(),
        },
        command_timeout: Some(Duration::from_secs(5)),
        ..Config::default()
    }
}

fn client(server: &RedisServer) -> Client {
    Client::new(config(server)).expect("client connects")
}

fn value(client: &Client, args: &[&str]) -> Value {
    client.command(args).expect("command succeeds").to_value()
}

#[test]
fn basic_commands_and_error_kinds() {
    let server = RedisServer::start();
    let c = client(&server);
    assert_eq!(value(&c, &["SET", "k", "v"]), Value::simple("OK"));
    assert_eq!(value(&c, &["GET", "k"]), Value::bulk("v"));
    assert_eq!(value(&c, &["GET", "missing"]), Value::Null);
    assert_eq!(value(&c, &["INCR", "n"]), Value::Integer(1));
    let binary: &[u8] = b"a\r\nb\0c";
    c.command(&[&b"SET"[..], b"bin", binary]).unwrap();
    assert_eq!(
        c.command(&["GET", "bin"]).unwrap().to_value(),
        Value::bulk(binary)
    );
    let err = c.command(&["LPUSH", "k", "x"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Response);
    assert!(err.message().starts_with("WRONGTYPE"), "{err}");
    let err = c
        .command(&["EVALSHA", "0000000000000000000000000000000000000000", "0"])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoScript);
    let err = c.command(&["NOSUCHCOMMAND"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Response);
    // Stateful commands are refused on shared connections.
    for cmd in [
        &["WATCH", "k"][..],
        &["MULTI"],
        &["SUBSCRIBE", "ch"],
        &["SELECT", "1"],
    ] {
        let err = c.command(cmd).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{cmd:?}");
    }
    let empty: [&str; 0] = [];
    assert_eq!(
        c.command(&empty).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn every_resp3_type_from_a_real_server() {
    let server = RedisServer::start();
    let c = client(&server);
    let hello = c.command(&["HELLO"]).unwrap_err();
    assert_eq!(
        hello.kind(),
        ErrorKind::InvalidArgument,
        "HELLO is stateful"
    );
    let cases = [
        ("string", Kind::Bulk),
        ("integer", Kind::Integer),
        ("double", Kind::Double),
        ("bignum", Kind::BigNumber),
        ("null", Kind::Null),
        ("array", Kind::Array),
        ("set", Kind::Set),
        ("map", Kind::Map),
        ("verbatim", Kind::Verbatim),
        ("true", Kind::Boolean),
        ("false", Kind::Boolean),
    ];
    for (name, kind) in cases {
        let reply = c.command(&["DEBUG", "PROTOCOL", name]).unwrap();
        assert_eq!(reply.kind(), kind, "DEBUG PROTOCOL {name}");
    }
    // An attribute stays reachable from the value it annotates.
    let reply = c.command(&["DEBUG", "PROTOCOL", "attrib"]).unwrap();
    let attr = reply.value().attribute().expect("attribute kept");
    assert_eq!(attr.kind(), Kind::Attribute);
    // A push goes to the push handler, not to the command; the command gets its own reply.
    let pushes = Arc::new(Mutex::new(Vec::new()));
    let seen = pushes.clone();
    c.set_push_handler(Some(Box::new(move |r| {
        seen.lock().unwrap().push(r.to_value())
    })));
    let reply = c.command(&["DEBUG", "PROTOCOL", "push"]).unwrap();
    assert_eq!(reply.kind(), Kind::Bulk);
    // The handler runs on a reactor thread, possibly just after the command returned.
    let deadline = Instant::now() + Duration::from_secs(2);
    while pushes.lock().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(pushes.lock().unwrap().len(), 1);
    // Maps from real commands.
    c.command(&["HSET", "h", "f", "v"]).unwrap();
    let map = c.command(&["HGETALL", "h"]).unwrap();
    assert_eq!(
        map.to_value(),
        Value::Map(vec![(Value::bulk("f"), Value::bulk("v"))])
    );
}

#[test]
fn resp2_unix_socket_and_auth() {
    let server = RedisServer::builder()
        .unix_socket(true)
        .arg("--requirepass")
        .arg("s3cret")
        .start();
    let mut cfg = config(&server);
    cfg.endpoint = Endpoint::Unix {
        path: server.unix_path(),
    };
    cfg.protocol = Protocol::Resp2;
    cfg.password = Some(redcore::config::Secret::new("s3cret"));
    cfg.client_name = Some("redcore-test".into());
    cfg.db = 2;
    let c = Client::new(cfg.clone()).unwrap();
    assert_eq!(
        value(&c, &["CLIENT", "GETNAME"]),
        Value::bulk("redcore-test")
    );
    c.command(&["SET", "in-db-2", "1"]).unwrap();
    assert_eq!(server.cmd(&["AUTH", "s3cret"]), Value::simple("OK"));
    // RESP2: HGETALL is a flat array.
    c.command(&["HSET", "h", "f", "v"]).unwrap();
    assert_eq!(c.command(&["HGETALL", "h"]).unwrap().kind(), Kind::Array);
    // Wrong password: the client refuses to start, with an authentication error that does
    // not contain the password.
    cfg.password = Some(redcore::config::Secret::new("wrong-password-xyz"));
    let err = Client::new(cfg).err().expect("bad password fails");
    assert!(err.is(ErrorKind::Authentication), "{err}");
    assert!(!err.message().contains("wrong-password-xyz"));
}

/// Connections the server has open under client name `name`.
fn connections_named(admin: &Client, name: &str) -> usize {
    let list = admin.command(&["CLIENT", "LIST"]).unwrap().to_value();
    let (Value::Bulk(text) | Value::Verbatim(_, text)) = list else {
        panic!("CLIENT LIST: {list:?}")
    };
    let needle = format!(" name={name} ");
    String::from_utf8_lossy(&text).matches(&needle).count()
}

/// Blocking callers that find the shared connection busy open direct connections, up to
/// the bound, and every reply still reaches its caller; with the bound at 0 they all share
/// the one connection.
#[test]
fn concurrent_blocking_callers_open_direct_connections_up_to_the_bound() {
    let server = RedisServer::start();
    let admin = client(&server);
    for (bound, name) in [(3, "direct-3"), (0, "direct-0")] {
        let c = Arc::new(
            Client::new(Config {
                max_direct_connections_per_node: bound,
                client_name: Some(name.into()),
                ..config(&server)
            })
            .unwrap(),
        );
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        let key = format!("{name}:{t}:{}", i % 10);
                        let payload = format!("{t}-{i}");
                        assert_eq!(
                            c.command(&["SET", &key, &payload]).unwrap().to_value(),
                            Value::simple("OK")
                        );
                        assert_eq!(
                            c.command(&["GET", &key]).unwrap().to_value(),
                            Value::bulk(&payload)
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let open = connections_named(&admin, name);
        assert!(open >= 1 && open <= 1 + bound, "{name}: {open} connections");
        // Closing with the direct connections open completes and closes them all.
        drop(c);
        let deadline = Instant::now() + Duration::from_secs(10);
        while connections_named(&admin, name) > 0 {
            assert!(Instant::now() < deadline, "{name}: connections left open");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn four_threads_100k_commands_each_replies_reach_their_caller() {
    let server = RedisServer::start();
    let c = Arc::new(client(&server));
    let per_thread = 100_000;
    let window = 2_000;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                let (tx, rx) = mpsc::channel::<(usize, Result<Value, redcore::Error>)>();
                let mut in_flight = 0;
                let mut checked = 0;
                let check = |(i, result): (usize, Result<Value, redcore::Error>)| {
                    let expected = format!("t{t}-{i}");
                    assert_eq!(result.unwrap(), Value::bulk(&expected));
                };
                for i in 0..per_thread {
                    if in_flight == window {
                        check(
                            rx.recv_timeout(Duration::from_secs(10))
                                .expect("reply arrives"),
                        );
                        checked += 1;
                        in_flight -= 1;
                    }
                    let tx = tx.clone();
                    let payload = format!("t{t}-{i}");
                    if i % 1000 == 999 {
                        // Mix in blocking calls on the same client.
                        let v = c.command(&["ECHO", &payload]).unwrap().to_value();
                        assert_eq!(v, Value::bulk(&payload));
                        checked += 1;
                        continue;
                    }
                    c.submit(&["ECHO", &payload], move |r| {
                        let _ = tx.send((i, r.map(|r| r.to_value())));
                    })
                    .unwrap();
                    in_flight += 1;
                }
                while in_flight > 0 {
                    check(
                        rx.recv_timeout(Duration::from_secs(10))
                            .expect("reply arrives"),
                    );
                    checked += 1;
                    in_flight -= 1;
                }
                checked
            })
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, 4 * per_thread);
}

#[test]
fn killed_server_completes_every_callback_once_and_restart_recovers() {
    let mut server = RedisServer::start();
    let mut cfg = config(&server);
    cfg.retry.retries = 2;
    let c = client_with(cfg);
    let completed = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let twice = Arc::new(AtomicUsize::new(0));
    let n = 10_000;
    // Once the retries after the kill are used up, submissions are refused at once (the
    // callback then never runs): count those apart.
    let mut refused = 0;
    for i in 0..n {
        let completed = completed.clone();
        let errors = errors.clone();
        let twice = twice.clone();
        let once = AtomicUsize::new(0);
        let submitted = c.submit(&["SET", &format!("k{i}"), "v"], move |r| {
            if once.fetch_add(1, Ordering::SeqCst) > 0 {
                twice.fetch_add(1, Ordering::SeqCst);
            }
            if let Err(e) = r {
                assert!(
                    e.is(ErrorKind::Connection) || e.kind() == ErrorKind::Timeout,
                    "{e}"
                );
                errors.fetch_add(1, Ordering::SeqCst);
            }
            completed.fetch_add(1, Ordering::SeqCst);
        });
        if let Err(e) = submitted {
            assert!(i > n / 2, "refused before the kill: {e}");
            assert!(e.is(ErrorKind::Connection), "{e}");
            refused += 1;
        }
        if i == n / 2 {
            server.kill();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while completed.load(Ordering::SeqCst) + refused < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        completed.load(Ordering::SeqCst) + refused,
        n,
        "every accepted command's callback ran"
    );
    assert_eq!(twice.load(Ordering::SeqCst), 0, "no callback ran twice");
    assert!(errors.load(Ordering::SeqCst) > 0, "some commands failed");
    // While the server is down, commands fail rather than hang.
    let err = c.command(&["PING"]).unwrap_err();
    assert!(
        err.is(ErrorKind::Connection) || err.kind() == ErrorKind::Timeout,
        "{err}"
    );
    // Restart on the same port: the client reconnects by itself.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.command(&["PING"]) {
            Ok(r) => {
                assert_eq!(r.to_value(), Value::simple("PONG"));
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert!(
                    e.is(ErrorKind::Connection) || e.kind() == ErrorKind::Timeout,
                    "{e}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("did not recover: {e}"),
        }
    }
}

fn client_with(cfg: Config) -> Client {
    Client::new(cfg).expect("client connects")
}

#[test]
fn timeout_keeps_the_connection_and_pairs_later_replies() {
    let server = RedisServer::start();
    let mut cfg = config(&server);
    cfg.command_timeout = Some(Duration::from_millis(200));
    // One connection: a blocking call that finds it still busy (the late reply not read yet,
    // on a loaded machine) would otherwise open a direct connection of its own.
    cfg.max_direct_connections_per_node = 0;
    let c = client_with(cfg);
    c.command(&["SET", "x", "1"]).unwrap();
    let id_before = value(&c, &["CLIENT", "ID"]);
    let started = Instant::now();
    let err = c.command(&["DEBUG", "SLEEP", "2"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "did not wait for the reply"
    );
    // Once the sleep is over, the late +OK is read and dropped: the next command on the same
    // connection gets its own reply.
    std::thread::sleep(
        Duration::from_millis(2100) - started.elapsed().min(Duration::from_millis(2000)),
    );
    assert_eq!(value(&c, &["GET", "x"]), Value::bulk("1"));
    assert_eq!(value(&c, &["CLIENT", "ID"]), id_before, "same connection");
    // Async timeouts too.
    let (tx, rx) = mpsc::channel();
    c.submit(&["DEBUG", "SLEEP", "0.5"], move |r| {
        tx.send(r.map(|r| r.to_value())).unwrap()
    })
    .unwrap();
    let r = rx.recv_timeout(Duration::from_secs(2)).unwrap();
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Timeout);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(value(&c, &["ECHO", "after"]), Value::bulk("after"));
}

/// A lone callback command on an idle connection is written by the submitting thread while
/// the event loop sleeps, and the loop is not woken for it: after a lone command, its sleep
/// is kept to half the command timeout for a while, so the deadline is still seen, and the
/// command times out on time. Below the floor of that cap (8 ms), lone commands with a
/// deadline go to the loop.
#[test]
fn a_lone_callback_command_written_while_the_loop_sleeps_times_out_on_time() {
    let server = RedisServer::start();
    let submit = |c: &Client, args: &[&str], tx: &mpsc::Sender<redcore::Result<Value>>| {
        let tx = tx.clone();
        c.submit(args, move |r| tx.send(r.map(|r| r.to_value())).unwrap())
            .unwrap();
    };
    for timeout in [400u64, 3] {
        let mut cfg = config(&server);
        cfg.command_timeout = Some(Duration::from_millis(timeout));
        let c = client_with(cfg);
        let (tx, rx) = mpsc::channel();
        let mut sets = 0;
        let mut attempts = 0;
        loop {
            attempts += 1;
            // Lone commands, one at a time: most are written by this thread (the loop writes
            // those that come while it is still awake from the last reply).
            let warm = c.loop_stats().caller_writes;
            while timeout > 100 && c.loop_stats().caller_writes < warm + 5 && sets < 1000 {
                submit(&c, &["SET", &format!("lone:{sets}"), "v"], &tx);
                let r = rx.recv_timeout(Duration::from_secs(5)).unwrap();
                assert_eq!(r.unwrap(), Value::simple("OK"));
                sets += 1;
            }
            // The loop falls asleep (no timer of its own is due; a standalone client has no
            // other), then a command that the server holds longer than the timeout.
            std::thread::sleep(Duration::from_millis(100));
            let before = c.loop_stats();
            let started = Instant::now();
            submit(&c, &["DEBUG", "SLEEP", "0.6"], &tx);
            let r = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            let took = started.elapsed();
            let after = c.loop_stats();
            assert_eq!(
                r.unwrap_err().kind(),
                ErrorKind::Timeout,
                "timeout {timeout} ms"
            );
            assert!(
                took >= Duration::from_millis(timeout)
                    && took < Duration::from_millis(timeout + 300),
                "timeout {timeout} ms fired after {took:?}"
            );
            // The server is back before the next command.
            std::thread::sleep(Duration::from_millis(700).saturating_sub(took));
            let written_here = after.caller_writes - before.caller_writes;
            if timeout < 8 {
                assert_eq!(written_here, 0, "below the floor, the loop writes");
                break;
            }
            // Written here, and the loop was not woken while it was in flight. (Else the
            // loop woke from its capped sleep just then, and wrote it: try again.)
            if written_here == 1 {
                assert_eq!(after.wakeups, before.wakeups, "the loop was not woken");
                break;
            }
            assert!(attempts < 5, "never written by the submitter: {after:?}");
        }
        // The connection answers in order.
        for i in 0..sets.min(50) {
            submit(&c, &["GET", &format!("lone:{i}")], &tx);
            let r = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(r.unwrap(), Value::bulk("v"));
        }
    }
}

/// While the event loop runs the completions of one read, what their callbacks submit is
/// written once the server has less left to answer than waits to be written, not only after
/// the last callback: the server works while the loop does. (Chains of callbacks, each
/// completion submitting the next command, would otherwise take turns with the server.)
#[test]
fn what_callbacks_submit_reaches_the_server_before_their_turn_ends() {
    let server = RedisServer::start();
    let mut cfg = config(&server);
    cfg.connections_per_node = 1;
    let c = Arc::new(client_with(cfg));
    let port = server.port();
    let (tx, rx) = mpsc::channel();
    // The server holds the connection, so that the 64 PINGs queued behind the sleep are
    // answered in one write, and their completions run in one turn of the loop.
    c.submit(&["DEBUG", "SLEEP", "0.2"], |_| {}).unwrap();
    let pings = 64;
    for i in 0..pings {
        let (chain, tx) = (c.clone(), tx.clone());
        c.submit(&["PING"], move |r| {
            if r.is_err() {
                let _ = tx.send(Err(format!("PING {i}: {:?}", r.err())));
            } else if i + 1 < pings {
                chain.submit(&["INCR", "early"], |_| {}).unwrap();
            } else {
                // The turn's last completion: the INCRs before it should be at the server.
                let mut raw = support::connect_to(port).unwrap();
                let deadline = Instant::now() + Duration::from_secs(2);
                let seen = loop {
                    let v = raw.command(&["GET", "early"]).unwrap();
                    if v != Value::Null || Instant::now() > deadline {
                        break v;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                };
                let _ = tx.send(Ok(seen));
            }
        })
        .unwrap();
    }
    let seen = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_ne!(
        seen,
        Value::Null,
        "no INCR was written while the turn's completions ran"
    );
    // Every INCR lands, in order with the rest.
    assert_eq!(value(&c, &["GET", "early"]), Value::bulk("63"));
    // The callbacks' handles are gone before the last one drops here (off the loop).
    let deadline = Instant::now() + Duration::from_secs(5);
    while Arc::strong_count(&c) > 1 {
        assert!(Instant::now() < deadline, "callbacks kept the client");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits (10 s at most) until `c` answers again after its server was resumed.
fn answers_again(c: &Client) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.command(&["PING"]).is_err() {
        assert!(Instant::now() < deadline, "did not recover after resume");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn paused_server_times_out_instead_of_hanging() {
    let server = RedisServer::start();
    let mut cfg = config(&server);
    cfg.command_timeout = Some(Duration::from_millis(300));
    cfg.health_check_interval = Some(Duration::from_millis(200));
    let c = client_with(cfg);
    c.command(&["PING"]).unwrap();
    server.pause();
    let started = Instant::now();
    let err = c.command(&["PING"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));
    server.resume();
    answers_again(&c);
}

/// The event loop sends without holding a connection's lock, from a copy, and must never
/// wait in that send: a server that stops reading fills the socket, and the commands queued
/// behind still time out on time (the loop stays free to see their deadlines).
#[test]
fn a_full_socket_does_not_stall_the_event_loop() {
    let server = RedisServer::start();
    let mut cfg = config(&server);
    cfg.command_timeout = Some(Duration::from_millis(300));
    let c = client_with(cfg);
    c.command(&["PING"]).unwrap();
    server.pause();
    // Resumed before the client is dropped, also when an assertion fails: a loop stuck in a
    // send would otherwise hold the client's shutdown (and the test) for good.
    struct Resume<'a>(&'a RedisServer);
    impl Drop for Resume<'_> {
        fn drop(&mut self) {
            self.0.resume();
        }
    }
    let resume = Resume(&server);
    let value = "v".repeat(40_000);
    let (tx, rx) = mpsc::channel();
    // 40 KB at a time, a little apart, so that each flush of the loop is a small one (sent
    // unlocked); 10 MB in all, more than the loopback's socket buffers hold.
    let count = 250;
    for i in 0..count {
        let tx = tx.clone();
        let submitted = Instant::now();
        c.submit(&["SET", &format!("full:{i}"), &value], move |r| {
            let _ = tx.send((r.map(|_| ()), submitted.elapsed()));
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    for _ in 0..count {
        let (r, took) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Timeout);
        assert!(
            took < Duration::from_millis(1500),
            "timed out after {took:?}"
        );
    }
    drop(resume);
    answers_again(&c);
}

#[test]
fn closing_completes_pending_commands_with_closed() {
    let server = RedisServer::start();
    let c = client(&server);
    let results = Arc::new(Mutex::new(Vec::new()));
    // A slow command holds the connection so the rest stay pending.
    for i in 0..1000 {
        let results = results.clone();
        let args: Vec<String> = if i == 0 {
            vec!["DEBUG".into(), "SLEEP".into(), "0.3".into()]
        } else {
            vec!["PING".into()]
        };
        c.submit(&args, move |r| results.lock().unwrap().push(r.map(|_| ())))
            .unwrap();
    }
    c.close();
    let results = results.lock().unwrap();
    assert_eq!(
        results.len(),
        1000,
        "every callback ran before close returned"
    );
    assert!(results
        .iter()
        .any(|r| matches!(r, Err(e) if e.kind() == ErrorKind::Closed)));
}

/// `shutdown` while other threads use the client: a blocking call waiting with no timeout on
/// a server that stopped answering returns CLOSED at once, as do the callbacks pending, a
/// subscriber waiting for a message and every later call; the client is freed afterwards.
#[test]
fn shutdown_ends_calls_in_progress_on_a_stalled_server() {
    let server = RedisServer::start();
    let mut cfg = config(&server);
    cfg.command_timeout = None;
    let c = Arc::new(client_with(cfg));
    assert_eq!(value(&c, &["SET", "k", "v"]), Value::simple("OK"));
    let pubsub = redcore::pubsub::PubSub::new(&c, Default::default()).unwrap();
    pubsub.subscribe(&["news"]).unwrap();
    server.pause();
    let blocked = {
        let c = c.clone();
        std::thread::spawn(move || c.command(&["GET", "k"]).map(|r| r.to_value()))
    };
    let listener = std::thread::spawn(move || {
        let got = pubsub.get_message(None);
        (got, pubsub)
    });
    let callbacks = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..50 {
        let callbacks = callbacks.clone();
        c.submit(&["GET", "k"], move |r| {
            callbacks.lock().unwrap().push(r.map(|_| ()))
        })
        .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(!blocked.is_finished(), "the server answered while paused");
    let started = Instant::now();
    c.shutdown();
    let results = callbacks.lock().unwrap().clone();
    assert_eq!(
        results.len(),
        50,
        "every callback ran before shutdown returned"
    );
    assert!(results
        .iter()
        .all(|r| matches!(r, Err(e) if e.is(ErrorKind::Closed))));
    let got = blocked.join().unwrap();
    assert!(matches!(&got, Err(e) if e.is(ErrorKind::Closed)), "{got:?}");
    let (event, pubsub) = listener.join().unwrap();
    assert!(
        matches!(&event, Ok(Some(redcore::pubsub::Event::Closed(e))) if e.is(ErrorKind::Closed)),
        "the subscriber ended: {event:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    let later = c.command(&["GET", "k"]);
    assert!(
        matches!(&later, Err(e) if e.is(ErrorKind::Closed)),
        "{later:?}"
    );
    let refused = c.submit(&["GET", "k"], |_| {});
    assert!(matches!(&refused, Err(e) if e.is(ErrorKind::Closed)));
    c.shutdown(); // again: nothing
    server.resume();
    drop(pubsub);
    drop(Arc::try_unwrap(c).ok().expect("the only reference"));
}

/// Submitters racing `shutdown`: every accepted command completes exactly once.
#[test]
fn commands_racing_shutdown_complete_exactly_once() {
    let server = RedisServer::start();
    for round in 0..5 {
        let mut cfg = config(&server);
        cfg.command_timeout = None;
        let c = Arc::new(client_with(cfg));
        let accepted = Arc::new(AtomicUsize::new(0));
        let completed = Arc::new(AtomicUsize::new(0));
        let blocking_done = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::new();
        for t in 0..3 {
            let (c, accepted, completed, blocking_done) = (
                c.clone(),
                accepted.clone(),
                completed.clone(),
                blocking_done.clone(),
            );
            threads.push(std::thread::spawn(move || {
                for i in 0..20_000 {
                    if t == 0 {
                        // Blocking calls, some on dedicated connections made meanwhile.
                        let args: &[&str] = if i % 4 == 0 {
                            &["BLPOP", "nothing", "0.01"]
                        } else {
                            &["INCR", "n"]
                        };
                        match c.command(args) {
                            Ok(_) => {}
                            Err(e) if e.is(ErrorKind::Closed) => break,
                            Err(e) => panic!("{e}"),
                        }
                        blocking_done.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    let completed = completed.clone();
                    match c.submit(&["INCR", "n"], move |_| {
                        completed.fetch_add(1, Ordering::SeqCst);
                    }) {
                        Ok(()) => accepted.fetch_add(1, Ordering::SeqCst),
                        Err(e) if e.is(ErrorKind::Closed) => break,
                        Err(e) => panic!("{e}"),
                    };
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(20 + 10 * round));
        c.shutdown();
        for t in threads {
            t.join().unwrap();
        }
        drop(Arc::try_unwrap(c).ok().expect("the only reference"));
        let (accepted, completed) = (
            accepted.load(Ordering::SeqCst),
            completed.load(Ordering::SeqCst),
        );
        assert!(accepted > 0, "round {round}: nothing was accepted");
        assert_eq!(accepted, completed, "round {round}");
    }
}

#[test]
fn freeing_from_a_callback_does_not_deadlock() {
    let server = RedisServer::start();
    let c = client(&server);
    let holder = Arc::new(Mutex::new(Some(c)));
    let (tx, rx) = mpsc::channel();
    let h = holder.clone();
    holder
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .submit(&["PING"], move |_| {
            let client = h.lock().unwrap().take();
            drop(client); // freed on the reactor thread
            tx.send(()).unwrap();
        })
        .unwrap();
    rx.recv_timeout(Duration::from_secs(5))
        .expect("callback finished");
}

#[test]
fn blocking_commands_use_dedicated_connections_and_extend_timeouts() {
    let server = RedisServer::start();
    let mut cfg = config(&server);
    cfg.command_timeout = Some(Duration::from_millis(300));
    cfg.max_dedicated_connections = 2;
    cfg.dedicated_wait_timeout = Duration::from_millis(300);
    let c = Arc::new(client_with(cfg));
    // BLPOP with a 1 s block outlives the 300 ms command timeout.
    let started = Instant::now();
    assert_eq!(value(&c, &["BLPOP", "empty", "0.6"]), Value::Null);
    assert!(started.elapsed() >= Duration::from_millis(550));
    // Two blockers hold both dedicated connections; shared commands still flow.
    let blockers: Vec<_> = (0..2)
        .map(|i| {
            let c = c.clone();
            std::thread::spawn(move || {
                c.command(&["BLPOP", &format!("q{i}"), "0"])
                    .unwrap()
                    .to_value()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(value(&c, &["PING"]), Value::simple("PONG"));
    // A third blocking command waits for a dedicated connection, then gives up.
    let err = c.command(&["BLPOP", "q9", "0"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MaxConnections, "{err}");
    assert!(err.is(ErrorKind::Connection));
    // Feed the blockers; their connections return to the pool and serve the next one.
    c.command(&["RPUSH", "q0", "a"]).unwrap();
    c.command(&["RPUSH", "q1", "b"]).unwrap();
    for b in blockers {
        assert_eq!(b.join().unwrap().to_value_kind(), Kind::Array);
    }
    c.command(&["RPUSH", "q2", "c"]).unwrap();
    assert_eq!(
        value(&c, &["BLPOP", "q2", "1"]),
        Value::Array(vec![Value::bulk("q2"), Value::bulk("c")])
    );
}

trait KindOf {
    fn to_value_kind(&self) -> Kind;
}

impl KindOf for Value {
    fn to_value_kind(&self) -> Kind {
        match self {
            Value::Array(_) => Kind::Array,
            Value::Null => Kind::Null,
            _ => Kind::Simple,
        }
    }
}

#[test]
fn dedicated_connection_runs_watch_multi_exec() {
    let server = RedisServer::start();
    let c = client(&server);
    c.command(&["SET", "balance", "10"]).unwrap();
    let mut d = c.dedicated().unwrap();
    assert_eq!(
        d.command(&["WATCH", "balance"]).unwrap().to_value(),
        Value::simple("OK")
    );
    let balance = d.command(&["GET", "balance"]).unwrap().to_value();
    assert_eq!(balance, Value::bulk("10"));
    // Someone else changes the key: EXEC returns nil.
    c.command(&["SET", "balance", "11"]).unwrap();
    d.command(&["MULTI"]).unwrap();
    assert_eq!(
        d.command(&["SET", "balance", "0"]).unwrap().to_value(),
        Value::simple("QUEUED")
    );
    assert_eq!(d.command(&["EXEC"]).unwrap().to_value(), Value::Null);
    assert_eq!(value(&c, &["GET", "balance"]), Value::bulk("11"));
    d.release();
    // A released connection comes back clean: a new WATCH transaction works.
    let mut d = c.dedicated().unwrap();
    d.command(&["MULTI"]).unwrap();
    d.command(&["INCR", "balance"]).unwrap();
    let exec = d.command(&["EXEC"]).unwrap().to_value();
    assert_eq!(exec, Value::Array(vec![Value::Integer(12)]));
}

#[test]
fn pipelines_and_transactions() {
    let server = RedisServer::start();
    let c = client(&server);
    let mut p = Pipeline::new();
    for i in 0..128 {
        p.add(&["SET", &format!("p{i}"), &i.to_string()]).unwrap();
    }
    p.add(&["GET", "p7"]).unwrap();
    p.add(&["LPUSH", "p1", "x"]).unwrap();
    let r = c.run_pipeline(&p).unwrap();
    assert_eq!(r.len(), 130);
    assert_eq!(r.get(0).unwrap().unwrap().as_str(), Some("OK"));
    assert_eq!(r.get(128).unwrap().unwrap().as_str(), Some("7"));
    assert_eq!(r.get(129).unwrap().unwrap_err().kind(), ErrorKind::Response);
    assert!(p.add(&["MULTI"]).is_err(), "stateful commands are refused");

    let mut t = Pipeline::transaction();
    t.add(&["INCR", "counter"]).unwrap();
    t.add(&["INCR", "counter"]).unwrap();
    t.add(&["LPUSH", "p1", "x"]).unwrap(); // fails at EXEC time, the others still apply
    let r = c.run_pipeline(&t).unwrap();
    assert_eq!(r.get(0).unwrap().unwrap().as_integer(), Some(1));
    assert_eq!(r.get(1).unwrap().unwrap().as_integer(), Some(2));
    assert_eq!(r.get(2).unwrap().unwrap_err().kind(), ErrorKind::Response);

    // A command that fails when queued aborts the whole transaction.
    let mut t = Pipeline::transaction();
    t.add(&["INCR", "counter"]).unwrap();
    t.add(&["NOSUCHCOMMAND"]).unwrap();
    let r = c.run_pipeline(&t).unwrap();
    assert_eq!(r.get(0).unwrap().unwrap_err().kind(), ErrorKind::ExecAbort);
    assert_eq!(r.get(1).unwrap().unwrap_err().kind(), ErrorKind::Response);
    assert_eq!(value(&c, &["GET", "counter"]), Value::bulk("2"));

    // Async.
    let (tx, rx) = mpsc::channel();
    c.submit_pipeline(&p, move |r| tx.send(r.len()).unwrap())
        .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 130);
}

#[test]
fn unreachable_server_fails_fast_with_a_connection_error() {
    let port = support::free_port();
    let cfg = Config {
        endpoint: Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port,
        },
        ..Config::default()
    };
    let started = Instant::now();
    let err = Client::new(cfg.clone()).err().expect("nothing listens");
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(err.message().contains(&port.to_string()), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // With lazy connect the client starts, and commands fail with the connection error.
    let c = Client::new(Config {
        lazy_connect: true,
        ..cfg
    })
    .unwrap();
    let err = c.command(&["PING"]).unwrap_err();
    assert!(err.is(ErrorKind::Connection), "{err}");
}

#[test]
fn forked_child_gets_errors_not_hangs() {
    let server = RedisServer::start();
    let c = client(&server);
    c.command(&["PING"]).unwrap();
    // SAFETY: the child only calls into the client (which must refuse) and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = match c.command(&["PING"]) {
            Err(e) if e.kind() == ErrorKind::Closed => 0,
            _ => 1,
        };
        std::mem::forget(c);
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status}"
    );
    // The parent's client is untouched.
    assert_eq!(value(&c, &["PING"]), Value::simple("PONG"));
}

/// A server closes idle clients (its `timeout`, CLIENT KILL, a restart): the next command,
/// sent after the close, is not lost on the dead socket but goes out on a new connection, on
/// each path (a blocking call, a callback, a pipeline) and soon after the close as well as
/// long after. Before, a close less than a second old cost the next command (CONNECTION,
/// never run) about half the time.
#[test]
fn a_connection_the_server_closed_while_idle_costs_no_command() {
    let server = RedisServer::start();
    let c = client(&server);
    let rounds = 10;
    for round in 0..rounds {
        for path in ["blocking", "callback", "pipeline"] {
            c.command(&["INCR", "idle-close:before"]).unwrap();
            let killed = server.cmd(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
            assert!(matches!(killed, Value::Integer(n) if n >= 1), "{killed:?}");
            std::thread::sleep(Duration::from_millis(if round % 2 == 0 { 20 } else { 300 }));
            let result = match path {
                "blocking" => c.command(&["INCR", "idle-close:after"]).map(|_| ()),
                "callback" => {
                    let (tx, rx) = mpsc::channel();
                    c.submit(&["INCR", "idle-close:after"], move |r| {
                        tx.send(r.map(|_| ())).unwrap()
                    })
                    .unwrap();
                    rx.recv_timeout(Duration::from_secs(10)).unwrap()
                }
                _ => {
                    let mut p = Pipeline::new();
                    p.add(&["INCR", "idle-close:after"]).unwrap();
                    c.run_pipeline(&p).map(|_| ())
                }
            };
            if let Err(e) = result {
                panic!("round {round}, {path}: the command after the close failed: {e}");
            }
        }
    }
    assert_eq!(
        value(&c, &["GET", "idle-close:after"]),
        Value::bulk((rounds * 3).to_string())
    );
}

#[test]
fn a_connection_killed_by_the_server_is_replaced() {
    let server = RedisServer::start();
    let c = client(&server);
    let id = match value(&c, &["CLIENT", "ID"]) {
        Value::Integer(id) => id,
        other => panic!("CLIENT ID gave {other:?}"),
    };
    assert_eq!(
        server.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]),
        Value::Integer(1)
    );
    // The first command may meet the dead socket (it was written, so it is not resent: a
    // connection error); the client reconnects by itself and the next one works.
    match c.command(&["PING"]) {
        Ok(r) => assert_eq!(r.to_value(), Value::simple("PONG")),
        Err(e) => assert!(e.is(ErrorKind::Connection), "{e}"),
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.command(&["CLIENT", "ID"]) {
            Ok(r) => {
                assert_ne!(r.to_value(), Value::Integer(id), "a new connection");
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert!(e.is(ErrorKind::Connection), "{e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("no recovery: {e}"),
        }
    }
}

#[test]
fn several_reactors_and_connections_share_the_load() {
    let server = RedisServer::start();
    let mut cfg = config(&server);
    cfg.reactor_threads = 2;
    cfg.connections_per_node = 4;
    let c = Arc::new(client_with(cfg));
    let ids = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let c = c.clone();
            let ids = ids.clone();
            std::thread::spawn(move || {
                let (tx, rx) = mpsc::channel();
                for i in 0..5_000 {
                    let tx = tx.clone();
                    let payload = format!("{t}:{i}");
                    let expected = payload.clone();
                    c.submit(&["ECHO", &payload], move |r| {
                        tx.send(r.unwrap().to_value() == Value::bulk(&expected))
                            .unwrap();
                    })
                    .unwrap();
                }
                for _ in 0..5_000 {
                    assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap());
                }
                for _ in 0..50 {
                    let id = c.command(&["CLIENT", "ID"]).unwrap().to_value();
                    ids.lock().unwrap().insert(format!("{id:?}"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        ids.lock().unwrap().len() > 1,
        "commands spread over connections"
    );
}

#[test]
fn empty_pipelines_are_refused_not_lost() {
    let server = RedisServer::start();
    let c = client(&server);
    let p = Pipeline::new();
    assert_eq!(
        c.run_pipeline(&p).err().unwrap().kind(),
        ErrorKind::InvalidArgument
    );
    let err = c
        .submit_pipeline(&p, |_| panic!("must not run"))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    // An empty transaction is a real MULTI/EXEC round trip.
    assert_eq!(c.run_pipeline(&Pipeline::transaction()).unwrap().len(), 0);
}

fn connected_clients(server: &RedisServer) -> usize {
    let info = server.cmd(&["INFO", "clients"]);
    let text = String::from_utf8_lossy(support::bytes(&info)).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("connected_clients in INFO")
}

#[test]
fn dedicated_connections_whose_state_changed_are_closed() {
    let server = RedisServer::start();
    let c = client(&server);
    let before = connected_clients(&server);
    for _ in 0..5 {
        let mut d = c.dedicated().unwrap();
        d.command(&["SELECT", "1"]).unwrap();
        d.release();
    }
    // Each of those was closed, not reconnected: no connection piles up.
    let deadline = Instant::now() + Duration::from_secs(3);
    while connected_clients(&server) > before + 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        connected_clients(&server) <= before + 1,
        "retired connections stayed open"
    );
    // The pool still works.
    let mut d = c.dedicated().unwrap();
    assert_eq!(
        d.command(&["PING"]).unwrap().to_value(),
        Value::simple("PONG")
    );
}

#[test]
fn async_pipelines_never_block_the_caller_waiting_for_a_connection() {
    let server = RedisServer::start();
    let mut cfg = config(&server);
    cfg.max_dedicated_connections = 1;
    cfg.dedicated_wait_timeout = Duration::from_millis(1500);
    let c = client_with(cfg);
    let held = c.dedicated().unwrap();
    let mut p = Pipeline::new();
    p.add(&["BLPOP", "nothing", "0.1"]).unwrap();
    let caller = std::thread::current().id();
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    c.submit_pipeline(&p, move |r| {
        let err = r.get(0).unwrap().unwrap_err().kind();
        tx.send((err, std::thread::current().id() != caller))
            .unwrap();
    })
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "submit returned at once"
    );
    let (kind, on_library_thread) = rx.recv_timeout(Duration::from_secs(3)).unwrap();
    assert_eq!(kind, ErrorKind::MaxConnections);
    assert!(on_library_thread, "the callback ran on a reactor thread");
    drop(held);
    // With the connection free again, the same pipeline runs.
    assert_eq!(c.run_pipeline(&p).unwrap().len(), 1);
}

#[test]
fn zero_dedicated_connections_fail_at_once() {
    let server = RedisServer::start();
    let mut cfg = config(&server);
    cfg.max_dedicated_connections = 0;
    let c = client_with(cfg);
    let started = Instant::now();
    let err = c.command(&["BLPOP", "q", "0"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MaxConnections);
    assert!(err.message().contains("disabled"), "{err}");
    assert_eq!(
        c.dedicated().err().unwrap().kind(),
        ErrorKind::MaxConnections
    );
    assert!(started.elapsed() < Duration::from_secs(2), "no 5 s wait");
}

#[test]
fn blocking_calls_over_two_connections_never_lose_a_reply() {
    // A blocking call that found one connection busy used to write on the other one, idle and
    // left without read interest by an earlier direct caller, and wait for a reply nobody read.
    let server = RedisServer::start();
    let cfg = Config {
        connections_per_node: 2,
        ..config(&server)
    };
    let c = Arc::new(Client::new(cfg).unwrap());
    let deadline = Instant::now() + Duration::from_millis(1500);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    c.command(&["SET", &format!("k{t}:{}", i % 100), "x"])
                        .unwrap_or_else(|e| panic!("thread {t}, command {i}: {e}"));
                    i += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn pipelines_larger_than_the_in_flight_bound_complete() {
    let server = RedisServer::start();
    let mut cfg = config(&server);
    cfg.max_in_flight_per_connection = 8;
    let c = client_with(cfg);
    let mut p = Pipeline::new();
    for i in 0..50 {
        p.add(&["INCR", &format!("n{}", i % 3)]).unwrap();
    }
    let r = c.run_pipeline(&p).unwrap();
    assert_eq!(r.len(), 50);
    assert!(r.first_error().is_none());
    assert_eq!(value(&c, &["GET", "n0"]), Value::bulk("17"));
}

#[test]
fn freeing_a_client_from_another_clients_callback_completes_its_commands() {
    let server = RedisServer::start();
    let a = client(&server);
    let b = client(&server);
    let done = Arc::new(AtomicUsize::new(0));
    // B has a slow command and more behind it when A's callback frees it.
    for i in 0..100 {
        let done = done.clone();
        let args: Vec<String> = if i == 0 {
            vec!["DEBUG".into(), "SLEEP".into(), "0.2".into()]
        } else {
            vec!["PING".into()]
        };
        b.submit(&args, move |_| {
            done.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    let holder = Arc::new(Mutex::new(Some(b)));
    let (tx, rx) = mpsc::channel();
    let h = holder.clone();
    let d = done.clone();
    a.submit(&["PING"], move |_| {
        drop(h.lock().unwrap().take()); // B freed on A's reactor thread
        tx.send(d.load(Ordering::SeqCst)).unwrap();
    })
    .unwrap();
    let seen = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        seen, 100,
        "every command of B completed before its free returned"
    );
}

#[test]
fn callbacks_of_one_connection_complete_in_submission_order() {
    // One thread's blocking calls read the shared connection directly and find the replies of
    // the other thread's callbacks on the way; the reactor reads the rest. Whoever reads a
    // reply, the callbacks must run in the order they were submitted.
    let server = RedisServer::start();
    let c = Arc::new(client(&server));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let c = c.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut calls = 0u64;
            while !done.load(Ordering::Relaxed) {
                assert_eq!(value(&c, &["PING"]), Value::simple("PONG"));
                calls += 1;
            }
            calls
        })
    };
    let order = Arc::new(Mutex::new(Vec::new()));
    let total = 200_000;
    let (tx, rx) = mpsc::channel();
    for i in 0..total {
        let order = order.clone();
        let tx = tx.clone();
        c.submit(&["PING"], move |r| {
            assert!(r.is_ok());
            order.lock().unwrap().push(i);
            if i == total - 1 {
                let _ = tx.send(());
            }
        })
        .unwrap();
        if i % 64 == 63 {
            // Let the blocking caller in between bursts.
            std::thread::yield_now();
        }
    }
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the last callback runs");
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    let order = order.lock().unwrap();
    assert_eq!(order.len(), total);
    let misplaced = order.windows(2).filter(|w| w[0] > w[1]).count();
    assert_eq!(misplaced, 0, "callbacks ran out of submission order");
}

#[test]
fn commands_that_time_out_before_they_are_written_never_run() {
    let server = RedisServer::start();
    let mut cfg = config(&server);
    cfg.command_timeout = Some(Duration::from_millis(300));
    let c = client_with(cfg);
    c.command(&["SET", "runs", "0"]).unwrap();
    server.pause();
    // 16 MiB of SETs fill the socket buffers of a stopped server: the INCRs behind them, and
    // a transaction, cannot be written before they time out.
    let big = vec![b'x'; 1 << 20];
    let (tx, rx) = mpsc::channel();
    for _ in 0..16 {
        let tx = tx.clone();
        c.submit(&[&b"SET"[..], b"big", &big], move |r| {
            tx.send(("SET", r.map(|r| r.to_value()))).unwrap()
        })
        .unwrap();
    }
    for _ in 0..20 {
        let tx = tx.clone();
        c.submit(&["INCR", "runs"], move |r| {
            tx.send(("INCR", r.map(|r| r.to_value()))).unwrap()
        })
        .unwrap();
    }
    let mut transaction = Pipeline::transaction();
    transaction.add(&["INCR", "runs"]).unwrap();
    let done = tx.clone();
    c.submit_pipeline(&transaction, move |result| {
        let kind = result.get(0).unwrap().unwrap_err().kind();
        done.send(("EXEC", Err(redcore::Error::new(kind, ""))))
            .unwrap()
    })
    .unwrap();
    drop(tx);
    let mut seen = Vec::new();
    for _ in 0..37 {
        seen.push(
            rx.recv_timeout(Duration::from_secs(10))
                .expect("every command completes"),
        );
    }
    for (what, result) in &seen {
        let err = result.as_ref().expect_err(what);
        assert_eq!(err.kind(), ErrorKind::Timeout, "{what}: {err}");
    }
    server.resume();
    // The SETs already (half) written are finished and their replies dropped; the INCRs
    // never went out. Commands sent now run once each.
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.command(&["PING"]).is_err() {
        assert!(Instant::now() < deadline, "did not recover after resume");
    }
    for _ in 0..5 {
        c.command(&["INCR", "runs"]).unwrap();
    }
    assert_eq!(value(&c, &["GET", "runs"]), Value::bulk("5"));
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "completed once"
    );
}
