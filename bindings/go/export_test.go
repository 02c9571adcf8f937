package redcore

// Internals the tests look at.

import "sync/atomic"

// LiveHandles is the number of handles (handles.go) the library holds.
func LiveHandles() int64 { return atomic.LoadInt64(&liveHandles) }

var (
	CrossToC         = crossToC
	CrossFromCThread = crossFromCThread
)
