//! The email is right: one issue really sent, with DKIM, checked on the raw
//! bytes the server received, then by two real tools: SpamAssassin (local
//! rules only) and an HTML validator.
//!
//! The tools are installed by `scripts/install-test-deps.sh` (the README's
//! test command). Each tool's check is a test of its own: without the tool
//! a developer's run shows it as ignored (`build.rs` decides); under CI
//! (`CI` set) its absence fails the test.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use mail_parser::{MessageParser, MimeHeaders as _};

use super::send::send_ok;
use super::support::dkim::{self, dkim_record};
use super::support::mail::{field, fields, header_bytes};
use super::support::site::{site_with, subscribers};
use super::support::smtp::TestSmtp;
use super::support::{Config, Site, copy_dir, fixture, repo};

/// html-validate rules turned off for email, and why. Everything else in
/// `html-validate:recommended` must pass.
const EMAIL_RULES_OFF: &[(&str, &str)] = &[
    // Mail clients drop stylesheets: styles must be inline attributes.
    ("no-inline-style", "email CSS is inlined on purpose"),
    // `width`, `cellpadding`, `cellspacing`, `border` and `align` on tables
    // are what Outlook and older clients lay out by.
    (
        "no-deprecated-attr",
        "table layout attributes for old mail clients",
    ),
];

/// The one message sent to a one-subscriber list with DKIM on.
fn send_one() -> (Site, Vec<u8>) {
    let smtp = TestSmtp::start();
    let subs = subscribers(1);
    let key = fixture("dkim/rsa.pem");
    let site = site_with(&Config::for_send(&smtp.url()).dkim(&key), &subs);
    // The real glossary: a full-size issue, not the small fixture.
    std::fs::remove_dir_all(site.path("content")).unwrap();
    copy_dir(&repo().join("content"), &site.path("content"));
    let run = send_ok(&site);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    let raw = messages[0].raw.clone();
    std::fs::write(site.path("issue.eml"), &raw).unwrap();
    (site, raw)
}

/// Panics unless the tool is there (a test that got this far was not
/// ignored: the tool must be there).
fn require(tool: &Path, what: &str) {
    assert!(
        tool.exists(),
        "{what} is missing at {}: run scripts/install-test-deps.sh",
        tool.display()
    );
}

fn which(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(format!("/usr/bin/{name}")))
}

fn words(text: &str) -> usize {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 1)
        .count()
}

/// The visible text of an HTML document, roughly: tags, styles and
/// entities out.
fn html_text(html: &str) -> String {
    let without_style = match (html.find("<style"), html.find("</style>")) {
        (Some(a), Some(b)) if b > a => format!("{}{}", &html[..a], &html[b + 8..]),
        _ => html.to_string(),
    };
    let mut out = String::new();
    let mut in_tag = false;
    for c in without_style.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ").replace("&amp;", "&")
}

