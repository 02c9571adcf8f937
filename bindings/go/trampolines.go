package redcore

// The Go functions the library calls (exported to C). Each finds its Go value through the
// handle it was given as userdata (handles.go).

// #include <redcore.h>
import "C"

import (
	"sync/atomic"
	"unsafe"
)

//export redcoreGoCredentials
func redcoreGoCredentials(userdata unsafe.Pointer, out *C.redcore_credentials) C.bool {
	p, _ := handleValue(userdata).(CredentialProvider)
	return C.bool(p != nil && provideCredentials(p, out))
}

//export redcoreGoLockLost
func redcoreGoLockLost(userdata unsafe.Pointer, err *C.redcore_error) {
	lost, _ := handleValue(userdata).(func(error))
	if lost == nil {
		return
	}
	e := &Error{Code: CodeLockNotOwned}
	if err != nil {
		e = lentError(err)
	}
	defer func() { _ = recover() }() // a panic must not unwind into the library's thread
	lost(e)
}

//export redcoreGoPubSubMessage
func redcoreGoPubSubMessage(userdata unsafe.Pointer, message *C.redcore_pubsub_message) {
	m := messageOf(message)
	toFeed(userdata, m, m.Kind == C.REDCORE_PUBSUB_KIND_CLOSED, m.Err)
}

//export redcoreGoTransaction
func redcoreGoTransaction(userdata unsafe.Pointer, tx *C.redcore_transaction) C.int {
	run, _ := handleValue(userdata).(*transactionRun)
	if run == nil {
		return C.REDCORE_ERR_INTERNAL
	}
	return run.attempt(tx)
}

//export redcoreGoMonitorEvent
func redcoreGoMonitorEvent(userdata unsafe.Pointer, event *C.redcore_monitor_event) {
	ev := monitorEventOf(event)
	toFeed(userdata, ev, ev.Kind == C.REDCORE_MONITOR_KIND_CLOSED, ev.Err)
}

// toFeed hands an item to the feed behind userdata; the library's last delivery (its
// "closed" event, last) ends the feed with its error instead.
func toFeed[T any](userdata unsafe.Pointer, v T, last bool, err error) {
	f, _ := handleValue(userdata).(*feed[T])
	switch {
	case f == nil:
	case last:
		f.end(err)
	default:
		f.deliver(v)
	}
}

//export redcoreGoRelease
func redcoreGoRelease(userdata unsafe.Pointer) {
	releaseHandle(userdata)
}

//export redcoreGoCrossing
func redcoreGoCrossing(C.uint64_t) {
	atomic.AddUint64(&crossings, 1)
}
