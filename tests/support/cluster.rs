//! `RedisCluster`: a real Redis Cluster on loopback for the tests (primaries with replicas,
//! node timeout 1000 ms), formed by the harness and driven through plain RESP connections:
//! readiness, the topology as the nodes see it, and the changes tests make while a client runs
//! (kill and failover, restart, slot migration in steps, a node added).
//!
//! Every server is spawned by the cluster's keeper thread, never by the calling test thread:
//! PR_SET_PDEATHSIG fires when the thread that spawned a server ends (see mod.rs), and the
//! keeper lives as long as its cluster; for `shared()`, as long as the test process.
//!
//! Everything that waits polls with a deadline and, on timeout, panics saying what it waited
//! for, what it saw last, and the tail of every node's log.

use std::collections::HashMap;
use std::io;
use std::net::TcpStream;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use redcore::resp::Value;

use super::cluster_state::{
    parse_cluster_nodes, parse_cluster_slots, parse_commandstats, parse_info, NodeInfo, Role,
    SlotMap,
};
use super::keyslot::SLOTS;
use super::{connect_to, server_log_tail, RedisServer, RespConn, ServerBuilder, HOST};

/// `--cluster-node-timeout`: a primary is failed over about 2 s after it dies.
pub const NODE_TIMEOUT_MS: u64 = 1000;
/// How long forming the cluster, a failover, a restart or a node joining may take before the
/// harness gives up (they take 2-3 s on a quiet machine; a loaded one is slower).
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// MIGRATE's own timeout for one batch of keys.
const MIGRATE_TIMEOUT_MS: u64 = 5000;
/// Keys per MIGRATE when a helper moves a whole slot.
const MIGRATE_BATCH: usize = 100;
/// Lines of each node's log in a failure message.
const LOG_LINES: usize = 15;

/// A running cluster; dropping it kills every node and removes their dirs.
pub struct RedisCluster {
    // Dropped before `keeper`: the servers are killed and reaped before their spawning thread
    // ends.
    members: Mutex<Vec<Member>>,
    keeper: Keeper,
}

/// One server process of the cluster.
struct Member {
    port: u16,
    id: String,
    dir: PathBuf,
    /// `None` while the keeper restarts it.
    server: Option<RedisServer>,
    /// The slots it owned when `kill_primary` killed it (or `pause_primary` froze it), for
    /// `wait_failover`.
    slots_at_kill: Vec<u16>,
    /// Frozen by `pause_primary`: its process runs but answers nothing.
    paused: bool,
}

impl Member {
    /// Its process runs and answers (not killed, not paused).
    fn running(&self) -> bool {
        !self.paused && self.server.as_ref().is_some_and(|s| s.pid().is_some())
    }
}

/// A handle on one node of a cluster (by port): commands on fresh connections, its log.
#[derive(Clone, Debug)]
pub struct Node {
    port: u16,
    dir: PathBuf,
}

impl Node {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("{HOST}:{}", self.port)
    }

    /// The node's temp dir (its log and nodes.conf).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A blocking RESP connection (2 s to connect, 5 s per read or write).
    pub fn connect(&self) -> io::Result<RespConn<TcpStream>> {
        connect_to(self.port)
    }

    /// One command on a fresh connection; an error reply is a `Value::Error`.
    pub fn try_cmd<A: AsRef<[u8]>>(&self, args: &[A]) -> io::Result<Value> {
        self.connect()?.command(args)
    }

    /// `try_cmd` that panics with the node's log on I/O errors and timeouts.
    pub fn cmd<A: AsRef<[u8]>>(&self, args: &[A]) -> Value {
        self.try_cmd(args).unwrap_or_else(|e| {
            panic!(
                "{} to {}: {e}\nlog:\n{}",
                show_args(args),
                self.addr(),
                self.log_tail()
            )
        })
    }

    /// `cmd` that also panics on an error reply, naming the command.
    pub fn cmd_ok<A: AsRef<[u8]>>(&self, args: &[A]) -> Value {
        match self.cmd(args) {
            Value::Error(e) => panic!(
                "{} to {} failed: {}\nlog:\n{}",
                show_args(args),
                self.addr(),
                String::from_utf8_lossy(&e),
                self.log_tail()
            ),
            reply => reply,
        }
    }

    /// The last lines of the node's log.
    pub fn log_tail(&self) -> String {
        server_log_tail(&self.dir, 30)
    }
}

