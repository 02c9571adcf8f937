//! The error taxonomy: stable numeric kinds with their parents (seeded from redis-py's
//! exception hierarchy), the `Error` value every layer returns, and the mapping of server
//! error replies to kinds.
//!
//! Codes are part of the C ABI (`redcore_error_code`): never renumber a kind; retire one by
//! leaving its number unused with a comment.

use std::fmt;

/// What went wrong, as a stable code (`redcore_error_code` in C). Codes never change meaning.
///
/// Each code has one or two parents (`redcore_error_code_parents`); `redcore_error_code_is`
/// walks them, so a caller can ask "is this a connection error?" the way a Python caller
/// writes `except ConnectionError`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No error.
    Ok = 0,
    /// Root of every client error (redis-py `RedisError`).
    Redis = 1,
    /// The connection failed or was lost (`ConnectionError`).
    Connection = 2,
    /// An operation took longer than its timeout. Not a connection error (`TimeoutError`).
    Timeout = 3,
    /// Wrong or missing credentials: WRONGPASS, NOAUTH, invalid password (`AuthenticationError`).
    Authentication = 4,
    /// The peer refused to authorize us, e.g. an OCSP responder (`AuthorizationError`).
    Authorization = 5,
    /// The server is loading its dataset: LOADING (`BusyLoadingError`).
    BusyLoading = 6,
    /// No connection could be had within the limits (`MaxConnectionsError`), or the server's
    /// `max number of clients reached`.
    MaxConnections = 7,
    /// The server's external authentication provider failed (`ExternalAuthProviderError`).
    ExternalAuthProvider = 8,
    /// Sentinel could not find a healthy master (`MasterNotFoundError`).
    MasterNotFound = 9,
    /// Sentinel could not find a reachable replica (`ReplicaNotFoundError`).
    ReplicaNotFound = 10,
    /// The server answered with an error (`ResponseError`).
    Response = 11,
    /// NOSCRIPT: no script with that SHA1 (`NoScriptError`).
    NoScript = 12,
    /// OOM: maxmemory reached (`OutOfMemoryError`).
    OutOfMemory = 13,
    /// EXECABORT: the transaction was discarded (`ExecAbortError`).
    ExecAbort = 14,
    /// READONLY: a write was sent to a replica (`ReadOnlyError`).
    ReadOnly = 15,
    /// NOPERM: denied by an ACL (`NoPermissionError`).
    NoPermission = 16,
    /// A module failed to load or unload (`ModuleError`).
    Module = 17,
    /// AUTH was sent with a form the server does not know (pre-6.0 servers)
    /// (`AuthenticationWrongNumberOfArgsError`).
    AuthWrongNumberOfArgs = 18,
    /// TRYAGAIN: a multi-key command during resharding (`TryAgainError`).
    TryAgain = 19,
    /// CROSSSLOT: the keys of one command hash to different slots (`ClusterCrossSlotError`).
    CrossSlot = 20,
    /// ASK redirection; the error carries slot, host and port (`AskError`).
    Ask = 21,
    /// MOVED redirection; the error carries slot, host and port (`MovedError`).
    Moved = 22,
    /// Cluster retries exhausted (`ClusterError`).
    Cluster = 23,
    /// CLUSTERDOWN (`ClusterDownError`): both a cluster and a response error.
    ClusterDown = 24,
    /// MASTERDOWN: replica link down and stale reads disabled (`MasterDownError`).
    MasterDown = 25,
    /// The caller's data cannot be sent or converted (`DataError`).
    Data = 26,
    /// Pub/sub misuse (`PubSubError`).
    Pubsub = 27,
    /// A watched key changed: EXEC returned nil (`WatchError`).
    Watch = 28,
    /// The server sent something that is not a valid reply (`InvalidResponse`).
    InvalidResponse = 29,
    /// Lock misuse (`LockError`).
    Lock = 30,
    /// The lock is no longer ours (`LockNotOwnedError`).
    LockNotOwned = 31,
    /// Client-side cluster misuse; not a `REDIS` error, as in redis-py
    /// (`RedisClusterException`).
    ClusterException = 32,
    /// No node serves this slot (`SlotNotCoveredError`).
    SlotNotCovered = 33,
    /// A cluster transaction touches more than one slot (`CrossSlotTransactionError`).
    CrossSlotTransaction = 34,
    /// A cluster transaction's EXEC reply did not match what was queued (`InvalidPipelineStack`).
    InvalidPipelineStack = 35,
    /// A caller passed a bad argument: NULL pointer, bad URL, out-of-range option.
    InvalidArgument = 36,
    /// The client was closed before the command completed.
    Closed = 37,
    /// The TLS layer failed: handshake, certificate, protocol.
    Tls = 38,
    /// The bytes received break the RESP protocol.
    Protocol = 39,
    /// A bug in redcore (a caught panic, a broken invariant).
    Internal = 40,
    /// The caller cancelled the command (`redcore_client_cancel`) before it completed.
    Cancelled = 41,
}

