//! One connection's handshake, sans-I/O: authentication and protocol choice (HELLO, or AUTH on
//! RESP2 and on servers older than 6.0), then the connection's settings in one pipelined round
//! trip (CLIENT SETNAME, CLIENT SETINFO, SELECT, and the caller's extra commands such as
//! READONLY or CLIENT TRACKING ON).
//!
//! The reactor drives it: it writes what `poll_transmit` appends, and feeds each reply, in
//! order, to `handle_reply` until that says `Done` or fails.
//!
//! ```text
//! let mut handshake = Handshake::new(params);
//! let outcome = loop {
//!     let expected = handshake.poll_transmit(&mut out);   // write `out`
//!     if expected == 0 {
//!         if let Some(outcome) = handshake.poll_outcome() { break outcome; } // nothing to send
//!     }
//!     // for each reply read:  match handshake.handle_reply(&reply)? { NeedMore => .., Done(o) => break o }
//! };
//! ```
//!
//! The sequence:
//! 1. RESP3: `HELLO 3 [AUTH user pass] [SETNAME name]`, alone. A server without HELLO
//!    (before 6.0: "unknown command") or without RESP3 (`NOPROTO`) makes the handshake fall
//!    back to RESP2: it sends `AUTH` when credentials are set and carries on as step 2 would.
//!    RESP2: `AUTH [user] pass`, alone, when credentials are set; a pre-6.0 server rejects the
//!    two-argument form ("wrong number of arguments"), and then `AUTH pass` is sent instead.
//! 2. One pipelined round trip: `CLIENT SETNAME` (unless HELLO carried it), `CLIENT SETINFO
//!    LIB-NAME` and `LIB-VER` (their errors are ignored: servers before 7.2 lack them),
//!    `SELECT db` when db is not 0, then the extra commands, then `ROLE` when the connection
//!    must reach a master (a sentinel client's). Any error but SETINFO's is fatal, and so is
//!    a ROLE that is not `master`.
//!
//! A handshake that requires RESP3 (a client with a cache) fails at step 1 instead of falling
//! back.
//!
//! Push replies (RESP3 `>`: an invalidation right after CLIENT TRACKING ON, say) fed before
//! the handshake ends are ignored: they answer no command, so they are not counted as
//! replies, and they are dropped because nothing is subscribed or cached yet.
//!
//! Errors are sticky: after one, every call to `handle_reply` returns it again. The password
//! never appears in an error message or in `Debug` output, even when a server echoes it back
//! (an old server's "unknown command 'HELLO', with args beginning with: ..." does).

use std::fmt;

use crate::error::{Error, ErrorKind, Result};
use crate::resp::{encode_command, Kind, Reply, Value, ValueRef};

/// What to set up on a new connection.
#[derive(Clone)]
pub struct HandshakeParams {
    /// 3 asks for RESP3 through HELLO (with a fallback to RESP2 for servers that lack it);
    /// any other value means RESP2. The config has already checked that it is 2 or 3.
    pub protocol: u8,
    /// The ACL user. With no password, `AUTH user ""` is sent (for users with `nopass`).
    pub username: Option<String>,
    /// The password. The engine passes the secret here, exposed from its `Secret` wrapper, for
    /// the length of one handshake: the handshake overwrites its copy as soon as
    /// authentication is answered (or the handshake ends), and never puts it in an error or in
    /// `Debug` output. Credentials are sent when a username or a password is set; an empty
    /// password is a password.
    pub password: Option<String>,
    /// The connection name (`CLIENT SETNAME`, or HELLO's SETNAME). The server rejects names
    /// with spaces; that error fails the handshake.
    pub client_name: Option<String>,
    /// The database to SELECT (0, the server's default, sends nothing).
    pub db: u32,
    /// `CLIENT SETINFO LIB-NAME`. Skipped unless it is printable ASCII without spaces, which
    /// is all the server accepts.
    pub lib_name: Option<String>,
    /// `CLIENT SETINFO LIB-VER`. Skipped under the same rule as `lib_name`.
    pub lib_version: Option<String>,
    /// Commands sent last, each of which must answer without an error (READONLY, CLIENT
    /// TRACKING ON ...). Empty commands are skipped: the server would not answer them.
    pub extra: Vec<Vec<Vec<u8>>>,
    /// Sends `ROLE` last and fails (CONNECTION) unless the server says it is a master: a
    /// sentinel client's connections to the master, so that a node that was demoted, or that
    /// a stale sentinel still names, is never written to.
    pub require_master: bool,
    /// RESP3 or nothing: a server that refuses HELLO 3 fails the handshake (with the reason,
    /// and the server's own error kind) instead of falling back to RESP2. A client with a
    /// cache needs it: invalidations come only as RESP3 pushes on the connection that
    /// tracks, and a RESP2 connection with tracking on would never hear of one.
    pub require_resp3: bool,
}

