//! The lock's Lua scripts, and running a script by its SHA-1 with the NOSCRIPT fallback: EVALSHA
//! first (the server keeps scripts it has seen), EVAL once when the server answers NOSCRIPT
//! (after a restart, a failover or SCRIPT FLUSH); EVAL also puts the script back in the
//! server's cache for the next EVALSHA.
//!
//! When the scripts feature (issue 12) lands, `Script` should give way to it.

use std::sync::OnceLock;

use super::sha1;
use crate::client::Client;
use crate::error::{ErrorKind, Result};
use crate::resp::Reply;

/// A Lua script and its SHA-1, computed on first use.
pub(crate) struct Script {
    source: &'static str,
    sha: OnceLock<String>,
}

impl Script {
    const fn new(source: &'static str) -> Script {
        Script {
            source,
            sha: OnceLock::new(),
        }
    }

    /// The hex SHA-1 the server names this script by.
    pub(crate) fn sha(&self) -> &str {
        self.sha
            .get_or_init(|| sha1::hex_digest(self.source.as_bytes()))
    }

    /// Runs the script on `client` (blocking), by SHA, then by source once on NOSCRIPT.
    pub(crate) fn run(&self, client: &Client, keys: &[&[u8]], args: &[&[u8]]) -> Result<Reply> {
        let numkeys = keys.len().to_string();
        let mut argv: Vec<&[u8]> = Vec::with_capacity(3 + keys.len() + args.len());
        argv.extend([&b"EVALSHA"[..], self.sha().as_bytes(), numkeys.as_bytes()]);
        argv.extend_from_slice(keys);
        argv.extend_from_slice(args);
        match client.command(&argv) {
            Err(e) if e.kind() == ErrorKind::NoScript => {
                argv[0] = b"EVAL";
                argv[1] = self.source.as_bytes();
                client.command(&argv)
            }
            other => other,
        }
    }
}

/// KEYS: the lock, its fencing counter. ARGV: the token, the TTL in ms ("0": none).
/// Takes the lock if it is free and counts the acquisition: returns the new fencing token, or
/// false (nil) when the lock is held. One script, so no acquisition goes uncounted and no
/// count is spent on a failed attempt. The count comes before the SET because a script is not
/// rolled back: a counter that cannot be incremented (not an integer) must fail the acquire
/// before the lock is taken, not after.
pub(crate) static ACQUIRE: Script = Script::new(
    "if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local fence = redis.call('INCR', KEYS[2])
if fence < 1 then
  return redis.error_reply('ERR the fencing counter ' .. KEYS[2] .. ' is below 1')
end
if ARGV[2] == '0' then
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
else
  redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
end
return fence
",
);

/// KEYS: the lock. ARGV: the token. Deletes the lock if it holds our token: 1, else 0.
pub(crate) static RELEASE: Script = Script::new(
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
",
);

/// KEYS: the lock. ARGV: the token, ms, "1" to replace the TTL or "0" to add to it.
/// 0 when the token does not match or the key has no TTL (gone, or persisted), else 1.
pub(crate) static EXTEND: Script = Script::new(
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  return 0
end
local ttl = tonumber(ARGV[2])
if ARGV[3] == '0' then
  ttl = ttl + left
end
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
",
);

/// KEYS: the lock. ARGV: the token, the TTL in ms. Resets the TTL if the token matches: 1,
/// else 0.
pub(crate) static REACQUIRE: Script = Script::new(
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
",
);
