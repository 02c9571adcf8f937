package redcore

// The transaction helper (the library's redcore_client_transaction, redis-py's
// transaction()): WATCH, the caller's function, MULTI / EXEC, and again while a watched key
// changed, all inside one call. The library calls the Go function back on the calling
// thread, once per attempt, through a handle (handles.go).

// #include <redcore.h>
// extern int redcoreGoTransaction(void *userdata, redcore_transaction *tx);
import "C"

import (
	"context"
	"errors"
	"runtime"
)

// TxAttempt is one attempt of Client.Transaction, lent to its function: Do reads now on the
// watching connection, Queue adds a command to the MULTI / EXEC that follows. Use it only
// inside the function, on its goroutine.
type TxAttempt struct {
	ctx    context.Context
	tx     *C.redcore_transaction
	queued int
	err    error // the first argument that could not be converted by Queue
}

// transactionRun is what the callback reaches through its handle.
type transactionRun struct {
	ctx      context.Context
	fn       func(*TxAttempt) error
	queued   int   // commands the last attempt queued
	err      error // what fn returned, when not nil
	panicked any   // what fn panicked with, raised again on the caller's side
}

// Transaction runs fn under WATCH keys and then what fn queued in MULTI / EXEC, on a
// connection held for it; while EXEC finds that a watched key changed, it starts again
// (WATCH, fn, EXEC), at most maxAttempts times (then ErrWatch). It returns EXEC's results,
// one per queued command: after EXECABORT each has its own queueing error or
// ErrExecAbort, and errors inside EXEC's reply stay at their positions (the error returned
// is then the first of them). When fn returns an error, nothing is sent and Transaction
// returns it, but for ErrWatch (what tx.Do fails with when the watching connection was
// lost), which starts the next attempt as a changed key does. On a cluster client every key must share the first watched key's slot
// (ErrCrossSlotTransaction).
//
//	results, err := client.Transaction(ctx, func(tx *redcore.TxAttempt) error {
//		n, err := tx.Do(ctx, "GET", "counter")
//		...
//		tx.Queue("SET", "counter", next)
//		return nil
//	}, 10, "counter")
//
// fn runs on the thread that called Transaction, inside the library's call: it must not
// call runtime.Goexit (t.FailNow in a test). ctx is checked before each step; a step
// already under way runs to its end. Closing the client waits for running transactions (so
// fn must not close the client).
func (c *Client) Transaction(ctx context.Context, fn func(tx *TxAttempt) error, maxAttempts int, keys ...string) ([]Result, error) {
	defer runtime.KeepAlive(c)
	if ctx.Err() != nil {
		return nil, contextError(ctx)
	}
	if maxAttempts < 1 {
		return nil, &Error{Code: CodeInvalidArgument, Message: "a transaction needs at least one attempt"}
	}
	if !c.e.enterHold() {
		return nil, closedError()
	}
	defer c.e.leaveHold()
	run := &transactionRun{ctx: ctx, fn: fn}
	handle := newHandle(run)
	defer releaseHandle(handle)
	watch := stringArgv(keys)
	defer watch.free()
	var out *C.redcore_pipeline_result
	var cerr *C.redcore_error
	code := C.redcore_client_transaction(c.e.client, C.size_t(watch.count()), watch.argv(), watch.argvlen(),
		C.uint32_t(maxAttempts), C.redcore_transaction_fn(C.redcoreGoTransaction), handle, &out, &cerr)
	if run.panicked != nil {
		if code == C.REDCORE_OK {
			C.redcore_pipeline_result_free(out)
		}
		C.redcore_error_free(cerr)
		panic(run.panicked)
	}
	if run.err != nil {
		C.redcore_error_free(cerr)
		return nil, run.err
	}
	if code != C.REDCORE_OK {
		return nil, takeError(code, cerr)
	}
	var items itemBuffer
	results := items.results(out, run.queued)
	C.redcore_pipeline_result_free(out)
	for _, r := range results {
		if r.Err != nil {
			return results, r.Err
		}
	}
	return results, nil
}

// attempt runs fn for one attempt, on the library's call of the callback. It returns the
// code for the library: OK to send what was queued, anything else to stop.
func (run *transactionRun) attempt(tx *C.redcore_transaction) (code C.int) {
	a := &TxAttempt{ctx: run.ctx, tx: tx}
	defer func() {
		if p := recover(); p != nil { // a panic must not unwind through the library
			run.panicked = p
			code = C.REDCORE_ERR_INTERNAL
		}
		a.tx = nil // lent for this attempt only
	}()
	run.err = nil
	err := run.fn(a)
	if err == nil {
		err = a.err
	}
	if err == nil && run.ctx.Err() != nil {
		err = contextError(run.ctx)
	}
	if errors.Is(err, ErrWatch) && run.ctx.Err() == nil {
		// The watching connection was lost (tx.Do's ErrWatch): as for a changed key, the
		// library starts the next attempt, or fails with ErrWatch after the last.
		return C.REDCORE_ERR_WATCH
	}
	if err != nil {
		run.err = err // Transaction returns it, whatever the code
		return C.REDCORE_ERR_INVALID_ARGUMENT
	}
	run.queued = a.queued
	return C.REDCORE_OK
}

// Attempt is which attempt this is, from 1.
func (a *TxAttempt) Attempt() int {
	if a.tx == nil {
		return 0
	}
	return int(C.redcore_transaction_attempt(a.tx))
}

// Do runs a command now on the watching connection (arguments as for Client.Do): the reads
// that decide what to queue. MULTI, EXEC and DISCARD are refused (ErrInvalidArgument): the
// helper sends them.
func (a *TxAttempt) Do(ctx context.Context, args ...any) (Reply, error) {
	if err := a.usable(); err != nil {
		return Reply{}, err
	}
	if ctx.Err() != nil {
		return Reply{}, contextError(ctx)
	}
	var f flatArgs
	f.addAll(args)
	if f.err != nil {
		return Reply{}, f.err
	}
	v := newCArgv(&f)
	defer v.free()
	var out *C.redcore_reply
	var cerr *C.redcore_error
	code := C.redcore_transaction_command_blocking(a.tx, C.int(v.count()), v.argv(), v.argvlen(), &out, &cerr)
	if code != C.REDCORE_OK {
		return Reply{}, takeError(code, cerr)
	}
	return takeReply(out, &itemBuffer{}), nil
}

// Queue adds a command (arguments as for Client.Do) to run between MULTI and EXEC once the
// function returns nil. An argument that cannot be converted makes the attempt fail with
// its error, nothing sent.
func (a *TxAttempt) Queue(args ...any) {
	if a.usable() != nil || a.err != nil {
		return
	}
	var f flatArgs
	f.addAll(args)
	if f.err != nil {
		a.err = f.err
		return
	}
	v := newCArgv(&f)
	defer v.free()
	var cerr *C.redcore_error
	if code := C.redcore_transaction_queue(a.tx, C.int(v.count()), v.argv(), v.argvlen(), &cerr); code != C.REDCORE_OK {
		a.err = takeError(code, cerr)
		return
	}
	a.queued++
}

func (a *TxAttempt) usable() error {
	if a.tx == nil {
		return &Error{Code: CodeInvalidArgument, Message: "a TxAttempt used after its function returned"}
	}
	return nil
}
