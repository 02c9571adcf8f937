#!/usr/bin/env bash
# Usage: tests/tools/with-cluster.sh CMD ARGS...
#
# Runs CMD with a throwaway Redis Cluster: 3 primaries and 3 replicas on free 127.0.0.1 ports
# (each with its cluster bus port, port + 10000, free too) in a fresh temp dir, node timeout
# 1000 ms. Once every node says cluster_state:ok, all answer the same CLUSTER SLOTS and every
# replica is in sync, CMD gets:
#   REDCORE_CLUSTER_URL   redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3 (the primaries)
#   REDCORE_CLUSTER_HOST  127.0.0.1
#   REDCORE_CLUSTER_PORT  one primary's port (a startup node)
# The nodes are stopped and the dir removed however CMD ends; the exit status is CMD's.
set -euo pipefail

if [ $# -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
for tool in redis-server redis-cli; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "with-cluster: $tool not found; run tests/tools/ensure-deps.sh (make test does)" >&2
        exit 1
    fi
done

readonly PRIMARIES=3 REPLICAS_PER_PRIMARY=1 NODE_TIMEOUT_MS=1000 BUS_OFFSET=10000
readonly NODES=$((PRIMARIES * (1 + REPLICAS_PER_PRIMARY)))

dir=$(mktemp -d "${TMPDIR:-/tmp}/redcore-cluster.XXXXXX")
ports=()
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

# The last lines of every node's log, for a failure message.
show_logs() {
    local i
    for i in $(seq "$NODES"); do
        if [ -f "$dir/$i/redis.log" ]; then
            echo "--- node $i (127.0.0.1:${ports[$((i - 1))]:-?}) ---" >&2
            tail -n 15 "$dir/$i/redis.log" >&2
        fi
    done
}

fail() {
    echo "with-cluster: $*" >&2
    show_logs
    exit 1
}

# $1 distinct free ports, one a line, each with its cluster bus port (+10000) free too.
free_port_pairs() {
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$1" "$BUS_OFFSET" <<'EOF'
import socket, sys
wanted, offset = int(sys.argv[1]), int(sys.argv[2])
held, ports = [], []
for _ in range(1000):
    if len(ports) == wanted:
        break
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    bus = socket.socket()
    try:
        if port + offset > 65535:
            raise OSError("bus port out of range")
        bus.bind(("127.0.0.1", port + offset))
    except OSError:
        s.close()
        bus.close()
        continue
    # Held until all are picked, so that no port is picked twice or as another's bus port.
    held += [s, bus]
    ports.append(port)
for s in held:
    s.close()
if len(ports) < wanted:
    sys.exit("no %d free port pairs in 1000 tries" % wanted)
print("\n".join(map(str, ports)))
EOF
    else
        # No python: random ports below the kernel's ephemeral range (bus ports: 30000-41999).
        for _ in $(seq "$1"); do
            echo $((20000 + RANDOM % 12000))
        done
    fi
}

# Starts node $1 (1-based) on port $2 in the background, without waiting.
launch_node() {
    local i=$1 port=$2 node_dir=$dir/$1
    mkdir -p "$node_dir"
    rm -f "$node_dir/nodes.conf" "$node_dir/redis.sock"
    : >"$node_dir/redis.log"
    redis-server --port "$port" --bind 127.0.0.1 \
        --unixsocket "$node_dir/redis.sock" --unixsocketperm 700 \
        --save '' --appendonly no --daemonize no --dir "$node_dir" --logfile "$node_dir/redis.log" \
        --cluster-enabled yes --cluster-config-file "$node_dir/nodes.conf" \
        --cluster-node-timeout "$NODE_TIMEOUT_MS" --repl-diskless-sync-delay 0 \
        --cluster-allow-replica-migration no &
    pids[i - 1]=$!
    ports[i - 1]=$port
}

# All nodes start at once: a primary's 2 s wait before it serves starts with its process. A
# node whose port was taken before it bound it starts again on a fresh pair.
mapfile -t fresh < <(free_port_pairs "$NODES")
[ ${#fresh[@]} -eq "$NODES" ] || fail "could not find $NODES free port pairs"
for i in $(seq "$NODES"); do
    launch_node "$i" "${fresh[$((i - 1))]}"
done
answered=()
relaunches=0
pending=1
# Up to ~10 s, in 50 ms steps.
for _ in $(seq 200); do
    pending=0
    for i in $(seq "$NODES"); do
        [ -z "${answered[$((i - 1))]:-}" ] || continue
        pid=${pids[$((i - 1))]}
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true
            grep -qi "address already in use" "$dir/$i/redis.log" ||
                fail "redis-server (node $i) exited during start-up"
            relaunches=$((relaunches + 1))
            [ "$relaunches" -le 5 ] || fail "ports were taken from under the nodes 5 times"
            launch_node "$i" "$(free_port_pairs 1)"
            pending=1
        # Asked over its own socket, so that another server already on the port cannot answer.
        elif [ "$(redis-cli -s "$dir/$i/redis.sock" ping 2>/dev/null)" = "PONG" ]; then
            answered[i - 1]=1
        else
            pending=1
        fi
    done
    [ "$pending" = 0 ] && break
    sleep 0.05
done
[ "$pending" = 0 ] || fail "not every node answered PING within 10 s"

addrs=()
for port in "${ports[@]}"; do
    addrs+=("127.0.0.1:$port")
done
if ! redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$REPLICAS_PER_PRIMARY" \
    --cluster-yes >"$dir/create.log" 2>&1; then
    cat "$dir/create.log" >&2
    fail "redis-cli --cluster create failed"
fi

# Empty output when node $1 is ready: cluster_state:ok, knows all nodes (none failing or still
# in handshake), and, as a replica, has its link to the primary up. Otherwise what is missing.
node_not_ready() {
    local port=$1 known
    if ! redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; then
        echo "$port: cluster_state not ok"
        return
    fi
    known=$(redis-cli -p "$port" cluster nodes 2>/dev/null | grep -cvE 'fail|handshake|noaddr' || true)
    if [ "$known" != "$NODES" ]; then
        echo "$port: knows $known healthy nodes of $NODES"
        return
    fi
    if redis-cli -p "$port" info replication 2>/dev/null | grep -q '^role:slave' &&
        ! redis-cli -p "$port" info replication 2>/dev/null | grep -q '^master_link_status:up'; then
        echo "$port: replica not in sync"
    fi
}

# Empty output when the whole cluster is ready (every node ready, one slot map).
cluster_not_ready() {
    local port first_slots slots
    for port in "${ports[@]}"; do
        node_not_ready "$port"
    done
    first_slots=$(redis-cli -p "${ports[0]}" cluster slots 2>&1) || {
        echo "${ports[0]}: no answer to CLUSTER SLOTS"
        return
    }
    for port in "${ports[@]:1}"; do
        slots=$(redis-cli -p "$port" cluster slots 2>&1) || {
            echo "$port: no answer to CLUSTER SLOTS"
            return
        }
        if [ "$slots" != "$first_slots" ]; then
            echo "${ports[0]} and $port answer different slot maps"
        fi
    done
}

# Up to ~30 s (about 2 s on a quiet machine), in 50 ms steps.
why=
for _ in $(seq 600); do
    why=$(cluster_not_ready | tr -d '\r' | tr '\n' ';')
    [ -z "$why" ] && break
    sleep 0.05
done
[ -z "$why" ] || fail "the cluster was not ready within 30 s: $why"

primaries=()
for port in "${ports[@]}"; do
    if redis-cli -p "$port" info replication | grep -q '^role:master'; then
        primaries+=("127.0.0.1:$port")
    fi
done
[ ${#primaries[@]} -eq "$PRIMARIES" ] || fail "expected $PRIMARIES primaries, found: ${primaries[*]}"

export REDCORE_CLUSTER_URL="redis+cluster://$(IFS=,; echo "${primaries[*]}")"
export REDCORE_CLUSTER_HOST=127.0.0.1
export REDCORE_CLUSTER_PORT=${primaries[0]##*:}

# In the background so that a TERM sent to this script interrupts `wait` at once (a foreground
# child would delay the trap until it ended); stdin is passed on explicitly.
"$@" <&0 &
cmd_pid=$!
status=0
wait "$cmd_pid" || status=$?
cmd_pid=
exit "$status"
