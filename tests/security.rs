//! TLS and authentication against real servers: verified and mutual TLS, each TLS failure
//! with its message (unknown CA, expired certificate, hostname mismatch, client certificate
//! required, plain server on a TLS port, TLS server on a plain port), ACL users, wrong
//! passwords, NOAUTH, a credential provider rotating a password under load, re-authentication,
//! and no secret in any error text.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redcore::client::Client;
use redcore::config::{
    Config, CredentialSource, Credentials, Endpoint, OcspVerifier, Protocol, Secret, TlsOptions,
    TlsVersion,
};
use redcore::resp::Value;
use redcore::{Error, ErrorKind};
use support::{RedisServer, ServerCert};

/// Every error text the auth and TLS failures produced, checked for secrets at the end of
/// each test that collects them.
struct ErrorLog(Mutex<Vec<String>>);

impl ErrorLog {
    fn new() -> ErrorLog {
        ErrorLog(Mutex::new(Vec::new()))
    }

    fn keep(&self, err: &Error) {
        self.0.lock().unwrap().extend([
            err.to_string(),
            format!("{err:?}"),
            err.message().to_string(),
        ]);
    }

    fn assert_no_secret(&self, secrets: &[&str]) {
        let texts = self.0.lock().unwrap();
        assert!(!texts.is_empty(), "no error text was collected");
        for text in texts.iter() {
            for secret in secrets {
                assert!(!text.contains(secret), "'{secret}' appears in: {text}");
            }
        }
    }
}

fn tls_config(server: &RedisServer, host: &str, port: u16) -> Config {
    Config {
        endpoint: Endpoint::Tcp {
            host: host.into(),
            port,
        },
        tls: true,
        tls_options: TlsOptions {
            ca_file: Some(server.tls_files().ca.clone()),
            ..TlsOptions::default()
        },
        connect_timeout: Some(Duration::from_secs(2)),
        ..Config::default()
    }
}

fn plain_config(port: u16) -> Config {
    Config {
        endpoint: Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port,
        },
        connect_timeout: Some(Duration::from_secs(2)),
        ..Config::default()
    }
}

/// Client creation fails; returns the error after checking its kind and how long it took.
fn connect_error(config: Config, kind: ErrorKind, fragment: &str) -> Error {
    let limit = config.connect_timeout.unwrap() + Duration::from_millis(500);
    let start = Instant::now();
    let err = Client::new(config).err().expect("the connection must fail");
    let took = start.elapsed();
    assert!(took < limit, "took {took:?}: {err}");
    assert_eq!(err.kind(), kind, "{err}");
    assert!(err.is(ErrorKind::Connection), "{err}");
    assert!(
        err.message().contains(fragment),
        "'{fragment}' not in: {err}"
    );
    err
}

#[test]
fn verified_tls_by_ip_and_by_name_resp2_and_resp3() {
    let server = RedisServer::builder().tls(ServerCert::Valid, false).start();
    for (host, protocol) in [
        ("127.0.0.1", Protocol::Resp3),
        ("localhost", Protocol::Resp2),
    ] {
        let mut cfg = tls_config(&server, host, server.tls_port());
        cfg.protocol = protocol;
        let c = Client::new(cfg).unwrap();
        c.command(&["SET", "k", "v"]).unwrap();
        assert_eq!(
            c.command(&["GET", "k"]).unwrap().to_value(),
            Value::bulk("v")
        );
        // Large values cross many TLS records both ways.
        let big = "x".repeat(3 * 1024 * 1024 + 7);
        c.command(&["SET", "big", &big]).unwrap();
        let back = c.command(&["GET", "big"]).unwrap().to_value();
        assert_eq!(back, Value::bulk(big.as_str()));
    }
    // TLS 1.3 only also works against this server.
    let mut cfg = tls_config(&server, "127.0.0.1", server.tls_port());
    cfg.tls_options.min_version = TlsVersion::Tls13;
    Client::new(cfg).unwrap().command(&["PING"]).unwrap();
}

