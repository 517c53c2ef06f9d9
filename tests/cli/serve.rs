//! `digest serve`: every route and every abuse case, called in-process
//! through the router (a real store in a temporary folder, the shared test
//! SMTP server), and the binary itself started, probed and stopped.
//!
//! Addresses contain `serve` so they never meet another module's at the
//! shared SMTP server.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use chrono::Utc;
use glossary_digest::clock::Clock;
use glossary_digest::config::Config;
use glossary_digest::http::{AppState, BODY_LIMIT, SUBSCRIBE_PER_MINUTE, router};
use glossary_digest::render::Templates;
use glossary_digest::store::Store;
use glossary_digest::timestamp::Timestamp;
use glossary_digest::transport::smtp::Smtp;
use http_body_util::BodyExt as _;
use mail_parser::MessageParser;
use rusqlite::OptionalExtension as _;
use tempfile::TempDir;
use tower::ServiceExt as _;

use super::support::config::Config as DigestToml;
use super::support::db::open;
use super::support::ports::{closed_port, free_port};
use super::support::run::{digest_in, finish, to_std};
use super::support::{Site, fixture, output, shared_smtp};

const PUBLIC_URL: &str = "https://glossary.example/digest";
const SUBJECT: &str = "Confirm your subscription to The AI Glossary Weekly";
const FORM: &str = "application/x-www-form-urlencoded";
/// How the archive pages advertise the feed.
const FEED_LINK: &str = "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"The AI Glossary Weekly\" href=\"https://glossary.example/digest/archive.atom\">";

/// A remote client (not loopback, so its X-Forwarded-For is not trusted).
fn peer(last: u8) -> SocketAddr {
    SocketAddr::from(([203, 0, 113, last], 40_000))
}

/// A reverse proxy on the same machine.
fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40_000))
}

fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// A response, read to the end.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn assert_status(&self, status: StatusCode) -> &Self {
        assert_eq!(self.status, status, "{}", self.body);
        self
    }

    fn assert_contains(&self, text: &str) -> &Self {
        assert!(
            self.body.contains(text),
            "no {text:?} in the {} page:\n{}",
            self.status,
            self.body
        );
        self
    }

    fn assert_no_store(&self) -> &Self {
        assert_eq!(self.header(header::CACHE_CONTROL), Some("no-store"));
        self
    }

    /// On every response, whatever the route or the outcome.
    fn assert_security_headers(&self) {
        let csp = self
            .header(header::CONTENT_SECURITY_POLICY)
            .unwrap_or_else(|| panic!("no CSP on a {} response", self.status));
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(self.header(header::X_CONTENT_TYPE_OPTIONS), Some("nosniff"));
        assert_eq!(self.header(header::REFERRER_POLICY), Some("no-referrer"));
    }

    fn is_check_inbox(&self) -> bool {
        self.status == StatusCode::OK && self.body.contains("<h1>Check your inbox</h1>")
    }
}

/// A subscriber row, as the database has it.
#[derive(Debug)]
struct Row {
    status: String,
    token: String,
    confirm_token: Option<String>,
    confirm_sent_at: Option<String>,
    confirmed_at: Option<String>,
    unsubscribed_at: Option<String>,
    /// How they left: one-click, page, mailto, cli, complaint.
    unsubscribed_how: Option<String>,
    name: Option<String>,
    role: Option<String>,
}

/// The router over a fresh database in a temporary folder, with the small
/// fixture glossary, public at `https://glossary.example/digest`, mailing
/// through the shared test SMTP server.
struct Web {
    app: Router,
    dir: TempDir,
}

impl Web {
    fn new() -> Web {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = Web::config(&dir, &shared_smtp().url()).text();
        let config = Config::parse(&text, Some(&dir.path().join("digest.toml"))).expect("config");
        let content = config.paths.content.clone();
        let glossary = glossary_digest::content::load(&content)
            .and_then(|loaded| loaded.into_result(&content))
            .expect("the small glossary");
        let store = Store::open_or_create(&config.paths.database).expect("store");
        let transport = Smtp::from_config(&config).expect("transport");
        let state = AppState::new(
            config,
            Templates::builtin().expect("built-in templates"),
            glossary,
            store,
            transport,
            None,
            Clock::starting_at(Utc::now()),
        );
        Web {
            app: router(Arc::new(state)),
            dir,
        }
    }

    /// The configuration of the router's site, sending through `smtp_url`.
    fn config(dir: &TempDir, smtp_url: &str) -> DigestToml {
        DigestToml::new()
            .newsletter("site_url", "https://glossary.example")
            .newsletter("public_url", PUBLIC_URL)
            .smtp_url(smtp_url)
            .paths("content", fixture("small/content"))
            .paths("database", dir.path().join("digest.db"))
    }

