package redcore

// A feed carries what a library thread of its own produces (a subscriber's messages, a
// monitor's commands) to a Go channel. The library calls into Go once per item, on that
// thread, and the call waits while the channel is full: the items behind it then wait in
// the library's bounded queue, whose overflow policy (drop the oldest and count them, or
// stop) applies as documented in C, so a slow reader never grows memory without bound.
// Closing the wrapper releases a waiting call at once.
//
// The library's handle reaches the feed only, so that a forgotten wrapper can be finalized.
// But a reader may hold nothing but the channel (a function that returns ps.Channel()): once
// the channel is handed out, the feed keeps its wrapper (reachable from the handle) until
// the feed ends, so that the finalizer does not stop what is being read.

import (
	"context"
	"sync"
)

type feed[T any] struct {
	ch   chan T
	stop chan struct{} // closed by the wrapper's Close: a waiting delivery gives up

	stopOnce, endOnce sync.Once
	mu                sync.Mutex
	err               error // why ch was closed
	ended             bool
	owner             any // the wrapper, once its channel was handed out, until the end
}

func newFeed[T any](size int) *feed[T] {
	return &feed[T]{ch: make(chan T, size), stop: make(chan struct{})}
}

// deliver hands v to the reader, waiting for room; false once the feed is stopping. Runs
// on the library's thread, never after end.
func (f *feed[T]) deliver(v T) bool {
	select {
	case f.ch <- v:
		return true
	case <-f.stop:
		return false
	}
}

// halt makes waiting and later deliveries give up (the wrapper is closing).
func (f *feed[T]) halt() {
	f.stopOnce.Do(func() { close(f.stop) })
}

// end closes the channel with the reason, once: after the library's last delivery (its
// "closed" event), or after the wrapper freed the C side (no delivery can come then).
func (f *feed[T]) end(err error) {
	f.endOnce.Do(func() {
		f.mu.Lock()
		f.err = err
		f.ended = true
		f.owner = nil
		f.mu.Unlock()
		close(f.ch)
	})
}

// channel hands the channel out, keeping owner alive as long as the feed runs.
func (f *feed[T]) channel(owner any) <-chan T {
	f.mu.Lock()
	if !f.ended {
		f.owner = owner
	}
	f.mu.Unlock()
	return f.ch
}

// reason is why the channel was closed; nil while it is open.
func (f *feed[T]) reason() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// receive takes the next item, waiting until one comes, the feed ends (its reason) or ctx
// ends.
func (f *feed[T]) receive(ctx context.Context) (T, error) {
	var zero T
	select {
	case v, ok := <-f.ch:
		if !ok {
			return zero, f.reason()
		}
		return v, nil
	case <-ctx.Done():
		return zero, contextError(ctx)
	}
}

// withContext runs a blocking C call that has no user code in it. When ctx can end, the
// call runs on a goroutine of its own and the caller returns as soon as ctx ends; the call
// then finishes in the background (within the command timeout) and its result is dropped.
func withContext[T any](ctx context.Context, call func() (T, error)) (T, error) {
	var zero T
	if ctx.Err() != nil {
		return zero, contextError(ctx)
	}
	if ctx.Done() == nil {
		return call()
	}
	type outcome struct {
		v   T
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		v, err := call()
		done <- outcome{v, err}
	}()
	select {
	case o := <-done:
		return o.v, o.err
	case <-ctx.Done():
		return zero, contextError(ctx)
	}
}
