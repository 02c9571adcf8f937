//! The incremental RESP2/RESP3 decoder.
//!
//! Bytes go in as they arrive, in any split; a `Reply` comes out when its last byte has been
//! seen. The decoder keeps no copy of the raw input: a header split across two reads is kept
//! in a small line buffer, and string payloads are copied once, straight into the reply being
//! built. Aggregates are kept on an explicit stack (no recursion), and every length the peer
//! claims is checked against `Limits` before anything is reserved for it.
//!
//! Errors are sticky: after a protocol error the decoder refuses further input and repeats the
//! error, because the stream can no longer be trusted to line up with requests.

use super::reply::{Kind, Node, Reply, F_HAS_ATTR, F_NONCONTIG, F_ROOT, F_STATIC, STATIC_STRINGS};
use crate::error::{Error, Result};

/// Bounds on what a peer may make the decoder hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest bulk string, verbatim string or blob error, in bytes. Default 512 MiB (the
    /// server's own `proto-max-bulk-len`); at most `u32::MAX`. A claimed
    /// length reserves only the bytes at hand, except that inside an aggregate the decoder
    /// reserves room for the siblings still to come (assuming they are alike), never more than
    /// 32 MiB per aggregate.
    pub max_bulk_len: usize,
    /// Most elements in one array, set or push, or pairs in one map or attribute.
    /// Default 2^32 - 1.
    pub max_aggregate_len: usize,
    /// Deepest nesting of aggregates (the root aggregate is level 1). Default 512, at most
    /// [`MAX_DEPTH`].
    pub max_depth: usize,
    /// Longest simple string, simple error or big number line, in bytes. Default 1 MiB; at
    /// most `u32::MAX`. Such a line has no length up front, so until its CRLF comes every
    /// byte of it is held: a server that never ends one would otherwise make the decoder
    /// hold up to `max_bulk_len`. Real error texts, Lua errors included, are far shorter.
    pub max_line_len: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_aggregate_len: u32::MAX as usize,
            max_depth: 512,
            max_line_len: 1024 * 1024,
        }
    }
}

/// The deepest nesting a decoder takes (`Limits::max_depth`): the functions that walk a reply
/// (copying it, converting it for C) recurse once per level, and a reply nested much deeper
/// would overflow a thread's stack. Real replies nest a few levels.
///
/// cbindgen:ignore
pub const MAX_DEPTH: usize = 1000;

impl Limits {
    /// The largest limits the representation allows.
    pub fn unlimited() -> Limits {
        Limits {
            max_bulk_len: u32::MAX as usize,
            max_aggregate_len: u32::MAX as usize,
            max_depth: MAX_DEPTH,
            max_line_len: u32::MAX as usize,
        }
    }

    /// Checks the limits against what a reply can represent.
    pub fn validate(&self) -> Result<()> {
        if self.max_bulk_len > u32::MAX as usize {
            return Err(Error::invalid_argument(format!(
                "max_bulk_len {} is above the largest supported, {}",
                self.max_bulk_len,
                u32::MAX
            )));
        }
        if self.max_aggregate_len > u32::MAX as usize {
            return Err(Error::invalid_argument(format!(
                "max_aggregate_len {} is above the largest supported, {}",
                self.max_aggregate_len,
                u32::MAX
            )));
        }
        if self.max_line_len > u32::MAX as usize {
            return Err(Error::invalid_argument(format!(
                "max_line_len {} is above the largest supported, {}",
                self.max_line_len,
                u32::MAX
            )));
        }
        if self.max_depth == 0 {
            return Err(Error::invalid_argument("max_depth must be at least 1"));
        }
        if self.max_depth > MAX_DEPTH {
            return Err(Error::invalid_argument(format!(
                "max_depth {} is above the largest supported, {MAX_DEPTH} (the functions that \
                 walk a reply recurse once per level)",
                self.max_depth
            )));
        }
        Ok(())
    }
}

/// Longest header line for types whose line holds a number.
const MAX_NUMBER_LINE: usize = 128;

/// Most bytes reserved ahead of their arrival for the strings of one aggregate.
const RESERVE_AHEAD: usize = 32 * 1024 * 1024;

/// Shortest payload that starts a mirror (see `Decoder::copy_payload`): long enough that the
/// header lines kept in between waste under 1% of the buffer.
const MIRROR_MIN: usize = 1024;

/// A mirror copies at most this many times the bytes of the string that starts it: what it
/// takes beyond what the parser then uses (short siblings, nils, the next reply) is written
/// but wasted, so it stays a bounded fraction of the long strings really received.
const MIRROR_AHEAD: usize = 4;

/// Where a value's node lives while its reply is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Root,
    RootAttr,
    Node(usize),
}

