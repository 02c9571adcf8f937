//! MONITOR's lines, sans-I/O. After MONITOR, the server sends one status line per command it
//! runs: the time, the database and the client in brackets, then each argument quoted, with
//! `\\`, `\"`, `\n`, `\r`, `\t`, `\a`, `\b` and `\xHH` escapes:
//!
//! ```text
//! 1700000000.123456 [0 127.0.0.1:50384] "SET" "key" "va\"lue"
//! 1700000000.123500 [0 lua] "GET" "key"
//! 1700000000.124000 [2 unix:/tmp/redis.sock] "PING"
//! ```

use crate::error::{Error, Result};

/// One command the server ran, as MONITOR told it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorEntry {
    /// When it ran: seconds since the Unix epoch, and the microseconds after them.
    pub seconds: i64,
    pub micros: u32,
    /// The database it ran in.
    pub db: i64,
    /// Who ran it: `ip:port`, `[ipv6]:port`, `unix:/path`, or `lua` for a script.
    pub client: String,
    /// The command and its arguments, unescaped.
    pub args: Vec<Vec<u8>>,
}

impl MonitorEntry {
    /// The time as fractional seconds since the Unix epoch.
    pub fn time(&self) -> f64 {
        self.seconds as f64 + f64::from(self.micros) / 1e6
    }
}

/// Reads one MONITOR line (the text of the status reply, without `+` and CRLF).
pub fn parse_monitor_line(line: &[u8]) -> Result<MonitorEntry> {
    let bad = |why: &str| {
        Error::protocol(format!(
            "a MONITOR line {why}: {}",
            line.iter()
                .take(120)
                .copied()
                .collect::<Vec<u8>>()
                .escape_ascii()
        ))
    };
    let space = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| bad("has no space"))?;
    let (seconds, micros) = parse_time(&line[..space]).ok_or_else(|| bad("has no time"))?;
    let rest = &line[space + 1..];
    let rest = rest.strip_prefix(b"[").ok_or_else(|| bad("has no '['"))?;
    let db_end = rest
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| bad("has no database"))?;
    let db = std::str::from_utf8(&rest[..db_end])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| bad("has no database number"))?;
    let rest = &rest[db_end + 1..];
    // The client ends at the first `] "` (an IPv6 address has brackets of its own), or at a
    // final `]`.
    let close = rest
        .windows(3)
        .position(|w| w == b"] \"")
        .or_else(|| rest.ends_with(b"]").then(|| rest.len() - 1))
        .ok_or_else(|| bad("has no ']'"))?;
    let client = String::from_utf8_lossy(&rest[..close]).into_owned();
    let args = parse_args(&rest[(close + 2).min(rest.len())..])
        .ok_or_else(|| bad("has a broken argument"))?;
    Ok(MonitorEntry {
        seconds,
        micros,
        db,
        client,
        args,
    })
}

fn parse_time(text: &[u8]) -> Option<(i64, u32)> {
    let text = std::str::from_utf8(text).ok()?;
    let (secs, frac) = text.split_once('.').unwrap_or((text, "0"));
    if frac.is_empty() || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let micros: u32 = frac.parse().ok()?;
    let micros = micros * 10u32.pow(6 - frac.len() as u32);
    Some((secs.parse().ok()?, micros))
}

/// `"a" "b\x00"` into its arguments.
fn parse_args(mut text: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    loop {
        text = text.strip_prefix(b" ").unwrap_or(text);
        if text.is_empty() {
            return Some(args);
        }
        text = text.strip_prefix(b"\"")?;
        let mut arg = Vec::new();
        loop {
            let (&b, rest) = text.split_first()?;
            text = rest;
            match b {
                b'"' => break,
                b'\\' => {
                    let (&e, rest) = text.split_first()?;
                    text = rest;
                    arg.push(match e {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'a' => 0x07,
                        b'b' => 0x08,
                        b'x' => {
                            let hex = text.get(..2)?;
                            text = &text[2..];
                            u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?
                        }
                        other => other,
                    });
                }
                b => arg.push(b),
            }
        }
        args.push(arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds, microseconds, database, client, arguments.
    type Parsed = (i64, u32, i64, &'static str, &'static [&'static [u8]]);

    #[test]
    fn lines_from_the_server_parse() {
        let cases: &[(&str, &[u8], Parsed)] = &[
            (
                "tcp client",
                b"1700000000.123456 [0 127.0.0.1:50384] \"SET\" \"key\" \"value\"",
                (
                    1700000000,
                    123456,
                    0,
                    "127.0.0.1:50384",
                    &[b"SET", b"key", b"value"],
                ),
            ),
            (
                "escapes",
                b"1.000001 [3 127.0.0.1:1] \"SET\" \"a\\\"b\\\\c\" \"\\x00\\xff\\n\\r\\t\\a\\b\"",
                (
                    1,
                    1,
                    3,
                    "127.0.0.1:1",
                    &[b"SET", b"a\"b\\c", b"\x00\xff\n\r\t\x07\x08"],
                ),
            ),
            (
                "script",
                b"1700000000.5 [0 lua] \"get\" \"k\"",
                (1700000000, 500000, 0, "lua", &[b"get", b"k"]),
            ),
            (
                "ipv6",
                b"1700000000.000010 [0 [::1]:6000] \"PING\"",
                (1700000000, 10, 0, "[::1]:6000", &[b"PING"]),
            ),
            (
                "unix socket, empty argument",
                b"1700000000.000010 [15 unix:/tmp/r.sock] \"ECHO\" \"\"",
                (1700000000, 10, 15, "unix:/tmp/r.sock", &[b"ECHO", b""]),
            ),
            (
                "a bracket inside an argument",
                b"2.0 [0 1.2.3.4:5] \"SET\" \"] \\\"\"",
                (2, 0, 0, "1.2.3.4:5", &[b"SET", b"] \""]),
            ),
        ];
        for (name, line, (secs, micros, db, client, args)) in cases {
            let entry = parse_monitor_line(line).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(entry.seconds, *secs, "{name}");
            assert_eq!(entry.micros, *micros, "{name}");
            assert_eq!(entry.db, *db, "{name}");
            assert_eq!(entry.client, *client, "{name}");
            let want: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
            assert_eq!(entry.args, want, "{name}");
        }
        let entry = parse_monitor_line(b"10.250000 [0 lua] \"x\"").unwrap();
        assert!((entry.time() - 10.25).abs() < 1e-9);
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        for line in [
            &b""[..],
            b"OK",
            b"x.1 [0 a] \"b\"",
            b"1.5 0 a] \"b\"",
            b"1.5 [zero a] \"b\"",
            b"1.5 [0 a \"b\"",
            b"1.5 [0 a] \"unterminated",
            b"1.5 [0 a] \"bad \\x4\"",
            b"1.1234567 [0 a] \"b\"",
        ] {
            let err = parse_monitor_line(line).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::Protocol, "{line:?}");
        }
    }
}
