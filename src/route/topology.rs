//! The shape of a cluster at one moment, immutable: its nodes (address, id, TLS name, role,
//! health), its shards (a primary and its replicas) and which shard serves each of the 16384
//! slots. Built from `CLUSTER SHARDS` (Redis 7.0+, Valkey) or `CLUSTER SLOTS`, in RESP2 or
//! RESP3; patched copies after MOVED; compared so an unchanged refresh is not republished.
//!
//! The engine publishes one behind an `Arc` and swaps it whole, so routing reads it without
//! a lock. Addresses here are the ones to dial: the caller's remap hook has been applied.

use std::fmt;

use super::slot::SLOT_COUNT;
use crate::config::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::resp::{Kind, ValueRef};

/// A node's TCP address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeAddr {
    /// Host name or IP address (IPv6 without brackets). Empty in a MOVED / ASK target means
    /// "the node that sent the redirect".
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl NodeAddr {
    /// `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> NodeAddr {
        NodeAddr {
            host: host.into(),
            port,
        }
    }

    /// The address as the config's endpoint type, for the transport.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::Tcp {
            host: self.host.clone(),
            port: self.port,
        }
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One node of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyNode {
    /// Where to connect.
    pub addr: NodeAddr,
    /// The node's 40-character cluster id, when the reply gave it.
    pub id: Option<String>,
    /// The node's announced host name (`cluster-announce-hostname`): the TLS server name
    /// when it differs from what `addr` says.
    pub hostname: Option<String>,
    /// Serving: `CLUSTER SHARDS` says `online` (not `fail` nor `loading`). `CLUSTER SLOTS`
    /// lists only nodes it considers up.
    pub healthy: bool,
    /// A primary (a shard's writer), not a replica.
    pub primary: bool,
}

/// A primary and its replicas, by index into `Topology::nodes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// The node that takes writes.
    pub primary: usize,
    /// The nodes that replicate it.
    pub replicas: Vec<usize>,
}

/// No shard serves this slot.
const NO_SHARD: u16 = u16::MAX;

/// Published behind an `Arc` and read by every caller's thread.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Topology>();
};

/// The cluster at one moment. Cloning copies the 32 KiB slot table.
#[derive(Clone)]
pub struct Topology {
    nodes: Vec<TopologyNode>,
    shards: Vec<Shard>,
    /// Shard index per slot, `NO_SHARD` where none.
    slots: Box<[u16; SLOT_COUNT]>,
    /// The shards serving at least one slot, as `(lowest slot, shard index)`, in slot order:
    /// the fan-out targets and the walk of a cluster SCAN. Derived from `slots`.
    serving: Vec<(u16, usize)>,
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ranges: Vec<String> = self
            .slot_ranges()
            .map(|(start, end, shard)| format!("{start}-{end}:{shard}"))
            .collect();
        f.debug_struct("Topology")
            .field("nodes", &self.nodes)
            .field("shards", &self.shards)
            .field("slots", &ranges)
            .finish()
    }
}

impl Topology {
    /// A topology from a `CLUSTER SHARDS` reply sent by the node at `asked`.
    ///
    /// Each shard is a map (RESP3) or a flat key/value array (RESP2) with `slots` (start/end
    /// pairs) and `nodes` (maps with `id`, `port`, `tls-port`, `ip`, `endpoint`, `hostname`,
    /// `role`, `health`). `tls` picks `tls-port` where the node has one. An `endpoint` that is
    /// empty, null or absent means `asked`'s host; `?` means the node's address is unknown and
    /// it is left out (a shard whose primary is left out serves no slot). Health other than
    /// `online` marks the node unhealthy. Every address goes through `remap`.
    pub fn from_cluster_shards(
        reply: ValueRef<'_>,
        asked: &NodeAddr,
        tls: bool,
        remap: &dyn Fn(&NodeAddr) -> NodeAddr,
    ) -> Result<Topology> {
        let what = "CLUSTER SHARDS";
        let mut builder = Builder::new(what);
        for shard in sequence(reply, what, "the reply")? {
            let slots = field(shard, b"slots").ok_or_else(|| bad(what, "a shard has no slots"))?;
            let nodes = field(shard, b"nodes").ok_or_else(|| bad(what, "a shard has no nodes"))?;
            let mut primary = None;
            let mut replicas = Vec::new();
            for node in sequence(nodes, what, "nodes")? {
                let Some((node, is_primary)) = shards_node(node, asked, tls, remap)? else {
                    continue;
                };
                // Two primaries in one shard happen while a failover settles: the healthy
                // one leads, the other is kept as a replica.
                if is_primary && primary.as_ref().is_none_or(|p: &TopologyNode| !p.healthy) {
                    if let Some(old) = primary.replace(node) {
                        replicas.push(old);
                    }
                } else {
                    replicas.push(node);
                }
            }
            let Some(primary) = primary else {
                continue;
            };
            let shard = builder.shard(primary, replicas);
            let bounds: Vec<ValueRef<'_>> = sequence(slots, what, "slots")?.collect();
            if bounds.len() % 2 != 0 {
                return Err(bad(what, "a shard's slots are not start/end pairs"));
            }
            for pair in bounds.chunks(2) {
                builder.assign(
                    slot_number(pair[0], what)?,
                    slot_number(pair[1], what)?,
                    shard,
                )?;
            }
        }
        Ok(builder.finish())
    }

