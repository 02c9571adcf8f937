/* The async API on systemd's sd-event (adapters/libsdevent.h), against Debian's
 * libsystemd-dev: the cases of adapter_cases.h. */
/* LIBS: -lsystemd */
#include <adapters/libsdevent.h>

#include "adapter_cases.h"

static sd_event *event;

static int attach(redisAsyncContext *c) {
    return redisLibsdeventAttach(c, event);
}

static void turn(void) {
    sd_event_run(event, 100000);
}

int main(void) {
    CHECK(sd_event_new(&event) >= 0);
    run_adapter_cases("sd-event");
    sd_event_unref(event);
    return finish("hiredis async_sdevent_test");
}
