//! Command classification: whether a command can share a multiplexed connection, blocks on the
//! server (and for how long), or changes the connection's state.
//!
//! `classify` runs on every submit, so it allocates nothing on success: it upper-cases the
//! command name into a stack buffer, matches it against byte-string literals (the compiler
//! compares lengths first), and reads at most the one or two arguments it needs. Only the
//! blocking commands look further, to find their timeout.
//!
//! The argv is expected split into words, as it goes on the wire (`CLIENT`, `REPLY`, `OFF`).

use std::time::Duration;

use crate::error::{Error, Result};

/// What a command needs from the connection it is sent on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandClass {
    /// Any connection will do, shared with other callers and pipelined with their commands.
    Normal,
    /// Blocks server-side: needs a dedicated connection. `block` is how long the server may
    /// hold the reply back (`None` = until data arrives), so the client extends its reply
    /// timeout by it. Inside MULTI the server does not block; the transaction API knows that.
    Blocking {
        /// The server-side timeout, rounded up to milliseconds as the server does.
        block: Option<Duration>,
    },
    /// Changes the connection's state in a way that would break a shared connection: it must
    /// go through a dedicated connection or a dedicated API (transactions, pub/sub, ...).
    Stateful(StatefulKind),
}

/// The connection state a stateful command changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatefulKind {
    /// WATCH: arms optimistic locking for the connection's next EXEC.
    Watch,
    /// UNWATCH.
    Unwatch,
    /// MULTI: later commands are queued, not run.
    Multi,
    /// EXEC.
    Exec,
    /// DISCARD.
    Discard,
    /// SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE, SUNSUBSCRIBE: the
    /// connection starts (or stops) receiving messages; in RESP2 it accepts nothing else.
    Subscribe,
    /// MONITOR: the connection becomes a stream of every command the server runs.
    Monitor,
    /// SELECT: changes the database for every later command.
    Select,
    /// AUTH: changes the connection's user.
    Auth,
    /// HELLO: changes protocol, user and name.
    Hello,
    /// RESET: drops every piece of connection state.
    Reset,
    /// QUIT: the server closes the connection.
    Quit,
    /// CLIENT REPLY ON|OFF|SKIP: the server stops answering, which breaks request/reply pairing.
    ClientReply,
    /// CLIENT TRACKING and CLIENT CACHING: client-side caching state, which the cache owns
    /// (invalidations go to the connection that enabled tracking; CACHING applies to whatever
    /// command comes next on the connection, which on a shared one is someone else's).
    ClientTracking,
    /// READONLY / READWRITE: whether a cluster replica serves reads on this connection.
    ReadOnlyReadWrite,
    /// SYNC / PSYNC: the connection becomes a replication stream.
    Replication,
}

/// The longest command name `classify` knows (`PUNSUBSCRIBE`, `SUNSUBSCRIBE`). A longer
/// first argument is `Normal` without further work.
const LONGEST_NAME: usize = 12;

/// True when `arg` equals `name` ignoring ASCII case (command names and option tokens).
#[inline]
pub fn command_name_eq(arg: &[u8], name: &[u8]) -> bool {
    arg.eq_ignore_ascii_case(name)
}

/// A command that blocks waiting for keys (BLPOP, BZPOPMIN, BLMOVE, XREAD BLOCK, ...), with
/// its server-side block time: a primary that turns into a replica drops it unrun (`UNBLOCKED
/// ... instance state changed`), so it may run at the new primary. `None` for anything else,
/// WAIT and WAITAOF included: they wait for the writes before them on their own connection,
/// and sent again alone elsewhere they would confirm nothing.
pub fn blocks_on_keys<A: AsRef<[u8]>>(args: &[A]) -> Option<Option<Duration>> {
    let name = args.first()?.as_ref();
    if name.eq_ignore_ascii_case(b"WAIT") || name.eq_ignore_ascii_case(b"WAITAOF") {
        return None;
    }
    match classify(args) {
        Ok(CommandClass::Blocking { block }) => Some(block),
        _ => None,
    }
}

