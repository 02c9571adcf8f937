//! A pipeline that calls scripts by SHA-1 (EVALSHA) runs once the server has them: SCRIPT
//! EXISTS for all of them (on a cluster, on every primary), SCRIPT LOAD for each one missing
//! (on every node), then the pipeline, each step sent when the one before has answered, so no
//! caller thread waits. A script flushed between the check and the run still fails with
//! NOSCRIPT in the results.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::pipeline::Pipeline;
use super::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::{Completion, PipelineDone, PipelineRun};
use crate::resp::Reply;

/// A pipeline waiting for its scripts to be loaded.
struct Waiting {
    pipeline: Pipeline,
    done: Mutex<Option<PipelineDone>>,
    deadline: Option<Instant>,
    /// SCRIPT LOADs still unanswered.
    left: AtomicUsize,
    failed: Mutex<Option<Error>>,
}

impl Engine {
    /// Checks the pipeline's scripts, loads the missing ones, then queues the pipeline; `done`
    /// gets every command's error if a step fails.
    pub(super) fn submit_pipeline_with_scripts(
        &self,
        pipeline: &Pipeline,
        done: PipelineDone,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let engine = self
            .me
            .upgrade()
            .ok_or_else(crate::reactor::completion::closed_error)?;
        let waiting = Arc::new(Waiting {
            pipeline: pipeline.clone(),
            done: Mutex::new(Some(done)),
            deadline,
            left: AtomicUsize::new(0),
            failed: Mutex::new(None),
        });
        let mut args: Vec<&[u8]> = vec![b"SCRIPT", b"EXISTS"];
        args.extend(pipeline.scripts.iter().map(|(sha, _)| sha.as_bytes()));
        let next = waiting.clone();
        let checked = move |result: Result<Reply>| engine.scripts_checked(next, result);
        self.submit(&args, Completion::Boxed(Box::new(checked)), false)
            .map_err(|(e, _)| e)
    }

    fn scripts_checked(self: Arc<Engine>, waiting: Arc<Waiting>, result: Result<Reply>) {
        let reply = match result {
            Ok(reply) => reply,
            Err(err) => return self.fail_waiting_pipeline(&waiting, err),
        };
        let scripts = &waiting.pipeline.scripts;
        let present: Vec<bool> = reply
            .value()
            .children()
            .map(|v| v.as_integer() == Some(1))
            .collect();
        if present.len() != scripts.len() {
            let err = Error::new(
                ErrorKind::InvalidResponse,
                format!("SCRIPT EXISTS answered {reply:?}"),
            );
            return self.fail_waiting_pipeline(&waiting, err);
        }
        let missing: Vec<&Arc<[u8]>> = scripts
            .iter()
            .zip(&present)
            .filter(|(_, &there)| !there)
            .map(|((_, source), _)| source)
            .collect();
        if missing.is_empty() {
            return self.run_waiting_pipeline(&waiting);
        }
        waiting.left.store(missing.len(), Ordering::SeqCst);
        for source in missing {
            let engine = self.clone();
            let next = waiting.clone();
            let loaded = move |result: Result<Reply>| engine.script_loaded(next, result);
            let args: [&[u8]; 3] = [b"SCRIPT", b"LOAD", source];
            if let Err((err, completion)) =
                self.submit(&args, Completion::Boxed(Box::new(loaded)), false)
            {
                completion.run(Err(err));
            }
        }
    }

    fn script_loaded(self: Arc<Engine>, waiting: Arc<Waiting>, result: Result<Reply>) {
        if let Err(err) = result {
            let mut failed = waiting.failed.lock().unwrap_or_else(|e| e.into_inner());
            failed.get_or_insert(err);
        }
        if waiting.left.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let failed = waiting
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match failed {
            Some(err) => self.fail_waiting_pipeline(&waiting, err),
            None => self.run_waiting_pipeline(&waiting),
        }
    }

    fn run_waiting_pipeline(&self, waiting: &Waiting) {
        let Some(run) = self.waiting_run(waiting) else {
            return;
        };
        let meta = self.pipeline_run_meta(waiting.deadline);
        if let Err(err) = self.submit_run(&waiting.pipeline, run.clone(), meta) {
            fail_run(&run, &err);
        }
    }

    fn fail_waiting_pipeline(&self, waiting: &Waiting, err: Error) {
        if let Some(run) = self.waiting_run(waiting) {
            fail_run(&run, &err);
        }
    }

    /// The waiting pipeline's run, the first time it is asked for.
    fn waiting_run(&self, waiting: &Waiting) -> Option<Arc<PipelineRun>> {
        let done = waiting
            .done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        Some(
            self.pipeline_run(&waiting.pipeline, done, waiting.deadline)
                .0,
        )
    }
}

/// Completes every slot of a run that was never queued with `err`.
fn fail_run(run: &Arc<PipelineRun>, err: &Error) {
    for (completion, result) in run.failed_slots(err) {
        completion.run(result);
    }
}
