//! The SMTP connection settings: `[smtp] url` in lettre's URL form, the
//! credentials from the environment, an optional extra trusted CA.
//!
//! The password never goes into the URL, the config file or a log line: it
//! comes from `DIGEST_SMTP_PASSWORD` or the file named by
//! `DIGEST_SMTP_PASSWORD_FILE`.

use std::time::Duration;

use anyhow::Context as _;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use crate::config::Config;
use crate::error::InputError;

pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    None,
    Opportunistic,
    StartTls,
    Wrapper,
}

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
pub struct Server {
    pub endpoint: Endpoint,
    mode: TlsMode,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    timeout: Duration,
}

impl Server {
    pub fn from_config(config: &Config) -> anyhow::Result<Server> {
        let url = url::Url::parse(&config.smtp.url).context("[smtp] url")?;
        let host = url
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string())
            .context("[smtp] url has no host")?;
        let mut mode = if url.scheme() == "smtps" {
            TlsMode::Wrapper
        } else {
            TlsMode::None
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "required") => mode = TlsMode::StartTls,
                ("tls", "opportunistic") => mode = TlsMode::Opportunistic,
                ("tls", "none") if mode != TlsMode::Wrapper => mode = TlsMode::None,
                _ => {
                    return Err(InputError(format!(
                        "[smtp] url: unknown parameter `{key}={value}`; use tls=required or tls=opportunistic"
                    ))
                    .into());
                }
            }
        }
        let port = url
            .port()
            .unwrap_or(if mode == TlsMode::Wrapper { 465 } else { 25 });
        let tls = if mode == TlsMode::None {
            None
        } else {
            let mut params = TlsParameters::builder(host.clone());
            if let Some(ca) = &config.smtp.ca_file {
                let pem = std::fs::read(ca)
                    .with_context(|| format!("cannot read [smtp] ca_file {}", ca.display()))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    InputError(format!(
                        "[smtp] ca_file {} is not a PEM certificate: {e}",
                        ca.display()
                    ))
                })?;
                params = params.add_root_certificate(cert);
            }
            Some(params.build_rustls().context("setting up TLS failed")?)
        };
        let url_user = (!url.username().is_empty()).then(|| percent_decode(url.username()));
        let user = url_user.or_else(|| {
            std::env::var("DIGEST_SMTP_USERNAME")
                .ok()
                .filter(|u| !u.is_empty())
        });
        let credentials = match user {
            Some(user) => {
                let password = password()?.ok_or_else(|| {
                    InputError(format!(
                        "an SMTP user name is set ({user}) but no password: set DIGEST_SMTP_PASSWORD or DIGEST_SMTP_PASSWORD_FILE"
                    ))
                })?;
                Some(Credentials::new(user, password))
            }
            None => None,
        };
        Ok(Server {
            endpoint: Endpoint { host, port },
            mode,
            tls,
            credentials,
            timeout: config.smtp.timeout,
        })
    }

    /// lettre's pooled transport, for the occasional message (confirmations).
    pub fn transport(&self, pool_size: u32) -> Transport {
        let mut builder = Transport::builder_dangerous(self.endpoint.host.clone())
            .port(self.endpoint.port)
            .timeout(Some(self.timeout))
            .pool_config(PoolConfig::new().max_size(pool_size).min_idle(0));
        if let Some(params) = &self.tls {
            builder = builder.tls(match self.mode {
                TlsMode::Wrapper => Tls::Wrapper(params.clone()),
                TlsMode::StartTls => Tls::Required(params.clone()),
                _ => Tls::Opportunistic(params.clone()),
            });
        }
        if let Some(credentials) = &self.credentials {
            builder = builder
                .credentials(credentials.clone())
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        builder.build()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// One connection for bulk sending, ready for `MAIL FROM`: greeted,
    /// encrypted and authenticated as configured.
    ///
    /// The bulk path opens its own sockets rather than using lettre's pool
    /// because lettre writes the message body and the final `.` in two
    /// writes: with Nagle's algorithm on, the second waits for the ACK of
    /// the first, which the server delays, and every message stalls about
    /// 40 ms. `TCP_NODELAY` removes the stall.
    pub async fn connect(&self) -> Result<AsyncSmtpConnection, SmtpError> {
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
            self.authenticate(&mut conn).await?;
            return Ok(conn);
        }
        let connect = tokio::net::TcpStream::connect(addr);
        let stream = match tokio::time::timeout(self.timeout, connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(SmtpError::Connect(e)),
            Err(_) => return Err(SmtpError::Timeout),
        };
        let _ = stream.set_nodelay(true);
        let mut conn =
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello).await?;
        match (&self.mode, &self.tls) {
            (TlsMode::StartTls, Some(params)) => conn.starttls(params.clone(), &hello).await?,
            (TlsMode::Opportunistic, Some(params)) if conn.can_starttls() => {
                conn.starttls(params.clone(), &hello).await?
            }
            _ => {}
        }
        self.authenticate(&mut conn).await?;
        Ok(conn)
    }

    async fn authenticate(&self, conn: &mut AsyncSmtpConnection) -> Result<(), SmtpError> {
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await?;
        }
        Ok(())
    }
}

