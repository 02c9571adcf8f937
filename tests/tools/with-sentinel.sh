#!/usr/bin/env bash
# Usage: tests/tools/with-sentinel.sh CMD ARGS...
#
# Runs CMD with a throwaway sentinel topology in a fresh temp dir: a master and two replicas
# (redis-server) watched by three sentinels (redis-sentinel) on free 127.0.0.1 ports, service
# `mymaster`, quorum 2, down-after-milliseconds 1000, failover-timeout 5000. Once every
# sentinel sees the master, both replicas (flagged `slave` only) and the two other sentinels,
# and both replicas are in sync, CMD gets:
#   REDCORE_SENTINEL_URL      redis+sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/mymaster
#   REDCORE_SENTINEL_SERVICE  mymaster
# Everything is stopped and the dir removed however CMD ends; the exit status is CMD's.
set -euo pipefail

if [ $# -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
for tool in redis-server redis-sentinel redis-cli python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "with-sentinel: $tool not found; run tests/tools/ensure-deps.sh (make test does)" >&2
        exit 1
    fi
done

readonly SERVICE=mymaster REPLICAS=2 SENTINELS=3

dir=$(mktemp -d "${TMPDIR:-/tmp}/redcore-sentinel.XXXXXX")
pids=()
cmd_pid=

cleanup() {
    if [ -n "$cmd_pid" ] && kill -0 "$cmd_pid" 2>/dev/null; then
        kill "$cmd_pid" 2>/dev/null || true
        wait "$cmd_pid" 2>/dev/null || true
    fi
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "with-sentinel: $*" >&2
    local log
    for log in "$dir"/*/redis.log; do
        [ -f "$log" ] || continue
        echo "--- $log ---" >&2
        tail -n 15 "$log" >&2
    done
    exit 1
}

# Distinct free ports, one a line (held until all are picked, so none is picked twice).
mapfile -t ports < <(python3 - $((1 + REPLICAS + SENTINELS)) <<'PY'
import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in held))
for s in held:
    s.close()
PY
)
master=${ports[0]}
data=("${ports[@]:0:$((1 + REPLICAS))}")
sentinels=("${ports[@]:$((1 + REPLICAS))}")

# Waits until `redis-cli -p $1 ping` answers PONG (up to 10 s).
wait_pong() {
    local _
    for _ in $(seq 200); do
        [ "$(redis-cli -p "$1" ping 2>/dev/null)" = "PONG" ] && return 0
        sleep 0.05
    done
    fail "127.0.0.1:$1 did not answer PING within 10 s"
}

for port in "${data[@]}"; do
    mkdir -p "$dir/$port"
    replicaof=()
    [ "$port" = "$master" ] || replicaof=(--replicaof 127.0.0.1 "$master")
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        --dir "$dir/$port" --logfile "$dir/$port/redis.log" --repl-diskless-sync-delay 0 \
        "${replicaof[@]}" &
    pids+=($!)
done
wait_pong "$master"
for port in "${sentinels[@]}"; do
    mkdir -p "$dir/$port"
    cat >"$dir/$port/sentinel.conf" <<CONF
sentinel monitor $SERVICE 127.0.0.1 $master 2
sentinel down-after-milliseconds $SERVICE 1000
sentinel failover-timeout $SERVICE 5000
sentinel parallel-syncs $SERVICE 1
CONF
    redis-sentinel "$dir/$port/sentinel.conf" --port "$port" --bind 127.0.0.1 \
        --dir "$dir/$port" --logfile "$dir/$port/redis.log" --daemonize no &
    pids+=($!)
done

# Empty output when the topology is ready; otherwise what is missing.
not_ready() {
    local port state replicas
    for port in "${sentinels[@]}"; do
        state=$(redis-cli -p "$port" sentinel master "$SERVICE" 2>/dev/null | paste -sd' ') || {
            echo "sentinel $port does not answer"
            continue
        }
        [[ " $state " == *" flags master "* ]] || echo "sentinel $port: master not flagged master"
        [[ " $state " == *" num-slaves $REPLICAS "* ]] || echo "sentinel $port: replicas missing"
        [[ " $state " == *" num-other-sentinels $((SENTINELS - 1)) "* ]] ||
            echo "sentinel $port: sentinels missing"
        # A replica a sentinel has just learnt of is `slave,disconnected` until the sentinel's
        # own link to it is up, and clients leave it out of their replica choice meanwhile.
        replicas=$(redis-cli -p "$port" sentinel replicas "$SERVICE" 2>/dev/null | tr -d '\r') ||
            replicas=
        if grep -q '^slave,' <<<"$replicas"; then
            echo "sentinel $port: a replica is flagged down or disconnected"
        fi
    done
    for port in "${data[@]:1}"; do
        redis-cli -p "$port" info replication 2>/dev/null | grep -q '^master_link_status:up' ||
            echo "replica $port not in sync"
    done
}

# Up to ~30 s (about 2 s on a quiet machine), in 50 ms steps.
why=
for _ in $(seq 600); do
    why=$(not_ready | tr -d '\r' | tr '\n' ';')
    [ -z "$why" ] && break
    sleep 0.05
done
[ -z "$why" ] || fail "the sentinels were not ready within 30 s: $why"

hosts=()
for port in "${sentinels[@]}"; do
    hosts+=("127.0.0.1:$port")
done
export REDCORE_SENTINEL_URL="redis+sentinel://$(IFS=,; echo "${hosts[*]}")/$SERVICE"
export REDCORE_SENTINEL_SERVICE=$SERVICE

# In the background so that a TERM sent to this script interrupts `wait` at once; stdin is
# passed on explicitly.
"$@" <&0 &
cmd_pid=$!
status=0
wait "$cmd_pid" || status=$?
cmd_pid=
exit "$status"
