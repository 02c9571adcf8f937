//! `RedisSentinel`: a master with replicas watched by `redis-sentinel` processes on loopback,
//! for the tests (down-after-milliseconds 1000, failover-timeout 5000, quorum 2), and the
//! changes tests make while a client runs: `SENTINEL FAILOVER`, a master killed or paused, a
//! sentinel stopped and started again. Optionally the sentinels have a password, or also
//! listen with TLS (one CA for all), and the data nodes ACL users (then the harness talks to
//! them as `admin`).
//!
//! As in `cluster.rs`, every server is spawned by the topology's keeper thread, and every wait
//! polls with a deadline and panics with what it saw last and the tail of every log.

use std::io;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use redcore::resp::Value;

use super::cluster::Keeper;
use super::cluster_state::parse_info;
use super::{
    connect_to, generate_tls_files, server_log_tail, unique_temp_dir, RedisServer, RespConn,
    ServerCert, HOST,
};

/// The service name the sentinels monitor.
pub const SERVICE: &str = "mymaster";
/// `sentinel down-after-milliseconds`: a dead master is failed over about 2 s later.
pub const DOWN_AFTER_MS: u64 = 1000;
/// `sentinel failover-timeout` (also the least time between two failovers of the master).
pub const FAILOVER_TIMEOUT_MS: u64 = 5000;
/// The ACL user the harness, the sentinels and replication use on data nodes with ACLs.
pub const ADMIN: (&str, &str) = ("admin", "admin-secret");
/// The ACL user clients use on data nodes with ACLs.
pub const APP: (&str, &str) = ("app", "app-secret");
/// How long start-up, a failover or a restart may take before the harness gives up.
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Options of a topology; `start` launches it.
#[derive(Clone, Debug)]
pub struct SentinelBuilder {
    replicas: usize,
    sentinels: usize,
    sentinel_password: Option<String>,
    data_acl: bool,
    sentinel_tls: bool,
}

impl SentinelBuilder {
    /// Replicas of the master (default 2).
    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas = n;
        self
    }

    /// The sentinels require this password (`requirepass`, and `sentinel sentinel-pass`
    /// among themselves).
    pub fn sentinel_password(mut self, password: &str) -> Self {
        self.sentinel_password = Some(password.to_string());
        self
    }

    /// The data nodes have ACL users (`APP`, `ADMIN`) and no default user.
    pub fn data_acl(mut self) -> Self {
        self.data_acl = true;
        self
    }

    /// The sentinels also listen with TLS (`sentinel_tls_ports`), with certificates from one
    /// CA (`sentinel_ca`); among themselves and to the data nodes they stay plain.
    pub fn sentinel_tls(mut self) -> Self {
        self.sentinel_tls = true;
        self
    }

    pub fn start(self) -> RedisSentinel {
        RedisSentinel::start_with(self)
    }
}

/// A running topology; dropping it kills every process and removes their dirs.
pub struct RedisSentinel {
    // Dropped before `keeper`: the servers die before their spawning thread ends.
    data: Mutex<Vec<RedisServer>>,
    sentinels: Mutex<Vec<RedisServer>>,
    data_ports: Vec<u16>,
    sentinel_ports: Vec<u16>,
    sentinel_tls_ports: Vec<u16>,
    /// The sentinels' shared certificates, when they speak TLS.
    tls_dir: Option<PathBuf>,
    setup: SentinelBuilder,
    keeper: Keeper,
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        if let Some(dir) = &self.tls_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

static SHARED: OnceLock<RedisSentinel> = OnceLock::new();

extern "C" fn stop_shared_sentinel() {
    if let Some(topology) = SHARED.get() {
        for server in topology.lock_data().iter_mut() {
            server.kill();
        }
        for server in topology.lock_sentinels().iter_mut() {
            server.kill();
        }
    }
}

impl RedisSentinel {
    /// One master + 2 replicas + 3 sentinels per test binary, for tests that change nothing.
    pub fn shared() -> &'static RedisSentinel {
        SHARED.get_or_init(|| {
            let topology = RedisSentinel::start();
            // SAFETY: registers a plain extern "C" function with no arguments.
            unsafe { libc::atexit(stop_shared_sentinel) };
            topology
        })
    }