/// Classifies one command by its argv (`&[&[u8]]`, `&[Vec<u8>]`, `&[&str]`...).
///
/// Errors (`INVALID_ARGUMENT`) only for an empty argv and for a blocking command whose
/// timeout the server would reject (not a number, negative, out of range). A blocking
/// command with the wrong number of arguments is `Normal`: the server answers it at once
/// with an arity error, without blocking.
pub fn classify<A: AsRef<[u8]>>(args: &[A]) -> Result<CommandClass> {
    let Some(first) = args.first() else {
        return Err(Error::invalid_argument(
            "empty command: argv has no arguments",
        ));
    };
    let first = first.as_ref();
    let mut buf = [0u8; LONGEST_NAME];
    let Some(name) = upper(first, &mut buf) else {
        return Ok(CommandClass::Normal);
    };
    use CommandClass::Stateful;
    use StatefulKind as S;
    let class = match name {
        b"BLPOP" => blocking(args, &BLPOP)?,
        b"BRPOP" => blocking(args, &BRPOP)?,
        b"BZPOPMIN" => blocking(args, &BZPOPMIN)?,
        b"BZPOPMAX" => blocking(args, &BZPOPMAX)?,
        b"BLMOVE" => blocking(args, &BLMOVE)?,
        b"BRPOPLPUSH" => blocking(args, &BRPOPLPUSH)?,
        b"BLMPOP" => blocking(args, &BLMPOP)?,
        b"BZMPOP" => blocking(args, &BZMPOP)?,
        b"WAIT" => blocking(args, &WAIT)?,
        b"WAITAOF" => blocking(args, &WAITAOF)?,
        b"XREAD" => stream_read(args, "XREAD", false)?,
        b"XREADGROUP" => stream_read(args, "XREADGROUP", true)?,
        b"WATCH" => Stateful(S::Watch),
        b"UNWATCH" => Stateful(S::Unwatch),
        b"MULTI" => Stateful(S::Multi),
        b"EXEC" => Stateful(S::Exec),
        b"DISCARD" => Stateful(S::Discard),
        b"SUBSCRIBE" | b"PSUBSCRIBE" | b"SSUBSCRIBE" | b"UNSUBSCRIBE" | b"PUNSUBSCRIBE"
        | b"SUNSUBSCRIBE" => Stateful(S::Subscribe),
        b"MONITOR" => Stateful(S::Monitor),
        b"SELECT" => Stateful(S::Select),
        b"AUTH" => Stateful(S::Auth),
        b"HELLO" => Stateful(S::Hello),
        b"RESET" => Stateful(S::Reset),
        b"QUIT" => Stateful(S::Quit),
        b"READONLY" | b"READWRITE" => Stateful(S::ReadOnlyReadWrite),
        b"SYNC" | b"PSYNC" => Stateful(S::Replication),
        b"CLIENT" => client_subcommand(args),
        _ => CommandClass::Normal,
    };
    Ok(class)
}

/// `arg` upper-cased into `buf`, or `None` when it is longer than any name we match.
#[inline]
fn upper<'b>(arg: &[u8], buf: &'b mut [u8; LONGEST_NAME]) -> Option<&'b [u8]> {
    let out = buf.get_mut(..arg.len())?;
    for (o, a) in out.iter_mut().zip(arg) {
        *o = a.to_ascii_uppercase();
    }
    Some(out)
}

fn client_subcommand<A: AsRef<[u8]>>(args: &[A]) -> CommandClass {
    let Some(sub) = args.get(1) else {
        return CommandClass::Normal;
    };
    let mut buf = [0u8; LONGEST_NAME];
    match upper(sub.as_ref(), &mut buf) {
        Some(b"REPLY") => CommandClass::Stateful(StatefulKind::ClientReply),
        Some(b"TRACKING" | b"CACHING") => CommandClass::Stateful(StatefulKind::ClientTracking),
        _ => CommandClass::Normal,
    }
}

