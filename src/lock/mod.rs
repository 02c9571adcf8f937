//! The distributed lock: redis-py's `Lock` on a `Client` (a key set with `SET NX PX` holding a
//! random token; release, extend and reacquire by scripts that compare the token first), plus
//! fencing tokens (a counter beside the lock key, counted by the acquire script) and opt-in
//! auto-extension on the lock's own thread.
//!
//! Every operation has a blocking form, which runs on the calling thread, and an `_async`
//! form, whose callback runs once on the lock's thread (see `worker`).
//!
//! What the lock promises, and what it does not, is in the README ("Locks"): it is a
//! single-instance lock, safe while the holder finishes within the TTL; fencing tokens let a
//! guarded resource refuse a holder whose lock has expired.

mod keys;
mod scripts;
mod token;
mod worker;

use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::resp::Reply;
use scripts::{ACQUIRE, EXTEND, REACQUIRE, RELEASE};
use worker::{Job, Msg, Stop, Worker};

/// A client handle a lock can keep for as long as it lives (its thread uses it too):
/// `Arc<Client>` in Rust. The C face uses a pointer that its contract keeps valid.
pub trait SharedClient: Deref<Target = Client> + Clone + Send + Sync + 'static {}

impl<T: Deref<Target = Client> + Clone + Send + Sync + 'static> SharedClient for T {}

/// Called when auto-extension loses a held lock, on the lock's thread, with why: LOCK_NOT_OWNED
/// (the key was deleted or taken by another holder) or the error of the last attempt
/// (CONNECTION, TIMEOUT, ...) when extensions kept failing until the TTL could have run out.
pub type LostHandler = Arc<dyn Fn(&Error) + Send + Sync>;

/// Opt-in auto-extension: while the lock is held, its TTL is reset to `timeout` every
/// `share` of the TTL, until release (or drop).
#[derive(Clone)]
pub struct AutoExtend {
    /// The part of the TTL between extensions, above 0 and below 1 (e.g. 1/3: a 30 s lock is
    /// extended every 10 s, leaving two more tries before it could expire).
    pub share: f64,
    /// Told when the lock is lost; at most once per acquisition.
    pub on_lost: Option<LostHandler>,
}

impl AutoExtend {
    /// Extends every `share` of the TTL and reports a loss to `on_lost`.
    pub fn new(share: f64, on_lost: impl Fn(&Error) + Send + Sync + 'static) -> AutoExtend {
        AutoExtend {
            share,
            on_lost: Some(Arc::new(on_lost)),
        }
    }
}

/// A lock's settings, fixed when it is made (redis-py's `Lock(...)` arguments).
#[derive(Clone)]
pub struct LockOptions {
    /// The key's TTL: the longest a holder keeps the lock without extending it. `None`: no
    /// expiry (a crashed holder then keeps it forever).
    pub timeout: Option<Duration>,
    /// The wait between attempts of a blocking acquire (default 100 ms).
    pub sleep: Duration,
    /// Whether `acquire` waits for the lock (default) or tries once.
    pub blocking: bool,
    /// How long a blocking acquire tries; `None`: until it gets the lock.
    pub blocking_timeout: Option<Duration>,
    /// Auto-extension; needs a `timeout`.
    pub auto_extend: Option<AutoExtend>,
}

impl Default for LockOptions {
    fn default() -> LockOptions {
        LockOptions {
            timeout: None,
            sleep: Duration::from_millis(100),
            blocking: true,
            blocking_timeout: None,
            auto_extend: None,
        }
    }
}

/// How one acquire behaves (redis-py's `acquire(...)` arguments); `Lock::acquire_options`
/// gives the lock's defaults.
#[derive(Clone, Debug)]
pub struct AcquireOptions {
    pub blocking: bool,
    pub blocking_timeout: Option<Duration>,
    pub sleep: Duration,
    /// The token to store; `None`: 16 fresh random bytes from the kernel, as hex.
    pub token: Option<Vec<u8>>,
}

