//! Scripts and functions against real servers: the local SHA-1 is the server's, EVALSHA with
//! the NOSCRIPT fallback after SCRIPT FLUSH (blocking, asynchronous, read-only), pipelines and
//! transactions that load their scripts first, Lua errors, FCALL / FCALL_RO through the
//! client, and the same on a cluster client.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use redcore::client::{Client, Pipeline};
use redcore::config::Config;
use redcore::resp::Value;
use redcore::script::Script;
use redcore::ErrorKind;
use support::cluster::RedisCluster;
use support::RedisServer;

const WAIT: Duration = Duration::from_secs(10);

fn client(server: &RedisServer) -> Client {
    Client::new(server.config()).expect("client connects")
}

/// `INCRBY KEYS[1] ARGV[1]`, returning the new value.
fn incr_script() -> Script {
    Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])")
}

fn loaded(c: &Client, script: &Script) -> bool {
    let reply = c.command(&["SCRIPT", "EXISTS", script.sha()]).unwrap();
    reply.to_value() == Value::Array(vec![Value::Integer(1)])
}

fn calls(server: &RedisServer, command: &str) -> i64 {
    let info = server.cmd(&["INFO", "commandstats"]);
    let text = support::text(&info).to_string();
    let prefix = format!("cmdstat_{command}:calls=");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[test]
fn a_script_runs_by_sha_and_is_loaded_again_after_a_flush() {
    let server = RedisServer::start();
    let c = client(&server);
    let script = incr_script();
    // The SHA-1 computed here is the server's.
    let sha = c
        .command(&[&b"SCRIPT"[..], b"LOAD", script.source()])
        .unwrap();
    assert_eq!(sha.value().as_bytes(), Some(script.sha().as_bytes()));
    assert_eq!(
        script.run(&c, &["n"], &["5"]).unwrap().to_value(),
        Value::Integer(5)
    );
    c.command(&["SCRIPT", "FLUSH"]).unwrap();
    assert!(!loaded(&c, &script));
    let loads_before = calls(&server, "script|load");
    assert_eq!(
        script.run(&c, &["n"], &["2"]).unwrap().to_value(),
        Value::Integer(7)
    );
    assert!(loaded(&c, &script));
    assert_eq!(calls(&server, "script|load"), loads_before + 1);
    // Loaded now: no more loading.
    script.run(&c, &["n"], &["1"]).unwrap();
    assert_eq!(calls(&server, "script|load"), loads_before + 1);

    // Read-only: reads fine, writes refused by the server.
    let get = Script::new("return redis.call('GET', KEYS[1])");
    c.command(&["SCRIPT", "FLUSH"]).unwrap();
    let none: [&str; 0] = [];
    assert_eq!(
        get.run_read_only(&c, &["n"], &none).unwrap().to_value(),
        Value::bulk("8")
    );
    c.command(&["SCRIPT", "FLUSH"]).unwrap();
    let err = script.run_read_only(&c, &["n"], &["1"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Response, "{err}");
    // A Lua error is the server's error, with its text.
    let bad = Script::new("return redis.call('NOSUCHCOMMAND')");
    let err = bad.run(&c, &none, &none).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Response);
    assert!(err.message().contains("Unknown Redis command"), "{err}");
    // A script that does not compile is refused when it is loaded.
    let broken = Script::new("this is not lua");
    assert_eq!(
        broken.run(&c, &none, &none).unwrap_err().kind(),
        ErrorKind::Response
    );
}

#[test]
fn the_asynchronous_run_loads_too() {
    let server = RedisServer::start();
    let c = client(&server);
    let script = incr_script();
    let (tx, rx) = mpsc::channel();
    for round in 0..3 {
        c.command(&["SCRIPT", "FLUSH"]).unwrap();
        let tx = tx.clone();
        script
            .submit(&c, false, &["a"], &["10"], move |r| tx.send(r).unwrap())
            .unwrap();
        let reply = rx.recv_timeout(WAIT).unwrap().unwrap();
        assert_eq!(reply.to_value(), Value::Integer(10 * (round + 1)));
    }
    let tx2 = tx.clone();
    Script::new("return redis.error_reply('ERR mine')")
        .submit::<&str, &str>(&c, false, &[], &[], move |r| tx2.send(r).unwrap())
        .unwrap();
    let err = rx.recv_timeout(WAIT).unwrap().unwrap_err();
    assert_eq!(err.message(), "ERR mine");
}

#[test]
fn pipelines_and_transactions_load_their_scripts_first() {
    let server = RedisServer::start();
    let c = client(&server);
    let incr = incr_script();
    let double = Script::new("return 2 * tonumber(ARGV[1])");
    for transaction in [false, true] {
        c.command(&["SCRIPT", "FLUSH"]).unwrap();
        let mut p = if transaction {
            Pipeline::transaction()
        } else {
            Pipeline::new()
        };
        p.add(&["SET", "p", "100"]).unwrap();
        p.add_script(&incr, false, &["p"], &["1"]).unwrap();
        p.add_script::<&str, &str>(&double, true, &[], &["21"])
            .unwrap();
        p.add_script(&incr, false, &["p"], &["1"]).unwrap();
        let result = c.run_pipeline(&p).unwrap();
        let values: Vec<Value> = (0..4)
            .map(|i| result.get(i).unwrap().unwrap().to_value())
            .collect();
        assert_eq!(
            values,
            vec![
                Value::simple("OK"),
                Value::Integer(101),
                Value::Integer(42),
                Value::Integer(102)
            ],
            "transaction: {transaction}"
        );
        assert!(loaded(&c, &incr) && loaded(&c, &double));
        // Asynchronous, with one of the two scripts gone.
        c.command(&["SCRIPT", "FLUSH"]).unwrap();
        incr.load(&c).unwrap();
        let (tx, rx) = mpsc::channel();
        c.submit_pipeline(&p, move |r| {
            let n = r.get(3).unwrap().unwrap().as_integer();
            tx.send(n).unwrap();
        })
        .unwrap();
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), Some(102));
    }
    // Clearing a pipeline forgets its scripts.
    let mut p = Pipeline::new();
    p.add_script(&incr, false, &["p"], &["1"]).unwrap();
    p.clear();
    p.add(&["PING"]).unwrap();
    let loads = calls(&server, "script|exists");
    c.run_pipeline(&p).unwrap();
    assert_eq!(calls(&server, "script|exists"), loads);
}

