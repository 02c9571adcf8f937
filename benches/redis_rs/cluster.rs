//! The cluster runs of `make bench` (bench/cluster.py), redis-rs side: its async cluster
//! client (`cluster_async::ClusterConnection`: one multiplexed connection per node, driven
//! by a task of its own) on a current-thread tokio runtime, as `--conn mux` is, with
//! --threads tasks sharing one cluster connection. Keys are named as the C driver names them
//! with `--grouped` (key i is "{g}:i", g = i / 128), drawn by the same xorshift64* with the
//! same seeds, over keys bench/cluster.py filled beforehand.
//!
//! Modes (`--conn cluster --port P`, P a startup node):
//!   calls      each task makes one call at a time, on random keys
//!   pipelines  each task sends pipelines of --depth commands on the keys of one group (one
//!              slot: redis-rs sends a pipeline to one node and refuses one whose keys hash to
//!              several slots)
//!   join       each task sends --depth calls on random keys at once and awaits them all: how
//!              a redis-rs caller spans nodes in one batch (the client pipelines them per
//!              node on its multiplexed connections)

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::io::tcp::TcpSettings;
use redis::{IntoConnectionInfo, Value};

use super::{command, cpu_s, reply_ok, Args, Outcome, Rng};

/// Keys of one group share a hash tag (the C driver's GROUP).
const GROUP: u64 = 128;

/// "{g}:i", written by hand as the C driver writes it (format! would charge redis-rs for a
/// few hundred instructions of this harness per key).
fn key_name(key: u64) -> String {
    let mut name = String::with_capacity(24);
    name.push('{');
    push_decimal(&mut name, key / GROUP, 1);
    name.push_str("}:");
    push_decimal(&mut name, key, 7);
    name
}

/// `v` in decimal, zero-padded to `width` digits.
fn push_decimal(out: &mut String, mut v: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut n = 0;
    loop {
        digits[n] += (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in digits[..n.max(width)].iter().rev() {
        out.push(char::from(d));
    }
}

/// Runs `a.mode` and returns (seconds, CPU seconds) of the measured pass.
pub(super) fn run(a: &Args, value: &[u8], out: &mut Outcome) -> (f64, f64) {
    if a.keys % GROUP != 0 || (a.mode == "pipelines" && a.depth as u64 > GROUP) {
        super::usage();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let node = format!("redis://{}:{}/", a.host, a.port)
            .into_connection_info()
            .expect("valid URL");
        let client = ClusterClient::builder([node])
            .tcp_settings(TcpSettings::default().set_nodelay(true))
            .build()
            .expect("cluster client");
        let con = client.get_async_connection().await.expect("connect");
        measure(a, &con, value, out).await
    })
}

async fn measure(a: &Args, con: &ClusterConnection, value: &[u8], out: &mut Outcome) -> (f64, f64) {
    let set = a.op == "set";
    let tasks = a.threads;
    let mut timing = (0.0, 0.0);
    // Pass 0 warms every task up (a few batches each), pass 1 is measured.
    for (pass, total) in [(0, tasks * a.depth * 4), (1, a.n)] {
        let (t0, c0) = (Instant::now(), cpu_s());
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let con = con.clone();
                let value = value.to_vec();
                let n = total / tasks + usize::from(t < total % tasks);
                let rng = Rng(0x9E3779B97F4A7C15u64.wrapping_mul(t as u64 + 1 + pass));
                let task = Task {
                    con,
                    value,
                    set,
                    size: a.size,
                    keys: a.keys,
                    depth: a.depth,
                    rng,
                };
                let mode = a.mode.clone();
                tokio::spawn(async move { task.run(&mode, n).await })
            })
            .collect();
        let mut measured = Outcome::default();
        for h in handles {
            measured.merge(h.await.expect("caller task"));
        }
        timing = (t0.elapsed().as_secs_f64(), cpu_s() - c0);
        if pass == 1 {
            *out = measured;
        }
    }
    timing
}

struct Task {
    con: ClusterConnection,
    value: Vec<u8>,
    set: bool,
    size: usize,
    keys: u64,
    depth: usize,
    rng: Rng,
}

impl Task {
    fn random_key(&mut self) -> String {
        key_name((self.rng.next() >> 8) % self.keys)
    }

    /// `n` commands in the way `mode` says; latency per call (`calls`) or per batch.
    async fn run(mut self, mode: &str, n: usize) -> Outcome {
        let mut out = Outcome::default();
        let mut i = 0;
        while i < n {
            let batch = if mode == "calls" {
                1
            } else {
                self.depth.min(n - i)
            };
            let t0 = Instant::now();
            let replies = match mode {
                "calls" => {
                    let key = self.random_key();
                    command(self.set, &key, &self.value)
                        .query_async::<Value>(&mut self.con)
                        .await
                        .map(|v| vec![v])
                }
                "pipelines" => {
                    let group = (self.rng.next() >> 8) % (self.keys / GROUP);
                    let mut pipe = redis::pipe();
                    for j in 0..batch as u64 {
                        pipe.add_command(command(
                            self.set,
                            &key_name(group * GROUP + j),
                            &self.value,
                        ));
                    }
                    pipe.query_async::<Vec<Value>>(&mut self.con).await
                }
                "join" => {
                    let calls: Vec<_> = (0..batch)
                        .map(|_| {
                            let cmd = command(self.set, &self.random_key(), &self.value);
                            let mut con = self.con.clone();
                            Box::pin(async move { cmd.query_async::<Value>(&mut con).await })
                        })
                        .collect();
                    join_all(calls).await.into_iter().collect()
                }
                _ => super::usage(),
            };
            match replies {
                Ok(replies) => {
                    out.lat
                        .push(t0.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                    for r in &replies {
                        out.bad += usize::from(!reply_ok(self.set, r, self.size));
                    }
                    out.ops += replies.len();
                }
                Err(_) => out.failed += 1,
            }
            i += batch;
        }
        out
    }
}

/// Runs the futures together and returns their outputs in order: the futures crate's
/// join_all, which this bench does not depend on. Each future gets a waker of its own that
/// queues its index, so a wake-up polls only the futures that were woken (polling all 128 on
/// every wake-up would charge redis-rs for this harness).
async fn join_all<F: Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output> {
    struct Woken {
        queue: Mutex<Vec<usize>>,
        parent: Mutex<Option<Waker>>,
    }
    struct One {
        index: usize,
        woken: Arc<Woken>,
    }
    impl Wake for One {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.woken.queue.lock().unwrap().push(self.index);
            if let Some(w) = self.woken.parent.lock().unwrap().as_ref() {
                w.wake_by_ref();
            }
        }
    }
    let woken = Arc::new(Woken {
        queue: Mutex::new((0..futures.len()).collect()),
        parent: Mutex::new(None),
    });
    let wakers: Vec<Waker> = (0..futures.len())
        .map(|index| {
            Waker::from(Arc::new(One {
                index,
                woken: woken.clone(),
            }))
        })
        .collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut left = futures.len();
    poll_fn(|cx| {
        *woken.parent.lock().unwrap() = Some(cx.waker().clone());
        loop {
            let ready = std::mem::take(&mut *woken.queue.lock().unwrap());
            if ready.is_empty() {
                break;
            }
            for i in ready {
                if outputs[i].is_some() {
                    continue;
                }
                let mut one = Context::from_waker(&wakers[i]);
                if let Poll::Ready(v) = Pin::new(&mut futures[i]).poll(&mut one) {
                    outputs[i] = Some(v);
                    left -= 1;
                }
            }
        }
        if left == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("polled to the end"))
        .collect()
}
