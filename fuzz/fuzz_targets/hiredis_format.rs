//! hiredis's format-string command builder (`redisvFormatCommand`): any format string, with
//! arguments of the types its conversions ask for (`%s` a C string, `%b` a pointer and a
//! length, printf integer and double conversions a number), builds a well-formed RESP command
//! or is refused (-2 for a bad format), and never reads past what it was given.
//!
//! The arguments travel in a `va_list` built by hand (x86-64 System V: every register slot
//! marked used, so each `va_arg` reads the next 8-byte slot of `overflow_arg_area`); which
//! slots a format consumes is worked out here by the same grammar the C code follows.
//!
//! Input: the format string up to the first NUL, then the bytes the `%s` and `%b` arguments
//! and the numbers are cut from.

#![no_main]

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod format {
    use std::ffi::CString;
    use std::os::raw::{c_char, c_int, c_void};

    use redcore::resp::{Decoder, Limits, Value};

    #[repr(C)]
    struct VaListTag {
        gp_offset: u32,
        fp_offset: u32,
        overflow_arg_area: *mut c_void,
        reg_save_area: *mut c_void,
    }

    extern "C" {
        fn redisvFormatCommand(
            target: *mut *mut c_char,
            format: *const c_char,
            ap: *mut VaListTag,
        ) -> c_int;
        fn redisFreeCommand(cmd: *mut c_char);
    }

    /// What one conversion takes from the argument list.
    enum Slot {
        CString,
        Buffer,
        Number,
    }

    /// The slots `format` consumes, in order, as the C code reads them; `None` where the C
    /// code stops at a bad conversion (it reads nothing more).
    fn slots(format: &[u8]) -> Vec<Slot> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < format.len() {
            if format[i] != b'%' || i + 1 >= format.len() {
                i += 1;
                continue;
            }
            match format[i + 1] {
                b's' => out.push(Slot::CString),
                b'b' => out.push(Slot::Buffer),
                b'%' => {}
                _ => match conversion_end(format, i) {
                    Some(end) => {
                        out.push(Slot::Number);
                        i = end + 1;
                        continue;
                    }
                    None => return out,
                },
            }
            i += 2;
        }
        out
    }

    /// The index of the conversion character of the printf conversion at `at` (its '%').
    fn conversion_end(f: &[u8], at: usize) -> Option<usize> {
        let mut q = at + 1;
        while q < f.len() && b"#0-+ ".contains(&f[q]) {
            q += 1;
        }
        while q < f.len() && f[q].is_ascii_digit() {
            q += 1;
        }
        if q < f.len() && f[q] == b'.' {
            q += 1;
            while q < f.len() && f[q].is_ascii_digit() {
                q += 1;
            }
        }
        let c = *f.get(q)?;
        if b"eEfFgGaA".contains(&c) {
            return Some(q);
        }
        if c == b'h' {
            q += if f.get(q + 1) == Some(&b'h') { 2 } else { 1 };
        } else if c == b'l' {
            q += if f.get(q + 1) == Some(&b'l') { 2 } else { 1 };
        }
        let c = *f.get(q)?;
        b"diouxX".contains(&c).then_some(q)
    }

    pub fn run(data: &[u8]) {
        let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
        let (format, rest) = data.split_at(split);
        // A printf width or precision of millions makes an output of that size, as printf
        // would: true, but only a way to run out of memory here.
        if format
            .split(|b| !b.is_ascii_digit())
            .any(|run| run.len() > 4)
        {
            return;
        }
        let rest = rest.get(1..).unwrap_or(&[]);
        // Argument bytes: `%s` strings must not hold a NUL.
        let mut pieces = rest.split(|&b| b == b'|').cycle();
        let mut strings: Vec<CString> = Vec::new();
        let mut buffers: Vec<Vec<u8>> = Vec::new();
        let mut words: Vec<u64> = Vec::new();
        let mut seed = rest.len() as u64 + 1;
        for slot in slots(format) {
            match slot {
                Slot::CString => {
                    let piece: Vec<u8> = pieces
                        .next()
                        .unwrap_or(&[])
                        .iter()
                        .copied()
                        .filter(|&b| b != 0)
                        .collect();
                    strings.push(CString::new(piece).expect("no NUL"));
                    words.push(strings.last().unwrap().as_ptr() as u64);
                }
                Slot::Buffer => {
                    // An exact-size copy: ASan catches a read one byte past it.
                    buffers.push(pieces.next().unwrap_or(&[]).to_vec());
                    let b = buffers.last().unwrap();
                    words.push(b.as_ptr() as u64);
                    words.push(b.len() as u64);
                }
                Slot::Number => {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    words.push(seed);
                }
            }
        }
        // Slots past the last are never read; a pointer to a string makes a mistake in the
        // grammar above show as a wrong result rather than a wild read.
        let pad = CString::new("pad").unwrap();
        words.extend(std::iter::repeat_n(pad.as_ptr() as u64, 4));
        let format = CString::new(format).expect("cut at the first NUL");
        let mut ap = VaListTag {
            gp_offset: 48,
            fp_offset: 304,
            overflow_arg_area: words.as_mut_ptr().cast(),
            reg_save_area: std::ptr::null_mut(),
        };
        let mut cmd: *mut c_char = std::ptr::null_mut();
        let len = unsafe { redisvFormatCommand(&mut cmd, format.as_ptr(), &mut ap) };
        if len < 0 {
            assert!(len == -1 || len == -2, "returned {len}");
            return;
        }
        assert!(!cmd.is_null());
        let bytes = unsafe { std::slice::from_raw_parts(cmd as *const u8, len as usize + 1) };
        assert_eq!(bytes[len as usize], 0, "not NUL-terminated");
        let wire = &bytes[..len as usize];
        // A command: one array of bulk strings, nothing after it.
        let mut decoder = Decoder::new(Limits::unlimited());
        if !wire.is_empty() {
            match decoder.decode(wire) {
                Ok((used, Some(reply))) => {
                    assert_eq!(used, wire.len(), "bytes after the command");
                    match reply.to_value() {
                        Value::Array(items) => {
                            assert!(items.iter().all(|v| matches!(v, Value::Bulk(_))))
                        }
                        other => panic!("not an array of bulk strings: {other:?}"),
                    }
                }
                other => panic!("not one whole command: {other:?}"),
            }
        }
        unsafe { redisFreeCommand(cmd) };
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    format::run(data);
});
