/* redcore's hiredis-compatible API: run an async context on a libev loop.
 *
 * Written for redcore (not taken from hiredis), with hiredis's name: redisLibevAttach(loop, ac)
 * hooks the context up; ev_run(loop, 0) then drives it. Two io watchers follow what the
 * context wants and a timer carries its timeout. Header only: it uses nothing but the `ev`
 * hooks. */
#ifndef HIREDIS_LIBEV_H
#define HIREDIS_LIBEV_H

#include "../async.h"

#include <ev.h>

typedef struct redcoreLibevState {
    redisAsyncContext *ac;
    struct ev_loop *loop;
    ev_io reader;
    ev_io writer;
    ev_timer timer;
} redcoreLibevState;

static inline void redcoreLibevOnRead(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    redisAsyncHandleRead(((redcoreLibevState *)w->data)->ac);
}

static inline void redcoreLibevOnWrite(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    redisAsyncHandleWrite(((redcoreLibevState *)w->data)->ac);
}

static inline void redcoreLibevOnTimer(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    redisAsyncHandleTimeout(((redcoreLibevState *)w->data)->ac);
}

static inline void redcoreLibevAddRead(void *data) {
    redcoreLibevState *st = (redcoreLibevState *)data;
    if (!ev_is_active(&st->reader))
        ev_io_start(st->loop, &st->reader);
}

static inline void redcoreLibevDelRead(void *data) {
    redcoreLibevState *st = (redcoreLibevState *)data;
    if (ev_is_active(&st->reader))
        ev_io_stop(st->loop, &st->reader);
}

static inline void redcoreLibevAddWrite(void *data) {
    redcoreLibevState *st = (redcoreLibevState *)data;
    if (!ev_is_active(&st->writer))
        ev_io_start(st->loop, &st->writer);
}

static inline void redcoreLibevDelWrite(void *data) {
    redcoreLibevState *st = (redcoreLibevState *)data;
    if (ev_is_active(&st->writer))
        ev_io_stop(st->loop, &st->writer);
}

static inline void redcoreLibevScheduleTimer(void *data, struct timeval tv) {
    redcoreLibevState *st = (redcoreLibevState *)data;
    st->timer.repeat = (ev_tstamp)tv.tv_sec + (ev_tstamp)tv.tv_usec / 1e6;
    ev_timer_again(st->loop, &st->timer);
}

/* libev allows freeing a stopped watcher from inside its own callback. */
static inline void redcoreLibevCleanup(void *data) {
    redcoreLibevState *st = (redcoreLibevState *)data;
    ev_io_stop(st->loop, &st->reader);
    ev_io_stop(st->loop, &st->writer);
    ev_timer_stop(st->loop, &st->timer);
    hi_free(st);
}

static inline int redisLibevAttach(struct ev_loop *loop, redisAsyncContext *ac) {
    redcoreLibevState *st;

    if (ac->ev.data != NULL)
        return REDIS_ERR;
    st = (redcoreLibevState *)hi_calloc(1, sizeof(*st));
    if (st == NULL)
        return REDIS_ERR;
    st->ac = ac;
    st->loop = loop;
    ev_io_init(&st->reader, redcoreLibevOnRead, ac->c.fd, EV_READ);
    ev_io_init(&st->writer, redcoreLibevOnWrite, ac->c.fd, EV_WRITE);
    ev_init(&st->timer, redcoreLibevOnTimer);
    st->reader.data = st;
    st->writer.data = st;
    st->timer.data = st;

    ac->ev.data = st;
    ac->ev.addRead = redcoreLibevAddRead;
    ac->ev.delRead = redcoreLibevDelRead;
    ac->ev.addWrite = redcoreLibevAddWrite;
    ac->ev.delWrite = redcoreLibevDelWrite;
    ac->ev.cleanup = redcoreLibevCleanup;
    ac->ev.scheduleTimer = redcoreLibevScheduleTimer;
    return REDIS_OK;
}

#endif /* HIREDIS_LIBEV_H */