#[derive(Debug)]
struct Frame {
    slot: Slot,
    kind: Kind,
    /// Children still expected.
    remaining: u64,
    /// Children in all (twice the pairs for maps).
    total: u64,
    /// Index of the first child while the children are adjacent.
    first_child: u64,
    /// Children stopped being adjacent; their indices are in `scratch[scratch_start..]`.
    noncontig: bool,
    scratch_start: usize,
    /// For attributes: where the value they annotate will go.
    value_slot: Slot,
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// Expecting a type byte.
    Start,
    /// Collecting a header line split across inputs (type byte given).
    Line(u8),
    /// Copying a string payload.
    Payload { slot: Slot, remaining: usize },
    /// Expecting the CRLF after a payload.
    PayloadEnd { slot: Slot, cr_seen: bool },
}

/// The incremental decoder. One per connection; reusable across replies.
pub struct Decoder {
    limits: Limits,
    state: State,
    line: Vec<u8>,
    stack: Vec<Frame>,
    scratch: Vec<u64>,
    pending_attr: Option<Slot>,
    root_attr: Node,
    root: Node,
    nodes: Vec<Node>,
    data: Vec<u8>,
    /// Index entries (node indices) of the reply in progress; they join its node table.
    index: Vec<u64>,
    /// Input bytes already copied into `data` during this call (see `copy_payload`).
    mirror: Mirror,
    failed: Option<Error>,
}

/// Input positions `start..end` of the current input sit in the reply's `data` at
/// `position + delta` (wrapping).
#[derive(Clone, Copy, Debug)]
struct Mirror {
    start: usize,
    end: usize,
    delta: usize,
}

impl Mirror {
    const NONE: Mirror = Mirror {
        start: 0,
        end: 0,
        delta: 0,
    };

    /// The data offset of input bytes `at..at + len`, when all of them are mirrored.
    fn data_offset(&self, at: usize, len: usize) -> Option<usize> {
        (self.start <= at && at + len <= self.end).then(|| at.wrapping_add(self.delta))
    }
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new(Limits::default())
    }
}

impl Decoder {
    /// A decoder with these limits (see `Limits::validate`; out-of-range values are clamped).
    pub fn new(limits: Limits) -> Decoder {
        let limits = Limits {
            max_bulk_len: limits.max_bulk_len.min(u32::MAX as usize),
            max_aggregate_len: limits.max_aggregate_len.min(u32::MAX as usize),
            max_depth: limits.max_depth.max(1),
            max_line_len: limits.max_line_len.min(u32::MAX as usize),
        };
        Decoder {
            limits,
            state: State::Start,
            line: Vec::new(),
            stack: Vec::new(),
            scratch: Vec::new(),
            pending_attr: None,
            root_attr: Node::EMPTY,
            root: Node::EMPTY,
            nodes: Vec::new(),
            data: Vec::new(),
            index: Vec::new(),
            mirror: Mirror::NONE,
            failed: None,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// True when a reply has started but not finished.
    pub fn is_mid_reply(&self) -> bool {
        !matches!(self.state, State::Start) || !self.stack.is_empty() || self.pending_attr.is_some()
    }

    /// Heap bytes held for the reply in progress and reusable scratch (for tests that check
    /// that claimed lengths reserve nothing up front).
    pub fn held_bytes(&self) -> usize {
        self.line.capacity()
            + self.stack.capacity() * std::mem::size_of::<Frame>()
            + self.scratch.capacity() * 8
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.data.capacity()
            + self.index.capacity() * 8
    }

    /// The sticky error, if a protocol error was seen.
    pub fn error(&self) -> Option<&Error> {
        self.failed.as_ref()
    }

    /// Forgets any partial reply and any sticky error (for a fresh connection).
    pub fn reset(&mut self) {
        self.failed = None;
        self.clear_partial();
    }

    /// Drops the reply in progress. Buffers that grew for it are freed, not just emptied: it
    /// may have been hundreds of megabytes that a broken or stalled server never finished.
    fn clear_partial(&mut self) {
        self.state = State::Start;
        release(&mut self.line);
        release(&mut self.stack);
        release(&mut self.scratch);
        self.pending_attr = None;
        self.root_attr = Node::EMPTY;
        self.root = Node::EMPTY;
        release(&mut self.nodes);
        release(&mut self.data);
        release(&mut self.index);
        self.mirror = Mirror::NONE;
    }

    /// Decodes from `input`. Returns how many bytes were consumed and the reply completed by
    /// them, if any. Without a reply, every byte was consumed (and kept as partial state); with
    /// one, decoding stopped right after it, and the caller calls again with the rest.
    #[inline]
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Reply>)> {
        if self.failed.is_none() && self.at_reply_boundary() {
            // Built right where it is returned: integers are the most common reply after +OK.
            if let Some((n, consumed)) = short_integer(input) {
                let reply = Reply::scalar(Node::new(Kind::Integer, 0, n as u64));
                return Ok((consumed, Some(reply)));
            }
            if let Some(done) = self.scalar_fast_path(input) {
                return Ok(done);
            }
        }
        self.decode_general(input)
    }

    /// No reply started: the next byte is a type byte at the root.
    #[inline]
    fn at_reply_boundary(&self) -> bool {
        matches!(self.state, State::Start) && self.stack.is_empty() && self.pending_attr.is_none()
    }

    #[inline(never)]
    fn decode_general(&mut self, input: &[u8]) -> Result<(usize, Option<Reply>)> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match self.run(input) {
            Ok(done) => Ok(done),
            Err(err) => {
                self.failed = Some(err.clone());
                self.clear_partial();
                Err(err)
            }
        }
    }

