//! `redisReply`, the reply objects of the default reader functions: the builders the reader
//! calls (`DEFAULT_FUNCTIONS`) and `freeReplyObject`. Replies and their strings come from the
//! installed allocator.

use std::os::raw::{c_char, c_int, c_longlong, c_void};

use super::alloc::{hi_calloc, hi_calloc_one, hi_dup_bytes, hi_free};
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

fn is_aggregate(ty: c_int) -> bool {
    matches!(
        ty,
        REDIS_REPLY_ARRAY | REDIS_REPLY_MAP | REDIS_REPLY_SET | REDIS_REPLY_ATTR | REDIS_REPLY_PUSH
    )
}

/// A zeroed reply of type `ty` (NULL when out of memory).
unsafe fn new_reply(ty: c_int) -> *mut redisReply {
    // SAFETY: a fresh zeroed block; zero is valid for every field.
    unsafe {
        let r = hi_calloc_one::<redisReply>();
        if let Some(r) = r.as_mut() {
            r.type_ = ty;
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

unsafe extern "C" fn create_string(
    task: *const redisReadTask,
    s: *mut c_char,
    n: usize,
) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        // SAFETY: task is live; s holds n bytes.
        unsafe {
            let ty = (*task).type_;
            let r = new_reply(ty);
            if r.is_null() {
                return std::ptr::null_mut();
            }
            let text = std::slice::from_raw_parts(s.cast::<u8>(), n);
            let text = if ty == REDIS_REPLY_VERB && n >= 4 {
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
            link(task, r)
        }
    })
}

unsafe extern "C" fn create_array(task: *const redisReadTask, elements: usize) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
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
    })
}

unsafe extern "C" fn create_integer(task: *const redisReadTask, value: c_longlong) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        // SAFETY: task is live.
        unsafe {
            let r = new_reply(REDIS_REPLY_INTEGER);
            if r.is_null() {
                return std::ptr::null_mut();
            }
            (*r).integer = value;
            link(task, r)
        }
    })
}

unsafe extern "C" fn create_double(
    task: *const redisReadTask,
    value: f64,
    s: *mut c_char,
    n: usize,
) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        // SAFETY: task is live; s holds n bytes.
        unsafe {
            let r = new_reply(REDIS_REPLY_DOUBLE);
            if r.is_null() {
                return std::ptr::null_mut();
            }
            let copy = hi_dup_bytes(std::slice::from_raw_parts(s.cast::<u8>(), n));
            if copy.is_null() {
                hi_free(r.cast());
                return std::ptr::null_mut();
            }
            (*r).dval = value;
            (*r).str_ = copy;
            (*r).len = n;
            link(task, r)
        }
    })
}

unsafe extern "C" fn create_nil(task: *const redisReadTask) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        // SAFETY: task is live.
        unsafe {
            let r = new_reply(REDIS_REPLY_NIL);
            if r.is_null() {
                return std::ptr::null_mut();
            }
            link(task, r)
        }
    })
}

unsafe extern "C" fn create_bool(task: *const redisReadTask, value: c_int) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        // SAFETY: task is live.
        unsafe {
            let r = new_reply(REDIS_REPLY_BOOL);
            if r.is_null() {
                return std::ptr::null_mut();
            }
            (*r).integer = (value != 0) as c_longlong;
            link(task, r)
        }
    })
}

/// Frees a reply built by the default functions, with its strings and elements. NULL is
/// ignored. Iterative, so that deeply nested replies cannot exhaust the stack.
#[no_mangle]
pub unsafe extern "C" fn freeReplyObject(reply: *mut c_void) {
    guard((), || {
        let mut stack = vec![reply.cast::<redisReply>()];
        while let Some(r) = stack.pop() {
            // SAFETY: r is NULL or a live reply owned by the tree being freed.
            unsafe {
                let Some(rr) = r.as_mut() else { continue };
                match rr.type_ {
                    REDIS_REPLY_INTEGER | REDIS_REPLY_NIL | REDIS_REPLY_BOOL => {}
                    ty if is_aggregate(ty) => {
                        if !rr.element.is_null() {
                            for i in 0..rr.elements {
                                stack.push(*rr.element.add(i));
                            }
                            hi_free(rr.element.cast());
                        }
                    }
                    _ => hi_free(rr.str_.cast()),
                }
                hi_free(r.cast());
            }
        }
    })
}