impl Default for HandshakeParams {
    /// RESP3, no credentials, no name, database 0, no library info, no extra commands.
    fn default() -> HandshakeParams {
        HandshakeParams {
            protocol: 3,
            username: None,
            password: None,
            client_name: None,
            db: 0,
            lib_name: None,
            lib_version: None,
            extra: Vec::new(),
            require_master: false,
            require_resp3: false,
        }
    }
}

impl fmt::Debug for HandshakeParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandshakeParams")
            .field("protocol", &self.protocol)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .field("client_name", &self.client_name)
            .field("db", &self.db)
            .field("lib_name", &self.lib_name)
            .field("lib_version", &self.lib_version)
            .field("extra", &self.extra.len())
            .field("require_master", &self.require_master)
            .field("require_resp3", &self.require_resp3)
            .finish()
    }
}

/// What the server said about itself in its HELLO reply.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerInfo {
    /// `server`: "redis", "valkey", ...
    pub name: Option<String>,
    /// `version`: "7.2.4".
    pub version: Option<String>,
    /// `id`: this connection's client id.
    pub id: Option<i64>,
    /// `mode`: "standalone", "cluster" or "sentinel".
    pub mode: Option<String>,
    /// `role`: "master" or "replica".
    pub role: Option<String>,
    /// The whole map as sent (modules, and fields newer servers add).
    pub hello: Value,
}

/// How the handshake ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The protocol the connection speaks now: 3 when HELLO 3 succeeded, else 2 (asked for,
    /// or fallen back to on a server without HELLO or without RESP3).
    pub protocol: u8,
    /// From the HELLO reply; `None` when HELLO was not used or not understood.
    pub server: Option<ServerInfo>,
}

/// What `handle_reply` makes of a reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// More replies are due (possibly for commands `poll_transmit` now has to send).
    NeedMore,
    /// The connection is ready.
    Done(Outcome),
}

/// The handshake of one connection. See the module documentation for the sequence.
pub struct Handshake {
    stage: Stage,
    /// The current stage's commands have been handed out by `poll_transmit`.
    sent: bool,
    /// In the setup stage: what each awaited reply answers, and how many have come.
    steps: Vec<Step>,
    answered: usize,
    /// The protocol negotiated so far.
    protocol: u8,
    server: Option<ServerInfo>,
    /// CLIENT SETNAME goes in the setup round (false while HELLO carries the name).
    setname_in_setup: bool,
    /// Credentials were configured (kept after the password is wiped, for messages).
    credentials: bool,
    username: Option<String>,
    password: Option<Vec<u8>>,
    client_name: Option<String>,
    db: u32,
    lib_name: Option<String>,
    lib_version: Option<String>,
    extra: Vec<Vec<Vec<u8>>>,
    require_master: bool,
    require_resp3: bool,
    /// The outcome of a handshake that needed no round trip, until `poll_outcome` takes it.
    early: Option<Outcome>,
}

#[derive(Clone, Debug)]
enum Stage {
    /// HELLO 3 [AUTH ...] [SETNAME ...].
    Hello,
    /// AUTH user pass (`with_user`) or AUTH pass.
    Auth {
        with_user: bool,
    },
    /// The pipelined settings.
    Setup,
    Done,
    Failed(Error),
}

/// What one reply of the setup round answers.
#[derive(Clone, Copy, Debug)]
enum Step {
    SetName,
    LibName,
    LibVersion,
    Select,
    Extra(usize),
    Role,
}

const REDACTED: &str = "<redacted>";

impl Handshake {
    /// A handshake for `params`. Nothing is sent until `poll_transmit`.
    pub fn new(params: HandshakeParams) -> Handshake {
        let HandshakeParams {
            protocol,
            username,
            password,
            client_name,
            db,
            lib_name,
            lib_version,
            extra,
            require_master,
            require_resp3,
        } = params;
        let resp3 = protocol == 3;
        let credentials = username.is_some() || password.is_some();
        let stage = if resp3 {
            Stage::Hello
        } else if credentials {
            Stage::Auth {
                with_user: username.is_some(),
            }
        } else {
            Stage::Setup
        };
        let mut handshake = Handshake {
            stage,
            sent: false,
            steps: Vec::new(),
            answered: 0,
            protocol: 2,
            server: None,
            setname_in_setup: !resp3 && client_name.is_some(),
            credentials,
            username,
            password: password.map(String::into_bytes),
            client_name,
            db,
            lib_name: lib_name.filter(|s| is_valid_lib_info(s)),
            lib_version: lib_version.filter(|s| is_valid_lib_info(s)),
            extra: extra.into_iter().filter(|c| !c.is_empty()).collect(),
            require_master,
            require_resp3,
            early: None,
        };
        if matches!(handshake.stage, Stage::Setup) && handshake.setup_steps().is_empty() {
            handshake.early = Some(handshake.finish());
        }
        handshake
    }

