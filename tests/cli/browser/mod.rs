//! The pages in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven over WebDriver with fantoccini.
//!
//! - One reader's journey against the built binary: the subscribe form of
//!   `digest serve`, the confirmation link from the mail the test SMTP
//!   server received, an issue sent with `digest send`, its one-click
//!   unsubscribe link, the archive and the issue's web version.
//! - The rendered issue (`digest preview` of the repository's glossary) at
//!   375 and 800 CSS pixels wide.
//! - The live preview (`digest preview --serve`) following an editor's
//!   saves, and showing a broken file's problem instead of a blank.
//!
//! Every page is checked for horizontal scrolling at its width, and a
//! full-page screenshot of each lands in `target/screenshots/` for a person
//! to look at.
//!
//! The harness (chromedriver, the WebDriver session and its waits, the
//! servers under test) is in `harness.rs`. Each test starts its own
//! chromedriver on a free port, in a process group of its own that is
//! killed at the end, Chromium included. Without
//! Chromium or chromedriver the tests are ignored (`build.rs` sets
//! `missing_chromium`), except under CI (the `CI` variable set), where they
//! fail: `scripts/install-test-deps.sh` installs both.

use fantoccini::Locator;
use mail_parser::{Message, MessageParser};
use serde_json::json;

use super::support::db::subscriber;
use super::support::ports::free_port;
use super::support::smtp::{Received, TestSmtp};
use super::support::{Config, Site, fixture, output, repo};

mod harness;

use harness::*;

// ----------------------------------------------------------------- mail --

fn parse(received: &Received) -> Message<'_> {
    MessageParser::default()
        .parse(&received.raw)
        .expect("a parsable message")
}

/// The first URL in `text` that starts with `prefix`.
fn link(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)?;
    let end = text[start..]
        .find(|c: char| c.is_whitespace() || c == '>' || c == '"')
        .map_or(text.len(), |n| start + n);
    Some(text[start..end].to_string())
}

/// The one message the server received for `to` after the first `skip`.
fn message_for(smtp: &TestSmtp, skip: usize, to: &str) -> Received {
    assert!(
        smtp.wait_for(skip + 1, PATIENCE),
        "no message for {to} after {PATIENCE:?}"
    );
    let mut found: Vec<Received> = smtp
        .messages()
        .into_iter()
        .skip(skip)
        .filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(to)))
        .collect();
    assert_eq!(found.len(), 1, "messages for {to}: {found:#?}");
    found.remove(0)
}

// ---------------------------------------------------------------- tests --

