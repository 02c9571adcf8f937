/* cluster.c: a Redis Cluster through the same redcore_client handle.
 *
 *   1. connect with a redis+cluster:// URL (startup nodes; the topology is discovered);
 *   2. SET and GET keys that hash to different slots, each sent to the node that owns it;
 *   3. MGET and DEL across slots: split per slot, sent in parallel, merged in order (not
 *      atomic across slots);
 *   4. a pipeline spanning every node, results in the caller's order;
 *   5. a transaction on keys sharing a {hash tag}, and one refused across slots;
 *   6. a dedicated connection pinned to a key's node for WATCH / MULTI / EXEC;
 *   7. SCAN over every primary with one cursor; DBSIZE summed over the primaries;
 *   8. what the client met: MOVED, ASK, refreshes.
 *
 * The cluster comes from REDCORE_CLUSTER_URL (`make demo` starts one with
 * tests/tools/with-cluster.sh), else redis+cluster://127.0.0.1:7000. Exits 0 on success.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redcore.h"

#define KEYS 12

static bool failed(const char *what, redcore_error *err) {
    fprintf(stderr, "%s: %s: %s\n", what, redcore_error_code_name(redcore_error_get_code(err)),
            redcore_error_message(err));
    redcore_error_free(err);
    return false;
}

/* Runs a command; prints the reply (or the error) after `label`. */
static bool run(redcore_client *client, const char *label, int argc, const char *const *argv) {
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    if (redcore_client_command_blocking(client, argc, argv, NULL, &reply, &err) != REDCORE_OK) {
        return failed(label, err);
    }
    if (redcore_reply_get_type(reply) == REDCORE_REPLY_INTEGER) {
        printf("  %-28s (integer) %lld\n", label, (long long)redcore_reply_integer(reply));
    } else if (redcore_reply_get_type(reply) == REDCORE_REPLY_ARRAY) {
        printf("  %-28s array of %zu\n", label, redcore_reply_len(reply));
    } else {
        const char *text = redcore_reply_string(reply, NULL);
        printf("  %-28s %s\n", label, text ? text : "(nil)");
    }
    redcore_reply_free(reply);
    return true;
}

static bool keys_across_slots(redcore_client *client) {
    printf("keys across slots:\n");
    char key[32], value[32];
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "demo:key:%d", i);
        snprintf(value, sizeof value, "value-%d", i);
        const char *set[] = {"SET", key, value};
        redcore_reply *reply = NULL;
        redcore_error *err = NULL;
        if (redcore_client_command_blocking(client, 3, set, NULL, &reply, &err) != REDCORE_OK) {
            return failed("SET", err);
        }
        redcore_reply_free(reply);
    }
    const char *get[] = {"GET", "demo:key:7"};
    if (!run(client, "GET demo:key:7", 2, get)) {
        return false;
    }
    /* MGET of keys in different slots: one MGET per slot, replies put back in order. */
    const char *mget[] = {"MGET", "demo:key:0", "demo:key:1", "demo:missing", "demo:key:2"};
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    if (redcore_client_command_blocking(client, 5, mget, NULL, &reply, &err) != REDCORE_OK) {
        return failed("MGET", err);
    }
    printf("  MGET across slots:");
    for (size_t i = 0; i < redcore_reply_len(reply); i++) {
        const char *text = redcore_reply_string(redcore_reply_element(reply, i), NULL);
        printf(" %s", text ? text : "(nil)");
    }
    printf("\n");
    bool in_order = strcmp(redcore_reply_string(redcore_reply_element(reply, 1), NULL),
                           "value-1") == 0;
    redcore_reply_free(reply);
    return in_order;
}

static bool pipeline_over_every_node(redcore_client *client) {
    printf("a pipeline over every node:\n");
    redcore_pipeline *pipeline = NULL;
    redcore_error *err = NULL;
    if (redcore_pipeline_new(false, &pipeline) != REDCORE_OK) {
        fprintf(stderr, "cannot create a pipeline\n");
        return false;
    }
    char key[32];
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "demo:counter:%d", i);
        const char *incr[] = {"INCRBY", key, "10"};
        if (redcore_pipeline_append(pipeline, 3, incr, NULL, &err) != REDCORE_OK) {
            redcore_pipeline_free(pipeline);
            return failed("append", err);
        }
    }
    redcore_pipeline_result *result = NULL;
    if (redcore_client_pipeline_run_blocking(client, pipeline, &result, &err) != REDCORE_OK) {
        redcore_pipeline_free(pipeline);
        return failed("pipeline run", err);
    }
    printf("  %zu results, in order:", redcore_pipeline_result_len(result));
    for (size_t i = 0; i < redcore_pipeline_result_len(result); i++) {
        const redcore_reply *reply = NULL;
        const redcore_error *item_err = NULL;
        if (redcore_pipeline_result_get(result, i, &reply, &item_err) == REDCORE_OK) {
            printf(" %lld", (long long)redcore_reply_integer(reply));
        } else {
            printf(" [%s]", redcore_error_message(item_err));
        }
    }
    printf("\n");
    redcore_pipeline_result_free(result);
    redcore_pipeline_free(pipeline);
    return true;
}

