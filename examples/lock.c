/* lock.c: a distributed lock with fencing tokens, end to end.
 *
 * Two workers (two clients, as two processes would have) share a "ledger" that only the
 * lock's holder may write. A TTL lock alone is not enough: worker A takes the lock, then
 * stalls (a GC pause, a swapped-out process, a slow disk) past the lock's TTL; the lock
 * expires, worker B takes it and writes; A wakes up still believing it holds the lock and
 * writes too, over B's work. Fencing tokens stop that: every acquire returns a number greater
 * than any before it, each write carries its holder's number, and the ledger refuses a write
 * whose number is lower than one it has already seen. Here the ledger is a Redis hash written
 * by a small script; in real life it is whatever the lock guards (a database, a file store),
 * and it must do the same check.
 *
 * Then: auto-extension keeping a short lock through long work, and the callback form of
 * acquire. Connects as basic.c does. Exits 0 on success, 1 on any failure.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, clock_gettime: also under -std=c11 */

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redcore.h"

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

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static redcore_client *connect_client(const char *url) {
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    if (redcore_config_from_url(url, &cfg, &err) != REDCORE_OK ||
        redcore_client_new(cfg, &client, &err) != REDCORE_OK) {
        fprintf(stderr, "cannot connect to %s: %s\n", url, redcore_error_message(err));
        redcore_error_free(err);
        client = NULL;
    }
    redcore_config_free(cfg);
    return client;
}

/* A lock on `name` with a TTL; non-blocking unless `blocking`. */
static redcore_lock *make_lock(redcore_client *client, const char *name, uint64_t ttl_ms,
                               bool blocking, redcore_lock_options *options) {
    redcore_lock *lock = NULL;
    redcore_error *err = NULL;
    redcore_lock_options_set_timeout_ms(options, ttl_ms);
    redcore_lock_options_set_blocking(options, blocking, 5000);
    if (redcore_lock_new(client, name, strlen(name), options, &lock, &err) != REDCORE_OK) {
        fprintf(stderr, "lock: %s\n", redcore_error_message(err));
        redcore_error_free(err);
    }
    return lock;
}

/* Acquires; returns the fencing token, or 0 when not acquired or on an error. */
static uint64_t acquire(const char *who, redcore_lock *lock) {
    bool acquired = false;
    uint64_t fence = 0;
    redcore_error *err = NULL;
    if (redcore_lock_acquire_blocking(lock, NULL, 0, &acquired, &fence, &err) != REDCORE_OK) {
        fprintf(stderr, "%s: acquire failed: %s\n", who, redcore_error_message(err));
        redcore_error_free(err);
        return 0;
    }
    if (acquired) {
        printf("  %s acquired the lock, fencing token %" PRIu64 "\n", who, fence);
    } else {
        printf("  %s: the lock is taken\n", who);
    }
    return fence;
}

/* The guarded resource: accepts a write only if its fencing token is not lower than the
 * highest it has seen (the same holder may write again with the same token). */
static const char *const LEDGER_WRITE =
    "local highest = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')\n"
    "if tonumber(ARGV[1]) < highest then\n"
    "  return redis.error_reply('STALE fencing token ' .. ARGV[1] .. ' < ' .. highest)\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'fence', ARGV[1], 'value', ARGV[2])\n"
    "return 'OK'\n";

/* Writes `value` to the ledger with fencing token `fence`; true when the ledger took it. */
static bool ledger_write(redcore_client *client, const char *who, uint64_t fence,
                         const char *value) {
    char fence_text[24];
    snprintf(fence_text, sizeof fence_text, "%" PRIu64, fence);
    const char *argv[] = {"EVAL", LEDGER_WRITE, "1", "ledger", fence_text, value};
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    if (redcore_client_command_blocking(client, 6, argv, NULL, &reply, &err) != REDCORE_OK) {
        printf("  %s writes \"%s\" with token %s: REFUSED (%s)\n", who, value, fence_text,
               redcore_error_message(err));
        redcore_error_free(err);
        return false;
    }
    printf("  %s writes \"%s\" with token %s: accepted\n", who, value, fence_text);
    redcore_reply_free(reply);
    return true;
}

/* Waits until the lock key is gone (its TTL ran out), up to WAIT_SECONDS. */
static bool wait_expired(redcore_client *client, const char *name) {
    const char *argv[] = {"EXISTS", name};
    double deadline = seconds_now() + WAIT_SECONDS;
    while (seconds_now() < deadline) {
        redcore_reply *reply = NULL;
        if (redcore_client_command_blocking(client, 2, argv, NULL, &reply, NULL) != REDCORE_OK) {
            return false;
        }
        long long exists = redcore_reply_integer(reply);
        redcore_reply_free(reply);
        if (exists == 0) {
            return true;
        }
        sleep_ms(20);
    }
    return false;
}

