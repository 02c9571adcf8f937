/* The lock classes of redcore.h (redcore_lock, redcore_lock_options), checked from C against a
 * real server: run by `make test-c` under tests/tools/with-redis.sh (which exports
 * REDCORE_TEST_HOST and REDCORE_TEST_PORT), plainly and under valgrind (no leak, no error).
 *
 * Exclusion across threads with an exact count, every error code, expiry, extend and
 * reacquire, fencing tokens, the callback forms (exactly once, in order, CLOSED on free) and
 * auto-extension with its loss report and its userdata freed once. Every wait is bounded
 * (WAIT_MS). Every lock is freed before its client. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "commands.h"
#include "redcore.h"
#include "wait.h"

#define THREADS 4
#define ROUNDS 50

/* ---- helpers ------------------------------------------------------------------------------ */

static redcore_lock *new_lock(redcore_client *client, const char *name,
                              const redcore_lock_options *options) {
    redcore_lock *lock = NULL;
    redcore_error *err = NULL;
    redcore_error_code code = redcore_lock_new(client, name, strlen(name), options, &lock, &err);
    CHECK(code_is(code, &err, REDCORE_OK));
    return lock;
}

static redcore_lock_options *options_with(uint64_t ttl_ms, int blocking) {
    redcore_lock_options *options = NULL;
    CHECK(redcore_lock_options_new(&options) == REDCORE_OK);
    CHECK(redcore_lock_options_set_timeout_ms(options, ttl_ms) == REDCORE_OK);
    CHECK(redcore_lock_options_set_blocking(options, blocking != 0, -1) == REDCORE_OK);
    return options;
}

/* Acquires on the calling thread; returns the fence, 0 when not acquired, -1 on error. */
static long long acquire(redcore_lock *lock) {
    bool acquired = false;
    uint64_t fence = 12345;
    redcore_error *err = NULL;
    redcore_error_code code = redcore_lock_acquire_blocking(lock, NULL, 0, &acquired, &fence, &err);
    if (!code_is(code, &err, REDCORE_OK)) {
        return -1;
    }
    CHECK(acquired == (fence != 0));
    return (long long)fence;
}

