//! What cluster routing needs to know of each command: where its keys are, whether a replica
//! may serve it, and whether it goes to one slot, to every node, or is split per slot. The
//! `CommandTable` holds that for every command, from the built-in table (`builtin.rs`) or the
//! server's own `COMMAND` reply (`command_info.rs`).
//!
//! `CommandTable::get` and `for_each_key` run on every command of a cluster client, so they
//! allocate nothing: the name's first 16 bytes are loaded as two words and upper-cased a
//! word at a time, hashed with one multiply into an open-addressed table and compared as
//! words (a longer name compares its tail too); keys are visited by index.

use super::builtin::BUILTIN;

/// What routing needs to know of one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// Where its keys are.
    pub keys: KeySpec,
    /// A replica may serve it (the server's `readonly` flag): only these commands leave the
    /// primary when replica reads are on.
    pub read_only: bool,
    /// Where it goes and how replies from several nodes come together.
    pub policy: Policy,
}

/// Where a command's keys are, by argument index (the command name is index 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySpec {
    /// No keys.
    None,
    /// `COMMAND`'s legacy first key, last key and step: keys at `first, first + step, ...` up
    /// to `last`; a negative `last` counts from the end (-1 is the last argument).
    Range {
        /// Index of the first key (at least 1).
        first: u16,
        /// Index of the last key; negative counts from the end.
        last: i16,
        /// Distance between keys (2 for `MSET key value key value`).
        step: u16,
    },
    /// A count of keys at argument `at`, the keys right after it (`EVAL script numkeys key...`,
    /// `ZUNIONSTORE dest numkeys key...`). `before` fixed keys come right before the count
    /// (1 for the destination of `ZUNIONSTORE`).
    NumKeys {
        /// Index of the numkeys argument.
        at: u16,
        /// How many keys stand right before it.
        before: u16,
    },
    /// `XREAD` / `XREADGROUP`: after the `STREAMS` token, the first half of the arguments are
    /// keys (the second half their IDs).
    Streams,
    /// Keys this table cannot find (`SORT ... STORE dest`, `MIGRATE ... KEYS`, module commands
    /// flagged `movablekeys`): the engine asks the server with `COMMAND GETKEYS`.
    Movable,
}

/// Where a command goes in a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// By the slot of its keys (all keys must share one); a keyless command goes to any
    /// primary.
    Default,
    /// To every primary; the replies are merged.
    AllPrimaries(Merge),
    /// To every node, replicas included; the replies are merged.
    AllNodes(Merge),
    /// A multi-key command whose keys may span slots: split into one command per slot,
    /// sent in parallel, the replies joined (not atomic across slots).
    Split(SplitKind),
    /// A keyless command that any node, a replica too, can answer (`ECHO`, `TIME`,
    /// `CLUSTER SLOTS`, `COMMAND ...`).
    AnyNode,
    /// The slot is argument 2 (`CLUSTER COUNTKEYSINSLOT slot`, `CLUSTER GETKEYSINSLOT slot n`).
    SlotArg,
    /// `SCAN`: one primary after the other, with a cursor that says which (see
    /// `cluster::ScanCursor`).
    Scan,
}

/// How the replies of a fan-out come together (the server's `response_policy` tips).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Integers added up (`DBSIZE`, `SLOWLOG LEN`).
    Sum,
    /// Arrays (or sets, or maps) joined, in no particular order (`KEYS`, `SLOWLOG GET`).
    Concat,
    /// Every node must succeed; the first reply stands for all (`FLUSHALL`, `CONFIG SET`).
    AllOk,
    /// Arrays of booleans (or 0/1) combined position by position with AND (`SCRIPT EXISTS`).
    LogicalAnd,
    /// The same with OR.
    LogicalOr,
    /// The smallest integer, position by position for arrays (`WAIT`, `WAITAOF`).
    Min,
    /// The largest integer, position by position for arrays.
    Max,
    /// The first success; an error only if every node failed (`SCRIPT KILL`).
    OneSucceeded,
}

/// How the per-slot parts of a split command come back together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitKind {
    /// `MGET`: one value per key, back in the caller's key order.
    Mget,
    /// `MSET`: key/value pairs; `OK` when every part is.
    Mset,
    /// `DEL`, `UNLINK`, `EXISTS`, `TOUCH`: the integer replies added up.
    Sum,
}

