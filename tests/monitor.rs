//! MONITOR against a real server: the commands of another client seen with their arguments,
//! database and address; MONITOR started again after the server restarts; a slow handler's
//! drops counted; stop and client close, also with the queue full.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use redcore::client::Client;
use redcore::monitor::{Monitor, MonitorEvent, MonitorOptions};
use redcore::ErrorKind;
use support::RedisServer;

const WAIT: Duration = Duration::from_secs(10);

fn client(server: &RedisServer) -> Client {
    Client::new(server.config()).expect("client connects")
}

fn start(c: &Client, options: MonitorOptions) -> (Monitor, mpsc::Receiver<MonitorEvent>) {
    let (tx, rx) = mpsc::channel();
    let monitor = Monitor::start(c, options, move |event| {
        let _ = tx.send(event);
    })
    .unwrap();
    (monitor, rx)
}

/// The next command seen whose name is `name` (others are skipped).
fn next_command(rx: &mpsc::Receiver<MonitorEvent>, name: &[u8]) -> redcore::monitor::MonitorEntry {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left).expect("an event") {
            MonitorEvent::Command(entry) if entry.args[0].eq_ignore_ascii_case(name) => {
                return entry
            }
            _ => continue,
        }
    }
}

#[test]
fn monitor_sees_the_commands_of_another_client() {
    let server = RedisServer::start();
    let watcher = client(&server);
    let (monitor, rx) = start(&watcher, MonitorOptions::default());
    let mut config = server.config();
    config.db = 3;
    let other = Client::new(config).unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    other
        .command(&[&b"SET"[..], b"key with \"quotes\"", b"\x00\xff\r\n"])
        .unwrap();
    let entry = next_command(&rx, b"SET");
    assert_eq!(
        entry.args,
        vec![
            b"SET".to_vec(),
            b"key with \"quotes\"".to_vec(),
            b"\x00\xff\r\n".to_vec()
        ]
    );
    assert_eq!(entry.db, 3);
    assert!(entry.client.starts_with("127.0.0.1:"), "{}", entry.client);
    assert!((entry.time() - before).abs() < 60.0, "{}", entry.time());
    // A script's commands show up as the script's.
    other
        .command(&["EVAL", "return redis.call('GET', KEYS[1])", "1", "k"])
        .unwrap();
    let inner = next_command(&rx, b"get");
    assert_eq!(inner.client, "lua");
    assert_eq!(monitor.dropped(), 0);
    monitor.stop();
    // Stopped: nothing more comes.
    other.command(&["PING"]).unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
}

#[test]
fn monitor_starts_again_after_the_server_restarts() {
    let mut server = RedisServer::start();
    let watcher = client(&server);
    let other = client(&server);
    let (_monitor, rx) = start(&watcher, MonitorOptions::default());
    other.command(&["SET", "before", "1"]).unwrap();
    next_command(&rx, b"SET");
    server.restart();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left).expect("the restart is reported") {
            MonitorEvent::Restarted(cause) => {
                assert!(cause.is(ErrorKind::Connection), "{cause}");
                break;
            }
            _ => continue,
        }
    }
    // The other client comes back too; its commands are seen again.
    let deadline = Instant::now() + WAIT;
    while other.command(&["SET", "after", "1"]).is_err() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let entry = next_command(&rx, b"SET");
    assert_eq!(entry.args[1], b"after");
}

#[test]
fn a_slow_handler_loses_entries_and_is_told() {
    let server = RedisServer::start();
    let watcher = client(&server);
    let (tx, rx) = mpsc::channel();
    let monitor = Monitor::start(&watcher, MonitorOptions { max_pending: 2 }, move |event| {
        std::thread::sleep(Duration::from_millis(5));
        let _ = tx.send(event);
    })
    .unwrap();
    let other = client(&server);
    for i in 0..300 {
        other.command(&["SET", "k", &i.to_string()]).unwrap();
    }
    let deadline = Instant::now() + WAIT;
    let mut dropped = 0;
    while dropped == 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if let MonitorEvent::Dropped(n) = rx.recv_timeout(left).expect("a drop report") {
            dropped = n;
        }
    }
    assert!(monitor.dropped() >= dropped);
    drop(monitor);
}

#[test]
fn a_closed_client_ends_the_monitor() {
    let server = RedisServer::start();
    let watcher = client(&server);
    let (monitor, rx) = start(&watcher, MonitorOptions::default());
    watcher.close();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if let MonitorEvent::Closed(err) = rx.recv_timeout(left).expect("the end") {
            assert_eq!(err.kind(), ErrorKind::Closed);
            break;
        }
    }
    drop(monitor);
}

/// The handler, and what it holds (a C caller's userdata), lives until the monitor is
/// stopped, also after the client closed under it.
#[test]
fn the_handler_is_kept_until_the_monitor_stops() {
    let server = RedisServer::start();
    let watcher = client(&server);
    let (monitor, rx) = start(&watcher, MonitorOptions::default());
    watcher.close();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if let MonitorEvent::Closed(_) = rx.recv_timeout(left).expect("the end") {
            break;
        }
    }
    let kept = rx.recv_timeout(Duration::from_millis(200));
    assert!(
        matches!(kept, Err(mpsc::RecvTimeoutError::Timeout)),
        "{kept:?}"
    );
    monitor.stop();
    let dropped = rx.recv_timeout(WAIT);
    assert!(
        matches!(dropped, Err(mpsc::RecvTimeoutError::Disconnected)),
        "{dropped:?}"
    );
}

/// The end comes after what was queued, however full the queue: the client is closed while
/// the handler is held up, its queue of one is full and more lines keep arriving.
#[test]
fn a_closed_client_ends_the_monitor_whose_queue_is_full() {
    let server = RedisServer::start();
    let watcher = client(&server);
    let (gate, held) = mpsc::channel::<()>();
    let (tx, rx) = mpsc::channel();
    let monitor = Monitor::start(&watcher, MonitorOptions { max_pending: 1 }, move |event| {
        let _ = held.recv_timeout(WAIT); // the first event waits for the gate, then none
        let _ = tx.send(event);
    })
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (other, stop) = (client(&server), stop.clone());
        std::thread::spawn(move || {
            for i in 0..100_000 {
                if stop.load(Ordering::Relaxed)
                    || other.command(&["SET", "k", &i.to_string()]).is_err()
                {
                    return;
                }
            }
        })
    };
    let deadline = Instant::now() + WAIT;
    while monitor.dropped() == 0 {
        assert!(
            Instant::now() < deadline,
            "the queue of one never overflowed"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    watcher.close();
    drop(gate);
    let mut reported = 0;
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx
            .recv_timeout(left)
            .expect("the end, after what was queued")
        {
            MonitorEvent::Closed(err) => {
                assert_eq!(err.kind(), ErrorKind::Closed);
                break;
            }
            MonitorEvent::Dropped(n) => reported += n,
            _ => continue,
        }
    }
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    // The end was the last event, and every drop was reported before it. (The handler, and
    // so the channel's sender, lives until the monitor is dropped.)
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(100)),
        Err(mpsc::RecvTimeoutError::Timeout)
    );
    assert_eq!(reported, monitor.dropped());
    drop(monitor);
    assert_eq!(
        rx.recv_timeout(WAIT),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
}
