//! Cancelling blocking commands (`Client::cancel_raw`, `redcore_client_cancel` in C), and a
//! blocking command that times out: either way the server must drop the command, not run it
//! later for nobody, and the dedicated connection must be free again at once.

mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use redcore::client::Client;
use redcore::config::Config;
use redcore::resp::{Reply, Value};
use redcore::{ErrorKind, Result};
use support::{text, RedisServer};

type Outcome = std::result::Result<Value, ErrorKind>;

/// The callback: ctx[0] is a leaked `Sender` (the test's), ctx[1] tells the commands apart.
fn report(ctx: [usize; 2], result: Result<Reply>) {
    // SAFETY: ctx[0] is a `Box<mpsc::Sender<..>>` leaked by `sender`, alive for the test.
    let tx = unsafe { &*(ctx[0] as *const mpsc::Sender<(usize, Outcome)>) };
    let _ = tx.send((ctx[1], result.map(|r| r.to_value()).map_err(|e| e.kind())));
}

fn sender() -> (usize, mpsc::Receiver<(usize, Outcome)>) {
    let (tx, rx) = mpsc::channel();
    (Box::into_raw(Box::new(tx)) as usize, rx)
}

fn client(server: &RedisServer, max_dedicated: usize) -> Client {
    let mut cfg: Config = server.config();
    cfg.command_timeout = Some(Duration::from_secs(5));
    cfg.max_dedicated_connections = max_dedicated;
    cfg.dedicated_wait_timeout = Duration::from_secs(2);
    Client::new(cfg).expect("client connects")
}

fn info_field(server: &RedisServer, field: &str) -> u64 {
    let info = server.cmd(&["INFO", "clients"]);
    text(&info)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO"))
}