/// The unit a timeout argument is written in.
#[derive(Clone, Copy)]
enum Unit {
    /// A double, in seconds (list and sorted-set pops).
    Seconds,
    /// An integer, in milliseconds (WAIT, WAITAOF, XREAD BLOCK).
    Millis,
}

/// Where a blocking command keeps its timeout.
#[derive(Clone, Copy)]
enum TimeoutAt {
    /// The last argument (`BLPOP key [key ...] timeout`).
    Last,
    /// The argument at this index (`BLMPOP timeout numkeys ...` has it at 1).
    Index(usize),
}

/// One blocking command's shape, from its documented syntax.
struct BlockingSpec {
    name: &'static str,
    /// The server's arity: `n` = exactly n arguments, `-n` = at least n (name included).
    arity: isize,
    at: TimeoutAt,
    unit: Unit,
}

const fn spec(name: &'static str, arity: isize, at: TimeoutAt, unit: Unit) -> BlockingSpec {
    BlockingSpec {
        name,
        arity,
        at,
        unit,
    }
}

use TimeoutAt::{Index, Last};
use Unit::{Millis, Seconds};

// BLPOP key [key ...] timeout (and BRPOP, BZPOPMIN, BZPOPMAX alike).
const BLPOP: BlockingSpec = spec("BLPOP", -3, Last, Seconds);
const BRPOP: BlockingSpec = spec("BRPOP", -3, Last, Seconds);
const BZPOPMIN: BlockingSpec = spec("BZPOPMIN", -3, Last, Seconds);
const BZPOPMAX: BlockingSpec = spec("BZPOPMAX", -3, Last, Seconds);
// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
const BLMOVE: BlockingSpec = spec("BLMOVE", 6, Last, Seconds);
// BRPOPLPUSH source destination timeout
const BRPOPLPUSH: BlockingSpec = spec("BRPOPLPUSH", 4, Last, Seconds);
// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count] (BZMPOP: MIN|MAX)
const BLMPOP: BlockingSpec = spec("BLMPOP", -5, Index(1), Seconds);
const BZMPOP: BlockingSpec = spec("BZMPOP", -5, Index(1), Seconds);
// WAIT numreplicas timeout
const WAIT: BlockingSpec = spec("WAIT", 3, Index(2), Millis);
// WAITAOF numlocal numreplicas timeout
const WAITAOF: BlockingSpec = spec("WAITAOF", 4, Index(3), Millis);

fn arity_ok(arity: isize, argc: usize) -> bool {
    if arity >= 0 {
        argc == arity.unsigned_abs()
    } else {
        argc >= arity.unsigned_abs()
    }
}

fn blocking<A: AsRef<[u8]>>(args: &[A], spec: &BlockingSpec) -> Result<CommandClass> {
    if !arity_ok(spec.arity, args.len()) {
        return Ok(CommandClass::Normal);
    }
    let i = match spec.at {
        Last => args.len() - 1,
        Index(i) => i,
    };
    let block = timeout(args[i].as_ref(), spec.unit, spec.name, "timeout")?;
    Ok(CommandClass::Blocking { block })
}

/// XREAD [COUNT count] [BLOCK ms] STREAMS key ... id ...
/// XREADGROUP GROUP group consumer [COUNT count] [MAXCOUNT n] [MAXSIZE n] [BLOCK ms]
///   [CLAIM min-idle-time] [NOACK] STREAMS key ... id ...
///
/// Options are walked with their values (a group or consumer may be named `BLOCK`), up to
/// `STREAMS`, after which come keys and ids. Without BLOCK the command does not block.
fn stream_read<A: AsRef<[u8]>>(
    args: &[A],
    name: &'static str,
    group: bool,
) -> Result<CommandClass> {
    let mut block: Option<&[u8]> = None;
    let mut i = 1;
    while let Some(arg) = args.get(i) {
        let arg = arg.as_ref();
        let skip = if command_name_eq(arg, b"STREAMS") {
            break;
        } else if command_name_eq(arg, b"BLOCK") {
            block = args.get(i + 1).map(AsRef::as_ref);
            2
        } else if group && command_name_eq(arg, b"GROUP") {
            3
        } else if [&b"COUNT"[..], b"MAXCOUNT", b"MAXSIZE", b"CLAIM"]
            .iter()
            .any(|opt| command_name_eq(arg, opt))
        {
            2
        } else {
            1
        };
        i += skip;
    }
    match block {
        None => Ok(CommandClass::Normal),
        Some(ms) => Ok(CommandClass::Blocking {
            block: timeout(ms, Millis, name, "BLOCK timeout")?,
        }),
    }
}

