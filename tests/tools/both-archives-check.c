/* A program on both static archives: hiredis's API from libhiredis.a and the native API from
 * libredcore.a (each a prelinked object carrying its own copy of the Rust runtime, see PRELINK
 * in the Makefile). A key SET through one is read back through the other, against the server of
 * REDCORE_TEST_HOST / REDCORE_TEST_PORT / REDCORE_TEST_URL. `make test-minimal` links it both
 * ways round. Exit status 0 when all holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis.h>
#include <redcore.h>

static int native_get(redcore_client *client, const char *key, const char *want) {
    const char *get[] = {"GET", key};
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    if (redcore_client_command_blocking(client, 2, get, NULL, &reply, &err) != REDCORE_OK) {
        fprintf(stderr, "both-archives-check: native GET: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        return 0;
    }
    const char *got = redcore_reply_string(reply, NULL);
    int ok = got != NULL && strcmp(got, want) == 0;
    if (!ok) fprintf(stderr, "both-archives-check: native GET %s: %s\n", key, got ? got : "(nil)");
    redcore_reply_free(reply);
    return ok;
}

int main(void) {
    const char *host = getenv("REDCORE_TEST_HOST"), *port = getenv("REDCORE_TEST_PORT");
    const char *url = getenv("REDCORE_TEST_URL");
    if (host == NULL || port == NULL || url == NULL) {
        fprintf(stderr, "both-archives-check: run it under tests/tools/with-redis.sh\n");
        return 1;
    }

    redisContext *c = redisConnect(host, atoi(port));
    if (c == NULL || c->err) {
        fprintf(stderr, "both-archives-check: redisConnect: %s\n", c ? c->errstr : "no memory");
        redisFree(c);
        return 1;
    }
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    if (redcore_config_from_url(url, &cfg, &err) != REDCORE_OK ||
        redcore_client_new(cfg, &client, &err) != REDCORE_OK) {
        fprintf(stderr, "both-archives-check: native client: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        redcore_config_free(cfg);
        redisFree(c);
        return 1;
    }
    redcore_config_free(cfg);

    int ok = 1;
    redisReply *r = redisCommand(c, "SET %s %s", "both:hiredis", "from hiredis");
    ok = ok && r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
    freeReplyObject(r);
    ok = ok && native_get(client, "both:hiredis", "from hiredis");

    const char *set[] = {"SET", "both:native", "from redcore"};
    redcore_reply *reply = NULL;
    if (ok && redcore_client_command_blocking(client, 3, set, NULL, &reply, &err) != REDCORE_OK) {
        fprintf(stderr, "both-archives-check: native SET: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        ok = 0;
    }
    redcore_reply_free(reply);
    r = ok ? redisCommand(c, "GET both:native") : NULL;
    ok = ok && r != NULL && r->type == REDIS_REPLY_STRING && strcmp(r->str, "from redcore") == 0;
    freeReplyObject(r);

    redcore_client_free(client);
    redisFree(c);
    if (!ok) {
        fprintf(stderr, "both-archives-check: a value did not make it across the two APIs\n");
        return 1;
    }
    printf("both-archives-check: hiredis's API and the native API in one static program: ok\n");
    return 0;
}