    async fn call(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let reply = Reply {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).expect("UTF-8 body"),
        };
        reply.assert_security_headers();
        reply
    }

    async fn get(&self, path: &str) -> Reply {
        self.get_from(peer(1), path).await
    }

    async fn get_from(&self, from: SocketAddr, path: &str) -> Reply {
        let request = Request::get(path)
            .extension(ConnectInfo(from))
            .body(Body::empty())
            .unwrap();
        self.call(request).await
    }

    async fn post(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
        from: SocketAddr,
        forwarded_for: Option<&str>,
    ) -> Reply {
        let mut request = Request::post(path).extension(ConnectInfo(from));
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        if let Some(xff) = forwarded_for {
            request = request.header("x-forwarded-for", xff);
        }
        self.call(request.body(body.into()).unwrap()).await
    }

    async fn subscribe(&self, fields: &[(&str, &str)]) -> Reply {
        self.subscribe_from(peer(1), None, fields).await
    }

    async fn subscribe_from(
        &self,
        from: SocketAddr,
        forwarded_for: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Reply {
        self.post(
            "/digest/subscribe",
            Some(FORM),
            form(fields),
            from,
            forwarded_for,
        )
        .await
    }

    /// A form post that only a bot would send: it counts against the rate
    /// limit, and stores and sends nothing.
    async fn bot_post(&self, from: SocketAddr, forwarded_for: Option<&str>) -> Reply {
        self.subscribe_from(
            from,
            forwarded_for,
            &[
                ("email", "serve-bot@example.com"),
                ("website", "http://spam.example"),
            ],
        )
        .await
    }

    /// Subscribe through the form and open the confirmation link: the
    /// subscriber is active. Their unsubscribe token.
    async fn active(&self, email: &str) -> String {
        assert!(self.subscribe(&[("email", email)]).await.is_check_inbox());
        let confirm = self.row(email).unwrap().confirm_token.unwrap();
        self.get(&format!("/digest/confirm/{confirm}"))
            .await
            .assert_status(StatusCode::OK);
        let row = self.row(email).unwrap();
        assert_eq!(row.status, "active");
        row.token
    }

    fn db_path(&self) -> PathBuf {
        self.dir.path().join("digest.db")
    }

    fn db(&self) -> rusqlite::Connection {
        open(&self.db_path())
    }

    fn row(&self, email: &str) -> Option<Row> {
        self.db()
            .query_row(
                "SELECT status, token, confirm_token, confirm_sent_at, confirmed_at, unsubscribed_at, name, role, unsubscribed_how
                 FROM subscribers WHERE email_key = lower(?1)",
                [email],
                |r| {
                    Ok(Row {
                        status: r.get(0)?,
                        token: r.get(1)?,
                        confirm_token: r.get(2)?,
                        confirm_sent_at: r.get(3)?,
                        confirmed_at: r.get(4)?,
                        unsubscribed_at: r.get(5)?,
                        name: r.get(6)?,
                        role: r.get(7)?,
                        unsubscribed_how: r.get(8)?,
                    })
                },
            )
            .optional()
            .unwrap()
    }

    /// Every subscriber's token and confirmation token: what no public
    /// page may carry.
    fn tokens(&self) -> Vec<String> {
        let db = self.db();
        let mut stmt = db
            .prepare("SELECT token, confirm_token FROM subscribers")
            .unwrap();
        let rows: Vec<(String, Option<String>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.into_iter()
            .flat_map(|(token, confirm)| std::iter::once(token).chain(confirm))
            .collect()
    }

    fn subscriber_count(&self) -> i64 {
        self.db()
            .query_row("SELECT count(*) FROM subscribers", [], |r| r.get(0))
            .unwrap()
    }

    /// Pretend the last confirmation mail to `email` went out `ago`. No
    /// command can backdate it and the router's clock is the wall clock,
    /// so this one write is SQL.
    fn confirmation_sent(&self, email: &str, ago: chrono::Duration) {
        let changed = self
            .db()
            .execute(
                "UPDATE subscribers SET confirm_sent_at = ?2 WHERE email_key = lower(?1)",
                rusqlite::params![email, Timestamp::from(Utc::now() - ago).to_string()],
            )
            .unwrap();
        assert_eq!(changed, 1);
    }

    /// `digest send --week WEEK --feature FEATURED` on this database, on
    /// the Sunday of that week, with `subject` as the subject template: the
    /// issue is frozen the way a user freezes it, and needs an active
    /// subscriber. `reached`: the SMTP server (the shared one) took the
    /// mail, so the issue's sending has begun; otherwise the server was
    /// unreachable, and the issue is frozen but not started.
    fn send(&self, week: &str, subject: &str, featured: &str, reached: bool) {
        let (year, number) = week.split_once("-W").expect("YYYY-Www");
        let sunday = chrono::NaiveDate::from_isoywd_opt(
            year.parse().unwrap(),
            number.parse().unwrap(),
            chrono::Weekday::Sun,
        )
        .expect("a week");
        let smtp_url = if reached {
            shared_smtp().url()
        } else {
            format!("smtp://127.0.0.1:{}", closed_port())
        };
        let dir = self.dir.path();
        std::fs::write(
            dir.join("digest.toml"),
            Web::config(&self.dir, &smtp_url).text(),
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::write(dir.join("templates/subject.txt"), subject).unwrap();
        let mut cmd = digest_in(dir, &["send", "--week", week, "--feature", featured]);
        cmd.env("DIGEST_NOW", format!("{sunday}T12:00:00Z"));
        let run = finish(cmd);
        if reached {
            assert_eq!(run.code, 0, "{run:#?}");
            assert!(
                run.stdout.starts_with(&format!("{week}: sent ")),
                "{run:#?}"
            );
        } else {
            assert_eq!(run.code, 1, "{run:#?}");
            assert!(
                run.stderr.contains("cannot reach the SMTP server"),
                "{run:#?}"
            );
        }
    }
}

/// A confirmation mail, parsed.
#[derive(Debug)]
struct Mail {
    to: String,
    subject: String,
    text: String,
    html: String,
}

/// Wait until the shared SMTP server has been quiet for a moment: the
/// server sends confirmation mail in the background, after answering.
fn settle() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut last = shared_smtp().messages().len();
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = shared_smtp().messages().len();
        if now == last {
            return;
        }
        last = now;
    }
}

/// Every message the shared SMTP server accepted for `address`.
fn mails_to(address: &str) -> Vec<Mail> {
    settle();
    shared_smtp()
        .messages()
        .into_iter()
        .filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(address)))
        .map(|m| {
            let parsed = MessageParser::default()
                .parse(&m.raw)
                .expect("a parseable message");
            Mail {
                to: parsed
                    .to()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .expect("To")
                    .to_string(),
                subject: parsed.subject().expect("Subject").to_string(),
                text: parsed.body_text(0).expect("a text part").into_owned(),
                html: parsed.body_html(0).expect("an html part").into_owned(),
            }
        })
        .collect()
}

/// The confirmation mails to `address` (a confirmed reader also gets a
/// welcome).
fn confirmations_to(address: &str) -> Vec<Mail> {
    mails_to(address)
        .into_iter()
        .filter(|m| m.subject == SUBJECT)
        .collect()
}

/// The one confirmation mail to `address`, carrying the link to `token`.
fn assert_one_confirmation(address: &str, token: &str) -> Mail {
    let mut mails = mails_to(address);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let mail = mails.remove(0);
    assert_eq!(mail.to, address);
    assert_eq!(mail.subject, SUBJECT);
    let link = format!("{PUBLIC_URL}/confirm/{token}");
    assert!(mail.text.contains(&link), "{link} not in\n{}", mail.text);
    assert!(
        mail.html.contains(&format!("href=\"{link}\"")),
        "{link} not in\n{}",
        mail.html
    );
    mail
}

