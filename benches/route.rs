//! Cluster routing benchmark: the cost of planning one command (command table lookup, key
//! walk, CRC16 slot) with `route::cluster::plan`, for GET, SET, MGET of 10 keys of one slot,
//! and EVALSHA with one key; of a whole routing decision for GET (plan, slot owner, replica
//! choice) on the 3-shard topology captured from a real cluster; and of a GET's two parts
//! alone (table lookup, key slot).
//!
//!   route [MIN_SECONDS]    prints one JSON object: ns and heap allocations per plan
//!
//! Each case: a warm-up, then timed rounds of 64 commands (different keys, so the branch
//! predictor cannot learn one key) until MIN_SECONDS (default 1) has passed, the best round
//! of 10 reported; then one round with the counting allocator on. A plan of these commands
//! must not allocate: the program exits with status 1 if one does.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redcore::resp::Decoder;
use redcore::route::cluster::{pick_node, plan, ReadFrom, Target};
use redcore::route::keys::CommandTable;
use redcore::route::slot::key_slot;
use redcore::route::topology::{NodeAddr, Topology};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
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

/// Commands per timed round.
const ROUND: usize = 64;

/// One benchmark case: a name and 64 argvs.
struct Case {
    name: &'static str,
    commands: Vec<Vec<Vec<u8>>>,
}

fn case(name: &'static str, make: impl Fn(usize) -> Vec<String>) -> Case {
    let commands = (0..ROUND)
        .map(|i| make(i).into_iter().map(String::into_bytes).collect())
        .collect();
    Case { name, commands }
}

/// The best time of one round of `run` over the case's commands, in ns per command, and the
/// allocations of one more round.
fn measure(case: &Case, min: Duration, run: &dyn Fn(&[&[u8]]) -> u64) -> (f64, f64) {
    let argvs: Vec<Vec<&[u8]>> = case
        .commands
        .iter()
        .map(|c| c.iter().map(Vec::as_slice).collect())
        .collect();
    let round = || {
        let mut sum = 0u64;
        for argv in &argvs {
            sum = sum.wrapping_add(run(black_box(argv)));
        }
        black_box(sum);
    };
    for _ in 0..10_000 {
        round();
    }
    // Rounds are grouped by 1000 to keep the clock out of the measure.
    let mut best = f64::MAX;
    let start = Instant::now();
    while start.elapsed() < min {
        let t = Instant::now();
        for _ in 0..1000 {
            round();
        }
        let ns = t.elapsed().as_nanos() as f64 / (1000 * ROUND) as f64;
        best = best.min(ns);
    }
    ALLOCS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    round();
    COUNTING.store(false, Ordering::Relaxed);
    let allocs = ALLOCS.load(Ordering::Relaxed) as f64 / ROUND as f64;
    (best, allocs)
}

fn topology() -> Topology {
    let wire: &[u8] = include_bytes!("../src/route/testdata/slots_resp3.resp");
    let (_, reply) = Decoder::default().decode(wire).expect("valid RESP");
    let reply = reply.expect("one whole reply");
    Topology::from_cluster_slots(reply.value(), &NodeAddr::new("127.0.0.1", 30001), &|a| {
        a.clone()
    })
    .expect("captured CLUSTER SLOTS")
}

fn main() {
    // `cargo bench` passes `--bench`: only a number is ours.
    let min = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(|s| s.parse::<f64>().expect("MIN_SECONDS is a number"))
        .unwrap_or(1.0);
    let min = Duration::from_secs_f64(min);
    let table = CommandTable::builtin();
    let topology = topology();

    let cases = [
        case("GET", |i| vec!["GET".into(), format!("user:{i}:name")]),
        case("SET", |i| {
            vec!["SET".into(), format!("user:{i}:name"), "value".into()]
        }),
        case("MGET 10 keys, one slot", |i| {
            let mut argv = vec!["MGET".to_string()];
            argv.extend((0..10).map(|k| format!("{{user{i}}}:field{k}")));
            argv
        }),
        case("EVALSHA 1 key", |i| {
            vec![
                "EVALSHA".into(),
                "e0e1f9fabfc9d4800c877a703b823ac0578ff8db".into(),
                "1".into(),
                format!("lock:{i}"),
                "token".into(),
            ]
        }),
    ];
    let target_slot = |p: &redcore::route::cluster::Plan| match p.target {
        Target::Slot(slot) => u64::from(slot),
        _ => panic!("not a single-slot plan: {p:?}"),
    };
    let plan_only = |argv: &[&[u8]]| target_slot(&plan(&table, argv).expect("plan"));
    let mut results = Vec::new();
    let mut allocating = false;
    for case in &cases {
        let (ns, allocs) = measure(case, min, &plan_only);
        results.push((case.name.to_string(), ns, allocs));
    }
    let full = |argv: &[&[u8]]| {
        let p = plan(&table, argv).expect("plan");
        let shard = topology
            .slot_shard(target_slot(&p) as u16)
            .expect("covered");
        pick_node(&topology, shard, ReadFrom::Primary, p.read_only, 0) as u64
    };
    // The parts of a GET's plan: the command table lookup, and the key's slot.
    let lookup = |argv: &[&[u8]]| table.get(argv).map_or(0, |spec| u64::from(spec.read_only));
    let (ns, allocs) = measure(&cases[0], min, &lookup);
    results.push(("GET, table lookup only".to_string(), ns, allocs));
    let slot = |argv: &[&[u8]]| u64::from(key_slot(argv[1]));
    let (ns, allocs) = measure(&cases[0], min, &slot);
    results.push(("GET, key slot only".to_string(), ns, allocs));
    let (ns, allocs) = measure(&cases[0], min, &full);
    results.push(("GET, plan + owner + node".to_string(), ns, allocs));

    let mut json = String::from("{\"bench\":\"route\",\"cases\":[");
    for (i, (name, ns, allocs)) in results.iter().enumerate() {
        eprintln!("{name:<28} {ns:>7.1} ns/plan  {allocs} allocations/plan");
        allocating |= *allocs > 0.0;
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            "{{\"name\":\"{name}\",\"ns_per_plan\":{ns:.2},\"allocs_per_plan\":{allocs}}}"
        ));
    }
    json.push_str("]}");
    println!("{json}");
    if allocating {
        eprintln!("route: a plan allocated");
        std::process::exit(1);
    }
}