impl ErrorKind {
    /// Every kind, in code order.
    ///
    /// cbindgen:ignore
    pub const ALL: [ErrorKind; 42] = [
        ErrorKind::Ok,
        ErrorKind::Redis,
        ErrorKind::Connection,
        ErrorKind::Timeout,
        ErrorKind::Authentication,
        ErrorKind::Authorization,
        ErrorKind::BusyLoading,
        ErrorKind::MaxConnections,
        ErrorKind::ExternalAuthProvider,
        ErrorKind::MasterNotFound,
        ErrorKind::ReplicaNotFound,
        ErrorKind::Response,
        ErrorKind::NoScript,
        ErrorKind::OutOfMemory,
        ErrorKind::ExecAbort,
        ErrorKind::ReadOnly,
        ErrorKind::NoPermission,
        ErrorKind::Module,
        ErrorKind::AuthWrongNumberOfArgs,
        ErrorKind::TryAgain,
        ErrorKind::CrossSlot,
        ErrorKind::Ask,
        ErrorKind::Moved,
        ErrorKind::Cluster,
        ErrorKind::ClusterDown,
        ErrorKind::MasterDown,
        ErrorKind::Data,
        ErrorKind::Pubsub,
        ErrorKind::Watch,
        ErrorKind::InvalidResponse,
        ErrorKind::Lock,
        ErrorKind::LockNotOwned,
        ErrorKind::ClusterException,
        ErrorKind::SlotNotCovered,
        ErrorKind::CrossSlotTransaction,
        ErrorKind::InvalidPipelineStack,
        ErrorKind::InvalidArgument,
        ErrorKind::Closed,
        ErrorKind::Tls,
        ErrorKind::Protocol,
        ErrorKind::Internal,
        ErrorKind::Cancelled,
    ];

