package redcore

// Replies: a Go value copied out of the library's reply (so it outlives it and is safe to
// share), built from the flat items the library writes in one call (redcore_reply_items),
// and the typed accessors.

// #include <redcore.h>
import "C"

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

// Kind is a reply's RESP type (REDCORE_REPLY_* in C).
type Kind uint8

// The reply types.
const (
	KindSimple    Kind = C.REDCORE_REPLY_SIMPLE
	KindError     Kind = C.REDCORE_REPLY_ERROR
	KindInteger   Kind = C.REDCORE_REPLY_INTEGER
	KindBulk      Kind = C.REDCORE_REPLY_BULK
	KindNull      Kind = C.REDCORE_REPLY_NULL
	KindArray     Kind = C.REDCORE_REPLY_ARRAY
	KindDouble    Kind = C.REDCORE_REPLY_DOUBLE
	KindBoolean   Kind = C.REDCORE_REPLY_BOOLEAN
	KindBigNumber Kind = C.REDCORE_REPLY_BIG_NUMBER
	KindVerbatim  Kind = C.REDCORE_REPLY_VERBATIM
	KindMap       Kind = C.REDCORE_REPLY_MAP
	KindSet       Kind = C.REDCORE_REPLY_SET
	KindPush      Kind = C.REDCORE_REPLY_PUSH
	KindBlobError Kind = C.REDCORE_REPLY_BLOB_ERROR
)

var kindNames = map[Kind]string{
	KindSimple: "simple string", KindError: "error", KindInteger: "integer",
	KindBulk: "bulk string", KindNull: "null", KindArray: "array", KindDouble: "double",
	KindBoolean: "boolean", KindBigNumber: "big number", KindVerbatim: "verbatim string",
	KindMap: "map", KindSet: "set", KindPush: "push", KindBlobError: "blob error",
}

