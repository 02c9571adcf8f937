//! `Exchange`: the requests and replies of one connection, sans-I/O.
//!
//! Callers append encoded commands with a completion; the reactor asks for the bytes to
//! write, reports how many were written, feeds what it read, and gets back events: a reply
//! paired with its completion, a push, a handshake ("control") reply, or a timed-out request.
//!
//! Frames stay in one output ring until their reply arrives, so a command that must be sent
//! again (after a reconnect, or a redirect) still has its bytes, and no request owns an
//! allocation of its own. The ring is compacted when its consumed head grows past half.

use std::collections::VecDeque;
use std::time::Instant;

use super::push::{is_pubsub_frame, read_push, Push, SubscriptionKind};
use crate::config::wipe;
use crate::error::{Error, ErrorKind, Result};
use crate::resp::{Decoder, Kind, Limits, Reply};

/// Which frames a connection receives outside its requests, besides RESP3 pushes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StreamMode {
    /// None: every other frame answers a request.
    #[default]
    Requests,
    /// A RESP2 pub/sub connection: arrays shaped like a message or a subscription confirmation
    /// are out of band too (RESP2 has no push type).
    SubscribedResp2,
    /// A MONITOR connection: a frame that comes while no written request waits is an entry of
    /// the stream.
    Monitor,
}

/// What a request asks of the exchange besides its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// When the request times out, if ever.
    pub deadline: Option<Instant>,
    /// May be sent again after the connection dropped with it written but unanswered.
    pub retry_written: bool,
    /// The command only reads: a cluster client may send it to a replica, and again after
    /// a connection dropped with it unanswered.
    pub read_only: bool,
    /// Must stay on its node (a transaction's frames, one part of a fan-out, a held
    /// connection's commands): a redirection or a lost connection is its result, never a
    /// reason to send it elsewhere.
    pub pinned: bool,
    /// How many times a cluster client has sent it again (redirections, retries).
    pub redirects: u8,
    /// A read the client-side cache waits for (its token, 0 for none): its reply is offered
    /// to the cache as it is read, in stream order with the invalidations.
    pub cache_token: u64,
    /// A write of a client with a cache: when its reply is read, the cached replies of the
    /// keys it may change are dropped again (and reads of them in flight not kept) before
    /// its completion runs, so that a read racing it cannot leave an older value behind.
    pub forgets: bool,
    /// Sent by a holder while its connection carries state of its own on the server (WATCH,
    /// MULTI, SELECT, ...), or to end that state: the state goes with a lost connection, so
    /// it and everything queued with it fail then, never carried to the next socket.
    pub session: bool,
}

struct Request<C> {
    len: u32,
    /// `None` once the request was completed early (timed out): its reply is discarded.
    completion: Option<C>,
    meta: RequestMeta,
    attempts: u32,
    /// The frame holds a secret (an AUTH password): its bytes are overwritten as soon as the
    /// request is answered or dropped.
    secret: bool,
    /// Belongs with the request before it (a transaction's frames after MULTI): it is dropped
    /// unsent only together with that request, never alone.
    linked: bool,
    /// Timed out before any byte of it was written: removed from the ring at once.
    cut: bool,
    /// A subscription command: answered by confirmations of this kind (out-of-band frames),
    /// `total` of them, `left` still to come, the last one being its reply.
    confirms: Option<Confirms>,
}

#[derive(Clone, Copy)]
struct Confirms {
    kind: SubscriptionKind,
    total: u32,
    left: u32,
}

/// What reading produced.
#[derive(Debug)]
pub enum Event<'a, C> {
    /// A reply, with the completion of the request it answers and that request's frame and
    /// meta (borrowed for the call: a cluster client copies the frame to send it elsewhere).
    Reply(C, Reply, Sent<'a>),
    /// An out-of-band push (RESP3 `>`) outside a request.
    Push(Reply),
    /// A reply to a control (handshake) command.
    Control(Reply),
}

/// A request a lost connection left unanswered, as `handle_disconnect_diverting` offers it.
#[derive(Clone, Copy, Debug)]
pub struct Unanswered<'a> {
    /// Its encoded frame.
    pub frame: &'a [u8],
    /// Its meta.
    pub meta: &'a RequestMeta,
    /// Some of it was written (the server may have run it).
    pub written: bool,
}

/// The request a reply answers, as it was sent.
#[derive(Clone, Copy, Debug)]
pub struct Sent<'a> {
    /// Its encoded frame.
    pub frame: &'a [u8],
    /// Its meta.
    pub meta: &'a RequestMeta,
}

/// The requests and replies of one connection.
pub struct Exchange<C> {
    decoder: Decoder,
    /// Frames from the oldest unanswered request on; `buf[head..]` is live.
    buf: Vec<u8>,
    head: usize,
    /// Write cursor, an index into `buf` (>= head).
    written: usize,
    requests: VecDeque<Request<C>>,
    /// How many requests at the front are fully written.
    sent: usize,
    /// Index in `buf` where the frame of request `sent` starts.
    sent_end: usize,
    max_in_flight: usize,
    /// Control (handshake) frames, written before any request while `ready` is false.
    control: Vec<u8>,
    control_written: usize,
    control_expected: usize,
    ready: bool,
    /// Some request may carry a deadline: false while every request since the ring was last
    /// empty has none, so that `expire` and `next_deadline` need not walk the requests (a
    /// client without a command timeout would otherwise pay a walk of its in-flight window
    /// on every flush).
    deadlines: bool,
    mode: StreamMode,
}

