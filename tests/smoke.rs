//! Smoke test of the protocol core against a real `redis-server`: commands encoded by
//! `encode_command` go out over a plain std socket (TCP, and once a Unix socket) and the
//! replies come back through `Decoder`. Every socket has a 1 s read timeout, so a decoder that
//! waits for bytes that never come fails the test instead of hanging it.

mod support;

use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use redcore::resp::{encode_command, Value};
use support::{RedisServer, RespConn};

const READ_TIMEOUT: Duration = Duration::from_secs(1);

fn tcp(server: &RedisServer) -> RespConn<TcpStream> {
    let stream = TcpStream::connect(server.addr()).expect("connect");
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
    RespConn::new(stream)
}

fn call<S: std::io::Read + std::io::Write, A: AsRef<[u8]>>(
    conn: &mut RespConn<S>,
    args: &[A],
) -> Value {
    conn.command(args).expect("command round trip")
}

fn ok() -> Value {
    Value::simple("OK")
}

#[test]
fn ping_and_binary_safe_strings() {
    let server = RedisServer::start();
    let mut conn = tcp(&server);
    assert_eq!(call(&mut conn, &["PING"]), Value::simple("PONG"));
    assert_eq!(
        call(&mut conn, &["PING", "hello world"]),
        Value::bulk("hello world")
    );

    let key: &[u8] = b"bin\r\nkey\0";
    let value: &[u8] = b"\r\n\0$5\r\n*1\r\n+OK\r\n\0\xff\r";
    assert_eq!(call(&mut conn, &[b"SET" as &[u8], key, value]), ok());
    assert_eq!(call(&mut conn, &[b"GET" as &[u8], key]), Value::bulk(value));
    assert_eq!(
        call(&mut conn, &[b"STRLEN" as &[u8], key]),
        Value::Integer(value.len() as i64)
    );

    assert_eq!(call(&mut conn, &["SET", "empty", ""]), ok());
    assert_eq!(call(&mut conn, &["GET", "empty"]), Value::bulk(""));
    assert_eq!(call(&mut conn, &["GET", "no-such-key"]), Value::Null);
}

#[test]
fn one_mebibyte_value() {
    let server = RedisServer::start();
    let mut conn = tcp(&server);
    // Every byte value, CR and LF included, in a pattern that does not repeat every 256 bytes.
    let value: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(value.contains(&b'\r') && value.contains(&b'\n') && value.contains(&0));
    assert_eq!(call(&mut conn, &[b"SET" as &[u8], b"big", &value]), ok());
    assert_eq!(
        call(&mut conn, &["STRLEN", "big"]),
        Value::Integer(1024 * 1024)
    );
    match call(&mut conn, &["GET", "big"]) {
        Value::Bulk(got) => assert!(got == value, "1 MiB value came back different"),
        other => panic!(
            "GET big: expected a bulk string, got a {}",
            kind_name(&other)
        ),
    }
}

#[test]
fn integers_and_deletion() {
    let server = RedisServer::start();
    let mut conn = tcp(&server);
    assert_eq!(call(&mut conn, &["INCR", "counter"]), Value::Integer(1));
    assert_eq!(
        call(&mut conn, &["INCRBY", "counter", "41"]),
        Value::Integer(42)
    );
    assert_eq!(
        call(&mut conn, &["DECRBY", "counter", "9223372036854775807"]),
        Value::Integer(42 - i64::MAX)
    );
    assert_eq!(
        call(&mut conn, &["DEL", "counter", "absent"]),
        Value::Integer(1)
    );
    assert_eq!(call(&mut conn, &["GET", "counter"]), Value::Null);
    assert_eq!(call(&mut conn, &["DEL", "counter"]), Value::Integer(0));
}

#[test]
fn lists_come_back_as_arrays() {
    let server = RedisServer::start();
    let mut conn = tcp(&server);
    assert_eq!(
        call(&mut conn, &["LPUSH", "list", "a", "b\r\n", "c"]),
        Value::Integer(3)
    );
    assert_eq!(
        call(&mut conn, &["LRANGE", "list", "0", "-1"]),
        Value::Array(vec![
            Value::bulk("c"),
            Value::bulk("b\r\n"),
            Value::bulk("a")
        ])
    );
    assert_eq!(
        call(&mut conn, &["LRANGE", "missing", "0", "-1"]),
        Value::Array(vec![])
    );
}

