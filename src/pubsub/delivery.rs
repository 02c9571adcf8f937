//! A subscriber's own thread, for a handler: it takes the inbox's events in order and hands
//! each to the handler, so a slow handler holds up only its own subscriber (its inbox fills,
//! up to its bound) and never a reactor thread. Started by `PubSub::set_handler`, stopped and
//! joined when the subscriber is dropped (unless it is dropped from the handler itself: then
//! the thread ends once the handler returns).
//!
//! The handler outlives the thread's last call: after `Event::Closed` (the client was closed
//! under the subscriber) the thread hands it back and ends, and it is dropped only with the
//! subscriber, since what it holds (a C caller's userdata) is promised to live until then.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::inbox::{Event, Inbox, Next};
use super::Handler;
use crate::error::{Error, ErrorKind, Result};

pub(super) struct Delivery {
    /// The thread gives the handler back when it ends.
    handle: JoinHandle<Handler>,
}

impl Delivery {
    pub(super) fn start(inbox: Arc<Inbox>, mut handler: Handler) -> Result<Delivery> {
        let handle = std::thread::Builder::new()
            .name("redcore-pubsub".into())
            .spawn(move || loop {
                match inbox.next(None) {
                    Next::Event(event) => {
                        let last = matches!(event, Event::Closed(_));
                        let _ = catch_unwind(AssertUnwindSafe(|| handler(event)));
                        if last {
                            return handler;
                        }
                    }
                    Next::TimedOut => {}
                    Next::Ended(_) => return handler,
                }
            })
            .map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("cannot start the subscriber's thread: {e}"),
                )
            })?;
        Ok(Delivery { handle })
    }

    /// Waits for the thread to end (the inbox was stopped first), then drops the handler,
    /// unless this is that thread: the handler is then dropped when the thread ends.
    pub(super) fn stop(self) {
        if self.handle.thread().id() != std::thread::current().id() {
            drop(self.handle.join());
        }
    }
}