    /// A master with 2 replicas and 3 sentinels of its own.
    pub fn start() -> RedisSentinel {
        RedisSentinel::builder().start()
    }

    pub fn builder() -> SentinelBuilder {
        SentinelBuilder {
            replicas: 2,
            sentinels: 3,
            sentinel_password: None,
            data_acl: false,
            sentinel_tls: false,
        }
    }

    fn start_with(setup: SentinelBuilder) -> RedisSentinel {
        let keeper = Keeper::start();
        let data_setup = setup.clone();
        let data: Vec<RedisServer> = keeper.run(move || {
            let master = data_builder(&data_setup, None).start();
            let port = master.port();
            let mut data = vec![master];
            for _ in 0..data_setup.replicas {
                data.push(data_builder(&data_setup, Some(port)).start());
            }
            data
        });
        let master = data[0].port();
        let sentinel_setup = setup.clone();
        let tls_dir = setup.sentinel_tls.then(|| {
            let dir = unique_temp_dir("redcore-sentinel-tls");
            generate_tls_files(&dir);
            dir
        });
        let certs = tls_dir.clone();
        let sentinels: Vec<RedisServer> = keeper.run(move || {
            (0..sentinel_setup.sentinels)
                .map(|_| {
                    let builder =
                        RedisServer::builder().sentinel(&sentinel_config(&sentinel_setup, master));
                    match &certs {
                        Some(dir) => builder.tls_shared(dir, ServerCert::Valid),
                        None => builder,
                    }
                    .start()
                })
                .collect()
        });
        let topology = RedisSentinel {
            data_ports: data.iter().map(RedisServer::port).collect(),
            sentinel_ports: sentinels.iter().map(RedisServer::port).collect(),
            sentinel_tls_ports: match &tls_dir {
                Some(_) => sentinels.iter().map(RedisServer::tls_port).collect(),
                None => Vec::new(),
            },
            tls_dir,
            data: Mutex::new(data),
            sentinels: Mutex::new(sentinels),
            setup,
            keeper,
        };
        topology.wait_ready();
        topology
    }

    fn lock_data(&self) -> MutexGuard<'_, Vec<RedisServer>> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_sentinels(&self) -> MutexGuard<'_, Vec<RedisServer>> {
        self.sentinels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    // ---- addresses ----

    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinel_ports.clone()
    }

    /// The master and replicas as started (the master first); roles change with failovers.
    pub fn data_ports(&self) -> Vec<u16> {
        self.data_ports.clone()
    }

    /// `redis+sentinel://127.0.0.1:S1,...:S3/mymaster` followed by `query` (`?role=replica`).
    pub fn url(&self, query: &str) -> String {
        let hosts: Vec<String> = self
            .sentinel_ports
            .iter()
            .map(|p| format!("{HOST}:{p}"))
            .collect();
        format!("redis+sentinel://{}/{SERVICE}{query}", hosts.join(","))
    }

    /// The sentinels' TLS ports; panics unless built with `sentinel_tls`.
    pub fn sentinel_tls_ports(&self) -> Vec<u16> {
        assert!(self.tls_dir.is_some(), "build with .sentinel_tls()");
        self.sentinel_tls_ports.clone()
    }

    /// The CA file that signed the sentinels' certificates (with `sentinel_tls`).
    pub fn sentinel_ca(&self) -> PathBuf {
        self.tls_dir
            .as_ref()
            .expect("build with .sentinel_tls()")
            .join("ca.crt")
    }

    /// The master the first answering sentinel names.
    pub fn master_port(&self) -> u16 {
        self.poll("a sentinel to name the master", || self.named_master())
    }

    /// The data nodes that are replicas now (ROLE), among those running.
    pub fn replica_ports(&self) -> Vec<u16> {
        self.data_ports
            .iter()
            .copied()
            .filter(|&p| self.role_of(p).as_deref() == Some("slave"))
            .collect()
    }