    fn run(&mut self, input: &[u8]) -> Result<(usize, Option<Reply>)> {
        // A mirror maps positions of this input only.
        self.mirror = Mirror::NONE;
        let mut pos = 0;
        loop {
            let complete = match self.state {
                State::Start => {
                    let Some(&ty) = input.get(pos) else {
                        return Ok((pos, None));
                    };
                    check_type_byte(ty)?;
                    let rest = &input[pos + 1..];
                    match find_crlf(rest) {
                        Found::Line(end) => {
                            let line = &rest[..end];
                            self.check_line_len(ty, line.len())?;
                            let line_at = Some(pos + 1);
                            pos += 1 + end + 2;
                            if ty == b'$' {
                                if let Some((next, complete)) = self.whole_bulk(input, line, pos)? {
                                    pos = next;
                                    if complete {
                                        return Ok((pos, Some(self.take_reply())));
                                    }
                                    continue;
                                }
                            }
                            self.header(ty, line, line_at, pos, input.len() - pos)?
                        }
                        Found::Partial => {
                            // A CR at the end is the start of the CRLF, not part of the line.
                            let cr = usize::from(rest.last() == Some(&b'\r'));
                            self.check_line_len(ty, rest.len() - cr)?;
                            self.line.clear();
                            self.line.extend_from_slice(rest);
                            self.state = State::Line(ty);
                            return Ok((input.len(), None));
                        }
                        Found::BareCr => return Err(missing_lf()),
                    }
                }
                State::Line(ty) => {
                    // The line so far is in self.line; it may end with the CR of its CRLF.
                    if self.line.last() == Some(&b'\r') {
                        let Some(&b) = input.get(pos) else {
                            return Ok((pos, None));
                        };
                        if b != b'\n' {
                            return Err(missing_lf());
                        }
                        pos += 1;
                        let mut line = std::mem::take(&mut self.line);
                        line.pop();
                        self.state = State::Start;
                        let result = self.header(ty, &line, None, pos, input.len() - pos);
                        line.clear();
                        self.line = line;
                        result?
                    } else {
                        let rest = &input[pos..];
                        match rest.iter().position(|&b| b == b'\r') {
                            Some(i) => {
                                self.check_line_len(ty, self.line.len() + i)?;
                                self.line.extend_from_slice(&rest[..=i]);
                                pos += i + 1;
                                continue;
                            }
                            None => {
                                self.check_line_len(ty, self.line.len() + rest.len())?;
                                self.line.extend_from_slice(rest);
                                return Ok((input.len(), None));
                            }
                        }
                    }
                }
                State::Payload { slot, remaining } => {
                    let avail = input.len() - pos;
                    if avail == 0 {
                        return Ok((pos, None));
                    }
                    let take = remaining.min(avail);
                    self.copy_payload(input, pos, take, remaining);
                    pos += take;
                    if take < remaining {
                        self.state = State::Payload {
                            slot,
                            remaining: remaining - take,
                        };
                        return Ok((pos, None));
                    }
                    self.state = State::PayloadEnd {
                        slot,
                        cr_seen: false,
                    };
                    continue;
                }
                State::PayloadEnd { slot, cr_seen } => {
                    if !cr_seen {
                        match input.get(pos) {
                            None => return Ok((pos, None)),
                            Some(b'\r') => pos += 1,
                            Some(_) => return Err(missing_payload_crlf()),
                        }
                    }
                    match input.get(pos) {
                        None => {
                            self.state = State::PayloadEnd {
                                slot,
                                cr_seen: true,
                            };
                            return Ok((pos, None));
                        }
                        Some(b'\n') => pos += 1,
                        Some(_) => return Err(missing_payload_crlf()),
                    }
                    self.state = State::Start;
                    self.payload_done(slot)?
                }
            };
            if complete {
                return Ok((pos, Some(self.take_reply())));
            }
        }
    }

