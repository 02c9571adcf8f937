//! The transaction helper (redis-py's `Client.transaction`): WATCH keys on a held connection,
//! let the caller read what it needs and queue the commands to run, send them between MULTI
//! and EXEC in one write, and start again when EXEC answers nil (a watched key changed),
//! up to a number of attempts. EXEC's outcome follows the pipeline rules (`PipelineResult`):
//! EXECABORT gives each command its queueing error (or EXEC_ABORT), errors inside EXEC's
//! array stay at their positions.

use std::time::{Duration, Instant};

use super::pipeline::{Pipeline, Views};
use super::{Client, Dedicated};
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::{Outcome, PipelineDone, Waiter};
use crate::resp::Reply;
use crate::route::command::{classify, CommandClass, StatefulKind};
use crate::session::{PipelineResult, RequestMeta};

/// One attempt of a transaction, as the caller's function sees it: commands run now on the
/// watching connection (`command`), and commands queued for MULTI / EXEC (`queue`).
pub struct Transaction<'a> {
    held: &'a mut Dedicated,
    queued: Pipeline,
    attempt: u32,
}

impl Transaction<'_> {
    /// Runs a command now, on the connection that watches the keys, and waits for its reply:
    /// the reads that decide what to queue. More WATCHes are fine; MULTI, EXEC and DISCARD
    /// are the helper's. When the connection is lost while it watches keys, the command
    /// fails with WATCH (also one that was in flight then, which the dedicated connection
    /// fails with the connection's error): the keys are no longer watched, so the function
    /// should return it and the helper starts the next attempt, as for a changed key.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Reply> {
        let views = Views::new(args);
        if let Ok(CommandClass::Stateful(
            StatefulKind::Multi | StatefulKind::Exec | StatefulKind::Discard,
        )) = classify(views.as_slice())
        {
            return Err(Error::invalid_argument(
                "MULTI, EXEC and DISCARD are sent by the transaction helper: queue the \
                 commands with Transaction::queue",
            ));
        }
        let watching = self.held.state.watching;
        self.held.command(args).map_err(|e| {
            if watching && e.kind().is(ErrorKind::Connection) && self.held.session_lost() {
                Error::new(
                    ErrorKind::Watch,
                    format!("the watching connection was lost, and the watch with it: {e}"),
                )
            } else {
                e
            }
        })
    }

    /// Queues a command to run between MULTI and EXEC. On a cluster client its keys must hash
    /// to the watched keys' slot (else CROSS_SLOT_TRANSACTION).
    pub fn queue<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<()> {
        if self.held.engine.cluster.is_some() {
            let views = Views::new(args);
            self.held.pin(views.as_slice())?;
        }
        self.queued.add(args).map(|_| ())
    }

    /// Which attempt this is, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

impl Client {
    /// Runs `f` under WATCH of `watch` and its queued commands in MULTI / EXEC, again from
    /// the start (WATCH, `f`, EXEC) while EXEC says a watched key changed, at most `attempts`
    /// times; then fails with WATCH. Returns what `f` returned and EXEC's results. An error
    /// from `f` ends it at once (the keys are unwatched), but for WATCH, which starts the next
    /// attempt as a changed key does: what a command on the watching connection fails with
    /// when that connection was lost (and the watch with it). On a cluster client every key
    /// must share the first watched key's slot.
    pub fn transaction<T, K: AsRef<[u8]>>(
        &self,
        watch: &[K],
        attempts: u32,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T>,
    ) -> Result<(T, PipelineResult)> {
        if attempts == 0 {
            return Err(Error::invalid_argument(
                "a transaction needs at least one attempt",
            ));
        }
        let mut held = match watch.first() {
            Some(key) => self.dedicated_for_key(key.as_ref())?,
            None => self.dedicated()?,
        };
        let mut watch_args: Vec<&[u8]> = vec![b"WATCH"];
        watch_args.extend(watch.iter().map(AsRef::as_ref));
        for attempt in 1..=attempts {
            let outcome: Result<(T, PipelineResult)> = (|| {
                if !watch.is_empty() {
                    held.command(&watch_args)?;
                }
                let mut tx = Transaction {
                    held: &mut held,
                    queued: Pipeline::transaction(),
                    attempt,
                };
                let value = f(&mut tx)?;
                let queued = tx.queued;
                Ok((value, held.exec(&queued)?))
            })();
            match outcome {
                Ok((value, result)) if !result.watch_failed() => return Ok((value, result)),
                Ok(_) => {}
                // The connection was lost while it watched the keys (before EXEC was sent):
                // as when a watched key changes, the next attempt starts over.
                Err(e) if e.kind() == ErrorKind::Watch => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::Watch,
            format!(
                "a watched key changed (or the watching connection was lost) before each of \
                 the {attempts} attempts' EXEC"
            ),
        ))
    }
}