    /// A topology from a `CLUSTER SLOTS` reply sent by the node at `asked`:
    /// `[[start, end, [host, port, id, {hostname ...}], replica...], ...]`. A null or empty
    /// host means `asked`'s host; `?` means unknown (a range whose primary is unknown stays
    /// uncovered, an unknown replica is left out). Every address goes through `remap`.
    pub fn from_cluster_slots(
        reply: ValueRef<'_>,
        asked: &NodeAddr,
        remap: &dyn Fn(&NodeAddr) -> NodeAddr,
    ) -> Result<Topology> {
        let what = "CLUSTER SLOTS";
        let mut builder = Builder::new(what);
        for range in sequence(reply, what, "the reply")? {
            let items: Vec<ValueRef<'_>> = sequence(range, what, "a slot range")?.collect();
            if items.len() < 3 {
                return Err(bad(what, "a slot range has no primary"));
            }
            let (start, end) = (slot_number(items[0], what)?, slot_number(items[1], what)?);
            let Some(primary) = slots_node(items[2], asked, remap, true)? else {
                continue;
            };
            let mut replicas = Vec::new();
            for item in &items[3..] {
                replicas.extend(slots_node(*item, asked, remap, false)?);
            }
            let shard = builder.shard(primary, replicas);
            builder.assign(start, end, shard)?;
        }
        Ok(builder.finish())
    }

    /// The shard serving `slot`, if any.
    #[inline]
    pub fn slot_shard(&self, slot: u16) -> Option<&Shard> {
        self.shard_index(slot).map(|i| &self.shards[i])
    }

    /// The index (into `shards()`) of the shard serving `slot`, if any.
    #[inline]
    pub fn shard_index(&self, slot: u16) -> Option<usize> {
        match *self.slots.get(usize::from(slot))? {
            NO_SHARD => None,
            shard => Some(usize::from(shard)),
        }
    }

    /// The shard serving `slot`, or `SLOT_NOT_COVERED` naming it.
    pub fn require_slot(&self, slot: u16) -> Result<&Shard> {
        self.slot_shard(slot).ok_or_else(|| {
            Error::new(
                ErrorKind::SlotNotCovered,
                format!("no node of the cluster serves slot {slot}"),
            )
        })
    }

    /// How many slots have a shard.
    pub fn covered_slots(&self) -> usize {
        self.slots.iter().filter(|&&s| s != NO_SHARD).count()
    }

    /// The nodes, by index.
    pub fn nodes(&self) -> &[TopologyNode] {
        &self.nodes
    }

    /// Node `index`.
    pub fn node(&self, index: usize) -> &TopologyNode {
        &self.nodes[index]
    }

    /// The shards, by index.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// The index of the node at `addr`.
    pub fn node_index(&self, addr: &NodeAddr) -> Option<usize> {
        self.nodes.iter().position(|n| n.addr == *addr)
    }

    /// The primaries of the shards that serve at least one slot (a failed primary whose
    /// slots moved to its replica serves none), in slot order: the targets of an
    /// all-primaries fan-out.
    pub fn primaries(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.serving
            .iter()
            .map(|&(_, shard)| self.shards[shard].primary)
    }

    /// The shards that serve at least one slot, as `(lowest slot, shard index)`, ordered by
    /// that slot.
    pub fn serving_shards(&self) -> &[(u16, usize)] {
        &self.serving
    }

    /// `(lowest slot, shard index)` of every serving shard: the slot table read in order.
    fn derive_serving(slots: &[u16; SLOT_COUNT], shards: usize) -> Vec<(u16, usize)> {
        let mut seen = vec![false; shards];
        let mut serving = Vec::new();
        for (slot, &shard) in slots.iter().enumerate() {
            if shard != NO_SHARD && !std::mem::replace(&mut seen[usize::from(shard)], true) {
                serving.push((slot as u16, usize::from(shard)));
            }
        }
        serving
    }

    /// Every node, by index (unhealthy ones too: `node(i).healthy` says).
    pub fn all_nodes(&self) -> impl Iterator<Item = usize> {
        0..self.nodes.len()
    }

