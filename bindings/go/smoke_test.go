package redcore_test

import (
	"context"
	"testing"

	"redcore"
)

type redcoreClient = redcore.Client

func openURL(t testing.TB, url string, opts ...any) *redcore.Client {
	t.Helper()
	var o []redcore.Option
	for _, x := range opts {
		o = append(o, x.(redcore.Option))
	}
	c, err := redcore.Open(url, o...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSmoke(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	if _, err := c.Do(ctx, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	r, err := c.Do(ctx, "GET", "k")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := r.Text()
	if s != "v" {
		t.Fatal(s)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r, err = c.Do(cctx, "GET", "k")
	t.Log(r, err)
}
