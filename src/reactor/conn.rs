//! One connection: its state behind a mutex shared by the reactor thread that owns the socket
//! and by callers that append commands (and, for a blocking call on an idle connection, write
//! them at once), and the lifecycle the reactor drives: resolve, connect, handshake, ready,
//! failure, backoff, reconnect.
//!
//! Completions are never run under the lock: every function here pushes them to a list the
//! reactor runs after unlocking, because a callback may submit new commands.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mio::{Interest, Registry, Token};

use super::auth::{Auth, HandshakeCredentials};
use super::completion::{reply_to_result, Completion};
use super::stream::Stream;
use super::tracking::{self, SharedCache};
use crate::config::{Backoff, BackoffState, Config, Credentials, Endpoint, FastRng, Protocol};
use crate::error::{Error, ErrorKind, Result};
use crate::net::{endpoint_name, tls, KeepaliveOptions, Transport};
use crate::resp::Kind;
use crate::resp::{encode_command, Reply};
use crate::session::handshake::{Handshake, HandshakeParams, Progress};
use crate::session::{Event, Exchange, RequestMeta, Unanswered};

/// How far a blocking socket's receive timeout may be from a direct caller's deadline before
/// it is set again: a wait may overrun its deadline by this much.
const RECV_TIMEOUT_SLACK: Duration = Duration::from_millis(10);

/// After this long without I/O, a lone submitter no longer writes to a connection (the
/// reactor does, see `Engine::after_enqueue`).
pub(crate) const IDLE_CHECK: Duration = Duration::from_secs(1);

/// After this long without I/O and with nothing in flight, a connection is checked for a
/// close (or stray bytes) before anything is written to it (`ConnState::input_waits`). Short,
/// so that a server closing idle clients (its `timeout`, CLIENT KILL, a restart) costs no
/// command; long enough that callers sending back to back never pay the check's system call.
pub(crate) const CLOSE_CHECK: Duration = Duration::from_millis(1);

/// `ASKING`, encoded: sent before a command a migrating slot's owner answered ASK about, it
/// holds for whatever command comes next on the connection.
pub(crate) const ASKING_FRAME: &[u8] = b"*1\r\n$6\r\nASKING\r\n";

/// How a connection is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lease {
    /// Multiplexed: shared by every caller.
    Shared,
    /// Dedicated, in the pool, unused.
    Idle,
    /// Dedicated, carrying one blocking command; back to the pool when it is answered.
    Single,
    /// Dedicated, held by a caller through a `Dedicated` handle.
    Held,
}

/// Where a connection is in its life.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Not started yet, or waiting for a name lookup.
    Idle,
    /// TCP/Unix connect in progress.
    Connecting {
        deadline: Option<Instant>,
        addrs: Vec<SocketAddr>,
        next: usize,
    },
    /// Handshake commands sent, answers awaited.
    Handshaking { deadline: Option<Instant> },
    /// Commands flow.
    Ready,
    /// Waiting before the next connect attempt.
    Backoff { until: Instant },
    /// Shut down for good.
    Closed,
}

/// A connection, shared between its reactor and the callers that submit to it.
pub(crate) struct Conn {
    /// Index of the reactor thread that owns the socket.
    pub(crate) reactor: usize,
    /// The id of the node pool this connection belongs to.
    pub(crate) node: u64,
    /// Lock-free hint for pickers: the connection was ready when last looked at.
    pub(crate) ready_hint: AtomicBool,
    pub(crate) state: Mutex<ConnState>,
}

/// A connection's mutable state.
pub(crate) struct ConnState {
    pub(crate) ex: Exchange<Completion>,
    pub(crate) transport: Option<Transport>,
    pub(crate) phase: Phase,
    pub(crate) handshake: Option<Handshake>,
    pub(crate) token: Option<Token>,
    /// The socket took all we wrote last time (edge-triggered writability).
    pub(crate) writable: bool,
    /// The reactor has been asked to flush this connection.
    pub(crate) scheduled: bool,
    /// Consecutive failed connect attempts.
    pub(crate) failures: u32,
    pub(crate) backoff: BackoffState,
    pub(crate) last_error: Option<Error>,
    pub(crate) last_io: Instant,
    pub(crate) health_pending: bool,
    pub(crate) lease: Lease,
    /// The protocol the handshake settled on.
    pub(crate) protocol: u8,
    /// Where this connection goes.
    pub(crate) endpoint: Endpoint,
    /// The name to check in the server's TLS certificate when no `tls_server_name` is
    /// configured and it is not the endpoint's host (a cluster node's announced hostname).
    pub(crate) server_name: Option<String>,
    /// Read interest is registered with the reactor's poll.
    pub(crate) armed: bool,
    /// A blocking caller reads this socket itself (see `Engine::try_direct`); the reactor
    /// leaves reading alone until it is done.
    pub(crate) caller_reading: bool,
    /// Submissions since the connection was last found idle by one (see
    /// `count_submission`).
    pub(crate) since_idle: u32,
    /// When the last lone submission was made (set by `Engine::after_enqueue`).
    pub(crate) last_lone: Option<Instant>,
    /// The reactor has been told to fail or abandon the current socket (`Msg::Fail`,
    /// `Msg::Abandon`): submitters no longer write to it themselves. Cleared with the socket
    /// (`detach`).
    pub(crate) doomed: bool,
    /// The reactor sends on the socket without holding the lock (`flush_unlocked`): nobody
    /// else writes to it or reads it meanwhile.
    pub(crate) sending: bool,
    /// Closed for good once its pending requests are answered (a dedicated connection whose
    /// state a holder changed); takes no new requests and does not reconnect.
    pub(crate) retiring: bool,
    /// Counts the sockets this connection has had: a direct caller that finds it changed
    /// knows the socket it was reading is gone (see `detach`).
    pub(crate) epoch: u64,
    /// Some bytes came from the server on the current connection (tells a server that hangs
    /// up on the handshake, as a TLS-only port does with plain text, from one that answered).
    pub(crate) got_bytes: bool,
    /// The current connection sent credentials in its handshake.
    pub(crate) sent_credentials: bool,
    /// A held connection is inside MULTI: a re-authentication waits in `deferred_auth` until
    /// EXEC or DISCARD, or AUTH would be queued into the transaction.
    pub(crate) in_transaction: bool,
    /// A held connection whose holder relies on state of its own on the server (WATCH, MULTI,
    /// SELECT, ...; set by `Dedicated`).
    pub(crate) session: bool,
    /// That state was lost with the socket: the requests pending then failed, and the holder
    /// refuses its next commands (`HolderState::check_lost`) rather than send them to a
    /// server that forgot it.
    pub(crate) session_lost: bool,
    /// AUTH frames (wiped when dropped) and their completions, waiting for the transaction to
    /// end.
    pub(crate) deferred_auth: Vec<(SecretFrame, Completion)>,
    /// Replies a direct caller read for callbacks (and pushes it met), in stream order: the
    /// reactor runs them before anything it completes for this connection itself, so
    /// callbacks keep their submission order whoever reads their replies.
    pub(crate) handoff: Vec<(Completion, Result<Reply>)>,
    pub(crate) handoff_pushes: Vec<Reply>,
    /// The socket is in blocking mode: a direct caller waits in `recv` (plain sockets).
    pub(crate) caller_blocking: bool,
    /// A cluster node's connection: its requests may be detoured (see `Detour`); those that
    /// are pinned, or the held connection's, only give the owner notices.
    pub(crate) detours: bool,
    /// Detoured requests a direct caller found, for the reactor to hand to the owner.
    pub(crate) detoured: Vec<Detour>,
    /// `Conn::node`, for detours.
    pub(crate) node: u64,
    /// This socket may be dead (another connection to the same node was lost, or a
    /// re-authentication is about to write AUTH into a connection that may have sat idle and
    /// unwatched), so before the next write it is checked for a hang-up (a write into a closed
    /// socket would count as written, and the command could not be sent elsewhere).
    pub(crate) suspect: bool,
    /// The socket's receive timeout as last set (`Duration::ZERO`: none).
    pub(crate) recv_timeout: Duration,
    /// Sockets replaced while a direct caller was reading them, by epoch: kept open (shut
    /// down) until that caller has seen the change, so its descriptor cannot be reused for
    /// another socket under it.
    pub(crate) orphans: Vec<(u64, Transport)>,
    /// The current socket is connected and waits for the credential provider's answer
    /// before its handshake.
    pub(crate) awaiting_credentials: bool,
    /// A helper thread is asking the credential provider for this connection (at most one
    /// at a time, even when a provider that hangs outlives several connect attempts).
    pub(crate) fetching_credentials: bool,
    /// The handshake checks that the server is a master (`ROLE`): a sentinel client's
    /// connections to its master.
    pub(crate) require_master: bool,
    /// Settings of their own for a connection that is not to a data node (a sentinel's:
    /// its credentials, TLS and protocol); `None` uses the client's.
    pub(crate) profile: Option<Arc<ConnProfile>>,
    /// The owner of the stream this connection carries (pub/sub, MONITOR): its out-of-band
    /// frames go there, and it restores the connection's state after each reconnect.
    pub(crate) stream: Option<Arc<dyn Stream>>,
    /// The connection has been ready before (a later handshake follows a loss).
    pub(crate) was_ready: bool,
    /// Idle time after which a health-check PING is sent (the config's, unless the
    /// connection's owner chose another).
    pub(crate) health_check: Option<Duration>,
    /// Out-of-band frames may arrive while nothing is pending (subscriptions, cache
    /// invalidations): read interest stays on when the connection is idle.
    pub(crate) listens: bool,
    /// The client-side cache, on a connection that tracks the keys of cached reads.
    pub(crate) cache: Option<SharedCache>,
    /// The client-side cache, on every connection of a client that has one: the reply to a
    /// write (`RequestMeta::forgets`) drops the cached replies of its keys again before its
    /// completion runs (see `tracking::forget_frame`).
    pub(crate) forgets: Option<SharedCache>,
}

