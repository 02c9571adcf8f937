/* pubsub.c: a subscriber that keeps listening through a dropped connection.
 *
 * A subscriber (redcore_pubsub) has connections of its own, so a slow consumer never holds up
 * the client's other commands. Its messages go to a callback on the subscriber's own thread.
 * When its connection drops, it reconnects and subscribes again by itself; once the server
 * has confirmed every subscription, a RESUBSCRIBED event says that messages published in the
 * meantime were lost (Redis pub/sub keeps nothing for absent subscribers: use streams for
 * that). Here the server drops the connection on purpose (CLIENT KILL TYPE pubsub), as a
 * failing network or a restarted server would.
 *
 * Then the polling form: a second subscriber taking messages with redcore_pubsub_get_message.
 * Connects as connect.h says. Exits 0 on success.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep: also under -std=c11 */

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connect.h"
#include "redcore.h"

typedef struct {
    atomic_int messages;
    atomic_int resubscribed;
} counts;

static const char *kind_name(redcore_pubsub_kind kind) {
    switch (kind) {
    case REDCORE_PUBSUB_KIND_MESSAGE:
        return "message";
    case REDCORE_PUBSUB_KIND_PMESSAGE:
        return "pmessage";
    case REDCORE_PUBSUB_KIND_SMESSAGE:
        return "smessage";
    default:
        return "event";
    }
}

/* Runs on the subscriber's thread; the message is lent until it returns. */
static void on_message(void *userdata, const redcore_pubsub_message *m) {
    counts *c = userdata;
    size_t channel_len = 0, payload_len = 0;
    const char *channel = redcore_pubsub_message_channel(m, &channel_len);
    const char *pattern = redcore_pubsub_message_pattern(m, NULL);
    const char *payload = redcore_pubsub_message_payload(m, &payload_len);
    printf("  %-8s %.*s%s%s%s: %.*s\n", kind_name(redcore_pubsub_message_kind(m)),
           (int)channel_len, channel, pattern ? " (" : "", pattern ? pattern : "",
           pattern ? ")" : "", (int)payload_len, payload);
    atomic_fetch_add(&c->messages, 1);
}

static void on_event(void *userdata, const redcore_pubsub_message *m) {
    counts *c = userdata;
    const redcore_error *why = redcore_pubsub_message_error(m);
    switch (redcore_pubsub_message_kind(m)) {
    case REDCORE_PUBSUB_KIND_RESUBSCRIBED:
        printf("  gap: subscribed again after \"%s\"; messages sent meanwhile were lost\n",
               redcore_error_message(why));
        atomic_fetch_add(&c->resubscribed, 1);
        break;
    case REDCORE_PUBSUB_KIND_DROPPED:
        printf("  too slow: %llu messages dropped\n",
               (unsigned long long)redcore_pubsub_message_dropped(m));
        break;
    default:
        printf("  closed: %s\n", redcore_error_message(why));
    }
}

/* PUBLISH: how many subscribers got it (-1 on an error). */
static long long publish(redcore_client *client, const char *channel, const char *payload) {
    const char *argv[] = {"PUBLISH", channel, payload};
    long long receivers = -1;
    command(client, 3, argv, &receivers);
    return receivers;
}

/* Waits up to 10 s for `*counter` to reach `target`. */
static int wait_until(atomic_int *counter, int target) {
    struct timespec tick = {0, 1000000};
    for (int i = 0; i < 10000 && atomic_load(counter) < target; i++) {
        nanosleep(&tick, NULL);
    }
    return atomic_load(counter) >= target;
}

static int with_callbacks(redcore_client *client) {
    counts c = {0};
    redcore_pubsub *subscriber = NULL;
    redcore_error *err = NULL;
    if (redcore_pubsub_new(client, NULL, &subscriber, &err) != REDCORE_OK ||
        redcore_pubsub_set_callbacks(subscriber, on_message, on_event, &c, NULL, &err) !=
            REDCORE_OK) {
        fprintf(stderr, "subscriber: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        redcore_pubsub_free(subscriber);
        return 1;
    }
    const char *channels[] = {"orders"};
    const char *patterns[] = {"prices.*"};
    /* Each call returns once the server has confirmed it. */
    if (redcore_pubsub_subscribe(subscriber, 1, channels, NULL, &err) != REDCORE_OK ||
        redcore_pubsub_psubscribe(subscriber, 1, patterns, NULL, &err) != REDCORE_OK) {
        fprintf(stderr, "subscribe: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        redcore_pubsub_free(subscriber);
        return 1;
    }
    puts("subscribed to orders and prices.*");
    publish(client, "orders", "order 1: 3 apples");
    publish(client, "prices.apples", "1.20");
    int ok = wait_until(&c.messages, 2);

    puts("the server drops the subscriber's connection...");
    const char *kill[] = {"CLIENT", "KILL", "TYPE", "pubsub"};
    command(client, 4, kill, NULL);
    ok = ok && wait_until(&c.resubscribed, 1);
    /* Nothing to do: the subscriptions are back. */
    ok = ok && publish(client, "orders", "order 2: 5 pears") == 1;
    ok = ok && wait_until(&c.messages, 3);
    redcore_pubsub_free(subscriber); /* joins its thread: no callback after this */
    return ok ? 0 : 1;
}

static int polling(redcore_client *client) {
    redcore_pubsub *subscriber = NULL;
    redcore_error *err = NULL;
    const char *channels[] = {"alerts"};
    if (redcore_pubsub_new(client, NULL, &subscriber, &err) != REDCORE_OK ||
        redcore_pubsub_subscribe(subscriber, 1, channels, NULL, &err) != REDCORE_OK) {
        fprintf(stderr, "polling subscriber: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        redcore_pubsub_free(subscriber);
        return 1;
    }
    puts("polling alerts:");
    publish(client, "alerts", "disk 91% full");
    publish(client, "alerts", "disk 97% full");
    int got = 0;
    for (;;) {
        redcore_pubsub_message *m = NULL;
        /* Waits up to 200 ms; OK with NULL when nothing came. */
        if (redcore_pubsub_get_message(subscriber, 200, &m, &err) != REDCORE_OK) {
            fprintf(stderr, "get_message: %s\n", redcore_error_message(err));
            redcore_error_free(err);
            break;
        }
        if (m == NULL) {
            break;
        }
        size_t len = 0;
        const char *payload = redcore_pubsub_message_payload(m, &len);
        printf("  %.*s\n", (int)len, payload);
        got++;
        redcore_pubsub_message_free(m);
    }
    redcore_pubsub_free(subscriber);
    return got == 2 ? 0 : 1;
}

int main(void) {
    redcore_client *client = connect_client(false);
    if (client == NULL) {
        return 1;
    }
    int failed = with_callbacks(client) || polling(client);
    redcore_client_free(client);
    puts(failed ? "pubsub: FAILED" : "pubsub: ok");
    return failed;
}
