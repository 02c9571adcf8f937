//! Wire-example tables for the decoder: every type (the RESP3 specification's examples among
//! them), fed whole, one byte at a time and split at every offset; and malformed inputs that
//! must give PROTOCOL errors.

use super::*;
use crate::error::ErrorKind;

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn examples() -> Vec<(&'static str, &'static str, Value)> {
    use Value::*;
    vec![
        // RESP2 types.
        ("simple string", "+hello world\r\n", Simple(b("hello world"))),
        ("simple string OK", "+OK\r\n", Simple(b("OK"))),
        ("empty simple string", "+\r\n", Simple(b(""))),
        (
            "simple error",
            "-ERR this is the error description\r\n",
            Error(b("ERR this is the error description")),
        ),
        ("integer", ":1234\r\n", Integer(1234)),
        ("negative integer", ":-42\r\n", Integer(-42)),
        ("plus integer", ":+7\r\n", Integer(7)),
        ("i64 max", ":9223372036854775807\r\n", Integer(i64::MAX)),
        ("i64 min", ":-9223372036854775808\r\n", Integer(i64::MIN)),
        ("bulk string", "$11\r\nhello world\r\n", Bulk(b("hello world"))),
        ("empty bulk string", "$0\r\n\r\n", Bulk(b(""))),
        (
            "binary bulk string",
            "$6\r\na\r\nb\0c\r\n",
            Bulk(b"a\r\nb\0c".to_vec()),
        ),
        ("RESP2 null bulk", "$-1\r\n", Null),
        ("RESP2 null array", "*-1\r\n", Null),
        ("empty array", "*0\r\n", Array(vec![])),
        (
            "array of integers",
            "*3\r\n:1\r\n:2\r\n:3\r\n",
            Array(vec![Integer(1), Integer(2), Integer(3)]),
        ),
        (
            "nested array",
            "*2\r\n*3\r\n:1\r\n$5\r\nhello\r\n:2\r\n#f\r\n",
            Array(vec![
                Array(vec![Integer(1), Bulk(b("hello")), Integer(2)]),
                Boolean(false),
            ]),
        ),
        (
            "array with null elements",
            "*3\r\n$3\r\nfoo\r\n$-1\r\n$3\r\nbar\r\n",
            Array(vec![Bulk(b("foo")), Null, Bulk(b("bar"))]),
        ),
        // RESP3 types.
        ("null", "_\r\n", Null),
        ("double", ",1.23\r\n", Double(1.23)),
        ("double without dot", ",10\r\n", Double(10.0)),
        ("double exponent", ",1.5e-3\r\n", Double(0.0015)),
        ("double inf", ",inf\r\n", Double(f64::INFINITY)),
        ("double -inf", ",-inf\r\n", Double(f64::NEG_INFINITY)),
        ("double nan", ",nan\r\n", Double(f64::NAN)),
        ("boolean true", "#t\r\n", Boolean(true)),
        ("boolean false", "#f\r\n", Boolean(false)),
        (
            "blob error",
            "!21\r\nSYNTAX invalid syntax\r\n",
            BlobError(b("SYNTAX invalid syntax")),
        ),
        (
            "verbatim string",
            "=15\r\ntxt:Some string\r\n",
            Verbatim(*b"txt", b("Some string")),
        ),
        ("empty verbatim string", "=4\r\nmkd:\r\n", Verbatim(*b"mkd", b(""))),
        (
            "big number",
            "(3492890328409238509324850943850943825024385\r\n",
            BigNumber(b("3492890328409238509324850943850943825024385")),
        ),
        ("negative big number", "(-1\r\n", BigNumber(b("-1"))),
        (
            "map",
            "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
            Map(vec![
                (Simple(b("first")), Integer(1)),
                (Simple(b("second")), Integer(2)),
            ]),
        ),
        ("empty map", "%0\r\n", Map(vec![])),
        (
            "set",
            "~5\r\n+orange\r\n+apple\r\n#t\r\n:100\r\n:999\r\n",
            Set(vec![
                Simple(b("orange")),
                Simple(b("apple")),
                Boolean(true),
                Integer(100),
                Integer(999),
            ]),
        ),
        (
            "push",
            ">4\r\n+pubsub\r\n+message\r\n+somechannel\r\n+this is the message\r\n",
            Push(vec![
                Simple(b("pubsub")),
                Simple(b("message")),
                Simple(b("somechannel")),
                Simple(b("this is the message")),
            ]),
        ),
        (
            "attribute before the reply (spec)",
            "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
            Attributed(
                vec![(
                    Simple(b("key-popularity")),
                    Map(vec![
                        (Bulk(b("a")), Double(0.1923)),
                        (Bulk(b("b")), Double(0.0012)),
                    ]),
                )],
                Box::new(Array(vec![Integer(2039123), Integer(9543892)])),
            ),
        ),
        (
            "attribute inside an array (spec)",
            "*3\r\n:1\r\n:2\r\n|1\r\n+ttl\r\n:3600\r\n:3\r\n",
            Array(vec![
                Integer(1),
                Integer(2),
                Attributed(
                    vec![(Simple(b("ttl")), Integer(3600))],
                    Box::new(Integer(3)),
                ),
            ]),
        ),
        (
            "empty attribute on an aggregate element",
            "*2\r\n|0\r\n*1\r\n:5\r\n:6\r\n",
            Array(vec![
                Attributed(vec![], Box::new(Array(vec![Integer(5)]))),
                Integer(6),
            ]),
        ),
        (
            "deeply mixed",
            "%2\r\n$1\r\nk\r\n*2\r\n~1\r\n_\r\n%1\r\n#t\r\n,2.5\r\n=7\r\ntxt:abc\r\n>1\r\n(12\r\n",
            Map(vec![
                (
                    Bulk(b("k")),
                    Array(vec![
                        Set(vec![Null]),
                        Map(vec![(Boolean(true), Double(2.5))]),
                    ]),
                ),
                (Verbatim(*b"txt", b("abc")), Push(vec![BigNumber(b("12"))])),
            ]),
        ),
    ]
}

