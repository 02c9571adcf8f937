package redcore

// What one crossing between Go and the library costs on this machine, for the benchmarks in
// crossing_test.go (their figures are in the README): a Go -> C call, and a C -> Go call made
// from a thread C started, as a callback per command from the library's event loop would be.
// The design above (batched submissions, completions taken in batches) follows from them.

// #include <pthread.h>
// #include <stdint.h>
// #include <redcore.h>
// extern void redcoreGoCrossing(uint64_t i);
// static void *redcore_crossing_thread(void *arg) {
//     uint64_t n = *(uint64_t *)arg;
//     for (uint64_t i = 0; i < n; i++) redcoreGoCrossing(i);
//     return NULL;
// }
// static int redcore_crossings_from_c_thread(uint64_t n) {
//     pthread_t t;
//     if (pthread_create(&t, NULL, redcore_crossing_thread, &n) != 0) return -1;
//     return pthread_join(t, NULL);
// }
import "C"

import "sync/atomic"

var crossings uint64

// crossToC makes one call into the library that does almost nothing.
func crossToC() bool { return bool(C.redcore_error_code_is(1, 1)) }

// crossFromCThread has a thread started by C call into Go n times, and returns how many
// calls arrived.
func crossFromCThread(n int) uint64 {
	before := atomic.LoadUint64(&crossings)
	C.redcore_crossings_from_c_thread(C.uint64_t(n))
	return atomic.LoadUint64(&crossings) - before
}