    /// Most replies are one scalar whose bytes are all at hand: build it directly, without the
    /// aggregate machinery. Anything unusual (incomplete, invalid, over a limit) returns
    /// `None`, and the general path decodes it (and reports its error) from the start.
    #[inline]
    fn scalar_fast_path(&mut self, input: &[u8]) -> Option<(usize, Option<Reply>)> {
        let (&ty, rest) = input.split_first()?;
        // Aggregates go to the general path before their line is searched twice.
        if !matches!(ty, b':' | b'+' | b'-' | b'$' | b'_' | b'#' | b',') {
            return None;
        }
        let end = find_cr(rest)?;
        if rest.get(end + 1) != Some(&b'\n') {
            return None;
        }
        let line = &rest[..end];
        let mut consumed = 1 + end + 2;
        let mut data = Vec::new();
        let node = match ty {
            b':' => Node::new(Kind::Integer, 0, parse_int(line)? as u64),
            b'+' | b'-' if line.len() <= self.limits.max_line_len => {
                let kind = if ty == b'+' {
                    Kind::Simple
                } else {
                    Kind::Error
                };
                match static_string(line) {
                    Some(i) if kind == Kind::Simple => {
                        let mut node = Node::new(kind, line.len() as u32, i as u64);
                        node.flags = F_STATIC;
                        node
                    }
                    _ => {
                        data.reserve_exact(line.len() + 1);
                        data.extend_from_slice(line);
                        data.push(0);
                        Node::new(kind, line.len() as u32, 0)
                    }
                }
            }
            b'$' => match parse_int(line)? {
                -1 => Node::new(Kind::Null, 0, 0),
                len if len >= 0 && (len as usize) <= self.limits.max_bulk_len => {
                    let len = len as usize;
                    let payload = input.get(consumed..consumed + len + 2)?;
                    if &payload[len..] != b"\r\n" {
                        return None;
                    }
                    data.reserve_exact(len + 1);
                    data.extend_from_slice(&payload[..len]);
                    data.push(0);
                    consumed += len + 2;
                    Node::new(Kind::Bulk, len as u32, 0)
                }
                _ => return None,
            },
            b'_' if line.is_empty() => Node::new(Kind::Null, 0, 0),
            b'#' => match line {
                b"t" => Node::new(Kind::Boolean, 0, 1),
                b"f" => Node::new(Kind::Boolean, 0, 0),
                _ => return None,
            },
            b',' => Node::new(Kind::Double, 0, parse_double(line)?.to_bits()),
            _ => return None,
        };
        // What `Reply::finalize` would do for a lone scalar.
        let mut root = node;
        root.flags |= F_ROOT;
        if root.kind.has_bytes() {
            root.val = if root.flags & F_STATIC != 0 {
                STATIC_STRINGS[root.val as usize].as_ptr() as u64
            } else {
                data.as_ptr() as u64
            };
        }
        let reply = Reply {
            root_attr: Node::EMPTY,
            root,
            nodes: Vec::new(),
            data,
        };
        Some((consumed, Some(reply)))
    }

    /// A bulk string whose payload and CRLF are all in `input` after its header (which ended
    /// at `at`), or a nil, done in one step instead of through the payload states: most
    /// elements of real replies are such strings, and an MGET's misses are nils. Returns where
    /// the input continues and whether the reply is complete, or `None` for anything else (a
    /// string still to come or long enough to be mirrored, a bad length or terminator), which
    /// `header` then handles or rejects.
    #[inline]
    fn whole_bulk(
        &mut self,
        input: &[u8],
        line: &[u8],
        at: usize,
    ) -> Result<Option<(usize, bool)>> {
        let len = match parse_int(line) {
            Some(-1) => {
                self.place(Node::new(Kind::Null, 0, 0))?;
                return Ok(Some((at, self.value_done())));
            }
            Some(len) if len >= 0 => len as usize,
            _ => return Ok(None),
        };
        if len >= MIRROR_MIN || len > self.limits.max_bulk_len || at < self.mirror.end {
            return Ok(None);
        }
        let Some(payload) = input.get(at..at + len + 2) else {
            return Ok(None);
        };
        if payload[len..] != *b"\r\n" {
            return Ok(None);
        }
        self.reserve_payload(len, line.len(), 0, input.len() - at);
        let off = self.data.len();
        self.data.extend_from_slice(&payload[..len]);
        self.data.push(0);
        self.place(Node::new(Kind::Bulk, len as u32, off as u64))?;
        Ok(Some((at + len + 2, self.value_done())))
    }

    fn check_line_len(&self, ty: u8, len: usize) -> Result<()> {
        let limit = match ty {
            b'+' | b'-' | b'(' => self.limits.max_line_len,
            _ => MAX_NUMBER_LINE,
        };
        if len > limit {
            return Err(Error::protocol(format!(
                "header line of type '{}' is longer than {limit} bytes",
                ty as char
            )));
        }
        Ok(())
    }

