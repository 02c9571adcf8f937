package redcore

// The client: Open, Close, Do, and the two ways a command travels.
//
// A lone call takes the direct path: one blocking cgo call in which the library writes the
// command and reads the reply on the calling thread, as a synchronous client does (the
// fewest hand-offs for one caller). With a context that can be cancelled, a worker
// goroutine makes that call and the caller waits for it or for the context (worker.go).
//
// Every other call (concurrent callers, cancellable contexts) goes through the engine's
// queues (engine.go): callers hand their commands to whichever of them is already crossing
// into the library, which submits everything waiting in one cgo call; the library appends
// each result to a completion queue, and one goroutine takes them in batches, waking the
// callers through channels. So concurrent goroutines share crossings and wake-ups instead of
// paying one of each per command, and no Go callback runs on a library thread.

// #include <redcore.h>
import "C"

import (
	"bytes"
	"context"
	"runtime"
)

// Client is a Redis / Valkey client: a pool of multiplexed connections driven by the
// library's own event-loop thread. Safe for any number of goroutines at once; make one and
// share it. Close it when done (a finalizer closes a forgotten one, later).
type Client struct {
	e *engine
}

// Open connects to the server at url: redis://[user:password@]host[:port][/db][?options],
// rediss:// for TLS, unix:///path/to/socket?db=N (the options are those of
// redcore_config_from_url: protocol, command_timeout, tls_ca_file, ...), or
// redis+cluster://host:port,host:port,... for a Redis Cluster, or
// redis+sentinel://host:port,host:port/service[?role=replica] for the master (or replicas)
// the sentinels name. Unless WithLazyConnect is given, Open waits for the first connection
// and returns its error (errors.Is(err, ErrConnection) for a server that is down or refuses
// the credentials).
func Open(url string, opts ...Option) (*Client, error) {
	cfg, err := newConfig(url)
	if err != nil {
		return nil, err
	}
	defer C.redcore_config_free(cfg.c)
	for _, opt := range opts {
		if err := opt(cfg); err != nil {
			return nil, err
		}
	}
	e, err := newEngine(cfg.c)
	if err != nil {
		return nil, err
	}
	c := &Client{e: e}
	runtime.SetFinalizer(c, func(c *Client) { c.e.close() })
	return c, nil
}

// Close closes the client. Commands still pending fail with ErrClosed, calls in progress
// return ErrClosed at once (also one waiting on a server that stopped answering, with
// WithCommandTimeout(0)), and calls made after it fail with ErrClosed. A Watch callback still
// running is waited for (its calls fail with ErrClosed). Safe to call more than once and from
// several goroutines; returns nil.
func (c *Client) Close() error {
	c.e.close()
	runtime.SetFinalizer(c, nil)
	return nil
}

// Do sends one command: Do(ctx, "SET", "greeting", "hello"). Arguments may be strings,
// byte slices, integers and floats; anything else (a bool, a time.Duration, a struct) fails
// with an ErrData error before anything is sent. A server error reply comes back as an *Error with
// its code (errors.Is(err, ErrResponse); NOSCRIPT is ErrNoScript, ...). When ctx is
// cancelled or its deadline passes first, Do returns at once (context.Canceled, or an
// ErrTimeout error wrapping context.DeadlineExceeded) and the late reply is dropped inside
// the library; a blocking command (BLPOP, ...) is cancelled there, so that the server drops
// it too. Commands that change a shared connection's state (WATCH, MULTI, SUBSCRIBE,
// SELECT) are refused with ErrInvalidArgument: use Watch or TxPipeline.
func (c *Client) Do(ctx context.Context, args ...any) (Reply, error) {
	cl := newCall()
	cl.args.addAll(args)
	r, err := c.e.do(ctx, cl)
	runtime.KeepAlive(c)
	return r, err
}

// blockingCommands never take the direct path: they may wait on the server far longer than
// a command timeout, and Close must not wait for them.
var blockingCommands = [][]byte{
	[]byte("BLPOP"), []byte("BRPOP"), []byte("BRPOPLPUSH"), []byte("BLMOVE"), []byte("BLMPOP"),
	[]byte("BZPOPMIN"), []byte("BZPOPMAX"), []byte("BZMPOP"), []byte("XREAD"),
	[]byte("XREADGROUP"), []byte("WAIT"), []byte("WAITAOF"),
}

// mayBlock reports whether a command may block on the server (by its name).
func (a *flatArgs) mayBlock() bool {
	if len(a.lens) == 0 || a.lens[0] < 4 || a.lens[0] > 10 {
		return false
	}
	switch a.bytes[0] | 0x20 {
	case 'b', 'x', 'w':
	default:
		return false
	}
	name := a.bytes[:a.lens[0]]
	for _, b := range blockingCommands {
		if bytes.EqualFold(name, b) {
			return true
		}
	}
	return false
}
