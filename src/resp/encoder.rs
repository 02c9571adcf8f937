//! The command encoder: argv to a RESP array of bulk strings, written straight into the
//! caller's output buffer with one exact reservation.

/// Appends `args` to `out` as one command (`*N\r\n$len\r\narg\r\n...`).
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    out.reserve(encoded_len(args));
    write_header(out, b'*', args.len());
    for arg in args {
        let arg = arg.as_ref();
        write_header(out, b'$', arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
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
    let mut buf = [0u8; 24];
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
    out.extend_from_slice(&buf[i..]);
}

#[inline]
fn digits(mut n: usize) -> usize {
    let mut d = 1;
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

    #[test]
    fn header_digits() {
        for n in [0usize, 9, 10, 99, 100, 123456789, usize::MAX] {
            let mut out = Vec::new();
            write_header(&mut out, b'$', n);
            assert_eq!(out, format!("${n}\r\n").as_bytes());
            assert_eq!(digits(n), n.to_string().len());
        }
    }
}