    /// Handles one complete header line. Returns true when the reply is complete.
    /// `line_at` is where the line starts in the input (`None` when it was collected across
    /// inputs), `at` where the input continues after its CRLF, and `avail` how many input bytes
    /// follow it (a hint for reservations).
    fn header(
        &mut self,
        ty: u8,
        line: &[u8],
        line_at: Option<usize>,
        at: usize,
        avail: usize,
    ) -> Result<bool> {
        match ty {
            b'+' | b'-' | b'(' => {
                let kind = match ty {
                    b'+' => Kind::Simple,
                    b'-' => Kind::Error,
                    _ => {
                        check_big_number(line)?;
                        Kind::BigNumber
                    }
                };
                let node = match static_string(line) {
                    Some(i) if kind == Kind::Simple => {
                        let mut node = Node::new(kind, line.len() as u32, i as u64);
                        node.flags = F_STATIC;
                        node
                    }
                    _ => {
                        // A mirrored line is in place already: its CR becomes the NUL.
                        let mirrored =
                            line_at.and_then(|l| self.mirror.data_offset(l, line.len() + 1));
                        let off = match mirrored {
                            Some(off) => {
                                self.data[off + line.len()] = 0;
                                off
                            }
                            None => {
                                let off = self.data.len();
                                self.data.extend_from_slice(line);
                                self.data.push(0);
                                off
                            }
                        };
                        Node::new(kind, line.len() as u32, off as u64)
                    }
                };
                self.place(node)?;
                Ok(self.value_done())
            }
            b':' => {
                let n = parse_int(line).ok_or_else(|| bad_line("integer", line))?;
                self.place(Node::new(Kind::Integer, 0, n as u64))?;
                Ok(self.value_done())
            }
            b',' => {
                let d = parse_double(line).ok_or_else(|| bad_line("double", line))?;
                self.place(Node::new(Kind::Double, 0, d.to_bits()))?;
                Ok(self.value_done())
            }
            b'#' => {
                let b = match line {
                    b"t" => 1,
                    b"f" => 0,
                    _ => return Err(bad_line("boolean", line)),
                };
                self.place(Node::new(Kind::Boolean, 0, b))?;
                Ok(self.value_done())
            }
            b'_' => {
                if !line.is_empty() {
                    return Err(bad_line("null", line));
                }
                self.place(Node::new(Kind::Null, 0, 0))?;
                Ok(self.value_done())
            }
            b'$' | b'=' | b'!' => {
                let kind = match ty {
                    b'$' => Kind::Bulk,
                    b'=' => Kind::Verbatim,
                    _ => Kind::BlobError,
                };
                let len = match self.length(line)? {
                    Some(len) => len,
                    None if ty == b'$' => {
                        self.place(Node::new(Kind::Null, 0, 0))?;
                        return Ok(self.value_done());
                    }
                    None => return Err(bad_line("length", line)),
                };
                if len > self.limits.max_bulk_len {
                    return Err(Error::protocol(format!(
                        "string of {len} bytes exceeds the limit of {} bytes",
                        self.limits.max_bulk_len
                    )));
                }
                if kind == Kind::Verbatim && len < 4 {
                    return Err(Error::protocol(
                        "verbatim string shorter than its 4-byte format prefix",
                    ));
                }
                // The payload may be mirrored already, wholly or in part.
                let (off, already) = match self.mirror.data_offset(at, 1) {
                    Some(off) => (off, (self.mirror.end - at).min(len + 1)),
                    None => (self.data.len(), 0),
                };
                self.reserve_payload(len, line.len(), already, avail);
                let slot = self.place(Node::new(kind, len as u32, off as u64))?;
                self.state = if len == 0 {
                    State::PayloadEnd {
                        slot,
                        cr_seen: false,
                    }
                } else {
                    State::Payload {
                        slot,
                        remaining: len,
                    }
                };
                Ok(false)
            }
            b'*' | b'%' | b'~' | b'>' | b'|' => {
                let kind = match ty {
                    b'*' => Kind::Array,
                    b'%' => Kind::Map,
                    b'~' => Kind::Set,
                    b'>' => Kind::Push,
                    _ => Kind::Attribute,
                };
                let count = match self.length(line)? {
                    Some(n) => n,
                    None if ty == b'*' => {
                        self.place(Node::new(Kind::Null, 0, 0))?;
                        return Ok(self.value_done());
                    }
                    None => return Err(bad_line("length", line)),
                };
                if count > self.limits.max_aggregate_len {
                    return Err(Error::protocol(format!(
                        "aggregate of {count} elements exceeds the limit of {}",
                        self.limits.max_aggregate_len
                    )));
                }
                if self.stack.len() >= self.limits.max_depth {
                    return Err(Error::protocol(format!(
                        "aggregates nested deeper than {} levels",
                        self.limits.max_depth
                    )));
                }
                self.begin_aggregate(kind, count, avail)
            }
            _ => Err(bad_type(ty)),
        }
    }

    /// Copies the next `take` bytes of a payload (at `pos`, `remaining` still to come) into the
    /// reply, unless a mirror holds them already. A long payload inside an aggregate starts a
    /// mirror: the rest of the input, as far as the room reserved allows, is copied in one
    /// piece, so the strings after it in this input need no copy of their own (their header
    /// lines stay in between, unused, and each CR after a string becomes its NUL). One copy
    /// per read instead of one per string is what a plain memcpy of the input costs.
    fn copy_payload(&mut self, input: &[u8], pos: usize, take: usize, remaining: usize) {
        // Positions only advance within an input, so `pos` is never before a mirror's start.
        if pos >= self.mirror.end {
            if remaining >= MIRROR_MIN && !self.stack.is_empty() && self.after_long_string() {
                self.start_mirror(input, pos, take);
            } else {
                self.data.extend_from_slice(&input[pos..pos + take]);
            }
            return;
        }
        let mirrored = (self.mirror.end - pos).min(take);
        if mirrored < take {
            // The part past the mirror continues right where the mirror ends in `data`.
            let from = pos + mirrored;
            debug_assert_eq!(self.data.len(), from.wrapping_add(self.mirror.delta));
            self.data.extend_from_slice(&input[from..pos + take]);
        }
    }

