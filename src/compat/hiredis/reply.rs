//! `redisReply`, the reply objects of the default reader functions: the builders the reader
//! calls (`DEFAULT_FUNCTIONS`) and `freeReplyObject`. Replies and their strings come from the
//! installed allocator.

use std::mem::MaybeUninit;
use std::os::raw::{c_char, c_int, c_longlong, c_void};

use super::alloc::{hi_calloc, hi_dup_bytes, hi_free, hi_malloc};
use super::types::*;
use crate::ffi::guard::guard;

/// The default builders, used by `redisReaderCreate` and every context's reader. A static, so
/// that `reader->fn` may be compared or read by callers, as with hiredis.
pub(crate) static mut DEFAULT_FUNCTIONS: redisReplyObjectFunctions = redisReplyObjectFunctions {
    createString: Some(create_string),
    createArray: Some(create_array),
    createInteger: Some(create_integer),
    createDouble: Some(create_double),
    createNil: Some(create_nil),
    createBool: Some(create_bool),
    freeObject: Some(freeReplyObject),
};

pub(crate) fn default_functions() -> *mut redisReplyObjectFunctions {
    std::ptr::addr_of_mut!(DEFAULT_FUNCTIONS)
}

/// Whether `fns` is the default table, unchanged: the reader then calls the builders
/// directly. (A program can reach the table through `reader->fn` and replace a function in it;
/// the reader then goes through the table.)
pub(crate) fn uses_default_functions(fns: *const redisReplyObjectFunctions) -> bool {
    if fns != default_functions().cast_const() {
        return false;
    }
    // SAFETY: the static table, read as a plain copy.
    let t = unsafe { fns.read() };
    // A function that compared unequal to itself would only send the reader through the
    // table, which builds the same objects.
    macro_rules! same {
        ($field:expr, $f:expr) => {
            $field.is_some_and(|f| std::ptr::fn_addr_eq(f, $f))
        };
    }
    same!(t.createString, create_string as CreateStringFn)
        && same!(t.createArray, create_array as CreateArrayFn)
        && same!(t.createInteger, create_integer as CreateIntegerFn)
        && same!(t.createDouble, create_double as CreateDoubleFn)
        && same!(t.createNil, create_nil as CreateNilFn)
        && same!(t.createBool, create_bool as CreateBoolFn)
        && same!(t.freeObject, freeReplyObject as FreeObjectFn)
}

fn is_aggregate(ty: c_int) -> bool {
    matches!(
        ty,
        REDIS_REPLY_ARRAY | REDIS_REPLY_MAP | REDIS_REPLY_SET | REDIS_REPLY_ATTR | REDIS_REPLY_PUSH
    )
}

/// A reply of type `ty` with every other field zero (NULL when out of memory). From mallocFn
/// with the fields written, rather than callocFn: glibc's calloc bypasses its thread cache,
/// and the reply is 48 bytes that are all written anyway.
pub(crate) unsafe fn new_reply(ty: c_int) -> *mut redisReply {
    // SAFETY: a fresh block of the reply's size, fully initialised before use.
    unsafe {
        let r = hi_malloc(std::mem::size_of::<redisReply>()).cast::<redisReply>();
        if !r.is_null() {
            r.write(redisReply {
                type_: ty,
                integer: 0,
                dval: 0.0,
                len: 0,
                str_: std::ptr::null_mut(),
                vtype: [0; 4],
                elements: 0,
                element: std::ptr::null_mut(),
            });
        }
        r
    }
}

/// Links a new object into its parent aggregate at the task's index.
unsafe fn link(task: *const redisReadTask, r: *mut redisReply) -> *mut c_void {
    // SAFETY: task is the reader's live task; a parent's obj is an aggregate built by
    // create_array with room for `elements` children.
    unsafe {
        if let Some(parent_task) = (*task).parent.as_ref() {
            let parent = parent_task.obj.cast::<redisReply>();
            if let Some(parent) = parent.as_mut() {
                if is_aggregate(parent.type_) && ((*task).idx as usize) < parent.elements {
                    *parent.element.add((*task).idx as usize) = r;
                }
            }
        }
    }
    r.cast()
}

