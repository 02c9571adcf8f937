/* The binding entry points of redcore.h, checked from C against a real server: flat-argument
 * batches, the completion queue (taken by polling and by waiting, its descriptor), pipelines
 * through the queue, the flat blocking calls and reply items. Run by `make test-c` under
 * tests/tools/with-redis.sh, plainly and under valgrind (no leak, no error).
 *
 * Every wait is bounded; a test that would hang fails with a message instead. */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "redcore.h"

#define WAIT_MS 10000

/* A batch of commands laid out flat, as the batch functions take it. */
typedef struct {
    uint32_t argcs[2048];
    size_t arglens[8192];
    uint8_t args[65536];
    size_t tokens[2048];
    size_t count, nargs, nbytes;
} batch;

/* Appends a command of NUL-terminated arguments, ended by NULL, with its token. */
static void add(batch *b, size_t token, ...) {
    va_list ap;
    va_start(ap, token);
    uint32_t argc = 0;
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *)) {
        size_t len = strlen(a);
        memcpy(b->args + b->nbytes, a, len);
        b->nbytes += len;
        b->arglens[b->nargs++] = len;
        argc++;
    }
    va_end(ap);
    b->argcs[b->count] = argc;
    b->tokens[b->count++] = token;
}

static redcore_client *connect_client(void) {
    char url[128];
    snprintf(url, sizeof url, "redis://%s:%s", getenv("REDCORE_TEST_HOST"),
             getenv("REDCORE_TEST_PORT"));
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    if (redcore_config_from_url(url, &cfg, &err) != REDCORE_OK ||
        redcore_client_new(cfg, &client, &err) != REDCORE_OK) {
        fprintf(stderr, "cannot connect to %s: %s\n", url, redcore_error_message(err));
        exit(1);
    }
    redcore_config_free(cfg);
    return client;
}

static int item_is(const redcore_item *item, redcore_reply_type kind, const char *text) {
    return item->kind == kind && item->len == strlen(text) && memcmp(item->str, text, item->len) == 0;
}

/* Takes `want` completions, sleeping on the queue's descriptor between polls as an event
 * loop would; calls `check` on each. Returns how many arrived. */
static size_t take_by_polling(redcore_completion_queue *q, size_t want,
                              void (*check)(const redcore_completion *)) {
    redcore_completion out[64];
    size_t got = 0;
    while (got < want) {
        size_t n = redcore_completion_queue_poll(q, out, 64);
        if (n == 0) {
            struct pollfd p = {redcore_completion_queue_fd(q), POLLIN, 0};
            if (poll(&p, 1, WAIT_MS) != 1) {
                fprintf(stderr, "no completion within %d ms (%zu of %zu)\n", WAIT_MS, got, want);
                return got;
            }
            char drain[64];
            while (read(p.fd, drain, sizeof drain) > 0) {
            }
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            check(&out[i]);
        }
        got += n;
    }
    return got;
}

static size_t seen[2048];

static void check_set_get(const redcore_completion *c) {
    CHECK(c->token < 2048);
    seen[c->token]++;
    if (c->token % 2 == 0) {
        CHECK(item_is(&c->item, REDCORE_REPLY_SIMPLE, "OK"));
    } else {
        char want[32];
        snprintf(want, sizeof want, "value-%zu", c->token / 2);
        CHECK(item_is(&c->item, REDCORE_REPLY_BULK, want));
        CHECK(c->reply != NULL && c->error == NULL && c->item.code == REDCORE_OK);
    }
}