    /// The slot ranges, in slot order: `(start, end, shard index)`, ends inclusive.
    pub fn slot_ranges(&self) -> impl Iterator<Item = (u16, u16, usize)> + '_ {
        let mut start = 0usize;
        std::iter::from_fn(move || {
            while start < SLOT_COUNT && self.slots[start] == NO_SHARD {
                start += 1;
            }
            if start == SLOT_COUNT {
                return None;
            }
            let shard = self.slots[start];
            let mut end = start;
            while end + 1 < SLOT_COUNT && self.slots[end + 1] == shard {
                end += 1;
            }
            let range = (start as u16, end as u16, usize::from(shard));
            start = end + 1;
            Some(range)
        })
    }

    /// A patched copy after `MOVED slot to`: the slot now belongs to the shard whose primary
    /// is `to`. If `to` is a replica, its shard failed over: it becomes the primary and the
    /// old primary a replica. If `to` is unknown, it is a new primary with a shard of its own.
    /// (`to` is a dial address: the caller resolves an empty host and applies its remap.)
    pub fn with_moved(&self, slot: u16, to: &NodeAddr) -> Topology {
        let mut next = self.clone();
        let shard = match next.node_index(to) {
            Some(node) => match next.shards.iter().position(|s| s.primary == node) {
                Some(shard) => shard,
                None => match next.shards.iter().position(|s| s.replicas.contains(&node)) {
                    Some(shard) => {
                        next.promote(shard, node);
                        shard
                    }
                    None => next.add_shard(node),
                },
            },
            None => {
                next.nodes.push(TopologyNode {
                    addr: to.clone(),
                    id: None,
                    hostname: None,
                    healthy: true,
                    primary: true,
                });
                let node = next.nodes.len() - 1;
                next.add_shard(node)
            }
        };
        if let Some(entry) = next.slots.get_mut(usize::from(slot)) {
            *entry = shard as u16;
        }
        next.serving = Topology::derive_serving(&next.slots, next.shards.len());
        next
    }

    /// `replica` takes over `shard`; its old primary becomes a replica.
    fn promote(&mut self, shard: usize, replica: usize) {
        let old = self.shards[shard].primary;
        let replicas = &mut self.shards[shard].replicas;
        replicas.retain(|&r| r != replica);
        replicas.push(old);
        self.shards[shard].primary = replica;
        self.nodes[old].primary = false;
        self.nodes[replica].primary = true;
        self.nodes[replica].healthy = true;
    }

    fn add_shard(&mut self, primary: usize) -> usize {
        self.nodes[primary].primary = true;
        self.shards.push(Shard {
            primary,
            replicas: Vec::new(),
        });
        self.shards.len() - 1
    }

    /// True when `other` describes the same cluster: the same nodes (address, id, host name,
    /// role, health), grouped in the same shards, serving the same slots, whatever order the
    /// replies listed them in. A refresh that finds the same shape need not be republished.
    pub fn same_shape(&self, other: &Topology) -> bool {
        let mut ours: Vec<&TopologyNode> = self.nodes.iter().collect();
        let mut theirs: Vec<&TopologyNode> = other.nodes.iter().collect();
        fn key<'a>(
            n: &&'a TopologyNode,
        ) -> (
            &'a NodeAddr,
            &'a Option<String>,
            &'a Option<String>,
            bool,
            bool,
        ) {
            (&n.addr, &n.id, &n.hostname, n.healthy, n.primary)
        }
        ours.sort_by_key(key);
        theirs.sort_by_key(key);
        if ours != theirs || self.shards.len() != other.shards.len() {
            return false;
        }
        // Our shard index -> theirs, matched by primary address and the same replicas.
        let mut to_theirs = Vec::with_capacity(self.shards.len());
        for shard in &self.shards {
            let primary = &self.nodes[shard.primary].addr;
            let Some(index) = other
                .shards
                .iter()
                .position(|s| other.nodes[s.primary].addr == *primary)
            else {
                return false;
            };
            let addrs = |t: &Topology, s: &Shard| {
                let mut a: Vec<NodeAddr> = s
                    .replicas
                    .iter()
                    .map(|&r| t.nodes[r].addr.clone())
                    .collect();
                a.sort();
                a
            };
            if addrs(self, shard) != addrs(other, &other.shards[index]) {
                return false;
            }
            to_theirs.push(index as u16);
        }
        self.slots
            .iter()
            .zip(other.slots.iter())
            .all(|(&a, &b)| match a {
                NO_SHARD => b == NO_SHARD,
                a => to_theirs[usize::from(a)] == b,
            })
    }
}

/// Collects nodes (one per address), shards (one per primary) and slot assignments.
struct Builder {
    what: &'static str,
    nodes: Vec<TopologyNode>,
    shards: Vec<Shard>,
    slots: Box<[u16; SLOT_COUNT]>,
}

impl Builder {
    fn new(what: &'static str) -> Builder {
        Builder {
            what,
            nodes: Vec::new(),
            shards: Vec::new(),
            slots: vec![NO_SHARD; SLOT_COUNT]
                .into_boxed_slice()
                .try_into()
                .expect("SLOT_COUNT entries"),
        }
    }

