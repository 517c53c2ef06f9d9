//! The SMTP transport: `[smtp] url`, the credentials from the environment,
//! an optional extra trusted CA, and the bulk connections built on them.
//!
//! The password never goes into the URL, the config file or a log line: it
//! comes from `DIGEST_SMTP_PASSWORD` or the file named by
//! `DIGEST_SMTP_PASSWORD_FILE`.

use std::time::Duration;

use anyhow::Context as _;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

mod session;

pub use session::{Offers, SmtpConnection};

use super::{ConnectError, ConnectFailure, Transport};
use crate::config::{Config, Relay, SMTP_RELAY, TlsMode};
use crate::error::InputError;
use crate::secret::Secret;

/// Where mail goes, for messages: `host:port`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Everything about the SMTP server, from `[smtp]` and the environment.
#[derive(Clone)]
pub struct Smtp {
    /// The relay's name, recorded with each delivery it takes.
    pub name: String,
    pub endpoint: Endpoint,
    mode: TlsMode,
    tls: Option<TlsParameters>,
    user: Option<String>,
    password: Option<Secret>,
    timeout: Duration,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("mode", &self.mode)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Smtp {
    /// Every configured relay, in the order of the config file.
    pub fn relays(config: &Config) -> anyhow::Result<Vec<Smtp>> {
        config.relays.iter().map(Smtp::new).collect()
    }

    /// The relay a single mail goes through (a confirmation): the first of
    /// the first priority.
    pub fn from_config(config: &Config) -> anyhow::Result<Smtp> {
        let first = config
            .relays
            .iter()
            .min_by_key(|r| r.priority)
            .context("no relay is configured")?;
        Smtp::new(first)
    }

    /// One relay, with its credentials from `<env>_USERNAME` (unless the
    /// URL names the user), `<env>_PASSWORD` or `<env>_PASSWORD_FILE`.
    pub fn new(relay: &Relay) -> anyhow::Result<Smtp> {
        let url = &relay.url;
        let host = url.host.clone();
        let mode = url.tls;
        let section = if relay.name == SMTP_RELAY && relay.env == "DIGEST_SMTP" {
            "[smtp]".to_string()
        } else {
            format!("[[relay]] \"{}\"", relay.name)
        };
        let tls = if mode == TlsMode::None {
            None
        } else {
            let mut params = TlsParameters::builder(host.clone());
            if let Some(ca) = &relay.ca_file {
                let pem = std::fs::read(ca)
                    .with_context(|| format!("cannot read {section} ca_file {}", ca.display()))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    InputError(format!(
                        "{section} ca_file {} is not a PEM certificate: {e}",
                        ca.display()
                    ))
                })?;
                params = params.add_root_certificate(cert);
            }
            Some(params.build_rustls().context("setting up TLS failed")?)
        };
        let env = &relay.env;
        let user = url.user.clone().or_else(|| {
            std::env::var(format!("{env}_USERNAME"))
                .ok()
                .filter(|u| !u.is_empty())
        });
        let password = match &user {
            Some(user) => Some(crate::secret::from_env(&format!("{env}_PASSWORD"))?.ok_or_else(|| {
                InputError(format!(
                    "{section}: a user name is set ({user}) but no password: set {env}_PASSWORD or {env}_PASSWORD_FILE"
                ))
            })?),
            None => None,
        };
        Ok(Smtp {
            name: relay.name.clone(),
            endpoint: Endpoint {
                host,
                port: url.port,
            },
            mode,
            tls,
            user,
            password,
            timeout: relay.timeout,
        })
    }

    /// One connection for bulk sending, ready for `MAIL FROM`: greeted,
    /// encrypted and authenticated as configured.
    ///
    /// The bulk path opens its own sockets rather than using lettre's pool
    /// because lettre writes the message body and the final `.` in two
    /// writes: with Nagle's algorithm on, the second waits for the ACK of
    /// the first, which the server delays, and every message stalls about
    /// 40 ms. `TCP_NODELAY` removes the stall.
    async fn open(&self) -> Result<(AsyncSmtpConnection, Offers), SmtpError> {
        let mut greeted = self.greet().await?;
        self.authenticate(&mut greeted.conn).await?;
        Ok((greeted.conn, greeted.offers))
    }

    /// Connected, encrypted as configured and asked what it offers; not
    /// logged in yet.
    async fn greet(&self) -> Result<Greeted, SmtpError> {
        let hello = ClientId::default();
        let addr = (self.endpoint.host.as_str(), self.endpoint.port);
        if self.mode == TlsMode::Wrapper {
            // Implicit TLS: lettre does the handshake before the greeting.
            let mut conn = AsyncSmtpConnection::connect_tokio1(
                addr,
                Some(self.timeout),
                &hello,
                self.tls.clone(),
                None,
            )
            .await?;
            let offers = Offers::ask(&mut conn, &hello).await?;
            return Ok(Greeted {
                conn,
                offers,
                starttls_offered: false,
            });
        }
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(SmtpError::Connect)?;
        let _ = stream.set_nodelay(true);
        let mut conn =
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello).await?;
        let starttls_offered = conn.can_starttls();
        match (&self.mode, &self.tls) {
            (TlsMode::StartTls, Some(params)) => conn.starttls(params.clone(), &hello).await?,
            (TlsMode::Opportunistic, Some(params)) if conn.can_starttls() => {
                conn.starttls(params.clone(), &hello).await?
            }
            _ => {}
        }
        let offers = Offers::ask(&mut conn, &hello).await?;
        Ok(Greeted {
            conn,
            offers,
            starttls_offered,
        })
    }

    /// `send --check-relays`: connect, say EHLO, start TLS and log in as a
    /// send would, report what the server offers and how far it got, then
    /// say QUIT. Sends nothing.
    pub async fn check(&self) -> Checked {
        let mut checked = Checked {
            name: self.name.clone(),
            relay: self.endpoint.to_string(),
            reached: false,
            starttls_offered: false,
            encrypted: false,
            offers: Offers::default(),
            login: Login::NotTried,
            error: None,
        };
        let greeted = match tokio::time::timeout(self.timeout, self.greet()).await {
            Ok(Ok(g)) => g,
            Ok(Err(e)) => {
                checked.error = Some(e.to_string());
                return checked;
            }
            Err(_) => {
                checked.error = Some(SmtpError::Timeout.to_string());
                return checked;
            }
        };
        let Greeted {
            mut conn,
            offers,
            starttls_offered,
        } = greeted;
        checked.reached = true;
        checked.starttls_offered = starttls_offered || self.mode == TlsMode::Wrapper;
        checked.encrypted = conn.is_encrypted();
        checked.offers = offers;
        checked.login = match (&self.user, &self.password) {
            (Some(_), Some(_)) => {
                match tokio::time::timeout(self.timeout, self.authenticate(&mut conn)).await {
                    Ok(Ok(())) => Login::Ok,
                    Ok(Err(e)) => Login::Refused(e.to_string()),
                    Err(_) => Login::Refused(SmtpError::Timeout.to_string()),
                }
            }
            _ => Login::NoCredentials,
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.quit()).await;
        checked
    }
}

