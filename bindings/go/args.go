package redcore

// Command arguments laid out flat, as the library's batch functions take them: the bytes of
// every argument one after the other, and their lengths. Go memory holding no Go pointers,
// so it is passed to C as it is, without a copy into C memory.

// #include <stdlib.h>
// #include <redcore.h>
import "C"

import (
	"reflect"
	"strconv"
	"unsafe"
)

// flatArgs holds the arguments of one or more commands.
type flatArgs struct {
	bytes []byte
	lens  []C.size_t
	argcs []C.uint32_t // arguments per command, when it holds several commands
	err   error        // the first argument that could not be converted
}

func (a *flatArgs) reset() {
	a.bytes = a.bytes[:0]
	a.lens = a.lens[:0]
	a.argcs = a.argcs[:0]
	a.err = nil
}

func (a *flatArgs) addString(s string) {
	a.bytes = append(a.bytes, s...)
	a.lens = append(a.lens, C.size_t(len(s)))
}

func (a *flatArgs) addBytes(b []byte) {
	a.bytes = append(a.bytes, b...)
	a.lens = append(a.lens, C.size_t(len(b)))
}

func (a *flatArgs) addInt(n int64) {
	start := len(a.bytes)
	a.bytes = strconv.AppendInt(a.bytes, n, 10)
	a.lens = append(a.lens, C.size_t(len(a.bytes)-start))
}

func (a *flatArgs) addUint(n uint64) {
	start := len(a.bytes)
	a.bytes = strconv.AppendUint(a.bytes, n, 10)
	a.lens = append(a.lens, C.size_t(len(a.bytes)-start))
}

func (a *flatArgs) addFloat(f float64) {
	start := len(a.bytes)
	a.bytes = strconv.AppendFloat(a.bytes, f, 'f', -1, 64)
	a.lens = append(a.lens, C.size_t(len(a.bytes)-start))
}

// add converts one argument: strings, byte slices, integers and floats; anything else is
// an ErrData error, kept for the call to return.
func (a *flatArgs) add(arg any) {
	switch v := arg.(type) {
	case string:
		a.addString(v)
	case []byte:
		a.addBytes(v)
	case int:
		a.addInt(int64(v))
	case int64:
		a.addInt(v)
	case int32:
		a.addInt(int64(v))
	case int16:
		a.addInt(int64(v))
	case int8:
		a.addInt(int64(v))
	case uint:
		a.addUint(uint64(v))
	case uint64:
		a.addUint(v)
	case uint32:
		a.addUint(uint64(v))
	case uint16:
		a.addUint(uint64(v))
	case uint8:
		a.addUint(uint64(v))
	case float64:
		a.addFloat(v)
	case float32:
		a.addFloat(float64(v))
	default:
		a.addOther(arg)
	}
}

// addOther refuses an argument of another type. (No reflection here: reflect.ValueOf
// would make every argument escape to the heap, an allocation per call.)
func (a *flatArgs) addOther(arg any) {
	if a.err == nil {
		a.err = dataError("cannot send an argument of type %s: use a string, []byte, an integer or a float",
			reflect.TypeOf(arg))
	}
	// Keep the layout consistent; the call fails before anything is sent.
	a.lens = append(a.lens, 0)
}

// addAll converts args as one command.
func (a *flatArgs) addAll(args []any) {
	for _, arg := range args {
		a.add(arg)
	}
}

// endCommand closes a command of a multi-command layout: the arguments added since the
// previous one.
func (a *flatArgs) endCommand(argc int) {
	a.argcs = append(a.argcs, C.uint32_t(argc))
}

// argCount is the number of arguments added so far.
func (a *flatArgs) argCount() int { return len(a.lens) }

// The C views of the layout, valid while a is not changed.
func (a *flatArgs) lensPtr() *C.size_t    { return &a.lens[0] }
func (a *flatArgs) argcsPtr() *C.uint32_t { return &a.argcs[0] }
func (a *flatArgs) bytesPtr() *C.uint8_t {
	if len(a.bytes) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&a.bytes[0]))
}

// cArgv is a layout as the library's argv-style functions take it (`const char *const
// *argv` and `const size_t *argvlen`): the bytes copied once into C memory, since an array
// of pointers may be passed to C only when they point outside Go's heap. Free it after the
// call.
type cArgv struct {
	data unsafe.Pointer
	ptrs []*C.char
	lens []C.size_t
}

// newCArgv copies the arguments of a into C memory.
func newCArgv(a *flatArgs) *cArgv {
	v := &cArgv{lens: a.lens, ptrs: make([]*C.char, len(a.lens))}
	if len(a.lens) == 0 {
		return v
	}
	v.data = C.CBytes(a.bytes)
	offset := 0
	for i, n := range a.lens {
		v.ptrs[i] = (*C.char)(unsafe.Add(v.data, offset))
		offset += int(n)
	}
	return v
}

// stringArgv lays out names (channels, keys) for C.
func stringArgv(names []string) *cArgv {
	var a flatArgs
	for _, n := range names {
		a.addString(n)
	}
	return newCArgv(&a)
}

func (v *cArgv) free() {
	if v.data != nil {
		C.free(v.data)
		v.data = nil
	}
}

// count is the number of arguments, as C's argc.
func (v *cArgv) count() int { return len(v.ptrs) }

// argv and argvlen are the C views: NULL for no argument.
func (v *cArgv) argv() **C.char {
	if len(v.ptrs) == 0 {
		return nil
	}
	return &v.ptrs[0]
}

func (v *cArgv) argvlen() *C.size_t {
	if len(v.lens) == 0 {
		return nil
	}
	return &v.lens[0]
}
