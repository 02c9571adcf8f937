package redcore_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"redcore"
)

func newLock(t *testing.T, c *redcore.Client, name string, opts redcore.LockOptions) *redcore.Lock {
	t.Helper()
	l, err := c.NewLock(name, opts)
	if err != nil {
		t.Fatalf("NewLock(%q): %v", name, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLockExcludesAndFences(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	name := key(t, "lock")
	a := newLock(t, c, name, redcore.LockOptions{TTL: 10 * time.Second, RetryInterval: 10 * time.Millisecond})
	b := newLock(t, c, name, redcore.LockOptions{TTL: 10 * time.Second, RetryInterval: 10 * time.Millisecond})

	fenceA, err := a.Acquire(ctx)
	if err != nil || fenceA == 0 || a.Fence() != fenceA {
		t.Fatalf("Acquire: fence %d (Fence() %d), %v", fenceA, a.Fence(), err)
	}
	if ok, _, err := b.TryAcquire(ctx); ok || err != nil {
		t.Fatalf("a second holder got a held lock: %v, %v", ok, err)
	}
	if locked, _ := b.Locked(ctx); !locked {
		t.Error("Locked: false while held")
	}
	if owned, _ := b.Owned(ctx); owned {
		t.Error("Owned: true for the one that does not hold it")
	}
	// Acquire waits until its context ends.
	wait, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := b.Acquire(wait); !errors.Is(err, redcore.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire of a held lock until a deadline: %v", err)
	}
	if err := a.Extend(ctx, time.Second, false); err != nil {
		t.Errorf("Extend: %v", err)
	}
	if err := a.Reacquire(ctx); err != nil {
		t.Errorf("Reacquire: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	fenceB, err := b.Acquire(ctx)
	if err != nil || fenceB <= fenceA {
		t.Fatalf("fencing tokens must grow: %d then %d, %v", fenceA, fenceB, err)
	}
	if a.FenceKey() == "" {
		t.Error("no fence key")
	}
	if err := a.Release(ctx); !errors.Is(err, redcore.ErrLock) {
		t.Errorf("Release of a lock not held: %v", err)
	}
}

func TestLockExpiresAndAutoExtends(t *testing.T) {
	c := open(t)
	ctx := context.Background()

	short := newLock(t, c, key(t, "short"), redcore.LockOptions{TTL: 100 * time.Millisecond})
	if _, err := short.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for locked, _ := short.Locked(ctx); locked && time.Now().Before(deadline); locked, _ = short.Locked(ctx) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := short.Release(ctx); !errors.Is(err, redcore.ErrLockNotOwned) || !errors.Is(err, redcore.ErrLock) {
		t.Fatalf("Release after the TTL ran out: %v", err)
	}

	lost := make(chan error, 1)
	name := key(t, "kept")
	kept := newLock(t, c, name, redcore.LockOptions{
		TTL: 300 * time.Millisecond, AutoExtend: true,
		OnLost: func(err error) { lost <- err },
	})
	if _, err := kept.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // three TTLs: only extension keeps it
	if owned, err := kept.Owned(ctx); !owned || err != nil {
		t.Fatalf("an auto-extended lock was lost: %v, %v", owned, err)
	}
	mustDo(t, c, "DEL", name) // taken away behind its back
	select {
	case err := <-lost:
		if !errors.Is(err, redcore.ErrLockNotOwned) {
			t.Errorf("OnLost: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnLost was not called after the key was deleted")
	}
}

// 8 goroutines x 50 acquisitions of one lock, each holder incrementing a counter with a
// read and a write: the total is exact only if no two held the lock at once.
func TestLockMutualExclusion(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	name, counter := key(t, "lock"), key(t, "counter")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := c.NewLock(name, redcore.LockOptions{TTL: 10 * time.Second, RetryInterval: time.Millisecond})
			if err != nil {
				t.Error(err)
				return
			}
			defer l.Close()
			for i := 0; i < 50; i++ {
				if _, err := l.Acquire(ctx); err != nil {
					t.Error(err)
					return
				}
				v, _ := c.Get(ctx, counter)
				n, _ := strconv.Atoi(v)
				if err := c.Set(ctx, counter, n+1); err != nil {
					t.Error(err)
				}
				if err := l.Release(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if v, _ := c.Get(ctx, counter); v != "400" {
		t.Fatalf("counter %s, want 400", v)
	}
}

func TestClosingTheClientClosesItsLocks(t *testing.T) {
	handles := redcore.LiveHandles()
	c, err := redcore.Open(server.url())
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.NewLock(key(t, "lock"), redcore.LockOptions{TTL: time.Second, AutoExtend: true, OnLost: func(error) {}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, _, err := l.TryAcquire(context.Background()); !errors.Is(err, redcore.ErrClosed) {
		t.Errorf("a lock of a closed client: %v", err)
	}
	l.Close()
	if n := redcore.LiveHandles(); n != handles {
		t.Errorf("%d handles live after Close, %d before", n, handles)
	}
}

// A forgotten auto-extending Lock is finalized while its client stays open: the extension
// stops and its key expires, as redis-py's forgotten lock does. (The engine's record of
// open locks used to hold the Lock itself, so its finalizer never ran and the key was
// extended until the client closed.)
func TestForgottenLockIsFinalized(t *testing.T) {
	c := open(t)
	ctx := waitCtx(t)
	name := key(t, "forgotten")
	forget := func() {
		l, err := c.NewLock(name, redcore.LockOptions{TTL: 300 * time.Millisecond, AutoExtend: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	forget()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		n, err := c.Do(ctx, "EXISTS", name)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := n.Int64(); v == 0 {
			break
		}
		if time.Now().After(deadline) {
			pttl, _ := c.Do(ctx, "PTTL", name)
			t.Fatalf("the key of a forgotten auto-extending Lock (TTL 300 ms) still exists after 5 s (PTTL %v): never finalized", pttl)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
