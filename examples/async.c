/* async.c: asynchronous commands with callbacks.
 *
 * Submits 10,000 INCRs at once from the main thread; their callbacks run on the client's
 * event-loop thread and count completions in a struct the userdata points to, and the main
 * thread waits for the last one on a condition variable. Then a callback that sends a
 * follow-up command from inside itself, waited for with a polling loop. Every wait is bounded.
 * Connects as basic.c does. Exits 0 on success, 1 on any failure.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep: also under -std=c11 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redcore.h"

#define COMMANDS 10000
#define WAIT_SECONDS 10

static const char *server_url(char *buf, size_t cap) {
    const char *url = getenv("REDCORE_TEST_URL");
    const char *host = getenv("REDCORE_TEST_HOST");
    const char *port = getenv("REDCORE_TEST_PORT");
    if (url != NULL && url[0] != '\0') {
        return url;
    }
    snprintf(buf, cap, "redis://%s:%s", host ? host : "127.0.0.1", port ? port : "6379");
    return buf;
}

static double seconds_since(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* ---- Part 1: many commands in flight ------------------------------------------------------ */

/* Shared by the main thread and the callbacks: the counters are atomics because callbacks run
 * on another thread; `finished` is guarded by `lock` so the main thread can sleep on
 * `all_done` instead of spinning. */
struct tally {
    atomic_int completed;
    atomic_int failed;
    int expected;
    pthread_mutex_t lock;
    pthread_cond_t all_done;
    bool finished;
};

/* The callback of each INCR. `reply` and `err` are borrowed: read them here, do not free them
 * and do not keep them (redcore_reply_clone makes a copy to keep). It must not block for long:
 * the event loop waits for it. */
static void on_incr(void *userdata, const redcore_reply *reply, const redcore_error *err) {
    struct tally *tally = userdata;
    (void)reply; /* an integer; the total is checked once all are done */
    if (err != NULL && atomic_fetch_add(&tally->failed, 1) == 0) {
        fprintf(stderr, "INCR failed: %s\n", redcore_error_message(err));
    }
    if (atomic_fetch_add(&tally->completed, 1) + 1 == tally->expected) {
        pthread_mutex_lock(&tally->lock);
        tally->finished = true;
        pthread_cond_signal(&tally->all_done);
        pthread_mutex_unlock(&tally->lock);
    }
}

/* Waits up to WAIT_SECONDS for the last callback. */
static bool wait_for_all(struct tally *tally) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline); /* the condition variable's default clock */
    deadline.tv_sec += WAIT_SECONDS;
    pthread_mutex_lock(&tally->lock);
    int rc = 0;
    while (!tally->finished && rc == 0) {
        rc = pthread_cond_timedwait(&tally->all_done, &tally->lock, &deadline);
    }
    bool finished = tally->finished;
    pthread_mutex_unlock(&tally->lock);
    return finished;
}

