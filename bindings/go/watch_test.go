package redcore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"redcore"
)

func TestWatch(t *testing.T) {
	c := open(t)
	other := open(t)
	ctx := context.Background()
	k := key(t, "balance")
	mustDo(t, c, "SET", k, 100)

	// transfer takes 30 from the balance it read on the held connection, and returns what it
	// read; meddle writes the key from another client between that read and EXEC.
	transfer := func(meddle bool) (read string, err error) {
		err = c.Watch(ctx, func(tx *redcore.Tx) error {
			r, err := tx.Do(ctx, "GET", k)
			if err != nil {
				return err
			}
			read, _ = r.Text()
			balance, err := r.Int64()
			if err != nil {
				return err
			}
			if meddle {
				mustDo(t, other, "SET", k, 70)
			}
			p := tx.TxPipeline()
			p.Do("SET", k, balance-30)
			_, err = p.Exec(ctx)
			return err
		}, k)
		return read, err
	}
	if read, err := transfer(true); read != "100" || !errors.Is(err, redcore.ErrWatch) {
		t.Fatalf("a watched key changed: read %q, %v", read, err)
	}
	if v, _ := c.Get(ctx, k); v != "70" {
		t.Fatalf("the failed transaction wrote: %q", v)
	}
	if read, err := transfer(false); read != "70" || err != nil {
		t.Fatalf("undisturbed transaction: read %q, %v", read, err)
	}
	if v, _ := c.Get(ctx, k); v != "40" {
		t.Fatalf("after the transfer: %q", v)
	}
	var kept *redcore.Tx
	c.Watch(ctx, func(tx *redcore.Tx) error { kept = tx; return nil })
	if _, err := kept.Do(ctx, "PING"); !errors.Is(err, redcore.ErrInvalidArgument) {
		t.Errorf("Tx used after Watch returned: %v", err)
	}
}

// Tx.Do returns what the server answered: values, nil, and error replies as errors.
func TestWatchDoReturnsTheServersReplies(t *testing.T) {
	c := open(t)
	ctx := waitCtx(t)
	k, list := key(t, "k"), key(t, "list")
	mustDo(t, c, "SET", k, "value")
	mustDo(t, c, "LPUSH", list, "x")
	err := c.Watch(ctx, func(tx *redcore.Tx) error {
		if r, err := tx.Do(ctx, "GET", k); err != nil || r.Kind() != redcore.KindBulk {
			t.Errorf("GET: %v, %v", r, err)
		} else if v, _ := r.Text(); v != "value" {
			t.Errorf("GET: %q", v)
		}
		if r, err := tx.Do(ctx, "EXISTS", k, list); err != nil {
			t.Errorf("EXISTS: %v", err)
		} else if n, _ := r.Int64(); n != 2 {
			t.Errorf("EXISTS: %v", r)
		}
		if r, err := tx.Do(ctx, "GET", key(t, "missing")); err != nil || !r.IsNil() {
			t.Errorf("GET of a missing key: %v, %v", r, err)
		}
		_, err := tx.Do(ctx, "GET", list)
		var e *redcore.Error
		if !errors.As(err, &e) || e.Code != redcore.CodeResponse || !strings.HasPrefix(e.Message, "WRONGTYPE") {
			t.Errorf("GET of a list: %v", err)
		}
		if _, err := tx.Do(ctx, "NOSUCHCOMMAND"); !errors.Is(err, redcore.ErrResponse) {
			t.Errorf("an unknown command: %v", err)
		}
		if r, err := tx.Do(ctx, "ECHO", "after the errors"); err != nil {
			t.Errorf("ECHO: %v", err)
		} else if v, _ := r.Text(); v != "after the errors" {
			t.Errorf("ECHO: %q", v)
		}
		return nil
	}, k)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
}

// A WATCH the server refuses fails Watch with the server's error, before fn runs.
func TestWatchRefusedByTheServerFails(t *testing.T) {
	admin := open(t)
	mustDo(t, admin, "ACL", "SETUSER", "nowatch", "on", ">pw", "~*", "+@all", "-watch")
	t.Cleanup(func() { mustDo(t, admin, "ACL", "DELUSER", "nowatch") })
	c := openURL(t, "redis://nowatch:pw@"+server.addr())
	ran := false
	err := c.Watch(waitCtx(t), func(tx *redcore.Tx) error { ran = true; return nil }, key(t, "k"))
	if !errors.Is(err, redcore.ErrNoPermission) || ran {
		t.Fatalf("WATCH refused by an ACL: %v (fn ran: %v)", err, ran)
	}
}