    /// One of the two values before the current string (the sibling before, or in a map the
    /// value before this one's key) was a long string too: evidence that the aggregate holds
    /// long strings, so a mirror is likely to be used rather than wasted (an MGET with one
    /// long value among nils mirrors nothing).
    fn after_long_string(&self) -> bool {
        let n = self.nodes.len();
        let long = |i: usize| {
            let node = &self.nodes[i];
            node.kind.has_bytes() && node.len as usize >= MIRROR_MIN
        };
        (n >= 2 && long(n - 2)) || (n >= 3 && long(n - 3))
    }

    #[inline(never)]
    fn start_mirror(&mut self, input: &[u8], from: usize, take: usize) {
        let spare = self.data.capacity() - self.data.len();
        let extent = spare
            .min(input.len() - from)
            .min(take.saturating_mul(MIRROR_AHEAD))
            .max(take);
        self.mirror = Mirror {
            start: from,
            end: from + extent,
            delta: self.data.len().wrapping_sub(from),
        };
        self.data.extend_from_slice(&input[from..from + extent]);
    }

    /// Makes room for a string of `len` bytes (and its NUL), of which `already` are in place
    /// (mirrored). Inside an aggregate, assumes the siblings still to come are alike and
    /// reserves for all of them at once (up to `RESERVE_AHEAD`; for strings long enough to be
    /// mirrored, with room for their header lines too), so a large array is copied into its
    /// buffer once instead of being moved at every doubling; at the root, reserves what the
    /// bytes at hand can fill.
    #[inline]
    fn reserve_payload(&mut self, len: usize, line_len: usize, already: usize, avail: usize) {
        let needed = (len + 1).saturating_sub(already);
        if self.data.capacity() - self.data.len() < needed {
            self.grow_payload(len, line_len, needed, avail);
        }
    }

    /// `reserve_payload` when the room is short: apart, so that the check stays inline.
    #[inline(never)]
    fn grow_payload(&mut self, len: usize, line_len: usize, needed: usize, avail: usize) {
        let siblings = self
            .stack
            .last()
            .map_or(1, |f| f.remaining.min(usize::MAX as u64) as usize);
        let per_string = if len >= MIRROR_MIN {
            // Type byte, line, CRLF before the payload, and the LF after its NUL.
            len + 1 + line_len + 4
        } else {
            len + 1
        };
        let ahead = if siblings > 1 {
            per_string.saturating_mul(siblings).min(RESERVE_AHEAD)
        } else {
            0
        };
        let want = ahead.max(needed.min(avail + 1));
        if self.data.try_reserve(want).is_err() {
            self.data.reserve(needed.min(avail + 1));
        }
    }

    /// A length line: `Some(n)`, `None` for -1, an error for anything else.
    fn length(&self, line: &[u8]) -> Result<Option<usize>> {
        match parse_int(line) {
            Some(-1) => Ok(None),
            Some(n) if n >= 0 => Ok(Some(n as usize)),
            _ => Err(bad_line("length", line)),
        }
    }

    fn begin_aggregate(&mut self, kind: Kind, count: usize, avail: usize) -> Result<bool> {
        let total = if kind.is_map_like() {
            2 * count as u64
        } else {
            count as u64
        };
        // Every element takes at least 3 bytes on the wire, so this reserves no more than the
        // bytes at hand can fill.
        self.nodes.reserve((total as usize).min(avail / 3));
        let node = Node::new(kind, count as u32, 0);
        let (slot, value_slot) = if kind == Kind::Attribute {
            if self.pending_attr.is_some() {
                return Err(Error::protocol(
                    "an attribute followed by another attribute",
                ));
            }
            if self.stack.is_empty() {
                self.root_attr = node;
                (Slot::RootAttr, Slot::Root)
            } else {
                // The attribute's node sits right before the node of the value it annotates.
                let i = self.nodes.len();
                self.nodes.push(node);
                self.nodes.push(Node::EMPTY);
                (Slot::Node(i), Slot::Node(i + 1))
            }
        } else {
            (self.place(node)?, Slot::Root)
        };
        if total == 0 {
            return Ok(self.value_done_after(kind, value_slot));
        }
        self.stack.push(Frame {
            slot,
            kind,
            remaining: total,
            total,
            first_child: 0,
            noncontig: false,
            scratch_start: 0,
            value_slot,
        });
        Ok(false)
    }

    fn node_mut(&mut self, slot: Slot) -> &mut Node {
        match slot {
            Slot::Root => &mut self.root,
            Slot::RootAttr => &mut self.root_attr,
            Slot::Node(i) => &mut self.nodes[i],
        }
    }

