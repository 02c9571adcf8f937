//! Parser benchmark, Rust side: redcore's `Decoder`, redis-rs's streaming `Parser` (the one
//! its sync connection reads with) and a plain memcpy, on a buffer fed in chunks (reads) of
//! CHUNK bytes (default 64 KiB). Run by `make bench` (bench/run.py), which compares them with
//! hiredis's reader (bench/c/parse_hiredis.c) and redcore's C reader (bench/c/parse_redcore.c)
//! on the same files.
//!
//!   parser redcore|redis-rs|memcpy FILE WORKLOAD MIN_SECONDS [CHUNK]   prints one JSON object
//!
//! One warm-up pass, timed passes until MIN_SECONDS (at least one; the wall clock and the
//! process's CPU time both reported), then one pass with the
//! counting allocator switched on, so that counting does not slow the timed passes. Every
//! reply is walked (string lengths, integers, booleans, doubles summed into a checksum that
//! parse_hiredis.c computes the same way) and dropped.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use redcore::resp::{Decoder, Kind, Limits, ValueRef};

const DEFAULT_CHUNK: usize = 64 * 1024;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            REALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone, Copy, Default)]
struct Tally {
    replies: u64,
    leaves: u64,
    checksum: u64,
}

impl Tally {
    fn leaf(&mut self, v: u64) {
        self.leaves += 1;
        self.checksum = self.checksum.wrapping_add(v);
    }
}

fn walk_redcore(v: ValueRef<'_>, t: &mut Tally) {
    match v.kind() {
        Kind::Array | Kind::Map | Kind::Set | Kind::Push | Kind::Attribute => {
            for child in v.children() {
                walk_redcore(child, t);
            }
        }
        Kind::Integer => t.leaf(v.as_integer().unwrap_or(0) as u64),
        Kind::Boolean => t.leaf(v.as_bool().unwrap_or(false) as u64),
        Kind::Double => t.leaf(v.as_double().unwrap_or(0.0) as i64 as u64),
        Kind::Null => t.leaf(0),
        _ => t.leaf(v.as_bytes().map_or(0, |b| b.len() as u64)),
    }
}

// Not inlined, so that a profile can measure the pass alone (callgrind --toggle-collect).
#[inline(never)]
fn pass_redcore(buf: &[u8], chunk_len: usize) -> Tally {
    let mut t = Tally::default();
    let mut decoder = Decoder::new(Limits::default());
    for chunk in buf.chunks(chunk_len) {
        let mut input = chunk;
        loop {
            let (used, reply) = decoder.decode(input).expect("redcore decodes the workload");
            input = &input[used..];
            match reply {
                Some(reply) => {
                    t.replies += 1;
                    walk_redcore(reply.value(), &mut t);
                }
                None => break,
            }
        }
    }
    t
}

fn walk_redis_rs(v: &redis::Value, t: &mut Tally) {
    use redis::Value as V;
    match v {
        V::Array(items) | V::Set(items) => items.iter().for_each(|c| walk_redis_rs(c, t)),
        V::Push { data, .. } => data.iter().for_each(|c| walk_redis_rs(c, t)),
        V::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            walk_redis_rs(k, t);
            walk_redis_rs(v, t);
        }),
        V::Attribute { data, .. } => walk_redis_rs(data, t),
        V::Int(i) => t.leaf(*i as u64),
        V::Boolean(b) => t.leaf(*b as u64),
        V::Double(d) => t.leaf(*d as i64 as u64),
        V::Nil => t.leaf(0),
        V::Okay => t.leaf(2),
        V::SimpleString(s) => t.leaf(s.len() as u64),
        V::BulkString(b) => t.leaf(b.len() as u64),
        // The text the server sent, which redis-rs splits into its code and details.
        V::ServerError(e) => {
            t.leaf((e.code().len() + e.details().map_or(0, |d| d.len() + 1)) as u64)
        }
        _ => t.leaf(0),
    }
}

/// Hands out the buffer at most `chunk` bytes per read, as a socket would.
struct Chunked<'a> {
    buf: &'a [u8],
    pos: usize,
    chunk: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = out.len().min(self.chunk).min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[inline(never)]
