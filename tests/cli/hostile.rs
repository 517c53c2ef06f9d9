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

/// Bad input of every kind a user can give: each is an error naming what
/// to fix, exit 2 (1 where an operation fails, such as a key file that is
/// unreadable), never a panic (101).
#[test]
fn no_config_value_environment_variable_or_file_makes_the_program_panic() {
    let smtp = shared_smtp().url();
    let configs = [
        "[send]\nconcurrency = 4294967295\n",
        "[send]\nrate_per_second = nan\n",
        "[send]\nrate_per_second = inf\n",
        "[send]\nrate_per_second = 1e-300\n",
        "[send]\nretry_base_ms = 18446744073709551615\n",
        "[send]\nmax_attempts = -1\n",
        "[smtp]\ntimeout_secs = 18446744073709551615\n",
        "[serve]\nconfirm_expiry_hours = 18446744073709551615\n",
        "[serve]\nlisten = \"::::\"\n",
        "[smtp]\nurl = \"smtp://\"\n",
        "[smtp]\nurl = \"smtp://[::1\"\n",
        "[smtp]\nurl = \"smtps://host:99999\"\n",
        "[smtp]\nca_file = \"digest.toml\"\n",
        "[newsletter]\npublic_url = \"\"\n",
        "[newsletter]\nfrom = \"<>\"\n",
        "[newsletter]\nlist_id = \"é.é\"\n",
        "[newsletter]\ntimezone = \"\\u0000\"\n",
        "[dkim]\ndomain = \"x\"\nselector = \"s\"\nprivate_key_file = \"digest.toml\"\n",
        "[dkim]\ndomain = \"x\"\nselector = \"s\"\nprivate_key_file = \"/nonexistent/key.pem\"\n",
        "[paths]\ncontent = \"/dev/null\"\n",
        "[paths]\ntemplates = \"digest.toml\"\n",
        "[[send]]\n",
        "\u{feff}[send]\n",
        "x = 1\n[send]\nx = 2\n",
        "[inbound]\nbounce_address = \"@\"\n",
        "[inbound]\nunsubscribe_address = \"a@b@c\"\n",
        "[inbound]\nsoft_bounce_limit = 4294967296\n",
        "[inbound.imap]\nurl = \"imaps://[::1\"\n",
        "[inbound.imap]\nurl = \"imap://host:0\"\n",
        "[inbound.imap]\nurl = \"imaps://127.0.0.1:1\"\nca_file = \"digest.toml\"\n",
        "[inbound.imap]\nurl = \"imap://127.0.0.1:1/?tls=none\"\nfolder = \"\"\n",
        "[paths]\ninbound = \"/dev/null\"\n",
        "[paths]\ninbound = \"digest.toml\"\n",
    ];
    let check = |site: &Site, what: &str, env: &[(&str, &str)], args: &[&str]| {
        let mut cmd = site.digest(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        // `inbound` speaks the MTA's language: 75 asks it to retry.
        let tempfail = args[0] == "inbound" && code == Some(75);
        assert!(
            (matches!(code, Some(0..=2)) || tempfail) && !stderr.contains("panicked"),
            "{what} with {args:?}: exit {code:?}\n{stderr}"
        );
    };
    for text in configs {
        let site = Site::with_content(&super::support::fixture("small/content"));
        // A reachable server, so that a value reaches the code that uses it.
        if text.contains("[smtp]") {
            site.write("digest.toml", text);
        } else {
            site.write("digest.toml", format!("{text}\n[smtp]\nurl = \"{smtp}\"\n"));
        }
        for args in [
            &["preview"][..],
            &["send", "--dry-run"],
            &["send", "--test", "editor@example.com"],
            &["subscribe", "ada@example.com", "--pending"],
            &["inbound", "digest.toml"],
        ] {
            check(&site, text, &[], args);
        }
        let imap_user = [("DIGEST_IMAP_USERNAME", "u"), ("DIGEST_IMAP_PASSWORD", "p")];
        check(&site, text, &imap_user, &["inbound", "--imap"]);
        // `doctor` reaches every value, and asks a name server that is
        // not there (refused at once) rather than the network.
        let dns = format!(
            "\n[dns]\nnameserver = \"127.0.0.1:{}\"\n",
            super::support::ports::closed_port()
        );
        site.write("digest.toml", site.read("digest.toml") + &dns);
        check(&site, text, &[], &["doctor"]);
    }
    for text in [
        "[dns]\nnameserver = \"[::1]:99999\"\n",
        "[dns]\nnameserver = \"\"\n",
        "[dns]\nnameserver = 53\n",
        "[dns]\nresolver = \"x\"\n",
    ] {
        let site = Site::with_content(&super::support::fixture("small/content"));
        site.write("digest.toml", text);
        check(&site, text, &[], &["doctor"]);
    }
    // The environment, and files in the content and templates folders.
    let site = Site::with_content(&super::support::fixture("small/content"));
    site.write(
        "digest.toml",
        format!("[smtp]\nurl = \"{smtp}\"\nuser = 1\n"),
    );
    check(&site, "an unknown smtp key", &[], &["send", "--dry-run"]);
    site.write("digest.toml", format!("[smtp]\nurl = \"{smtp}\"\n"));
    let envs: [(&str, &str); 5] = [
        ("DIGEST_NOW", "yesterday"),
        ("DIGEST_NOW", "9999-12-31T23:59:59Z"),
        ("DIGEST_SMTP_USERNAME", "apikey"),
        ("DIGEST_SMTP_PASSWORD_FILE", "/nonexistent"),
        ("RUST_LOG", "=,;[]"),
    ];
    for env in envs {
        check(
            &site,
            env.0,
            &[env, ("DIGEST_SMTP_USERNAME", "u")],
            &["send", "--test", "a@example.com"],
        );
        check(&site, env.0, &[env], &["preview"]);
    }
    site.write("templates/digest.html", "{% if %}");
    check(&site, "a broken template", &[], &["preview"]);
    site.write("templates/digest.html", "{{ no_such_variable.field }}");
    check(
        &site,
        "a template naming nothing",
        &[],
        &["send", "--test", "a@example.com"],
    );
    site.write("templates/digest.html", [0xff, 0xfe, 0x00]);
    check(&site, "a binary template", &[], &["preview"]);
    std::fs::remove_file(site.path("templates/digest.html")).unwrap();
    site.write("templates/subject.txt", "   ");
    check(&site, "an empty subject", &[], &["preview"]);
    std::fs::remove_file(site.path("templates/subject.txt")).unwrap();
    site.write("content/garbage.md", [0x00, 0xff, 0x2b, 0x2b, 0x2b]);
    check(&site, "a binary term file", &[], &["preview"]);
    check(
        &site,
        "a binary term file",
        &[],
        &["send", "--week", "0000-W01", "--test", "a@example.com"],
    );
    check(
        &site,
        "a week out of range",
        &[],
        &["preview", "--week", "9999-W52"],
    );
}
