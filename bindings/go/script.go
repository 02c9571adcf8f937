package redcore

// Lua scripts (the library's redcore_script): the SHA-1 is computed once, runs go out as
// EVALSHA, and a server that answers NOSCRIPT (after a restart, a failover or SCRIPT FLUSH)
// gets the script with SCRIPT LOAD and the run again, once, inside the library.

// #include <stdlib.h>
// #include <redcore.h>
import "C"

import (
	"context"
	"runtime"
	"sync"
	"unsafe"
)

// Script is a Lua script, runnable on any number of clients from any number of goroutines.
// Close frees it (a finalizer frees a forgotten one); runs in flight are not affected.
type Script struct {
	mu  sync.RWMutex // held (read) around C calls on s
	s   *C.redcore_script
	sha string
}

// NewScript makes a script of source. Nothing is sent: a script that does not compile fails
// when it first runs.
func NewScript(source string) *Script {
	src := C.CString(source) // NUL-terminated, so an empty script is not a NULL pointer
	defer C.free(unsafe.Pointer(src))
	var s *C.redcore_script
	C.redcore_script_new(src, C.size_t(len(source)), &s)
	sc := &Script{s: s, sha: C.GoString(C.redcore_script_sha(s))}
	runtime.SetFinalizer(sc, func(sc *Script) { sc.Close() })
	return sc
}

// Hash is the script's SHA-1: 40 lowercase hex digits, the name EVALSHA knows it by.
func (s *Script) Hash() string { return s.sha }

// Run runs the script with keys and args (strings, []byte, integers, floats) on c and
// returns its reply: EVALSHA, and on NOSCRIPT, SCRIPT LOAD and EVALSHA again. A Lua error is
// an ErrResponse error with the server's text. On a cluster client the keys must share a
// slot; the script runs on its node.
func (s *Script) Run(ctx context.Context, c *Client, keys []string, args ...any) (Reply, error) {
	return s.run(ctx, c, keys, args, false)
}

// RunRO is Run with EVALSHA_RO: the server refuses writes, and a client reading from
// replicas may run it on one.
func (s *Script) RunRO(ctx context.Context, c *Client, keys []string, args ...any) (Reply, error) {
	return s.run(ctx, c, keys, args, true)
}

// Load loads the script into the server's cache (on every node of a cluster) and checks
// that the server names it by Hash. Never needed for correctness; it spares the first run
// of a burst its NOSCRIPT round trip.
func (s *Script) Load(ctx context.Context, c *Client) error {
	_, err := withContext(ctx, func() (struct{}, error) {
		return struct{}{}, s.op(c, func(sc *C.redcore_script, cl *C.redcore_client, cerr **C.redcore_error) C.enum_redcore_error_code {
			return C.redcore_script_load_blocking(sc, cl, cerr)
		})
	})
	return err
}

func (s *Script) run(ctx context.Context, c *Client, keys []string, args []any, readOnly bool) (Reply, error) {
	var a flatArgs
	a.addAll(args)
	if a.err != nil {
		return Reply{}, a.err
	}
	return withContext(ctx, func() (Reply, error) {
		k, v := stringArgv(keys), newCArgv(&a)
		defer k.free()
		defer v.free()
		var out *C.redcore_reply
		err := s.op(c, func(sc *C.redcore_script, cl *C.redcore_client, cerr **C.redcore_error) C.enum_redcore_error_code {
			return C.redcore_script_run_blocking(sc, cl, C.size_t(k.count()), k.argv(), k.argvlen(),
				C.size_t(v.count()), v.argv(), v.argvlen(), C.bool(readOnly), &out, cerr)
		})
		if err != nil {
			return Reply{}, err
		}
		return takeReply(out, &itemBuffer{}), nil
	})
}

// op runs one blocking C call with the script and c's client, while both are open.
func (s *Script) op(c *Client, call func(*C.redcore_script, *C.redcore_client, **C.redcore_error) C.enum_redcore_error_code) error {
	defer runtime.KeepAlive(s)
	defer runtime.KeepAlive(c)
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := c.e
	e.use.RLock()
	defer e.use.RUnlock()
	if s.s == nil {
		return &Error{Code: CodeInvalidArgument, Message: "the script is closed"}
	}
	if e.client == nil {
		return closedError()
	}
	var cerr *C.redcore_error
	return check(call(s.s, e.client, &cerr), cerr)
}

// Close frees the script. Safe to call more than once.
func (s *Script) Close() error {
	s.mu.Lock()
	C.redcore_script_free(s.s)
	s.s = nil
	s.mu.Unlock()
	runtime.SetFinalizer(s, nil)
	return nil
}