/// Waits (bounded) until the server counts `n` blocked clients.
fn wait_blocked(server: &RedisServer, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while info_field(server, "blocked_clients") != n {
        assert!(Instant::now() < deadline, "never {n} blocked clients");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_cancelled_blpop_completes_once_and_pops_nothing() {
    let server = RedisServer::start();
    let c = client(&server, 1);
    let (tx, rx) = sender();
    c.submit_raw(&["BLPOP", "q", "0"], report, [tx, 1]).unwrap();
    wait_blocked(&server, 1);
    assert_eq!(c.cancel_raw(report, [tx, 1]).unwrap(), 1);
    let (id, outcome) = rx
        .recv_timeout(Duration::from_secs(2))
        .expect("callback ran");
    assert_eq!((id, outcome), (1, Err(ErrorKind::Cancelled)));
    assert_eq!(c.cancel_raw(report, [tx, 1]).unwrap(), 0, "once");
    // The server dropped the command with its connection: a push stays in the list.
    wait_blocked(&server, 0);
    server.cmd(&["LPUSH", "q", "v"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.cmd(&["LLEN", "q"]), Value::Integer(1));
    // The only dedicated connection is free again (reconnected).
    assert_eq!(
        c.command(&["BLPOP", "q", "1"]).unwrap().to_value(),
        Value::Array(vec![Value::bulk("q"), Value::bulk("v")])
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "no second completion"
    );
}

#[test]
fn a_blocking_command_waiting_for_a_connection_is_cancelled_in_the_queue() {
    let server = RedisServer::start();
    let c = client(&server, 1);
    let (tx, rx) = sender();
    c.submit_raw(&["BLPOP", "a", "0"], report, [tx, 1]).unwrap();
    wait_blocked(&server, 1);
    c.submit_raw(&["BLPOP", "b", "0"], report, [tx, 2]).unwrap();
    // Only the command named is cancelled: the one waiting for the connection.
    assert_eq!(c.cancel_raw(report, [tx, 2]).unwrap(), 1);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(2)).unwrap(),
        (2, Err(ErrorKind::Cancelled))
    );
    // It never runs: the first one, fed, is answered, and a push to b stays.
    server.cmd(&["RPUSH", "a", "x"]);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(2)).unwrap(),
        (
            1,
            Ok(Value::Array(vec![Value::bulk("a"), Value::bulk("x")]))
        )
    );
    server.cmd(&["RPUSH", "b", "y"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.cmd(&["LLEN", "b"]), Value::Integer(1));
    // Nothing else matches, and nothing else completes.
    assert_eq!(c.cancel_raw(report, [tx, 9]).unwrap(), 0);
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn cancelling_frees_every_dedicated_connection() {
    // What a Go caller met: 20 BLPOPs given up by their contexts held all 16 connections
    // until the server answered them, and the next blocking command found none.
    let server = RedisServer::start();
    let c = client(&server, 4);
    let (tx, rx) = sender();
    for i in 0..6 {
        c.submit_raw(&["BLPOP", &format!("k{i}"), "0"], report, [tx, i])
            .unwrap();
    }
    wait_blocked(&server, 4);
    let cancelled: usize = (0..6).map(|i| c.cancel_raw(report, [tx, i]).unwrap()).sum();
    assert_eq!(cancelled, 6);
    let mut ids: Vec<usize> = (0..6)
        .map(|_| {
            let (id, outcome) = rx.recv_timeout(Duration::from_secs(2)).unwrap();
            assert_eq!(outcome, Err(ErrorKind::Cancelled));
            id
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (0..6).collect::<Vec<_>>());
    wait_blocked(&server, 0);
    // All four connections serve blocking commands again.
    let (tx2, rx2) = sender();
    for i in 0..4 {
        c.submit_raw(&["BLPOP", &format!("j{i}"), "0"], report, [tx2, i])
            .unwrap();
    }
    wait_blocked(&server, 4);
    for i in 0..4 {
        server.cmd(&["RPUSH", &format!("j{i}"), "v"]);
    }
    for _ in 0..4 {
        let (_, outcome) = rx2.recv_timeout(Duration::from_secs(2)).unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
    }
    for i in 0..6 {
        assert_eq!(server.cmd(&["EXISTS", &format!("k{i}")]), Value::Integer(0));
    }
}

#[test]
fn a_blocking_command_that_times_out_is_dropped_by_the_server() {
    let server = RedisServer::start();
    let mut cfg: Config = server.config();
    cfg.command_timeout = Some(Duration::from_millis(200));
    cfg.max_dedicated_connections = 1;
    let c = Client::new(cfg).expect("client connects");
    // The server holds every write (BLPOP among them) unprocessed: the client's deadline
    // (0.5 s of block + 0.2 s) passes first.
    server.cmd(&["CLIENT", "PAUSE", "5000", "WRITE"]);
    let started = Instant::now();
    let err = c.command(&["BLPOP", "q", "0.5"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Its connection was closed: the server lets the paused command go with it.
    let deadline = Instant::now() + Duration::from_secs(3);
    while info_field(&server, "blocked_clients") != 0 {
        assert!(
            Instant::now() < deadline,
            "the timed-out BLPOP is still there"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server.cmd(&["CLIENT", "UNPAUSE"]);
    server.cmd(&["LPUSH", "q", "v"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        server.cmd(&["LLEN", "q"]),
        Value::Integer(1),
        "popped for nobody"
    );
    // And the connection serves the next blocking command.
    assert_eq!(
        c.command(&["BLPOP", "q", "1"]).unwrap().to_value(),
        Value::Array(vec![Value::bulk("q"), Value::bulk("v")])
    );
}

#[test]
fn cancelling_while_the_command_is_being_written_never_breaks_the_client() {
    // A cancel landing while the reactor sends a copy of the output without the lock used to
    // cut the frame under it: the reactor panicked (the client died) and the CANCELLED
    // completion was lost with it. Cancels at random moments after the submission.
    let server = RedisServer::start();
    let c = client(&server, 1);
    let (tx, rx) = sender();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut cancelled = 0;
    for i in 0..3000usize {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        c.submit_raw(&["BLPOP", "race", "0"], report, [tx, i])
            .unwrap();
        let spin = Instant::now();
        let wait = Duration::from_nanos(seed % 40_000);
        while spin.elapsed() < wait {
            std::hint::spin_loop();
        }
        let n = c.cancel_raw(report, [tx, i]).unwrap();
        assert_eq!(
            n, 1,
            "iteration {i}: a BLPOP k 0 is pending until cancelled"
        );
        cancelled += n;
        let (id, outcome) = rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("iteration {i}: no completion"));
        assert_eq!((id, outcome), (i, Err(ErrorKind::Cancelled)));
    }
    assert_eq!(cancelled, 3000);
    wait_blocked(&server, 0);
    server.cmd(&["RPUSH", "race", "kept"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.cmd(&["LLEN", "race"]), Value::Integer(1));
    assert_eq!(
        c.command(&["PING"]).unwrap().to_value(),
        Value::simple("PONG")
    );
}