    /// The kind with this numeric code, if any.
    pub fn from_code(code: i64) -> Option<ErrorKind> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// The stable numeric code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The upper-case name, as in the C constant without its prefix (`CONNECTION`).
    pub fn name(self) -> &'static str {
        use ErrorKind::*;
        match self {
            Ok => "OK",
            Redis => "REDIS",
            Connection => "CONNECTION",
            Timeout => "TIMEOUT",
            Authentication => "AUTHENTICATION",
            Authorization => "AUTHORIZATION",
            BusyLoading => "BUSY_LOADING",
            MaxConnections => "MAX_CONNECTIONS",
            ExternalAuthProvider => "EXTERNAL_AUTH_PROVIDER",
            MasterNotFound => "MASTER_NOT_FOUND",
            ReplicaNotFound => "REPLICA_NOT_FOUND",
            Response => "RESPONSE",
            NoScript => "NO_SCRIPT",
            OutOfMemory => "OUT_OF_MEMORY",
            ExecAbort => "EXEC_ABORT",
            ReadOnly => "READ_ONLY",
            NoPermission => "NO_PERMISSION",
            Module => "MODULE",
            AuthWrongNumberOfArgs => "AUTH_WRONG_NUMBER_OF_ARGS",
            TryAgain => "TRY_AGAIN",
            CrossSlot => "CROSS_SLOT",
            Ask => "ASK",
            Moved => "MOVED",
            Cluster => "CLUSTER",
            ClusterDown => "CLUSTER_DOWN",
            MasterDown => "MASTER_DOWN",
            Data => "DATA",
            Pubsub => "PUBSUB",
            Watch => "WATCH",
            InvalidResponse => "INVALID_RESPONSE",
            Lock => "LOCK",
            LockNotOwned => "LOCK_NOT_OWNED",
            ClusterException => "CLUSTER_EXCEPTION",
            SlotNotCovered => "SLOT_NOT_COVERED",
            CrossSlotTransaction => "CROSS_SLOT_TRANSACTION",
            InvalidPipelineStack => "INVALID_PIPELINE_STACK",
            InvalidArgument => "INVALID_ARGUMENT",
            Closed => "CLOSED",
            Tls => "TLS",
            Protocol => "PROTOCOL",
            Internal => "INTERNAL",
            Cancelled => "CANCELLED",
        }
    }

    /// The direct parents: none for the roots (`REDIS`, `CLUSTER_EXCEPTION`, `OK`), two for
    /// `CLUSTER_DOWN` (a cluster error and a response error), one for every other kind.
    /// The first parent is the primary one.
    pub fn parents(self) -> &'static [ErrorKind] {
        use ErrorKind::*;
        match self {
            Ok | Redis | ClusterException => &[],
            Connection | Timeout | Response | Cluster | Data | Pubsub | Watch | InvalidResponse
            | Lock | Closed | Internal | Cancelled => &[Redis],
            Authentication | Authorization | BusyLoading | MaxConnections
            | ExternalAuthProvider | MasterNotFound | ReplicaNotFound | Tls => &[Connection],
            NoScript
            | OutOfMemory
            | ExecAbort
            | ReadOnly
            | NoPermission
            | Module
            | AuthWrongNumberOfArgs
            | TryAgain
            | CrossSlot
            | Ask => &[Response],
            Moved => &[Ask],
            ClusterDown => &[Cluster, Response],
            MasterDown => &[ClusterDown],
            LockNotOwned => &[Lock],
            SlotNotCovered | CrossSlotTransaction | InvalidPipelineStack => &[ClusterException],
            InvalidArgument => &[Data],
            Protocol => &[InvalidResponse],
        }
    }

    /// True when `self` is `ancestor` or descends from it through any parent.
    pub fn is(self, ancestor: ErrorKind) -> bool {
        self == ancestor || self.parents().iter().any(|p| p.is(ancestor))
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a MOVED or ASK redirection points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    /// The hash slot named by the server.
    pub slot: u16,
    /// The host of the node that serves the slot (an IP, a name, or empty when the server
    /// announced no endpoint, which means "the node you asked").
    pub host: String,
    /// Its port.
    pub port: u16,
}

/// An error: its kind, a message meant for people, and for MOVED / ASK the parsed target.
///
/// For server error replies the message is the reply's full text (`WRONGTYPE Operation ...`).
/// Messages never contain secrets: code that builds them from user input must not echo
/// passwords or tokens.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    redirect: Option<Box<Redirect>>,
}

/// The result type of the whole crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            redirect: None,
        }
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind's name.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The MOVED / ASK target, when this is a redirection.
    pub fn redirect(&self) -> Option<&Redirect> {
        self.redirect.as_deref()
    }

    /// The server's `UNBLOCKED ... instance state changed (master -> replica?)`: a blocking
    /// command (BLPOP, XREAD BLOCK, ...) a primary dropped as it became a replica (a manual
    /// failover, REPLICAOF). Like READONLY, it did not run: it may be sent to the new primary.
    /// Not `UNBLOCKED` from `CLIENT UNBLOCK ... ERROR`, which a user asked for.
    pub(crate) fn unblocked_by_role_change(&self) -> bool {
        self.kind == ErrorKind::Response
            && self.message.starts_with("UNBLOCKED ")
            && self.message.contains("instance state changed")
    }

    /// True when this error's kind is `ancestor` or descends from it.
    pub fn is(&self, ancestor: ErrorKind) -> bool {
        self.kind.is(ancestor)
    }

    /// Shorthand for an `INVALID_ARGUMENT` error.
    pub fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// Shorthand for a `PROTOCOL` error.
    pub fn protocol(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Protocol, message)
    }

    /// The error a server error reply stands for (the text after `-`, or a blob error's
    /// payload). Invalid UTF-8 is replaced, never rejected: the text is for people.
    pub fn from_server_reply(text: &[u8]) -> Error {
        let text = String::from_utf8_lossy(text);
        let kind = server_error_kind(&text);
        let redirect = match kind {
            ErrorKind::Moved | ErrorKind::Ask => parse_redirect(&text).map(Box::new),
            _ => None,
        };
        Error {
            kind,
            message: text.into_owned(),
            redirect,
        }
    }
}

