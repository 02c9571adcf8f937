package redcore_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"redcore"
)

func TestScriptRunsAndSurvivesScriptFlush(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	source := "redis.call('SET', KEYS[1], ARGV[1]); return {KEYS[1], ARGV[1], tonumber(ARGV[2]) * 2}"
	s := redcore.NewScript(source)
	defer s.Close()
	sum := sha1.Sum([]byte(source))
	if s.Hash() != hex.EncodeToString(sum[:]) {
		t.Fatalf("Hash %s, want the SHA-1 of the source", s.Hash())
	}
	k := key(t, "k")
	check := func(what string) {
		t.Helper()
		r, err := s.Run(ctx, c, []string{k}, "v", 21)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got, err := r.Slice()
		if err != nil || len(got) != 3 {
			t.Fatalf("%s: %v (%v)", what, r, err)
		}
		k0, _ := got[0].Text()
		v1, _ := got[1].Text()
		n2, _ := got[2].Int64()
		if k0 != k || v1 != "v" || got[2].Kind() != redcore.KindInteger || n2 != 42 {
			t.Fatalf("%s: %v", what, r)
		}
		if v, err := c.Get(ctx, k); v != "v" || err != nil {
			t.Fatalf("%s: the script's SET: %q %v", what, v, err)
		}
	}
	// The server has never seen the script: EVALSHA answers NOSCRIPT, the library loads it.
	if _, err := c.Do(ctx, "SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	check("first run")
	if r, _ := c.Do(ctx, "SCRIPT", "EXISTS", s.Hash()); !strings.Contains(r.String(), "1") {
		t.Fatalf("SCRIPT EXISTS after the first run: %v", r)
	}
	check("cached run")
	if _, err := c.Do(ctx, "SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	check("run after SCRIPT FLUSH")

	// Load ahead of time; the server names it by the same hash.
	if _, err := c.Do(ctx, "SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	if err := s.Load(ctx, c); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Do(ctx, "EVALSHA", s.Hash(), 1, k, "w", 1); r.IsNil() {
		t.Fatalf("EVALSHA after Load: %v", r)
	}
}

func TestScriptErrors(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	k := key(t, "k")

	// A read-only run refuses writes; reads are fine.
	writer := redcore.NewScript("return redis.call('SET', KEYS[1], 'x')")
	defer writer.Close()
	if _, err := writer.RunRO(ctx, c, []string{k}); !errors.Is(err, redcore.ErrResponse) {
		t.Fatalf("a write in EVALSHA_RO: %v", err)
	}
	reader := redcore.NewScript("return redis.call('EXISTS', KEYS[1])")
	defer reader.Close()
	if r, err := reader.RunRO(ctx, c, []string{k}); err != nil || r.IsNil() {
		t.Fatalf("a read in EVALSHA_RO: %v %v", r, err)
	}

	// A Lua error, a script that does not compile, an argument that cannot be sent.
	failing := redcore.NewScript("return redis.error_reply('MYERR it broke')")
	defer failing.Close()
	if _, err := failing.Run(ctx, c, nil); !errors.Is(err, redcore.ErrResponse) || !strings.Contains(err.Error(), "it broke") {
		t.Fatalf("a Lua error: %v", err)
	}
	broken := redcore.NewScript("this is not lua")
	defer broken.Close()
	if _, err := broken.Run(ctx, c, nil); !errors.Is(err, redcore.ErrResponse) {
		t.Fatalf("a script that does not compile: %v", err)
	}
	if _, err := reader.Run(ctx, c, []string{k}, true); !errors.Is(err, redcore.ErrData) {
		t.Fatalf("a bool argument: %v", err)
	}

	// A closed script, a closed client, a cancelled context.
	closed := redcore.NewScript("return 1")
	closed.Close()
	closed.Close()
	if _, err := closed.Run(ctx, c, nil); !errors.Is(err, redcore.ErrInvalidArgument) {
		t.Fatalf("a closed script: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := reader.Run(cancelled, c, []string{k}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled context: %v", err)
	}
	other, err := redcore.Open(server.url())
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, err := reader.Run(ctx, other, []string{k}); !errors.Is(err, redcore.ErrClosed) {
		t.Fatalf("a closed client: %v", err)
	}
}