    /// The index of `node`, added unless a node of that address is known (the first
    /// description of an address wins).
    fn node(&mut self, node: TopologyNode) -> usize {
        match self.nodes.iter().position(|n| n.addr == node.addr) {
            Some(i) => i,
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    /// The shard led by `primary` (created on first sight), with `replicas` added.
    fn shard(&mut self, mut primary: TopologyNode, replicas: Vec<TopologyNode>) -> usize {
        primary.primary = true;
        let p = self.node(primary);
        // Named a replica by an earlier range of a reply taken mid-failover: a primary now.
        self.nodes[p].primary = true;
        let shard = match self.shards.iter().position(|s| s.primary == p) {
            Some(shard) => shard,
            None => {
                self.shards.push(Shard {
                    primary: p,
                    replicas: Vec::new(),
                });
                self.shards.len() - 1
            }
        };
        for mut replica in replicas {
            replica.primary = false;
            let r = self.node(replica);
            if r != p && !self.shards[shard].replicas.contains(&r) {
                self.shards[shard].replicas.push(r);
            }
        }
        shard
    }

    fn assign(&mut self, start: u16, end: u16, shard: usize) -> Result<()> {
        if start > end {
            return Err(bad(
                self.what,
                &format!("slot range {start}-{end} is reversed"),
            ));
        }
        self.slots[usize::from(start)..=usize::from(end)].fill(shard as u16);
        Ok(())
    }

    fn finish(self) -> Topology {
        Topology {
            serving: Topology::derive_serving(&self.slots, self.shards.len()),
            nodes: self.nodes,
            shards: self.shards,
            slots: self.slots,
        }
    }
}

/// One node of a `CLUSTER SHARDS` shard, and whether it is the primary; `None` when its
/// address is unknown (`?`).
fn shards_node(
    node: ValueRef<'_>,
    asked: &NodeAddr,
    tls: bool,
    remap: &dyn Fn(&NodeAddr) -> NodeAddr,
) -> Result<Option<(TopologyNode, bool)>> {
    let what = "CLUSTER SHARDS";
    let text = |name: &[u8]| {
        field(node, name)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    let port = |name: &[u8]| {
        field(node, name)
            .and_then(|v| v.as_integer())
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p != 0)
    };
    let plain = port(b"port");
    let secure = port(b"tls-port");
    let port = if tls {
        secure.or(plain)
    } else {
        plain.or(secure)
    };
    let port = port.ok_or_else(|| bad(what, "a node has no port"))?;
    let host = match text(b"endpoint") {
        Some("?") => return Ok(None),
        Some(endpoint) => endpoint.to_owned(),
        None => asked.host.clone(),
    };
    let primary = match text(b"role") {
        Some("master") => true,
        Some("replica") => false,
        _ => return Err(bad(what, "a node's role is neither master nor replica")),
    };
    let healthy = text(b"health").is_none_or(|h| h == "online");
    Ok(Some((
        TopologyNode {
            addr: remap(&NodeAddr::new(host, port)),
            id: text(b"id").map(str::to_owned),
            hostname: text(b"hostname").map(str::to_owned),
            healthy,
            primary,
        },
        primary,
    )))
}

/// One node of a `CLUSTER SLOTS` range: `[host, port, id, {hostname ...}]`; `None` when its
/// address is unknown (`?`).
fn slots_node(
    node: ValueRef<'_>,
    asked: &NodeAddr,
    remap: &dyn Fn(&NodeAddr) -> NodeAddr,
    primary: bool,
) -> Result<Option<TopologyNode>> {
    let what = "CLUSTER SLOTS";
    let items: Vec<ValueRef<'_>> = sequence(node, what, "a node")?.collect();
    if items.len() < 2 {
        return Err(bad(what, "a node has no host and port"));
    }
    let host = match items[0].kind() {
        Kind::Null => asked.host.clone(),
        _ => match items[0].as_str() {
            Some("?") => return Ok(None),
            Some("") => asked.host.clone(),
            Some(host) => host.to_owned(),
            None => return Err(bad(what, "a node's host is not text")),
        },
    };
    let port = items[1]
        .as_integer()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| bad(what, "a node's port is not a port number"))?;
    let id = items
        .get(2)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty());
    let hostname = items
        .get(3)
        .and_then(|meta| field(*meta, b"hostname"))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty());
    Ok(Some(TopologyNode {
        addr: remap(&NodeAddr::new(host, port)),
        id: id.map(str::to_owned),
        hostname: hostname.map(str::to_owned),
        healthy: true,
        primary,
    }))
}

/// The elements of an array (or set), or an error naming `name`.
fn sequence<'a>(
    value: ValueRef<'a>,
    what: &str,
    name: &str,
) -> Result<impl Iterator<Item = ValueRef<'a>> + 'a> {
    match value.kind() {
        Kind::Array | Kind::Set => Ok(value.children()),
        kind => Err(bad(what, &format!("{name} is a {kind:?}, not an array"))),
    }
}

/// The value under key `name` of a map (RESP3) or of a flat key/value array (RESP2).
fn field<'a>(value: ValueRef<'a>, name: &[u8]) -> Option<ValueRef<'a>> {
    match value.kind() {
        Kind::Map => value
            .pairs()
            .find(|(k, _)| k.as_bytes() == Some(name))
            .map(|(_, v)| v),
        Kind::Array => {
            let n = value.len() / 2;
            (0..n)
                .find(|&i| value.get(2 * i).and_then(|k| k.as_bytes()) == Some(name))
                .and_then(|i| value.get(2 * i + 1))
        }
        _ => None,
    }
}