fn pass_redis_rs(buf: &[u8], chunk: usize) -> Tally {
    let mut t = Tally::default();
    let mut parser = redis::Parser::new();
    let mut reader = Chunked { buf, pos: 0, chunk };
    loop {
        match parser.parse_value(&mut reader) {
            Ok(value) => {
                t.replies += 1;
                walk_redis_rs(&value, &mut t);
            }
            // The end of the input shows as an error at a reply boundary.
            Err(_) if reader.pos == buf.len() => break,
            Err(e) => panic!("redis-rs failed on the workload: {e}"),
        }
    }
    t
}

#[inline(never)]
fn pass_memcpy(buf: &[u8], dst: &mut [u8], chunk_len: usize) -> Tally {
    for (i, chunk) in buf.chunks(chunk_len).enumerate() {
        dst[i * chunk_len..i * chunk_len + chunk.len()].copy_from_slice(chunk);
    }
    black_box(&mut *dst);
    Tally::default()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (parser, file, workload, min_time, chunk) = match &args[..] {
        [p, f, w, m] => (p, f, w, m, DEFAULT_CHUNK),
        [p, f, w, m, c] => (p, f, w, m, c.parse().expect("CHUNK is a number of bytes")),
        _ => {
            eprintln!("usage: parser redcore|redis-rs|memcpy FILE WORKLOAD MIN_SECONDS [CHUNK]");
            std::process::exit(2);
        }
    };
    let buf = std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let min_time: f64 = min_time.parse().expect("MIN_SECONDS is a number");
    // Only the memcpy pass writes to it: the others leave it unallocated, out of their profile.
    let mut dst = if parser == "memcpy" {
        vec![1u8; buf.len()]
    } else {
        Vec::new()
    };
    let mut pass = |buf: &[u8]| match parser.as_str() {
        "redcore" => pass_redcore(buf, chunk),
        "redis-rs" => pass_redis_rs(buf, chunk),
        "memcpy" => pass_memcpy(buf, &mut dst, chunk),
        other => panic!("unknown parser {other}"),
    };

    pass(&buf);
    let cpu_start = cpu_time();
    let start = Instant::now();
    let mut passes = 0u32;
    let mut tally;
    loop {
        tally = black_box(pass(&buf));
        passes += 1;
        if start.elapsed().as_secs_f64() >= min_time {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64() / f64::from(passes);
    let cpu_secs = (cpu_time() - cpu_start) / f64::from(passes);

    COUNTING.store(true, Ordering::SeqCst);
    let counted = pass(&buf);
    COUNTING.store(false, Ordering::SeqCst);
    let allocs = ALLOCS.load(Ordering::SeqCst);
    let reallocs = REALLOCS.load(Ordering::SeqCst);
    let per = |n: u64| {
        if n == 0 {
            0.0
        } else {
            (allocs + reallocs) as f64 / n as f64
        }
    };
    println!(
        "{{\"parser\":\"{parser}\",\"workload\":\"{workload}\",\"bytes\":{},\"replies\":{},\
         \"leaves\":{},\"checksum\":{},\"passes\":{passes},\"secs_per_pass\":{secs:.6},\
         \"replies_per_sec\":{:.1},\"leaves_per_sec\":{:.1},\"mb_per_sec\":{:.1},\
         \"allocs\":{allocs},\"reallocs\":{reallocs},\"allocs_per_reply\":{:.4},\
         \"allocs_per_leaf\":{:.4},\"cpu_secs_per_pass\":{cpu_secs:.6},\
         \"replies_per_cpu_sec\":{:.1}}}",
        buf.len(),
        tally.replies,
        tally.leaves,
        tally.checksum,
        tally.replies as f64 / secs,
        tally.leaves as f64 / secs,
        buf.len() as f64 / secs / 1e6,
        per(counted.replies),
        per(counted.leaves),
        tally.replies as f64 / cpu_secs,
    );
}

/// CPU time of the process, in seconds: on a machine shared with other work, the time the
/// passes really ran, where the wall clock also counts the time they waited for a core.
fn cpu_time() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}
