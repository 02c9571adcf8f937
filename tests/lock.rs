//! The distributed lock (issue 13) against real servers: exclusion under contention, every
//! error case, TTL expiry, extend and reacquire, blocking timeouts, fencing tokens across
//! holders and clients, auto-extension and its loss report, asynchronous operations, the
//! NOSCRIPT fallback, and the fencing counter's cluster slot.
//!
//! Waits are bounded and polled; the only timing assertion is the blocking timeout's, against
//! a deadline with the 50 ms margin the issue sets.

mod support;

use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use redcore::client::Client;
use redcore::config::{Config, Endpoint, Protocol};
use redcore::lock::{AutoExtend, Lock, LockOptions};
use redcore::resp::Value;
use redcore::{Error, ErrorKind};
use support::{text, RedisServer};

const WAIT: Duration = Duration::from_secs(10);

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

fn client(server: &RedisServer) -> Arc<Client> {
    Arc::new(Client::new(config(server)).expect("client connects"))
}

fn ttl(ms: u64) -> LockOptions {
    LockOptions {
        timeout: Some(Duration::from_millis(ms)),
        ..LockOptions::default()
    }
}

fn non_blocking(options: LockOptions) -> LockOptions {
    LockOptions {
        blocking: false,
        ..options
    }
}

fn int(value: Value) -> i64 {
    match value {
        Value::Integer(n) => n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

/// The key's remaining TTL in ms, as the server sees it.
fn pttl(server: &RedisServer, key: &str) -> i64 {
    int(server.cmd(&["PTTL", key]))
}

/// Polls `cond` every 10 ms for up to WAIT; panics naming `what` if it never holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// How many times the server ran `command` (INFO commandstats).
fn calls(server: &RedisServer, command: &str) -> u64 {
    let info = server.cmd(&["INFO", "commandstats"]);
    let prefix = format!("cmdstat_{command}:calls=");
    text(&info)
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |rest| {
            rest.split(',').next().unwrap().parse().expect("a count")
        })
}

#[test]
fn eight_threads_by_500_acquisitions_count_exactly() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 500;
    let server = RedisServer::start();
    // Two clients, four threads each, every thread with its own Lock (its own holder).
    let clients = [client(&server), client(&server)];
    let options = LockOptions {
        timeout: Some(Duration::from_secs(30)),
        sleep: Duration::from_millis(2),
        ..LockOptions::default()
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let client = clients[i % 2].clone();
            let options = options.clone();
            thread::spawn(move || {
                let lock = Lock::new(client.clone(), "counter-lock", options).unwrap();
                let mut fences = Vec::with_capacity(ROUNDS);
                for _ in 0..ROUNDS {
                    let fence = lock.acquire().unwrap().expect("a blocking acquire waits");
                    // A read-modify-write that loses updates unless the lock excludes.
                    let read = |key: &str| {
                        let reply = client.command(&["GET", key]).unwrap();
                        reply
                            .value()
                            .as_str()
                            .map_or(0, |s| s.parse::<u64>().unwrap())
                    };
                    let count = read("counter");
                    let last_fence = read("last-fence");
                    assert!(fence > last_fence, "fence {fence} after {last_fence}");
                    client
                        .command(&["SET", "counter", &(count + 1).to_string()])
                        .unwrap();
                    client
                        .command(&["SET", "last-fence", &fence.to_string()])
                        .unwrap();
                    lock.release().unwrap();
                    fences.push(fence);
                }
                fences
            })
        })
        .collect();
    let mut fences: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("no thread panics"))
        .collect();
    assert_eq!(
        server.cmd(&["GET", "counter"]),
        Value::bulk((THREADS * ROUNDS).to_string())
    );
    // Every acquisition got its own fencing token, and only acquisitions took one.
    fences.sort_unstable();
    fences.dedup();
    assert_eq!(fences.len(), THREADS * ROUNDS);
    assert_eq!(fences, (1..=(THREADS * ROUNDS) as u64).collect::<Vec<_>>());
    assert_eq!(server.cmd(&["EXISTS", "counter-lock"]), Value::Integer(0));
}

