package redcore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"redcore"
)

// counterValue is a counter as GET read it: a missing key counts 0.
func counterValue(r redcore.Reply, err error) (int64, error) {
	if err != nil || r.IsNil() {
		return 0, err
	}
	return r.Int64()
}

// incrementBy reads k and queues SET k to its value + 1, the classic read-modify-write.
func incrementBy(ctx context.Context, k string, between func(tx *redcore.TxAttempt)) func(tx *redcore.TxAttempt) error {
	return func(tx *redcore.TxAttempt) error {
		n, err := counterValue(tx.Do(ctx, "GET", k))
		if err != nil {
			return err
		}
		if between != nil {
			between(tx)
		}
		tx.Queue("SET", k, n+1)
		tx.Queue("GET", k)
		return nil
	}
}

// Another client writes the watched key during the first attempt: EXEC finds it changed,
// the helper starts again, and the second attempt wins.
func TestTransactionRetriesAfterWatchedKeyChanged(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	other := open(t)
	k := key(t, "counter")
	if err := c.Set(ctx, k, 10); err != nil {
		t.Fatal(err)
	}
	var attempts []int
	results, err := c.Transaction(ctx, incrementBy(ctx, k, func(tx *redcore.TxAttempt) {
		attempts = append(attempts, tx.Attempt())
		if tx.Attempt() == 1 {
			if err := other.Set(ctx, k, 100); err != nil {
				t.Error(err)
			}
		}
	}), 5, k)
	if err != nil {
		t.Fatal(err)
	}
	if len(attempts) != 2 || attempts[0] != 1 || attempts[1] != 2 {
		t.Fatalf("attempts: %v", attempts)
	}
	if len(results) != 2 {
		t.Fatalf("%d results for 2 queued commands", len(results))
	}
	if v, _ := results[1].Reply.Text(); v != "101" {
		t.Fatalf("EXEC's GET: %v", results[1])
	}

	// A writer in every attempt: the attempts run out.
	_, err = c.Transaction(ctx, incrementBy(ctx, k, func(tx *redcore.TxAttempt) {
		if _, err := other.Incr(ctx, k); err != nil {
			t.Error(err)
		}
	}), 3, k)
	if !errors.Is(err, redcore.ErrWatch) {
		t.Fatalf("after 3 lost races: %v", err)
	}
}

// Concurrent read-modify-write through the helper loses no increment.
func TestTransactionConcurrentIncrements(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	k := key(t, "counter")
	if _, err := c.Del(ctx, k); err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 8, 25
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := c.Transaction(ctx, incrementBy(ctx, k, nil), 1000, k); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, err := c.Get(ctx, k); n != "200" || err != nil {
		t.Fatalf("counter %q (%v), want %d", n, err, goroutines*each)
	}
}

func TestTransactionErrors(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	k := key(t, "k")
	if _, err := c.Del(ctx, k); err != nil {
		t.Fatal(err)
	}
	handles := redcore.LiveHandles()

	// The function's own error comes back as it is, and nothing was sent.
	mine := errors.New("not today")
	_, err := c.Transaction(ctx, func(tx *redcore.TxAttempt) error {
		tx.Queue("SET", k, "written")
		return mine
	}, 3, k)
	if err != mine {
		t.Fatalf("the function's error: %v", err)
	}
	if _, err := c.Get(ctx, k); !errors.Is(err, redcore.ErrNil) {
		t.Fatalf("a stopped transaction wrote: %v", err)
	}

	// A panic goes on in the caller, after the library let go.
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v", p)
			}
		}()
		c.Transaction(ctx, func(tx *redcore.TxAttempt) error { panic("boom") }, 1, k)
		t.Fatal("the panic did not come through")
	}()

	// MULTI inside is refused; errors inside EXEC stay at their positions.
	_, err = c.Transaction(ctx, func(tx *redcore.TxAttempt) error {
		_, err := tx.Do(ctx, "MULTI")
		return err
	}, 1, k)
	if !errors.Is(err, redcore.ErrInvalidArgument) {
		t.Fatalf("MULTI through Do: %v", err)
	}
	results, err := c.Transaction(ctx, func(tx *redcore.TxAttempt) error {
		tx.Queue("SET", k, "text")
		tx.Queue("INCR", k)
		tx.Queue("GET", k)
		return nil
	}, 1, k)
	if !errors.Is(err, redcore.ErrResponse) || len(results) != 3 || results[0].Err != nil ||
		!errors.Is(results[1].Err, redcore.ErrResponse) || results[2].Err != nil {
		t.Fatalf("an error inside EXEC: %v %v", results, err)
	}
	// A command the server refuses when queued aborts the whole transaction.
	results, err = c.Transaction(ctx, func(tx *redcore.TxAttempt) error {
		tx.Queue("SET", k, "never")
		tx.Queue("NOSUCHCOMMAND")
		return nil
	}, 1, k)
	if err == nil || len(results) != 2 || !errors.Is(results[0].Err, redcore.ErrExecAbort) {
		t.Fatalf("EXECABORT: %v %v", results, err)
	}
	if v, _ := c.Get(ctx, k); v != "text" {
		t.Fatalf("an aborted transaction wrote: %q", v)
	}

	// Arguments that cannot be sent; no attempt; a cancelled context; a closed client.
	if _, err := c.Transaction(ctx, func(tx *redcore.TxAttempt) error {
		tx.Queue("SET", k, struct{}{})
		return nil
	}, 1, k); !errors.Is(err, redcore.ErrData) {
		t.Fatalf("a struct argument: %v", err)
	}
	if _, err := c.Transaction(ctx, incrementBy(ctx, k, nil), 0, k); !errors.Is(err, redcore.ErrInvalidArgument) {
		t.Fatalf("0 attempts: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Transaction(cancelled, incrementBy(ctx, k, nil), 1, k); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled context: %v", err)
	}
	if n := redcore.LiveHandles(); n != handles {
		t.Fatalf("%d handles live, %d before", n, handles)
	}
	other, err := redcore.Open(server.url())
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, err := other.Transaction(ctx, incrementBy(ctx, k, nil), 1, k); !errors.Is(err, redcore.ErrClosed) {
		t.Fatalf("a closed client: %v", err)
	}
}

