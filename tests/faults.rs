//! The fault matrix: the client against a real server behind a fault-injecting proxy (cut
//! replies, latency, a black hole, a trickle, corruption, resets, refused connections) and
//! against a scripted server that sends malformed replies. In every case, every command
//! completes exactly once, with its own reply (checked by value: each key's value names the
//! key) or a typed error; no call hangs past its timeout; and the client recovers by itself
//! once the fault ends.
//!
//! Standalone through the proxy; a cluster through a primary killed under load (its replica
//! takes over). Sentinel has not landed yet.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use redcore::client::Client;
use redcore::config::{Backoff, BackoffKind, Config, Endpoint};
use redcore::resp::Value;
use redcore::{Error, ErrorKind};
use support::cluster::RedisCluster;
use support::fault_proxy::{Fault, FaultProxy};
use support::scripted_server::{Answer, ScriptedServer};
use support::RedisServer;

/// The command timeout of most tests: short, so that timeouts happen, yet far above the
/// latency of a loaded 2-core machine.
const TIMEOUT: Duration = Duration::from_millis(400);

/// How long any single command may take at most in these tests, however loaded the machine
/// (its timeout plus a generous margin): a call past it is a hang.
const NO_HANG: Duration = Duration::from_secs(10);

fn config(port: u16, timeout: Duration) -> Config {
    Config {
        endpoint: Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port,
        },
        command_timeout: Some(timeout),
        connect_timeout: Some(Duration::from_secs(2)),
        ..Config::default()
    }
}

/// The value stored under (and, from the scripted server, answered for) `key`.
fn value_of(key: &str) -> Value {
    Value::bulk(format!("value-of-{key}"))
}

/// One command's outcome, as its callback saw it.
type Outcome = Result<Value, Error>;

/// Submits `args_of(i)` for each of `count` commands at once, and collects the outcome of
/// each. Panics if a callback runs twice or one has not run within `NO_HANG`.
fn burst(client: &Client, count: usize, args_of: impl Fn(usize) -> Vec<String>) -> Vec<Outcome> {
    let (tx, rx) = mpsc::channel();
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..count).map(|_| AtomicUsize::new(0)).collect());
    let mut outcomes: Vec<Option<Outcome>> = (0..count).map(|_| None).collect();
    for (i, slot) in outcomes.iter_mut().enumerate() {
        let tx = tx.clone();
        let runs = runs.clone();
        let submitted = client.submit(&args_of(i), move |result| {
            let previous = runs[i].fetch_add(1, Ordering::SeqCst);
            assert_eq!(previous, 0, "callback {i} ran twice");
            let _ = tx.send((i, result.map(|r| r.to_value())));
        });
        if let Err(e) = submitted {
            *slot = Some(Err(e));
        }
    }
    drop(tx);
    let deadline = Instant::now() + NO_HANG;
    while outcomes.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, outcome)) => {
                assert!(outcomes[i].is_none(), "command {i} completed twice");
                outcomes[i] = Some(outcome);
            }
            Err(_) => panic!(
                "{} callbacks did not run within {NO_HANG:?}",
                outcomes.iter().filter(|o| o.is_none()).count()
            ),
        }
    }
    outcomes.into_iter().map(Option::unwrap).collect()
}

/// Each outcome is the value of its own key or an error of one of `allowed` kinds; returns
/// how many succeeded.
fn check_pairing(keys: &[String], outcomes: &[Outcome], allowed: &[ErrorKind]) -> usize {
    let mut ok = 0;
    for (key, outcome) in keys.iter().zip(outcomes) {
        match outcome {
            Ok(v) => {
                assert_eq!(v, &value_of(key), "the reply to GET {key} is another's");
                ok += 1;
            }
            Err(e) => assert!(
                allowed.contains(&e.kind()),
                "GET {key}: unexpected error {:?}: {e}",
                e.kind()
            ),
        }
    }
    ok
}

