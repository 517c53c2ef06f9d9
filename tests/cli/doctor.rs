//! `digest doctor`: one line per check against a real name server
//! (dnsmasq) serving a right setup and each wrong one, and the in-process
//! SMTP server; nothing sent, nothing written.

use crate::support::dkim::dkim_record;
use crate::support::dnsmasq::{Dnsmasq, Zone};
use crate::support::ports::closed_port;
use crate::support::smtp::TestSmtp;
use crate::support::{Config, Run, Site, copy_dir, finish, fixture, repo, run, shared_smtp};

const DOMAIN: &str = "glossary.example";
const DKIM_NAME: &str = "digest._domainkey.glossary.example";
const PASSWORD: &str = "doctor-Staple-42";

/// Everything a receiver wants of glossary.example's sender.
fn right_zone() -> Zone {
    Zone::new(DOMAIN)
        .txt(DKIM_NAME, &dkim_record("rsa.pub.pem", false))
        .txt(DOMAIN, "v=spf1 ip4:192.0.2.10 -all")
        .txt(DOMAIN, "google-site-verification=abc123")
        .txt(
            "_dmarc.glossary.example",
            "v=DMARC1; p=quarantine; rua=mailto:dmarc@glossary.example",
        )
        .mx(DOMAIN, "mx.glossary.example", 10)
}

/// A site whose config signs with the fixture RSA key (mode 600), sends
/// through `smtp_url` and asks `dns` for its records.
fn site(smtp_url: &str, dns: &Dnsmasq) -> Site {
    let site = Site::with_content(&fixture("small/content"));
    site.write("dkim.pem", std::fs::read(fixture("dkim/rsa.pem")).unwrap());
    set_mode(&site.path("dkim.pem"), 0o600);
    site.config(&config(&site, smtp_url, dns));
    site
}

/// The config of [`site`], to add to.
fn config(site: &Site, smtp_url: &str, dns: &Dnsmasq) -> Config {
    Config::for_send(smtp_url).dkim(&site.path("dkim.pem")).set(
        "dns",
        "nameserver",
        dns.addr.as_str(),
    )
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `digest doctor` on a [`site`] whose name server serves `zone`,
/// through the shared plain relay.
fn doctor_with(zone: &Zone) -> Run {
    let dns = Dnsmasq::start(zone);
    let site = site(&shared_smtp().url(), &dns);
    run(&site, &["doctor"])
}

/// `level  topic` of every check line, in order.
fn levels(r: &Run) -> Vec<(String, String)> {
    r.stdout
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains(": "))
        .map(|l| {
            let (level, rest) = l.split_at(6);
            let topic = rest.split_once(": ").unwrap().0;
            (level.trim().to_string(), topic.to_string())
        })
        .collect()
}

fn line<'a>(r: &'a Run, topic: &str) -> &'a str {
    r.stdout
        .lines()
        .find(|l| {
            l.get(6..)
                .is_some_and(|rest| rest.starts_with(&format!("{topic}: ")))
        })
        .unwrap_or_else(|| panic!("no `{topic}` line in\n{}", r.stdout))
}

/// The `fix:` line under the `topic` line.
fn fix<'a>(r: &'a Run, topic: &str) -> &'a str {
    let at = line(r, topic);
    let mut lines = r.stdout.lines().skip_while(|l| *l != at).skip(1);
    lines
        .find_map(|l| l.trim_start().strip_prefix("fix: "))
        .unwrap_or_else(|| panic!("no fix under `{topic}` in\n{}", r.stdout))
}