// Read-modify-write increments under Watch from several goroutines, each retried while the
// key changed, beside plain INCRs of the same key: every increment counts exactly once.
func TestWatchIncrementsAddUp(t *testing.T) {
	c := open(t)
	ctx := waitCtx(t)
	k := key(t, "counter")
	mustDo(t, c, "DEL", k)
	const goroutines, each, plain = 4, 25, 100
	increment := func() error {
		for attempt := 0; attempt < 1000; attempt++ {
			err := c.Watch(ctx, func(tx *redcore.Tx) error {
				n, err := counterValue(tx.Do(ctx, "GET", k))
				if err != nil {
					return err
				}
				p := tx.TxPipeline()
				p.Do("SET", k, n+1)
				_, err = p.Exec(ctx)
				return err
			}, k)
			if !errors.Is(err, redcore.ErrWatch) {
				return err
			}
		}
		return errors.New("the key changed under each of 1000 attempts")
	}
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := increment(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < plain; i++ {
			if _, err := c.Do(ctx, "INCR", k); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	if v, _ := c.Get(ctx, k); v != strconv.Itoa(goroutines*each+plain) {
		t.Fatalf("counter %q after %d increments", v, goroutines*each+plain)
	}
}

// A tx.Do waiting for its reply when the client is closed fails with ErrClosed, like any
// pending command.
func TestWatchDoPendingAtCloseFailsWithErrClosed(t *testing.T) {
	c, err := redcore.Open(server.url())
	if err != nil {
		t.Fatal(err)
	}
	watcher := open(t)
	blocked := blockedClients(t, watcher)
	pending := make(chan error, 1)
	go func() {
		var doErr error
		c.Watch(context.Background(), func(tx *redcore.Tx) error {
			_, doErr = tx.Do(context.Background(), "BLPOP", key(t, "never"), 30)
			return nil
		}, key(t, "k"))
		pending <- doErr
	}()
	for i := 0; blockedClients(t, watcher) == blocked; i++ {
		if i == 500 {
			t.Fatal("the BLPOP never blocked on the server")
		}
		time.Sleep(10 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the blocked tx.Do")
	}
	select {
	case err := <-pending:
		if !errors.Is(err, redcore.ErrClosed) {
			t.Fatalf("tx.Do pending at Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pending tx.Do never returned")
	}
}

// blockedClients is the server's count of clients blocked in a command (INFO clients).
func blockedClients(t *testing.T, c *redcore.Client) int {
	t.Helper()
	info, _ := mustDo(t, c, "INFO", "clients").Text()
	for _, line := range strings.Split(info, "\n") {
		const field = "blocked_clients:"
		if line = strings.TrimSpace(line); strings.HasPrefix(line, field) {
			n, err := strconv.Atoi(line[len(field):])
			if err != nil {
				t.Fatalf("INFO clients: %q", line)
			}
			return n
		}
	}
	t.Fatalf("INFO clients without blocked_clients: %q", info)
	return 0
}

// A command the library refuses in a Tx pipeline (here SUBSCRIBE) fails Exec before anything
// is sent, as Client.TxPipeline does: no MULTI, none of the other commands, no EXEC (which
// would have ended the watch). The next Exec's results line up with its commands.
func TestWatchTxPipelineWithARefusedCommandSendsNothing(t *testing.T) {
	c := open(t)
	other := open(t)
	ctx := waitCtx(t)
	a, b := key(t, "a"), key(t, "b")
	mustDo(t, c, "DEL", a)
	mustDo(t, c, "SET", b, "bee")
	err := c.Watch(ctx, func(tx *redcore.Tx) error {
		p := tx.TxPipeline()
		p.Do("SET", a, "1")
		p.Do("SUBSCRIBE", key(t, "channel"))
		p.Do("GET", b)
		if results, err := p.Exec(ctx); !errors.Is(err, redcore.ErrInvalidArgument) || results != nil {
			t.Errorf("a Tx pipeline with SUBSCRIBE: %v, %v", results, err)
		}
		if n, _ := mustDo(t, other, "EXISTS", a).Int64(); n != 0 {
			t.Errorf("the refused transaction's SET ran")
		}
		p.Do("SET", a, "1")
		p.Do("GET", b)
		results, err := p.Exec(ctx)
		if err != nil || len(results) != 2 {
			t.Fatalf("the next Exec: %v, %v", results, err)
		}
		if s, _ := results[0].Reply.Text(); s != "OK" {
			t.Errorf("SET's result: %v", results[0])
		}
		if s, _ := results[1].Reply.Text(); s != "bee" {
			t.Errorf("GET's result: %v", results[1])
		}
		return nil
	}, b)
	if err != nil {
		t.Fatal(err)
	}

	// No EXEC went out with the refused transaction: the watch still holds.
	err = c.Watch(ctx, func(tx *redcore.Tx) error {
		p := tx.TxPipeline()
		p.Do("SUBSCRIBE", key(t, "channel"))
		if _, err := p.Exec(ctx); !errors.Is(err, redcore.ErrInvalidArgument) {
			t.Errorf("a Tx pipeline with SUBSCRIBE: %v", err)
		}
		mustDo(t, other, "SET", b, "changed")
		p.Do("SET", a, "2")
		_, err := p.Exec(ctx)
		return err
	}, b)
	if !errors.Is(err, redcore.ErrWatch) {
		t.Fatalf("a watched key changed after a refused Exec: %v", err)
	}
	if v, _ := c.Get(ctx, a); v != "1" {
		t.Fatalf("%s: %q", a, v)
	}
}

// An empty Tx pipeline under Watch still sends MULTI and EXEC, as redis-py does: ErrWatch
// when a watched key changed, else no results and no error.
func TestWatchEmptyTxPipelineTellsAChangedKey(t *testing.T) {
	c := open(t)
	other := open(t)
	ctx := waitCtx(t)
	k := key(t, "k")
	mustDo(t, c, "SET", k, "1")
	for _, meddle := range []bool{true, false} {
		var results []redcore.Result
		var execErr error
		err := c.Watch(ctx, func(tx *redcore.Tx) error {
			if meddle {
				mustDo(t, other, "SET", k, "changed")
			}
			results, execErr = tx.TxPipeline().Exec(ctx)
			return nil
		}, k)
		if err != nil {
			t.Fatal(err)
		}
		if meddle && (!errors.Is(execErr, redcore.ErrWatch) || results != nil) {
			t.Fatalf("an empty Exec after a watched key changed: %v, %v", results, execErr)
		}
		if !meddle && (execErr != nil || len(results) != 0) {
			t.Fatalf("an empty Exec, key unchanged: %v, %v", results, execErr)
		}
	}
}