#[test]
fn mutual_tls_and_a_missing_client_certificate() {
    let server = RedisServer::builder().tls(ServerCert::Valid, true).start();
    let files = server.tls_files().clone();
    let mut cfg = tls_config(&server, "127.0.0.1", server.tls_port());
    cfg.tls_options.client_cert_file = Some(files.client_cert.clone());
    cfg.tls_options.client_key_file = Some(files.client_key.clone());
    let c = Client::new(cfg).unwrap();
    assert_eq!(
        c.command(&["PING"]).unwrap().to_value(),
        Value::simple("PONG")
    );
    let cfg = tls_config(&server, "127.0.0.1", server.tls_port());
    connect_error(cfg, ErrorKind::Tls, "client certificate");
}

#[test]
fn unknown_ca_expired_certificate_and_hostname_mismatch() {
    let good = RedisServer::builder().tls(ServerCert::Valid, false).start();
    let mut cfg = tls_config(&good, "127.0.0.1", good.tls_port());
    cfg.tls_options.ca_file = Some(good.tls_files().other_ca.clone());
    connect_error(cfg, ErrorKind::Tls, "unknown CA");

    let expired = RedisServer::builder()
        .tls(ServerCert::Expired, false)
        .start();
    let cfg = tls_config(&expired, "127.0.0.1", expired.tls_port());
    let err = connect_error(cfg, ErrorKind::Tls, "expired");
    assert!(err.message().contains("2020-01-02"), "{err}");

    let wrong = RedisServer::builder()
        .tls(ServerCert::WrongName, false)
        .start();
    let cfg = tls_config(&wrong, "127.0.0.1", wrong.tls_port());
    let err = connect_error(cfg, ErrorKind::Tls, "hostname mismatch");
    assert!(err.message().contains("wrong.example"), "{err}");
    // The server name override fixes it (what cluster nodes announced by IP need)...
    let mut cfg = tls_config(&wrong, "127.0.0.1", wrong.tls_port());
    cfg.tls_options.server_name = Some("wrong.example".into());
    Client::new(cfg).unwrap().command(&["PING"]).unwrap();
    // ...and breaks a good server when it names something else.
    let mut cfg = tls_config(&good, "127.0.0.1", good.tls_port());
    cfg.tls_options.server_name = Some("other.example".into());
    connect_error(cfg, ErrorKind::Tls, "hostname mismatch");
    // The insecure mode, asked for by name, accepts all three.
    for server in [&good, &expired, &wrong] {
        let mut cfg = tls_config(server, "127.0.0.1", server.tls_port());
        cfg.tls_options.ca_file = Some(server.tls_files().other_ca.clone());
        cfg.tls_options.insecure_skip_verify = true;
        Client::new(cfg).unwrap().command(&["PING"]).unwrap();
    }
}

#[test]
fn plain_server_on_a_tls_port_and_tls_server_on_a_plain_port() {
    let server = RedisServer::builder().tls(ServerCert::Valid, false).start();
    // TLS to the plain port: a plain Redis never answers the TLS hello.
    let mut cfg = tls_config(&server, "127.0.0.1", server.port());
    cfg.connect_timeout = Some(Duration::from_millis(500));
    connect_error(cfg, ErrorKind::Tls, "may not speak TLS");
    // Plain text to the TLS port: the server hangs up.
    let cfg = plain_config(server.tls_port());
    connect_error(cfg, ErrorKind::Tls, "rediss://");
    // With a password, the same (and the password is not in the message).
    let mut cfg = plain_config(server.tls_port());
    cfg.password = Some(Secret::new("plain-text-secret-1"));
    let err = connect_error(cfg, ErrorKind::Tls, "rediss://");
    assert!(!err.to_string().contains("plain-text-secret-1"));
}

#[test]
fn ocsp_check_sees_the_staple_and_can_refuse() {
    let server = RedisServer::builder().tls(ServerCert::Valid, false).start();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let mut cfg = tls_config(&server, "127.0.0.1", server.tls_port());
    cfg.tls_options.ocsp_verifier = Some(OcspVerifier::new(move |staple| {
        counter.fetch_add(1, Ordering::SeqCst);
        assert_eq!(staple.server_name, "127.0.0.1");
        assert!(!staple.end_entity.is_empty());
        // Redis staples nothing.
        assert!(staple.response.is_empty());
        Ok(())
    }));
    Client::new(cfg).unwrap().command(&["PING"]).unwrap();
    assert!(seen.load(Ordering::SeqCst) >= 1);
    let mut cfg = tls_config(&server, "127.0.0.1", server.tls_port());
    cfg.tls_options.ocsp_verifier = Some(OcspVerifier::new(|_| Err("no staple".into())));
    connect_error(
        cfg,
        ErrorKind::Tls,
        "OCSP check refused the certificate: no staple",
    );
}