/// Runs `f` until it returns true, for at most `limit`.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A blocking GET, timed: panics if it took longer than `NO_HANG`.
fn timed_get(client: &Client, key: &str) -> Outcome {
    let start = Instant::now();
    let result = client.command(&["GET", key]).map(|r| r.to_value());
    assert!(
        start.elapsed() < NO_HANG,
        "GET {key} hung for {:?}",
        start.elapsed()
    );
    result
}

/// The scripted server's answer to `GET key`: the key's value, `bad` for `GET bad`.
fn script_gets(bad: &'static [u8]) -> impl Fn(&[String]) -> Answer + Send + Sync + 'static {
    move |args: &[String]| match args {
        [get, key] if get == "GET" && key == "bad" => Answer::raw(bad),
        [get, key] if get == "GET" => Answer::bulk(format!("value-of-{key}")),
        _ => Answer::raw("-ERR unknown command\r\n"),
    }
}

// ---- the three defects of issue 15 -----------------------------------------------------------

/// Defect 1: a server sends an aggregate with fewer elements than it declares, then stalls.
/// The command times out; the next replies must not complete that aggregate and shift every
/// later reply onto the command before it. The connection is closed instead (its unwritten
/// commands go to the next one, the written ones fail with CONNECTION).
#[test]
fn a_stalled_malformed_aggregate_never_shifts_replies() {
    let shapes: [(&str, &'static [u8]); 2] = [
        ("array of 3 with 2", b"*3\r\n:1\r\n:2\r\n"),
        ("map with an odd count", b"%2\r\n+a\r\n:1\r\n+b\r\n"),
    ];
    for (shape, bad) in shapes {
        let server = ScriptedServer::start(script_gets(bad));
        let client = Client::new(config(server.port(), TIMEOUT)).expect("connects");
        // A blocking call (read on the caller's thread), then a callback (read by the reactor).
        for path in ["blocking", "async"] {
            let err = match path {
                "blocking" => client.command(&["GET", "bad"]).unwrap_err(),
                _ => burst(&client, 1, |_| vec!["GET".into(), "bad".into()])
                    .remove(0)
                    .unwrap_err(),
            };
            assert_eq!(err.kind(), ErrorKind::Timeout, "{shape}, {path}: {err}");
            let keys: Vec<String> = (0..20).map(|i| format!("{path}-{i}")).collect();
            let outcomes = burst(&client, keys.len(), |i| vec!["GET".into(), keys[i].clone()]);
            check_pairing(&keys, &outcomes, &[ErrorKind::Connection]);
            for i in 0..5 {
                let key = format!("{path}-after-{i}");
                assert_eq!(timed_get(&client, &key).unwrap(), value_of(&key), "{shape}");
            }
        }
        assert!(
            server.accepted() >= 3,
            "{shape}: the untrusted connections were not replaced ({} accepted)",
            server.accepted()
        );
    }
}

/// A reply and the server's close arriving together. The event loop stops reading a plain
/// socket after a short read (polling is edge-triggered: more data is a new edge), but no edge
/// follows a hangup, so there it reads on to the end: the command the server never answered
/// fails at once with a connection error instead of waiting for its (long) timeout.
#[test]
fn a_reply_that_arrives_with_the_servers_close_does_not_hide_the_close() {
    let server = ScriptedServer::start(|args: &[String]| match args {
        [set, key, _] if set == "SET" && key.starts_with("last") => {
            Answer::ReplyThenClose(b"+OK\r\n".to_vec())
        }
        [set, _, _] if set == "SET" => Answer::raw("+OK\r\n"),
        _ => Answer::Nothing,
    });
    // Far longer than NO_HANG: only noticing the close can end the unanswered command in time.
    let client = Client::new(config(server.port(), Duration::from_secs(60))).expect("connects");
    for round in 0..5 {
        let keys = [
            format!("first-{round}"),
            format!("last-{round}"),
            format!("after-{round}"),
        ];
        let outcomes = burst(&client, keys.len(), |i| {
            vec!["SET".into(), keys[i].clone(), "v".into()]
        });
        for (key, outcome) in keys.iter().zip(&outcomes) {
            match outcome {
                Ok(v) => assert_eq!(v, &Value::Simple(b"OK".to_vec()), "SET {key}"),
                // The command after the close: written and never answered (a written SET is
                // not sent again), or not yet written and sent on the next connection (Ok).
                Err(e) => assert!(
                    key.starts_with("after") && e.kind() == ErrorKind::Connection,
                    "round {round}, SET {key}: {e}"
                ),
            }
        }
    }
}

/// Defect 2: a `+` line that never ends is refused at the line limit (1 MiB), not buffered up
/// to the bulk limit (512 MiB) until the command times out; the connection is replaced.
#[test]
fn an_endless_simple_line_is_a_protocol_error_not_a_memory_sink() {
    let endless = {
        let mut bytes = b"+".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 4 * 1024 * 1024));
        bytes
    };
    let endless: &'static [u8] = endless.leak();
    let server = ScriptedServer::start(script_gets(endless));
    // A timeout long enough that only the line limit can end the command in time.
    let client = Client::new(config(server.port(), Duration::from_secs(30))).expect("connects");
    for path in ["blocking", "async"] {
        let start = Instant::now();
        let err = match path {
            "blocking" => client.command(&["GET", "bad"]).unwrap_err(),
            _ => burst(&client, 1, |_| vec!["GET".into(), "bad".into()])
                .remove(0)
                .unwrap_err(),
        };
        assert_eq!(err.kind(), ErrorKind::Protocol, "{path}: {err}");
        assert!(err.message().contains("longer than"), "{path}: {err}");
        assert!(
            start.elapsed() < NO_HANG,
            "{path}: took {:?}",
            start.elapsed()
        );
        assert_eq!(timed_get(&client, "next").unwrap(), value_of("next"));
    }
}

