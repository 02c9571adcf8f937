//! Replicated writes on the client: a batch that writes gets a WAIT after it on the same
//! connection (`session::replicated` decides what its answer does to the results), and a
//! single write runs as such a batch of one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Engine, Pipeline};
use crate::error::{Error, Result};
use crate::reactor::{Completion, PipelineDone, PipelineRun};
use crate::resp::{encode_command, Reply};
use crate::route::keys::BUILTIN_TABLE;
use crate::session::replicated::{is_write, WaitCheck};

impl Engine {
    /// The run of `pipeline`, with a WAIT after it when the client's writes wait for
    /// replicas and the pipeline writes, and its writes dropped from the cache again when it
    /// ends when the client has a cache.
    pub(super) fn new_run(&self, pipeline: &Pipeline, done: PipelineDone) -> Arc<PipelineRun> {
        let extra = if pipeline.transaction { 2 } else { 0 };
        PipelineRun::with_wait(
            pipeline.len() + extra,
            pipeline.transaction,
            done,
            self.wait_check(pipeline),
            self.own_writes(pipeline),
        )
    }

    /// Which of `pipeline`'s requests are writes, when writes wait for replicas.
    fn wait_check(&self, pipeline: &Pipeline) -> Option<WaitCheck> {
        let settings = self.config.replicated_writes?;
        let mut writes = pipeline.frames().map(|frame| {
            super::cluster::frame_args(frame)
                .is_none_or(|args| is_write(&BUILTIN_TABLE, args.as_slice()))
        });
        let writes = if pipeline.transaction {
            // MULTI and the QUEUED answers change nothing; EXEC runs the writes.
            let any = writes.any(|w| w);
            let mut slots = vec![false; pipeline.len() + 1];
            slots.push(any);
            slots
        } else {
            writes.collect()
        };
        WaitCheck::new(settings, writes, pipeline.transaction)
    }

    /// The deadline of `pipeline`'s run: the command timeout, plus its longest server-side
    /// block, plus the WAIT's timeout when it writes and writes wait for replicas.
    pub(super) fn pipeline_deadline(&self, pipeline: &Pipeline) -> Option<Instant> {
        let block = pipeline.blocking.unwrap_or(Some(Duration::ZERO))?;
        let wait = match self.config.replicated_writes {
            Some(settings) if self.wait_check(pipeline).is_some() => settings.timeout,
            _ => Duration::ZERO,
        };
        self.deadline(Some(block + wait))
    }

    /// True when `args` is a write whose acknowledgement waits for replicas.
    pub(super) fn waits_for_replicas(&self, args: &[&[u8]]) -> bool {
        self.config.replicated_writes.is_some() && is_write(&BUILTIN_TABLE, args)
    }

    /// Submits a single write (`waits_for_replicas`) as a batch of one with its WAIT;
    /// `completion` runs with the write's result once the WAIT settled it. Returns the
    /// request's deadline; on `Err` nothing was submitted.
    pub(super) fn submit_replicated<A: AsRef<[u8]>>(
        &self,
        args: &[A],
        block: Option<Option<Duration>>,
        completion: Completion,
    ) -> std::result::Result<Option<Instant>, (Error, Completion)> {
        let mut pipeline = Pipeline::new();
        encode_command(&mut pipeline.buf, args);
        pipeline.lens.push(pipeline.buf.len() as u32);
        pipeline.blocking = block;
        let deadline = self.pipeline_deadline(&pipeline);
        // The completion runs exactly once: from the batch's delivery, or by the caller when
        // the batch could not be submitted (the closure then never runs).
        let slot = Arc::new(Mutex::new(Some(completion)));
        let taken = slot.clone();
        let done = PipelineDone::Parts(Box::new(move |mut slots: Vec<Result<Reply>>| {
            let result = slots.pop().expect("the write's slot");
            if let Some(completion) = taken.lock().unwrap_or_else(|e| e.into_inner()).take() {
                completion.run(result);
            }
        }));
        match self.submit_pipeline(&pipeline, done, deadline) {
            // A blocking write may first wait for a dedicated connection.
            Ok(()) => Ok(deadline.map(|d| match block {
                Some(_) => d + self.config.dedicated_wait_timeout,
                None => d,
            })),
            Err(e) => {
                let completion = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                Err((
                    e,
                    completion.expect("a batch not submitted delivers nothing"),
                ))
            }
        }
    }
}
