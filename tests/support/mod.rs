//! Test harness shared by the integration tests (`mod support;`): throwaway `redis-server`
//! processes on free loopback ports, each in its own temp dir, and a tiny blocking RESP
//! connection for setting up and checking state from a test.
//!
//! A server is started by `RedisServer::start()` or `RedisServer::builder()...start()`, and
//! killed, reaped and its dir removed when the handle drops, also while a test panics. Its
//! children get `PR_SET_PDEATHSIG = SIGKILL`, so a killed test binary leaves no server behind.
//! Linux sends that signal when the *thread* that spawned the server ends, so a server must be
//! started by the thread that owns it (never from a thread that exits before the server is
//! dropped, e.g. to share it through a static).
//!
//! Bigger topologies are several servers started with extra arguments: the builder's `arg`
//! takes anything `redis-server` accepts (`--tls-port`, `--aclfile`, `--cluster-enabled`,
//! `--replicaof`), `file` writes a file such as an ACL list or a config into the server's dir
//! before it starts, and `{dir}` in an argument or file stands for that dir.
//!
//! A Redis Cluster is `cluster::RedisCluster` (3 primaries + 3 replicas formed in about 2 s,
//! or one shared per test binary), with the slot rule in `keyslot` and the parsing of what
//! nodes say about the cluster in `cluster_state`. A master with replicas watched by
//! `redis-sentinel` processes is `sentinel::RedisSentinel`; a sentinel is a server started
//! with `sentinel(config)`.
//!
//! TLS: `tls(ServerCert, require_client_cert)` makes the server also listen with TLS on a
//! second free port (`tls_port()`), with a CA, server and client certificates that the
//! harness generates with the `openssl` CLI in the server's dir before it starts (EC P-256,
//! about 0.1 s): a valid server certificate (SAN localhost, 127.0.0.1, ::1), or an expired one,
//! or one for another name, and a second CA nobody used (to trust the wrong CA). The plain
//! port stays open for `cmd()` and readiness. `acl(text)` writes an ACL file and loads it.
//!
//! Faults: `fault_proxy::FaultProxy` stands between a client and a real server and breaks the
//! traffic on command (delay, black hole, drip, a reply cut or corrupted, reset, refusal);
//! `scripted_server::ScriptedServer` answers as a test's script says, malformed replies
//! included.
//!
//! Readiness: the server's log (at the default `notice` level) must show start-up finished
//! (the "Running mode=" line, written after its listeners are bound, so it proves the port is
//! ours) and the port must answer PING with any reply (`-NOAUTH` counts).

#![allow(dead_code)]

pub mod cluster;
pub mod cluster_state;
pub mod fault_proxy;
pub mod keyslot;
pub mod scripted_server;
pub mod sentinel;

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redcore::resp::{encode_command, Decoder, Value};

/// How long a server gets to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `stop()` waits after SIGTERM before it sends SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Read/write timeout of `RedisServer::cmd` connections.
const CMD_TIMEOUT: Duration = Duration::from_secs(5);
/// Connect timeout of `connect_to`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts at a fresh port when the chosen one was taken before the server bound it.
const PORT_ATTEMPTS: usize = 5;
/// A cluster node also listens on its port + 10000 (the cluster bus).
pub const CLUSTER_BUS_OFFSET: u16 = 10000;
/// Printed in the server log once its listeners are bound (standalone, cluster and sentinel).
const STARTED_LOG_LINE: &str = "Running mode=";

pub const HOST: &str = "127.0.0.1";

/// A free TCP port on 127.0.0.1, found by binding port 0 and releasing it.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((HOST, 0)).expect("bind 127.0.0.1:0 to find a free port");
    listener.local_addr().expect("local_addr").port()
}

/// A free port whose cluster bus port (+10000) is free too.
pub fn free_port_with_bus() -> u16 {
    for _ in 0..1000 {
        let port = free_port();
        let Some(bus) = port.checked_add(CLUSTER_BUS_OFFSET) else {
            continue;
        };
        if TcpListener::bind((HOST, bus)).is_ok() {
            return port;
        }
    }
    panic!("no free port P with P + {CLUSTER_BUS_OFFSET} free in 1000 tries");
}