/// A connection's own settings, in place of the client's (see `ConnState::profile`): used
/// for its TLS, its credentials and its handshake. Timeouts and retries stay the client's.
pub(crate) struct ConnProfile {
    /// The handshake settings (protocol, user, name) and `tls_options`.
    pub(crate) config: Config,
    /// The TLS client configuration; `None` connects in plain text.
    pub(crate) tls: Option<Arc<tls::ClientConfig>>,
    /// The credentials.
    pub(crate) auth: Auth,
}

/// A request a cluster node turned away (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, ...) or left
/// unanswered when its connection dropped: handed to the owner with its frame, to be sent
/// elsewhere, later, or failed (`Owner::on_detours`).
///
/// Or a `notice` of what a request that may not move met: a pinned one (a transaction's, a
/// fan-out part's) or a held connection's, whose WATCH or MULTI lives on its node. It fails
/// there, with its reply or its connection's error, but the owner learns from it: a MOVED
/// patches the slot map, a refusal or a lost node asks for a refresh, so that the next one
/// finds the slot's new owner.
#[allow(dead_code)] // read by the cluster client, next
pub(crate) struct Detour {
    /// `Completion::Ignore` for a notice (its caller has its result already).
    pub(crate) completion: Completion,
    /// The server's error reply, or the connection error.
    pub(crate) cause: Error,
    /// Some of it reached the server, which may have run it (a lost connection; a refusing
    /// reply means it did not run). False for a notice of a lost connection: what the owner
    /// learns from it does not depend on what was written.
    pub(crate) written: bool,
    /// Its reply was a refusal: the server did not run it.
    pub(crate) refused: bool,
    /// Empty for a notice.
    pub(crate) frame: Vec<u8>,
    pub(crate) meta: RequestMeta,
    /// The node pool of the connection it came from.
    pub(crate) node: u64,
    /// Nothing to send elsewhere: only what the owner learns (see above).
    pub(crate) notice: bool,
}

impl Detour {
    /// A notice: a request of node `node` that may not move was refused with `cause`
    /// (`refused`), or lost its connection with it.
    fn notice(cause: Error, refused: bool, meta: RequestMeta, node: u64) -> Detour {
        Detour {
            completion: Completion::Ignore,
            cause,
            written: refused,
            refused,
            frame: Vec::new(),
            meta,
            node,
            notice: true,
        }
    }
}

/// True for the error replies a cluster client answers by sending the command elsewhere or
/// later: the server did not run it.
fn detours(reply: &Reply) -> Option<Error> {
    if !matches!(reply.kind(), Kind::Error | Kind::BlobError) {
        return None;
    }
    let err = reply.as_error()?;
    (turned_away(err.kind()) || err.unblocked_by_role_change()).then_some(err)
}

/// The error kinds of a cluster node's refusals: the command was not run, and may run
/// elsewhere or later.
pub(crate) fn turned_away(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Moved
            | ErrorKind::Ask
            | ErrorKind::TryAgain
            | ErrorKind::ClusterDown
            | ErrorKind::MasterDown
            | ErrorKind::ReadOnly
            | ErrorKind::BusyLoading
    )
}

/// An encoded command holding a password; its bytes are overwritten when it is dropped.
pub(crate) struct SecretFrame(pub(crate) Vec<u8>);

impl Drop for SecretFrame {
    fn drop(&mut self) {
        crate::config::wipe(&mut self.0);
    }
}

