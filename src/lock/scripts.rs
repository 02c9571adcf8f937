//! The lock's Lua scripts, run through the shared `Script` (EVALSHA, and on NOSCRIPT after a
//! restart, a failover or SCRIPT FLUSH, loaded and run again).

use std::sync::LazyLock;

use crate::script::Script;

/// KEYS: the lock, its fencing counter. ARGV: the token, the TTL in ms ("0": none).
/// Takes the lock if it is free and counts the acquisition: returns the new fencing token, or
/// false (nil) when the lock is held. One script, so no acquisition goes uncounted and no
/// count is spent on a failed attempt. The count comes before the SET because a script is not
/// rolled back: a counter that cannot be incremented (not an integer) must fail the acquire
/// before the lock is taken, not after.
pub(crate) static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
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
    )
});

/// KEYS: the lock. ARGV: the token. Deletes the lock if it holds our token: 1, else 0.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
",
    )
});

/// KEYS: the lock. ARGV: the token, ms, "1" to replace the TTL or "0" to add to it.
/// 0 when the token does not match or the key has no TTL (gone, or persisted), else 1.
pub(crate) static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
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
    )
});

/// KEYS: the lock. ARGV: the token, the TTL in ms. Resets the TTL if the token matches: 1,
/// else 0.
pub(crate) static REACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
",
    )
});
