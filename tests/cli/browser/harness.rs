//! The browser harness: chromedriver and headless Chromium in a process
//! group of their own, a WebDriver session with the waits the tests need
//! (a heading, a text, a viewport of an exact size), full-page screenshots,
//! and `digest serve` or `digest preview --serve` as a child process.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::ports::free_port;
use crate::support::run::to_std;
use crate::support::{Site, repo};

pub(super) const CHROMIUM: &str = "/usr/bin/chromium";
pub(super) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub(super) const WEEK: &str = "2026-W48";
/// The longest any single wait (a process starting, a page, a mail) may take.
pub(super) const PATIENCE: Duration = Duration::from_secs(20);
/// The small screen every serve page is checked at.
pub(super) const PHONE: u32 = 375;
/// The browser's time zone (`TZ` for chromedriver and Chromium): what the
/// subscribe form's script must capture.
pub(super) const BROWSER_ZONE: &str = "Asia/Tokyo";

// ------------------------------------------------------------ the browser --

/// Panics unless Chromium and chromedriver are installed (a test that got
/// this far was not ignored: they must be there).
pub(super) fn require_browser() {
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
pub(super) fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &Path) {
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

pub(super) fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

/// chromedriver, started in a process group of its own so that dropping
/// the guard ends it and the Chromium it started, even after a panic.
pub(super) struct Driver {
    child: Child,
    port: u16,
    /// The chromedriver log, and Chromium's profile (`profile/`).
    dir: TempDir,
}

impl Driver {
    pub(super) fn start() -> Driver {
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

    pub(super) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(super) fn profile(&self) -> PathBuf {
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
pub(super) struct Browser {
    pub(super) client: Client,
    // Dropped after `client`: the guard that kills chromedriver and Chromium.
    _driver: Driver,
}

impl Browser {
    /// A session; panics when the browser is not installed.
    pub(super) async fn start() -> Browser {
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

    pub(super) async fn close(self) {
        self.client
            .clone()
            .close()
            .await
            .expect("end the WebDriver session");
    }

    pub(super) async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    pub(super) async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script `{script}`: {e}"))
    }

    pub(super) async fn text(&self) -> String {
        let text = self
            .js("return document.body ? document.body.innerText : ''")
            .await;
        text.as_str().unwrap_or_default().to_string()
    }

    /// Wait until the page's first `h1` contains `heading` (`""`: until
    /// there is an `h1`).
    pub(super) async fn wait_for_heading(&self, heading: &str) {
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
    pub(super) async fn wait_for_text(&self, needle: &str) {
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

    pub(super) async fn inner_size(&self) -> (i64, i64) {
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
    pub(super) async fn set_viewport(&self, width: u32, height: u32) {
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
    pub(super) async fn assert_no_horizontal_scroll(&self, what: &str) {
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
    pub(super) async fn full_page_screenshot(&self, width: u32, name: &str) -> PathBuf {
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
    pub(super) async fn look_at(&self, width: u32, name: &str) {
        self.assert_no_horizontal_scroll(&format!("{name} at {width} px"))
            .await;
        self.full_page_screenshot(width, &format!("{name}-{width}"))
            .await;
    }
}

// --------------------------------------------------------- digest serve --

/// `digest serve` or `digest preview --serve` as a child process, with the
/// harness's environment (the clock pinned at 2026-11-29T12:00:00Z), killed
/// when dropped.
pub(super) struct Server {
    child: Child,
    log: PathBuf,
    what: &'static str,
}

impl Server {
    /// `digest serve` on `port`, once its health check answers.
    pub(super) fn start(site: &Site, port: u16) -> Server {
        let server = Server::spawn(site, port, "digest serve", &["serve"]);
        let health = http_get(port, "/digest/healthz");
        assert!(
            health.starts_with("HTTP/1.1 200"),
            "GET /digest/healthz:\n{health}\n{}",
            read_log(&server.log)
        );
        server
    }

    /// `digest preview --serve` on `port`, once it accepts connections.
    pub(super) fn preview(site: &Site, port: u16) -> Server {
        Server::spawn(
            site,
            port,
            "digest preview --serve",
            &["preview", "--serve"],
        )
    }

    fn spawn(site: &Site, port: u16, what: &'static str, args: &[&str]) -> Server {
        let listen = format!("127.0.0.1:{port}");
        let mut args = args.to_vec();
        args.extend(["--listen", &listen]);
        let log = site.path(&format!("{}.log", args[0]));
        let mut child = to_std(&site.digest(&args))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        wait_for_port(port, &mut child, what, &log);
        Server { child, log, what }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{} log:\n{}", self.what, read_log(&self.log));
        }
    }
}

/// The whole response to a plain HTTP/1.1 GET.
pub(super) fn http_get(port: u16, path: &str) -> String {
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
