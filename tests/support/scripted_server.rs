//! A scripted bad server for tests: a TCP listener on a free loopback port that speaks just
//! enough RESP to pass a client's handshake (HELLO, CLIENT, SELECT, AUTH, PING) and answers
//! every other command as the test's script says, including with bytes no real server sends:
//! an aggregate with fewer elements than it declares, a line that never ends, or nothing.
//!
//! Each connection is served by a thread of its own, in order; dropping the server closes
//! them all.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use redcore::resp::{Decoder, Limits, Value};

use super::HOST;

/// What the server does with one command.
pub enum Answer {
    /// Writes these bytes.
    Bytes(Vec<u8>),
    /// Writes nothing (the command is never answered; later ones still are).
    Nothing,
    /// Closes the connection.
    Close,
    /// Writes these bytes and closes the connection at once, so that the reply and the end
    /// of the stream arrive together.
    ReplyThenClose(Vec<u8>),
}

impl Answer {
    /// A bulk string reply.
    pub fn bulk(value: impl AsRef<[u8]>) -> Answer {
        let value = value.as_ref();
        let mut out = format!("${}\r\n", value.len()).into_bytes();
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
        Answer::Bytes(out)
    }

    /// Raw bytes.
    pub fn raw(bytes: impl AsRef<[u8]>) -> Answer {
        Answer::Bytes(bytes.as_ref().to_vec())
    }
}

/// The script: the command's arguments (as text, lossily) to an answer.
pub type Script = dyn Fn(&[String]) -> Answer + Send + Sync;

struct Shared {
    script: Box<Script>,
    accepted: AtomicUsize,
    streams: Mutex<Vec<TcpStream>>,
    stop: AtomicBool,
}

/// A running scripted server.
pub struct ScriptedServer {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    /// Starts a server answering with `script`.
    pub fn start(script: impl Fn(&[String]) -> Answer + Send + Sync + 'static) -> ScriptedServer {
        let listener = TcpListener::bind((HOST, 0)).expect("bind the scripted server");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("local_addr").port();
        let shared = Arc::new(Shared {
            script: Box::new(script),
            accepted: AtomicUsize::new(0),
            streams: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("scripted-server".into())
                .spawn(move || {
                    while !shared.stop.load(Ordering::SeqCst) {
                        match listener.accept() {
                            Ok((stream, _)) => {
                                shared.accepted.fetch_add(1, Ordering::SeqCst);
                                let _ = stream.set_nonblocking(false);
                                if let Ok(keep) = stream.try_clone() {
                                    lock(&shared.streams).push(keep);
                                }
                                let shared = shared.clone();
                                let _ = std::thread::Builder::new()
                                    .name("scripted-conn".into())
                                    .spawn(move || serve(stream, &shared));
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(2)),
                        }
                    }
                })
                .expect("spawn the scripted server")
        };
        ScriptedServer {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for stream in lock(&self.shared.streams).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The handshake's commands, answered as a Redis 7 server would; `None` for the script's.
fn handshake_answer(args: &[String]) -> Option<Vec<u8>> {
    let name = args.first()?.to_ascii_uppercase();
    match name.as_str() {
        "HELLO" => {
            let proto = if args.get(1).map(String::as_str) == Some("3") {
                3
            } else {
                2
            };
            let fields = "$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n\
                          $5\r\nproto\r\n";
            Some(if proto == 3 {
                format!("%3\r\n{fields}:3\r\n").into_bytes()
            } else {
                format!("*6\r\n{fields}:2\r\n").into_bytes()
            })
        }
        "CLIENT" | "SELECT" | "AUTH" => Some(b"+OK\r\n".to_vec()),
        "PING" => Some(b"+PONG\r\n".to_vec()),
        _ => None,
    }
}

/// Sets TCP_CORK: nothing is sent until the socket is uncorked or shut down.
fn cork(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a c_int option of the size given.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let mut decoder = Decoder::new(Limits::unlimited());
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut input = &buf[..n];
        while !input.is_empty() {
            let Ok((used, request)) = decoder.decode(input) else {
                return;
            };
            input = &input[used..];
            let Some(request) = request else { break };
            let Value::Array(items) = request.to_value() else {
                return;
            };
            let args: Vec<String> = items
                .iter()
                .map(|v| match v {
                    Value::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect();
            let answer = match handshake_answer(&args) {
                Some(bytes) => Answer::Bytes(bytes),
                None => (shared.script)(&args),
            };
            match answer {
                Answer::Bytes(bytes) => {
                    if stream.write_all(&bytes).is_err() {
                        return;
                    }
                }
                Answer::Nothing => {}
                Answer::Close => {
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
                Answer::ReplyThenClose(bytes) => {
                    // Corked, the reply waits in the socket until the FIN is tacked onto it:
                    // one segment, one readiness event carrying both.
                    cork(&stream);
                    let _ = stream.write_all(&bytes);
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
    }
}
