#!/usr/bin/env bash
# Usage: tests/tools/hiredis-test.sh [ARGS FOR hiredis-test...]
#
# Fidelity check of the hiredis-compatible library: builds hiredis's own test program, test.c
# of the hiredis 1.5.0 vendored in PyPI's `hiredis` 3.5.0 source distribution (downloaded with
# pip into build/hiredis-py/ on first use; nothing of it is committed), against our
# include/hiredis and our libhiredis only, starts the servers it expects (TCP, Unix socket,
# TLS when our library has TLS, DEBUG enabled), runs it and prints the pass/fail/skip counts.
#
# Runs in a private network namespace when it can (as root): there test.c's "black hole"
# address (192.168.254.254, for the async connect timeout test) is routed to a veth pair that
# drops everything, and its DNS test fails to resolve without asking any resolver. Without a
# namespace the black hole is a local listener whose accept queue is full (SYNs are dropped),
# and the DNS test asks the system resolver. No test traffic leaves the machine either way.
#
# Environment: HIREDIS_LIB_DIR (default target/hiredis/release), CC, PYTHON (for pip).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
version=3.5.0
cache=$root/build/hiredis-py
work=$root/build/hiredis-test
lib_dir=${HIREDIS_LIB_DIR:-$root/target/hiredis/release}
cc=${CC:-cc}

if [ "${REDCORE_HIREDIS_TEST_INSIDE:-}" != 1 ]; then
    # ---- outside: fetch, build, then run (in a namespace if possible) -------------------------
    for tool in redis-server redis-cli; do
        command -v "$tool" >/dev/null || { echo "hiredis-test: $tool not found" >&2; exit 1; }
    done
    [ -e "$lib_dir/libhiredis.so" ] || { echo "hiredis-test: $lib_dir/libhiredis.so missing; run make" >&2; exit 1; }

    sdist=$cache/hiredis-$version.tar.gz
    if [ ! -f "$sdist" ]; then
        mkdir -p "$cache"
        python=${PYTHON:-$(command -v python3 || command -v python || true)}
        if [ -z "$python" ] || ! "$python" -m pip --version >/dev/null 2>&1; then
            echo "hiredis-test: needs python3 with pip to download the hiredis $version sdist" >&2
            exit 1
        fi
        echo "hiredis-test: downloading the hiredis $version sdist with pip"
        "$python" -m pip download --quiet --no-binary :all: --no-deps "hiredis==$version" -d "$cache"
    fi

    rm -rf "$work"
    mkdir -p "$work"
    # test.c alone, so that its quoted includes cannot find hiredis's own headers.
    tar -xzf "$sdist" -C "$work" --strip-components=3 "hiredis-$version/vendor/hiredis/test.c"

    # Stand-ins for the internal headers test.c includes (hiredis does not install them).
    cat >"$work/fmacros.h" <<'H'
/* Stand-in for hiredis's fmacros.h: feature macros for the POSIX and BSD APIs test.c uses. */
#ifndef REDCORE_TEST_FMACROS_H
#define REDCORE_TEST_FMACROS_H
#define _XOPEN_SOURCE 600
#define _POSIX_C_SOURCE 200112L
#define _DEFAULT_SOURCE
#endif
H
    cat >"$work/sockcompat.h" <<'H'
/* Stand-in for hiredis's sockcompat.h: on POSIX systems, the socket headers. */
#ifndef REDCORE_TEST_SOCKCOMPAT_H
#define REDCORE_TEST_SOCKCOMPAT_H
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#endif
H
    printf '/* Stand-in for hiredis'"'"'s win32.h: nothing to do on POSIX systems. */\n' >"$work/win32.h"
    cat >"$work/net.h" <<'H'
/* Stand-in for hiredis's internal net.h: the one function of it test.c calls, which our
 * libhiredis exports as hiredis's does. */
