/* redcore's hiredis-compatible API: run an async context on a libhv loop.
 *
 * Written for redcore (not taken from hiredis), with hiredis's name:
 * redisLibhvAttach(ac, loop) hooks the context up; hloop_run(loop) then drives it. The
 * socket's hio_t follows what the context wants to read and write, and a one-shot htimer
 * carries its timeout. Header only: it uses nothing but the `ev` hooks.
 *
 * libhv is not packaged by Debian, so unlike the other adapters this one is not compiled by
 * redcore's test suite; it keeps to libhv's documented hloop.h calls. */
#ifndef HIREDIS_LIBHV_H
#define HIREDIS_LIBHV_H

#include "../async.h"

#include <hv/hloop.h>

typedef struct redcoreLibhvState {
    redisAsyncContext *ac; /* NULL once the context let go */
    hio_t *io;
    htimer_t *timer; /* NULL when none is pending (a fired one-shot timer is freed by libhv) */
    int dispatching; /* inside the io callback: the state outlives a cleanup until it returns */
} redcoreLibhvState;

static inline void redcoreLibhvOnIo(hio_t *io) {
    redcoreLibhvState *st = (redcoreLibhvState *)hevent_userdata(io);
    int ready;
    if (st == NULL)
        return;
    ready = hio_events(io) & hio_revents(io);
    st->dispatching = 1;
    if (st->ac != NULL && (ready & HV_READ))
        redisAsyncHandleRead(st->ac);
    if (st->ac != NULL && (ready & HV_WRITE))
        redisAsyncHandleWrite(st->ac);
    st->dispatching = 0;
    if (st->ac == NULL)
        hi_free(st);
}

static inline void redcoreLibhvOnTimer(htimer_t *timer) {
    redcoreLibhvState *st = (redcoreLibhvState *)hevent_userdata(timer);
    st->timer = NULL;
    st->dispatching = 1;
    if (st->ac != NULL)
        redisAsyncHandleTimeout(st->ac);
    st->dispatching = 0;
    if (st->ac == NULL)
        hi_free(st);
}

static inline void redcoreLibhvAddRead(void *data) {
    hio_add(((redcoreLibhvState *)data)->io, redcoreLibhvOnIo, HV_READ);
}

static inline void redcoreLibhvDelRead(void *data) {
    hio_del(((redcoreLibhvState *)data)->io, HV_READ);
}

static inline void redcoreLibhvAddWrite(void *data) {
    hio_add(((redcoreLibhvState *)data)->io, redcoreLibhvOnIo, HV_WRITE);
}

static inline void redcoreLibhvDelWrite(void *data) {
    hio_del(((redcoreLibhvState *)data)->io, HV_WRITE);
}

static inline void redcoreLibhvScheduleTimer(void *data, struct timeval tv) {
    redcoreLibhvState *st = (redcoreLibhvState *)data;
    uint32_t ms = (uint32_t)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
    if (ms == 0)
        ms = 1; /* libhv has no zero-length timers */
    if (st->timer != NULL) {
        htimer_reset(st->timer, ms);
    } else {
        st->timer = htimer_add(hevent_loop(st->io), redcoreLibhvOnTimer, ms, 1);
        if (st->timer != NULL)
            hevent_set_userdata(st->timer, st);
    }
}

/* The socket is the context's: the io stops watching it but does not close it. */
static inline void redcoreLibhvCleanup(void *data) {
    redcoreLibhvState *st = (redcoreLibhvState *)data;
    st->ac = NULL;
    hio_del(st->io, HV_RDWR);
    hevent_set_userdata(st->io, NULL);
    if (st->timer != NULL) {
        htimer_del(st->timer);
        st->timer = NULL;
    }
    if (!st->dispatching)
        hi_free(st);
}

static inline int redisLibhvAttach(redisAsyncContext *ac, hloop_t *loop) {
    redcoreLibhvState *st;

    if (ac->ev.data != NULL)
        return REDIS_ERR;
    st = (redcoreLibhvState *)hi_calloc(1, sizeof(*st));
    if (st == NULL)
        return REDIS_ERR;
    st->io = hio_get(loop, ac->c.fd);
    if (st->io == NULL) {
        hi_free(st);
        return REDIS_ERR;
    }
    st->ac = ac;
    hevent_set_userdata(st->io, st);

    ac->ev.data = st;
    ac->ev.addRead = redcoreLibhvAddRead;
    ac->ev.delRead = redcoreLibhvDelRead;
    ac->ev.addWrite = redcoreLibhvAddWrite;
    ac->ev.delWrite = redcoreLibhvDelWrite;
    ac->ev.cleanup = redcoreLibhvCleanup;
    ac->ev.scheduleTimer = redcoreLibhvScheduleTimer;
    return REDIS_OK;
}

#endif /* HIREDIS_LIBHV_H */
