#!/usr/bin/env bash
# Usage: tests/tools/ensure-deps.sh [COMMAND|HEADER...]
#
# Installs, with apt-get, whichever of the commands the test suite needs is missing:
# redis-server, redis-sentinel, redis-cli, valgrind, go, pkg-config, openssl, clang and
# clang++ (the C++ tests and the Swift module-map check), cmake (the CMake package check),
# and the headers of the event libraries the hiredis adapter tests use (or only the COMMANDs
# and HEADERs given, e.g. `redis-server redis-cli` for the demo, `openssl openssl/ssl.h
# event2/event.h` for the bench's TLS and async runs).
# Idempotent; prints nothing when everything is already there.
set -euo pipefail

# command -> Debian package that provides it
declare -A package_of=(
    [redis-server]=redis-server
    [redis-sentinel]=redis-sentinel
    [redis-cli]=redis-tools
    [redis-benchmark]=redis-tools
    [valgrind]=valgrind
    [go]=golang-go
    [pkg-config]=pkg-config
    [openssl]=openssl
    [clang]=clang
    [clang++]=clang
    [cmake]=cmake
)
commands=(redis-server redis-sentinel redis-cli valgrind go pkg-config openssl clang clang++ cmake)
# C headers -> Debian package: the hiredis-compatibility tests build against
# adapters/libevent.h and libev.h (checked by default); the bench builds hiredis_ssl against
# OpenSSL (only when asked for).
# The other adapters with tests (libuv, glib, ivykis, sd-event) likewise; glib's headers are
# found through pkg-config (`pkg:NAME` stands for a pkg-config package).
declare -A package_of_header=(
    [event2/event.h]=libevent-dev
    [ev.h]=libev-dev
    [openssl/ssl.h]=libssl-dev
    [uv.h]=libuv1-dev
    [iv.h]=libivykis-dev
    [systemd/sd-event.h]=libsystemd-dev
    [pkg:glib-2.0]=libglib2.0-dev
)
headers=(event2/event.h ev.h uv.h iv.h systemd/sd-event.h pkg:glib-2.0)
if [ $# -gt 0 ]; then
    commands=()
    headers=()
    for arg in "$@"; do
        case $arg in
        *.h | pkg:*) headers+=("$arg") ;;
        *) commands+=("$arg") ;;
        esac
    done
fi

missing=()
for cmd in "${commands[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 && continue
    if [ -z "${package_of[$cmd]-}" ]; then
        echo "ensure-deps: no package known for command '$cmd'" >&2
        exit 2
    fi
    pkg=${package_of[$cmd]}
    # Two commands may come from one package; ask for it once.
    [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
done
for header in "${headers[@]}"; do
    if [ -z "${package_of_header[$header]-}" ]; then
        echo "ensure-deps: no package known for header '$header'" >&2
        exit 2
    fi
    case $header in
    pkg:*) pkg-config --exists "${header#pkg:}" 2>/dev/null && continue ;;
    *) echo "#include <$header>" | "${CC:-cc}" -E -x c - >/dev/null 2>&1 && continue ;;
    esac
    missing+=("${package_of_header[$header]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-deps: missing packages ${missing[*]}, and apt-get is not available; install them by hand" >&2
    exit 1
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "ensure-deps: missing packages ${missing[*]}; not root and no sudo, install them by hand" >&2
        exit 1
    fi
fi

echo "ensure-deps: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"

still_missing=()
for cmd in "${commands[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || still_missing+=("$cmd")
done
if [ ${#still_missing[@]} -gt 0 ]; then
    echo "ensure-deps: still missing after install: ${still_missing[*]}" >&2
    exit 1
fi
