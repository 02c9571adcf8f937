//! The handshake against scripted servers: for each case, the exact bytes sent in each round
//! trip, the server's canned reply bytes (decoded with `resp::Decoder`), and the outcome or
//! error. Then the edges of the driving contract, and a check that no error text ever holds
//! the password.

use super::handshake::{Handshake, HandshakeParams, Outcome, Progress};
use crate::error::{Error, ErrorKind};
use crate::resp::{Decoder, Kind, Reply};

/// One round trip: what the client must send, and what the server answers.
struct Round {
    sends: String,
    replies: String,
}

fn round(sends: &str, replies: &str) -> Round {
    Round {
        sends: sends.to_string(),
        replies: replies.to_string(),
    }
}

/// What a case must end with.
enum Expect {
    Done {
        protocol: u8,
        /// The server name and version from HELLO.
        server: Option<(&'static str, &'static str)>,
    },
    Fail(ErrorKind, &'static str),
}

struct Case {
    name: &'static str,
    params: HandshakeParams,
    rounds: Vec<Round>,
    expect: Expect,
}

fn decode_all(decoder: &mut Decoder, mut bytes: &[u8]) -> Vec<Reply> {
    let mut replies = Vec::new();
    while !bytes.is_empty() {
        let (n, reply) = decoder.decode(bytes).expect("canned replies decode");
        replies.push(reply.expect("canned replies are complete"));
        bytes = &bytes[n..];
    }
    replies
}

fn shown(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Runs a handshake against the scripted rounds, checking every byte sent and every reply
/// count, and returns how it ended. Replies after a failure are not fed (the reactor closes
/// the connection).
fn run(name: &str, params: HandshakeParams, rounds: &[Round]) -> Result<Outcome, Error> {
    let mut handshake = Handshake::new(params);
    let mut decoder = Decoder::default();
    for (i, round) in rounds.iter().enumerate() {
        let last_round = i + 1 == rounds.len();
        let mut out = Vec::new();
        let expected = handshake.poll_transmit(&mut out);
        assert_eq!(
            shown(&out),
            shown(round.sends.as_bytes()),
            "{name}: bytes of round {i}"
        );
        assert_eq!(
            handshake.poll_transmit(&mut out),
            0,
            "{name}: round {i} sent twice"
        );
        assert_eq!(out.len(), round.sends.len(), "{name}: round {i} grew");
        let replies = decode_all(&mut decoder, round.replies.as_bytes());
        let answers = replies.iter().filter(|r| r.kind() != Kind::Push).count();
        assert_eq!(answers, expected, "{name}: replies due in round {i}");
        for (j, reply) in replies.iter().enumerate() {
            match handshake.handle_reply(reply) {
                Ok(Progress::NeedMore) => {
                    assert!(
                        !(last_round && j + 1 == replies.len()),
                        "{name}: not done after the last reply"
                    );
                }
                Ok(Progress::Done(outcome)) => {
                    assert!(
                        last_round && j + 1 == replies.len(),
                        "{name}: done early, at reply {j} of round {i}"
                    );
                    assert_eq!(
                        handshake.poll_transmit(&mut out),
                        0,
                        "{name}: sends after done"
                    );
                    assert_eq!(handshake.poll_outcome(), None, "{name}: outcome twice");
                    return Ok(outcome);
                }
                Err(err) => {
                    assert!(last_round, "{name}: failed in round {i}: {err}");
                    let again = handshake.handle_reply(reply).expect_err("sticky");
                    assert_eq!(again, err, "{name}: the error is sticky");
                    assert_eq!(
                        handshake.poll_transmit(&mut out),
                        0,
                        "{name}: sends after failure"
                    );
                    return Err(err);
                }
            }
        }
        assert!(!last_round, "{name}: the script ended before the handshake");
    }
    panic!("{name}: the script has no rounds; use poll_outcome");
}

const LIB: (&str, &str) = ("redcore", "0.1.0");

fn params(protocol: u8) -> HandshakeParams {
    HandshakeParams {
        protocol,
        ..HandshakeParams::default()
    }
}

fn with_lib(mut p: HandshakeParams) -> HandshakeParams {
    p.lib_name = Some(LIB.0.into());
    p.lib_version = Some(LIB.1.into());
    p
}

fn with_auth(mut p: HandshakeParams, user: Option<&str>, password: &str) -> HandshakeParams {
    p.username = user.map(Into::into);
    p.password = Some(password.into());
    p
}

/// A Redis 7.2 answer to HELLO 3.
const HELLO_MAP: &str = concat!(
    "%7\r\n",
    "$6\r\nserver\r\n$5\r\nredis\r\n",
    "$7\r\nversion\r\n$5\r\n7.2.4\r\n",
    "$5\r\nproto\r\n:3\r\n",
    "$2\r\nid\r\n:5\r\n",
    "$4\r\nmode\r\n$10\r\nstandalone\r\n",
    "$4\r\nrole\r\n$6\r\nmaster\r\n",
    "$7\r\nmodules\r\n*0\r\n",
);

const HELLO_3: &str = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";

const SETINFO: &str = concat!(
    "*4\r\n$6\r\nCLIENT\r\n$7\r\nSETINFO\r\n$8\r\nLIB-NAME\r\n$7\r\nredcore\r\n",
    "*4\r\n$6\r\nCLIENT\r\n$7\r\nSETINFO\r\n$7\r\nLIB-VER\r\n$5\r\n0.1.0\r\n",
);

const REDIS_7_2: Option<(&str, &str)> = Some(("redis", "7.2.4"));

fn cases() -> Vec<Case> {
    let mut all = Vec::new();
    let mut case = |name, params, rounds, expect| {
        all.push(Case {
            name,
            params,
            rounds,
            expect,
        })
    };

    case(
        "RESP3 without credentials",
        with_lib(params(3)),
        vec![round(HELLO_3, HELLO_MAP), round(SETINFO, "+OK\r\n+OK\r\n")],
        Expect::Done {
            protocol: 3,
            server: REDIS_7_2,
        },
    );

    case(
        "RESP3 with nothing after HELLO",
        params(3),
        vec![round(HELLO_3, HELLO_MAP)],
        Expect::Done {
            protocol: 3,
            server: REDIS_7_2,
        },
    );

    let mut p = with_auth(with_lib(params(3)), Some("alice"), "s3cret");
    p.client_name = Some("app".into());
    p.db = 2;
    case(
        "RESP3 with user, password, name and database",
        p,
        vec![
            round(
                concat!(
                    "*7\r\n$5\r\nHELLO\r\n$1\r\n3\r\n",
                    "$4\r\nAUTH\r\n$5\r\nalice\r\n$6\r\ns3cret\r\n",
                    "$7\r\nSETNAME\r\n$3\r\napp\r\n",
                ),
                HELLO_MAP,
            ),
            round(
                &format!("{SETINFO}*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n"),
                "+OK\r\n+OK\r\n+OK\r\n",
            ),
        ],
        Expect::Done {
            protocol: 3,
            server: REDIS_7_2,
        },
    );

    case(
        "RESP3 with a password only authenticates as default",
        with_auth(params(3), None, "s3cret"),
        vec![round(
            "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$6\r\ns3cret\r\n",
            HELLO_MAP,
        )],
        Expect::Done {
            protocol: 3,
            server: REDIS_7_2,
        },
    );

    let mut p = with_auth(with_lib(params(3)), None, "s3cret");
    p.client_name = Some("app".into());
    case(
        "RESP3 against Redis 5: unknown HELLO, AUTH, then SETNAME; SETINFO unknown",
        p,
        vec![
            round(
                concat!(
                    "*7\r\n$5\r\nHELLO\r\n$1\r\n3\r\n",
                    "$4\r\nAUTH\r\n$7\r\ndefault\r\n$6\r\ns3cret\r\n",
                    "$7\r\nSETNAME\r\n$3\r\napp\r\n",
                ),
                "-ERR unknown command `HELLO`, with args beginning with: `3`, `AUTH`, `default`, `s3cret`, `SETNAME`, `app`, \r\n",
            ),
            round("*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n", "+OK\r\n"),
            round(
                &format!("*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$3\r\napp\r\n{SETINFO}"),
                concat!(
                    "+OK\r\n",
                    "-ERR Unknown subcommand or wrong number of arguments for 'SETINFO'. Try CLIENT HELP\r\n",
                    "-ERR Unknown subcommand or wrong number of arguments for 'SETINFO'. Try CLIENT HELP\r\n",
                ),
            ),
        ],
        Expect::Done {
            protocol: 2,
            server: None,
        },
    );

    case(
        "RESP3 against a pre-6 server without credentials: straight to the settings",
        with_lib(params(3)),
        vec![
            round(HELLO_3, "-ERR Unknown Command 'hello'\r\n"),
            round(
                SETINFO,
                "-ERR unknown subcommand\r\n-ERR unknown subcommand\r\n",
            ),
        ],
        Expect::Done {
            protocol: 2,
            server: None,
        },
    );

    case(
        "RESP3 refused with NOPROTO falls back to RESP2 and AUTH",
        with_auth(params(3), Some("alice"), "s3cret"),
        vec![
            round(
                "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$6\r\ns3cret\r\n",
                "-NOPROTO unsupported protocol version\r\n",
            ),
            round(
                "*3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$6\r\ns3cret\r\n",
                "+OK\r\n",
            ),
        ],
        Expect::Done {
            protocol: 2,
            server: None,
        },
    );

    let mut p = with_auth(params(3), Some("alice"), "s3cret");
    p.require_resp3 = true;
    case(
        "RESP3 required: NOPROTO fails instead of falling back",
        p,
        vec![round(
            "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$6\r\ns3cret\r\n",
            "-NOPROTO unsupported protocol version\r\n",
        )],
        Expect::Fail(
            ErrorKind::Response,
            "the server does not speak RESP3 (HELLO 3: NOPROTO unsupported protocol version), \
             and client-side caching needs it: invalidations come only as RESP3 pushes; turn \
             the cache off for this server",
        ),
    );
    let mut p = params(3);
    p.require_resp3 = true;
    case(
        "RESP3 required: an unknown HELLO fails too",
        p,
        vec![round(HELLO_3, "-ERR unknown command 'HELLO'\r\n")],
        Expect::Fail(
            ErrorKind::Response,
            "the server does not speak RESP3 (HELLO 3: ERR unknown command 'HELLO'), and \
             client-side caching needs it: invalidations come only as RESP3 pushes; turn the \
             cache off for this server",
        ),
    );

    let mut p = with_auth(params(2), Some("alice"), "s3cret");
    p.db = 3;
    case(
        "RESP2 with a user against a pre-6 server: AUTH pass after the arity error",
        p,
        vec![
            round(
                "*3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$6\r\ns3cret\r\n",
                "-ERR wrong number of arguments for 'auth' command\r\n",
            ),
            round("*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n", "+OK\r\n"),
            round("*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n", "+OK\r\n"),
        ],
        Expect::Done {
            protocol: 2,
            server: None,
        },
    );

    case(
        "RESP2 with a password only, nothing else",
        with_auth(params(2), None, "s3cret"),
        vec![round("*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n", "+OK\r\n")],
        Expect::Done {
            protocol: 2,
            server: None,
        },
    );

    let mut p = with_lib(params(2));
    p.client_name = Some("app".into());
    case(
        "RESP2 without credentials: one pipelined round",
        p,
        vec![round(
            &format!("*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$3\r\napp\r\n{SETINFO}"),
            "+OK\r\n+OK\r\n+OK\r\n",
        )],
        Expect::Done {
            protocol: 2,
            server: None,
        },
    );

    case(
        "RESP3 WRONGPASS",
        with_auth(params(3), Some("alice"), "nope"),
        vec![round(
            "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$4\r\nnope\r\n",
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        )],
        Expect::Fail(
            ErrorKind::Authentication,
            "WRONGPASS invalid username-password pair or user is disabled.",
        ),
    );

    case(
        "RESP2 WRONGPASS",
        with_auth(params(2), None, "nope"),
        vec![round(
            "*2\r\n$4\r\nAUTH\r\n$4\r\nnope\r\n",
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        )],
        Expect::Fail(
            ErrorKind::Authentication,
            "WRONGPASS invalid username-password pair or user is disabled.",
        ),
    );

    case(
        "RESP2 against Redis 5 with a wrong password",
        with_auth(params(2), None, "nope"),
        vec![round(
            "*2\r\n$4\r\nAUTH\r\n$4\r\nnope\r\n",
            "-ERR invalid password\r\n",
        )],
        Expect::Fail(ErrorKind::Authentication, "ERR invalid password"),
    );

    case(
        "RESP2 arity error without a user is not retried",
        with_auth(params(2), None, "pw"),
        vec![round(
            "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n",
            "-ERR wrong number of arguments for 'auth' command\r\n",
        )],
        Expect::Fail(
            ErrorKind::AuthWrongNumberOfArgs,
            "ERR wrong number of arguments for 'auth' command",
        ),
    );

    case(
        "RESP3 NOAUTH without a password",
        params(3),
        vec![round(
            HELLO_3,
            "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n",
        )],
        Expect::Fail(
            ErrorKind::Authentication,
            "the server requires a password and none is configured (server said: NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time)",
        ),
    );

    let mut p = with_lib(params(2));
    p.client_name = Some("app".into());
    case(
        "RESP2 NOAUTH on the settings round",
        p,
        vec![round(
            &format!("*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$3\r\napp\r\n{SETINFO}"),
            "-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n",
        )],
        Expect::Fail(
            ErrorKind::Authentication,
            "the server requires a password and none is configured (server said: NOAUTH Authentication required.)",
        ),
    );

    case(
        "RESP2 NOAUTH on SETINFO is not ignored",
        with_lib(params(2)),
        vec![round(
            SETINFO,
            "-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n",
        )],
        Expect::Fail(
            ErrorKind::Authentication,
            "the server requires a password and none is configured (server said: NOAUTH Authentication required.)",
        ),
    );

    let mut p = params(3);
    p.db = 99;
    p.extra = vec![vec![b"READONLY".to_vec()]];
    case(
        "SELECT failure",
        p,
        vec![
            round(HELLO_3, HELLO_MAP),
            round(
                "*2\r\n$6\r\nSELECT\r\n$2\r\n99\r\n*1\r\n$8\r\nREADONLY\r\n",
                "-ERR DB index is out of range\r\n+OK\r\n",
            ),
        ],
        Expect::Fail(
            ErrorKind::Response,
            "cannot select database 99: ERR DB index is out of range",
        ),
    );

    let mut p = with_lib(params(3));
    p.client_name = Some("bad name".into());
    case(
        "HELLO refusing the client name",
        p,
        vec![round(
            "*4\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$7\r\nSETNAME\r\n$8\r\nbad name\r\n",
            "-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
        )],
        Expect::Fail(
            ErrorKind::Response,
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ),
    );

    let mut p = params(2);
    p.client_name = Some("bad name".into());
    case(
        "CLIENT SETNAME failure",
        p,
        vec![round(
            "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$8\r\nbad name\r\n",
            "-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
        )],
        Expect::Fail(
            ErrorKind::Response,
            "cannot set the client name: ERR Client names cannot contain spaces, newlines or special characters.",
        ),
    );

    let mut p = with_lib(params(3));
    p.db = 1;
    case(
        "SETINFO failures are ignored (Redis 7.0)",
        p,
        vec![
            round(HELLO_3, HELLO_MAP),
            round(
                &format!("{SETINFO}*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n"),
                concat!(
                    "-ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.\r\n",
                    "-NOPERM User app has no permissions to run the 'client|setinfo' command\r\n",
                    "+OK\r\n",
                ),
            ),
        ],
        Expect::Done {
            protocol: 3,
            server: REDIS_7_2,
        },
    );

    let mut p = params(3);
    p.lib_name = Some("red core".into());
    p.lib_version = Some("1.0\n".into());
    case(
        "library info the server would reject is not sent",
        p,
        vec![round(HELLO_3, HELLO_MAP)],
        Expect::Done {
            protocol: 3,
            server: REDIS_7_2,
        },
    );

    let mut p = params(3);
    p.lib_name = Some("redcore(app_v2)".into());
    case(
        "a library name alone",
        p,
        vec![
            round(HELLO_3, HELLO_MAP),
            round(
                "*4\r\n$6\r\nCLIENT\r\n$7\r\nSETINFO\r\n$8\r\nLIB-NAME\r\n$15\r\nredcore(app_v2)\r\n",
                "+OK\r\n",
            ),
        ],
        Expect::Done {
            protocol: 3,
            server: REDIS_7_2,
        },
    );

    let mut p = params(3);
    p.extra = vec![
        vec![b"READONLY".to_vec()],
        vec![],
        vec![b"CLIENT".to_vec(), b"TRACKING".to_vec(), b"ON".to_vec()],
    ];
    case(
        "extra commands run last; empty ones are skipped",
        p.clone(),
        vec![
            round(HELLO_3, HELLO_MAP),
            round(
                "*1\r\n$8\r\nREADONLY\r\n*3\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\nON\r\n",
                "+OK\r\n+OK\r\n",
            ),
        ],
        Expect::Done {
            protocol: 3,
            server: REDIS_7_2,
        },
    );

    case(
        "extra command failure",
        p,
        vec![
            round(HELLO_3, HELLO_MAP),
            round(
                "*1\r\n$8\r\nREADONLY\r\n*3\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\nON\r\n",
                "+OK\r\n-ERR Prefix 'x' overlaps with an existing prefix\r\n",
            ),
        ],
        Expect::Fail(
            ErrorKind::Response,
            "handshake command CLIENT TRACKING failed: ERR Prefix 'x' overlaps with an existing prefix",
        ),
    );

    let mut p = params(3);
    p.extra = vec![vec![
        b"CLIENT".to_vec(),
        b"TRACKING".to_vec(),
        b"ON".to_vec(),
    ]];
    p.db = 4;
    case(
        "push replies are ignored wherever they come",
        p,
        vec![
            round(
                HELLO_3,
                &format!(">2\r\n$10\r\ninvalidate\r\n_\r\n{HELLO_MAP}"),
            ),
            round(
                "*2\r\n$6\r\nSELECT\r\n$1\r\n4\r\n*3\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\nON\r\n",
                concat!(
                    "+OK\r\n",
                    ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
                    "+OK\r\n",
                ),
            ),
        ],
        Expect::Done {
            protocol: 3,
            server: REDIS_7_2,
        },
    );

    let mut p = params(3);
    p.require_master = true;
    case(
        "ROLE is asked last and a master passes",
        p.clone(),
        vec![
            round(HELLO_3, HELLO_MAP),
            round("*1\r\n$4\r\nROLE\r\n", "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"),
        ],
        Expect::Done {
            protocol: 3,
            server: REDIS_7_2,
        },
    );
    case(
        "a replica fails the handshake of a connection to the master",
        p.clone(),
        vec![
            round(HELLO_3, HELLO_MAP),
            round(
                "*1\r\n$4\r\nROLE\r\n",
                "*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n$9\r\nconnected\r\n:14\r\n",
            ),
        ],
        Expect::Fail(
            ErrorKind::Connection,
            "the server is not a master (ROLE says it is a replica of 127.0.0.1:6379): it is \
             not written to",
        ),
    );
    case(
        "a sentinel is not a master either",
        p.clone(),
        vec![
            round(HELLO_3, HELLO_MAP),
            round("*1\r\n$4\r\nROLE\r\n", "*2\r\n$8\r\nsentinel\r\n*0\r\n"),
        ],
        Expect::Fail(
            ErrorKind::Connection,
            "the server is not a master (ROLE says it is a sentinel): it is not written to",
        ),
    );
    case(
        "ROLE refused",
        p,
        vec![
            round(HELLO_3, HELLO_MAP),
            round(
                "*1\r\n$4\r\nROLE\r\n",
                "-NOPERM this user has no permissions to run the 'role' command\r\n",
            ),
        ],
        Expect::Fail(
            ErrorKind::NoPermission,
            "cannot check the server's role: NOPERM this user has no permissions to run the \
             'role' command",
        ),
    );

    case(
        "HELLO answered with something other than a map",
        params(3),
        vec![round(HELLO_3, "*2\r\n$6\r\nserver\r\n$5\r\nredis\r\n")],
        Expect::Fail(
            ErrorKind::Protocol,
            "HELLO answered with a reply of type Array instead of a map",
        ),
    );

    case(
        "HELLO answered with protocol 2",
        params(3),
        vec![round(HELLO_3, "%1\r\n$5\r\nproto\r\n:2\r\n")],
        Expect::Fail(ErrorKind::Protocol, "HELLO 3 answered with protocol 2"),
    );

    case(
        "AUTH answered with something other than OK",
        with_auth(params(2), None, "pw"),
        vec![round("*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n", ":1\r\n")],
        Expect::Fail(
            ErrorKind::Protocol,
            "AUTH answered with a reply of type Integer instead of OK",
        ),
    );

    case(
        "a blob error from HELLO maps like a simple one",
        with_auth(params(3), None, "pw"),
        vec![round(
            "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$2\r\npw\r\n",
            "!27\r\nLOADING Redis is loading...\r\n",
        )],
        Expect::Fail(ErrorKind::BusyLoading, "LOADING Redis is loading..."),
    );

    all
}

#[test]
fn scripted_servers() {
    for case in cases() {
        let name = case.name;
        let result = run(name, case.params, &case.rounds);
        match (result, case.expect) {
            (Ok(outcome), Expect::Done { protocol, server }) => {
                assert_eq!(outcome.protocol, protocol, "{name}: protocol");
                let got = outcome.server.as_ref().map(|s| {
                    (
                        s.name.clone().unwrap_or_default(),
                        s.version.clone().unwrap_or_default(),
                    )
                });
                let want = server.map(|(n, v)| (n.to_string(), v.to_string()));
                assert_eq!(got, want, "{name}: server");
            }
            (Err(err), Expect::Fail(kind, message)) => {
                assert_eq!(err.kind(), kind, "{name}: kind ({err})");
                assert_eq!(err.message(), message, "{name}: message");
            }
            (Ok(outcome), Expect::Fail(..)) => panic!("{name}: succeeded: {outcome:?}"),
            (Err(err), Expect::Done { .. }) => panic!("{name}: failed: {err}"),
        }
    }
}

#[test]
fn hello_fields_are_kept() {
    let outcome = run("fields", params(3), &[round(HELLO_3, HELLO_MAP)]).unwrap();
    let server = outcome.server.unwrap();
    assert_eq!(server.id, Some(5));
    assert_eq!(server.mode.as_deref(), Some("standalone"));
    assert_eq!(server.role.as_deref(), Some("master"));
    let mut wire = Vec::new();
    server.hello.encode(&mut wire);
    assert_eq!(shown(&wire), shown(HELLO_MAP.as_bytes()));
}

#[test]
fn nothing_to_do_finishes_without_a_round_trip() {
    let mut handshake = Handshake::new(params(2));
    let mut out = Vec::new();
    assert_eq!(handshake.poll_transmit(&mut out), 0);
    assert!(out.is_empty());
    let outcome = handshake.poll_outcome().expect("done at once");
    assert_eq!(
        outcome,
        Outcome {
            protocol: 2,
            server: None
        }
    );
    assert_eq!(handshake.poll_outcome(), None);
    // Any value but 3 means RESP2; extra commands that are empty do not count.
    let mut p = params(0);
    p.extra = vec![vec![]];
    p.lib_name = Some(" ".into());
    assert!(Handshake::new(p).poll_outcome().is_some());
    // Anything to send means no early outcome.
    assert_eq!(Handshake::new(params(3)).poll_outcome(), None);
}

#[test]
fn replies_out_of_turn_are_protocol_errors() {
    let reply = decode_all(&mut Decoder::default(), b"+OK\r\n").remove(0);
    // Before anything was sent.
    let mut handshake = Handshake::new(params(3));
    let err = handshake.handle_reply(&reply).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert_eq!(
        handshake.poll_transmit(&mut Vec::new()),
        0,
        "failed for good"
    );
    // After the end.
    let mut handshake = Handshake::new(with_auth(params(2), None, "pw"));
    handshake.poll_transmit(&mut Vec::new());
    assert!(matches!(
        handshake.handle_reply(&reply),
        Ok(Progress::Done(_))
    ));
    let err = handshake.handle_reply(&reply).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    // A push before anything was sent is still just ignored.
    let push = decode_all(&mut Decoder::default(), b">1\r\n+x\r\n").remove(0);
    let mut handshake = Handshake::new(params(3));
    assert_eq!(handshake.handle_reply(&push).unwrap(), Progress::NeedMore);
}

/// A password that appears nowhere else, for grepping error texts.
const SECRET: &str = "Quokka-7c1f-pa55word";

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

fn hello_auth(user: &str) -> String {
    format!(
        "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n{}{}",
        bulk(user),
        bulk(SECRET)
    )
}

fn auth(user: Option<&str>) -> String {
    match user {
        Some(u) => format!("*3\r\n$4\r\nAUTH\r\n{}{}", bulk(u), bulk(SECRET)),
        None => format!("*2\r\n$4\r\nAUTH\r\n{}", bulk(SECRET)),
    }
}

#[test]
fn no_error_text_holds_the_password() {
    let secret_params = |protocol, user: Option<&str>| {
        let mut p = with_auth(params(protocol), user, SECRET);
        p.db = 5;
        p.extra = vec![vec![b"READONLY".to_vec()]];
        p
    };
    let echo_unknown = format!(
        "-ERR unknown command `HELLO`, with args beginning with: `3`, `AUTH`, `default`, `{SECRET}`, \r\n"
    );
    let settings = "*2\r\n$6\r\nSELECT\r\n$1\r\n5\r\n*1\r\n$8\r\nREADONLY\r\n";
    let scripts: Vec<(&str, HandshakeParams, Vec<Round>)> = vec![
        (
            "WRONGPASS",
            secret_params(3, Some("alice")),
            vec![round(
                &hello_auth("alice"),
                "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
            )],
        ),
        (
            "a HELLO error echoing the password",
            secret_params(3, None),
            vec![round(
                &hello_auth("default"),
                &format!("-ERR Syntax error in HELLO option '{SECRET}'\r\n"),
            )],
        ),
        (
            "fallback, then an AUTH error echoing the password",
            secret_params(3, None),
            vec![
                round(&hello_auth("default"), &echo_unknown),
                round(
                    &auth(None),
                    &format!(
                        "-ERR unknown command 'AUTH', with args beginning with: '{SECRET}'\r\n"
                    ),
                ),
            ],
        ),
        (
            "RESP2 arity retry, then invalid password",
            secret_params(2, Some("alice")),
            vec![
                round(
                    &auth(Some("alice")),
                    "-ERR wrong number of arguments for 'auth' command\r\n",
                ),
                round(&auth(None), "-ERR invalid password\r\n"),
            ],
        ),
        (
            "HELLO with a bad shape",
            secret_params(3, None),
            vec![round(&hello_auth("default"), &format!("+{SECRET}\r\n"))],
        ),
        (
            "SELECT failure after AUTH",
            secret_params(2, None),
            vec![
                round(&auth(None), "+OK\r\n"),
                round(settings, "-ERR DB index is out of range\r\n+OK\r\n"),
            ],
        ),
        (
            "extra command failure echoing the password",
            secret_params(3, None),
            vec![
                round(&hello_auth("default"), HELLO_MAP),
                round(settings, &format!("+OK\r\n-ERR READONLY says {SECRET}\r\n")),
            ],
        ),
    ];
    let mut errors = Vec::new();
    for (name, p, rounds) in scripts {
        let shown_params = format!("{p:?}");
        assert!(!shown_params.contains(SECRET), "{name}: params Debug");
        let handshake = Handshake::new(p.clone());
        assert!(!format!("{handshake:?}").contains(SECRET), "{name}: Debug");
        let err = run(name, p, &rounds).expect_err(name);
        errors.push((name, err));
    }
    for (name, err) in &errors {
        for text in [
            err.to_string(),
            format!("{err:?}"),
            err.message().to_string(),
        ] {
            assert!(
                !text.contains(SECRET),
                "{name}: the password leaked: {text}"
            );
        }
    }
    let redacted = errors
        .iter()
        .filter(|(_, e)| e.message().contains("<redacted>"))
        .count();
    assert_eq!(redacted, 3, "the echoing servers' texts are redacted");
}
