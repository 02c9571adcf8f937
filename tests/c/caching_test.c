/* Client-side caching from C (redcore_config_set_cache, redcore_client_cache_counter), against
 * a real server: run by `make test-c` under tests/tools/with-redis.sh, plainly and under
 * valgrind. A hit after the first read, byte for byte the server's reply; a write from another
 * client invalidating it within one round trip; the counters; RESP2 refused. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "commands.h"
#include "redcore.h"

static uint64_t counter(redcore_client *client, redcore_cache_counter which) {
    uint64_t value = UINT64_MAX;
    CHECK(redcore_client_cache_counter(client, (int)which, &value, NULL) == REDCORE_OK);
    return value;
}

/* GET c-cached as an owned reply's string, copied into `out`. */
static void get(redcore_client *client, char *out, size_t cap) {
    const char *argv[] = {"GET", "c-cached"};
    redcore_reply *reply = NULL;
    CHECK(redcore_client_command_blocking(client, 2, argv, NULL, &reply, NULL) == REDCORE_OK);
    snprintf(out, cap, "%s", reply ? redcore_reply_string(reply, NULL) : "");
    redcore_reply_free(reply);
}

int main(void) {
    if (!read_test_server("caching_test")) {
        return 2;
    }
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    CHECK(redcore_config_set_host(cfg, test_host, test_port, NULL) == REDCORE_OK);
    CHECK(code_is(redcore_config_set_cache(cfg, true, 100, 0, &err), &err, REDCORE_OK));
    /* RESP2 cannot track: refused while the cache is on. */
    CHECK(code_is(redcore_config_set_protocol(cfg, 2, &err), &err, REDCORE_ERR_INVALID_ARGUMENT));
    CHECK(code_is(redcore_client_new(cfg, &client, &err), &err, REDCORE_OK));
    redcore_config_free(cfg);
    redcore_client *other = new_client();
    if (client == NULL || other == NULL) {
        return 1;
    }

    RUN(other, "SET", "c-cached", "first");
    char value[64];
    get(client, value, sizeof value);
    CHECK(strcmp(value, "first") == 0);
    get(client, value, sizeof value);
    CHECK(strcmp(value, "first") == 0);
    CHECK(counter(client, REDCORE_CACHE_COUNTER_HITS) == 1);
    CHECK(counter(client, REDCORE_CACHE_COUNTER_MISSES) == 1);
    CHECK(counter(client, REDCORE_CACHE_COUNTER_ENTRIES) == 1);
    CHECK(counter(client, REDCORE_CACHE_COUNTER_BYTES) > 0);

    /* Another client writes; one round trip later the cached reply is gone. */
    RUN(other, "SET", "c-cached", "second");
    RUN(client, "PING");
    get(client, value, sizeof value);
    CHECK(strcmp(value, "second") == 0);
    CHECK(counter(client, REDCORE_CACHE_COUNTER_INVALIDATIONS) == 1);
    CHECK(counter(client, REDCORE_CACHE_COUNTER_MISSES) == 2);
    CHECK(counter(client, REDCORE_CACHE_COUNTER_EVICTIONS) == 0);
    CHECK(counter(client, REDCORE_CACHE_COUNTER_FLUSHES) == 0);

    uint64_t out = 0;
    CHECK(code_is(redcore_client_cache_counter(client, 7, &out, &err), &err,
                  REDCORE_ERR_INVALID_ARGUMENT));
    CHECK(code_is(redcore_client_cache_counter(other, 0, &out, &err), &err,
                  REDCORE_ERR_INVALID_ARGUMENT));
    CHECK(redcore_client_cache_counter(NULL, 0, &out, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_client_cache_counter(client, 0, NULL, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_config_set_cache(NULL, true, 0, 0, NULL) == REDCORE_ERR_INVALID_ARGUMENT);

    redcore_client_free(other);
    redcore_client_free(client);
    if (failures != 0) {
        fprintf(stderr, "caching_test: %d check(s) failed\n", failures);
        return 1;
    }
    puts("caching_test: ok");
    return 0;
}