    /// Puts a new value's node where it belongs and records it as its parent's child.
    fn place(&mut self, mut node: Node) -> Result<Slot> {
        let slot = match self.pending_attr.take() {
            Some(slot) => {
                node.flags |= F_HAS_ATTR;
                *self.node_mut(slot) = node;
                slot
            }
            None if self.stack.is_empty() => {
                self.root = node;
                Slot::Root
            }
            None => {
                self.nodes.push(node);
                Slot::Node(self.nodes.len() - 1)
            }
        };
        if let (Some(frame), Slot::Node(i)) = (self.stack.last_mut(), slot) {
            let i = i as u64;
            let k = frame.total - frame.remaining;
            if k == 0 {
                frame.first_child = i;
            } else if !frame.noncontig && i != frame.first_child + k {
                frame.noncontig = true;
                frame.scratch_start = self.scratch.len();
                self.scratch
                    .extend(frame.first_child..frame.first_child + k);
            }
            if frame.noncontig {
                self.scratch.push(i);
            }
        }
        Ok(slot)
    }

    fn payload_done(&mut self, slot: Slot) -> Result<bool> {
        let node = *self.node_mut(slot);
        // A mirrored payload has its CR in place after it: that byte becomes the NUL.
        let end = node.val as usize + node.len as usize;
        if end < self.data.len() {
            self.data[end] = 0;
        } else {
            self.data.push(0);
        }
        if node.kind == Kind::Verbatim && self.data[node.val as usize + 3] != b':' {
            return Err(Error::protocol(
                "verbatim string without its 'fmt:' format prefix",
            ));
        }
        Ok(self.value_done())
    }

    /// A value finished: counts it in its parent, closing every aggregate it completes.
    /// Returns true when the whole reply is complete.
    fn value_done(&mut self) -> bool {
        loop {
            let Some(frame) = self.stack.last_mut() else {
                return true;
            };
            frame.remaining -= 1;
            if frame.remaining > 0 {
                return false;
            }
            let frame = self.stack.pop().expect("frame");
            let val = if frame.noncontig {
                let off = self.index.len() as u64;
                self.index
                    .extend_from_slice(&self.scratch[frame.scratch_start..]);
                self.scratch.truncate(frame.scratch_start);
                off
            } else {
                frame.first_child
            };
            let node = self.node_mut(frame.slot);
            node.val = val;
            if frame.noncontig {
                node.flags |= F_NONCONTIG;
            }
            if frame.kind == Kind::Attribute {
                self.pending_attr = Some(frame.value_slot);
                return false;
            }
        }
    }

    /// `value_done` for an aggregate that completed at its header (no elements).
    fn value_done_after(&mut self, kind: Kind, value_slot: Slot) -> bool {
        if kind == Kind::Attribute {
            self.pending_attr = Some(value_slot);
            false
        } else {
            self.value_done()
        }
    }

    fn take_reply(&mut self) -> Reply {
        // The index entries join the node table, after the nodes: one buffer for both.
        let index_start = self.nodes.len();
        if !self.index.is_empty() {
            self.nodes.reserve_exact(self.index.len());
            self.nodes
                .extend(self.index.iter().map(|&i| Node::new(Kind::Null, 0, i)));
            self.index.clear();
        }
        let mut reply = Reply {
            root_attr: std::mem::replace(&mut self.root_attr, Node::EMPTY),
            root: std::mem::replace(&mut self.root, Node::EMPTY),
            nodes: std::mem::take(&mut self.nodes),
            data: std::mem::take(&mut self.data),
        };
        reply.finalize(index_start);
        reply
    }
}

/// Capacity a decoder keeps in each buffer when it drops a partial reply: enough for the
/// header lines and small replies it will meet again, too little to matter per connection.
const KEPT_CAPACITY: usize = 16 * 1024;

/// Empties `v`, and frees it when it holds more than `KEPT_CAPACITY` bytes.
fn release<T>(v: &mut Vec<T>) {
    v.clear();
    if v.capacity() * std::mem::size_of::<T>() > KEPT_CAPACITY {
        *v = Vec::new();
    }
}

/// Decodes bytes known to hold exactly one complete reply (our own encodings).
pub(crate) fn decode_complete(wire: &[u8]) -> Reply {
    let mut decoder = Decoder::new(Limits::unlimited());
    match decoder.decode(wire) {
        Ok((n, Some(reply))) if n == wire.len() => reply,
        other => panic!("internal encoding did not decode to one reply: {other:?}"),
    }
}

enum Found {
    /// CRLF at this offset.
    Line(usize),
    /// No CRLF yet (the input may end with its CR).
    Partial,
    /// A CR followed by something other than LF.
    BareCr,
}

/// The index in `STATIC_STRINGS` of a simple string that needs no copy.
#[inline]
fn static_string(line: &[u8]) -> Option<usize> {
    match line {
        b"OK" => Some(0),
        b"QUEUED" => Some(1),
        b"PONG" => Some(2),
        _ => None,
    }
}

