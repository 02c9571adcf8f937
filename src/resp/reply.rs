//! The reply representation: one flat table of 16-byte nodes plus one byte buffer, however
//! many elements the reply has.
//!
//! A `Reply` owns two buffers (the node table: nodes below the root, then the index entries
//! used only when an aggregate's children are not adjacent; and the string bytes) and keeps
//! its root node inline, so a scalar reply such as `:1` or `+OK` allocates nothing at all and
//! any other reply at most two buffers. After decoding, every node holds absolute addresses (of its
//! bytes, or of its first child), so any node can be read on its own: that is what lets the C
//! face hand out a plain pointer to a node as the handle of a sub-reply.

use std::fmt;
use std::marker::PhantomData;

use super::value::Value;

/// The type of a reply (`redcore_reply_type` in C).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `+` simple string.
    Simple = 1,
    /// `-` simple error.
    Error = 2,
    /// `:` integer.
    Integer = 3,
    /// `$` bulk (blob) string.
    Bulk = 4,
    /// `_`, or RESP2's `$-1` / `*-1`.
    Null = 5,
    /// `*` array.
    Array = 6,
    /// `,` double.
    Double = 7,
    /// `#` boolean.
    Boolean = 8,
    /// `(` big number (kept as its decimal text).
    BigNumber = 9,
    /// `=` verbatim string (a 3-byte format such as `txt` and the text).
    Verbatim = 10,
    /// `%` map.
    Map = 11,
    /// `~` set.
    Set = 12,
    /// `|` attribute map (reached through the value it annotates).
    Attribute = 13,
    /// `>` push (out-of-band data: pub/sub messages, invalidations).
    Push = 14,
    /// `!` blob error.
    BlobError = 15,
}

impl Kind {
    /// True for the kinds whose node carries bytes.
    pub fn has_bytes(self) -> bool {
        matches!(
            self,
            Kind::Simple
                | Kind::Error
                | Kind::Bulk
                | Kind::BigNumber
                | Kind::Verbatim
                | Kind::BlobError
        )
    }

    /// True for the kinds that hold elements.
    pub fn is_aggregate(self) -> bool {
        matches!(
            self,
            Kind::Array | Kind::Map | Kind::Set | Kind::Attribute | Kind::Push
        )
    }

    /// True for the kinds whose elements come in key/value pairs.
    pub fn is_map_like(self) -> bool {
        matches!(self, Kind::Map | Kind::Attribute)
    }
}

/// Children of this aggregate are found through an index table, not adjacent.
pub(crate) const F_NONCONTIG: u8 = 1;
/// The bytes are one of `STATIC_STRINGS`, `val` is its index until finalized.
pub(crate) const F_STATIC: u8 = 2;
/// The node just before this one in memory is its attribute.
pub(crate) const F_HAS_ATTR: u8 = 4;
/// This node is the root of an owned `Reply` (the only node that may be freed).
pub(crate) const F_ROOT: u8 = 8;

/// Simple strings so common that they are never copied: a `+OK` reply allocates nothing.
/// Each is followed by a NUL, as every string of a reply is. (Matched by
/// `decoder::static_string`, which must list them in this order.)
pub(crate) const STATIC_STRINGS: [&[u8]; 3] = [b"OK\0", b"QUEUED\0", b"PONG\0"];

/// One value in the table. While a reply is being built, `val` holds offsets and indices;
/// `Reply::finalize` turns them into addresses.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Node {
    pub(crate) kind: Kind,
    pub(crate) flags: u8,
    pub(crate) _reserved: u16,
    /// Byte length for strings, element count for aggregates (pairs for maps).
    pub(crate) len: u32,
    /// Strings: address of the bytes. Aggregates: address of the first child, or of the
    /// first entry of the index table (`F_NONCONTIG`). Integer, double, boolean: the value's
    /// bits. An index entry (a `Null` node after the nodes) holds the address of a child.
    pub(crate) val: u64,
}

const _: () = assert!(std::mem::size_of::<Node>() == 16);

impl Node {
    pub(crate) fn new(kind: Kind, len: u32, val: u64) -> Node {
        Node {
            kind,
            flags: 0,
            _reserved: 0,
            len,
            val,
        }
    }

    pub(crate) const EMPTY: Node = Node {
        kind: Kind::Null,
        flags: 0,
        _reserved: 0,
        len: 0,
        val: 0,
    };
}

