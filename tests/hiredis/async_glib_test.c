/* The async API in a GLib main loop (adapters/glib.h), against Debian's libglib2.0-dev: the
 * cases of adapter_cases.h, with the source attached to the default main context. */
/* PKGS: glib-2.0 */
#include <adapters/glib.h>

#include "adapter_cases.h"

static GSource *sources[8];
static int nsources;

static int attach(redisAsyncContext *c) {
    GSource *source = redis_source_new(c);
    if (source == NULL)
        return REDIS_ERR;
    g_source_attach(source, NULL);
    sources[nsources++] = source;
    return REDIS_OK;
}

static gboolean on_tick(gpointer data) {
    (void)data;
    return G_SOURCE_REMOVE;
}

/* One iteration, woken within 100 ms by a timeout when nothing else happens. */
static void turn(void) {
    guint tick = g_timeout_add(100, on_tick, NULL);
    g_main_context_iteration(NULL, TRUE);
    GSource *t = g_main_context_find_source_by_id(NULL, tick);
    if (t != NULL)
        g_source_destroy(t);
}

int main(void) {
    run_adapter_cases("glib");
    /* The program owns the sources: they stay, idle, after their contexts are gone. */
    for (int i = 0; i < nsources; i++) {
        g_source_destroy(sources[i]);
        g_source_unref(sources[i]);
    }
    return finish("hiredis async_glib_test");
}
