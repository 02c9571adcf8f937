package redcore

// Errors: the library's stable codes (redis-py's exception hierarchy, see redcore.h), the
// *Error every failure comes as, and one sentinel per code so that errors.Is walks the
// hierarchy: errors.Is(err, ErrConnection) holds for an authentication error.

// #include <redcore.h>
import "C"

import (
	"context"
	"errors"
	"fmt"
)

// Code is a redcore error code (redcore_error_code in C). Codes never change meaning.
type Code int32

// The codes, as in redcore.h (REDCORE_ERR_CONNECTION is CodeConnection, ...).
const (
	CodeOK                    Code = C.REDCORE_OK
	CodeRedis                 Code = C.REDCORE_ERR_REDIS
	CodeConnection            Code = C.REDCORE_ERR_CONNECTION
	CodeTimeout               Code = C.REDCORE_ERR_TIMEOUT
	CodeAuthentication        Code = C.REDCORE_ERR_AUTHENTICATION
	CodeAuthorization         Code = C.REDCORE_ERR_AUTHORIZATION
	CodeBusyLoading           Code = C.REDCORE_ERR_BUSY_LOADING
	CodeMaxConnections        Code = C.REDCORE_ERR_MAX_CONNECTIONS
	CodeExternalAuthProvider  Code = C.REDCORE_ERR_EXTERNAL_AUTH_PROVIDER
	CodeMasterNotFound        Code = C.REDCORE_ERR_MASTER_NOT_FOUND
	CodeReplicaNotFound       Code = C.REDCORE_ERR_REPLICA_NOT_FOUND
	CodeResponse              Code = C.REDCORE_ERR_RESPONSE
	CodeNoScript              Code = C.REDCORE_ERR_NO_SCRIPT
	CodeOutOfMemory           Code = C.REDCORE_ERR_OUT_OF_MEMORY
	CodeExecAbort             Code = C.REDCORE_ERR_EXEC_ABORT
	CodeReadOnly              Code = C.REDCORE_ERR_READ_ONLY
	CodeNoPermission          Code = C.REDCORE_ERR_NO_PERMISSION
	CodeModule                Code = C.REDCORE_ERR_MODULE
	CodeAuthWrongNumberOfArgs Code = C.REDCORE_ERR_AUTH_WRONG_NUMBER_OF_ARGS
	CodeTryAgain              Code = C.REDCORE_ERR_TRY_AGAIN
	CodeCrossSlot             Code = C.REDCORE_ERR_CROSS_SLOT
	CodeAsk                   Code = C.REDCORE_ERR_ASK
	CodeMoved                 Code = C.REDCORE_ERR_MOVED
	CodeCluster               Code = C.REDCORE_ERR_CLUSTER
	CodeClusterDown           Code = C.REDCORE_ERR_CLUSTER_DOWN
	CodeMasterDown            Code = C.REDCORE_ERR_MASTER_DOWN
	CodeData                  Code = C.REDCORE_ERR_DATA
	CodePubSub                Code = C.REDCORE_ERR_PUBSUB
	CodeWatch                 Code = C.REDCORE_ERR_WATCH
	CodeInvalidResponse       Code = C.REDCORE_ERR_INVALID_RESPONSE
	CodeLock                  Code = C.REDCORE_ERR_LOCK
	CodeLockNotOwned          Code = C.REDCORE_ERR_LOCK_NOT_OWNED
	CodeClusterException      Code = C.REDCORE_ERR_CLUSTER_EXCEPTION
	CodeSlotNotCovered        Code = C.REDCORE_ERR_SLOT_NOT_COVERED
	CodeCrossSlotTransaction  Code = C.REDCORE_ERR_CROSS_SLOT_TRANSACTION
	CodeInvalidPipelineStack  Code = C.REDCORE_ERR_INVALID_PIPELINE_STACK
	CodeInvalidArgument       Code = C.REDCORE_ERR_INVALID_ARGUMENT
	CodeClosed                Code = C.REDCORE_ERR_CLOSED
	CodeTLS                   Code = C.REDCORE_ERR_TLS
	CodeProtocol              Code = C.REDCORE_ERR_PROTOCOL
	CodeInternal              Code = C.REDCORE_ERR_INTERNAL
	CodeCancelled             Code = C.REDCORE_ERR_CANCELLED

	codeCount = int(CodeCancelled) + 1
)

// The taxonomy, read once from the library so that it cannot drift from it.
var (
	codeNames   [codeCount]string
	codeParents [codeCount][]Code
)

func init() {
	var parents [4]C.enum_redcore_error_code
	for i := 0; i < codeCount; i++ {
		codeNames[i] = C.GoString(C.redcore_error_code_name(C.int32_t(i)))
		n := int(C.redcore_error_code_parents(C.int32_t(i), &parents[0], C.size_t(len(parents))))
		for _, p := range parents[:n] {
			codeParents[i] = append(codeParents[i], Code(p))
		}
	}
}

// String is the code's name as in C without its prefix: "CONNECTION", "NO_SCRIPT".
func (c Code) String() string {
	if c >= 0 && int(c) < codeCount {
		return codeNames[c]
	}
	return fmt.Sprintf("UNKNOWN(%d)", int32(c))
}

// Parents are the code's direct parents in the hierarchy (CLUSTER_DOWN has two).
func (c Code) Parents() []Code {
	if c >= 0 && int(c) < codeCount {
		return codeParents[c]
	}
	return nil
}