/// The key walk met a command whose keys only the server can find (`KeySpec::Movable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MovableKeys;

/// The spec of a name this table does not know: treated as keyless. If it does have keys,
/// the server's MOVED / CROSSSLOT replies tell.
const UNKNOWN: CommandSpec = CommandSpec {
    keys: KeySpec::None,
    read_only: false,
    policy: Policy::Default,
};

/// One command (or `CONTAINER|SUB` subcommand) of a table.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    /// Upper case, subcommands as `CONFIG|SET`.
    pub(super) name: Box<[u8]>,
    pub(super) spec: CommandSpec,
}

impl Entry {
    /// The subcommand part of a `CONTAINER|SUB` name, and the container part.
    fn split(&self) -> Option<(&[u8], &[u8])> {
        let bar = self.name.iter().position(|&b| b == b'|')?;
        Some((&self.name[..bar], &self.name[bar + 1..]))
    }
}

/// How a name is looked up: its first 16 bytes upper-cased and zero-padded as two words,
/// its length, and for a subcommand its container (entry index + 1; 0 for a command).
/// Names longer than 16 bytes also compare their tail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Key {
    lo: u64,
    hi: u64,
    len: u32,
    parent: u32,
}

impl Key {
    #[inline]
    fn new(name: &[u8], parent: u32) -> Key {
        let (lo, hi) = match name.len() {
            0..=8 => (load(name), 0),
            9..=15 => (word(&name[..8]), load(&name[8..])),
            _ => (word(&name[..8]), word(&name[8..16])),
        };
        Key {
            lo: upper(lo),
            hi: upper(hi),
            len: name.len() as u32,
            parent,
        }
    }

    /// The home bucket in a table of `size` (a power of two) buckets.
    #[inline]
    fn bucket(&self, size: usize) -> usize {
        let folded = self.lo
            ^ self.hi.rotate_left(29)
            ^ (u64::from(self.len) << 56)
            ^ u64::from(self.parent).rotate_left(40);
        (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & (size - 1)
    }
}

/// 8 bytes as a little-endian word.
#[inline]
fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

/// Up to 8 bytes as a little-endian word, zero-padded, in at most two loads (overlapping
/// reads of the same bytes OR to the same value).
#[inline]
fn load(b: &[u8]) -> u64 {
    let n = b.len();
    match n {
        0 => 0,
        1..=3 => {
            u64::from(b[0])
                | u64::from(b[n / 2]) << (8 * (n / 2))
                | u64::from(b[n - 1]) << (8 * (n - 1))
        }
        4..=7 => {
            let first = u32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
            let last = u32::from_le_bytes(b[n - 4..].try_into().expect("4 bytes"));
            u64::from(first) | u64::from(last) << (8 * (n - 4))
        }
        _ => word(b),
    }
}

/// ASCII letters of the eight bytes upper-cased, every other byte kept (SWAR).
#[inline]
fn upper(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = x & !HIGH;
    // High bit set where the low 7 bits are >= 'a', resp. > 'z' (no carry between bytes).
    let ge_a = low7 + ONES * u64::from(0x80 - b'a');
    let gt_z = low7 + ONES * u64::from(0x80 - b'z' - 1);
    let lower = ge_a & !gt_z & !x & HIGH;
    x ^ (lower >> 2)
}

const EMPTY: u32 = u32::MAX;

/// Shared by every caller's thread of a cluster client.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<CommandTable>();
};

/// The built-in table, built once: where the keys of a command are when no server's
/// `COMMAND` reply is at hand (the client-side cache, replicated writes).
pub(crate) static BUILTIN_TABLE: std::sync::LazyLock<CommandTable> =
    std::sync::LazyLock::new(CommandTable::builtin);

/// Every command a cluster client may route, by name. Immutable once built; cheap to share.
#[derive(Clone, Debug)]
pub struct CommandTable {
    entries: Vec<Entry>,
    /// `keys[i]` is entry `i`'s lookup key.
    keys: Vec<Key>,
    /// `container[i]`: entry `i` has subcommands, so `get` looks at the next argument.
    container: Vec<bool>,
    /// Open addressing with linear probing: indices into `entries`, `EMPTY` for a free slot.
    /// At most half full, so a probe sequence is short.
    buckets: Box<[u32]>,
}