func (k Kind) String() string {
	if name, ok := kindNames[k]; ok {
		return name
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Reply is one reply of any RESP2/RESP3 type, copied into Go memory. The zero Reply is a
// null. Maps keep the server's order: Elements lists keys and values alternately.
type Reply struct {
	kind  Kind
	str   string  // strings, big numbers, verbatim text, error text
	num   int64   // integers; 1 or 0 for booleans
	dbl   float64 // doubles
	code  Code    // for error values: the code the text maps to
	elems []Reply // arrays, sets, pushes; maps as key, value, key, ...
}

// Kind is the reply's RESP type.
func (r Reply) Kind() Kind {
	if r.kind == 0 {
		return KindNull
	}
	return r.kind
}

// IsNil reports a null reply (RESP3 null, RESP2 nil bulk string or nil array).
func (r Reply) IsNil() bool { return r.Kind() == KindNull }

func (r Reply) mismatch(want string) error {
	if r.IsNil() {
		return ErrNil
	}
	return dataError("cannot read a %s reply as %s", r.Kind(), want)
}

func (r Reply) isString() bool {
	switch r.kind {
	case KindSimple, KindBulk, KindVerbatim, KindBigNumber:
		return true
	}
	return false
}

// Text is the text of a string reply (simple, bulk, verbatim without its format, big
// number's digits). ErrNil for a null; an ErrData error for other types.
func (r Reply) Text() (string, error) {
	if r.isString() {
		return r.str, nil
	}
	return "", r.mismatch("text")
}

// Bytes is Text as a new byte slice.
func (r Reply) Bytes() ([]byte, error) {
	if r.isString() {
		return []byte(r.str), nil
	}
	return nil, r.mismatch("bytes")
}

// Int64 is an integer reply, or a string reply holding a base-10 integer (GET of a
// counter).
func (r Reply) Int64() (int64, error) {
	switch {
	case r.kind == KindInteger:
		return r.num, nil
	case r.isString():
		n, err := strconv.ParseInt(r.str, 10, 64)
		if err != nil {
			return 0, dataError("%q is not an integer", r.str)
		}
		return n, nil
	}
	return 0, r.mismatch("an integer")
}

// Float64 is a double or integer reply, or a string reply holding a number (ZSCORE on
// RESP2; "inf" and "-inf" included).
func (r Reply) Float64() (float64, error) {
	switch {
	case r.kind == KindDouble:
		return r.dbl, nil
	case r.kind == KindInteger:
		return float64(r.num), nil
	case r.isString():
		f, err := strconv.ParseFloat(r.str, 64)
		if err != nil {
			return 0, dataError("%q is not a number", r.str)
		}
		return f, nil
	}
	return 0, r.mismatch("a number")
}

// Bool is a boolean reply, or an integer reply 1 / 0 (RESP2's booleans, e.g. EXPIRE).
func (r Reply) Bool() (bool, error) {
	switch r.kind {
	case KindBoolean:
		return r.num != 0, nil
	case KindInteger:
		return r.num != 0, nil
	}
	return false, r.mismatch("a boolean")
}

// Slice is the elements of an array, set or push reply; for a map, its keys and values
// alternately.
func (r Reply) Slice() ([]Reply, error) {
	switch r.kind {
	case KindArray, KindSet, KindPush, KindMap:
		return r.elems, nil
	}
	return nil, r.mismatch("a slice")
}

// Strings is Slice with every element read with Text (nil elements read as "").
func (r Reply) Strings() ([]string, error) {
	elems, err := r.Slice()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		if e.IsNil() {
			continue
		}
		if out[i], err = e.Text(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Map is a map reply keyed by each key's text; RESP2's flat key/value arrays (HGETALL,
// CONFIG GET) read the same way.
func (r Reply) Map() (map[string]Reply, error) {
	switch r.kind {
	case KindMap, KindArray:
	default:
		return nil, r.mismatch("a map")
	}
	if len(r.elems)%2 != 0 {
		return nil, dataError("an array of %d elements is not a map", len(r.elems))
	}
	out := make(map[string]Reply, len(r.elems)/2)
	for i := 0; i < len(r.elems); i += 2 {
		key, err := r.elems[i].keyText()
		if err != nil {
			return nil, err
		}
		out[key] = r.elems[i+1]
	}
	return out, nil
}

// keyText is a map key as text: strings as they are, numbers formatted.
func (r Reply) keyText() (string, error) {
	switch r.kind {
	case KindInteger:
		return strconv.FormatInt(r.num, 10), nil
	case KindDouble:
		return strconv.FormatFloat(r.dbl, 'g', -1, 64), nil
	}
	return r.Text()
}

// Err is the error an error value stands for (an element of an EXEC reply or of a script's
// result, say); nil for other replies.
func (r Reply) Err() error {
	if r.kind == KindError || r.kind == KindBlobError {
		return &Error{Code: r.code, Message: r.str}
	}
	return nil
}

// String formats the reply for people and logs.
func (r Reply) String() string {
	var b strings.Builder
	r.format(&b)
	return b.String()
}

func (r Reply) format(b *strings.Builder) {
	switch r.Kind() {
	case KindNull:
		b.WriteString("(nil)")
	case KindInteger:
		b.WriteString(strconv.FormatInt(r.num, 10))
	case KindDouble:
		b.WriteString(strconv.FormatFloat(r.dbl, 'g', -1, 64))
	case KindBoolean:
		b.WriteString(strconv.FormatBool(r.num != 0))
	case KindError, KindBlobError:
		b.WriteString("(error) " + r.str)
	case KindArray, KindSet, KindPush, KindMap:
		b.WriteByte('[')
		for i, e := range r.elems {
			if i > 0 {
				b.WriteByte(' ')
			}
			e.format(b)
		}
		b.WriteByte(']')
	default:
		b.WriteString(strconv.Quote(r.str))
	}
}

// goString copies n bytes of C memory into a Go string.
func goString(p *C.char, n C.size_t) string {
	if n == 0 || p == nil {
		return ""
	}
	return C.GoStringN(p, C.int(n))
}

// simpleString copies a simple string, without allocating for the ones most replies are
// (a SET answers "OK").
func simpleString(p *C.char, n C.size_t) string {
	if n >= 2 && n <= 6 {
		b := unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
		// Comparing a converted slice with a constant does not allocate.
		switch {
		case string(b) == "OK":
			return "OK"
		case string(b) == "PONG":
			return "PONG"
		case string(b) == "QUEUED":
			return "QUEUED"
		}
	}
	return goString(p, n)
}

// scalar is the Reply of one item without children.
func scalar(it *C.redcore_item) Reply {
	r := Reply{kind: Kind(it.kind)}
	switch r.kind {
	case KindInteger, KindBoolean:
		r.num = int64(it.integer)
	case KindDouble:
		r.dbl = float64(it.number)
	case KindError, KindBlobError:
		r.code = Code(it.code)
		r.str = goString(it.str, it.len)
	case KindSimple:
		r.str = simpleString(it.str, it.len)
	case KindNull:
	default:
		r.str = goString(it.str, it.len)
	}
	return r
}

// fromItems builds the reply whose items start at items[*next], advancing *next past them.
func fromItems(items []C.redcore_item, next *int) Reply {
	it := &items[*next]
	*next++
	r := scalar(it)
	if n := int(it.elements); n > 0 {
		r.elems = make([]Reply, n)
		for i := range r.elems {
			r.elems[i] = fromItems(items, next)
		}
	}
	return r
}

// itemBuffer is scratch space for the items of one reply, grown as needed.
type itemBuffer struct {
	items []C.redcore_item
}

// replyOf reads a whole reply (top item given) into Go memory, crossing into the library
// once more only for an aggregate.
func (b *itemBuffer) replyOf(top *C.redcore_item, reply *C.redcore_reply) Reply {
	if top.elements == 0 {
		return scalar(top)
	}
	items := b.fill(func(out *C.redcore_item, n C.size_t) C.size_t {
		return C.redcore_reply_items(reply, out, n)
	})
	next := 0
	return fromItems(items, &next)
}

// takeReply reads an owned reply into Go memory and frees it.
func takeReply(reply *C.redcore_reply, b *itemBuffer) Reply {
	items := b.fill(func(out *C.redcore_item, n C.size_t) C.size_t {
		return C.redcore_reply_items(reply, out, n)
	})
	next := 0
	r := fromItems(items, &next)
	C.redcore_reply_free(reply)
	return r
}

// fill calls write with the buffer until it is large enough for everything write has.
func (b *itemBuffer) fill(write func(out *C.redcore_item, n C.size_t) C.size_t) []C.redcore_item {
	if len(b.items) < 64 {
		b.items = make([]C.redcore_item, 64)
	}
	for {
		n := int(write(&b.items[0], C.size_t(len(b.items))))
		if n <= len(b.items) {
			return b.items[:n]
		}
		b.items = make([]C.redcore_item, n)
	}
}

// results reads every result of a pipeline run.
func (b *itemBuffer) results(p *C.redcore_pipeline_result, count int) []Result {
	items := b.fill(func(out *C.redcore_item, n C.size_t) C.size_t {
		return C.redcore_pipeline_result_items(p, out, n)
	})
	out := make([]Result, count)
	next := 0
	for i := range out {
		if next >= len(items) {
			break
		}
		// A command's error (a server error reply included) is one error item at the top.
		if top := &items[next]; top.kind == C.REDCORE_REPLY_ERROR {
			out[i].Err = &Error{Code: Code(top.code), Message: goString(top.str, top.len)}
			next++
			continue
		}
		out[i].Reply = fromItems(items, &next)
	}
	return out
}