impl<C> Exchange<C> {
    /// An exchange for a new connection. `max_in_flight` bounds how many requests are written
    /// but unanswered (0 = no bound).
    pub fn new(limits: Limits, max_in_flight: usize) -> Exchange<C> {
        Exchange {
            decoder: Decoder::new(limits),
            buf: Vec::new(),
            head: 0,
            written: 0,
            requests: VecDeque::new(),
            sent: 0,
            sent_end: 0,
            max_in_flight: if max_in_flight == 0 {
                usize::MAX
            } else {
                max_in_flight
            },
            control: Vec::new(),
            control_written: 0,
            control_expected: 0,
            ready: false,
            deadlines: false,
            mode: StreamMode::Requests,
        }
    }

    /// Sets which frames come outside requests (see `StreamMode`).
    pub fn set_mode(&mut self, mode: StreamMode) {
        self.mode = mode;
    }

    /// Makes the request just appended a subscription command answered by `count`
    /// confirmations of `kind` (one per name it carries): they complete it, the last one
    /// as its reply, instead of going out as pushes. Count 0 leaves it an ordinary request.
    pub fn expect_confirmations(&mut self, kind: SubscriptionKind, count: u32) {
        if let (Some(request), true) = (self.requests.back_mut(), count > 0) {
            request.confirms = Some(Confirms {
                kind,
                total: count,
                left: count,
            });
        }
    }

    /// Appends one request: `write` appends its encoded frame to the buffer it is given.
    pub fn enqueue(&mut self, write: impl FnOnce(&mut Vec<u8>), completion: C, meta: RequestMeta) {
        let start = self.buf.len();
        write(&mut self.buf);
        let len = (self.buf.len() - start) as u32;
        self.deadlines |= meta.deadline.is_some();
        self.requests.push_back(Request {
            len,
            completion: Some(completion),
            meta,
            attempts: 0,
            secret: false,
            linked: false,
            cut: false,
            confirms: None,
        });
    }

    /// Ties the request just appended to the one before it: a timeout drops it unsent only
    /// if it drops that one too, and a disconnect fails it with that one (a transaction must
    /// not lose its MULTI and go out as loose commands).
    pub fn link_last(&mut self) {
        if self.requests.len() >= 2 {
            if let Some(request) = self.requests.back_mut() {
                request.linked = true;
            }
        }
    }

    /// Appends a request whose frame holds a secret (AUTH with a password): like
    /// `enqueue_frame`, but the frame's bytes in the ring are overwritten once the request is
    /// answered, failed or dropped, instead of merely being released.
    pub fn enqueue_secret(&mut self, frame: &[u8], completion: C, meta: RequestMeta) {
        self.enqueue_frame(frame, completion, meta);
        if let Some(request) = self.requests.back_mut() {
            request.secret = true;
        }
    }

    /// Appends a request whose frame is already encoded.
    pub fn enqueue_frame(&mut self, frame: &[u8], completion: C, meta: RequestMeta) {
        self.enqueue(|buf| buf.extend_from_slice(frame), completion, meta);
    }

    /// Number of requests not yet answered (written or not).
    pub fn pending(&self) -> usize {
        self.requests.len()
    }

    /// Whether some pending request (written or not) has a meta that `f` accepts.
    pub fn any_pending(&self, f: impl Fn(&RequestMeta) -> bool) -> bool {
        self.requests.iter().any(|r| f(&r.meta))
    }

    /// Whether some pending request still waited for (not timed out) has a meta and a
    /// completion that `f` accepts.
    pub fn any_awaited(&self, f: impl Fn(&RequestMeta, &C) -> bool) -> bool {
        self.requests
            .iter()
            .any(|r| r.completion.as_ref().is_some_and(|c| f(&r.meta, c)))
    }

    /// Number of requests written and awaiting their reply.
    pub fn in_flight(&self) -> usize {
        self.sent
    }

    /// True when nothing is waiting to be written.
    pub fn is_flushed(&self) -> bool {
        self.write_limit() == self.written
            && (self.ready || self.control_written == self.control.len())
    }

    /// True when no request is pending and nothing is half-read.
    pub fn is_idle(&self) -> bool {
        self.requests.is_empty() && !self.decoder.is_mid_reply()
    }

    /// Whether requests may be written (the handshake is over).
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Starts a handshake: until `set_ready`, only control frames are written and every
    /// reply (pushes aside) is a `Control` event.
    pub fn begin_control(&mut self) {
        self.ready = false;
        // Control frames may hold the password (HELLO AUTH, AUTH).
        wipe(&mut self.control);
        self.control.clear();
        self.control_written = 0;
        self.control_expected = 0;
    }

    /// Queues control frames (`count` commands) to be written before any request.
    pub fn push_control(&mut self, write: impl FnOnce(&mut Vec<u8>) -> usize) {
        let count = write(&mut self.control);
        self.control_expected += count;
    }

    /// Ends the handshake: requests may be written.
    pub fn set_ready(&mut self) {
        self.ready = true;
        wipe(&mut self.control);
        self.control.clear();
        self.control_written = 0;
        self.control_expected = 0;
    }

    /// The index in `buf` up to which request frames may be written now.
    fn write_limit(&self) -> usize {
        if !self.ready || self.sent >= self.max_in_flight {
            return self.written;
        }
        let room = self.max_in_flight - self.sent;
        if room >= self.requests.len() - self.sent {
            return self.buf.len();
        }
        // Only the frames of the next `room` requests (a backlog beyond the in-flight bound).
        let mut end = self.sent_end;
        for r in self.requests.range(self.sent..self.sent + room) {
            end += r.len as usize;
        }
        end
    }

    /// The bytes to write next (empty when there is nothing to write now).
    pub fn pending_output(&self) -> &[u8] {
        if !self.ready {
            return &self.control[self.control_written..];
        }
        &self.buf[self.written..self.write_limit()]
    }