#[test]
fn expiry_lets_another_client_in_and_the_first_release_is_not_owned() {
    let server = RedisServer::start();
    let (a, b) = (client(&server), client(&server));
    let first = Lock::new(a, "expiring", ttl(200)).unwrap();
    let second = Lock::new(b, "expiring", non_blocking(ttl(10_000))).unwrap();
    let fence = first.acquire().unwrap().unwrap();
    assert_eq!(second.acquire().unwrap(), None, "held by the first");
    wait_until("the key to expire", || pttl(&server, "expiring") == -2);
    let later = second.acquire().unwrap().expect("free after expiry");
    assert!(later > fence);
    assert!(second.owned().unwrap());
    assert!(!first.owned().unwrap());
    let err = first.release().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockNotOwned, "{err}");
    assert!(err.message().contains("no longer owned"), "{err}");
    // The failed release forgot the token; the second holder is untouched.
    assert_eq!(first.token(), None);
    assert_eq!(first.fence(), None);
    assert_eq!(first.release().unwrap_err().kind(), ErrorKind::Lock);
    assert!(second.owned().unwrap());
    second.release().unwrap();
    assert!(!second.locked().unwrap());
}

#[test]
fn misuse_is_a_lock_error() {
    let server = RedisServer::start();
    let c = client(&server);
    let lock = Lock::new(c.clone(), "misused", ttl(10_000)).unwrap();
    for (what, err) in [
        ("release", lock.release().unwrap_err()),
        (
            "extend",
            lock.extend(Duration::from_secs(1), false).unwrap_err(),
        ),
        ("reacquire", lock.reacquire().unwrap_err()),
    ] {
        assert_eq!(err.kind(), ErrorKind::Lock, "{what}: {err}");
        assert!(err.message().contains("misused"), "names the lock: {err}");
    }
    assert!(!lock.owned().unwrap());
    // No timeout: nothing to extend.
    let forever = Lock::new(c.clone(), "forever", LockOptions::default()).unwrap();
    forever.acquire().unwrap().unwrap();
    assert_eq!(pttl(&server, "forever"), -1, "no TTL");
    for err in [
        forever.extend(Duration::from_secs(1), false).unwrap_err(),
        forever.reacquire().unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Lock, "{err}");
        assert!(err.message().contains("no timeout"), "{err}");
    }
    forever.release().unwrap();
    // A counter that cannot count fails the acquire before the lock is taken.
    server.cmd(&["SET", "{broken}:fence", "not a number"]);
    let broken = Lock::new(c.clone(), "broken", LockOptions::default()).unwrap();
    let err = broken.acquire().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Response, "{err}");
    assert_eq!(server.cmd(&["EXISTS", "broken"]), Value::Integer(0));
    server.cmd(&["SET", "{broken}:fence", "-5"]);
    assert_eq!(broken.acquire().unwrap_err().kind(), ErrorKind::Response);
    assert_eq!(server.cmd(&["EXISTS", "broken"]), Value::Integer(0));
    assert_eq!(broken.token(), None);
    // An empty token would match every other empty token.
    let mut empty = broken.acquire_options();
    empty.token = Some(Vec::new());
    assert_eq!(
        broken.acquire_with(&empty).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    // Settings that cannot work are refused when the lock is made.
    let bad = |name: &str, options: LockOptions| {
        Lock::new(c.clone(), name, options).err().unwrap().kind()
    };
    let auto = |share| AutoExtend {
        share,
        on_lost: None,
    };
    let with_auto = |timeout, share| LockOptions {
        timeout,
        auto_extend: Some(auto(share)),
        ..LockOptions::default()
    };
    for (name, options) in [
        ("a}b", LockOptions::default()),
        ("", LockOptions::default()),
        ("ok", ttl(0)),
        ("ok", with_auto(None, 0.5)),
        ("ok", with_auto(Some(Duration::from_secs(1)), 0.0)),
        ("ok", with_auto(Some(Duration::from_secs(1)), 1.0)),
    ] {
        assert_eq!(bad(name, options), ErrorKind::InvalidArgument, "{name}");
    }
}