#ifndef REDCORE_TEST_NET_H
#define REDCORE_TEST_NET_H
#include "hiredis.h"
int redisCheckConnectDone(redisContext *c, int *completed);
#endif
H

    # Where test.c's black hole goes: decided before building, so that without a namespace
    # the program never even knows the real address.
    use_netns=
    if [ -z "${REDCORE_HIREDIS_TEST_NO_NETNS:-}" ] && [ "$(id -u)" = 0 ] &&
        command -v ip >/dev/null && unshare -n true 2>/dev/null; then
        use_netns=1
    else
        sed -i 's/"192\.168\.254\.254"/"127.0.0.2"/' "$work/test.c"
        grep -q '192\.168\.' "$work/test.c" && { echo "hiredis-test: could not redirect the black hole" >&2; exit 1; }
    fi

    defines=()
    libs=()
    if nm -D --defined-only "$lib_dir/libhiredis.so" | grep -w redisCreateSSLContext >/dev/null; then
        defines+=(-DHIREDIS_TEST_SSL)
    else
        echo "hiredis-test: our libhiredis has no TLS yet: test.c is built without its TLS tests"
    fi
    if echo '#include <event2/event.h>' | "$cc" -E -x c - >/dev/null 2>&1; then
        defines+=(-DHIREDIS_TEST_ASYNC)
        libs+=(-levent)
    else
        echo "hiredis-test: libevent headers missing: test.c is built without its libevent tests"
    fi

    cflags=(-std=c99 -O1 -g -Wall -Wextra "${defines[@]}" -I"$work" -I"$root/include/hiredis")
    if "$cc" "${cflags[@]}" -M "$work/test.c" | tr ' ' '\n' | grep -q '^/usr/.*/hiredis/'; then
        echo "hiredis-test: test.c would include a system hiredis header" >&2
        exit 1
    fi
    "$cc" "${cflags[@]}" "$work/test.c" -o "$work/hiredis-test" \
        -L"$lib_dir" -lhiredis -Wl,-rpath,"$lib_dir" "${libs[@]}"

    # Binary compatibility: the same test.c compiled with hiredis's own public headers (from
    # the sdist; it ships no adapters, so ours are used), linked to our library, as a program
    # built against hiredis and run on redcore's libhiredis.
    abi=$work/abi
    mkdir -p "$abi/include/adapters"
    for h in alloc.h async.h hiredis.h read.h sds.h hiredis_ssl.h; do
        tar -xzf "$sdist" -C "$abi/include" --strip-components=3 "hiredis-$version/vendor/hiredis/$h"
    done
    cp "$root/include/hiredis/adapters/poll.h" "$root/include/hiredis/adapters/libevent.h" \
        "$abi/include/adapters/"
    cp "$work"/test.c "$work"/fmacros.h "$work"/sockcompat.h "$work"/win32.h "$work"/net.h "$abi/"
    "$cc" -std=c99 -O1 -g -w "${defines[@]}" -I"$abi" -I"$abi/include" "$abi/test.c" \
        -o "$work/hiredis-test-abi" -L"$lib_dir" -lhiredis -Wl,-rpath,"$lib_dir" "${libs[@]}"

    export REDCORE_HIREDIS_TEST_INSIDE=1 REDCORE_HIREDIS_TEST_WORK=$work
    if [ -n "$use_netns" ]; then
        export REDCORE_HIREDIS_TEST_NETNS=1
        exec unshare -n "$0" "$@"
    fi
    exec "$0" "$@"
fi

