//! The transaction helper and fail-fast pipelines against real servers: the loser of a WATCH
//! race gets WATCH, the helper's retry makes both writers succeed, EXECABORT with each
//! queueing error readable, errors inside EXEC's array at their positions, an error from the
//! caller's function, and the same on a cluster client (one slot per transaction).

mod support;

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use redcore::client::{Client, Pipeline};
use redcore::config::Config;
use redcore::resp::Value;
use redcore::{Error, ErrorKind};
use support::cluster::RedisCluster;
use support::RedisServer;

const WAIT: Duration = Duration::from_secs(10);

fn client(server: &RedisServer) -> Client {
    Client::new(server.config()).expect("client connects")
}

fn int_of(c: &Client, key: &str) -> i64 {
    let reply = c.command(&["GET", key]).unwrap();
    std::str::from_utf8(reply.value().as_bytes().unwrap())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn the_loser_of_a_watch_race_gets_watch_and_the_retry_makes_both_succeed() {
    let server = RedisServer::start();
    let a = client(&server);
    let b = Arc::new(client(&server));
    a.command(&["SET", "balance", "100"]).unwrap();

    // One attempt: B writes the watched key between A's read and A's EXEC.
    let err = a
        .transaction(&["balance"], 1, |tx| {
            let balance: i64 =
                std::str::from_utf8(tx.command(&["GET", "balance"])?.value().as_bytes().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap();
            b.command(&["INCRBY", "balance", "1"]).unwrap();
            tx.queue(&["SET", "balance", &(balance - 10).to_string()])
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Watch, "{err}");
    assert_eq!(int_of(&a, "balance"), 101, "the loser's SET did not run");

    // Both take their turn through the helper: B commits while A is between its read and its
    // EXEC; A's EXEC is refused, A starts again, reads B's write and commits.
    let (go, wait_go) = mpsc::channel();
    let (done, wait_done) = mpsc::channel();
    let writer = {
        let b = b.clone();
        std::thread::spawn(move || {
            wait_go.recv_timeout(WAIT).unwrap();
            let (_, result) = b
                .transaction(&["balance"], 5, |tx| {
                    let n = std::str::from_utf8(
                        tx.command(&["GET", "balance"])?.value().as_bytes().unwrap(),
                    )
                    .unwrap()
                    .parse::<i64>()
                    .unwrap();
                    tx.queue(&["SET", "balance", &(n + 1000).to_string()])
                })
                .unwrap();
            assert!(result.first_error().is_none());
            done.send(()).unwrap();
        })
    };
    let mut attempts_seen = Vec::new();
    let (value, result) = a
        .transaction(&["balance"], 5, |tx| {
            attempts_seen.push(tx.attempt());
            let n =
                std::str::from_utf8(tx.command(&["GET", "balance"])?.value().as_bytes().unwrap())
                    .unwrap()
                    .parse::<i64>()
                    .unwrap();
            if tx.attempt() == 1 {
                go.send(()).unwrap();
                wait_done.recv_timeout(WAIT).unwrap();
            }
            tx.queue(&["SET", "balance", &(n - 10).to_string()])?;
            tx.queue(&["GET", "balance"])?;
            Ok(n)
        })
        .unwrap();
    writer.join().unwrap();
    assert_eq!(attempts_seen, vec![1, 2]);
    assert_eq!(value, 1101, "the second attempt read B's write");
    assert_eq!(
        result.get(0).unwrap().unwrap().to_value(),
        Value::simple("OK")
    );
    assert_eq!(
        result.get(1).unwrap().unwrap().to_value(),
        Value::bulk("1091")
    );
    assert_eq!(int_of(&a, "balance"), 1091);
}

#[test]
fn exec_outcomes_keep_each_commands_error() {
    let server = RedisServer::start();
    let c = client(&server);
    c.command(&["SET", "s", "text"]).unwrap();
    // Errors inside EXEC's array stay at their positions.
    let (_, result) = c
        .transaction(&["s"], 1, |tx| {
            tx.queue(&["INCR", "n"])?;
            tx.queue(&["LPUSH", "s", "x"])?;
            tx.queue(&["GET", "s"])
        })
        .unwrap();
    assert_eq!(result.get(0).unwrap().unwrap().as_integer(), Some(1));
    let err = result.get(1).unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Response);
    assert!(err.message().starts_with("WRONGTYPE"), "{err}");
    assert_eq!(
        result.get(2).unwrap().unwrap().to_value(),
        Value::bulk("text")
    );
    assert_eq!(result.first_failure().map(|(i, _)| i), Some(1));

    // A queueing error: EXECABORT, each command's own error readable.
    let (_, result) = c
        .transaction::<_, &str>(&[], 1, |tx| {
            tx.queue(&["INCR", "n"])?;
            tx.queue(&["GET"])?; // wrong arity: refused when queued
            tx.queue(&["INCR", "n"])
        })
        .unwrap();
    assert_eq!(
        result.get(0).unwrap().unwrap_err().kind(),
        ErrorKind::ExecAbort
    );
    let queued = result.get(1).unwrap().unwrap_err();
    assert_eq!(queued.kind(), ErrorKind::Response);
    assert!(
        queued.message().contains("wrong number of arguments"),
        "{queued}"
    );
    assert_eq!(
        result.get(2).unwrap().unwrap_err().kind(),
        ErrorKind::ExecAbort
    );
    assert_eq!(int_of(&c, "n"), 1, "nothing of the aborted transaction ran");

    // An empty transaction runs (and can lose a race like any other).
    let (_, result) = c.transaction(&["s"], 1, |_| Ok(())).unwrap();
    assert!(result.is_empty() && !result.watch_failed());
}

#[test]
fn an_error_from_the_function_ends_the_transaction_and_unwatches() {
    let server = RedisServer::start();
    let c = client(&server);
    c.command(&["SET", "k", "1"]).unwrap();
    let err = c
        .transaction(&["k"], 3, |tx| -> Result<(), Error> {
            tx.queue(&["SET", "k", "2"])?;
            Err(Error::new(ErrorKind::Response, "changed my mind"))
        })
        .unwrap_err();
    assert_eq!(err.message(), "changed my mind");
    assert_eq!(int_of(&c, "k"), 1);
    // MULTI / EXEC are the helper's.
    let err = c
        .transaction(&["k"], 1, |tx| tx.command(&["MULTI"]))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        c.transaction(&["k"], 0, |_| Ok(())).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    // The held connections went back clean: the next transactions are not refused.
    for _ in 0..20 {
        c.transaction(&["k"], 1, |tx| tx.queue(&["INCR", "k"]))
            .unwrap();
    }
    assert_eq!(int_of(&c, "k"), 21);
}

#[test]
fn a_fail_fast_pipeline_names_the_command_that_failed() {
    let server = RedisServer::start();
    let c = client(&server);
    let mut p = Pipeline::new();
    p.add(&["SET", "ff", "v"]).unwrap();
    p.add(&["LPUSH", "ff", "x"]).unwrap();
    p.add(&["INCR", "ff"]).unwrap();
    let result = c.run_pipeline(&p).unwrap();
    assert_eq!(result.first_failure().map(|(i, _)| i), Some(1));
    p.fail_fast(true);
    let err = c.run_pipeline(&p).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Response);
    assert!(
        err.message()
            .starts_with("command 2 of 3 in the pipeline (LPUSH) failed: WRONGTYPE"),
        "{err}"
    );
    // Every command was still sent.
    assert_eq!(
        c.command(&["GET", "ff"]).unwrap().to_value(),
        Value::bulk("v")
    );
    let mut ok = Pipeline::new();
    ok.fail_fast(true).add(&["PING"]).unwrap();
    assert_eq!(c.run_pipeline(&ok).unwrap().len(), 1);
}

#[test]
fn transactions_on_a_cluster_client_stay_in_one_slot() {
    let cluster = RedisCluster::shared();
    let mut config = Config::from_url(&cluster.url()).unwrap();
    config.command_timeout = Some(Duration::from_secs(10));
    let c = Client::new(config).unwrap();
    let tag = format!("{{tx{}}}", std::process::id());
    let (a, b) = (format!("{tag}a"), format!("{tag}b"));
    c.command(&["SET", &a, "5"]).unwrap();
    let (_, result) = c
        .transaction(&[&a], 2, |tx| {
            let n = tx.command(&["GET", &a])?;
            let n = std::str::from_utf8(n.value().as_bytes().unwrap())
                .unwrap()
                .to_string();
            tx.queue(&["SET", &b, &n])?;
            tx.queue(&["INCR", &a])
        })
        .unwrap();
    assert_eq!(result.get(1).unwrap().unwrap().as_integer(), Some(6));
    assert_eq!(
        c.command(&["GET", &b]).unwrap().to_value(),
        Value::bulk("5")
    );
    let err = c
        .transaction(&[&a], 1, |tx| tx.queue(&["SET", "elsewhere-entirely", "x"]))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CrossSlotTransaction, "{err}");
}

