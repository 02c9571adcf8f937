/* redcore's hiredis-compatible API: run an async context on Redis's own ae event loop.
 *
 * Written for redcore (not taken from hiredis), with hiredis's name:
 * redisAeAttach(loop, ac) hooks the context up to an aeEventLoop (from Redis's source tree,
 * ae.h; the program compiles and links ae itself); aeMain(loop) then drives it. File events
 * follow what the context wants to read and write, and a time event carries its timeout.
 * Header only: it uses nothing but the `ev` hooks. */
#ifndef HIREDIS_AE_H
#define HIREDIS_AE_H

#include "../async.h"

#include <ae.h>

typedef struct redcoreAeState {
    redisAsyncContext *ac;
    aeEventLoop *loop;
    int fd;
    int reading, writing;
    long long timer; /* the time event's id, or -1 */
} redcoreAeState;

static inline void redcoreAeOnRead(aeEventLoop *loop, int fd, void *data, int mask) {
    (void)loop;
    (void)fd;
    (void)mask;
    redisAsyncHandleRead(((redcoreAeState *)data)->ac);
}

static inline void redcoreAeOnWrite(aeEventLoop *loop, int fd, void *data, int mask) {
    (void)loop;
    (void)fd;
    (void)mask;
    redisAsyncHandleWrite(((redcoreAeState *)data)->ac);
}

static inline int redcoreAeOnTimer(aeEventLoop *loop, long long id, void *data) {
    redcoreAeState *st = (redcoreAeState *)data;
    (void)loop;
    (void)id;
    st->timer = -1;
    redisAsyncHandleTimeout(st->ac);
    return AE_NOMORE;
}

static inline void redcoreAeAddRead(void *data) {
    redcoreAeState *st = (redcoreAeState *)data;
    if (!st->reading &&
        aeCreateFileEvent(st->loop, st->fd, AE_READABLE, redcoreAeOnRead, st) == AE_OK)
        st->reading = 1;
}

static inline void redcoreAeDelRead(void *data) {
    redcoreAeState *st = (redcoreAeState *)data;
    if (st->reading) {
        aeDeleteFileEvent(st->loop, st->fd, AE_READABLE);
        st->reading = 0;
    }
}

static inline void redcoreAeAddWrite(void *data) {
    redcoreAeState *st = (redcoreAeState *)data;
    if (!st->writing &&
        aeCreateFileEvent(st->loop, st->fd, AE_WRITABLE, redcoreAeOnWrite, st) == AE_OK)
        st->writing = 1;
}

static inline void redcoreAeDelWrite(void *data) {
    redcoreAeState *st = (redcoreAeState *)data;
    if (st->writing) {
        aeDeleteFileEvent(st->loop, st->fd, AE_WRITABLE);
        st->writing = 0;
    }
}

static inline void redcoreAeScheduleTimer(void *data, struct timeval tv) {
    redcoreAeState *st = (redcoreAeState *)data;
    long long ms = (long long)tv.tv_sec * 1000 + ((long long)tv.tv_usec + 999) / 1000;
    if (st->timer != -1)
        aeDeleteTimeEvent(st->loop, st->timer);
    st->timer = aeCreateTimeEvent(st->loop, ms, redcoreAeOnTimer, st, NULL);
}

/* ae allows deleting events from inside their handlers. */
static inline void redcoreAeCleanup(void *data) {
    redcoreAeState *st = (redcoreAeState *)data;
    redcoreAeDelRead(st);
    redcoreAeDelWrite(st);
    if (st->timer != -1)
        aeDeleteTimeEvent(st->loop, st->timer);
    hi_free(st);
}

static inline int redisAeAttach(aeEventLoop *loop, redisAsyncContext *ac) {
    redcoreAeState *st;

    if (ac->ev.data != NULL)
        return REDIS_ERR;
    st = (redcoreAeState *)hi_calloc(1, sizeof(*st));
    if (st == NULL)
        return REDIS_ERR;
    st->ac = ac;
    st->loop = loop;
    st->fd = ac->c.fd;
    st->timer = -1;

    ac->ev.data = st;
    ac->ev.addRead = redcoreAeAddRead;
    ac->ev.delRead = redcoreAeDelRead;
    ac->ev.addWrite = redcoreAeAddWrite;
    ac->ev.delWrite = redcoreAeDelWrite;
    ac->ev.cleanup = redcoreAeCleanup;
    ac->ev.scheduleTimer = redcoreAeScheduleTimer;
    return REDIS_OK;
}

#endif /* HIREDIS_AE_H */