/// Defect 3: after a restart, once any connection to the node succeeds (here the dedicated
/// connection a blocking command opens), the node is up: async submissions are accepted at
/// once instead of failing with the stale "Connection refused" until the shared
/// connection's backoff ends.
#[test]
fn async_submissions_recover_as_soon_as_any_connection_to_the_node_does() {
    let mut server = RedisServer::start();
    let mut cfg = config(server.port(), Duration::from_secs(2));
    cfg.retry.retries = 0;
    // Far longer than the test: only the node coming up can end the wait.
    cfg.retry.backoff = Backoff {
        kind: BackoffKind::Constant,
        base: Duration::from_secs(60),
        cap: Duration::from_secs(60),
    };
    let client = Client::new(cfg).expect("connects");
    client.command(&["SET", "k", "v"]).unwrap();
    server.kill();
    let refused = eventually(Duration::from_secs(10), || {
        client.submit(&["GET", "k"], |_| {}).is_err()
    });
    assert!(
        refused,
        "submissions were never refused while the server was down"
    );
    server.restart();
    let mut blocking_ok = false;
    for _ in 0..100 {
        if client.command(&["BLPOP", "nothing", "0.01"]).is_ok() {
            blocking_ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        blocking_ok,
        "a blocking command never succeeded after the restart"
    );
    let outcome = burst(&client, 1, |_| vec!["GET".into(), "k".into()]).remove(0);
    assert_eq!(outcome.expect("accepted and answered"), Value::Null);
}

// ---- the matrix: a real server behind the fault proxy ----------------------------------------

/// A server with `keys` set, a proxy in front of it, and a client through the proxy.
struct Rig {
    server: RedisServer,
    proxy: FaultProxy,
    client: Client,
    keys: Vec<String>,
}

impl Rig {
    fn new(name: &str, keys: usize) -> Rig {
        let server = RedisServer::start();
        let keys: Vec<String> = (0..keys).map(|i| format!("{name}-{i}")).collect();
        let mut mset = vec!["MSET".to_string()];
        for key in &keys {
            mset.push(key.clone());
            mset.push(format!("value-of-{key}"));
        }
        let args: Vec<&str> = mset.iter().map(String::as_str).collect();
        assert_eq!(server.cmd(&args), Value::simple("OK"));
        let proxy = FaultProxy::start(server.port());
        let client = Client::new(config(proxy.port(), TIMEOUT)).expect("connects");
        Rig {
            server,
            proxy,
            client,
            keys,
        }
    }

    /// GETs every key at once through callbacks, and a few through blocking calls (some of
    /// which read their reply on the calling thread); checks that each outcome is its own
    /// key's value or an error of the allowed kinds. Returns how many succeeded.
    fn round(&self, allowed: &[ErrorKind]) -> usize {
        let outcomes = burst(&self.client, self.keys.len(), |i| {
            vec!["GET".into(), self.keys[i].clone()]
        });
        let mut ok = check_pairing(&self.keys, &outcomes, allowed);
        for key in self.keys.iter().take(3) {
            let outcome = timed_get(&self.client, key);
            ok += check_pairing(std::slice::from_ref(key), &[outcome], allowed);
        }
        ok
    }

    /// Once the fault is over, the client recovers by itself: soon a whole round succeeds.
    fn recovers(&self) {
        let all = self.keys.len() + 3.min(self.keys.len());
        let recovered = eventually(Duration::from_secs(15), || {
            self.round(&[
                ErrorKind::Timeout,
                ErrorKind::Connection,
                ErrorKind::Protocol,
            ]) == all
        });
        assert!(recovered, "the client did not recover once the fault ended");
    }
}

#[test]
fn a_reply_cut_in_its_middle_fails_with_connection_and_the_client_reconnects() {
    let rig = Rig::new("cut", 30);
    assert_eq!(rig.round(&[]), 33);
    for _ in 0..3 {
        // The cut may fall on the handshake of a connection being opened (a retry hides
        // it): cut again until a command's reply is the one cut.
        let hit = (0..5).any(|_| {
            rig.proxy.cut_next_reply();
            rig.round(&[ErrorKind::Connection]) < 33
        });
        assert!(hit, "replies were cut, yet every command succeeded");
        rig.recovers();
    }
    assert!(rig.proxy.accepted() >= 4, "connections were not replaced");
}

#[test]
fn latency_below_the_timeout_is_harmless_and_above_it_times_out_without_shifting_replies() {
    let rig = Rig::new("latency", 30);
    rig.proxy.set(Fault::Delay(Duration::from_millis(20)));
    assert_eq!(rig.round(&[]), 33);
    // Replies that come after their command timed out are read and dropped: the connection
    // stays, and the replies after them still reach their own commands.
    rig.proxy.set(Fault::Delay(TIMEOUT * 2));
    rig.round(&[ErrorKind::Timeout]);
    rig.proxy.set(Fault::None);
    rig.recovers();
}

#[test]
fn a_black_hole_times_commands_out_and_the_client_recovers_when_it_heals() {
    let rig = Rig::new("hole", 20);
    assert_eq!(rig.round(&[]), 23);
    rig.proxy.set(Fault::BlackHole);
    assert_eq!(rig.round(&[ErrorKind::Timeout]), 0);
    // The partition heals: the held commands reach the server, whose late replies are
    // dropped, and new commands pair with their own replies.
    rig.proxy.set(Fault::None);
    rig.recovers();
}

#[test]
fn replies_dripping_one_byte_at_a_time_still_pair() {
    let rig = Rig::new("drip", 10);
    rig.proxy.set(Fault::Drip);
    // Slow enough that some may time out (their connection is then replaced if a reply was
    // half read), but never a reply for another command.
    for _ in 0..3 {
        rig.round(&[ErrorKind::Timeout, ErrorKind::Connection]);
    }
    rig.proxy.set(Fault::None);
    rig.recovers();
}

#[test]
fn a_corrupted_reply_gives_protocol_and_a_fresh_connection() {
    let rig = Rig::new("corrupt", 20);
    assert_eq!(rig.round(&[]), 23);
    let before = rig.proxy.accepted();
    // The corrupted reply's command fails with PROTOCOL, and so do the others written on
    // that connection (it closed on that error); none gets another's reply. (Should the
    // corruption fall on the handshake of a connection being opened, it is tried again.)
    let hit = (0..5).any(|_| {
        rig.proxy.corrupt_next_reply();
        let outcomes = burst(&rig.client, rig.keys.len(), |i| {
            vec!["GET".into(), rig.keys[i].clone()]
        });
        let allowed = [ErrorKind::Protocol, ErrorKind::Connection];
        check_pairing(&rig.keys, &outcomes, &allowed);
        outcomes
            .iter()
            .any(|o| matches!(o, Err(e) if e.kind() == ErrorKind::Protocol))
    });
    assert!(hit, "replies were corrupted, yet no command saw PROTOCOL");
    rig.recovers();
    assert!(
        rig.proxy.accepted() > before,
        "the connection was not replaced"
    );
}

#[test]
fn resets_in_the_middle_of_a_burst_lose_nothing() {
    let rig = Rig::new("reset", 200);
    for _ in 0..3 {
        let client = &rig.client;
        let keys = &rig.keys;
        let outcomes = std::thread::scope(|s| {
            let burst =
                s.spawn(|| burst(client, keys.len(), |i| vec!["GET".into(), keys[i].clone()]));
            std::thread::sleep(Duration::from_millis(2));
            rig.proxy.reset_all();
            burst.join().expect("the burst")
        });
        check_pairing(&rig.keys, &outcomes, &[ErrorKind::Connection]);
        rig.recovers();
    }
}

#[test]
fn refused_connections_fail_fast_and_the_client_reconnects_when_the_port_opens() {
    let rig = Rig::new("refuse", 10);
    assert_eq!(rig.round(&[]), 13);
    rig.proxy.refuse_for(Duration::from_millis(1500));
    rig.proxy.reset_all();
    // While the port refuses: connection errors (or commands waiting for a connection that
    // time out), never a hang.
    rig.round(&[ErrorKind::Connection, ErrorKind::Timeout]);
    rig.recovers();
}

#[test]
fn a_server_restart_behind_the_proxy_is_survived() {
    let mut rig = Rig::new("restart", 10);
    assert_eq!(rig.round(&[]), 13);
    rig.server.restart();
    // A restarted server has lost its keys (no persistence): set them again.
    let mut mset = vec!["MSET".to_string()];
    for key in &rig.keys {
        mset.push(key.clone());
        mset.push(format!("value-of-{key}"));
    }
    let args: Vec<&str> = mset.iter().map(String::as_str).collect();
    rig.server.cmd(&args);
    rig.recovers();
}

// ---- the matrix: malformed replies from a scripted server ------------------------------------

#[test]
fn malformed_replies_give_protocol_and_a_fresh_connection() {
    let cases: [(&str, &'static [u8]); 5] = [
        ("a bad type byte", b"?what\r\n"),
        ("a bulk string longer than it said", b"$3\r\nabcdef\r\n"),
        ("a header line without LF", b"+OK\rX"),
        ("two replies to one command", b"+OK\r\n+OK\r\n"),
        ("an aggregate nested past the limit", &[b'*'; 0]),
    ];
    for (what, bad) in cases {
        let bad: &'static [u8] = if bad.is_empty() {
            // 600 levels of `*1`, past the default depth of 512.
            "*1\r\n".repeat(600).leak().as_bytes()
        } else {
            bad
        };
        let server = ScriptedServer::start(script_gets(bad));
        let client = Client::new(config(server.port(), TIMEOUT)).expect("connects");
        for path in ["blocking", "async"] {
            let outcome = match path {
                "blocking" => client.command(&["GET", "bad"]).map(|r| r.to_value()),
                _ => burst(&client, 1, |_| vec!["GET".into(), "bad".into()]).remove(0),
            };
            if what == "two replies to one command" {
                // The first reply is the command's own; the second answers nothing and
                // breaks the connection, which is replaced.
                assert_eq!(outcome.unwrap(), Value::simple("OK"), "{what}, {path}");
            } else {
                let err = outcome.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Protocol, "{what}, {path}: {err}");
            }
            let keys: Vec<String> = (0..10).map(|i| format!("{path}-{i}")).collect();
            let ok = eventually(Duration::from_secs(10), || {
                let outcomes = burst(&client, keys.len(), |i| vec!["GET".into(), keys[i].clone()]);
                let allowed = [ErrorKind::Connection, ErrorKind::Protocol];
                check_pairing(&keys, &outcomes, &allowed) == keys.len()
            });
            assert!(ok, "{what}, {path}: the client did not recover");
        }
        assert!(
            server.accepted() >= 2,
            "{what}: the connection was not replaced"
        );
    }
}