/// A distributed lock on one key. Cheap to make (no connection, no thread until an
/// asynchronous operation or auto-extension needs one).
///
/// One `Lock` is one holder: it keeps one token, so threads sharing a `Lock` share its
/// holding, and any of them may release it. Give each thread that competes for the key its
/// own `Lock` (as redis-py's thread-local tokens do).
///
/// Dropping a lock stops its auto-extension and its thread (operations still queued complete
/// with CLOSED) but does not release it: the key stays until its TTL runs out.
pub struct Lock<C: SharedClient = Arc<Client>> {
    state: Arc<State<C>>,
    worker: Mutex<Option<Worker<C>>>,
}

/// What the lock's front and its thread share.
pub(crate) struct State<C> {
    client: C,
    name: Vec<u8>,
    fence_key: Vec<u8>,
    options: LockOptions,
    /// The TTL as a PX argument ("0": none).
    ttl_arg: String,
    held: Mutex<Held>,
    stop: Stop,
}

/// The current holding, as this lock knows it.
#[derive(Default)]
struct Held {
    token: Option<Vec<u8>>,
    fence: u64,
    /// Counts every change of holding (acquire, release), so an extension that finishes late
    /// can tell whether it still speaks for the current one.
    generation: u64,
    extension: Option<Extension>,
}

/// The auto-extension schedule of the current holding.
#[derive(Clone, Copy)]
struct Extension {
    next: Instant,
    /// When the last successful acquire or extension was sent: the key lives at least until
    /// this plus the TTL.
    confirmed: Instant,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Lock>();
};

impl<C: SharedClient> Lock<C> {
    /// A lock on the key `name` (any bytes, but see `fence_key` for names with braces),
    /// through `client`. Fails with INVALID_ARGUMENT for a name whose fencing counter cannot
    /// share its cluster slot, a TTL under 1 ms, or auto-extension without a TTL or with a
    /// share outside (0, 1).
    pub fn new(client: C, name: impl Into<Vec<u8>>, options: LockOptions) -> Result<Lock<C>> {
        let name = name.into();
        let fence_key = keys::fence_key(&name)?;
        let ttl_ms = match options.timeout {
            None => 0,
            Some(t) if t.as_millis() == 0 => {
                return Err(Error::invalid_argument(
                    "a lock's timeout must be at least 1 ms (or none)",
                ))
            }
            Some(t) => t.as_millis(),
        };
        if let Some(auto) = &options.auto_extend {
            let Some(ttl) = options.timeout else {
                return Err(Error::invalid_argument(
                    "auto-extension needs a lock timeout (a lock without one never expires)",
                ));
            };
            if !(auto.share > 0.0 && auto.share < 1.0) {
                return Err(Error::invalid_argument(format!(
                    "the auto-extension share must be above 0 and below 1, not {}",
                    auto.share
                )));
            }
            if ttl.mul_f64(auto.share) < Duration::from_millis(1) {
                return Err(Error::invalid_argument(
                    "auto-extension would run more often than every millisecond",
                ));
            }
        }
        let state = State {
            client,
            name,
            fence_key,
            options,
            ttl_arg: ttl_ms.to_string(),
            held: Mutex::new(Held::default()),
            stop: Stop::default(),
        };
        Ok(Lock {
            state: Arc::new(state),
            worker: Mutex::new(None),
        })
    }

    /// The lock's key.
    pub fn name(&self) -> &[u8] {
        &self.state.name
    }

    /// The key of the lock's fencing counter, in the same cluster slot as the lock: the name
    /// plus `:fence` when it has a hash tag, else `{name}:fence`. The counter never expires,
    /// so that tokens keep increasing across holders.
    pub fn fence_key(&self) -> &[u8] {
        &self.state.fence_key
    }

    pub fn options(&self) -> &LockOptions {
        &self.state.options
    }

    /// The lock's acquire defaults, to adjust for one call of `acquire_with`.
    pub fn acquire_options(&self) -> AcquireOptions {
        let o = &self.state.options;
        AcquireOptions {
            blocking: o.blocking,
            blocking_timeout: o.blocking_timeout,
            sleep: o.sleep,
            token: None,
        }
    }

    /// The token this lock holds, as far as it knows (it may have expired on the server).
    pub fn token(&self) -> Option<Vec<u8>> {
        self.state.held().token.clone()
    }

    /// The fencing token of the current holding: what the last successful acquire returned,
    /// until release.
    pub fn fence(&self) -> Option<u64> {
        let held = self.state.held();
        held.token.as_ref().map(|_| held.fence)
    }

