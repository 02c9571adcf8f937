//! A fault-injecting TCP proxy for tests: it listens on a free loopback port, forwards each
//! connection to a real server, and breaks the traffic when a test says so, the ways networks
//! and servers break: latency, a black hole, a trickle, a reply cut in its middle, a corrupted
//! reply, a reset, a port that refuses connections for a while.
//!
//! Faults are set on the proxy and apply to every connection through it. A fault that
//! persists (`set`) lasts until the next `set`; a one-shot action (`cut_next_reply`,
//! `corrupt_next_reply`) hits the next reply any connection carries; `reset_all` and
//! `refuse_for` act at once.
//!
//! The proxy finds reply boundaries in the server's stream with redcore's own decoder: it
//! only needs to know where a reply starts, and the server's bytes are well formed.
//!
//! Each connection costs two threads (one per direction), ended by shutting its sockets down;
//! dropping the proxy ends them all.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redcore::resp::{Decoder, Limits};

use super::HOST;

/// A fault that lasts until the next `FaultProxy::set`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Bytes pass as they come.
    None,
    /// Every chunk the server sends reaches the client this much later.
    Delay(Duration),
    /// Nothing passes either way (a partition, a half-open connection): bytes are accepted
    /// and held. When the fault ends they flow again, in order, as TCP would deliver them
    /// once the partition heals.
    BlackHole,
    /// The server's bytes reach the client one at a time.
    Drip,
}

struct Shared {
    upstream: u16,
    fault: Mutex<Fault>,
    cut_next: AtomicBool,
    corrupt_next: AtomicBool,
    refuse_until: Mutex<Option<Instant>>,
    links: Mutex<Vec<Link>>,
    next_link: AtomicU64,
    accepted: AtomicUsize,
    stop: AtomicBool,
}

/// The two sockets of one proxied connection, kept to break it from outside.
struct Link {
    id: u64,
    client: TcpStream,
    server: TcpStream,
    /// Reset rather than closed: the threads must not send a FIN first.
    resetting: Arc<AtomicBool>,
}