/// A blocking RESP connection to 127.0.0.1:`port` (2 s to connect, 5 s per read or write).
pub fn connect_to(port: u16) -> io::Result<RespConn<TcpStream>> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(CMD_TIMEOUT))?;
    stream.set_write_timeout(Some(CMD_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(RespConn::new(stream))
}

/// A new, empty directory under `std::env::temp_dir()`, unique to this process and call.
pub fn unique_temp_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos:09}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("cannot create temp dir {}: {e}", dir.display()),
        }
    }
}

/// Options for one `redis-server`; `start()` launches it.
#[derive(Clone, Debug, Default)]
pub struct ServerBuilder {
    args: Vec<String>,
    files: Vec<(String, Vec<u8>)>,
    unix_socket: bool,
    port: Option<u16>,
    cluster_bus: bool,
    /// Certificates made once for several servers (a TLS cluster), instead of the server's own.
    tls_dir: Option<PathBuf>,
    tls: Option<TlsSetup>,
    sentinel: bool,
}

/// Which certificate a TLS test server presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerCert {
    /// Signed by the test CA, for localhost, 127.0.0.1 and ::1, valid now.
    Valid,
    /// Like `Valid`, but its validity ended in 2020.
    Expired,
    /// Valid, but only for `wrong.example`.
    WrongName,
}

#[derive(Clone, Copy, Debug)]
struct TlsSetup {
    cert: ServerCert,
    require_client_cert: bool,
}

/// Paths of the generated TLS files (all in the server's dir).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The CA that signed the server and client certificates.
    pub ca: PathBuf,
    /// A CA that signed nothing the server presents.
    pub other_ca: PathBuf,
    /// A client certificate signed by `ca`, and its key (SEC1 EC).
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// Generates the CAs and certificates in `dir` with the openssl CLI.
pub fn generate_tls_files(dir: &Path) -> TlsFiles {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run openssl (tests/tools/ensure-deps.sh): {e}"));
        assert!(
            out.status.success(),
            "openssl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let key = |name: &str| {
        openssl(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            name,
        ])
    };
    let write = |name: &str, text: &str| fs::write(dir.join(name), text).expect("write");
    for ca in ["ca", "other-ca"] {
        key(&format!("{ca}.key"));
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &format!("{ca}.key"),
            "-sha256",
            "-days",
            "2",
            "-subj",
            &format!("/CN=redcore-test-{ca}"),
            "-out",
            &format!("{ca}.crt"),
        ]);
    }
    // Servers present their certificate as clients too on a TLS cluster bus (and to their
    // primary with TLS replication): clientAuth besides serverAuth.
    write(
        "server.ext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n\
         extendedKeyUsage=serverAuth,clientAuth\n",
    );
    write(
        "wrong-name.ext",
        "subjectAltName=DNS:wrong.example\nextendedKeyUsage=serverAuth,clientAuth\n",
    );
    write("client.ext", "extendedKeyUsage=clientAuth\n");
    key("server.key");
    openssl(&[
        "req",
        "-new",
        "-key",
        "server.key",
        "-subj",
        "/CN=localhost",
        "-out",
        "server.csr",
    ]);
    let sign = |csr: &str, ext: &str, out: &str| {
        openssl(&[
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-sha256",
            "-extfile",
            ext,
            "-out",
            out,
        ])
    };
    sign("server.csr", "server.ext", "server.crt");
    sign("server.csr", "wrong-name.ext", "wrong-name.crt");
    // `x509 -days` cannot go back in time; `openssl ca` takes explicit dates.
    fs::create_dir_all(dir.join("cadb")).expect("cadb");
    write("cadb/index.txt", "");
    write("cadb/serial", "1000\n");
    write(
        "ca.cnf",
        "[ca]\ndefault_ca = test_ca\n[test_ca]\ndatabase = cadb/index.txt\n\
         new_certs_dir = cadb\nserial = cadb/serial\ndefault_md = sha256\n\
         policy = any_policy\nunique_subject = no\n[any_policy]\ncommonName = supplied\n",
    );
    openssl(&[
        "ca",
        "-batch",
        "-config",
        "ca.cnf",
        "-cert",
        "ca.crt",
        "-keyfile",
        "ca.key",
        "-in",
        "server.csr",
        "-out",
        "expired.crt",
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20200102000000Z",
        "-extfile",
        "server.ext",
        "-notext",
    ]);
    key("client.key");
    openssl(&[
        "req",
        "-new",
        "-key",
        "client.key",
        "-subj",
        "/CN=redcore-client",
        "-out",
        "client.csr",
    ]);
    sign("client.csr", "client.ext", "client.crt");
    tls_files_in(dir)
}

