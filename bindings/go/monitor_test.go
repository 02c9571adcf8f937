package redcore_test

import (
	"errors"
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