// Is reports whether c is ancestor or descends from it, through any parent.
func (c Code) Is(ancestor Code) bool {
	if c == ancestor {
		return true
	}
	for _, p := range c.Parents() {
		if p.Is(ancestor) {
			return true
		}
	}
	return false
}

// Error is every error redcore returns (except ErrNil, and context.Canceled for a
// cancelled call): a code from the hierarchy and a message. For server error replies the
// message is the server's full text ("WRONGTYPE Operation against a key ...").
type Error struct {
	Code    Code
	Message string
	cause   error
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "redcore: " + e.Code.String()
	}
	return "redcore: " + e.Code.String() + ": " + e.Message
}

// Is makes errors.Is follow the hierarchy: a target *Error matches when this error's code
// is the target's code or descends from it.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && e.Code.Is(t.Code)
}

// Unwrap gives the context error behind a TIMEOUT that a context's deadline caused.
func (e *Error) Unwrap() error { return e.cause }

// One sentinel per code, for errors.Is. They match by code along the hierarchy, so
// errors.Is(err, ErrResponse) holds for a NOSCRIPT error too.
var (
	ErrRedis                 = &Error{Code: CodeRedis}
	ErrConnection            = &Error{Code: CodeConnection}
	ErrTimeout               = &Error{Code: CodeTimeout}
	ErrAuthentication        = &Error{Code: CodeAuthentication}
	ErrAuthorization         = &Error{Code: CodeAuthorization}
	ErrBusyLoading           = &Error{Code: CodeBusyLoading}
	ErrMaxConnections        = &Error{Code: CodeMaxConnections}
	ErrExternalAuthProvider  = &Error{Code: CodeExternalAuthProvider}
	ErrMasterNotFound        = &Error{Code: CodeMasterNotFound}
	ErrReplicaNotFound       = &Error{Code: CodeReplicaNotFound}
	ErrResponse              = &Error{Code: CodeResponse}
	ErrNoScript              = &Error{Code: CodeNoScript}
	ErrOutOfMemory           = &Error{Code: CodeOutOfMemory}
	ErrExecAbort             = &Error{Code: CodeExecAbort}
	ErrReadOnly              = &Error{Code: CodeReadOnly}
	ErrNoPermission          = &Error{Code: CodeNoPermission}
	ErrModule                = &Error{Code: CodeModule}
	ErrAuthWrongNumberOfArgs = &Error{Code: CodeAuthWrongNumberOfArgs}
	ErrTryAgain              = &Error{Code: CodeTryAgain}
	ErrCrossSlot             = &Error{Code: CodeCrossSlot}
	ErrAsk                   = &Error{Code: CodeAsk}
	ErrMoved                 = &Error{Code: CodeMoved}
	ErrCluster               = &Error{Code: CodeCluster}
	ErrClusterDown           = &Error{Code: CodeClusterDown}
	ErrMasterDown            = &Error{Code: CodeMasterDown}
	ErrData                  = &Error{Code: CodeData}
	ErrPubSub                = &Error{Code: CodePubSub}
	ErrWatch                 = &Error{Code: CodeWatch}
	ErrInvalidResponse       = &Error{Code: CodeInvalidResponse}
	ErrLock                  = &Error{Code: CodeLock}
	ErrLockNotOwned          = &Error{Code: CodeLockNotOwned}
	ErrClusterException      = &Error{Code: CodeClusterException}
	ErrSlotNotCovered        = &Error{Code: CodeSlotNotCovered}
	ErrCrossSlotTransaction  = &Error{Code: CodeCrossSlotTransaction}
	ErrInvalidPipelineStack  = &Error{Code: CodeInvalidPipelineStack}
	ErrInvalidArgument       = &Error{Code: CodeInvalidArgument}
	ErrClosed                = &Error{Code: CodeClosed}
	ErrTLS                   = &Error{Code: CodeTLS}
	ErrProtocol              = &Error{Code: CodeProtocol}
	ErrInternal              = &Error{Code: CodeInternal}
	ErrCancelled             = &Error{Code: CodeCancelled}
)

// ErrNil is what a nil reply reads as (GET of a missing key, a SET NX that did not set).
// It is not a failure of the command, so it is outside the hierarchy.
var ErrNil = errors.New("redcore: nil reply")

// takeError turns an owned C error into an *Error and frees it. NULL (a failing function
// that wrote no error) gives the code alone.
func takeError(code C.enum_redcore_error_code, err *C.redcore_error) *Error {
	if err == nil {
		return &Error{Code: Code(code)}
	}
	e := lentError(err)
	C.redcore_error_free(err)
	return e
}

// lentError copies an error the library lends (to a callback, inside an event) into Go.
func lentError(err *C.redcore_error) *Error {
	return &Error{Code: Code(C.redcore_error_get_code(err)), Message: C.GoString(C.redcore_error_message(err))}
}

// contextError is what a call abandoned because of ctx returns: a TIMEOUT for a deadline
// (errors.Is(err, context.DeadlineExceeded) holds too), context.Canceled as it is.
func contextError(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: CodeTimeout, Message: "the context's deadline passed", cause: err}
	}
	return err
}

func dataError(format string, args ...any) *Error {
	return &Error{Code: CodeData, Message: fmt.Sprintf(format, args...)}
}