/// The paths of the files `generate_tls_files` made in `dir`.
pub fn tls_files_in(dir: &Path) -> TlsFiles {
    TlsFiles {
        ca: dir.join("ca.crt"),
        other_ca: dir.join("other-ca.crt"),
        client_cert: dir.join("client.crt"),
        client_key: dir.join("client.key"),
    }
}

impl ServerBuilder {
    /// One more command-line argument after the harness's own (`{dir}` becomes the server dir,
    /// `{bus_port}` its port + 10000).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Several more arguments (see `arg`).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Also listen on `DIR/redis.sock` (permissions 700).
    pub fn unix_socket(mut self, on: bool) -> Self {
        self.unix_socket = on;
        self
    }

    /// Use this port instead of a free one (no retry if it is taken).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Pick a free port whose + 10000 is free too, for a `--cluster-enabled yes` server (a
    /// bus port taken meanwhile counts as a taken port: another pair is tried).
    pub fn cluster_bus(mut self) -> Self {
        self.cluster_bus = true;
        self
    }

    /// Also listen with TLS on a second port, presenting `cert`; with `require_client_cert`
    /// only clients with a certificate from the test CA get in (`--tls-auth-clients yes`).
    pub fn tls(mut self, cert: ServerCert, require_client_cert: bool) -> Self {
        self.tls = Some(TlsSetup {
            cert,
            require_client_cert,
        });
        self
    }

    /// Runs the server as a sentinel (`--sentinel`) with this configuration, written to
    /// `DIR/sentinel.conf` (the sentinel rewrites it as it learns).
    pub fn sentinel(mut self, config: &str) -> Self {
        self.sentinel = true;
        self.file("sentinel.conf", config)
    }

    /// Like `tls`, with the certificates of `dir` (made by `generate_tls_files`) rather than new
    /// ones: servers that must trust each other (a TLS cluster bus) share one CA.
    pub fn tls_shared(mut self, dir: &Path, cert: ServerCert) -> Self {
        self.tls_dir = Some(dir.to_path_buf());
        self.tls(cert, false)
    }

    /// Loads these ACL rules (`user NAME on >PASSWORD ~keys +@category ...`, one a line) from
    /// `DIR/users.acl`. Put the default user's password here too: `--requirepass` and an ACL
    /// file do not mix.
    pub fn acl(self, rules: &str) -> Self {
        self.file("users.acl", rules)
            .arg("--aclfile")
            .arg("{dir}/users.acl")
    }

    /// Writes `DIR/name` before the server starts (`{dir}` in `contents` becomes the dir).
    pub fn file(mut self, name: impl Into<String>, contents: impl AsRef<[u8]>) -> Self {
        self.files.push((name.into(), contents.as_ref().to_vec()));
        self
    }

    /// Starts the server and waits until it answers; panics with its log if it does not.
    pub fn start(self) -> RedisServer {
        let dir = unique_temp_dir("redcore-test");
        for (name, contents) in &self.files {
            let contents = substitute_dir(contents, &dir);
            fs::write(dir.join(name), contents).expect("write a file into the server dir");
        }
        let tls_dir = self.tls_dir.clone().unwrap_or_else(|| dir.clone());
        let tls_files = self.tls.map(|_| match &self.tls_dir {
            Some(shared) => tls_files_in(shared),
            None => generate_tls_files(&dir),
        });
        let mut server = RedisServer {
            port: 0,
            tls_port: 0,
            tls: self.tls,
            tls_files,
            tls_dir,
            dir,
            unix_socket: self.unix_socket,
            extra_args: self.args,
            sentinel: self.sentinel,
            child: None,
            log_reported: false,
            log_start: 0,
        };
        let attempts = if self.port.is_some() {
            1
        } else {
            PORT_ATTEMPTS
        };
        for attempt in 1..=attempts {
            server.port = match self.port {
                Some(port) => port,
                None if self.cluster_bus => free_port_with_bus(),
                None => free_port(),
            };
            if server.tls.is_some() {
                server.tls_port = loop {
                    let p = free_port();
                    if p != server.port {
                        break p;
                    }
                };
            }
            match server.spawn_and_wait() {
                Ok(()) => return server,
                Err(StartError::PortTaken) if attempt < attempts => continue,
                Err(err) => server.fail_start(err),
            }
        }
        unreachable!("the last attempt either returns or panics")
    }
}