impl Conn {
    pub(crate) fn new(
        reactor: usize,
        node: u64,
        dedicated: bool,
        endpoint: Endpoint,
        server_name: Option<String>,
        config: &Config,
    ) -> Conn {
        Conn {
            reactor,
            node,
            ready_hint: AtomicBool::new(false),
            state: Mutex::new(ConnState {
                ex: Exchange::new(config.reader_limits, config.max_in_flight_per_connection),
                transport: None,
                phase: Phase::Idle,
                handshake: None,
                token: None,
                writable: false,
                scheduled: false,
                failures: 0,
                backoff: BackoffState::default(),
                last_error: None,
                last_io: Instant::now(),
                health_pending: false,
                lease: if dedicated {
                    Lease::Idle
                } else {
                    Lease::Shared
                },
                protocol: 0,
                endpoint,
                server_name,
                armed: false,
                caller_reading: false,
                since_idle: 0,
                last_lone: None,
                doomed: false,
                sending: false,
                retiring: false,
                epoch: 0,
                got_bytes: false,
                sent_credentials: false,
                in_transaction: false,
                session: false,
                session_lost: false,
                deferred_auth: Vec::new(),
                handoff: Vec::new(),
                handoff_pushes: Vec::new(),
                caller_blocking: false,
                detours: false,
                detoured: Vec::new(),
                node,
                suspect: false,
                recv_timeout: Duration::ZERO,
                orphans: Vec::new(),
                awaiting_credentials: false,
                fetching_credentials: false,
                require_master: false,
                profile: None,
                stream: None,
                was_ready: false,
                health_check: config.health_check_interval,
                listens: false,
                cache: None,
                forgets: None,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The most pending output the reactor copies out to send without the lock
/// (`flush_unlocked`); more is written in place, under the lock.
const UNLOCKED_SEND: usize = 64 * 1024;

/// The reactor's flush, sending on a plain socket without holding the connection's lock:
/// what is pending is copied out, the lock released for the `send`, and what was written
/// recorded after. Submitters on other threads append meanwhile instead of waiting for the
/// lock: with the lock held through the `send`, a thread keeping a window of callback
/// commands full met the reactor there for most commands, each time a futex wait and wake.
/// Nobody else writes or reads the socket meanwhile (`sending`): only appends happen, so the
/// bytes sent are still the next ones to write when the lock is taken again. Only what was
/// pending on entry is sent (what came later was scheduled by its submitter), and it stops
/// early when the connection turned suspect or doomed meanwhile. TLS (whose state is the
/// socket's), the handshake, large outputs and a socket a direct caller reads go the locked
/// way (`ConnState::write_pending`). Returns the guard, and whether output is left that
/// must be flushed again.
pub(crate) fn flush_unlocked<'a>(
    conn: &'a Conn,
    mut st: MutexGuard<'a, ConnState>,
    ctx: &mut Ctx<'_>,
    scratch: &mut Vec<u8>,
) -> (MutexGuard<'a, ConnState>, bool) {
    if !st.prepare_flush(ctx) {
        return (st, false);
    }
    let plain = st.transport.as_ref().is_some_and(|t| !t.is_tls());
    let mut left = st.ex.pending_output().len();
    if !plain
        || !matches!(st.phase, Phase::Ready)
        || !st.ex.is_ready()
        || st.caller_reading
        || left > UNLOCKED_SEND
    {
        if let Err(e) = st.write_pending() {
            st.fail_writing(&e, ctx);
        }
        return (st, false);
    }
    while left > 0 {
        // Only appends came since entry, so this is still at least `left` long.
        let out = st.ex.pending_output();
        left = left.min(out.len());
        if left == 0 {
            break;
        }
        scratch.clear();
        scratch.extend_from_slice(&out[..left]);
        let fd = st.transport.as_ref().map_or(-1, Transport::raw_fd);
        st.sending = true;
        drop(st);
        // Only the reactor (this thread) closes the socket: `fd` stays open.
        let sent = crate::net::send_nonblocking(fd, scratch);
        // The frames may hold a password (AUTH on re-authentication): not left behind.
        scratch.fill(0);
        std::hint::black_box(&mut *scratch);
        st = conn.lock();
        st.sending = false;
        match sent {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::WriteZero, "wrote 0 bytes");
                st.fail_writing(&e, ctx);
                return (st, false);
            }
            Ok(n) => {
                st.ex.handle_written(n);
                left -= n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // The writable event resumes it.
                st.writable = false;
                return (st, false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                st.fail_writing(&e, ctx);
                return (st, false);
            }
        }
        if st.suspect || st.doomed {
            break;
        }
    }
    let again = !st.ex.pending_output().is_empty();
    (st, again)
}

/// What a readiness event says about reading.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Readable {
    No,
    Yes,
    /// The peer closed its side or the socket has an error: read to the end, since no
    /// further edge will come.
    Hangup,
}

/// What the reactor must do after handling a connection.
#[derive(Default)]
pub(crate) struct After {
    /// A name lookup to start off the reactor thread.
    pub(crate) resolve: Option<(String, u16)>,
    /// The connection carried one blocking command that is now answered.
    pub(crate) release: bool,
    /// The connection is retiring and nobody awaits a reply on it: close and forget it.
    pub(crate) retire: bool,
    /// Ask the credential provider, off the reactor thread; the reactor calls
    /// `credentials_arrived` with the answer.
    pub(crate) fetch_credentials: bool,
}

/// The environment the lifecycle functions need from the reactor.
pub(crate) struct Ctx<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) config: &'a Config,
    pub(crate) now: Instant,
    pub(crate) rng: &'a mut FastRng,
    pub(crate) completions: &'a mut Vec<(Completion, Result<Reply>)>,
    pub(crate) pushes: &'a mut Vec<Reply>,
    /// Requests to hand to the owner (cluster redirections and retries).
    pub(crate) detours: &'a mut Vec<Detour>,
    /// The TLS client configuration, when the config asks for TLS.
    pub(crate) tls: Option<&'a Arc<tls::ClientConfig>>,
    /// The client's current credentials.
    pub(crate) auth: &'a Auth,
}

fn connection_error(endpoint: &Endpoint, what: &str, err: &io::Error) -> Error {
    if let Some(failure) = tls::tls_failure(err) {
        return tls::tls_error(failure, &endpoint_name(endpoint));
    }
    Error::new(
        ErrorKind::Connection,
        format!("{what} {}: {err}", endpoint_name(endpoint)),
    )
}

impl ConnState {
    /// Moves what a direct caller handed over into the reactor's lists: always before the
    /// reactor completes anything else of this connection.
    pub(crate) fn take_handoff(
        &mut self,
        completions: &mut Vec<(Completion, Result<Reply>)>,
        pushes: &mut Vec<Reply>,
        detours: &mut Vec<Detour>,
    ) {
        completions.append(&mut self.handoff);
        pushes.append(&mut self.handoff_pushes);
        detours.append(&mut self.detoured);
    }

