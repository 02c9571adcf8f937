//! Connections that carry a stream besides (or instead of) replies: a pub/sub subscriber's,
//! a MONITOR's. Their out-of-band frames go to their owner's `Stream` rather than to the
//! client-wide push handler, and the owner restores the connection's state (subscriptions,
//! MONITOR) each time it is ready again after a loss.

use super::completion::Completion;
use crate::error::Error;
use crate::resp::Reply;
use crate::session::Exchange;

/// What a stream connection's owner hears from the reactor. Every method runs on the reactor
/// thread with the connection's lock held: it must return quickly, run no user code, and take
/// no other connection's lock (a lock of its own, taken after the connection's, is fine).
pub(crate) trait Stream: Send + Sync {
    /// An out-of-band frame: a pub/sub message or confirmation no request waited for, a
    /// MONITOR line.
    fn on_frame(&self, frame: Reply);
    /// The handshake is done: set the exchange's mode for `protocol` and queue what restores
    /// the connection's state. `again` is true after a loss (the stream has a gap); on a first
    /// connection the requests made so far are queued on it, unless `on_lost` said they were
    /// dropped.
    fn on_ready(&self, ex: &mut Exchange<Completion>, protocol: u8, again: bool);
    /// The connection was lost, or an attempt to make it failed; it reconnects by itself.
    /// `dropped`: the requests queued on it failed with it (its retries ran out), so what they
    /// were to change never reached the server, even if the connection has never been ready.
    fn on_lost(&self, err: &Error, dropped: bool);
    /// The connection is closed for good (retired, or the client shut down).
    fn on_closed(&self, err: &Error);
}