/// `create_string` without the C boundary's guard, for the reader's direct calls.
#[inline(always)]
pub(crate) unsafe fn build_string(
    task: *const redisReadTask,
    s: *mut c_char,
    n: usize,
) -> *mut c_void {
    // SAFETY: task is live; s holds n bytes.
    unsafe {
        let r = string_reply((*task).type_, std::slice::from_raw_parts(s.cast::<u8>(), n));
        if r.is_null() {
            return std::ptr::null_mut();
        }
        link(task, r)
    }
}

/// A string-like reply (string, status, error, verbatim, big number) holding a copy of
/// `text`; a verbatim string's first 4 bytes are its type and colon. Not linked to a parent.
#[inline(always)]
pub(crate) unsafe fn string_reply(ty: c_int, text: &[u8]) -> *mut redisReply {
    // SAFETY: fresh allocations, each checked.
    unsafe {
        let r = new_reply(ty);
        if r.is_null() {
            return r;
        }
        let text = if ty == REDIS_REPLY_VERB && text.len() >= 4 {
            for (v, &t) in (*r).vtype.iter_mut().zip(&text[..3]) {
                *v = t as c_char;
            }
            &text[4..]
        } else {
            text
        };
        let copy = hi_dup_bytes(text);
        if copy.is_null() {
            hi_free(r.cast());
            return std::ptr::null_mut();
        }
        (*r).str_ = copy;
        (*r).len = text.len();
        r
    }
}

/// A bulk string reply whose `n` bytes of text are still arriving: its buffer (n + 1 bytes)
/// holds `head` so far and `len` counts what it holds. `finish_string` ends it. NULL when out
/// of memory.
pub(crate) unsafe fn partial_string(n: usize, head: &[u8]) -> *mut redisReply {
    // SAFETY: fresh allocations, each checked; head.len() <= n.
    unsafe {
        let r = new_reply(REDIS_REPLY_STRING);
        if r.is_null() {
            return r;
        }
        let text = hi_malloc(n + 1).cast::<c_char>();
        if text.is_null() {
            hi_free(r.cast());
            return std::ptr::null_mut();
        }
        std::ptr::copy_nonoverlapping(head.as_ptr(), text.cast::<u8>(), head.len());
        (*r).str_ = text;
        (*r).len = head.len();
        r
    }
}

/// A `partial_string` whose text is all in, terminated and linked into its parent.
pub(crate) unsafe fn finish_string(task: *const redisReadTask, r: *mut redisReply) -> *mut c_void {
    // SAFETY: r is a partial string with len bytes of its n + 1 written, len == n.
    unsafe {
        *(*r).str_.add((*r).len) = 0;
        link(task, r)
    }
}

/// An integer reply, not linked to a parent.
#[inline(always)]
pub(crate) unsafe fn integer_reply(value: c_longlong) -> *mut redisReply {
    // SAFETY: a fresh allocation, checked.
    unsafe {
        let r = new_reply(REDIS_REPLY_INTEGER);
        if !r.is_null() {
            (*r).integer = value;
        }
        r
    }
}

unsafe extern "C" fn create_string(
    task: *const redisReadTask,
    s: *mut c_char,
    n: usize,
) -> *mut c_void {
    // SAFETY: passed on.
    guard(std::ptr::null_mut(), || unsafe { build_string(task, s, n) })
}

