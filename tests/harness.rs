//! Checks of the test harness itself (tests/support): what later tests rely on when they stop,
//! restart, pause or configure a server.

mod support;

use std::time::{Duration, Instant};

use redcore::resp::Value;
use support::RedisServer;

#[test]
fn accessors_describe_the_running_server() {
    let server = RedisServer::builder().unix_socket(true).start();
    let port = server.port();
    assert_eq!(server.host(), "127.0.0.1");
    assert_eq!(server.addr(), format!("127.0.0.1:{port}"));
    assert_eq!(server.url(), format!("redis://127.0.0.1:{port}"));
    assert_eq!(server.unix_path(), server.dir().join("redis.sock"));
    assert!(server.unix_path().exists());
    assert_eq!(
        server.cmd(&["CONFIG", "GET", "port"]),
        Value::Array(vec![Value::bulk("port"), Value::bulk(port.to_string())])
    );
    assert!(server.log_tail().contains("Running mode="));
}

#[test]
fn drop_kills_the_server_and_removes_its_dir() {
    let server = RedisServer::start();
    let dir = server.dir().to_path_buf();
    let pid = server.pid().expect("running");
    assert!(dir.is_dir());
    drop(server);
    assert!(!dir.exists(), "{} left behind", dir.display());
    // SAFETY: signal 0 only checks whether the pid exists.
    let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
    assert!(!alive, "redis-server {pid} still alive after drop");
}

#[test]
fn extra_args_files_and_dir_placeholder() {
    let server = RedisServer::builder()
        .file("users.acl", "user default on >pw ~* &* +@all\n")
        .arg("--aclfile")
        .arg("{dir}/users.acl")
        .start();
    match server.cmd(&["PING"]) {
        Value::Error(text) => assert!(text.starts_with(b"NOAUTH"), "{text:?}"),
        other => panic!("expected NOAUTH before AUTH, got {other:?}"),
    }
    let mut conn = server.connect().unwrap();
    assert_eq!(conn.command(&["AUTH", "pw"]).unwrap(), Value::simple("OK"));
    assert_eq!(conn.command(&["PING"]).unwrap(), Value::simple("PONG"));
}

#[test]
fn stop_and_restart_keep_port_and_dir() {
    let mut server = RedisServer::builder()
        .arg("--requirepass")
        .arg("pw")
        .start();
    let (port, dir) = (server.port(), server.dir().to_path_buf());
    server.stop();
    assert!(server.pid().is_none());
    assert!(
        server.try_cmd(&["PING"]).is_err(),
        "stopped server answered"
    );
    server.restart();
    assert_eq!((server.port(), server.dir()), (port, dir.as_path()));
    // The extra arguments survive the restart.
    assert!(matches!(server.cmd(&["PING"]), Value::Error(_)));
    server.kill();
    server.restart();
    assert!(matches!(server.cmd(&["PING"]), Value::Error(_)));
}

#[test]
fn pause_makes_the_server_silent_until_resumed() {
    let server = RedisServer::start();
    server.pause();
    let started = Instant::now();
    let mut conn = server.connect().unwrap();
    conn.send(&["PING"]).unwrap();
    // Connecting still works (the kernel accepts), but no reply comes.
    let stream_timeout = Duration::from_millis(300);
    let err = {
        let stream = std::net::TcpStream::connect(server.addr()).unwrap();
        stream.set_read_timeout(Some(stream_timeout)).unwrap();
        let mut paused = support::RespConn::new(stream);
        paused.command(&["PING"]).unwrap_err()
    };
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    assert!(started.elapsed() >= stream_timeout);
    server.resume();
    // The command sent while paused is answered after SIGCONT.
    assert_eq!(conn.read_reply().unwrap(), Value::simple("PONG"));
}