/// A slot number: an integer (or its decimal text) below 16384.
fn slot_number(value: ValueRef<'_>, what: &str) -> Result<u16> {
    let n = value
        .as_integer()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()));
    n.and_then(|n| u16::try_from(n).ok())
        .filter(|&n| usize::from(n) < SLOT_COUNT)
        .ok_or_else(|| bad(what, &format!("{value:?} is not a slot number")))
}

fn bad(what: &str, message: &str) -> Error {
    Error::new(
        ErrorKind::InvalidResponse,
        format!("{what} reply: {message}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Decoder, Reply, Value};

    /// A reply from its wire bytes.
    fn decode(wire: &[u8]) -> Reply {
        let (used, reply) = Decoder::default().decode(wire).expect("valid RESP");
        assert_eq!(used, wire.len(), "one whole reply");
        reply.expect("complete")
    }

    fn asked() -> NodeAddr {
        NodeAddr::new("127.0.0.1", 30001)
    }

    fn same(addr: &NodeAddr) -> NodeAddr {
        addr.clone()
    }

    fn shards(wire: &[u8]) -> Topology {
        Topology::from_cluster_shards(decode(wire).value(), &asked(), false, &same).unwrap()
    }

    fn slots(wire: &[u8]) -> Topology {
        Topology::from_cluster_slots(decode(wire).value(), &asked(), &same).unwrap()
    }

    /// `(start, end, primary, replicas)` per slot range, nodes as `host:port`.
    fn ranges(t: &Topology) -> Vec<(u16, u16, String, Vec<String>)> {
        t.slot_ranges()
            .map(|(start, end, shard)| {
                let shard = &t.shards()[shard];
                let name = |i: usize| t.node(i).addr.to_string();
                (
                    start,
                    end,
                    name(shard.primary),
                    shard.replicas.iter().map(|&r| name(r)).collect(),
                )
            })
            .collect()
    }

    fn range(
        start: u16,
        end: u16,
        primary: &str,
        replicas: &[&str],
    ) -> (u16, u16, String, Vec<String>) {
        (
            start,
            end,
            primary.into(),
            replicas.iter().map(|r| r.to_string()).collect(),
        )
    }

    fn three_shards(host: &str) -> Vec<(u16, u16, String, Vec<String>)> {
        let n = |port: u16| format!("{host}:{port}");
        vec![
            range(0, 5460, &n(30001), &[&n(30004)]),
            range(5461, 10922, &n(30002), &[&n(30005)]),
            range(10923, 16383, &n(30003), &[&n(30006)]),
        ]
    }

    const ID_30001: &str = "026473e6187c82eff9577517bb72dde008883b6e";

    // Replies captured from a real 3 + 3 redis-server 7.0.15 cluster on 127.0.0.1:30001-30006
    // (30004, 30005, 30006 replicate 30001, 30002, 30003), with `redis-cli --cluster create`.

    #[test]
    fn a_healthy_cluster_in_every_reply_shape() {
        let all = [
            shards(include_bytes!("testdata/shards_resp2.resp")),
            shards(include_bytes!("testdata/shards_resp3.resp")),
            slots(include_bytes!("testdata/slots_resp2.resp")),
            slots(include_bytes!("testdata/slots_resp3.resp")),
        ];
        for (i, t) in all.iter().enumerate() {
            assert_eq!(ranges(t), three_shards("127.0.0.1"), "reply {i}");
            assert_eq!(t.covered_slots(), SLOT_COUNT);
            assert_eq!(t.nodes().len(), 6);
            assert!(t.nodes().iter().all(|n| n.healthy && n.hostname.is_none()));
            let first = t.node(t.node_index(&asked()).unwrap());
            assert_eq!(first.id.as_deref(), Some(ID_30001));
            assert!(first.primary);
            let mut primaries: Vec<u16> = t.primaries().map(|p| t.node(p).addr.port).collect();
            primaries.sort();
            assert_eq!(primaries, [30001, 30002, 30003]);
            assert_eq!(t.all_nodes().count(), 6);
            let lowest: Vec<u16> = t.serving_shards().iter().map(|&(slot, _)| slot).collect();
            assert_eq!(lowest, [0, 5461, 10923]);
            assert_eq!(
                t.slot_shard(12182).map(|s| t.node(s.primary).addr.port),
                Some(30003)
            );
            assert!(t.same_shape(&all[0]), "reply {i} differs in shape");
        }
        // SHARDS listed the shards in another order than SLOTS (which goes by slot): the
        // shapes above matched anyway. A cluster that differs does not match.
        let other = shards(include_bytes!("testdata/shards_partial_resp2.resp"));
        assert!(!all[0].same_shape(&other));
        assert!(!all[0].same_shape(&all[0].with_moved(0, &NodeAddr::new("127.0.0.1", 30002))));
    }

    #[test]
    fn announced_hostnames() {
        // cluster-announce-hostname on all but 30006, cluster-preferred-endpoint-type
        // hostname on 30001: 30006's endpoint is "?" and it is left out.
        let t = shards(include_bytes!("testdata/shards_hostname_resp3.resp"));
        let host = |port: u16| format!("node{port}.redcore.test:{port}");
        assert_eq!(
            ranges(&t),
            vec![
                range(0, 5460, &host(30001), &[&host(30004)]),
                range(5461, 10922, &host(30002), &[&host(30005)]),
                range(10923, 16383, &host(30003), &[]),
            ]
        );
        let node = t.node(t.shards()[0].primary);
        assert_eq!(node.hostname.as_deref(), Some("node30001.redcore.test"));
        let t2 = slots(include_bytes!("testdata/slots_hostname_resp2.resp"));
        assert_eq!(ranges(&t2), ranges(&t));
        // SLOTS puts the host name where the address goes and sends the IP as metadata.
        assert!(t2.nodes().iter().all(|n| n.hostname.is_none()));
        assert!(!t.same_shape(&t2), "host names differ");
    }

    #[test]
    fn unknown_endpoints_mean_the_node_asked() {
        // cluster-preferred-endpoint-type unknown-endpoint: SLOTS sends a null host, SHARDS
        // an empty endpoint; both mean "the host you asked", with the node's own port.
        let asked = NodeAddr::new("10.9.8.7", 30001);
        let wires: [&[u8]; 3] = [
            include_bytes!("testdata/slots_unknown_resp2.resp"),
            include_bytes!("testdata/slots_unknown_resp3.resp"),
            include_bytes!("testdata/shards_unknown_resp3.resp"),
        ];
        for (i, wire) in wires.into_iter().enumerate() {
            let reply = decode(wire);
            let t = if i < 2 {
                Topology::from_cluster_slots(reply.value(), &asked, &same).unwrap()
            } else {
                Topology::from_cluster_shards(reply.value(), &asked, false, &same).unwrap()
            };
            let mut expected = three_shards("10.9.8.7");
            if i < 2 {
                // SLOTS gives the host name it knows as metadata.
                let node = t.node(t.node_index(&NodeAddr::new("10.9.8.7", 30004)).unwrap());
                assert_eq!(node.hostname.as_deref(), Some("node30004.redcore.test"));
            } else {
                expected[2].3.clear(); // 30006 has no hostname: its endpoint is "?".
                expected[2].3.push("10.9.8.7:30006".into());
            }
            assert_eq!(ranges(&t), expected, "reply {i}");
        }
    }

    #[test]
    fn after_a_failover() {
        // 30003 shut down; its replica 30006 took over. SHARDS still lists 30003, failed,
        // as the primary of a shard without slots; SLOTS leaves it out.
        for t in [
            shards(include_bytes!("testdata/shards_failover_resp2.resp")),
            shards(include_bytes!("testdata/shards_failover_resp3.resp")),
        ] {
            let mut expected = three_shards("127.0.0.1");
            expected[2] = range(10923, 16383, "127.0.0.1:30006", &[]);
            assert_eq!(ranges(&t), expected);
            let dead = t.node(t.node_index(&NodeAddr::new("127.0.0.1", 30003)).unwrap());
            assert!(!dead.healthy && dead.primary);
            assert_eq!(t.shards().len(), 4);
            let mut primaries: Vec<u16> = t.primaries().map(|p| t.node(p).addr.port).collect();
            primaries.sort();
            assert_eq!(
                primaries,
                [30001, 30002, 30006],
                "the failed primary serves nothing"
            );
        }
        let t = slots(include_bytes!("testdata/slots_failover_resp3.resp"));
        assert!(t.node_index(&NodeAddr::new("127.0.0.1", 30003)).is_none());
        assert_eq!(t.primaries().count(), 3);
    }

    #[test]
    fn partial_coverage() {
        // CLUSTER DELSLOTSRANGE 100 199 on 30001: its shard serves two ranges.
        for t in [
            shards(include_bytes!("testdata/shards_partial_resp2.resp")),
            slots(include_bytes!("testdata/slots_partial_resp3.resp")),
        ] {
            assert_eq!(t.covered_slots(), SLOT_COUNT - 100);
            assert!(t.slot_shard(150).is_none());
            let err = t.require_slot(150).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::SlotNotCovered);
            assert_eq!(err.message(), "no node of the cluster serves slot 150");
            assert_eq!(t.shard_index(99), t.shard_index(200));
            // Captured after the failover above: 30006 serves 30003's slots.
            assert_eq!(t.primaries().count(), 3);
            assert_eq!(ranges(&t)[3], range(10923, 16383, "127.0.0.1:30006", &[]));
            assert_eq!(
                ranges(&t)[0],
                range(0, 99, "127.0.0.1:30001", &["127.0.0.1:30004"])
            );
            assert_eq!(ranges(&t)[1].0, 200);
        }
    }

    fn node_map(fields: &[(&str, Value)]) -> Value {
        Value::Map(
            fields
                .iter()
                .map(|(k, v)| (Value::bulk(k), v.clone()))
                .collect(),
        )
    }

    fn shard_map(slots: &[i64], nodes: Vec<Value>) -> Value {
        Value::Map(vec![
            (
                Value::bulk("slots"),
                Value::Array(slots.iter().map(|&s| Value::Integer(s)).collect()),
            ),
            (Value::bulk("nodes"), Value::Array(nodes)),
        ])
    }

    fn node(port: i64, tls_port: i64, endpoint: &str, role: &str, health: &str) -> Value {
        node_map(&[
            ("id", Value::bulk(format!("id{port}"))),
            ("port", Value::Integer(port)),
            ("tls-port", Value::Integer(tls_port)),
            ("ip", Value::bulk("10.0.0.1")),
            ("endpoint", Value::bulk(endpoint)),
            ("role", Value::bulk(role)),
            ("health", Value::bulk(health)),
        ])
    }

    fn from_shards(value: &Value, tls: bool) -> Result<Topology> {
        let reply = Reply::from_value(value);
        Topology::from_cluster_shards(reply.value(), &asked(), tls, &same)
    }

    #[test]
    fn tls_ports_health_and_remap() {
        let reply = Value::Array(vec![
            shard_map(
                &[0, 8191],
                vec![
                    node(7000, 8000, "a.test", "master", "online"),
                    node(7001, 8001, "b.test", "replica", "loading"),
                    node(7002, 8002, "c.test", "replica", "fail"),
                ],
            ),
            // The primary's address is unknown: its slots stay uncovered.
            shard_map(
                &[8192, 16383],
                vec![node(7003, 8003, "?", "master", "online")],
            ),
        ]);
        let t = from_shards(&reply, true).unwrap();
        assert_eq!(
            ranges(&t),
            vec![range(
                0,
                8191,
                "a.test:8000",
                &["b.test:8001", "c.test:8002"]
            )]
        );
        assert_eq!(t.covered_slots(), 8192);
        let health: Vec<bool> = t.nodes().iter().map(|n| n.healthy).collect();
        assert_eq!(health, [true, false, false]);
        let t = from_shards(&reply, false).unwrap();
        assert_eq!(ranges(&t)[0].2, "a.test:7000");
        // The remap hook sees every address.
        let remap = |a: &NodeAddr| NodeAddr::new(format!("nat-{}", a.host), a.port + 10);
        let t = Topology::from_cluster_shards(
            Reply::from_value(&reply).value(),
            &asked(),
            false,
            &remap,
        )
        .unwrap();
        assert_eq!(ranges(&t)[0].2, "nat-a.test:7010");
        assert_eq!(t.node(0).id.as_deref(), Some("id7000"));
        // A TLS-only node reached without TLS: its TLS port is the only one there is.
        let only_tls = Value::Array(vec![shard_map(
            &[0, 16383],
            vec![node_map(&[
                ("port", Value::Integer(0)),
                ("tls-port", Value::Integer(9000)),
                ("endpoint", Value::bulk("")),
                ("role", Value::bulk("master")),
            ])],
        )]);
        assert_eq!(
            ranges(&from_shards(&only_tls, false).unwrap())[0].2,
            "127.0.0.1:9000"
        );
    }

    #[test]
    fn two_primaries_in_a_shard_the_healthy_one_leads() {
        let reply = Value::Array(vec![shard_map(
            &[0, 16383],
            vec![
                node(7000, 0, "h", "master", "fail"),
                node(7001, 0, "h", "master", "online"),
            ],
        )]);
        let t = from_shards(&reply, false).unwrap();
        assert_eq!(ranges(&t), vec![range(0, 16383, "h:7001", &["h:7000"])]);
        assert!(
            !t.node(t.node_index(&NodeAddr::new("h", 7000)).unwrap())
                .primary
        );
    }

    #[test]
    fn a_node_named_replica_then_primary_is_a_primary() {
        let node = |port: i64| Value::Array(vec![Value::bulk("h"), Value::Integer(port)]);
        let slots = |start: i64, end: i64, nodes: Vec<Value>| {
            let mut items = vec![Value::Integer(start), Value::Integer(end)];
            items.extend(nodes);
            Value::Array(items)
        };
        let reply = Reply::from_value(&Value::Array(vec![
            slots(0, 10, vec![node(1), node(2)]),
            slots(11, 20, vec![node(2)]),
        ]));
        let t = Topology::from_cluster_slots(reply.value(), &asked(), &same).unwrap();
        let two = t.node(t.node_index(&NodeAddr::new("h", 2)).unwrap());
        assert!(two.primary);
        assert_eq!(
            ranges(&t),
            vec![range(0, 10, "h:1", &["h:2"]), range(11, 20, "h:2", &[])]
        );
    }

    #[test]
    fn malformed_replies_are_errors() {
        let ok_node = node(7000, 0, "h", "master", "online");
        let shards_cases: Vec<(&str, Value, &str)> = vec![
            ("not an array", Value::Integer(3), "the reply is a Integer"),
            (
                "shard without slots",
                Value::Array(vec![Value::Map(vec![])]),
                "has no slots",
            ),
            (
                "odd slots",
                Value::Array(vec![shard_map(&[0], vec![ok_node.clone()])]),
                "pairs",
            ),
            (
                "slot too big",
                Value::Array(vec![shard_map(&[0, 16384], vec![ok_node.clone()])]),
                "slot number",
            ),
            (
                "reversed",
                Value::Array(vec![shard_map(&[9, 3], vec![ok_node.clone()])]),
                "reversed",
            ),
            (
                "no port",
                Value::Array(vec![shard_map(
                    &[0, 1],
                    vec![node_map(&[("role", Value::bulk("master"))])],
                )]),
                "no port",
            ),
            (
                "bad role",
                Value::Array(vec![shard_map(
                    &[0, 1],
                    vec![node(1, 0, "h", "leader", "online")],
                )]),
                "role",
            ),
        ];
        for (what, value, message) in shards_cases {
            let err = from_shards(&value, false).expect_err(what);
            assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{what}");
            assert!(err.message().contains(message), "{what}: {}", err.message());
        }
        let slot_node = |host: Value, port: Value| Value::Array(vec![host, port]);
        let slots_cases: Vec<(&str, Value, &str)> = vec![
            (
                "range without primary",
                Value::Array(vec![Value::Array(vec![
                    Value::Integer(0),
                    Value::Integer(1),
                ])]),
                "no primary",
            ),
            (
                "port not a number",
                Value::Array(vec![Value::Array(vec![
                    Value::Integer(0),
                    Value::Integer(1),
                    slot_node(Value::bulk("h"), Value::bulk("x")),
                ])]),
                "port",
            ),
            (
                "host not text",
                Value::Array(vec![Value::Array(vec![
                    Value::Integer(0),
                    Value::Integer(1),
                    slot_node(Value::Integer(1), Value::Integer(2)),
                ])]),
                "host",
            ),
        ];
        for (what, value, message) in slots_cases {
            let reply = Reply::from_value(&value);
            let err = Topology::from_cluster_slots(reply.value(), &asked(), &same).expect_err(what);
            assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{what}");
            assert!(err.message().contains(message), "{what}: {}", err.message());
        }
    }

    #[test]
    fn moved_patches_a_copy() {
        let t = shards(include_bytes!("testdata/shards_resp3.resp"));
        let port_of =
            |t: &Topology, slot: u16| t.node(t.slot_shard(slot).unwrap().primary).addr.port;

        // To another primary: only that slot moves.
        let moved = t.with_moved(100, &NodeAddr::new("127.0.0.1", 30002));
        assert_eq!(port_of(&moved, 100), 30002);
        assert_eq!(port_of(&moved, 101), 30001);
        assert_eq!(port_of(&t, 100), 30001, "the original is untouched");
        assert!(!moved.same_shape(&t));

        // To a replica: its shard failed over.
        let failed_over = t.with_moved(100, &NodeAddr::new("127.0.0.1", 30004));
        assert_eq!(port_of(&failed_over, 100), 30004);
        assert_eq!(
            port_of(&failed_over, 0),
            30004,
            "the whole shard has the new primary"
        );
        let shard = failed_over.slot_shard(0).unwrap();
        assert_eq!(
            shard
                .replicas
                .iter()
                .map(|&r| failed_over.node(r).addr.port)
                .collect::<Vec<_>>(),
            [30001]
        );
        let old = failed_over.node(failed_over.node_index(&asked()).unwrap());
        assert!(!old.primary);
        assert_eq!(failed_over.primaries().count(), 3);

        // To a node nobody knew: a shard of its own.
        let new = t.with_moved(7, &NodeAddr::new("127.0.0.1", 30007));
        assert_eq!(port_of(&new, 7), 30007);
        assert_eq!(new.shards().len(), 4);
        assert_eq!(new.primaries().count(), 4);
        assert_eq!(new.covered_slots(), SLOT_COUNT);
        // Moving it back to where it was restores the shape, but for the new node.
        let back = new.with_moved(7, &asked());
        assert_eq!(port_of(&back, 7), 30001);
        assert_eq!(back.primaries().count(), 3);
    }

    #[test]
    fn addresses_display_and_convert() {
        assert_eq!(NodeAddr::new("h", 1).to_string(), "h:1");
        assert_eq!(NodeAddr::new("::1", 7000).to_string(), "[::1]:7000");
        assert_eq!(
            NodeAddr::new("h", 2).endpoint(),
            Endpoint::Tcp {
                host: "h".into(),
                port: 2
            }
        );
        let t = shards(include_bytes!("testdata/shards_resp2.resp"));
        let shown = format!("{t:?}");
        assert!(shown.contains("0-5460:"), "{shown}");
    }
}
