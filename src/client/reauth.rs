//! Re-authentication of live connections: new credentials become the client's current ones
//! (used by every later handshake), and an AUTH with them is appended to every live
//! connection, shared and dedicated alike, as one more request in its FIFO, so commands
//! already in flight are answered as before. A held connection inside MULTI gets its AUTH
//! after EXEC or DISCARD, or AUTH would join the transaction.
//!
//! Also the token renewal: credentials with a lifetime are asked for again before they run
//! out (see `TokenRefresh`), on a thread of their own, and every connection re-authenticated.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Client, Engine};
use crate::config::Credentials;
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::conn::SecretFrame;
use crate::reactor::{Completion, Conn, Msg, Phase};
use crate::resp::{encode_command, Reply};
use crate::session::RequestMeta;

/// How a re-authentication went: how many connections were sent AUTH, how many of them were
/// lost before answering, and the error of each one that failed (in no particular order).
/// Connections that were not up at the time are not counted: they authenticate with the new
/// credentials when they connect.
///
/// The new credentials are made current before any AUTH is sent, so a connection lost before
/// it answered does not keep its previous identity: when it reconnects, its handshake uses
/// the new credentials (and a connection closed for good has no identity left). A lost
/// connection is therefore counted in `lost`, not as a failure; whether the server takes the
/// credentials is then known from that handshake, which fails the connection's commands
/// with `AUTHENTICATION` if it refuses them.
///
/// Fields may be added (as `lost` was): outside this crate it is read, not built.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ReauthReport {
    /// Connections that were sent AUTH.
    pub connections: usize,
    /// Of `connections`, those lost before they answered (their AUTH ended with a
    /// `CONNECTION` error): they use the new credentials when they reconnect.
    pub lost: usize,
    /// One error per connection that failed: the server refused the credentials (e.g.
    /// WRONGPASS), the AUTH timed out, the client was closed, the connection could not come
    /// back for another reason (TLS, a refused handshake); or the provider's error for a
    /// renewal that could not get credentials.
    pub errors: Vec<Error>,
}

impl ReauthReport {
    /// The first error, if any connection failed.
    pub fn first_error(&self) -> Option<&Error> {
        self.errors.first()
    }
}

/// Told the outcome of each automatic renewal of expiring credentials (token refresh). Runs
/// on a library thread.
pub type ReauthHandler = dyn Fn(&ReauthReport) + Send + Sync;

type Done = Box<dyn FnOnce(ReauthReport) + Send>;

/// One re-authentication in flight: a count of AUTH replies still due (plus one held by the
/// submitter until every connection has been given its AUTH).
struct ReauthRun {
    /// To take the password out of an error a server might echo it in (wiped on drop).
    password: crate::config::Secret,
    remaining: AtomicUsize,
    connections: AtomicUsize,
    lost: AtomicUsize,
    errors: Mutex<Vec<Error>>,
    done: Mutex<Option<Done>>,
}

impl ReauthRun {
    fn complete(&self, result: Result<Reply>) {
        match result {
            // Lost with its connection (exactly `CONNECTION`: not a refused handshake, TLS or
            // a timeout, which are kinds of their own): the reconnect authenticates with the
            // credentials installed before this AUTH was sent.
            Err(err) if err.kind() == ErrorKind::Connection => {
                self.lost.fetch_add(1, Ordering::AcqRel);
            }
            Err(err) => self.fail(err),
            Ok(_) => {}
        }
        self.release();
    }

    fn fail(&self, err: Error) {
        let err = match self.password.expose() {
            p if err.message().contains(p) => {
                Error::new(err.kind(), err.message().replace(p, "<redacted>"))
            }
            _ => err,
        };
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(err);
    }

    fn release(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let report = ReauthReport {
            connections: self.connections.load(Ordering::Acquire),
            lost: self.lost.load(Ordering::Acquire),
            errors: std::mem::take(&mut *self.errors.lock().unwrap_or_else(|e| e.into_inner())),
        };
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(done) = done {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| done(report)));
        }
    }
}

impl Engine {
    /// Makes `credentials` current and sends AUTH with them on every live connection;
    /// `done` runs once, on a library thread (or on this one when no connection is up), when
    /// every AUTH has been answered.
    pub(crate) fn reauthenticate(&self, credentials: &Credentials, done: Done) -> Result<()> {
        self.check_usable()?;
        self.auth.install(credentials, Instant::now());
        let password = credentials.password.expose_bytes();
        let mut frame = SecretFrame(Vec::new());
        match &credentials.username {
            Some(user) => encode_command(&mut frame.0, &[b"AUTH", user.as_bytes(), password]),
            None => encode_command(&mut frame.0, &[&b"AUTH"[..], password]),
        }
        let run = Arc::new(ReauthRun {
            password: credentials.password.clone(),
            remaining: AtomicUsize::new(1),
            connections: AtomicUsize::new(0),
            lost: AtomicUsize::new(0),
            errors: Mutex::new(Vec::new()),
            done: Mutex::new(Some(done)),
        });
        for conn in self.node_conns().into_iter().chain(self.dedicated_conns()) {
            self.enqueue_auth(&conn, &frame, &run);
        }
        run.release();
        Ok(())
    }

