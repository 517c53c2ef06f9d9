//! The pages in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven over WebDriver with fantoccini.
//!
//! - One reader's journey against the built binary: the subscribe form of
//!   `digest serve`, the confirmation link from the mail the test SMTP
//!   server received, an issue sent with `digest send`, its one-click
//!   unsubscribe link, the archive and the issue's web version.
//! - The rendered issue (`digest preview` of the repository's glossary) at
//!   375 and 800 CSS pixels wide.
//!
//! Every page is checked for horizontal scrolling at its width, and a
//! full-page screenshot of each lands in `target/screenshots/` for a person
//! to look at.
//!
//! Each test starts its own chromedriver on a free port, in a process group
//! of its own that is killed at the end, Chromium included. Without
//! Chromium or chromedriver the tests are ignored (`build.rs` sets
//! `missing_chromium`), except under CI (the `CI` variable set), where they
//! fail: `scripts/install-test-deps.sh` installs both.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use mail_parser::{Message, MessageParser};
use serde_json::{Value, json};
use tempfile::TempDir;

use super::support::db::subscriber;
use super::support::ports::free_port;
use super::support::run::to_std;
use super::support::smtp::{Received, TestSmtp};
use super::support::{Config, Site, fixture, output, repo};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const WEEK: &str = "2026-W48";
/// The longest any single wait (a process starting, a page, a mail) may take.
const PATIENCE: Duration = Duration::from_secs(20);
/// The small screen every serve page is checked at.
const PHONE: u32 = 375;
/// The browser's time zone (`TZ` for chromedriver and Chromium): what the
/// subscribe form's script must capture.
const BROWSER_ZONE: &str = "Asia/Tokyo";

// ------------------------------------------------------------ the browser --

/// Panics unless Chromium and chromedriver are installed (a test that got
/// this far was not ignored: they must be there).
fn require_browser() {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "{} missing: run scripts/install-test-deps.sh \
         (Debian packages chromium and chromium-driver)",
        missing.join(" and ")
    );
}