    /// Records that `n` bytes of `pending_output()` were written.
    pub fn handle_written(&mut self, n: usize) {
        if !self.ready {
            self.control_written += n;
            debug_assert!(self.control_written <= self.control.len());
            return;
        }
        self.written += n;
        debug_assert!(self.written <= self.buf.len());
        // Count the requests whose frame is now fully written.
        while self.sent < self.requests.len() {
            let end = self.sent_end + self.requests[self.sent].len as usize;
            if end > self.written {
                break;
            }
            self.sent_end = end;
            self.sent += 1;
        }
    }

    /// Decodes `input` and reports each reply, push or control reply to `on_event`.
    /// A protocol error (or a reply that answers no request) is returned; the connection must
    /// then be closed.
    pub fn handle_read(
        &mut self,
        mut input: &[u8],
        mut on_event: impl FnMut(Event<'_, C>),
    ) -> Result<()> {
        while !input.is_empty() {
            let (used, reply) = self.decoder.decode(input)?;
            input = &input[used..];
            let Some(reply) = reply else { break };
            let out_of_band = reply.kind() == Kind::Push
                || (self.ready
                    && match self.mode {
                        StreamMode::Requests => false,
                        StreamMode::SubscribedResp2 => is_pubsub_frame(reply.value()),
                        StreamMode::Monitor => self.sent == 0,
                    });
            if out_of_band {
                match self.confirm(&reply) {
                    Some(true) => self.answer(reply, &mut on_event),
                    Some(false) => {}
                    None => on_event(Event::Push(reply)),
                }
                continue;
            }
            if !self.ready {
                if self.control_expected == 0 {
                    return Err(unexpected_reply(&reply));
                }
                self.control_expected -= 1;
                on_event(Event::Control(reply));
                continue;
            }
            if self.sent == 0 {
                return Err(unexpected_reply(&reply));
            }
            self.answer(reply, &mut on_event);
        }
        Ok(())
    }

    /// Whether an out-of-band frame confirms the oldest written request: `Some(true)` when it
    /// is that request's last confirmation (its reply), `Some(false)` when more are due, `None`
    /// when it is not one the request waits for (a message, or an unsubscription the server
    /// made by itself, as when a shard channel's slot moves away).
    fn confirm(&mut self, frame: &Reply) -> Option<bool> {
        if self.sent == 0 {
            return None;
        }
        let confirms = self.requests.front_mut()?.confirms.as_mut()?;
        match read_push(frame.value()) {
            Push::Confirmation { kind, .. } if kind == confirms.kind => {
                confirms.left -= 1;
                Some(confirms.left == 0)
            }
            _ => None,
        }
    }

    /// Completes the oldest written request with `reply`.
    fn answer(&mut self, reply: Reply, on_event: &mut impl FnMut(Event<'_, C>)) {
        let request = self.requests.pop_front().expect("a written request");
        self.sent -= 1;
        let frame = self.head..self.head + request.len as usize;
        if request.secret {
            wipe(&mut self.buf[frame.clone()]);
        }
        if let Some(completion) = request.completion {
            let sent = Sent {
                frame: &self.buf[frame.clone()],
                meta: &request.meta,
            };
            on_event(Event::Reply(completion, reply, sent));
        }
        self.head = frame.end;
        self.reclaim();
    }

    /// Drops consumed bytes from the front of the ring when worthwhile.
    fn reclaim(&mut self) {
        if self.head == self.buf.len() {
            self.buf.clear();
            self.written = 0;
            self.sent_end = 0;
            self.head = 0;
        } else if self.head > 64 * 1024 && self.head * 2 > self.buf.len() {
            self.buf.drain(..self.head);
            self.written -= self.head;
            self.sent_end -= self.head;
            self.head = 0;
        }
    }

    /// Completes, with a TIMEOUT error, the requests whose deadline is at or before `now`,
    /// checked in submission order from the oldest (a request is passed over only behind one
    /// that has not expired). A request none of whose bytes were written yet is removed from
    /// the ring: it is never sent, so its caller may safely retry it. One already written, or
    /// half written (its frame is finished, to keep the stream whole), stays: its reply, when
    /// it comes, is read and discarded, so the connection stays usable.
    pub fn expire(&mut self, now: Instant, mut on_timeout: impl FnMut(C)) {
        if self.requests.is_empty() {
            self.deadlines = false;
        }
        if !self.deadlines {
            return;
        }
        // The first request with none of its bytes written.
        let unwritten = if self.written > self.sent_end {
            self.sent + 1
        } else {
            self.sent
        };
        let mut cuts = 0;
        let mut previous_cut = false;
        for (i, request) in self.requests.iter_mut().enumerate() {
            match request.meta.deadline {
                Some(deadline) if deadline <= now => {
                    if let Some(c) = request.completion.take() {
                        on_timeout(c);
                    }
                    let cut = i >= unwritten && (!request.linked || previous_cut);
                    request.cut = cut;
                    cuts += usize::from(cut);
                    previous_cut = cut;
                }
                Some(_) => break,
                None => previous_cut = false,
            }
        }
        if cuts > 0 {
            self.remove_cut(unwritten);
        }
    }

    /// Takes the completions `cancel` picks out of the requests still waited for, as `expire`
    /// takes those that timed out: a request none of whose bytes were written (and that
    /// heads no transaction's frames, nor is one of them) leaves the ring, never to be sent;
    /// one written, half written or bound to others stays, its reply to be read and
    /// discarded. A request right after one whose frame `goes_with` picks (ASKING, which
    /// holds for whatever command comes next) leaves only together with it, while that one
    /// is unwritten too; else it stays. With `may_cut` false (a copy of the output is being
    /// sent, see `ConnState::sending`: the ring may not shrink under it), every one stays.
    /// Returns the completions, and whether one of them stayed (its command may run, or be
    /// running, on the server).
    pub fn cancel(
        &mut self,
        mut cancel: impl FnMut(&C) -> bool,
        mut goes_with: impl FnMut(&[u8]) -> bool,
        may_cut: bool,
    ) -> (Vec<C>, bool) {
        let unwritten = if self.written > self.sent_end {
            self.sent + 1
        } else {
            self.sent
        };
        let mut taken = Vec::new();
        let mut stayed = false;
        let mut cuts = 0;
        // Where the frame of request i - 1, and of request i, start.
        let (mut previous, mut pos) = (self.head, self.head);
        for i in 0..self.requests.len() {
            let start = pos;
            pos += self.requests[i].len as usize;
            let before = std::mem::replace(&mut previous, start);
            let next_linked = self.requests.get(i + 1).is_some_and(|r| r.linked);
            let request = &mut self.requests[i];
            if !request.completion.as_ref().is_some_and(&mut cancel) {
                continue;
            }
            taken.extend(request.completion.take());
            let mut cut = may_cut && i >= unwritten && !request.linked && !next_linked;
            let mut with_previous = false;
            if cut && i > 0 {
                let prior = &self.requests[i - 1];
                if !prior.cut && goes_with(&self.buf[before..start]) {
                    // Its ASKING goes too, or, written already, keeps it company.
                    with_previous = i > unwritten && !prior.linked;
                    cut = with_previous;
                }
            }
            if cut {
                self.requests[i].cut = true;
                cuts += 1;
                if with_previous {
                    self.requests[i - 1].cut = true;
                    cuts += 1;
                }
            } else {
                stayed = true;
            }
        }
        if cuts > 0 {
            self.remove_cut(unwritten);
        }
        (taken, stayed)
    }

    /// True when the oldest written request is past its deadline with its reply partly read.
    /// The rest of that reply may never come (a server that sent fewer elements than it
    /// declared, then stalled), and the next replies would complete it instead, each reply
    /// then reaching the request before its own: the connection cannot be trusted any more
    /// and must be closed (`handle_disconnect`), not kept as a timeout otherwise keeps it.
    pub fn reply_stalled(&self, now: Instant) -> bool {
        self.sent > 0
            && self.decoder.is_mid_reply()
            && self
                .requests
                .front()
                .and_then(|r| r.meta.deadline)
                .is_some_and(|deadline| deadline <= now)
    }

    /// Removes the requests marked `cut` (all at or after index `from`, none written) and
    /// their frames, moving the frames behind them down.
    fn remove_cut(&mut self, from: usize) {
        let mut pos = self.sent_end
            + self
                .requests
                .range(self.sent..from)
                .map(|r| r.len as usize)
                .sum::<usize>();
        let mut dst = pos;
        for request in self.requests.range(from..) {
            let len = request.len as usize;
            if request.cut {
                if request.secret {
                    wipe(&mut self.buf[pos..pos + len]);
                }
            } else {
                self.buf.copy_within(pos..pos + len, dst);
                dst += len;
            }
            pos += len;
        }
        self.buf.truncate(dst);
        let mut index = 0;
        self.requests.retain(|r| {
            index += 1;
            index <= from || !r.cut
        });
        self.reclaim();
    }

    /// The earliest deadline among pending requests, as `expire` sees them.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.deadlines {
            return None;
        }
        self.requests
            .iter()
            .filter(|r| r.completion.is_some())
            .find_map(|r| r.meta.deadline)
    }