/// `{dir}` replaced by `dir` in text; anything that is not UTF-8 is left as it is.
fn substitute_dir(bytes: &[u8], dir: &Path) -> Vec<u8> {
    let dir = dir.to_str().expect("temp dir is UTF-8");
    match std::str::from_utf8(bytes) {
        Ok(text) => text.replace("{dir}", dir).into_bytes(),
        Err(_) => bytes.to_vec(),
    }
}

#[derive(Debug)]
enum StartError {
    PortTaken,
    Exited(std::process::ExitStatus),
    Timeout,
}

/// A running `redis-server` owned by one test. Dropping it kills it and removes its dir.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    tls_port: u16,
    tls: Option<TlsSetup>,
    tls_files: Option<TlsFiles>,
    /// Where the certificates are (the server's dir unless shared).
    tls_dir: PathBuf,
    dir: PathBuf,
    unix_socket: bool,
    extra_args: Vec<String>,
    /// Started as a sentinel, from `DIR/sentinel.conf`.
    sentinel: bool,
    child: Option<Child>,
    /// The log is already in a panic message; `Drop` need not print it again.
    log_reported: bool,
    /// Length of `redis.log` when the current process was spawned: readiness is judged on what
    /// follows, because a restart appends to the same log.
    log_start: u64,
}

impl RedisServer {
    /// A plain server on a free port, TCP only.
    pub fn start() -> RedisServer {
        RedisServer::builder().start()
    }

    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS port; panics unless the builder asked for TLS.
    pub fn tls_port(&self) -> u16 {
        assert!(
            self.tls.is_some(),
            "this server has no TLS port; build it with .tls(..)"
        );
        self.tls_port
    }

    /// The generated CA and client certificate files; panics unless the builder asked for TLS.
    pub fn tls_files(&self) -> &TlsFiles {
        self.tls_files
            .as_ref()
            .expect("this server has no TLS files; build it with .tls(..)")
    }

