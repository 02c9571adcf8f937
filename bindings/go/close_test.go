package redcore_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"redcore"
)

// settledGoroutines waits (up to 5 s) for the number of goroutines to drop to at most
// want, and returns the last count.
func settledGoroutines(want int) int {
	deadline := time.Now().Add(5 * time.Second)
	n := runtime.NumGoroutine()
	for n > want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func TestCloseLeavesNothingBehind(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	handles := redcore.LiveHandles()
	for round := 0; round < 3; round++ {
		// The default user takes any password (nopass); the provider is there to be released.
		c, err := redcore.Open(server.url(), redcore.WithCredentialProvider(func() (redcore.Credentials, error) {
			return redcore.Credentials{Password: "any"}, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		// A lone caller with a cancellable context (a worker goroutine makes its calls),
		// then concurrent callers (the completion queue).
		lone, cancel := context.WithTimeout(context.Background(), time.Minute)
		for i := 0; i < 50; i++ {
			if _, err := c.Do(lone, "PING"); err != nil {
				t.Fatal(err)
			}
		}
		cancel()
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				for i := 0; i < 200; i++ {
					if _, err := c.Do(ctx, "PING"); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		c.Close()
		c.Close() // idempotent
		if _, err := c.Do(context.Background(), "PING"); !errors.Is(err, redcore.ErrClosed) {
			t.Fatalf("Do after Close: %v", err)
		}
	}
	if n := settledGoroutines(goroutines); n > goroutines {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before Open:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
	}
	if n := redcore.LiveHandles(); n != handles {
		t.Fatalf("%d handles live after Close, %d before", n, handles)
	}
}

func TestCloseCompletesPendingCalls(t *testing.T) {
	c, err := redcore.Open(server.url())
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func(i int) {
			_, err := c.Do(context.Background(), "BLPOP", key(t, "never"), 30)
			errs <- err
		}(i)
	}
	time.Sleep(100 * time.Millisecond) // let them block on the server
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for blocked commands")
	}
	for i := 0; i < 4; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, redcore.ErrClosed) {
				t.Errorf("pending BLPOP at Close: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a pending call never returned")
		}
	}
}

// Close on a server that stopped answering, while callers without a deadline wait on it
// (WithCommandTimeout(0)): a lone caller on the direct path and a Watch. Close returns at
// once, and so do their calls, with ErrClosed. It used to wait for the server to answer.
func TestCloseEndsCallsWaitingOnAStoppedServer(t *testing.T) {
	s, err := startServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	c := openURL(t, s.url(), redcore.WithCommandTimeout(0))
	k := key(t, "k")
	if err := c.Set(context.Background(), k, "v"); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer s.cmd.Process.Signal(syscall.SIGCONT)
	errs := make(chan error, 2)
	go func() {
		_, err := c.Do(context.Background(), "GET", k)
		errs <- err
	}()
	time.Sleep(200 * time.Millisecond) // the lone caller waits in the library now
	go func() {
		errs <- c.Watch(context.Background(), func(tx *redcore.Tx) error {
			_, err := tx.Do(context.Background(), "GET", k)
			return err
		}, k)
	}()
	time.Sleep(200 * time.Millisecond)
	closed := make(chan struct{})
	started := time.Now()
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the stopped server")
	}
	for i := 0; i < 2; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, redcore.ErrClosed) {
				t.Errorf("a call waiting at Close: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a call waiting on the stopped server never returned")
		}
	}
	t.Logf("Close returned after %v", time.Since(started))
}

func TestFinalizerClosesAForgottenClient(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	func() {
		c, err := redcore.Open(server.url())
		if err != nil {
			t.Fatal(err)
		}
		mustDo(t, c, "PING")
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Fatalf("the forgotten client's goroutine still runs (%d goroutines, %d before)", n, goroutines)
	}
}

// stoppedServer starts a server of the test's own, opens a client on it with opts, and
// stops the server (SIGSTOP): it keeps its connections and accepts new ones, but answers
// nothing until the test ends.
func stoppedServer(t *testing.T, opts ...redcore.Option) *redcore.Client {
	t.Helper()
	s, err := startServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	c := openURL(t, s.url(), opts...)
	if err := c.Set(context.Background(), key(t, "k"), "v"); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Signal(syscall.SIGCONT) })
	return c
}

// within fails the test when f takes longer than limit (waiting for it up to 30 s).
func within(t *testing.T, what string, limit time.Duration, f func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started := time.Now()
	returns(t, ctx, what, f)
	if took := time.Since(started); took > limit {
		t.Fatalf("%s took %v, more than %v", what, took, limit)
	}
}

// Monitor's context bounds it: on a server that stopped answering, Monitor returns when its
// context ends, with the context's error (it used to wait for the library's own limit, the
// connect and command timeouts, 10 s, holding the client meanwhile). The client's Close does
// not wait for the start left in the background either.
func TestMonitorEndsWithItsContext(t *testing.T) {
	c := stoppedServer(t)
	within(t, "Monitor with a 200 ms deadline", 2*time.Second, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		m, err := c.Monitor(ctx, 0)
		if m != nil || !errors.Is(err, redcore.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Monitor on a stopped server until a deadline: %v, %v", m, err)
		}
	})
	within(t, "Monitor cancelled after 200 ms", 2*time.Second, func() {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		m, err := c.Monitor(ctx, 0)
		if m != nil || !errors.Is(err, context.Canceled) {
			t.Errorf("Monitor on a stopped server until cancelled: %v, %v", m, err)
		}
	})
	within(t, "Close with the starts left in the background", 2*time.Second, func() { c.Close() })
}

// PubSub.Close does not wait for a Subscribe whose context ended while the server did not
// answer (it used to wait for the command timeout, or forever without one), and the
// abandoned Subscribe, still running in the background, ends with it.
func TestPubSubCloseDoesNotWaitForAnAbandonedSubscribe(t *testing.T) {
	c := stoppedServer(t, redcore.WithCommandTimeout(0))
	ps, err := c.NewPubSub(redcore.PubSubOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ps.Subscribe(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Subscribe on a stopped server until a deadline: %v", err)
	}
	within(t, "PubSub.Close after an abandoned Subscribe", 2*time.Second, func() { ps.Close() })
	if _, err := ps.ReceiveMessage(context.Background()); !errors.Is(err, redcore.ErrClosed) {
		t.Fatalf("ReceiveMessage after Close: %v", err)
	}
	within(t, "Client.Close", 2*time.Second, func() { c.Close() })
}
