//! TLS for the connections the digest makes as a client (IMAP, and the
//! certificate fetches behind SNS webhooks): the Mozilla roots, plus one
//! extra PEM root an operator may name for a private CA.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

/// A connector trusting the public roots and, when given, the
/// certificates in `ca_file`. `what` names the setting in errors.
pub fn connector(ca_file: Option<&Path>, what: &str) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = ca_file {
        let pem =
            std::fs::read(ca).with_context(|| format!("cannot read {what} {}", ca.display()))?;
        let mut found = 0;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| {
                crate::error::InputError(format!(
                    "{what} {} is not a PEM certificate: {e}",
                    ca.display()
                ))
            })?;
            roots
                .add(cert)
                .map_err(|e| crate::error::InputError(format!("{what} {}: {e}", ca.display())))?;
            found += 1;
        }
        if found == 0 {
            crate::bad_input!("{what} {} holds no PEM certificate", ca.display());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS setup")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(tls)))
}