#[test]
fn tls_settings_errors_show_at_client_creation() {
    let server = RedisServer::builder().tls(ServerCert::Valid, false).start();
    let mut cfg = tls_config(&server, "127.0.0.1", server.tls_port());
    cfg.tls_options.ca_file = Some("/nonexistent/ca.pem".into());
    let err = Client::new(cfg).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Tls);
    assert!(err.message().contains("tls_ca_file"), "{err}");
    // CA given as PEM in memory.
    let mut cfg = tls_config(&server, "127.0.0.1", server.tls_port());
    cfg.tls_options.ca_file = None;
    cfg.tls_options.ca_pem = Some(std::fs::read(&server.tls_files().ca).unwrap());
    Client::new(cfg).unwrap().command(&["PING"]).unwrap();
    // And a directory of CAs.
    let mut cfg = tls_config(&server, "127.0.0.1", server.tls_port());
    cfg.tls_options.ca_file = None;
    cfg.tls_options.ca_dir = Some(server.dir().to_path_buf());
    Client::new(cfg).unwrap().command(&["PING"]).unwrap();
}

#[test]
fn tls_survives_a_server_restart_and_many_threads() {
    let mut server = RedisServer::builder().tls(ServerCert::Valid, false).start();
    let cfg = tls_config(&server, "127.0.0.1", server.tls_port());
    let c = Arc::new(Client::new(cfg).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..2000 {
                    let key = format!("k{t}:{i}");
                    c.command(&["SET", &key, &key]).unwrap();
                    let v = c.command(&["GET", &key]).unwrap().to_value();
                    assert_eq!(v, Value::bulk(key.as_str()));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.command(&["PING"]) {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                assert!(e.is(ErrorKind::Connection), "{e}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("no recovery after restart: {e}"),
        }
    }
}

const ACL: &str = "user default on >defaultpass ~* &* +@all
user app on >apppass ~app:* &* +@read +@write +@connection +@transaction -@dangerous
user ro on >ropass ~* +@read +@connection
";

fn acl_server() -> RedisServer {
    RedisServer::builder().acl(ACL).start()
}

fn auth_config(server: &RedisServer, user: Option<&str>, password: Option<&str>) -> Config {
    Config {
        username: user.map(str::to_owned),
        password: password.map(Secret::new),
        ..plain_config(server.port())
    }
}

#[test]
fn acl_users_allowed_and_denied_wrong_password_and_noauth() {
    let server = acl_server();
    let log = ErrorLog::new();
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let mut cfg = auth_config(&server, Some("app"), Some("apppass"));
        cfg.protocol = protocol;
        let app = Client::new(cfg).unwrap();
        app.command(&["SET", "app:1", "v"]).unwrap();
        let err = app.command(&["SET", "other", "v"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoPermission, "{err}");
        let err = app.command(&["FLUSHALL"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoPermission, "{err}");
        log.keep(&err);

        let mut cfg = auth_config(&server, Some("ro"), Some("ropass"));
        cfg.protocol = protocol;
        let ro = Client::new(cfg).unwrap();
        assert_eq!(
            ro.command(&["GET", "app:1"]).unwrap().to_value(),
            Value::bulk("v")
        );
        let err = ro.command(&["SET", "app:2", "v"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoPermission, "{err}");

        // The default user by password only (AUTH <password>).
        let mut cfg = auth_config(&server, None, Some("defaultpass"));
        cfg.protocol = protocol;
        Client::new(cfg).unwrap().command(&["FLUSHALL"]).unwrap();

        for (user, password) in [(Some("app"), "wrong-pass-1"), (None, "wrong-pass-2")] {
            let mut cfg = auth_config(&server, user, Some(password));
            cfg.protocol = protocol;
            let err = Client::new(cfg).err().expect("wrong password");
            assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
            log.keep(&err);
        }
        // No password at all on a server that needs one.
        let mut cfg = auth_config(&server, None, None);
        cfg.protocol = protocol;
        // RESP3 learns it from HELLO; RESP2 (nothing to send at connect on a 7.0 server) from
        // the first command.
        let err = match Client::new(cfg) {
            Err(err) => err,
            Ok(c) => c.command(&["GET", "k"]).unwrap_err(),
        };
        assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
        assert!(err.message().contains("requires a password"), "{err}");
        log.keep(&err);
    }
    log.assert_no_secret(&["wrong-pass-1", "wrong-pass-2", "apppass", "defaultpass"]);
}

#[test]
fn auth_over_tls_with_a_client_certificate() {
    let server = RedisServer::builder()
        .tls(ServerCert::Valid, true)
        .acl(ACL)
        .start();
    let files = server.tls_files().clone();
    let mut cfg = tls_config(&server, "localhost", server.tls_port());
    cfg.tls_options.client_cert_file = Some(files.client_cert);
    cfg.tls_options.client_key_file = Some(files.client_key);
    cfg.username = Some("app".into());
    cfg.password = Some(Secret::new("apppass"));
    let c = Client::new(cfg.clone()).unwrap();
    c.command(&["SET", "app:tls", "1"]).unwrap();
    cfg.password = Some(Secret::new("tls-wrong-secret"));
    let err = Client::new(cfg).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert!(!err.to_string().contains("tls-wrong-secret"));
}

/// A provider handing out whatever password is current, counting its calls.
struct Rotating {
    password: Mutex<String>,
    calls: AtomicUsize,
}

impl redcore::config::CredentialProvider for Rotating {
    fn credentials(&self) -> redcore::Result<Credentials> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(Credentials::new(
            Some("app"),
            &self.password.lock().unwrap(),
        ))
    }
}

#[test]
fn provider_rotates_the_password_while_four_threads_send() {
    let server = acl_server();
    let admin = Client::new(auth_config(&server, None, Some("defaultpass"))).unwrap();
    let provider = Arc::new(Rotating {
        password: Mutex::new("apppass".into()),
        calls: AtomicUsize::new(0),
    });
    let mut cfg = Config {
        credential_provider: Some(CredentialSource(provider.clone())),
        connections_per_node: 2,
        ..plain_config(server.port())
    };
    // The test kills the connections to force reconnects; the SETs caught in flight are
    // sent again (they are idempotent), so no command fails.
    cfg.retry.retry_written_commands = true;
    let c = Arc::new(Client::new(cfg).unwrap());
    assert!(provider.calls.load(Ordering::SeqCst) >= 1);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let (c, stop, sent) = (c.clone(), stop.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("app:{t}:{}", i % 100);
                    c.command(&["SET", &key, "x"])
                        .unwrap_or_else(|e| panic!("thread {t}, command {i}: {e}"));
                    i += 1;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for round in 1..=3 {
        let old = provider.password.lock().unwrap().clone();
        let new = format!("rotated-{round}");
        // Add the new password before removing the old one, as a rotation must.
        admin
            .command(&["ACL", "SETUSER", "app", &format!(">{new}")])
            .unwrap();
        *provider.password.lock().unwrap() = new.clone();
        // Live connections switch; new ones ask the provider.
        c.reauthenticate(None).unwrap();
        admin
            .command(&["ACL", "SETUSER", "app", &format!("<{old}")])
            .unwrap();
        // Force reconnects: they must use the provider's new password.
        admin
            .command(&["CLIENT", "KILL", "USER", "app", "SKIPME", "yes"])
            .unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert!(sent.load(Ordering::Relaxed) > 100, "the threads barely ran");
    assert!(
        provider.calls.load(Ordering::SeqCst) >= 4,
        "reconnects asked the provider"
    );
    let whoami = c.command(&["ACL", "WHOAMI"]);
    // `app` may lack ACL WHOAMI; either way the connection is authenticated.
    if let Ok(who) = whoami {
        assert_eq!(who.to_value(), Value::bulk("app"));
    }
}

#[test]
fn reauthenticate_after_acl_setuser_changes_the_password() {
    let server = acl_server();
    let admin = Client::new(auth_config(&server, None, Some("defaultpass"))).unwrap();
    let cfg = Config {
        max_dedicated_connections: 4,
        ..auth_config(&server, Some("app"), Some("apppass"))
    };
    let c = Client::new(cfg).unwrap();
    c.command(&["SET", "app:a", "1"]).unwrap();
    // A held connection inside MULTI: its AUTH must wait for EXEC, not join the transaction.
    let mut held = c.dedicated().unwrap();
    held.command(&["MULTI"]).unwrap();
    held.command(&["INCR", "app:n"]).unwrap();
    admin
        .command(&["ACL", "SETUSER", "app", "resetpass", ">newpass-7"])
        .unwrap();
    let log = ErrorLog::new();
    // A wrong password is refused by every connection, and reported.
    let (tx, rx) = std::sync::mpsc::channel();
    c.submit_reauthenticate(
        Some(Credentials::new(Some("app"), "not-the-password-9")),
        move |report| tx.send(report).unwrap(),
    )
    .unwrap();
    let exec = held.command(&["EXEC"]).unwrap().to_value();
    assert_eq!(exec, Value::Array(vec![Value::Integer(1)]));
    let report = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(report.connections >= 2, "{report:?}");
    assert_eq!(report.errors.len(), report.connections, "{report:?}");
    for err in &report.errors {
        assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
        log.keep(err);
    }
    // The right one works everywhere, in flight or not.
    let report = c
        .reauthenticate(Some(Credentials::new(Some("app"), "newpass-7")))
        .unwrap();
    assert!(report.connections >= 2);
    held.release();
    // Reconnects use the new password too.
    admin
        .command(&["CLIENT", "KILL", "USER", "app", "SKIPME", "yes"])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.command(&["GET", "app:a"]) {
            Ok(v) => {
                assert_eq!(v.to_value(), Value::bulk("1"));
                break;
            }
            Err(e) if Instant::now() < deadline && !e.is(ErrorKind::Authentication) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("{e}"),
        }
    }
    // Nothing live to authenticate is fine; no credentials and no provider is not.
    let err = c.reauthenticate(None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    log.assert_no_secret(&["not-the-password-9", "newpass-7", "apppass"]);
}

/// Re-authentication reaches the connections that concurrent blocking callers opened for
/// their direct calls, not only the shared one.
#[test]
fn reauthenticate_reaches_the_direct_connections_of_blocking_callers() {
    let server = acl_server();
    let admin = Client::new(auth_config(&server, None, Some("defaultpass"))).unwrap();
    let cfg = Config {
        client_name: Some("reauth-direct".into()),
        ..auth_config(&server, Some("app"), Some("apppass"))
    };
    let c = Arc::new(Client::new(cfg).unwrap());
    let open = || clients_with(&admin, "name=reauth-direct").len();
    // Four callers until at least one direct connection is open next to the shared one.
    let deadline = Instant::now() + Duration::from_secs(30);
    while open() < 2 {
        assert!(Instant::now() < deadline, "no direct connection was opened");
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        c.command(&["SET", &format!("app:{t}:{i}"), "x"]).unwrap();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
    }
    let connections = open();
    admin
        .command(&["ACL", "SETUSER", "app", ">newpass-8"])
        .unwrap();
    let report = c
        .reauthenticate(Some(Credentials::new(Some("app"), "newpass-8")))
        .unwrap();
    // (A direct connection still in its handshake when the server was asked is counted by
    // the report and not by the server.)
    assert!(
        report.connections >= connections,
        "{connections}: {report:?}"
    );
    assert!(report.errors.is_empty(), "{report:?}");
    // Once the old password is gone, new connections use the new one too.
    drop_apppass_and_reconnect(&admin, &c);
}

#[test]
fn a_failing_provider_gives_an_authentication_error() {
    let server = acl_server();
    let cfg = Config {
        credential_provider: Some(CredentialSource::new(|| {
            Err(Error::new(ErrorKind::Connection, "vault unreachable"))
        })),
        ..plain_config(server.port())
    };
    let err = Client::new(cfg).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert!(err.message().contains("vault unreachable"), "{err}");
}

#[test]
fn expiring_tokens_are_renewed_before_they_run_out() {
    let server = acl_server();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let cfg = Config {
        credential_provider: Some(CredentialSource::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(Credentials {
                lifetime: Some(Duration::from_millis(400)),
                ..Credentials::new(Some("app"), "apppass")
            })
        })),
        token_refresh: redcore::config::TokenRefresh {
            ratio: 0.5,
            ..Default::default()
        },
        ..plain_config(server.port())
    };
    let c = Client::new(cfg).unwrap();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let seen = reports.clone();
    c.set_reauth_handler(Some(Box::new(move |r| {
        seen.lock().unwrap().push(r.clone())
    })));
    std::thread::sleep(Duration::from_millis(1100));
    c.command(&["SET", "app:t", "1"]).unwrap();
    let n = calls.load(Ordering::SeqCst);
    assert!((4..=8).contains(&n), "provider asked {n} times in 1.1 s");
    let reports = reports.lock().unwrap();
    assert!(reports.len() >= 3, "{reports:?}");
    assert!(reports
        .iter()
        .all(|r| r.errors.is_empty() && r.connections == 1));
}

#[test]
fn no_secret_in_any_auth_or_tls_error_text() {
    // Every failure of this suite, each with the secret configured, and every text of every
    // error (Display, Debug, message) searched for it.
    const SECRET: &str = "Zq9-very-secret-token";
    let log = ErrorLog::new();
    let acl = acl_server();
    let tls = RedisServer::builder().tls(ServerCert::Valid, true).start();
    let expired = RedisServer::builder()
        .tls(ServerCert::Expired, false)
        .start();
    let wrong = RedisServer::builder()
        .tls(ServerCert::WrongName, false)
        .start();
    let with_secret = |mut cfg: Config| {
        cfg.username = Some("app".into());
        cfg.password = Some(Secret::new(SECRET));
        cfg.connect_timeout = Some(Duration::from_millis(500));
        cfg
    };
    let mut failing = vec![
        with_secret(plain_config(acl.port())),
        with_secret(plain_config(tls.tls_port())),
        with_secret(tls_config(&tls, "127.0.0.1", tls.port())),
        with_secret(tls_config(&tls, "127.0.0.1", tls.tls_port())),
        with_secret(tls_config(&expired, "127.0.0.1", expired.tls_port())),
        with_secret(tls_config(&wrong, "127.0.0.1", wrong.tls_port())),
    ];
    let mut other_ca = with_secret(tls_config(&wrong, "127.0.0.1", wrong.tls_port()));
    other_ca.tls_options.ca_file = Some(wrong.tls_files().other_ca.clone());
    failing.push(other_ca);
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        for cfg in &failing {
            let mut cfg = cfg.clone();
            cfg.protocol = protocol;
            log.keep(&Client::new(cfg.clone()).err().expect("fails"));
            assert!(!format!("{cfg:?}").contains(SECRET));
            assert!(!cfg.to_string().contains(SECRET));
        }
    }
    // Denied by ACL, and a re-authentication refused.
    let app = Client::new(auth_config(&acl, Some("app"), Some("apppass"))).unwrap();
    log.keep(&app.command(&["FLUSHALL"]).unwrap_err());
    let err = app
        .reauthenticate(Some(Credentials::new(Some("app"), SECRET)))
        .unwrap_err();
    log.keep(&err);
    let provider = Config {
        credential_provider: Some(CredentialSource::new(|| {
            Ok(Credentials::new(Some("app"), SECRET))
        })),
        ..plain_config(acl.port())
    };
    log.keep(&Client::new(provider).err().unwrap());
    log.assert_no_secret(&[SECRET]);
}

/// A credential provider that can be made to block until released, counting the callers
/// it holds.
struct Gated {
    closed: Mutex<bool>,
    opened: std::sync::Condvar,
    held: AtomicUsize,
    calls: AtomicUsize,
}

impl Gated {
    fn new(closed: bool) -> Arc<Gated> {
        Arc::new(Gated {
            closed: Mutex::new(closed),
            opened: std::sync::Condvar::new(),
            held: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        })
    }

    fn set_closed(&self, closed: bool) {
        *self.closed.lock().unwrap() = closed;
        self.opened.notify_all();
    }
}

impl redcore::config::CredentialProvider for Gated {
    fn credentials(&self) -> redcore::Result<Credentials> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut closed = self.closed.lock().unwrap();
        if *closed {
            self.held.fetch_add(1, Ordering::SeqCst);
            while *closed {
                closed = self.opened.wait(closed).unwrap();
            }
        }
        Ok(Credentials::new(Some("app"), "apppass"))
    }
}

#[test]
fn a_slow_provider_holds_up_only_the_connection_waiting_for_it() {
    let server = acl_server();
    let admin = Client::new(auth_config(&server, None, Some("defaultpass"))).unwrap();
    let provider = Gated::new(false);
    let cfg = Config {
        credential_provider: Some(CredentialSource(provider.clone())),
        connections_per_node: 2,
        reactor_threads: 1,
        ..plain_config(server.port())
    };
    let c = Client::new(cfg).unwrap();
    // Both connections up: commands land on each in turn.
    let mut ids: Vec<i64> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ids.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the second connection never came up"
        );
        let Value::Integer(id) = c.command(&["CLIENT", "ID"]).unwrap().to_value() else {
            panic!("CLIENT ID")
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    // One of them is killed; its reconnect waits for a provider that does not answer.
    provider.set_closed(true);
    admin
        .command(&["CLIENT", "KILL", "ID", &ids[0].to_string()])
        .unwrap();
    // An idle connection learns of the kill when it is next used.
    let deadline = Instant::now() + Duration::from_secs(10);
    while provider.held.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the provider was not asked");
        let _ = c.command(&["PING"]);
    }
    // Meanwhile the reactor they share serves the other connection: callbacks run.
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..50 {
        let tx = tx.clone();
        c.submit(&["SET", &format!("app:slow:{i}"), "v"], move |r| {
            tx.send(r.map(|r| r.to_value())).unwrap()
        })
        .unwrap();
    }
    let results: Vec<_> = (0..50)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)))
        .collect();
    provider.set_closed(false);
    for r in results {
        assert_eq!(r.expect("callback ran").unwrap(), Value::simple("OK"));
    }
    // Once the provider answers, the second connection is back.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if clients_with(&admin, "user=app").len() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the connection did not come back"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_provider_that_panics_or_hangs_fails_the_connect_clearly() {
    let server = acl_server();
    let cfg = Config {
        credential_provider: Some(CredentialSource::new(|| -> redcore::Result<Credentials> {
            panic!("the vault client broke")
        })),
        ..plain_config(server.port())
    };
    let err = Client::new(cfg).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.message().contains("panicked"), "{err}");

    let provider = Gated::new(true);
    let cfg = Config {
        credential_provider: Some(CredentialSource(provider.clone())),
        connect_timeout: Some(Duration::from_millis(300)),
        ..plain_config(server.port())
    };
    // Should the provider still be asked on the reactor thread, let it go eventually rather
    // than hang the test.
    let release = provider.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(20));
        release.set_closed(false);
    });
    let err = Client::new(cfg).err().unwrap();
    provider.set_closed(false);
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.message().contains("credential provider"), "{err}");
}