    /// Appends the commands to send now to `out` (RESP-encoded) and returns how many replies
    /// they will produce. Returns 0 (appending nothing) while replies to earlier commands are
    /// still due, and once the handshake has ended. During authentication the bytes hold the
    /// password in clear: write them, never log them.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        if self.sent {
            return 0;
        }
        let replies = match self.stage {
            Stage::Hello => {
                let mut args: Vec<&[u8]> = vec![b"HELLO", b"3"];
                if self.credentials {
                    args.push(b"AUTH");
                    args.push(self.username.as_deref().map_or(b"default", str::as_bytes));
                    args.push(self.password.as_deref().unwrap_or_default());
                }
                if let Some(name) = &self.client_name {
                    args.push(b"SETNAME");
                    args.push(name.as_bytes());
                }
                encode_command(out, &args);
                1
            }
            Stage::Auth { with_user } => {
                let password = self.password.as_deref().unwrap_or_default();
                match self.username.as_deref() {
                    Some(user) if with_user => {
                        encode_command(out, &[b"AUTH", user.as_bytes(), password])
                    }
                    _ => encode_command(out, &[&b"AUTH"[..], password]),
                }
                1
            }
            Stage::Setup => {
                self.steps = self.setup_steps();
                self.answered = 0;
                for step in &self.steps {
                    self.encode_step(*step, out);
                }
                self.steps.len()
            }
            Stage::Done | Stage::Failed(_) => return 0,
        };
        self.sent = true;
        replies
    }

    /// The outcome of a handshake that needs no round trip at all (RESP2 without credentials,
    /// name, library info, database or extra commands), once; `None` otherwise. Ask after
    /// `poll_transmit` returned 0.
    pub fn poll_outcome(&mut self) -> Option<Outcome> {
        self.early.take()
    }

    /// Feeds the next reply, in order. Push replies are ignored (`NeedMore`).
    pub fn handle_reply(&mut self, reply: &Reply) -> Result<Progress> {
        match &self.stage {
            Stage::Failed(err) => return Err(err.clone()),
            Stage::Done => {
                return Err(self.fail(Error::protocol(
                    "the server sent a reply after the handshake had finished",
                )))
            }
            _ => {}
        }
        if reply.kind() == Kind::Push {
            return Ok(Progress::NeedMore);
        }
        if !self.sent {
            return Err(self.fail(Error::protocol(
                "the server sent a reply before the handshake had sent a command",
            )));
        }
        let value = reply.value();
        let result = match self.stage {
            Stage::Hello => self.on_hello(value),
            Stage::Auth { with_user } => self.on_auth(value, with_user),
            Stage::Setup => self.on_setup(value),
            Stage::Done | Stage::Failed(_) => unreachable!("checked above"),
        };
        result.map_err(|err| self.fail(err))
    }

    fn on_hello(&mut self, value: ValueRef<'_>) -> Result<Progress> {
        if let Some(text) = error_text(value) {
            if !is_unknown_command(text) && !text.starts_with(b"NOPROTO") {
                return Err(self.server_error(text));
            }
            if self.require_resp3 {
                let err = self.server_error(text);
                return Err(Error::new(
                    err.kind(),
                    format!(
                        "the server does not speak RESP3 (HELLO 3: {}), and client-side \
                         caching needs it: invalidations come only as RESP3 pushes; turn the \
                         cache off for this server",
                        err.message()
                    ),
                ));
            }
            // A server without HELLO or without RESP3: stay on RESP2, authenticate with AUTH
            // and set the name with CLIENT SETNAME.
            self.setname_in_setup = self.client_name.is_some();
            if self.credentials {
                self.next_stage(Stage::Auth {
                    with_user: self.username.is_some(),
                });
                return Ok(Progress::NeedMore);
            }
            return Ok(self.start_setup());
        }
        if value.kind() != Kind::Map {
            return Err(Error::protocol(format!(
                "HELLO answered with a reply of type {:?} instead of a map",
                value.kind()
            )));
        }
        self.server = Some(server_info(value)?);
        self.protocol = 3;
        Ok(self.start_setup())
    }

    fn on_auth(&mut self, value: ValueRef<'_>, with_user: bool) -> Result<Progress> {
        if let Some(text) = error_text(value) {
            let err = self.server_error(text);
            if with_user && err.kind() == ErrorKind::AuthWrongNumberOfArgs {
                // A server before 6.0 knows only AUTH <password>.
                self.next_stage(Stage::Auth { with_user: false });
                return Ok(Progress::NeedMore);
            }
            return Err(err);
        }
        if value.kind() != Kind::Simple || value.as_bytes() != Some(b"OK") {
            return Err(Error::protocol(format!(
                "AUTH answered with a reply of type {:?} instead of OK",
                value.kind()
            )));
        }
        Ok(self.start_setup())
    }

    fn on_setup(&mut self, value: ValueRef<'_>) -> Result<Progress> {
        let step = self.steps[self.answered];
        self.answered += 1;
        if let (Step::Role, None) = (step, error_text(value)) {
            check_master(value)?;
        }
        if let Some(text) = error_text(value) {
            let err = self.server_error(text);
            let context = match step {
                // A server that wants a password first matters; the other SETINFO errors do
                // not (servers before 7.2 lack it, an ACL user may not be allowed to run it).
                Step::LibName | Step::LibVersion if err.kind() == ErrorKind::Authentication => {
                    return Err(err)
                }
                Step::LibName | Step::LibVersion => None,
                Step::SetName => Some("cannot set the client name".to_string()),
                Step::Select => Some(format!("cannot select database {}", self.db)),
                Step::Extra(i) => Some(format!(
                    "handshake command {} failed",
                    command_label(&self.extra[i])
                )),
                Step::Role => Some("cannot check the server's role".to_string()),
            };
            if let Some(context) = context {
                return Err(if text.starts_with(b"NOAUTH") {
                    err
                } else {
                    Error::new(err.kind(), format!("{context}: {}", err.message()))
                });
            }
        }
        if self.answered == self.steps.len() {
            Ok(Progress::Done(self.finish()))
        } else {
            Ok(Progress::NeedMore)
        }
    }

    /// Moves to `stage`, whose commands `poll_transmit` will send.
    fn next_stage(&mut self, stage: Stage) {
        self.stage = stage;
        self.sent = false;
    }

    /// Moves to the setup round, or finishes when it would be empty.
    fn start_setup(&mut self) -> Progress {
        if self.setup_steps().is_empty() {
            Progress::Done(self.finish())
        } else {
            self.next_stage(Stage::Setup);
            Progress::NeedMore
        }
    }

    fn setup_steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        if self.setname_in_setup {
            steps.push(Step::SetName);
        }
        if self.lib_name.is_some() {
            steps.push(Step::LibName);
        }
        if self.lib_version.is_some() {
            steps.push(Step::LibVersion);
        }
        if self.db != 0 {
            steps.push(Step::Select);
        }
        steps.extend((0..self.extra.len()).map(Step::Extra));
        if self.require_master {
            steps.push(Step::Role);
        }
        steps
    }

    fn encode_step(&self, step: Step, out: &mut Vec<u8>) {
        match step {
            Step::SetName => {
                let name = self.client_name.as_deref().unwrap_or_default();
                encode_command(out, &[&b"CLIENT"[..], b"SETNAME", name.as_bytes()]);
            }
            Step::LibName => {
                let name = self.lib_name.as_deref().unwrap_or_default();
                encode_command(out, &["CLIENT", "SETINFO", "LIB-NAME", name]);
            }
            Step::LibVersion => {
                let version = self.lib_version.as_deref().unwrap_or_default();
                encode_command(out, &["CLIENT", "SETINFO", "LIB-VER", version]);
            }
            Step::Select => {
                let db = self.db.to_string();
                encode_command(out, &["SELECT", db.as_str()]);
            }
            Step::Extra(i) => encode_command(out, &self.extra[i]),
            Step::Role => encode_command(out, &["ROLE"]),
        }
    }

    fn finish(&mut self) -> Outcome {
        wipe(&mut self.password);
        self.stage = Stage::Done;
        self.sent = true;
        Outcome {
            protocol: self.protocol,
            server: self.server.take(),
        }
    }

    /// Makes `err` the sticky error, without the password in it.
    fn fail(&mut self, err: Error) -> Error {
        let err = self.redact(err);
        wipe(&mut self.password);
        self.stage = Stage::Failed(err.clone());
        err
    }

    /// The error for a server error reply; NOAUTH says that a password is required.
    fn server_error(&self, text: &[u8]) -> Error {
        let err = Error::from_server_reply(text);
        if !text.starts_with(b"NOAUTH") {
            return err;
        }
        let why = if self.credentials {
            "the server requires authentication"
        } else {
            "the server requires a password and none is configured"
        };
        Error::new(
            ErrorKind::Authentication,
            format!("{why} (server said: {})", err.message()),
        )
    }

    fn redact(&self, err: Error) -> Error {
        let password = self
            .password
            .as_deref()
            .and_then(|p| std::str::from_utf8(p).ok())
            .filter(|p| !p.is_empty());
        match password {
            Some(p) if err.message().contains(p) => {
                Error::new(err.kind(), err.message().replace(p, REDACTED))
            }
            _ => err,
        }
    }
}