#[test]
fn extend_and_reacquire_while_owned_only() {
    let server = RedisServer::start();
    let c = client(&server);
    let lock = Lock::new(c, "extended", ttl(1_000)).unwrap();
    lock.acquire().unwrap().unwrap();
    lock.extend(Duration::from_secs(10), false).unwrap();
    let left = pttl(&server, "extended");
    assert!((10_000..=11_000).contains(&left), "{left} ms left");
    lock.extend(Duration::from_secs(5), true).unwrap();
    let left = pttl(&server, "extended");
    assert!(
        (1..=5_000).contains(&left) && left > 1_000,
        "{left} ms left"
    );
    lock.reacquire().unwrap();
    let left = pttl(&server, "extended");
    assert!((1..=1_000).contains(&left), "{left} ms left");
    assert_eq!(
        lock.extend(Duration::ZERO, true).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    // A key without a TTL (persisted behind the lock's back) cannot be extended.
    server.cmd(&["PERSIST", "extended"]);
    let err = lock.extend(Duration::from_secs(1), false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockNotOwned, "{err}");
    // Another holder's token: not ours any more.
    server.cmd(&["SET", "extended", "someone-else", "PX", "10000"]);
    assert!(lock.locked().unwrap());
    assert!(!lock.owned().unwrap());
    for err in [
        lock.extend(Duration::from_secs(1), false).unwrap_err(),
        lock.reacquire().unwrap_err(),
        lock.release().unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::LockNotOwned, "{err}");
    }
    assert_eq!(
        server.cmd(&["GET", "extended"]),
        Value::bulk("someone-else"),
        "a failed release deletes nothing"
    );
}

#[test]
fn caller_tokens_and_a_lock_that_never_expires() {
    let server = RedisServer::start();
    let lock = Lock::new(client(&server), "tokened", LockOptions::default()).unwrap();
    let mut options = lock.acquire_options();
    options.token = Some(b"my \x00 token".to_vec());
    let fence = lock.acquire_with(&options).unwrap().unwrap();
    assert_eq!(fence, 1, "the first acquisition of a name");
    assert_eq!(lock.fence(), Some(1));
    assert_eq!(lock.token().as_deref(), Some(&b"my \x00 token"[..]));
    assert_eq!(
        server.cmd(&["GET", "tokened"]),
        Value::bulk(b"my \x00 token")
    );
    assert!(lock.owned().unwrap());
    lock.release().unwrap();
    // Random tokens: 32 hex digits, different every time.
    let a = lock.acquire().unwrap().unwrap();
    let first = lock.token().unwrap();
    lock.release().unwrap();
    let b = lock.acquire().unwrap().unwrap();
    let second = lock.token().unwrap();
    lock.release().unwrap();
    assert_eq!((a, b), (2, 3));
    assert_eq!(first.len(), 32);
    assert_ne!(first, second);
}

#[test]
fn non_blocking_and_blocking_timeouts_are_honoured() {
    let server = RedisServer::start();
    let holder = Lock::new(client(&server), "contended", ttl(60_000)).unwrap();
    holder.acquire().unwrap().unwrap();
    let c = client(&server);
    let waiter = Lock::new(c, "contended", ttl(60_000)).unwrap();
    let mut options = waiter.acquire_options();
    options.blocking = false;
    options.blocking_timeout = Some(Duration::from_secs(30));
    let started = Instant::now();
    assert_eq!(waiter.acquire_with(&options).unwrap(), None);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "one attempt only"
    );
    // A blocking acquire gives up when its next try would pass the deadline: after
    // `timeout - sleep` and, as the issue asks, within 50 ms of the deadline.
    options.blocking = true;
    // The machine's load can only delay a try, never advance one: each case is tried up to 3
    // times and must once give up inside the window (never before it).
    for (timeout_ms, sleep_ms) in [(0, 10), (100, 10), (300, 20), (250, 100)] {
        options.blocking_timeout = Some(Duration::from_millis(timeout_ms));
        options.sleep = Duration::from_millis(sleep_ms);
        let earliest = Duration::from_millis(timeout_ms.saturating_sub(sleep_ms));
        let latest = Duration::from_millis(timeout_ms + 50);
        let mut tries = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            assert_eq!(waiter.acquire_with(&options).unwrap(), None);
            let elapsed = started.elapsed();
            assert!(
                elapsed >= earliest,
                "timeout {timeout_ms} ms, sleep {sleep_ms} ms: gave up early, after {elapsed:?}"
            );
            tries.push(elapsed);
            if elapsed <= latest {
                break;
            }
        }
        assert!(
            tries.iter().any(|t| *t <= latest),
            "timeout {timeout_ms} ms, sleep {sleep_ms} ms: gave up after {tries:?}"
        );
    }
    // And a blocking acquire does get the lock once it is free.
    let releaser = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        holder.release().unwrap();
    });
    options.blocking_timeout = Some(WAIT);
    assert!(waiter.acquire_with(&options).unwrap().is_some());
    releaser.join().unwrap();
    waiter.release().unwrap();
}