impl Smtp {
    /// How messages name it: `the SMTP server host:port`, with the
    /// relay's name when it has its own.
    fn server(&self) -> String {
        if self.name == SMTP_RELAY {
            format!("the SMTP server {}", self.endpoint)
        } else {
            format!("the SMTP server {} (relay {})", self.endpoint, self.name)
        }
    }
}

/// A connection greeted and asked what it offers.
struct Greeted {
    conn: AsyncSmtpConnection,
    offers: Offers,
    starttls_offered: bool,
}

/// What `send --check-relays` found out about one relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The relay's name (`smtp` for the [smtp] section).
    pub name: String,
    /// `host:port`.
    pub relay: String,
    pub reached: bool,
    pub starttls_offered: bool,
    pub encrypted: bool,
    pub offers: Offers,
    pub login: Login,
    /// Why it could not be reached or greeted.
    pub error: Option<String>,
}

impl Checked {
    /// Reached, and logged in when credentials are set.
    pub fn ok(&self) -> bool {
        self.reached && !matches!(self.login, Login::Refused(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Ok,
    /// The server refused the credentials; its reply.
    Refused(String),
    /// No user name is set: the relay is used without AUTH.
    NoCredentials,
    /// The relay was not reached.
    NotTried,
}

impl Smtp {
    async fn authenticate(&self, conn: &mut AsyncSmtpConnection) -> Result<(), SmtpError> {
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            let credentials = Credentials::new(user.clone(), password.expose().to_string());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await?;
        }
        Ok(())
    }
}

impl Transport for Smtp {
    type Connection = SmtpConnection;

    fn relay(&self) -> Option<String> {
        Some(self.name.clone())
    }

    fn describe(&self) -> String {
        self.server()
    }

    async fn connect(&self) -> Result<SmtpConnection, ConnectError> {
        let error = match tokio::time::timeout(self.timeout, self.open()).await {
            Ok(Ok((conn, offers))) => {
                return Ok(SmtpConnection::new(conn, offers, self.timeout));
            }
            Err(_) => SmtpError::Timeout,
            Ok(Err(e)) => e,
        };
        Err(match error.failure() {
            Failure::Auth => ConnectError {
                kind: ConnectFailure::Auth,
                message: format!("{} refused the credentials: {error}", self.server()),
            },
            _ => ConnectError {
                kind: ConnectFailure::Unreachable,
                message: format!("cannot reach {}: {error}", self.server()),
            },
        })
    }
}

/// What went wrong talking to the server.
#[derive(Debug)]
pub(super) enum SmtpError {
    /// An SMTP reply or a failure inside lettre.
    Smtp(lettre::transport::smtp::Error),
    /// The TCP connection could not be made.
    Connect(std::io::Error),
    /// No answer within `[smtp] timeout_secs`.
    Timeout,
}

impl From<lettre::transport::smtp::Error> for SmtpError {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        SmtpError::Smtp(e)
    }
}

impl SmtpError {
    /// 421 (closing the channel) or 454 (TLS or AUTH unavailable): the
    /// relay, not the message, is in trouble.
    pub fn unavailable(&self) -> bool {
        match self {
            SmtpError::Smtp(e) => {
                matches!(
                    e.status().map(|c| c.to_string()).as_deref(),
                    Some("421" | "454")
                )
            }
            SmtpError::Connect(_) | SmtpError::Timeout => false,
        }
    }

    pub fn failure(&self) -> Failure {
        match self {
            SmtpError::Smtp(e) => classify(e),
            SmtpError::Connect(_) | SmtpError::Timeout => Failure::Transient,
        }
    }
}

impl std::fmt::Display for SmtpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmtpError::Smtp(e) => f.write_str(&describe(e)),
            SmtpError::Connect(e) => write!(f, "connection failed: {e}"),
            SmtpError::Timeout => f.write_str("timed out"),
        }
    }
}

/// How a failed SMTP attempt should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// Try again later: 4xx, a dropped or refused connection, a timeout.
    Transient,
    /// The server refused this recipient or message for good: 5xx.
    Permanent,
    /// The server refused our credentials: stop the whole run.
    Auth,
}

fn classify(e: &lettre::transport::smtp::Error) -> Failure {
    let code = e.status().map(|c| c.to_string());
    match code.as_deref() {
        Some("530" | "534" | "535" | "538") => Failure::Auth,
        _ if e.is_permanent() || e.is_client() => Failure::Permanent,
        _ => Failure::Transient,
    }
}

/// The server's reply or the error, on one line, for the ledger and logs.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