/// A complete reply, owned. Every string's bytes are followed by a NUL (not counted in its
/// length), so C callers may treat text replies as C strings.
/// Cheap to move: moving it never moves the buffers that its nodes
/// point into.
///
/// Layout is `repr(C)` with `root_attr` right before `root`: a value's attribute always sits in
/// the node just before it, for the root as for every element.
#[repr(C)]
pub struct Reply {
    pub(crate) root_attr: Node,
    pub(crate) root: Node,
    /// The nodes below the root, then the index entries.
    pub(crate) nodes: Vec<Node>,
    pub(crate) data: Vec<u8>,
}

/// Small enough to build, return and move cheaply: scalar replies are most replies.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Reply>() == 80);

/// Node addresses are plain integers into buffers the reply owns and never mutates after
/// `finalize`, so sharing a reply between threads is as safe as sharing a `&[u8]`.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Reply>();
};

impl Reply {
    /// Turns offsets into addresses. Called once, when the last byte of a reply is decoded;
    /// the node table's index entries start at `index_start`.
    pub(crate) fn finalize(&mut self, index_start: usize) {
        let data_base = self.data.as_ptr() as u64;
        let nodes_base = self.nodes.as_ptr() as u64;
        let node_size = std::mem::size_of::<Node>() as u64;
        let index_base = nodes_base + index_start as u64 * node_size;
        let (nodes, index) = self.nodes.split_at_mut(index_start);
        for entry in index {
            entry.val = nodes_base + entry.val * node_size;
        }
        let fix = |node: &mut Node| {
            if node.kind.has_bytes() {
                node.val = if node.flags & F_STATIC != 0 {
                    STATIC_STRINGS[node.val as usize].as_ptr() as u64
                } else {
                    data_base + node.val
                };
            } else if node.kind.is_aggregate() {
                node.val = if node.flags & F_NONCONTIG != 0 {
                    index_base + node.val * node_size
                } else {
                    nodes_base + node.val * node_size
                };
            }
        };
        nodes.iter_mut().for_each(fix);
        fix(&mut self.root);
        fix(&mut self.root_attr);
        self.root.flags |= F_ROOT;
    }

    /// A reply of one scalar that holds no bytes (integer, double, boolean, null).
    #[inline]
    pub(crate) fn scalar(mut root: Node) -> Reply {
        root.flags |= F_ROOT;
        Reply {
            root_attr: Node::EMPTY,
            root,
            nodes: Vec::new(),
            data: Vec::new(),
        }
    }

    /// A reply for `value` (built by encoding it and decoding the bytes).
    pub fn from_value(value: &Value) -> Reply {
        let mut wire = Vec::new();
        value.encode(&mut wire);
        super::decoder::decode_complete(&wire)
    }

    /// The root value.
    pub fn value(&self) -> ValueRef<'_> {
        ValueRef::at(self.root_ptr())
    }

    /// The address of `root`, as a pointer with permission for the whole reply: the root's
    /// attribute, `root_attr`, is reached from it (`ValueRef::attribute`). An offset from the
    /// reply's address, because a pointer to the field itself (`&raw const self.root`) would
    /// carry permission for the field alone.
    pub(crate) fn root_ptr(&self) -> *const Node {
        let reply = self as *const Reply;
        // SAFETY: the offset of a field stays within the reply.
        unsafe {
            reply
                .cast::<u8>()
                .add(std::mem::offset_of!(Reply, root))
                .cast::<Node>()
        }
    }

    /// Marks the reply as not a C-owned root, so `redcore_reply_free` on a handle lent from
    /// it is refused (replies kept inside a larger result, or lent to a callback).
    pub(crate) fn mark_borrowed(&mut self) {
        self.root.flags &= !F_ROOT;
    }

    /// The root's kind.
    pub fn kind(&self) -> Kind {
        self.root.kind
    }

    /// An owned tree of the whole reply.
    pub fn to_value(&self) -> Value {
        self.value().to_value()
    }

    /// Heap bytes held (for memory accounting and tests).
    pub fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>() + self.data.capacity()
    }

    /// If the root is an error, the `Error` it stands for.
    pub fn as_error(&self) -> Option<crate::error::Error> {
        self.value().as_error()
    }
}

impl Clone for Reply {
    fn clone(&self) -> Reply {
        self.value().to_reply()
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_value(), f)
    }
}

impl PartialEq for Reply {
    fn eq(&self, other: &Reply) -> bool {
        self.to_value() == other.to_value()
    }
}

/// A borrowed view of one node of a reply: the root or any element.
#[derive(Clone, Copy)]
pub struct ValueRef<'a> {
    /// A pointer, not a `&Node`: a reference would carry permission for its own node only,
    /// and a value's attribute is the node before it (`attribute`).
    node: *const Node,
    _reply: PhantomData<&'a Node>,
}