    /// Acquires with the lock's defaults. `Some(fence)` when acquired, with the fencing token
    /// (strictly greater than any earlier acquisition's of this name); `None` when a
    /// non-blocking attempt found the lock taken or a blocking one gave up at its timeout.
    pub fn acquire(&self) -> Result<Option<u64>> {
        self.acquire_with(&self.acquire_options())
    }

    /// Acquires with these options. A blocking acquire tries every `sleep` and gives up, without
    /// sleeping, when the next try would come after `blocking_timeout`.
    pub fn acquire_with(&self, options: &AcquireOptions) -> Result<Option<u64>> {
        // The thread that will extend it must exist before the lock is taken.
        if self.state.options.auto_extend.is_some() {
            self.with_worker(|_| ())?;
        }
        let fence = self.state.acquire(options)?;
        if fence.is_some() && self.state.options.auto_extend.is_some() {
            self.with_worker(|w| w.send(Msg::Wake))?;
        }
        Ok(fence)
    }

    /// Releases the lock: deletes the key if it still holds this lock's token. LOCK when this
    /// lock holds nothing (never acquired, or already released); LOCK_NOT_OWNED when the key
    /// expired or now holds another token. Either way this lock holds nothing afterwards.
    pub fn release(&self) -> Result<()> {
        self.state.release()
    }

    /// Adds `additional` to the lock's remaining TTL, or sets the TTL to it when `replace_ttl`.
    /// LOCK when this lock holds nothing or has no timeout; LOCK_NOT_OWNED when the token no
    /// longer matches (or the key lost its TTL).
    pub fn extend(&self, additional: Duration, replace_ttl: bool) -> Result<()> {
        self.state.extend(additional, replace_ttl)
    }

    /// Resets the lock's TTL to its timeout. LOCK when this lock holds nothing or has no
    /// timeout; LOCK_NOT_OWNED when the token no longer matches.
    pub fn reacquire(&self) -> Result<()> {
        self.state.reacquire()
    }

    /// Whether anyone holds the lock (the key exists).
    pub fn locked(&self) -> Result<bool> {
        self.state.locked()
    }

    /// Whether the key holds this lock's token.
    pub fn owned(&self) -> Result<bool> {
        self.state.owned()
    }

    /// `acquire_with` on the lock's thread; `done` runs there once with the result (CLOSED if
    /// the lock is dropped first). On `Err` (the thread cannot start), `done` will not run.
    pub fn acquire_async(
        &self,
        options: AcquireOptions,
        done: impl FnOnce(Result<Option<u64>>) + Send + 'static,
    ) -> Result<()> {
        self.spawn(move |state| state.acquire(&options), done)
    }

    /// `release` on the lock's thread (as `acquire_async`).
    pub fn release_async(&self, done: impl FnOnce(Result<()>) + Send + 'static) -> Result<()> {
        self.spawn(|state| state.release(), done)
    }

    /// `extend` on the lock's thread (as `acquire_async`).
    pub fn extend_async(
        &self,
        additional: Duration,
        replace_ttl: bool,
        done: impl FnOnce(Result<()>) + Send + 'static,
    ) -> Result<()> {
        self.spawn(move |state| state.extend(additional, replace_ttl), done)
    }

    /// `reacquire` on the lock's thread (as `acquire_async`).
    pub fn reacquire_async(&self, done: impl FnOnce(Result<()>) + Send + 'static) -> Result<()> {
        self.spawn(|state| state.reacquire(), done)
    }

    /// `locked` on the lock's thread (as `acquire_async`).
    pub fn locked_async(&self, done: impl FnOnce(Result<bool>) + Send + 'static) -> Result<()> {
        self.spawn(|state| state.locked(), done)
    }

    /// `owned` on the lock's thread (as `acquire_async`).
    pub fn owned_async(&self, done: impl FnOnce(Result<bool>) + Send + 'static) -> Result<()> {
        self.spawn(|state| state.owned(), done)
    }

