/* basic.c: blocking calls with redcore.
 *
 * Connects (to REDCORE_TEST_URL, or REDCORE_TEST_HOST / REDCORE_TEST_PORT, or
 * redis://127.0.0.1:6379), then: SET / GET / INCR, a binary-safe value, an error reply and how
 * to read it, and a RESP3 map reply. Exits 0 on success, 1 on any failure.
 *
 *   make demo                       runs it against a throwaway redis-server
 *   build/examples/basic            runs it against your own server
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redcore.h"

/* Where to connect: a URL, from the environment when the test tools set one. */
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

/* Prints a failed call's error and frees it. */
static void report(const char *what, redcore_error_code code, redcore_error *err) {
    fprintf(stderr, "%s failed: %s (%s)\n", what, redcore_error_message(err),
            redcore_error_code_name(code));
    redcore_error_free(err);
}

/* Runs a command of NUL-terminated arguments and prints the reply as text. Returns the reply
 * (the caller frees it), or NULL after printing the error. */
static redcore_reply *run(redcore_client *client, int argc, const char *const *argv) {
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    redcore_error_code code =
        redcore_client_command_blocking(client, argc, argv, NULL, &reply, &err);
    if (code != REDCORE_OK) {
        report(argv[0], code, err);
        return NULL;
    }
    printf("  %s %s -> ", argv[0], argc > 1 ? argv[1] : "");
    switch (redcore_reply_get_type(reply)) {
    case REDCORE_REPLY_INTEGER:
        printf("(integer) %lld\n", (long long)redcore_reply_integer(reply));
        break;
    case REDCORE_REPLY_NULL:
        printf("(nil)\n");
        break;
    default: {
        /* Strings are always NUL-terminated, so text can be printed with %s. */
        const char *text = redcore_reply_string(reply, NULL);
        printf("%s\n", text ? text : "(not a string)");
    }
    }
    return reply;
}

int main(void) {
    int status = 1;
    redcore_config *config = NULL;
    redcore_client *client = NULL;
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    redcore_error_code code;
    char buf[256];

    /* 1. A config from a URL, and a client. The client copies the config. */
    const char *url = server_url(buf, sizeof buf);
    code = redcore_config_from_url(url, &config, &err);
    if (code != REDCORE_OK) {
        report("redcore_config_from_url", code, err);
        return 1;
    }
    code = redcore_client_new(config, &client, &err);
    redcore_config_free(config);
    if (code != REDCORE_OK) {
        report("redcore_client_new", code, err);
        return 1;
    }
    printf("connected to %s (redcore %s)\n", url, redcore_version());

    /* 2. Strings and counters. Each blocking call returns an owned reply: free it. */
    printf("strings and counters:\n");
    const char *del[] = {"DEL", "example:greeting", "example:counter", "example:bin",
                         "example:user"};
    const char *set[] = {"SET", "example:greeting", "hello from C"};
    const char *get[] = {"GET", "example:greeting"};
    const char *incr[] = {"INCR", "example:counter"};
    if ((reply = run(client, 5, del)) == NULL) goto out;
    redcore_reply_free(reply);
    if ((reply = run(client, 3, set)) == NULL) goto out;
    redcore_reply_free(reply);
    if ((reply = run(client, 2, get)) == NULL) goto out;
    redcore_reply_free(reply);
    for (int i = 0; i < 3; i++) {
        if ((reply = run(client, 2, incr)) == NULL) goto out;
        redcore_reply_free(reply);
    }

    /* 3. Binary-safe values: pass each argument's length in argvlen, and the bytes may hold
     * NULs, CR and LF. */
    printf("a binary value:\n");
    static const char value[] = {'a', '\0', 'b', '\r', '\n', 'c'};
    const char *set_bin[] = {"SET", "example:bin", value};
    const size_t set_bin_len[] = {3, 11, sizeof value};
    code = redcore_client_command_blocking(client, 3, set_bin, set_bin_len, &reply, &err);
    if (code != REDCORE_OK) {
        report("SET example:bin", code, err);
        goto out;
    }
    redcore_reply_free(reply);
    const char *get_bin[] = {"GET", "example:bin"};
    code = redcore_client_command_blocking(client, 2, get_bin, NULL, &reply, &err);
    if (code != REDCORE_OK) {
        report("GET example:bin", code, err);
        goto out;
    }
    size_t len = 0;
    const char *bytes = redcore_reply_string(reply, &len);
    int same = bytes != NULL && len == sizeof value && memcmp(bytes, value, len) == 0;
    printf("  GET example:bin -> %zu bytes, %s\n", len, same ? "identical" : "DIFFERENT");
    redcore_reply_free(reply);
    if (!same) goto out;

    /* 4. An error reply: the call returns the error's code and fills *err with the server's
     * text. Codes form a tree: WRONGTYPE is a RESPONSE error, itself a REDIS error. */
    printf("an error reply:\n");
    const char *lpush[] = {"LPUSH", "example:greeting", "x"};
    code = redcore_client_command_blocking(client, 3, lpush, NULL, &reply, &err);
    if (code == REDCORE_OK) {
        fprintf(stderr, "LPUSH on a string should have failed\n");
        redcore_reply_free(reply);
        goto out;
    }
    printf("  LPUSH example:greeting -> code %d (%s), is a RESPONSE error: %s\n"
           "  message: %s\n",
           (int)redcore_error_get_code(err), redcore_error_code_name(code),
           redcore_error_is(err, REDCORE_ERR_RESPONSE) ? "yes" : "no",
           redcore_error_message(err));
    int expected = redcore_error_is(err, REDCORE_ERR_RESPONSE) &&
                   strncmp(redcore_error_message(err), "WRONGTYPE", 9) == 0;
    redcore_error_free(err);
    err = NULL;
    if (!expected) goto out;

    /* 5. A map reply: with RESP3 (the default protocol), HGETALL answers a map. Keys and
     * values are borrowed from the reply, which owns them. */
    printf("a map reply:\n");
    const char *hset[] = {"HSET", "example:user", "name", "Ada", "language", "C"};
    if ((reply = run(client, 6, hset)) == NULL) goto out;
    redcore_reply_free(reply);
    const char *hgetall[] = {"HGETALL", "example:user"};
    code = redcore_client_command_blocking(client, 2, hgetall, NULL, &reply, &err);
    if (code != REDCORE_OK) {
        report("HGETALL", code, err);
        goto out;
    }
    if (redcore_reply_get_type(reply) != REDCORE_REPLY_MAP) {
        fprintf(stderr, "HGETALL: expected a map (is the server older than Redis 6?)\n");
        redcore_reply_free(reply);
        goto out;
    }
    printf("  HGETALL example:user -> a map of %zu fields\n", redcore_reply_len(reply));
    for (size_t i = 0; i < redcore_reply_len(reply); i++) {
        printf("    %s = %s\n", redcore_reply_string(redcore_reply_map_key(reply, i), NULL),
               redcore_reply_string(redcore_reply_map_value(reply, i), NULL));
    }
    redcore_reply_free(reply);

    if ((reply = run(client, 5, del)) == NULL) goto out;
    redcore_reply_free(reply);
    status = 0;
    printf("basic: ok\n");
out:
    /* Frees the client: its connections close and its thread is joined. */
    redcore_client_free(client);
    return status;
}
