//! An SMTP server inside the test process, for the `send` tests.
//!
//! Built on `mailin-embedded`: plain SMTP ([`TestSmtp::start`]) or STARTTLS
//! with mandatory AUTH ([`TestSmtp::start_tls`], certificate from
//! `tests/fixtures/tls/`). It records every accepted message, counts RCPT and
//! AUTH attempts, can fail chosen recipients ([`Rule`]) and can be slowed
//! down ([`TestSmtp::set_delay`]).
//!
//! The server thread has no shutdown: it lives until the test process ends.
//!
//! Behaviour of mailin worth knowing when writing tests against it:
//! - a 421 reply closes the connection right after it is written;
//! - AUTH (PLAIN and LOGIN) is offered and accepted only after STARTTLS, and
//!   MAIL before a successful AUTH gets 503;
//! - after a successful AUTH, RSET or a second EHLO put the session back in
//!   the "needs AUTH" state (a mailin quirk); lettre never sends RSET, it
//!   drops the connection after any error reply;
//! - PIPELINING is not advertised, but commands sent together are answered
//!   one by one in order;
//! - `MAIL FROM:<>` (empty reverse path) is a syntax error (500).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use mailin_embedded::response::{AUTH_OK, INVALID_CREDENTIALS, OK};
use mailin_embedded::{AuthMechanism, Handler, Response, Server, SslConfig};

/// Worker threads of the server: one per concurrent SMTP session. Idle
/// pooled client connections hold a thread each, so keep plenty.
const THREADS: u32 = 32;

/// A running test SMTP server. Cloning gives another handle on the same
/// server.
#[derive(Clone)]
pub struct TestSmtp {
    pub addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
}

/// A message the server accepted (answered 250 to the final dot).
#[derive(Clone, Debug)]
pub struct Received {
    /// The MAIL FROM address, without angle brackets.
    pub mail_from: String,
    /// Every recipient accepted in the transaction, as the client spelled it.
    pub rcpt_to: Vec<String>,
    /// The message as transmitted, dot-unstuffed, with CRLF line ends.
    pub raw: Vec<u8>,
}

/// How the server answers RCPT TO for one recipient.
#[derive(Clone, Debug)]
pub enum Rule {
    /// Answer 451 at RCPT for the first `times` attempts for this recipient, then accept.
    TempFail { times: u32 },
    /// Always answer 550 at RCPT.
    PermFail,
    /// Answer 421 (closing the connection) at RCPT for the first `times` attempts, then accept.
    Drop { times: u32 },
}

/// A rule and how many times it has failed a RCPT since it was set.
struct ActiveRule {
    rule: Rule,
    failed: u32,
}

#[derive(Default)]
struct State {
    messages: Vec<Received>,
    /// By lowercased address.
    rules: HashMap<String, ActiveRule>,
    /// RCPT commands seen, by lowercased address.
    attempts: HashMap<String, u32>,
    auth_attempts: u32,
    delay: Duration,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Notified whenever a message is stored.
    arrived: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test must not turn every later assertion into a
        // poison error.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn key(address: &str) -> String {
    address.to_lowercase()
}

impl TestSmtp {
    /// Plain SMTP (no STARTTLS, no AUTH) on a free port of 127.0.0.1.
    pub fn start() -> TestSmtp {
        spawn(None)
    }

    /// STARTTLS with the fixture certificate; AUTH PLAIN or LOGIN with these
    /// credentials is required before MAIL. Wrong credentials get 535.
    pub fn start_tls(user: &str, password: &str) -> TestSmtp {
        spawn(Some((user.to_owned(), password.to_owned())))
    }

    /// Set (or replace) the rule for a recipient: exact address, compared
    /// case-insensitively. `times` counts from when the rule is set.
    pub fn rule(&self, recipient: &str, rule: Rule) {
        self.shared
            .lock()
            .rules
            .insert(key(recipient), ActiveRule { rule, failed: 0 });
    }

    /// Sleep this long at the end of DATA before answering (and storing).
    pub fn set_delay(&self, d: Duration) {
        self.shared.lock().delay = d;
    }

