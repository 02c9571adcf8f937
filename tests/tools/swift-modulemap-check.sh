#!/usr/bin/env bash
# Usage: tests/tools/swift-modulemap-check.sh
#
# Checks the Swift package's system-library module (bindings/swift/Sources/CRedcore) without
# a Swift toolchain: imports the module with clang's modules from C, as the Swift compiler
# would (`#pragma clang module import CRedcore` is C's spelling of Swift's `import CRedcore`),
# through its module map, and uses a few of its declarations. Then checks that the Swift
# wrapper calls only C functions the header declares.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
module_dir=$root/bindings/swift/Sources/CRedcore
if [ ! -f "$module_dir/module.modulemap" ]; then
    echo "swift-modulemap-check: no $module_dir/module.modulemap" >&2
    exit 1
fi
if ! command -v clang >/dev/null 2>&1; then
    echo "swift-modulemap-check: clang not found; run tests/tools/ensure-deps.sh (make test does)" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/redcore-swift.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/import.c" <<'C'
#pragma clang module import CRedcore

int main(void) {
    redcore_config *cfg = NULL;
    if (redcore_config_new(&cfg) != REDCORE_OK) return 1;
    redcore_config_free(cfg);
    return redcore_error_code_is(REDCORE_ERR_AUTHENTICATION, REDCORE_ERR_CONNECTION) ? 0 : 1;
}
C
# The module map's header is found through the include path, as SwiftPM passes it
# (-I of the installed or in-tree include directory).
clang -std=c11 -Wall -Wextra -Werror -fmodules -fmodules-cache-path="$tmp/cache" \
    -fmodule-map-file="$module_dir/module.modulemap" -I"$root/include" \
    "$tmp/import.c" -o "$tmp/import" -L"$root/target/release" -lredcore \
    -Wl,-rpath,"$root/target/release"
"$tmp/import"

# Every redcore_* function the Swift sources call exists in the header (struct initialisers
# such as redcore_item() are types, not calls).
missing=0
for fn in $(grep -ohE '\bredcore_[a-z_]+\(' "$root"/bindings/swift/Sources/Redcore/*.swift | tr -d '(' | sort -u); do
    if grep -qE "^typedef struct $fn \{" "$root/include/redcore.h"; then
        continue
    fi
    if ! grep -qE "\b$fn\(" "$root/include/redcore.h"; then
        echo "swift-modulemap-check: the Swift wrapper calls $fn, which redcore.h does not declare" >&2
        missing=1
    fi
done
[ $missing -eq 0 ]
echo "swift-modulemap-check: ok (module CRedcore imports from C with -fmodules; the wrapper's C calls exist)"