    pub fn host(&self) -> &'static str {
        HOST
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("{HOST}:{}", self.port)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://{HOST}:{}", self.port)
    }

    /// A client configuration for this server over TCP, the library's defaults otherwise.
    pub fn config(&self) -> redcore::config::Config {
        redcore::config::Config {
            endpoint: redcore::config::Endpoint::Tcp {
                host: HOST.to_string(),
                port: self.port,
            },
            ..redcore::config::Config::default()
        }
    }

    /// The Unix socket path (`DIR/redis.sock`); panics unless the builder asked for one.
    pub fn unix_path(&self) -> PathBuf {
        assert!(
            self.unix_socket,
            "this server has no Unix socket; build it with .unix_socket(true)"
        );
        self.dir.join("redis.sock")
    }

    /// The server's own temp dir (its `--dir`, log and socket).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    /// The process id while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last 30 lines of the server log and of anything it wrote to stdout/stderr.
    pub fn log_tail(&self) -> String {
        server_log_tail(&self.dir, 30)
    }

    /// Graceful stop: SIGTERM, then SIGKILL if it has not exited after 5 s. No-op if stopped.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // A paused server would never act on SIGTERM.
        signal(&child, libc::SIGCONT);
        signal(&child, libc::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Abrupt stop: SIGKILL and reap (a crash, as far as clients can tell). No-op if stopped.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs, then starts it again on the same port and dir and waits
    /// until it answers. Panics with the log if the port was taken meanwhile.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(err) = self.spawn_and_wait() {
            self.fail_start(err);
        }
    }

    /// Freezes the process (SIGSTOP): connections stay open but nothing answers.
    pub fn pause(&self) {
        signal(self.running(), libc::SIGSTOP);
    }

    /// Undoes `pause` (SIGCONT).
    pub fn resume(&self) {
        signal(self.running(), libc::SIGCONT);
    }

    /// Sends one command on a fresh connection and returns the reply (an error reply is a
    /// `Value::Error`, not a panic). Panics on I/O errors and after 5 s without a reply.
    pub fn cmd(&self, args: &[&str]) -> Value {
        self.try_cmd(args).unwrap_or_else(|e| {
            panic!(
                "{args:?} to {}: {e}\nserver log:\n{}",
                self.addr(),
                self.log_tail()
            )
        })
    }

    /// `cmd` that returns I/O errors (e.g. to probe a paused or stopped server).
    pub fn try_cmd(&self, args: &[&str]) -> io::Result<Value> {
        let mut conn = self.connect()?;
        conn.command(args)
    }

    /// A blocking RESP connection to the TCP port (5 s timeouts).
    pub fn connect(&self) -> io::Result<RespConn<TcpStream>> {
        connect_to(self.port)
    }

    fn running(&self) -> &Child {
        self.child.as_ref().expect("the server is not running")
    }

    fn command_line(&self) -> Vec<OsString> {
        let dir = self.dir.to_str().expect("temp dir is UTF-8");
        let mut args: Vec<String> = Vec::new();
        if self.sentinel {
            // The config file must come first.
            args.extend([format!("{dir}/sentinel.conf"), "--sentinel".into()]);
        }
        args.extend([
            "--port".into(),
            self.port.to_string(),
            "--bind".into(),
            HOST.into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            dir.into(),
            "--logfile".into(),
            format!("{dir}/redis.log"),
            "--daemonize".into(),
            "no".into(),
            "--enable-debug-command".into(),
            "local".into(),
        ]);
        if let Some(tls) = self.tls {
            let cert = match tls.cert {
                ServerCert::Valid => "server.crt",
                ServerCert::Expired => "expired.crt",
                ServerCert::WrongName => "wrong-name.crt",
            };
            let dir = self.tls_dir.to_str().expect("TLS dir is UTF-8");
            args.extend([
                "--tls-port".into(),
                self.tls_port.to_string(),
                "--tls-cert-file".into(),
                format!("{dir}/{cert}"),
                "--tls-key-file".into(),
                format!("{dir}/server.key"),
                "--tls-ca-cert-file".into(),
                format!("{dir}/ca.crt"),
                "--tls-auth-clients".into(),
                if tls.require_client_cert { "yes" } else { "no" }.into(),
            ]);
        }
        if self.unix_socket {
            args.extend([
                "--unixsocket".into(),
                format!("{dir}/redis.sock"),
                "--unixsocketperm".into(),
                "700".into(),
            ]);
        }
        let bus_port = (u32::from(self.port) + 10_000).to_string();
        args.extend(
            self.extra_args
                .iter()
                .map(|a| a.replace("{dir}", dir).replace("{bus_port}", &bus_port)),
        );
        args.into_iter().map(OsString::from).collect()
    }

    fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        self.log_start = fs::metadata(self.log_path()).map(|m| m.len()).unwrap_or(0);
        let console = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("console.log"))
            .expect("open console.log in the server dir");
        let mut command = Command::new("redis-server");
        command
            .args(self.command_line())
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(console.try_clone().expect("dup console.log"))
            .stderr(console);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the closure runs in the forked child before exec and only makes
        // async-signal-safe calls (prctl, getppid).
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl.
                if libc::getppid() != parent {
                    return Err(io::Error::other("test process exited during spawn"));
                }
                Ok(())
            });
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => panic!(
                "redis-server not found in PATH. Run `make test` (which installs it) or \
                 tests/tools/ensure-deps.sh first."
            ),
            Err(e) => panic!("cannot spawn redis-server: {e}"),
        };
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("spawned");
            if let Some(status) = child.try_wait().expect("try_wait on redis-server") {
                self.child = None;
                return Err(if self.new_log().contains("Address already in use") {
                    StartError::PortTaken
                } else {
                    StartError::Exited(status)
                });
            }
            if self.new_log().contains(STARTED_LOG_LINE) && self.answers_ping() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StartError::Timeout);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The log written since the current process was spawned.
    fn new_log(&self) -> String {
        let bytes = fs::read(self.log_path()).unwrap_or_default();
        let start = (self.log_start as usize).min(bytes.len());
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    /// True when PING on the TCP port gets a whole reply of any kind.
    fn answers_ping(&self) -> bool {
        let probe = || -> io::Result<()> {
            let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
            let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
            stream.set_read_timeout(Some(Duration::from_millis(200)))?;
            stream.write_all(b"*1\r\n$4\r\nPING\r\n")?;
            let mut conn = RespConn::new(stream);
            conn.read_reply().map(|_| ())
        };
        probe().is_ok()
    }

    fn fail_start(&mut self, err: StartError) -> ! {
        self.kill();
        let why = match err {
            StartError::PortTaken => format!("port {} was taken", self.port),
            StartError::Exited(status) => format!("redis-server exited during start-up ({status})"),
            StartError::Timeout => format!(
                "redis-server on {} did not become ready within {START_TIMEOUT:?}",
                self.addr()
            ),
        };
        self.log_reported = true;
        panic!(
            "{why}\ncommand line: redis-server {:?}\nlog:\n{}",
            self.command_line(),
            self.log_tail()
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.log_reported {
            eprintln!(
                "--- log of redis-server {} ({}) ---\n{}",
                self.addr(),
                self.dir.display(),
                self.log_tail()
            );
        }
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) with a pid we spawned and have not reaped yet (the `Child` is still held),
    // so the pid cannot have been reused.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(
        rc,
        0,
        "kill({}, {sig}): {}",
        child.id(),
        io::Error::last_os_error()
    );
}

