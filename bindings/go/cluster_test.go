package redcore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"redcore"
)

// TestCluster runs against the Redis Cluster that tests/tools/with-cluster.sh starts
// (`make test-go` does): the same Open, with the cluster's URL.
func TestCluster(t *testing.T) {
	url := os.Getenv("REDCORE_CLUSTER_URL")
	if url == "" {
		t.Skip("REDCORE_CLUSTER_URL is not set (run under tests/tools/with-cluster.sh)")
	}
	c := openURL(t, url)
	ctx := context.Background()

	// Keys over every slot's node, from concurrent goroutines (the batched path).
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			dctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			for i := 0; i < 100; i++ {
				k := fmt.Sprintf("go:cluster:%d:%d", g, i)
				if err := c.Set(dctx, k, i); err != nil {
					t.Error(err)
					return
				}
				if v, err := c.Get(dctx, k); v != strconv.Itoa(i) || err != nil {
					t.Errorf("GET %s: %q, %v", k, v, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()

	// One caller (the direct path), a pipeline across nodes, a split multi-key command.
	if v, err := c.Get(ctx, "go:cluster:3:7"); v != "7" || err != nil {
		t.Fatalf("direct GET: %q, %v", v, err)
	}
	p := c.Pipeline()
	for i := 0; i < 100; i++ {
		p.Do("GET", fmt.Sprintf("go:cluster:%d:%d", i%16, i))
	}
	results, err := p.Exec(ctx)
	if err != nil {
		t.Fatalf("pipeline across nodes: %v", err)
	}
	for i, r := range results {
		if v, _ := r.Reply.Text(); v != strconv.Itoa(i) {
			t.Fatalf("pipeline result %d: %v", i, r)
		}
	}
	if n, err := c.Del(ctx, "go:cluster:0:1", "go:cluster:5:2", "go:cluster:9:3", "go:cluster:none"); n != 3 || err != nil {
		t.Fatalf("DEL across slots: %d, %v", n, err)
	}

	// Shard channels of five slots, each subscribed on its slot's primary, one subscriber.
	shards := []string{"go:shard:a", "go:shard:b", "go:shard:c", "go:shard:d", "go:shard:e"}
	ps, err := c.SSubscribe(ctx, shards...)
	if err != nil {
		t.Fatalf("SSUBSCRIBE across slots: %v", err)
	}
	defer ps.Close()
	got := map[string]string{}
	for _, ch := range shards {
		if r, err := c.Do(ctx, "SPUBLISH", ch, "to "+ch); err != nil || r.String() != "1" {
			t.Fatalf("SPUBLISH %s: %v %v", ch, r, err)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(got) < len(shards) {
		m, err := ps.ReceiveMessage(rctx)
		if err != nil {
			t.Fatalf("shard messages: %v after %v", err, got)
		}
		if m.Kind != redcore.MessageShard {
			t.Fatalf("on a shard channel: %+v", m)
		}
		got[m.Channel] = m.Payload
	}
	for _, ch := range shards {
		if got[ch] != "to "+ch {
			t.Fatalf("shard messages: %v", got)
		}
	}

	// A transaction on a held connection pinned to its keys' slot, and a lock.
	err = c.Watch(ctx, func(tx *redcore.Tx) error {
		p := tx.TxPipeline()
		p.Do("INCR", "{go:acct}:balance")
		p.Do("INCR", "{go:acct}:ops")
		_, err := p.Exec(ctx)
		return err
	}, "{go:acct}:balance")
	if err != nil {
		t.Fatalf("Watch on a cluster: %v", err)
	}
	l, err := c.NewLock("go:cluster:lock", redcore.LockOptions{TTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Acquire(ctx); err != nil {
		t.Fatalf("lock on a cluster: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("release on a cluster: %v", err)
	}
}

// clusterClient opens the cluster of tests/tools/with-cluster.sh, or skips the test.
func clusterClient(t *testing.T) *redcore.Client {
	url := os.Getenv("REDCORE_CLUSTER_URL")
	if url == "" {
		t.Skip("REDCORE_CLUSTER_URL is not set (run under tests/tools/with-cluster.sh)")
	}
	return openURL(t, url)
}

// Under Watch on a cluster, a Tx pipeline with a key of another slot fails with
// ErrCrossSlotTransaction before anything is sent: its same-slot SET does not commit.
func TestClusterWatchTxPipelineAcrossSlotsSendsNothing(t *testing.T) {
	c := clusterClient(t)
	ctx := waitCtx(t)
	a, elsewhere := "{go:watch:slot}:a", "go:watch:elsewhere"
	for _, k := range []string{a, elsewhere} {
		if _, err := c.Del(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	err := c.Watch(ctx, func(tx *redcore.Tx) error {
		p := tx.TxPipeline()
		p.Do("SET", a, "1")
		p.Do("INCR", elsewhere)
		results, err := p.Exec(ctx)
		if !errors.Is(err, redcore.ErrCrossSlotTransaction) || results != nil {
			t.Errorf("a Tx pipeline across slots: %v, %v", results, err)
		}
		return nil
	}, a)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{a, elsewhere} {
		if n, _ := mustDo(t, c, "EXISTS", k).Int64(); n != 0 {
			t.Fatalf("a refused cross-slot transaction wrote %s", k)
		}
	}
}

// Watch with no keys on a cluster takes its connection on the node of the Tx pipeline's
// keys, whichever node that is.
func TestClusterWatchWithoutKeysRunsOnTheTxPipelinesNode(t *testing.T) {
	c := clusterClient(t)
	ctx := waitCtx(t)
	for i := 0; i < 16; i++ {
		k := fmt.Sprintf("go:watch:nokeys:%d", i)
		err := c.Watch(ctx, func(tx *redcore.Tx) error {
			p := tx.TxPipeline()
			p.Do("SET", k, i)
			p.Do("GET", k)
			results, err := p.Exec(ctx)
			if err == nil {
				if v, _ := results[1].Reply.Text(); v != strconv.Itoa(i) {
					t.Errorf("GET %s in the transaction: %v", k, results[1])
				}
			}
			return err
		})
		if err != nil {
			t.Fatalf("Watch without keys, a transaction on %s: %v", k, err)
		}
	}
}
