package redcore_test

import (
	"errors"
	"testing"

	"redcore"
)

// A cached read is answered by the library; another client's write invalidates it, and the
// next read has the new value.
func TestCacheHitAndInvalidation(t *testing.T) {
	ctx := waitCtx(t)
	c := open(t, redcore.WithCache(100, 0))
	writer := open(t)
	k := key(t, "k")
	if err := writer.Set(ctx, k, "v1"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if v, err := c.Get(ctx, k); v != "v1" || err != nil {
			t.Fatalf("GET %d: %q %v", i, v, err)
		}
	}
	s, err := c.CacheStats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Hits < 2 || s.Misses < 1 || s.Entries < 1 {
		t.Fatalf("after three reads: %+v", s)
	}
	if err := writer.Set(ctx, k, "v2"); err != nil {
		t.Fatal(err)
	}
	// The invalidation comes on the tracking connection: within a round trip, not at once.
	for {
		v, err := c.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if v == "v2" {
			break
		}
		if v != "v1" || ctx.Err() != nil {
			t.Fatalf("GET after another client's write: %q", v)
		}
	}
	if s, _ := c.CacheStats(); s.Invalidations < 1 {
		t.Fatalf("after the write: %+v", s)
	}

	// A client without a cache, and a cache on RESP2.
	if _, err := writer.CacheStats(); !errors.Is(err, redcore.ErrInvalidArgument) {
		t.Fatalf("CacheStats without a cache: %v", err)
	}
	if _, err := redcore.Open(server.url(), redcore.WithProtocol(2), redcore.WithCache(0, 0)); !errors.Is(err, redcore.ErrInvalidArgument) {
		t.Fatalf("a cache on RESP2: %v", err)
	}
}
