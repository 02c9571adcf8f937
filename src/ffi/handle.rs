//! Casts between C handles and the Rust values under them.
//!
//! A `redcore_reply *` is the address of a reply node. For an owned reply it is the root node
//! inside a boxed `Reply`, found again by subtracting the root's offset; for an element it is a
//! node inside the reply's table. Only nodes flagged `F_ROOT` may be turned back into a box,
//! so freeing an element, or a reply lent to a callback, is refused instead of corrupting the
//! heap.
//!
//! Boxes of freed replies are kept for the next replies handed out on the same thread (see
//! `SPARE`).

use std::cell::RefCell;
use std::mem::MaybeUninit;

use super::reply::redcore_reply;
use crate::resp::{Node, Reply, ValueRef, F_ROOT};

const ROOT_OFFSET: usize = std::mem::offset_of!(Reply, root);

/// Most boxes kept per thread.
const SPARE_MAX: usize = 8;

/// The boxes themselves are what is kept (each an allocation to reuse), not their contents.
#[allow(clippy::vec_box)]
type SpareBoxes = Vec<Box<MaybeUninit<Reply>>>;

thread_local! {
    /// Boxes of replies freed on this thread, their contents dropped. A C program that reads
    /// replies one at a time (a reader) frees each before it takes the next, so the next one
    /// reuses the box instead of a malloc and a free per reply: with small replies, that was
    /// a quarter of a reply's cost. Bounded, so a thread that only frees keeps a few.
    static SPARE: RefCell<SpareBoxes> = const { RefCell::new(Vec::new()) };
}

/// Gives C ownership of `reply`, in a box freed on this thread before if there is one.
pub(crate) fn reply_into_handle(reply: Reply) -> *mut redcore_reply {
    let spare = SPARE
        .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()))
        .ok()
        .flatten();
    let boxed = match spare {
        Some(mut spare) => {
            spare.write(reply);
            // SAFETY: the box holds an initialized Reply now; MaybeUninit<Reply> has Reply's
            // layout.
            unsafe { Box::from_raw(Box::into_raw(spare).cast::<Reply>()) }
        }
        None => Box::new(reply),
    };
    reply_into_raw(boxed)
}

/// Drops a reply taken back from C, keeping its box for `reply_into_handle`.
pub(crate) fn free_reply(reply: Box<Reply>) {
    let raw = Box::into_raw(reply);
    // SAFETY: raw is a valid, uniquely owned Reply; it is dropped once, and its memory then
    // owned as uninitialized by the box made from it.
    let spare = unsafe {
        raw.drop_in_place();
        Box::from_raw(raw.cast::<MaybeUninit<Reply>>())
    };
    // A box that is not kept (the cache full or gone with its thread) is freed on drop.
    let _ = SPARE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if s.len() < SPARE_MAX {
                s.push(spare);
            }
        }
    });
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Decoder, Limits};

    fn decode_complete(wire: &[u8]) -> Reply {
        let (used, reply) = Decoder::new(Limits::default()).decode(wire).expect("valid");
        assert_eq!(used, wire.len());
        reply.expect("one whole reply")
    }

    /// Boxes go round through the spare cache (beyond its bound too) and every reply handed
    /// out reads back as the one put in: run under Miri, this checks the reuse of freed boxes.
    #[test]
    fn freed_boxes_carry_the_next_replies() {
        let wires: [&[u8]; 3] = [
            b"$5\r\nhello\r\n",
            b"*2\r\n:1\r\n$1\r\nx\r\n",
            b"-ERR no\r\n",
        ];
        for round in 0..SPARE_MAX + 4 {
            let handles: Vec<_> = (0..=round % 3)
                .map(|i| reply_into_handle(decode_complete(wires[i])))
                .collect();
            for (i, &h) in handles.iter().enumerate() {
                // SAFETY: h was just handed out and is freed below, once.
                let reply = unsafe { reply_from_raw(h) }.expect("an owned root");
                assert_eq!(reply.to_value(), decode_complete(wires[i]).to_value());
                free_reply(reply);
            }
        }
    }
}
