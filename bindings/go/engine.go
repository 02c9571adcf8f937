package redcore

// The engine: what a Client's calls share. It owns the C client and its completion queue,
// batches submissions (whoever finds no submission under way crosses into the library for
// everyone waiting), and runs the goroutine that takes completions in batches and wakes the
// callers. Calls are matched to completions by token: an index into a slot table, an
// integer, never a Go pointer.

// #include <redcore.h>
// #include <unistd.h>
import "C"

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
)

type engine struct {
	client *C.redcore_client
	queue  *C.redcore_completion_queue

	// use is held (read) around every C call that uses client; close takes it to free.
	use       sync.RWMutex
	closed    int32
	closeOnce sync.Once
	inflight  int64

	mu       sync.Mutex
	pending  []*call // waiting for the next batch submission
	spare    []*call
	flushing bool   // a goroutine is submitting; it takes pending before it stops
	slots    []slot // token -> call
	free     []C.size_t

	batch batchBuffer // the submitting goroutine's (one at a time)

	workers workers // idle goroutines for direct calls with a cancellable context (worker.go)

	// Calls that hold the client across user code (Transaction): close waits for them
	// before it frees the client, and they start only while it is open.
	holdMu     sync.Mutex
	holding    sync.WaitGroup
	holdClosed bool

	locksMu sync.Mutex
	locks   map[*lockCore]struct{} // open locks, freed before the client (lock.go)

	wake           *os.File // readable when completions arrive while the dispatcher sleeps
	dispatcherDone chan struct{}
}

// slot is the call a token belongs to, and which of its completions it stands for.
type slot struct {
	cl    *call
	index int
}

// batchBuffer is a batch laid out for redcore_client_submit_batch.
type batchBuffer struct {
	args   flatArgs
	tokens []C.size_t
	err    *C.redcore_error
}

func newEngine(cfg *C.redcore_config) (*engine, error) {
	e := &engine{dispatcherDone: make(chan struct{})}
	var cerr *C.redcore_error
	if code := C.redcore_client_new(cfg, &e.client, &cerr); code != C.REDCORE_OK {
		return nil, takeError(code, cerr)
	}
	if code := C.redcore_completion_queue_new(&e.queue); code != C.REDCORE_OK {
		C.redcore_client_free(e.client)
		return nil, takeError(code, nil)
	}
	// A duplicate of the queue's descriptor, for the runtime's poller to own and close.
	fd := C.dup(C.redcore_completion_queue_fd(e.queue))
	if fd < 0 {
		C.redcore_client_free(e.client)
		C.redcore_completion_queue_free(e.queue)
		return nil, &Error{Code: CodeInternal, Message: "cannot duplicate the completion queue's descriptor"}
	}
	e.wake = os.NewFile(uintptr(fd), "redcore-completions")
	go e.dispatch()
	return e, nil
}

// do runs one call to its end.
func (e *engine) do(ctx context.Context, cl *call) (Reply, error) {
	if err := cl.check(); err != nil {
		releaseCall(cl)
		return Reply{}, err
	}
	if ctx.Err() != nil {
		releaseCall(cl)
		return Reply{}, contextError(ctx)
	}
	var r Reply
	var err error
	alone := atomic.AddInt64(&e.inflight, 1) == 1 && !cl.args.mayBlock()
	switch {
	case alone && ctx.Done() == nil:
		r, err = e.direct(cl)
		releaseCall(cl)
	case alone && !e.workersStuck():
		e.viaWorker(cl)
		if err = e.await(ctx, cl); err == nil {
			r, err = cl.reply, cl.err
			releaseCall(cl)
		}
	default:
		cl.want = 1
		cl.blocking = cl.args.mayBlock()
		e.submit(cl)
		if err = e.await(ctx, cl); err == nil {
			r, err = cl.reply, cl.err
			releaseCall(cl)
		}
	}
	atomic.AddInt64(&e.inflight, -1)
	return r, err
}

// direct sends a call and reads its reply on this thread, in one blocking C call.
func (e *engine) direct(cl *call) (Reply, error) {
	e.use.RLock()
	if e.client == nil {
		e.use.RUnlock()
		return Reply{}, closedError()
	}
	code := C.redcore_client_command_flat_blocking(e.client, C.uint32_t(cl.args.argCount()),
		cl.args.lensPtr(), cl.args.bytesPtr(), C.size_t(len(cl.args.bytes)), &cl.outReply, &cl.outErr)
	e.use.RUnlock()
	if code != C.REDCORE_OK {
		err := takeError(code, cl.outErr)
		cl.outErr = nil
		return Reply{}, err
	}
	r := takeReply(cl.outReply, &cl.items)
	cl.outReply = nil
	return r, nil
}

