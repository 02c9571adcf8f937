//! `Value`: an owned tree of one RESP3 value, for tests, for Rust callers who want plain data,
//! and for building replies. The hot path never builds one; it reads `Reply` nodes.

use std::fmt;

/// One RESP value, owned.
#[derive(Clone)]
pub enum Value {
    /// `+` simple string.
    Simple(Vec<u8>),
    /// `-` simple error (the whole text, e.g. `ERR unknown command`).
    Error(Vec<u8>),
    /// `:` integer.
    Integer(i64),
    /// `$` bulk string.
    Bulk(Vec<u8>),
    /// `_` null (also RESP2's `$-1` and `*-1`).
    Null,
    /// `*` array.
    Array(Vec<Value>),
    /// `,` double.
    Double(f64),
    /// `#` boolean.
    Boolean(bool),
    /// `(` big number, as decimal text.
    BigNumber(Vec<u8>),
    /// `=` verbatim string: format (`txt`, `mkd`) and text.
    Verbatim([u8; 3], Vec<u8>),
    /// `%` map, in wire order.
    Map(Vec<(Value, Value)>),
    /// `~` set, in wire order.
    Set(Vec<Value>),
    /// `>` push.
    Push(Vec<Value>),
    /// `!` blob error.
    BlobError(Vec<u8>),
    /// A value preceded by a `|` attribute map.
    Attributed(Vec<(Value, Value)>, Box<Value>),
}

impl Value {
    /// A bulk string from anything byte-like.
    pub fn bulk(bytes: impl AsRef<[u8]>) -> Value {
        Value::Bulk(bytes.as_ref().to_vec())
    }

    /// A simple string from anything byte-like.
    pub fn simple(bytes: impl AsRef<[u8]>) -> Value {
        Value::Simple(bytes.as_ref().to_vec())
    }

    /// Writes the value in RESP3 (RESP2 for the types RESP2 has, except null, which is `_`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        fn header(out: &mut Vec<u8>, ty: u8, n: usize) {
            out.push(ty);
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        fn blob(out: &mut Vec<u8>, ty: u8, bytes: &[u8]) {
            header(out, ty, bytes.len());
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        fn line(out: &mut Vec<u8>, ty: u8, bytes: &[u8]) {
            out.push(ty);
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        fn pairs(out: &mut Vec<u8>, ty: u8, pairs: &[(Value, Value)]) {
            header(out, ty, pairs.len());
            for (k, v) in pairs {
                k.encode(out);
                v.encode(out);
            }
        }
        fn seq(out: &mut Vec<u8>, ty: u8, items: &[Value]) {
            header(out, ty, items.len());
            for v in items {
                v.encode(out);
            }
        }
        match self {
            Value::Simple(s) => line(out, b'+', s),
            Value::Error(s) => line(out, b'-', s),
            Value::Integer(i) => line(out, b':', i.to_string().as_bytes()),
            Value::Bulk(b) => blob(out, b'$', b),
            Value::Null => out.extend_from_slice(b"_\r\n"),
            Value::Array(items) => seq(out, b'*', items),
            Value::Double(d) => line(out, b',', format_double(*d).as_bytes()),
            Value::Boolean(b) => line(out, b'#', if *b { b"t" } else { b"f" }),
            Value::BigNumber(n) => line(out, b'(', n),
            Value::Verbatim(format, text) => {
                header(out, b'=', text.len() + 4);
                out.extend_from_slice(format);
                out.push(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            Value::Map(p) => pairs(out, b'%', p),
            Value::Set(items) => seq(out, b'~', items),
            Value::Push(items) => seq(out, b'>', items),
            Value::BlobError(b) => blob(out, b'!', b),
            Value::Attributed(attr, value) => {
                pairs(out, b'|', attr);
                value.encode(out);
            }
        }
    }
}

/// A double as RESP3 writes it: `inf`, `-inf`, `nan`, or a decimal that parses back exactly.
pub(crate) fn format_double(d: f64) -> String {
    if d.is_nan() {
        "nan".into()
    } else if d.is_infinite() {
        if d > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{d:?}")
    }
}

impl PartialEq for Value {
    /// Structural equality, except that two NaN doubles are equal: a value must equal its own
    /// round trip through the wire.
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Double(a), Double(b)) => a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            (Simple(a), Simple(b))
            | (Error(a), Error(b))
            | (Bulk(a), Bulk(b))
            | (BigNumber(a), BigNumber(b))
            | (BlobError(a), BlobError(b)) => a == b,
            (Integer(a), Integer(b)) => a == b,
            (Null, Null) => true,
            (Boolean(a), Boolean(b)) => a == b,
            (Verbatim(fa, a), Verbatim(fb, b)) => fa == fb && a == b,
            (Array(a), Array(b)) | (Set(a), Set(b)) | (Push(a), Push(b)) => a == b,
            (Map(a), Map(b)) => a == b,
            (Attributed(aa, a), Attributed(ab, b)) => aa == ab && a == b,
            _ => false,
        }
    }
}

struct Text<'a>(&'a [u8]);

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Simple(s) => write!(f, "+{:?}", Text(s)),
            Value::Error(s) => write!(f, "-{:?}", Text(s)),
            Value::BlobError(s) => write!(f, "!{:?}", Text(s)),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Bulk(b) => write!(f, "{:?}", Text(b)),
            Value::Null => f.write_str("null"),
            Value::Double(d) => write!(f, "{}", format_double(*d)),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::BigNumber(n) => write!(f, "({})", n.escape_ascii()),
            Value::Verbatim(format, text) => {
                write!(f, "={}:{:?}", format.escape_ascii(), Text(text))
            }
            Value::Array(items) => f.debug_list().entries(items).finish(),
            Value::Set(items) => {
                f.write_str("~")?;
                f.debug_set().entries(items).finish()
            }
            Value::Push(items) => {
                f.write_str(">")?;
                f.debug_list().entries(items).finish()
            }
            Value::Map(pairs) => f
                .debug_map()
                .entries(pairs.iter().map(|(k, v)| (k, v)))
                .finish(),
            Value::Attributed(attr, value) => {
                f.write_str("|")?;
                f.debug_map()
                    .entries(attr.iter().map(|(k, v)| (k, v)))
                    .finish()?;
                write!(f, " {value:?}")
            }
        }
    }
}
