/* redcore's hiredis-compatible API: asynchronous contexts.
 *
 * Written for redcore (not taken from hiredis), with hiredis 1.5.0's names and layouts. An
 * async context does non-blocking I/O on its socket when an event loop tells it to, through
 * redisAsyncHandleRead / Write / Timeout; the loop learns what to watch through the `ev` hooks,
 * which an adapter (a header in adapters/) fills in. adapters/redcore.h runs a context on a thread of
 * redcore's own, so no event loop is needed at all. Callbacks run on the thread that drives
 * the context. */
#ifndef __HIREDIS_ASYNC_H
#define __HIREDIS_ASYNC_H

#include "hiredis.h"

#ifdef __cplusplus
extern "C" {
#endif

struct redisAsyncContext;
struct dict;

/* A reply callback: fn(ac, reply, privdata). reply is NULL when the command failed or the
 * context went away; it is freed after the callback returns (unless
 * REDIS_OPT_NOAUTOFREEREPLIES). */
typedef void(redisCallbackFn)(struct redisAsyncContext *, void *, void *);

typedef struct redisCallback {
    struct redisCallback *next;
    redisCallbackFn *fn;
    int pending_subs;
    int unsubscribe_sent;
    void *privdata;
} redisCallback;

typedef struct redisCallbackList {
    redisCallback *head, *tail;
} redisCallbackList;

typedef void(redisDisconnectCallback)(const struct redisAsyncContext *, int status);
typedef void(redisConnectCallback)(const struct redisAsyncContext *, int status);
typedef void(redisConnectCallbackNC)(struct redisAsyncContext *, int status);
typedef void(redisTimerCallback)(void *timer, void *privdata);

typedef struct redisAsyncContext {
    /* The connection; first, so a redisAsyncContext * is also a redisContext *. */
    redisContext c;

    /* Copies of c.err and a pointer to c.errstr. */
    int err;
    char *errstr;

    /* The caller's data, and what frees it when the context is freed. */
    void *data;
    void (*dataCleanup)(void *privdata);

    /* Event loop hooks, set by an adapter. Each is called with ev.data, may be called again
     * for what is already on, and must not call back into the context. */
    struct {
        void *data;
        void (*addRead)(void *privdata);
        void (*delRead)(void *privdata);
        void (*addWrite)(void *privdata);
        void (*delWrite)(void *privdata);
        void (*cleanup)(void *privdata);
        void (*scheduleTimer)(void *privdata, struct timeval tv);
    } ev;

    /* Called once when the connection ends (REDIS_OK when asked for, REDIS_ERR on errors). */
    redisDisconnectCallback *onDisconnect;

    /* Called once when the connect completes or fails. */
    redisConnectCallback *onConnect;
    redisConnectCallbackNC *onConnectNC;

    /* Callbacks of commands awaiting replies. */
    redisCallbackList replies;

    struct sockaddr *saddr;
    size_t addrlen;

    /* Subscriptions. */
    struct {
        redisCallbackList replies;
        struct dict *channels;
        struct dict *patterns;
        int pending_unsubs;
    } sub;

    /* RESP3 push handler. */
    redisAsyncPushFn *push_cb;
} redisAsyncContext;

redisAsyncContext *redisAsyncConnectWithOptions(const redisOptions *options);
redisAsyncContext *redisAsyncConnect(const char *ip, int port);
redisAsyncContext *redisAsyncConnectBind(const char *ip, int port, const char *source_addr);
redisAsyncContext *redisAsyncConnectBindWithReuse(const char *ip, int port,
                                                  const char *source_addr);
redisAsyncContext *redisAsyncConnectUnix(const char *path);
int redisAsyncSetConnectCallback(redisAsyncContext *ac, redisConnectCallback *fn);
int redisAsyncSetConnectCallbackNC(redisAsyncContext *ac, redisConnectCallbackNC *fn);
int redisAsyncSetDisconnectCallback(redisAsyncContext *ac, redisDisconnectCallback *fn);

redisAsyncPushFn *redisAsyncSetPushCallback(redisAsyncContext *ac, redisAsyncPushFn *fn);
int redisAsyncSetTimeout(redisAsyncContext *ac, struct timeval tv);

/* Stops taking commands, waits for the pending replies, then closes and frees the context. */
void redisAsyncDisconnect(redisAsyncContext *ac);
/* Closes at once: pending callbacks get a NULL reply, then the context is freed. */
void redisAsyncFree(redisAsyncContext *ac);

/* For event loops. */
void redisAsyncHandleRead(redisAsyncContext *ac);
void redisAsyncHandleWrite(redisAsyncContext *ac);
void redisAsyncHandleTimeout(redisAsyncContext *ac);
void redisAsyncRead(redisAsyncContext *ac);
void redisAsyncWrite(redisAsyncContext *ac);

/* Queue a command; fn(ac, reply, privdata) runs once with its reply (for SUBSCRIBE and
 * PSUBSCRIBE: for every message until the channel is unsubscribed). Returns REDIS_ERR when
 * the context is disconnecting, the format is bad or the command is one the server would not
 * answer (no arguments; for redisAsyncFormattedCommand, anything but one complete command):
 * then nothing is queued and fn never runs. */
int redisvAsyncCommand(redisAsyncContext *ac, redisCallbackFn *fn, void *privdata,
                       const char *format, va_list ap);
int redisAsyncCommand(redisAsyncContext *ac, redisCallbackFn *fn, void *privdata,
                      const char *format, ...);
int redisAsyncCommandArgv(redisAsyncContext *ac, redisCallbackFn *fn, void *privdata, int argc,
                          const char **argv, const size_t *argvlen);
int redisAsyncFormattedCommand(redisAsyncContext *ac, redisCallbackFn *fn, void *privdata,
                               const char *cmd, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* __HIREDIS_ASYNC_H */