/// `create_array` without the C boundary's guard, for the reader's direct calls.
#[inline(always)]
pub(crate) unsafe fn build_array(task: *const redisReadTask, elements: usize) -> *mut c_void {
    // SAFETY: task is live.
    unsafe {
        let r = new_reply((*task).type_);
        if r.is_null() {
            return std::ptr::null_mut();
        }
        if elements > 0 {
            let element = hi_calloc(elements, std::mem::size_of::<*mut redisReply>());
            if element.is_null() {
                hi_free(r.cast());
                return std::ptr::null_mut();
            }
            (*r).element = element.cast();
        }
        (*r).elements = elements;
        link(task, r)
    }
}

unsafe extern "C" fn create_array(task: *const redisReadTask, elements: usize) -> *mut c_void {
    // SAFETY: passed on.
    guard(std::ptr::null_mut(), || unsafe {
        build_array(task, elements)
    })
}

/// `create_integer` without the C boundary's guard, for the reader's direct calls.
#[inline(always)]
pub(crate) unsafe fn build_integer(task: *const redisReadTask, value: c_longlong) -> *mut c_void {
    // SAFETY: task is live.
    unsafe {
        let r = integer_reply(value);
        if r.is_null() {
            return std::ptr::null_mut();
        }
        link(task, r)
    }
}

unsafe extern "C" fn create_integer(task: *const redisReadTask, value: c_longlong) -> *mut c_void {
    // SAFETY: passed on.
    guard(std::ptr::null_mut(), || unsafe {
        build_integer(task, value)
    })
}

/// `create_double` without the C boundary's guard, for the reader's direct calls.
#[inline(always)]
pub(crate) unsafe fn build_double(
    task: *const redisReadTask,
    value: f64,
    s: *mut c_char,
    n: usize,
) -> *mut c_void {
    // SAFETY: task is live; s holds n bytes.
    unsafe {
        let r = double_reply(value, std::slice::from_raw_parts(s.cast::<u8>(), n));
        if r.is_null() {
            return std::ptr::null_mut();
        }
        link(task, r)
    }
}

/// A double reply keeping its text, not linked to a parent.
#[inline(always)]
pub(crate) unsafe fn double_reply(value: f64, text: &[u8]) -> *mut redisReply {
    // SAFETY: fresh allocations, each checked.
    unsafe {
        let r = new_reply(REDIS_REPLY_DOUBLE);
        if r.is_null() {
            return r;
        }
        let copy = hi_dup_bytes(text);
        if copy.is_null() {
            hi_free(r.cast());
            return std::ptr::null_mut();
        }
        (*r).dval = value;
        (*r).str_ = copy;
        (*r).len = text.len();
        r
    }
}

unsafe extern "C" fn create_double(
    task: *const redisReadTask,
    value: f64,
    s: *mut c_char,
    n: usize,
) -> *mut c_void {
    // SAFETY: passed on.
    guard(std::ptr::null_mut(), || unsafe {
        build_double(task, value, s, n)
    })
}

/// `create_nil` without the C boundary's guard, for the reader's direct calls.
#[inline(always)]
pub(crate) unsafe fn build_nil(task: *const redisReadTask) -> *mut c_void {
    // SAFETY: task is live.
    unsafe {
        let r = new_reply(REDIS_REPLY_NIL);
        if r.is_null() {
            return std::ptr::null_mut();
        }
        link(task, r)
    }
}

unsafe extern "C" fn create_nil(task: *const redisReadTask) -> *mut c_void {
    // SAFETY: passed on.
    guard(std::ptr::null_mut(), || unsafe { build_nil(task) })
}

/// `create_bool` without the C boundary's guard, for the reader's direct calls.
#[inline(always)]
pub(crate) unsafe fn build_bool(task: *const redisReadTask, value: c_int) -> *mut c_void {
    // SAFETY: task is live.
    unsafe {
        let r = bool_reply(value != 0);
        if r.is_null() {
            return std::ptr::null_mut();
        }
        link(task, r)
    }
}

/// A boolean reply, not linked to a parent.
#[inline(always)]
pub(crate) unsafe fn bool_reply(value: bool) -> *mut redisReply {
    // SAFETY: a fresh allocation, checked.
    unsafe {
        let r = new_reply(REDIS_REPLY_BOOL);
        if !r.is_null() {
            (*r).integer = value as c_longlong;
        }
        r
    }
}