#[test]
fn unknown_command_is_an_error_reply() {
    let server = RedisServer::start();
    let mut conn = tcp(&server);
    match call(&mut conn, &["NO-SUCH-COMMAND", "x"]) {
        Value::Error(text) => assert!(
            text.starts_with(b"ERR unknown command"),
            "unexpected error text {:?}",
            String::from_utf8_lossy(&text)
        ),
        other => panic!("expected an error reply, got {other:?}"),
    }
    // The connection is still in step after an error.
    assert_eq!(call(&mut conn, &["PING"]), Value::simple("PONG"));
}

#[test]
fn pipeline_of_a_thousand_commands_in_one_write() {
    let server = RedisServer::start();
    let mut conn = tcp(&server);
    let mut frames = Vec::new();
    for i in 0..1000 {
        if i % 2 == 0 {
            encode_command(&mut frames, &["RPUSH", "pipeline", &i.to_string()]);
        } else {
            encode_command(&mut frames, &["ECHO", &format!("reply-{i}")]);
        }
    }
    conn.send_raw(&frames).expect("write the pipeline");
    for i in 0..1000 {
        let expected = if i % 2 == 0 {
            Value::Integer(i / 2 + 1)
        } else {
            Value::bulk(format!("reply-{i}"))
        };
        let got = conn.read_reply().expect("pipelined reply");
        assert_eq!(got, expected, "reply #{i} out of order or wrong");
    }
    assert_eq!(call(&mut conn, &["LLEN", "pipeline"]), Value::Integer(500));
    assert_eq!(
        call(&mut conn, &["LINDEX", "pipeline", "-1"]),
        Value::bulk("998")
    );
}

#[test]
fn hello_3_switches_to_resp3_maps() {
    let server = RedisServer::start();
    let mut conn = tcp(&server);
    assert_eq!(
        call(&mut conn, &["HSET", "hash", "f1", "v1", "f2", "v\r\n2"]),
        Value::Integer(2)
    );
    let pairs = || {
        vec![
            (Value::bulk("f1"), Value::bulk("v1")),
            (Value::bulk("f2"), Value::bulk("v\r\n2")),
        ]
    };
    // RESP2: a flat array of fields and values.
    match call(&mut conn, &["HGETALL", "hash"]) {
        Value::Array(items) => {
            let mut got: Vec<(Value, Value)> = items
                .chunks(2)
                .map(|kv| (kv[0].clone(), kv[1].clone()))
                .collect();
            sort_pairs(&mut got);
            assert_eq!(got, pairs());
        }
        other => panic!("RESP2 HGETALL: expected an array, got {other:?}"),
    }

    match call(&mut conn, &["HELLO", "3"]) {
        Value::Map(info) => {
            let field = |name: &str| {
                info.iter()
                    .find(|(k, _)| *k == Value::bulk(name))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| panic!("HELLO reply has no {name:?}: {info:?}"))
            };
            assert_eq!(field("proto"), Value::Integer(3));
            assert_eq!(field("server"), Value::bulk("redis"));
            assert_eq!(field("role"), Value::bulk("master"));
        }
        other => panic!("HELLO 3: expected a map, got {other:?}"),
    }

    match call(&mut conn, &["HGETALL", "hash"]) {
        Value::Map(mut got) => {
            sort_pairs(&mut got);
            assert_eq!(got, pairs());
        }
        other => panic!("RESP3 HGETALL: expected a map, got {other:?}"),
    }
    assert_eq!(call(&mut conn, &["HGET", "hash", "none"]), Value::Null);
}

