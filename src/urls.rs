//! Every link the mail and the web pages carry, built from the same route
//! definitions the HTTP server answers.
//!
//! [`route`] holds the paths (with `{token}` / `{week}` where axum takes a
//! parameter); [`PublicUrl`] is `[newsletter] public_url`, validated once,
//! and fills those paths in. Nothing else writes a path by hand, so a link
//! in an email cannot drift from what `digest serve` answers.

use std::fmt;

/// The paths `digest serve` answers, below the public URL's path.
pub mod route {
    pub const HOME: &str = "/";
    pub const SUBSCRIBE: &str = "/subscribe";
    pub const CONFIRM: &str = "/confirm/{token}";
    pub const UNSUBSCRIBE: &str = "/unsubscribe/{token}";
    pub const PREFERENCES: &str = "/preferences/{token}";
    pub const ARCHIVE: &str = "/archive";
    pub const ARCHIVE_ISSUE: &str = "/archive/{week}";
    /// The archive as an Atom feed: the last sent issues, web versions.
    pub const ARCHIVE_FEED: &str = "/archive.atom";
    pub const HEALTHZ: &str = "/healthz";
    /// `ses`, `postmark`, `mailgun` or `sendgrid`.
    pub const WEBHOOK: &str = "/webhooks/{provider}";
    /// The first segment of every path that carries a token: those pages
    /// are `no-store`, and the token is left out of log lines.
    pub const TOKEN_PAGES: [&str; 3] = ["confirm", "unsubscribe", "preferences"];
}

/// An absolute http(s) URL without a trailing slash, query or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    /// Parse and normalise; the error says how to write it.
    pub fn parse(s: &str) -> Result<PublicUrl, String> {
        let url = url::Url::parse(s.trim()).map_err(|e| {
            format!("not an absolute URL ({e}); write it like \"https://glossary.example\"")
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(
                "must be an http or https URL with a host, like \"https://glossary.example\""
                    .into(),
            );
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query (?...) or fragment (#...)".into());
        }
        Ok(PublicUrl(url.as_str().trim_end_matches('/').to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// The URL's path (`/digest`), where the router mounts its routes;
    /// empty at the root.
    pub fn path(&self) -> String {
        url::Url::parse(&self.0)
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default()
    }

    /// `route` below this URL, with its one parameter filled in.
    pub fn at(&self, route: &str, param: &str) -> String {
        let path = match (route.find('{'), route.find('}')) {
            (Some(open), Some(close)) if open < close => {
                format!("{}{param}{}", &route[..open], &route[close + 1..])
            }
            _ => route.to_string(),
        };
        format!("{}{path}", self.0)
    }

    pub fn home(&self) -> String {
        self.at(route::HOME, "")
    }

    pub fn subscribe(&self) -> String {
        self.at(route::SUBSCRIBE, "")
    }

    pub fn confirm(&self, token: &str) -> String {
        self.at(route::CONFIRM, token)
    }

    pub fn unsubscribe(&self, token: &str) -> String {
        self.at(route::UNSUBSCRIBE, token)
    }

    pub fn preferences(&self, token: &str) -> String {
        self.at(route::PREFERENCES, token)
    }

    pub fn archive(&self) -> String {
        self.at(route::ARCHIVE, "")
    }

    pub fn archive_issue(&self, week: &str) -> String {
        self.at(route::ARCHIVE_ISSUE, week)
    }

    pub fn archive_feed(&self) -> String {
        self.at(route::ARCHIVE_FEED, "")
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_fill_in_the_routes_the_server_answers() {
        let base = PublicUrl::parse("https://glossary.example/digest/").unwrap();
        let cases = [
            (base.home(), "https://glossary.example/digest/"),
            (
                base.subscribe(),
                "https://glossary.example/digest/subscribe",
            ),
            (
                base.confirm("T0k"),
                "https://glossary.example/digest/confirm/T0k",
            ),
            (
                base.unsubscribe("T0k"),
                "https://glossary.example/digest/unsubscribe/T0k",
            ),
            (base.archive(), "https://glossary.example/digest/archive"),
            (
                base.archive_issue("2026-W48"),
                "https://glossary.example/digest/archive/2026-W48",
            ),
            (
                base.archive_feed(),
                "https://glossary.example/digest/archive.atom",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
        assert_eq!(base.path(), "/digest");
        assert_eq!(PublicUrl::parse("https://g.example").unwrap().path(), "");
    }

    #[test]
    fn bad_public_urls_say_how_to_write_them() {
        for (input, fix) in [
            ("glossary.example", "not an absolute URL"),
            ("ftp://x.example", "must be an http or https URL"),
            ("https://x.example/?a=1", "must not have a query"),
        ] {
            assert!(
                PublicUrl::parse(input).unwrap_err().starts_with(fix),
                "{input}"
            );
        }
    }
}
