/* redcore's hiredis-compatible API: an event loop of one poll(2) call, for one context.
 *
 * Written for redcore (not taken from hiredis), with hiredis's names: redisPollAttach(ac) hooks
 * the context up; each redisPollTick(ac, timeout) waits up to `timeout` seconds (0: do not
 * wait, negative: wait for ever) for what the context wants, handles it and any expired
 * timer, and returns what it handled as REDIS_POLL_HANDLED_* bits. The context may be freed
 * during a tick (by a callback, or after an error); the adapter's state then lives until the
 * tick returns. Header only: it uses nothing but the `ev` hooks. */
#ifndef HIREDIS_POLL_H
#define HIREDIS_POLL_H

#include "../async.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/time.h>

#define REDIS_POLL_HANDLED_READ 1
#define REDIS_POLL_HANDLED_WRITE 2
#define REDIS_POLL_HANDLED_TIMEOUT 4

typedef struct redcorePollState {
    redisAsyncContext *ac;
    redisFD fd;
    int want_read;
    int want_write;
    int ticking;  /* inside redisPollTick */
    int released; /* the context let go of us during a tick: free at its end */
    double deadline; /* seconds since the epoch; 0 when no timer is set */
} redcorePollState;

static inline double redcorePollNow(void) {
    struct timeval now;
    gettimeofday(&now, NULL);
    return (double)now.tv_sec + (double)now.tv_usec / 1e6;
}

static inline int redisPollTick(redisAsyncContext *ac, double timeout) {
    redcorePollState *st = (redcorePollState *)ac->ev.data;
    struct pollfd pfd;
    int want_read, want_write, ready, handled = 0;

    if (st == NULL)
        return 0;
    /* What was wanted before the callbacks below change it. */
    want_read = st->want_read;
    want_write = st->want_write;
    if (!want_read && !want_write)
        return 0;

    memset(&pfd, 0, sizeof(pfd));
    pfd.fd = st->fd;
    pfd.events = (short)((want_read ? POLLIN : 0) | (want_write ? POLLOUT : 0));
    ready = poll(&pfd, 1, timeout < 0 ? -1 : (int)(timeout * 1000.0));
    if (ready < 0) {
        if (errno != EINTR)
            return ready;
        ready = 0;
    }

    st->ticking = 1;
    if (ready > 0) {
        if (want_read && (pfd.revents & POLLIN)) {
            redisAsyncHandleRead(ac);
            handled |= REDIS_POLL_HANDLED_READ;
        }
        /* A failed connect shows up as POLLERR. */
        if (want_write && (pfd.revents & (POLLOUT | POLLERR)) && !st->released) {
            redisAsyncHandleWrite(ac);
            handled |= REDIS_POLL_HANDLED_WRITE;
        }
    }
    if (!st->released && st->deadline != 0.0 && redcorePollNow() >= st->deadline) {
        st->deadline = 0.0;
        redisAsyncHandleTimeout(ac);
        handled |= REDIS_POLL_HANDLED_TIMEOUT;
    }
    if (st->released)
        hi_free(st);
    else
        st->ticking = 0;
    return handled;
}

static inline void redcorePollAddRead(void *data) {
    ((redcorePollState *)data)->want_read = 1;
}

static inline void redcorePollDelRead(void *data) {
    ((redcorePollState *)data)->want_read = 0;
}

static inline void redcorePollAddWrite(void *data) {
    ((redcorePollState *)data)->want_write = 1;
}

static inline void redcorePollDelWrite(void *data) {
    ((redcorePollState *)data)->want_write = 0;
}

static inline void redcorePollCleanup(void *data) {
    redcorePollState *st = (redcorePollState *)data;
    if (st->ticking)
        st->released = 1;
    else
        hi_free(st);
}

static inline void redcorePollScheduleTimer(void *data, struct timeval tv) {
    ((redcorePollState *)data)->deadline =
        redcorePollNow() + (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static inline int redisPollAttach(redisAsyncContext *ac) {
    redcorePollState *st;

    if (ac->ev.data != NULL)
        return REDIS_ERR;
    st = (redcorePollState *)hi_calloc(1, sizeof(*st));
    if (st == NULL)
        return REDIS_ERR;
    st->ac = ac;
    st->fd = ac->c.fd;

    ac->ev.data = st;
    ac->ev.addRead = redcorePollAddRead;
    ac->ev.delRead = redcorePollDelRead;
    ac->ev.addWrite = redcorePollAddWrite;
    ac->ev.delWrite = redcorePollDelWrite;
    ac->ev.cleanup = redcorePollCleanup;
    ac->ev.scheduleTimer = redcorePollScheduleTimer;
    return REDIS_OK;
}

#endif /* HIREDIS_POLL_H */
