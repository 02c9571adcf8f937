//! The command encoder: argv to a RESP array of bulk strings, written straight into the
//! caller's output buffer after one reservation.
//!
//! Each bulk string is written through a pointer into room checked just before it (a header,
//! the bytes and CRLF), so the common short argument costs a few stores and one copy instead
//! of three capacity checks and a call per piece. The check per argument keeps the writes
//! within the buffer whatever `AsRef` answers, so the one reservation up front is only what
//! makes the checks pass.

use std::ptr;

/// The longest header: the type byte, 20 digits (`u64::MAX`) and CRLF.
const MAX_HEADER: usize = 1 + 20 + 2;

/// Appends `args` to `out` as one command (`*N\r\n$len\r\narg\r\n...`).
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    // The exact length, plus room for the last header's check, which assumes the longest.
    out.reserve(encoded_len(args) + MAX_HEADER);
    write_header(out, b'*', args.len());
    for arg in args {
        write_bulk(out, arg.as_ref());
    }
}

/// Appends `$len\r\narg\r\n`.
#[inline]
fn write_bulk(out: &mut Vec<u8>, arg: &[u8]) {
    let need = MAX_HEADER + arg.len() + 2;
    if out.capacity() - out.len() < need {
        out.reserve(need);
    }
    let len = out.len();
    // SAFETY: `need` bytes past `len` are allocated (checked above), and at most that many are
    // written: a header of at most MAX_HEADER bytes, the argument, CRLF. They are initialised
    // before `set_len` covers them; `arg` cannot overlap `out`'s spare capacity.
    unsafe {
        let at = out.as_mut_ptr().add(len);
        let h = put_header(at, b'$', arg.len());
        ptr::copy_nonoverlapping(arg.as_ptr(), at.add(h), arg.len());
        at.add(h + arg.len())
            .cast::<[u8; 2]>()
            .write_unaligned(*b"\r\n");
        out.set_len(len + h + arg.len() + 2);
    }
}

/// The exact number of bytes `encode_command` writes for `args`.
pub fn encoded_len<A: AsRef<[u8]>>(args: &[A]) -> usize {
    let mut n = 1 + digits(args.len()) + 2;
    for arg in args {
        let len = arg.as_ref().len();
        n += 1 + digits(len) + 2 + len + 2;
    }
    n
}

/// Writes `<ty><n>\r\n`.
#[inline]
pub fn write_header(out: &mut Vec<u8>, ty: u8, n: usize) {
    out.reserve(MAX_HEADER);
    let len = out.len();
    // SAFETY: MAX_HEADER bytes past `len` are allocated; put_header writes at most that many,
    // all initialised before `set_len` covers them.
    unsafe {
        let h = put_header(out.as_mut_ptr().add(len), ty, n);
        out.set_len(len + h);
    }
}

/// Writes `<ty><n>\r\n` at `at`; how many bytes (at most MAX_HEADER).
///
/// # Safety
/// `at` is valid for MAX_HEADER bytes of writes.
#[inline]
unsafe fn put_header(at: *mut u8, ty: u8, n: usize) -> usize {
    // SAFETY: every write below is within the first MAX_HEADER bytes of `at`.
    unsafe {
        if n < 10 {
            at.cast::<[u8; 4]>()
                .write_unaligned([ty, b'0' + n as u8, b'\r', b'\n']);
            return 4;
        }
        if n < 100 {
            let tens = (n / 10) as u8;
            let ones = (n % 10) as u8;
            at.cast::<[u8; 5]>()
                .write_unaligned([ty, b'0' + tens, b'0' + ones, b'\r', b'\n']);
            return 5;
        }
        let mut buf = [0u8; MAX_HEADER];
        let mut i = buf.len();
        buf[i - 1] = b'\n';
        buf[i - 2] = b'\r';
        i -= 2;
        let mut v = n;
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        i -= 1;
        buf[i] = ty;
        let h = buf.len() - i;
        ptr::copy_nonoverlapping(buf.as_ptr().add(i), at, h);
        h
    }
}

#[inline]
fn digits(n: usize) -> usize {
    if n < 10 {
        return 1;
    }
    if n < 100 {
        return 2;
    }
    let mut n = n / 100;
    let mut d = 3;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_argv() {
        let mut out = Vec::new();
        encode_command(&mut out, &["SET", "key", ""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$0\r\n\r\n");
        assert_eq!(out.len(), encoded_len(&["SET", "key", ""]));
        let big = vec![b'x'; 12345];
        let args: [&[u8]; 2] = [b"GET", &big];
        out.clear();
        encode_command(&mut out, &args);
        assert!(out.starts_with(b"*2\r\n$3\r\nGET\r\n$12345\r\n"));
        assert_eq!(out.len(), encoded_len(&args));
    }

    /// An `AsRef` that answers longer each time, by more than the reservation's slack: the
    /// encoder reserves for the first answer, writes the second, and stays within its buffer.
    struct Growing(std::cell::Cell<usize>, Vec<u8>);
    impl AsRef<[u8]> for Growing {
        fn as_ref(&self) -> &[u8] {
            let n = self.0.get();
            self.0.set((n * 2 + 1).min(self.1.len()));
            &self.1[..n]
        }
    }

    #[test]
    fn an_inconsistent_as_ref_stays_in_bounds() {
        let args = [Growing(std::cell::Cell::new(100), vec![b'y'; 5000])];
        let mut out = Vec::new();
        encode_command(&mut out, &args); // reserves for 100 bytes, writes 201
        assert!(out.len() <= out.capacity(), "written past the reservation");
        let mut want = b"*1\r\n$201\r\n".to_vec();
        want.extend_from_slice(&[b'y'; 201]);
        want.extend_from_slice(b"\r\n");
        assert_eq!(out, want);
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "10 MB copied hundreds of times; the tests above cover Miri"
    )]
    fn every_header_length_round_trips() {
        // Byte for byte, with lengths around each digit boundary, appended after bytes already
        // in the buffer.
        let mut lens: Vec<usize> = (0..130).collect();
        for d in 3..8 {
            let p = 10usize.pow(d);
            lens.extend([p - 1, p, p + 1]);
        }
        let big = vec![b'z'; 10_000_001];
        for &len in &lens {
            for (pre, spare) in [(0, 0), (1, 0), (2, 1), (3, 30)] {
                let mut out = Vec::with_capacity(pre + spare);
                out.extend(std::iter::repeat_n(b'.', pre));
                let args: [&[u8]; 2] = [b"SET", &big[..len]];
                encode_command(&mut out, &args);
                let mut want = b".".repeat(pre);
                want.extend_from_slice(format!("*2\r\n$3\r\nSET\r\n${len}\r\n").as_bytes());
                want.extend_from_slice(&big[..len]);
                want.extend_from_slice(b"\r\n");
                assert!(out == want, "length {len}");
                assert_eq!(out.len() - pre, encoded_len(&args));
            }
        }
    }

    #[test]
    fn header_digits() {
        for n in [0usize, 9, 10, 99, 100, 999, 1000, 123456789, usize::MAX] {
            let mut out = Vec::new();
            write_header(&mut out, b'$', n);
            assert_eq!(out, format!("${n}\r\n").as_bytes());
            assert_eq!(digits(n), n.to_string().len());
        }
    }
}