/// Feeds `wire` in the given chunks and collects every reply.
fn decode_chunks(decoder: &mut Decoder, chunks: &[&[u8]]) -> Vec<Reply> {
    let mut replies = Vec::new();
    for chunk in chunks {
        let mut pos = 0;
        loop {
            let (n, reply) = decoder.decode(&chunk[pos..]).expect("decodes");
            pos += n;
            match reply {
                Some(r) => replies.push(r),
                None => {
                    assert_eq!(pos, chunk.len(), "without a reply every byte is consumed");
                    break;
                }
            }
        }
    }
    replies
}

#[test]
fn every_example_whole_bytewise_and_split() {
    for (name, wire, expected) in examples() {
        let wire = wire.as_bytes();
        // Whole.
        let mut d = Decoder::default();
        let (n, reply) = d.decode(wire).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(n, wire.len(), "{name}: consumed");
        let reply = reply.unwrap_or_else(|| panic!("{name}: incomplete"));
        assert_eq!(reply.to_value(), expected, "{name}: whole");
        assert!(!d.is_mid_reply(), "{name}: decoder idle after reply");
        // One byte at a time.
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        let replies = decode_chunks(&mut Decoder::default(), &bytes);
        assert_eq!(replies.len(), 1, "{name}: bytewise count");
        assert_eq!(replies[0].to_value(), expected, "{name}: bytewise");
        // Every split into two.
        for at in 0..=wire.len() {
            let replies = decode_chunks(&mut Decoder::default(), &[&wire[..at], &wire[at..]]);
            assert_eq!(replies.len(), 1, "{name}: split at {at}");
            assert_eq!(replies[0].to_value(), expected, "{name}: split at {at}");
        }
        // Twice in one buffer, then once more: the decoder is reusable.
        let mut twice = wire.to_vec();
        twice.extend_from_slice(wire);
        let mut d = Decoder::default();
        let replies = decode_chunks(&mut d, &[&twice, wire]);
        assert_eq!(replies.len(), 3, "{name}: three in a row");
        assert!(replies.iter().all(|r| r.to_value() == expected), "{name}");
        // The owned tree encodes back to an equal reply.
        let mut again = Vec::new();
        expected.encode(&mut again);
        assert_eq!(
            Reply::from_value(&expected).to_value(),
            expected,
            "{name}: round trip"
        );
        // Clones are deep and equal.
        let clone = reply.clone();
        drop(reply);
        assert_eq!(clone.to_value(), expected, "{name}: clone");
    }
}

