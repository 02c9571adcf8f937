//! The routing tables checked against a real server: `key_slot` against `CLUSTER KEYSLOT`
//! for 10k random keys, the key walk against `COMMAND GETKEYS`, and the built-in command
//! table against the server's own `COMMAND` reply (in RESP2 and RESP3). One cluster-enabled
//! `redis-server`, no slots assigned: it answers all of these without a cluster around it.

mod support;

use redcore::resp::{Reply, Value};
use redcore::route::keys::{for_each_key, CommandTable, KeySpec, Merge, Policy};
use redcore::route::slot::key_slot;
use support::{RedisServer, RespConn};

fn cluster_enabled_server() -> RedisServer {
    RedisServer::builder()
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-config-file", "{dir}/nodes.conf"])
        .start()
}

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A key of 0 to 23 bytes, rich in braces so that hash tags of every shape come up.
    fn key(&mut self) -> Vec<u8> {
        let len = (self.next() % 24) as usize;
        (0..len)
            .map(|_| match self.next() % 8 {
                0 => b'{',
                1 => b'}',
                2 => (self.next() % 256) as u8,
                _ => b'a' + (self.next() % 26) as u8,
            })
            .collect()
    }
}

#[test]
fn key_slot_matches_cluster_keyslot_for_10k_random_keys() {
    let server = cluster_enabled_server();
    let mut conn = server.connect().expect("connect");
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let keys: Vec<Vec<u8>> = (0..10_000).map(|_| rng.key()).collect();
    // Pipelined in batches: one write, then the replies in order.
    for batch in keys.chunks(1000) {
        let mut frame = Vec::new();
        for key in batch {
            redcore::resp::encode_command(&mut frame, &[&b"CLUSTER"[..], b"KEYSLOT", key]);
        }
        conn.send_raw(&frame).expect("send");
        for key in batch {
            let reply = conn.read_reply().expect("reply");
            let Value::Integer(slot) = reply else {
                panic!("CLUSTER KEYSLOT {}: {reply:?}", key.escape_ascii());
            };
            assert_eq!(
                i64::from(key_slot(key)),
                slot,
                "key {:?}",
                key.escape_ascii().to_string()
            );
        }
    }
}

/// `COMMAND GETKEYS` of `args`, or an empty list where the server says the command has none.
fn server_keys<S: std::io::Read + std::io::Write>(
    conn: &mut RespConn<S>,
    args: &[&[u8]],
) -> Vec<Vec<u8>> {
    let mut request: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYS"];
    request.extend_from_slice(args);
    match conn.command(&request).expect("COMMAND GETKEYS") {
        Value::Array(keys) => keys.iter().map(|k| support::bytes(k).to_vec()).collect(),
        Value::Error(e) if e.starts_with(b"ERR The command has no key arguments") => vec![],
        other => panic!("COMMAND GETKEYS {args:?}: {other:?}"),
    }
}

#[test]
fn key_walk_matches_command_getkeys() {
    let server = cluster_enabled_server();
    let mut conn = server.connect().expect("connect");
    let table = CommandTable::builtin();
    let lines = [
        "GET k",
        "SET k v EX 10 NX",
        "MGET a b c",
        "MSET a 1 b 2 c 3",
        "DEL a b",
        "BLPOP a b 0",
        "BITOP AND dest a b",
        "RENAME a b",
        "LMOVE a b LEFT RIGHT",
        "OBJECT ENCODING k",
        "MEMORY USAGE k SAMPLES 5",
        "XINFO STREAM s",
        "XGROUP CREATE s g $",
        "EVAL script 2 a b arg",
        "EVALSHA 0123456789012345678901234567890123456789 1 a arg",
        "EVAL_RO script 1 a",
        "FCALL f 2 a b x",
        "FCALL_RO f 1 a",
        "ZUNIONSTORE dest 2 a b WEIGHTS 1 2",
        "ZINTERSTORE dest 1 a",
        "ZDIFFSTORE dest 2 a b",
        "ZUNION 2 a b WITHSCORES",
        "ZINTER 1 a",
        "ZDIFF 2 a b",
        "ZINTERCARD 2 a b LIMIT 1",
        "SINTERCARD 2 a b",
        "LMPOP 2 a b LEFT COUNT 2",
        "ZMPOP 1 z MIN",
        "BLMPOP 0 2 a b LEFT",
        "BZMPOP 1 1 z MAX",
        "XREAD COUNT 2 STREAMS s1 s2 0 0",
        "XREAD BLOCK 0 STREAMS s $",
        "XREADGROUP GROUP g c COUNT 1 STREAMS s >",
        "XREADGROUP GROUP g c NOACK STREAMS a b > >",
        "SORT_RO k BY nosort",
        "WATCH a b",
        "PFCOUNT a b",
        "COPY a b",
        "GEOSEARCHSTORE dst src FROMLONLAT 0 0 BYRADIUS 1 km",
        "ZRANGESTORE dst src 0 -1",
        "LCS a b",
    ];
    for line in lines {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        let spec = table
            .get(&args)
            .unwrap_or_else(|| panic!("{line}: not built in"));
        let mut ours = Vec::new();
        for_each_key(spec, &args, |i| ours.push(args[i].to_vec()))
            .unwrap_or_else(|_| panic!("{line}: movable"));
        assert_eq!(
            ours,
            server_keys(&mut conn, &args),
            "{line}: our keys, then the server's"
        );
    }
}

