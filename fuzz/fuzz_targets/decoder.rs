//! The RESP decoder (RESP2 and RESP3 share it) under every kind of limit, fed in random
//! splits: the same bytes must give the same replies and the same error however they are
//! cut, nothing may panic, and every reply must encode to bytes that decode to itself.
//!
//! Input: 4 control bytes (limits, split seed), then the wire bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use redcore::resp::{Decoder, Limits};

/// What decoding a stream gave: each reply re-encoded, then whether it broke (the message
/// may differ with the split when a stream breaks two rules at once).
#[derive(Debug, PartialEq)]
struct Outcome {
    replies: Vec<Vec<u8>>,
    error: bool,
}

fn limits(control: &[u8; 4]) -> Limits {
    match control[0] % 4 {
        0 => Limits::default(),
        1 => Limits::unlimited(),
        // Small limits, so that every one of them is reached by short inputs.
        _ => Limits {
            max_bulk_len: control[1] as usize,
            max_aggregate_len: (control[2] % 16) as usize,
            max_depth: (control[3] % 8) as usize + 1,
            max_line_len: (control[1] / 2) as usize,
        },
    }
}

/// Decodes `wire` cut at `cuts` (sorted positions).
fn decode(limits: Limits, wire: &[u8], cuts: &[usize]) -> Outcome {
    let mut decoder = Decoder::new(limits);
    let mut out = Outcome {
        replies: Vec::new(),
        error: false,
    };
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&wire.len())) {
        let mut input = &wire[start..end];
        start = end;
        while !input.is_empty() {
            match decoder.decode(input) {
                Ok((used, reply)) => {
                    assert!(used <= input.len());
                    input = &input[used..];
                    match reply {
                        Some(reply) => {
                            let mut bytes = Vec::new();
                            reply.value().encode(&mut bytes);
                            out.replies.push(bytes);
                        }
                        None => {
                            assert!(input.is_empty(), "no reply, yet bytes left over");
                            break;
                        }
                    }
                }
                Err(e) => {
                    // Sticky: the same error again.
                    let again = decoder.decode(b"+OK\r\n").unwrap_err();
                    assert_eq!(again.message(), e.message());
                    out.error = true;
                    return out;
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((control, wire)) = data.split_first_chunk::<4>() else {
        return;
    };
    let limits = limits(control);
    let whole = decode(limits, wire, &[]);
    // Cuts from a small generator seeded by the control bytes.
    let mut seed = u32::from_le_bytes(*control) | 1;
    let mut cuts: Vec<usize> = (0..wire.len().min(64))
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as usize % (wire.len() + 1)
        })
        .collect();
    cuts.sort_unstable();
    assert_eq!(decode(limits, wire, &cuts), whole, "split at {cuts:?}");
    if wire.len() <= 512 {
        let bytewise: Vec<usize> = (1..wire.len()).collect();
        assert_eq!(decode(limits, wire, &bytewise), whole, "byte by byte");
    }
    // Every reply encodes to bytes that decode to the same reply.
    for bytes in &whole.replies {
        let again = decode(Limits::unlimited(), bytes, &[]);
        assert!(!again.error, "our own encoding was refused: {bytes:?}");
        assert_eq!(again.replies, vec![bytes.clone()]);
    }
});
