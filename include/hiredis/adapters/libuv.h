/* redcore's hiredis-compatible API: run an async context on a libuv loop.
 *
 * Written for redcore (not taken from hiredis), with hiredis's name: redisLibuvAttach(ac, loop)
 * hooks the context up; uv_run(loop, UV_RUN_DEFAULT) then drives it. One uv_poll_t follows
 * what the context wants to read and write, and a uv_timer_t carries its timeout. Header only:
 * it uses nothing but the `ev` hooks. */
#ifndef HIREDIS_LIBUV_H
#define HIREDIS_LIBUV_H

#include "../async.h"

#include <uv.h>

typedef struct redcoreLibuvState {
    redisAsyncContext *ac; /* NULL once the context let go */
    uv_poll_t poll;
    uv_timer_t timer;
    int events;  /* UV_READABLE | UV_WRITABLE, as the context asked */
    int closing; /* handles closed whose close callback libuv has not run yet */
} redcoreLibuvState;

static inline void redcoreLibuvOnPoll(uv_poll_t *handle, int status, int events) {
    redcoreLibuvState *st = (redcoreLibuvState *)handle->data;
    /* On a socket error, let the context's own read or write meet it and report it. */
    if (status < 0)
        events = st->events;
    if (st->ac != NULL && (events & UV_READABLE))
        redisAsyncHandleRead(st->ac);
    /* The read may have ended the context (st->ac is then NULL; st lives until closed). */
    if (st->ac != NULL && (events & UV_WRITABLE))
        redisAsyncHandleWrite(st->ac);
}

static inline void redcoreLibuvOnTimer(uv_timer_t *handle) {
    redcoreLibuvState *st = (redcoreLibuvState *)handle->data;
    if (st->ac != NULL)
        redisAsyncHandleTimeout(st->ac);
}

static inline void redcoreLibuvWatch(redcoreLibuvState *st, int events) {
    if (events == st->events)
        return;
    st->events = events;
    if (events != 0)
        uv_poll_start(&st->poll, events, redcoreLibuvOnPoll);
    else
        uv_poll_stop(&st->poll);
}

static inline void redcoreLibuvAddRead(void *data) {
    redcoreLibuvState *st = (redcoreLibuvState *)data;
    redcoreLibuvWatch(st, st->events | UV_READABLE);
}

static inline void redcoreLibuvDelRead(void *data) {
    redcoreLibuvState *st = (redcoreLibuvState *)data;
    redcoreLibuvWatch(st, st->events & ~UV_READABLE);
}

static inline void redcoreLibuvAddWrite(void *data) {
    redcoreLibuvState *st = (redcoreLibuvState *)data;
    redcoreLibuvWatch(st, st->events | UV_WRITABLE);
}

static inline void redcoreLibuvDelWrite(void *data) {
    redcoreLibuvState *st = (redcoreLibuvState *)data;
    redcoreLibuvWatch(st, st->events & ~UV_WRITABLE);
}

static inline void redcoreLibuvScheduleTimer(void *data, struct timeval tv) {
    redcoreLibuvState *st = (redcoreLibuvState *)data;
    uint64_t ms = (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000;
    uv_timer_start(&st->timer, redcoreLibuvOnTimer, ms, 0);
}

static inline void redcoreLibuvOnClose(uv_handle_t *handle) {
    redcoreLibuvState *st = (redcoreLibuvState *)handle->data;
    if (--st->closing == 0)
        hi_free(st);
}

/* libuv frees nothing itself and a handle's memory must outlive its close callback, which
 * runs on a later turn of the loop: the state is freed by the last one. The poll handle
 * stops watching at once, before the context closes its socket. */
static inline void redcoreLibuvCleanup(void *data) {
    redcoreLibuvState *st = (redcoreLibuvState *)data;
    st->ac = NULL;
    st->closing = 2;
    uv_close((uv_handle_t *)&st->poll, redcoreLibuvOnClose);
    uv_close((uv_handle_t *)&st->timer, redcoreLibuvOnClose);
}

static inline int redisLibuvAttach(redisAsyncContext *ac, uv_loop_t *loop) {
    redcoreLibuvState *st;

    if (ac->ev.data != NULL)
        return REDIS_ERR;
    st = (redcoreLibuvState *)hi_calloc(1, sizeof(*st));
    if (st == NULL)
        return REDIS_ERR;
    if (uv_poll_init_socket(loop, &st->poll, ac->c.fd) != 0) {
        hi_free(st);
        return REDIS_ERR;
    }
    /* Cannot fail on a valid loop. */
    uv_timer_init(loop, &st->timer);
    st->ac = ac;
    st->poll.data = st;
    st->timer.data = st;

    ac->ev.data = st;
    ac->ev.addRead = redcoreLibuvAddRead;
    ac->ev.delRead = redcoreLibuvDelRead;
    ac->ev.addWrite = redcoreLibuvAddWrite;
    ac->ev.delWrite = redcoreLibuvDelWrite;
    ac->ev.cleanup = redcoreLibuvCleanup;
    ac->ev.scheduleTimer = redcoreLibuvScheduleTimer;
    return REDIS_OK;
}

#endif /* HIREDIS_LIBUV_H */
