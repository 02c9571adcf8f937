/* The async API on ivykis (adapters/ivykis.h), against Debian's libivykis-dev: the cases of
 * adapter_cases.h. */
/* LIBS: -livykis */
#include <adapters/ivykis.h>

#include "adapter_cases.h"

static int attach(redisAsyncContext *c) {
    return redisIvykisAttach(c);
}

static void on_tick(void *data) {
    (void)data;
    iv_quit();
}

/* ivykis runs until iv_quit(): a 100 ms timer ends each turn (or the loop ends by itself when
 * nothing is registered). */
static void turn(void) {
    struct iv_timer tick;
    IV_TIMER_INIT(&tick);
    iv_validate_now();
    tick.expires = iv_now;
    tick.expires.tv_nsec += 100000000L;
    if (tick.expires.tv_nsec >= 1000000000L) {
        tick.expires.tv_sec++;
        tick.expires.tv_nsec -= 1000000000L;
    }
    tick.handler = on_tick;
    iv_timer_register(&tick);
    iv_main();
    if (iv_timer_registered(&tick))
        iv_timer_unregister(&tick);
}

int main(void) {
    iv_init();
    run_adapter_cases("ivykis");
    iv_deinit();
    return finish("hiredis async_ivykis_test");
}