#[test]
fn views_reach_every_node() {
    let wire =
        b"*4\r\n*2\r\n:1\r\n:2\r\n:3\r\n|1\r\n+a\r\n:1\r\n$1\r\nx\r\n%1\r\n+k\r\n*1\r\n:9\r\n";
    let mut d = Decoder::default();
    let (_, reply) = d.decode(wire).unwrap();
    let reply = reply.unwrap();
    let root = reply.value();
    assert_eq!(root.kind(), Kind::Array);
    assert_eq!(root.len(), 4);
    assert_eq!(root.get(0).unwrap().get(1).unwrap().as_integer(), Some(2));
    assert_eq!(root.get(1).unwrap().as_integer(), Some(3));
    let x = root.get(2).unwrap();
    assert_eq!(x.as_bytes(), Some(&b"x"[..]));
    let attr = x.attribute().expect("attribute reachable");
    assert_eq!(attr.kind(), Kind::Attribute);
    assert_eq!(attr.key(0).unwrap().as_bytes(), Some(&b"a"[..]));
    assert_eq!(attr.map_value(0).unwrap().as_integer(), Some(1));
    let map = root.get(3).unwrap();
    assert_eq!(map.len(), 1);
    assert_eq!(map.key(0).unwrap().as_str(), Some("k"));
    assert_eq!(
        map.map_value(0).unwrap().get(0).unwrap().as_integer(),
        Some(9)
    );
    assert!(root.get(4).is_none());
    // Every string is NUL-terminated past its length, for C callers.
    let s = map.key(0).unwrap().as_bytes_with_nul().unwrap();
    assert_eq!(s.last(), Some(&0));
    assert_eq!(&s[..s.len() - 1], map.key(0).unwrap().as_bytes().unwrap());
    assert!(root.attribute().is_none());
    // A reply moved elsewhere keeps its views valid.
    let moved = Box::new(reply);
    assert_eq!(moved.value().get(2).unwrap().as_bytes(), Some(&b"x"[..]));
}

#[test]
fn common_replies_allocate_nothing() {
    for wire in [
        &b"+OK\r\n"[..],
        b":12\r\n",
        b"_\r\n",
        b",1.5\r\n",
        b"#t\r\n",
        b"+QUEUED\r\n",
    ] {
        let mut d = Decoder::default();
        let (_, reply) = d.decode(wire).unwrap();
        assert_eq!(reply.unwrap().heap_size(), 0, "{}", wire.escape_ascii());
    }
    // A flat array of bulk strings: one node buffer and one byte buffer, nothing else.
    let mut wire = b"*1000\r\n".to_vec();
    for i in 0..1000 {
        wire.extend_from_slice(format!("$4\r\n{i:04}\r\n").as_bytes());
    }
    let (_, reply) = Decoder::default().decode(&wire).unwrap();
    let reply = reply.unwrap();
    assert_eq!(reply.nodes.len(), 1000, "no index entries");
    assert_eq!(reply.data.len(), 5000, "4 bytes and a NUL each");
    assert_eq!(
        reply.value().get(999).unwrap().as_bytes(),
        Some(&b"0999"[..])
    );
}

#[test]
#[cfg_attr(miri, ignore = "megabytes or thousands of rounds: hours under Miri")]
fn large_claims_reserve_a_bounded_amount() {
    // A single claimed string reserves only the bytes at hand.
    let mut d = Decoder::default();
    let (n, reply) = d.decode(b"$536870912\r\nab").unwrap();
    assert_eq!((n, reply.is_none()), (14, true));
    assert!(d.held_bytes() < 4096, "held {}", d.held_bytes());
    // Strings of a claimed aggregate get room reserved ahead, never more than 32 MiB however
    // large the claims (and virtual until bytes arrive).
    let mut d = Decoder::default();
    let (n, reply) = d.decode(b"*4294967295\r\n$536870912\r\nab").unwrap();
    assert_eq!(n, 27);
    assert!(reply.is_none());
    assert!(d.is_mid_reply());
    assert!(
        d.held_bytes() <= 33 * 1024 * 1024,
        "held {}",
        d.held_bytes()
    );
    // Uniform elements land in one buffer without regrowth.
    let mut wire = b"*100\r\n".to_vec();
    for _ in 0..100 {
        wire.extend_from_slice(b"$1000\r\n");
        wire.extend_from_slice(&[b'x'; 1000]);
        wire.extend_from_slice(b"\r\n");
    }
    let mut d = Decoder::default();
    let (_, r) = d.decode(&wire[..600]).unwrap();
    assert!(r.is_none());
    let held = d.held_bytes();
    assert!(held >= 100 * 1001, "reserved ahead: {held}");
    let (_, r) = d.decode(&wire[600..]).unwrap();
    let r = r.unwrap();
    assert_eq!(
        r.data.capacity(),
        100 * 1001,
        "one reservation, no regrowth"
    );
}