static void test_batches_through_the_queue(redcore_client *client) {
    redcore_completion_queue *q = NULL;
    CHECK(redcore_completion_queue_new(&q) == REDCORE_OK);
    static batch b;
    memset(&b, 0, sizeof b);
    char key[32], value[32];
    for (size_t i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "cq:%zu", i);
        snprintf(value, sizeof value, "value-%zu", i);
        add(&b, 2 * i, "SET", key, value, NULL);
        add(&b, 2 * i + 1, "GET", key, NULL);
    }
    redcore_error *err = NULL;
    CHECK(redcore_client_submit_batch(client, q, b.count, b.tokens, b.argcs, b.arglens, b.args,
                                      b.nbytes, &err) == REDCORE_OK);
    CHECK(take_by_polling(q, b.count, check_set_get) == b.count);
    for (size_t i = 0; i < b.count; i++) {
        CHECK(seen[i] == 1);
    }

    /* A malformed batch is refused whole; a refused command completes with its error. */
    CHECK(redcore_client_submit_batch(client, q, b.count, b.tokens, b.argcs, b.arglens, b.args,
                                      b.nbytes - 1, &err) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(redcore_error_message(err), "args_len") != NULL);
    redcore_error_free(err);
    memset(&b, 0, sizeof b);
    add(&b, 7, "SUBSCRIBE", "news", NULL);
    add(&b, 8, "LPUSH", "cq:0", "x", NULL);
    CHECK(redcore_client_submit_batch(client, q, b.count, b.tokens, b.argcs, b.arglens, b.args,
                                      b.nbytes, NULL) == REDCORE_OK);
    redcore_completion out[4];
    size_t n = 0;
    while (n < 2) {
        size_t got = redcore_completion_queue_wait(q, WAIT_MS, out + n, 4 - n);
        CHECK(got > 0);
        if (got == 0) {
            break;
        }
        n += got;
    }
    /* Both are in the last batch taken, so both are still lent. */
    for (size_t i = 0; i < n; i++) {
        const redcore_completion *c = &out[i];
        CHECK(c->reply == NULL && c->error != NULL && c->item.kind == REDCORE_REPLY_ERROR);
        if (c->token == 7) {
            CHECK(c->item.code == REDCORE_ERR_INVALID_ARGUMENT);
        } else {
            CHECK(c->token == 8 && c->item.code == REDCORE_ERR_RESPONSE);
            CHECK(strstr(c->item.str, "WRONGTYPE") == c->item.str);
        }
    }
    CHECK(redcore_completion_queue_wait(q, 10, out, 4) == 0);
    redcore_completion_queue_free(q);
}

static void test_pipelines_and_items(redcore_client *client) {
    redcore_completion_queue *q = NULL;
    CHECK(redcore_completion_queue_new(&q) == REDCORE_OK);
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 0, "DEL", "cq:h", NULL);
    add(&b, 0, "HSET", "cq:h", "f", "v", NULL);
    add(&b, 0, "HGETALL", "cq:h", NULL);
    add(&b, 0, "INCR", "cq:h", NULL);
    CHECK(redcore_client_submit_pipeline(client, q, 42, true, b.count, b.argcs, b.arglens,
                                         b.args, b.nbytes, NULL) == REDCORE_OK);
    redcore_completion c;
    CHECK(redcore_completion_queue_wait(q, WAIT_MS, &c, 1) == 1);
    CHECK(c.token == 42 && c.pipeline != NULL && c.item.kind == REDCORE_REPLY_ARRAY &&
          c.item.elements == 4);
    redcore_item items[16];
    size_t total = redcore_pipeline_result_items(c.pipeline, items, 16);
    /* DEL: 1 item; HSET: 1; HGETALL: a map and its 2 children; INCR: 1 error item. */
    CHECK(total == 6);
    CHECK(items[1].kind == REDCORE_REPLY_INTEGER && items[1].integer == 1);
    CHECK(items[2].kind == REDCORE_REPLY_MAP && items[2].elements == 2);
    CHECK(item_is(&items[3], REDCORE_REPLY_BULK, "f") && item_is(&items[4], REDCORE_REPLY_BULK, "v"));
    CHECK(items[5].kind == REDCORE_REPLY_ERROR && items[5].code == REDCORE_ERR_RESPONSE);

    /* A pipeline refused at once gives no completion. */
    memset(&b, 0, sizeof b);
    add(&b, 0, "WATCH", "cq:h", NULL);
    redcore_error *err = NULL;
    CHECK(redcore_client_submit_pipeline(client, q, 43, false, b.count, b.argcs, b.arglens,
                                         b.args, b.nbytes, &err) == REDCORE_ERR_INVALID_ARGUMENT);
    redcore_error_free(err);
    CHECK(redcore_completion_queue_poll(q, &c, 1) == 0);

    /* The flat blocking calls. */
    size_t lens[] = {4, 5};
    redcore_reply *reply = NULL;
    CHECK(redcore_client_command_flat_blocking(client, 2, lens, (const uint8_t *)"ECHOhello", 8,
                                               &reply, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_client_command_flat_blocking(client, 2, lens, (const uint8_t *)"ECHOhello", 9,
                                               &reply, NULL) == REDCORE_OK);
    CHECK(redcore_reply_items(reply, NULL, 0) == 1);
    CHECK(redcore_reply_items(reply, items, 16) == 1 && item_is(&items[0], REDCORE_REPLY_BULK, "hello"));
    redcore_reply_free(reply);
    memset(&b, 0, sizeof b);
    add(&b, 0, "PING", NULL);
    add(&b, 0, "ECHO", "again", NULL);
    redcore_pipeline_result *result = NULL;
    CHECK(redcore_client_pipeline_flat_blocking(client, false, b.count, b.argcs, b.arglens, b.args,
                                                b.nbytes, &result, NULL) == REDCORE_OK);
    CHECK(redcore_pipeline_result_items(result, items, 16) == 2);
    CHECK(item_is(&items[0], REDCORE_REPLY_SIMPLE, "PONG") && item_is(&items[1], REDCORE_REPLY_BULK, "again"));
    redcore_pipeline_result_free(result);
    redcore_completion_queue_free(q);
}