    /// The connection is gone. Requests written but unanswered are failed through `on_failed`
    /// (unless they may be retried and have attempts left: those are kept to be written again
    /// first); requests not yet written are kept for the next connection, except those linked
    /// to a request that was failed or had timed out. The decoder and the handshake state are
    /// reset. Kept requests whose deadline has passed are dropped by the next `expire`, before
    /// anything is written.
    pub fn handle_disconnect(&mut self, max_attempts: u32, on_failed: impl FnMut(C)) {
        self.handle_disconnect_diverting(max_attempts, |c, _| Some(c), on_failed);
    }

    /// `handle_disconnect`, offering each request that stands alone (not one of a
    /// transaction's linked frames, nor the request they hang on) to `divert` first, with its
    /// frame, meta and whether it was written: `None` takes it out of the exchange (a cluster
    /// client sends it elsewhere, or fails it), `Some` hands the completion back to be kept
    /// or failed as `handle_disconnect` does.
    pub fn handle_disconnect_diverting(
        &mut self,
        max_attempts: u32,
        mut divert: impl FnMut(C, Unanswered<'_>) -> Option<C>,
        mut on_failed: impl FnMut(C),
    ) {
        let had_secret = self.requests.iter().any(|r| r.secret);
        // A request followed by a linked one heads a group that must stay together.
        let heads: Vec<bool> = (0..self.requests.len())
            .map(|i| self.requests.get(i + 1).is_some_and(|next| next.linked))
            .collect();
        let mut kept = VecDeque::with_capacity(self.requests.len());
        let mut new_buf = Vec::with_capacity(self.buf.len() - self.head);
        let mut pos = self.head;
        // The request before was dropped: a request linked to it goes too.
        let mut dropped = false;
        for (i, mut request) in self.requests.drain(..).enumerate() {
            let frame = &self.buf[pos..pos + request.len as usize];
            pos += request.len as usize;
            let written = i < self.sent;
            let orphan = request.linked && dropped;
            dropped = true;
            let Some(completion) = request.completion.take() else {
                continue; // timed out already: nothing to fail, nothing to resend
            };
            if orphan {
                on_failed(completion);
                continue;
            }
            let completion = if request.linked || heads[i] || request.secret {
                completion
            } else {
                let unanswered = Unanswered {
                    frame,
                    meta: &request.meta,
                    written,
                };
                match divert(completion, unanswered) {
                    Some(completion) => completion,
                    None => continue,
                }
            };
            if written && !(request.meta.retry_written && request.attempts < max_attempts) {
                on_failed(completion);
                continue;
            }
            dropped = false;
            if written {
                request.attempts += 1;
            }
            if let Some(confirms) = request.confirms.as_mut() {
                confirms.left = confirms.total;
            }
            request.completion = Some(completion);
            new_buf.extend_from_slice(frame);
            kept.push_back(request);
        }
        self.requests = kept;
        if had_secret {
            wipe(&mut self.buf);
        }
        self.buf = new_buf;
        self.head = 0;
        self.written = 0;
        self.sent = 0;
        self.sent_end = 0;
        self.decoder.reset();
        self.begin_control();
    }

    /// Fails every pending request through `on_failed` (client shutdown) and empties the
    /// exchange.
    pub fn fail_all(&mut self, mut on_failed: impl FnMut(C)) {
        if self.requests.iter().any(|r| r.secret) {
            wipe(&mut self.buf);
        }
        for request in self.requests.drain(..) {
            if let Some(c) = request.completion {
                on_failed(c);
            }
        }
        self.buf.clear();
        self.head = 0;
        self.written = 0;
        self.sent = 0;
        self.sent_end = 0;
    }
}

fn unexpected_reply(reply: &Reply) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("the server sent a reply no request was waiting for: {reply:?}"),
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::resp::{encode_command, Value};
    use std::time::Duration;