// await waits for a submitted call's result. When ctx ends first, the call is abandoned
// (the dispatcher drops its result when it comes and recycles it) and await returns the
// context's error; the caller must not touch cl then.
func (e *engine) await(ctx context.Context, cl *call) error {
	done := ctx.Done()
	if done == nil {
		<-cl.done
		return nil
	}
	select {
	case <-cl.done:
	case <-done:
		if cl.blocking {
			if e.abandonBlocking(cl) {
				return contextError(ctx)
			}
		} else if atomic.CompareAndSwapInt32(&cl.state, callWaiting, callAbandoned) {
			return contextError(ctx)
		}
		<-cl.done // delivered meanwhile
	}
	return nil
}

// abandonBlocking abandons a blocking command and cancels it in the library (see
// redcore_client_cancel_queued), so that it neither holds its dedicated connection until the
// server answers nor runs for nobody (a BLPOP would pop an element no one reads); its
// completion still comes, with CANCELLED, and is dropped. False when the result was
// delivered first. Both steps happen under e.mu, where flush looks for calls abandoned while
// it was submitting them (they were not in the library yet), and only while the call still
// owns its token: once the dispatcher took the completion, the token may be another call's.
func (e *engine) abandonBlocking(cl *call) bool {
	token := cl.tokens[0]
	e.use.RLock()
	defer e.use.RUnlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !atomic.CompareAndSwapInt32(&cl.state, callWaiting, callAbandoned) {
		return false
	}
	if e.client != nil && e.slots[token].cl == cl {
		C.redcore_client_cancel_queued(e.client, e.queue, token, nil, nil)
	}
	return true
}

// cancelAbandoned cancels the blocking commands of a batch just submitted whose callers
// gave up while it was being submitted. e.use is held (read).
func (e *engine) cancelAbandoned(batch []*call, tokens []C.size_t) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, cl := range batch {
		// The slot first: while it holds the call, the call is not recycled.
		if e.slots[tokens[i]].cl == cl && cl.blocking &&
			atomic.LoadInt32(&cl.state) == callAbandoned {
			C.redcore_client_cancel_queued(e.client, e.queue, tokens[i], nil, nil)
		}
	}
}

// register gives each of the call's cl.want completions a token. e.mu is held.
func (e *engine) register(cl *call) {
	for i := 0; i < cl.want; i++ {
		var token C.size_t
		if n := len(e.free); n > 0 {
			token = e.free[n-1]
			e.free = e.free[:n-1]
		} else {
			token = C.size_t(len(e.slots))
			e.slots = append(e.slots, slot{})
		}
		e.slots[token] = slot{cl: cl, index: i}
		cl.tokens = append(cl.tokens, token)
	}
}

// unregister frees tokens whose completions will never come. e.mu is held.
func (e *engine) unregister(cl *call) {
	for _, t := range cl.tokens {
		e.slots[t] = slot{}
		e.free = append(e.free, t)
	}
}

// submit hands a one-command call over for the next batch, and submits the batch itself
// when no other goroutine is doing so.
func (e *engine) submit(cl *call) {
	e.mu.Lock()
	e.register(cl)
	e.pending = append(e.pending, cl)
	if e.flushing {
		e.mu.Unlock()
		return
	}
	e.flushing = true
	for len(e.pending) > 0 {
		batch := e.pending
		e.pending = e.spare[:0]
		e.mu.Unlock()
		e.flush(batch)
		for i := range batch {
			batch[i] = nil
		}
		e.mu.Lock()
		e.spare = batch[:0]
	}
	e.flushing = false
	e.mu.Unlock()
}

// flush submits a batch of one-command calls in one C call.
func (e *engine) flush(batch []*call) {
	b := &e.batch
	b.args.reset()
	b.tokens = b.tokens[:0]
	blocking := false
	for _, cl := range batch {
		b.args.bytes = append(b.args.bytes, cl.args.bytes...)
		b.args.lens = append(b.args.lens, cl.args.lens...)
		b.args.endCommand(cl.args.argCount())
		b.tokens = append(b.tokens, cl.tokens[0])
		blocking = blocking || cl.blocking
	}
	e.use.RLock()
	if e.client == nil {
		e.use.RUnlock()
		e.failAll(batch, closedError())
		return
	}
	code := C.redcore_client_submit_batch(e.client, e.queue, C.size_t(len(batch)), &b.tokens[0],
		b.args.argcsPtr(), b.args.lensPtr(), b.args.bytesPtr(), C.size_t(len(b.args.bytes)), &b.err)
	if code == C.REDCORE_OK && blocking {
		e.cancelAbandoned(batch, b.tokens)
	}
	e.use.RUnlock()
	if code != C.REDCORE_OK {
		err := takeError(code, b.err)
		b.err = nil
		e.failAll(batch, err)
	}
}

