package redcore_test

import (
	"context"
	"errors"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"
)

// A server that stopped answering, and a lone caller whose every call gives up after 20 ms:
// a worker whose caller gave up stays in its C call until the command timeout, and the
// calls after it take the queue path instead of a worker of their own. Each used to leave
// one more OS thread blocked in C (calls per second times the timeout of them).
func TestCallsGivenUpOnAStoppedServerDoNotPileUpThreads(t *testing.T) {
	s, err := startServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	c := openURL(t, s.url())
	k := key(t, "k")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := c.Set(ctx, k, "v"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			s.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	defer resume()
	threads := pprof.Lookup("threadcreate").Count()
	const calls = 40
	for i := 0; i < calls; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := c.Do(ctx, "GET", k)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call %d on a stopped server: %v", i, err)
		}
	}
	created := pprof.Lookup("threadcreate").Count() - threads
	resume()
	if created > 8 {
		t.Fatalf("%d calls given up made %d OS threads", calls, created)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if v, err := c.Get(ctx, k); err != nil || v != "v" {
		t.Fatalf("after the server came back: %q, %v", v, err)
	}
	t.Logf("%d calls given up on a stopped server made %d OS threads", calls, created)
}