    /// Before a direct caller waits in `recv` on `fd` (a blocking socket) until `deadline`:
    /// sets the socket's receive timeout unless the one in place is close enough, which it
    /// is from one call to the next with the same command timeout (no system call then).
    pub(crate) fn prepare_recv(
        &mut self,
        fd: i32,
        deadline: Option<Instant>,
        now: Instant,
    ) -> io::Result<()> {
        let (want, fits) = match deadline {
            None => (Duration::ZERO, self.recv_timeout.is_zero()),
            Some(d) => {
                let want = d
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(1));
                let current = self.recv_timeout;
                let close = current.max(want) - current.min(want) <= RECV_TIMEOUT_SLACK;
                (want, !current.is_zero() && close)
            }
        };
        if !fits {
            crate::net::set_recv_timeout(fd, want)?;
            self.recv_timeout = want;
        }
        Ok(())
    }

    /// Takes the socket of `epoch` kept open for a direct caller (see `orphans`).
    pub(crate) fn take_orphan(&mut self, epoch: u64) -> Option<Transport> {
        let i = self.orphans.iter().position(|(e, _)| *e == epoch)?;
        Some(self.orphans.swap_remove(i).1)
    }

    /// Starts (or restarts) connecting. For a TCP host that needs a name lookup, returns it in
    /// `After::resolve`; the reactor calls `resolved` with the result.
    pub(crate) fn start_connect(&mut self, token: Token, ctx: &mut Ctx<'_>) -> After {
        self.token = Some(token);
        let deadline = ctx.config.connect_timeout.map(|t| ctx.now + t);
        match &self.endpoint.clone() {
            Endpoint::Tcp { host, port } => {
                if crate::net::is_ip_literal(host) {
                    match crate::net::resolve(host, *port) {
                        Ok(addrs) => self.connect_addrs(addrs, deadline, ctx),
                        Err(e) => {
                            let err = connection_error(&self.endpoint, "cannot resolve", &e);
                            self.fail(err, ctx);
                        }
                    }
                    After::default()
                } else {
                    self.phase = Phase::Connecting {
                        deadline,
                        addrs: Vec::new(),
                        next: 0,
                    };
                    After {
                        resolve: Some((host.clone(), *port)),
                        ..After::default()
                    }
                }
            }
            Endpoint::Unix { path } => {
                match Transport::connect_unix(path) {
                    Ok(transport) => {
                        self.phase = Phase::Connecting {
                            deadline,
                            addrs: Vec::new(),
                            next: 0,
                        };
                        self.attach(transport, ctx);
                    }
                    Err(e) => {
                        let err = connection_error(&self.endpoint, "cannot connect to", &e);
                        self.fail(err, ctx);
                    }
                }
                After::default()
            }
        }
    }

    /// A name lookup finished.
    pub(crate) fn resolved(&mut self, result: io::Result<Vec<SocketAddr>>, ctx: &mut Ctx<'_>) {
        let Phase::Connecting { deadline, .. } = self.phase else {
            return; // closed or failed meanwhile
        };
        match result {
            Ok(addrs) => self.connect_addrs(addrs, deadline, ctx),
            Err(e) => {
                let err = connection_error(&self.endpoint, "cannot resolve", &e);
                self.fail(err, ctx);
            }
        }
    }

    fn connect_addrs(
        &mut self,
        addrs: Vec<SocketAddr>,
        deadline: Option<Instant>,
        ctx: &mut Ctx<'_>,
    ) {
        self.phase = Phase::Connecting {
            deadline,
            addrs,
            next: 0,
        };
        self.try_next_addr(None, ctx);
    }

    /// Tries the next resolved address; fails the attempt when none is left.
    fn try_next_addr(&mut self, last: Option<io::Error>, ctx: &mut Ctx<'_>) {
        let Phase::Connecting { addrs, next, .. } = &mut self.phase else {
            return;
        };
        let mut last = last;
        while *next < addrs.len() {
            let addr = addrs[*next];
            *next += 1;
            match Transport::connect_tcp(addr) {
                Ok(transport) => {
                    self.attach(transport, ctx);
                    return;
                }
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"));
        let err = connection_error(&self.endpoint, "cannot connect to", &e);
        self.fail(err, ctx);
    }

    fn attach(&mut self, mut transport: Transport, ctx: &mut Ctx<'_>) {
        let token = self.token.expect("token set before connecting");
        if let Err(e) = ctx.registry.register(
            &mut transport,
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            let err = connection_error(&self.endpoint, "cannot register socket for", &e);
            self.fail(err, ctx);
            return;
        }
        self.transport = Some(transport);
        self.writable = false;
        self.armed = true;
        self.suspect = false;
        self.caller_blocking = false;
        self.recv_timeout = Duration::ZERO;
        // Unix sockets connect synchronously; TCP completes on the first writable event.
    }

    /// Registers read interest again if the reactor must read: requests are pending (or the
    /// connection is not ready yet) and no caller is reading. With edge-triggered polling, the
    /// re-registration reports data that is already waiting.
    pub(crate) fn ensure_armed(&mut self, registry: &Registry) {
        if self.armed || self.caller_reading {
            return;
        }
        if self.ex.pending() == 0 && matches!(self.phase, Phase::Ready) && !self.listens {
            return;
        }
        self.arm(registry);
    }

    /// Registers read interest now, whatever is pending (stray input while idle).
    pub(crate) fn ensure_armed_now(&mut self, registry: &Registry) {
        if !self.armed && !self.caller_reading {
            self.arm(registry);
        }
    }

    /// Registers read (and write) interest.
    pub(crate) fn arm(&mut self, registry: &Registry) {
        let (Some(transport), Some(token)) = (self.transport.as_mut(), self.token) else {
            return;
        };
        if registry
            .reregister(transport, token, Interest::READABLE | Interest::WRITABLE)
            .is_ok()
        {
            self.armed = true;
        }
    }

    /// Drops read interest, so a caller can read without waking the reactor.
    pub(crate) fn disarm(&mut self, registry: &Registry) {
        let (Some(transport), Some(token)) = (self.transport.as_mut(), self.token) else {
            return;
        };
        if registry
            .reregister(transport, token, Interest::WRITABLE)
            .is_ok()
        {
            self.armed = false;
        }
    }

    /// A readiness event for this connection.
    pub(crate) fn on_event(
        &mut self,
        readable: Readable,
        writable: bool,
        readbuf: &mut [u8],
        ctx: &mut Ctx<'_>,
    ) -> After {
        let hangup = readable == Readable::Hangup;
        let readable = readable != Readable::No;
        self.take_handoff(ctx.completions, ctx.pushes, ctx.detours);
        if self.transport.is_none() {
            return After::default();
        }
        let mut fetch_credentials = false;
        if matches!(self.phase, Phase::Connecting { .. }) {
            if !(writable || readable) {
                return After::default();
            }
            match self.transport.as_ref().expect("transport").finish_connect() {
                Ok(()) => fetch_credentials = self.connected(ctx),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return After::default(),
                Err(e) => {
                    self.detach(ctx.registry);
                    self.try_next_addr(Some(e), ctx);
                    return After::default();
                }
            }
        }
        if writable {
            self.writable = true;
        }
        if readable && !self.caller_reading {
            self.read(readbuf, hangup, ctx);
        }
        if self.transport.is_some() && self.writable {
            self.flush(ctx);
        }
        self.ensure_armed(ctx.registry);
        After {
            resolve: None,
            release: self.lease == Lease::Single && self.ex.pending() == 0,
            retire: self.may_retire(),
            fetch_credentials,
        }
    }

    /// The socket is connected: set it up, wrap it in TLS, and start the handshake, or, with
    /// a credential provider, wait for its answer first. Returns true when a helper thread
    /// must ask the provider (none is asking already).
    fn connected(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let config = ctx.config;
        let profile = self.profile.clone();
        let (tls_config, tls_options, auth) = match profile.as_deref() {
            Some(p) => (p.tls.as_ref(), &p.config.tls_options, &p.auth),
            None => (ctx.tls, &config.tls_options, ctx.auth),
        };
        // One deadline for the whole opening: TCP connect, TLS and the Redis handshake.
        let deadline = match self.phase {
            Phase::Connecting { deadline, .. } => deadline,
            _ => config.connect_timeout.map(|t| ctx.now + t),
        };
        let keepalive = config.tcp_keepalive.map(|k| KeepaliveOptions {
            idle: k.idle,
            interval: k.interval,
            count: k.count,
        });
        if let Err(e) = self
            .transport
            .as_ref()
            .expect("transport")
            .configure(config.tcp_nodelay, keepalive)
        {
            let err = connection_error(&self.endpoint, "cannot set socket options for", &e);
            self.fail(err, ctx);
            return false;
        }
        if tls_config.is_none() {
            match self
                .transport
                .as_ref()
                .expect("transport")
                .set_caller_blocking()
            {
                Ok(blocking) => self.caller_blocking = blocking,
                Err(e) => {
                    let err = connection_error(&self.endpoint, "cannot set socket options for", &e);
                    self.fail(err, ctx);
                    return false;
                }
            }
        }
        if let Some(tls_config) = tls_config {
            let host = match &self.endpoint {
                Endpoint::Tcp { host, .. } => Some(self.server_name.as_deref().unwrap_or(host)),
                Endpoint::Unix { .. } => None,
            };
            let wrapped = tls::server_name(tls_options, host).and_then(|name| {
                let plain = self.transport.take().expect("transport");
                plain.into_tls(tls_config.clone(), name)
            });
            match wrapped {
                Ok(transport) => self.transport = Some(transport),
                Err(err) => {
                    self.fail(err, ctx);
                    return false;
                }
            }
        }
        self.got_bytes = false;
        if auth.provider().is_some() {
            // The provider may take its time (a token service): it is asked on a helper
            // thread, and the handshake starts when it answers, within the same deadline.
            self.awaiting_credentials = true;
            self.ex.begin_control();
            self.phase = Phase::Handshaking { deadline };
            self.writable = true;
            self.last_io = ctx.now;
            let ask = !self.fetching_credentials;
            self.fetching_credentials = true;
            return ask;
        }
        self.begin_handshake(None, deadline, ctx);
        false
    }

    /// The credential provider answered (for this connection, maybe for an earlier socket of
    /// it): start the handshake of the socket waiting for it, or fail it.
    pub(crate) fn credentials_arrived(&mut self, answer: Result<Credentials>, ctx: &mut Ctx<'_>) {
        self.fetching_credentials = false;
        if !self.awaiting_credentials || self.transport.is_none() {
            return; // that socket is gone; the next one asks again
        }
        let Phase::Handshaking { deadline } = self.phase else {
            return;
        };
        self.awaiting_credentials = false;
        match answer {
            Ok(credentials) => {
                self.begin_handshake(Some(credentials), deadline, ctx);
                self.flush(ctx);
                self.ensure_armed(ctx.registry);
            }
            Err(err) => self.fail(err, ctx),
        }
    }

    /// Queues the handshake's first commands (or ends it at once when there is nothing to
    /// negotiate).
    fn begin_handshake(
        &mut self,
        fetched: Option<Credentials>,
        deadline: Option<Instant>,
        ctx: &mut Ctx<'_>,
    ) {
        let profile = self.profile.clone();
        let (config, auth) = match profile.as_deref() {
            Some(p) => (&p.config, &p.auth),
            None => (ctx.config, ctx.auth),
        };
        let credentials = auth.for_handshake(fetched, ctx.now);
        self.sent_credentials = credentials.username.is_some() || credentials.password.is_some();
        let mut params = handshake_params(config, credentials, self.require_master);
        if self.cache.is_some() {
            params.extra.push(tracking::tracking_on());
        }
        let mut handshake = Handshake::new(params);
        self.ex.begin_control();
        self.ex.push_control(|buf| handshake.poll_transmit(buf));
        self.writable = true;
        self.last_io = ctx.now;
        match handshake.poll_outcome() {
            // Nothing to negotiate (RESP2, no credentials, no settings).
            Some(outcome) => self.handshake_done(outcome.protocol),
            None => {
                self.handshake = Some(handshake);
                self.phase = Phase::Handshaking { deadline };
            }
        }
    }

    fn handshake_done(&mut self, protocol: u8) {
        self.protocol = protocol;
        self.handshake = None;
        self.ex.set_ready();
        if let Some(stream) = self.stream.as_ref() {
            stream.on_ready(&mut self.ex, protocol, self.was_ready);
        }
        self.was_ready = true;
        self.phase = Phase::Ready;
        self.failures = 0;
        self.last_error = None;
        self.backoff = BackoffState::default();
    }

    /// Reads what the socket holds. Polling is edge-triggered, so a plain socket is read
    /// until a read comes back short: more data arriving later is a new edge. After a hangup
    /// (no edge will follow) and through TLS (whose reads are of records, not of the socket)
    /// it reads until the socket says it would block.
    fn read(&mut self, readbuf: &mut [u8], hangup: bool, ctx: &mut Ctx<'_>) {
        loop {
            let Some(transport) = self.transport.as_mut() else {
                return;
            };
            let tls_handshaking = transport.is_tls_handshaking();
            let result = transport.read(readbuf);
            if tls_handshaking && !transport.is_tls_handshaking() {
                // The TLS handshake just ended: the Redis handshake, refused until now, can
                // be written.
                self.writable = true;
            }
            match result {
                Ok(0) => {
                    let err = self.hangup_error(None);
                    self.fail(err, ctx);
                    return;
                }
                Ok(n) => {
                    self.last_io = ctx.now;
                    let first = !self.got_bytes;
                    self.got_bytes = true;
                    let plain = !self.transport.as_ref().is_some_and(Transport::is_tls);
                    if first && plain && tls::looks_like_tls(&readbuf[..n]) {
                        let err = Error::new(
                            ErrorKind::Tls,
                            format!(
                                "{} answered with TLS: the server expects TLS on this port; \
                                 use rediss:// (or turn TLS on)",
                                endpoint_name(&self.endpoint)
                            ),
                        );
                        self.fail(err, ctx);
                        return;
                    }
                    let completions = &mut *ctx.completions;
                    let on_reply = |c, r| completions.push((c, r));
                    let ingested = self.ingest(&readbuf[..n], on_reply, ctx.pushes);
                    ctx.detours.append(&mut self.detoured);
                    if let Err(err) = ingested {
                        self.fail(err, ctx);
                        return;
                    }
                    if plain && !hangup && n < readbuf.len() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    let err = self.hangup_error(Some(&e));
                    self.fail(err, ctx);
                    return;
                }
                Err(e) => {
                    let err = connection_error(&self.endpoint, "error reading from", &e);
                    self.fail(err, ctx);
                    return;
                }
            }
        }
    }

    /// The error for a server that closed (or reset, `reset`) the connection. During the
    /// handshake, before the server said anything, the likely TLS mix-ups are named.
    fn hangup_error(&self, reset: Option<&io::Error>) -> Error {
        let name = endpoint_name(&self.endpoint);
        let how = if reset.is_some() {
            "reset the connection"
        } else {
            "closed the connection"
        };
        let handshaking = matches!(self.phase, Phase::Handshaking { .. });
        let tls = self.transport.as_ref().is_some_and(Transport::is_tls);
        let tls_handshaking = self
            .transport
            .as_ref()
            .is_some_and(Transport::is_tls_handshaking);
        if handshaking && tls_handshaking {
            return Error::new(
                ErrorKind::Tls,
                format!(
                    "{name} {how} during the TLS handshake: the port may not speak TLS \
                     (use redis:// without TLS), or the server refused our TLS settings"
                ),
            );
        }
        if handshaking && !self.got_bytes && tls {
            return Error::new(
                ErrorKind::Tls,
                format!(
                    "{name} {how} right after the TLS handshake, before answering: the \
                     server may require a client certificate (mutual TLS); set tls_cert_file \
                     and tls_key_file"
                ),
            );
        }
        if handshaking && !self.got_bytes {
            return Error::new(
                ErrorKind::Tls,
                format!(
                    "{name} {how} without answering the handshake, as a TLS-only port does \
                     with plain text: if the server expects TLS, use rediss:// (or turn TLS on)"
                ),
            );
        }
        match reset {
            Some(e) => connection_error(&self.endpoint, "error reading from", e),
            None => Error::new(ErrorKind::Connection, format!("{name} {how}")),
        }
    }

    /// Decodes bytes read from the socket: replies to their completions, pushes apart,
    /// handshake replies to the handshake, the health check's reply to itself, and (on a
    /// cluster node's connection) refusals such as MOVED to `detoured`.
    pub(crate) fn ingest(
        &mut self,
        bytes: &[u8],
        mut on_reply: impl FnMut(Completion, Result<Reply>),
        pushes: &mut Vec<Reply>,
    ) -> Result<()> {
        let mut controls: Vec<Reply> = Vec::new();
        let mut health: Option<Result<Reply>> = None;
        let sent_credentials = self.sent_credentials;
        let held = self.lease == Lease::Held;
        let detouring = self.detours;
        let node = self.node;
        let detoured = &mut self.detoured;
        let stream = self.stream.as_deref();
        let cache = self.cache.as_ref();
        let forgets = self.forgets.as_ref();
        self.ex.handle_read(bytes, |event| match event {
            Event::Reply(Completion::HealthCheck, reply, _) => {
                health = Some(reply_to_result(reply))
            }
            Event::Reply(completion, reply, sent) => {
                if detouring && !matches!(completion, Completion::Ignore) {
                    if let Some(cause) = detours(&reply) {
                        if held || sent.meta.pinned {
                            // It may not move: it fails with this reply, and the owner learns.
                            detoured.push(Detour::notice(cause, true, *sent.meta, node));
                        } else {
                            detoured.push(Detour {
                                completion,
                                cause,
                                written: true,
                                refused: true,
                                frame: sent.frame.to_vec(),
                                meta: *sent.meta,
                                node,
                                notice: false,
                            });
                            return;
                        }
                    }
                }
                if let (true, Some(cache)) = (sent.meta.forgets, forgets) {
                    tracking::forget_frame(cache, sent.frame);
                }
                if let Some(cache) = cache {
                    tracking::offer(cache, &sent, &reply);
                }
                on_reply(
                    completion,
                    reply_to_result(reply).map_err(|e| explain_noauth(e, sent_credentials)),
                )
            }
            Event::Push(reply) if cache.is_some_and(|c| tracking::invalidated(c, &reply)) => {}
            Event::Push(reply) => match stream {
                Some(stream) => stream.on_frame(reply),
                None => pushes.push(reply),
            },
            Event::Control(reply) => controls.push(reply),
        })?;
        if let Some(result) = health {
            self.health_pending = false;
            if let Err(e) = result {
                return Err(Error::new(
                    ErrorKind::Connection,
                    format!("health check failed: {}", e.message()),
                ));
            }
        }
        for reply in controls {
            let Some(handshake) = self.handshake.as_mut() else {
                return Err(Error::protocol(
                    "a handshake reply came after the handshake",
                ));
            };
            match handshake.handle_reply(&reply)? {
                Progress::NeedMore => {
                    self.ex.push_control(|buf| handshake.poll_transmit(buf));
                }
                Progress::Done(outcome) => self.handshake_done(outcome.protocol),
            }
        }
        Ok(())
    }

    /// True when nothing waits to be written: neither frames in the exchange nor encrypted
    /// bytes in the transport.
    pub(crate) fn output_flushed(&self) -> bool {
        self.ex.is_flushed()
            && !self
                .transport
                .as_ref()
                .is_some_and(Transport::has_pending_output)
    }

    /// Completes the requests whose deadline passed with TIMEOUT; those not written yet are
    /// dropped from the output (see `Exchange::expire`). A health check that timed out fails
    /// the connection, so does a blocking command that timed out on the connection leased to
    /// it, and so does a timed-out request whose reply was partly read (see
    /// `Exchange::reply_stalled`): every flush comes here first, so nothing more is written
    /// on a connection whose replies could no longer be paired.
    fn expire(&mut self, ctx: &mut Ctx<'_>) {
        let completions = &mut *ctx.completions;
        let mut health_timed_out = false;
        let mut timed_out = false;
        self.ex.expire(ctx.now, |c| match c {
            Completion::HealthCheck => health_timed_out = true,
            c => {
                timed_out = true;
                completions.push((
                    c,
                    Err(Error::new(ErrorKind::Timeout, "the command timed out")),
                ))
            }
        });
        if timed_out && self.detours {
            // The node may hang (a paused or frozen primary that its cluster is failing over):
            // the owner learns of it (a cluster client asks for the topology, asking other
            // nodes first). One notice per turn, however many timed out.
            let cause = Error::new(
                ErrorKind::Timeout,
                format!("a command to {} timed out", endpoint_name(&self.endpoint)),
            );
            ctx.detours.push(Detour::notice(
                cause,
                false,
                RequestMeta::default(),
                self.node,
            ));
        }
        if timed_out
            && self.lease == Lease::Single
            && self.ex.pending() > 0
            && self.transport.is_some()
        {
            // A blocking command timed out after it was written (its server is late, busy
            // or paused): close its connection, so that the server drops the command rather
            // than run it for nobody later (a BLPOP would pop an element no one reads), and
            // the connection is free again now rather than when the server gets to it.
            let err = Error::new(
                ErrorKind::Connection,
                format!(
                    "closed a dedicated connection to {}: its blocking command timed out",
                    endpoint_name(&self.endpoint)
                ),
            );
            self.fail(err, ctx);
            return;
        }
        if health_timed_out {
            let err = Error::new(
                ErrorKind::Connection,
                format!(
                    "{} did not answer a health check",
                    endpoint_name(&self.endpoint)
                ),
            );
            self.fail(err, ctx);
            return;
        }
        if self.transport.is_some() && self.ex.reply_stalled(ctx.now) {
            let err = Error::new(
                ErrorKind::Connection,
                format!(
                    "closed the connection to {}: a command timed out with its reply partly \
                     read, so later replies could not be paired with their commands",
                    endpoint_name(&self.endpoint)
                ),
            );
            self.fail(err, ctx);
        }
    }

    /// Writes what is pending until the socket would block. Requests that expired while
    /// they waited to be written are dropped first: a caller told TIMEOUT may retry, so the
    /// command must not also run late.
    pub(crate) fn flush(&mut self, ctx: &mut Ctx<'_>) {
        if self.prepare_flush(ctx) {
            if let Err(e) = self.write_pending() {
                self.fail_writing(&e, ctx);
            }
        }
    }

    /// What comes before the reactor's write: the timeouts, and a look for a close when the
    /// connection was idle or is suspect. False when nothing is to be written now.
    fn prepare_flush(&mut self, ctx: &mut Ctx<'_>) -> bool {
        self.expire(ctx);
        !self.input_waits(ctx.registry, ctx.now)
    }

    /// Before a write to a ready connection that is suspect, or had nothing in flight and no
    /// I/O for `CLOSE_CHECK`: true when input waits on its socket (a hang-up, or stray bytes),
    /// which is then armed so that the reactor reads it before anything is written. A command
    /// written after the server closed the connection fails although the server never saw
    /// it; held back, it goes out on the new connection.
    pub(crate) fn input_waits(&mut self, registry: &Registry, now: Instant) -> bool {
        if !matches!(self.phase, Phase::Ready) {
            return false;
        }
        let idle = self.ex.in_flight() == 0
            && !self.listens
            && now.saturating_duration_since(self.last_io) > CLOSE_CHECK;
        if !(self.suspect || idle) {
            return false;
        }
        self.suspect = false;
        if !self
            .transport
            .as_ref()
            .is_some_and(|t| crate::net::has_input(t.raw_fd()))
        {
            return false;
        }
        self.ensure_armed_now(registry);
        true
    }

    fn fail_writing(&mut self, e: &io::Error, ctx: &mut Ctx<'_>) {
        let err = connection_error(&self.endpoint, "error writing to", e);
        self.fail(err, ctx);
    }

    /// The write loop, usable from a caller's thread. An error leaves the connection for the
    /// reactor to fail.
    pub(crate) fn write_pending(&mut self) -> io::Result<()> {
        let Some(transport) = self.transport.as_mut() else {
            return Ok(());
        };
        if !matches!(self.phase, Phase::Ready | Phase::Handshaking { .. }) {
            return Ok(());
        }
        loop {
            let out = self.ex.pending_output();
            if out.is_empty() {
                // TLS records may still wait in the transport.
                return match transport.flush() {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.writable = false;
                        Ok(())
                    }
                    other => other,
                };
            }
            match transport.write(out) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote 0 bytes")),
                Ok(n) => self.ex.handle_written(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn detach(&mut self, registry: &Registry) {
        if let Some(mut transport) = self.transport.take() {
            let _ = registry.deregister(&mut transport);
            // Also wakes a direct caller blocked in poll(2) or recv(2) on this socket.
            transport.shutdown();
            if self.caller_reading {
                self.orphans.push((self.epoch, transport));
            }
        }
        self.writable = false;
        self.armed = false;
        // A direct caller reading the old socket sees the new epoch and leaves the requests
        // to the reactor; the next socket must not wait for that caller to read it.
        self.epoch += 1;
        self.doomed = false;
        self.caller_reading = false;
        self.awaiting_credentials = false;
    }

    /// The connection failed: fail or keep its requests (see `Exchange::handle_disconnect`),
    /// then back off before reconnecting. After more consecutive failed attempts than the
    /// retry policy allows, requests still queued fail too, with this error.
    pub(crate) fn fail(&mut self, err: Error, ctx: &mut Ctx<'_>) {
        self.take_handoff(ctx.completions, ctx.pushes, ctx.detours);
        if self.retiring {
            // Closed for good: what may be sent elsewhere is, the rest fails.
            self.hand_over_unanswered(&err, 0, ctx.completions, ctx.detours);
            self.close(&err, ctx.registry, ctx.completions);
            return;
        }
        let stays =
            |meta: &RequestMeta, c: &Completion| meta.pinned && !matches!(c, Completion::Ignore);
        if self.detours && self.ex.any_awaited(stays) {
            // What may not move waits here for its node or fails with this connection; the
            // owner learns that the node may be down (a refresh may name a new owner). An
            // ASKING goes with its command, which is handed over.
            let meta = RequestMeta {
                pinned: true,
                ..RequestMeta::default()
            };
            ctx.detours
                .push(Detour::notice(err.clone(), false, meta, self.node));
        }
        if let Some(cache) = self.cache.as_ref() {
            tracking::lost(cache);
        }
        self.detach(ctx.registry);
        self.handshake = None;
        self.health_pending = false;
        let was_ready = matches!(self.phase, Phase::Ready);
        if was_ready && (self.session || self.ex.any_pending(|meta| meta.session)) {
            // The holder's WATCH, MULTI or SELECT went with the socket: what it queued counted
            // on them (a command queued after MULTI would run alone on the next socket), also
            // when it has given the connection back since.
            let completions = &mut *ctx.completions;
            self.ex
                .fail_all(|c| completions.push((c, Err(err.clone()))));
            self.session_lost = self.session;
            self.session = false;
        }
        let retry = &ctx.config.retry;
        self.hand_over_unanswered(&err, retry.retries, ctx.completions, ctx.detours);
        let completions = &mut *ctx.completions;
        // The transaction died with the connection: deferred AUTHs go out after the next
        // handshake, like any request not yet written.
        self.in_transaction = false;
        for (frame, completion) in std::mem::take(&mut self.deferred_auth) {
            self.ex.enqueue_secret(
                &frame.0,
                completion,
                RequestMeta {
                    deadline: None,
                    retry_written: false,
                    ..RequestMeta::default()
                },
            );
        }
        // A connection that was up gets one immediate attempt; failed attempts back off.
        if !was_ready {
            self.failures += 1;
        }
        let fatal = err.kind().is(ErrorKind::Authentication) || err.kind() == ErrorKind::Protocol;
        let dropped = self.failures > retry.retries || (fatal && !was_ready);
        if dropped {
            self.ex
                .fail_all(|c| completions.push((c, Err(err.clone()))));
        }
        if let Some(stream) = self.stream.as_ref() {
            stream.on_lost(&err, dropped);
        }
        let delay = if was_ready {
            Duration::ZERO
        } else {
            backoff_delay(&retry.backoff, self.failures, &mut self.backoff, ctx.rng)
        };
        self.last_error = Some(err);
        self.phase = Phase::Backoff {
            until: ctx.now + delay,
        };
    }

    /// Closes the connection for good at once, whatever is in flight: what it has not
    /// answered is handed to the owner as detours (a node's that may send it elsewhere) or
    /// failed with `err`, as when a connection drops; nothing is sent on it again. For a
    /// master that is a master no longer.
    pub(crate) fn abandon(&mut self, err: Error, ctx: &mut Ctx<'_>) {
        self.retiring = true;
        self.fail(err, ctx);
    }

    /// What a connection that is gone left unanswered (see `Exchange::handle_disconnect`):
    /// a cluster node's (unless held) goes to the owner to be sent elsewhere (after a
    /// topology refresh) or failed, rather than wait here for this node to return; the rest
    /// is kept to be written again (`retries` times at most once written) or fails with `err`.
    pub(crate) fn hand_over_unanswered(
        &mut self,
        err: &Error,
        retries: u32,
        completions: &mut Vec<(Completion, Result<Reply>)>,
        detours: &mut Vec<Detour>,
    ) {
        let failed = |c| completions.push((c, Err(err.clone())));
        if !self.detours || self.lease == Lease::Held {
            self.ex.handle_disconnect(retries, failed);
            return;
        }
        let node = self.node;
        let divert = |completion, unanswered: Unanswered<'_>| {
            // Nobody waits for these, and what they were for went with the connection: an
            // ASKING's command is sent elsewhere (written alone after a reconnect, ASKING
            // would hold for whatever command came next), a DISCARD's transaction is gone.
            if matches!(completion, Completion::Ignore) {
                return None;
            }
            if unanswered.meta.pinned {
                return Some(completion);
            }
            detours.push(Detour {
                completion,
                cause: err.clone(),
                written: unanswered.written,
                refused: false,
                frame: unanswered.frame.to_vec(),
                meta: *unanswered.meta,
                node,
                notice: false,
            });
            None
        };
        self.ex.handle_disconnect_diverting(retries, divert, failed);
    }

    /// Timers: connect and handshake timeouts, reconnects due, request timeouts, health
    /// checks. Returns true when a reconnect is due (the reactor starts it with a token).
    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>) -> bool {
        self.take_handoff(ctx.completions, ctx.pushes, ctx.detours);
        match self.phase {
            Phase::Connecting {
                deadline: Some(d), ..
            }
            | Phase::Handshaking { deadline: Some(d) }
                if d <= ctx.now =>
            {
                let what = if matches!(self.phase, Phase::Connecting { .. }) {
                    "connecting to"
                } else {
                    "handshake with"
                };
                let tls_handshaking = self
                    .transport
                    .as_ref()
                    .is_some_and(Transport::is_tls_handshaking);
                let err = if self.awaiting_credentials {
                    Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "the credential provider did not answer within the connect \
                             timeout (connecting to {})",
                            endpoint_name(&self.endpoint)
                        ),
                    )
                } else if tls_handshaking {
                    Error::new(
                        ErrorKind::Tls,
                        format!(
                            "the TLS handshake with {} did not finish within the connect \
                             timeout: the port may not speak TLS (a plain Redis server never \
                             answers a TLS hello; use redis:// without TLS)",
                            endpoint_name(&self.endpoint)
                        ),
                    )
                } else {
                    Error::new(
                        ErrorKind::Timeout,
                        format!("timed out {what} {}", endpoint_name(&self.endpoint)),
                    )
                };
                self.fail(err, ctx);
            }
            Phase::Backoff { until } if until <= ctx.now => return true,
            _ => {}
        }
        self.expire(ctx);
        if let (Some(interval), Phase::Ready) = (self.health_check, &self.phase) {
            if self.health_check_due() && ctx.now >= self.last_io + interval {
                self.health_pending = true;
                let deadline = Some(ctx.now + ctx.config.command_timeout.unwrap_or(interval));
                self.ex.enqueue(
                    |buf| encode_command(buf, &["PING"]),
                    Completion::HealthCheck,
                    RequestMeta {
                        deadline,
                        retry_written: false,
                        ..RequestMeta::default()
                    },
                );
                self.last_io = ctx.now;
                self.flush(ctx);
                self.ensure_armed(ctx.registry);
            }
        }
        false
    }

    /// Whether a health check may be sent once the connection has been idle long enough: none
    /// is pending, no other request is awaited, and no holder's MULTI is open (the PING would
    /// be queued into the transaction and answered by EXEC). A request that timed out may
    /// still be pending, its late reply to be read and discarded: the PING goes behind it, so
    /// replies stay paired, and a connection that answers neither is found dead.
    fn health_check_due(&self) -> bool {
        !self.health_pending && !self.awaits_replies() && !self.in_transaction
    }

    /// Some pending request is still awaited by someone (not timed out).
    fn awaits_replies(&self) -> bool {
        self.ex.any_awaited(|_, _| true)
    }

    /// A retiring connection that may close now: it has no socket (nothing pending can be
    /// answered), or nobody awaits a reply on it (a timed-out request's late reply is no
    /// reason to keep it open, on a server that may never answer).
    pub(crate) fn may_retire(&self) -> bool {
        self.retiring && (self.transport.is_none() || !self.awaits_replies())
    }

    /// When this connection next needs the reactor's attention without I/O.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Connecting { deadline, .. } | Phase::Handshaking { deadline } => deadline,
            Phase::Backoff { until } => Some(until),
            _ => None,
        };
        let health = match (self.health_check, &self.phase) {
            (Some(interval), Phase::Ready) if self.health_check_due() => {
                Some(self.last_io + interval)
            }
            _ => None,
        };
        [phase, self.ex.next_deadline(), health]
            .into_iter()
            .flatten()
            .min()
    }

    /// Shuts the connection down for good, failing everything pending with `err`.
    pub(crate) fn close(
        &mut self,
        err: &Error,
        registry: &Registry,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    ) {
        completions.append(&mut self.handoff);
        // Pushes of a connection closed for good have no one left to care.
        self.handoff_pushes.clear();
        for detour in self.detoured.drain(..) {
            completions.push((detour.completion, Err(detour.cause)));
        }
        self.detach(registry);
        self.handshake = None;
        self.phase = Phase::Closed;
        if let Some(stream) = self.stream.take() {
            stream.on_closed(err);
        }
        if let Some(cache) = self.cache.take() {
            tracking::lost(&cache);
        }
        self.ex
            .fail_all(|c| completions.push((c, Err(err.clone()))));
        for (_, c) in self.deferred_auth.drain(..) {
            completions.push((c, Err(err.clone())));
        }
    }

    /// Another connection to the same node just succeeded, so the node is up: a connection
    /// backing off after failed attempts reconnects now, and takes commands again instead of
    /// refusing them with its stale error. Returns true when it was backing off (its reactor
    /// must then look at its timers).
    pub(crate) fn node_up(&mut self, now: Instant) -> bool {
        if self.retiring || !matches!(self.phase, Phase::Backoff { .. }) {
            return false;
        }
        self.phase = Phase::Backoff { until: now };
        self.failures = 0;
        self.backoff = BackoffState::default();
        true
    }

    /// Counts a submission (`idle`: nothing was pending) and says whether it is a *lone* one:
    /// it finds the connection idle, and the submission that last found it idle had no other
    /// follow it while its reply was awaited. A lone submission may be written by its
    /// submitter (see `Engine::after_enqueue`); submissions that come in bursts are left to
    /// the reactor, which writes each burst in one batch.
    pub(crate) fn count_submission(&mut self, idle: bool) -> bool {
        if idle {
            let lone = self.since_idle <= 1;
            self.since_idle = 1;
            lone
        } else {
            self.since_idle = self.since_idle.saturating_add(1);
            false
        }
    }

    /// When this connection last had a lone submission, while more may come and be written
    /// by their submitters (`Engine::after_enqueue`): it is ready, the last submission that
    /// found it idle came alone, and nothing has marked it doomed. The reactor keeps its
    /// sleep short for a while after that (`Reactor::next_timeout`).
    pub(crate) fn lone_since(&self) -> Option<Instant> {
        if matches!(self.phase, Phase::Ready) && self.since_idle == 1 && !self.doomed {
            self.last_lone
        } else {
            None
        }
    }

    /// `refuses`, and a holder's request that counts on state the connection lost since the
    /// holder last looked (`HolderState::check_lost` says more).
    pub(crate) fn refuses_request(&self, config: &Config, meta: &RequestMeta) -> Option<Error> {
        if meta.session && self.session_lost {
            return Some(Error::new(
                ErrorKind::Connection,
                "the dedicated connection was lost and reconnected: the state its holder \
                 kept on it (WATCH, MULTI, SELECT, ...) is gone",
            ));
        }
        self.refuses(config)
    }

    /// Takes the completions `cancel` picks out of a connection leased for one blocking
    /// command (see `Exchange::cancel`); a connection in any other use is left alone. When a
    /// command was written (or is sure to be), the socket is shut down at once, under this
    /// lock: the server drops a blocked client with its connection, so the command ends
    /// there too, and nothing written after this can reach it. The reactor then meets the
    /// closed socket, drops the cancelled request and reconnects; the caller wakes it, for
    /// it to give the connection back to its pool once nothing is pending.
    pub(crate) fn cancel_single(
        &mut self,
        cancel: impl FnMut(&Completion) -> bool,
    ) -> Vec<Completion> {
        if self.lease != Lease::Single {
            return Vec::new();
        }
        // ASKING goes with the command after it; while the reactor sends a copy of the
        // output without the lock, nothing may leave the ring (the command then counts as
        // written, and the socket is shut down).
        let goes_with = |frame: &[u8]| frame == ASKING_FRAME;
        let (taken, stayed) = self.ex.cancel(cancel, goes_with, !self.sending);
        if let (Some(transport), true) = (&self.transport, stayed) {
            // SAFETY: shutdown of a descriptor this connection owns and keeps open; the
            // reactor closes it later, as after any hang-up.
            unsafe { libc::shutdown(transport.raw_fd(), libc::SHUT_RDWR) };
        }
        taken
    }

    /// True when new commands should fail at once with `last_error` rather than wait: the
    /// connection is closed, or down after exhausting its retries.
    pub(crate) fn refuses(&self, config: &Config) -> Option<Error> {
        if self.retiring {
            return Some(super::completion::closed_error());
        }
        match self.phase {
            Phase::Closed => Some(super::completion::closed_error()),
            Phase::Backoff { .. } if self.failures > config.retry.retries => {
                self.last_error.clone()
            }
            _ => None,
        }
    }
}

