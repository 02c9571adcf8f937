package redcore

// Go values the library calls back with (a credential provider) cross as cgo.Handle
// integers, never as Go pointers. Every handle given to the library is deleted exactly once,
// by the release function the library calls when it lets go of it; the count of live
// handles lets the tests prove none leaks.

// #include <stdint.h>
// #include <redcore.h>
// extern bool redcoreGoCredentials(void *userdata, redcore_credentials *out);
// extern void redcoreGoRelease(void *userdata);
// static inline void *redcore_go_handle(uintptr_t h) { return (void *)h; }
import "C"

import (
	"runtime/cgo"
	"sync/atomic"
	"unsafe"
)

var liveHandles int64

// newHandle makes a handle for v, as the library's userdata.
func newHandle(v any) unsafe.Pointer {
	atomic.AddInt64(&liveHandles, 1)
	return C.redcore_go_handle(C.uintptr_t(cgo.NewHandle(v)))
}

// handleValue is the value behind a userdata made by newHandle.
func handleValue(userdata unsafe.Pointer) any {
	return cgo.Handle(uintptr(userdata)).Value()
}

// releaseHandle deletes a userdata's handle (the library calls it once per handle).
func releaseHandle(userdata unsafe.Pointer) {
	cgo.Handle(uintptr(userdata)).Delete()
	atomic.AddInt64(&liveHandles, -1)
}
