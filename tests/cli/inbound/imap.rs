//! `digest inbound --imap` against a private Dovecot: a mailbox holding
//! DSNs, an ARF report, a mailto unsubscribe, an out-of-office reply and a
//! personal reply. Exactly the first three kinds are applied and moved;
//! the others stay, marked seen; nothing is deleted.

use std::process::Stdio;

use super::{READERS, Sent, sent, status_of};
use crate::support::dovecot::Dovecot;
use crate::support::ports::{closed_port, silent_listener};
use crate::support::run::to_std;
use crate::support::{Run, fixture, run};

const USER: &str = "bounces";
const PASSWORD: &str = "a long mailbox password";

/// The mailbox: (fixture, applied?).
const MAILBOX: [(&str, bool); 6] = [
    ("01-postfix-hard-user-unknown.eml", true),
    ("02-postfix-soft-mailbox-full-expired.eml", true),
    ("23-microsoft-jmrp-abuse-redacted-recipient.eml", true),
    ("30-unsubscribe-outlook-display-name.eml", true),
    ("35-vacation-auto-submitted-to-verp-kept.eml", false),
    ("39-human-reply-great-issue-kept.eml", false),
];

fn filled(sent: &Sent, file: &str) -> Vec<u8> {
    sent.fill(&std::fs::read(fixture(&format!("inbound/{file}"))).unwrap())
}

/// The sent site reading `url`'s mailbox, with `timeout` seconds.
fn configure(sent: &Sent, url: &str, timeout: u32) {
    configure_with(sent, url, timeout, "");
}

/// The same, with more `[inbound.imap]` lines.
fn configure_with(sent: &Sent, url: &str, timeout: u32, more: &str) {
    let text = sent.site.read("digest.toml");
    // The config as the send had it, without a mailbox configured before.
    let base = text.split("\n[inbound.imap]").next().unwrap_or_default();
    let mut timeouts = base.split("timeout_secs = ");
    let text = match (timeouts.next(), timeouts.next()) {
        (Some(before), Some(after)) => {
            let rest = after.split_once('\n').map_or("", |(_, r)| r);
            format!("{before}timeout_secs = {timeout}\n{rest}")
        }
        _ => panic!("no timeout_secs in {base}"),
    };
    sent.site.write(
        "digest.toml",
        format!("{text}\n[inbound.imap]\nurl = \"{url}\"\n{more}"),
    );
}

/// `digest inbound --imap` logging in as [`USER`] with `password`.
fn imap_command(sent: &Sent, password: &str) -> assert_cmd::Command {
    let mut cmd = sent.site.digest(&["inbound", "--imap"]);
    cmd.env("DIGEST_IMAP_USERNAME", USER)
        .env("DIGEST_IMAP_PASSWORD", password);
    cmd
}

fn imap_run(sent: &Sent, password: &str) -> Run {
    crate::support::finish(imap_command(sent, password))
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

#[test]
#[cfg_attr(
    missing_dovecot,
    ignore = "needs Dovecot (scripts/install-test-deps.sh installs it)"
)]
fn the_mailbox_is_applied_once_and_only_what_was_applied_is_moved() {
    let sent = sent();
    let dovecot = Dovecot::start(USER, PASSWORD);
    configure(&sent, &dovecot.url(), 10);
    let messages: Vec<(Vec<u8>, bool)> = MAILBOX
        .iter()
        .map(|(file, applied)| (filled(&sent, file), *applied))
        .collect();
    for (raw, _) in &messages {
        dovecot.put("INBOX", raw);
    }

    // Two cron runs at once: between them, everything once.
    let spawn = || {
        to_std(&imap_command(&sent, PASSWORD))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let mut summaries = Vec::new();
    for out in &outputs {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        summaries.push(stdout);
    }
    assert!(
        summaries
            .iter()
            .any(|s| s
                .ends_with("6 messages: 2 bounces (1 hard), 1 complaint, 1 unsubscribe, 2 kept\n"))
            || summaries.concat().contains("already recorded"),
        "{summaries:#?}"
    );

    let applied: Vec<Vec<u8>> = messages
        .iter()
        .filter(|m| m.1)
        .map(|m| m.0.clone())
        .collect();
    let kept: Vec<Vec<u8>> = messages
        .iter()
        .filter(|m| !m.1)
        .map(|m| m.0.clone())
        .collect();
    let processed = dovecot.messages("Processed");
    assert_eq!(
        sorted(processed.iter().map(|m| m.0.clone()).collect()),
        sorted(applied),
        "exactly the applied messages were moved"
    );
    let inbox = dovecot.messages("INBOX");
    assert_eq!(
        sorted(inbox.iter().map(|m| m.0.clone()).collect()),
        sorted(kept)
    );
    assert!(
        inbox.iter().all(|(_, seen)| *seen),
        "the kept ones are marked seen"
    );

    assert_eq!(status_of(&sent.site, "ada@example.com"), "bounced");
    assert_eq!(status_of(&sent.site, "grace@example.org"), "active");
    assert_eq!(status_of(&sent.site, "alan@example.net"), "unsubscribed");
    assert_eq!(status_of(&sent.site, "edsger@example.com"), "unsubscribed");
    assert_eq!(status_of(&sent.site, READERS[4]), "active");
    for (who, kind) in [
        ("ada@example.com", "hard_bounce"),
        ("grace@example.org", "soft_bounce"),
        ("alan@example.net", "complaint"),
    ] {
        let events = super::show(&sent.site, who)["events"].clone();
        let n = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind)
            .count();
        assert_eq!(n, 1, "{who}: {events}");
    }

    // The next run finds nothing new.
    let again = imap_run(&sent, PASSWORD);
    assert_eq!(again.code, 0, "{again:#?}");
    assert_eq!(
        again.stdout,
        "0 messages: 0 bounces (0 hard), 0 complaints, 0 unsubscribes, 0 kept\n"
    );
    assert_eq!(dovecot.messages("Processed").len(), 4);
}

