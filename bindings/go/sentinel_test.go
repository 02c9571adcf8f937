package redcore_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"redcore"
)

// servedBy is the port of the server that do's commands reach (INFO server): a client's
// or a subscriber's.
func servedBy(t *testing.T, ctx context.Context, do func(context.Context, ...any) (redcore.Reply, error)) string {
	t.Helper()
	r, err := do(ctx, "INFO", "server")
	if err != nil {
		t.Fatalf("INFO: %v", err)
	}
	text, _ := r.Text()
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "tcp_port:") {
			return strings.TrimPrefix(line, "tcp_port:")
		}
	}
	t.Fatalf("no tcp_port in INFO: %q", text)
	return ""
}

// TestSentinel runs against the master, two replicas and three sentinels that
// tests/tools/with-sentinel.sh starts (`make test-go` does): discovery through the URL,
// then a SENTINEL FAILOVER while writes go on.
func TestSentinel(t *testing.T) {
	url := os.Getenv("REDCORE_SENTINEL_URL")
	if url == "" {
		t.Skip("REDCORE_SENTINEL_URL is not set (run under tests/tools/with-sentinel.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := openURL(t, url)

	// Discovery: the sentinels named the master, which takes writes.
	if err := c.Set(ctx, "go:sentinel:greeting", "hello"); err != nil {
		t.Fatalf("SET on the discovered master: %v", err)
	}
	if v, err := c.Get(ctx, "go:sentinel:greeting"); v != "hello" || err != nil {
		t.Fatalf("GET: %q %v", v, err)
	}
	if r, err := c.Do(ctx, "ROLE"); err != nil || !strings.HasPrefix(r.String(), `["master"`) {
		t.Fatalf("ROLE of the discovered server: %v %v", r, err)
	}
	// The failover's first steps are published by the sentinel leading it only: wait until
	// the client listens to every sentinel.
	for {
		s, err := c.SentinelStats()
		if err != nil {
			t.Fatal(err)
		}
		if s.Sentinels == 3 && s.Subscribed == s.Sentinels {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the client listens to %d of %d sentinels", s.Subscribed, s.Sentinels)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := redcore.Open(url[:strings.LastIndex(url, "/")] + "/no-such-service"); !errors.Is(err, redcore.ErrMasterNotFound) {
		t.Fatalf("a service no sentinel knows: %v", err)
	}

	// SENTINEL FAILOVER through the first sentinel, as a plain server, while one writer
	// goes on incrementing a counter: the writes wait while the master is replaced and go
	// on on the new one by themselves.
	hosts := strings.TrimPrefix(url, "redis+sentinel://")
	first := hosts[:strings.IndexAny(hosts, ",/")]
	sentinel := openURL(t, "redis://"+first)
	counter := "go:sentinel:counter"
	if _, err := c.Del(ctx, counter); err != nil {
		t.Fatal(err)
	}
	before := servedBy(t, ctx, c.Do)
	ps, err := c.Subscribe(ctx, "go:sentinel:events")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	var acknowledged, failures, afterChange int64
	asked := false
	for afterChange < 200 {
		if ctx.Err() != nil {
			t.Fatalf("the writes did not go on on a new master: %d acknowledged, %d failed, %d after the change",
				acknowledged, failures, afterChange)
		}
		if acknowledged == 200 && !asked {
			if _, err := sentinel.Do(ctx, "SENTINEL", "FAILOVER", "mymaster"); err != nil {
				t.Fatalf("SENTINEL FAILOVER: %v", err)
			}
			asked = true
		}
		s, _ := c.SentinelStats()
		if _, err := c.Incr(ctx, counter); err != nil {
			failures++
			continue
		}
		acknowledged++
		if s.MasterChanges > 0 {
			afterChange++
		}
	}
	after := servedBy(t, ctx, c.Do)
	if before == after {
		t.Fatalf("still on the master at port %s after the failover", before)
	}
	// Every acknowledged INCR is there; a failed one may or may not have run.
	v, err := c.Get(ctx, counter)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	if n < acknowledged || n > acknowledged+failures {
		t.Fatalf("counter %d after %d acknowledged and %d failed INCRs", n, acknowledged, failures)
	}

	// The subscriber followed the master: a gap event, then messages published there.
	var receivers int64
	for receivers == 0 && ctx.Err() == nil {
		r, err := c.Do(ctx, "PUBLISH", "go:sentinel:events", "after the failover")
		if err == nil {
			receivers, _ = r.Int64()
		}
	}
	gaps := 0
	for {
		m, err := ps.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("the subscriber after the failover: %v", err)
		}
		if m.Kind == redcore.MessageResubscribed {
			gaps++
			continue
		}
		if m.Payload != "after the failover" {
			t.Fatalf("the subscriber after the failover: %+v", m)
		}
		break
	}
	if gaps == 0 {
		t.Fatal("no gap event: the subscriber did not move to the new master")
	}
	if port := servedBy(t, ctx, ps.Do); port != after {
		t.Fatalf("the subscriber is on port %s, the new master on %s", port, after)
	}
	s, _ := c.SentinelStats()
	t.Logf("master %s -> %s; %d INCRs acknowledged, %d failed; counters %+v", before, after, acknowledged, failures, s)
}