/// Parses a timeout the way the server does: seconds as a double rounded up to whole
/// milliseconds, or integer milliseconds; 0 means forever; negative is an error.
fn timeout(arg: &[u8], unit: Unit, command: &str, what: &str) -> Result<Option<Duration>> {
    let ms: u64 = match unit {
        Unit::Seconds => {
            let secs = std::str::from_utf8(arg)
                .ok()
                .filter(|s| {
                    s.bytes()
                        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
                })
                .and_then(|s| s.parse::<f64>().ok())
                .ok_or_else(|| bad_timeout(command, what, arg, "is not a number of seconds"))?;
            if secs < 0.0 {
                return Err(bad_timeout(command, what, arg, "is negative"));
            }
            let ms = (secs * 1000.0).ceil();
            // u64::MAX as f64 rounds up to 2^64, so `>=` keeps the cast below exact.
            if ms >= i64::MAX as f64 {
                return Err(bad_timeout(command, what, arg, "is out of range"));
            }
            ms as u64
        }
        Unit::Millis => {
            let (negative, digits) = match arg.split_first() {
                Some((b'-', rest)) => (true, rest),
                _ => (false, arg),
            };
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(bad_timeout(
                    command,
                    what,
                    arg,
                    "is not an integer number of milliseconds",
                ));
            }
            let value = std::str::from_utf8(digits)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| bad_timeout(command, what, arg, "is out of range"))?;
            if negative && value != 0 {
                return Err(bad_timeout(command, what, arg, "is negative"));
            }
            value as u64
        }
    };
    Ok((ms != 0).then(|| Duration::from_millis(ms)))
}