#[test]
#[cfg_attr(
    missing_dovecot,
    ignore = "needs Dovecot (scripts/install-test-deps.sh installs it)"
)]
fn a_refused_login_or_a_server_that_is_not_there_exits_1_naming_it_with_nothing_changed() {
    let sent = sent();
    let dovecot = Dovecot::start(USER, PASSWORD);
    configure(&sent, &dovecot.url(), 10);
    let before = run(&sent.site, &["subscribers", "list", "--format", "json"]).stdout;
    dovecot.put("INBOX", &filled(&sent, MAILBOX[0].0));

    let refused = imap_run(&sent, "not the password");
    assert_eq!(refused.code, 1, "{refused:#?}");
    assert!(
        refused.stderr.contains(&format!(
            "IMAP server 127.0.0.1:{} refused the login of bounces",
            dovecot.port
        )),
        "{refused:#?}"
    );
    assert!(!refused.stderr.contains("not the password"), "{refused:#?}");
    assert_eq!(
        dovecot.messages("INBOX"),
        [(filled(&sent, MAILBOX[0].0), false)]
    );

    let port = closed_port();
    configure(&sent, &format!("imap://127.0.0.1:{port}/?tls=none"), 10);
    let down = imap_run(&sent, PASSWORD);
    assert_eq!(down.code, 1, "{down:#?}");
    assert!(
        down.stderr
            .contains(&format!("IMAP server 127.0.0.1:{port}: connecting")),
        "{down:#?}"
    );

    let (_listener, port) = silent_listener();
    configure(&sent, &format!("imap://127.0.0.1:{port}/?tls=none"), 1);
    let silent = imap_run(&sent, PASSWORD);
    assert_eq!(silent.code, 1, "{silent:#?}");
    assert!(
        silent.stderr.contains(&format!(
            "IMAP server 127.0.0.1:{port}: no answer to greeting within 1 s"
        )),
        "{silent:#?}"
    );

    // STARTTLS is required on imap:// unless the URL says otherwise.
    configure(&sent, &format!("imap://127.0.0.1:{}", dovecot.port), 10);
    let plain = imap_run(&sent, PASSWORD);
    assert_eq!(plain.code, 1, "{plain:#?}");
    assert!(plain.stderr.contains("STARTTLS"), "{plain:#?}");

    assert_eq!(
        run(&sent.site, &["subscribers", "list", "--format", "json"]).stdout,
        before
    );
}

#[test]
#[cfg_attr(
    missing_dovecot,
    ignore = "needs Dovecot (scripts/install-test-deps.sh installs it)"
)]
fn imaps_and_starttls_check_the_certificate_and_trust_a_private_ca_from_ca_file() {
    let sent = sent();
    let dovecot = Dovecot::start_tls(USER, PASSWORD);
    let imaps = format!("imaps://localhost:{}", dovecot.tls_port.unwrap());
    let ca = format!("ca_file = \"{}\"\n", fixture("tls/cert.pem").display());

    // A certificate nobody vouches for: no login is attempted.
    configure(&sent, &imaps, 10);
    let untrusted = imap_run(&sent, PASSWORD);
    assert_eq!(untrusted.code, 1, "{untrusted:#?}");
    assert!(
        untrusted.stderr.contains(&format!(
            "IMAP server localhost:{}: TLS handshake",
            dovecot.tls_port.unwrap()
        )),
        "{untrusted:#?}"
    );

    // Trusted through ca_file: TLS from the first byte, then STARTTLS.
    for (url, file) in [
        (imaps.clone(), MAILBOX[0].0),
        (format!("imap://127.0.0.1:{}", dovecot.port), MAILBOX[3].0),
    ] {
        dovecot.put("INBOX", &filled(&sent, file));
        configure_with(&sent, &url, 10, &ca);
        let r = imap_run(&sent, PASSWORD);
        assert_eq!(r.code, 0, "{url}: {r:#?}");
        assert!(r.stdout.ends_with(" 0 kept\n"), "{url}: {r:#?}");
    }
    assert_eq!(dovecot.messages("Processed").len(), 2);
    assert_eq!(status_of(&sent.site, "ada@example.com"), "bounced");
    assert_eq!(status_of(&sent.site, "edsger@example.com"), "unsubscribed");
}