impl CommandTable {
    /// Every Redis 7.x / Valkey 8 command (and the hash-field TTL commands of Redis 7.4 /
    /// Valkey 9): key positions, read-only flag and cluster policy, from the servers'
    /// command tables and their `request_policy` / `response_policy` tips.
    pub fn builtin() -> CommandTable {
        let entries = BUILTIN.iter().map(|(name, keys, read_only, policy)| Entry {
            name: name.as_bytes().into(),
            spec: CommandSpec {
                keys: *keys,
                read_only: *read_only,
                policy: *policy,
            },
        });
        CommandTable::from_entries(entries.collect())
    }

    /// A table of these entries (names upper case, unique). A subcommand whose container
    /// is not among them cannot be found and is dropped.
    pub(super) fn from_entries(entries: Vec<Entry>) -> CommandTable {
        // Commands first, so that subcommands can name their container's index.
        let (commands, subcommands): (Vec<Entry>, Vec<Entry>) =
            entries.into_iter().partition(|e| e.split().is_none());
        let size = ((commands.len() + subcommands.len()) * 2)
            .next_power_of_two()
            .max(16);
        let mut table = CommandTable {
            entries: Vec::new(),
            keys: Vec::new(),
            container: Vec::new(),
            buckets: vec![EMPTY; size].into_boxed_slice(),
        };
        for entry in commands {
            table.insert(Key::new(&entry.name, 0), entry);
        }
        for entry in subcommands {
            let (container, sub) = entry.split().expect("a subcommand");
            let Some(parent) = table.find(container, 0) else {
                continue;
            };
            table.container[parent] = true;
            table.insert(Key::new(sub, parent as u32 + 1), entry);
        }
        table
    }

    fn insert(&mut self, key: Key, entry: Entry) {
        let mask = self.buckets.len() - 1;
        let mut at = key.bucket(self.buckets.len());
        while self.buckets[at] != EMPTY {
            at = (at + 1) & mask;
        }
        self.buckets[at] = self.entries.len() as u32;
        self.entries.push(entry);
        self.keys.push(key);
        self.container.push(false);
    }

    /// The spec of the command `args` (name in any case). A container command (`CONFIG`,
    /// `SCRIPT`, `CLUSTER`, `OBJECT`, ...) resolves to its subcommand from `args[1]`, or to
    /// the container itself when the subcommand is unknown or missing. `None` for an empty
    /// argv or a name the table does not know.
    #[inline]
    pub fn get(&self, args: &[&[u8]]) -> Option<&CommandSpec> {
        let i = self.find(args.first()?, 0)?;
        if self.container[i] {
            if let Some(sub) = args.get(1) {
                if let Some(j) = self.find(sub, i as u32 + 1) {
                    return Some(&self.entries[j].spec);
                }
            }
        }
        Some(&self.entries[i].spec)
    }

    /// `get`, with a name this table does not know treated as a keyless command.
    #[inline]
    pub fn get_or_keyless(&self, args: &[&[u8]]) -> &CommandSpec {
        self.get(args).unwrap_or(&UNKNOWN)
    }

    /// The index of the entry named `name` (any case) under `parent` (0: a command; a
    /// container's index + 1: its subcommands).
    #[inline]
    fn find(&self, name: &[u8], parent: u32) -> Option<usize> {
        let key = Key::new(name, parent);
        let mask = self.buckets.len() - 1;
        let mut at = key.bucket(self.buckets.len());
        loop {
            let i = self.buckets[at];
            if i == EMPTY {
                return None;
            }
            let i = i as usize;
            if self.keys[i] == key && (name.len() <= 16 || self.tail_matches(i, name)) {
                return Some(i);
            }
            at = (at + 1) & mask;
        }
    }

    /// Beyond the 16 bytes in the key, entry `i`'s name (its subcommand part) is `name`.
    #[cold]
    fn tail_matches(&self, i: usize, name: &[u8]) -> bool {
        let entry = &self.entries[i];
        let stored = entry.split().map_or(&entry.name[..], |(_, sub)| sub);
        stored.len() == name.len() && stored[16..].eq_ignore_ascii_case(&name[16..])
    }

