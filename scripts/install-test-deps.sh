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
    # The browser tests (tests/cli/browser/) drive headless Chromium
    # through chromedriver, at these exact paths.
    "test -x /usr/bin/chromium|chromium"
    "test -x /usr/bin/chromedriver|chromium-driver"
    # The deliverability test scores a sent issue with SpamAssassin
    # (local rules only) and validates its HTML with html-validate (npm).
    "command -v spamassassin|spamassassin"
    "command -v npm|npm"
    "command -v python3|python3"
    "python3 -m pip --version|python3-pip"
    # The inbound tests (tests/cli/inbound/) run a private Postfix
    # (tests/cli/support/postfix.rs, used by inbound/mta.rs) that turns mail
    # for unknown users into real DSNs and pipes them into `digest inbound`,
    # and a private Dovecot IMAP server (tests/cli/support/dovecot.rs, used
    # by inbound/imap.rs) that `digest inbound --imap` reads. The tests start
    # both with their own config in a temporary folder; the system's own
    # mail services are left unconfigured and stopped (see
    # stop_system_mail_services below).
    "test -x /usr/sbin/postfix|postfix"
    "test -x /usr/lib/dovecot/imap|dovecot-imapd"
    # The SES webhook tests (tests/cli/webhooks/ses.rs) make their CA, TLS
    # and SNS signing keys with openssl and sign with it; the stand-in SNS
    # host is Python's http.server over ssl.
    "command -v openssl|openssl"
    # The doctor tests (tests/cli/doctor.rs) serve the sender's DNS records
    # from a private dnsmasq (tests/cli/support/dnsmasq.rs) on a 127.0.0.1
    # port. dnsmasq-base is the program alone, without a system service.
    "test -x /usr/sbin/dnsmasq|dnsmasq-base"
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
    # flufl.bounce (Mailman's bounce detectors) reads the bounces of the
    # inbound tests (tests/cli/inbound/corpus.rs, through
    # tests/fixtures/inbound/flufl_check.py), as an independent parser.
    if ! python3 -c 'import flufl.bounce' >/dev/null 2>&1; then
        echo "install-test-deps: installing flufl.bounce (pip)" >&2
        python3 -m pip install -q flufl.bounce==6.0.0 atpublic==9.0.0 \
            || python3 -m pip install -q --break-system-packages flufl.bounce==6.0.0 atpublic==9.0.0
        installed=1
    fi
    # feedparser reads the archive's Atom feed in the serve tests
    # (tests/cli/serve.rs), as an independent parser.
    if ! python3 -c 'import feedparser' >/dev/null 2>&1; then
        echo "install-test-deps: installing feedparser (pip)" >&2
        python3 -m pip install -q feedparser==6.0.11 sgmllib3k==1.0.0 \
            || python3 -m pip install -q --break-system-packages feedparser==6.0.11 sgmllib3k==1.0.0
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
    # doiuse-email checks the issue's HTML against the caniemail data
    # (tests/cli/clients.rs).
    if [ ! -f "$tools/node_modules/@jsx-email/doiuse-email/package.json" ]; then
        echo "install-test-deps: installing doiuse-email (npm) into $tools" >&2
        mkdir -p "$tools"
        (cd "$tools" && npm install --silent --no-audit --no-fund @jsx-email/doiuse-email@1.0.4 >/dev/null)
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

# The tests start their own Postfix and Dovecot; the packages' system
# services must not run (they would hold ports 25, 143 and 993 and deliver
# mail for the machine). Postfix is told to configure nothing, so the package
# writes no /etc/postfix/main.cf and its service has nothing to start.
wants() {
    case " ${missing[*]} " in
        *" $1 "*) return 0 ;;
        *) return 1 ;;
    esac
}
stop_system_mail_services() {
    local unit
    if [ -d /run/systemd/system ]; then
        for unit in postfix.service dovecot.service dovecot.socket; do
            as_root systemctl disable --now --quiet "$unit" >/dev/null 2>&1 || true
        done
    fi
    # Without systemd (a container), an init script may still have started
    # them: stop the default instances only (default config, default pid
    # files), never the tests' own.
    if wants postfix && as_root /usr/sbin/postfix status >/dev/null 2>&1; then
        as_root /usr/sbin/postfix stop >/dev/null 2>&1 || true
    fi
    if wants dovecot-imapd && [ -s /run/dovecot/master.pid ] \
        && as_root kill -0 "$(cat /run/dovecot/master.pid)" >/dev/null 2>&1; then
        as_root /usr/bin/doveadm stop >/dev/null 2>&1 || true
    fi
}

echo "install-test-deps: installing ${missing[*]}" >&2
if wants postfix; then
    echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
fi
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
installed=1
stop_system_mail_services

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