/// NOAUTH on a command: say that the server wants a password, and whether one was sent.
fn explain_noauth(err: Error, sent_credentials: bool) -> Error {
    if !err.message().starts_with("NOAUTH") {
        return err;
    }
    let why = if sent_credentials {
        "the server requires a password, and this connection is not authenticated"
    } else {
        "the server requires a password and none is configured (set a password or a \
         credential provider)"
    };
    Error::new(
        ErrorKind::Authentication,
        format!("{why} (server said: {})", err.message()),
    )
}

fn backoff_delay(
    backoff: &Backoff,
    failures: u32,
    state: &mut BackoffState,
    rng: &mut FastRng,
) -> Duration {
    backoff.delay(failures, state, &mut || rng.next_u64())
}

fn handshake_params(
    config: &Config,
    credentials: HandshakeCredentials,
    require_master: bool,
) -> HandshakeParams {
    HandshakeParams {
        protocol: match config.protocol {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        },
        username: credentials.username,
        password: credentials.password,
        client_name: config.client_name.clone(),
        db: config.db,
        lib_name: config.lib_name.clone(),
        lib_version: config.lib_version.clone(),
        // Replicas serve reads on a connection only after READONLY (harmless on a primary,
        // and a connection's node may change roles).
        extra: match &config.cluster {
            Some(cluster) if cluster.read_from != crate::config::ReadFrom::Primary => {
                vec![vec![b"READONLY".to_vec()]]
            }
            _ => Vec::new(),
        },
        require_master,
        // Without RESP3 a cached client would never hear of an invalidation.
        require_resp3: config.cache.is_some(),
    }
}

