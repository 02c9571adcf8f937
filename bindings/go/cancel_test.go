package redcore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"redcore"
)

// waitBlocked waits (bounded) until the server counts n blocked clients.
func waitBlocked(t *testing.T, c *redcore.Client, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for blockedClients(t, c) != n {
		if time.Now().After(deadline) {
			t.Fatalf("the server never counted %d blocked clients (%d)", n, blockedClients(t, c))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCancelledBlockingCommands: blocking commands given up by their contexts are cancelled
// in the library. Before, 20 cancelled BLPOP k 0 held the dedicated connections until the
// server answered them (the next blocking command found none), and an element pushed later
// was popped for nobody.
func TestCancelledBlockingCommands(t *testing.T) {
	c := open(t, redcore.WithMaxDedicatedConnections(4))
	k := key(t, "list")
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Do(ctx, "BLPOP", k, 0)
			errs <- err
		}()
	}
	waitBlocked(t, c, 4) // four on the server, sixteen waiting for a connection
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != context.Canceled {
			t.Fatalf("a cancelled BLPOP returned %v", err)
		}
	}
	waitBlocked(t, c, 0)
	mustDo(t, c, "RPUSH", k, "kept")
	time.Sleep(50 * time.Millisecond)
	if n, err := c.Do(context.Background(), "LLEN", k); err != nil || func() bool { v, _ := n.Int64(); return v != 1 }() {
		t.Fatalf("LLEN after the cancelled BLPOPs: %v, %v (an element popped for nobody)", n, err)
	}
	// All four connections serve blocking commands again, at once.
	short, cancelShort := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancelShort()
	results := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			r, err := c.Do(short, "BLPOP", k, 1)
			if err == nil && r.IsNil() {
				err = errors.New("nil")
			}
			results <- err
		}()
	}
	mustDo(t, c, "RPUSH", k, "a", "b", "c")
	var popped, timedOut int
	for i := 0; i < 4; i++ {
		switch err := <-results; {
		case err == nil:
			popped++
		case err.Error() == "nil":
			timedOut++
		default:
			t.Fatalf("a BLPOP after the cancellations: %v", err)
		}
	}
	if popped != 4 || timedOut != 0 {
		// Four elements (kept, a, b, c) for four BLPOPs.
		t.Fatalf("popped %d, timed out %d", popped, timedOut)
	}
}

// A deadline passing works the same way (context.DeadlineExceeded, reported as a timeout).
func TestBlockingCommandPastItsDeadline(t *testing.T) {
	c := open(t, redcore.WithMaxDedicatedConnections(1))
	k := key(t, "list")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Do(ctx, "BLPOP", k, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("BLPOP past its deadline: %v", err)
	}
	waitBlocked(t, c, 0)
	mustDo(t, c, "RPUSH", k, "kept")
	r, err := c.Do(context.Background(), "BLPOP", k, 1)
	if err != nil || r.IsNil() {
		t.Fatalf("the one dedicated connection after the timeout: %v, %v", r, err)
	}
}
