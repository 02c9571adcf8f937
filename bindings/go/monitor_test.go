package redcore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"redcore"
)

// MONITOR sees the commands of another client, parsed.
func TestMonitorSeesAnotherClient(t *testing.T) {
	ctx := waitCtx(t)
	c := open(t)
	other := open(t, redcore.WithDB(3))
	handles := redcore.LiveHandles()
	m, err := c.Monitor(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	k := key(t, "watched")
	if err := other.Set(ctx, k, "with spaces\n\"and quotes\""); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := m.Receive(ctx)
		if err != nil {
			t.Fatalf("no SET of %s seen: %v", k, err)
		}
		if ev.Kind != redcore.MonitorCommand || len(ev.Args) < 2 || ev.Args[1] != k {
			continue // the handshakes of other connections, ...
		}
		if len(ev.Args) != 3 || ev.Args[0] != "set" && ev.Args[0] != "SET" || ev.Args[2] != "with spaces\n\"and quotes\"" {
			t.Fatalf("SET as monitored: %q", ev.Args)
		}
		if ev.DB != 3 || ev.Client == "" || ev.Time.Before(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("SET's db %d, client %q, time %v", ev.DB, ev.Client, ev.Time)
		}
		break
	}
	if m.Dropped() != 0 {
		t.Fatalf("%d dropped", m.Dropped())
	}
	m.Close()
	m.Close()
	for range m.Events() { // drained, then closed
	}
	if !errors.Is(m.Err(), redcore.ErrClosed) {
		t.Fatalf("Err after Close: %v", m.Err())
	}
	if n := redcore.LiveHandles(); n != handles {
		t.Fatalf("%d handles live after Close, %d before", n, handles)
	}
}

// A client closed under load while its monitor's reader is behind (the channel and the
// library's queue of one full, commands dropped) still ends the monitor: Events closes after
// what was queued, and Err is ErrClosed.
func TestMonitorEndsWhenItsClientIsClosedWithTheQueueFull(t *testing.T) {
	ctx := waitCtx(t)
	c, err := redcore.Open(server.url())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	other := open(t)
	m, err := c.Monitor(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	stop := make(chan struct{})
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		for i := 0; i < 100000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := other.Set(ctx, key(t, "k"), i); err != nil {
				return
			}
		}
	}()
	for i := 0; m.Dropped() == 0; i++ {
		if i == 1000 {
			t.Fatal("nothing was dropped while nobody read")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.Close()
	timeout := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-m.Events():
			time.Sleep(100 * time.Microsecond) // a slow reader
		case <-timeout:
			t.Fatalf("Events still open 10 s after the client was closed (Err %v)", m.Err())
		}
	}
	close(stop)
	<-loaded
	if !errors.Is(m.Err(), redcore.ErrClosed) {
		t.Fatalf("Err after the client was closed: %v", m.Err())
	}
}

// A reader that keeps only the channel of Events keeps the monitor running: the finalizer
// used to stop it at the next GC. One whose channel was never taken is still finalized.
func TestMonitorReadThroughItsChannelOnlyIsNotFinalized(t *testing.T) {
	ctx := waitCtx(t)
	name := fmt.Sprintf("monitor-gc-%d", time.Now().UnixNano())
	c, err := redcore.Open(server.url(), redcore.WithClientName(name))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	watch := func() <-chan *redcore.MonitorEvent {
		m, err := c.Monitor(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return m.Events()
	}
	events := watch()
	func() {
		if _, err := c.Monitor(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}()
	collect()
	monitors := func() int {
		r, err := c.Do(ctx, "CLIENT", "LIST", "TYPE", "normal")
		if err != nil {
			t.Fatal(err)
		}
		list, _ := r.Text()
		n := 0
		for _, line := range strings.Split(list, "\n") {
			if strings.Contains(line, " name="+name+" ") && strings.Contains(line, " cmd=monitor") {
				n++
			}
		}
		return n
	}
	if n := monitors(); n != 1 {
		t.Fatalf("%d MONITOR connections after a GC, want 1 (the one whose channel is read)", n)
	}
	k := key(t, "seen")
	if err := c.Set(ctx, k, "v"); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("Events closed while read")
			}
			if ev.Kind != redcore.MonitorCommand || len(ev.Args) < 2 || ev.Args[1] != k {
				continue
			}
		case <-ctx.Done():
			t.Fatalf("no SET of %s seen", k)
		}
		break
	}
	c.Close()
	for range events { // closes with the client
	}
}