#[test]
#[cfg_attr(
    missing_dnsmasq,
    ignore = "needs dnsmasq: run scripts/install-test-deps.sh"
)]
fn a_right_setup_passes_every_check_and_nothing_is_sent_or_written() {
    let dns = Dnsmasq::start(&right_zone());
    let smtp = TestSmtp::start_tls("user", PASSWORD);
    let site = site(&smtp.url(), &dns);
    site.config(&config(&site, &smtp.url(), &dns).smtp("ca_file", TestSmtp::ca_path()));
    let mut cmd = site.digest(&["doctor"]);
    cmd.env("DIGEST_SMTP_USERNAME", "user")
        .env("DIGEST_SMTP_PASSWORD", PASSWORD);
    let r = finish(cmd);
    assert_eq!(r.code, 0, "{r:#?}");
    assert!(
        levels(&r).iter().all(|(level, _)| level == "ok"),
        "{}",
        r.stdout
    );
    let topics: Vec<String> = levels(&r).into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        topics,
        [
            "config",
            "public_url",
            "postal_address",
            "reply_to",
            "content",
            "database",
            "templates",
            "smtp",
            "dkim key",
            "dkim record",
            "dkim alignment",
            "spf",
            "alignment",
            "dmarc",
            "mx"
        ]
    );
    let port = smtp.addr.port();
    assert_eq!(
        line(&r, "smtp"),
        format!("ok    smtp: localhost:{port} reached, TLS, logged in")
    );
    assert!(
        line(&r, "dkim key").contains("dkim.pem: RSA 2048-bit, SHA256:"),
        "{}",
        r.stdout
    );
    assert!(
        line(&r, "dkim record").starts_with(&format!(
            "ok    dkim record: {DKIM_NAME} publishes this key (SHA256:"
        )),
        "{}",
        r.stdout
    );
    assert_eq!(
        line(&r, "spf"),
        "ok    spf: glossary.example: v=spf1 ip4:192.0.2.10 -all"
    );
    assert_eq!(
        line(&r, "dmarc"),
        "ok    dmarc: _dmarc.glossary.example: p=quarantine, reports to mailto:dmarc@glossary.example"
    );
    assert_eq!(
        line(&r, "mx"),
        "ok    mx: glossary.example: 10 mx.glossary.example"
    );
    assert!(
        r.stdout.ends_with("15 ok, 0 warnings, 0 failures\n"),
        "{}",
        r.stdout
    );
    assert!(smtp.messages().is_empty(), "a message was sent");
    assert!(!site.path("subscribers").exists(), "a database was created");
    assert!(!r.stdout.contains(PASSWORD) && !r.stderr.contains(PASSWORD));
}

/// The glossary's records with one thing wrong, and what the doctor says.
#[test]
#[cfg_attr(
    missing_dnsmasq,
    ignore = "needs dnsmasq: run scripts/install-test-deps.sh"
)]
fn each_wrong_record_is_named_with_what_to_change() {
    let other_key = dkim_record("rsa-other.pub.pem", false);
    let cases: Vec<(&str, Zone, i32, &str, &str, &str)> = vec![
        (
            "no DKIM record",
            right_zone().without_txt(DKIM_NAME, "v=DKIM1"),
            1,
            "dkim record",
            "FAIL  dkim record: no DKIM record at digest._domainkey.glossary.example",
            "publish a TXT record at digest._domainkey.glossary.example: \"v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
        ),
        (
            "a DKIM record for another key",
            right_zone()
                .without_txt(DKIM_NAME, "v=DKIM1")
                .txt(DKIM_NAME, &other_key),
            1,
            "dkim record",
            "FAIL  dkim record: digest._domainkey.glossary.example publishes another key: the record's is RSA 2048-bit SHA256:",
            "publish a TXT record at digest._domainkey.glossary.example: ",
        ),
        (
            "a revoked DKIM key",
            right_zone()
                .without_txt(DKIM_NAME, "v=DKIM1")
                .txt(DKIM_NAME, "v=DKIM1; k=rsa; p="),
            1,
            "dkim record",
            "FAIL  dkim record: the record at digest._domainkey.glossary.example has an empty p=: the key is revoked",
            "publish a TXT record at",
        ),
        (
            "two SPF records",
            right_zone().txt(DOMAIN, "v=spf1 include:amazonses.com -all"),
            1,
            "spf",
            "FAIL  spf: glossary.example has 2 SPF records: receivers then treat SPF as a permanent error",
            "merge them into one v=spf1 record",
        ),
        (
            "no SPF record",
            right_zone().without_txt(DOMAIN, "v=spf1"),
            0,
            "spf",
            "warn  spf: no SPF record on glossary.example, the envelope sender's domain",
            "publish a TXT record at glossary.example naming your relay",
        ),
        (
            "no DMARC record",
            right_zone().without_txt("_dmarc.glossary.example", "v=DMARC1"),
            1,
            "dmarc",
            "FAIL  dmarc: no DMARC record at _dmarc.glossary.example: Gmail and Yahoo require one of bulk senders",
            "publish a TXT record at _dmarc.glossary.example: \"v=DMARC1; p=none; rua=mailto:dmarc@glossary.example\"",
        ),
        (
            "p=none",
            right_zone()
                .without_txt("_dmarc.glossary.example", "v=DMARC1")
                .txt("_dmarc.glossary.example", "v=DMARC1; p=none"),
            0,
            "dmarc",
            "warn  dmarc: _dmarc.glossary.example: p=none, no rua=, so no reports: receivers take no action",
            "add rua=mailto:dmarc@glossary.example to get reports; once they show your mail passing, move to p=quarantine",
        ),
        (
            "no MX record",
            right_zone().without_mx(),
            0,
            "mx",
            "warn  mx: no MX record for glossary.example",
            "publish an MX record for glossary.example",
        ),
    ];
    for (case, zone, code, topic, says, fix_starts) in cases {
        let r = doctor_with(&zone);
        assert_eq!(r.code, code, "{case}: {r:#?}");
        assert!(line(&r, topic).starts_with(says), "{case}:\n{}", r.stdout);
        assert!(
            fix(&r, topic).starts_with(fix_starts),
            "{case}:\n{}",
            r.stdout
        );
        // Only the check that was broken complains.
        let others: Vec<_> = levels(&r)
            .into_iter()
            .filter(|(level, t)| level != "ok" && t != topic)
            .collect();
        assert!(others.is_empty(), "{case}: {others:?}\n{}", r.stdout);
        if code == 1 {
            assert!(r.stderr.contains("1 check failed"), "{case}: {}", r.stderr);
        }
    }
}

