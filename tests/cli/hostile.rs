//! Hostile values end up harmless: markup is escaped wherever a name is
//! shown, a line break never reaches a header, quotes survive the database
//! unchanged.

use super::send::send_ok;
use super::support::db::db;
use super::support::mail::{field, raw_headers};
use super::support::site::{site_with, subscribers};
use super::support::smtp::TestSmtp;
use super::support::{Config, Site, output, run, shared_smtp};

const SCRIPT: &str = "<script>alert(1)</script>";

#[test]
fn a_name_with_markup_is_escaped_in_the_confirmation_mail_and_never_raw_in_the_issue() {
    let site = Site::new();
    site.digest(&[
        "subscribe",
        "hostile-markup@example.com",
        "--name",
        SCRIPT,
        "--pending",
    ])
    .assert()
    .success();
    let mail = shared_smtp()
        .messages()
        .into_iter()
        .find(|m| m.rcpt_to.iter().any(|r| r == "hostile-markup@example.com"))
        .expect("a confirmation mail");
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.raw)
        .unwrap();
    let html = parsed.body_html(0).unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains(SCRIPT));
    // The To header carries it as a display name, quoted or encoded, and
    // it decodes back to the same text.
    let to = parsed.to().unwrap().first().unwrap();
    assert_eq!(to.name(), Some(SCRIPT));

    // The issue never shows a subscriber's name in its body.
    let smtp = TestSmtp::start();
    let site = site_with(&Config::for_send(&smtp.url()), &[]);
    site.digest(&["subscribe", "hostile-issue@example.com", "--name", SCRIPT])
        .assert()
        .success();
    send_ok(&site);
    let raw = &smtp.messages()[0].raw;
    let body = String::from_utf8_lossy(raw);
    assert!(!body.contains("<script"), "raw markup in the message");
}

#[test]
fn a_line_break_in_a_stored_name_never_reaches_a_header() {
    // The CLI, the import and the form refuse such a name; a database
    // edited by hand is the last way in. No command can store it, so this
    // test writes it with SQL on purpose: it corrupts the data the way a
    // hand edit would.
    let smtp = TestSmtp::start();
    let subs = subscribers(2);
    let site = site_with(&Config::for_send(&smtp.url()), &subs);
    let conn = db(&site);
    conn.execute(
        "UPDATE subscribers SET name = ?1 WHERE email = ?2",
        ["Eve\r\nBcc: victim@example.net", subs[0].email.as_str()],
    )
    .unwrap();
    drop(conn);
    let run = run(&site, &["send", "--week", "2026-W48"]);
    let injected = smtp.messages().iter().any(|m| {
        raw_headers(&m.raw)
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("bcc"))
    });
    assert!(!injected, "a Bcc header was injected");
    assert!(
        smtp.messages()
            .iter()
            .all(|m| m.rcpt_to.iter().all(|r| r != "victim@example.net"))
    );
    // Either the message went out with the name encoded, or that delivery
    // failed cleanly; the other subscriber got theirs.
    assert!(run.code == 0 || run.code == 1, "{run:#?}");
    assert_eq!(smtp.count_for(&subs[1].email), 1);
    for m in smtp.messages() {
        let to = field(&m.raw, "To");
        assert!(!to.contains('\r') && !to.contains('\n'), "{to:?}");
    }
}

#[test]
fn quotes_in_every_field_survive_the_database_unchanged() {
    let site = Site::new();
    let name = r#"O'Brien "Bob"; DROP TABLE subscribers;--"#;
    site.digest(&[
        "subscribe",
        "o'brien@example.com",
        "--name",
        name,
        "--role",
        "executive",
    ])
    .assert()
    .success();
    site.write(
        "quotes.csv",
        "email,name\nquoted@example.com,\"It's \"\"quoted\"\", isn't it\"\n",
    );
    let import = site
        .digest(&["subscribers", "import", "quotes.csv"])
        .assert()
        .success();
    assert_eq!(
        output(&import).0,
        "imported 1, skipped 0 existing, rejected 0\n"
    );
    let list = site
        .digest(&["subscribers", "list", "--format", "json"])
        .assert()
        .success();
    let rows: serde_json::Value = serde_json::from_str(&output(&list).0).unwrap();
    let by_email = |email: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["email"] == email)
            .cloned()
    };
    assert_eq!(by_email("o'brien@example.com").unwrap()["name"], name);
    assert_eq!(
        by_email("quoted@example.com").unwrap()["name"],
        r#"It's "quoted", isn't it"#
    );
    // And back out through the CSV export, quoted as CSV quotes.
    let export = site.digest(&["subscribers", "export"]).assert().success();
    assert!(output(&export).0.contains(r#""It's ""quoted"", isn't it""#));
}