    fn spawn<T: 'static>(
        &self,
        op: impl FnOnce(&State<C>) -> Result<T> + Send + 'static,
        done: impl FnOnce(Result<T>) + Send + 'static,
    ) -> Result<()> {
        let job: Job<C> = Box::new(move |state, go| {
            let result = if go {
                op(state)
            } else {
                Err(Error::new(
                    ErrorKind::Closed,
                    "the lock was dropped before this operation ran",
                ))
            };
            done(result);
        });
        self.with_worker(|w| w.send(Msg::Job(job)))
    }

    /// Runs `f` on the lock's thread handle, starting the thread first if needed.
    fn with_worker<T>(&self, f: impl FnOnce(&Worker<C>) -> T) -> Result<T> {
        let mut slot = self.worker.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(Worker::start(self.state.clone())?);
        }
        Ok(f(slot.as_ref().expect("started above")))
    }
}

impl<C: SharedClient> Drop for Lock<C> {
    fn drop(&mut self) {
        self.state.stop.set();
        self.state.held().extension = None;
        let worker = self
            .worker
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(worker) = worker {
            worker.stop();
        }
    }
}

impl<C: SharedClient> State<C> {
    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn error(&self, kind: ErrorKind, what: &str) -> Error {
        Error::new(
            kind,
            format!("{what} (lock {:?})", String::from_utf8_lossy(&self.name)),
        )
    }

    fn acquire(&self, options: &AcquireOptions) -> Result<Option<u64>> {
        let token = match &options.token {
            // Every empty-token lock would own every other's key.
            Some(token) if token.is_empty() => {
                return Err(Error::invalid_argument("a lock token cannot be empty"))
            }
            Some(token) => token.clone(),
            None => token::fresh()?,
        };
        let give_up_at = options.blocking_timeout.map(|t| Instant::now() + t);
        loop {
            let sent = Instant::now();
            let reply = ACQUIRE.run(
                &self.client,
                &[&self.name, &self.fence_key],
                &[&token, self.ttl_arg.as_bytes()],
            )?;
            if let Some(fence) = acquired_fence(&reply)? {
                self.hold(token, fence, sent);
                return Ok(Some(fence));
            }
            if !options.blocking {
                return Ok(None);
            }
            if give_up_at.is_some_and(|at| Instant::now() + options.sleep > at) {
                return Ok(None);
            }
            if !self.stop.pause(options.sleep) {
                return Err(Error::new(
                    ErrorKind::Closed,
                    "the lock was dropped while acquiring",
                ));
            }
        }
    }

    fn hold(&self, token: Vec<u8>, fence: u64, sent: Instant) {
        let extension = match (&self.options.auto_extend, self.options.timeout) {
            (Some(auto), Some(ttl)) if !self.stop.is_set() => Some(Extension {
                next: sent + ttl.mul_f64(auto.share),
                confirmed: sent,
            }),
            _ => None,
        };
        let mut held = self.held();
        held.token = Some(token);
        held.fence = fence;
        held.generation += 1;
        held.extension = extension;
    }

    fn release(&self) -> Result<()> {
        // Forgotten first (as redis-py does): whatever the server says, this lock is done.
        let token = {
            let mut held = self.held();
            held.generation += 1;
            held.extension = None;
            held.token.take()
        };
        let Some(token) = token else {
            return Err(self.error(
                ErrorKind::Lock,
                "Cannot release a lock that's not owned or is already unlocked",
            ));
        };
        let reply = RELEASE.run(&self.client, &[&self.name], &[&token])?;
        self.confirm(&reply, "Cannot release a lock that's no longer owned")
    }

    /// This lock's token and TTL, for extend and reacquire (LOCK without either).
    fn token_with_ttl(&self, verb: &str) -> Result<(Vec<u8>, Duration)> {
        let token = self.held().token.clone().ok_or_else(|| {
            self.error(ErrorKind::Lock, &format!("Cannot {verb} an unlocked lock"))
        })?;
        let ttl = self.options.timeout.ok_or_else(|| {
            self.error(
                ErrorKind::Lock,
                &format!("Cannot {verb} a lock with no timeout"),
            )
        })?;
        Ok((token, ttl))
    }

    fn extend(&self, additional: Duration, replace_ttl: bool) -> Result<()> {
        let (token, _) = self.token_with_ttl("extend")?;
        let ms = additional.as_millis();
        if replace_ttl && ms == 0 {
            // PEXPIRE 0 would delete the key.
            return Err(Error::invalid_argument(
                "a lock's TTL cannot be replaced by less than 1 ms",
            ));
        }
        let ms = ms.to_string();
        let replace: &[u8] = if replace_ttl { b"1" } else { b"0" };
        let reply = EXTEND.run(
            &self.client,
            &[&self.name],
            &[&token, ms.as_bytes(), replace],
        )?;
        self.confirm(&reply, "Cannot extend a lock that's no longer owned")
    }