/// Publishes whether the connection is ready, for pickers. Returns true when it has just
/// become ready (the reactor then tells the owner that the node is up).
pub(crate) fn set_ready_hint(conn: &Conn, state: &ConnState) -> bool {
    let ready = matches!(state.phase, Phase::Ready);
    let was = conn.ready_hint.swap(ready, Ordering::Relaxed);
    ready && !was
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A cluster node's connection (it hands over what it leaves unanswered), ready, with
    /// `ASKING` (when `asking`) and a `GET k` queued, nothing written.
    pub(in crate::reactor) fn node_conn(config: &Config, asking: bool) -> Conn {
        let endpoint = Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 1,
        };
        let conn = Conn::new(0, 7, false, endpoint, None, config);
        let mut st = conn.lock();
        st.detours = true;
        st.phase = Phase::Ready;
        st.ex.set_ready();
        if asking {
            let pinned = RequestMeta {
                pinned: true,
                ..RequestMeta::default()
            };
            st.ex
                .enqueue_frame(ASKING_FRAME, Completion::Ignore, pinned);
        }
        let get = Completion::Boxed(Box::new(|_| {}));
        st.ex.enqueue(
            |b| encode_command(b, &["GET", "k"]),
            get,
            RequestMeta::default(),
        );
        drop(st);
        conn
    }

    /// Fails `st` as a lost connection; returns the requests it handed over and the number
    /// of completions it ran.
    fn lose(st: &mut ConnState, config: &Config) -> (Vec<Detour>, usize) {
        let poll = mio::Poll::new().unwrap();
        let auth = Auth::new(config);
        let mut rng = FastRng::new(1);
        let (mut completions, mut pushes, mut detours) = (Vec::new(), Vec::new(), Vec::new());
        let mut ctx = Ctx {
            registry: poll.registry(),
            config,
            now: Instant::now(),
            rng: &mut rng,
            completions: &mut completions,
            pushes: &mut pushes,
            detours: &mut detours,
            tls: None,
            auth: &auth,
        };
        let lost = Error::new(ErrorKind::Connection, "the server closed the connection");
        st.fail(lost, &mut ctx);
        (detours, completions.len())
    }

    /// Only a submission that finds the connection idle, after an idle period in which one
    /// submission alone was made, is lone: a window of one command, or sporadic traffic. A
    /// burst makes the next idle period's first submission go to the reactor too.
    #[test]
    fn a_submission_is_lone_only_after_an_idle_period_of_one() {
        let config = Config::default();
        let conn = node_conn(&config, false);
        let mut st = conn.lock();
        assert!(st.count_submission(true), "the first one");
        assert!(st.count_submission(true), "one at a time");
        assert!(st.count_submission(true));
        assert!(
            !st.count_submission(false),
            "a second one while the first is pending"
        );
        assert!(!st.count_submission(false));
        assert!(!st.count_submission(true), "after a burst of three");
        assert!(st.count_submission(true), "after an idle period of one");
    }

    /// After ASK, `ASKING` and the command go out together (`Engine::enqueue_asking`); the
    /// command may be sent elsewhere when the connection drops first. Its ASKING must not
    /// stay behind, to be written alone after the reconnect: it would hold for whatever
    /// command comes next on the connection, which the node would then run on a slot it is
    /// only importing.
    #[test]
    fn an_unwritten_asking_goes_with_the_command_a_lost_connection_sends_elsewhere() {
        let config = Config::default();
        let conn = node_conn(&config, true);
        let mut st = conn.lock();
        let (detours, _) = lose(&mut st, &config);
        assert_eq!(detours.len(), 1, "the GET is handed to the owner");
        assert!(!detours[0].written);
        assert_eq!(st.ex.pending(), 0, "ASKING waits to go out alone");
    }

    /// A connection of a node that left the cluster closes once what it carries is answered;
    /// if it drops first, what it carried goes elsewhere like after any drop, instead of
    /// failing.
    #[test]
    fn a_retiring_connection_that_drops_hands_its_requests_over() {
        let config = Config::default();
        let conn = node_conn(&config, false);
        let mut st = conn.lock();
        st.retiring = true;
        let (detours, failed) = lose(&mut st, &config);
        assert_eq!(
            (detours.len(), failed),
            (1, 0),
            "the GET is handed to the owner"
        );
        assert!(matches!(st.phase, Phase::Closed));
    }
}