impl Drop for Handshake {
    fn drop(&mut self) {
        wipe(&mut self.password);
    }
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("stage", &self.stage)
            .field("sent", &self.sent)
            .field("answered", &self.answered)
            .field("awaited", &self.steps.len())
            .field("protocol", &self.protocol)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// Overwrites a secret before its memory is freed (best effort: `black_box` keeps the
/// compiler from dropping the writes as dead stores).
fn wipe(secret: &mut Option<Vec<u8>>) {
    if let Some(mut bytes) = secret.take() {
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

/// A `ROLE` reply must say `master`; a replica's names its master.
fn check_master(role: ValueRef<'_>) -> Result<()> {
    let first = role.get(0).and_then(|v| v.as_bytes());
    if first == Some(b"master") {
        return Ok(());
    }
    let said = match first {
        Some(b"slave") => {
            let host = role.get(1).and_then(|v| v.as_str()).unwrap_or("?");
            let port = role.get(2).and_then(|v| v.as_integer()).unwrap_or(0);
            format!("a replica of {host}:{port}")
        }
        Some(other) => format!("a {}", other.escape_ascii()),
        None => format!("{:?}", role.to_value()),
    };
    Err(Error::new(
        ErrorKind::Connection,
        format!("the server is not a master (ROLE says it is {said}): it is not written to"),
    ))
}

/// The text of an error reply (simple or blob).
fn error_text(value: ValueRef<'_>) -> Option<&[u8]> {
    match value.kind() {
        Kind::Error | Kind::BlobError => value.as_bytes(),
        _ => None,
    }
}

/// "ERR unknown command 'HELLO'..." in any spelling servers and proxies use.
fn is_unknown_command(text: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"unknown command";
    text.windows(NEEDLE.len())
        .any(|w| w.eq_ignore_ascii_case(NEEDLE))
}

/// What CLIENT SETINFO accepts: printable ASCII, no spaces.
fn is_valid_lib_info(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| (b'!'..=b'~').contains(&b))
}

/// A command's name for messages: its first word, and the subcommand of CLIENT / CONFIG
/// (never further arguments, which may hold anything).
fn command_label(args: &[Vec<u8>]) -> String {
    let show = |arg: &[u8]| arg.iter().take(32).copied().collect::<Vec<u8>>();
    let first = args.first().map(|a| show(a)).unwrap_or_default();
    let mut label = first.escape_ascii().to_string();
    let container = [&b"CLIENT"[..], b"CONFIG", b"CLUSTER", b"OBJECT"]
        .iter()
        .any(|c| first.eq_ignore_ascii_case(c));
    if let (true, Some(sub)) = (container, args.get(1)) {
        label.push(' ');
        label.push_str(&show(sub).escape_ascii().to_string());
    }
    label
}

fn server_info(map: ValueRef<'_>) -> Result<ServerInfo> {
    let text = |v: ValueRef<'_>| v.as_str().map(str::to_owned);
    let mut info = ServerInfo {
        name: None,
        version: None,
        id: None,
        mode: None,
        role: None,
        hello: map.to_value(),
    };
    for (key, value) in map.pairs() {
        match key.as_bytes() {
            Some(b"server") => info.name = text(value),
            Some(b"version") => info.version = text(value),
            Some(b"id") => info.id = value.as_integer(),
            Some(b"mode") => info.mode = text(value),
            Some(b"role") => info.role = text(value),
            // A map without `proto` is taken at its word: it is a RESP3 reply.
            Some(b"proto") if value.as_integer() != Some(3) => {
                return Err(Error::protocol(format!(
                    "HELLO 3 answered with protocol {:?}",
                    value.to_value()
                )))
            }
            _ => {}
        }
    }
    Ok(info)
}
