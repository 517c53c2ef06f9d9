//! The IMAP mailbox `digest inbound --imap` reads: for operators whose
//! bounces land at their provider instead of on an MTA of their own.
//!
//! A thin edge over `async-imap`: connect (TLS from the first byte, or
//! STARTTLS, which is required unless the URL says `tls=none`), log in,
//! list the unseen messages, fetch one without marking it seen, then move
//! it to the processed folder or mark it seen. Nothing here deletes a
//! message. Every exchange has the `[smtp] timeout_secs` deadline, so a
//! server that does not answer fails the run instead of hanging cron.

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use async_imap::{Client, Session};
use futures_util::StreamExt as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{Imap, ImapTls};
use crate::secret::Secret;

/// A byte stream IMAP runs over: plain TCP or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}

type Stream = Box<dyn Io>;

/// Who logs in: `DIGEST_IMAP_USERNAME` (or the URL's user) and
/// `DIGEST_IMAP_PASSWORD` / `DIGEST_IMAP_PASSWORD_FILE`.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

/// A logged-in session on the configured folder.
pub struct Mailbox {
    session: Session<Stream>,
    endpoint: String,
    timeout: Duration,
    processed: String,
    processed_exists: bool,
    can_move: bool,
}

/// Run `f` within `timeout`, naming the server and the step on failure.
async fn within<T, E: Into<anyhow::Error>>(
    timeout: Duration,
    endpoint: &str,
    step: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(timeout, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.into()).with_context(|| format!("IMAP server {endpoint}: {step}")),
        Err(_) => anyhow::bail!(
            "IMAP server {endpoint}: no answer to {step} within {} s ([smtp] timeout_secs)",
            timeout.as_secs()
        ),
    }
}

async fn wrap<S: Io + 'static>(
    connector: &tokio_rustls::TlsConnector,
    host: &str,
    stream: S,
) -> anyhow::Result<Stream> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| anyhow::anyhow!("`{host}` is not a host name for TLS: {e}"))?;
    Ok(Box::new(connector.connect(name, stream).await?))
}

impl Mailbox {
    /// Connect, log in and select the folder.
    pub async fn open(
        config: &Imap,
        credentials: &Credentials,
        timeout: Duration,
    ) -> anyhow::Result<Mailbox> {
        let url = &config.url;
        let endpoint = format!("{}:{}", url.host, url.port);
        let connector = crate::tls::connector(config.ca_file.as_deref(), "[inbound.imap] ca_file")?;
        let tcp = within(
            timeout,
            &endpoint,
            "connecting",
            TcpStream::connect((url.host.as_str(), url.port)),
        )
        .await?;
        tcp.set_nodelay(true).ok();
        let stream: Stream = match url.tls {
            ImapTls::Wrapper => {
                within(
                    timeout,
                    &endpoint,
                    "TLS handshake",
                    wrap(&connector, &url.host, tcp),
                )
                .await?
            }
            _ => Box::new(tcp),
        };
        let mut client = Client::new(stream);
        within(timeout, &endpoint, "greeting", async {
            client
                .read_response()
                .await?
                .ok_or_else(|| std::io::Error::other("the connection closed before the greeting"))
        })
        .await?;
        if url.tls == ImapTls::StartTls {
            within(
                timeout,
                &endpoint,
                "STARTTLS (required for imap://; use imaps:// or add ?tls=none for a server on this machine)",
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            let plain = client.into_inner();
            let tls = within(
                timeout,
                &endpoint,
                "TLS handshake",
                wrap(&connector, &url.host, plain),
            )
            .await?;
            client = Client::new(tls);
        }
        let session = match tokio::time::timeout(
            timeout,
            client.login(&credentials.username, credentials.password.expose()),
        )
        .await
        {
            Ok(Ok(session)) => session,
            Ok(Err((e, _))) => anyhow::bail!(
                "IMAP server {endpoint} refused the login of {}: {e}; check DIGEST_IMAP_USERNAME and DIGEST_IMAP_PASSWORD",
                credentials.username
            ),
            Err(_) => anyhow::bail!(
                "IMAP server {endpoint}: no answer to the login within {} s ([smtp] timeout_secs)",
                timeout.as_secs()
            ),
        };
        let mut mailbox = Mailbox {
            session,
            endpoint,
            timeout,
            processed: config.processed_folder.clone(),
            processed_exists: false,
            can_move: false,
        };
        let caps = within(
            timeout,
            &mailbox.endpoint,
            "CAPABILITY",
            mailbox.session.capabilities(),
        )
        .await?;
        mailbox.can_move = caps.has_str("MOVE");
        let folder = config.folder.clone();
        within(
            timeout,
            &mailbox.endpoint.clone(),
            &format!("selecting folder {folder}"),
            mailbox.session.select(&folder),
        )
        .await?;
        Ok(mailbox)
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The UIDs of the unseen messages, oldest first.
    pub async fn unseen(&mut self) -> anyhow::Result<Vec<u32>> {
        let endpoint = self.endpoint.clone();
        let found = within(
            self.timeout,
            &endpoint,
            "searching unseen messages",
            self.session.uid_search("UNSEEN"),
        )
        .await?;
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// The raw message `uid`, without marking it seen; `None` when it is
    /// gone (another run moved it).
    pub async fn fetch(&mut self, uid: u32) -> anyhow::Result<Option<Vec<u8>>> {
        let endpoint = self.endpoint.clone();
        let session = &mut self.session;
        within(self.timeout, &endpoint, "fetching a message", async move {
            let mut fetches = session.uid_fetch(uid.to_string(), "BODY.PEEK[]").await?;
            let mut body = None;
            while let Some(fetch) = fetches.next().await {
                let fetch = fetch?;
                if fetch.uid == Some(uid)
                    && let Some(b) = fetch.body()
                {
                    body = Some(b.to_vec());
                }
            }
            anyhow::Ok(body)
        })
        .await
    }

    /// Move `uid` to the processed folder, creating it the first time.
    pub async fn move_to_processed(&mut self, uid: u32) -> anyhow::Result<()> {
        let endpoint = self.endpoint.clone();
        if !self.processed_exists {
            // CREATE fails when the folder exists: that is fine.
            let _ = tokio::time::timeout(self.timeout, self.session.create(&self.processed)).await;
            self.processed_exists = true;
        }
        let folder = self.processed.clone();
        if self.can_move {
            within(
                self.timeout,
                &endpoint,
                &format!("moving a message to {folder}"),
                self.session.uid_mv(uid.to_string(), &folder),
            )
            .await
        } else {
            // Without MOVE: a copy there, and the original marked seen
            // (never deleted).
            within(
                self.timeout,
                &endpoint,
                &format!("copying a message to {folder}"),
                self.session.uid_copy(uid.to_string(), &folder),
            )
            .await?;
            self.mark_seen(uid).await
        }
    }

    /// Mark `uid` seen, leaving it where it is.
    pub async fn mark_seen(&mut self, uid: u32) -> anyhow::Result<()> {
        let endpoint = self.endpoint.clone();
        let session = &mut self.session;
        within(
            self.timeout,
            &endpoint,
            "marking a message seen",
            async move {
                let mut updates = session
                    .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Seen)")
                    .await?;
                while let Some(update) = updates.next().await {
                    update?;
                }
                anyhow::Ok(())
            },
        )
        .await
    }

    pub async fn logout(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.session.logout()).await;
    }
}
