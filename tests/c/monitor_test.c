/* The monitor classes of redcore.h (redcore_monitor, redcore_monitor_event), checked from C
 * against a real server: run by `make test-c` under tests/tools/with-redis.sh, plainly and
 * under valgrind. Another client's commands are seen with their binary arguments, database
 * and address; stop joins the callback's thread and frees its userdata once, and only then,
 * also after the client was freed under the monitor. */
#define _POSIX_C_SOURCE 200809L

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "commands.h"
#include "redcore.h"
#include "wait.h"

typedef struct {
    atomic_int seen;  /* the SET below, seen whole */
    atomic_int other; /* any other command */
    atomic_int freed;
    atomic_int closed;
} watch;

static void on_event(void *userdata, const redcore_monitor_event *event) {
    watch *w = userdata;
    if (redcore_monitor_event_kind(event) == REDCORE_MONITOR_KIND_CLOSED) {
        atomic_fetch_add(&w->closed, 1);
    }
    if (redcore_monitor_event_kind(event) != REDCORE_MONITOR_KIND_COMMAND) {
        return;
    }
    size_t len = 0;
    const char *name = redcore_monitor_event_arg(event, 0, &len);
    if (len != 3 || strcmp(name, "SET") != 0) {
        atomic_fetch_add(&w->other, 1);
        return;
    }
    const char *key = redcore_monitor_event_arg(event, 1, &len);
    int ok = redcore_monitor_event_argc(event) == 3 && len == 7 && memcmp(key, "c-\0mon\"", 7) == 0;
    const char *value = redcore_monitor_event_arg(event, 2, &len);
    ok = ok && len == 2 && strcmp(value, "v\n") == 0;
    ok = ok && redcore_monitor_event_arg(event, 3, NULL) == NULL;
    ok = ok && redcore_monitor_event_db(event) == 0;
    ok = ok && strncmp(redcore_monitor_event_client(event), "127.0.0.1:", 10) == 0;
    ok = ok && redcore_monitor_event_time(event) > 1e9;
    ok = ok && redcore_monitor_event_error(event) == NULL;
    if (ok) {
        atomic_fetch_add(&w->seen, 1);
    }
}

static void free_watch(void *userdata) {
    watch *w = userdata;
    atomic_fetch_add(&w->freed, 1);
}

int main(void) {
    if (!read_test_server("monitor_test")) {
        return 2;
    }
    redcore_client *client = new_client();
    redcore_client *other = new_client();
    if (client == NULL || other == NULL) {
        return 1;
    }
    watch w = {0};
    redcore_monitor *monitor = NULL;
    redcore_error *err = NULL;
    CHECK(code_is(redcore_monitor_start(client, 0, on_event, &w, free_watch, &monitor, &err),
                  &err, REDCORE_OK));
    const char *set[] = {"SET", "c-\0mon\"", "v\n"};
    size_t lens[] = {3, 7, 2};
    redcore_reply *reply = NULL;
    CHECK(redcore_client_command_blocking(other, 3, set, lens, &reply, NULL) == REDCORE_OK);
    redcore_reply_free(reply);
    CHECK(wait_for(&w.seen, 1, "the other client's SET"));
    CHECK(redcore_monitor_dropped(monitor) == 0);
    redcore_monitor_stop(monitor);
    CHECK(atomic_load(&w.freed) == 1);
    int seen = atomic_load(&w.seen) + atomic_load(&w.other);
    RUN(other, "PING");
    sleep_ms(50);
    CHECK(atomic_load(&w.seen) + atomic_load(&w.other) == seen);

    /* A monitor outliving its client: the closed event comes, and the userdata stays until the
     * monitor is stopped. */
    redcore_client *doomed = new_client();
    watch outlived = {0};
    CHECK(doomed != NULL &&
          code_is(redcore_monitor_start(doomed, 0, on_event, &outlived, free_watch, &monitor, &err),
                  &err, REDCORE_OK));
    redcore_client_free(doomed);
    CHECK(wait_for(&outlived.closed, 1, "the closed event"));
    sleep_ms(50);
    CHECK(atomic_load(&outlived.freed) == 0);
    redcore_monitor_stop(monitor);
    CHECK(atomic_load(&outlived.freed) == 1);

    /* NULL arguments; a refused start releases its userdata at once. */
    watch refused = {0};
    CHECK(redcore_monitor_start(NULL, 0, on_event, &refused, free_watch, &monitor, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(atomic_load(&refused.freed) == 1);
    CHECK(redcore_monitor_start(client, 0, NULL, NULL, NULL, &monitor, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_monitor_start(client, 0, on_event, NULL, NULL, NULL, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_monitor_event_kind(NULL) == REDCORE_MONITOR_KIND_CLOSED);
    CHECK(redcore_monitor_event_arg(NULL, 0, NULL) == NULL);
    CHECK(redcore_monitor_dropped(NULL) == 0);
    redcore_monitor_stop(NULL);

    redcore_client_free(other);
    redcore_client_free(client);
    if (failures != 0) {
        fprintf(stderr, "monitor_test: %d check(s) failed\n", failures);
        return 1;
    }
    puts("monitor_test: ok");
    return 0;
}
