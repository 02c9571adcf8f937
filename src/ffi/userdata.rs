//! A caller's `userdata` pointer kept by the library for a callback that may run on any
//! library thread, with the optional function that frees it when the last holder (a config,
//! its clones, the clients made from them) lets go.

use std::os::raw::c_void;

/// The function that releases a `userdata` the library kept. Called once, on whichever thread
/// drops the last holder.
pub type redcore_userdata_free = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// A C pointer the caller promised is usable from any thread (the callback's contract).
pub(crate) struct Userdata {
    ptr: *mut c_void,
    free: redcore_userdata_free,
}

// SAFETY: the documented contract of every function taking such a userdata: the callback may
// run on any library thread, so the caller's data must be safe to use from there.
unsafe impl Send for Userdata {}
// SAFETY: as above; the library never touches the pointee itself.
unsafe impl Sync for Userdata {}

impl Userdata {
    pub(crate) fn new(ptr: *mut c_void, free: redcore_userdata_free) -> Userdata {
        Userdata { ptr, free }
    }

    /// The pointer, for the callback.
    pub(crate) fn get(&self) -> *mut c_void {
        self.ptr
    }
}

impl Drop for Userdata {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            let ptr = self.ptr;
            // SAFETY: the caller gave this function to release this pointer, once.
            let _ = std::panic::catch_unwind(|| unsafe { free(ptr) });
        }
    }
}
