#!/usr/bin/env bash
# Usage: tests/tools/fuzz.sh [SECONDS] [TARGET...]
#
# Runs each fuzz target of fuzz/ (cargo-fuzz, libFuzzer with AddressSanitizer) for SECONDS
# (default 60), one after another, seeded from the decoder's wire-example tables and
# fuzz/seeds/, keeping what it learns in fuzz/corpus/. Prints each target's execution count.
# A crash stops the run with the input in fuzz/artifacts/TARGET/: turn it into a regression
# test next to the code it broke.
#
# Needs a nightly toolchain (`cargo +nightly`), or stable with RUSTC_BOOTSTRAP=1, and
# cargo-fuzz, which is installed from crates.io when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(decoder c_reader url hiredis_reader hiredis_format)
fi

if rustup run nightly rustc --version >/dev/null 2>&1; then
    cargo_fuzz=(cargo +nightly fuzz)
else
    echo "fuzz: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
    export RUSTC_BOOTSTRAP=1
    cargo_fuzz=(cargo fuzz)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io"
    cargo install --quiet cargo-fuzz || {
        echo "fuzz: cannot install cargo-fuzz (cargo install cargo-fuzz); fuzzing NOT run" >&2
        exit 1
    }
fi
if ! command -v c++ >/dev/null 2>&1; then
    echo "fuzz: libFuzzer is built from source and needs a C++ compiler (apt-get install g++)" >&2
    exit 1
fi

# Seeds: the decoder's wire examples (written by a unit test) and the files in fuzz/seeds.
REDCORE_FUZZ_SEEDS="$PWD/fuzz/corpus" cargo test --quiet --lib write_fuzz_seeds >/dev/null
for dir in fuzz/seeds/*/; do
    name=$(basename "$dir")
    mkdir -p "fuzz/corpus/$name"
    cp -n "$dir"* "fuzz/corpus/$name/" 2>/dev/null || true
done

"${cargo_fuzz[@]}" build -O --fuzz-dir fuzz
summary=()
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    log=$(mktemp)
    echo "==> fuzz $target for ${seconds}s"
    if ! "${cargo_fuzz[@]}" run -O --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target/" >&2
        rm -f "$log"
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
    rm -f "$log"
    echo "    $target: $runs executions in ${seconds}s ($rate/s), corpus $corpus inputs, no crash"
    summary+=("$target: $runs executions in ${seconds}s, no crash")
done
echo "fuzz: all targets ran"
printf '  %s\n' "${summary[@]}"
