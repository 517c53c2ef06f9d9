#!/usr/bin/env bash
# The test command: installs what the tests need when it is missing, then
# runs every test. Safe to run again; installs nothing the second time.
set -euo pipefail
cd "$(dirname "$0")/.."

# Everything is built and run on this machine; nothing is fetched at test
# time except crates (cargo) on the first build.
cargo test --locked --all-targets
