/* redcore's hiredis-compatible API: run an async context on systemd's sd-event loop.
 *
 * Written for redcore (not taken from hiredis), with hiredis's name:
 * redisLibsdeventAttach(ac, event) hooks the context up (keeping a reference to the loop);
 * sd_event_loop(event) then drives it. One io source follows what the context wants to read
 * and write, and a relative monotonic timer carries its timeout. Header only: it uses nothing
 * but the `ev` hooks. */
#ifndef HIREDIS_LIBSDEVENT_H
#define HIREDIS_LIBSDEVENT_H

#include "../async.h"

#include <sys/epoll.h>
#include <systemd/sd-event.h>

typedef struct redcoreSdeventState {
    redisAsyncContext *ac; /* NULL once the context let go */
    sd_event *event;
    sd_event_source *io;
    sd_event_source *timer;
    uint32_t events;   /* EPOLLIN | EPOLLOUT, as the context asked */
    int dispatching;   /* inside the io handler: the state outlives a cleanup until it returns */
} redcoreSdeventState;

static inline void redcoreSdeventRelease(redcoreSdeventState *st) {
    sd_event_source_disable_unref(st->io);
    sd_event_source_disable_unref(st->timer);
    sd_event_unref(st->event);
    hi_free(st);
}

static inline int redcoreSdeventOnIo(sd_event_source *s, int fd, uint32_t revents, void *data) {
    redcoreSdeventState *st = (redcoreSdeventState *)data;
    (void)s;
    (void)fd;
    /* Errors and hang-ups are met by the context's own read or write, which report them. */
    if (revents & (EPOLLERR | EPOLLHUP))
        revents |= st->events;
    st->dispatching = 1;
    if (st->ac != NULL && (revents & EPOLLIN))
        redisAsyncHandleRead(st->ac);
    if (st->ac != NULL && (revents & EPOLLOUT))
        redisAsyncHandleWrite(st->ac);
    st->dispatching = 0;
    if (st->ac == NULL)
        redcoreSdeventRelease(st);
    return 0;
}

static inline int redcoreSdeventOnTimer(sd_event_source *s, uint64_t usec, void *data) {
    redcoreSdeventState *st = (redcoreSdeventState *)data;
    (void)s;
    (void)usec;
    st->dispatching = 1;
    if (st->ac != NULL)
        redisAsyncHandleTimeout(st->ac);
    st->dispatching = 0;
    if (st->ac == NULL)
        redcoreSdeventRelease(st);
    return 0;
}

static inline void redcoreSdeventWatch(redcoreSdeventState *st, uint32_t events) {
    if (events == st->events)
        return;
    st->events = events;
    if (events != 0) {
        sd_event_source_set_io_events(st->io, events);
        sd_event_source_set_enabled(st->io, SD_EVENT_ON);
    } else {
        sd_event_source_set_enabled(st->io, SD_EVENT_OFF);
    }
}

static inline void redcoreSdeventAddRead(void *data) {
    redcoreSdeventState *st = (redcoreSdeventState *)data;
    redcoreSdeventWatch(st, st->events | EPOLLIN);
}

static inline void redcoreSdeventDelRead(void *data) {
    redcoreSdeventState *st = (redcoreSdeventState *)data;
    redcoreSdeventWatch(st, st->events & ~(uint32_t)EPOLLIN);
}

static inline void redcoreSdeventAddWrite(void *data) {
    redcoreSdeventState *st = (redcoreSdeventState *)data;
    redcoreSdeventWatch(st, st->events | EPOLLOUT);
}

static inline void redcoreSdeventDelWrite(void *data) {
    redcoreSdeventState *st = (redcoreSdeventState *)data;
    redcoreSdeventWatch(st, st->events & ~(uint32_t)EPOLLOUT);
}

static inline void redcoreSdeventScheduleTimer(void *data, struct timeval tv) {
    redcoreSdeventState *st = (redcoreSdeventState *)data;
    uint64_t usec = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
    if (st->timer == NULL) {
        sd_event_add_time_relative(st->event, &st->timer, CLOCK_MONOTONIC, usec, 1,
                                   redcoreSdeventOnTimer, st);
    } else {
        sd_event_source_set_time_relative(st->timer, usec);
        sd_event_source_set_enabled(st->timer, SD_EVENT_ONESHOT);
    }
}

/* sd-event allows dropping a source from inside its own handler; the state itself is freed
 * by the handler when the context let go while it ran. */
static inline void redcoreSdeventCleanup(void *data) {
    redcoreSdeventState *st = (redcoreSdeventState *)data;
    st->ac = NULL;
    sd_event_source_set_enabled(st->io, SD_EVENT_OFF);
    if (st->timer != NULL)
        sd_event_source_set_enabled(st->timer, SD_EVENT_OFF);
    if (!st->dispatching)
        redcoreSdeventRelease(st);
}

static inline int redisLibsdeventAttach(redisAsyncContext *ac, struct sd_event *event) {
    redcoreSdeventState *st;

    if (ac->ev.data != NULL)
        return REDIS_ERR;
    st = (redcoreSdeventState *)hi_calloc(1, sizeof(*st));
    if (st == NULL)
        return REDIS_ERR;
    if (sd_event_add_io(event, &st->io, ac->c.fd, 0, redcoreSdeventOnIo, st) < 0) {
        hi_free(st);
        return REDIS_ERR;
    }
    sd_event_source_set_enabled(st->io, SD_EVENT_OFF);
    st->ac = ac;
    st->event = sd_event_ref(event);

    ac->ev.data = st;
    ac->ev.addRead = redcoreSdeventAddRead;
    ac->ev.delRead = redcoreSdeventDelRead;
    ac->ev.addWrite = redcoreSdeventAddWrite;
    ac->ev.delWrite = redcoreSdeventDelWrite;
    ac->ev.cleanup = redcoreSdeventCleanup;
    ac->ev.scheduleTimer = redcoreSdeventScheduleTimer;
    return REDIS_OK;
}

#endif /* HIREDIS_LIBSDEVENT_H */
