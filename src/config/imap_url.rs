//! `[inbound.imap] url`: the mailbox `digest inbound --imap` reads.

/// How to talk TLS to the IMAP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapTls {
    /// TLS from the first byte (`imaps://`, port 993).
    Wrapper,
    /// `imap://`: STARTTLS, and nothing is sent without it.
    StartTls,
    /// `imap://…?tls=none`: plain text (a server on the same machine).
    None,
}

/// `imaps://[user@]host[:port]` or `imap://[user@]host[:port][?tls=none]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    pub host: String,
    pub port: u16,
    pub tls: ImapTls,
    /// The user name written in the URL (`DIGEST_IMAP_USERNAME` wins).
    pub user: Option<String>,
}

impl ImapUrl {
    pub fn parse(s: &str) -> Result<ImapUrl, String> {
        let url = url::Url::parse(s.trim()).map_err(|e| {
            format!("not a URL ({e}); write it like \"imaps://imap.example.com:993\"")
        })?;
        let host = match url.host_str() {
            Some(h) if matches!(url.scheme(), "imap" | "imaps") => {
                h.trim_start_matches('[').trim_end_matches(']').to_string()
            }
            _ => return Err("use imaps://host:993, or imap://host:143 for STARTTLS".into()),
        };
        if url.password().is_some() {
            return Err(
                "do not put the password in the URL; set DIGEST_IMAP_PASSWORD instead".into(),
            );
        }
        let mut tls = if url.scheme() == "imaps" {
            ImapTls::Wrapper
        } else {
            ImapTls::StartTls
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "none") if tls == ImapTls::StartTls => tls = ImapTls::None,
                ("tls", "required") if tls == ImapTls::StartTls => {}
                _ => {
                    return Err(format!(
                        "unknown parameter `{key}={value}`; only imap:// takes one, tls=none"
                    ));
                }
            }
        }
        let port = url
            .port()
            .unwrap_or(if tls == ImapTls::Wrapper { 993 } else { 143 });
        let user = (!url.username().is_empty()).then(|| url.username().to_string());
        Ok(ImapUrl {
            host,
            port,
            tls,
            user,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_urls_say_how_to_talk_tls() {
        let cases = [
            (
                "imaps://imap.example.com",
                Ok(("imap.example.com", 993, ImapTls::Wrapper)),
            ),
            (
                "imap://127.0.0.1:1143",
                Ok(("127.0.0.1", 1143, ImapTls::StartTls)),
            ),
            (
                "imap://127.0.0.1:1143/?tls=none",
                Ok(("127.0.0.1", 1143, ImapTls::None)),
            ),
            (
                "imap://mx.example.com?tls=none",
                Ok(("mx.example.com", 143, ImapTls::None)),
            ),
            ("imaps://x.example?tls=none", Err("unknown parameter")),
            ("imap://u:secret@x.example", Err("do not put the password")),
            ("https://x.example", Err("use imaps://")),
            ("x", Err("not a URL")),
        ];
        for (input, expected) in cases {
            let got = ImapUrl::parse(input);
            match (got, expected) {
                (Ok(url), Ok((host, port, tls))) => {
                    assert_eq!(
                        (url.host.as_str(), url.port, url.tls),
                        (host, port, tls),
                        "{input}"
                    )
                }
                (Err(e), Err(start)) => assert!(e.starts_with(start), "{input}: {e}"),
                (got, _) => panic!("{input}: {got:?}"),
            }
        }
    }
}