// Close waits for a running transaction, whose function may still use the client.
func TestTransactionDuringClose(t *testing.T) {
	ctx := context.Background()
	c, err := redcore.Open(server.url())
	if err != nil {
		t.Fatal(err)
	}
	k := key(t, "k")
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := c.Transaction(ctx, func(tx *redcore.TxAttempt) error {
			close(inside)
			<-release
			// The client is not freed under the function, which Close waits for; its calls
			// fail with ErrClosed once Close has begun.
			if _, err := c.Do(ctx, "PING"); err != nil {
				return err
			}
			tx.Queue("SET", k, "done")
			return nil
		}, 1, k)
		done <- err
	}()
	<-inside
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	close(release)
	if err := <-done; err != nil && !errors.Is(err, redcore.ErrClosed) {
		t.Fatalf("the transaction during Close: %v", err)
	}
	<-closed
}

//go:noinline
func atDepth(depth int, f func()) {
	var pad [64]byte
	pad[depth%64] = 1
	if depth == 0 {
		f()
		return
	}
	atDepth(depth-1, f)
	_ = pad
}

// Transactions from fresh goroutines at varying stack depths (what HTTP handlers are): some
// sit right under a stack boundary, so the stack grows while Transaction holds its handle.
// A handle that was a small integer typed as a pointer made Go's stack copier abort the
// process ("invalid pointer found on stack") within the first hundred or so.
func TestTransactionsWhereStacksGrow(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	k := key(t, "grow")
	handles := redcore.LiveHandles()
	const n = 1500
	for i := 0; i < n; i++ {
		var wg sync.WaitGroup
		wg.Add(1)
		go func(depth int) {
			defer wg.Done()
			atDepth(depth, func() {
				_, err := c.Transaction(ctx, func(tx *redcore.TxAttempt) error {
					tx.Queue("INCR", k)
					return nil
				}, 3, k)
				if err != nil {
					t.Error(err)
				}
			})
		}(i % 120)
		wg.Wait()
	}
	if v, err := counterValue(c.Do(ctx, "GET", k)); err != nil || v != n {
		t.Fatalf("counter %d (%v), want %d", v, err, n)
	}
	if live := redcore.LiveHandles(); live != handles {
		t.Fatalf("%d handles live after the transactions, %d before", live, handles)
	}
}

// The watching connection is lost during the first attempt: tx.Do fails with ErrWatch, fn
// returns it, and the helper starts the next attempt, as for a changed key (redis-py's
// transaction() loops on WatchError).
func TestTransactionStartsAgainWhenTheWatchingConnectionIsLost(t *testing.T) {
	ctx := waitCtx(t)
	c := open(t)
	admin := open(t)
	k := key(t, "counter")
	if err := c.Set(ctx, k, 1); err != nil {
		t.Fatal(err)
	}
	attempts := 0
	results, err := c.Transaction(ctx, func(tx *redcore.TxAttempt) error {
		attempts = tx.Attempt()
		if attempts == 1 {
			id, err := tx.Do(ctx, "CLIENT", "ID")
			if err != nil {
				return err
			}
			n, _ := id.Int64()
			if _, err := admin.Do(ctx, "CLIENT", "KILL", "ID", n); err != nil {
				return err
			}
		}
		n, err := counterValue(tx.Do(ctx, "GET", k))
		if err != nil {
			return err // ErrWatch in the first attempt
		}
		tx.Queue("SET", k, n+1)
		return nil
	}, 3, k)
	if err != nil || attempts != 2 || len(results) != 1 {
		t.Fatalf("after %d attempts: %v, %v", attempts, results, err)
	}
	if v, _ := c.Get(ctx, k); v != "2" {
		t.Fatalf("counter %q", v)
	}

	// Lost in every attempt: ErrWatch once they run out.
	attempts = 0
	_, err = c.Transaction(ctx, func(tx *redcore.TxAttempt) error {
		attempts = tx.Attempt()
		id, err := tx.Do(ctx, "CLIENT", "ID")
		if err != nil {
			return err
		}
		n, _ := id.Int64()
		if _, err := admin.Do(ctx, "CLIENT", "KILL", "ID", n); err != nil {
			return err
		}
		_, err = tx.Do(ctx, "GET", k)
		return err
	}, 2, k)
	if !errors.Is(err, redcore.ErrWatch) || attempts != 2 {
		t.Fatalf("lost in each of 2 attempts: %v after %d", err, attempts)
	}
}
