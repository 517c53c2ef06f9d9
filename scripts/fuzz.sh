#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), starting from the
# committed corpus in fuzz/corpus/TARGET/. Fails if a target crashes,
# panics, hangs (a run over 10 s) or leaks past 2 GB.
#
#   scripts/fuzz.sh              # 60 s per target, as CI does
#   scripts/fuzz.sh 600          # 10 minutes per target
#   scripts/fuzz.sh 600 csv_import
#
# cargo-fuzz drives libFuzzer through rustc flags that are unstable; on a
# stable toolchain RUSTC_BOOTSTRAP=1 allows them for this build only.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(front_matter csv_import address config inbound webhooks)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz@0.13.2
fi

export RUSTC_BOOTSTRAP=1
cd fuzz
cargo fuzz build -O
mkdir -p logs
for target in "${targets[@]}"; do
    echo "fuzz: $target for ${seconds}s" >&2
    mkdir -p "corpus/$target"
    log="logs/$target.log"
    if ! cargo fuzz run -O "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "fuzz: $target failed; the crashing input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units)' "$log" >&2 || true
done
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash" >&2