    /// The entry of this exact upper-case name (`CONFIG|SET`), for building tables.
    pub(super) fn entry(&self, name: &[u8]) -> Option<&Entry> {
        let i = match name.iter().position(|&b| b == b'|') {
            Some(bar) => {
                let parent = self.find(&name[..bar], 0)?;
                self.find(&name[bar + 1..], parent as u32 + 1)?
            }
            None => self.find(name, 0)?,
        };
        Some(&self.entries[i])
    }

    /// Every entry, in no particular order.
    pub(super) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// How many commands and subcommands the table knows.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table knows no command.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Calls `f` with the index (in `args`, the name being 0) of each key of the command, in
/// argument order. Indices never reach past `args`; a malformed command (a `numkeys` that is
/// not a number, no `STREAMS`) yields the keys that can be found, and the server answers it
/// with its own error. `Err(MovableKeys)` for `KeySpec::Movable`: only the server knows.
#[inline]
pub fn for_each_key(
    spec: &CommandSpec,
    args: &[&[u8]],
    mut f: impl FnMut(usize),
) -> Result<(), MovableKeys> {
    let argc = args.len();
    match spec.keys {
        KeySpec::None => {}
        KeySpec::Range { first, last, step } => {
            let first = usize::from(first);
            let last = if last < 0 {
                let from_end = usize::from(last.unsigned_abs());
                match argc.checked_sub(from_end) {
                    Some(last) => last,
                    None => return Ok(()),
                }
            } else {
                usize::from(last.unsigned_abs()).min(argc.saturating_sub(1))
            };
            let step = usize::from(step.max(1));
            let mut i = first;
            while first > 0 && i <= last {
                f(i);
                i += step;
            }
        }
        KeySpec::NumKeys { at, before } => {
            let at = usize::from(at);
            if at == 0 || at >= argc {
                return Ok(());
            }
            let before = usize::from(before).min(at - 1);
            (at - before..at).for_each(&mut f);
            let count = parse_count(args[at]).unwrap_or(0);
            let end = at.saturating_add(1).saturating_add(count).min(argc);
            (at + 1..end).for_each(f);
        }
        KeySpec::Streams => {
            if let Some(streams) = streams_token(args) {
                let rest = argc - streams - 1;
                (streams + 1..streams + 1 + rest / 2).for_each(f);
            }
        }
        KeySpec::Movable => return Err(MovableKeys),
    }
    Ok(())
}

/// A non-negative decimal count, as the server reads `numkeys`.
fn parse_count(arg: &[u8]) -> Option<usize> {
    if arg.is_empty() || arg.len() > 9 || !arg.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(arg.iter().fold(0, |n, d| n * 10 + usize::from(d - b'0')))
}

/// The index of the `STREAMS` token of `XREAD` / `XREADGROUP`, found as the server finds it:
/// options are walked with their values (so a group or consumer named `STREAMS` is a value,
/// not the token).
fn streams_token(args: &[&[u8]]) -> Option<usize> {
    let mut i = 1;
    while let Some(arg) = args.get(i) {
        let eq = |token: &[u8]| arg.eq_ignore_ascii_case(token);
        i += if eq(b"STREAMS") {
            return Some(i);
        } else if eq(b"GROUP") {
            3
        } else if eq(b"COUNT") || eq(b"BLOCK") || eq(b"MAXCOUNT") || eq(b"MAXSIZE") || eq(b"CLAIM")
        {
            2
        } else {
            1
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<&[u8]> {
        line.split(' ').map(str::as_bytes).collect()
    }

    fn keys_of(table: &CommandTable, line: &str) -> Result<Vec<String>, MovableKeys> {
        let args = argv(line);
        let spec = table.get_or_keyless(&args);
        let mut keys = Vec::new();
        for_each_key(spec, &args, |i| {
            keys.push(String::from_utf8(args[i].to_vec()).unwrap())
        })?;
        Ok(keys)
    }

    #[test]
    fn builtin_names_are_sorted_unique_and_upper_case() {
        for pair in BUILTIN.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (name, ..) in BUILTIN {
            assert_eq!(*name, name.to_ascii_uppercase());
        }
        let table = CommandTable::builtin();
        assert_eq!(table.len(), BUILTIN.len());
        for (name, keys, read_only, policy) in BUILTIN {
            let args: Vec<&[u8]> = name.split('|').map(str::as_bytes).collect();
            let spec = table
                .get(&args)
                .unwrap_or_else(|| panic!("{name} not found"));
            assert_eq!(spec.keys, *keys, "{name}");
            assert_eq!(spec.read_only, *read_only, "{name}");
            assert_eq!(spec.policy, *policy, "{name}");
        }
    }

    #[test]
    fn keys_fold_case_as_bytes_do() {
        let naive = |name: &[u8]| {
            let mut buf = [0u8; 16];
            for (b, n) in buf.iter_mut().zip(name) {
                *b = n.to_ascii_uppercase();
            }
            (
                u64::from_le_bytes(buf[..8].try_into().unwrap()),
                u64::from_le_bytes(buf[8..].try_into().unwrap()),
            )
        };
        // Every byte value at every position of names of 0 to 24 bytes.
        for len in 0..=24usize {
            for start in 0..=255u8 {
                let name: Vec<u8> = (0..len)
                    .map(|i| start.wrapping_add((i as u8).wrapping_mul(97)))
                    .collect();
                let key = Key::new(&name, 7);
                assert_eq!(
                    (key.lo, key.hi),
                    naive(&name),
                    "{:?}",
                    name.escape_ascii().to_string()
                );
                assert_eq!((key.len, key.parent), (len as u32, 7));
            }
        }
    }

    #[test]
    fn every_name_in_any_case() {
        let table = CommandTable::builtin();
        for (name, ..) in BUILTIN {
            let lower = name.to_ascii_lowercase();
            let args: Vec<&[u8]> = lower.split('|').map(str::as_bytes).collect();
            let spec = table.get(&args).unwrap_or_else(|| panic!("{lower}"));
            let upper: Vec<&[u8]> = name.split('|').map(str::as_bytes).collect();
            assert_eq!(Some(spec), table.get(&upper), "{name}");
        }
        // Longer than 16 bytes: the tail counts.
        let get = |line: &str| {
            table
                .get(&line.split(' ').map(str::as_bytes).collect::<Vec<_>>())
                .copied()
        };
        assert!(get("georadiusbymember_ro k m 1 km").unwrap().read_only);
        assert!(get("GEORADIUSBYMEMBER_RX k").is_none());
        assert!(get("GEORADIUSBYMEMBER_RO_ k").is_none());
        assert_eq!(
            get("cluster count-failure-reports id"),
            table.get(&[b"CLUSTER", b"COUNT-FAILURE-REPORTS"]).copied()
        );
        assert!(table.entry(b"CLUSTER|COUNT-FAILURE-REPORTS").is_some());
        assert!(table.entry(b"CLUSTER|COUNT-FAILURE-REPORTX").is_none());
        assert!(table.entry(b"CLUSTER|COUNT-FAILURE-REPORTSS").is_none());
    }

    #[test]
    fn lookup_ignores_case_and_resolves_subcommands() {
        let table = CommandTable::builtin();
        let get = |line: &str| table.get(&argv(line)).copied();
        assert_eq!(get("get k"), get("GET k"));
        assert_eq!(
            get("gEt k").unwrap().keys,
            KeySpec::Range {
                first: 1,
                last: 1,
                step: 1
            }
        );
        assert!(get("GET k").unwrap().read_only);
        assert!(!get("SET k v").unwrap().read_only);
        assert_eq!(
            get("config set maxmemory 1").unwrap().policy,
            Policy::AllNodes(Merge::AllOk)
        );
        assert_eq!(get("CONFIG GET maxmemory").unwrap().policy, Policy::Default);
        assert_eq!(
            get("Script Exists abc").unwrap().policy,
            Policy::AllPrimaries(Merge::LogicalAnd)
        );
        // Unknown subcommand, or none: the container itself.
        assert_eq!(get("CONFIG NOPE").unwrap().policy, Policy::Default);
        assert_eq!(get("CONFIG").unwrap().keys, KeySpec::None);
        // A subcommand name is not a command of its own.
        assert!(get("CONFIG|SET").is_none());
        assert!(get("NOSUCHCOMMAND k").is_none());
        assert!(table.get(&[]).is_none());
        // A name longer than any, and bytes that are not ASCII.
        assert!(get("GETGETGETGETGETGETGETGETGETGETGETGETGETGETGET").is_none());
        assert!(table.get(&[b"G\xc3\x89T"]).is_none());
        assert_eq!(table.get_or_keyless(&argv("NOSUCH a b")), &UNKNOWN);
    }

    #[test]
    fn key_walk() {
        let table = CommandTable::builtin();
        // (command line, keys): one of each KeySpec shape, and malformed commands.
        let cases: &[(&str, &[&str])] = &[
            ("GET k", &["k"]),
            ("get", &[]),
            ("SET k v EX 10", &["k"]),
            ("MGET a b c", &["a", "b", "c"]),
            ("MSET a 1 b 2", &["a", "b"]),
            ("MSET a 1 b", &["a", "b"]),
            ("DEL a", &["a"]),
            ("BLPOP a b 0", &["a", "b"]),
            ("BLPOP 0", &[]),
            ("BITOP AND dest a b", &["dest", "a", "b"]),
            ("RENAME a b", &["a", "b"]),
            ("LMOVE a b LEFT RIGHT", &["a", "b"]),
            ("OBJECT ENCODING k", &["k"]),
            ("MEMORY USAGE k SAMPLES 5", &["k"]),
            ("XINFO STREAM s FULL", &["s"]),
            ("XGROUP CREATE s g $", &["s"]),
            ("PING", &[]),
            ("CONFIG SET a b", &[]),
            ("EVAL script 2 a b arg", &["a", "b"]),
            ("EVALSHA sha 0 arg", &[]),
            ("EVAL script 5 a", &["a"]),
            ("EVAL script x a", &[]),
            ("EVAL script -1 a", &[]),
            ("EVAL script", &[]),
            ("FCALL_RO f 1 k arg", &["k"]),
            ("ZUNIONSTORE dest 2 a b WEIGHTS 1 2", &["dest", "a", "b"]),
            ("ZINTER 2 a b", &["a", "b"]),
            ("SINTERCARD 1 a LIMIT 5", &["a"]),
            ("LMPOP 2 a b LEFT", &["a", "b"]),
            ("BLMPOP 0 2 a b LEFT", &["a", "b"]),
            ("BZMPOP 1.5 1 z MIN", &["z"]),
            ("XREAD COUNT 2 STREAMS s1 s2 0 0", &["s1", "s2"]),
            ("xread streams s 0", &["s"]),
            ("XREAD BLOCK 0 STREAMS s $", &["s"]),
            ("XREADGROUP GROUP streams c STREAMS s >", &["s"]),
            ("XREADGROUP GROUP g c NOACK STREAMS a b > >", &["a", "b"]),
            ("XREAD COUNT 1", &[]),
            ("SORT_RO k BY x", &["k"]),
            ("SSUBSCRIBE a b", &["a", "b"]),
            ("HEXPIRE h 10 FIELDS 1 f", &["h"]),
        ];
        for (line, expected) in cases {
            let got = keys_of(&table, line).unwrap_or_else(|_| panic!("{line}: movable"));
            assert_eq!(got, *expected, "{line}");
        }
        for line in [
            "SORT k STORE d",
            "MIGRATE h 1 \"\" 0 10 KEYS a b",
            "GEORADIUS k 0 0 1 km",
        ] {
            assert_eq!(keys_of(&table, line), Err(MovableKeys), "{line}");
        }
    }

    #[test]
    fn range_shapes() {
        let spec = |first, last, step| CommandSpec {
            keys: KeySpec::Range { first, last, step },
            read_only: false,
            policy: Policy::Default,
        };
        let walk = |spec: CommandSpec, argc: usize| {
            let args = vec![&b"x"[..]; argc];
            let mut keys = Vec::new();
            for_each_key(&spec, &args, |i| keys.push(i)).unwrap();
            keys
        };
        assert_eq!(walk(spec(1, 1, 1), 3), [1]);
        assert_eq!(walk(spec(1, -1, 1), 4), [1, 2, 3]);
        assert_eq!(walk(spec(1, -2, 1), 4), [1, 2]);
        assert_eq!(walk(spec(1, -1, 2), 5), [1, 3]);
        assert_eq!(walk(spec(2, 2, 1), 2), Vec::<usize>::new());
        assert_eq!(walk(spec(1, 5, 1), 3), [1, 2]);
        assert_eq!(walk(spec(0, 0, 0), 3), Vec::<usize>::new());
        assert_eq!(walk(spec(1, -9, 1), 3), Vec::<usize>::new());
        assert_eq!(walk(spec(1, -1, 0), 3), [1, 2]);
    }
}
