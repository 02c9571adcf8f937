package redcore

// Go values the library calls back with (a credential provider, a subscriber's feed, a
// transaction's function) cross as userdata that is a C allocation of one byte, never a Go
// pointer and never a small integer: Go's stack copier aborts the process ("invalid pointer
// found on stack") when it meets a pointer-typed value below 4096 in a live frame, which is
// what a cgo.Handle number held as a void * is. The byte's address keys the Go value. Every
// handle given to the library is deleted exactly once, by the release function the library
// calls when it lets go of it; the count of live handles lets the tests prove none leaks.

// #include <stdlib.h>
import "C"

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

var (
	liveHandles int64
	handleMap   sync.Map // uintptr (the C byte's address) -> the Go value
)

// newHandle makes a handle for v, as the library's userdata.
func newHandle(v any) unsafe.Pointer {
	p := C.malloc(1) // cgo's malloc never returns nil: it aborts when memory runs out
	handleMap.Store(uintptr(p), v)
	atomic.AddInt64(&liveHandles, 1)
	return p
}

// handleValue is the value behind a userdata made by newHandle.
func handleValue(userdata unsafe.Pointer) any {
	v, ok := handleMap.Load(uintptr(userdata))
	if !ok {
		panic("redcore: a userdata that is not a live handle")
	}
	return v
}

// releaseHandle deletes a userdata's handle (the library calls it once per handle).
func releaseHandle(userdata unsafe.Pointer) {
	if _, ok := handleMap.LoadAndDelete(uintptr(userdata)); !ok {
		panic("redcore: a handle released twice")
	}
	C.free(userdata)
	atomic.AddInt64(&liveHandles, -1)
}