static redcore_error_code release(redcore_lock *lock) {
    redcore_error *err = NULL;
    redcore_error_code code = redcore_lock_release_blocking(lock, &err);
    CHECK((code == REDCORE_OK) == (err == NULL));
    redcore_error_free(err);
    return code;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_null_arguments(redcore_client *client) {
    redcore_lock *lock = NULL;
    redcore_lock_options *options = NULL;
    redcore_error *err = NULL;
    bool flag = false;
    CHECK(redcore_lock_new(NULL, "x", 1, NULL, &lock, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_new(client, NULL, 1, NULL, &lock, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_new(client, "x", 1, NULL, NULL, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(lock == NULL);
    /* An empty name, and a '}' without a hash tag (the fence counter could not share a slot). */
    CHECK(redcore_lock_new(client, "x", 0, NULL, &lock, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(code_is(redcore_lock_new(client, "a}b", 3, NULL, &lock, &err), &err,
                  REDCORE_ERR_INVALID_ARGUMENT));
    /* Auto-extension needs a TTL. */
    CHECK(redcore_lock_options_new(&options) == REDCORE_OK);
    CHECK(redcore_lock_options_set_auto_extend(options, 100, NULL, NULL, NULL, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_options_set_auto_extend(options, 50, NULL, NULL, NULL, NULL) == REDCORE_OK);
    CHECK(redcore_lock_new(client, "x", 1, options, &lock, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    redcore_lock_options_free(options);
    CHECK(lock == NULL);
    CHECK(redcore_lock_options_new(NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_options_set_timeout_ms(NULL, 1) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_options_set_sleep_ms(NULL, 1) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_options_set_blocking(NULL, true, 1) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_acquire_blocking(NULL, NULL, 0, &flag, NULL, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_release_blocking(NULL, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_extend_blocking(NULL, 1, false, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_reacquire_blocking(NULL, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_locked_blocking(NULL, &flag, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_owned_blocking(NULL, &flag, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_release(NULL, NULL, NULL, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_fence(NULL) == 0);
    redcore_lock_free(NULL);
    redcore_lock_options_free(NULL);

    lock = new_lock(client, "null-args", NULL);
    CHECK(redcore_lock_acquire_blocking(lock, NULL, 0, NULL, NULL, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_locked_blocking(lock, NULL, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_lock_acquire(lock, NULL, 0, NULL, NULL, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    redcore_lock_free(lock);
}

static void test_errors_expiry_extend_and_fences(redcore_client *client) {
    redcore_lock_options *short_ttl = options_with(100, 0);
    redcore_lock_options *long_ttl = options_with(10000, 0);
    redcore_lock_options *no_ttl = options_with(0, 0);
    redcore_lock *first = new_lock(client, "c-lock", short_ttl);
    redcore_lock *second = new_lock(client, "c-lock", long_ttl);
    redcore_lock *forever = new_lock(client, "c-forever", no_ttl);
    redcore_lock_options_free(short_ttl);
    redcore_lock_options_free(long_ttl);
    redcore_lock_options_free(no_ttl);
    redcore_error *err = NULL;
    bool flag = false;

    /* Never acquired: LOCK for release, extend, reacquire. */
    CHECK(release(first) == REDCORE_ERR_LOCK);
    CHECK(code_is(redcore_lock_extend_blocking(first, 1000, false, &err), &err, REDCORE_ERR_LOCK));
    CHECK(code_is(redcore_lock_reacquire_blocking(first, &err), &err, REDCORE_ERR_LOCK));

    long long fence = acquire(first);
    CHECK(fence == 1);
    CHECK(redcore_lock_fence(first) == 1);
    CHECK(acquire(second) == 0); /* non-blocking, held: not acquired, not an error */
    CHECK(redcore_lock_owned_blocking(first, &flag, NULL) == REDCORE_OK && flag);
    CHECK(redcore_lock_owned_blocking(second, &flag, NULL) == REDCORE_OK && !flag);
    CHECK(redcore_lock_locked_blocking(second, &flag, NULL) == REDCORE_OK && flag);

    /* The TTL runs out: the other lock gets it, with a greater fence; the first's release is
     * LOCK_NOT_OWNED, then LOCK (it forgot its token). */
    double deadline = now_ms() + WAIT_MS;
    while (RUN(client, "PTTL", "c-lock") != -2 && now_ms() < deadline) {
        sleep_ms(10);
    }
    CHECK(acquire(second) == 2);
    CHECK(release(first) == REDCORE_ERR_LOCK_NOT_OWNED);
    CHECK(release(first) == REDCORE_ERR_LOCK);
    CHECK(redcore_lock_fence(first) == 0);

    /* Extend (add, replace) and reacquire while owned. */
    CHECK(code_is(redcore_lock_extend_blocking(second, 20000, false, &err), &err, REDCORE_OK));
    long long left = RUN(client, "PTTL", "c-lock");
    CHECK(left > 20000 && left <= 30000);
    CHECK(code_is(redcore_lock_extend_blocking(second, 5000, true, &err), &err, REDCORE_OK));
    left = RUN(client, "PTTL", "c-lock");
    CHECK(left > 1000 && left <= 5000);
    CHECK(code_is(redcore_lock_reacquire_blocking(second, &err), &err, REDCORE_OK));
    left = RUN(client, "PTTL", "c-lock");
    CHECK(left > 5000 && left <= 10000);
    /* Taken over behind its back: LOCK_NOT_OWNED for extend, reacquire and release. */
    RUN(client, "SET", "c-lock", "intruder");
    CHECK(code_is(redcore_lock_extend_blocking(second, 1000, false, &err), &err,
                  REDCORE_ERR_LOCK_NOT_OWNED));
    CHECK(code_is(redcore_lock_reacquire_blocking(second, &err), &err, REDCORE_ERR_LOCK_NOT_OWNED));
    CHECK(release(second) == REDCORE_ERR_LOCK_NOT_OWNED);
    CHECK(RUN(client, "DEL", "c-lock") == 1);

    /* No TTL: nothing to extend (LOCK); a caller's token is what the key holds. */
    bool acquired = false;
    uint64_t fence_out = 0;
    redcore_error_code code =
        redcore_lock_acquire_blocking(forever, "tok\0en", 6, &acquired, &fence_out, &err);
    CHECK(code_is(code, &err, REDCORE_OK));
    CHECK(acquired && fence_out == 1);
    CHECK(RUN(client, "PTTL", "c-forever") == -1);
    CHECK(RUN(client, "STRLEN", "c-forever") == 6);
    CHECK(code_is(redcore_lock_extend_blocking(forever, 1000, false, &err), &err,
                  REDCORE_ERR_LOCK));
    CHECK(code_is(redcore_lock_reacquire_blocking(forever, &err), &err, REDCORE_ERR_LOCK));
    CHECK(release(forever) == REDCORE_OK);

    /* The fence counter's key: beside the lock, in its slot, never expiring. */
    const char *key = NULL;
    size_t len = 0;
    CHECK(redcore_lock_fence_key(second, &key, &len) == REDCORE_OK);
    CHECK(key != NULL && len == strlen("{c-lock}:fence") && strcmp(key, "{c-lock}:fence") == 0);
    CHECK(RUN(client, "GET", "{c-lock}:fence") == 2);
    CHECK(RUN(client, "PTTL", "{c-lock}:fence") == -1);

    redcore_lock_free(first);
    redcore_lock_free(second);
    redcore_lock_free(forever);
}

/* ---- exclusion across threads ------------------------------------------------------------- */

struct worker {
    redcore_client *client;
    pthread_t thread;
    int failed;
};

static void *contend(void *arg) {
    struct worker *w = arg;
    redcore_lock_options *options = options_with(30000, 1);
    CHECK(redcore_lock_options_set_sleep_ms(options, 2) == REDCORE_OK);
    redcore_lock *lock = new_lock(w->client, "c-counter-lock", options);
    redcore_lock_options_free(options);
    for (int i = 0; i < ROUNDS && !w->failed; i++) {
        long long fence = acquire(lock);
        if (fence <= 0) {
            w->failed = 1;
            break;
        }
        /* A read-modify-write that loses updates unless the lock excludes. */
        long long count = RUN(w->client, "GET", "c-counter");
        long long last_fence = RUN(w->client, "GET", "c-last-fence");
        if (fence <= last_fence) {
            fprintf(stderr, "fence %lld after %lld\n", fence, last_fence);
            w->failed = 1;
        }
        char text[32];
        snprintf(text, sizeof text, "%lld", (count < 0 ? 0 : count) + 1);
        RUN(w->client, "SET", "c-counter", text);
        snprintf(text, sizeof text, "%lld", fence);
        RUN(w->client, "SET", "c-last-fence", text);
        if (release(lock) != REDCORE_OK) {
            w->failed = 1;
        }
    }
    redcore_lock_free(lock);
    return NULL;
}

static void test_exclusion(redcore_client *client) {
    struct worker workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i].client = client;
        workers[i].failed = 0;
        CHECK(pthread_create(&workers[i].thread, NULL, contend, &workers[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(workers[i].thread, NULL);
        CHECK(!workers[i].failed);
    }
    CHECK(RUN(client, "GET", "c-counter") == THREADS * ROUNDS);
    CHECK(RUN(client, "GET", "{c-counter-lock}:fence") == THREADS * ROUNDS);
}

/* ---- callback forms ----------------------------------------------------------------------- */

#define MAX_STEPS 16

/* What the callbacks saw, in order. */
struct journal {
    pthread_mutex_t mutex;
    int count;
    char steps[MAX_STEPS][48];
    atomic_int done;
};

struct step {
    struct journal *journal;
    const char *name;
};

static void record(void *userdata, bool result, uint64_t fence, const redcore_error *err) {
    struct step *s = userdata;
    struct journal *j = s->journal;
    pthread_mutex_lock(&j->mutex);
    if (j->count < MAX_STEPS) {
        snprintf(j->steps[j->count], sizeof j->steps[0], "%s %s %d %llu", s->name,
                 err ? redcore_error_code_name(redcore_error_get_code(err)) : "OK", result,
                 (unsigned long long)fence);
    }
    j->count++;
    pthread_mutex_unlock(&j->mutex);
    atomic_fetch_add(&j->done, 1);
}

static void test_callbacks(redcore_client *client) {
    static struct journal journal = {PTHREAD_MUTEX_INITIALIZER, 0, {{0}}, 0};
    struct step acquire_step = {&journal, "acquire"}, owned = {&journal, "owned"},
                extend = {&journal, "extend"}, reacquire = {&journal, "reacquire"},
                locked = {&journal, "locked"}, release_step = {&journal, "release"},
                again = {&journal, "again"};
    redcore_lock_options *options = options_with(10000, 0);
    redcore_lock *lock = new_lock(client, "c-async", options);
    redcore_lock_options_free(options);
    CHECK(redcore_lock_acquire(lock, NULL, 0, record, &acquire_step, NULL) == REDCORE_OK);
    CHECK(redcore_lock_owned(lock, record, &owned, NULL) == REDCORE_OK);
    CHECK(redcore_lock_extend(lock, 20000, true, record, &extend, NULL) == REDCORE_OK);
    CHECK(redcore_lock_reacquire(lock, record, &reacquire, NULL) == REDCORE_OK);
    CHECK(redcore_lock_locked(lock, record, &locked, NULL) == REDCORE_OK);
    CHECK(redcore_lock_release(lock, record, &release_step, NULL) == REDCORE_OK);
    CHECK(redcore_lock_release(lock, record, &again, NULL) == REDCORE_OK);
    CHECK(wait_for(&journal.done, 7, "the lock callbacks"));
    sleep_ms(50);
    const char *expected[] = {"acquire OK 1 1", "owned OK 1 0",  "extend OK 1 0",
                              "reacquire OK 1 0", "locked OK 1 0", "release OK 1 0",
                              "again LOCK 0 0"};
    pthread_mutex_lock(&journal.mutex);
    CHECK(journal.count == 7);
    for (int i = 0; i < 7 && i < journal.count; i++) {
        if (strcmp(journal.steps[i], expected[i]) != 0) {
            fprintf(stderr, "callback %d: got \"%s\", expected \"%s\"\n", i, journal.steps[i],
                    expected[i]);
            failures++;
        }
    }
    pthread_mutex_unlock(&journal.mutex);
    redcore_lock_free(lock);
}

static void test_free_completes_queued_operations(redcore_client *client) {
    static struct journal journal = {PTHREAD_MUTEX_INITIALIZER, 0, {{0}}, 0};
    struct step waiting = {&journal, "acquire"}, queued = {&journal, "locked"};
    redcore_lock_options *options = options_with(60000, 0);
    redcore_lock *holder = new_lock(client, "c-busy", options);
    CHECK(acquire(holder) > 0);
    /* A blocking acquire that would wait a minute, and one more operation behind it. */
    CHECK(redcore_lock_options_set_blocking(options, true, 60000) == REDCORE_OK);
    redcore_lock *lock = new_lock(client, "c-busy", options);
    redcore_lock_options_free(options);
    CHECK(redcore_lock_acquire(lock, NULL, 0, record, &waiting, NULL) == REDCORE_OK);
    CHECK(redcore_lock_locked(lock, record, &queued, NULL) == REDCORE_OK);
    sleep_ms(50);
    double started = now_ms();
    redcore_lock_free(lock);
    CHECK(now_ms() - started < WAIT_MS);
    /* Both completed, once, before free returned. */
    CHECK(atomic_load(&journal.done) == 2);
    CHECK(strcmp(journal.steps[0], "acquire CLOSED 0 0") == 0);
    CHECK(strcmp(journal.steps[1], "locked CLOSED 0 0") == 0);
    CHECK(release(holder) == REDCORE_OK);
    redcore_lock_free(holder);
}

/* ---- auto-extension ----------------------------------------------------------------------- */

struct loss {
    atomic_int lost;
    atomic_int code;
    atomic_int freed;
};

static void on_lost(void *userdata, const redcore_error *err) {
    struct loss *l = userdata;
    atomic_store(&l->code, (int)redcore_error_get_code(err));
    atomic_fetch_add(&l->lost, 1);
}

static void free_loss(void *userdata) {
    struct loss *l = userdata;
    atomic_fetch_add(&l->freed, 1);
}

static void test_auto_extend(redcore_client *client) {
    static struct loss loss;
    atomic_init(&loss.lost, 0);
    atomic_init(&loss.code, 0);
    atomic_init(&loss.freed, 0);
    redcore_lock_options *options = options_with(600, 0);
    CHECK(redcore_lock_options_set_auto_extend(options, 33, on_lost, &loss, free_loss, NULL) ==
          REDCORE_OK);
    redcore_lock *lock = new_lock(client, "c-long-work", options);
    redcore_lock_options_free(options);
    CHECK(atomic_load(&loss.freed) == 0); /* the lock still holds the userdata */

    /* Two seconds of work under a 600 ms lock: still ours at the end. */
    CHECK(acquire(lock) > 0);
    double work_ends = now_ms() + 2000;
    while (now_ms() < work_ends) {
        long long left = RUN(client, "PTTL", "c-long-work");
        if (left <= 0) {
            fprintf(stderr, "the lock expired during the work (PTTL %lld)\n", left);
            failures++;
            break;
        }
        sleep_ms(50);
    }
    bool owned = false;
    CHECK(redcore_lock_owned_blocking(lock, &owned, NULL) == REDCORE_OK && owned);
    CHECK(atomic_load(&loss.lost) == 0);
    CHECK(release(lock) == REDCORE_OK);

    /* Deleted behind its back: reported once, as LOCK_NOT_OWNED. */
    CHECK(acquire(lock) > 0);
    CHECK(RUN(client, "DEL", "c-long-work") == 1);
    CHECK(wait_for(&loss.lost, 1, "the loss report"));
    sleep_ms(700);
    CHECK(atomic_load(&loss.lost) == 1);
    CHECK(atomic_load(&loss.code) == REDCORE_ERR_LOCK_NOT_OWNED);
    CHECK(release(lock) == REDCORE_ERR_LOCK_NOT_OWNED);

    /* Freed while held: the extensions stop and the key expires; the userdata is freed once. */
    CHECK(acquire(lock) > 0);
    redcore_lock_free(lock);
    CHECK(atomic_load(&loss.freed) == 1);
    double deadline = now_ms() + WAIT_MS;
    while (RUN(client, "PTTL", "c-long-work") != -2 && now_ms() < deadline) {
        sleep_ms(20);
    }
    CHECK(RUN(client, "EXISTS", "c-long-work") == 0);
    CHECK(atomic_load(&loss.lost) == 1);
}

int main(void) {
    if (!read_test_server("lock_test")) {
        return 2;
    }

    redcore_client *client = new_client();
    if (client == NULL) {
        return 1;
    }
    RUN(client, "DEL", "c-lock", "{c-lock}:fence", "c-forever", "{c-forever}:fence", "c-counter",
        "c-last-fence", "{c-counter-lock}:fence", "c-async", "{c-async}:fence");
    test_null_arguments(client);
    test_errors_expiry_extend_and_fences(client);
    test_exclusion(client);
    test_callbacks(client);
    test_free_completes_queued_operations(client);
    test_auto_extend(client);
    redcore_client_free(client);

    if (failures != 0) {
        fprintf(stderr, "lock_test: %d check(s) failed\n", failures);
        return 1;
    }
    puts("lock_test: ok");
    return 0;
}
