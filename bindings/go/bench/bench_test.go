// Package bench measures the redcore Go binding beside go-redis v9 and valkey-go against the
// same server in the same run: GET and SET from one goroutine, from 64 and 512 goroutines,
// GET from one goroutine whose context has a deadline, and pipelines of 100. A module of its own, so that the binding itself depends on nothing.
//
//	REDCORE_BENCH_URL=redis://127.0.0.1:6379 go test -run '^$' -bench . -benchmem
//
// (bench/run.py --only go starts a server, runs this and writes the results.) Each
// benchmark reports ops/s (commands per second; a pipeline counts its 100 commands) and
// conns, the connections the server counted at the end of the run.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valkey-io/valkey-go"

	"redcore"
)

// client is what every peer is driven through.
type client interface {
	get(ctx context.Context, key string) error
	set(ctx context.Context, key, value string) error
	pipelineGet(ctx context.Context, keys []string) error
	close()
}

const (
	keyCount = 1000
	value    = "value-of-sixteen"
	pipeline = 100
)

var keys = func() []string {
	k := make([]string, keyCount)
	for i := range k {
		k[i] = "bench:" + strconv.Itoa(i)
	}
	return k
}()

func serverURL(b *testing.B) string {
	u := os.Getenv("REDCORE_BENCH_URL")
	if u == "" {
		b.Skip("REDCORE_BENCH_URL is not set (bench/run.py --only go sets it)")
	}
	return u
}

func serverAddr(b *testing.B) string {
	u, err := url.Parse(serverURL(b))
	if err != nil {
		b.Fatal(err)
	}
	return u.Host
}

// ---- the peers ------------------------------------------------------------------------------

type redcoreClient struct{ c *redcore.Client }

func (r redcoreClient) get(ctx context.Context, key string) error {
	_, err := r.c.Get(ctx, key)
	return err
}

func (r redcoreClient) set(ctx context.Context, key, value string) error {
	return r.c.Set(ctx, key, value)
}

func (r redcoreClient) pipelineGet(ctx context.Context, keys []string) error {
	p := r.c.Pipeline()
	for _, k := range keys {
		p.Do("GET", k)
	}
	_, err := p.Exec(ctx)
	return err
}

func (r redcoreClient) close() { r.c.Close() }

type goRedisClient struct{ c *redis.Client }

func (g goRedisClient) get(ctx context.Context, key string) error {
	return g.c.Get(ctx, key).Err()
}

func (g goRedisClient) set(ctx context.Context, key, value string) error {
	return g.c.Set(ctx, key, value, 0).Err()
}

func (g goRedisClient) pipelineGet(ctx context.Context, keys []string) error {
	p := g.c.Pipeline()
	for _, k := range keys {
		p.Get(ctx, k)
	}
	_, err := p.Exec(ctx)
	return err
}

func (g goRedisClient) close() { g.c.Close() }

type valkeyClient struct{ c valkey.Client }

func (v valkeyClient) get(ctx context.Context, key string) error {
	return v.c.Do(ctx, v.c.B().Get().Key(key).Build()).Error()
}

func (v valkeyClient) set(ctx context.Context, key, value string) error {
	return v.c.Do(ctx, v.c.B().Set().Key(key).Value(value).Build()).Error()
}

func (v valkeyClient) pipelineGet(ctx context.Context, keys []string) error {
	cmds := make(valkey.Commands, 0, len(keys))
	for _, k := range keys {
		cmds = append(cmds, v.c.B().Get().Key(k).Build())
	}
	for _, r := range v.c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

func (v valkeyClient) close() { v.c.Close() }

var peers = []struct {
	name string
	open func(b *testing.B) client
}{
	{"redcore", func(b *testing.B) client {
		c, err := redcore.Open(serverURL(b))
		if err != nil {
			b.Fatal(err)
		}
		return redcoreClient{c}
	}},
	{"go-redis", func(b *testing.B) client {
		return goRedisClient{redis.NewClient(&redis.Options{Addr: serverAddr(b)})}
	}},
	{"valkey-go", func(b *testing.B) client {
		c, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{serverAddr(b)}})
		if err != nil {
			b.Fatal(err)
		}
		return valkeyClient{c}
	}},
}

// ---- the scenarios --------------------------------------------------------------------------

// connectedClients asks the server, over a socket of its own, how many clients it has
// (this one excluded).
func connectedClients(b *testing.B) int {
	conn, err := net.DialTimeout("tcp", serverAddr(b), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprint(conn, "INFO clients\r\n")
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_clients:"); ok {
			n, _ := strconv.Atoi(v)
			return n - 1
		}
	}
}

// runConcurrent runs op b.N times, shared by `goroutines` goroutines.
func runConcurrent(b *testing.B, goroutines int, op func(i int) error) {
	runN(b, b.N, goroutines, op)
}

// runN runs op n times, shared by `goroutines` goroutines.
func runN(b *testing.B, n, goroutines int, op func(i int) error) {
	var next int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(atomic.AddInt64(&next, 1))
				if i > n {
					return
				}
				if err := op(i); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
}

func report(b *testing.B, start time.Time, commands int) {
	elapsed := time.Since(start).Seconds()
	b.ReportMetric(float64(commands)/elapsed, "ops/s")
	b.ReportMetric(float64(connectedClients(b)), "conns")
}

func BenchmarkGoClients(b *testing.B) {
	ctx := context.Background()
	// Keys to read, written once through a plain socket-free path: the first peer.
	seed := peers[0].open(b)
	for _, k := range keys {
		if err := seed.set(ctx, k, value); err != nil {
			b.Fatal(err)
		}
	}
	seed.close()

	for _, op := range []string{"GET", "SET"} {
		for _, goroutines := range []int{1, 64, 512} {
			for _, peer := range peers {
				name := fmt.Sprintf("%s/goroutines=%d/%s", op, goroutines, peer.name)
				b.Run(name, func(b *testing.B) {
					c := peer.open(b)
					defer c.close()
					do := func(i int) error { return c.get(ctx, keys[i%keyCount]) }
					if op == "SET" {
						do = func(i int) error { return c.set(ctx, keys[i%keyCount], value) }
					}
					// Warm up: connections open, pools fill.
					runN(b, 20*goroutines, goroutines, do)
					b.ReportAllocs()
					b.ResetTimer()
					start := time.Now()
					runConcurrent(b, goroutines, do)
					b.StopTimer()
					report(b, start, b.N)
				})
			}
		}
	}
	// One goroutine whose every call carries a context with a deadline, as a request's
	// context in a server does (redcore cannot take its plain direct path then).
	dctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	runSequential(b, "GET-deadline", 1, func(c client, i int) error {
		return c.get(dctx, keys[i%keyCount])
	})
	runSequential(b, "PIPELINE100", pipeline, func(c client, i int) error {
		return c.pipelineGet(ctx, keys[:pipeline])
	})
}

// runSequential runs op b.N times from one goroutine for each peer, as the sub-benchmark
// name/goroutines=1/peer; each op sends `commands` commands.
func runSequential(b *testing.B, name string, commands int, op func(c client, i int) error) {
	for _, peer := range peers {
		b.Run(fmt.Sprintf("%s/goroutines=1/%s", name, peer.name), func(b *testing.B) {
			c := peer.open(b)
			defer c.close()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := op(c, i); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			report(b, start, b.N*commands)
		})
	}
}