    /// The flags the first running sentinel shows for replica `port` (`slave`, `slave,s_down`,
    /// ...), or None when it lists no such replica.
    pub fn replica_flags(&self, port: u16) -> Option<String> {
        let sentinel = *self.live_sentinels().first()?;
        let replicas = self.replica_states(sentinel).ok()?;
        replicas
            .into_iter()
            .find(|replica| replica.get("port") == Some(&port.to_string()))
            .and_then(|mut replica| replica.remove("flags"))
    }

    // ---- commands ----

    /// One command to a data node on a fresh connection (as `ADMIN` with ACLs).
    pub fn data_cmd(&self, port: u16, args: &[&str]) -> io::Result<Value> {
        let mut conn = connect_to(port)?;
        if self.setup.data_acl {
            conn.command(&["AUTH", ADMIN.0, ADMIN.1])?;
        }
        conn.command(args)
    }

    /// One command to a sentinel on a fresh connection (with its password, if any).
    pub fn sentinel_cmd(&self, port: u16, args: &[&str]) -> io::Result<Value> {
        let mut conn = self.sentinel_conn(port)?;
        conn.command(args)
    }

    fn sentinel_conn(&self, port: u16) -> io::Result<RespConn<TcpStream>> {
        let mut conn = connect_to(port)?;
        if let Some(password) = &self.setup.sentinel_password {
            conn.command(&["AUTH", password])?;
        }
        Ok(conn)
    }

    /// `ROLE`'s first word (`master`, `slave`), or None when the node does not answer.
    pub fn role_of(&self, port: u16) -> Option<String> {
        match self.data_cmd(port, &["ROLE"]).ok()? {
            Value::Array(items) => items.first().map(text_of),
            _ => None,
        }
    }

    // ---- changes ----

    /// `SENTINEL FAILOVER` through a running sentinel; returns when it was accepted.
    pub fn failover(&self) -> Instant {
        let port = self.live_sentinels()[0];
        let reply = self
            .sentinel_cmd(port, &["SENTINEL", "FAILOVER", SERVICE])
            .expect("SENTINEL FAILOVER");
        let at = Instant::now();
        assert!(
            matches!(&reply, Value::Simple(s) if s == b"OK"),
            "SENTINEL FAILOVER: {reply:?}\n{}",
            self.failure_logs()
        );
        at
    }

    /// Waits until every running sentinel names a master other than `old` and that node says
    /// it is a master; returns its port.
    pub fn wait_new_master(&self, old: u16) -> u16 {
        self.poll(&format!("the sentinels to replace master {old}"), || {
            let mut named = None;
            for port in self.live_sentinels() {
                let master = self.master_of(port)?;
                if master == old {
                    return Err(format!("sentinel {port} still names {old}"));
                }
                if named.is_some_and(|n| n != master) {
                    return Err(format!("sentinels disagree: {named:?} and {master}"));
                }
                named = Some(master);
            }
            let master = named.ok_or("no sentinel runs")?;
            match self.role_of(master).as_deref() {
                Some("master") => Ok(master),
                other => Err(format!("{master} says it is {other:?}")),
            }
        })
    }

    /// Kills a data node with SIGKILL.
    pub fn kill_data(&self, port: u16) {
        self.with_data(port, RedisServer::kill);
    }

    /// Freezes a data node (SIGSTOP).
    pub fn pause_data(&self, port: u16) {
        self.with_data(port, |s| s.pause());
    }

    /// Undoes `pause_data` (SIGCONT).
    pub fn resume_data(&self, port: u16) {
        self.with_data(port, |s| s.resume());
    }

    /// Stops a sentinel (SIGKILL).
    pub fn kill_sentinel(&self, port: u16) {
        let mut sentinels = self.lock_sentinels();
        let s = sentinels.iter_mut().find(|s| s.port() == port);
        s.expect("a sentinel of this topology").kill();
    }

