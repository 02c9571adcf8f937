/* redcore's hiredis-compatible API: run an async context on a libevent event_base.
 *
 * Written for redcore (not taken from hiredis), with hiredis's name: redisLibeventAttach(ac,
 * base) hooks the context up; event_base_dispatch(base) then drives it. One persistent event
 * watches the socket for what the context wants, with the context's timer as its timeout. The
 * context may be freed from inside one of its callbacks; the adapter's state then lives until
 * the event handler returns. Header only: it uses nothing but the `ev` hooks. */
#ifndef HIREDIS_LIBEVENT_H
#define HIREDIS_LIBEVENT_H

#include "../async.h"

#include <event2/event.h>

typedef struct redcoreLibeventState {
    redisAsyncContext *ac;
    struct event_base *base;
    struct event *ev;
    evutil_socket_t fd;
    short want;       /* EV_READ and EV_WRITE bits */
    int timer_set;
    struct timeval timer;
    int dispatching;  /* inside the event handler */
    int released;     /* the context let go of us during the handler: free at its end */
} redcoreLibeventState;

static inline void redcoreLibeventFree(redcoreLibeventState *st) {
    event_free(st->ev);
    hi_free(st);
}

static inline void redcoreLibeventOnEvent(evutil_socket_t fd, short what, void *arg) {
    redcoreLibeventState *st = (redcoreLibeventState *)arg;
    (void)fd;

    st->dispatching = 1;
    if ((what & EV_TIMEOUT) && !st->released)
        redisAsyncHandleTimeout(st->ac);
    if ((what & EV_READ) && !st->released)
        redisAsyncHandleRead(st->ac);
    if ((what & EV_WRITE) && !st->released)
        redisAsyncHandleWrite(st->ac);
    st->dispatching = 0;
    if (st->released)
        redcoreLibeventFree(st);
}

/* Re-arms the event for the current interest and timer. */
static inline void redcoreLibeventArm(redcoreLibeventState *st) {
    event_del(st->ev);
    if (st->want == 0 && !st->timer_set)
        return;
    event_assign(st->ev, st->base, st->want ? st->fd : -1, (short)(st->want | EV_PERSIST),
                 redcoreLibeventOnEvent, st);
    event_add(st->ev, st->timer_set ? &st->timer : NULL);
}

static inline void redcoreLibeventWant(void *data, short bit, int on) {
    redcoreLibeventState *st = (redcoreLibeventState *)data;
    short want = on ? (short)(st->want | bit) : (short)(st->want & ~bit);
    if (want != st->want) {
        st->want = want;
        redcoreLibeventArm(st);
    }
}

static inline void redcoreLibeventAddRead(void *data) {
    redcoreLibeventWant(data, EV_READ, 1);
}

static inline void redcoreLibeventDelRead(void *data) {
    redcoreLibeventWant(data, EV_READ, 0);
}

static inline void redcoreLibeventAddWrite(void *data) {
    redcoreLibeventWant(data, EV_WRITE, 1);
}

static inline void redcoreLibeventDelWrite(void *data) {
    redcoreLibeventWant(data, EV_WRITE, 0);
}

static inline void redcoreLibeventScheduleTimer(void *data, struct timeval tv) {
    redcoreLibeventState *st = (redcoreLibeventState *)data;
    st->timer_set = 1;
    st->timer = tv;
    redcoreLibeventArm(st);
}

static inline void redcoreLibeventCleanup(void *data) {
    redcoreLibeventState *st = (redcoreLibeventState *)data;
    if (st == NULL)
        return;
    event_del(st->ev);
    if (st->dispatching)
        st->released = 1;
    else
        redcoreLibeventFree(st);
}

static inline int redisLibeventAttach(redisAsyncContext *ac, struct event_base *base) {
    redcoreLibeventState *st;

    if (ac->ev.data != NULL)
        return REDIS_ERR;
    st = (redcoreLibeventState *)hi_calloc(1, sizeof(*st));
    if (st == NULL)
        return REDIS_ERR;
    st->ac = ac;
    st->base = base;
    st->fd = ac->c.fd;
    st->ev = event_new(base, st->fd, EV_PERSIST, redcoreLibeventOnEvent, st);
    if (st->ev == NULL) {
        hi_free(st);
        return REDIS_ERR;
    }

    ac->ev.data = st;
    ac->ev.addRead = redcoreLibeventAddRead;
    ac->ev.delRead = redcoreLibeventDelRead;
    ac->ev.addWrite = redcoreLibeventAddWrite;
    ac->ev.delWrite = redcoreLibeventDelWrite;
    ac->ev.cleanup = redcoreLibeventCleanup;
    ac->ev.scheduleTimer = redcoreLibeventScheduleTimer;
    return REDIS_OK;
}

#endif /* HIREDIS_LIBEVENT_H */
