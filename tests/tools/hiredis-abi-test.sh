#!/usr/bin/env bash
# Usage: tests/tools/hiredis-abi-test.sh LIBDIR
#
# The ABI each installed libhiredis name promises (make test-install runs this on its install):
# tests/tools/hiredis-abi-check.c is built against hiredis 1.5's headers (include/hiredis) and
# against 1.2 to 1.4's (tests/tools/hiredis-1.2, whose redisSSLOptions lacks verify_name),
# then each build opens every name a program of its headers may have been linked to, and
# passes its own options with poisoned bytes after them, over TLS to a throwaway server. A
# control run checks that the poison is noticed: 1.2's options given to 1.5's file must fail.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
libdir=${1:?usage: $0 LIBDIR}
cc=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/redcore-abi.XXXXXX")
trap 'rm -rf "$work"' EXIT

flags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -D_POSIX_C_SOURCE=200809L)
"$cc" "${flags[@]}" -DABI_CHECK_VERIFY_NAME -I"$root/include/hiredis" \
    "$root/tests/tools/hiredis-abi-check.c" -o "$work/check-1.5" -ldl
"$cc" "${flags[@]}" -I"$root/tests/tools/hiredis-1.2" -I"$root/include/hiredis" \
    "$root/tests/tools/hiredis-abi-check.c" -o "$work/check-1.2" -ldl

# The names a program records, by the headers it was built with (hiredis's Makefile install
# records the full version, its CMake install libhiredis.so.1; -lhiredis finds libhiredis.so).
old=(libhiredis.so.1.1.0 libhiredis.so.1.3.0 libhiredis.so.1.4.0
    libhiredis_ssl.so.1.1.0 libhiredis_ssl.so.1.3.0 libhiredis_ssl.so.1.4.0)
new=(libhiredis.so.1.5.0 libhiredis.so.1 libhiredis.so
    libhiredis_ssl.so.1.5.0 libhiredis_ssl.so.1 libhiredis_ssl.so)

cat >"$work/run.sh" <<'SH'
set -u
work=$1 libdir=$2 root=$3
shift 3
status=0
while [ $# -gt 0 ]; do
    build=$1 name=$2
    shift 2
    "$work/check-$build" "$libdir/$name" || status=1
done
# Under valgrind, with no poison: any read past 1.2's 48 bytes is an error.
if ! ABI_CHECK_EXACT=1 valgrind --quiet --error-exitcode=99 --leak-check=no \
    --suppressions="$root/tests/tools/valgrind.supp" \
    "$work/check-1.2" "$libdir/libhiredis.so.1.1.0" >/dev/null; then
    echo "hiredis-abi-test: libhiredis.so.1.1.0 read past hiredis 1.2's redisSSLOptions (valgrind)" >&2
    status=1
fi
# The control: 1.5's file reads 56 bytes, so 1.2's options (and the poison after them) fail.
if bash -c '"$0" "$1"; exit $?' "$work/check-1.2" "$libdir/libhiredis.so.1.5.0" >/dev/null 2>&1; then
    echo "hiredis-abi-test: control failed: 1.2's options on 1.5's file went unnoticed" >&2
    status=1
fi
exit $status
SH
pairs=()
for name in "${old[@]}"; do pairs+=(1.2 "$name"); done
for name in "${new[@]}"; do pairs+=(1.5 "$name"); done
"$root/tests/tools/with-redis.sh" bash "$work/run.sh" "$work" "$libdir" "$root" "${pairs[@]}"
echo "hiredis-abi-test: ok (${#old[@]} names read hiredis 1.2's layout, ${#new[@]} read 1.5's, poison unread)"