#[tokio::test(flavor = "multi_thread")]
async fn the_form_is_served_at_the_prefix_and_the_root_with_the_honeypot_and_security_headers() {
    let web = Web::new();
    for path in ["/digest/", "/digest", "/", "/digest/subscribe"] {
        let page = web.get(path).await;
        page.assert_status(StatusCode::OK)
            .assert_contains("<form method=\"post\" action=\"https://glossary.example/digest/subscribe\">")
            .assert_contains("name=\"email\"")
            .assert_contains("name=\"name\"")
            .assert_contains("<select id=\"role\" name=\"role\">")
            .assert_contains(
                "<input type=\"text\" id=\"website\" name=\"website\" tabindex=\"-1\" autocomplete=\"off\">",
            )
            .assert_contains("class=\"trap\" aria-hidden=\"true\"");
        assert!(!page.body.contains("role=\"alert\""), "no error shown");
        assert_eq!(
            page.header(header::CONTENT_TYPE),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(page.header(header::X_FRAME_OPTIONS), Some("DENY"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_address_gets_the_check_inbox_page_a_pending_row_and_a_confirmation_mail() {
    let web = Web::new();
    let email = "serve-new@example.com";
    let reply = web
        .subscribe(&[("email", email), ("name", ""), ("role", "executive")])
        .await;
    assert!(reply.is_check_inbox(), "{}", reply.body);
    reply
        .assert_contains("The link works for 7 days")
        .assert_no_store();
    let row = web.row(email).expect("a row");
    assert_eq!(row.status, "pending");
    assert_eq!(row.role.as_deref(), Some("executive"));
    assert!(row.confirm_sent_at.is_some());
    assert!(row.confirmed_at.is_none());
    let token = row.confirm_token.expect("a confirmation token");
    assert_ne!(
        token, row.token,
        "the confirm and unsubscribe tokens differ"
    );
    let mail = assert_one_confirmation(email, &token);
    assert!(
        mail.text.contains("The link works for 7 days"),
        "{}",
        mail.text
    );
    assert!(
        !mail.text.contains(&row.token),
        "the unsubscribe token is not in the confirmation mail"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_answer_is_the_same_for_new_pending_and_active_addresses_and_one_mail_goes_out_per_ten_minutes()
 {
    let web = Web::new();
    let pending = "serve-same-pending@example.com";
    let active = "serve-same-active@example.com";
    web.active(active).await;
    assert_eq!(confirmations_to(active).len(), 1);

    let new = web.subscribe(&[("email", pending)]).await;
    assert_eq!(mails_to(pending).len(), 1);
    let first_token = web.row(pending).unwrap().confirm_token.unwrap();
    let again = web.subscribe(&[("email", pending)]).await;
    let again_other_case = web
        .subscribe(&[("email", "Serve-Same-Pending@example.com"), ("name", "Pat")])
        .await;
    let already_active = web.subscribe(&[("email", active)]).await;

    for (what, reply) in [
        ("pending", &again),
        ("pending, in other case", &again_other_case),
        ("active", &already_active),
    ] {
        assert_eq!(reply.status, new.status, "{what}");
        assert_eq!(
            reply.body, new.body,
            "{what}: the page differs from a new address's"
        );
        assert_eq!(
            reply.header(header::CONTENT_TYPE),
            new.header(header::CONTENT_TYPE)
        );
    }
    assert!(new.is_check_inbox());
    assert_eq!(
        mails_to(pending).len(),
        1,
        "a pending address within 10 minutes gets no second mail"
    );
    // Its confirmation and its welcome, from when it joined; nothing since.
    assert_eq!(mails_to(active).len(), 2, "an active address gets no mail");
    assert_eq!(web.row(active).unwrap().status, "active");
    let row = web.row(pending).unwrap();
    assert_eq!(row.status, "pending");
    assert_eq!(row.confirm_token.as_deref(), Some(first_token.as_str()));

    // Ten minutes later, another request sends another link; the first dies.
    web.confirmation_sent(pending, chrono::Duration::minutes(11));
    assert!(web.subscribe(&[("email", pending)]).await.is_check_inbox());
    assert_eq!(mails_to(pending).len(), 2);
    let second_token = web.row(pending).unwrap().confirm_token.unwrap();
    assert_ne!(second_token, first_token);
    assert!(
        mails_to(pending)
            .iter()
            .any(|m| m.text.contains(&second_token))
    );
    web.get(&format!("/digest/confirm/{first_token}"))
        .await
        .assert_status(StatusCode::NOT_FOUND);
    web.get(&format!("/digest/confirm/{second_token}"))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsubscribed_address_posted_again_becomes_pending_and_gets_a_confirmation_mail() {
    let web = Web::new();
    let email = "serve-again@example.com";
    let token = web.active(email).await;
    web.post(
        &format!("/digest/unsubscribe/{token}"),
        None,
        Body::empty(),
        peer(1),
        None,
    )
    .await
    .assert_status(StatusCode::OK);
    assert_eq!(web.row(email).unwrap().status, "unsubscribed");
    // The first confirmation mail went out more than ten minutes ago.
    web.confirmation_sent(email, chrono::Duration::minutes(30));

    assert!(web.subscribe(&[("email", email)]).await.is_check_inbox());
    let row = web.row(email).unwrap();
    assert_eq!(row.status, "pending");
    assert_eq!(row.unsubscribed_at, None);
    let mails = confirmations_to(email);
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let confirm = row.confirm_token.unwrap();
    // Both mails go out in the background: either may arrive first.
    assert!(
        mails
            .iter()
            .any(|m| m.text.contains(&format!("{PUBLIC_URL}/confirm/{confirm}")))
    );
    web.get(&format!("/digest/confirm/{confirm}"))
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(web.row(email).unwrap().status, "active");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_address_re_renders_the_form_with_the_error_and_the_typed_values_escaped() {
    let web = Web::new();
    let reply = web
        .subscribe(&[
            ("email", "not-an-address\"><b>x"),
            ("name", "<script>alert(1)</script>"),
            ("role", "executive"),
        ])
        .await;
    reply
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("<p class=\"error\" role=\"alert\">That address does not look right: ")
        .assert_contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\"")
        .assert_contains("value=\"not-an-address&quot;&gt;&lt;b&gt;x\"")
        .assert_contains("<option value=\"executive\" selected>")
        .assert_contains("name=\"website\"");
    assert!(!reply.body.contains("<script>alert"), "{}", reply.body);
    assert!(!reply.body.contains("<b>x"), "{}", reply.body);

    let reply = web
        .subscribe(&[("email", "serve-role@example.com"), ("role", "wizard")])
        .await;
    reply
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Please pick a role from the list.")
        .assert_contains("value=\"serve-role@example.com\"");

    let reply = web.subscribe(&[("name", "Nobody")]).await;
    reply
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("That address does not look right");

    assert_eq!(web.subscriber_count(), 0);
    assert!(mails_to("serve-role@example.com").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filled_honeypot_gets_the_check_inbox_page_but_nothing_is_stored_or_sent() {
    let web = Web::new();
    let email = "serve-honeypot@example.com";
    let human = web
        .subscribe(&[("email", "serve-honeypot-human@example.com")])
        .await;
    let bot = web
        .subscribe(&[
            ("email", email),
            ("name", "Bot"),
            ("website", "https://spam.example"),
        ])
        .await;
    assert!(bot.is_check_inbox());
    assert_eq!(bot.body, human.body, "the bot cannot tell it was caught");
    assert!(web.row(email).is_none());
    assert_eq!(web.subscriber_count(), 1);
    assert!(mails_to(email).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_eleventh_post_in_a_minute_from_one_client_is_refused_but_other_clients_and_the_form_are_not()
 {
    let web = Web::new();
    let limited = peer(7);
    for i in 1..=SUBSCRIBE_PER_MINUTE {
        let reply = web.bot_post(limited, None).await;
        assert!(reply.is_check_inbox(), "post {i}: {}", reply.body);
    }
    let refused = web.bot_post(limited, None).await;
    refused
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains("Too many requests");
    // Whatever it posts: a real address is not stored nor mailed.
    let email = "serve-limited@example.com";
    web.subscribe_from(limited, None, &[("email", email)])
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert!(web.row(email).is_none());
    assert!(mails_to(email).is_empty());

    assert!(
        web.bot_post(peer(8), None).await.is_check_inbox(),
        "another client is unaffected"
    );
    web.get_from(limited, "/digest/")
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("name=\"email\"");
    web.get_from(limited, "/")
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn x_forwarded_for_names_the_client_only_behind_a_loopback_proxy() {
    let web = Web::new();
    // Behind a local proxy, each forwarded client has its own allowance.
    for _ in 0..SUBSCRIBE_PER_MINUTE {
        assert!(
            web.bot_post(loopback(), Some("198.51.100.1"))
                .await
                .is_check_inbox()
        );
    }
    web.bot_post(loopback(), Some("198.51.100.1"))
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert!(
        web.bot_post(loopback(), Some("198.51.100.2"))
            .await
            .is_check_inbox()
    );
    // The proxy appends the client last: earlier entries are the client's own.
    web.bot_post(loopback(), Some("10.9.9.9, 198.51.100.1"))
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert!(
        web.bot_post(loopback(), Some("198.51.100.1, 198.51.100.3"))
            .await
            .is_check_inbox()
    );
    // The proxy's own address is not the limited client.
    assert!(web.bot_post(loopback(), None).await.is_check_inbox());

    // A remote peer cannot pick its identity with the header.
    let remote = peer(9);
    for i in 0..SUBSCRIBE_PER_MINUTE {
        let xff = format!("198.51.100.{}", 100 + i);
        assert!(web.bot_post(remote, Some(&xff)).await.is_check_inbox());
    }
    web.bot_post(remote, Some("198.51.100.250"))
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    web.bot_post(remote, None)
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsubscribe_post_over_16_kib_is_refused_with_413() {
    let web = Web::new();
    let token = web.active("serve-big-unsubscribe@example.com").await;
    let path = format!("/digest/unsubscribe/{token}");
    let big = format!("List-Unsubscribe=One-Click&pad={}", "x".repeat(BODY_LIMIT));
    web.post(&path, Some(FORM), big, peer(1), None)
        .await
        .assert_status(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        web.row("serve-big-unsubscribe@example.com").unwrap().status,
        "active"
    );
    // Just under the limit is fine.
    let fits = "x".repeat(BODY_LIMIT - 1);
    web.post(&path, Some(FORM), fits, peer(1), None)
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscribe_post_over_16_kib_is_refused_with_413() {
    let web = Web::new();
    let email = "serve-big@example.com";
    let big = form(&[("email", email), ("name", &"x".repeat(BODY_LIMIT))]);
    let reply = web
        .post("/digest/subscribe", Some(FORM), big, peer(1), None)
        .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body:\n{}",
        reply.body
    );
    assert!(web.row(email).is_none());
    assert!(mails_to(email).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_confirmation_link_activates_the_subscriber_and_keeps_working() {
    let web = Web::new();
    let email = "nora-serve@example.com";
    assert!(
        web.subscribe(&[("email", email), ("name", "Nora")])
            .await
            .is_check_inbox()
    );
    let row = web.row(email).unwrap();
    assert_eq!(row.name.as_deref(), Some("Nora"));
    let token = row.confirm_token.unwrap();
    let mail = assert_one_confirmation(email, &token);
    assert!(mail.text.starts_with("Hello Nora,"), "{}", mail.text);

    let path = format!("/digest/confirm/{token}");
    let first = web.get(&path).await;
    first
        .assert_status(StatusCode::OK)
        .assert_contains("<h1>You're subscribed</h1>")
        .assert_contains("n***@example.com")
        .assert_no_store();
    assert!(!first.body.contains(email), "the address is masked");
    let row = web.row(email).unwrap();
    assert_eq!(row.status, "active");
    assert!(row.confirmed_at.is_some());

    let again = web.get(&path).await;
    again
        .assert_status(StatusCode::OK)
        .assert_contains("<h1>You're subscribed</h1>")
        .assert_contains("n***@example.com")
        .assert_no_store();
    assert_eq!(web.row(email).unwrap().confirmed_at, row.confirmed_at);
    // The root route answers the same link.
    web.get(&format!("/confirm/{token}"))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_expired_confirmation_links_are_404() {
    let web = Web::new();
    let unknown = web.get("/digest/confirm/AAAAAAAAAAAAAAAAAAAAAAAA").await;
    unknown
        .assert_status(StatusCode::NOT_FOUND)
        .assert_contains("This link does not work")
        .assert_no_store();

    let email = "serve-expired@example.com";
    assert!(web.subscribe(&[("email", email)]).await.is_check_inbox());
    let token = web.row(email).unwrap().confirm_token.unwrap();
    web.confirmation_sent(email, chrono::Duration::days(8));
    let expired = web.get(&format!("/digest/confirm/{token}")).await;
    expired
        .assert_status(StatusCode::NOT_FOUND)
        .assert_no_store();
    assert_eq!(expired.body, unknown.body, "expired and unknown look alike");
    assert_eq!(web.row(email).unwrap().status, "pending");

    // Six days is within the week.
    web.confirmation_sent(email, chrono::Duration::days(6));
    web.get(&format!("/digest/confirm/{token}"))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_unsubscribe_page_asks_before_changing_anything() {
    let web = Web::new();
    let email = "nick-serve@example.com";
    let token = web.active(email).await;
    let page = web.get(&format!("/digest/unsubscribe/{token}")).await;
    page.assert_status(StatusCode::OK)
        .assert_contains("n***@example.com")
        .assert_contains(&format!(
            "<form method=\"post\" action=\"{PUBLIC_URL}/unsubscribe/{token}\">"
        ))
        .assert_contains("<button type=\"submit\">Unsubscribe</button>")
        .assert_no_store();
    assert!(!page.body.contains(email));
    // Mail scanners open links: a GET changes nothing, however often.
    web.get(&format!("/digest/unsubscribe/{token}")).await;
    let row = web.row(email).unwrap();
    assert_eq!(row.status, "active");
    assert_eq!(row.unsubscribed_at, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_unsubscribe_tokens_all_get_the_same_404() {
    let web = Web::new();
    web.active("serve-known@example.com").await;
    let a = web
        .get("/digest/unsubscribe/AAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    let b = web.get("/digest/unsubscribe/zz-not-a-token").await;
    a.assert_status(StatusCode::NOT_FOUND)
        .assert_contains("This link does not work")
        .assert_no_store();
    b.assert_status(StatusCode::NOT_FOUND).assert_no_store();
    assert_eq!(a.body, b.body);
    let posted = web
        .post(
            "/digest/unsubscribe/AAAAAAAAAAAAAAAAAAAAAAAA",
            Some(FORM),
            "List-Unsubscribe=One-Click",
            peer(1),
            None,
        )
        .await;
    posted
        .assert_status(StatusCode::NOT_FOUND)
        .assert_no_store();
    assert_eq!(posted.body, a.body);
    assert_eq!(web.row("serve-known@example.com").unwrap().status, "active");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_click_unsubscribe_works_with_any_body_is_idempotent_and_is_not_a_redirect() {
    let web = Web::new();
    let email = "serve-one-click@example.com";
    let token = web.active(email).await;
    let path = format!("/digest/unsubscribe/{token}");

    // RFC 8058: the provider's POST, with no cookie.
    let reply = web
        .post(
            &path,
            Some(FORM),
            "List-Unsubscribe=One-Click",
            peer(2),
            None,
        )
        .await;
    reply
        .assert_status(StatusCode::OK)
        .assert_contains("<h1>You're unsubscribed</h1>")
        .assert_contains("s***@example.com")
        .assert_no_store();
    assert_eq!(reply.header(header::LOCATION), None);
    assert!(reply.header(header::SET_COOKIE).is_none());
    let row = web.row(email).unwrap();
    assert_eq!(row.status, "unsubscribed");
    assert_eq!(row.unsubscribed_how.as_deref(), Some("one-click"));
    let when = row.unsubscribed_at.expect("unsubscribed_at");

    // Again: the same answer, and the first time is kept.
    let again = web
        .post(
            &path,
            Some(FORM),
            "List-Unsubscribe=One-Click",
            peer(2),
            None,
        )
        .await;
    again.assert_status(StatusCode::OK);
    assert_eq!(again.body, reply.body);
    assert_eq!(web.row(email).unwrap().unsubscribed_at, Some(when.clone()));

    // As some providers send it.
    let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n";
    web.post(
        &path,
        Some("multipart/form-data; boundary=XyZ"),
        multipart,
        peer(3),
        None,
    )
    .await
    .assert_status(StatusCode::OK);
    // The page's button: an empty form, or no content type at all.
    web.post(&path, Some(FORM), Body::empty(), peer(4), None)
        .await
        .assert_status(StatusCode::OK);
    web.post(&path, None, Body::empty(), peer(4), None)
        .await
        .assert_status(StatusCode::OK);
    let row = web.row(email).unwrap();
    assert_eq!(row.status, "unsubscribed");
    assert_eq!(row.unsubscribed_at, Some(when));

    // Now the page says so, and offers no button.
    web.get(&path)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("is not subscribed to The AI Glossary Weekly");

    // Every fresh subscriber's unsubscribe works the first time too, with
    // each content type.
    for (i, (ct, body)) in [
        (Some("multipart/form-data; boundary=XyZ"), multipart),
        (Some(FORM), ""),
    ]
    .into_iter()
    .enumerate()
    {
        let email = format!("serve-one-click-{i}@example.com");
        let token = web.active(&email).await;
        web.post(
            &format!("/digest/unsubscribe/{token}"),
            ct,
            body,
            peer(5),
            None,
        )
        .await
        .assert_status(StatusCode::OK);
        let row = web.row(&email).unwrap();
        assert_eq!(row.status, "unsubscribed");
        // The page's empty form is the page; the multipart is one-click.
        let how = if body.is_empty() { "page" } else { "one-click" };
        assert_eq!(row.unsubscribed_how.as_deref(), Some(how));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_archive_lists_the_sent_issues_newest_first() {
    let web = Web::new();
    let empty = web.get("/digest/archive").await;
    empty
        .assert_status(StatusCode::OK)
        .assert_contains("No issue has been sent yet.");

    web.active("serve-archive@example.com").await;
    web.send("2026-W47", "Week 47: Tokens", "tokens", true);
    web.send("2026-W48", "Week 48: Embeddings", "embeddings", true);
    web.send("2026-W49", "Week 49: not sent yet", "rag", false);
    let page = web.get("/digest/archive").await;
    page.assert_status(StatusCode::OK)
        .assert_contains(&format!(
            "<a href=\"{PUBLIC_URL}/archive/2026-W48\">Week 48: Embeddings</a>"
        ))
        .assert_contains(&format!(
            "<a href=\"{PUBLIC_URL}/archive/2026-W47\">Week 47: Tokens</a>"
        ))
        .assert_contains(
            "<time datetime=\"2026-11-29\">2026-11-29</time> &middot; Featured: Embeddings",
        )
        .assert_contains(
            "New: Retrieval-augmented generation (RAG), Pre-training, Fine-tuning</span>",
        )
        .assert_contains(
            "<time datetime=\"2026-11-22\">2026-11-22</time> &middot; Featured: Tokens</span></li>",
        )
        .assert_contains(FEED_LINK)
        .assert_contains(&format!(
            "<a href=\"{PUBLIC_URL}/archive.atom\">Atom feed</a>"
        ));
    let w48 = page.body.find("Week 48").unwrap();
    let w47 = page.body.find("Week 47").unwrap();
    assert!(w48 < w47, "newest first:\n{}", page.body);
    assert!(!page.body.contains("Week 49"), "{}", page.body);
    assert!(!page.body.contains("2026-W49"), "{}", page.body);
    assert_eq!(page.header(header::CACHE_CONTROL), None);
    // Advertised in the head, where feed readers and browsers look.
    let head = &page.body[..page.body.find("</head>").unwrap()];
    assert!(head.contains(FEED_LINK), "{head}");
    // Without an issue there is no list, but the feed is still there.
    assert!(empty.body[..empty.body.find("</head>").unwrap()].contains(FEED_LINK));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archived_issue_is_the_web_version_without_any_personal_link() {
    let web = Web::new();
    web.active("serve-reader@example.com").await;
    assert!(
        web.subscribe(&[("email", "serve-reader-pending@example.com")])
            .await
            .is_check_inbox()
    );
    web.send("2026-W48", "Week 48: Embeddings", "embeddings", true);

    let page = web.get("/digest/archive/2026-W48").await;
    page.assert_status(StatusCode::OK)
        .assert_contains("<html lang=\"en-US\" dir=\"ltr\"")
        .assert_contains("Embeddings")
        .assert_contains("Week 48: Embeddings")
        .assert_contains("Retrieval-augmented generation (RAG)")
        .assert_contains(&format!("<a href=\"{PUBLIC_URL}/\""));
    let head = &page.body[..page.body.find("</head>").unwrap()];
    assert!(head.contains(FEED_LINK), "{head}");
    assert_eq!(
        page.header(header::CONTENT_TYPE),
        Some("text/html; charset=utf-8")
    );
    assert!(!page.body.contains("/unsubscribe/"), "{}", page.body);
    assert!(!page.body.contains("/confirm/"), "{}", page.body);
    let db = web.db();
    let mut stmt = db
        .prepare("SELECT token, coalesce(confirm_token, token) FROM subscribers")
        .unwrap();
    let tokens: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tokens.len(), 2);
    for (token, confirm) in tokens {
        assert!(
            !page.body.contains(&token),
            "a subscriber token in the web version"
        );
        assert!(
            !page.body.contains(&confirm),
            "a confirmation token in the web version"
        );
    }
    // At the root too (a proxy that strips the prefix).
    web.get("/archive/2026-W48")
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn archive_weeks_that_are_unsent_unknown_or_garbage_are_404() {
    let web = Web::new();
    web.active("serve-archive-weeks@example.com").await;
    web.send("2026-W48", "Week 48", "embeddings", true);
    web.send("2026-W49", "Week 49", "rag", false);
    let unsent = web.get("/digest/archive/2026-W49").await;
    unsent
        .assert_status(StatusCode::NOT_FOUND)
        .assert_contains("This link does not work");
    assert!(!unsent.body.contains("Week 49"));
    for week in [
        "2026-W40",
        "garbage",
        "2026-W99",
        "2026-w48x",
        "..%2F..%2Fetc",
    ] {
        let reply = web.get(&format!("/digest/archive/{week}")).await;
        reply.assert_status(StatusCode::NOT_FOUND);
        assert_eq!(reply.body, unsent.body, "{week}");
    }
}

/// `body` as Python's feedparser reads it: whether it found the feed
/// malformed (`bozo`), the feed's fields and each entry's, as JSON.
fn feedparser(dir: &std::path::Path, body: &str) -> serde_json::Value {
    const READ: &str = r#"
import json, sys, feedparser
with open(sys.argv[1], "rb") as f:
    d = feedparser.parse(f.read())
links = lambda o: [[l.get("rel"), l.get("type"), l.get("href")] for l in o.get("links", [])]
print(json.dumps({
    "bozo": bool(d.bozo),
    "problem": str(d.get("bozo_exception", "")),
    "version": d.version,
    "title": d.feed.get("title"),
    "id": d.feed.get("id"),
    "updated": d.feed.get("updated"),
    "author": d.feed.get("author"),
    "links": links(d.feed),
    "entries": [{
        "title": e.get("title"),
        "id": e.get("id"),
        "link": e.get("link"),
        "updated": e.get("updated"),
        "links": links(e),
        "content": [[c.type, c.value] for c in e.get("content", [])],
    } for e in d.entries],
}))
"#;
    let path = dir.join("archive.atom");
    std::fs::write(&path, body).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", READ])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "feedparser failed (run scripts/install-test-deps.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from the script")
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    missing_feedparser,
    ignore = "feedparser not installed: run scripts/install-test-deps.sh"
)]
async fn the_feed_holds_the_sent_issues_newest_first_as_feedparser_reads_them() {
    let web = Web::new();
    let empty = web.get("/digest/archive.atom").await;
    empty.assert_status(StatusCode::OK);
    let read = feedparser(web.dir.path(), &empty.body);
    assert_eq!(read["bozo"], false, "{read:#}\n{}", empty.body);
    assert_eq!(read["version"], "atom10");
    assert_eq!(read["entries"], serde_json::json!([]));
    assert_eq!(read["updated"], "1970-01-01T00:00:00Z", "{read:#}");

    web.active("serve-feed@example.com").await;
    let w47 = r#"Week 47: Tokens & "quotes" <b>not bold</b>"#;
    let w48 = "Week 48: Embeddings, it's <here> & now";
    web.send("2026-W47", w47, "tokens", true);
    web.send("2026-W48", w48, "embeddings", true);
    web.send("2026-W49", "Week 49: not sent yet", "rag", false);
    let reply = web.get("/digest/archive.atom").await;
    reply.assert_status(StatusCode::OK);
    let read = feedparser(web.dir.path(), &reply.body);
    assert_eq!(read["bozo"], false, "{read:#}\n{}", reply.body);
    assert_eq!(read["version"], "atom10");
    assert_eq!(read["title"], "The AI Glossary Weekly");
    assert_eq!(read["author"], "The AI Glossary Weekly");
    assert_eq!(read["id"], format!("{PUBLIC_URL}/archive"));
    assert_eq!(
        read["links"],
        serde_json::json!([
            [
                "self",
                "application/atom+xml",
                format!("{PUBLIC_URL}/archive.atom")
            ],
            ["alternate", "text/html", format!("{PUBLIC_URL}/archive")],
        ])
    );
    let entries = read["entries"].as_array().unwrap();
    let field = |name: &str| -> Vec<&str> {
        entries
            .iter()
            .map(|e| e[name].as_str().unwrap_or_default())
            .collect()
    };
    assert_eq!(field("title"), [w48, w47], "{read:#}");
    let urls = [
        format!("{PUBLIC_URL}/archive/2026-W48"),
        format!("{PUBLIC_URL}/archive/2026-W47"),
    ];
    assert_eq!(field("id"), urls);
    assert_eq!(field("link"), urls);
    // Each issue went out on its Sunday at noon (the clock of the run).
    let [updated_48, updated_47] = [&entries[0]["updated"], &entries[1]["updated"]]
        .map(|v| v.as_str().unwrap().parse::<Timestamp>().unwrap());
    assert_eq!(updated_48, "2026-11-29T12:00:00Z".parse().unwrap());
    assert_eq!(updated_47, "2026-11-22T12:00:00Z".parse().unwrap());
    assert_eq!(read["updated"], entries[0]["updated"]);
    // The content is the web version's body: the featured term in full,
    // no document head.
    let summaries = [
        "Lists of numbers that capture what a piece of text means, so that similar meanings sit close together.",
        "The small chunks of text, often pieces of words, that a language model reads and writes.",
    ];
    for (entry, summary) in entries.iter().zip(summaries) {
        let content = &entry["content"][0];
        assert_eq!(content[0], "text/html", "{entry:#}");
        let html = content[1].as_str().unwrap();
        assert!(html.contains(summary), "{html}");
        assert!(html.contains("is the weekly email of"), "{html}");
        assert!(
            !html.contains("<head") && !html.contains("<title"),
            "{html}"
        );
    }
    // Both answer at the root too (a proxy that strips the prefix).
    let root = web.get("/archive.atom").await;
    root.assert_status(StatusCode::OK);
    assert_eq!(root.body, reply.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_is_atom_with_the_security_headers_and_no_personal_link() {
    let web = Web::new();
    web.active("serve-feed-private@example.com").await;
    assert!(
        web.subscribe(&[("email", "serve-feed-pending@example.com")])
            .await
            .is_check_inbox()
    );
    web.send("2026-W47", "Week 47: Tokens", "tokens", true);
    web.send("2026-W48", "Week 48: Embeddings", "embeddings", true);

    let reply = web.get("/digest/archive.atom").await;
    reply.assert_status(StatusCode::OK);
    assert_eq!(
        reply.header(header::CONTENT_TYPE),
        Some("application/atom+xml; charset=utf-8")
    );
    let start = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
                 <feed xmlns=\"http://www.w3.org/2005/Atom\">";
    assert!(reply.body.starts_with(start), "{}", reply.body);
    assert_eq!(reply.body.matches("<entry>").count(), 2, "{}", reply.body);
    assert_eq!(reply.header(header::CACHE_CONTROL), None);
    for path in ["/unsubscribe/", "/preferences/", "/confirm/"] {
        assert!(
            !reply.body.contains(path),
            "{path} in the feed:\n{}",
            reply.body
        );
    }
    let tokens = web.tokens();
    assert_eq!(
        tokens.len(),
        4,
        "each subscriber's token and confirmation token"
    );
    for token in tokens {
        assert!(!reply.body.contains(&token), "a token in the feed");
    }
    // Each entry's content is the body of its week's archive page,
    // escaped once.
    for week in ["2026-W48", "2026-W47"] {
        let page = web.get(&format!("/digest/archive/{week}")).await;
        let open = page.body.find("<body").unwrap();
        let start = open + page.body[open..].find('>').unwrap() + 1;
        let end = page.body.rfind("</body>").unwrap();
        let escaped = page.body[start..end]
            .trim_matches('\n')
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;");
        assert!(
            reply
                .body
                .contains(&format!("<content type=\"html\">{escaped}</content>")),
            "the feed's {week} is not its page's body:\n{}",
            reply.body
        );
    }
    // Nothing of the web version is left unescaped.
    assert!(
        reply.body.contains("<content type=\"html\">&lt;"),
        "{}",
        reply.body
    );
    assert!(
        !reply.body.contains("<table"),
        "unescaped markup:\n{}",
        reply.body
    );

    // HEAD: the same headers, no body.
    let head = web
        .call(
            Request::head("/digest/archive.atom")
                .extension(ConnectInfo(peer(1)))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    head.assert_status(StatusCode::OK);
    assert_eq!(
        head.header(header::CONTENT_TYPE),
        Some("application/atom+xml; charset=utf-8")
    );
    assert_eq!(head.body, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_answers_ok() {
    let web = Web::new();
    for path in ["/digest/healthz", "/healthz"] {
        let reply = web.get(path).await;
        reply.assert_status(StatusCode::OK);
        assert_eq!(reply.body.trim_end(), "ok");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_path_gets_the_404_page() {
    let web = Web::new();
    for path in [
        "/digest/nope",
        "/nope",
        "/digest/confirm",
        "/digest/archive/2026-W48/extra",
    ] {
        web.get(path)
            .await
            .assert_status(StatusCode::NOT_FOUND)
            .assert_contains("<h1>This link does not work</h1>")
            .assert_contains("confirmation links work for 7 days");
    }
    // A GET on a POST-only route, or a POST on a GET-only one, is no page.
    let reply = web
        .post("/digest/archive", Some(FORM), "", peer(1), None)
        .await;
    assert_eq!(
        reply.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        reply.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribe_pending_on_the_command_line_sends_the_same_confirmation_mail() {
    let email = "serve-cli@example.com";
    let site = Site::new();
    site.config(
        &DigestToml::new()
            .newsletter("public_url", PUBLIC_URL)
            .smtp_url(&shared_smtp().url()),
    );
    let assert = site
        .digest(&["subscribe", email, "--pending"])
        .assert()
        .success();
    assert_eq!(
        output(&assert).0,
        format!("added {email} as pending and sent the confirmation email\n")
    );
    settle();
    assert_eq!(shared_smtp().count_for(email), 1);
    let token: String = super::support::db::db(&site)
        .query_row(
            "SELECT confirm_token FROM subscribers WHERE email = ?1",
            [email],
            |r| r.get(0),
        )
        .unwrap();
    let cli = assert_one_confirmation(email, &token);

    // The web form's mail to another address, with its own token.
    let web = Web::new();
    let other = "serve-cli-web@example.com";
    assert!(web.subscribe(&[("email", other)]).await.is_check_inbox());
    let web_token = web.row(other).unwrap().confirm_token.unwrap();
    let from_web = assert_one_confirmation(other, &web_token);
    assert_eq!(cli.subject, from_web.subject);
    assert_eq!(
        cli.text.replace(&token, "TOKEN"),
        from_web.text.replace(&web_token, "TOKEN")
    );
    assert_eq!(
        cli.html.replace(&token, "TOKEN"),
        from_web.html.replace(&web_token, "TOKEN")
    );
}

/// A child process killed if the test fails before it stops.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One raw HTTP/1.1 exchange; the whole response as text.
fn http(port: u16, request: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn the_server_binary_answers_warns_about_plain_http_and_stops_on_sigterm() {
    let site = Site::with_content(&fixture("small/content"));
    let port = free_port();
    site.config(
        &DigestToml::new()
            .newsletter("public_url", format!("http://127.0.0.1:{port}/digest"))
            .smtp_url(&shared_smtp().url()),
    );
    let child = to_std(&site.digest(&["serve", "--listen", &format!("127.0.0.1:{port}")]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("digest serve starts");
    let mut running = Running(Some(child));
    let pid = running.0.as_ref().unwrap().id();

    let deadline = Instant::now() + Duration::from_secs(10);
    let health = loop {
        let child = running.0.as_mut().unwrap();
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            panic!("digest serve exited early ({status}):\n{stderr}");
        }
        match http(
            port,
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        ) {
            Ok(response) if response.starts_with("HTTP/1.1 200") => break response,
            _ if Instant::now() > deadline => panic!("no answer on port {port} within 10 s"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
    assert!(
        health
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{health}"
    );

    // The real server knows the peer address: the form works end to end.
    let email = "serve-binary@example.com";
    let body = form(&[("email", email)]);
    let response = http(
        port,
        &format!(
            "POST /digest/subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: {FORM}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("Check your inbox"), "{response}");
    settle();
    assert_eq!(shared_smtp().count_for(email), 1);
    let mail = &mails_to(email)[0];
    assert!(
        mail.text
            .contains(&format!("http://127.0.0.1:{port}/digest/confirm/")),
        "{}",
        mail.text
    );

    // Opening the link: tokens stay out of the request log.
    let token = mail_token(&mail.text);
    let response = http(
        port,
        &format!(
            "GET /digest/confirm/{token} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        ),
    )
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("s***@example.com"), "{response}");

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut child = running.0.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("digest serve did not stop within 5 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}:\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "public_url http://127.0.0.1:{port}/digest is not https"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(
        stderr.contains("GET /digest/confirm/… 200"),
        "one log line per request:\n{stderr}"
    );
    assert!(!stderr.contains(&token), "a token in the log:\n{stderr}");
}

/// The token at the end of the confirmation link in a mail's text.
fn mail_token(text: &str) -> String {
    let start = text.find("/confirm/").expect("a confirmation link") + "/confirm/".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

// ---------------------------------------------------------- preferences --

/// A subscriber's role, time zone, pause and leaving reason, read back.
fn preferences_of(
    web: &Web,
    email: &str,
) -> (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
) {
    web.db()
        .query_row(
            "SELECT role, timezone, paused_until, unsubscribe_reason FROM subscribers WHERE email = ?1",
            [email],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_preferences_page_saves_role_zone_and_pause_and_a_get_changes_nothing() {
    let web = Web::new();
    let email = "serve-prefs@example.com";
    let token = web.active(email).await;
    let path = format!("/digest/preferences/{token}");
    let page = web.get(&path).await;
    page.assert_status(StatusCode::OK)
        .assert_contains("<h1>Your preferences</h1>")
        .assert_contains("s***@example.com")
        .assert_contains(&format!(
            "<form method=\"post\" action=\"{PUBLIC_URL}/preferences/{token}\">"
        ))
        .assert_contains(&format!(
            "<form method=\"post\" action=\"{PUBLIC_URL}/unsubscribe/{token}\">"
        ))
        .assert_contains("<option value=\"Europe/Paris\">")
        .assert_no_store();
    assert!(!page.body.contains(email));
    assert_eq!(preferences_of(&web, email), (None, None, None, None));

    let saved = web
        .post(
            &path,
            Some(FORM),
            form(&[
                ("role", "business_owner"),
                ("timezone", "America/Los_Angeles"),
                ("pause", "4"),
            ]),
            peer(1),
            None,
        )
        .await;
    saved
        .assert_status(StatusCode::OK)
        .assert_contains("Saved. Business owner; issues timed for America/Los_Angeles.")
        .assert_contains("<option value=\"business_owner\" selected>")
        .assert_no_store();
    let (role, zone, paused, _) = preferences_of(&web, email);
    assert_eq!(
        (role.as_deref(), zone.as_deref()),
        (Some("business_owner"), Some("America/Los_Angeles"))
    );
    let until = chrono::NaiveDate::parse_from_str(paused.as_deref().unwrap(), "%Y-%m-%d").unwrap();
    let days = (until - Utc::now().date_naive()).num_days();
    assert!((27..=29).contains(&days), "paused until {until}");
    saved.assert_contains(&format!("Paused until {until}"));

    // `none` resumes; an empty role is a plain reader again.
    web.post(
        &path,
        Some(FORM),
        form(&[("role", ""), ("timezone", ""), ("pause", "none")]),
        peer(1),
        None,
    )
    .await
    .assert_status(StatusCode::OK);
    assert_eq!(preferences_of(&web, email), (None, None, None, None));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_preferences_and_reasons_are_422_and_unknown_tokens_404_with_nothing_changed() {
    let web = Web::new();
    let email = "serve-prefs-bad@example.com";
    let token = web.active(email).await;
    let path = format!("/digest/preferences/{token}");
    let bad_zone = web
        .post(
            &path,
            Some(FORM),
            form(&[("timezone", "Mars/Olympus"), ("pause", "none")]),
            peer(1),
            None,
        )
        .await;
    bad_zone
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("is not a time zone")
        .assert_no_store();
    for fields in [[("pause", "3")], [("role", "boss")]] {
        web.post(&path, Some(FORM), form(&fields), peer(1), None)
            .await
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(preferences_of(&web, email), (None, None, None, None));

    // A tampered token: the same 404 as any unknown one, for GET and POST.
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let unknown = web.get(&format!("/digest/preferences/{tampered}")).await;
    unknown
        .assert_status(StatusCode::NOT_FOUND)
        .assert_no_store();
    let other = web.get("/digest/unsubscribe/zz-not-a-token").await;
    assert_eq!(unknown.body, other.body);
    web.post(
        &format!("/digest/preferences/{tampered}"),
        Some(FORM),
        form(&[("role", "executive")]),
        peer(1),
        None,
    )
    .await
    .assert_status(StatusCode::NOT_FOUND);

    // A reason that is not offered, or 10,000 characters of text, leaves
    // the reader subscribed.
    let unsubscribe = format!("/digest/unsubscribe/{token}");
    let long = "x".repeat(10_000);
    for fields in [
        vec![("reason", "spam")],
        vec![("reason", "other"), ("reason_text", long.as_str())],
    ] {
        web.post(&unsubscribe, Some(FORM), form(&fields), peer(1), None)
            .await
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains("Nothing was changed");
    }
    assert_eq!(web.row(email).unwrap().status, "active");

    // A reason from the list, with words, is kept with the unsubscribe.
    web.post(
        &unsubscribe,
        Some(FORM),
        form(&[
            ("reason", "too-long"),
            ("reason_text", "Lovely, but\r\nI read the archive"),
        ]),
        peer(1),
        None,
    )
    .await
    .assert_status(StatusCode::OK)
    .assert_contains("<h1>You're unsubscribed</h1>");
    assert_eq!(web.row(email).unwrap().status, "unsubscribed");
    assert_eq!(
        preferences_of(&web, email).3.as_deref(),
        Some("too-long: Lovely, but  I read the archive")
    );
}

// -------------------------------------------------------------- welcome --

#[tokio::test(flavor = "multi_thread")]
async fn confirming_sends_one_welcome_with_the_latest_issue_and_the_readers_links() {
    let web = Web::new();
    // Someone reads it already; the issue goes out to them.
    web.active("serve-welcome-early@example.com").await;
    web.send("2026-W47", "Issue forty-seven", "tokens", true);
    let email = "serve-welcome@example.com";
    let token = web.active(email).await;
    let welcomes = |mails: Vec<Mail>| -> Vec<Mail> {
        mails
            .into_iter()
            .filter(|m| m.subject == "Welcome to The AI Glossary Weekly")
            .collect()
    };
    let got = welcomes(mails_to(email));
    assert_eq!(got.len(), 1, "{got:#?}");
    let mail = &got[0];
    for link in [
        format!("{PUBLIC_URL}/archive/2026-W47"),
        format!("{PUBLIC_URL}/preferences/{token}"),
        format!("{PUBLIC_URL}/unsubscribe/{token}"),
    ] {
        assert!(mail.text.contains(&link), "{link} not in\n{}", mail.text);
        assert!(
            mail.html.contains(&format!("href=\"{link}\"")),
            "{link} not in\n{}",
            mail.html
        );
    }
    assert!(mail.text.contains("\"Issue forty-seven\""), "{}", mail.text);
    // Opening the link again confirms nothing new and sends nothing.
    let confirm: Option<String> = web
        .db()
        .query_row(
            "SELECT confirm_token FROM subscribers WHERE email = ?1",
            [email],
            |r| r.get(0),
        )
        .unwrap();
    web.get(&format!("/digest/confirm/{}", confirm.unwrap()))
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(welcomes(mails_to(email)).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn before_the_first_issue_the_welcome_says_it_comes_on_sunday() {
    let web = Web::new();
    let email = "serve-welcome-first@example.com";
    web.active(email).await;
    let got: Vec<Mail> = mails_to(email)
        .into_iter()
        .filter(|m| m.subject.starts_with("Welcome to "))
        .collect();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].text.contains("The first issue arrives on Sunday."),
        "{}",
        got[0].text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_form_captures_the_browsers_time_zone_with_the_one_script_the_csp_allows() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let web = Web::new();
    let page = web.get("/digest/").await;
    page.assert_status(StatusCode::OK)
        .assert_contains("<input type=\"hidden\" id=\"timezone\" name=\"timezone\" value=\"\">")
        .assert_contains(&format!(
            "<script>{}</script>",
            glossary_digest::http::middleware::TIMEZONE_SCRIPT
        ));
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(
        glossary_digest::http::middleware::TIMEZONE_SCRIPT.as_bytes(),
    ));
    let csp = page.header(header::CONTENT_SECURITY_POLICY).unwrap();
    assert!(
        csp.contains(&format!("script-src 'sha256-{hash}'")),
        "{csp}"
    );
    assert_eq!(page.body.matches("<script").count(), 1);

    for (email, zone, stored) in [
        (
            "serve-zone@example.com",
            "Europe/Paris",
            Some("Europe/Paris"),
        ),
        ("serve-zone-bad@example.com", "Bogus/Zone", None),
        ("serve-zone-none@example.com", "", None),
    ] {
        assert!(
            web.subscribe(&[("email", email), ("timezone", zone)])
                .await
                .is_check_inbox()
        );
        let got: Option<String> = web
            .db()
            .query_row(
                "SELECT timezone FROM subscribers WHERE email = ?1",
                [email],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(got.as_deref(), stored, "{email}");
    }
}
