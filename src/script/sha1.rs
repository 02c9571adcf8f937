//! SHA-1 (FIPS 180-4), only to name Lua scripts the way the server does (EVALSHA takes the
//! lowercase hex digest of the script's source). Not for anything that needs collision
//! resistance.

/// The SHA-1 digest of `data` as 40 lowercase hex digits.
pub(crate) fn hex_digest(data: &[u8]) -> String {
    hex(&digest(data))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// The 20-byte SHA-1 digest of `data`.
pub(crate) fn digest(data: &[u8]) -> [u8; 20] {
    let mut state: [u32; 5] = [
        0x6745_2301,
        0xefcd_ab89,
        0x98ba_dcfe,
        0x1032_5476,
        0xc3d2_e1f0,
    ];
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        compress(&mut state, block);
    }
    // The padding: a 1 bit, zeros up to 56 mod 64 bytes, then the length in bits (big-endian).
    let rest = blocks.remainder();
    let mut tail = [0u8; 128];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let tail_len = if rest.len() < 56 { 64 } else { 128 };
    let bits = (data.len() as u64).wrapping_mul(8);
    tail[tail_len - 8..tail_len].copy_from_slice(&bits.to_be_bytes());
    for block in tail[..tail_len].chunks_exact(64) {
        compress(&mut state, block);
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn compress(state: &mut [u32; 5], block: &[u8]) {
    let mut w = [0u32; 80];
    for (i, word) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
    }
    for i in 16..80 {
        w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
    }
    let [mut a, mut b, mut c, mut d, mut e] = *state;
    for (i, &word) in w.iter().enumerate() {
        let (f, k) = match i / 20 {
            0 => ((b & c) | (!b & d), 0x5a82_7999),
            1 => (b ^ c ^ d, 0x6ed9_eba1),
            2 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
            _ => (b ^ c ^ d, 0xca62_c1d6),
        };
        let t = a
            .rotate_left(5)
            .wrapping_add(f)
            .wrapping_add(e)
            .wrapping_add(k)
            .wrapping_add(word);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = t;
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e]) {
        *s = s.wrapping_add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::hex_digest;

    /// FIPS 180-4 examples and lengths around the padding boundaries (55, 56, 64 bytes).
    #[test]
    fn known_digests() {
        let million_a = vec![b'a'; 1_000_000];
        let cases: &[(&str, &[u8], &str)] = &[
            ("empty", b"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            ("abc", b"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                "two blocks (56 bytes)",
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
            ),
            (
                "fox",
                b"The quick brown fox jumps over the lazy dog",
                "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
            ),
            (
                "55 bytes",
                &[b'a'; 55],
                "c1c8bbdc22796e28c0e15163d20899b65621d65a",
            ),
            (
                "64 bytes",
                &[b'a'; 64],
                "0098ba824b5c16427bd7a1122a5a442a25ec644d",
            ),
            (
                "a million a",
                &million_a,
                "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
            ),
        ];
        for (name, input, expected) in cases {
            assert_eq!(hex_digest(input), *expected, "{name}");
        }
    }
}