    /// Starts a stopped sentinel again on its port and dir (it keeps what it had learned).
    pub fn restart_sentinel(&self, port: u16) {
        self.restart(&self.sentinels, port);
    }

    /// Starts a stopped data node again on its port and dir (as it was started: the master
    /// or a replica of the first master; the sentinels reconfigure it if that changed).
    pub fn restart_data(&self, port: u16) {
        self.restart(&self.data, port);
    }

    fn restart(&self, servers: &Mutex<Vec<RedisServer>>, port: u16) {
        let mut list = servers.lock().unwrap_or_else(PoisonError::into_inner);
        let index = list
            .iter()
            .position(|s| s.port() == port)
            .expect("a process of this topology");
        let mut server = list.remove(index);
        drop(list);
        let server = self.keeper.run(move || {
            server.restart();
            server
        });
        servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(index, server);
    }

    fn with_data(&self, port: u16, f: impl FnOnce(&mut RedisServer)) {
        let mut data = self.lock_data();
        f(data
            .iter_mut()
            .find(|s| s.port() == port)
            .expect("a data node of this topology"));
    }

    fn live_sentinels(&self) -> Vec<u16> {
        self.lock_sentinels()
            .iter()
            .filter(|s| s.pid().is_some())
            .map(RedisServer::port)
            .collect()
    }

    // ---- waiting ----

    /// Waits until every running sentinel names the same master, flags it `master` only,
    /// sees the other sentinels and every replica, and every replica's link is up.
    pub fn wait_ready(&self) {
        self.poll("the sentinels to watch the whole topology", || {
            self.readiness()
        });
    }

    fn readiness(&self) -> Result<(), String> {
        let sentinels = self.live_sentinels();
        let master = self.named_master()?;
        for &port in &sentinels {
            let state = self.master_state(port)?;
            let field = |name: &str| state.get(name).cloned().unwrap_or_default();
            if field("port") != master.to_string() || field("flags") != "master" {
                return Err(format!(
                    "sentinel {port}: master {}:{} flags {}",
                    field("ip"),
                    field("port"),
                    field("flags")
                ));
            }
            if field("num-other-sentinels") != (sentinels.len() - 1).to_string()
                || field("num-slaves") != self.setup.replicas.to_string()
            {
                return Err(format!(
                    "sentinel {port}: sees {} other sentinels and {} replicas",
                    field("num-other-sentinels"),
                    field("num-slaves")
                ));
            }
            // A replica a sentinel has just learnt of (from the master's INFO) is flagged
            // `slave,disconnected` until the sentinel's own link to it is up, and clients
            // leave it out of their replica choice meanwhile.
            for replica in self.replica_states(port)? {
                let field = |name: &str| replica.get(name).cloned().unwrap_or_default();
                if field("flags") != "slave" {
                    return Err(format!(
                        "sentinel {port}: replica {} flags {}",
                        field("port"),
                        field("flags")
                    ));
                }
            }
        }
        for port in self.data_ports.iter().filter(|&&p| p != master) {
            let info = self
                .data_cmd(*port, &["INFO", "replication"])
                .map_err(|e| format!("{port}: {e}"))?;
            let info = parse_info(&text_of(&info));
            if info.get("master_link_status").map(String::as_str) != Some("up") {
                return Err(format!("replica {port}: link to the master not up"));
            }
        }
        Ok(())
    }