/// A proxy in front of `127.0.0.1:upstream`. Dropping it closes every connection through it.
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy for the server on `upstream`, on a free port.
    pub fn start(upstream: u16) -> FaultProxy {
        let listener = TcpListener::bind((HOST, 0)).expect("bind the proxy");
        let port = listener.local_addr().expect("local_addr").port();
        let shared = Arc::new(Shared {
            upstream,
            fault: Mutex::new(Fault::None),
            cut_next: AtomicBool::new(false),
            corrupt_next: AtomicBool::new(false),
            refuse_until: Mutex::new(None),
            links: Mutex::new(Vec::new()),
            next_link: AtomicU64::new(0),
            accepted: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("fault-proxy-accept".into())
                .spawn(move || accept_loop(listener, port, shared))
                .expect("spawn the proxy's accept thread")
        };
        FaultProxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many connections the proxy has accepted (and forwarded) so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// How many connections are open through the proxy now.
    pub fn open_links(&self) -> usize {
        lock(&self.shared.links).len()
    }

    /// Sets the lasting fault (`Fault::None` ends it).
    pub fn set(&self, fault: Fault) {
        *lock(&self.shared.fault) = fault;
    }

    /// The next reply from the server reaches the client only in part (its first half), then
    /// the connection closes.
    pub fn cut_next_reply(&self) {
        self.shared.cut_next.store(true, Ordering::SeqCst);
    }

    /// The type byte of the next reply from the server is replaced by `?`, which no RESP type
    /// starts with. (A byte flipped inside a string's payload would pass unseen: RESP has no
    /// checksum; TLS is what protects payloads.)
    pub fn corrupt_next_reply(&self) {
        self.shared.corrupt_next.store(true, Ordering::SeqCst);
    }

    /// Resets every open connection (the client sees ECONNRESET, with no FIN before it).
    pub fn reset_all(&self) {
        let links = std::mem::take(&mut *lock(&self.shared.links));
        for link in links {
            link.resetting.store(true, Ordering::SeqCst);
            set_linger_zero(&link.client);
            let _ = link.server.shutdown(Shutdown::Both);
            let _ = link.client.shutdown(Shutdown::Read);
        }
    }

    /// Closes the listening port for `duration` (connects are refused), then listens again on
    /// the same port. Open connections are left alone.
    pub fn refuse_for(&self, duration: Duration) {
        *lock(&self.shared.refuse_until) = Some(Instant::now() + duration);
        // The accept loop looks every few milliseconds; wait until the port is really closed.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if TcpStream::connect((HOST, self.port)).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for link in std::mem::take(&mut *lock(&self.shared.links)) {
            let _ = link.server.shutdown(Shutdown::Both);
            let _ = link.client.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// SO_LINGER with a zero timeout: closing the socket sends RST instead of FIN.
fn set_linger_zero(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a properly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn accept_loop(listener: TcpListener, port: u16, shared: Arc<Shared>) {
    let mut listener = Some(listener);
    if let Some(l) = &listener {
        l.set_nonblocking(true).expect("non-blocking listener");
    }
    while !shared.stop.load(Ordering::SeqCst) {
        let refusing = lock(&shared.refuse_until).is_some_and(|until| Instant::now() < until);
        if refusing {
            listener = None;
        } else if listener.is_none() {
            // The refusal is over: listen on the same port again.
            match TcpListener::bind((HOST, port)) {
                Ok(l) => {
                    l.set_nonblocking(true).expect("non-blocking listener");
                    listener = Some(l);
                    *lock(&shared.refuse_until) = None;
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            }
        }
        let Some(l) = &listener else {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        match l.accept() {
            Ok((client, _)) => {
                let _ = client.set_nonblocking(false);
                let _ = client.set_nodelay(true);
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                open_link(client, &shared);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Connects to the server and starts the two pumps of a new connection.
fn open_link(client: TcpStream, shared: &Arc<Shared>) {
    let Ok(server) = TcpStream::connect((HOST, shared.upstream)) else {
        // The server is down: the client sees its connection reset, as it would see a refusal.
        set_linger_zero(&client);
        return;
    };
    let _ = server.set_nodelay(true);
    let id = shared.next_link.fetch_add(1, Ordering::SeqCst);
    let resetting = Arc::new(AtomicBool::new(false));
    let clones = (
        client.try_clone(),
        server.try_clone(),
        client.try_clone(),
        server.try_clone(),
    );
    let (Ok(c_keep), Ok(s_keep), Ok(c_up), Ok(s_up)) = clones else {
        return;
    };
    lock(&shared.links).push(Link {
        id,
        client: c_keep,
        server: s_keep,
        resetting: resetting.clone(),
    });
    let up = {
        let shared = shared.clone();
        let resetting = resetting.clone();
        std::thread::Builder::new()
            .name("fault-proxy-up".into())
            .spawn(move || {
                pump_up(c_up, s_up, &shared);
                close_link(&shared, id, &resetting);
            })
    };
    let down = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("fault-proxy-down".into())
            .spawn(move || {
                pump_down(server, client, &shared);
                close_link(&shared, id, &resetting);
            })
    };
    if up.is_err() || down.is_err() {
        close_link(shared, id, &Arc::new(AtomicBool::new(false)));
    }
}

/// Ends a connection from inside: both sockets shut down (unless it is being reset, which
/// must not send a FIN), and the link forgotten.
fn close_link(shared: &Shared, id: u64, resetting: &AtomicBool) {
    let mut links = lock(&shared.links);
    if let Some(i) = links.iter().position(|l| l.id == id) {
        let link = links.swap_remove(i);
        let _ = link.server.shutdown(Shutdown::Both);
        if !resetting.load(Ordering::SeqCst) {
            let _ = link.client.shutdown(Shutdown::Both);
        }
    }
}

fn fault(shared: &Shared) -> Fault {
    *lock(&shared.fault)
}

/// Holds while the black hole lasts (the proxy is stopping: gives up).
fn wait_out_black_hole(shared: &Shared) {
    while fault(shared) == Fault::BlackHole && !shared.stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Client to server: commands pass, or wait out a black hole.
fn pump_up(mut client: TcpStream, mut server: TcpStream, shared: &Shared) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        wait_out_black_hole(shared);
        if server.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Server to client, where replies are delayed, dripped, cut and corrupted.
fn pump_down(mut server: TcpStream, mut client: TcpStream, shared: &Shared) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut decoder = Decoder::new(Limits::unlimited());
    loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let chunk = &mut buf[..n];
        let mut cut_at = None;
        // Walk the chunk reply by reply; act at the first reply start a one-shot wants.
        let mut pos = 0;
        while pos < chunk.len() {
            let starts = !decoder.is_mid_reply();
            if starts && cut_at.is_none() {
                if shared.corrupt_next.swap(false, Ordering::SeqCst) {
                    // The decoder reads the real bytes; the client gets the corrupted one.
                    let (used, reply) = match decoder.decode(&chunk[pos..]) {
                        Ok(done) => done,
                        Err(_) => return,
                    };
                    chunk[pos] = b'?';
                    pos += used;
                    if reply.is_none() {
                        break;
                    }
                    continue;
                }
                if shared.cut_next.swap(false, Ordering::SeqCst) {
                    let len = match decoder.decode(&chunk[pos..]) {
                        Ok((used, Some(_))) => used,
                        Ok((used, None)) => used + 1, // goes on past this chunk
                        Err(_) => return,
                    };
                    cut_at = Some(pos + (len / 2).clamp(1, len - 1));
                    break;
                }
            }
            match decoder.decode(&chunk[pos..]) {
                Ok((used, reply)) => {
                    pos += used;
                    if reply.is_none() {
                        break;
                    }
                }
                Err(_) => return,
            }
        }
        let out: &[u8] = match cut_at {
            Some(at) => &chunk[..at.min(chunk.len())],
            None => chunk,
        };
        wait_out_black_hole(shared);
        let sent = match fault(shared) {
            Fault::Delay(d) => {
                std::thread::sleep(d);
                client.write_all(out)
            }
            Fault::Drip => out.iter().try_for_each(|b| {
                std::thread::sleep(Duration::from_micros(300));
                client.write_all(std::slice::from_ref(b))
            }),
            Fault::None | Fault::BlackHole => client.write_all(out),
        };
        if sent.is_err() || cut_at.is_some() {
            return;
        }
    }
}
