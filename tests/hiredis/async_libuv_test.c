/* The async API on libuv (adapters/libuv.h), against Debian's libuv1-dev: the cases of
 * adapter_cases.h. */
/* LIBS: -luv */
#include <adapters/libuv.h>

#include "adapter_cases.h"

static uv_loop_t *loop;

static int attach(redisAsyncContext *c) {
    return redisLibuvAttach(c, loop);
}

/* One turn, woken within 100 ms by a timer when nothing else happens. */
static void on_tick(uv_timer_t *t) {
    (void)t;
}

static void turn(void) {
    static uv_timer_t tick;
    static int ready;
    if (!ready) {
        uv_timer_init(loop, &tick);
        ready = 1;
    }
    uv_timer_start(&tick, on_tick, 100, 0);
    uv_run(loop, UV_RUN_ONCE);
    uv_timer_stop(&tick);
}

static void close_handle(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(void) {
    loop = uv_default_loop();
    run_adapter_cases("libuv");
    /* What the adapter closed is freed by the loop's next turns. */
    uv_walk(loop, close_handle, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(loop) == 0);
    return finish("hiredis async_libuv_test");
}