fn bad_timeout(command: &str, what: &str, arg: &[u8], problem: &str) -> Error {
    let shown: Vec<u8> = arg.iter().take(32).copied().collect();
    Error::invalid_argument(format!(
        "{command}: {what} '{}' {problem}",
        shown.escape_ascii()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use CommandClass::{Blocking, Normal, Stateful};
    use StatefulKind as S;

    fn block_ms(ms: u64) -> CommandClass {
        Blocking {
            block: Some(Duration::from_millis(ms)),
        }
    }

    const FOREVER: CommandClass = Blocking { block: None };

    fn argv(line: &str) -> Vec<&[u8]> {
        line.split(' ').map(str::as_bytes).collect()
    }

    #[test]
    fn commands_blocked_on_keys_are_told_from_wait() {
        let block = |args: &[&str]| blocks_on_keys(args);
        assert_eq!(
            block(&["BLPOP", "k", "2"]),
            Some(Some(Duration::from_secs(2)))
        );
        assert_eq!(block(&["bzpopmin", "k", "0"]), Some(None));
        assert!(block(&["XREAD", "BLOCK", "10", "STREAMS", "s", "$"]).is_some());
        assert_eq!(block(&["XREAD", "STREAMS", "s", "$"]), None);
        assert_eq!(block(&["WAIT", "1", "100"]), None);
        assert_eq!(block(&["WAITAOF", "1", "1", "100"]), None);
        assert_eq!(block(&["GET", "k"]), None);
        assert_eq!(block(&[]), None);
    }

    #[test]
    fn table() {
        let cases: &[(&str, CommandClass)] = &[
            // Ordinary commands, and names longer than any we match.
            ("GET k", Normal),
            ("set k v", Normal),
            ("PING", Normal),
            ("CLIENTTRACKINGX a", Normal),
            ("DEBUG SLEEP 5", Normal),
            ("CLIENT PAUSE 1000", Normal),
            ("CLIENT LIST", Normal),
            ("CLIENT", Normal),
            ("client setname x", Normal),
            ("LPOP k", Normal),
            // Blocking list and sorted-set pops: the last argument, in seconds.
            ("BLPOP k 0", FOREVER),
            ("blpop a b c 5", block_ms(5000)),
            ("BrPoP k 0.5", block_ms(500)),
            ("BZPOPMIN z 1.25", block_ms(1250)),
            ("bzpopmax z1 z2 0", FOREVER),
            ("BLPOP k 0.0001", block_ms(1)),
            ("BLPOP k 0.0", FOREVER),
            ("BLPOP k -0", FOREVER),
            ("BLPOP k 1e1", block_ms(10_000)),
            ("BLMOVE src dst LEFT RIGHT 2", block_ms(2000)),
            ("blmove src dst left right 0", FOREVER),
            ("BRPOPLPUSH src dst 3", block_ms(3000)),
            ("brpoplpush src dst 0", FOREVER),
            // Timeout first: BLMPOP / BZMPOP timeout numkeys key ...
            ("BLMPOP 0 2 a b LEFT", FOREVER),
            ("blmpop 1.5 1 a RIGHT COUNT 3", block_ms(1500)),
            ("BZMPOP 7 1 z MIN", block_ms(7000)),
            ("bzmpop 0 1 z max count 2", FOREVER),
            // Milliseconds.
            ("WAIT 1 0", FOREVER),
            ("wait 2 150", block_ms(150)),
            ("WAITAOF 1 0 100", block_ms(100)),
            ("waitaof 0 1 0", FOREVER),
            // Streams: blocking only with BLOCK, found before STREAMS.
            ("XREAD STREAMS s 0", Normal),
            ("XREAD COUNT 10 STREAMS s 0", Normal),
            ("xread block 0 streams s $", FOREVER),
            ("XREAD COUNT 5 BLOCK 250 STREAMS s1 s2 0 0", block_ms(250)),
            ("XREAD STREAMS BLOCK 100", Normal),
            ("XREADGROUP GROUP g c STREAMS s >", Normal),
            (
                "XREADGROUP GROUP g c COUNT 10 BLOCK 2000 STREAMS s >",
                block_ms(2000),
            ),
            (
                "xreadgroup group g c count 1 noack block 0 streams s >",
                FOREVER,
            ),
            ("XREADGROUP GROUP BLOCK STREAMS COUNT 1 STREAMS s >", Normal),
            (
                "XREADGROUP GROUP g c CLAIM 5 BLOCK 10 STREAMS s >",
                block_ms(10),
            ),
            ("XREADGROUP GROUP g c BLOCK", Normal),
            // Wrong arity: the server answers at once.
            ("BLPOP k", Normal),
            ("BLMOVE a b LEFT RIGHT", Normal),
            ("BLMOVE a b LEFT RIGHT 0 extra", Normal),
            ("BLMPOP 0 1 a", Normal),
            ("WAIT 1", Normal),
            ("WAITAOF 1 1", Normal),
            // Stateful.
            ("WATCH k", Stateful(S::Watch)),
            ("unwatch", Stateful(S::Unwatch)),
            ("Multi", Stateful(S::Multi)),
            ("EXEC", Stateful(S::Exec)),
            ("discard", Stateful(S::Discard)),
            ("SUBSCRIBE ch", Stateful(S::Subscribe)),
            ("psubscribe p*", Stateful(S::Subscribe)),
            ("SSubscribe sch", Stateful(S::Subscribe)),
            ("UNSUBSCRIBE", Stateful(S::Subscribe)),
            ("punsubscribe", Stateful(S::Subscribe)),
            ("SUNSUBSCRIBE sch", Stateful(S::Subscribe)),
            ("MONITOR", Stateful(S::Monitor)),
            ("select 1", Stateful(S::Select)),
            ("AUTH pw", Stateful(S::Auth)),
            ("HELLO 3", Stateful(S::Hello)),
            ("reset", Stateful(S::Reset)),
            ("QUIT", Stateful(S::Quit)),
            ("CLIENT REPLY OFF", Stateful(S::ClientReply)),
            ("client reply skip", Stateful(S::ClientReply)),
            ("CLIENT TRACKING ON", Stateful(S::ClientTracking)),
            ("client caching yes", Stateful(S::ClientTracking)),
            ("READONLY", Stateful(S::ReadOnlyReadWrite)),
            ("readwrite", Stateful(S::ReadOnlyReadWrite)),
            ("SYNC", Stateful(S::Replication)),
            ("psync ? -1", Stateful(S::Replication)),
        ];
        for (line, expected) in cases {
            let got = classify(&argv(line)).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(got, *expected, "{line}");
        }
    }

    #[test]
    fn bad_timeouts_are_invalid_arguments_naming_the_command() {
        let cases: &[(&str, &str)] = &[
            ("BLPOP k -1", "BLPOP: timeout '-1' is negative"),
            (
                "brpop k abc",
                "BRPOP: timeout 'abc' is not a number of seconds",
            ),
            (
                "BZPOPMIN k inf",
                "BZPOPMIN: timeout 'inf' is not a number of seconds",
            ),
            (
                "BZPOPMAX k nan",
                "BZPOPMAX: timeout 'nan' is not a number of seconds",
            ),
            ("BLPOP k 1e300", "BLPOP: timeout '1e300' is out of range"),
            ("BLPOP k  ", "BLPOP: timeout '' is not a number of seconds"),
            (
                "BLMOVE a b LEFT RIGHT x",
                "BLMOVE: timeout 'x' is not a number of seconds",
            ),
            (
                "BRPOPLPUSH a b -0.5",
                "BRPOPLPUSH: timeout '-0.5' is negative",
            ),
            (
                "BLMPOP x 1 k LEFT",
                "BLMPOP: timeout 'x' is not a number of seconds",
            ),
            ("BZMPOP -2 1 k MIN", "BZMPOP: timeout '-2' is negative"),
            ("WAIT 1 -5", "WAIT: timeout '-5' is negative"),
            (
                "WAIT 1 0.5",
                "WAIT: timeout '0.5' is not an integer number of milliseconds",
            ),
            (
                "WAITAOF 1 1 +5",
                "WAITAOF: timeout '+5' is not an integer number of milliseconds",
            ),
            (
                "WAIT 1 99999999999999999999",
                "WAIT: timeout '99999999999999999999' is out of range",
            ),
            (
                "XREAD BLOCK -1 STREAMS s 0",
                "XREAD: BLOCK timeout '-1' is negative",
            ),
            (
                "XREADGROUP GROUP g c block soon STREAMS s >",
                "XREADGROUP: BLOCK timeout 'soon' is not an integer number of milliseconds",
            ),
        ];
        for (line, message) in cases {
            let err = classify(&argv(line)).expect_err(line);
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{line}");
            assert_eq!(err.message(), *message, "{line}");
        }
    }

    #[test]
    fn empty_argv_is_an_error() {
        let err = classify::<&[u8]>(&[]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn accepts_owned_and_str_argv() {
        let owned: Vec<Vec<u8>> = vec![b"blpop".to_vec(), b"k".to_vec(), b"2".to_vec()];
        assert_eq!(classify(&owned).unwrap(), block_ms(2000));
        assert_eq!(classify(&["MULTI"]).unwrap(), Stateful(S::Multi));
        let borrowed: &[&[u8]] = &[b"GET", b"k"];
        assert_eq!(classify(borrowed).unwrap(), Normal);
    }

    #[test]
    fn name_compare_ignores_ascii_case_only() {
        assert!(command_name_eq(b"bLoCk", b"BLOCK"));
        assert!(!command_name_eq(b"BLOCKS", b"BLOCK"));
        assert!(!command_name_eq(b"BL\xc3\x96CK", b"BLOCK"));
    }
}
