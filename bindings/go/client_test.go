package redcore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"redcore"
)

func mustDo(t testing.TB, c *redcore.Client, args ...any) redcore.Reply {
	t.Helper()
	r, err := c.Do(context.Background(), args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return r
}

func TestDoConvertsArgumentsAndReadsEveryType(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	k := key(t, "k")
	binary := []byte("a\x00b\r\nc")
	mustDo(t, c, "SET", k, binary)
	r := mustDo(t, c, "GET", k)
	if b, err := r.Bytes(); err != nil || !bytes.Equal(b, binary) {
		t.Fatalf("GET of binary value: %q, %v", b, err)
	}
	if r.Kind() != redcore.KindBulk {
		t.Fatalf("kind %v", r.Kind())
	}

	// Integers and floats are sent as their decimal text.
	mustDo(t, c, "SET", k, int64(-42))
	if n, err := mustDo(t, c, "GET", k).Int64(); err != nil || n != -42 {
		t.Fatalf("Int64 of \"-42\": %d, %v", n, err)
	}
	mustDo(t, c, "SET", k, uint8(7))
	if n, err := mustDo(t, c, "INCRBY", k, 3).Int64(); err != nil || n != 10 {
		t.Fatalf("INCRBY: %d, %v", n, err)
	}
	if f, err := mustDo(t, c, "INCRBYFLOAT", k, 0.5).Float64(); err != nil || f != 10.5 {
		t.Fatalf("INCRBYFLOAT: %v, %v", f, err)
	}

	// Anything else is refused before anything is sent.
	for _, bad := range []any{true, time.Second, struct{}{}, nil, []string{"x"}} {
		_, err := c.Do(ctx, "SET", k, bad)
		if !errors.Is(err, redcore.ErrData) {
			t.Errorf("argument %T: got %v, want ErrData", bad, err)
		}
	}
	if _, err := c.Do(ctx); !errors.Is(err, redcore.ErrInvalidArgument) {
		t.Errorf("no arguments: got %v", err)
	}
	if v, _ := mustDo(t, c, "GET", k).Text(); v != "10.5" {
		t.Errorf("a refused SET was sent: value %q", v)
	}

	// Nil, and accessors on the wrong type.
	missing := mustDo(t, c, "GET", key(t, "missing"))
	if !missing.IsNil() {
		t.Fatalf("GET of a missing key: %v", missing)
	}
	if _, err := missing.Text(); err != redcore.ErrNil {
		t.Errorf("Text of nil: %v", err)
	}
	if _, err := mustDo(t, c, "PING").Int64(); !errors.Is(err, redcore.ErrData) {
		t.Errorf("Int64 of PONG: %v", err)
	}

	// RESP3 types: a map, a double, a boolean, a set, an error value inside an array.
	h := key(t, "h")
	mustDo(t, c, "HSET", h, "f1", "v1", "f2", "v2")
	m, err := mustDo(t, c, "HGETALL", h).Map()
	if err != nil || len(m) != 2 || m["f1"].String() != `"v1"` {
		t.Fatalf("HGETALL as map: %v, %v", m, err)
	}
	z := key(t, "z")
	mustDo(t, c, "ZADD", z, 1.25, "m")
	if f, err := mustDo(t, c, "ZSCORE", z, "m").Float64(); err != nil || f != 1.25 {
		t.Errorf("ZSCORE: %v, %v", f, err)
	}
	if b, err := mustDo(t, c, "EVAL", "redis.setresp(3); return true", 0).Bool(); err != nil || !b {
		t.Errorf("RESP3 boolean: %v, %v", b, err)
	}
	s := key(t, "s")
	mustDo(t, c, "SADD", s, "a", "b")
	if r := mustDo(t, c, "SMEMBERS", s); r.Kind() != redcore.KindSet {
		t.Errorf("SMEMBERS kind: %v", r.Kind())
	}
	arr := mustDo(t, c, "EVAL", "return {1, redis.error_reply('NOSCRIPT inner'), 'x'}", 0)
	elems, _ := arr.Slice()
	if len(elems) != 3 || !errors.Is(elems[1].Err(), redcore.ErrNoScript) || elems[0].Err() != nil {
		t.Errorf("error value inside an array: %v", arr)
	}
}

func TestRESP2AndUnixSocket(t *testing.T) {
	c := openURL(t, server.unixURL(), redcore.WithProtocol(2))
	h := key(t, "h")
	mustDo(t, c, "HSET", h, "a", "1", "b", "2")
	m, err := mustDo(t, c, "HGETALL", h).Map()
	if err != nil || len(m) != 2 {
		t.Fatalf("RESP2 HGETALL as map: %v, %v", m, err)
	}
	if r := mustDo(t, c, "HGETALL", h); r.Kind() != redcore.KindArray {
		t.Errorf("RESP2 HGETALL kind: %v", r.Kind())
	}
}

func TestTypedHelpers(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	k := key(t, "k")
	if _, err := c.Get(ctx, k); err != redcore.ErrNil {
		t.Fatalf("Get of a missing key: %v", err)
	}
	if err := c.Set(ctx, k, "v1", redcore.TTL(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := mustDo(t, c, "PTTL", k).Int64(); ttl <= 0 || ttl > 60000 {
		t.Errorf("TTL option: PTTL %d", ttl)
	}
	if err := c.Set(ctx, k, "v2", redcore.NX()); err != redcore.ErrNil {
		t.Errorf("SET NX on an existing key: %v", err)
	}
	if err := c.Set(ctx, k, "v3", redcore.XX(), redcore.KeepTTL()); err != nil {
		t.Errorf("SET XX KEEPTTL: %v", err)
	}
	if v, err := c.Get(ctx, k); v != "v3" || err != nil {
		t.Errorf("Get: %q, %v", v, err)
	}
	if ok, err := c.Expire(ctx, k, 30*time.Second); !ok || err != nil {
		t.Errorf("Expire: %v, %v", ok, err)
	}
	if n, err := c.Del(ctx, k, key(t, "other")); n != 1 || err != nil {
		t.Errorf("Del: %d, %v", n, err)
	}
	if ok, _ := c.Expire(ctx, k, time.Second); ok {
		t.Error("Expire of a deleted key said true")
	}
	n1, _ := c.Incr(ctx, key(t, "n"))
	n2, err := c.IncrBy(ctx, key(t, "n"), 41)
	if n1 != 1 || n2 != 42 || err != nil {
		t.Errorf("Incr, IncrBy: %d, %d, %v", n1, n2, err)
	}

	h := key(t, "h")
	if n, err := c.HSet(ctx, h, "name", "ada", "born", 1815); n != 2 || err != nil {
		t.Errorf("HSet: %d, %v", n, err)
	}
	if _, err := c.HSet(ctx, h, "odd"); !errors.Is(err, redcore.ErrData) {
		t.Errorf("HSet with an odd count: %v", err)
	}
	if v, err := c.HGet(ctx, h, "born"); v != "1815" || err != nil {
		t.Errorf("HGet: %q, %v", v, err)
	}
	if _, err := c.HGet(ctx, h, "none"); err != redcore.ErrNil {
		t.Errorf("HGet of a missing field: %v", err)
	}
	all, err := c.HGetAll(ctx, h)
	if err != nil || len(all) != 2 || all["name"] != "ada" {
		t.Errorf("HGetAll: %v, %v", all, err)
	}

	l := key(t, "l")
	if n, err := c.LPush(ctx, l, "c", "b", "a"); n != 3 || err != nil {
		t.Errorf("LPush: %d, %v", n, err)
	}
	if got, err := c.LRange(ctx, l, 0, -1); fmt.Sprint(got) != "[a b c]" || err != nil {
		t.Errorf("LRange: %v, %v", got, err)
	}

	s := key(t, "s")
	if n, err := c.SAdd(ctx, s, "x", "y", "x"); n != 2 || err != nil {
		t.Errorf("SAdd: %d, %v", n, err)
	}
	members, _ := c.SMembers(ctx, s)
	sort.Strings(members)
	if fmt.Sprint(members) != "[x y]" {
		t.Errorf("SMembers: %v", members)
	}

	z := key(t, "z")
	if n, err := c.ZAdd(ctx, z, redcore.Z{Score: 2, Member: "two"}, redcore.Z{Score: 1, Member: "one"}); n != 2 || err != nil {
		t.Errorf("ZAdd: %d, %v", n, err)
	}
	if got, _ := c.ZRange(ctx, z, 0, -1); fmt.Sprint(got) != "[one two]" {
		t.Errorf("ZRange: %v", got)
	}
	scored, err := c.ZRangeWithScores(ctx, z, 0, -1)
	if err != nil || len(scored) != 2 || scored[1] != (redcore.Z{Score: 2, Member: "two"}) {
		t.Errorf("ZRangeWithScores: %v, %v", scored, err)
	}
	c2 := open(t, redcore.WithProtocol(2))
	if scored2, err := c2.ZRangeWithScores(ctx, z, 0, -1); err != nil || fmt.Sprint(scored2) != fmt.Sprint(scored) {
		t.Errorf("ZRangeWithScores on RESP2: %v, %v", scored2, err)
	}
}

func TestScan(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	prefix := key(t, "")
	const count = 250
	for i := 0; i < count; i++ {
		if err := c.Set(ctx, prefix+strconv.Itoa(i), i); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	it := c.ScanIterator(ctx, prefix+"*", 37)
	for it.Next() {
		seen[it.Key()] = true
	}
	if err := it.Err(); err != nil || len(seen) != count {
		t.Fatalf("ScanIterator found %d keys of %d: %v", len(seen), count, err)
	}
	keys, cursor, err := c.Scan(ctx, 0, prefix+"*", 10)
	if err != nil || (cursor == 0 && len(keys) != count) {
		t.Fatalf("Scan: %d keys, cursor %d, %v", len(keys), cursor, err)
	}
}

// 64 goroutines x 10,000 commands each, every reply checked: each goroutine counts on its
// own key (INCR must answer 1, 2, 3, ... in order) and reads its value back now and then,
// half of them with cancellable contexts (so both the queue and the direct path run).
func TestConcurrentCallersGetTheirOwnReplies(t *testing.T) {
	c := open(t)
	const goroutines, commands = 64, 10000
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			ctx := context.Background()
			if g%2 == 1 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Minute)
				defer cancel()
			}
			k := key(t, strconv.Itoa(g))
			want := int64(0)
			for i := 0; i < commands; i++ {
				if i%10 == 9 {
					v, err := c.Get(ctx, k)
					if err != nil || v != strconv.FormatInt(want, 10) {
						errs <- fmt.Errorf("goroutine %d: GET %q, %v, want %d", g, v, err, want)
						return
					}
					continue
				}
				n, err := c.Incr(ctx, k)
				want++
				if err != nil || n != want {
					errs <- fmt.Errorf("goroutine %d: INCR %d, %v, want %d", g, n, err, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestContextCancellation(t *testing.T) {
	c := open(t)
	k := key(t, "k")
	mustDo(t, c, "SET", k, "still paired")

	// Already cancelled: returns at once, nothing sent.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Do(done, "SET", k, "sent anyway"); err != context.Canceled {
		t.Fatalf("cancelled context: %v", err)
	}

	// A deadline passing mid-flight: the call returns when it passes, as a TIMEOUT that
	// also is context.DeadlineExceeded, long before the server answers (the margin is wide:
	// the reply comes after 1.5 s, the deadline is at 50 ms).
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Do(ctx, "DEBUG", "SLEEP", "1.5")
	if !errors.Is(err, redcore.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline mid-flight: %v", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("the call returned after %v, when the server answered, not at its deadline", elapsed)
	}

	// Cancelled from elsewhere while waiting.
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() {
		time.Sleep(30 * time.Millisecond)
		cancel2()
	}()
	if _, err := c.Do(ctx2, "BLPOP", key(t, "empty"), 2); err != context.Canceled {
		t.Fatalf("cancel mid-flight: %v", err)
	}

	// The late replies were dropped inside the library: the next replies are the right ones,
	// with a context that cannot be cancelled (the direct path) and with one that can (a
	// lone caller's blocking call runs in a worker goroutine).
	withDeadline, cancel3 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel3()
	for i := 0; i < 20; i++ {
		for _, ctx := range []context.Context{context.Background(), withDeadline} {
			if v, err := c.Get(ctx, k); v != "still paired" || err != nil {
				t.Fatalf("after abandoned calls: %q, %v", v, err)
			}
		}
	}
}

func TestPipelines(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	k := key(t, "k")
	p := c.Pipeline()
	for i := 0; i < 100; i++ {
		p.Do("SET", k+strconv.Itoa(i), i)
		p.Do("GET", k+strconv.Itoa(i))
	}
	p.Do("LPUSH", k+"0", "wrong type") // fails; the others still run
	p.Do("INCR", k+"1")
	if p.Len() != 202 {
		t.Fatalf("Len %d", p.Len())
	}
	results, err := p.Exec(ctx)
	if !errors.Is(err, redcore.ErrResponse) || len(results) != 202 {
		t.Fatalf("Exec: %d results, %v", len(results), err)
	}
	for i := 0; i < 100; i++ {
		if v, _ := results[2*i+1].Reply.Text(); v != strconv.Itoa(i) {
			t.Fatalf("result %d: %v", 2*i+1, results[2*i+1])
		}
	}
	if !errors.Is(results[200].Err, redcore.ErrResponse) {
		t.Errorf("WRONGTYPE in a pipeline: %v", results[200])
	}
	if n, _ := results[201].Reply.Int64(); n != 2 {
		t.Errorf("INCR after a failed command: %v", results[201])
	}
	if p.Len() != 0 {
		t.Errorf("Exec did not empty the pipeline")
	}

	// The same through the queue (a cancellable context), and a conversion error.
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	p.Do("GET", k+"5")
	if results, err := p.Exec(cctx); err != nil || results[0].Reply.String() != `"5"` {
		t.Errorf("pipeline through the queue: %v, %v", results, err)
	}
	p.Do("SET", k, true)
	if _, err := p.Exec(ctx); !errors.Is(err, redcore.ErrData) {
		t.Errorf("conversion error in a pipeline: %v", err)
	}
	p.Do("SUBSCRIBE", "channel")
	if _, err := p.Exec(ctx); !errors.Is(err, redcore.ErrInvalidArgument) {
		t.Errorf("SUBSCRIBE in a pipeline: %v", err)
	}
}

func TestTransactions(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	k := key(t, "n")
	tx := c.TxPipeline()
	tx.Do("INCR", k)
	tx.Do("INCRBY", k, 10)
	tx.Do("GET", k)
	results, err := tx.Exec(ctx)
	if err != nil || results[2].Reply.String() != `"11"` {
		t.Fatalf("transaction: %v, %v", results, err)
	}
	// A command the server refuses when queued aborts the whole transaction.
	tx.Do("INCR", k)
	tx.Do("NOSUCHCOMMAND")
	results, err = tx.Exec(ctx)
	if err == nil || !errors.Is(results[0].Err, redcore.ErrExecAbort) || !errors.Is(results[1].Err, redcore.ErrResponse) {
		t.Fatalf("aborted transaction: %v, %v", results, err)
	}
	if v, _ := c.Get(ctx, k); v != "11" {
		t.Errorf("an aborted transaction wrote: %q", v)
	}
}
