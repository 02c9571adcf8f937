/* redcore's hiredis-compatible API: run an async context inside a Redis module, on the
 * server's own event loop (Redis 7.0 and later).
 *
 * Written for redcore (not taken from hiredis), with hiredis's names: the module includes its
 * redismodule.h first; redisModuleCompatibilityCheck() says whether the server offers the
 * event-loop and timer calls used here, and redisModuleAttach(ac, ctx) hooks the context up.
 * The server's loop then drives it: RedisModule_EventLoopAdd follows what the context wants
 * to read and write, and a module timer carries its timeout. Header only: it uses nothing but
 * the `ev` hooks. */
#ifndef HIREDIS_REDISMODULEAPI_H
#define HIREDIS_REDISMODULEAPI_H

#include "redismodule.h"

#include "../async.h"

typedef struct redcoreModuleState {
    redisAsyncContext *ac;
    RedisModuleCtx *module_ctx;
    int fd;
    int reading, writing;
    int timer_active;
    RedisModuleTimerID timer;
} redcoreModuleState;

static inline void redcoreModuleOnRead(int fd, void *data, int mask) {
    (void)fd;
    (void)mask;
    redisAsyncHandleRead(((redcoreModuleState *)data)->ac);
}

static inline void redcoreModuleOnWrite(int fd, void *data, int mask) {
    (void)fd;
    (void)mask;
    redisAsyncHandleWrite(((redcoreModuleState *)data)->ac);
}

static inline void redcoreModuleOnTimer(RedisModuleCtx *ctx, void *data) {
    redcoreModuleState *st = (redcoreModuleState *)data;
    (void)ctx;
    st->timer_active = 0;
    redisAsyncHandleTimeout(st->ac);
}

static inline void redcoreModuleAddRead(void *data) {
    redcoreModuleState *st = (redcoreModuleState *)data;
    if (!st->reading && RedisModule_EventLoopAdd(st->fd, REDISMODULE_EVENTLOOP_READABLE,
                                                 redcoreModuleOnRead, st) == REDISMODULE_OK)
        st->reading = 1;
}

static inline void redcoreModuleDelRead(void *data) {
    redcoreModuleState *st = (redcoreModuleState *)data;
    if (st->reading) {
        RedisModule_EventLoopDel(st->fd, REDISMODULE_EVENTLOOP_READABLE);
        st->reading = 0;
    }
}

static inline void redcoreModuleAddWrite(void *data) {
    redcoreModuleState *st = (redcoreModuleState *)data;
    if (!st->writing && RedisModule_EventLoopAdd(st->fd, REDISMODULE_EVENTLOOP_WRITABLE,
                                                 redcoreModuleOnWrite, st) == REDISMODULE_OK)
        st->writing = 1;
}

static inline void redcoreModuleDelWrite(void *data) {
    redcoreModuleState *st = (redcoreModuleState *)data;
    if (st->writing) {
        RedisModule_EventLoopDel(st->fd, REDISMODULE_EVENTLOOP_WRITABLE);
        st->writing = 0;
    }
}

static inline void redcoreModuleStopTimer(redcoreModuleState *st) {
    if (st->timer_active) {
        RedisModule_StopTimer(st->module_ctx, st->timer, NULL);
        st->timer_active = 0;
    }
}

static inline void redcoreModuleScheduleTimer(void *data, struct timeval tv) {
    redcoreModuleState *st = (redcoreModuleState *)data;
    mstime_t ms = (mstime_t)tv.tv_sec * 1000 + ((mstime_t)tv.tv_usec + 999) / 1000;
    redcoreModuleStopTimer(st);
    st->timer = RedisModule_CreateTimer(st->module_ctx, ms, redcoreModuleOnTimer, st);
    st->timer_active = 1;
}

static inline void redcoreModuleCleanup(void *data) {
    redcoreModuleState *st = (redcoreModuleState *)data;
    redcoreModuleDelRead(st);
    redcoreModuleDelWrite(st);
    redcoreModuleStopTimer(st);
    hi_free(st);
}

/* REDIS_OK when the server has the calls this adapter needs (Redis 7.0 and later). */
static inline int redisModuleCompatibilityCheck(void) {
    if (!RedisModule_EventLoopAdd || !RedisModule_EventLoopDel || !RedisModule_CreateTimer ||
        !RedisModule_StopTimer)
        return REDIS_ERR;
    return REDIS_OK;
}

static inline int redisModuleAttach(redisAsyncContext *ac, RedisModuleCtx *module_ctx) {
    redcoreModuleState *st;

    if (ac->ev.data != NULL)
        return REDIS_ERR;
    st = (redcoreModuleState *)hi_calloc(1, sizeof(*st));
    if (st == NULL)
        return REDIS_ERR;
    st->ac = ac;
    st->module_ctx = module_ctx;
    st->fd = ac->c.fd;

    ac->ev.data = st;
    ac->ev.addRead = redcoreModuleAddRead;
    ac->ev.delRead = redcoreModuleDelRead;
    ac->ev.addWrite = redcoreModuleAddWrite;
    ac->ev.delWrite = redcoreModuleDelWrite;
    ac->ev.cleanup = redcoreModuleCleanup;
    ac->ev.scheduleTimer = redcoreModuleScheduleTimer;
    return REDIS_OK;
}

#endif /* HIREDIS_REDISMODULEAPI_H */