// SAFETY: a view only reads an immutable reply that outlives it, like a `&Node`.
unsafe impl Send for ValueRef<'_> {}
// SAFETY: as above.
unsafe impl Sync for ValueRef<'_> {}

impl<'a> ValueRef<'a> {
    /// A view of the node at `node`, a pointer with permission for the reply's nodes around
    /// it (derived from the reply, the node table, or a handle given out for them).
    ///
    /// # Safety
    /// `node` must point at a finalized node of a live `Reply`, and the reply must outlive
    /// `'a`.
    pub(crate) unsafe fn from_ptr(node: *const Node) -> ValueRef<'a> {
        ValueRef::at(node)
    }

    fn at(node: *const Node) -> ValueRef<'a> {
        ValueRef {
            node,
            _reply: PhantomData,
        }
    }

    /// The node under this view (its address is the C handle).
    pub(crate) fn node_ptr(self) -> *const Node {
        self.node
    }

    /// The node itself, for reading its fields.
    fn n(self) -> &'a Node {
        // SAFETY: views point at finalized nodes of a reply that outlives 'a.
        unsafe { &*self.node }
    }

    /// The kind.
    pub fn kind(self) -> Kind {
        self.n().kind
    }

    /// Bytes of a string-like value (simple, bulk, error, blob error, big number, and for a
    /// verbatim string its text without the format). `None` for other kinds.
    pub fn as_bytes(self) -> Option<&'a [u8]> {
        let bytes = self.raw_bytes()?;
        Some(if self.n().kind == Kind::Verbatim {
            &bytes[4..]
        } else {
            bytes
        })
    }

    /// `as_bytes` with the NUL that follows every string (for C callers, who read up to it:
    /// a pointer from `as_bytes` has no permission to read that byte).
    pub(crate) fn as_bytes_with_nul(self) -> Option<&'a [u8]> {
        let bytes = self.raw_bytes_with_nul()?;
        Some(if self.n().kind == Kind::Verbatim {
            &bytes[4..]
        } else {
            bytes
        })
    }

    fn raw_bytes(self) -> Option<&'a [u8]> {
        let bytes = self.raw_bytes_with_nul()?;
        Some(&bytes[..bytes.len() - 1])
    }

    fn raw_bytes_with_nul(self) -> Option<&'a [u8]> {
        if !self.n().kind.has_bytes() {
            return None;
        }
        // SAFETY: finalized string nodes hold the address and length of bytes owned by the
        // reply (or a static string) and followed by a NUL, valid for the reply's lifetime.
        Some(unsafe {
            std::slice::from_raw_parts(self.n().val as *const u8, self.n().len as usize + 1)
        })
    }

    /// The bytes as UTF-8 text, when they are.
    pub fn as_str(self) -> Option<&'a str> {
        std::str::from_utf8(self.as_bytes()?).ok()
    }

    /// The 3-byte format of a verbatim string (`txt`, `mkd`).
    pub fn verbatim_format(self) -> Option<&'a [u8]> {
        if self.n().kind != Kind::Verbatim {
            return None;
        }
        self.raw_bytes().map(|b| &b[..3])
    }

    /// The integer of an `Integer` node.
    pub fn as_integer(self) -> Option<i64> {
        (self.n().kind == Kind::Integer).then_some(self.n().val as i64)
    }

    /// The value of a `Double` node.
    pub fn as_double(self) -> Option<f64> {
        (self.n().kind == Kind::Double).then_some(f64::from_bits(self.n().val))
    }

    /// The value of a `Boolean` node.
    pub fn as_bool(self) -> Option<bool> {
        (self.n().kind == Kind::Boolean).then_some(self.n().val != 0)
    }

    /// True for null.
    pub fn is_null(self) -> bool {
        self.n().kind == Kind::Null
    }

    /// For an error or blob error, the `Error` it stands for.
    pub fn as_error(self) -> Option<crate::error::Error> {
        match self.n().kind {
            Kind::Error | Kind::BlobError => {
                Some(crate::error::Error::from_server_reply(self.raw_bytes()?))
            }
            _ => None,
        }
    }

    /// Number of elements of an array, set or push; number of pairs of a map or attribute;
    /// 0 for scalars.
    pub fn len(self) -> usize {
        if self.n().kind.is_aggregate() {
            self.n().len as usize
        } else {
            0
        }
    }

    /// True when `len()` is 0.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Number of child nodes: `len()` for arrays, sets and pushes, twice that for maps.
    pub fn child_count(self) -> usize {
        if self.n().kind.is_map_like() {
            self.len() * 2
        } else {
            self.len()
        }
    }

    /// Child `i` in wire order (for maps: key 0, value 0, key 1, ...).
    pub fn child(self, i: usize) -> Option<ValueRef<'a>> {
        if i >= self.child_count() {
            return None;
        }
        // SAFETY: finalized aggregates point at `child_count()` adjacent nodes, or at as many
        // index entries holding node addresses; both live as long as the reply.
        let node = unsafe {
            if self.n().flags & F_NONCONTIG != 0 {
                let entry = &*(self.n().val as *const Node).add(i);
                entry.val as *const Node
            } else {
                (self.n().val as *const Node).add(i)
            }
        };
        Some(ValueRef::at(node))
    }

    /// Element `i` of an array, set or push (`child`, named for sequences).
    pub fn get(self, i: usize) -> Option<ValueRef<'a>> {
        self.child(i)
    }

    /// Key `i` of a map or attribute.
    pub fn key(self, i: usize) -> Option<ValueRef<'a>> {
        if !self.n().kind.is_map_like() {
            return None;
        }
        self.child(2 * i)
    }

    /// Value `i` of a map or attribute.
    pub fn map_value(self, i: usize) -> Option<ValueRef<'a>> {
        if !self.n().kind.is_map_like() {
            return None;
        }
        self.child(2 * i + 1)
    }

    /// The children in wire order.
    pub fn children(self) -> impl ExactSizeIterator<Item = ValueRef<'a>> + 'a {
        (0..self.child_count()).map(move |i| self.child(i).expect("index in range"))
    }

    /// The key/value pairs of a map or attribute.
    pub fn pairs(self) -> impl ExactSizeIterator<Item = (ValueRef<'a>, ValueRef<'a>)> + 'a {
        let n = if self.n().kind.is_map_like() {
            self.len()
        } else {
            0
        };
        (0..n).map(move |i| {
            (
                self.child(2 * i).expect("key"),
                self.child(2 * i + 1).expect("value"),
            )
        })
    }

    /// The attribute map that came with this value, if the server sent one.
    pub fn attribute(self) -> Option<ValueRef<'a>> {
        if self.n().flags & F_HAS_ATTR == 0 {
            return None;
        }
        // SAFETY: F_HAS_ATTR is only set on nodes whose predecessor in memory is their
        // attribute node (in the node table, or `Reply::root_attr` for the root).
        let node = unsafe { self.node.sub(1) };
        Some(ValueRef::at(node))
    }

    /// An owned tree of this value (attributes included).
    pub fn to_value(self) -> Value {
        let plain = match self.n().kind {
            Kind::Simple => Value::Simple(self.as_bytes().unwrap().to_vec()),
            Kind::Error => Value::Error(self.as_bytes().unwrap().to_vec()),
            Kind::BlobError => Value::BlobError(self.as_bytes().unwrap().to_vec()),
            Kind::Bulk => Value::Bulk(self.as_bytes().unwrap().to_vec()),
            Kind::BigNumber => Value::BigNumber(self.as_bytes().unwrap().to_vec()),
            Kind::Verbatim => {
                let mut format = [0u8; 3];
                format.copy_from_slice(self.verbatim_format().unwrap());
                Value::Verbatim(format, self.as_bytes().unwrap().to_vec())
            }
            Kind::Integer => Value::Integer(self.n().val as i64),
            Kind::Double => Value::Double(f64::from_bits(self.n().val)),
            Kind::Boolean => Value::Boolean(self.n().val != 0),
            Kind::Null => Value::Null,
            Kind::Array => Value::Array(self.children().map(|c| c.to_value()).collect()),
            Kind::Set => Value::Set(self.children().map(|c| c.to_value()).collect()),
            Kind::Push => Value::Push(self.children().map(|c| c.to_value()).collect()),
            Kind::Map | Kind::Attribute => Value::Map(
                self.pairs()
                    .map(|(k, v)| (k.to_value(), v.to_value()))
                    .collect(),
            ),
        };
        match self.attribute() {
            Some(attr) => Value::Attributed(
                attr.pairs()
                    .map(|(k, v)| (k.to_value(), v.to_value()))
                    .collect(),
                Box::new(plain),
            ),
            None => plain,
        }
    }

    /// An owned copy of this value as a reply of its own (attributes included).
    pub fn to_reply(self) -> Reply {
        let mut wire = Vec::new();
        self.encode(&mut wire);
        super::decoder::decode_complete(&wire)
    }

    /// Writes this value (and its attribute) in RESP3.
    pub fn encode(self, out: &mut Vec<u8>) {
        self.to_value().encode(out);
    }
}

impl fmt::Debug for ValueRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_value(), f)
    }
}
