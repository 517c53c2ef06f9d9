//! `[smtp] url`: where mail goes and how to talk TLS to it, parsed once.

/// How to talk TLS to the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain SMTP (`smtp://`, or `?tls=none`).
    None,
    /// STARTTLS when the server offers it (`?tls=opportunistic`).
    Opportunistic,
    /// STARTTLS or nothing is sent (`?tls=required`).
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Wrapper,
}

/// `[smtp] url`, parsed: `smtp://[user@]host[:port][?tls=...]` or
/// `smtps://...`. The password never comes from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// The user name written in the URL, percent-decoded.
    pub user: Option<String>,
}

impl SmtpUrl {
    pub fn parse(s: &str) -> Result<SmtpUrl, String> {
        let url = url::Url::parse(s.trim())
            .map_err(|e| format!("not a URL ({e}); write it like \"smtp://127.0.0.1:25\" or \"smtps://smtp.example.com:465\""))?;
        let host = match url.host_str() {
            Some(h) if matches!(url.scheme(), "smtp" | "smtps") => {
                h.trim_start_matches('[').trim_end_matches(']').to_string()
            }
            _ => {
                return Err(
                    "use smtp://host:port, smtps://host:465 or smtp://host:587?tls=required".into(),
                );
            }
        };
        if url.password().is_some() {
            return Err(
                "do not put the password in the URL; set DIGEST_SMTP_PASSWORD instead".into(),
            );
        }
        let mut tls = if url.scheme() == "smtps" {
            TlsMode::Wrapper
        } else {
            TlsMode::None
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "required") => tls = TlsMode::StartTls,
                ("tls", "opportunistic") => tls = TlsMode::Opportunistic,
                ("tls", "none") if tls != TlsMode::Wrapper => tls = TlsMode::None,
                _ => {
                    return Err(format!(
                        "unknown parameter `{key}={value}`; use tls=required or tls=opportunistic"
                    ));
                }
            }
        }
        let port = url
            .port()
            .unwrap_or(if tls == TlsMode::Wrapper { 465 } else { 25 });
        let user = (!url.username().is_empty()).then(|| percent_decode(url.username()));
        Ok(SmtpUrl {
            host,
            port,
            tls,
            user,
        })
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(hex).unwrap_or(""), 16)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_are_parsed_once_into_their_parts() {
        let cases = [
            (
                "smtp://127.0.0.1:2525",
                ("127.0.0.1", 2525, TlsMode::None, None),
            ),
            (
                "smtps://mail.example",
                ("mail.example", 465, TlsMode::Wrapper, None),
            ),
            (
                "smtp://apikey%40example.com@relay.example:587?tls=required",
                (
                    "relay.example",
                    587,
                    TlsMode::StartTls,
                    Some("apikey@example.com"),
                ),
            ),
            (
                "smtp://[::1]:25?tls=opportunistic",
                ("::1", 25, TlsMode::Opportunistic, None),
            ),
        ];
        for (input, (host, port, tls, user)) in cases {
            let url = SmtpUrl::parse(input).unwrap();
            assert_eq!(
                (url.host.as_str(), url.port, url.tls, url.user.as_deref()),
                (host, port, tls, user),
                "{input}"
            );
        }
        assert!(
            SmtpUrl::parse("smtp://x.example?tls=maybe")
                .unwrap_err()
                .contains("unknown parameter")
        );
        assert!(
            SmtpUrl::parse("smtp://u:pw@x.example")
                .unwrap_err()
                .contains("password")
        );
        assert_eq!(percent_decode("plain%"), "plain%");
    }
}
