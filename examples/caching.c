/* caching.c: a read-heavy catalogue served from the client's own memory.
 *
 * With client-side caching on (redcore_config_set_cache), replies to read-only commands such
 * as GET and HGETALL are kept in the client and answered from there: no round trip. The
 * server tracks which keys this client read (CLIENT TRACKING) and tells it when one changes;
 * the cached reply is dropped and the next read goes to the server. So a price changed by
 * another program is seen one round trip later, never a stale one forever.
 *
 * Connects as connect.h says (RESP3, which caching needs). Exits 0 on success.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "connect.h"
#include "redcore.h"

static uint64_t counter(redcore_client *client, redcore_cache_counter which) {
    uint64_t value = 0;
    redcore_client_cache_counter(client, (int)which, &value, NULL);
    return value;
}

/* HGET product:<id> price, into `price`. */
static int price_of(redcore_client *client, const char *product, char *price, size_t cap) {
    const char *argv[] = {"HGET", product, "price"};
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    if (redcore_client_command_blocking(client, 3, argv, NULL, &reply, &err) != REDCORE_OK) {
        fprintf(stderr, "HGET: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        return 1;
    }
    snprintf(price, cap, "%s", redcore_reply_string(reply, NULL));
    redcore_reply_free(reply);
    return 0;
}

int main(void) {
    /* The shop reads through a cache; the admin, another client, changes prices. */
    redcore_client *shop = connect_client(true);
    redcore_client *admin = connect_client(false);
    if (shop == NULL || admin == NULL) {
        redcore_client_free(shop);
        redcore_client_free(admin);
        return 1;
    }
    int failed = 0;
    const char *setup[] = {"HSET", "product:42", "name", "teapot", "price", "25.00"};
    failed |= command(admin, 6, setup, NULL);

    char price[32];
    for (int i = 0; i < 1000; i++) {
        failed |= price_of(shop, "product:42", price, sizeof price);
    }
    printf("1000 reads of the teapot's price (%s): %llu from the server, %llu from the cache\n",
           price, (unsigned long long)counter(shop, REDCORE_CACHE_COUNTER_MISSES),
           (unsigned long long)counter(shop, REDCORE_CACHE_COUNTER_HITS));
    failed |= counter(shop, REDCORE_CACHE_COUNTER_HITS) != 999;

    const char *sale[] = {"HSET", "product:42", "price", "19.90"};
    failed |= command(admin, 4, sale, NULL);
    /* The invalidation is on its way: one round trip on the shop's connection brings it. */
    const char *ping[] = {"PING"};
    failed |= command(shop, 1, ping, NULL);
    failed |= price_of(shop, "product:42", price, sizeof price);
    printf("after the admin's sale, the shop reads %s (%llu invalidation)\n", price,
           (unsigned long long)counter(shop, REDCORE_CACHE_COUNTER_INVALIDATIONS));
    failed |= strcmp(price, "19.90") != 0;

    redcore_client_free(admin);
    redcore_client_free(shop);
    puts(failed ? "caching: FAILED" : "caching: ok");
    return failed;
}