/// Subscribe in the form (the browser's time zone captured), confirm from
/// the mail, receive the welcome and an issue, open the preferences from
/// the issue and change role and pause, look at the one-click page, then
/// unsubscribe with a reason; read the archive and the web version. Every
/// page at 375 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_chromium,
    ignore = "chromium not installed: run scripts/install-test-deps.sh"
)]
async fn a_reader_subscribes_confirms_and_unsubscribes_in_a_browser() {
    let browser = Browser::start().await;
    let smtp = TestSmtp::start();
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}/digest");
    let site = Site::with_content(&fixture("small/content"));
    site.config(
        &Config::new()
            .newsletter("public_url", &public)
            .smtp_url(&smtp.url()),
    );
    let server = Server::start(&site, port);
    let email = "reader@example.org";
    browser.set_viewport(PHONE, 800).await;

    // The form.
    browser.goto(&format!("{public}/")).await;
    browser.wait_for_heading("Subscribe to").await;
    browser.look_at(PHONE, "form").await;
    let c = &browser.client;
    let field = |css: &'static str| async move {
        c.find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    };
    field("#email").await.send_keys(email).await.unwrap();
    field("#name").await.send_keys("Ada Browser").await.unwrap();
    field("#role")
        .await
        .select_by_value("technical_lead")
        .await
        .unwrap();
    field("button[type=submit]").await.click().await.unwrap();
    browser.wait_for_heading("Check your inbox").await;
    browser.look_at(PHONE, "check-inbox").await;

    // The confirmation mail and its link.
    let confirmation = message_for(&smtp, 0, email);
    let message = parse(&confirmation);
    let text = message.body_text(0).expect("a text part");
    let confirm = link(&text, &format!("{public}/confirm/"))
        .unwrap_or_else(|| panic!("no confirmation link in:\n{text}"));
    assert_eq!(subscriber(&site, email)["status"], "pending");
    browser.goto(&confirm).await;
    browser.wait_for_heading("You're subscribed").await;
    assert!(
        browser.text().await.contains("r***@example.org"),
        "{}",
        browser.text().await
    );
    browser.look_at(PHONE, "confirmed").await;
    let row = subscriber(&site, email);
    assert_eq!(
        (&row["status"], &row["name"], &row["role"], &row["timezone"]),
        (
            &json!("active"),
            &json!("Ada Browser"),
            &json!("technical_lead"),
            &json!(BROWSER_ZONE)
        ),
        "{row}"
    );

    // The welcome, once, with the reader's own links.
    let welcome = message_for(&smtp, 1, email);
    let message = parse(&welcome);
    assert_eq!(message.subject(), Some("Welcome to The AI Glossary Weekly"));
    let text = message.body_text(0).expect("a text part");
    assert!(
        text.contains("The first issue arrives on Sunday."),
        "{text}"
    );

    // A sent issue, and its one-click unsubscribe link.
    let before = smtp.messages().len();
    site.digest(&["send", "--week", WEEK]).assert().success();
    let issue = message_for(&smtp, before, email);
    let message = parse(&issue);
    let subject = message.subject().expect("a subject").to_string();
    let header: String = message
        .header_raw("List-Unsubscribe")
        .expect("a List-Unsubscribe header")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let unsubscribe = header
        .strip_prefix('<')
        .and_then(|h| h.strip_suffix('>'))
        .unwrap_or_else(|| panic!("List-Unsubscribe: {header}"))
        .to_string();
    assert!(
        unsubscribe.starts_with(&format!("{public}/unsubscribe/")),
        "{unsubscribe}"
    );
    let text = message.body_text(0).expect("a text part");
    assert_eq!(
        link(&text, &format!("{public}/unsubscribe/")).as_deref(),
        Some(unsubscribe.as_str()),
        "the text part's unsubscribe link is the header's"
    );
    // The preferences, from the issue's footer.
    let preferences = link(&text, &format!("{public}/preferences/"))
        .unwrap_or_else(|| panic!("no preferences link in:\n{text}"));
    browser.goto(&preferences).await;
    browser.wait_for_heading("Your preferences").await;
    browser.look_at(PHONE, "preferences").await;
    field("#role")
        .await
        .select_by_value("executive")
        .await
        .unwrap();
    field("#pause").await.select_by_value("4").await.unwrap();
    browser
        .client
        .find(Locator::XPath("//form//button[normalize-space()='Save']"))
        .await
        .expect("a Save button")
        .click()
        .await
        .unwrap();
    browser.wait_for_heading("Your preferences").await;
    let page = browser.text().await;
    assert!(
        page.contains("Saved. Executive; issues timed for Asia/Tokyo."),
        "{page}"
    );
    browser.look_at(PHONE, "preferences-saved").await;
    let row = subscriber(&site, email);
    assert_eq!(row["role"], "executive", "{row}");
    assert!(row["paused_until"].is_string(), "{row}");

    browser.goto(&unsubscribe).await;
    browser.wait_for_heading("Unsubscribe").await;
    let page = browser.text().await;
    assert!(page.contains("r***@example.org"), "{page}");
    assert!(!page.contains(email), "the full address is shown: {page}");
    browser.look_at(PHONE, "unsubscribe").await;
    assert_eq!(
        subscriber(&site, email)["status"],
        "active",
        "a GET unsubscribed"
    );
    // Leaving from the preferences page, saying why.
    browser.goto(&preferences).await;
    browser.wait_for_heading("Your preferences").await;
    field("#reason")
        .await
        .select_by_value("too-long")
        .await
        .unwrap();
    field("#reason_text")
        .await
        .send_keys("I read the archive instead")
        .await
        .unwrap();
    browser
        .client
        .find(Locator::XPath(
            "//form//button[normalize-space()='Unsubscribe']",
        ))
        .await
        .expect("an Unsubscribe button")
        .click()
        .await
        .unwrap();
    browser.wait_for_heading("You're unsubscribed").await;
    browser.look_at(PHONE, "unsubscribed").await;
    let row = subscriber(&site, email);
    assert_eq!(row["status"], "unsubscribed");
    assert_eq!(
        row["unsubscribe_reason"],
        "too-long: I read the archive instead"
    );

    // The archive and the issue's web version.
    browser.goto(&format!("{public}/archive")).await;
    browser.wait_for_heading("Past issues").await;
    let entry = browser
        .client
        .find(Locator::Css(&format!("a[href='{public}/archive/{WEEK}']")))
        .await
        .unwrap_or_else(|e| panic!("no link to {WEEK} in the archive: {e}"));
    assert_eq!(entry.text().await.unwrap(), subject);
    browser.look_at(PHONE, "archive").await;
    entry.click().await.unwrap();
    browser.wait_for_heading("").await;
    assert_eq!(browser.client.title().await.unwrap(), subject);
    assert_eq!(
        browser.client.current_url().await.unwrap().as_str(),
        format!("{public}/archive/{WEEK}")
    );
    let source = browser.client.source().await.unwrap();
    assert!(
        !source.contains("/unsubscribe/"),
        "the web version has a personal link:\n{source}"
    );
    browser.look_at(PHONE, "web-issue").await;

    browser.close().await;
    drop(server);
}