/// Removes app's first password and kills app's connections; `c` must then reconnect with the
/// password it was re-authenticated with (a command succeeds within 5 s, never refused).
fn drop_apppass_and_reconnect(admin: &Client, c: &Client) {
    admin
        .command(&["ACL", "SETUSER", "app", "<apppass"])
        .unwrap();
    admin
        .command(&["CLIENT", "KILL", "USER", "app", "SKIPME", "yes"])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.command(&["SET", "app:reconnected", "1"]) {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline && !e.is(ErrorKind::Authentication) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// The names of the clients `admin` sees with `field` in their CLIENT LIST line.
fn clients_with(admin: &Client, field: &str) -> Vec<String> {
    let list = admin.command(&["CLIENT", "LIST"]).unwrap().to_value();
    let (Value::Bulk(text) | Value::Verbatim(_, text)) = list else {
        panic!("CLIENT LIST: {list:?}")
    };
    String::from_utf8_lossy(&text)
        .lines()
        .filter(|line| line.split(' ').any(|f| f == field))
        .map(str::to_owned)
        .collect()
}

/// A connection the server closed while it sat idle, last used by a direct call (which
/// leaves it without read interest, so its close waits unread): the AUTH of a
/// re-authentication must not be written into it and lost with it. The reactor finds the
/// close first, reconnects with the new credentials, and sends the AUTH there, which the
/// server answers.
#[test]
fn reauthenticate_after_the_server_closed_an_idle_connection() {
    let server = acl_server();
    let admin = Client::new(auth_config(&server, None, Some("defaultpass"))).unwrap();
    let c = Client::new(auth_config(&server, Some("app"), Some("apppass"))).unwrap();
    for round in 1..=5 {
        let password = format!("idle-kill-{round}");
        admin
            .command(&["ACL", "SETUSER", "app", &format!(">{password}")])
            .unwrap();
        // On the direct path: the connection is left idle and unwatched.
        c.command(&["SET", "app:idle", "1"]).unwrap();
        admin
            .command(&["CLIENT", "KILL", "USER", "app", "SKIPME", "yes"])
            .unwrap();
        // Long enough for a watched connection's close to be seen; this one is not.
        std::thread::sleep(Duration::from_millis(100));
        let report = c
            .reauthenticate(Some(Credentials::new(Some("app"), &password)))
            .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        assert_eq!(
            (report.connections, report.lost, report.errors.len()),
            (1, 0, 0),
            "round {round}: the AUTH went out after the reconnect: {report:?}"
        );
        c.command(&["SET", "app:idle", "2"]).unwrap();
    }
}

/// A connection lost after its AUTH was written and before the answer is not a failed
/// re-authentication: the new credentials were made current first, so it reconnects with
/// them. It is counted in `lost`; refusals are still errors.
#[test]
fn a_connection_lost_before_answering_its_auth_is_not_a_failure() {
    let server = acl_server();
    let admin = Client::new(auth_config(&server, None, Some("defaultpass"))).unwrap();
    let cfg = Config {
        client_name: Some("reauth-lost".into()),
        ..auth_config(&server, Some("app"), Some("apppass"))
    };
    let c = Arc::new(Client::new(cfg).unwrap());
    c.command(&["SET", "app:lost", "1"]).unwrap();
    // A blocking command holds a dedicated connection: the server runs its AUTH only after
    // BLPOP returns, and the connection is killed before that.
    let blocked = {
        let c = c.clone();
        std::thread::spawn(move || c.command(&["BLPOP", "app:never", "20"]))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while clients_with(&admin, "cmd=blpop").is_empty() {
        assert!(Instant::now() < deadline, "BLPOP never reached the server");
        std::thread::sleep(Duration::from_millis(5));
    }
    admin
        .command(&["ACL", "SETUSER", "app", ">lost-pass-1"])
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    c.submit_reauthenticate(
        Some(Credentials::new(Some("app"), "lost-pass-1")),
        move |report| tx.send(report).unwrap(),
    )
    .unwrap();
    // The AUTH is written and waits in the blocked connection's query buffer.
    while clients_with(&admin, "cmd=blpop")
        .iter()
        .all(|line| line.contains(" qbuf=0 "))
    {
        assert!(
            Instant::now() < deadline,
            "the AUTH never reached the server"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    admin
        .command(&["CLIENT", "KILL", "USER", "app", "SKIPME", "yes"])
        .unwrap();
    let report = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    assert!(report.lost >= 1, "{report:?}");
    assert!(report.connections >= 2, "{report:?}");
    let err = blocked.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err:?}");
    // Reconnected with the new credentials, once the old password is gone too.
    drop_apppass_and_reconnect(&admin, &c);
    // A refusal is still an error.
    let err = c
        .reauthenticate(Some(Credentials::new(Some("app"), "not-the-password")))
        .unwrap_err();
    assert!(err.is(ErrorKind::Authentication), "{err:?}");
}
