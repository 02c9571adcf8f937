/* The pub/sub classes of redcore.h (redcore_pubsub, redcore_pubsub_options,
 * redcore_pubsub_message), checked from C against a real server: run by `make test-c` under
 * tests/tools/with-redis.sh, plainly and under valgrind (no leak, no error).
 *
 * The polling form on RESP2 and RESP3 (kinds, channels, patterns, binary payloads, order), the
 * callback form on the subscriber's own thread (subscribing from a callback, the gap event
 * after the server kills the subscriber's connection, userdata freed once, and only when the
 * subscriber is, also after its client was freed), no waiting inside a client callback, the
 * bounded inbox, commands on a RESP3 subscriber's connection, redcore_pubsub_shutdown ending a
 * subscription that waits on a busy server, and NULL and misuse errors. Every wait is bounded
 * (WAIT_MS). */
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

static redcore_client *client_with_protocol(int protocol) {
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    CHECK(redcore_config_set_host(cfg, test_host, test_port, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_protocol(cfg, protocol, NULL) == REDCORE_OK);
    CHECK(code_is(redcore_client_new(cfg, &client, &err), &err, REDCORE_OK));
    redcore_config_free(cfg);
    return client;
}

static redcore_pubsub *new_pubsub(redcore_client *client, const redcore_pubsub_options *options) {
    redcore_pubsub *ps = NULL;
    redcore_error *err = NULL;
    CHECK(code_is(redcore_pubsub_new(client, options, &ps, &err), &err, REDCORE_OK));
    return ps;
}

#define SUB(fn, ps, ...)                                                                   \
    do {                                                                                   \
        redcore_error *sub_err = NULL;                                                     \
        CHECK(code_is(fn((ps), (size_t)NARGS(__VA_ARGS__), ARGS(__VA_ARGS__), NULL, &sub_err), \
                      &sub_err, REDCORE_OK));                                              \
    } while (0)

/* True when `bytes` of `len` bytes is the NUL-terminated `text` (and NUL-terminated itself). */
static int bytes_are(const char *bytes, size_t len, const char *text) {
    return bytes != NULL && len == strlen(text) && memcmp(bytes, text, len) == 0 &&
           bytes[len] == '\0';
}

/* Takes the next message (bounded wait); NULL when none came. */
static redcore_pubsub_message *take(redcore_pubsub *ps) {
    redcore_pubsub_message *m = NULL;
    redcore_error *err = NULL;
    CHECK(code_is(redcore_pubsub_get_message(ps, (int64_t)WAIT_MS, &m, &err), &err, REDCORE_OK));
    CHECK(m != NULL);
    return m;
}

/* ---- the polling form --------------------------------------------------------------------- */

static void test_polling(int protocol) {
    redcore_client *client = client_with_protocol(protocol);
    redcore_pubsub *ps = new_pubsub(client, NULL);
    SUB(redcore_pubsub_subscribe, ps, "c-news");
    SUB(redcore_pubsub_psubscribe, ps, "c-w*");
    size_t channels = 9, patterns = 9, shards = 9;
    CHECK(redcore_pubsub_counts(ps, &channels, &patterns, &shards) == REDCORE_OK);
    CHECK(channels == 1 && patterns == 1 && shards == 0);

    CHECK(RUN(client, "PUBLISH", "c-news", "first") == 1);
    CHECK(RUN(client, "PUBLISH", "c-weather", "second") == 1);
    const char *bin_argv[] = {"PUBLISH", "c-news", "a\0b"};
    size_t bin_lens[] = {7, 6, 3};
    redcore_reply *reply = NULL;
    CHECK(redcore_client_command_blocking(client, 3, bin_argv, bin_lens, &reply, NULL) ==
          REDCORE_OK);
    redcore_reply_free(reply);

    redcore_pubsub_message *m = take(ps);
    size_t len = 0;
    CHECK(redcore_pubsub_message_kind(m) == REDCORE_PUBSUB_KIND_MESSAGE);
    const char *channel = redcore_pubsub_message_channel(m, &len);
    CHECK(bytes_are(channel, len, "c-news"));
    CHECK(redcore_pubsub_message_pattern(m, &len) == NULL && len == 0);
    const char *payload = redcore_pubsub_message_payload(m, &len);
    CHECK(bytes_are(payload, len, "first"));
    CHECK(redcore_pubsub_message_error(m) == NULL);
    redcore_pubsub_message_free(m);

    m = take(ps);
    CHECK(redcore_pubsub_message_kind(m) == REDCORE_PUBSUB_KIND_PMESSAGE);
    const char *pattern = redcore_pubsub_message_pattern(m, &len);
    CHECK(bytes_are(pattern, len, "c-w*"));
    channel = redcore_pubsub_message_channel(m, &len);
    CHECK(bytes_are(channel, len, "c-weather"));
    CHECK(bytes_are(redcore_pubsub_message_payload(m, NULL), 6, "second"));
    redcore_pubsub_message_free(m);

    m = take(ps);
    payload = redcore_pubsub_message_payload(m, &len);
    CHECK(len == 3 && payload != NULL && memcmp(payload, "a\0b", 3) == 0);
    redcore_pubsub_message_free(m);

    /* Nothing more: OK with NULL after the timeout. */
    m = (redcore_pubsub_message *)1;
    CHECK(redcore_pubsub_get_message(ps, 20, &m, NULL) == REDCORE_OK && m == NULL);

    SUB(redcore_pubsub_ssubscribe, ps, "c-shard");
    CHECK(RUN(client, "SPUBLISH", "c-shard", "s") == 1);
    m = take(ps);
    CHECK(redcore_pubsub_message_kind(m) == REDCORE_PUBSUB_KIND_SMESSAGE);
    redcore_pubsub_message_free(m);

    /* Unsubscribing from all (count 0). */
    CHECK(redcore_pubsub_unsubscribe(ps, 0, NULL, NULL, NULL) == REDCORE_OK);
    CHECK(redcore_pubsub_punsubscribe(ps, 0, NULL, NULL, NULL) == REDCORE_OK);
    CHECK(redcore_pubsub_sunsubscribe(ps, 0, NULL, NULL, NULL) == REDCORE_OK);
    CHECK(redcore_pubsub_counts(ps, &channels, &patterns, &shards) == REDCORE_OK);
    CHECK(channels == 0 && patterns == 0 && shards == 0);
    CHECK(RUN(client, "PUBLISH", "c-news", "x") == 0);

    uint64_t received = 0, dropped = 9, pending = 9;
    CHECK(redcore_pubsub_stats(ps, &received, &dropped, &pending) == REDCORE_OK);
    CHECK(received == 4 && dropped == 0 && pending == 0);
    redcore_pubsub_free(ps);
    redcore_client_free(client);
}

/* ---- the callback form -------------------------------------------------------------------- */

#define FLOOD 300

typedef struct {
    redcore_pubsub *ps;
    atomic_int messages;
    atomic_int in_order;
    atomic_int resubscribed;
    atomic_int freed;
    atomic_int closed;
    atomic_int subscribed_from_callback;
} watcher;

static void on_message(void *userdata, const redcore_pubsub_message *m) {
    watcher *w = userdata;
    size_t len = 0;
    const char *payload = redcore_pubsub_message_payload(m, &len);
    const char *channel = redcore_pubsub_message_channel(m, NULL);
    if (strcmp(channel, "c-first") == 0) {
        int n = atomic_load(&w->messages);
        char expected[16];
        snprintf(expected, sizeof expected, "%d", n);
        if (bytes_are(payload, len, expected)) {
            atomic_fetch_add(&w->in_order, 1);
        }
        if (n == 0) {
            /* A blocking call from the subscriber's own thread is fine. */
            const char *more[] = {"c-second"};
            if (redcore_pubsub_subscribe(w->ps, 1, more, NULL, NULL) == REDCORE_OK) {
                atomic_fetch_add(&w->subscribed_from_callback, 1);
            }
        }
    }
    atomic_fetch_add(&w->messages, 1);
}

static void on_event(void *userdata, const redcore_pubsub_message *m) {
    watcher *w = userdata;
    if (redcore_pubsub_message_kind(m) == REDCORE_PUBSUB_KIND_CLOSED) {
        atomic_fetch_add(&w->closed, 1);
    }
    if (redcore_pubsub_message_kind(m) == REDCORE_PUBSUB_KIND_RESUBSCRIBED) {
        const redcore_error *why = redcore_pubsub_message_error(m);
        if (why != NULL && redcore_error_is(why, REDCORE_ERR_CONNECTION) &&
            redcore_pubsub_message_restore_error(m) == NULL &&
            redcore_pubsub_message_channel(m, NULL) == NULL) {
            atomic_fetch_add(&w->resubscribed, 1);
        }
    }
}

static void free_watcher(void *userdata) {
    watcher *w = userdata;
    atomic_fetch_add(&w->freed, 1);
}

static void test_callbacks(void) {
    redcore_client *client = client_with_protocol(3);
    watcher w = {0};
    w.ps = new_pubsub(client, NULL);
    redcore_error *err = NULL;
    CHECK(code_is(redcore_pubsub_set_callbacks(w.ps, on_message, on_event, &w, free_watcher, &err),
                  &err, REDCORE_OK));
    /* Callbacks take the messages: polling is refused, and a second set too (its userdata is
     * released at once). */
    redcore_pubsub_message *m = NULL;
    CHECK(redcore_pubsub_get_message(w.ps, 0, &m, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    watcher other = {0};
    CHECK(redcore_pubsub_set_callbacks(w.ps, on_message, NULL, &other, free_watcher, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(atomic_load(&other.freed) == 1);

    SUB(redcore_pubsub_subscribe, w.ps, "c-first");
    for (int i = 0; i < FLOOD; i++) {
        char payload[16];
        snprintf(payload, sizeof payload, "%d", i);
        const char *argv[] = {"PUBLISH", "c-first", payload};
        redcore_reply *reply = NULL;
        CHECK(redcore_client_command_blocking(client, 3, argv, NULL, &reply, NULL) == REDCORE_OK);
        redcore_reply_free(reply);
    }
    CHECK(wait_for(&w.messages, FLOOD, "every message through the callback"));
    CHECK(atomic_load(&w.in_order) == FLOOD);
    CHECK(atomic_load(&w.subscribed_from_callback) == 1);

    /* The server drops the subscriber's connection: it comes back and subscribes again by
     * itself, and says so. */
    CHECK(RUN(client, "CLIENT", "KILL", "TYPE", "pubsub") >= 0);
    CHECK(wait_for(&w.resubscribed, 1, "the resubscribed event"));
    double deadline = now_ms() + WAIT_MS;
    while (RUN(client, "PUBLISH", "c-second", "back") != 1 && now_ms() < deadline) {
        sleep_ms(10);
    }
    CHECK(wait_for(&w.messages, FLOOD + 1, "a message after the reconnect"));

    redcore_pubsub_free(w.ps);
    CHECK(atomic_load(&w.freed) == 1);
    redcore_client_free(client);
}

/* A subscriber outliving its client: the closed event comes, and the userdata stays until the
 * subscriber is freed. */
static void test_userdata_outlives_the_client(void) {
    redcore_client *client = client_with_protocol(3);
    watcher w = {0};
    w.ps = new_pubsub(client, NULL);
    redcore_error *err = NULL;
    CHECK(code_is(redcore_pubsub_set_callbacks(w.ps, on_message, on_event, &w, free_watcher, &err),
                  &err, REDCORE_OK));
    SUB(redcore_pubsub_subscribe, w.ps, "c-outlived");
    redcore_client_free(client);
    CHECK(wait_for(&w.closed, 1, "the closed event"));
    sleep_ms(50);
    CHECK(atomic_load(&w.freed) == 0);
    redcore_pubsub_free(w.ps);
    CHECK(atomic_load(&w.freed) == 1);
}

/* ---- waiting inside a client callback ------------------------------------------------------ */

typedef struct {
    redcore_pubsub *ps;
    redcore_completion_queue *queue;
    atomic_int done;
    atomic_int get_code;  /* get_message with a timeout */
    atomic_int poll_code; /* get_message with 0: a poll */
    atomic_int waited_ms; /* how long completion_queue_wait took */
    atomic_int taken;
} inside;

static void wait_inside(void *userdata, const redcore_reply *reply, const redcore_error *error) {
    (void)reply;
    (void)error;
    inside *in = userdata;
    redcore_pubsub_message *m = NULL;
    atomic_store(&in->get_code, (int)redcore_pubsub_get_message(in->ps, 2000, &m, NULL));
    redcore_pubsub_message_free(m);
    m = NULL;
    atomic_store(&in->poll_code, (int)redcore_pubsub_get_message(in->ps, 0, &m, NULL));
    redcore_pubsub_message_free(m);
    redcore_completion out[1];
    double start = now_ms();
    atomic_store(&in->taken, (int)redcore_completion_queue_wait(in->queue, 2000, out, 1));
    atomic_store(&in->waited_ms, (int)(now_ms() - start));
    atomic_fetch_add(&in->done, 1);
}

/* Waiting for a message or a completion inside a callback would hold up the very thread that
 * delivers them: refused (get_message), or no wait (completion_queue_wait returns 0 at once). */
static void test_no_wait_inside_callbacks(void) {
    redcore_client *client = client_with_protocol(3);
    inside in = {0};
    in.ps = new_pubsub(client, NULL);
    CHECK(redcore_completion_queue_new(&in.queue) == REDCORE_OK);
    const char *ping[] = {"PING"};
    CHECK(redcore_client_command(client, 1, ping, NULL, wait_inside, &in, NULL) == REDCORE_OK);
    CHECK(wait_for(&in.done, 1, "the callback that tried to wait"));
    CHECK(atomic_load(&in.get_code) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(atomic_load(&in.poll_code) == REDCORE_OK);
    CHECK(atomic_load(&in.taken) == 0);
    CHECK(atomic_load(&in.waited_ms) < 1000);
    redcore_completion_queue_free(in.queue);
    redcore_pubsub_free(in.ps);
    redcore_client_free(client);
}

/* ---- the bound, commands, misuse ---------------------------------------------------------- */

static void test_bound_and_commands(void) {
    redcore_client *client = client_with_protocol(3);
    redcore_pubsub_options *options = NULL;
    CHECK(redcore_pubsub_options_new(&options) == REDCORE_OK);
    CHECK(redcore_pubsub_options_set_max_pending(options, 3, 1 << 20) == REDCORE_OK);
    CHECK(redcore_pubsub_options_set_max_pending(options, 0, 1) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_pubsub_options_set_health_check_ms(options, 1000) == REDCORE_OK);
    CHECK(redcore_pubsub_options_set_overflow_disconnect(options, false) == REDCORE_OK);
    redcore_pubsub *ps = new_pubsub(client, options);
    redcore_pubsub_options_free(options);

    SUB(redcore_pubsub_subscribe, ps, "c-bound");
    for (int i = 0; i < 10; i++) {
        CHECK(RUN(client, "PUBLISH", "c-bound", "m") == 1);
    }
    uint64_t received = 0;
    double deadline = now_ms() + WAIT_MS;
    while (received < 10 && now_ms() < deadline) {
        CHECK(redcore_pubsub_stats(ps, &received, NULL, NULL) == REDCORE_OK);
        sleep_ms(1);
    }
    redcore_pubsub_message *m = take(ps);
    CHECK(redcore_pubsub_message_kind(m) == REDCORE_PUBSUB_KIND_DROPPED);
    CHECK(redcore_pubsub_message_dropped(m) == 7);
    CHECK(redcore_pubsub_message_channel(m, NULL) == NULL);
    redcore_pubsub_message_free(m);

    /* A RESP3 subscriber's connection takes commands too. */
    RUN(client, "SET", "c-key", "42");
    const char *get[] = {"GET", "c-key"};
    redcore_reply *reply = NULL;
    CHECK(redcore_pubsub_command_blocking(ps, 2, get, NULL, &reply, NULL) == REDCORE_OK);
    CHECK(reply != NULL && strcmp(redcore_reply_string(reply, NULL), "42") == 0);
    redcore_reply_free(reply);
    const char *select[] = {"SELECT", "1"};
    redcore_error *err = NULL;
    CHECK(code_is(redcore_pubsub_command_blocking(ps, 2, select, NULL, &reply, &err), &err,
                  REDCORE_ERR_INVALID_ARGUMENT));

    /* NULL arguments. */
    const char *one[] = {"x"};
    CHECK(redcore_pubsub_new(NULL, NULL, &ps, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_pubsub_new(client, NULL, NULL, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_pubsub_subscribe(NULL, 1, one, NULL, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_pubsub_subscribe(ps, 1, NULL, NULL, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(code_is(redcore_pubsub_subscribe(ps, 0, NULL, NULL, &err), &err,
                  REDCORE_ERR_INVALID_ARGUMENT));
    CHECK(redcore_pubsub_get_message(ps, 0, NULL, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_pubsub_set_callbacks(ps, NULL, NULL, NULL, NULL, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_pubsub_message_kind(NULL) == REDCORE_PUBSUB_KIND_CLOSED);
    CHECK(redcore_pubsub_message_payload(NULL, NULL) == NULL);
    CHECK(redcore_pubsub_counts(NULL, NULL, NULL, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    redcore_pubsub_message_free(NULL);
    redcore_pubsub_options_free(NULL);
    redcore_pubsub_free(NULL);

    /* A subscriber outliving its client hears that it closed. */
    redcore_client_free(client);
    m = take(ps);
    CHECK(redcore_pubsub_message_kind(m) == REDCORE_PUBSUB_KIND_MESSAGE);
    redcore_pubsub_message_free(m);
    m = take(ps);
    CHECK(m != NULL && redcore_pubsub_message_kind(m) == REDCORE_PUBSUB_KIND_MESSAGE);
    redcore_pubsub_message_free(m);
    m = take(ps);
    CHECK(m != NULL && redcore_pubsub_message_kind(m) == REDCORE_PUBSUB_KIND_MESSAGE);
    redcore_pubsub_message_free(m);
    m = take(ps);
    CHECK(m != NULL && redcore_pubsub_message_kind(m) == REDCORE_PUBSUB_KIND_CLOSED);
    CHECK(m != NULL && redcore_error_get_code(redcore_pubsub_message_error(m)) ==
                           REDCORE_ERR_CLOSED);
    redcore_pubsub_message_free(m);
    CHECK(code_is(redcore_pubsub_get_message(ps, 0, &m, &err), &err, REDCORE_ERR_CLOSED));
    redcore_pubsub_free(ps);
}

/* ---- shutdown ----------------------------------------------------------------------------- */

struct waiting_subscribe {
    redcore_pubsub *ps;
    atomic_int code;
    atomic_int done;
    double took_ms;
};

static void *subscribe_waiting(void *arg) {
    struct waiting_subscribe *w = arg;
    redcore_error *err = NULL;
    double start = now_ms();
    redcore_error_code code = redcore_pubsub_subscribe(w->ps, 1, ARGS("during"), NULL, &err);
    w->took_ms = now_ms() - start;
    redcore_error_free(err);
    atomic_store(&w->code, (int)code);
    atomic_store(&w->done, 1);
    return NULL;
}

static void count_call(void *userdata, const redcore_reply *reply, const redcore_error *err) {
    (void)reply;
    (void)err;
    atomic_fetch_add((atomic_int *)userdata, 1);
}

/* redcore_pubsub_shutdown while another thread's SUBSCRIBE waits on a server busy for 1.5 s
 * (no command timeout): the call returns CLOSED at once, later calls fail with CLOSED, the
 * consumer gets the CLOSED event, and the subscriber is freed afterwards. */
static void test_shutdown_with_a_subscription_in_progress(void) {
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    CHECK(redcore_config_set_host(cfg, test_host, test_port, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_command_timeout_ms(cfg, 0, NULL) == REDCORE_OK);
    CHECK(code_is(redcore_client_new(cfg, &client, &err), &err, REDCORE_OK));
    redcore_config_free(cfg);
    if (client == NULL) {
        return;
    }
    redcore_pubsub *ps = new_pubsub(client, NULL);
    SUB(redcore_pubsub_subscribe, ps, "before");
    static atomic_int slept;
    atomic_store(&slept, 0);
    CHECK(redcore_client_command(client, 3, ARGS("DEBUG", "SLEEP", "1.5"), NULL, count_call,
                                 &slept, NULL) == REDCORE_OK);
    sleep_ms(100); /* the server sleeps now */
    static struct waiting_subscribe w;
    memset(&w, 0, sizeof w);
    w.ps = ps;
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, subscribe_waiting, &w) == 0);
    sleep_ms(100); /* the SUBSCRIBE waits for the server now */
    CHECK(atomic_load(&w.done) == 0);
    redcore_pubsub_shutdown(ps);
    CHECK(wait_for(&w.done, 1, "the SUBSCRIBE to return after shutdown"));
    pthread_join(thread, NULL);
    CHECK(atomic_load(&w.code) == REDCORE_ERR_CLOSED);
    CHECK(w.took_ms < 1000); /* well before the server's 1.5 s */
    redcore_error *sub_err = NULL;
    CHECK(code_is(redcore_pubsub_subscribe(ps, 1, ARGS("after"), NULL, &sub_err), &sub_err,
                  REDCORE_ERR_CLOSED));
    redcore_pubsub_message *m = take(ps);
    CHECK(m != NULL && redcore_pubsub_message_kind(m) == REDCORE_PUBSUB_KIND_CLOSED);
    redcore_pubsub_message_free(m);
    redcore_pubsub_shutdown(ps); /* again: nothing */
    redcore_pubsub_shutdown(NULL);
    redcore_pubsub_free(ps);
    CHECK(wait_for(&slept, 1, "DEBUG SLEEP to end"));
    redcore_client_free(client);
    printf("  shutdown with a SUBSCRIBE in progress: it returned after %.1f ms\n", w.took_ms);
}

int main(void) {
    if (!read_test_server("pubsub_test")) {
        return 2;
    }
    test_polling(3);
    test_polling(2);
    test_callbacks();
    test_userdata_outlives_the_client();
    test_no_wait_inside_callbacks();
    test_bound_and_commands();
    test_shutdown_with_a_subscription_in_progress();
    if (failures != 0) {
        fprintf(stderr, "pubsub_test: %d check(s) failed\n", failures);
        return 1;
    }
    puts("pubsub_test: ok");
    return 0;
}
