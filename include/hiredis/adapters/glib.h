/* redcore's hiredis-compatible API: run an async context in a GLib main loop.
 *
 * Written for redcore (not taken from hiredis), with hiredis's name: redis_source_new(ac)
 * returns a GSource that the program attaches to a GMainContext (g_source_attach) and owns
 * (g_source_unref / g_source_destroy when done). The source watches the context's socket for
 * what the context wants and carries its timeout as the source's ready time. A callback set
 * with g_source_set_callback runs after each dispatch; its result decides whether the source
 * stays. Header only: it uses nothing but the `ev` hooks. */
#ifndef HIREDIS_GLIB_H
#define HIREDIS_GLIB_H

#include "../async.h"

#include <glib.h>

typedef struct redcoreGlibSource {
    GSource source;
    redisAsyncContext *ac; /* NULL once the context let go */
    gpointer tag;          /* the socket's g_source_add_unix_fd tag, NULL once removed */
    GIOCondition events;   /* G_IO_IN | G_IO_OUT, as the context asked */
} redcoreGlibSource;

static inline void redcoreGlibWatch(redcoreGlibSource *s, GIOCondition events) {
    GMainContext *owner;
    if (s->tag == NULL || events == s->events)
        return;
    s->events = events;
    g_source_modify_unix_fd(&s->source, s->tag, events);
    /* The loop may be polling the old set on another thread. */
    owner = g_source_get_context(&s->source);
    if (owner != NULL)
        g_main_context_wakeup(owner);
}

static inline void redcoreGlibAddRead(void *data) {
    redcoreGlibSource *s = (redcoreGlibSource *)data;
    redcoreGlibWatch(s, (GIOCondition)(s->events | G_IO_IN));
}

static inline void redcoreGlibDelRead(void *data) {
    redcoreGlibSource *s = (redcoreGlibSource *)data;
    redcoreGlibWatch(s, (GIOCondition)(s->events & ~G_IO_IN));
}

static inline void redcoreGlibAddWrite(void *data) {
    redcoreGlibSource *s = (redcoreGlibSource *)data;
    redcoreGlibWatch(s, (GIOCondition)(s->events | G_IO_OUT));
}

static inline void redcoreGlibDelWrite(void *data) {
    redcoreGlibSource *s = (redcoreGlibSource *)data;
    redcoreGlibWatch(s, (GIOCondition)(s->events & ~G_IO_OUT));
}

static inline void redcoreGlibScheduleTimer(void *data, struct timeval tv) {
    redcoreGlibSource *s = (redcoreGlibSource *)data;
    gint64 us = (gint64)tv.tv_sec * G_USEC_PER_SEC + (gint64)tv.tv_usec;
    g_source_set_ready_time(&s->source, g_get_monotonic_time() + us);
}

/* The context is going away: the source stops watching and stays, idle, until the program
 * drops it. */
static inline void redcoreGlibCleanup(void *data) {
    redcoreGlibSource *s = (redcoreGlibSource *)data;
    s->ac = NULL;
    if (s->tag != NULL) {
        g_source_remove_unix_fd(&s->source, s->tag);
        s->tag = NULL;
    }
    g_source_set_ready_time(&s->source, -1);
}

static inline gboolean redcoreGlibDispatch(GSource *source, GSourceFunc callback,
                                           gpointer user_data) {
    redcoreGlibSource *s = (redcoreGlibSource *)source;
    GIOCondition ready = s->tag != NULL ? g_source_query_unix_fd(source, s->tag) : (GIOCondition)0;
    gint64 due = g_source_get_ready_time(source);

    /* Errors and hang-ups are met by the context's own read or write, which report them. */
    if (ready & (G_IO_ERR | G_IO_HUP | G_IO_NVAL))
        ready = (GIOCondition)(ready | s->events);
    if (s->ac != NULL && (ready & G_IO_IN))
        redisAsyncHandleRead(s->ac);
    /* The read may have ended the context (s->ac is then NULL). */
    if (s->ac != NULL && (ready & G_IO_OUT))
        redisAsyncHandleWrite(s->ac);
    if (s->ac != NULL && due >= 0 && g_source_get_time(source) >= due) {
        g_source_set_ready_time(source, -1);
        redisAsyncHandleTimeout(s->ac);
    }
    if (callback != NULL)
        return callback(user_data);
    return G_SOURCE_CONTINUE;
}

/* The program dropped the source before the context: the context must not call it again. */
static inline void redcoreGlibFinalize(GSource *source) {
    redcoreGlibSource *s = (redcoreGlibSource *)source;
    if (s->ac != NULL) {
        s->ac->ev.data = NULL;
        s->ac->ev.addRead = NULL;
        s->ac->ev.delRead = NULL;
        s->ac->ev.addWrite = NULL;
        s->ac->ev.delWrite = NULL;
        s->ac->ev.cleanup = NULL;
        s->ac->ev.scheduleTimer = NULL;
        s->ac = NULL;
    }
}

static inline GSource *redis_source_new(redisAsyncContext *ac) {
    static GSourceFuncs funcs = {NULL, NULL, redcoreGlibDispatch, redcoreGlibFinalize, NULL, NULL};
    redcoreGlibSource *s;

    if (ac == NULL || ac->ev.data != NULL)
        return NULL;
    s = (redcoreGlibSource *)g_source_new(&funcs, sizeof(*s));
    s->ac = ac;
    s->events = (GIOCondition)0;
    s->tag = g_source_add_unix_fd(&s->source, ac->c.fd, s->events);

    ac->ev.data = s;
    ac->ev.addRead = redcoreGlibAddRead;
    ac->ev.delRead = redcoreGlibDelRead;
    ac->ev.addWrite = redcoreGlibAddWrite;
    ac->ev.delWrite = redcoreGlibDelWrite;
    ac->ev.cleanup = redcoreGlibCleanup;
    ac->ev.scheduleTimer = redcoreGlibScheduleTimer;
    return &s->source;
}

#endif /* HIREDIS_GLIB_H */