/// What the server says of one command: name, flags, first/last/step, tips.
struct ServerCommand {
    name: String,
    read_only: bool,
    movable: bool,
    range: (i64, i64, i64),
    tips: Vec<String>,
}

fn text(value: &Value) -> String {
    String::from_utf8(support::bytes(value).to_vec()).expect("UTF-8")
}

fn server_commands(value: &Value, out: &mut Vec<ServerCommand>) {
    let Value::Array(entry) = value else {
        panic!("{value:?}")
    };
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::Array(items) | Value::Set(items) => items.iter().map(text).collect(),
            other => panic!("{other:?}"),
        }
    };
    let int = |v: &Value| match v {
        Value::Integer(i) => *i,
        other => panic!("{other:?}"),
    };
    let flags = strings(&entry[2]);
    out.push(ServerCommand {
        name: text(&entry[0]).to_ascii_uppercase(),
        read_only: flags.iter().any(|f| f == "readonly"),
        movable: flags.iter().any(|f| f == "movablekeys"),
        range: (int(&entry[3]), int(&entry[4]), int(&entry[5])),
        tips: strings(&entry[7]),
    });
    if let Value::Array(subs) | Value::Set(subs) = &entry[9] {
        for sub in subs {
            server_commands(sub, out);
        }
    }
}

/// The policy the tips ask for, where they are unambiguous.
fn tip_policy(tips: &[String]) -> Option<Policy> {
    let find = |prefix: &str| {
        tips.iter()
            .find_map(|t| t.strip_prefix(prefix).map(str::to_owned))
    };
    let merge = match find("response_policy:").as_deref() {
        None => Merge::Concat,
        Some("agg_sum") => Merge::Sum,
        Some("all_succeeded") => Merge::AllOk,
        Some("one_succeeded") => Merge::OneSucceeded,
        Some("agg_logical_and") => Merge::LogicalAnd,
        Some("agg_min") => Merge::Min,
        Some(_) => return None,
    };
    match find("request_policy:").as_deref() {
        Some("all_shards") => Some(Policy::AllPrimaries(merge)),
        Some("all_nodes") => Some(Policy::AllNodes(merge)),
        _ => None,
    }
}

#[test]
fn builtin_table_agrees_with_the_servers_command_reply() {
    let server = cluster_enabled_server();
    for protocol in ["2", "3"] {
        let mut conn = server.connect().expect("connect");
        conn.command(&["HELLO", protocol]).expect("HELLO");
        let reply = conn.command(&["COMMAND"]).expect("COMMAND");
        let mut commands = Vec::new();
        let Value::Array(entries) = &reply else {
            panic!("{reply:?}")
        };
        for entry in entries {
            server_commands(entry, &mut commands);
        }
        assert!(commands.len() > 300, "{} commands", commands.len());

        let builtin = CommandTable::builtin();
        let from_server = CommandTable::from_command_reply(Reply::from_value(&reply).value())
            .expect("the real COMMAND reply reads");
        for command in &commands {
            let args: Vec<&[u8]> = command.name.split('|').map(str::as_bytes).collect();
            let name = &command.name;
            let ours = *builtin
                .get(&args)
                .unwrap_or_else(|| panic!("{name}: not in the built-in table"));
            assert_eq!(
                from_server.get(&args),
                Some(&ours),
                "{name}: the table read from COMMAND differs from the built-in one"
            );
            assert_eq!(ours.read_only, command.read_only, "{name}: read-only");
            let (first, last, step) = command.range;
            match ours.keys {
                KeySpec::None => assert!(first == 0 && !command.movable, "{name}: has keys"),
                KeySpec::Range {
                    first: f,
                    last: l,
                    step: s,
                } => {
                    // SORT_RO is movable for the server, whose only key is argument 1.
                    if name != "SORT_RO" {
                        assert!(!command.movable, "{name}: movable");
                    }
                    assert_eq!(
                        (i64::from(f), i64::from(l), i64::from(s)),
                        (first, last, step),
                        "{name}: key range"
                    );
                }
                KeySpec::NumKeys { .. } | KeySpec::Streams | KeySpec::Movable => {
                    assert!(command.movable, "{name}: not movable on the server")
                }
            }
            // Where the tips are unambiguous, the built-in policy follows them, except for
            // the choices `builtin.rs` documents.
            let deliberate = ["RANDOMKEY", "LATENCY|RESET"];
            if let Some(policy) = tip_policy(&command.tips) {
                if !deliberate.contains(&name.as_str()) {
                    assert_eq!(
                        ours.policy, policy,
                        "{name}: policy against tips {:?}",
                        command.tips
                    );
                }
            }
            let multi_shard = command
                .tips
                .iter()
                .any(|t| t == "request_policy:multi_shard");
            if multi_shard && name != "MSETNX" {
                assert!(matches!(ours.policy, Policy::Split(_)), "{name}: not split");
            }
        }
    }
}
