//! One HTTPS GET, for the few URLs the digest itself fetches (an SNS
//! signing certificate, an SNS subscription confirmation).
//!
//! The caller has already decided the URL may be fetched; this connects
//! (to the URL's host, or to `connect_to` when an operator routes it
//! elsewhere), verifies the server's certificate for the URL's host name
//! whatever address it connected to, and reads a bounded body within the
//! deadline. No redirects are followed.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use url::Url;

/// Where and how to fetch.
#[derive(Clone)]
pub struct Fetcher {
    pub tls: tokio_rustls::TlsConnector,
    pub connect_to: Option<SocketAddr>,
    pub timeout: Duration,
    pub max_bytes: usize,
}

impl Fetcher {
    /// GET `url` (https only); the body of a 2xx answer.
    pub async fn get(&self, url: &Url) -> anyhow::Result<Vec<u8>> {
        tokio::time::timeout(self.timeout, self.fetch(url))
            .await
            .with_context(|| format!("no answer within {} s", self.timeout.as_secs()))?
    }

    async fn fetch(&self, url: &Url) -> anyhow::Result<Vec<u8>> {
        if url.scheme() != "https" {
            bail!("only https URLs are fetched");
        }
        let host = url.host_str().context("the URL has no host")?.to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let tcp = match self.connect_to {
            Some(addr) => tokio::net::TcpStream::connect(addr).await,
            None => tokio::net::TcpStream::connect((host.as_str(), port)).await,
        }
        .with_context(|| format!("cannot connect to {host}"))?;
        let name = ServerName::try_from(host.clone()).context("the host is not a server name")?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS with {host} failed"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .context("HTTP handshake failed")?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, host.as_str())
            .header(
                hyper::header::USER_AGENT,
                concat!("glossary-digest/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .context("building the request")?;
        let response = sender
            .send_request(request)
            .await
            .context("the request failed")?;
        let status = response.status();
        let body = Limited::new(response.into_body(), self.max_bytes)
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("reading the answer failed: {e}"))?
            .to_bytes();
        driver.abort();
        if !status.is_success() {
            bail!("{host} answered {status}");
        }
        Ok(body.to_vec())
    }
}