static bool transactions(redcore_client *client) {
    printf("transactions:\n");
    /* Keys with the same {tag} share a slot: MULTI ... EXEC runs on that slot's primary. */
    redcore_pipeline *txn = NULL;
    redcore_error *err = NULL;
    if (redcore_pipeline_new(true, &txn) != REDCORE_OK) {
        fprintf(stderr, "cannot create a transaction\n");
        return false;
    }
    const char *a[] = {"SET", "{demo:user:1}:name", "ada"};
    const char *b[] = {"INCR", "{demo:user:1}:visits"};
    redcore_pipeline_append(txn, 3, a, NULL, NULL);
    redcore_pipeline_append(txn, 2, b, NULL, NULL);
    redcore_pipeline_result *result = NULL;
    if (redcore_client_pipeline_run_blocking(client, txn, &result, &err) != REDCORE_OK) {
        redcore_pipeline_free(txn);
        return failed("transaction run", err);
    }
    printf("  on one slot: %zu results\n", redcore_pipeline_result_len(result));
    redcore_pipeline_result_free(result);
    redcore_pipeline_free(txn);
    /* Keys of two slots cannot be in one transaction: refused before anything is sent. */
    if (redcore_pipeline_new(true, &txn) != REDCORE_OK) {
        fprintf(stderr, "cannot create a transaction\n");
        return false;
    }
    const char *c[] = {"SET", "demo:key:1", "x"};
    const char *d[] = {"SET", "demo:key:2", "y"};
    redcore_pipeline_append(txn, 3, c, NULL, NULL);
    redcore_pipeline_append(txn, 3, d, NULL, NULL);
    redcore_error_code code = redcore_client_pipeline_run_blocking(client, txn, &result, &err);
    redcore_pipeline_free(txn);
    if (code != REDCORE_ERR_CROSS_SLOT_TRANSACTION) {
        fprintf(stderr, "a cross-slot transaction was not refused (%s)\n",
                redcore_error_code_name(code));
        redcore_error_free(err);
        return false;
    }
    printf("  across slots: %s (%s)\n", redcore_error_code_name(code), redcore_error_message(err));
    redcore_error_free(err);

    /* WATCH / MULTI / EXEC on a connection held on the key's node. */
    redcore_dedicated *held = NULL;
    const char *key = "{demo:user:1}:visits";
    if (redcore_client_dedicated_for_key(client, key, strlen(key), &held, &err) != REDCORE_OK) {
        return failed("dedicated_for_key", err);
    }
    const char *watch[] = {"WATCH", key};
    const char *multi[] = {"MULTI"};
    const char *incr[] = {"INCR", key};
    const char *exec[] = {"EXEC"};
    const char *const *steps[] = {watch, multi, incr, exec};
    const int argcs[] = {2, 1, 2, 1};
    for (int i = 0; i < 4; i++) {
        redcore_reply *reply = NULL;
        if (redcore_dedicated_command_blocking(held, argcs[i], steps[i], NULL, &reply, &err) !=
            REDCORE_OK) {
            redcore_dedicated_release(held);
            return failed(steps[i][0], err);
        }
        redcore_reply_free(reply);
    }
    printf("  WATCH / MULTI / INCR / EXEC on the key's node: done\n");
    redcore_dedicated_release(held);
    return true;
}

static bool scan_and_fan_out(redcore_client *client) {
    printf("SCAN over every primary, one cursor:\n");
    char cursor[64] = "0";
    size_t found = 0, steps = 0;
    do {
        const char *scan[] = {"SCAN", cursor, "MATCH", "demo:*", "COUNT", "100"};
        redcore_reply *reply = NULL;
        redcore_error *err = NULL;
        if (redcore_client_command_blocking(client, 6, scan, NULL, &reply, &err) != REDCORE_OK) {
            return failed("SCAN", err);
        }
        snprintf(cursor, sizeof cursor, "%s",
                 redcore_reply_string(redcore_reply_element(reply, 0), NULL));
        found += redcore_reply_len(redcore_reply_element(reply, 1));
        redcore_reply_free(reply);
    } while (strcmp(cursor, "0") != 0 && ++steps < 10000);
    printf("  %zu keys matching demo:*\n", found);
    const char *dbsize[] = {"DBSIZE"};
    return run(client, "DBSIZE (every primary)", 1, dbsize);
}

int main(void) {
    const char *url = getenv("REDCORE_CLUSTER_URL");
    if (url == NULL || url[0] == '\0') {
        url = "redis+cluster://127.0.0.1:7000";
    }
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    if (redcore_config_from_url(url, &cfg, &err) != REDCORE_OK) {
        return failed("config", err) ? 0 : 1;
    }
    if (redcore_client_new(cfg, &client, &err) != REDCORE_OK) {
        redcore_config_free(cfg);
        return failed("connect", err) ? 0 : 1;
    }
    redcore_config_free(cfg);
    printf("connected to the cluster at %s\n", url);
    bool ok = keys_across_slots(client) && pipeline_over_every_node(client) &&
              transactions(client) && scan_and_fan_out(client);
    const char *names[] = {"MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "connection retries",
                           "refreshes", "topology changes"};
    printf("what the client met:");
    for (int i = 0; i < 7; i++) {
        uint64_t n = 0;
        if (redcore_client_cluster_counter(client, i, &n, NULL) == REDCORE_OK) {
            printf(" %s %llu;", names[i], (unsigned long long)n);
        }
    }
    printf("\n");
    redcore_client_free(client);
    printf(ok ? "cluster: ok\n" : "cluster: FAILED\n");
    return ok ? 0 : 1;
}
