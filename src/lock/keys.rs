//! The name of a lock's fencing counter, chosen so that it hashes to the lock key's cluster
//! slot: the acquire script touches both keys, and a script's keys must share a slot.
//!
//! Redis Cluster hashes a key's *hash tag* when it has one: the bytes between the first `{`
//! and the first `}` after it, when there is at least one byte between them; otherwise the
//! whole key. So:
//!
//! - a name with a hash tag (`{orders}:lock`) gets `<name>:fence`: the tag is still the first
//!   one, so both keys hash the same bytes;
//! - a name without one and without `}` (`orders-lock`, `a{b`) gets `{<name>}:fence`: its
//!   tag is the whole name, which is what the name itself hashes;
//! - a name with a `}` but no tag (`a}b`, `x{}y`) cannot be wrapped that way (its `}` would
//!   close the tag early), so it is refused: give such a name a hash tag.

use crate::error::{Error, Result};

/// The fencing counter's key for the lock key `name`.
pub(crate) fn fence_key(name: &[u8]) -> Result<Vec<u8>> {
    if name.is_empty() {
        return Err(Error::invalid_argument("a lock name cannot be empty"));
    }
    let mut key = Vec::with_capacity(name.len() + 8);
    if hash_tag(name).is_some() {
        key.extend_from_slice(name);
    } else if !name.contains(&b'}') {
        key.push(b'{');
        key.extend_from_slice(name);
        key.push(b'}');
    } else {
        return Err(Error::invalid_argument(format!(
            "the lock name {:?} has a '}}' but no hash tag, so no fencing counter key can share \
             its cluster slot; give it a hash tag such as {{name}}",
            String::from_utf8_lossy(name)
        )));
    }
    key.extend_from_slice(b":fence");
    Ok(key)
}

/// The bytes Redis Cluster hashes for `key` when it has a hash tag.
pub(crate) fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let len = key[open + 1..].iter().position(|&b| b == b'}')?;
    (len > 0).then(|| &key[open + 1..open + 1 + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a cluster hashes for a key: its tag, or all of it.
    fn hashed(key: &[u8]) -> &[u8] {
        hash_tag(key).unwrap_or(key)
    }

    #[test]
    fn counter_names_hash_like_their_lock() {
        let cases: &[(&str, &str)] = &[
            ("orders", "{orders}:fence"),
            ("{orders}:lock", "{orders}:lock:fence"),
            ("lock:{user1000}", "lock:{user1000}:fence"),
            ("a{b", "{a{b}:fence"),
            ("{", "{{}:fence"),
            ("a{b}{c}", "a{b}{c}:fence"),
        ];
        for (name, counter) in cases {
            let key = fence_key(name.as_bytes()).unwrap();
            assert_eq!(String::from_utf8_lossy(&key), *counter, "{name}");
            assert_eq!(hashed(&key), hashed(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn names_that_cannot_share_a_slot_are_refused() {
        for name in ["a}b", "x{}y", "}", "{}"] {
            let err = fence_key(name.as_bytes()).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument, "{name}");
        }
        assert!(fence_key(b"").is_err());
    }

    #[test]
    fn hash_tags_follow_the_cluster_rule() {
        assert_eq!(hash_tag(b"{user1000}.following"), Some(&b"user1000"[..]));
        assert_eq!(hash_tag(b"foo{}{bar}"), None);
        assert_eq!(hash_tag(b"foo{{bar}}zap"), Some(&b"{bar"[..]));
        assert_eq!(hash_tag(b"foo{bar}{zap}"), Some(&b"bar"[..]));
        assert_eq!(hash_tag(b"plain"), None);
    }
}
