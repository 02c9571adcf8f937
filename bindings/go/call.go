package redcore

// A call: one request in flight (a command, a pipeline, or the commands of a transaction on
// a held connection), recycled through a pool so that a command allocates nothing of its
// own beyond its reply.

// #include <redcore.h>
import "C"

import "sync"

// Where a submitted call stands; the caller and the dispatcher race to move it on.
const (
	callWaiting   int32 = iota // submitted, the caller waits
	callDelivered              // the dispatcher handed over the result
	callAbandoned              // the caller gave up (ctx); the dispatcher drops the result
)

type call struct {
	args  flatArgs
	done  chan struct{} // receives once the result is in
	state int32

	want, got int        // completions expected and received
	tokens    []C.size_t // one per completion
	blocking  bool       // a blocking command sent alone: the library cancels it when abandoned

	reply   Reply
	err     error
	results []Result // pipelines; one per completion when set out before submission

	// Out-parameters of blocking C calls, kept here so that passing their addresses to C
	// does not allocate per call.
	outReply  *C.redcore_reply
	outResult *C.redcore_pipeline_result
	outErr    *C.redcore_error
	items     itemBuffer
}

var calls = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func newCall() *call { return calls.Get().(*call) }

// check refuses a call that cannot be sent: an argument that did not convert, or none.
func (cl *call) check() error {
	if cl.args.err != nil {
		return cl.args.err
	}
	if cl.args.argCount() == 0 {
		return &Error{Code: CodeInvalidArgument, Message: "a command needs at least one argument"}
	}
	return nil
}

// maxKeptBuffer bounds the argument buffer a pooled call keeps (a 100 MB SET should not pin
// 100 MB in the pool).
const maxKeptBuffer = 64 << 10

func releaseCall(cl *call) {
	cl.args.reset()
	if cap(cl.args.bytes) > maxKeptBuffer {
		cl.args.bytes = nil
	}
	cl.state = callWaiting
	cl.want, cl.got = 0, 0
	cl.blocking = false
	cl.tokens = cl.tokens[:0]
	cl.reply, cl.err, cl.results = Reply{}, nil, nil
	calls.Put(cl)
}

// Result is one command's outcome in a pipeline or transaction.
type Result struct {
	Reply Reply
	Err   error
}
