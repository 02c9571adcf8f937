package redcore

// The Go functions the library calls (exported to C). Each finds its Go value through the
// cgo.Handle it was given as userdata.

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
		e = &Error{Code: Code(C.redcore_error_get_code(err)), Message: C.GoString(C.redcore_error_message(err))}
	}
	defer func() { _ = recover() }() // a panic must not unwind into the library's thread
	lost(e)
}

//export redcoreGoRelease
func redcoreGoRelease(userdata unsafe.Pointer) {
	releaseHandle(userdata)
}

//export redcoreGoCrossing
func redcoreGoCrossing(C.uint64_t) {
	atomic.AddUint64(&crossings, 1)
}