#[test]
fn a_sent_issue_passes_every_deliverability_check() {
    let (site, raw) = send_one();
    let headers = header_bytes(&raw);

    // Exactly one of each essential header.
    for name in [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "DKIM-Signature",
    ] {
        assert_eq!(fields(&raw, name).len(), 1, "{name}");
    }
    let from = field(&raw, "From");
    assert_eq!(from.matches('@').count(), 1, "one mailbox in From: {from}");
    let message_id = field(&raw, "Message-ID");
    assert!(
        message_id.starts_with('<') && message_id.ends_with("@glossary.example>"),
        "{message_id}"
    );
    assert!(!message_id.contains("localhost"));

    // Headers are 7-bit (RFC 2047 for the rest); no line over 998 octets.
    assert!(headers.iter().all(|b| b.is_ascii()), "8-bit header bytes");
    for line in raw.split(|&b| b == b'\n') {
        assert!(line.len() <= 998, "a line of {} octets", line.len());
    }

    // List headers.
    let unsubscribe = field(&raw, "List-Unsubscribe");
    assert!(
        unsubscribe.starts_with("<https://glossary.example/digest/unsubscribe/")
            && unsubscribe.ends_with('>'),
        "{unsubscribe}"
    );
    assert_eq!(
        field(&raw, "List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    let list_id = field(&raw, "List-Id");
    assert!(
        list_id.starts_with('<') && list_id.ends_with('>') && list_id.contains('.'),
        "{list_id}"
    );
    let unsubscribe_url = unsubscribe.trim_matches(['<', '>']).to_string();

    // DKIM aligned with From, covering From and both List-Unsubscribe headers.
    let signature = field(&raw, "DKIM-Signature").replace(char::is_whitespace, "");
    assert!(signature.contains("d=glossary.example;"), "{signature}");
    let h = signature
        .split(';')
        .find_map(|t| t.strip_prefix("h="))
        .unwrap()
        .to_ascii_lowercase();
    let signed: HashSet<&str> = h.split(':').collect();
    for needed in ["from", "list-unsubscribe", "list-unsubscribe-post"] {
        assert!(signed.contains(needed), "h= lacks {needed}: {h}");
    }

    // Structure: multipart/alternative, text first, html last, both UTF-8,
    // non-ASCII bodies quoted-printable or base64.
    let message = MessageParser::default().parse(&raw).expect("parseable");
    let content_type = message.content_type().expect("Content-Type");
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("alternative"))
    );
    let parts: Vec<_> = message.parts.iter().skip(1).collect();
    assert_eq!(parts.len(), 2);
    for (part, subtype) in parts.iter().zip(["plain", "html"]) {
        let ct = part.content_type().unwrap();
        assert_eq!((ct.ctype(), ct.subtype()), ("text", Some(subtype)));
        assert_eq!(
            ct.attribute("charset")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("utf-8")
        );
        let cte = part
            .content_transfer_encoding()
            .unwrap_or("7bit")
            .to_ascii_lowercase();
        assert!(
            matches!(cte.as_str(), "quoted-printable" | "base64"),
            "{cte}"
        );
    }
    let text = message.body_text(0).unwrap().into_owned();
    let html = message.body_html(0).unwrap().into_owned();

    // MIME defects, as Python's email package sees them.
    let defects = Command::new("python3")
        .args([
            "-c",
            "import sys, email, email.policy\n\
             m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)\n\
             bad = [(p.get_content_type(), d) for p in m.walk() for d in p.defects]\n\
             print(bad)\n\
             sys.exit(1 if bad else 0)",
        ])
        .arg(site.path("issue.eml"))
        .output()
        .expect("python3");
    assert!(
        defects.status.success(),
        "MIME defects: {}",
        String::from_utf8_lossy(&defects.stdout)
    );

    // The HTML part.
    assert!(html.len() < 102 * 1024, "{} bytes", html.len());
    assert!(html.contains("<html lang=\"en-US\" dir=\"ltr\""));
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script") && !lower.contains("<form"));
    for img in lower.split("<img").skip(1) {
        let tag = &img[..img.find('>').unwrap()];
        assert!(tag.contains("alt="), "an img without alt: <img{tag}>");
    }
    for table in lower.split("<table").skip(1) {
        let tag = &table[..table.find('>').unwrap()];
        assert!(tag.contains("role=\"presentation\""), "<table{tag}>");
    }
    for href in html.split("href=\"").skip(1) {
        let url = &href[..href.find('"').unwrap()];
        assert!(
            url.starts_with("https://") || url.starts_with("mailto:"),
            "link {url}"
        );
    }

    // The text part carries the content and the unsubscribe link.
    let (text_words, html_words) = (words(&text), words(&html_text(&html)));
    assert!(
        text_words * 10 >= html_words * 3,
        "text has {text_words} words, html {html_words}"
    );
    assert!(text.contains(&unsubscribe_url));
    assert!(html.contains(&unsubscribe_url));
}

#[test]
#[cfg_attr(
    missing_dkimpy,
    ignore = "dkimpy not installed: run scripts/install-test-deps.sh"
)]
fn a_sent_issue_is_verified_by_dkimpy() {
    let (site, _) = send_one();
    let out = dkim::verify(
        &site,
        &dkim_record("rsa.pub.pem", false),
        &[site.path("issue.eml")],
    );
    assert!(
        out.status.success(),
        "dkimpy: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// SpamAssassin, local rules only: 1.0 or less.
#[test]
#[cfg_attr(
    missing_spamassassin,
    ignore = "spamassassin not installed: run scripts/install-test-deps.sh"
)]
fn a_sent_issue_scores_1_or_less_with_spamassassin() {
    let (site, _) = send_one();
    let spamassassin = which("spamassassin");
    require(&spamassassin, "SpamAssassin");
    let out = Command::new(&spamassassin)
        .args(["-t", "-L"])
        .stdin(std::fs::File::open(site.path("issue.eml")).unwrap())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let status = report
        .lines()
        .find(|l| l.starts_with("X-Spam-Status:"))
        .unwrap_or_else(|| panic!("no X-Spam-Status in:\n{report}"));
    let score: f64 = status
        .split("score=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{status}"));
    let details = report
        .split("Content analysis details")
        .nth(1)
        .unwrap_or("");
    assert!(score <= 1.0, "SpamAssassin score {score}:\n{details}");
}

/// html-validate with only the email-specific rules off.
#[test]
#[cfg_attr(
    missing_html_validate,
    ignore = "html-validate not installed: run scripts/install-test-deps.sh"
)]
fn a_sent_issue_passes_html_validate() {
    let (site, raw) = send_one();
    let html = MessageParser::default()
        .parse(&raw)
        .expect("parseable")
        .body_html(0)
        .unwrap()
        .into_owned();
    let validator = repo().join("target/test-tools/node_modules/.bin/html-validate");
    require(&validator, "html-validate");
    let mut rules = serde_json::Map::new();
    for (rule, _why) in EMAIL_RULES_OFF {
        rules.insert(rule.to_string(), serde_json::json!("off"));
    }
    let config = serde_json::json!({"extends": ["html-validate:recommended"], "rules": rules});
    site.write(".htmlvalidate.json", config.to_string());
    site.write("issue.html", &html);
    let out = Command::new(&validator)
        .current_dir(site.dir.path())
        .args(["--config", ".htmlvalidate.json", "issue.html"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "html-validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