/// Poll until something accepts connections on `port`; panic (with `log`)
/// when `child` exits first or `PATIENCE` runs out.
fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &Path) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + PATIENCE;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status}:\n{}", read_log(log));
        }
        assert!(
            Instant::now() < deadline,
            "{what} does not accept connections on port {port} after {PATIENCE:?}:\n{}",
            read_log(log)
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

/// chromedriver, started in a process group of its own so that dropping
/// the guard ends it and the Chromium it started, even after a panic.
struct Driver {
    child: Child,
    port: u16,
    /// The chromedriver log, and Chromium's profile (`profile/`).
    dir: TempDir,
}

impl Driver {
    fn start() -> Driver {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let log = dir.path().join("chromedriver.log");
        let mut child = std::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .env("TZ", BROWSER_ZONE)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("chromedriver.err")).unwrap())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        wait_for_port(port, &mut child, "chromedriver", &log);
        Driver { child, port, dir }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn profile(&self) -> PathBuf {
        self.dir.path().join("profile")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group's id is chromedriver's pid (`process_group(0)`).
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver session in headless Chromium. `close` it at the end; a panic
/// before that is cleaned up by the driver's guard.
struct Browser {
    client: Client,
    // Dropped after `client`: the guard that kills chromedriver and Chromium.
    _driver: Driver,
}

impl Browser {
    /// A session; panics when the browser is not installed.
    async fn start() -> Browser {
        require_browser();
        let driver = Driver::start();
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            // Overlay-like: a classic 15 px scrollbar would make a 375 px
            // viewport lay out at 360, and show in every screenshot.
            "--hide-scrollbars".into(),
            format!("--user-data-dir={}", driver.profile().display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no WebDriver session: {e}\n{}",
                    read_log(&driver.dir.path().join("chromedriver.log"))
                )
            });
        Browser {
            client,
            _driver: driver,
        }
    }

    async fn close(self) {
        self.client
            .clone()
            .close()
            .await
            .expect("end the WebDriver session");
    }

    async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script `{script}`: {e}"))
    }

    async fn text(&self) -> String {
        let text = self
            .js("return document.body ? document.body.innerText : ''")
            .await;
        text.as_str().unwrap_or_default().to_string()
    }

    /// Wait until the page's first `h1` contains `heading` (`""`: until
    /// there is an `h1`).
    async fn wait_for_heading(&self, heading: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let h1 = self
                .client
                .execute(
                    "const h = document.querySelector('h1'); return h ? h.textContent : null",
                    vec![],
                )
                .await;
            if let Ok(Value::String(h1)) = &h1
                && h1.contains(heading)
            {
                return;
            }
            if Instant::now() > deadline {
                let url = self.client.current_url().await.map(|u| u.to_string());
                let source = self.client.source().await.unwrap_or_default();
                panic!("no h1 with {heading:?} at {url:?} (last h1: {h1:?}):\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the page's text contains `needle`. The page may be
    /// reloading itself meanwhile, so a failed script is only a retry.
    async fn wait_for_text(&self, needle: &str) {
        let deadline = Instant::now() + PATIENCE;
        let mut last = String::new();
        loop {
            let text = self
                .client
                .execute(
                    "return document.body ? document.body.innerText : ''",
                    vec![],
                )
                .await;
            if let Ok(Value::String(text)) = text {
                if text.contains(needle) {
                    return;
                }
                last = text;
            }
            if Instant::now() > deadline {
                panic!("no {needle:?} on the page after {PATIENCE:?}; it reads:\n{last}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn inner_size(&self) -> (i64, i64) {
        let size = self
            .js("return [window.innerWidth, window.innerHeight]")
            .await;
        (
            size[0].as_i64().expect("innerWidth"),
            size[1].as_i64().expect("innerHeight"),
        )
    }

    /// Make the viewport (`window.innerWidth` × `innerHeight`) exactly this
    /// size. WebDriver sizes the outer window, which in headless Chromium
    /// has a frame (143 px of height here), and the page learns of a resize
    /// a moment after the command returns: so grow the window by what the
    /// viewport lacks, then wait until the page reports the new size.
    async fn set_viewport(&self, width: u32, height: u32) {
        let want = (i64::from(width), i64::from(height));
        let (outer_w, outer_h) = self
            .client
            .get_window_size()
            .await
            .expect("the window size");
        let inner = self.inner_size().await;
        if inner == want {
            return;
        }
        let outer = (
            outer_w as i64 + want.0 - inner.0,
            outer_h as i64 + want.1 - inner.1,
        );
        assert!(
            outer.0 > 0 && outer.1 > 0,
            "window {outer_w}×{outer_h} with viewport {inner:?}"
        );
        self.client
            .set_window_size(outer.0 as u32, outer.1 as u32)
            .await
            .unwrap_or_else(|e| panic!("set the window to {outer:?}: {e}"));
        let deadline = Instant::now() + PATIENCE;
        loop {
            let inner = self.inner_size().await;
            if inner == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the viewport is {inner:?}, not {want:?}, {PATIENCE:?} after setting the window to \
                 {outer:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Fail when the page scrolls sideways at the current width, naming the
    /// widest elements that stick out.
    async fn assert_no_horizontal_scroll(&self, what: &str) {
        let found = self
            .js(r#"
                const vw = window.innerWidth;
                const out = [];
                for (const el of document.querySelectorAll('body *')) {
                    const r = el.getBoundingClientRect();
                    if (r.right > vw + 0.5 && r.width > 0) {
                        const cls = el.className && typeof el.className === 'string'
                            ? '.' + el.className.trim().split(/\s+/).join('.') : '';
                        out.push(`${el.tagName.toLowerCase()}${cls} right=${Math.round(r.right)} width=${Math.round(r.width)}`);
                    }
                }
                return [document.documentElement.scrollWidth, vw, out.slice(0, 12)];
            "#)
            .await;
        let scroll_width = found[0].as_i64().expect("scrollWidth");
        let inner_width = found[1].as_i64().expect("innerWidth");
        assert!(
            scroll_width <= inner_width,
            "{what} scrolls sideways: scrollWidth {scroll_width} > innerWidth {inner_width}; \
             sticking out: {:#}",
            found[2]
        );
    }

    /// A screenshot of the whole page at `width`: the viewport is made as
    /// tall as the page first, then set back to `width` × 800.
    async fn full_page_screenshot(&self, width: u32, name: &str) -> PathBuf {
        let height = self
            .js("return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)")
            .await
            .as_u64()
            .expect("scrollHeight");
        self.set_viewport(width, height as u32).await;
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        self.set_viewport(width, 800).await;
        assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        let dir = repo().join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    /// The checks every page gets at `width`: no sideways scrolling, and a
    /// full-page screenshot `target/screenshots/{name}-{width}.png`.
    async fn look_at(&self, width: u32, name: &str) {
        self.assert_no_horizontal_scroll(&format!("{name} at {width} px"))
            .await;
        self.full_page_screenshot(width, &format!("{name}-{width}"))
            .await;
    }
}

// --------------------------------------------------------- digest serve --

/// `digest serve` as a child process, with the harness's environment (the
/// clock pinned at 2026-11-29T12:00:00Z), killed when dropped.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(site: &Site, port: u16) -> Server {
        let listen = format!("127.0.0.1:{port}");
        let mut std_cmd = to_std(&site.digest(&["serve", "--listen", &listen]));
        let log = site.path("serve.log");
        let mut child = std_cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start digest serve");
        wait_for_port(port, &mut child, "digest serve", &log);
        let health = http_get(port, "/digest/healthz");
        assert!(
            health.starts_with("HTTP/1.1 200"),
            "GET /digest/healthz:\n{health}\n{}",
            read_log(&log)
        );
        Server { child, log }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("digest serve log:\n{}", read_log(&self.log));
        }
    }
}

/// The whole response to a plain HTTP/1.1 GET.
fn http_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    response
}

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
    let log = site.path("preview.log");
    let mut child = to_std(&site.digest(&["preview", "--serve", "--listen", &listen]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start digest preview --serve");
    wait_for_port(port, &mut child, "digest preview --serve", &log);
    let server = Server { child, log };

    browser.goto(&format!("http://{listen}/")).await;
    browser.wait_for_heading("Preview").await;
    browser
        .wait_for_text(&format!("{WEEK}\tTechnical lead"))
        .await;

    browser
        .goto(&format!("http://{listen}/issue/{WEEK}?role=executive"))
        .await;
    browser.wait_for_heading(WEEK).await;
    browser.wait_for_text("TERM OF THE WEEK: TOKENS").await;
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
    browser.close().await;
    drop(server);
}
