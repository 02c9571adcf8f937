/* redcore's hiredis-compatible API: run an async context on a thread of redcore's own.
 *
 * Not in hiredis. redisRedcoreAttach(ac) hands the context to an event loop thread inside the
 * library (one mio poll thread, started on first use and shared by all attached contexts), so
 * no event loop of the program's is needed: queue commands with redisAsyncCommand and the
 * callbacks run on that thread.
 *
 * Threads: once attached, the context may be used from any thread. Every redisAsync* call on
 * it takes a lock that the loop thread also holds while it runs the context's callbacks, so
 * calls from other threads wait for the callback in progress (calls from inside callbacks do
 * not wait). Callbacks must not block. As everywhere in the async API, the context is freed
 * by the library after a connection error unless REDIS_OPT_NOAUTOFREE is set: a program that
 * calls into a context from a thread other than the loop's should set it, and free the context
 * itself with redisAsyncFree once the disconnect callback has run. */
#ifndef HIREDIS_REDCORE_ADAPTER_H
#define HIREDIS_REDCORE_ADAPTER_H

#include "../async.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported by libhiredis built from redcore. REDIS_ERR if ev.data is already set, or the loop
 * thread cannot be started. */
int redcoreHiredisAttach(redisAsyncContext *ac);

#ifdef __cplusplus
}
#endif

static inline int redisRedcoreAttach(redisAsyncContext *ac) {
    return redcoreHiredisAttach(ac);
}

#endif /* HIREDIS_REDCORE_ADAPTER_H */
