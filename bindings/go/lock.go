package redcore

// Distributed locks (the library's redcore_lock: redis-py's Lock semantics, fencing tokens,
// auto-extension). Each operation is one round trip made by a blocking call; Acquire's
// waiting between attempts happens here, in Go, so that a context ends it at once.

// #include <stdlib.h>
// #include <redcore.h>
// extern void redcoreGoLockLost(void *userdata, redcore_error *err);
// extern void redcoreGoRelease(void *userdata);
import "C"

import (
	"context"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// LockOptions are a lock's settings.
type LockOptions struct {
	// TTL is the longest the lock is held without being extended; 0 holds it until
	// released (a holder that dies then keeps it forever).
	TTL time.Duration
	// RetryInterval is the wait between attempts of Acquire (default 100 ms).
	RetryInterval time.Duration
	// AutoExtend resets the TTL every third of it while the lock is held, until Release or
	// Close (needs a TTL).
	AutoExtend bool
	// OnLost, with AutoExtend, is told when the lock was lost anyway: ErrLockNotOwned when
	// the key was deleted or taken over, or the error that kept extensions from working
	// until the TTL could have run out. It runs on a library thread and must not block.
	// The library keeps it until the Lock is closed: a function that refers to its Lock
	// keeps a forgotten one from being finalized.
	OnLost func(error)
}

// Lock is a distributed lock on one key, shared by every client of the server. One Lock is
// one holder: give each goroutine that competes for the key its own Lock (or guard one with
// a mutex). Close it when done (a finalizer closes a forgotten one, which stops its
// auto-extension, so that its key expires); closing the Client closes its locks.
type Lock struct {
	c     *Client
	core  *lockCore
	retry time.Duration
}

// lockCore is what closing a Lock needs. The engine keeps the cores of open locks, never
// the Locks, so that a forgotten Lock is still unreachable and finalized.
type lockCore struct {
	mu sync.Mutex
	l  *C.redcore_lock // nil once freed
}

// NewLock makes a lock on the key name through c. No command is sent.
func (c *Client) NewLock(name string, opts LockOptions) (*Lock, error) {
	defer runtime.KeepAlive(c)
	var copts *C.redcore_lock_options
	if code := C.redcore_lock_options_new(&copts); code != C.REDCORE_OK {
		return nil, takeError(code, nil)
	}
	defer C.redcore_lock_options_free(copts)
	C.redcore_lock_options_set_timeout_ms(copts, millis(opts.TTL))
	C.redcore_lock_options_set_blocking(copts, false, 0) // Go waits between attempts
	if opts.AutoExtend {
		var lost C.redcore_lock_lost_callback
		var userdata unsafe.Pointer
		var release C.redcore_userdata_free
		if opts.OnLost != nil {
			lost = C.redcore_lock_lost_callback(C.redcoreGoLockLost)
			userdata = newHandle(opts.OnLost)
			release = C.redcore_userdata_free(C.redcoreGoRelease)
		}
		var cerr *C.redcore_error
		// The library keeps the handle as long as these options or the lock live.
		if code := C.redcore_lock_options_set_auto_extend(copts, 33, lost, userdata, release, &cerr); code != C.REDCORE_OK {
			return nil, takeError(code, cerr)
		}
	}
	l := &Lock{c: c, core: &lockCore{}, retry: opts.RetryInterval}
	if l.retry <= 0 {
		l.retry = 100 * time.Millisecond
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	if err := c.e.newLock(l.core, cname, C.size_t(len(name)), copts); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(l, func(l *Lock) { l.Close() })
	return l, nil
}

// Acquire takes the lock, trying every RetryInterval until it gets it or ctx ends (then an
// ErrTimeout error for a deadline, context.Canceled for a cancel). Returns the fencing
// token: a number greater than any earlier holder's of this name, to pass to what the lock
// guards so it can refuse a late writer.
func (l *Lock) Acquire(ctx context.Context) (fence uint64, err error) {
	for {
		ok, fence, err := l.TryAcquire(ctx)
		if err != nil || ok {
			return fence, err
		}
		timer := time.NewTimer(l.retry)
		select {
		case <-ctx.Done():
			timer.Stop()
			return 0, contextError(ctx)
		case <-timer.C:
		}
	}
}

// TryAcquire makes one attempt: whether it got the lock, and the fencing token if so.
func (l *Lock) TryAcquire(ctx context.Context) (acquired bool, fence uint64, err error) {
	var ok C.bool
	var f C.uint64_t
	err = l.op(ctx, func(lock *C.redcore_lock, cerr **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_lock_acquire_blocking(lock, nil, 0, &ok, &f, cerr)
	})
	return bool(ok), uint64(f), err
}

// Release gives the lock up. ErrLockNotOwned when it had expired or been taken over; ErrLock
// when this Lock held nothing.
func (l *Lock) Release(ctx context.Context) error {
	return l.op(ctx, func(lock *C.redcore_lock, cerr **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_lock_release_blocking(lock, cerr)
	})
}

// Extend adds d to the lock's remaining TTL (or, with replace, makes d the TTL).
func (l *Lock) Extend(ctx context.Context, d time.Duration, replace bool) error {
	return l.op(ctx, func(lock *C.redcore_lock, cerr **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_lock_extend_blocking(lock, millis(d), C.bool(replace), cerr)
	})
}

// Reacquire resets the lock's TTL to its full length.
func (l *Lock) Reacquire(ctx context.Context) error {
	return l.op(ctx, func(lock *C.redcore_lock, cerr **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_lock_reacquire_blocking(lock, cerr)
	})
}

// Locked reports whether anyone holds the lock.
func (l *Lock) Locked(ctx context.Context) (bool, error) {
	var b C.bool
	err := l.op(ctx, func(lock *C.redcore_lock, cerr **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_lock_locked_blocking(lock, &b, cerr)
	})
	return bool(b), err
}

// Owned reports whether this Lock holds the lock.
func (l *Lock) Owned(ctx context.Context) (bool, error) {
	var b C.bool
	err := l.op(ctx, func(lock *C.redcore_lock, cerr **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_lock_owned_blocking(lock, &b, cerr)
	})
	return bool(b), err
}

// Fence is the fencing token of the current holding; 0 when this Lock holds nothing.
func (l *Lock) Fence() uint64 {
	l.core.mu.Lock()
	defer l.core.mu.Unlock()
	return uint64(C.redcore_lock_fence(l.core.l))
}

// FenceKey is the key of the lock's fencing counter (in the lock key's cluster slot).
func (l *Lock) FenceKey() string {
	l.core.mu.Lock()
	defer l.core.mu.Unlock()
	var key *C.char
	var n C.size_t
	if C.redcore_lock_fence_key(l.core.l, &key, &n) != C.REDCORE_OK {
		return ""
	}
	return goString(key, n)
}

// Close frees the lock: stops its auto-extension. It does not release a held lock (its key
// stays until its TTL runs out). Safe to call more than once.
func (l *Lock) Close() error {
	l.c.e.freeLock(l.core)
	runtime.SetFinalizer(l, nil)
	return nil
}

// op runs one blocking lock call, while the lock and its client are open.
func (l *Lock) op(ctx context.Context, call func(*C.redcore_lock, **C.redcore_error) C.enum_redcore_error_code) error {
	defer runtime.KeepAlive(l)
	if ctx.Err() != nil {
		return contextError(ctx)
	}
	// The client's lock before the lock's: close frees locks while holding the former.
	e := l.c.e
	e.use.RLock()
	defer e.use.RUnlock()
	l.core.mu.Lock()
	defer l.core.mu.Unlock()
	if l.core.l == nil || e.client == nil {
		return closedError()
	}
	var cerr *C.redcore_error
	return check(call(l.core.l, &cerr), cerr)
}

// newLock makes the C lock and records it, so that close frees it before the client.
func (e *engine) newLock(l *lockCore, name *C.char, n C.size_t, opts *C.redcore_lock_options) error {
	e.use.RLock()
	defer e.use.RUnlock()
	if e.client == nil {
		return closedError()
	}
	var cerr *C.redcore_error
	if code := C.redcore_lock_new(e.client, name, n, opts, &l.l, &cerr); code != C.REDCORE_OK {
		return takeError(code, cerr)
	}
	e.locksMu.Lock()
	if e.locks == nil {
		e.locks = map[*lockCore]struct{}{}
	}
	e.locks[l] = struct{}{}
	e.locksMu.Unlock()
	return nil
}

// freeLock frees a lock's C side once.
func (e *engine) freeLock(l *lockCore) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.l == nil {
		return
	}
	C.redcore_lock_free(l.l)
	l.l = nil
	e.locksMu.Lock()
	delete(e.locks, l)
	e.locksMu.Unlock()
}

// closeLocks frees every lock still open (the C API wants them freed before their client).
// close calls it holding e.use, so no lock is being made or used meanwhile.
func (e *engine) closeLocks() {
	e.locksMu.Lock()
	open := make([]*lockCore, 0, len(e.locks))
	for l := range e.locks {
		open = append(open, l)
	}
	e.locksMu.Unlock()
	for _, l := range open {
		e.freeLock(l)
	}
}