impl Dedicated {
    /// Sends `transaction` (MULTI, its commands, EXEC) on this connection in one write and
    /// waits for its results; the connection's WATCHes end with it.
    fn exec(&mut self, transaction: &Pipeline) -> Result<PipelineResult> {
        self.engine.check_blocking_allowed()?;
        let waiter = Waiter::for_this_thread();
        let seq = waiter.begin();
        let deadline =
            self.send_transaction(transaction, PipelineDone::Wait(waiter.clone(), seq))?;
        match waiter.wait(seq, deadline.map(|d| d + Duration::from_millis(5))) {
            Some(Outcome::Pipeline(result)) => Ok(result),
            Some(_) => Err(Error::new(ErrorKind::Internal, "unexpected outcome")),
            None => {
                // Unknown whether EXEC ran: this connection's state is too.
                self.state.tainted = true;
                Err(super::timeout_error())
            }
        }
    }

    /// Runs `commands` between MULTI and EXEC on this connection (in one write, after the
    /// WATCHes and reads sent on it before), all or nothing: a command a transaction
    /// refuses (WATCH, SUBSCRIBE, MULTI, ...: INVALID_ARGUMENT) or, on a cluster client, one
    /// whose keys are not of the connection's slot (CROSS_SLOT_TRANSACTION) fails the call
    /// and nothing is sent. An unbound cluster connection is taken on the slot of the first
    /// command with keys. `f(ctx, result)` runs once on a reactor thread, with one result
    /// per command (a transaction of no command: check `PipelineResult::failure`).
    pub fn submit_transaction_raw(
        &mut self,
        commands: &[&[&[u8]]],
        f: fn([usize; 2], PipelineResult),
        ctx: [usize; 2],
    ) -> Result<()> {
        let mut transaction = Pipeline::transaction();
        for args in commands {
            transaction.add(args)?;
        }
        if self.engine.cluster.is_some() {
            self.pin_all(commands)?;
        }
        self.send_transaction(&transaction, PipelineDone::Raw(f, ctx))
            .map(|_| ())
    }

    /// Whether the connection was lost while the server held this holder's state on it.
    fn session_lost(&self) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|conn| conn.lock().session_lost)
    }

    /// Checks, before any is sent, that the keys of all `commands` share one slot, which is
    /// this connection's (taking the connection there when unbound).
    fn pin_all(&mut self, commands: &[&[&[u8]]]) -> Result<()> {
        let mut first: Option<(u16, &[&[u8]])> = None;
        for args in commands {
            let Some(slot) = self.engine.command_slot(args)? else {
                continue;
            };
            match first {
                None => first = Some((slot, args)),
                Some((bound, _)) if bound != slot => {
                    return Err(super::cross_slot_transaction(slot, bound))
                }
                Some(_) => {}
            }
        }
        match first {
            Some((_, args)) => self.pin(args),
            None => Ok(()),
        }
    }

    /// Queues `transaction` (MULTI, its commands, EXEC) on this connection in one go;
    /// `done` gets its result. Returns the run's deadline.
    fn send_transaction(
        &mut self,
        transaction: &Pipeline,
        done: PipelineDone,
    ) -> Result<Option<Instant>> {
        self.engine.check_usable()?;
        if self.state.in_multi {
            // The server would refuse the nested MULTI and queue the commands into the open
            // transaction, which EXEC would then run.
            return Err(Error::invalid_argument(
                "a MULTI sent by hand is open on this connection: send EXEC or DISCARD first \
                 (a transaction sends its own MULTI)",
            ));
        }
        if self.unbound {
            // A cluster transaction with neither watched keys nor keyed commands.
            self.bind(None)?;
        }
        let conn = self
            .conn
            .clone()
            .ok_or_else(|| Error::invalid_argument("this dedicated connection was released"))?;
        // MULTI ... EXEC in one go: refused as EXEC is after a loss.
        self.state.check_lost(&conn, Some(StatefulKind::Exec))?;
        let session = self.state.holds();
        let run = self.engine.new_run(transaction, done);
        self.engine.cache_forget_frames(transaction.frames());
        let deadline = self.engine.pipeline_deadline(transaction);
        let meta = RequestMeta {
            deadline,
            pinned: true,
            session,
            ..RequestMeta::default()
        };
        self.engine
            .enqueue_pipeline(&conn, None, transaction, &run, meta)
            .inspect_err(|_| self.refused(&conn))?;
        // EXEC or not, the server has dropped this connection's WATCHes once it answers.
        self.state.watching = false;
        if !self.state.holds() {
            // What is pending is marked `session`.
            conn.lock().session = false;
        }
        Ok(deadline)
    }
}