#[test]
#[cfg_attr(miri, ignore = "megabytes or thousands of rounds: hours under Miri")]
fn unended_simple_lines_are_bounded_by_the_line_limit() {
    // A server that starts a `+`, `-` or `(` line and never ends it: the decoder gives up at
    // `max_line_len` (1 MiB by default), not at `max_bulk_len` (512 MiB), and lets go of what
    // it held.
    let limits = Limits::default();
    assert_eq!(limits.max_line_len, 1024 * 1024);
    let chunk = vec![b'7'; 64 * 1024];
    for ty in [b'+', b'-', b'('] {
        let mut d = Decoder::new(limits);
        let mut fed = 1;
        assert!(d.decode(&[ty]).unwrap().1.is_none());
        let err = loop {
            match d.decode(&chunk) {
                Ok((_, None)) => fed += chunk.len(),
                Ok((_, Some(r))) => panic!("a reply from an unended line: {r:?}"),
                Err(e) => break e,
            }
            assert!(
                fed < 2 * limits.max_line_len,
                "still buffering at {fed} bytes"
            );
        };
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert!(err.message().contains("longer than 1048576"), "{err}");
        assert!(d.held_bytes() <= 64 * 1024, "held {}", d.held_bytes());
    }
    // Whole lines up to the limit still decode, in any split.
    let mut line = vec![b'-'];
    line.extend(std::iter::repeat_n(b'e', limits.max_line_len));
    line.extend_from_slice(b"\r\n");
    let mut d = Decoder::new(limits);
    let replies = decode_chunks(&mut d, &[&line[..1000], &line[1000..]]);
    assert_eq!(replies.len(), 1);
    // The limit is the line's own: a bulk string may still be longer.
    let small = Limits {
        max_line_len: 4,
        ..Limits::default()
    };
    let mut d = Decoder::new(small);
    assert!(d.decode(b"$6\r\nabcdef\r\n").unwrap().1.is_some());
    assert!(d.decode(b"+abcde\r\n").is_err());
}

#[test]
fn a_line_of_exactly_the_limit_passes_however_it_is_split() {
    // Found by fuzzing: a line of max_line_len bytes whose CR ended one input and whose LF
    // began the next was counted with its CR, one byte over the limit.
    let limits = Limits {
        max_line_len: 4,
        ..Limits::default()
    };
    for (wire, cut) in [(&b"+abcd\r\n"[..], 6), (b":1234\r\n", 6), (b"+abcd\r\n", 5)] {
        let mut d = Decoder::new(limits);
        let replies = decode_chunks(&mut d, &[&wire[..cut], &wire[cut..]]);
        assert_eq!(replies.len(), 1, "{wire:?} cut at {cut}");
    }
    let mut d = Decoder::new(limits);
    assert!(d.decode(b"+abcde\r").is_err());
}

#[test]
#[cfg_attr(miri, ignore = "megabytes or thousands of rounds: hours under Miri")]
fn reset_frees_a_partial_reply() {
    // A stalled bulk string of 8 MiB of a claimed 100 MB: a connection that gives up on it
    // (a timeout, a close) must not keep its buffer.
    let mut d = Decoder::default();
    assert!(d.decode(b"$100000000\r\n").unwrap().1.is_none());
    let chunk = vec![b'x'; 1024 * 1024];
    for _ in 0..8 {
        assert!(d.decode(&chunk).unwrap().1.is_none());
    }
    assert!(d.held_bytes() >= 8 * 1024 * 1024);
    assert!(d.is_mid_reply());
    d.reset();
    assert!(!d.is_mid_reply());
    assert!(d.held_bytes() <= 64 * 1024, "held {}", d.held_bytes());
    assert!(d.decode(b":1\r\n").unwrap().1.is_some());
}