// ---- closing: what CLOSED means for written commands -----------------------------------------

/// A sentinel client's commands wait (parked) while no sentinel has named a master yet:
/// `drain` waits for them too, here until they fail, rather than return with their callbacks
/// still to run.
#[test]
fn drain_waits_for_commands_parked_for_a_master() {
    let sentinel = ScriptedServer::start(|_: &[String]| Answer::Nothing);
    let mut cfg = Config::from_url(&format!(
        "redis+sentinel://127.0.0.1:{}/svc",
        sentinel.port()
    ))
    .expect("sentinel URL");
    cfg.lazy_connect = true;
    cfg.command_timeout = Some(Duration::from_millis(500));
    let client = Client::new(cfg).expect("a lazy client starts without a master");
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let ran = ran.clone();
        client
            .submit(&["GET", "k"], move |_| {
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .expect("submitted");
    }
    match client.drain(Duration::from_secs(10)) {
        Ok(()) => assert_eq!(ran.load(Ordering::SeqCst), 10, "callbacks still to run"),
        Err(e) => panic!("the parked commands never completed: {e}"),
    }
}

/// `drain` returns once the callbacks have run, not only once the replies are in: a caller
/// frees what its callbacks use right after it. Callbacks that take a moment (about 2 µs
/// each) leave replies the reactor has taken waiting for their turn; chains of callbacks
/// submitting the next command are waited for too.
#[test]
fn drain_returns_after_the_callbacks_have_run() {
    let server = RedisServer::start();
    let client =
        Arc::new(Client::new(config(server.port(), Duration::from_secs(10))).expect("connects"));
    let busy = || {
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_micros(2) {
            std::hint::spin_loop();
        }
    };
    for round in 0..6 {
        // Odd rounds chain a command to every hundredth callback.
        let chain = round % 2 == 1;
        let ran = Arc::new(AtomicUsize::new(0));
        let count = 20_000;
        for i in 0..count {
            let ran = ran.clone();
            let chained = client.clone();
            client
                .submit(&["GET", "k"], move |result| {
                    result.expect("GET");
                    busy();
                    if chain && i % 100 == 0 {
                        // One more link, submitted from the callback: drain waits for it.
                        let ran = ran.clone();
                        chained
                            .submit(&["PING"], move |result| {
                                result.expect("PING");
                                ran.fetch_add(1, Ordering::SeqCst);
                            })
                            .expect("submitted from a callback");
                    }
                    ran.fetch_add(1, Ordering::SeqCst);
                })
                .expect("submitted");
        }
        client
            .drain(Duration::from_secs(60))
            .expect("drained in time");
        assert_eq!(
            ran.load(Ordering::SeqCst),
            if chain { count + count / 100 } else { count },
            "round {round}: callbacks still to run when drain returned"
        );
    }
}

/// Closing completes pending commands with CLOSED, but CLOSED does not mean "not executed": the
/// server may have run the written ones. `drain` waits for their replies first.
#[test]
fn drain_before_close_gets_written_commands_answered() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    // Replies take a while, so that commands are written and unanswered when closing.
    proxy.set(Fault::Delay(Duration::from_millis(300)));
    let count = 200;
    let incr = |client: &Client, key: &'static str, closed: &Arc<AtomicUsize>| {
        for _ in 0..count {
            let closed = closed.clone();
            client
                .submit(&["INCR", key], move |result| match result {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::Closed => {
                        closed.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => panic!("INCR: {e}"),
                })
                .expect("submitted");
        }
    };
    let counter = |key: &str| match server.cmd(&["GET", key]) {
        Value::Bulk(b) => String::from_utf8(b).unwrap().parse::<usize>().unwrap(),
        Value::Null => 0,
        other => panic!("{other:?}"),
    };
    // Drained, then closed: every INCR answered, none CLOSED.
    let client = Client::new(config(proxy.port(), Duration::from_secs(10))).expect("connects");
    let closed = Arc::new(AtomicUsize::new(0));
    incr(&client, "drained", &closed);
    client
        .drain(Duration::from_secs(30))
        .expect("drained in time");
    client.close();
    assert_eq!(closed.load(Ordering::SeqCst), 0);
    assert_eq!(counter("drained"), count);
    // Replies now take far longer than the test needs to close the client.
    let client = Client::new(config(proxy.port(), Duration::from_secs(30))).expect("connects");
    proxy.set(Fault::Delay(Duration::from_secs(5)));
    let closed = Arc::new(AtomicUsize::new(0));
    incr(&client, "hurried", &closed);
    // A drain that runs out of time says so.
    let err = client.drain(Duration::from_millis(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    // Every INCR has reached the server; no reply has come back.
    let ran = eventually(Duration::from_secs(4), || counter("hurried") == count);
    assert!(ran, "ran {} of {count}", counter("hurried"));
    // Closed now: the commands complete with CLOSED, though the server ran them all.
    client.close();
    assert_eq!(closed.load(Ordering::SeqCst), count);
}

// ---- the matrix on a cluster -----------------------------------------------------------------

/// A cluster primary dies under load and its replica takes over: commands routed to it fail
/// with typed errors or are redirected, none gets another key's reply, and the client follows
/// the new topology by itself. (A write the replica had not received when its primary died
/// reads back as nil: that is the cluster losing it, not a pairing error.)
#[test]
fn a_cluster_primary_killed_under_load_fails_over_without_shifting_replies() {
    let cluster = RedisCluster::start_default();
    let mut cfg = Config::from_url(&cluster.url()).expect("the harness's URL parses");
    cfg.command_timeout = Some(Duration::from_secs(2));
    let client = Client::new(cfg).expect("the cluster client starts");
    let keys: Vec<String> = (0..90).map(|i| format!("cluster-{i}")).collect();
    for key in &keys {
        let value = format!("value-of-{key}");
        client
            .command(&["SET", key.as_str(), value.as_str()])
            .expect("SET");
    }
    let check = |outcomes: &[Outcome]| -> usize {
        let mut ok = 0;
        for (key, outcome) in keys.iter().zip(outcomes) {
            match outcome {
                Ok(Value::Null) => {}
                Ok(v) => {
                    assert_eq!(v, &value_of(key), "the reply to GET {key} is another's");
                    ok += 1;
                }
                Err(e) => assert!(
                    e.kind().is(ErrorKind::Connection)
                        || e.kind().is(ErrorKind::Cluster)
                        || e.kind().is(ErrorKind::ClusterDown)
                        || matches!(e.kind(), ErrorKind::Timeout | ErrorKind::TryAgain),
                    "GET {key}: unexpected error {:?}: {e}",
                    e.kind()
                ),
            }
        }
        ok
    };
    let round = || burst(&client, keys.len(), |i| vec!["GET".into(), keys[i].clone()]);
    assert_eq!(check(&round()), keys.len());
    let victim = cluster.primaries()[0].port;
    cluster.kill_primary(victim);
    // Load while the cluster notices and fails over (about 2 s).
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        check(&round());
        let key = &keys[0];
        let _ = check(&[timed_get(&client, key)]);
    }
    cluster.wait_failover(victim);
    // Recovered: every key answers again, from its slot's new owner where it moved.
    let recovered = eventually(Duration::from_secs(20), || {
        let outcomes = round();
        check(&outcomes);
        outcomes.iter().all(|o| o.is_ok())
    });
    assert!(recovered, "the client did not follow the failover");
}
