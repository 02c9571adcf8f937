package redcore

// Optimistic transactions: Watch holds a connection of the client's for the caller, sends
// WATCH on it, and runs the caller's function, whose reads and final MULTI / EXEC go out on
// that connection. The connection goes back when the function returns.

// #include <stdlib.h>
// #include <redcore.h>
import "C"

import (
	"context"
	"runtime"
	"sync"
	"unsafe"
)

// Tx is a connection held by Watch. Use it only inside the function given to Watch, from
// one goroutine at a time.
type Tx struct {
	c  *Client
	mu sync.Mutex
	d  *C.redcore_dedicated
}

// Watch runs fn with a connection held for it, after WATCH keys on it (on a cluster, the
// connection is to the node serving the first key, and the transaction's keys must share
// its slot: ErrCrossSlotTransaction otherwise; with no keys, the connection is taken by
// fn's first tx.Do, or else by the TxPipeline, on the node of its first key, any primary
// when it has none). Inside fn, read with tx.Do and write with tx.TxPipeline(): its Exec
// fails with ErrWatch (for every command) when a watched key changed since WATCH, or (with
// no results) when the held connection was lost while it watched them (tx.Do fails with
// ErrWatch then too), and nothing was written; call Watch again to retry. Waits up to the
// dedicated-connection wait (5 s by default) for a free connection, then fails with
// ErrMaxConnections; a WATCH the server refuses fails Watch with the
// server's error, and fn does not run.
//
//	err := client.Watch(ctx, func(tx *redcore.Tx) error {
//		r, err := tx.Do(ctx, "GET", "balance")
//		...
//		p := tx.TxPipeline()
//		p.Do("SET", "balance", newBalance)
//		_, err = p.Exec(ctx)
//		return err
//	}, "balance")
func (c *Client) Watch(ctx context.Context, fn func(tx *Tx) error, keys ...string) error {
	defer runtime.KeepAlive(c)
	tx, err := c.e.hold(keys)
	if err != nil {
		return err
	}
	tx.c = c
	defer tx.release()
	if len(keys) > 0 {
		cl := command("WATCH", keys...)
		cl.args.endCommand(cl.args.argCount())
		if _, err := tx.do(ctx, cl); err != nil {
			return err
		}
	}
	return fn(tx)
}

// Do sends a command on the held connection (arguments as for Client.Do).
func (tx *Tx) Do(ctx context.Context, args ...any) (Reply, error) {
	cl := newCall()
	cl.args.addAll(args)
	cl.args.endCommand(cl.args.argCount())
	return tx.do(ctx, cl)
}

// do runs a call of one command on the held connection and returns its reply or error.
func (tx *Tx) do(ctx context.Context, cl *call) (Reply, error) {
	results, err := tx.run(ctx, cl)
	if err != nil {
		return Reply{}, err
	}
	return results[0].Reply, results[0].Err
}

// TxPipeline starts the MULTI / EXEC transaction that ends the optimistic one.
func (tx *Tx) TxPipeline() *Pipeline { return &Pipeline{c: tx.c, tx: tx, atomic: true} }

// exec sends MULTI, the pipeline's commands and EXEC on the held connection, all of them
// or, when the library refuses one (a key of another cluster slot, SUBSCRIBE, ...), none;
// with no command, MULTI and EXEC alone, which still tell whether a watched key changed.
func (tx *Tx) exec(ctx context.Context, commands *flatArgs) ([]Result, error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.d == nil {
		return nil, &Error{Code: CodeInvalidArgument, Message: "the transaction's connection was given back (Tx used after Watch returned)"}
	}
	return tx.c.e.transactionOnHeld(ctx, tx.d, commands)
}

// run sends the call's commands on the held connection and waits for all their results.
func (tx *Tx) run(ctx context.Context, cl *call) ([]Result, error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.d == nil {
		releaseCall(cl)
		return nil, &Error{Code: CodeInvalidArgument, Message: "the transaction's connection was given back (Tx used after Watch returned)"}
	}
	return tx.c.e.onHeld(ctx, tx.d, cl)
}

func (tx *Tx) release() {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	C.redcore_dedicated_release(tx.d)
	tx.d = nil
}

// hold takes a dedicated connection: on a cluster, on the node serving the first key
// (the transaction's keys must then share its slot).
func (e *engine) hold(keys []string) (*Tx, error) {
	e.use.RLock()
	defer e.use.RUnlock()
	if e.client == nil {
		return nil, closedError()
	}
	tx := &Tx{}
	var cerr *C.redcore_error
	var code C.enum_redcore_error_code
	if len(keys) > 0 {
		key := C.CString(keys[0])
		defer C.free(unsafe.Pointer(key))
		code = C.redcore_client_dedicated_for_key(e.client, key, C.size_t(len(keys[0])), &tx.d, &cerr)
	} else {
		code = C.redcore_client_dedicated(e.client, &tx.d, &cerr)
	}
	if code != C.REDCORE_OK {
		return nil, takeError(code, cerr)
	}
	return tx, nil
}

// onHeld submits the call's commands (cl.args with argcs) on a held connection through the
// completion queue and waits for their results, one per command: set out here, so that
// complete fills them in even when there is only one.
func (e *engine) onHeld(ctx context.Context, d *C.redcore_dedicated, cl *call) ([]Result, error) {
	if err := cl.check(); err != nil {
		releaseCall(cl)
		return nil, err
	}
	if ctx.Err() != nil {
		releaseCall(cl)
		return nil, contextError(ctx)
	}
	cl.want = len(cl.args.argcs)
	cl.results = make([]Result, cl.want)
	err := e.submitCall(cl, func() C.enum_redcore_error_code {
		return C.redcore_dedicated_submit_batch(d, e.queue, C.size_t(cl.want), &cl.tokens[0],
			cl.args.argcsPtr(), cl.args.lensPtr(), cl.args.bytesPtr(), C.size_t(len(cl.args.bytes)), &cl.outErr)
	})
	if err != nil {
		return nil, err
	}
	if err := e.await(ctx, cl); err != nil {
		return nil, err
	}
	results := cl.results
	releaseCall(cl)
	return results, nil
}

// transactionOnHeld runs args (commands with argcs, possibly none) as one MULTI / EXEC
// transaction on a held connection through the completion queue: one completion with a
// result per command, or an error in their place.
func (e *engine) transactionOnHeld(ctx context.Context, d *C.redcore_dedicated, args *flatArgs) ([]Result, error) {
	if ctx.Err() != nil {
		return nil, contextError(ctx)
	}
	count := len(args.argcs)
	var argcs *C.uint32_t
	var lens *C.size_t
	if count > 0 {
		argcs, lens = args.argcsPtr(), args.lensPtr()
	}
	cl := newCall()
	cl.want = 1
	err := e.submitCall(cl, func() C.enum_redcore_error_code {
		return C.redcore_dedicated_submit_transaction(d, e.queue, cl.tokens[0], C.size_t(count),
			argcs, lens, args.bytesPtr(), C.size_t(len(args.bytes)), &cl.outErr)
	})
	if err != nil {
		return nil, err
	}
	if err := e.await(ctx, cl); err != nil {
		return nil, err
	}
	results, err := cl.results, cl.err
	releaseCall(cl)
	return results, err
}