fn malformed() -> Vec<(&'static str, &'static [u8], Limits, &'static str)> {
    let default = Limits::default();
    let small = Limits {
        max_bulk_len: 10,
        max_aggregate_len: 4,
        max_depth: 3,
        max_line_len: 10,
    };
    vec![
        ("bad type byte", b"?x\r\n", default, "invalid type byte"),
        ("text instead of RESP", b"hello\r\n", default, "invalid type byte"),
        ("bad bulk length", b"$abc\r\n", default, "invalid length"),
        ("bad array length", b"*1x\r\n", default, "invalid length"),
        ("empty length", b"$\r\n", default, "invalid length"),
        ("bulk length -2", b"$-2\r\n", default, "invalid length"),
        ("array length -5", b"*-5\r\n", default, "invalid length"),
        ("map length -1", b"%-1\r\n", default, "invalid length"),
        ("set length -1", b"~-1\r\n", default, "invalid length"),
        ("blob error length -1", b"!-1\r\n", default, "invalid length"),
        ("bulk without CRLF", b"$3\r\nfooXY", default, "not followed by CRLF"),
        ("bulk with bare LF", b"$3\r\nfoo\nX", default, "not followed by CRLF"),
        ("header CR without LF", b"+OK\rX\r\n", default, "not terminated by CRLF"),
        ("bulk over the limit", b"$100\r\n", small, "exceeds the limit of 10"),
        (
            "simple string over the limit",
            b"+0123456789ABC\r\n",
            small,
            "longer than 10",
        ),
        ("array over the limit", b"*5\r\n", small, "exceeds the limit of 4"),
        ("map over the limit", b"%5\r\n", small, "exceeds the limit of 4"),
        (
            "nesting too deep",
            b"*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
            small,
            "nested deeper than 3",
        ),
        ("integer with letters", b":12a\r\n", default, "invalid integer"),
        ("integer overflow", b":99999999999999999999\r\n", default, "invalid integer"),
        ("empty integer", b":\r\n", default, "invalid integer"),
        ("bad double", b",abc\r\n", default, "invalid double"),
        ("double spelled infinity", b",infinity\r\n", default, "invalid double"),
        ("bad boolean", b"#x\r\n", default, "invalid boolean"),
        ("null with payload", b"_x\r\n", default, "invalid null"),
        ("verbatim too short", b"=2\r\nab\r\n", default, "shorter than"),
        ("verbatim without colon", b"=4\r\ntxt \r\n", default, "format prefix"),
        ("bad big number", b"(12a\r\n", default, "invalid big number"),
        ("two attributes", b"|0\r\n|0\r\n:1\r\n", default, "another attribute"),
        (
            "endless number line",
            b":111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111",
            default,
            "longer than 128",
        ),
    ]
}

#[test]
fn malformed_inputs_give_protocol_errors() {
    for (name, wire, limits, needle) in malformed() {
        for bytewise in [false, true] {
            let mut d = Decoder::new(limits);
            let chunks: Vec<&[u8]> = if bytewise {
                wire.chunks(1).collect()
            } else {
                vec![wire]
            };
            let mut err = None;
            'feed: for chunk in chunks {
                let mut pos = 0;
                while pos < chunk.len() {
                    match d.decode(&chunk[pos..]) {
                        Ok((n, _)) => pos += n,
                        Err(e) => {
                            err = Some(e);
                            break 'feed;
                        }
                    }
                }
            }
            let err = err.unwrap_or_else(|| panic!("{name} (bytewise {bytewise}): no error"));
            assert_eq!(err.kind(), ErrorKind::Protocol, "{name}");
            assert!(err.is(ErrorKind::InvalidResponse));
            assert!(
                err.message().contains(needle),
                "{name}: '{}' lacks '{needle}'",
                err.message()
            );
            // Sticky: valid input is refused after the error.
            let again = d.decode(b"+OK\r\n").unwrap_err();
            assert_eq!(again, err, "{name}: sticky");
            d.reset();
            assert!(d.decode(b"+OK\r\n").unwrap().1.is_some(), "{name}: reset");
        }
    }
}

