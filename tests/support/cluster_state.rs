//! What a cluster node says about the cluster, parsed for the harness: the lines of
//! `CLUSTER NODES`, the slot map of `CLUSTER SLOTS`, and the `key:value` text of `INFO` and
//! `CLUSTER INFO`. Pure functions over replies; errors are messages for a poll to report.

use std::collections::HashMap;

use redcore::resp::Value;

use super::keyslot::SLOTS;

/// A node's role as the cluster sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica,
}

/// One line of `CLUSTER NODES`, as seen by the node that answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub port: u16,
    pub id: String,
    pub role: Role,
    /// The id of the primary a replica follows.
    pub primary_id: Option<String>,
    /// Owned slot ranges, inclusive (migration markers like `[5->-id]` left out).
    pub slots: Vec<(u16, u16)>,
    /// The flags as listed: `myself`, `master`, `slave`, `fail?`, `fail`, `handshake`, ...
    pub flags: Vec<String>,
    /// Whether the harness's process for this node runs (filled in by `RedisCluster`; true
    /// for a freshly parsed line).
    pub running: bool,
}

impl NodeInfo {
    /// Flagged `fail` or `fail?` by the node that answered.
    pub fn failing(&self) -> bool {
        self.flags.iter().any(|f| f == "fail" || f == "fail?")
    }

    /// Still being introduced (`handshake`) or without a known address (`noaddr`).
    pub fn joining(&self) -> bool {
        self.flags.iter().any(|f| f == "handshake" || f == "noaddr")
    }

    pub fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(lo, hi)| (lo..=hi).contains(&slot))
    }
}

/// Parses the text of `CLUSTER NODES`.
pub fn parse_cluster_nodes(text: &str) -> Result<Vec<NodeInfo>, String> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(parse_node_line)
        .collect()
}

/// `<id> <ip:port@cport[,hostname]> <flags> <primary> <ping> <pong> <epoch> <link> <slot>...`
fn parse_node_line(line: &str) -> Result<NodeInfo, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 8 {
        return Err(format!("short CLUSTER NODES line: {line:?}"));
    }
    let addr = fields[1].split(['@', ',']).next().unwrap_or("");
    let port = addr
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .ok_or_else(|| format!("no port in CLUSTER NODES line: {line:?}"))?;
    let flags: Vec<String> = fields[2].split(',').map(str::to_owned).collect();
    let role = if flags.iter().any(|f| f == "slave") {
        Role::Replica
    } else {
        Role::Primary
    };
    let primary_id = (fields[3] != "-").then(|| fields[3].to_owned());
    let mut slots = Vec::new();
    for field in fields[8..].iter().filter(|f| !f.starts_with('[')) {
        let (lo, hi) = field.split_once('-').unwrap_or((field, field));
        match (lo.parse(), hi.parse()) {
            (Ok(lo), Ok(hi)) => slots.push((lo, hi)),
            _ => return Err(format!("bad slot range {field:?} in {line:?}")),
        }
    }
    Ok(NodeInfo {
        port,
        id: fields[0].to_owned(),
        role,
        primary_id,
        slots,
        flags,
        running: true,
    })
}

/// A node as `CLUSTER SLOTS` names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SlotNode {
    pub id: String,
    pub port: u16,
}

/// One range of `CLUSTER SLOTS`: inclusive bounds, the primary, its replicas (sorted by id, so
/// that two nodes' answers compare equal whatever order they list replicas in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
    pub primary: SlotNode,
    pub replicas: Vec<SlotNode>,
}

/// The slot map one node answers with `CLUSTER SLOTS`, ranges sorted by first slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotMap {
    pub ranges: Vec<SlotRange>,
}

impl SlotMap {
    /// The range holding `slot`, if any node owns it.
    pub fn range_of(&self, slot: u16) -> Option<&SlotRange> {
        self.ranges
            .iter()
            .find(|r| (r.start..=r.end).contains(&slot))
    }

    /// Every slot owned by the node with this id.
    pub fn slots_of(&self, id: &str) -> Vec<u16> {
        self.ranges
            .iter()
            .filter(|r| r.primary.id == id)
            .flat_map(|r| r.start..=r.end)
            .collect()
    }

    /// Number of slots some node owns.
    pub fn covered(&self) -> usize {
        self.ranges
            .iter()
            .map(|r| usize::from(r.end - r.start) + 1)
            .sum()
    }
}

/// Parses a `CLUSTER SLOTS` reply: `[[start, end, [ip, port, id, ...], replica...], ...]`.
pub fn parse_cluster_slots(reply: &Value) -> Result<SlotMap, String> {
    let Value::Array(entries) = reply else {
        return Err(format!("CLUSTER SLOTS answered {reply:?}"));
    };
    let mut ranges = Vec::with_capacity(entries.len());
    for entry in entries {
        let parts = match entry {
            Value::Array(parts) if parts.len() >= 3 => parts,
            other => return Err(format!("bad CLUSTER SLOTS entry {other:?}")),
        };
        let bound = |v: &Value| match v {
            Value::Integer(n) if (0..i64::from(SLOTS)).contains(n) => Ok(*n as u16),
            other => Err(format!("bad slot bound {other:?} in CLUSTER SLOTS")),
        };
        let mut replicas = parts[3..]
            .iter()
            .map(parse_slot_node)
            .collect::<Result<Vec<_>, _>>()?;
        replicas.sort();
        ranges.push(SlotRange {
            start: bound(&parts[0])?,
            end: bound(&parts[1])?,
            primary: parse_slot_node(&parts[2])?,
            replicas,
        });
    }
    ranges.sort_by_key(|r| r.start);
    Ok(SlotMap { ranges })
}

/// `[ip, port, id, metadata...]`.
fn parse_slot_node(value: &Value) -> Result<SlotNode, String> {
    match value {
        Value::Array(parts) if parts.len() >= 3 => match (&parts[1], &parts[2]) {
            (Value::Integer(port), Value::Bulk(id)) => Ok(SlotNode {
                id: String::from_utf8_lossy(id).into_owned(),
                port: u16::try_from(*port).map_err(|_| format!("bad port {port}"))?,
            }),
            _ => Err(format!("bad node in CLUSTER SLOTS: {value:?}")),
        },
        other => Err(format!("bad node in CLUSTER SLOTS: {other:?}")),
    }
}

/// The `key:value` lines of `INFO` or `CLUSTER INFO` (section headers and blank lines skipped).
pub fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Calls per command from `INFO commandstats` (`cmdstat_get:calls=3,usec=...`): `get` -> 3.
/// Subcommands are named as the server names them (`cluster|slots`).
pub fn parse_commandstats(text: &str) -> HashMap<String, u64> {
    parse_info(text)
        .into_iter()
        .filter_map(|(key, value)| {
            let command = key.strip_prefix("cmdstat_")?;
            let calls = value
                .split(',')
                .find_map(|field| field.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((command.to_owned(), calls))
        })
        .collect()
}
