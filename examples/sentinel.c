/* sentinel.c: a master with replicas, found and followed through Redis Sentinel, with the
 * same redcore_client handle.
 *
 *   1. connect with a redis+sentinel:// URL: the sentinels name the master;
 *   2. a read client (role=replica) spreads its reads over the healthy replicas;
 *   3. SENTINEL FAILOVER while a thread keeps incrementing a counter: the writes wait while
 *      the master is replaced and go on on the new one by themselves; every acknowledged
 *      INCR is counted, and the counter on the new master is checked against that count;
 *   4. a service the sentinels do not know: REDCORE_ERR_MASTER_NOT_FOUND, saying what each
 *      sentinel answered.
 *
 * The sentinels come from REDCORE_SENTINEL_URL (`make demo` starts a master, two replicas and
 * three sentinels with tests/tools/with-sentinel.sh), else
 * redis+sentinel://127.0.0.1:26379/mymaster. Exits 0 on success.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redcore.h"

static bool failed(const char *what, redcore_error *err) {
    fprintf(stderr, "%s: %s: %s\n", what, redcore_error_code_name(redcore_error_get_code(err)),
            redcore_error_message(err));
    redcore_error_free(err);
    return false;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static redcore_client *connect_url(const char *url) {
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    if (redcore_config_from_url(url, &cfg, &err) != REDCORE_OK) {
        failed("config", err);
        return NULL;
    }
    if (redcore_client_new(cfg, &client, &err) != REDCORE_OK) {
        failed("connect", err);
        client = NULL;
    }
    redcore_config_free(cfg);
    return client;
}

/* The port of the node a client's commands reach (from INFO server), or 0. */
static long served_by(redcore_client *client) {
    const char *info[] = {"INFO", "server"};
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    if (redcore_client_command_blocking(client, 2, info, NULL, &reply, &err) != REDCORE_OK) {
        failed("INFO", err);
        return 0;
    }
    const char *text = redcore_reply_string(reply, NULL);
    const char *at = text ? strstr(text, "tcp_port:") : NULL;
    long port = at ? strtol(at + strlen("tcp_port:"), NULL, 10) : 0;
    redcore_reply_free(reply);
    return port;
}

static uint64_t counter(redcore_client *client, redcore_sentinel_counter which) {
    uint64_t n = 0;
    redcore_client_sentinel_counter(client, (int)which, &n, NULL);
    return n;
}

static bool master_and_replicas(redcore_client *master, const char *replica_url) {
    printf("the master, as the sentinels name it: 127.0.0.1:%ld\n", served_by(master));
    const char *set[] = {"SET", "demo:greeting", "hello from the master"};
    const char *wait[] = {"WAIT", "2", "2000"};
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    if (redcore_client_command_blocking(master, 3, set, NULL, &reply, &err) != REDCORE_OK) {
        return failed("SET", err);
    }
    redcore_reply_free(reply);
    if (redcore_client_command_blocking(master, 3, wait, NULL, &reply, &err) != REDCORE_OK) {
        return failed("WAIT", err);
    }
    redcore_reply_free(reply);

    redcore_client *reader = connect_url(replica_url);
    if (reader == NULL) {
        return false;
    }
    printf("a read client (role=replica), six reads:");
    bool ok = true;
    for (int i = 0; i < 6 && ok; i++) {
        printf(" 127.0.0.1:%ld", served_by(reader));
    }
    const char *get[] = {"GET", "demo:greeting"};
    if (redcore_client_command_blocking(reader, 2, get, NULL, &reply, &err) != REDCORE_OK) {
        ok = failed("GET on a replica", err);
    } else {
        printf("\n  GET demo:greeting on a replica: %s\n", redcore_reply_string(reply, NULL));
        redcore_reply_free(reply);
    }
    /* A write to a read client fails as the replica answers it. */
    if (redcore_client_command_blocking(reader, 3, set, NULL, &reply, &err) == REDCORE_OK) {
        redcore_reply_free(reply);
        fprintf(stderr, "a replica accepted a write\n");
        ok = false;
    } else {
        printf("  SET on a replica: %s\n", redcore_error_code_name(redcore_error_get_code(err)));
        redcore_error_free(err);
    }
    redcore_client_free(reader);
    return ok;
}

/* Asks the first sentinel (a plain client to its port) to fail the master over. */
static bool sentinel_failover(const char *sentinel_url) {
    redcore_client *sentinel = connect_url(sentinel_url);
    if (sentinel == NULL) {
        return false;
    }
    const char *failover[] = {"SENTINEL", "FAILOVER", "mymaster"};
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    bool ok = redcore_client_command_blocking(sentinel, 3, failover, NULL, &reply, &err) ==
              REDCORE_OK;
    if (ok) {
        redcore_reply_free(reply);
    } else {
        failed("SENTINEL FAILOVER", err);
    }
    redcore_client_free(sentinel);
    return ok;
}