/// The first CR in `bytes`, a word at a time.
#[inline]
fn find_cr(bytes: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const CR: u64 = LO * b'\r' as u64;
    let mut i = 0;
    while i + 8 <= bytes.len() {
        let word = u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes")) ^ CR;
        // The lowest flagged byte is exactly the first zero byte (a CR in the input).
        let zero = word.wrapping_sub(LO) & !word & HI;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes[i..].iter().position(|&b| b == b'\r').map(|p| p + i)
}

#[inline]
fn find_crlf(bytes: &[u8]) -> Found {
    match find_cr(bytes) {
        None => Found::Partial,
        Some(i) => match bytes.get(i + 1) {
            None => Found::Partial,
            Some(b'\n') => Found::Line(i),
            Some(_) => Found::BareCr,
        },
    }
}

fn check_type_byte(ty: u8) -> Result<()> {
    match ty {
        b'+' | b'-' | b':' | b'$' | b'*' | b'_' | b',' | b'#' | b'(' | b'=' | b'%' | b'~'
        | b'|' | b'>' | b'!' => Ok(()),
        _ => Err(bad_type(ty)),
    }
}

fn bad_type(ty: u8) -> Error {
    Error::protocol(format!(
        "invalid type byte 0x{ty:02x} ('{}')",
        [ty].escape_ascii()
    ))
}

fn bad_line(what: &str, line: &[u8]) -> Error {
    let shown: Vec<u8> = line.iter().take(32).copied().collect();
    Error::protocol(format!("invalid {what} '{}'", shown.escape_ascii()))
}

fn missing_lf() -> Error {
    Error::protocol("header line not terminated by CRLF")
}

fn missing_payload_crlf() -> Error {
    Error::protocol("string payload not followed by CRLF")
}

/// A whole `:` line of at most 7 digits at the start of `input`, read a word at a time
/// without looking for the CR first: `(value, bytes consumed)`. `None` for anything else
/// (longer numbers, a `+` sign, fewer than 8 bytes after the sign, a malformed line), which the
/// general path then parses or rejects.
#[inline]
fn short_integer(input: &[u8]) -> Option<(i64, usize)> {
    let (&b':', rest) = input.split_first()? else {
        return None;
    };
    let (negative, digits_at) = match rest.first()? {
        b'-' => (true, 2),
        _ => (false, 1),
    };
    let word = u64::from_le_bytes(*input.get(digits_at..)?.first_chunk::<8>()?);
    // Bytes outside '0'..='9' get their high bit set, exactly up to the first of them (a borrow
    // or carry only reaches bytes above it).
    let low = word.wrapping_sub(0x3030_3030_3030_3030);
    let high = word.wrapping_add(0x4646_4646_4646_4646);
    let stop = (low | high) & 0x8080_8080_8080_8080;
    let digits = (stop.trailing_zeros() / 8) as usize; // 8 when all are digits
    if digits == 0
        || digits > 7
        || input.get(digits_at + digits..digits_at + digits + 2)? != b"\r\n"
    {
        return None;
    }
    // Digits to the high bytes (leading zeros below), then three multiplications.
    let low = low << (64 - 8 * digits);
    let pairs = (low * 10 + (low >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs * 100 + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    let n = ((quads * 10_000 + (quads >> 32)) & 0xFFFF_FFFF) as i64;
    Some((if negative { -n } else { n }, digits_at + digits + 2))
}

/// Parses a RESP integer: optional `-` or `+`, then 1 to 19 digits, within i64.
#[inline]
pub(crate) fn parse_int(line: &[u8]) -> Option<i64> {
    let (negative, digits) = match line.first()? {
        b'-' => (true, &line[1..]),
        b'+' => (false, &line[1..]),
        _ => (false, line),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    let mut rest = digits;
    // Eight digits at a time: check them all, then combine them in three multiplications.
    while let Some((chunk, tail)) = rest.split_first_chunk::<8>() {
        let word = u64::from_le_bytes(*chunk);
        let low = word.wrapping_sub(0x3030_3030_3030_3030);
        let high = word.wrapping_add(0x4646_4646_4646_4646);
        if (low | high) & 0x8080_8080_8080_8080 != 0 {
            return None; // a byte outside '0'..='9'
        }
        let pairs = (low * 10 + (low >> 8)) & 0x00FF_00FF_00FF_00FF;
        let quads = (pairs * 100 + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
        let eight = (quads * 10_000 + (quads >> 32)) & 0xFFFF_FFFF;
        n = n * 100_000_000 + eight;
        rest = tail;
    }
    for &b in rest {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + d as u64;
    }
    if negative {
        if n > i64::MAX as u64 + 1 {
            return None;
        }
        Some((n as i64).wrapping_neg())
    } else {
        i64::try_from(n).ok()
    }
}

/// Parses a RESP3 double: decimal or exponent notation, `inf`, `-inf`, `nan`.
fn parse_double(line: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(line).ok()?;
    match text {
        "inf" | "+inf" => return Some(f64::INFINITY),
        "-inf" => return Some(f64::NEG_INFINITY),
        "nan" | "-nan" => return Some(f64::NAN),
        _ => {}
    }
    // Rust's parser also takes "infinity" and "NaN" spellings; RESP3 has only the three
    // above, so anything else must start like a number.
    let first = *line.first()?;
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return None;
    }
    let d: f64 = text.parse().ok()?;
    if d.is_finite()
        || text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        Some(d)
    } else {
        None
    }
}

fn check_big_number(line: &[u8]) -> Result<()> {
    let digits = match line.first() {
        Some(b'-') | Some(b'+') => &line[1..],
        _ => line,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad_line("big number", line));
    }
    Ok(())
}