/// A deterministic pseudo-random generator for the fuzz-style tests (no dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn random_value(rng: &mut Lcg, depth: u32) -> Value {
    let pick = rng.next() % if depth > 3 { 9 } else { 14 };
    let bytes = |rng: &mut Lcg| -> Vec<u8> {
        let n = rng.next() % 20;
        (0..n).map(|_| (rng.next() % 256) as u8).collect()
    };
    let text = |rng: &mut Lcg| -> Vec<u8> {
        let n = rng.next() % 12;
        (0..n).map(|_| b'a' + (rng.next() % 26) as u8).collect()
    };
    let items = |rng: &mut Lcg| -> Vec<Value> {
        let n = rng.next() % 5;
        (0..n).map(|_| random_value(rng, depth + 1)).collect()
    };
    match pick {
        0 => Value::Simple(text(rng)),
        1 => Value::Error(text(rng)),
        2 => Value::Integer(rng.next() as i64 - (1 << 30)),
        3 => Value::Bulk(bytes(rng)),
        4 => Value::Null,
        5 => Value::Double((rng.next() as f64) / 7.0),
        6 => Value::Boolean(rng.next() % 2 == 0),
        7 => Value::BigNumber(format!("{}", rng.next()).into_bytes()),
        8 => Value::Verbatim(*b"txt", bytes(rng)),
        9 => Value::Array(items(rng)),
        10 => Value::Set(items(rng)),
        11 => Value::Push(items(rng)),
        12 => {
            let n = rng.next() % 4;
            Value::Map(
                (0..n)
                    .map(|_| (random_value(rng, depth + 1), random_value(rng, depth + 1)))
                    .collect(),
            )
        }
        _ => {
            let attr = vec![(Value::Simple(text(rng)), Value::Integer(1))];
            let inner = random_value(rng, depth + 1);
            match inner {
                Value::Attributed(..) => inner,
                other => Value::Attributed(attr, Box::new(other)),
            }
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "megabytes or thousands of rounds: hours under Miri")]
fn random_trees_round_trip_in_random_chunks() {
    let mut rng = Lcg(0x5eed);
    for _ in 0..2000 {
        let values: Vec<Value> = (0..3).map(|_| random_value(&mut rng, 0)).collect();
        let mut wire = Vec::new();
        for v in &values {
            v.encode(&mut wire);
        }
        let mut chunks = Vec::new();
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let n = 1 + (rng.next() as usize % rest.len().min(17));
            chunks.push(&rest[..n]);
            rest = &rest[n..];
        }
        let replies = decode_chunks(&mut Decoder::default(), &chunks);
        let got: Vec<Value> = replies.iter().map(|r| r.to_value()).collect();
        assert_eq!(got, values);
    }
}

#[test]
#[cfg_attr(miri, ignore = "megabytes or thousands of rounds: hours under Miri")]
fn random_garbage_never_panics() {
    let mut rng = Lcg(42);
    let alphabet = b"+-:$*_,#(=%~|>!0123456789\r\n-abtf.";
    for _ in 0..20000 {
        let n = rng.next() as usize % 40;
        let wire: Vec<u8> = (0..n)
            .map(|_| alphabet[rng.next() as usize % alphabet.len()])
            .collect();
        let mut d = Decoder::new(Limits {
            max_bulk_len: 64,
            max_aggregate_len: 64,
            max_depth: 8,
            max_line_len: 64,
        });
        let mut pos = 0;
        while pos < wire.len() {
            match d.decode(&wire[pos..]) {
                Ok((used, Some(reply))) => {
                    pos += used;
                    let _ = reply.to_value();
                }
                Ok((used, None)) => pos += used,
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Protocol);
                    break;
                }
            }
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "megabytes or thousands of rounds: hours under Miri")]
fn integers_parse_exactly() {
    use super::parse_int;
    let mut rng = Lcg(7);
    for _ in 0..200_000 {
        let n = (rng.next() << 31 | rng.next()) as i64 >> (rng.next() % 63);
        let n = if rng.next() % 2 == 0 { n } else { -n };
        assert_eq!(parse_int(n.to_string().as_bytes()), Some(n), "{n}");
    }
    for ok in [
        "0",
        "-0",
        "+12345678",
        "12345678",
        "123456789",
        "9223372036854775807",
        "-9223372036854775808",
    ] {
        assert_eq!(parse_int(ok.as_bytes()), ok.parse::<i64>().ok(), "{ok}");
    }
    for bad in [
        "",
        "-",
        "+",
        "1a",
        "1234567a",
        "12345678a",
        "1234567:",
        "123456/8",
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999",
        " 1",
        "1 ",
    ] {
        assert_eq!(parse_int(bad.as_bytes()), None, "{bad}");
    }
}

