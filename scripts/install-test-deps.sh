#!/usr/bin/env bash
# Installs what the tests need beyond cargo, when it is missing (Debian or
# Ubuntu, through apt). Safe to run again: when everything is present it
# prints nothing, touches nothing and exits 0.
#
# Each check below is one line in CHECKS: a test (a shell command that
# succeeds when the tool is present) and the Debian packages that provide it.
# Add a line for every new tool the tests use.
set -euo pipefail

CHECKS=(
    # The browser tests (tests/cli/browser.rs) drive headless Chromium
    # through chromedriver, at these exact paths.
    "test -x /usr/bin/chromium|chromium"
    "test -x /usr/bin/chromedriver|chromium-driver"
    # The deliverability test scores a sent issue with SpamAssassin
    # (local rules only) and validates its HTML with html-validate (npm).
    "command -v spamassassin|spamassassin"
    "command -v npm|npm"
    "command -v python3|python3"
    "python3 -m pip --version|python3-pip"
)

# build.rs looks for the same tools to mark the tests that need a missing
# one as ignored; after an install it must look again.
root="$(cd "$(dirname "$0")/.." && pwd)"
installed=0
look_again() {
    if [ "$installed" -eq 1 ]; then
        touch "$root/build.rs"
    fi
}

missing=()
for check in "${CHECKS[@]}"; do
    test_command=${check%%|*}
    packages=${check#*|}
    if ! bash -c "$test_command" >/dev/null 2>&1; then
        for package in $packages; do
            case " ${missing[*]-} " in
                *" $package "*) ;;
                *) missing+=("$package") ;;
            esac
        done
    fi
done

python_and_node() {
    # dkimpy (with PyNaCl for Ed25519) verifies DKIM signatures in the send
    # and deliverability tests, as an independent verifier.
    if ! python3 -c 'import dkim, nacl' >/dev/null 2>&1; then
        echo "install-test-deps: installing dkimpy and pynacl (pip)" >&2
        python3 -m pip install -q dkimpy==1.1.8 pynacl==1.5.0 \
            || python3 -m pip install -q --break-system-packages dkimpy==1.1.8 pynacl==1.5.0
        installed=1
    fi
    # html-validate, into the build folder rather than globally.
    local tools
    tools="$root/target/test-tools"
    if [ ! -x "$tools/node_modules/.bin/html-validate" ]; then
        echo "install-test-deps: installing html-validate (npm) into $tools" >&2
        mkdir -p "$tools"
        (cd "$tools" && npm install --silent --no-audit --no-fund html-validate@9.7.1 >/dev/null)
        installed=1
    fi
}

if [ ${#missing[@]} -eq 0 ]; then
    python_and_node
    look_again
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: missing ${missing[*]}, and there is no apt-get here: install them by hand" >&2
    exit 1
fi

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "install-test-deps: installing ${missing[*]} needs root (or sudo)" >&2
        exit 1
    fi
}

echo "install-test-deps: installing ${missing[*]}" >&2
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
installed=1

# Check again: a package that installed but did not provide the tool is an error.
for check in "${CHECKS[@]}"; do
    test_command=${check%%|*}
    if ! bash -c "$test_command" >/dev/null 2>&1; then
        echo "install-test-deps: still failing after the install: $test_command" >&2
        exit 1
    fi
done

python_and_node
look_again
