package redcore

// Pipelines and transactions: commands sent together on one connection in one write,
// answered in order; a transaction wraps them in MULTI / EXEC so they run atomically.

// #include <redcore.h>
import "C"

import (
	"context"
	"runtime"
	"sync/atomic"
)

// Pipeline collects commands to send together. Not safe for concurrent use; reusable: Exec
// empties it.
type Pipeline struct {
	c        *Client
	tx       *Tx // a transaction on a held connection (Tx.TxPipeline)
	atomic   bool
	args     flatArgs
	mayBlock bool
}

// Pipeline starts a pipeline: its commands go out in one write and their replies come back
// in order, one round trip for all of them.
func (c *Client) Pipeline() *Pipeline { return &Pipeline{c: c} }

// TxPipeline starts a transaction: a pipeline wrapped in MULTI / EXEC, so its commands run
// atomically, one after the other, with no other client's command in between.
func (c *Client) TxPipeline() *Pipeline { return &Pipeline{c: c, atomic: true} }

// Do appends a command (arguments as for Client.Do). A conversion error is returned by Exec.
func (p *Pipeline) Do(args ...any) {
	before := p.args.argCount()
	p.args.addAll(args)
	if len(args) > 0 {
		p.mayBlock = p.mayBlock || commandMayBlock(&p.args, before)
	}
	p.args.endCommand(p.args.argCount() - before)
}

// Len is the number of commands appended since the last Exec.
func (p *Pipeline) Len() int { return len(p.args.argcs) }

// Exec sends the commands and returns one Result per command, in order, and the first
// command's error if any failed (or the error that kept the whole run from completing). In
// a transaction, a command the server refused when queued gets its own error and the
// others ErrExecAbort; under Tx, a watched key's change gives every command ErrWatch. A
// transaction is sent whole or not at all: a command the library refuses (SUBSCRIBE,
// WATCH, on a cluster a key of another slot: ErrCrossSlotTransaction) fails Exec with no
// results and nothing sent. An empty pipeline sends nothing, but under Tx, where MULTI and
// EXEC alone still end the watch: they go out, and Exec returns ErrWatch (no results) when
// a watched key changed. The pipeline is emptied either way.
func (p *Pipeline) Exec(ctx context.Context) ([]Result, error) {
	defer p.args.reset()
	defer func() { p.mayBlock = false }()
	if p.args.err != nil {
		return nil, p.args.err
	}
	if p.Len() == 0 && p.tx == nil {
		return nil, nil
	}
	var results []Result
	var err error
	if p.tx != nil {
		results, err = p.tx.exec(ctx, &p.args)
	} else {
		results, err = p.c.e.pipeline(ctx, p.atomic, &p.args, p.mayBlock)
		runtime.KeepAlive(p.c)
	}
	if err != nil {
		return results, err
	}
	for _, r := range results {
		if r.Err != nil {
			return results, r.Err
		}
	}
	return results, nil
}

// commandMayBlock looks at the command whose first argument is argument `first` of a.
func commandMayBlock(a *flatArgs, first int) bool {
	offset := 0
	for _, l := range a.lens[:first] {
		offset += int(l)
	}
	one := flatArgs{bytes: a.bytes[offset:], lens: a.lens[first : first+1]}
	return one.mayBlock()
}

// pipeline runs a pipeline on the shared connections: directly for a lone caller whose
// context cannot be cancelled, else through the completion queue.
func (e *engine) pipeline(ctx context.Context, transaction bool, args *flatArgs, mayBlock bool) ([]Result, error) {
	if ctx.Err() != nil {
		return nil, contextError(ctx)
	}
	defer atomic.AddInt64(&e.inflight, -1)
	cl := newCall()
	if atomic.AddInt64(&e.inflight, 1) == 1 && ctx.Done() == nil && !mayBlock {
		defer releaseCall(cl)
		return e.pipelineDirect(cl, transaction, args)
	}
	cl.want = 1
	err := e.submitCall(cl, func() C.enum_redcore_error_code {
		return C.redcore_client_submit_pipeline(e.client, e.queue, cl.tokens[0], C.bool(transaction),
			C.size_t(len(args.argcs)), args.argcsPtr(), args.lensPtr(), args.bytesPtr(),
			C.size_t(len(args.bytes)), &cl.outErr)
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

func (e *engine) pipelineDirect(cl *call, transaction bool, args *flatArgs) ([]Result, error) {
	e.use.RLock()
	if e.client == nil {
		e.use.RUnlock()
		return nil, closedError()
	}
	code := C.redcore_client_pipeline_flat_blocking(e.client, C.bool(transaction),
		C.size_t(len(args.argcs)), args.argcsPtr(), args.lensPtr(), args.bytesPtr(),
		C.size_t(len(args.bytes)), &cl.outResult, &cl.outErr)
	e.use.RUnlock()
	if code != C.REDCORE_OK {
		err := takeError(code, cl.outErr)
		cl.outErr = nil
		return nil, err
	}
	results := cl.items.results(cl.outResult, len(args.argcs))
	C.redcore_pipeline_result_free(cl.outResult)
	cl.outResult = nil
	return results, nil
}