    /// Every accepted message, in arrival order.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.lock().messages.clone()
    }

    /// How many accepted messages have this recipient (case-insensitive).
    pub fn count_for(&self, recipient: &str) -> usize {
        let recipient = key(recipient);
        self.shared
            .lock()
            .messages
            .iter()
            .filter(|m| m.rcpt_to.iter().any(|r| key(r) == recipient))
            .count()
    }

    /// How many RCPT commands named this recipient, whatever the answer.
    pub fn attempts_for(&self, recipient: &str) -> u32 {
        let recipient = key(recipient);
        self.shared
            .lock()
            .attempts
            .get(&recipient)
            .copied()
            .unwrap_or(0)
    }

    /// How many AUTH exchanges reached a verdict (right or wrong).
    pub fn auth_attempts(&self) -> u32 {
        self.shared.lock().auth_attempts
    }

    /// The lettre URL: `smtp://127.0.0.1:PORT`, or for the STARTTLS server
    /// `smtp://localhost:PORT?tls=required` (the certificate names
    /// `localhost`; the client must trust [`TestSmtp::ca_path`]).
    pub fn url(&self) -> String {
        let port = self.addr.port();
        if self.tls {
            format!("smtp://localhost:{port}?tls=required")
        } else {
            format!("smtp://127.0.0.1:{port}")
        }
    }

    /// Block until at least `n` messages have been accepted, or `timeout`
    /// passes; whether they arrived. It blocks the thread: in an async test,
    /// call it once the sends have been awaited (or from `spawn_blocking`).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        while state.messages.len() < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .shared
                .arrived
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// The server certificate (self-signed) a client must trust as a root.
    pub fn ca_path() -> PathBuf {
        tls_dir().join("cert.pem")
    }

    /// The contents of [`TestSmtp::ca_path`].
    pub fn ca_pem() -> Vec<u8> {
        std::fs::read(Self::ca_path()).expect("read tests/fixtures/tls/cert.pem")
    }
}

fn tls_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls")
}

/// mailin-embedded builds its rustls config with the process-wide default
/// provider; with both ring and aws-lc-rs compiled in there is none until
/// one is installed, and rustls panics.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another provider is already installed: fine too.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn spawn(credentials: Option<(String, String)>) -> TestSmtp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test SMTP server");
    let addr = listener
        .local_addr()
        .expect("local address of the test SMTP server");
    let shared = Arc::new(Shared::default());
    let tls = credentials.is_some();
    let handler = SmtpHandler {
        shared: Arc::clone(&shared),
        credentials,
        mail_from: String::new(),
        rcpt_to: Vec::new(),
        data: Vec::new(),
    };
    let mut server = Server::new(handler);
    server
        .with_name("localhost")
        .with_num_threads(THREADS)
        .with_tcp_listener(listener);
    if tls {
        install_crypto_provider();
        let path = |name: &str| tls_dir().join(name).to_string_lossy().into_owned();
        server
            .with_ssl(SslConfig::SelfSigned {
                cert_path: path("cert.pem"),
                key_path: path("key.pem"),
            })
            .expect("load tests/fixtures/tls/cert.pem and key.pem")
            .with_auth(AuthMechanism::Plain)
            .with_auth(AuthMechanism::Login);
    }
    // The listener is already bound: connections made before the thread
    // runs wait in the backlog.
    std::thread::Builder::new()
        .name(format!("test-smtp-{}", addr.port()))
        .spawn(move || {
            if let Err(err) = server.serve() {
                eprintln!("test SMTP server on {addr} stopped: {err}");
            }
        })
        .expect("spawn the test SMTP server thread");
    TestSmtp { addr, tls, shared }
}

/// One per connection (mailin clones it); the transaction fields are reset
/// at each MAIL and DATA.
#[derive(Clone)]
struct SmtpHandler {
    shared: Arc<Shared>,
    credentials: Option<(String, String)>,
    mail_from: String,
    rcpt_to: Vec<String>,
    data: Vec<u8>,
}

