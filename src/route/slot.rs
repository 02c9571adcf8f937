//! Hash slots of Redis Cluster: CRC16 (XMODEM: polynomial 0x1021, initial value 0, no
//! reflection) of the key modulo 16384, where a hash tag narrows what is hashed so that
//! related keys can share a slot.
//!
//! Runs on every command a cluster client sends, so it folds in four bytes per step from
//! tables built at compile time.

/// The number of hash slots of a Redis Cluster.
pub const SLOT_COUNT: usize = 16384;

/// CRC16-XMODEM tables for four bytes at a time ("slicing"): `TABLES[k][x]` is the CRC
/// contribution of byte `x` followed by `k` zero bytes. CRC is linear, so four bytes fold
/// in with four independent lookups instead of a chain of four dependent ones.
const TABLES: [[u16; 256]; 4] = crc16_tables();

const fn crc16_tables() -> [[u16; 256]; 4] {
    let mut tables = [[0u16; 256]; 4];
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
        tables[0][byte] = crc;
        byte += 1;
    }
    let mut k = 1;
    while k < 4 {
        let mut byte = 0;
        while byte < 256 {
            let prev = tables[k - 1][byte];
            // One more zero byte through the register.
            tables[k][byte] = (prev << 8) ^ tables[0][(prev >> 8) as usize];
            byte += 1;
        }
        k += 1;
    }
    tables
}

/// CRC16-XMODEM of `data` (the checksum Redis Cluster hashes keys with).
#[inline]
pub fn crc16(data: &[u8]) -> u16 {
    let [t0, t1, t2, t3] = &TABLES;
    let mut chunks = data.chunks_exact(4);
    let mut crc = 0u16;
    for c in &mut chunks {
        crc = t3[usize::from((crc >> 8) as u8 ^ c[0])]
            ^ t2[usize::from(crc as u8 ^ c[1])]
            ^ t1[usize::from(c[2])]
            ^ t0[usize::from(c[3])];
    }
    chunks.remainder().iter().fold(crc, |crc, &b| {
        (crc << 8) ^ t0[usize::from((crc >> 8) as u8 ^ b)]
    })
}

/// The part of `key` that is hashed: with a hash tag (a `{` followed later by a `}` with at
/// least one byte between them), only the bytes between the first `{` and the first `}`
/// after it; otherwise, and for an empty tag `{}`, the whole key.
#[inline]
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = find_byte(key, b'{') {
        let rest = &key[open + 1..];
        if let Some(close) = find_byte(rest, b'}') {
            if close > 0 {
                return &rest[..close];
            }
        }
    }
    key
}

/// The index of the first `needle` in `haystack`, eight bytes at a time: a byte of
/// `word ^ pattern` is zero where the needle is, and `(x - 0x01..) & !x & 0x80..` flags the
/// lowest zero byte exactly (a borrow can only flag bytes above it).
#[inline]
fn find_byte(haystack: &[u8], needle: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * u64::from(needle);
    let mut chunks = haystack.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes")) ^ pattern;
        let found = x.wrapping_sub(ONES) & !x & HIGH;
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    let tail = chunks.remainder().iter().position(|&b| b == needle)?;
    Some(base + tail)
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
    fn find_byte_matches_position() {
        // Needles at every position of haystacks of every length up to 40, with bytes that
        // differ from the needle by one bit or a borrow (0x7a, 0x7c, 0xfb, 0x00) around them.
        let fillers = [b'a', 0x7a, 0x7c, 0xfb, 0x00, 0xff];
        for len in 0..40 {
            for &fill in &fillers {
                let mut hay = vec![fill; len];
                assert_eq!(find_byte(&hay, b'{'), None);
                for at in (0..len).rev() {
                    hay[at] = b'{';
                    assert_eq!(find_byte(&hay, b'{'), hay.iter().position(|&b| b == b'{'));
                }
            }
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
