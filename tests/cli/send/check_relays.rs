//! `digest send --check-relays`: what the relay offers and whether the
//! login works, with nothing sent and nothing written.

use serde_json::Value;

use super::{PASSWORD, tls_site};
use crate::support::pipelining::{PipeSmtp, Script};
use crate::support::ports::closed_port;
use crate::support::smtp::TestSmtp;
use crate::support::{Config, Site, finish, fixture, run};

fn bare_site(url: &str) -> Site {
    let site = Site::with_content(&fixture("small/content"));
    site.config(&Config::for_send(url));
    site
}

#[test]
fn the_check_reports_pipelining_and_chunking_and_sends_and_writes_nothing() {
    let server = PipeSmtp::start(Script {
        pipelining: true,
        chunking: true,
        ..Script::default()
    });
    let site = bare_site(&server.url());
    let r = run(&site, &["send", "--check-relays"]);
    assert_eq!(r.code, 0, "{r:#?}");
    for line in [
        format!("smtp ({})\n", server.addr),
        "  reached:     yes\n".into(),
        "  STARTTLS:    not offered (the connection is NOT encrypted)\n".into(),
        "  PIPELINING:  yes\n".into(),
        "  CHUNKING:    yes\n".into(),
        "  login:       no credentials set (sending without AUTH)\n".into(),
    ] {
        assert!(r.stdout.contains(&line), "{line:?} in {}", r.stdout);
    }
    assert!(
        !site.path("subscribers/digest.db").exists(),
        "a database was created"
    );
    assert_eq!(server.seen(|s| (s.messages.len(), s.rcpts)), (0, 0));

    let r = run(&site, &["send", "--check-relays", "--json"]);
    assert_eq!(r.code, 0, "{r:#?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["pipelining"], true);
    assert_eq!(v[0]["chunking"], true);
    assert_eq!(v[0]["ok"], true);
}

#[test]
fn the_check_starts_tls_and_logs_in_and_a_refused_login_exits_1() {
    let smtp = TestSmtp::start_tls("user", PASSWORD);
    let site = tls_site(&smtp, &[]);
    let check = |password: &str| {
        let mut cmd = site.digest(&["send", "--check-relays"]);
        cmd.env("DIGEST_SMTP_USERNAME", "user")
            .env("DIGEST_SMTP_PASSWORD", password);
        finish(cmd)
    };
    let good = check(PASSWORD);
    assert_eq!(good.code, 0, "{good:#?}");
    assert!(
        good.stdout
            .contains("  STARTTLS:    offered (the connection is encrypted)\n"),
        "{}",
        good.stdout
    );
    assert!(
        good.stdout.contains("  AUTH:        PLAIN LOGIN\n"),
        "{}",
        good.stdout
    );
    assert!(
        good.stdout.contains("  PIPELINING:  no\n"),
        "{}",
        good.stdout
    );
    assert!(
        good.stdout.contains("  login:       ok\n"),
        "{}",
        good.stdout
    );
    let bad = check("wrong-password");
    assert_eq!(bad.code, 1, "{bad:#?}");
    assert!(
        bad.stdout.contains("  login:       refused: "),
        "{}",
        bad.stdout
    );
    assert!(bad.stderr.contains("failed the check"), "{}", bad.stderr);
    for out in [&good.stdout, &good.stderr, &bad.stdout, &bad.stderr] {
        assert!(
            !out.contains(PASSWORD) && !out.contains("wrong-password"),
            "{out}"
        );
    }
    assert!(smtp.messages().is_empty());
}

#[test]
fn an_unreachable_relay_fails_the_check_naming_it() {
    let port = closed_port();
    let site = bare_site(&format!("smtp://127.0.0.1:{port}"));
    let r = run(&site, &["send", "--check-relays"]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        r.stdout
            .contains(&format!("smtp (127.0.0.1:{port})\n  reached:     no: ")),
        "{}",
        r.stdout
    );
    let clash = run(&site, &["send", "--check-relays", "--dry-run"]);
    assert_eq!(clash.code, 2, "{clash:#?}");
}