/// The exact `ERR ...` sentences that mean something more precise than `RESPONSE`.
const ERR_SENTENCES: &[(&str, ErrorKind)] = &[
    ("max number of clients reached", ErrorKind::MaxConnections),
    ("invalid password", ErrorKind::Authentication),
    (
        "wrong number of arguments for 'auth' command",
        ErrorKind::AuthWrongNumberOfArgs,
    ),
    (
        "wrong number of arguments for 'AUTH' command",
        ErrorKind::AuthWrongNumberOfArgs,
    ),
    (
        "Error loading the extension. Please check the server logs.",
        ErrorKind::Module,
    ),
    (
        "Error unloading module: no such module with that name",
        ErrorKind::Module,
    ),
    (
        "Error unloading module: operation not possible.",
        ErrorKind::Module,
    ),
    (
        "Error unloading module: the module exports one or more module-side data types, can't unload",
        ErrorKind::Module,
    ),
    (
        "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ErrorKind::Authentication,
    ),
    (
        "Client sent AUTH, but no password is set",
        ErrorKind::Authentication,
    ),
    ("problem with LDAP service", ErrorKind::ExternalAuthProvider),
];

/// The kind of a server error reply, by its first word and, for `ERR`, its exact sentence.
pub fn server_error_kind(text: &str) -> ErrorKind {
    let (word, rest) = match text.find(' ') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    };
    match word {
        "ERR" => ERR_SENTENCES
            .iter()
            .find(|(sentence, _)| *sentence == rest)
            .map_or(ErrorKind::Response, |(_, kind)| *kind),
        "OOM" => ErrorKind::OutOfMemory,
        "WRONGPASS" | "NOAUTH" => ErrorKind::Authentication,
        "EXECABORT" => ErrorKind::ExecAbort,
        "LOADING" => ErrorKind::BusyLoading,
        "NOSCRIPT" => ErrorKind::NoScript,
        "READONLY" => ErrorKind::ReadOnly,
        "NOPERM" => ErrorKind::NoPermission,
        "ASK" => ErrorKind::Ask,
        "TRYAGAIN" => ErrorKind::TryAgain,
        "MOVED" => ErrorKind::Moved,
        "CLUSTERDOWN" => ErrorKind::ClusterDown,
        "CROSSSLOT" => ErrorKind::CrossSlot,
        "MASTERDOWN" => ErrorKind::MasterDown,
        _ => ErrorKind::Response,
    }
}

