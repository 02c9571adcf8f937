//! Hash slots of Redis Cluster: CRC16 (XMODEM: polynomial 0x1021, initial value 0, no
//! reflection) of the key modulo 16384, where a hash tag narrows what is hashed so that
//! related keys can share a slot.
//!
//! Runs on every command a cluster client sends, so it is a table lookup per byte, with the
//! table built at compile time.

/// The number of hash slots of a Redis Cluster.
pub const SLOT_COUNT: usize = 16384;

/// CRC16-XMODEM, one entry per byte value.
const CRC16_TABLE: [u16; 256] = crc16_table();

const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = (byte as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
}

/// CRC16-XMODEM of `data` (the checksum Redis Cluster hashes keys with).
#[inline]
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)]
    })
}

/// The part of `key` that is hashed: with a hash tag (a `{` followed later by a `}` with at
/// least one byte between them), only the bytes between the first `{` and the first `}`
/// after it; otherwise, and for an empty tag `{}`, the whole key.
#[inline]
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        let rest = &key[open + 1..];
        if let Some(close) = rest.iter().position(|&b| b == b'}') {
            if close > 0 {
                return &rest[..close];
            }
        }
    }
    key
}

/// The hash slot of `key`, `0..SLOT_COUNT`.
#[inline]
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOT_COUNT as u16 - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_check_value() {
        // The XMODEM check value from the CRC catalogue, also quoted by the cluster spec.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(b""), 0);
    }

    #[test]
    fn slots_of_known_keys() {
        // (key, slot): values from `CLUSTER KEYSLOT` on redis-server 7.0 and the cluster spec.
        let cases: &[(&[u8], u16)] = &[
            (b"foo", 12182),
            (b"bar", 5061),
            (b"123456789", 12739),
            (b"", 0),
            (b"{user1000}.following", 3443),
            (b"{user1000}.followers", 3443),
            (b"user1000", 3443),
        ];
        for (key, slot) in cases {
            assert_eq!(key_slot(key), *slot, "{}", key.escape_ascii());
        }
    }

    #[test]
    fn hash_tags() {
        // (key, what is hashed), the rules of the cluster spec.
        let cases: &[(&[u8], &[u8])] = &[
            (b"{user1000}.following", b"user1000"),
            (b"foo{}{bar}", b"foo{}{bar}"),
            (b"foo{{bar}}zap", b"{bar"),
            (b"foo{bar}{zap}", b"bar"),
            (b"{}", b"{}"),
            (b"{", b"{"),
            (b"}{", b"}{"),
            (b"}{a}", b"a"),
            (b"a{b", b"a{b"),
            (b"{a}", b"a"),
            (b"x{\xff\x00}y", b"\xff\x00"),
        ];
        for (key, hashed) in cases {
            assert_eq!(hash_tag(key), *hashed, "{}", key.escape_ascii());
            assert_eq!(key_slot(key), key_slot(hashed), "{}", key.escape_ascii());
        }
    }

    #[test]
    fn table_matches_bitwise_crc() {
        fn bitwise(data: &[u8]) -> u16 {
            let mut crc = 0u16;
            for &b in data {
                crc ^= u16::from(b) << 8;
                for _ in 0..8 {
                    crc = if crc & 0x8000 != 0 {
                        (crc << 1) ^ 0x1021
                    } else {
                        crc << 1
                    };
                }
            }
            crc
        }
        let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..data.len() {
            assert_eq!(crc16(&data[..len]), bitwise(&data[..len]));
        }
    }
}
