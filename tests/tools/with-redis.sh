#!/usr/bin/env bash
# Usage: tests/tools/with-redis.sh CMD ARGS...
#
# Runs CMD with a throwaway redis-server on a free 127.0.0.1 port (and a Unix socket) in a fresh
# temp dir, exported to it as REDCORE_TEST_HOST, REDCORE_TEST_PORT, REDCORE_TEST_UNIX and
# REDCORE_TEST_URL. The server is stopped and the dir removed however CMD ends; the exit status
# is CMD's.
set -euo pipefail

if [ $# -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
for tool in redis-server redis-cli; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "with-redis: $tool not found; run tests/tools/ensure-deps.sh (make test does)" >&2
        exit 1
    fi
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/redcore-redis.XXXXXX")
server_pid=
cmd_pid=

cleanup() {
    if [ -n "$cmd_pid" ] && kill -0 "$cmd_pid" 2>/dev/null; then
        kill "$cmd_pid" 2>/dev/null || true
        wait "$cmd_pid" 2>/dev/null || true
    fi
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        # No python: a random port in a range the kernel does not hand out as ephemeral.
        echo $((20000 + RANDOM % 12000))
    fi
}

# Starts the server on a fresh port; returns 0 when it answers PING, 1 when it could not bind
# (worth another port), and exits the script on any other failure.
start_server() {
    port=$(free_port)
    : >"$dir/redis.log"
    redis-server --port "$port" --bind 127.0.0.1 \
        --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
        --save '' --appendonly no --enable-debug-command local --daemonize no \
        --dir "$dir" --logfile "$dir/redis.log" &
    server_pid=$!
    # Up to ~5 s, in 50 ms steps.
    for _ in $(seq 100); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            wait "$server_pid" 2>/dev/null || true
            server_pid=
            if grep -qi "address already in use" "$dir/redis.log"; then
                return 1
            fi
            echo "with-redis: redis-server exited during start-up; its log:" >&2
            tail -n 20 "$dir/redis.log" >&2
            exit 1
        fi
        # Asked over our own socket, so that another server already on the port cannot answer.
        if [ "$(redis-cli -s "$dir/redis.sock" ping 2>/dev/null)" = "PONG" ]; then
            return 0
        fi
        sleep 0.05
    done
    echo "with-redis: redis-server on 127.0.0.1:$port did not answer PING within 5 s; its log:" >&2
    tail -n 20 "$dir/redis.log" >&2
    exit 1
}

started=
for _ in 1 2 3 4 5; do
    if start_server; then
        started=1
        break
    fi
done
if [ -z "$started" ]; then
    echo "with-redis: no free port found after 5 tries" >&2
    exit 1
fi

export REDCORE_TEST_HOST=127.0.0.1
export REDCORE_TEST_PORT=$port
export REDCORE_TEST_UNIX=$dir/redis.sock
export REDCORE_TEST_URL=redis://127.0.0.1:$port

# In the background so that a TERM sent to this script interrupts `wait` at once (a foreground
# child would delay the trap until it ended); stdin is passed on explicitly.
"$@" <&0 &
cmd_pid=$!
status=0
wait "$cmd_pid" || status=$?
cmd_pid=
exit "$status"