    fn named_master(&self) -> Result<u16, String> {
        let mut last = String::from("no sentinel runs");
        for port in self.live_sentinels() {
            match self.master_of(port) {
                Ok(master) => return Ok(master),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The master port a sentinel names (GET-MASTER-ADDR-BY-NAME).
    fn master_of(&self, port: u16) -> Result<u16, String> {
        let reply = self
            .sentinel_cmd(port, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE])
            .map_err(|e| format!("sentinel {port}: {e}"))?;
        match reply {
            Value::Array(items) if items.len() == 2 => text_of(&items[1])
                .parse()
                .map_err(|_| format!("sentinel {port}: bad port {items:?}")),
            other => Err(format!("sentinel {port}: {other:?}")),
        }
    }

    /// `SENTINEL MASTER` as field -> value.
    /// Each replica a sentinel lists (SENTINEL REPLICAS), as its fields.
    fn replica_states(
        &self,
        port: u16,
    ) -> Result<Vec<std::collections::HashMap<String, String>>, String> {
        let reply = self
            .sentinel_cmd(port, &["SENTINEL", "REPLICAS", SERVICE])
            .map_err(|e| format!("sentinel {port}: {e}"))?;
        let Value::Array(replicas) = reply else {
            return Err(format!("sentinel {port}: {reply:?}"));
        };
        replicas
            .iter()
            .map(|replica| match replica {
                Value::Array(fields) => Ok(fields
                    .chunks(2)
                    .map(|pair| (text_of(&pair[0]), text_of(&pair[1])))
                    .collect()),
                other => Err(format!("sentinel {port}: {other:?}")),
            })
            .collect()
    }

    fn master_state(&self, port: u16) -> Result<std::collections::HashMap<String, String>, String> {
        let reply = self
            .sentinel_cmd(port, &["SENTINEL", "MASTER", SERVICE])
            .map_err(|e| format!("sentinel {port}: {e}"))?;
        let Value::Array(items) = reply else {
            return Err(format!("sentinel {port}: {reply:?}"));
        };
        Ok(items
            .chunks(2)
            .map(|pair| (text_of(&pair[0]), text_of(&pair[1])))
            .collect())
    }

    /// Polls `check` until it succeeds; panics after `WAIT_TIMEOUT` with the logs.
    pub fn poll<T>(&self, what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let why = match check() {
                Ok(value) => return value,
                Err(why) => why,
            };
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {WAIT_TIMEOUT:?} waiting for {what}; last: {why}\n{}",
                    self.failure_logs()
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// The tail of every process's log.
    pub fn failure_logs(&self) -> String {
        let mut out = String::new();
        for (kind, servers) in [
            ("data node", self.lock_data()),
            ("sentinel", self.lock_sentinels()),
        ] {
            for server in servers.iter() {
                out.push_str(&format!("--- {kind} {} ---\n", server.port()));
                out.push_str(&server_log_tail(server.dir(), 15));
            }
        }
        out
    }
}

/// A data node: the master (`master` None) or a replica of it; fast resyncs after failovers.
fn data_builder(setup: &SentinelBuilder, master: Option<u16>) -> super::ServerBuilder {
    let mut builder = RedisServer::builder().args(["--repl-diskless-sync-delay", "0"]);
    if setup.data_acl {
        builder = builder
            .acl(&format!(
                "user default off\n\
                 user {} on >{} ~* &* +@all\n\
                 user {} on >{} ~* &* +@all\n",
                ADMIN.0, ADMIN.1, APP.0, APP.1
            ))
            .args(["--masteruser", ADMIN.0, "--masterauth", ADMIN.1]);
    }
    if let Some(port) = master {
        builder = builder.args(["--replicaof", HOST]).arg(port.to_string());
    }
    builder
}

/// A sentinel's configuration (it rewrites the file as it learns).
fn sentinel_config(setup: &SentinelBuilder, master: u16) -> String {
    let mut config = format!(
        "sentinel monitor {SERVICE} {HOST} {master} 2\n\
         sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n\
         sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n\
         sentinel parallel-syncs {SERVICE} 1\n"
    );
    if let Some(password) = &setup.sentinel_password {
        config.push_str(&format!(
            "requirepass {password}\nsentinel sentinel-pass {password}\n"
        ));
    }
    if setup.data_acl {
        config.push_str(&format!(
            "sentinel auth-user {SERVICE} {}\nsentinel auth-pass {SERVICE} {}\n",
            ADMIN.0, ADMIN.1
        ));
    }
    config
}

fn text_of(value: &Value) -> String {
    match value {
        Value::Bulk(b) | Value::Simple(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Integer(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}
