//! Lua scripts: a `Script` holds its source and the SHA-1 the server names it by (computed
//! here, without a round trip), runs by EVALSHA (EVALSHA_RO for a read-only run) and, when
//! the server answers NOSCRIPT (after a restart, a failover or SCRIPT FLUSH), loads it with
//! SCRIPT LOAD and runs it again, once. In a pipeline (`Pipeline::add_script`) the scripts
//! the server lacks are loaded before the pipeline runs. On a cluster client, EVALSHA goes
//! to the node of its keys' slot and SCRIPT LOAD to every node.
//!
//! Functions need nothing of their own: FCALL and FCALL_RO go through the client like any
//! command (routed by their keys on a cluster client).

pub(crate) mod sha1;

use std::sync::Arc;

use crate::client::pipeline::Pipeline;
use crate::client::{Client, Engine};
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::Completion;
use crate::resp::Reply;

/// A Lua script and its SHA-1. Cheap to clone (the source is shared).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    source: Arc<[u8]>,
    sha: Arc<str>,
}

impl Script {
    /// A script of `source` (any bytes the server accepts as Lua).
    pub fn new(source: impl AsRef<[u8]>) -> Script {
        let source: Arc<[u8]> = Arc::from(source.as_ref());
        let sha = Arc::from(sha1::hex_digest(&source));
        Script { source, sha }
    }

    /// The 40 lowercase hex digits EVALSHA names it by.
    pub fn sha(&self) -> &str {
        &self.sha
    }

    /// The source.
    pub fn source(&self) -> &[u8] {
        &self.source
    }

    /// `EVALSHA sha numkeys keys... args...` (or EVALSHA_RO).
    fn argv<'a, K: AsRef<[u8]>, A: AsRef<[u8]>>(
        &'a self,
        read_only: bool,
        numkeys: &'a str,
        keys: &'a [K],
        args: &'a [A],
    ) -> Vec<&'a [u8]> {
        let command: &[u8] = if read_only { b"EVALSHA_RO" } else { b"EVALSHA" };
        let mut argv = Vec::with_capacity(3 + keys.len() + args.len());
        argv.extend([command, self.sha.as_bytes(), numkeys.as_bytes()]);
        argv.extend(keys.iter().map(AsRef::as_ref));
        argv.extend(args.iter().map(AsRef::as_ref));
        argv
    }

    /// Runs the script (EVALSHA), loading it first if the server answers NOSCRIPT; waits for
    /// the reply. A Lua error comes back as the server's error (RESPONSE).
    pub fn run<K: AsRef<[u8]>, A: AsRef<[u8]>>(
        &self,
        client: &Client,
        keys: &[K],
        args: &[A],
    ) -> Result<Reply> {
        self.call(client, false, keys, args)
    }

    /// `run` with EVALSHA_RO: the script may only read (the server refuses writes), and a
    /// cluster client may send it to a replica.
    pub fn run_read_only<K: AsRef<[u8]>, A: AsRef<[u8]>>(
        &self,
        client: &Client,
        keys: &[K],
        args: &[A],
    ) -> Result<Reply> {
        self.call(client, true, keys, args)
    }

    fn call<K: AsRef<[u8]>, A: AsRef<[u8]>>(
        &self,
        client: &Client,
        read_only: bool,
        keys: &[K],
        args: &[A],
    ) -> Result<Reply> {
        let numkeys = keys.len().to_string();
        let argv = self.argv(read_only, &numkeys, keys, args);
        match client.command(&argv) {
            Err(e) if e.kind() == ErrorKind::NoScript => {
                self.load(client)?;
                client.command(&argv)
            }
            other => other,
        }
    }

    /// SCRIPT LOAD (on every node of a cluster), checking that the server names the script
    /// as this one does.
    pub fn load(&self, client: &Client) -> Result<()> {
        let reply = client.command(&[&b"SCRIPT"[..], b"LOAD", &self.source])?;
        self.check_loaded(&reply)
    }

    fn check_loaded(&self, reply: &Reply) -> Result<()> {
        match reply.value().as_bytes() {
            Some(sha) if sha.eq_ignore_ascii_case(self.sha.as_bytes()) => Ok(()),
            _ => Err(Error::new(
                ErrorKind::InvalidResponse,
                format!(
                    "SCRIPT LOAD answered {reply:?}, not the script's SHA-1 {}",
                    self.sha
                ),
            )),
        }
    }

    /// Runs the script without waiting: `done` runs once, on a reactor thread, with the
    /// reply (after loading the script and running it again when the server answered
    /// NOSCRIPT). On `Err`, `done` will not run.
    pub fn submit<K: AsRef<[u8]>, A: AsRef<[u8]>>(
        &self,
        client: &Client,
        read_only: bool,
        keys: &[K],
        args: &[A],
        done: impl FnOnce(Result<Reply>) + Send + 'static,
    ) -> Result<()> {
        let numkeys = keys.len().to_string();
        let argv: Vec<Vec<u8>> = self
            .argv(read_only, &numkeys, keys, args)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        let engine = client.engine().clone();
        let script = self.clone();
        let again = argv.clone();
        client.submit(&argv, move |result| match result {
            Err(e) if e.kind() == ErrorKind::NoScript => script.load_then_run(&engine, again, done),
            other => done(other),
        })
    }

    /// SCRIPT LOAD, then `argv` again, each sent when the step before answered.
    fn load_then_run(
        &self,
        engine: &Arc<Engine>,
        argv: Vec<Vec<u8>>,
        done: impl FnOnce(Result<Reply>) + Send + 'static,
    ) {
        let (again, script) = (engine.clone(), self.clone());
        let loaded = move |loaded: Result<Reply>| match loaded
            .and_then(|reply| script.check_loaded(&reply))
        {
            Ok(()) => {
                let completion = Completion::Boxed(Box::new(done));
                if let Err((err, completion)) = again.submit(&argv, completion, false) {
                    completion.run(Err(err));
                }
            }
            Err(err) => done(Err(err)),
        };
        let load: [&[u8]; 3] = [b"SCRIPT", b"LOAD", &self.source];
        if let Err((err, completion)) =
            engine.submit(&load, Completion::Boxed(Box::new(loaded)), false)
        {
            completion.run(Err(err));
        }
    }
}

impl Pipeline {
    /// Appends a run of `script` (EVALSHA, or EVALSHA_RO when `read_only`); when the pipeline
    /// runs, the scripts the server lacks are loaded first.
    pub fn add_script<K: AsRef<[u8]>, A: AsRef<[u8]>>(
        &mut self,
        script: &Script,
        read_only: bool,
        keys: &[K],
        args: &[A],
    ) -> Result<&mut Pipeline> {
        let numkeys = keys.len().to_string();
        self.add(&script.argv(read_only, &numkeys, keys, args))?;
        if !self.scripts.iter().any(|(sha, _)| **sha == *script.sha) {
            self.scripts
                .push((script.sha.clone(), script.source.clone()));
        }
        Ok(self)
    }
}