impl SmtpHandler {
    fn check_credentials(&self, user: &str, password: &str) -> Response {
        self.shared.lock().auth_attempts += 1;
        match &self.credentials {
            Some((u, p)) if u == user && p == password => AUTH_OK,
            _ => INVALID_CREDENTIALS,
        }
    }
}

impl Handler for SmtpHandler {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        self.mail_from = from.to_owned();
        self.rcpt_to.clear();
        self.data.clear();
        OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let address = key(to);
        let mut state = self.shared.lock();
        *state.attempts.entry(address.clone()).or_default() += 1;
        let reply = match state.rules.get_mut(&address) {
            Some(ActiveRule {
                rule: Rule::TempFail { times },
                failed,
            }) if *failed < *times => {
                *failed += 1;
                Some(Response::custom(
                    451,
                    format!("4.3.0 <{to}>: temporary failure, try again later"),
                ))
            }
            Some(ActiveRule {
                rule: Rule::PermFail,
                failed,
            }) => {
                *failed += 1;
                Some(Response::custom(
                    550,
                    format!("5.1.1 <{to}>: mailbox unavailable"),
                ))
            }
            Some(ActiveRule {
                rule: Rule::Drop { times },
                failed,
            }) if *failed < *times => {
                *failed += 1;
                // 421 makes mailin close the connection after the reply.
                Some(Response::custom(
                    421,
                    "4.3.2 service not available, closing connection".to_owned(),
                ))
            }
            _ => None,
        };
        drop(state);
        reply.unwrap_or_else(|| {
            self.rcpt_to.push(to.to_owned());
            OK
        })
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        // mailin passes exactly the recipients it answered 250.
        self.mail_from = from.to_owned();
        self.rcpt_to = to.to_vec();
        self.data.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let delay = self.shared.lock().delay;
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let message = Received {
            mail_from: std::mem::take(&mut self.mail_from),
            rcpt_to: std::mem::take(&mut self.rcpt_to),
            raw: std::mem::take(&mut self.data),
        };
        self.shared.lock().messages.push(message);
        self.shared.arrived.notify_all();
        OK
    }

    fn auth_plain(
        &mut self,
        authorization_id: &str,
        authentication_id: &str,
        password: &str,
    ) -> Response {
        if !authorization_id.is_empty() && authorization_id != authentication_id {
            self.shared.lock().auth_attempts += 1;
            return INVALID_CREDENTIALS;
        }
        self.check_credentials(authentication_id, password)
    }

    fn auth_login(&mut self, username: &str, password: &str) -> Response {
        self.check_credentials(username, password)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;

    use lettre::message::Mailbox;
    use lettre::transport::smtp::authentication::{Credentials, Mechanism};
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    type Transport = AsyncSmtpTransport<Tokio1Executor>;

    fn plain_client(smtp: &TestSmtp) -> Transport {
        Transport::from_url(&smtp.url()).expect("url").build()
    }

    fn tls_client(smtp: &TestSmtp, user: &str, password: &str, mechanism: Mechanism) -> Transport {
        let root = Certificate::from_pem(&TestSmtp::ca_pem()).expect("fixture certificate");
        let tls = TlsParameters::builder("localhost".to_owned())
            .add_root_certificate(root)
            .build()
            .expect("tls parameters");
        Transport::builder_dangerous("localhost")
            .port(smtp.addr.port())
            .tls(Tls::Required(tls))
            .credentials(Credentials::new(user.to_owned(), password.to_owned()))
            .authentication(vec![mechanism])
            .build()
    }

    fn message(to: &[&str], subject: &str) -> Message {
        let mut builder = Message::builder()
            .from("Glossary Digest <digest@example.com>".parse().unwrap())
            .subject(subject);
        for address in to {
            builder = builder.to(address.parse::<Mailbox>().unwrap());
        }
        builder.body(format!("Hello — {subject}\n")).unwrap()
    }

    /// The reply code of an SMTP error, e.g. "451".
    fn code(err: &lettre::transport::smtp::Error) -> String {
        err.status().map(|c| c.to_string()).unwrap_or_default()
    }

    /// A hand-driven SMTP conversation.
    struct Raw {
        reader: BufReader<TcpStream>,
        writer: TcpStream,
    }

    impl Raw {
        /// Connect and read the greeting.
        fn connect(smtp: &TestSmtp) -> Raw {
            let stream = TcpStream::connect(smtp.addr).unwrap();
            stream.set_read_timeout(Some(WAIT)).unwrap();
            let mut raw = Raw {
                reader: BufReader::new(stream.try_clone().unwrap()),
                writer: stream,
            };
            assert!(raw.reply().starts_with("220 "));
            raw
        }

        fn send(&mut self, text: &str) {
            self.writer.write_all(text.as_bytes()).unwrap();
        }

        /// One reply, all its lines.
        fn reply(&mut self) -> String {
            let mut all = String::new();
            loop {
                let mut line = String::new();
                let n = self.reader.read_line(&mut line).unwrap();
                assert!(n > 0, "connection closed; got so far: {all:?}");
                all.push_str(&line);
                if line.as_bytes().get(3) != Some(&b'-') {
                    return all;
                }
            }
        }

        fn cmd(&mut self, line: &str) -> String {
            self.send(&format!("{line}\r\n"));
            self.reply()
        }

        /// Whether the server has closed the connection.
        fn closed(&mut self) -> bool {
            let mut buf = [0u8; 64];
            match self.reader.read(&mut buf) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ),
            }
        }
    }

    #[tokio::test]
    async fn smtp_plain_message_is_received_and_parses() {
        let smtp = TestSmtp::start();
        assert!(smtp.url().starts_with("smtp://127.0.0.1:"));
        plain_client(&smtp)
            .send(message(&["Ann <ann@example.org>"], "Issue 1"))
            .await
            .expect("send");
        assert!(smtp.wait_for(1, WAIT));
        let messages = smtp.messages();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].mail_from, "digest@example.com");
        assert_eq!(messages[0].rcpt_to, ["ann@example.org"]);
        let parsed = mail_parser::MessageParser::default()
            .parse(&messages[0].raw)
            .expect("parse the received message");
        assert_eq!(parsed.subject(), Some("Issue 1"));
        assert_eq!(
            parsed.body_text(0).as_deref().map(str::trim_end),
            Some("Hello — Issue 1")
        );
        assert_eq!(smtp.count_for("ANN@example.org"), 1);
        assert_eq!(smtp.attempts_for("ann@example.org"), 1);
        assert_eq!(smtp.auth_attempts(), 0);
    }

    #[tokio::test]
    async fn smtp_several_recipients_make_one_message() {
        let smtp = TestSmtp::start();
        let client = plain_client(&smtp);
        client
            .send(message(&["a@example.org", "b@example.org"], "both"))
            .await
            .unwrap();
        client
            .send(message(&["b@example.org"], "b only"))
            .await
            .unwrap();
        assert!(smtp.wait_for(2, WAIT));
        let messages = smtp.messages();
        assert_eq!(messages[0].rcpt_to, ["a@example.org", "b@example.org"]);
        assert_eq!(messages[1].rcpt_to, ["b@example.org"]);
        assert_eq!(smtp.count_for("a@example.org"), 1);
        assert_eq!(smtp.count_for("b@example.org"), 2);
        assert!(!smtp.wait_for(3, Duration::from_millis(50)));
    }

    #[tokio::test]
    async fn smtp_temp_fail_then_accept() {
        let smtp = TestSmtp::start();
        smtp.rule("Ann@Example.org", Rule::TempFail { times: 1 });
        let client = plain_client(&smtp);
        let err = client
            .send(message(&["ann@example.org"], "x"))
            .await
            .expect_err("first attempt fails");
        assert!(err.is_transient(), "{err}");
        assert_eq!(code(&err), "451");
        assert!(smtp.messages().is_empty());
        client
            .send(message(&["ann@example.org"], "x"))
            .await
            .expect("retry is accepted");
        assert_eq!(smtp.attempts_for("ann@example.org"), 2);
        assert_eq!(smtp.count_for("ann@example.org"), 1);
        assert_eq!(smtp.messages().len(), 1);
    }

    #[tokio::test]
    async fn smtp_perm_fail_is_550_every_time() {
        let smtp = TestSmtp::start();
        smtp.rule("gone@example.org", Rule::PermFail);
        let client = plain_client(&smtp);
        for _ in 0..2 {
            let err = client
                .send(message(&["gone@example.org"], "x"))
                .await
                .expect_err("rejected");
            assert!(err.is_permanent(), "{err}");
            assert_eq!(code(&err), "550");
        }
        // Others still get through.
        client
            .send(message(&["ok@example.org"], "x"))
            .await
            .unwrap();
        assert_eq!(smtp.attempts_for("gone@example.org"), 2);
        assert_eq!(smtp.count_for("gone@example.org"), 0);
        assert_eq!(smtp.messages().len(), 1);
    }

    #[test]
    fn smtp_drop_answers_421_and_closes_the_connection() {
        let smtp = TestSmtp::start();
        smtp.rule("flaky@example.org", Rule::Drop { times: 1 });
        let mut raw = Raw::connect(&smtp);
        assert!(raw.cmd("EHLO client.test").starts_with("250"));
        assert!(raw.cmd("MAIL FROM:<d@example.com>").starts_with("250"));
        let reply = raw.cmd("RCPT TO:<flaky@example.org>");
        assert!(reply.starts_with("421 "), "{reply}");
        assert!(raw.closed(), "the server closes after 421");

        // The next attempt, on a new connection, is accepted.
        let mut raw = Raw::connect(&smtp);
        raw.cmd("EHLO client.test");
        raw.cmd("MAIL FROM:<d@example.com>");
        assert!(raw.cmd("RCPT TO:<flaky@example.org>").starts_with("250"));
        assert!(raw.cmd("DATA").starts_with("354"));
        raw.send("Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\n");
        assert!(raw.reply().starts_with("250"));
        assert!(raw.cmd("QUIT").starts_with("221"));
        assert_eq!(smtp.attempts_for("flaky@example.org"), 2);
        let messages = smtp.messages();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].raw, b"Subject: hi\r\n\r\n.dot\r\nbody\r\n");
    }

    #[tokio::test]
    async fn smtp_drop_is_a_transient_error_for_lettre() {
        let smtp = TestSmtp::start();
        smtp.rule("flaky@example.org", Rule::Drop { times: 1 });
        let client = plain_client(&smtp);
        let err = client
            .send(message(&["flaky@example.org"], "x"))
            .await
            .expect_err("dropped");
        assert!(err.is_transient(), "{err}");
        assert_eq!(code(&err), "421");
        client
            .send(message(&["flaky@example.org"], "x"))
            .await
            .expect("accepted on retry");
        assert_eq!(smtp.count_for("flaky@example.org"), 1);
    }

    #[test]
    fn smtp_pipelined_commands_are_answered_in_order() {
        let smtp = TestSmtp::start();
        let mut raw = Raw::connect(&smtp);
        let ehlo = raw.cmd("EHLO client.test");
        assert!(!ehlo.contains("PIPELINING"), "{ehlo}");
        raw.send(
            "MAIL FROM:<d@example.com>\r\nRCPT TO:<a@example.org>\r\n\
             RCPT TO:<b@example.org>\r\nDATA\r\n",
        );
        for expected in ["250", "250", "250", "354"] {
            let reply = raw.reply();
            assert!(reply.starts_with(expected), "{reply}");
        }
        raw.send("Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n");
        assert!(raw.reply().starts_with("250"));
        assert!(raw.reply().starts_with("221"));
        assert_eq!(
            smtp.messages()[0].rcpt_to,
            ["a@example.org", "b@example.org"]
        );
    }

    #[test]
    fn smtp_tls_offers_auth_only_after_starttls() {
        let smtp = TestSmtp::start_tls("digest", "s3cret");
        assert_eq!(
            smtp.url(),
            format!("smtp://localhost:{}?tls=required", smtp.addr.port())
        );
        let mut raw = Raw::connect(&smtp);
        let ehlo = raw.cmd("EHLO client.test");
        assert!(ehlo.contains("STARTTLS"), "{ehlo}");
        assert!(!ehlo.contains("AUTH"), "{ehlo}");
        // "\0digest\0s3cret"
        let auth = raw.cmd("AUTH PLAIN AGRpZ2VzdABzM2NyZXQ=");
        assert!(auth.starts_with("503"), "{auth}");
        let mail = raw.cmd("MAIL FROM:<d@example.com>");
        assert!(mail.starts_with("503"), "{mail}");
        assert_eq!(smtp.auth_attempts(), 0);
    }

    #[tokio::test]
    async fn smtp_starttls_and_auth_plain_delivers() {
        let smtp = TestSmtp::start_tls("digest", "s3cret");
        let client = tls_client(&smtp, "digest", "s3cret", Mechanism::Plain);
        client
            .send(message(&["ann@example.org"], "secure"))
            .await
            .expect("send over STARTTLS");
        client
            .send(message(&["bob@example.org"], "secure 2"))
            .await
            .expect("second send");
        assert!(smtp.wait_for(2, WAIT));
        assert_eq!(smtp.count_for("ann@example.org"), 1);
        assert_eq!(smtp.count_for("bob@example.org"), 1);
        // lettre returns a connection to its pool in a spawned task, so the
        // second send may or may not reuse the first connection.
        let auths = smtp.auth_attempts();
        assert!((1..=2).contains(&auths), "{auths} AUTH exchanges");
    }

    #[tokio::test]
    async fn smtp_starttls_and_auth_login_delivers() {
        let smtp = TestSmtp::start_tls("digest", "s3cret");
        tls_client(&smtp, "digest", "s3cret", Mechanism::Login)
            .send(message(&["ann@example.org"], "login"))
            .await
            .expect("send with AUTH LOGIN");
        assert_eq!(smtp.messages().len(), 1);
        assert_eq!(smtp.auth_attempts(), 1);
    }

    #[tokio::test]
    async fn smtp_wrong_password_is_535() {
        let smtp = TestSmtp::start_tls("digest", "s3cret");
        for mechanism in [Mechanism::Plain, Mechanism::Login] {
            let err = tls_client(&smtp, "digest", "wrong", mechanism)
                .send(message(&["ann@example.org"], "x"))
                .await
                .expect_err("bad credentials");
            assert!(err.is_permanent(), "{err}");
            assert_eq!(code(&err), "535");
        }
        assert_eq!(smtp.auth_attempts(), 2);
        assert!(smtp.messages().is_empty());
        assert_eq!(smtp.attempts_for("ann@example.org"), 0);
    }

    #[tokio::test]
    async fn smtp_untrusted_certificate_is_refused_by_the_client() {
        let smtp = TestSmtp::start_tls("digest", "s3cret");
        let err = Transport::from_url(&smtp.url())
            .unwrap()
            .credentials(Credentials::new("digest".into(), "s3cret".into()))
            .build()
            .send(message(&["ann@example.org"], "x"))
            .await
            .expect_err("the fixture certificate is not in webpki-roots");
        // lettre reports it as a connection error wrapping rustls's.
        assert!(format!("{err:?}").contains("UnknownIssuer"), "{err:?}");
        assert!(smtp.messages().is_empty());
        assert_eq!(smtp.auth_attempts(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn smtp_serves_eight_connections_in_parallel() {
        let smtp = TestSmtp::start();
        let delay = Duration::from_millis(400);
        smtp.set_delay(delay);
        let started = Instant::now();
        let sends = (0..8).map(|i| {
            // One transport each: eight separate connections.
            let client = plain_client(&smtp);
            tokio::spawn(async move {
                client
                    .send(message(&[&format!("r{i}@example.org")], "slow"))
                    .await
            })
        });
        for send in sends.collect::<Vec<_>>() {
            send.await.unwrap().expect("send");
        }
        let elapsed = started.elapsed();
        assert_eq!(smtp.messages().len(), 8);
        assert!(elapsed >= delay, "{elapsed:?}");
        assert!(elapsed < delay * 4, "not parallel: {elapsed:?}");
    }
}
