//! Lock tokens: 16 bytes from the kernel's CSPRNG (getrandom(2), or /dev/urandom where the
//! system call is missing), written as 32 lowercase hex digits, the length of redis-py's
//! UUID tokens. Unguessable, so no other client can forge a release of our lock.

use std::io::Read;

use crate::error::{Error, ErrorKind, Result};

const TOKEN_BYTES: usize = 16;

/// A fresh random token.
pub(crate) fn fresh() -> Result<Vec<u8>> {
    let mut raw = [0u8; TOKEN_BYTES];
    fill_random(&mut raw)?;
    Ok(crate::script::sha1::hex(&raw).into_bytes())
}

fn fill_random(buf: &mut [u8]) -> Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: rest is valid for writing rest.len() bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
            continue;
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            // A kernel older than 3.17 (or a sandbox that forbids the call).
            Some(libc::ENOSYS) | Some(libc::EPERM) => return fill_from_urandom(rest),
            _ => return Err(random_error(err)),
        }
    }
    Ok(())
}

fn fill_from_urandom(buf: &mut [u8]) -> Result<()> {
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .map_err(random_error)
}

fn random_error(err: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Internal,
        format!("cannot read random bytes for a lock token: {err}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_hex_and_differ() {
        let a = fresh().unwrap();
        let b = fresh().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a
            .iter()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn urandom_fills_too() {
        let mut buf = [0u8; 64];
        fill_from_urandom(&mut buf).unwrap();
        // 64 zero bytes from a working CSPRNG: about 2^-512.
        assert!(buf.iter().any(|&b| b != 0));
    }
}