/// The issue as `digest preview` renders it from the real glossary, in a
/// phone-sized and a desktop-sized window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_chromium,
    ignore = "chromium not installed: run scripts/install-test-deps.sh"
)]
async fn the_issue_fits_375_and_800_px_wide() {
    let browser = Browser::start().await;
    let site = Site::with_content(&repo().join("content"));
    let assert = site.digest(&["preview", "--week", WEEK]).assert().success();
    let (stdout, _) = output(&assert);
    let html = site.path(stdout.lines().next().expect("the HTML path"));
    let url = url::Url::from_file_path(&html).expect("an absolute path");
    for width in [375, 800] {
        browser.set_viewport(width, 800).await;
        browser.goto(url.as_str()).await;
        browser.wait_for_heading("").await;
        let title = browser.client.title().await.unwrap();
        assert!(title.starts_with("The AI Glossary Weekly"), "{title}");
        browser.look_at(width, "issue").await;
    }
    browser.close().await;
}

/// `digest preview --serve`: the editor keeps a week's page open, saves a
/// term's file and sees the change without touching the browser; a file
/// that breaks shows its problem on the page, and fixing it brings the
/// issue back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_chromium,
    ignore = "chromium not installed: run scripts/install-test-deps.sh"
)]
async fn the_live_preview_follows_the_editor_s_changes() {
    let browser = Browser::start().await;
    let site = Site::with_content(&fixture("small/content"));
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = Server::preview(&site, port);

    browser.goto(&format!("http://{listen}/")).await;
    browser.wait_for_heading("Preview").await;
    browser
        .wait_for_text(&format!("{WEEK}\tTechnical lead"))
        .await;

    browser
        .goto(&format!("http://{listen}/issue/{WEEK}?role=executive"))
        .await;
    browser.set_viewport(1280, 800).await;
    browser.wait_for_heading(WEEK).await;
    browser.wait_for_text("TERM OF THE WEEK: TOKENS").await;
    browser.look_at(1280, "live-preview").await;
    let frame = browser
        .js("return document.querySelector('iframe').contentDocument.title")
        .await;
    assert!(
        frame
            .as_str()
            .unwrap_or_default()
            .starts_with("The AI Glossary Weekly"),
        "{frame}"
    );

    let term = site.path("content/tokens.md");
    let original = std::fs::read_to_string(&term).unwrap();
    let old = "The small chunks of text, often pieces of words,";
    assert!(original.contains(old));
    let edited = original.replace(old, "Freshly edited: the pieces of text");
    std::fs::write(&term, &edited).unwrap();
    browser
        .wait_for_text("Freshly edited: the pieces of text")
        .await;

    std::fs::write(&term, edited.replace("title = \"Tokens\"\n", "")).unwrap();
    browser.wait_for_text("This issue cannot be built").await;
    browser
        .wait_for_text(
            "content/tokens.md:23: missing required field `title`; add `title = \"Tokens\"`",
        )
        .await;

    std::fs::write(&term, &edited).unwrap();
    browser.wait_for_text("TERM OF THE WEEK: TOKENS").await;
    assert!(!browser.text().await.contains("cannot be built"));
    assert!(
        !site.path("subscribers/digest.db").exists(),
        "the preview created the database"
    );
    browser.close().await;
    drop(server);
}
