/* scripts.c: a rate limiter as a Lua script, run by its SHA-1.
 *
 * A redcore_script computes its SHA-1 locally, so the first run is already an EVALSHA: no
 * round trip to register it. When the server does not have it (a restart, a failover, SCRIPT
 * FLUSH), the server answers NOSCRIPT, and the library loads the script and runs it again,
 * once; the caller never sees NOSCRIPT. In a pipeline the scripts the server lacks are loaded
 * before the pipeline runs. Functions (FUNCTION LOAD, FCALL) need no class: FCALL goes
 * through the client like any command.
 *
 * Connects as connect.h says. Exits 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect.h"
#include "redcore.h"

/* KEYS[1]: the counter; ARGV[1]: the limit; ARGV[2]: the window in seconds. Returns how many
 * requests are left in the window, or -1 when the limit is reached. */
static const char LIMITER[] = "local n = redis.call('INCR', KEYS[1])\n"
                              "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end\n"
                              "if n > tonumber(ARGV[1]) then return -1 end\n"
                              "return tonumber(ARGV[1]) - n\n";

static long long allow(redcore_script *limiter, redcore_client *client, const char *user) {
    const char *keys[] = {user};
    const char *args[] = {"3", "60"};
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    if (redcore_script_run_blocking(limiter, client, 1, keys, NULL, 2, args, NULL, false, &reply,
                                    &err) != REDCORE_OK) {
        fprintf(stderr, "limiter: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        return -2;
    }
    long long left = redcore_reply_integer(reply);
    redcore_reply_free(reply);
    return left;
}

int main(void) {
    redcore_client *client = connect_client(false);
    if (client == NULL) {
        return 1;
    }
    redcore_error *err = NULL;
    int failed = 0;

    redcore_script *limiter = NULL;
    redcore_script_new(LIMITER, strlen(LIMITER), &limiter);
    printf("limiter script, SHA-1 %s\n", redcore_script_sha(limiter));
    const char *del[] = {"DEL", "limit:alice", "limit:bob"};
    failed |= command(client, 3, del, NULL);
    for (int i = 1; i <= 4; i++) {
        long long left = allow(limiter, client, "limit:alice");
        printf("  alice request %d: %s (%lld left)\n", i, left >= 0 ? "allowed" : "refused",
               left < 0 ? 0 : left);
        failed |= (i <= 3) != (left >= 0);
    }

    /* The server forgets every script: the next run loads it again by itself. */
    const char *flush[] = {"SCRIPT", "FLUSH"};
    failed |= command(client, 2, flush, NULL);
    long long left = allow(limiter, client, "limit:bob");
    printf("after SCRIPT FLUSH, bob: %lld left (the script was loaded again)\n", left);
    failed |= left != 2;

    /* A pipeline of script runs: the script is loaded first if the server lacks it. */
    failed |= command(client, 2, flush, NULL);
    redcore_pipeline *pipeline = NULL;
    redcore_pipeline_new(false, &pipeline);
    const char *users[] = {"limit:carol", "limit:carol", "limit:dave"};
    const char *args[] = {"3", "60"};
    for (int i = 0; i < 3; i++) {
        redcore_pipeline_append_script(pipeline, limiter, 1, &users[i], NULL, 2, args, NULL,
                                       false, NULL);
    }
    redcore_pipeline_result *result = NULL;
    if (redcore_client_pipeline_run_blocking(client, pipeline, &result, &err) == REDCORE_OK) {
        for (size_t i = 0; i < redcore_pipeline_result_len(result); i++) {
            const redcore_reply *reply = NULL;
            failed |= redcore_pipeline_result_get(result, i, &reply, NULL) != REDCORE_OK;
            printf("  pipelined %s: %lld left\n", users[i],
                   reply ? (long long)redcore_reply_integer(reply) : -1LL);
        }
        redcore_pipeline_result_free(result);
    } else {
        fprintf(stderr, "pipeline: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        failed = 1;
    }
    redcore_pipeline_free(pipeline);
    redcore_script_free(limiter);

    /* A function: loaded once per server, called by name. */
    const char *load[] = {"FUNCTION", "LOAD", "REPLACE",
                          "#!lua name=example\n"
                          "redis.register_function('add', function(keys, args)\n"
                          "  return tonumber(args[1]) + tonumber(args[2]) end)"};
    const char *fcall[] = {"FCALL", "add", "0", "19", "23"};
    long long sum = 0;
    failed |= command(client, 4, load, NULL) || command(client, 5, fcall, &sum);
    printf("FCALL add 19 23 = %lld\n", sum);
    failed |= sum != 42;

    redcore_client_free(client);
    puts(failed ? "scripts: FAILED" : "scripts: ok");
    return failed;
}