#[test]
fn fences_strictly_increase_across_holders_and_clients() {
    let server = RedisServer::start();
    let clients = [client(&server), client(&server), client(&server)];
    let locks: Vec<_> = clients
        .iter()
        .map(|c| Lock::new(c.clone(), "{shard7}:fenced", non_blocking(ttl(10_000))).unwrap())
        .collect();
    let mut last = 0;
    for round in 0..30 {
        let lock = &locks[round % locks.len()];
        let fence = lock.acquire().unwrap().unwrap();
        assert!(fence > last, "round {round}: {fence} after {last}");
        // Failed attempts by the others spend no fencing token.
        for other in locks.iter().filter(|l| !std::ptr::eq(*l, lock)) {
            assert_eq!(other.acquire().unwrap(), None);
        }
        assert_eq!(lock.fence(), Some(fence));
        last = fence;
        lock.release().unwrap();
    }
    assert_eq!(last, 30);
    // The counter outlives the holdings, beside the lock key, and never expires.
    assert_eq!(locks[0].fence_key(), b"{shard7}:fenced:fence");
    assert_eq!(
        server.cmd(&["GET", "{shard7}:fenced:fence"]),
        Value::bulk("30")
    );
    assert_eq!(pttl(&server, "{shard7}:fenced:fence"), -1);
}

#[test]
fn auto_extend_keeps_a_one_second_lock_through_five_seconds_of_work() {
    let server = RedisServer::start();
    let (lost_tx, lost_rx) = mpsc::channel::<Error>();
    let lost_tx = Mutex::new(lost_tx);
    let options = LockOptions {
        timeout: Some(Duration::from_secs(1)),
        auto_extend: Some(AutoExtend::new(1.0 / 3.0, move |err: &Error| {
            let _ = lost_tx.lock().unwrap().send(err.clone());
        })),
        ..LockOptions::default()
    };
    let lock = Lock::new(client(&server), "long-work", options).unwrap();
    lock.acquire().unwrap().unwrap();
    let token = lock.token().unwrap();
    // Five seconds of "work": the key must keep our token the whole time.
    let work_ends = Instant::now() + Duration::from_secs(5);
    while Instant::now() < work_ends {
        assert_eq!(
            server.cmd(&["GET", "long-work"]),
            Value::bulk(token.clone()),
            "still held"
        );
        let left = pttl(&server, "long-work");
        assert!(left > 0 && left <= 1_000, "{left} ms left");
        thread::sleep(Duration::from_millis(100));
    }
    assert!(lost_rx.try_recv().is_err(), "no loss reported");
    lock.release().unwrap();
    // Released: no extension runs any more.
    let extensions = calls(&server, "evalsha");
    thread::sleep(Duration::from_millis(1_200));
    assert_eq!(calls(&server, "evalsha"), extensions, "stopped at release");
    assert!(lost_rx.try_recv().is_err());

    // Deleted behind its back: the next extension finds it gone and reports it, once.
    lock.acquire().unwrap().unwrap();
    server.cmd(&["DEL", "long-work"]);
    let err = lost_rx.recv_timeout(WAIT).expect("the loss is reported");
    assert_eq!(err.kind(), ErrorKind::LockNotOwned, "{err}");
    let extensions = calls(&server, "evalsha");
    thread::sleep(Duration::from_millis(1_200));
    assert!(lost_rx.try_recv().is_err(), "reported once");
    assert_eq!(
        calls(&server, "evalsha"),
        extensions,
        "no extension after the loss"
    );
    assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::LockNotOwned);

    // Dropped while held: the extensions stop, and the key expires by its TTL.
    lock.acquire().unwrap().unwrap();
    drop(lock);
    let extensions = calls(&server, "evalsha");
    wait_until("the dropped lock's key to expire", || {
        pttl(&server, "long-work") == -2
    });
    assert_eq!(calls(&server, "evalsha"), extensions, "stopped at drop");
    assert!(lost_rx.try_recv().is_err());
}