static SHARED: OnceLock<RedisCluster> = OnceLock::new();

impl RedisCluster {
    /// One 3 primary + 3 replica cluster per test binary, started by the first caller and
    /// killed when the process exits. Tests that change the topology start their own.
    pub fn shared() -> &'static RedisCluster {
        SHARED.get_or_init(|| {
            let cluster = RedisCluster::start_default();
            // SAFETY: registers a plain extern "C" function with no arguments.
            unsafe { libc::atexit(stop_shared_cluster) };
            cluster
        })
    }

    /// A cluster of its own: 3 primaries with 1 replica each.
    pub fn start_default() -> RedisCluster {
        RedisCluster::start(3, 1)
    }

    /// Forms a cluster of `primaries` primaries (slots split evenly) with
    /// `replicas_per_primary` replicas each, and waits until it is ready: every node says
    /// `cluster_state:ok`, all answer the same `CLUSTER SLOTS`, every replica's link is up.
    pub fn start(primaries: usize, replicas_per_primary: usize) -> RedisCluster {
        RedisCluster::start_with(primaries, replicas_per_primary, |_, builder| builder)
    }

    /// `start`, with each node's builder passed through `node(index, builder)` first (indices
    /// `0..primaries` are the primaries, then the replicas): TLS, announced hostnames, ...
    pub fn start_with(
        primaries: usize,
        replicas_per_primary: usize,
        node: impl Fn(usize, ServerBuilder) -> ServerBuilder + Send + 'static,
    ) -> RedisCluster {
        assert!(
            (1..=usize::from(SLOTS)).contains(&primaries),
            "a cluster needs 1 to {SLOTS} primaries, not {primaries}"
        );
        let count = primaries * (1 + replicas_per_primary);
        let keeper = Keeper::start();
        let servers: Vec<RedisServer> = keeper.run(move || {
            (0..count)
                .map(|i| node(i, node_builder()).start())
                .collect()
        });
        let cluster = RedisCluster {
            members: Mutex::new(servers.into_iter().map(Member::new).collect()),
            keeper,
        };
        cluster.form(primaries);
        cluster
    }

    fn form(&self, primaries: usize) {
        let ports = self.ports();
        for port in &ports {
            let id = text_of(&self.node(*port).cmd_ok(&["CLUSTER", "MYID"]));
            self.member(*port, |m| m.id = id);
        }
        // Distinct epochs from the start, as `redis-cli --cluster create` sets them: equal
        // ones are settled by collisions, one bump at a time.
        for (i, port) in ports.iter().enumerate() {
            let epoch = (i + 1).to_string();
            self.node(*port)
                .cmd_ok(&["CLUSTER", "SET-CONFIG-EPOCH", &epoch]);
        }
        let total = usize::from(SLOTS);
        for (p, port) in ports[..primaries].iter().enumerate() {
            let first = (p * total / primaries).to_string();
            let last = ((p + 1) * total / primaries - 1).to_string();
            self.node(*port)
                .cmd_ok(&["CLUSTER", "ADDSLOTSRANGE", &first, &last]);
        }
        // Every pair meets directly rather than through gossip, which takes a few cron ticks.
        for (i, port) in ports.iter().enumerate() {
            for other in &ports[i + 1..] {
                self.node(*port)
                    .cmd_ok(&["CLUSTER", "MEET", HOST, &other.to_string()]);
            }
        }
        self.poll("every node to know every other node", || {
            self.everyone_knows_everyone()
        });
        for (r, port) in ports[primaries..].iter().enumerate() {
            let primary = self.id_of(ports[r % primaries]);
            self.node(*port).cmd_ok(&["CLUSTER", "REPLICATE", &primary]);
        }
        self.wait_ready();
    }

    // ---- queries ----

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...`: the running primaries, as startup nodes.
    pub fn url(&self) -> String {
        let addrs: Vec<String> = self
            .primaries()
            .iter()
            .map(|n| format!("{HOST}:{}", n.port))
            .collect();
        format!("redis+cluster://{}", addrs.join(","))
    }

    /// The ports of every node the harness started, running or not, in start order.
    pub fn ports(&self) -> Vec<u16> {
        self.lock().iter().map(|m| m.port).collect()
    }

    /// The ports of the nodes whose process runs.
    pub fn live_ports(&self) -> Vec<u16> {
        self.lock()
            .iter()
            .filter(|m| m.running())
            .map(|m| m.port)
            .collect()
    }

    /// A handle on the node at `port`; panics if the harness did not start one there.
    pub fn node(&self, port: u16) -> Node {
        let dir = self.member(port, |m| m.dir.clone());
        Node { port, dir }
    }

    /// The node id of the node at `port`.
    pub fn id_of(&self, port: u16) -> String {
        self.member(port, |m| m.id.clone())
    }

    /// Every node as the first running node sees it (`CLUSTER NODES`), sorted by port, with
    /// `running` telling whether its process runs.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let port = self.any_live_port();
        let reply = self.node(port).cmd_ok(&["CLUSTER", "NODES"]);
        let mut nodes = parse_cluster_nodes(text_of(&reply).as_str())
            .unwrap_or_else(|e| panic!("CLUSTER NODES of {port}: {e}"));
        let members = self.lock();
        for node in &mut nodes {
            node.running = members.iter().any(|m| m.port == node.port && m.running());
        }
        nodes.sort_by_key(|n| n.port);
        nodes
    }

    /// The running primaries (with or without slots), by `nodes()`.
    pub fn primaries(&self) -> Vec<NodeInfo> {
        self.nodes()
            .into_iter()
            .filter(|n| n.running && n.role == Role::Primary)
            .collect()
    }

    /// A running primary other than the node at `port`, by `primaries()`.
    pub fn other_primary(&self, port: u16) -> u16 {
        self.primaries()
            .iter()
            .map(|n| n.port)
            .find(|&p| p != port)
            .expect("another running primary")
    }

    /// The replicas of the primary with this id, by `nodes()` (running or not).
    pub fn replicas_of(&self, primary_id: &str) -> Vec<NodeInfo> {
        self.nodes()
            .into_iter()
            .filter(|n| n.role == Role::Replica && n.primary_id.as_deref() == Some(primary_id))
            .collect()
    }

    /// The slot map as the first running node answers `CLUSTER SLOTS`.
    pub fn slot_map(&self) -> SlotMap {
        let port = self.any_live_port();
        slot_map_of(port).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The port of the primary that owns `slot` now (`CLUSTER SLOTS` of a running node).
    pub fn owner_of_slot(&self, slot: u16) -> u16 {
        let map = self.slot_map();
        map.range_of(slot)
            .unwrap_or_else(|| panic!("no node owns slot {slot}: {map:?}"))
            .primary
            .port
    }

    /// The TLS port of the node at `port` (started with TLS).
    pub fn tls_port_of(&self, port: u16) -> u16 {
        self.member(port, |m| {
            m.server.as_ref().expect("the node runs").tls_port()
        })
    }

    /// Calls per command on the node at `port` (`INFO commandstats`): `"get"` -> 3.
    pub fn commandstats(&self, port: u16) -> HashMap<String, u64> {
        let reply = self.node(port).cmd_ok(&["INFO", "commandstats"]);
        parse_commandstats(&text_of(&reply))
    }

    // ---- failures ----

    /// SIGKILLs the node at `port` (a crash: no goodbye to the cluster).
    pub fn kill(&self, port: u16) {
        let mut members = self.lock();
        let member = find(&mut members, port);
        if let Some(server) = member.server.as_mut() {
            server.kill();
        }
    }

    /// SIGKILLs the primary at `port`, remembering its slots for `wait_failover`. Panics if it
    /// owns no slot.
    pub fn kill_primary(&self, port: u16) {
        let id = self.id_of(port);
        let slots = self.slot_map().slots_of(&id);
        assert!(!slots.is_empty(), "{HOST}:{port} owns no slot");
        self.member(port, |m| m.slots_at_kill = slots);
        self.kill(port);
    }

    /// Freezes the primary at `port` (SIGSTOP: its connections stay open, nothing answers),
    /// remembering its slots for `wait_failover`; `resume` undoes it. Panics if it owns no
    /// slot.
    pub fn pause_primary(&self, port: u16) {
        let id = self.id_of(port);
        let slots = self.slot_map().slots_of(&id);
        assert!(!slots.is_empty(), "{HOST}:{port} owns no slot");
        self.member(port, |m| {
            m.slots_at_kill = slots;
            m.paused = true;
            m.server.as_ref().expect("the node runs").pause();
        });
    }

    /// Lets a node frozen by `pause_primary` run again (SIGCONT).
    pub fn resume(&self, port: u16) {
        self.member(port, |m| {
            if let Some(server) = m.server.as_ref() {
                server.resume();
            }
            m.paused = false;
        });
    }

    /// Waits until a replica has taken over every slot of `old_primary` (killed by
    /// `kill_primary`, or frozen by `pause_primary`): every running node says `cluster_state:ok` and names the same new
    /// owner for those slots. Returns the new primary's port.
    pub fn wait_failover(&self, old_primary: u16) -> u16 {
        let (old_id, slots) = self.member(old_primary, |m| (m.id.clone(), m.slots_at_kill.clone()));
        assert!(
            !slots.is_empty(),
            "{HOST}:{old_primary} was not killed by kill_primary"
        );
        let what = format!(
            "a replica to take over the {} slots of {old_primary}",
            slots.len()
        );
        self.poll(&what, || {
            let mut new_owner = None;
            for port in self.live_ports() {
                let mut conn = connect_to(port).map_err(|e| format!("{port}: {e}"))?;
                cluster_state_ok(&mut conn, port)?;
                let map = parse_cluster_slots(&query(&mut conn, port, &["CLUSTER", "SLOTS"])?)?;
                for &slot in &slots {
                    let owner = match map.range_of(slot) {
                        Some(range) if range.primary.id != old_id => range.primary.port,
                        _ => return Err(format!("{port} still has no new owner for slot {slot}")),
                    };
                    if *new_owner.get_or_insert(owner) != owner {
                        return Err(format!("{port} names {owner} for slot {slot}"));
                    }
                }
            }
            new_owner.ok_or_else(|| "no node runs".to_owned())
        })
    }

    /// Starts the node at `port` again (same port, dir and nodes.conf) and waits until it has
    /// rejoined and the cluster is ready again: a primary whose slots were failed over comes
    /// back as a replica of the new owner. Returns the node as the cluster sees it then.
    pub fn restart(&self, port: u16) -> NodeInfo {
        let server = self
            .member(port, |m| m.server.take())
            .unwrap_or_else(|| panic!("{HOST}:{port} is already being restarted"));
        let server = self.keeper.run(move || {
            let mut server = server;
            server.restart();
            server
        });
        self.member(port, |m| {
            m.server = Some(server);
            m.slots_at_kill.clear();
        });
        self.wait_ready();
        self.nodes()
            .into_iter()
            .find(|n| n.port == port)
            .unwrap_or_else(|| panic!("{HOST}:{port} is missing from CLUSTER NODES"))
    }

    // ---- slot migration ----

    /// First step of moving `slot` from the node at `from` to the node at `to`:
    /// `SETSLOT IMPORTING` on the target, then `SETSLOT MIGRATING` on the source (the order
    /// the Redis docs give, so that no ASK lands on a target that would refuse it).
    pub fn migrate_slot_begin(&self, slot: u16, from: u16, to: u16) {
        let slot = slot.to_string();
        let (from_id, to_id) = (self.id_of(from), self.id_of(to));
        self.node(to)
            .cmd_ok(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id]);
        self.node(from)
            .cmd_ok(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]);
    }

    /// Second step: moves the keys of `slot` from `from` to `to`, `batch` at a time
    /// (`GETKEYSINSLOT` + `MIGRATE ... KEYS`), until the source has none left. Returns how many
    /// keys MIGRATE was given.
    pub fn migrate_keys(&self, slot: u16, from: u16, to: u16, batch: usize) -> usize {
        assert!(batch > 0, "a batch of 0 keys moves nothing");
        let source = self.node(from);
        let (slot_arg, batch_arg) = (slot.to_string(), batch.to_string());
        let (to_arg, timeout_arg) = (to.to_string(), MIGRATE_TIMEOUT_MS.to_string());
        let deadline = Instant::now() + WAIT_TIMEOUT;
        let mut moved = 0;
        loop {
            let keys = match source.cmd_ok(&["CLUSTER", "GETKEYSINSLOT", &slot_arg, &batch_arg]) {
                Value::Array(keys) => keys,
                other => panic!("GETKEYSINSLOT on {from} answered {other:?}"),
            };
            if keys.is_empty() {
                return moved;
            }
            let mut args: Vec<Vec<u8>> = ["MIGRATE", HOST, &to_arg, "", "0", &timeout_arg, "KEYS"]
                .iter()
                .map(|a| a.as_bytes().to_vec())
                .collect();
            args.extend(keys.iter().map(|k| super::bytes(k).to_vec()));
            // NOKEY: a client deleted them meanwhile, which is fine.
            match source.cmd_ok(&args) {
                Value::Simple(s) if s == b"OK" || s == b"NOKEY" => moved += keys.len(),
                other => panic!("MIGRATE from {from} to {to} answered {other:?}"),
            }
            if Instant::now() >= deadline {
                panic!(
                    "slot {slot} of {from} still had keys after {WAIT_TIMEOUT:?} of MIGRATE\n{}",
                    self.failure_logs()
                );
            }
        }
    }

    /// Last step: `SETSLOT NODE` naming `to` as the owner of `slot`, on the target, then the
    /// source, then every other primary; waits until every running node agrees.
    pub fn migrate_slot_end(&self, slot: u16, to: u16) {
        self.assign_slot(slot, to);
        self.wait_owner(&[slot], to);
    }

    /// All three steps: moves `slot` with its keys to the node at `to`. Returns the number of
    /// keys moved.
    pub fn migrate_slot(&self, slot: u16, to: u16) -> usize {
        self.move_slots_to([slot], to)
    }

    /// Moves each of `slots` with its keys to the node at `to` (slots it owns already are
    /// skipped), then waits until every running node agrees. Returns the number of keys moved.
    pub fn move_slots_to(&self, slots: impl IntoIterator<Item = u16>, to: u16) -> usize {
        let slots: Vec<u16> = slots.into_iter().collect();
        let mut moved = 0;
        for &slot in &slots {
            let from = self.owner_of_slot(slot);
            if from == to {
                continue;
            }
            self.migrate_slot_begin(slot, from, to);
            moved += self.migrate_keys(slot, from, to, MIGRATE_BATCH);
            self.assign_slot(slot, to);
        }
        self.wait_owner(&slots, to);
        moved
    }

    /// `SETSLOT slot NODE <to>` on the target first (it bumps its epoch, so its claim wins),
    /// then on the source (which leaves MIGRATING), then on the other running primaries.
    fn assign_slot(&self, slot: u16, to: u16) {
        let slot_arg = slot.to_string();
        let to_id = self.id_of(to);
        let from = slot_map_of(to)
            .unwrap_or_else(|e| panic!("{e}"))
            .range_of(slot)
            .map(|r| r.primary.port);
        let mut order = vec![to];
        order.extend(from.filter(|&f| f != to));
        for primary in self.primaries() {
            if !order.contains(&primary.port) {
                order.push(primary.port);
            }
        }
        for port in order {
            self.node(port)
                .cmd_ok(&["CLUSTER", "SETSLOT", &slot_arg, "NODE", &to_id]);
        }
    }

    fn wait_owner(&self, slots: &[u16], to: u16) {
        let what = format!("every node to name {to} as the owner of slots {slots:?}");
        self.poll(&what, || {
            let first = self.agreed_slot_map()?;
            match slots
                .iter()
                .find(|&&s| first.range_of(s).map(|r| r.primary.port) != Some(to))
            {
                Some(slot) => Err(format!("slot {slot} is not owned by {to} yet")),
                None => Ok(()),
            }
        });
    }

    // ---- growth ----

    /// Starts a new, empty primary, introduces it (CLUSTER MEET) and waits until the cluster is
    /// ready with it (every node knows it; it says `cluster_state:ok`). Returns its port.
    pub fn add_node(&self) -> u16 {
        let server = self.keeper.run(|| node_builder().start());
        let port = server.port();
        self.lock().push(Member::new(server));
        let id = text_of(&self.node(port).cmd_ok(&["CLUSTER", "MYID"]));
        self.member(port, |m| m.id = id);
        let known = self
            .live_ports()
            .into_iter()
            .find(|&p| p != port)
            .expect("a running node to introduce the new one to");
        self.node(port)
            .cmd_ok(&["CLUSTER", "MEET", HOST, &known.to_string()]);
        self.wait_ready();
        port
    }

    // ---- waiting ----

    /// Waits until every running node answers the same `CLUSTER SLOTS`; returns that map.
    pub fn wait_consistent(&self) -> SlotMap {
        self.poll("every node to agree on the slot map", || {
            self.agreed_slot_map()
        })
    }

    /// Waits until the cluster is ready: every running node says `cluster_state:ok`, knows
    /// every running node (none flagged fail or handshake), and answers the same `CLUSTER
    /// SLOTS`; every running replica's link to its primary is up.
    pub fn wait_ready(&self) {
        self.poll("the cluster to be ready", || self.readiness());
    }

    fn readiness(&self) -> Result<(), String> {
        self.everyone_knows_everyone()?;
        for port in self.live_ports() {
            let mut conn = connect_to(port).map_err(|e| format!("{port}: {e}"))?;
            cluster_state_ok(&mut conn, port)?;
            let replication =
                parse_info(&text_of(&query(&mut conn, port, &["INFO", "replication"])?));
            if replication.get("role").map(String::as_str) == Some("slave")
                && replication.get("master_link_status").map(String::as_str) != Some("up")
            {
                return Err(format!("replica {port}: master link not up"));
            }
        }
        let map = self.agreed_slot_map()?;
        match map.covered() {
            n if n == usize::from(SLOTS) => Ok(()),
            n => Err(format!("only {n} slots are covered")),
        }
    }

    /// Every running node lists every running node (itself included) and flags none of them
    /// fail, fail? or handshake.
    fn everyone_knows_everyone(&self) -> Result<(), String> {
        let live = self.live_ports();
        let ids: Vec<(u16, String)> = live.iter().map(|&p| (p, self.id_of(p))).collect();
        for &port in &live {
            let reply = connect_to(port)
                .and_then(|mut c| c.command(&["CLUSTER", "NODES"]))
                .map_err(|e| format!("{port}: {e}"))?;
            let view = parse_cluster_nodes(&text_of(&reply))?;
            for (other, id) in &ids {
                match view.iter().find(|n| &n.id == id) {
                    None => return Err(format!("{port} does not know {other}")),
                    Some(n) if n.joining() || n.failing() => {
                        return Err(format!("{port} sees {other} as {:?}", n.flags))
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// The slot map if every running node answers the same one.
    fn agreed_slot_map(&self) -> Result<SlotMap, String> {
        let mut agreed: Option<(u16, SlotMap)> = None;
        for port in self.live_ports() {
            let map = slot_map_of(port)?;
            match &agreed {
                None => agreed = Some((port, map)),
                Some((first, first_map)) if *first_map != map => {
                    return Err(format!(
                        "{first} and {port} answer different slot maps:\n{first_map:?}\n{map:?}"
                    ))
                }
                Some(_) => {}
            }
        }
        agreed
            .map(|(_, map)| map)
            .ok_or_else(|| "no node runs".to_owned())
    }

    /// Calls `check` every 50 ms until it answers `Ok`; after `WAIT_TIMEOUT` panics with
    /// `what`, the last `Err` and the nodes' logs.
    fn poll<T>(&self, what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
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

    /// The tail of every node's log, for a panic message (which then stands for the logs the
    /// servers would print when dropped during the panic).
    fn failure_logs(&self) -> String {
        let mut members = self.lock();
        let mut out = String::new();
        for m in members.iter_mut() {
            let state = if m.running() { "running" } else { "stopped" };
            out.push_str(&format!(
                "--- node {HOST}:{} {} ({state}, {}) ---\n{}",
                m.port,
                m.id,
                m.dir.display(),
                server_log_tail(&m.dir, LOG_LINES)
            ));
            if let Some(server) = m.server.as_mut() {
                server.log_reported = true;
            }
        }
        out
    }

    // ---- plumbing ----

    fn lock(&self) -> MutexGuard<'_, Vec<Member>> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn member<T>(&self, port: u16, f: impl FnOnce(&mut Member) -> T) -> T {
        f(find(&mut self.lock(), port))
    }

    fn any_live_port(&self) -> u16 {
        *self
            .live_ports()
            .first()
            .expect("no node of the cluster runs")
    }
}

impl Member {
    fn new(server: RedisServer) -> Member {
        Member {
            port: server.port(),
            id: String::new(),
            dir: server.dir().to_path_buf(),
            server: Some(server),
            slots_at_kill: Vec::new(),
            paused: false,
        }
    }
}

fn find(members: &mut [Member], port: u16) -> &mut Member {
    members
        .iter_mut()
        .find(|m| m.port == port)
        .unwrap_or_else(|| panic!("the cluster has no node on port {port}"))
}

/// Kills the shared cluster's servers and removes their dirs when the test process exits
/// (its statics are never dropped).
extern "C" fn stop_shared_cluster() {
    let _ = panic::catch_unwind(|| {
        if let Some(cluster) = SHARED.get() {
            drop(std::mem::take(&mut *cluster.lock()));
        }
    });
}

fn node_builder() -> ServerBuilder {
    RedisServer::builder().cluster_bus().args([
        "--cluster-enabled".to_owned(),
        "yes".to_owned(),
        "--cluster-config-file".to_owned(),
        "{dir}/nodes.conf".to_owned(),
        "--cluster-node-timeout".to_owned(),
        NODE_TIMEOUT_MS.to_string(),
        // The bus port the harness checked is free, also with `--tls-cluster yes` (which
        // would otherwise take the TLS port + 10000).
        "--cluster-port".to_owned(),
        "{bus_port}".to_owned(),
        // Replicas sync at once instead of after the default 5 s.
        "--repl-diskless-sync-delay".to_owned(),
        "0".to_owned(),
        // Replicas stay with the primary the test gave them.
        "--cluster-allow-replica-migration".to_owned(),
        "no".to_owned(),
    ])
}

fn slot_map_of(port: u16) -> Result<SlotMap, String> {
    let mut conn = connect_to(port).map_err(|e| format!("{port}: {e}"))?;
    parse_cluster_slots(&query(&mut conn, port, &["CLUSTER", "SLOTS"])?)
}

fn cluster_state_ok(conn: &mut RespConn<TcpStream>, port: u16) -> Result<(), String> {
    let info = parse_info(&text_of(&query(conn, port, &["CLUSTER", "INFO"])?));
    match info.get("cluster_state").map(String::as_str) {
        Some("ok") => Ok(()),
        state => Err(format!("{port}: cluster_state {state:?}")),
    }
}

/// One command whose I/O error or error reply becomes a message for `poll`.
fn query(conn: &mut RespConn<TcpStream>, port: u16, args: &[&str]) -> Result<Value, String> {
    match conn.command(args) {
        Ok(Value::Error(e)) => Err(format!(
            "{args:?} to {port}: {}",
            String::from_utf8_lossy(&e)
        )),
        Ok(reply) => Ok(reply),
        Err(e) => Err(format!("{args:?} to {port}: {e}")),
    }
}

/// A string reply as text (lossy), for replies that are text (INFO, CLUSTER NODES, MYID).
fn text_of(value: &Value) -> String {
    String::from_utf8_lossy(super::bytes(value)).into_owned()
}

fn show_args<A: AsRef<[u8]>>(args: &[A]) -> String {
    let words: Vec<_> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
        .collect();
    format!("{words:?}")
}

/// The thread that spawns (and restarts) a cluster's servers, so that they live as long as
/// the cluster rather than as long as the test thread that asked. It ends when its cluster is
/// dropped.
/// A thread that spawns (and so owns, see mod.rs) a topology's servers, running jobs in turn.
pub(super) struct Keeper {
    jobs: mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl Keeper {
    pub(super) fn start() -> Keeper {
        let (jobs, queue) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        thread::Builder::new()
            .name("redis-cluster-keeper".into())
            .spawn(move || queue.into_iter().for_each(|job| job()))
            .expect("spawn the cluster's keeper thread");
        Keeper { jobs }
    }

    /// Runs `job` on the keeper thread and returns its result; a panic there panics here with
    /// the same message.
    pub(super) fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> T {
        let (done, result) = mpsc::channel();
        self.jobs
            .send(Box::new(move || {
                let outcome = panic::catch_unwind(AssertUnwindSafe(job)).map_err(panic_message);
                let _ = done.send(outcome);
            }))
            .expect("the cluster's keeper thread is gone");
        match result.recv().expect("the cluster's keeper thread is gone") {
            Ok(value) => value,
            Err(message) => panic!("{message}"),
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast_ref::<&str>().map_or_else(
            || "a panic without a message".to_owned(),
            |s| (*s).to_owned(),
        ),
    }
}