#[test]
#[cfg_attr(
    missing_dnsmasq,
    ignore = "needs dnsmasq: run scripts/install-test-deps.sh"
)]
fn a_record_for_another_key_shows_both_fingerprints() {
    let zone = right_zone()
        .without_txt(DKIM_NAME, "v=DKIM1")
        .txt(DKIM_NAME, &dkim_record("rsa-other.pub.pem", false));
    let r = doctor_with(&zone);
    let says = line(&r, "dkim record");
    let prints: Vec<&str> = says.matches("SHA256:").collect();
    assert_eq!(prints.len(), 2, "{says}");
    let key_print = line(&r, "dkim key").rsplit("SHA256:").next().unwrap();
    assert!(
        says.ends_with(&format!("the key file's RSA 2048-bit SHA256:{key_print}")),
        "{says}"
    );
    // The right record to publish is printed whole, and is the key file's.
    assert!(
        fix(&r, "dkim record").contains(&dkim_record("rsa.pub.pem", false)),
        "{}",
        r.stdout
    );
}

#[test]
#[cfg_attr(
    missing_dnsmasq,
    ignore = "needs dnsmasq: run scripts/install-test-deps.sh"
)]
fn an_ed25519_key_a_misaligned_domain_and_a_readable_key_file() {
    let zone = Zone::new("mailer.example")
        .txt(
            "digest._domainkey.mailer.example",
            &dkim_record("ed25519.pub.pem", true),
        )
        .txt(DOMAIN, "v=spf1 -all")
        .txt("_dmarc.glossary.example", "v=DMARC1; p=reject")
        .mx(DOMAIN, "mx.glossary.example", 10);
    let mut zone = zone;
    zone.domains.push(DOMAIN.to_string());
    let dns = Dnsmasq::start(&zone);
    let site = Site::with_content(&fixture("small/content"));
    site.write(
        "dkim.pem",
        std::fs::read(fixture("dkim/ed25519.pem")).unwrap(),
    );
    set_mode(&site.path("dkim.pem"), 0o644);
    site.config(
        &Config::for_send(&shared_smtp().url())
            .set("dkim", "domain", "mailer.example")
            .set("dkim", "selector", "digest")
            .set("dkim", "private_key_file", site.path("dkim.pem"))
            .set("dns", "nameserver", dns.addr.as_str()),
    );
    let r = run(&site, &["doctor"]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        line(&r, "dkim key").starts_with("warn  dkim key: ")
            && line(&r, "dkim key").contains(": Ed25519, SHA256:")
            && line(&r, "dkim key").ends_with("readable by other users (mode 644)"),
        "{}",
        r.stdout
    );
    assert!(
        fix(&r, "dkim key").starts_with("chmod 600 "),
        "{}",
        r.stdout
    );
    assert!(
        line(&r, "dkim record")
            .starts_with("ok    dkim record: digest._domainkey.mailer.example publishes this key"),
        "{}",
        r.stdout
    );
    assert_eq!(
        line(&r, "dkim alignment"),
        "FAIL  dkim alignment: d=mailer.example does not align with the From domain glossary.example: \
         DMARC passes on DKIM only when the signing domain shares the From address's domain"
    );
    assert_eq!(
        fix(&r, "dkim alignment"),
        "set [dkim] domain to glossary.example (or a subdomain of glossary.example)"
    );
    assert!(
        line(&r, "alignment").starts_with("warn  alignment: only SPF aligns"),
        "{}",
        r.stdout
    );
}