#[test]
fn auto_extend_reports_a_loss_when_extensions_fail_past_the_ttl() {
    let mut server = RedisServer::start();
    let (lost_tx, lost_rx) = mpsc::channel::<Error>();
    let lost_tx = Mutex::new(lost_tx);
    let mut config = config(&server);
    config.command_timeout = Some(Duration::from_millis(200));
    let options = LockOptions {
        timeout: Some(Duration::from_millis(900)),
        auto_extend: Some(AutoExtend::new(1.0 / 3.0, move |err: &Error| {
            let _ = lost_tx.lock().unwrap().send(err.clone());
        })),
        ..LockOptions::default()
    };
    let lock = Lock::new(Arc::new(Client::new(config).unwrap()), "paused", options).unwrap();
    lock.acquire().unwrap().unwrap();
    server.pause();
    let err = lost_rx.recv_timeout(WAIT).expect("the loss is reported");
    server.resume();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.message().contains("TTL"), "{err}");
    assert!(lost_rx.recv_timeout(Duration::from_millis(700)).is_err());
    drop(lock);
    server.stop();
}

#[test]
fn async_operations_complete_once_in_order() {
    let server = RedisServer::start();
    let lock = Lock::new(client(&server), "async", ttl(10_000)).unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let say = |tx: &mpsc::Sender<String>, what: &'static str| {
        let tx = tx.clone();
        move |result: redcore::Result<bool>| {
            tx.send(format!("{what} {result:?}")).unwrap();
        }
    };
    let t = tx.clone();
    lock.acquire_async(lock.acquire_options(), move |r| {
        t.send(format!("acquire {:?}", r.map(|f| f.is_some())))
            .unwrap()
    })
    .unwrap();
    lock.owned_async(say(&tx, "owned")).unwrap();
    let t = tx.clone();
    lock.extend_async(Duration::from_secs(20), true, move |r| {
        t.send(format!("extend {r:?}")).unwrap()
    })
    .unwrap();
    let t = tx.clone();
    lock.reacquire_async(move |r| t.send(format!("reacquire {r:?}")).unwrap())
        .unwrap();
    lock.locked_async(say(&tx, "locked")).unwrap();
    let t = tx.clone();
    lock.release_async(move |r| t.send(format!("release {r:?}")).unwrap())
        .unwrap();
    let t = tx.clone();
    lock.release_async(move |r| {
        t.send(format!("again {:?}", r.map_err(|e| e.kind())))
            .unwrap()
    })
    .unwrap();
    let got: Vec<String> = (0..7).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    assert_eq!(
        got,
        [
            "acquire Ok(true)",
            "owned Ok(true)",
            "extend Ok(())",
            "reacquire Ok(())",
            "locked Ok(true)",
            "release Ok(())",
            "again Err(Lock)",
        ]
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "once each"
    );
}

#[test]
fn dropping_a_lock_completes_its_queued_operations_with_closed() {
    let server = RedisServer::start();
    let holder = Lock::new(client(&server), "busy", ttl(60_000)).unwrap();
    holder.acquire().unwrap().unwrap();
    let lock = Lock::new(client(&server), "busy", ttl(60_000)).unwrap();
    let results = Arc::new(Mutex::new(Vec::new()));
    // A blocking acquire that would wait a minute, and two operations queued behind it.
    let mut options = lock.acquire_options();
    options.blocking_timeout = Some(Duration::from_secs(60));
    let r = results.clone();
    lock.acquire_async(options, move |res| {
        r.lock()
            .unwrap()
            .push(res.map(|_| ()).map_err(|e| e.kind()))
    })
    .unwrap();
    for _ in 0..2 {
        let r = results.clone();
        lock.locked_async(move |res| {
            r.lock()
                .unwrap()
                .push(res.map(|_| ()).map_err(|e| e.kind()))
        })
        .unwrap();
    }
    thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    drop(lock);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the wait is interrupted"
    );
    assert_eq!(
        *results.lock().unwrap(),
        vec![Err(ErrorKind::Closed); 3],
        "each completed once, before drop returned"
    );
    holder.release().unwrap();
}

