#!/usr/bin/env bash
# Benchmark: `digest preview` on the repository's glossary, release build.
# Wall time of the whole process (start, load and check every term, select,
# render HTML + text, inline CSS, write both files), measured by hyperfine.
# Usage: scripts/bench-preview.sh            (installs hyperfine if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v hyperfine >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine
fi
cargo build --release --quiet
out=target/bench-preview
mkdir -p "$out"
hyperfine -N --warmup 5 --runs 50 --export-markdown "$out/result.md" \
  "target/release/digest preview --week 2026-W48 --out $out" \
  "target/release/digest preview --week 2026-W48 --role executive --out $out" \
  "target/release/digest terms check"
cat "$out/result.md"
