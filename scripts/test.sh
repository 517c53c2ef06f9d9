#!/usr/bin/env bash
# The test command: installs what the tests need when it is missing
# (Chromium and chromedriver, SpamAssassin, dkimpy, html-validate), runs
# every test, then runs each fuzz target for 60 seconds. Safe to run again:
# the second time it installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
cargo test --locked --all-targets
scripts/fuzz.sh 60