/// What went wrong talking to the server.
#[derive(Debug)]
pub enum SmtpError {
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

/// The pooled transport from the configuration and the environment.
pub fn transport(config: &Config, pool_size: u32) -> anyhow::Result<(Transport, Endpoint)> {
    let server = Server::from_config(config)?;
    Ok((server.transport(pool_size), server.endpoint.clone()))
}

fn password() -> anyhow::Result<Option<String>> {
    if let Ok(p) = std::env::var("DIGEST_SMTP_PASSWORD")
        && !p.is_empty()
    {
        return Ok(Some(p));
    }
    match std::env::var("DIGEST_SMTP_PASSWORD_FILE") {
        Ok(path) if !path.is_empty() => {
            let p = std::fs::read_to_string(&path).map_err(|e| {
                InputError(format!("cannot read DIGEST_SMTP_PASSWORD_FILE {path}: {e}"))
            })?;
            Ok(Some(p.trim_end_matches(['\r', '\n']).to_string()))
        }
        _ => Ok(None),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or(""), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How a failed SMTP attempt should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Try again later: 4xx, a dropped or refused connection, a timeout.
    Transient,
    /// The server refused this recipient or message for good: 5xx.
    Permanent,
    /// The server refused our credentials: stop the whole run.
    Auth,
}

pub fn classify(e: &lettre::transport::smtp::Error) -> Failure {
    let code = e.status().map(|c| c.to_string());
    match code.as_deref() {
        Some("530" | "534" | "535" | "538") => Failure::Auth,
        _ if e.is_permanent() || e.is_client() => Failure::Permanent,
        _ => Failure::Transient,
    }
}

/// The server's reply or the error, on one line, for the ledger and logs.
pub fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Exponential backoff with jitter: `base * 2^(attempt-1)`, times a random
/// factor between 0.5 and 1.5, so retries from many workers spread out.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    let jitter = 0.5 + f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX);
    exp.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_jitters_within_bounds() {
        let base = Duration::from_millis(100);
        for attempt in 1..=5u32 {
            let nominal = 100.0 * f64::from(1u32 << (attempt - 1));
            for _ in 0..20 {
                let ms = backoff(base, attempt).as_secs_f64() * 1000.0;
                assert!(
                    ms >= nominal * 0.5 - 1.0 && ms <= nominal * 1.5 + 1.0,
                    "{attempt}: {ms}"
                );
            }
        }
    }

    #[test]
    fn user_names_in_urls_are_percent_decoded() {
        assert_eq!(percent_decode("apikey%40example.com"), "apikey@example.com");
        assert_eq!(percent_decode("plain"), "plain");
    }
}