/// The id the server gave `held`'s connection.
fn id_of(held: &mut redcore::client::Dedicated) -> i64 {
    let id = held.command(&["CLIENT", "ID"]).unwrap();
    id.value().as_integer().unwrap()
}

/// Kills connection `id` from `admin` and waits until the client has seen it go (a
/// command sent before that would fail as one in flight, which is not what these test).
fn kill_held(admin: &Client, id: i64) {
    let killed = admin
        .command(&["CLIENT", "KILL", "ID", &id.to_string()])
        .unwrap();
    assert_eq!(killed.value().as_integer(), Some(1));
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn a_held_connection_lost_while_watching_fails_with_watch_and_is_usable_again() {
    let server = RedisServer::start();
    let a = client(&server);
    let b = client(&server);
    a.command(&["SET", "k", "1"]).unwrap();
    let mut held = a.dedicated().unwrap();
    let id = id_of(&mut held);
    held.command(&["WATCH", "k"]).unwrap();
    kill_held(&a, id);
    b.command(&["SET", "k", "2"]).unwrap();
    // The watch is gone with the socket: MULTI is refused, not sent unwatched.
    let err = held.command(&["MULTI"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Watch, "{err}");
    // Once said, the holder starts again on the new socket.
    held.command(&["WATCH", "k"]).unwrap();
    held.command(&["MULTI"]).unwrap();
    held.command(&["SET", "k", "3"]).unwrap();
    let exec = held.command(&["EXEC"]).unwrap();
    assert_eq!(exec.value().len(), 1);
    assert_eq!(int_of(&b, "k"), 3);
}

#[test]
fn a_held_connection_lost_inside_multi_runs_nothing_of_the_transaction() {
    let server = RedisServer::start();
    let a = client(&server);
    let mut held = a.dedicated().unwrap();
    let id = id_of(&mut held);
    held.command(&["MULTI"]).unwrap();
    held.command(&["SET", "a", "1"]).unwrap();
    kill_held(&a, id);
    // Sent on the new socket, SET b would run at once, outside any transaction.
    let err = held.command(&["SET", "b", "1"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    let err = held.command(&["EXEC"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert_eq!(
        a.command(&["EXISTS", "a", "b"])
            .unwrap()
            .value()
            .as_integer(),
        Some(0)
    );
    // EXEC ended the lost transaction: the holder is usable again.
    held.command(&["SET", "c", "1"]).unwrap();
    assert_eq!(
        a.command(&["EXISTS", "c"]).unwrap().value().as_integer(),
        Some(1)
    );
}

#[test]
fn a_held_connection_lost_after_select_refuses_until_released() {
    let server = RedisServer::start();
    let a = client(&server);
    let mut held = a.dedicated().unwrap();
    let id = id_of(&mut held);
    held.command(&["SELECT", "5"]).unwrap();
    kill_held(&a, id);
    for _ in 0..2 {
        let err = held.command(&["SET", "db5key", "1"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    }
    held.release();
    assert_eq!(
        a.command(&["EXISTS", "db5key"])
            .unwrap()
            .value()
            .as_integer(),
        Some(0)
    );
    // The next holder gets a connection in the default database.
    let mut next = a.dedicated().unwrap();
    next.command(&["SET", "db0key", "1"]).unwrap();
    assert_eq!(
        a.command(&["EXISTS", "db0key"])
            .unwrap()
            .value()
            .as_integer(),
        Some(1)
    );
}

#[test]
fn the_helper_starts_again_when_the_watching_connection_is_lost() {
    let server = RedisServer::start();
    let a = client(&server);
    let b = client(&server);
    a.command(&["SET", "balance", "100"]).unwrap();
    let (_, result) = a
        .transaction(&["balance"], 3, |tx| {
            let balance: i64 =
                std::str::from_utf8(tx.command(&["GET", "balance"])?.value().as_bytes().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap();
            if tx.attempt() == 1 {
                // The watching connection dies and someone else writes meanwhile.
                let id = tx.command(&["CLIENT", "ID"])?.value().as_integer().unwrap();
                a.command(&["CLIENT", "KILL", "ID", &id.to_string()])
                    .unwrap();
                std::thread::sleep(Duration::from_millis(300));
                b.command(&["INCRBY", "balance", "1"]).unwrap();
            }
            tx.queue(&["SET", "balance", &(balance - 10).to_string()])
        })
        .unwrap();
    assert!(!result.watch_failed());
    // The second attempt read B's write: no update lost.
    assert_eq!(int_of(&a, "balance"), 91);
}

static SENT_BACK_TO_BACK: std::sync::Mutex<Vec<(usize, Option<ErrorKind>)>> =
    std::sync::Mutex::new(Vec::new());

fn record_back_to_back(ctx: [usize; 2], result: redcore::Result<redcore::resp::Reply>) {
    let kind = result.err().map(|e| e.kind());
    SENT_BACK_TO_BACK.lock().unwrap().push((ctx[0], kind));
}

/// What a pipelining holder does (the Go binding's TxPipeline, C's redcore_dedicated_command
/// in a row): MULTI, SET, EXEC sent back to back after the watching connection was lost. None
/// of it may run: the SET alone would overwrite another client's write.
#[test]
fn commands_sent_back_to_back_after_a_lost_watch_all_fail() {
    let server = RedisServer::start();
    let a = client(&server);
    a.command(&["SET", "k", "100"]).unwrap();
    let mut held = a.dedicated().unwrap();
    let id = id_of(&mut held);
    held.command(&["WATCH", "k"]).unwrap();
    kill_held(&a, id);
    a.command(&["SET", "k", "70"]).unwrap();
    let commands: [&[&str]; 3] = [&["MULTI"], &["SET", "k", "stale"], &["EXEC"]];
    for (i, args) in commands.iter().enumerate() {
        if let Err(e) = held.submit_raw(args, record_back_to_back, [i, 0]) {
            SENT_BACK_TO_BACK.lock().unwrap().push((i, Some(e.kind())));
        }
    }
    let done = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        SENT_BACK_TO_BACK.lock().unwrap().len() == 3
    });
    assert!(done, "every command completes");
    let mut outcomes = SENT_BACK_TO_BACK.lock().unwrap().clone();
    outcomes.sort_by_key(|(i, _)| *i);
    assert_eq!(
        outcomes,
        vec![
            (0, Some(ErrorKind::Watch)),
            (1, Some(ErrorKind::Watch)),
            (2, Some(ErrorKind::Watch))
        ]
    );
    assert_eq!(int_of(&a, "k"), 70);
    // A new WATCH starts over on the new socket.
    held.command(&["WATCH", "k"]).unwrap();
    held.command(&["MULTI"]).unwrap();
    held.command(&["SET", "k", "40"]).unwrap();
    assert_eq!(held.command(&["EXEC"]).unwrap().value().len(), 1);
    assert_eq!(int_of(&a, "k"), 40);
}

/// A holder that gives its connection back with MULTI's commands still unwritten: they fail
/// with the lost socket instead of running alone on the next one.
#[test]
fn commands_of_a_released_transaction_never_run_alone_after_a_reconnect() {
    let mut server = RedisServer::start();
    let mut cfg = server.config();
    cfg.command_timeout = Some(Duration::from_secs(30));
    cfg.retry.retries = 100;
    let a = Client::new(cfg).expect("client connects");
    let mut held = a.dedicated().unwrap();
    held.command(&["MULTI"]).unwrap();
    // The server stops reading: the big SET cannot be written whole, the small one waits.
    server.pause();
    let big = "x".repeat(32 * 1024 * 1024);
    held.submit_raw(&["SET", "big", big.as_str()], |_, _| {}, [0, 0])
        .unwrap();
    held.submit_raw(&["SET", "small", "1"], |_, _| {}, [0, 0])
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    held.release();
    server.kill();
    server.restart();
    // The client reconnects; nothing of the transaction may show up.
    let c = client(&server);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        c.command(&["EXISTS", "small", "big"])
            .unwrap()
            .value()
            .as_integer(),
        Some(0)
    );
}

/// No health-check PING goes into a holder's open MULTI (EXEC would answer it).
#[test]
fn no_health_check_inside_a_holders_transaction() {
    let server = RedisServer::start();
    let mut cfg = server.config();
    cfg.health_check_interval = Some(Duration::from_millis(50));
    let a = Client::new(cfg).expect("client connects");
    let mut held = a.dedicated().unwrap();
    held.command(&["MULTI"]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    held.command(&["SET", "a", "1"]).unwrap();
    let exec = held.command(&["EXEC"]).unwrap();
    assert_eq!(exec.value().len(), 1, "EXEC answered only the holder's SET");
}

#[test]
fn the_helper_starts_again_when_the_watching_connection_is_lost_under_a_read() {
    let server = RedisServer::start();
    let a = Arc::new(client(&server));
    a.command(&["SET", "balance", "100"]).unwrap();
    let mut read_errors = Vec::new();
    let (_, result) = a
        .transaction(&["balance"], 3, |tx| {
            if tx.attempt() == 1 {
                // The watching connection dies while a read waits on the server.
                let id = tx.command(&["CLIENT", "ID"])?.value().as_integer().unwrap();
                let admin = a.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(200));
                    admin
                        .command(&["CLIENT", "KILL", "ID", &id.to_string()])
                        .unwrap();
                });
                let err = tx.command(&["BLPOP", "nothing", "5"]).unwrap_err();
                read_errors.push(err.kind());
                return Err(err);
            }
            let balance: i64 =
                std::str::from_utf8(tx.command(&["GET", "balance"])?.value().as_bytes().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap();
            tx.queue(&["SET", "balance", &(balance - 10).to_string()])
        })
        .unwrap();
    assert_eq!(read_errors, [ErrorKind::Watch]);
    assert!(!result.watch_failed());
    assert_eq!(int_of(&a, "balance"), 90);
}

/// A transaction submitted on a held connection whose holder opened MULTI by hand is refused
/// before anything is sent: the server would refuse the nested MULTI and queue the commands
/// into the open transaction, which EXEC would run.
#[test]
fn a_transaction_is_refused_inside_a_multi_opened_by_hand() {
    fn ignore(_: [usize; 2], _: redcore::client::PipelineResult) {}
    let server = RedisServer::start();
    let c = client(&server);
    let mut d = c.dedicated().unwrap();
    d.command(&["MULTI"]).unwrap();
    let set: &[&[u8]] = &[b"SET", b"tx:by-hand", b"committed"];
    let refused = d.submit_transaction_raw(&[set], ignore, [0, 0]);
    assert!(
        matches!(&refused, Err(e) if e.kind() == ErrorKind::InvalidArgument),
        "{refused:?}"
    );
    assert_eq!(
        d.command(&["EXEC"]).unwrap().to_value(),
        Value::Array(vec![])
    );
    assert_eq!(
        c.command(&["GET", "tx:by-hand"]).unwrap().to_value(),
        Value::Null
    );
}