/* Commands pending when the client is freed complete with CLOSED through the queue; a queue
 * freed with commands pending drops their results when they come. */
static void test_close_with_pending_commands(void) {
    redcore_client *client = connect_client();
    redcore_completion_queue *q = NULL, *dropped = NULL;
    CHECK(redcore_completion_queue_new(&q) == REDCORE_OK);
    CHECK(redcore_completion_queue_new(&dropped) == REDCORE_OK);
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 1, "BLPOP", "cq:never", "30", NULL);
    add(&b, 2, "BLPOP", "cq:never", "30", NULL);
    CHECK(redcore_client_submit_batch(client, q, b.count, b.tokens, b.argcs, b.arglens, b.args,
                                      b.nbytes, NULL) == REDCORE_OK);
    CHECK(redcore_client_submit_batch(client, dropped, b.count, b.tokens, b.argcs, b.arglens,
                                      b.args, b.nbytes, NULL) == REDCORE_OK);
    redcore_completion_queue_free(dropped);
    struct timespec pause = {0, 50 * 1000 * 1000}; /* let the BLPOPs reach the server */
    nanosleep(&pause, NULL);
    redcore_client_free(client);
    redcore_completion out[4];
    size_t n = redcore_completion_queue_poll(q, out, 4);
    CHECK(n == 2);
    for (size_t i = 0; i < n; i++) {
        CHECK(out[i].item.code == REDCORE_ERR_CLOSED);
    }
    redcore_completion_queue_close(q);
    CHECK(redcore_completion_queue_wait(q, -1, out, 4) == 0);
    redcore_completion_queue_free(q);
}

int main(void) {
    if (getenv("REDCORE_TEST_HOST") == NULL || getenv("REDCORE_TEST_PORT") == NULL) {
        fprintf(stderr, "run me under tests/tools/with-redis.sh\n");
        return 2;
    }
    redcore_client *client = connect_client();
    test_batches_through_the_queue(client);
    test_pipelines_and_items(client);
    redcore_client_free(client);
    test_close_with_pending_commands();
    CHECK(redcore_completion_queue_poll(NULL, NULL, 0) == 0);
    CHECK(redcore_completion_queue_fd(NULL) == -1);
    if (failures != 0) {
        fprintf(stderr, "completion_queue_test: %d checks failed\n", failures);
        return 1;
    }
    printf("completion_queue_test: all checks passed\n");
    return 0;
}
