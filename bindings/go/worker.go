package redcore

// Direct calls for a lone caller whose context can be cancelled. The blocking call that
// writes the command and reads the reply on one thread is the fastest way for one caller,
// but a goroutine inside a C call cannot be made to return when its context ends. So a
// worker goroutine makes the blocking call and the caller waits for its result or its
// context, whichever comes first; a caller that gives up leaves the worker to drop the late
// reply. The caller pays two goroutine switches, far less than the hand-offs between the
// library's event-loop thread and the completion goroutine that the queue path takes.
//
// Idle workers are kept (a few) for the next lone caller; Close stops them.
//
// A worker whose caller gave up stays in its C call until the reply or the command timeout.
// While one does (the server is slow or stopped answering), lone callers take the queue
// path instead, which holds no thread: otherwise each call given up by its context would
// leave one more OS thread blocked in C, as many as calls per second times the timeout.

import (
	"sync"
	"sync/atomic"
)

// maxIdleWorkers bounds the workers kept between calls.
const maxIdleWorkers = 4

type directWorker struct {
	calls chan *call
}

// workers is the engine's set of idle workers.
type workers struct {
	mu     sync.Mutex
	idle   []*directWorker
	closed bool
	// busy counts workers inside their C call whose caller may have given up.
	busy int64
}

// workersStuck is true while a worker is still in a call its caller may have given up.
func (e *engine) workersStuck() bool {
	return atomic.LoadInt64(&e.workers.busy) != 0
}

// viaWorker runs a one-command call on the direct path in a worker, and waits for it as for
// a submitted call (await).
func (e *engine) viaWorker(cl *call) {
	cl.want = 1
	atomic.AddInt64(&e.workers.busy, 1) // until the worker's C call returns
	e.takeWorker().calls <- cl
}

func (e *engine) takeWorker() *directWorker {
	e.workers.mu.Lock()
	if n := len(e.workers.idle); n > 0 {
		w := e.workers.idle[n-1]
		e.workers.idle = e.workers.idle[:n-1]
		e.workers.mu.Unlock()
		return w
	}
	e.workers.mu.Unlock()
	w := &directWorker{calls: make(chan *call)}
	go e.runWorker(w)
	return w
}

func (e *engine) runWorker(w *directWorker) {
	for cl := range w.calls {
		cl.reply, cl.err = e.direct(cl)
		// Before the caller is woken: its next call must not find this worker busy.
		atomic.AddInt64(&e.workers.busy, -1)
		e.finish(cl)
		if !e.keepWorker(w) {
			return
		}
	}
}

// keepWorker puts a worker that finished its call back among the idle ones; false when it
// should stop instead (enough idle workers, or the client closed).
func (e *engine) keepWorker(w *directWorker) bool {
	e.workers.mu.Lock()
	defer e.workers.mu.Unlock()
	if e.workers.closed || len(e.workers.idle) >= maxIdleWorkers {
		return false
	}
	e.workers.idle = append(e.workers.idle, w)
	return true
}

// stopWorkers ends the idle workers; busy ones end when their call is done.
func (e *engine) stopWorkers() {
	e.workers.mu.Lock()
	defer e.workers.mu.Unlock()
	e.workers.closed = true
	for _, w := range e.workers.idle {
		close(w.calls)
	}
	e.workers.idle = nil
}