/// The last `lines` lines of the log of the server living in `dir`, and of its stdout/stderr.
fn server_log_tail(dir: &Path, lines: usize) -> String {
    let mut out = tail(&dir.join("redis.log"), lines);
    let console = tail(&dir.join("console.log"), lines);
    if !console.trim().is_empty() {
        out.push_str("--- stdout/stderr ---\n");
        out.push_str(&console);
    }
    out
}

fn tail(path: &Path, lines: usize) -> String {
    let text = match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return format!("(cannot read {}: {e})\n", path.display()),
    };
    let all: Vec<&str> = text.lines().collect();
    let mut out = all[all.len().saturating_sub(lines)..].join("\n");
    out.push('\n');
    out
}

/// A blocking RESP connection over any byte stream, for tests: commands go out through
/// `encode_command`, replies come back through `Decoder`, in order.
pub struct RespConn<S> {
    stream: S,
    decoder: Decoder,
    /// Received bytes the decoder has not consumed yet (they follow a reply already returned).
    unread: Vec<u8>,
}

impl<S: Read + Write> RespConn<S> {
    pub fn new(stream: S) -> RespConn<S> {
        RespConn {
            stream,
            decoder: Decoder::default(),
            unread: Vec::new(),
        }
    }

    /// Sends one command and reads its reply.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Value> {
        self.send(args)?;
        self.read_reply()
    }

    /// Sends one command without reading the reply.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        let mut frame = Vec::new();
        encode_command(&mut frame, args);
        self.stream.write_all(&frame)
    }

    /// Writes raw bytes (e.g. a whole pipeline encoded by the caller) in one `write_all`.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads the next reply (blocks up to the stream's read timeout per read).
    pub fn read_reply(&mut self) -> io::Result<Value> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if !self.unread.is_empty() {
                let (consumed, reply) = self
                    .decoder
                    .decode(&self.unread)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                self.unread.drain(..consumed);
                if let Some(reply) = reply {
                    return Ok(reply.to_value());
                }
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a whole reply",
                ));
            }
            self.unread.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The bytes of a bulk, simple string or verbatim reply; panics with the value otherwise.
pub fn bytes(value: &Value) -> &[u8] {
    match value {
        Value::Bulk(b) | Value::Simple(b) | Value::Verbatim(_, b) => b,
        other => panic!("expected a string reply, got {other:?}"),
    }
}

/// `bytes` as UTF-8 text.
pub fn text(value: &Value) -> &str {
    std::str::from_utf8(bytes(value)).expect("reply is UTF-8")
}