#[test]
fn a_callback_may_drop_its_own_lock() {
    let server = RedisServer::start();
    let lock = Lock::new(client(&server), "self-drop", ttl(10_000)).unwrap();
    lock.acquire().unwrap().unwrap();
    let slot = Arc::new(Mutex::new(None::<Lock>));
    let (tx, rx) = mpsc::channel();
    let s = slot.clone();
    lock.release_async(move |r| {
        let lock = s.lock().unwrap().take();
        drop(lock);
        tx.send(r.map_err(|e| e.kind())).unwrap();
    })
    .unwrap();
    *slot.lock().unwrap() = Some(lock);
    // The callback may run before the lock is parked in the slot: then the slot drops it.
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Ok(()));
    drop(slot.lock().unwrap().take());
    assert_eq!(server.cmd(&["EXISTS", "self-drop"]), Value::Integer(0));
}

#[test]
fn scripts_run_by_sha_and_survive_a_script_flush() {
    let server = RedisServer::start();
    let lock = Lock::new(client(&server), "flushed", ttl(10_000)).unwrap();
    // A fresh server knows no script: NOSCRIPT, then SCRIPT LOAD and EVALSHA again.
    lock.acquire().unwrap().unwrap();
    assert_eq!(calls(&server, "script|load"), 1);
    lock.release().unwrap();
    assert_eq!(calls(&server, "script|load"), 2);
    // Now cached under the SHA-1 we computed: EVALSHA alone.
    let loads = calls(&server, "script|load");
    lock.acquire().unwrap().unwrap();
    lock.release().unwrap();
    assert_eq!(
        calls(&server, "script|load"),
        loads,
        "our SHA-1 is the server's"
    );
    assert_eq!(calls(&server, "eval"), 0);
    server.cmd(&["SCRIPT", "FLUSH"]);
    lock.acquire().unwrap().unwrap();
    lock.extend(Duration::from_secs(5), false).unwrap();
    lock.reacquire().unwrap();
    lock.release().unwrap();
    assert_eq!(
        calls(&server, "script|load"),
        loads + 4,
        "each script once more"
    );
}

#[test]
fn acquire_works_over_resp2_and_resp3() {
    let server = RedisServer::start();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let mut config = config(&server);
        config.protocol = protocol;
        let c = Arc::new(Client::new(config).unwrap());
        let a = Lock::new(c.clone(), "proto", non_blocking(ttl(10_000))).unwrap();
        let b = Lock::new(c, "proto", non_blocking(ttl(10_000))).unwrap();
        assert!(a.acquire().unwrap().is_some(), "{protocol:?}");
        assert_eq!(b.acquire().unwrap(), None, "{protocol:?}");
        a.release().unwrap();
    }
}

#[test]
fn a_lock_and_its_fence_counter_share_a_cluster_slot() {
    let server = RedisServer::builder()
        .arg("--cluster-enabled")
        .arg("yes")
        .start();
    let c = client(&server);
    let names: &[&[u8]] = &[
        b"orders",
        b"{orders}:lock",
        b"lock:{user1000}",
        b"a{b",
        b"{",
        b"x{y}z{w}",
        b"binary\xff\x00name",
        b"resource:42:lock",
    ];
    let slot = |key: &[u8]| {
        let reply = c.command(&[&b"CLUSTER"[..], b"KEYSLOT", key]).unwrap();
        reply.value().as_integer().unwrap()
    };
    for name in names {
        let lock = Lock::new(c.clone(), *name, LockOptions::default()).unwrap();
        assert_eq!(
            slot(lock.name()),
            slot(lock.fence_key()),
            "{:?} and {:?}",
            String::from_utf8_lossy(lock.name()),
            String::from_utf8_lossy(lock.fence_key())
        );
    }
    // Different names land in different slots, so the check above is not vacuous.
    assert_ne!(slot(b"orders"), slot(b"resource:42:lock"));
}