/* `tally` lives in main: the callbacks point at it until the client is freed. */
static bool many_in_flight(redcore_client *client, struct tally *tally) {
    /* Start from 0, so the last INCR answers COMMANDS. */
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    const char *del[] = {"DEL", "example:async:counter"};
    redcore_error_code code = redcore_client_command_blocking(client, 2, del, NULL, &reply, &err);
    if (code != REDCORE_OK) {
        fprintf(stderr, "DEL failed: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        return false;
    }
    redcore_reply_free(reply);

    printf("submitting %d INCRs...\n", COMMANDS);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    const char *incr[] = {"INCR", "example:async:counter"};
    for (int i = 0; i < COMMANDS; i++) {
        /* The arguments are copied before this returns. On any code but REDCORE_OK the
         * callback will not run; those already submitted still will. */
        code = redcore_client_command(client, 2, incr, NULL, on_incr, tally, NULL);
        if (code != REDCORE_OK) {
            fprintf(stderr, "submitting INCR %d failed: %s\n", i, redcore_error_code_name(code));
            return false;
        }
    }
    printf("  submitted in %.3f s; waiting for the callbacks\n", seconds_since(&start));
    if (!wait_for_all(tally)) {
        fprintf(stderr, "only %d of %d callbacks ran within %d s\n",
                atomic_load(&tally->completed), tally->expected, WAIT_SECONDS);
        return false;
    }
    printf("  %d callbacks in %.3f s, %d failed\n", atomic_load(&tally->completed),
           seconds_since(&start), atomic_load(&tally->failed));

    /* Blocking and asynchronous calls mix freely on the same client. */
    const char *get[] = {"GET", "example:async:counter"};
    code = redcore_client_command_blocking(client, 2, get, NULL, &reply, &err);
    if (code != REDCORE_OK) {
        fprintf(stderr, "GET failed: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        return false;
    }
    const char *total = redcore_reply_string(reply, NULL);
    printf("  GET example:async:counter -> %s\n", total ? total : "(not a string)");
    bool ok = total != NULL && atoi(total) == COMMANDS && atomic_load(&tally->failed) == 0;
    redcore_reply_free(reply);
    return ok;
}

/* ---- Part 2: a command sent from inside a callback ---------------------------------------- */

struct chain {
    redcore_client *client;
    char value[64];          /* what the follow-up GET answered */
    atomic_int error;        /* a redcore_error_code, REDCORE_OK while all goes well */
    atomic_bool done;
};

static void finish(struct chain *chain, redcore_error_code code) {
    atomic_store(&chain->error, code);
    atomic_store(&chain->done, true);
}

/* Runs second: copies the value out of the borrowed reply. */
static void on_get(void *userdata, const redcore_reply *reply, const redcore_error *err) {
    struct chain *chain = userdata;
    if (err != NULL) {
        fprintf(stderr, "GET failed: %s\n", redcore_error_message(err));
        finish(chain, redcore_error_get_code(err));
        return;
    }
    const char *text = redcore_reply_string(reply, NULL);
    snprintf(chain->value, sizeof chain->value, "%s", text ? text : "(nil)");
    printf("  callback 2: GET answered \"%s\"\n", chain->value);
    finish(chain, REDCORE_OK);
}

/* Runs first, on the event-loop thread: submits the next command from there. Submitting is
 * fine inside a callback; a blocking call is not (it would wait for the very thread it runs on,
 * so redcore refuses it with REDCORE_ERR_INVALID_ARGUMENT). */
static void on_set(void *userdata, const redcore_reply *reply, const redcore_error *err) {
    struct chain *chain = userdata;
    (void)reply;
    if (err != NULL) {
        fprintf(stderr, "SET failed: %s\n", redcore_error_message(err));
        finish(chain, redcore_error_get_code(err));
        return;
    }
    printf("  callback 1: SET done, sending GET from inside the callback\n");
    const char *get[] = {"GET", "example:async:chain"};
    redcore_error_code code = redcore_client_command(chain->client, 2, get, NULL, on_get, chain, NULL);
    if (code != REDCORE_OK) {
        fprintf(stderr, "submitting GET failed: %s\n", redcore_error_code_name(code));
        finish(chain, code);
    }
}

/* `chain` lives in main, like `tally`. */
static bool follow_up(struct chain *chain) {
    printf("a callback that sends the next command:\n");
    const char *set[] = {"SET", "example:async:chain", "set by the main thread"};
    redcore_error_code code = redcore_client_command(chain->client, 3, set, NULL, on_set, chain, NULL);
    if (code != REDCORE_OK) {
        fprintf(stderr, "submitting SET failed: %s\n", redcore_error_code_name(code));
        return false;
    }
    /* A polling loop works too, when a condition variable is more than you need. */
    struct timespec start, tick = {0, 1000000}; /* 1 ms */
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!atomic_load(&chain->done)) {
        if (seconds_since(&start) > WAIT_SECONDS) {
            fprintf(stderr, "the chain did not finish within %d s\n", WAIT_SECONDS);
            return false;
        }
        nanosleep(&tick, NULL);
    }
    return atomic_load(&chain->error) == REDCORE_OK &&
           strcmp(chain->value, "set by the main thread") == 0;
}

int main(void) {
    char buf[256];
    const char *url = server_url(buf, sizeof buf);
    redcore_config *config = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    redcore_error_code code = redcore_config_from_url(url, &config, &err);
    if (code == REDCORE_OK) {
        code = redcore_client_new(config, &client, &err);
        redcore_config_free(config);
    }
    if (code != REDCORE_OK) {
        fprintf(stderr, "cannot connect to %s: %s\n", url, redcore_error_message(err));
        redcore_error_free(err);
        return 1;
    }
    printf("connected to %s\n", url);

    /* The userdata of every callback. It must stay valid until the last callback has run:
     * at the latest, until redcore_client_free returns. */
    struct tally tally = {.expected = COMMANDS};
    pthread_mutex_init(&tally.lock, NULL);
    pthread_cond_init(&tally.all_done, NULL);
    struct chain chain = {.client = client};

    bool ok = many_in_flight(client, &tally) && follow_up(&chain);

    /* Every callback still pending runs (with REDCORE_ERR_CLOSED) before this returns, so
     * the userdata may go after it, even when a wait above gave up. */
    redcore_client_free(client);
    pthread_cond_destroy(&tally.all_done);
    pthread_mutex_destroy(&tally.lock);
    printf("async: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