# ---- inside: servers, black hole, run, count --------------------------------------------------
work=$REDCORE_HIREDIS_TEST_WORK
dir=$(mktemp -d "${TMPDIR:-/tmp}/redcore-hiredis-test.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

if [ "${REDCORE_HIREDIS_TEST_NETNS:-}" = 1 ]; then
    port=56379
    tls_port=56443
    ip link set lo up
    # A fixed neighbour: SYNs to the black hole go out on the veth and are never answered.
    # Without veth support the address is merely unreachable (the connect fails at once
    # instead of timing out), still inside the namespace.
    if ! { ip link add redcore-bh0 type veth peer name redcore-bh1 &&
        ip addr add 192.168.254.1/24 dev redcore-bh0 &&
        ip link set redcore-bh0 up && ip link set redcore-bh1 up &&
        ip neigh add 192.168.254.254 lladdr 02:00:00:00:00:01 dev redcore-bh0 nud permanent; } 2>/dev/null; then
        echo "hiredis-test: no veth in the namespace: the black hole is an unreachable network" >&2
    fi
else
    free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
    port=$(free_port)
    tls_port=$(free_port)
    # A listener on 127.0.0.2 whose accept queue is kept full: further SYNs are dropped.
    python3 - "$port" <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
listener = socket.socket()
listener.bind(("127.0.0.2", port))
listener.listen(0)
fillers = []
for _ in range(3):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.2", port))
    fillers.append(s)
time.sleep(3600)
PY
    pids+=($!)
    echo "hiredis-test: no network namespace (needs root): the black hole is a full local listener" >&2
fi

sock=$dir/redis.sock
server_args=(--port "$port" --bind 127.0.0.1 --unixsocket "$sock" --unixsocketperm 777
    --save '' --appendonly no --enable-debug-command local --daemonize no
    --dir "$dir" --logfile "$dir/redis.log")
ssl_args=()
if nm "$work/hiredis-test" 2>/dev/null | grep redisCreateSSLContext >/dev/null; then
    # A CA and a server certificate for 127.0.0.1 and hiredis.test.example.com; test.c also
    # presents the server's certificate as its client certificate.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=redcore-test-ca \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=hiredis.test.example.com \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:hiredis.test.example.com,IP:127.0.0.1\n' >"$dir/san.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/san.ext" -out "$dir/server.crt" 2>/dev/null
    server_args+=(--tls-port "$tls_port" --tls-ca-cert-file "$dir/ca.crt"
        --tls-cert-file "$dir/server.crt" --tls-key-file "$dir/server.key")
    ssl_args=(--ssl-host 127.0.0.1 --ssl-port "$tls_port" --ssl-ca-cert "$dir/ca.crt"
        --ssl-cert "$dir/server.crt" --ssl-key "$dir/server.key"
        --ssl-verify-name hiredis.test.example.com)
fi

redis-server "${server_args[@]}" &
pids+=($!)
for _ in $(seq 100); do
    [ "$(redis-cli -s "$sock" ping 2>/dev/null)" = PONG ] && break
    sleep 0.05
done
if [ "$(redis-cli -s "$sock" ping 2>/dev/null)" != PONG ]; then
    echo "hiredis-test: redis-server did not start; its log:" >&2
    tail -n 20 "$dir/redis.log" >&2
    exit 1
fi

status=0
total_passed=0
total_failed=0
total_skipped=0
for program in hiredis-test hiredis-test-abi; do
    case $program in
    hiredis-test) what="built with redcore's include/hiredis" ;;
    *) what="built with hiredis's own headers (binary compatibility)" ;;
    esac
    echo "hiredis-test: ==> hiredis $version's test.c $what, on redcore's libhiredis"
    redis-cli -s "$sock" flushall >/dev/null
    run_status=0
    (cd "$work" && "./$program" -h 127.0.0.1 -p "$port" -s "$sock" "${ssl_args[@]}" "$@") \
        >"$dir/out.txt" 2>&1 || run_status=$?
    # Without colours, for logs.
    sed 's/\x1b\[[0-9;]*m//g' "$dir/out.txt" | tee "$work/$program.txt"
    passed=$(grep -c ': PASSED$' "$work/$program.txt" || true)
    failed=$(grep -c ': FAILED$' "$work/$program.txt" || true)
    skipped=$(grep -c 'SKIPPED$' "$work/$program.txt" || true)
    echo "hiredis-test: $program: $passed passed, $failed failed, $skipped skipped (exit $run_status)"
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped))
    if [ "$run_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
        # A crash or an assert in test.c: count it as a failure.
        total_failed=$((total_failed + 1))
    fi
    [ "$run_status" -eq 0 ] || status=1
done
echo "test-hiredis: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit "$status"
