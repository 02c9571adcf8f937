#!/usr/bin/env bash
# Usage: tests/tools/hiredis-adapters-check.sh
#
# The event-loop adapters that the C tests in tests/hiredis cannot cover (make test-hiredis-c
# runs this after them; libuv, glib, ivykis, sd-event, libev, libevent and poll have tests of
# their own there):
#  - qt.h (C++): tests/hiredis/cpp/async_qt_test.cpp built against Qt 5 and run against a
#    throwaway server, when Qt's development files are installed (qtbase5-dev);
#  - ae.h and redismoduleapi.h need Redis's own source tree (ae.h, redismodule.h): compiled,
#    not run, against REDIS_SRC (a Redis source tree's src/; `make bench` fetches one into
#    build/bench), when there is one;
#  - libhv.h: compiled when libhv's headers are installed (Debian does not package libhv).
# Prints what it checked and what it could not.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
lib_dir=${HIREDIS_LIB_DIR:-$root/target/hiredis/release}
out=$root/build/hiredis-tests
mkdir -p "$out"
cflags=(-Wall -Wextra -Werror -g -I"$root/include/hiredis" -I"$root/include")
link=(-L"$lib_dir" -lhiredis -Wl,-rpath,"$lib_dir")
checked=()
missing=()

if pkg-config --exists Qt5Core 2>/dev/null; then
    # No -Wpedantic: sds.h's flexible array members are C99, which ISO C++ lacks (hiredis's
    # own sds.h has them too).
    g++ -std=c++17 -fPIC "${cflags[@]}" $(pkg-config --cflags Qt5Core) \
        "$root/tests/hiredis/cpp/async_qt_test.cpp" -o "$out/async_qt_test" "${link[@]}" \
        $(pkg-config --libs Qt5Core)
    "$root/tests/tools/with-redis.sh" "$out/async_qt_test"
    checked+=("qt (run)")
else
    missing+=("qt (no Qt5Core; apt-get install qtbase5-dev)")
fi

redis_src=${REDIS_SRC:-}
if [ -z "$redis_src" ]; then
    redis_src=$(ls -d "$root"/build/bench/redis-*/src 2>/dev/null | head -n 1 || true)
fi
if [ -n "$redis_src" ] && [ -f "$redis_src/ae.h" ] && [ -f "$redis_src/redismodule.h" ]; then
    printf '#include <adapters/ae.h>\nint main(void) { aeEventLoop *l = aeCreateEventLoop(64); redisAsyncContext *c = redisAsyncConnect("127.0.0.1", 6379); return redisAeAttach(l, c); }\n' \
        >"$out/ae_check.c"
    cc -std=c11 -Wpedantic "${cflags[@]}" -D_POSIX_C_SOURCE=200809L -I"$redis_src" -fsyntax-only "$out/ae_check.c"
    printf '#include <adapters/redismoduleapi.h>\nint RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {\n  (void)argv; (void)argc;\n  if (RedisModule_Init(ctx, "check", 1, REDISMODULE_APIVER_1) != REDISMODULE_OK || redisModuleCompatibilityCheck() != REDIS_OK) return REDISMODULE_ERR;\n  redisAsyncContext *c = redisAsyncConnect("127.0.0.1", 6379);\n  return redisModuleAttach(c, ctx) == REDIS_OK ? REDISMODULE_OK : REDISMODULE_ERR;\n}\n' \
        >"$out/redismoduleapi_check.c"
    cc -std=c11 -Wpedantic "${cflags[@]}" -D_POSIX_C_SOURCE=200809L -I"$redis_src" -fsyntax-only "$out/redismoduleapi_check.c"
    checked+=("ae (compiled)" "redismoduleapi (compiled)")
else
    missing+=("ae, redismoduleapi (no Redis source tree: set REDIS_SRC)")
fi

if echo '#include <hv/hloop.h>' | cc -E -x c - >/dev/null 2>&1; then
    printf '#include <adapters/libhv.h>\nint main(void) { hloop_t *l = hloop_new(0); redisAsyncContext *c = redisAsyncConnect("127.0.0.1", 6379); return redisLibhvAttach(c, l); }\n' \
        >"$out/libhv_check.c"
    cc -std=c11 "${cflags[@]}" -D_POSIX_C_SOURCE=200809L -fsyntax-only "$out/libhv_check.c"
    checked+=("libhv (compiled)")
else
    missing+=("libhv (no libhv headers; Debian does not package it)")
fi

echo "hiredis-adapters-check: checked ${checked[*]:-nothing}"
if [ ${#missing[@]} -gt 0 ]; then
    printf 'hiredis-adapters-check: NOT checked here: %s\n' "${missing[@]}"
fi