#[test]
#[cfg_attr(
    missing_dnsmasq,
    ignore = "needs dnsmasq: run scripts/install-test-deps.sh"
)]
fn the_relay_checks_log_in_refuse_a_wrong_password_and_name_a_closed_port() {
    let dns = Dnsmasq::start(&right_zone());
    let smtp = TestSmtp::start_tls("user", PASSWORD);
    let site = site(&smtp.url(), &dns);
    site.config(&config(&site, &smtp.url(), &dns).smtp("ca_file", TestSmtp::ca_path()));
    let check = |password: &str| {
        let mut cmd = site.digest(&["doctor"]);
        cmd.env("DIGEST_SMTP_USERNAME", "user")
            .env("DIGEST_SMTP_PASSWORD", password);
        finish(cmd)
    };
    let refused = check("wrong-password");
    assert_eq!(refused.code, 1, "{refused:#?}");
    assert!(
        line(&refused, "smtp").starts_with("FAIL  smtp: localhost:")
            && line(&refused, "smtp").contains("refused the login: "),
        "{}",
        refused.stdout
    );
    assert_eq!(
        fix(&refused, "smtp"),
        "check the user name and password (DIGEST_SMTP_USERNAME and _PASSWORD or _PASSWORD_FILE)"
    );
    for out in [&refused.stdout, &refused.stderr] {
        assert!(!out.contains("wrong-password"), "{out}");
    }

    // A user name without a password is said before any connection.
    let mut cmd = site.digest(&["doctor"]);
    cmd.env("DIGEST_SMTP_USERNAME", "user");
    let r = finish(cmd);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        line(&r, "smtp")
            .contains("no password: set DIGEST_SMTP_PASSWORD or DIGEST_SMTP_PASSWORD_FILE"),
        "{}",
        r.stdout
    );

    let port = closed_port();
    site.config(&config(&site, &format!("smtp://127.0.0.1:{port}"), &dns));
    let r = run(&site, &["doctor"]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        line(&r, "smtp").starts_with(&format!("FAIL  smtp: cannot reach 127.0.0.1:{port}: ")),
        "{}",
        r.stdout
    );
    assert!(smtp.messages().is_empty());
    // Several relays: one line each, by name.
    site.config(
        &Config::for_relays()
            .relay("near", &shared_smtp().url(), &[])
            .relay("gone", &format!("smtp://127.0.0.1:{port}"), &[])
            .dkim(&site.path("dkim.pem"))
            .set("dns", "nameserver", dns.addr.as_str()),
    );
    let r = run(&site, &["doctor"]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        line(&r, "smtp relay near").starts_with("ok    "),
        "{}",
        r.stdout
    );
    assert!(
        line(&r, "smtp relay gone").starts_with("FAIL  "),
        "{}",
        r.stdout
    );
}