/// Parses `MOVED 3999 127.0.0.1:6381` / `ASK 3999 [::1]:6381` / `MOVED 3999 :6381`.
/// The host is everything before the last `:` (IPv6 hosts contain colons), brackets removed.
fn parse_redirect(text: &str) -> Option<Redirect> {
    let mut words = text.split(' ');
    let _kind = words.next()?;
    let slot: u16 = words.next()?.parse().ok()?;
    if slot >= 16384 {
        return None;
    }
    let endpoint = words.next()?;
    let colon = endpoint.rfind(':')?;
    let host = endpoint[..colon]
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port: u16 = endpoint[colon + 1..].parse().ok()?;
    Some(Redirect {
        slot,
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_and_stable() {
        for (i, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(kind.code() as usize, i, "{kind} is out of order");
            assert_eq!(ErrorKind::from_code(i as i64), Some(*kind));
        }
        assert_eq!(ErrorKind::from_code(42), None);
        assert_eq!(ErrorKind::from_code(-1), None);
        // A few codes pinned by value: they are ABI.
        assert_eq!(ErrorKind::Connection.code(), 2);
        assert_eq!(ErrorKind::Moved.code(), 22);
        assert_eq!(ErrorKind::Internal.code(), 40);
        assert_eq!(ErrorKind::Cancelled.code(), 41);
    }

    #[test]
    fn unblocked_by_a_role_change_is_told_from_client_unblock() {
        let demoted = Error::from_server_reply(
            b"UNBLOCKED force unblock from blocking operation, instance state changed \
              (master -> replica?)",
        );
        assert_eq!(demoted.kind(), ErrorKind::Response);
        assert!(demoted.unblocked_by_role_change());
        let asked = Error::from_server_reply(b"UNBLOCKED client unblocked via CLIENT UNBLOCK");
        assert!(!asked.unblocked_by_role_change());
        assert!(!Error::from_server_reply(b"ERR instance state changed").unblocked_by_role_change());
    }

    #[test]
    fn hierarchy_follows_redis_py() {
        use ErrorKind::*;
        let cases = [
            (Authentication, Connection, true),
            (Authentication, Redis, true),
            (Timeout, Connection, false),
            (Timeout, Redis, true),
            (Moved, Ask, true),
            (Moved, Response, true),
            (Ask, Moved, false),
            (ClusterDown, Cluster, true),
            (ClusterDown, Response, true),
            (MasterDown, Cluster, true),
            (MasterDown, Response, true),
            (SlotNotCovered, ClusterException, true),
            (SlotNotCovered, Redis, false),
            (LockNotOwned, Lock, true),
            (Tls, Connection, true),
            (Protocol, InvalidResponse, true),
            (InvalidArgument, Data, true),
            (Closed, Connection, false),
            (Ok, Redis, false),
        ];
        for (kind, ancestor, expected) in cases {
            assert_eq!(kind.is(ancestor), expected, "{kind} is {ancestor}");
        }
        for kind in ErrorKind::ALL {
            assert!(kind.is(kind));
            let roots = [Ok, Redis, ClusterException];
            assert!(roots.iter().any(|r| kind.is(*r)), "{kind} reaches no root");
        }
    }

    #[test]
    fn server_errors_map_by_first_word_and_sentence() {
        let cases: &[(&str, ErrorKind)] = &[
            ("ERR unknown command 'FOO'", ErrorKind::Response),
            ("WRONGTYPE Operation against a key", ErrorKind::Response),
            (
                "ERR max number of clients reached",
                ErrorKind::MaxConnections,
            ),
            ("ERR invalid password", ErrorKind::Authentication),
            (
                "ERR wrong number of arguments for 'auth' command",
                ErrorKind::AuthWrongNumberOfArgs,
            ),
            (
                "ERR Error unloading module: operation not possible.",
                ErrorKind::Module,
            ),
            ("OOM command not allowed", ErrorKind::OutOfMemory),
            (
                "WRONGPASS invalid username-password pair",
                ErrorKind::Authentication,
            ),
            ("NOAUTH Authentication required.", ErrorKind::Authentication),
            ("EXECABORT Transaction discarded", ErrorKind::ExecAbort),
            ("LOADING Redis is loading", ErrorKind::BusyLoading),
            ("NOSCRIPT No matching script.", ErrorKind::NoScript),
            ("READONLY You can't write", ErrorKind::ReadOnly),
            (
                "NOPERM this user has no permissions",
                ErrorKind::NoPermission,
            ),
            ("TRYAGAIN Multiple keys request", ErrorKind::TryAgain),
            ("CLUSTERDOWN The cluster is down", ErrorKind::ClusterDown),
            ("CROSSSLOT Keys in request", ErrorKind::CrossSlot),
            ("MASTERDOWN Link with MASTER is down", ErrorKind::MasterDown),
            ("ASK 3999 127.0.0.1:6381", ErrorKind::Ask),
            ("MOVED 3999 127.0.0.1:6381", ErrorKind::Moved),
            ("ERR", ErrorKind::Response),
            ("", ErrorKind::Response),
        ];
        for (text, kind) in cases {
            let err = Error::from_server_reply(text.as_bytes());
            assert_eq!(err.kind(), *kind, "{text}");
            assert_eq!(err.message(), *text, "full text kept");
        }
    }

    #[test]
    fn redirects_are_parsed() {
        let err = Error::from_server_reply(b"MOVED 3999 127.0.0.1:6381");
        assert_eq!(
            err.redirect(),
            Some(&Redirect {
                slot: 3999,
                host: "127.0.0.1".into(),
                port: 6381
            })
        );
        let err = Error::from_server_reply(b"ASK 12 [::1]:7000");
        assert_eq!(err.redirect().unwrap().host, "::1");
        assert_eq!(err.redirect().unwrap().port, 7000);
        let err = Error::from_server_reply(b"MOVED 1 :7001");
        assert_eq!(err.redirect().unwrap().host, "");
        assert!(Error::from_server_reply(b"MOVED 99999 h:1")
            .redirect()
            .is_none());
        assert!(Error::from_server_reply(b"MOVED x h:1")
            .redirect()
            .is_none());
        assert!(Error::from_server_reply(b"MOVED 1 h").redirect().is_none());
    }
}