    pub(in crate::session) type Ex = Exchange<u32>;

    fn ready(max_in_flight: usize) -> Ex {
        let mut ex = Ex::new(Limits::default(), max_in_flight);
        ex.set_ready();
        ex
    }

    fn cmd(ex: &mut Ex, args: &[&str], id: u32) {
        ex.enqueue(|b| encode_command(b, args), id, RequestMeta::default());
    }

    fn write_all(ex: &mut Ex) -> Vec<u8> {
        let out = ex.pending_output().to_vec();
        ex.handle_written(out.len());
        out
    }

    /// Reads `bytes`: replies as `(Some(id), value)`, pushes and control replies as
    /// `(None, value)`.
    pub(in crate::session) fn read(ex: &mut Ex, bytes: &[u8]) -> Vec<(Option<u32>, Value)> {
        let mut events = Vec::new();
        ex.handle_read(bytes, |e| match e {
            Event::Reply(c, r, _) => events.push((Some(c), r.to_value())),
            Event::Push(r) | Event::Control(r) => events.push((None, r.to_value())),
        })
        .unwrap();
        events
    }

    #[test]
    fn replies_pair_in_order_and_the_ring_empties() {
        let mut ex = ready(0);
        cmd(&mut ex, &["SET", "a", "1"], 1);
        cmd(&mut ex, &["GET", "a"], 2);
        let out = write_all(&mut ex);
        assert_eq!(
            out,
            b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
        );
        assert_eq!(ex.in_flight(), 2);
        // Replies split anywhere still pair in order.
        let events = read(&mut ex, b"+OK\r\n$1");
        assert_eq!(events, vec![(Some(1), Value::simple("OK"))]);
        let events = read(&mut ex, b"\r\n1\r\n");
        assert_eq!(events, vec![(Some(2), Value::bulk("1"))]);
        assert!(ex.is_idle());
        assert!(ex.buf.is_empty());
    }

    #[test]
    fn partial_writes_count_only_whole_frames() {
        let mut ex = ready(0);
        cmd(&mut ex, &["PING"], 1);
        cmd(&mut ex, &["PING"], 2);
        let frame_len = ex.pending_output().len() / 2;
        ex.handle_written(frame_len - 1);
        assert_eq!(ex.in_flight(), 0);
        ex.handle_written(1);
        assert_eq!(ex.in_flight(), 1);
        assert_eq!(ex.pending_output().len(), frame_len);
        ex.handle_written(frame_len);
        assert_eq!(ex.in_flight(), 2);
        assert!(ex.is_flushed());
    }

    #[test]
    fn in_flight_bound_holds_back_frames() {
        let mut ex = ready(2);
        for i in 0..5 {
            cmd(&mut ex, &["PING"], i);
        }
        let one = 14; // *1\r\n$4\r\nPING\r\n
        assert_eq!(ex.pending_output().len(), 2 * one);
        write_all(&mut ex);
        assert!(ex.pending_output().is_empty());
        assert_eq!(read(&mut ex, b"+PONG\r\n").len(), 1);
        assert_eq!(ex.pending_output().len(), one);
        write_all(&mut ex);
        assert_eq!(read(&mut ex, b"+PONG\r\n+PONG\r\n").len(), 2);
        assert_eq!(ex.pending_output().len(), 2 * one);
    }