#[test]
#[cfg_attr(miri, ignore = "megabytes or thousands of rounds: hours under Miri")]
fn integer_lines_decode_exactly_whatever_follows() {
    // The word-at-a-time path for short integers reads 8 bytes past the sign, so each line is
    // tried with every amount of input after it, and against the general path's parse_int.
    let mut lines: Vec<String> = Vec::new();
    for digits in 1..=20 {
        let n = "9876543210987654321098".get(..digits).unwrap().to_string();
        lines.push(n.clone());
        lines.push(format!("-{n}"));
        lines.push(format!("+{n}"));
        lines.push(format!("0{n}"));
    }
    lines.extend(
        [
            "0", "-0", "00000000", "1234567", "-1234567", "12345678", "9999999",
        ]
        .map(String::from),
    );
    let follow = b"+OK\r\n:1\r\n$3\r\nabc\r\n";
    for line in &lines {
        let wire = format!(":{line}\r\n");
        let expected = parse_int(line.as_bytes());
        for extra in 0..=follow.len() {
            let mut input = wire.as_bytes().to_vec();
            input.extend_from_slice(&follow[..extra]);
            let mut d = Decoder::default();
            match (d.decode(&input), expected) {
                (Ok((n, Some(reply))), Some(v)) => {
                    assert_eq!(n, wire.len(), "{line:?} + {extra}");
                    assert_eq!(reply.value().as_integer(), Some(v), "{line:?} + {extra}");
                    assert_eq!(reply.heap_size(), 0);
                }
                (Err(e), None) => assert_eq!(e.kind(), ErrorKind::Protocol, "{line:?}"),
                (other, _) => panic!("{line:?} + {extra}: {other:?}, expected {expected:?}"),
            }
        }
    }
    // A line cut short, or not ending in CRLF, is never taken for a shorter number.
    for (input, consumed) in [
        (&b":1234\r"[..], 6),
        (b":1234", 5),
        (b":-", 2),
        (b":12345\r\n", 8),
    ] {
        let (n, reply) = Decoder::default().decode(input).unwrap();
        assert_eq!(n, consumed);
        assert_eq!(reply.is_some(), input.ends_with(b"\n"));
    }
    for bad in [
        &b":1234\rx\r\n:1\r\n"[..],
        b":12 34\r\n:1\r\n",
        b":\r\n:1\r\n:1\r\n",
        b":-\r\n:1\r\n:1\r\n",
        b":12345a\r\n:1\r\n",
        b":1\n\r\n:1\r\n:1\r\n",
    ] {
        let err = Decoder::default().decode(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{}", bad.escape_ascii());
    }
}

/// Every string of a reply, checked to be followed by its NUL.
fn assert_nul_terminated(v: ValueRef<'_>) {
    if let Some(bytes) = v.as_bytes_with_nul() {
        assert_eq!(bytes.last(), Some(&0), "{:?} {}", v.kind(), bytes.len());
    }
    if let Some(attr) = v.attribute() {
        assert_nul_terminated(attr);
    }
    v.children().for_each(assert_nul_terminated);
}

#[test]
#[cfg_attr(miri, ignore = "megabytes or thousands of rounds: hours under Miri")]
fn long_strings_in_aggregates_decode_in_any_split() {
    // Strings past the mirror threshold, with every kind of sibling after them, so that a
    // mirror (the rest of an input copied at once) holds simple strings, errors, big numbers,
    // short and empty bulk strings, verbatim strings and nested aggregates in place.
    let long = |n: usize, seed: u8| -> Vec<u8> { (0..n).map(|i| (i as u8) ^ seed).collect() };
    // (A mirror starts at a long string that follows another one.)
    let value = Value::Array(vec![
        Value::Bulk(long(1100, 10)),
        Value::Bulk(long(1500, 1)),
        Value::Simple(b"hello".to_vec()),
        Value::Bulk(Vec::new()),
        Value::Error(b"ERR no".to_vec()),
        Value::Bulk(long(2048, 2)),
        Value::Verbatim(*b"txt", long(1100, 3)),
        Value::BigNumber(b"-1234567890123456789012".to_vec()),
        Value::Array(vec![
            Value::Bulk(long(1024, 4)),
            Value::Simple(b"OK".to_vec()),
            Value::Bulk(b"x".to_vec()),
        ]),
        Value::Map(vec![(Value::Bulk(long(3000, 5)), Value::Integer(-7))]),
        Value::Attributed(
            vec![(Value::Simple(b"ttl".to_vec()), Value::Bulk(long(1200, 6)))],
            Box::new(Value::Bulk(long(1300, 7))),
        ),
        Value::BlobError(long(1030, 8)),
        Value::Bulk(long(4000, 9)),
    ]);
    let mut wire = Vec::new();
    value.encode(&mut wire);
    let check = |replies: Vec<Reply>, what: &str| {
        assert_eq!(replies.len(), 2, "{what}");
        for r in &replies {
            assert_eq!(r.to_value(), value, "{what}");
            assert_nul_terminated(r.value());
            // The mirror never takes more than the reply's own bytes and the room reserved.
            assert!(r.heap_size() <= 2 * wire.len(), "{what}: {}", r.heap_size());
        }
    };
    // Two in a row, so that a mirror may reach into the next reply's bytes.
    let mut two = wire.clone();
    two.extend_from_slice(&wire);
    check(decode_chunks(&mut Decoder::default(), &[&two]), "whole");
    for at in 0..=two.len() {
        let replies = decode_chunks(&mut Decoder::default(), &[&two[..at], &two[at..]]);
        check(replies, &format!("split at {at}"));
    }
    for size in [1, 2, 3, 7, 64, 1000, 1023, 1024, 1025, 4096, 65536] {
        let chunks: Vec<&[u8]> = two.chunks(size).collect();
        check(
            decode_chunks(&mut Decoder::default(), &chunks),
            &format!("chunks of {size}"),
        );
    }
    let mut rng = Lcg(11);
    for round in 0..200 {
        let mut chunks = Vec::new();
        let mut rest = &two[..];
        while !rest.is_empty() {
            let n = (1 + rng.next() as usize % 3000).min(rest.len());
            chunks.push(&rest[..n]);
            rest = &rest[n..];
        }
        check(
            decode_chunks(&mut Decoder::default(), &chunks),
            &format!("random {round}"),
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "megabytes or thousands of rounds: hours under Miri")]
fn a_mirror_wastes_a_bounded_share_of_the_reply() {
    // MGET-like replies (one or two long values among nils), many in one input: what a
    // mirror copies beyond what the parser uses must stay a small multiple of the long
    // strings really received, whatever room was reserved for the siblings.
    let long = vec![b'v'; 1024];
    for longs in [1, 2] {
        let mut one = Vec::new();
        let mut items = vec![Value::Bulk(long.clone()); longs];
        items.resize(40, Value::Null);
        Value::Array(items).encode(&mut one);
        let wire = one.repeat(200);
        for chunk in [wire.len(), 64 * 1024] {
            let chunks: Vec<&[u8]> = wire.chunks(chunk).collect();
            let replies = decode_chunks(&mut Decoder::default(), &chunks);
            assert_eq!(replies.len(), 200);
            let written: usize = replies.iter().map(|r| r.data.len()).sum();
            let strings = 200 * longs * (long.len() + 1);
            let bound = if longs == 1 { strings } else { 3 * strings };
            assert!(
                written <= bound,
                "{longs} long: {written} bytes written for {strings} of strings"
            );
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "megabytes or thousands of rounds: hours under Miri")]
fn long_strings_are_copied_once_per_input() {
    // An array of 16 KiB strings read 64 KiB at a time: one buffer, reserved once (with room
    // for the header lines the mirror keeps), never regrown.
    let n = 64;
    let payload: Vec<u8> = (0..16384).map(|i| i as u8).collect();
    let mut wire = format!("*{n}\r\n").into_bytes();
    for _ in 0..n {
        wire.extend_from_slice(b"$16384\r\n");
        wire.extend_from_slice(&payload);
        wire.extend_from_slice(b"\r\n");
    }
    let mut d = Decoder::default();
    let chunks: Vec<&[u8]> = wire.chunks(64 * 1024).collect();
    let replies = decode_chunks(&mut d, &chunks);
    let reply = &replies[0];
    assert_eq!(reply.value().len(), n);
    assert!(reply
        .value()
        .children()
        .all(|c| c.as_bytes() == Some(&payload[..])));
    assert_nul_terminated(reply.value());
    let per_string = 16384 + 1 + "16384".len() + 4;
    assert_eq!(
        reply.data.capacity(),
        n * per_string,
        "one reservation, no regrowth"
    );
}

/// Writes the wire examples and the malformed inputs as fuzzing seeds when
/// `REDCORE_FUZZ_SEEDS` names a directory (`make fuzz` does): one file per example in
/// `decoder/`, `c_reader/` and `hiredis_reader/`, each behind the control bytes its target
/// reads first (default limits, no particular split).
#[test]
fn write_fuzz_seeds() {
    let Some(dir) = std::env::var_os("REDCORE_FUZZ_SEEDS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let mut wires: Vec<(String, Vec<u8>)> = examples()
        .into_iter()
        .map(|(name, wire, _)| (name.to_string(), wire.as_bytes().to_vec()))
        .collect();
    wires.extend(
        malformed()
            .into_iter()
            .map(|(name, wire, _, _)| (format!("malformed {name}"), wire.to_vec())),
    );
    for (target, control) in [
        ("decoder", &[0u8, 0, 0, 0][..]),
        ("c_reader", &[0, 0]),
        ("hiredis_reader", &[0]),
    ] {
        let target_dir = dir.join(target);
        std::fs::create_dir_all(&target_dir).expect("create the seed dir");
        for (name, wire) in &wires {
            let file: String = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let mut seed = control.to_vec();
            seed.extend_from_slice(wire);
            std::fs::write(target_dir.join(file), seed).expect("write a seed");
        }
    }
}
