/* redcore's hiredis-compatible API: run an async context on ivykis.
 *
 * Written for redcore (not taken from hiredis), with hiredis's name: after iv_init(),
 * redisIvykisAttach(ac) hooks the context up to the thread's ivykis loop; iv_main() then
 * drives it. The socket is an iv_fd whose in and out handlers are set while the context
 * wants to read or write, and an iv_timer carries its timeout. Header only: it uses nothing
 * but the `ev` hooks. */
#ifndef HIREDIS_IVYKIS_H
#define HIREDIS_IVYKIS_H

#include "../async.h"

#include <iv.h>

typedef struct redcoreIvykisState {
    redisAsyncContext *ac;
    struct iv_fd fd;
    struct iv_timer timer;
} redcoreIvykisState;

static inline void redcoreIvykisOnIn(void *data) {
    redisAsyncHandleRead(((redcoreIvykisState *)data)->ac);
}

static inline void redcoreIvykisOnOut(void *data) {
    redisAsyncHandleWrite(((redcoreIvykisState *)data)->ac);
}

static inline void redcoreIvykisOnTimer(void *data) {
    redisAsyncHandleTimeout(((redcoreIvykisState *)data)->ac);
}

static inline void redcoreIvykisAddRead(void *data) {
    iv_fd_set_handler_in(&((redcoreIvykisState *)data)->fd, redcoreIvykisOnIn);
}

static inline void redcoreIvykisDelRead(void *data) {
    iv_fd_set_handler_in(&((redcoreIvykisState *)data)->fd, NULL);
}

static inline void redcoreIvykisAddWrite(void *data) {
    iv_fd_set_handler_out(&((redcoreIvykisState *)data)->fd, redcoreIvykisOnOut);
}

static inline void redcoreIvykisDelWrite(void *data) {
    iv_fd_set_handler_out(&((redcoreIvykisState *)data)->fd, NULL);
}

static inline void redcoreIvykisScheduleTimer(void *data, struct timeval tv) {
    redcoreIvykisState *st = (redcoreIvykisState *)data;
    if (iv_timer_registered(&st->timer))
        iv_timer_unregister(&st->timer);
    iv_validate_now();
    st->timer.expires = iv_now;
    st->timer.expires.tv_sec += tv.tv_sec;
    st->timer.expires.tv_nsec += (long)tv.tv_usec * 1000;
    if (st->timer.expires.tv_nsec >= 1000000000L) {
        st->timer.expires.tv_sec++;
        st->timer.expires.tv_nsec -= 1000000000L;
    }
    iv_timer_register(&st->timer);
}

/* ivykis allows unregistering an fd and a timer from inside their own handlers. */
static inline void redcoreIvykisCleanup(void *data) {
    redcoreIvykisState *st = (redcoreIvykisState *)data;
    iv_fd_unregister(&st->fd);
    if (iv_timer_registered(&st->timer))
        iv_timer_unregister(&st->timer);
    hi_free(st);
}

static inline int redisIvykisAttach(redisAsyncContext *ac) {
    redcoreIvykisState *st;

    if (ac->ev.data != NULL)
        return REDIS_ERR;
    st = (redcoreIvykisState *)hi_calloc(1, sizeof(*st));
    if (st == NULL)
        return REDIS_ERR;
    st->ac = ac;
    IV_FD_INIT(&st->fd);
    st->fd.fd = ac->c.fd;
    st->fd.cookie = st;
    iv_fd_register(&st->fd);
    IV_TIMER_INIT(&st->timer);
    st->timer.cookie = st;
    st->timer.handler = redcoreIvykisOnTimer;

    ac->ev.data = st;
    ac->ev.addRead = redcoreIvykisAddRead;
    ac->ev.delRead = redcoreIvykisDelRead;
    ac->ev.addWrite = redcoreIvykisAddWrite;
    ac->ev.delWrite = redcoreIvykisDelWrite;
    ac->ev.cleanup = redcoreIvykisCleanup;
    ac->ev.scheduleTimer = redcoreIvykisScheduleTimer;
    return REDIS_OK;
}

#endif /* HIREDIS_IVYKIS_H */
