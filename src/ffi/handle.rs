//! Casts between C handles and the Rust values under them.
//!
//! A `redcore_reply *` is the address of a reply node. For an owned reply it is the root node
//! inside a boxed `Reply`, found again by subtracting the root's offset; for an element it is a
//! node inside the reply's table. Only nodes flagged `F_ROOT` may be turned back into a box,
//! so freeing an element, or a reply lent to a callback, is refused instead of corrupting the
//! heap.

use super::reply::redcore_reply;
use crate::resp::{Node, Reply, ValueRef, F_ROOT};

const ROOT_OFFSET: usize = std::mem::offset_of!(Reply, root);

/// Gives C ownership of `reply`.
pub(crate) fn reply_into_raw(reply: Box<Reply>) -> *mut redcore_reply {
    let raw = Box::into_raw(reply);
    // SAFETY: raw is a valid, uniquely owned Reply. An offset from it, not a pointer to the
    // field, keeps permission for the whole reply (handles reach `root_attr` too).
    unsafe { raw.cast::<u8>().add(ROOT_OFFSET).cast() }
}

/// Takes ownership back from C. `None` for NULL and for handles that are not owned roots.
///
/// # Safety
/// `handle` is NULL or a reply handle that is still alive.
pub(crate) unsafe fn reply_from_raw(handle: *mut redcore_reply) -> Option<Box<Reply>> {
    let node = handle.cast::<Node>();
    // SAFETY: a live handle points at a readable node.
    let flags = unsafe { node.as_ref()?.flags };
    if flags & F_ROOT == 0 {
        return None;
    }
    // SAFETY: F_ROOT nodes are the `root` field of a boxed Reply handed out by reply_into_raw.
    Some(unsafe { Box::from_raw(node.cast::<u8>().sub(ROOT_OFFSET).cast::<Reply>()) })
}

/// A view of the node behind a handle. `None` for NULL.
///
/// # Safety
/// `handle` is NULL or a live reply handle, and stays alive for `'a`.
pub(crate) unsafe fn view<'a>(handle: *const redcore_reply) -> Option<ValueRef<'a>> {
    if handle.is_null() {
        return None;
    }
    // SAFETY: live handles point at finalized nodes of a live reply (the pointer, not a
    // reference made from it, keeps the permission to reach the node's attribute before it).
    Some(unsafe { ValueRef::from_ptr(handle.cast::<Node>()) })
}

/// The handle of a node reached through a view.
pub(crate) fn handle_of(value: ValueRef<'_>) -> *const redcore_reply {
    value.node_ptr().cast()
}

/// Lends `reply` to C for the duration of a callback: the handle is valid until the callback
/// returns, and `redcore_reply_free` on it does nothing (it is not flagged as an owned root).
pub(crate) fn lend(reply: &mut Reply) -> *const redcore_reply {
    reply.mark_borrowed();
    reply.root_ptr().cast()
}