// submitCall gives the call's cl.want completions their tokens and runs submit, a C call
// routing them to the queue, while the client is open. On failure the tokens are freed, the
// call recycled, and the error returned: no completion will come.
func (e *engine) submitCall(cl *call, submit func() C.enum_redcore_error_code) error {
	e.mu.Lock()
	e.register(cl)
	e.mu.Unlock()
	e.use.RLock()
	code := C.enum_redcore_error_code(C.REDCORE_ERR_CLOSED)
	if e.client != nil {
		code = submit()
	}
	e.use.RUnlock()
	if code == C.REDCORE_OK {
		return nil
	}
	err := takeError(code, cl.outErr)
	cl.outErr = nil
	e.mu.Lock()
	e.unregister(cl)
	e.mu.Unlock()
	releaseCall(cl)
	return err
}

// failAll completes calls whose commands were never submitted.
func (e *engine) failAll(batch []*call, err error) {
	e.mu.Lock()
	for _, cl := range batch {
		e.unregister(cl)
	}
	e.mu.Unlock()
	for _, cl := range batch {
		cl.err = err
		e.finish(cl)
	}
}

// finish hands a call's result to its caller, or recycles an abandoned call.
func (e *engine) finish(cl *call) {
	if atomic.CompareAndSwapInt32(&cl.state, callWaiting, callDelivered) {
		cl.done <- struct{}{}
		return
	}
	releaseCall(cl)
}

// dispatch takes completions in batches until the client is closed and the queue drained.
func (e *engine) dispatch() {
	defer close(e.dispatcherDone)
	completions := make([]C.redcore_completion, 256)
	resolved := make([]slot, len(completions))
	var items itemBuffer
	var drain [64]byte
	stopping := false
	for {
		n := int(C.redcore_completion_queue_poll(e.queue, &completions[0], C.size_t(len(completions))))
		if n == 0 {
			if stopping {
				return
			}
			// Sleep in the runtime's poller (no thread held) until the library rings.
			if _, err := e.wake.Read(drain[:]); err != nil {
				stopping = true // closed by close(), after every completion was queued
			}
			continue
		}
		e.mu.Lock()
		for i := 0; i < n; i++ {
			token := completions[i].token
			resolved[i] = e.slots[token]
			e.slots[token] = slot{}
			e.free = append(e.free, token)
		}
		e.mu.Unlock()
		for i := 0; i < n; i++ {
			e.complete(resolved[i], &completions[i], &items)
			resolved[i] = slot{}
		}
	}
}

// complete records one completion in its call and finishes the call when it was the last.
func (e *engine) complete(s slot, c *C.redcore_completion, items *itemBuffer) {
	cl := s.cl
	var r Reply
	var err error
	var results []Result
	switch {
	case c.pipeline != nil:
		results = items.results(c.pipeline, int(c.item.elements))
	case c.reply == nil:
		err = &Error{Code: Code(c.item.code), Message: goString(c.item.str, c.item.len)}
	default:
		r = items.replyOf(&c.item, c.reply)
	}
	switch {
	case results != nil:
		cl.results = results
	case cl.results != nil: // set out by the caller, one per completion even for one (onHeld)
		cl.results[s.index] = Result{Reply: r, Err: err}
	default:
		cl.reply, cl.err = r, err
	}
	cl.got++
	if cl.got == cl.want {
		e.finish(cl)
	}
}

// close frees everything, once. Pending commands complete with CLOSED through the queue,
// which the dispatcher drains before it stops; calls in progress in the library return
// CLOSED (redcore_client_shutdown) before the client is freed.
func (e *engine) close() {
	e.closeOnce.Do(func() {
		atomic.StoreInt32(&e.closed, 1)
		// Calls in progress in the library (a direct call waiting on a stalled server)
		// return CLOSED now, so that taking e.use below does not wait for them.
		e.use.RLock()
		if e.client != nil {
			C.redcore_client_shutdown(e.client)
		}
		e.use.RUnlock()
		e.stopWorkers()
		e.holdMu.Lock()
		e.holdClosed = true
		e.holdMu.Unlock()
		e.holding.Wait()
		e.use.Lock()
		e.closeLocks()
		C.redcore_client_free(e.client)
		e.client = nil
		e.use.Unlock()
		e.wake.Close()
		<-e.dispatcherDone
		C.redcore_completion_queue_free(e.queue)
		e.queue = nil
	})
}

// enterHold starts a call that holds the client across user code; false when the client
// is closing. leaveHold ends it.
func (e *engine) enterHold() bool {
	e.holdMu.Lock()
	defer e.holdMu.Unlock()
	if e.holdClosed {
		return false
	}
	e.holding.Add(1)
	return true
}

func (e *engine) leaveHold() { e.holding.Done() }

func closedError() error {
	return &Error{Code: CodeClosed, Message: "the client is closed"}
}