#[test]
fn functions_go_through_the_client() {
    let server = RedisServer::start();
    let c = client(&server);
    let library = "#!lua name=redcoretest\n\
        redis.register_function('setget', function(keys, args)\n\
          redis.call('SET', keys[1], args[1]) return redis.call('GET', keys[1]) end)\n\
        redis.register_function{function_name='peek', \
          callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}";
    let loaded = c
        .command(&["FUNCTION", "LOAD", "REPLACE", library])
        .unwrap();
    assert_eq!(loaded.to_value(), Value::bulk("redcoretest"));
    let reply = c.command(&["FCALL", "setget", "1", "f", "v"]).unwrap();
    assert_eq!(reply.to_value(), Value::bulk("v"));
    let reply = c.command(&["FCALL_RO", "peek", "1", "f"]).unwrap();
    assert_eq!(reply.to_value(), Value::bulk("v"));
    let err = c
        .command(&["FCALL_RO", "setget", "1", "f", "w"])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Response, "{err}");
}

#[test]
fn scripts_on_a_cluster_client() {
    let cluster = RedisCluster::shared();
    let mut config = Config::from_url(&cluster.url()).unwrap();
    config.command_timeout = Some(Duration::from_secs(10));
    let c = Client::new(config).unwrap();
    let script = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    let tag = std::process::id();
    let keys: Vec<String> = (0..20).map(|i| format!("script:{tag}:{i}")).collect();
    // SCRIPT FLUSH goes to every node; each key's node answers NOSCRIPT and the script is
    // loaded everywhere.
    c.command(&["SCRIPT", "FLUSH"]).unwrap();
    for key in &keys {
        assert_eq!(
            script.run(&c, &[key], &["3"]).unwrap().to_value(),
            Value::Integer(3)
        );
    }
    for port in cluster.primaries().iter().map(|p| p.port) {
        let exists = cluster
            .node(port)
            .cmd_ok(&["SCRIPT", "EXISTS", script.sha()]);
        assert_eq!(exists, Value::Array(vec![Value::Integer(1)]), "{port}");
    }
    c.command(&["SCRIPT", "FLUSH"]).unwrap();
    let mut p = Pipeline::new();
    for key in &keys {
        p.add_script(&script, false, &[key], &["1"]).unwrap();
    }
    let result = c.run_pipeline(&p).unwrap();
    for i in 0..keys.len() {
        assert_eq!(result.get(i).unwrap().unwrap().as_integer(), Some(4));
    }
}