static bool failover_while_writing(redcore_client *master, const char *sentinel_url) {
    const char *del[] = {"DEL", "demo:counter"};
    const char *incr[] = {"INCR", "demo:counter"};
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    if (redcore_client_command_blocking(master, 2, del, NULL, &reply, &err) != REDCORE_OK) {
        return failed("DEL", err);
    }
    redcore_reply_free(reply);
    long before = served_by(master);
    /* The failover's first steps are published by the sentinel leading it only: wait until
     * the client listens to every sentinel (a moment after it connected). */
    double waited = now_ms();
    while (counter(master, REDCORE_SENTINEL_COUNTER_SUBSCRIBED) <
               counter(master, REDCORE_SENTINEL_COUNTER_SENTINELS) &&
           now_ms() - waited < 5000) {
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 10000000}, NULL);
    }
    printf("failover while writing (listening to %llu sentinels):\n",
           (unsigned long long)counter(master, REDCORE_SENTINEL_COUNTER_SUBSCRIBED));
    long long acknowledged = 0, failures = 0;
    double asked = 0, resumed = 0, started = now_ms();
    /* One writer, here on the main thread: INCR in a loop, for 1.5 s after the new master
     * answered. */
    while (now_ms() - started < 30000) {
        if (acknowledged == 200 && asked == 0) {
            if (!sentinel_failover(sentinel_url)) {
                return false;
            }
            asked = now_ms();
        }
        bool moved = counter(master, REDCORE_SENTINEL_COUNTER_MASTER_CHANGES) > 0;
        if (redcore_client_command_blocking(master, 2, incr, NULL, &reply, &err) == REDCORE_OK) {
            acknowledged++;
            redcore_reply_free(reply);
            if (moved && resumed == 0) {
                resumed = now_ms();
            }
        } else {
            failures++;
            redcore_error_free(err);
        }
        if (resumed != 0 && now_ms() - resumed > 1500) {
            break;
        }
    }
    if (resumed == 0) {
        fprintf(stderr, "the writes did not resume on a new master\n");
        return false;
    }
    long after = served_by(master);
    printf("  master 127.0.0.1:%ld -> 127.0.0.1:%ld; first write on the new master %.0f ms after "
           "SENTINEL FAILOVER; %lld failed meanwhile; commands held during the failover: %llu\n",
           before, after, resumed - asked, failures,
           (unsigned long long)counter(master, REDCORE_SENTINEL_COUNTER_PARKED));
    const char *get[] = {"GET", "demo:counter"};
    if (redcore_client_command_blocking(master, 2, get, NULL, &reply, &err) != REDCORE_OK) {
        return failed("GET", err);
    }
    long long value = strtoll(redcore_reply_string(reply, NULL), NULL, 10);
    redcore_reply_free(reply);
    printf("  %lld INCRs acknowledged; the counter on the new master: %lld\n", acknowledged,
           value);
    /* Every acknowledged INCR is there; a failed one may or may not have run. */
    return before != after && value >= acknowledged && value <= acknowledged + failures;
}

static bool unknown_service(const char *url) {
    char other[512];
    const char *slash = strrchr(url, '/');
    if (slash == NULL || (size_t)(slash - url) + 32 > sizeof other) {
        return false;
    }
    snprintf(other, sizeof other, "%.*s/no-such-service", (int)(slash - url), url);
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    if (redcore_config_from_url(other, &cfg, &err) != REDCORE_OK) {
        return failed("config", err);
    }
    redcore_error_code code = redcore_client_new(cfg, &client, &err);
    redcore_config_free(cfg);
    if (code == REDCORE_OK) {
        redcore_client_free(client);
        fprintf(stderr, "a client was made for a service no sentinel knows\n");
        return false;
    }
    printf("a service no sentinel knows: %s\n  %s\n", redcore_error_code_name(code),
           redcore_error_message(err));
    redcore_error_free(err);
    return code == REDCORE_ERR_MASTER_NOT_FOUND;
}

int main(void) {
    const char *url = getenv("REDCORE_SENTINEL_URL");
    if (url == NULL || url[0] == '\0') {
        url = "redis+sentinel://127.0.0.1:26379/mymaster";
    }
    /* The first sentinel, as a plain server address (for SENTINEL FAILOVER). */
    char sentinel_url[256];
    const char *hosts = strstr(url, "://");
    size_t len = hosts ? strcspn(hosts + 3, ",/") : 0;
    if (len == 0 || len > 200) {
        fprintf(stderr, "cannot read a sentinel address from %s\n", url);
        return 1;
    }
    snprintf(sentinel_url, sizeof sentinel_url, "redis://%.*s", (int)len, hosts + 3);
    char replica_url[512];
    snprintf(replica_url, sizeof replica_url, "%s?role=replica", url);

    redcore_client *master = connect_url(url);
    if (master == NULL) {
        return 1;
    }
    printf("connected through the sentinels at %s\n", url);
    bool ok = master_and_replicas(master, replica_url) &&
              failover_while_writing(master, sentinel_url) && unknown_service(url);
    redcore_client_free(master);
    if (!ok) {
        fprintf(stderr, "sentinel example: FAILED\n");
        return 1;
    }
    printf("sentinel example: ok\n");
    return 0;
}
