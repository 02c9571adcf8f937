//! Which cluster slot a key hashes to, and keys made to land in a chosen slot. The harness's
//! own small copy of the rule (CRC16-XMODEM of the key, or of its `{tag}`, modulo 16384): tests
//! check the library's routing against it and against `CLUSTER KEYSLOT`, so it shares no code
//! with the library.

/// Number of hash slots in a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// CRC16-XMODEM (polynomial 0x1021, initial value 0), a byte at a time through a table.
const CRC16_TABLE: [u16; 256] = {
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
};

/// CRC16-XMODEM of `bytes` (the check value of `123456789` is 0x31C3).
pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)]
    })
}

/// The part of `key` that is hashed: what lies between the first `{` and the first `}` after
/// it when that is not empty, else the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        let rest = &key[open + 1..];
        if let Some(len) = rest.iter().position(|&b| b == b'}') {
            if len > 0 {
                return &rest[..len];
            }
        }
    }
    key
}

/// The slot of `key`, as `CLUSTER KEYSLOT` answers.
pub fn key_slot(key: impl AsRef<[u8]>) -> u16 {
    crc16(hash_tag(key.as_ref())) % SLOTS
}

/// A plain key (no braces) in `slot`: the first `key:N` that hashes there. The same slot always
/// gives the same key.
pub fn key_in_slot(slot: u16) -> String {
    assert!(slot < SLOTS, "slot {slot} out of range");
    // Each try lands in `slot` with probability 1/16384; a million misses in a row would take
    // odds of about e^-61.
    (0..1_000_000u32)
        .map(|n| format!("key:{n}"))
        .find(|key| key_slot(key) == slot)
        .unwrap_or_else(|| panic!("no key:N below a million hashes to slot {slot}"))
}

/// `n` distinct keys in `slot`, all sharing the hash tag `{key_in_slot(slot)}`:
/// `{key:N}:0`, `{key:N}:1`, ...
pub fn keys_in_slot(slot: u16, n: usize) -> Vec<String> {
    let tag = key_in_slot(slot);
    (0..n).map(|i| format!("{{{tag}}}:{i}")).collect()
}

/// `per_slot` keys in each of `slots` (see `keys_in_slot`), slot by slot.
pub fn keys_in_slots(slots: impl IntoIterator<Item = u16>, per_slot: usize) -> Vec<String> {
    slots
        .into_iter()
        .flat_map(|slot| keys_in_slot(slot, per_slot))
        .collect()
}