#[test]
#[cfg_attr(
    missing_dnsmasq,
    ignore = "needs dnsmasq: run scripts/install-test-deps.sh"
)]
fn the_repository_config_gives_a_newcomer_these_warnings() {
    // The repository's own digest.toml, content and templates, as a
    // newcomer has them after a clone; only the relay and the name server
    // are the test's (glossary.example has no records at all).
    let dns = Dnsmasq::start(&Zone::new("example"));
    let site = Site::new();
    copy_dir(&repo().join("content"), &site.path("content"));
    copy_dir(&repo().join("templates"), &site.path("templates"));
    let config = std::fs::read_to_string(repo().join("digest.toml")).unwrap();
    let config = config
        .replace(
            "url = \"smtp://127.0.0.1:25\"",
            &format!("url = {:?}", shared_smtp().url()),
        )
        .replace(
            "# nameserver = \"9.9.9.9:53\"",
            &format!("nameserver = {:?}", dns.addr),
        );
    assert!(config.contains(&dns.addr) && config.contains(&shared_smtp().url()));
    site.write("digest.toml", config);
    let r = run(&site, &["doctor"]);
    assert_eq!(r.code, 1, "{r:#?}");
    let found: Vec<(String, String)> = levels(&r);
    let want = [
        ("ok", "config"),
        ("ok", "public_url"),
        ("warn", "postal_address"),
        ("ok", "reply_to"),
        ("ok", "content"),
        ("ok", "database"),
        ("ok", "templates"),
        ("ok", "smtp"),
        ("warn", "dkim"),
        ("warn", "spf"),
        ("warn", "alignment"),
        ("FAIL", "dmarc"),
        ("warn", "mx"),
    ];
    assert_eq!(
        found,
        want.map(|(l, t)| (l.to_string(), t.to_string())),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with("7 ok, 5 warnings, 1 failure\n"),
        "{}",
        r.stdout
    );
    assert!(!site.path("subscribers").exists(), "a database was created");
}

#[test]
fn a_config_it_cannot_read_exits_2_and_broken_content_and_templates_fail() {
    let site = Site::with_content(&fixture("small/content"));
    site.write("digest.toml", "[dns]\nnameserver = \"nowhere\"\n");
    let r = run(&site, &["doctor"]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(
        r.stderr.contains("`dns.nameserver` = \"nowhere\""),
        "{}",
        r.stderr
    );

    // Content with problems: every one listed under the FAIL line, and the
    // issue not rendered. The name server is a closed port: the DNS
    // checks fail quickly, naming it.
    let broken = Site::with_content(&fixture("invalid_sites/many_problems"));
    let port = closed_port();
    broken.config(&Config::for_send(&shared_smtp().url()).set(
        "dns",
        "nameserver",
        format!("127.0.0.1:{port}").as_str(),
    ));
    let r = run(&broken, &["doctor"]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        line(&r, "content").starts_with("FAIL  content: "),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("\n        content/"), "{}", r.stdout);
    assert!(
        line(&r, "templates").starts_with("warn  templates: "),
        "{}",
        r.stdout
    );
    assert!(
        line(&r, "spf").starts_with("FAIL  spf: cannot look up glossary.example: "),
        "{}",
        r.stdout
    );
    assert!(
        line(&r, "spf").contains(&format!("127.0.0.1:{port}")),
        "{}",
        r.stdout
    );

    // A template that does not compile.
    let site = Site::with_content(&fixture("small/content"));
    copy_dir(&repo().join("templates"), &site.path("templates"));
    site.write("templates/subject.txt", "{{ issue.week ");
    site.config(
        &Config::for_send(&shared_smtp().url())
            .paths("templates", site.path("templates"))
            .set("dns", "nameserver", format!("127.0.0.1:{port}").as_str()),
    );
    let r = run(&site, &["doctor"]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        line(&r, "templates").starts_with("FAIL  templates: "),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("--> subject.txt:1:14\n"), "{}", r.stdout);
}

#[test]
#[cfg_attr(
    missing_dnsmasq,
    ignore = "needs dnsmasq: run scripts/install-test-deps.sh"
)]
fn an_answer_too_big_for_udp_is_asked_again_over_tcp() {
    // Eight verification records of 240 bytes: about 2 KB, more than the
    // 1232 bytes offered over UDP, so the server truncates and the doctor
    // asks again over TCP.
    let mut zone = right_zone();
    for i in 0..8 {
        zone = zone.txt(DOMAIN, &format!("verification-{i}={}", "x".repeat(224)));
    }
    let r = doctor_with(&zone);
    assert_eq!(r.code, 0, "{r:#?}");
    assert_eq!(
        line(&r, "spf"),
        "ok    spf: glossary.example: v=spf1 ip4:192.0.2.10 -all"
    );
}