    fn reacquire(&self) -> Result<()> {
        let (token, _) = self.token_with_ttl("reacquire")?;
        self.reacquire_token(&token)
    }

    fn reacquire_token(&self, token: &[u8]) -> Result<()> {
        let reply = REACQUIRE.run(
            &self.client,
            &[&self.name],
            &[token, self.ttl_arg.as_bytes()],
        )?;
        self.confirm(&reply, "Cannot reacquire a lock that's no longer owned")
    }

    /// A script's 1 is success, its 0 LOCK_NOT_OWNED.
    fn confirm(&self, reply: &Reply, not_owned: &str) -> Result<()> {
        match reply.value().as_integer() {
            Some(1) => Ok(()),
            Some(0) => Err(self.error(ErrorKind::LockNotOwned, not_owned)),
            _ => Err(unexpected(reply)),
        }
    }

    fn locked(&self) -> Result<bool> {
        let reply = self.client.command(&[&b"EXISTS"[..], &self.name])?;
        match reply.value().as_integer() {
            Some(n) => Ok(n > 0),
            None => Err(unexpected(&reply)),
        }
    }

    fn owned(&self) -> Result<bool> {
        let Some(token) = self.held().token.clone() else {
            return Ok(false);
        };
        let reply = self.client.command(&[&b"GET"[..], &self.name])?;
        Ok(reply.value().as_bytes() == Some(&token[..]))
    }

    /// When the lock's thread must next extend the lock (None once the lock is dropped).
    fn next_extension(&self) -> Option<Instant> {
        if self.stop.is_set() {
            return None;
        }
        self.held().extension.map(|e| e.next)
    }

    /// Extends the held lock if its time has come, and reschedules or reports a loss.
    fn extend_if_due(&self) {
        let (token, generation) = {
            let held = self.held();
            match (&held.extension, &held.token) {
                (Some(e), Some(token)) if e.next <= Instant::now() => {
                    (token.clone(), held.generation)
                }
                _ => return,
            }
        };
        let (Some(ttl), Some(auto)) = (self.options.timeout, &self.options.auto_extend) else {
            return;
        };
        let every = ttl.mul_f64(auto.share);
        let sent = Instant::now();
        let result = self.reacquire_token(&token);
        let lost = {
            let mut held = self.held();
            // Released, re-acquired or dropped meanwhile: this attempt speaks for nothing.
            if held.generation != generation || self.stop.is_set() {
                return;
            }
            let Some(extension) = held.extension.as_mut() else {
                return;
            };
            let now = Instant::now();
            match result {
                Ok(()) => {
                    *extension = Extension {
                        next: sent + every,
                        confirmed: sent,
                    };
                    return;
                }
                // Worth another try only if that try comes before the key could expire.
                Err(e)
                    if e.kind() != ErrorKind::LockNotOwned
                        && now + every < extension.confirmed + ttl =>
                {
                    extension.next = now + every;
                    return;
                }
                Err(e) => {
                    held.extension = None;
                    e
                }
            }
        };
        let lost = if lost.kind() == ErrorKind::LockNotOwned {
            lost
        } else {
            Error::new(
                lost.kind(),
                format!(
                    "the lock could not be extended before its TTL could run out: {}",
                    lost.message()
                ),
            )
        };
        if let Some(on_lost) = &auto.on_lost {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| on_lost(&lost)));
        }
    }
}

/// The acquire script's answer: the fencing token, or None when the lock is held.
fn acquired_fence(reply: &Reply) -> Result<Option<u64>> {
    let value = reply.value();
    if value.is_null() || value.as_bool() == Some(false) {
        return Ok(None);
    }
    match value.as_integer() {
        Some(n) if n > 0 => Ok(Some(n as u64)),
        _ => Err(unexpected(reply)),
    }
}

fn unexpected(reply: &Reply) -> Error {
    Error::new(
        ErrorKind::InvalidResponse,
        format!("unexpected reply to a lock script: {reply:?}"),
    )
}