static int fencing(redcore_client *a, redcore_client *b) {
    int failed = 0;
    redcore_lock_options *options = NULL;
    redcore_lock_options_new(&options);
    redcore_lock *lock_a = make_lock(a, "ledger-lock", 300, false, options);
    redcore_lock *lock_b = make_lock(b, "ledger-lock", 10000, false, options);
    redcore_lock_options_free(options);
    const char *del[] = {"DEL", "ledger"};
    redcore_reply *reply = NULL;
    if (redcore_client_command_blocking(a, 2, del, NULL, &reply, NULL) == REDCORE_OK) {
        redcore_reply_free(reply);
    }

    printf("fencing tokens:\n");
    uint64_t token_a = acquire("A", lock_a);
    failed |= token_a == 0;
    failed |= !ledger_write(a, "A", token_a, "A's first entry");
    failed |= acquire("B", lock_b) != 0; /* A holds it */

    printf("  A stalls past its 300 ms TTL...\n");
    failed |= !wait_expired(a, "ledger-lock");

    uint64_t token_b = acquire("B", lock_b);
    failed |= token_b <= token_a;
    failed |= !ledger_write(b, "B", token_b, "B's entry");

    printf("  A wakes up, still believing it holds the lock\n");
    failed |= ledger_write(a, "A", token_a, "A's late entry"); /* must be refused */

    redcore_error *err = NULL;
    redcore_error_code code = redcore_lock_release_blocking(lock_a, &err);
    printf("  A releases: %s (%s)\n", redcore_error_code_name(code),
           code == REDCORE_OK ? "released" : redcore_error_message(err));
    failed |= code != REDCORE_ERR_LOCK_NOT_OWNED;
    redcore_error_free(err);
    err = NULL;
    code = redcore_lock_release_blocking(lock_b, &err);
    printf("  B releases: %s\n", redcore_error_code_name(code));
    failed |= code != REDCORE_OK;
    redcore_error_free(err);

    redcore_lock_free(lock_a);
    redcore_lock_free(lock_b);
    return failed;
}

static void on_lost(void *userdata, const redcore_error *err) {
    atomic_int *lost = userdata;
    fprintf(stderr, "  the lock was lost: %s\n", redcore_error_message(err));
    atomic_fetch_add(lost, 1);
}

static int auto_extend(redcore_client *client) {
    static atomic_int lost;
    int failed = 0;
    redcore_lock_options *options = NULL;
    redcore_lock_options_new(&options);
    /* A 300 ms lock, extended every third of its TTL while held. */
    redcore_lock_options_set_auto_extend(options, 33, on_lost, &lost, NULL, NULL);
    redcore_lock *lock = make_lock(client, "report-lock", 300, false, options);
    redcore_lock_options_free(options);

    printf("auto-extension:\n");
    failed |= acquire("worker", lock) == 0;
    printf("  working for 1 s under a 300 ms lock...\n");
    sleep_ms(1000);
    bool owned = false;
    failed |= redcore_lock_owned_blocking(lock, &owned, NULL) != REDCORE_OK || !owned;
    printf("  still owned after the work: %s\n", owned ? "yes" : "no");
    failed |= redcore_lock_release_blocking(lock, NULL) != REDCORE_OK;
    failed |= atomic_load(&lost) != 0;
    redcore_lock_free(lock);
    return failed;
}

struct outcome {
    atomic_int done;
    bool acquired;
    uint64_t fence;
};

/* Runs on the lock's thread, once. */
static void acquired_cb(void *userdata, bool acquired, uint64_t fence, const redcore_error *err) {
    struct outcome *o = userdata;
    if (err != NULL) {
        fprintf(stderr, "  acquire failed: %s\n", redcore_error_message(err));
    }
    o->acquired = acquired;
    o->fence = fence;
    atomic_store(&o->done, 1);
}

static int callback_form(redcore_client *client) {
    static struct outcome outcome;
    int failed = 0;
    redcore_lock_options *options = NULL;
    redcore_lock_options_new(&options);
    redcore_lock *lock = make_lock(client, "ledger-lock", 10000, true, options);
    redcore_lock_options_free(options);

    printf("callback form:\n");
    failed |= redcore_lock_acquire(lock, NULL, 0, acquired_cb, &outcome, NULL) != REDCORE_OK;
    double deadline = seconds_now() + WAIT_SECONDS;
    while (!atomic_load(&outcome.done) && seconds_now() < deadline) {
        sleep_ms(1);
    }
    failed |= !outcome.acquired;
    printf("  acquired on the lock's thread, fencing token %" PRIu64 "\n", outcome.fence);
    failed |= !ledger_write(client, "C", outcome.fence, "C's entry");
    failed |= redcore_lock_release_blocking(lock, NULL) != REDCORE_OK;
    redcore_lock_free(lock);
    return failed;
}

int main(void) {
    char buf[256];
    const char *url = server_url(buf, sizeof buf);
    redcore_client *a = connect_client(url);
    redcore_client *b = connect_client(url);
    int failed = a == NULL || b == NULL;
    if (!failed) {
        failed |= fencing(a, b);
        failed |= auto_extend(a);
        failed |= callback_form(b);
    }
    redcore_client_free(a);
    redcore_client_free(b);
    if (failed) {
        fprintf(stderr, "lock: FAILED\n");
        return 1;
    }
    printf("lock: ok\n");
    return 0;
}
