#!/usr/bin/env bash
# Usage: tests/tools/with-redis.sh CMD ARGS...
#
# Runs CMD with a throwaway redis-server on a free 127.0.0.1 port (and a Unix socket) in a fresh
# temp dir, exported to it as REDCORE_TEST_HOST, REDCORE_TEST_PORT, REDCORE_TEST_UNIX and
# REDCORE_TEST_URL. The server is stopped and the dir removed however CMD ends; the exit status
# is CMD's.
#
# When openssl is installed, the same server also listens with TLS on a second port, with a CA,
# server certificate (SAN localhost, 127.0.0.1) and client certificate generated here (client
# certificates are optional): REDCORE_TEST_TLS_PORT, REDCORE_TEST_TLS_CA, REDCORE_TEST_TLS_CERT
# and REDCORE_TEST_TLS_KEY (the client's). Without openssl those stay unset.
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

# EC P-256 CA, server and client certificates in $dir/tls (about 0.1 s).
generate_certs() {
    local t=$dir/tls
    mkdir -p "$t"
    (
        cd "$t"
        openssl ecparam -name prime256v1 -genkey -noout -out ca.key
        openssl req -x509 -new -key ca.key -sha256 -days 2 -subj /CN=redcore-test-ca -out ca.crt
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
        printf 'extendedKeyUsage=clientAuth\n' >client.ext
        for who in server client; do
            openssl ecparam -name prime256v1 -genkey -noout -out "$who.key"
            openssl req -new -key "$who.key" -subj "/CN=redcore-test-$who" -out "$who.csr"
            openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
                -sha256 -extfile "$who.ext" -out "$who.crt"
        done
    ) >/dev/null 2>&1
}

tls_args=()
if command -v openssl >/dev/null 2>&1 && generate_certs; then
    tls_args=(--tls-cert-file "$dir/tls/server.crt" --tls-key-file "$dir/tls/server.key"
        --tls-ca-cert-file "$dir/tls/ca.crt" --tls-auth-clients optional)
fi

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
    tls_port=
    local tls_listen=()
    if [ ${#tls_args[@]} -gt 0 ]; then
        tls_port=$(free_port)
        while [ "$tls_port" = "$port" ]; do tls_port=$(free_port); done
        tls_listen=(--tls-port "$tls_port" "${tls_args[@]}")
    fi
    : >"$dir/redis.log"
    redis-server --port "$port" --bind 127.0.0.1 "${tls_listen[@]}" \
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
if [ -n "$tls_port" ]; then
    export REDCORE_TEST_TLS_PORT=$tls_port
    export REDCORE_TEST_TLS_CA=$dir/tls/ca.crt
    export REDCORE_TEST_TLS_CERT=$dir/tls/client.crt
    export REDCORE_TEST_TLS_KEY=$dir/tls/client.key
fi

# In the background so that a TERM sent to this script interrupts `wait` at once (a foreground
# child would delay the trap until it ended); stdin is passed on explicitly.
"$@" <&0 &
cmd_pid=$!
status=0
wait "$cmd_pid" || status=$?
cmd_pid=
exit "$status"