    fn enqueue_auth(&self, conn: &Arc<Conn>, frame: &SecretFrame, run: &Arc<ReauthRun>) {
        let mut st = conn.lock();
        if !matches!(st.phase, Phase::Ready | Phase::Handshaking { .. }) {
            return; // it will authenticate with the new credentials when it connects
        }
        run.remaining.fetch_add(1, Ordering::AcqRel);
        run.connections.fetch_add(1, Ordering::AcqRel);
        let mine = run.clone();
        let completion = Completion::Boxed(Box::new(move |result| mine.complete(result)));
        if st.in_transaction {
            st.deferred_auth
                .push((SecretFrame(frame.0.clone()), completion));
            return;
        }
        let meta = RequestMeta {
            deadline: self.deadline(Some(Duration::ZERO)),
            retry_written: false,
            ..RequestMeta::default()
        };
        st.ex.enqueue_secret(&frame.0, completion, meta);
        // A connection may have been closed by the server while idle and unwatched (a direct
        // caller leaves it without read interest, `ConnState::ensure_armed`): its close waits
        // unread, and an AUTH written into it would be lost with it. So the reactor looks for
        // a hang-up before it writes (`ConnState::prepare_flush`): a closed connection then
        // fails first with the AUTH unwritten, which goes out after the reconnect (on a
        // cluster node's shared connection it is handed back and sent to a primary, with the
        // same credentials).
        if matches!(st.phase, Phase::Ready) {
            st.suspect = true;
        }
        let notify = !st.scheduled;
        st.scheduled = true;
        drop(st);
        if notify {
            self.reactors[conn.reactor].flush(conn.clone());
        }
    }

    /// After a held connection's EXEC or DISCARD: sends the AUTHs that waited for the end of
    /// its transaction.
    pub(super) fn end_transaction(&self, conn: &Arc<Conn>) {
        let mut st = conn.lock();
        st.in_transaction = false;
        if st.deferred_auth.is_empty() {
            return;
        }
        let meta = RequestMeta {
            deadline: self.deadline(Some(Duration::ZERO)),
            retry_written: false,
            ..RequestMeta::default()
        };
        for (frame, completion) in std::mem::take(&mut st.deferred_auth) {
            st.ex.enqueue_secret(&frame.0, completion, meta);
        }
        let notify = !st.scheduled;
        st.scheduled = true;
        drop(st);
        if notify {
            self.reactors[conn.reactor].flush(conn.clone());
        }
    }

    /// The token renewal, on its own thread: asks the provider, then re-authenticates every
    /// connection; the outcome goes to the reauth handler.
    pub(crate) fn renew_credentials(self: Arc<Engine>) {
        let Some(provider) = self.auth.provider() else {
            self.auth.end_renewal(true, Instant::now());
            return;
        };
        let fetched = provider.fetch();
        let now = Instant::now();
        let outcome = fetched.and_then(|credentials| {
            let weak = Arc::downgrade(&self);
            self.reauthenticate(
                &credentials,
                Box::new(move |report| {
                    if let Some(engine) = weak.upgrade() {
                        engine.report_reauth(&report);
                    }
                }),
            )
        });
        let ok = outcome.is_ok();
        self.auth.end_renewal(ok, now);
        if let Err(err) = outcome {
            self.report_reauth(&ReauthReport {
                errors: vec![err],
                ..ReauthReport::default()
            });
        }
        // The reactors may sleep without a timer for the next renewal.
        for shared in &self.reactors {
            shared.notify(Msg::Timers);
        }
    }

    fn report_reauth(&self, report: &ReauthReport) {
        let handler = self
            .reauth_handler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(handler) = handler {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(report)));
        }
    }

    fn credentials_or_provider(&self, credentials: Option<Credentials>) -> Result<Credentials> {
        match (credentials, self.auth.provider()) {
            (Some(credentials), _) => Ok(credentials),
            (None, Some(provider)) => provider.fetch(),
            (None, None) => Err(Error::invalid_argument(
                "no credentials given and no credential provider configured",
            )),
        }
    }
}

impl Client {
    /// Switches the client to new credentials without dropping a connection: they are used
    /// by every later connect, and AUTH with them is sent on every live connection (after
    /// the commands already queued on it, which are answered as before). `None` asks the
    /// credential provider. Waits until every connection has answered and returns the first
    /// failure (e.g. `AUTHENTICATION` for a wrong password); a connection that refused the
    /// credentials keeps its previous identity. A connection lost before it answered is not a
    /// failure: it reconnects with the new credentials (counted in `ReauthReport::lost`).
    pub fn reauthenticate(&self, credentials: Option<Credentials>) -> Result<ReauthReport> {
        self.engine.check_blocking_allowed()?;
        let credentials = self.engine.credentials_or_provider(credentials)?;
        // A mutex and condvar rather than a channel: no thread handle is created for a
        // caller's thread (a C thread would leak it).
        let slot = Arc::new((Mutex::new(None::<ReauthReport>), std::sync::Condvar::new()));
        let filler = slot.clone();
        self.engine.reauthenticate(
            &credentials,
            Box::new(move |report| {
                *filler.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
                filler.1.notify_one();
            }),
        )?;
        let mut report = slot.0.lock().unwrap_or_else(|e| e.into_inner());
        let report = loop {
            match report.take() {
                Some(r) => break r,
                None => report = slot.1.wait(report).unwrap_or_else(|e| e.into_inner()),
            }
        };
        match report.first_error() {
            Some(err) => Err(err.clone()),
            None => Ok(report),
        }
    }

    /// `reauthenticate` without waiting: `done` runs once with the report, on a library
    /// thread (or on this one when no connection is up).
    pub fn submit_reauthenticate(
        &self,
        credentials: Option<Credentials>,
        done: impl FnOnce(ReauthReport) + Send + 'static,
    ) -> Result<()> {
        let credentials = self.engine.credentials_or_provider(credentials)?;
        self.engine.reauthenticate(&credentials, Box::new(done))
    }

    /// Sets the handler told the outcome of each automatic renewal of expiring credentials
    /// (see `Config::token_refresh`); None removes it.
    pub fn set_reauth_handler(&self, handler: Option<Box<ReauthHandler>>) {
        *self
            .engine
            .reauth_handler
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = handler.map(Arc::from);
    }
}