unsafe extern "C" fn create_bool(task: *const redisReadTask, value: c_int) -> *mut c_void {
    // SAFETY: passed on.
    guard(std::ptr::null_mut(), || unsafe { build_bool(task, value) })
}

/// Frees a reply built by the default functions, with its strings and elements. NULL is
/// ignored. Iterative, so that deeply nested replies cannot exhaust the stack, and without a
/// heap allocation of its own unless nesting is deeper than `FREE_DEPTH`.
#[no_mangle]
pub unsafe extern "C" fn freeReplyObject(reply: *mut c_void) {
    // SAFETY: reply is NULL or a live tree of the default builders, owned by the caller.
    guard((), || unsafe { free_tree(reply.cast()) })
}

/// Aggregates whose elements are being freed, kept on the stack up to this depth.
const FREE_DEPTH: usize = 32;

/// The aggregates a `free_tree` is inside, with the index of the next element to free in each.
/// The first `len` entries of `near` are set (it is not zeroed: most trees free without it).
struct Ancestors {
    near: [MaybeUninit<(*mut redisReply, usize)>; FREE_DEPTH],
    len: usize,
    far: Vec<(*mut redisReply, usize)>,
}

impl Ancestors {
    fn push(&mut self, r: *mut redisReply, next: usize) {
        if self.len < FREE_DEPTH {
            self.near[self.len].write((r, next));
            self.len += 1;
        } else {
            self.far.push((r, next));
        }
    }

    fn pop(&mut self) -> Option<(*mut redisReply, usize)> {
        if let Some(top) = self.far.pop() {
            return Some(top);
        }
        self.len = self.len.checked_sub(1)?;
        // SAFETY: entries below the old len were written by push.
        Some(unsafe { self.near[self.len].assume_init() })
    }
}

/// Whether `r` is an aggregate with elements to free first.
unsafe fn has_elements(r: *const redisReply) -> bool {
    // SAFETY: r is a live reply.
    unsafe { is_aggregate((*r).type_) && (*r).elements > 0 && !(*r).element.is_null() }
}

/// Frees one reply whose elements, if any, are already freed.
unsafe fn free_node(r: *mut redisReply) {
    // SAFETY: r is a live reply of the default builders.
    unsafe {
        match (*r).type_ {
            REDIS_REPLY_INTEGER | REDIS_REPLY_NIL | REDIS_REPLY_BOOL => {}
            ty if is_aggregate(ty) => hi_free((*r).element.cast()),
            _ => hi_free((*r).str_.cast()),
        }
        hi_free(r.cast());
    }
}

/// Frees a tree depth first: the leaves of an aggregate in one loop, descending into (and
/// coming back from) nested aggregates through `Ancestors`.
unsafe fn free_tree(root: *mut redisReply) {
    // SAFETY: every pointer reached is a live reply of the tree, freed once, after its
    // elements.
    unsafe {
        if root.is_null() {
            return;
        }
        if !has_elements(root) {
            free_node(root);
            return;
        }
        let mut ancestors = Ancestors {
            near: [const { MaybeUninit::uninit() }; FREE_DEPTH],
            len: 0,
            far: Vec::new(),
        };
        let (mut parent, mut i) = (root, 0);
        'tree: loop {
            let (count, element) = ((*parent).elements, (*parent).element);
            while i < count {
                let child = *element.add(i);
                i += 1;
                if child.is_null() {
                    continue;
                }
                if has_elements(child) {
                    ancestors.push(parent, i);
                    (parent, i) = (child, 0);
                    continue 'tree;
                }
                free_node(child);
            }
            free_node(parent);
            match ancestors.pop() {
                Some(up) => (parent, i) = up,
                None => return,
            }
        }
    }
}
