//! `Secret`: a password or token that never shows up in `Debug`, `Display` or error messages,
//! and whose bytes are overwritten when it is dropped or replaced.

use std::fmt;
use std::sync::atomic::{compiler_fence, Ordering};

/// A password or token.
///
/// `Debug` and `Display` print `<redacted>`; the text is reached only through
/// [`Secret::expose`] (or [`Secret::expose_bytes`]), so it cannot end up in a log or an error
/// message by accident. The bytes are overwritten with zeros (volatile writes that the compiler
/// may not remove) when the secret is dropped, which also covers replacing it
/// (`config.password = Some(new)` drops the old one). Each clone is a separate copy, wiped in
/// its turn.
///
/// Best effort, like every wipe in a language with moves: copies the caller made before
/// handing the text over (a URL string, a C buffer) are the caller's to wipe.
#[derive(Clone)]
pub struct Secret(Box<str>);

impl Secret {
    /// A secret holding a copy of `text`.
    pub fn new(text: &str) -> Secret {
        Secret(text.into())
    }

    /// The secret text. Call it only where the text is really needed (the AUTH / HELLO
    /// arguments); never format it into a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret text as bytes.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// True for the empty secret.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    /// Takes the text, copying it into an allocation of its exact size and wiping the
    /// string's buffer.
    fn from(mut text: String) -> Secret {
        let secret = Secret::new(&text);
        // SAFETY: only zeros are written, and a run of NULs is valid UTF-8.
        wipe(unsafe { text.as_bytes_mut() });
        secret
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // SAFETY: only zeros are written, and a run of NULs is valid UTF-8.
        wipe(unsafe { self.0.as_bytes_mut() });
    }
}

impl PartialEq for Secret {
    /// Compares without an early exit on the first differing byte, so the time taken says
    /// nothing about how much of a guess was right.
    fn eq(&self, other: &Secret) -> bool {
        let (a, b) = (self.expose_bytes(), other.expose_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Overwrites `bytes` with zeros in a way the optimizer may not drop as a dead store.
pub(crate) fn wipe(bytes: &mut [u8]) {
    for byte in bytes.iter_mut() {
        // SAFETY: `byte` is a valid, exclusive reference to one byte.
        unsafe { std::ptr::write_volatile(byte, 0) };
    }
    compiler_fence(Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.expose_bytes(), b"hunter2");
    }

    #[test]
    fn equality_and_clone() {
        let a = Secret::new("abc");
        assert_eq!(a, a.clone());
        assert_ne!(a, Secret::new("abd"));
        assert_ne!(a, Secret::new("abcd"));
        assert!(Secret::new("").is_empty());
    }

    #[test]
    fn wipe_zeroes_and_from_string_keeps_the_text() {
        let mut buf = *b"hunter2";
        wipe(&mut buf);
        assert_eq!(buf, [0; 7]);
        let secret = Secret::from(String::from("hunter2"));
        assert_eq!(secret.expose(), "hunter2");
    }
}
