//! Pipelines: many commands appended at once to one connection, answered in order, and
//! transactions (the same, wrapped in MULTI / EXEC, with redis-py's rules for what each
//! command's result is when the transaction fails).

use crate::error::{Error, Result};
use crate::resp::encode_command;
use crate::route::command::{classify, CommandClass};

/// Commands to send together. Build it once, run it any number of times.
#[derive(Clone, Debug, Default)]
pub struct Pipeline {
    pub(crate) buf: Vec<u8>,
    pub(crate) lens: Vec<u32>,
    pub(crate) transaction: bool,
    /// Longest server-side block among its commands (`Some(None)` = forever).
    pub(crate) blocking: Option<Option<std::time::Duration>>,
    /// The scripts its EVALSHA commands call, as (SHA-1, source): loaded first when the
    /// server lacks them (see `Pipeline::add_script`).
    pub(crate) scripts: Vec<(std::sync::Arc<str>, std::sync::Arc<[u8]>)>,
    /// A blocking run fails with the first command's error (see `fail_fast`).
    pub(crate) fail_fast: bool,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// An empty transaction: its commands run between MULTI and EXEC, atomically.
    pub fn transaction() -> Pipeline {
        Pipeline {
            transaction: true,
            ..Pipeline::default()
        }
    }

    /// True for a transaction.
    pub fn is_transaction(&self) -> bool {
        self.transaction
    }

    /// Fail fast: a blocking run (`Client::run_pipeline`) whose commands did not all succeed
    /// returns the first failure as its error, of that command's kind, its message saying
    /// which command it was (redis-py's `raise_on_error`). Every command is still sent and
    /// run by the server. Off by default: each command's result is its own.
    pub fn fail_fast(&mut self, on: bool) -> &mut Pipeline {
        self.fail_fast = on;
        self
    }

    /// What a blocking run returns: the results, or for a fail-fast pipeline the first
    /// failure, naming its command and position.
    pub(crate) fn settle(&self, result: PipelineResult) -> Result<PipelineResult> {
        let Some((i, err)) = result.first_failure().filter(|_| self.fail_fast) else {
            return Ok(result);
        };
        let name = self
            .frames()
            .nth(i)
            .and_then(super::cluster::frame_args)
            .and_then(|args| {
                args.as_slice()
                    .first()
                    .map(|n| n.escape_ascii().to_string())
            })
            .unwrap_or_default();
        Err(Error::new(
            err.kind(),
            format!(
                "command {} of {} in the pipeline ({name}) failed: {}",
                i + 1,
                self.len(),
                err.message()
            ),
        ))
    }

    /// Appends a command. Refuses commands that would change the shared connection's state
    /// (WATCH, MULTI, SUBSCRIBE, SELECT, ...); blocking commands are allowed outside
    /// transactions (the pipeline then runs on a dedicated connection).
    pub fn add<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<&mut Pipeline> {
        let views: smallvec_views::Views<'_> = smallvec_views::Views::new(args);
        self.add_views(views.as_slice())
    }

    /// `add` for arguments already borrowed as byte slices (the C entry point's), without
    /// building their views again.
    pub(crate) fn add_views(&mut self, args: &[&[u8]]) -> Result<&mut Pipeline> {
        super::check_frame_size(args)?;
        match classify(args)? {
            CommandClass::Normal => {}
            CommandClass::Blocking { block } => {
                if self.transaction {
                    // Inside MULTI a blocking command does not block; it is fine.
                } else {
                    let longest = match (self.blocking, block) {
                        (Some(None), _) | (_, None) => None,
                        (Some(Some(a)), Some(b)) => Some(a.max(b)),
                        (None, Some(b)) => Some(b),
                    };
                    self.blocking = Some(longest);
                }
            }
            CommandClass::Stateful(kind) => {
                return Err(Error::invalid_argument(format!(
                    "{kind:?} commands cannot be pipelined on a shared connection; \
                     use a dedicated connection"
                )));
            }
        }
        let start = self.buf.len();
        encode_command(&mut self.buf, args);
        self.lens.push((self.buf.len() - start) as u32);
        Ok(self)
    }

    /// Number of commands.
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// True when no command was added.
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Removes every command (the pipeline keeps its buffers).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.lens.clear();
        self.blocking = None;
        self.scripts.clear();
    }

    /// The encoded frames, one per command.
    pub(crate) fn frames(&self) -> impl Iterator<Item = &[u8]> {
        let mut pos = 0;
        self.lens.iter().map(move |&len| {
            let frame = &self.buf[pos..pos + len as usize];
            pos += len as usize;
            frame
        })
    }
}

/// Borrowed argument views without allocating for short commands.
mod smallvec_views {
    /// Argument views, inline up to eight.
    pub struct Views<'a> {
        inline: [&'a [u8]; 8],
        heap: Vec<&'a [u8]>,
        len: usize,
    }

    impl<'a> Views<'a> {
        pub(crate) fn new<A: AsRef<[u8]>>(args: &'a [A]) -> Views<'a> {
            let mut views = Views {
                inline: [&[]; 8],
                heap: Vec::new(),
                len: args.len(),
            };
            if args.len() <= 8 {
                for (slot, arg) in views.inline.iter_mut().zip(args) {
                    *slot = arg.as_ref();
                }
            } else {
                views.heap = args.iter().map(|a| a.as_ref()).collect();
            }
            views
        }

        /// Views built by `f(i)` for `i` in `0..n`; stops at the first error.
        pub(crate) fn try_from_fn<E>(
            n: usize,
            mut f: impl FnMut(usize) -> Result<&'a [u8], E>,
        ) -> Result<Views<'a>, E> {
            let mut views = Views {
                inline: [&[]; 8],
                heap: Vec::new(),
                len: n,
            };
            if n <= 8 {
                for i in 0..n {
                    views.inline[i] = f(i)?;
                }
            } else {
                views.heap = (0..n).map(f).collect::<Result<_, E>>()?;
            }
            Ok(views)
        }

        pub(crate) fn as_slice(&self) -> &[&'a [u8]] {
            if self.len <= 8 {
                &self.inline[..self.len]
            } else {
                &self.heap
            }
        }
    }
}

pub use smallvec_views::Views;

pub use crate::session::PipelineResult;