#[test]
#[allow(clippy::approx_constant)] // the server's `3.141` below is its literal, not a stand-in for π
fn debug_protocol_yields_every_resp3_type() {
    let server = RedisServer::start();
    let mut conn = tcp(&server);
    assert!(matches!(call(&mut conn, &["HELLO", "3"]), Value::Map(_)));

    let ints = |n: i64| (0..n).map(Value::Integer).collect::<Vec<_>>();
    let cases: Vec<(&str, Value)> = vec![
        ("string", Value::bulk("Hello World")),
        ("integer", Value::Integer(12345)),
        ("double", Value::Double(3.141)),
        (
            "bignum",
            Value::BigNumber(b"1234567999999999999999999999999999999".to_vec()),
        ),
        ("null", Value::Null),
        ("array", Value::Array(ints(3))),
        ("set", Value::Set(ints(3))),
        (
            "map",
            Value::Map(vec![
                (Value::Integer(0), Value::Boolean(false)),
                (Value::Integer(1), Value::Boolean(true)),
                (Value::Integer(2), Value::Boolean(false)),
            ]),
        ),
        (
            "attrib",
            Value::Attributed(
                vec![(
                    Value::bulk("key-popularity"),
                    Value::Array(vec![Value::bulk("key:123"), Value::Integer(90)]),
                )],
                Box::new(Value::bulk("Some real reply following the attribute")),
            ),
        ),
        (
            "push",
            Value::Push(vec![Value::bulk("server-cpu-usage"), Value::Integer(42)]),
        ),
        (
            "verbatim",
            Value::Verbatim(*b"txt", b"This is a verbatim\nstring".to_vec()),
        ),
        ("true", Value::Boolean(true)),
        ("false", Value::Boolean(false)),
    ];

    let mut checked = 0;
    for (name, expected) in cases {
        let got = call(&mut conn, &["DEBUG", "PROTOCOL", name]);
        if let Value::Error(text) = &got {
            // Older servers lack some types; anything else is a real failure.
            assert!(
                text.starts_with(b"ERR Wrong protocol type name"),
                "DEBUG PROTOCOL {name}: {:?}",
                String::from_utf8_lossy(text)
            );
            eprintln!("DEBUG PROTOCOL {name}: not supported by this server, skipped");
            continue;
        }
        assert_eq!(
            kind_name(&got),
            kind_name(&expected),
            "DEBUG PROTOCOL {name}: {got:?}"
        );
        assert_eq!(got, expected, "DEBUG PROTOCOL {name}");
        if name == "push" {
            // The push comes out of band, ahead of the command's own reply.
            assert_eq!(
                conn.read_reply().expect("reply after the push"),
                Value::bulk("Some real reply following the push reply")
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} RESP3 types could be checked");
    assert_eq!(call(&mut conn, &["PING"]), Value::simple("PONG"));
}

#[test]
fn unix_socket_round_trip() {
    let server = RedisServer::builder().unix_socket(true).start();
    let stream = UnixStream::connect(server.unix_path()).expect("connect to the unix socket");
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut conn = RespConn::new(stream);
    assert_eq!(call(&mut conn, &["PING"]), Value::simple("PONG"));
    let value: &[u8] = b"over\r\nunix\0";
    assert_eq!(call(&mut conn, &[b"SET" as &[u8], b"k", value]), ok());
    assert_eq!(call(&mut conn, &["GET", "k"]), Value::bulk(value));
    // Same server, other transport.
    assert_eq!(server.cmd(&["GET", "k"]), Value::bulk(value));
}

fn sort_pairs(pairs: &mut [(Value, Value)]) {
    pairs.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Simple(_) => "simple",
        Value::Error(_) => "error",
        Value::Integer(_) => "integer",
        Value::Bulk(_) => "bulk",
        Value::Null => "null",
        Value::Array(_) => "array",
        Value::Double(_) => "double",
        Value::Boolean(_) => "boolean",
        Value::BigNumber(_) => "big number",
        Value::Verbatim(..) => "verbatim",
        Value::Map(_) => "map",
        Value::Set(_) => "set",
        Value::Push(_) => "push",
        Value::BlobError(_) => "blob error",
        Value::Attributed(..) => "attributed",
    }
}