    #[test]
    fn pushes_go_apart_and_stray_replies_are_errors() {
        let mut ex = ready(0);
        cmd(&mut ex, &["GET", "k"], 7);
        write_all(&mut ex);
        let events = read(
            &mut ex,
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n$1\r\nv\r\n",
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].0, None);
        assert_eq!(events[1], (Some(7), Value::bulk("v")));
        let err = ex.handle_read(b"+extra\r\n", |_| {}).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
    }

    #[test]
    fn control_frames_go_first_then_requests() {
        let mut ex = Ex::new(Limits::default(), 0);
        ex.begin_control();
        cmd(&mut ex, &["GET", "k"], 1);
        ex.push_control(|b| {
            encode_command(b, &["HELLO", "3"]);
            1
        });
        let out = write_all(&mut ex);
        assert_eq!(out, b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n");
        assert!(ex.pending_output().is_empty());
        let events = read(&mut ex, b"%0\r\n");
        assert_eq!(events, vec![(None, Value::Map(vec![]))]);
        ex.set_ready();
        assert_eq!(write_all(&mut ex), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        assert_eq!(read(&mut ex, b"_\r\n"), vec![(Some(1), Value::Null)]);
    }

    #[test]
    fn disconnect_fails_written_and_keeps_unwritten() {
        let mut ex = ready(0);
        cmd(&mut ex, &["INCR", "a"], 1);
        cmd(&mut ex, &["INCR", "b"], 2);
        write_all(&mut ex);
        cmd(&mut ex, &["INCR", "c"], 3);
        let retry = RequestMeta {
            retry_written: true,
            ..RequestMeta::default()
        };
        let mut failed = Vec::new();
        // Half of a reply was read when the connection dropped.
        ex.handle_read(b":1", |_| {}).unwrap();
        ex.handle_disconnect(0, |c| failed.push(c));
        assert_eq!(failed, vec![1, 2]);
        assert_eq!(ex.pending(), 1);
        ex.set_ready();
        assert_eq!(write_all(&mut ex), b"*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n");
        assert_eq!(read(&mut ex, b":5\r\n"), vec![(Some(3), Value::Integer(5))]);

        // Opted-in requests are written again, up to the attempt limit.
        ex.enqueue(|b| encode_command(b, &["GET", "x"]), 4, retry);
        write_all(&mut ex);
        let mut failed = Vec::new();
        ex.handle_disconnect(1, |c| failed.push(c));
        assert!(failed.is_empty());
        ex.set_ready();
        assert_eq!(write_all(&mut ex), b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n");
        ex.handle_disconnect(1, |c| failed.push(c));
        assert_eq!(failed, vec![4]);
    }

    #[test]
    fn timed_out_requests_complete_once_and_their_replies_are_discarded() {
        let t0 = Instant::now();
        let mut ex = ready(0);
        let meta = |ms| RequestMeta {
            deadline: Some(t0 + Duration::from_millis(ms)),
            retry_written: false,
            ..RequestMeta::default()
        };
        ex.enqueue(|b| encode_command(b, &["DEBUG", "SLEEP", "1"]), 1, meta(10));
        ex.enqueue(|b| encode_command(b, &["GET", "a"]), 2, meta(1000));
        write_all(&mut ex);
        assert_eq!(ex.next_deadline(), Some(t0 + Duration::from_millis(10)));
        let mut timed_out = Vec::new();
        ex.expire(t0 + Duration::from_millis(20), |c| timed_out.push(c));
        assert_eq!(timed_out, vec![1]);
        ex.expire(t0 + Duration::from_millis(30), |c| timed_out.push(c));
        assert_eq!(timed_out, vec![1], "completed once");
        assert_eq!(ex.next_deadline(), Some(t0 + Duration::from_millis(1000)));
        // The late reply is read and dropped; the next reply reaches its own request.
        assert_eq!(
            read(&mut ex, b"+OK\r\n$1\r\nz\r\n"),
            vec![(Some(2), Value::bulk("z"))]
        );
        assert!(ex.is_idle());
    }

    #[test]
    fn a_cancelled_request_completes_once_unsent_or_with_its_reply_discarded() {
        let mut ex = ready(0);
        cmd(&mut ex, &["BLPOP", "a", "0"], 1);
        write_all(&mut ex);
        cmd(&mut ex, &["GET", "b"], 2);
        cmd(&mut ex, &["BLPOP", "c", "0"], 3);
        cmd(&mut ex, &["GET", "d"], 4);
        // A written one stays (its reply is discarded); an unwritten one leaves the output.
        assert_eq!(ex.cancel(|c| *c == 1, |_| false, true), (vec![1], true));
        assert_eq!(ex.cancel(|c| *c == 3, |_| false, true), (vec![3], false));
        assert_eq!(
            ex.cancel(|c| *c == 1 || *c == 3, |_| false, true),
            (vec![], false),
            "once"
        );
        assert_eq!(ex.pending(), 3);
        assert_eq!(
            write_all(&mut ex),
            b"*2\r\n$3\r\nGET\r\n$1\r\nb\r\n*2\r\n$3\r\nGET\r\n$1\r\nd\r\n"
        );
        assert_eq!(
            read(
                &mut ex,
                b"*2\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n"
            ),
            vec![(Some(2), Value::bulk("y")), (Some(4), Value::bulk("z"))]
        );
        assert!(ex.is_idle());
        // A transaction's frames are never cut one by one: they stay, and say so.
        ex.enqueue(|b| encode_command(b, &["MULTI"]), 5, RequestMeta::default());
        ex.enqueue(
            |b| encode_command(b, &["BLPOP", "e", "0"]),
            6,
            RequestMeta::default(),
        );
        ex.link_last();
        assert_eq!(ex.cancel(|c| *c == 6, |_| false, true), (vec![6], true));
        assert_eq!(ex.pending(), 2);
    }

    #[test]
    fn a_cancelled_request_takes_its_asking_along_and_stays_while_output_is_sent() {
        let mut ex = ready(0);
        let asking = |frame: &[u8]| frame == b"*1\r\n$6\r\nASKING\r\n";
        // ASKING and its command, unwritten: both go.
        cmd(&mut ex, &["ASKING"], 0);
        cmd(&mut ex, &["BLPOP", "a", "0"], 1);
        assert_eq!(ex.cancel(|c| *c == 1, asking, true), (vec![1], false));
        assert_eq!(ex.pending(), 0);
        assert!(write_all(&mut ex).is_empty());
        // Another request of the same kind (a DISCARD a holder left) is not taken along.
        cmd(&mut ex, &["DISCARD"], 0);
        cmd(&mut ex, &["BLPOP", "a", "0"], 1);
        assert_eq!(ex.cancel(|c| *c == 1, asking, true), (vec![1], false));
        assert_eq!(write_all(&mut ex), b"*1\r\n$7\r\nDISCARD\r\n");
        assert_eq!(
            read(&mut ex, b"+OK\r\n"),
            vec![(Some(0), Value::simple("OK"))]
        );
        // ASKING written, its command not (an in-flight bound): the command stays, to be
        // discarded, rather than leave ASKING to the next command.
        let mut ex = ready(1);
        cmd(&mut ex, &["ASKING"], 0);
        cmd(&mut ex, &["BLPOP", "a", "0"], 1);
        assert_eq!(write_all(&mut ex), b"*1\r\n$6\r\nASKING\r\n");
        assert_eq!(ex.cancel(|c| *c == 1, asking, true), (vec![1], true));
        assert_eq!(ex.pending(), 2);
        let mut ex = ready(0);
        // While a copy of the output is on its way (may_cut false), nothing leaves the ring:
        // the frame counts as written, and its bytes are still there when they are.
        cmd(&mut ex, &["BLPOP", "b", "0"], 2);
        let out = ex.pending_output().to_vec();
        assert_eq!(ex.cancel(|c| *c == 2, |_| false, false), (vec![2], true));
        ex.handle_written(out.len());
        assert_eq!(ex.pending(), 1);
        assert!(
            read(&mut ex, b"*-1\r\n").is_empty(),
            "its reply is discarded"
        );
        assert!(ex.is_idle());
    }

    #[test]
    fn a_timed_out_request_with_its_reply_half_read_makes_the_connection_untrusted() {
        let t0 = Instant::now();
        let mut ex = ready(0);
        let meta = |ms| RequestMeta {
            deadline: Some(t0 + Duration::from_millis(ms)),
            ..RequestMeta::default()
        };
        ex.enqueue(|b| encode_command(b, &["GET", "bad"]), 1, meta(10));
        write_all(&mut ex);
        // Two elements of the three declared, then nothing.
        assert!(read(&mut ex, b"*3\r\n:1\r\n:2\r\n").is_empty());
        assert!(
            !ex.reply_stalled(t0 + Duration::from_millis(5)),
            "not late yet"
        );
        let late = t0 + Duration::from_millis(20);
        let mut timed_out = Vec::new();
        ex.expire(late, |c| timed_out.push(c));
        assert_eq!(timed_out, vec![1]);
        assert!(ex.reply_stalled(late));
        // Were the connection kept, the next reply would complete the old aggregate and the
        // one after would reach the wrong request: it is closed instead.
        ex.enqueue(|b| encode_command(b, &["GET", "k1"]), 2, meta(1000));
        let mut failed = Vec::new();
        ex.handle_disconnect(0, |c| failed.push(c));
        assert!(
            failed.is_empty(),
            "the timed-out one has no completion left"
        );
        assert!(!ex.reply_stalled(late));
        ex.set_ready();
        assert_eq!(write_all(&mut ex), b"*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n");
        assert_eq!(
            read(&mut ex, b"$2\r\nv1\r\n"),
            vec![(Some(2), Value::bulk("v1"))]
        );
        // A late reply that arrives whole is no reason to close: it is read and dropped.
        let mut ex = ready(0);
        ex.enqueue(|b| encode_command(b, &["GET", "slow"]), 1, meta(10));
        write_all(&mut ex);
        ex.expire(late, |_| {});
        assert!(!ex.reply_stalled(late), "nothing of it read");
        assert!(read(&mut ex, b"$1\r\nx\r\n").is_empty());
        assert!(!ex.reply_stalled(late));
    }

    #[test]
    fn requests_timing_out_unwritten_are_never_sent() {
        let t0 = Instant::now();
        let mut ex = ready(0);
        let meta = |ms| RequestMeta {
            deadline: Some(t0 + Duration::from_millis(ms)),
            retry_written: false,
            ..RequestMeta::default()
        };
        ex.enqueue(|b| encode_command(b, &["INCR", "a"]), 1, meta(10));
        write_all(&mut ex);
        ex.enqueue(|b| encode_command(b, &["INCR", "b"]), 2, meta(10));
        ex.enqueue(|b| encode_command(b, &["INCR", "c"]), 3, meta(10));
        ex.enqueue(|b| encode_command(b, &["INCR", "d"]), 4, meta(1000));
        // Three bytes of b's frame went out: it must be finished.
        ex.handle_written(3);
        let mut timed_out = Vec::new();
        ex.expire(t0 + Duration::from_millis(20), |c| timed_out.push(c));
        assert_eq!(timed_out, vec![1, 2, 3]);
        assert_eq!(ex.pending(), 3, "c is gone");
        let mut rest = b"*2\r\n$4\r\nINCR\r\n$1\r\nb\r\n"[3..].to_vec();
        rest.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$1\r\nd\r\n");
        assert_eq!(write_all(&mut ex), rest);
        // a's and b's late replies are dropped; d gets its own.
        assert_eq!(
            read(&mut ex, b":1\r\n:1\r\n:7\r\n"),
            vec![(Some(4), Value::Integer(7))]
        );
        assert!(ex.is_idle());
        assert!(ex.buf.is_empty());
    }

    #[test]
    fn a_transaction_times_out_whole_or_not_at_all() {
        let t0 = Instant::now();
        let meta = RequestMeta {
            deadline: Some(t0 + Duration::from_millis(10)),
            retry_written: false,
            ..RequestMeta::default()
        };
        let later = t0 + Duration::from_millis(20);
        let transaction = |ex: &mut Ex, first: u32| {
            ex.enqueue(|b| encode_command(b, &["MULTI"]), first, meta);
            ex.enqueue(|b| encode_command(b, &["INCR", "a"]), first + 1, meta);
            ex.link_last();
            ex.enqueue(|b| encode_command(b, &["EXEC"]), first + 2, meta);
            ex.link_last();
        };
        // Nothing written: all of it goes.
        let mut ex = ready(0);
        transaction(&mut ex, 1);
        let mut timed_out = Vec::new();
        ex.expire(later, |c| timed_out.push(c));
        assert_eq!(timed_out, vec![1, 2, 3]);
        assert_eq!(ex.pending(), 0);
        assert!(ex.pending_output().is_empty());
        // MULTI written: the rest must follow, or the connection stays inside MULTI.
        let mut ex = ready(0);
        transaction(&mut ex, 1);
        ex.handle_written(15); // *1\r\n$5\r\nMULTI\r\n
        assert_eq!(ex.in_flight(), 1);
        ex.expire(later, |_| {});
        assert_eq!(ex.pending(), 3);
        write_all(&mut ex);
        assert!(read(&mut ex, b"+OK\r\n+QUEUED\r\n*1\r\n:1\r\n").is_empty());
        assert!(ex.is_idle());
        // A transaction cut by a disconnect after MULTI loses its tail too.
        let mut ex = ready(0);
        transaction(&mut ex, 1);
        cmd(&mut ex, &["GET", "k"], 4);
        ex.handle_written(15);
        let mut failed = Vec::new();
        ex.handle_disconnect(0, |c| failed.push(c));
        assert_eq!(failed, vec![1, 2, 3]);
        ex.set_ready();
        assert_eq!(write_all(&mut ex), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }

    #[test]
    fn requests_kept_over_a_reconnect_are_not_resent_once_expired() {
        let t0 = Instant::now();
        let mut ex = ready(0);
        let retry = |ms| RequestMeta {
            deadline: Some(t0 + Duration::from_millis(ms)),
            retry_written: true,
            ..RequestMeta::default()
        };
        ex.enqueue(|b| encode_command(b, &["INCR", "a"]), 1, retry(10));
        ex.enqueue(|b| encode_command(b, &["INCR", "b"]), 2, retry(1000));
        write_all(&mut ex);
        ex.enqueue(|b| encode_command(b, &["INCR", "c"]), 3, retry(10));
        ex.enqueue_secret(b"*2\r\n$4\r\nAUTH\r\n$6\r\nhunter\r\n", 4, retry(10));
        let mut failed = Vec::new();
        ex.handle_disconnect(3, |c| failed.push(c));
        assert!(failed.is_empty());
        assert_eq!(ex.pending(), 4);
        ex.set_ready();
        let mut timed_out = Vec::new();
        ex.expire(t0 + Duration::from_millis(20), |c| timed_out.push(c));
        assert_eq!(timed_out, vec![1]);
        // a is dropped; c and the AUTH wait behind b, which has not expired.
        assert_eq!(ex.pending(), 3);
        let (ptr, len) = (ex.buf.as_ptr(), ex.buf.len());
        ex.expire(t0 + Duration::from_millis(2000), |c| timed_out.push(c));
        assert_eq!(timed_out, vec![1, 2, 3, 4]);
        assert_eq!(ex.pending(), 0);
        assert!(ex.pending_output().is_empty());
        assert_eq!(ex.buf.as_ptr(), ptr);
        // SAFETY: the buffer was truncated, not freed; its capacity still holds the bytes.
        let old = unsafe { std::slice::from_raw_parts(ptr, len) };
        assert!(!old.windows(6).any(|w| w == b"hunter"), "password left");
    }

    #[test]
    fn secret_frames_are_wiped_once_answered() {
        let mut ex = ready(0);
        ex.enqueue_secret(
            b"*2\r\n$4\r\nAUTH\r\n$6\r\nhunter\r\n",
            1,
            RequestMeta::default(),
        );
        cmd(&mut ex, &["GET", "k"], 2);
        write_all(&mut ex);
        assert_eq!(
            read(&mut ex, b"+OK\r\n"),
            vec![(Some(1), Value::simple("OK"))]
        );
        assert!(
            !ex.buf.windows(6).any(|w| w == b"hunter"),
            "password left in the ring"
        );
        assert_eq!(read(&mut ex, b"$-1\r\n"), vec![(Some(2), Value::Null)]);
        // Control frames too: once the handshake ends, the HELLO AUTH bytes are gone.
        let mut ex = Ex::new(Limits::default(), 0);
        ex.begin_control();
        ex.push_control(|b| {
            encode_command(b, &["AUTH", "hunter"]);
            1
        });
        let control_ptr = ex.control.as_ptr();
        write_all(&mut ex);
        ex.set_ready();
        assert_eq!(ex.control.as_ptr(), control_ptr);
        // SAFETY: the buffer was cleared but not freed; its capacity still holds the bytes.
        let old = unsafe { std::slice::from_raw_parts(control_ptr, 20) };
        assert!(!old.windows(6).any(|w| w == b"hunter"));
    }

    #[test]
    fn the_ring_compacts_under_steady_load() {
        let mut ex = ready(0);
        let value = "v".repeat(1000);
        for i in 0..10u32 {
            cmd(&mut ex, &["SET", "k", &value], i);
        }
        write_all(&mut ex);
        let mut max_len = 0;
        for i in 0..2000u32 {
            cmd(&mut ex, &["SET", "k", &value], 100 + i);
            write_all(&mut ex);
            let oldest = if i < 10 { i } else { 100 + i - 10 };
            assert_eq!(
                read(&mut ex, b"+OK\r\n"),
                vec![(Some(oldest), Value::simple("OK"))]
            );
            max_len = max_len.max(ex.buf.len());
        }
        // Ten frames of about 1 KiB are live at any time; the ring stays near the compaction
        // threshold instead of growing with every command ever sent.
        assert!(max_len < 160 * 1024, "ring grew to {max_len}");
        assert_eq!(ex.pending(), 10);
    }
}
