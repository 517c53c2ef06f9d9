//! `digest.toml`: every key optional, every section known from the start.
//!
//! The whole schema is accepted even where the feature behind a key lands
//! later, so a config file written today stays valid as the product grows;
//! anything *not* in the schema is an error naming the line and the nearest
//! known key, because a misspelt key silently ignored is a newsletter sent
//! with the wrong settings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use chrono_tz::Tz;
use lettre::message::Mailbox;
use serde::Deserialize;
use toml::Spanned;
use toml::de::DeTable;

use crate::error::{Problem, Problems, line_of, nearest};
use crate::toml_keys::{Schema, unknown_keys};

static NEWSLETTER: Schema = Schema {
    keys: &[
        ("name", None),
        ("from", None),
        ("reply_to", None),
        ("site_url", None),
        ("public_url", None),
        ("timezone", None),
        ("postal_address", None),
        ("list_id", None),
    ],
};
static PATHS: Schema = Schema {
    keys: &[("content", None), ("templates", None), ("database", None)],
};
static SMTP: Schema = Schema {
    keys: &[("url", None), ("timeout_secs", None), ("ca_file", None)],
};
static SEND: Schema = Schema {
    keys: &[
        ("concurrency", None),
        ("rate_per_second", None),
        ("max_attempts", None),
        ("retry_base_ms", None),
        ("bounce_after", None),
    ],
};
static DKIM: Schema = Schema {
    keys: &[
        ("domain", None),
        ("selector", None),
        ("private_key_file", None),
    ],
};
static SERVE: Schema = Schema {
    keys: &[("listen", None), ("confirm_expiry_hours", None)],
};
static CONFIG: Schema = Schema {
    keys: &[
        ("newsletter", Some(&NEWSLETTER)),
        ("paths", Some(&PATHS)),
        ("smtp", Some(&SMTP)),
        ("send", Some(&SEND)),
        ("dkim", Some(&DKIM)),
        ("serve", Some(&SERVE)),
    ],
};

type S = Option<Spanned<String>>;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Raw {
    newsletter: RawNewsletter,
    paths: RawPaths,
    smtp: RawSmtp,
    send: RawSend,
    dkim: RawDkim,
    serve: RawServe,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawNewsletter {
    name: Option<String>,
    from: S,
    reply_to: S,
    site_url: S,
    public_url: S,
    timezone: S,
    postal_address: Option<String>,
    list_id: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPaths {
    content: Option<PathBuf>,
    templates: Option<PathBuf>,
    database: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawSmtp {
    url: S,
    timeout_secs: Option<Spanned<u64>>,
    ca_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawSend {
    concurrency: Option<Spanned<u32>>,
    rate_per_second: Option<Spanned<f64>>,
    max_attempts: Option<Spanned<u32>>,
    retry_base_ms: Option<u64>,
    bounce_after: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawDkim {
    domain: S,
    selector: S,
    private_key_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawServe {
    listen: S,
    confirm_expiry_hours: Option<Spanned<u64>>,
}

/// The validated configuration, with paths resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from; `None` for built-in defaults.
    pub source: Option<PathBuf>,
    pub newsletter: Newsletter,
    pub paths: Paths,
    pub smtp: Smtp,
    pub send: Send,
    pub dkim: Option<Dkim>,
    pub serve: Serve,
}

#[derive(Debug, Clone)]
pub struct Newsletter {
    pub name: String,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    /// Absolute http(s) URL without a trailing slash.
    pub site_url: String,
    /// Absolute http(s) URL without a trailing slash.
    pub public_url: String,
    pub timezone: Tz,
    pub postal_address: Option<String>,
    pub list_id: String,
}

#[derive(Debug, Clone)]
pub struct Paths {
    pub content: PathBuf,
    pub templates: PathBuf,
    pub database: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Smtp {
    pub url: String,
    pub timeout: Duration,
    /// An extra trusted root certificate (PEM) for a relay with a private CA.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Send {
    pub concurrency: u32,
    pub rate_per_second: Option<f64>,
    pub max_attempts: u32,
    pub retry_base_ms: u64,
    pub bounce_after: u32,
}

#[derive(Debug, Clone)]
pub struct Dkim {
    pub domain: String,
    pub selector: String,
    pub private_key_file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Serve {
    pub listen: SocketAddr,
    pub confirm_expiry_hours: u64,
}

pub const DEFAULT_FILE: &str = "digest.toml";

impl Config {
    /// Find and load the configuration: `explicit` (the `--config` flag or
    /// `DIGEST_CONFIG`), else `./digest.toml` when it exists, else defaults.
    pub fn discover(explicit: Option<&Path>) -> anyhow::Result<Config> {
        match explicit {
            Some(path) => {
                if !path.is_file() {
                    crate::bad_input!(
                        "config file {} does not exist; check --config / DIGEST_CONFIG, or leave both unset to use ./{DEFAULT_FILE}",
                        path.display()
                    );
                }
                Config::load(path)
            }
            None if Path::new(DEFAULT_FILE).is_file() => Config::load(Path::new(DEFAULT_FILE)),
            None => Config::parse("", None),
        }
    }

    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Config::parse(&text, Some(path))
    }

    /// Parse config text. `path` names the file in messages and anchors
    /// relative paths (its folder); without it, paths are relative to the
    /// current folder.
    pub fn parse(text: &str, path: Option<&Path>) -> anyhow::Result<Config> {
        let shown = path.map_or_else(|| DEFAULT_FILE.to_string(), |p| p.display().to_string());
        let problem = |offset: usize, msg: String| Problem::new(&shown, line_of(text, offset), msg);
        let fail = |problems: Vec<Problem>| -> anyhow::Error {
            let n = problems.len();
            Problems {
                problems,
                summary: format!(
                    "{n} problem{} in config file {shown}",
                    if n == 1 { "" } else { "s" }
                ),
            }
            .into()
        };

        let table = DeTable::parse(text).map_err(|err| {
            let at = err.span().map_or(0, |s| s.start);
            fail(vec![problem(
                at,
                format!(
                    "not valid TOML: {}",
                    err.message().trim_end().replace('\n', " ")
                ),
            )])
        })?;
        let mut problems: Vec<Problem> = unknown_keys(table.get_ref(), &CONFIG, "")
            .into_iter()
            .map(|u| problem(u.offset, u.message.replacen("field", "key", 1)))
            .collect();
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        let raw: Raw = toml::from_str(text).map_err(|err| {
            let at = err.span().map_or(0, |s| s.start);
            fail(vec![problem(
                at,
                err.message().trim_end().replace('\n', " "),
            )])
        })?;

        let base = path
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let resolve = |p: Option<PathBuf>, default: &str| {
            let p = p.unwrap_or_else(|| PathBuf::from(default));
            if p.is_absolute() || base.as_os_str().is_empty() {
                p
            } else {
                base.join(p)
            }
        };

        let n = raw.newsletter;
        let mut check = |key: &str,
                         value: &S,
                         default: &str,
                         parse: &dyn Fn(&str) -> Result<String, String>|
         -> String {
            match value {
                None => parse(default).expect("defaults are valid"),
                Some(v) => match parse(v.get_ref()) {
                    Ok(ok) => ok,
                    Err(fix) => {
                        problems.push(problem(
                            v.span().start,
                            format!("`{key}` = \"{}\": {fix}", v.get_ref()),
                        ));
                        default.to_string()
                    }
                },
            }
        };

        let from = check(
            "newsletter.from",
            &n.from,
            "AI Glossary <digest@glossary.example>",
            &|s| parse_mailbox(s).map(|m| m.to_string()),
        );
        let reply_to = n.reply_to.as_ref().map(|_| {
            check("newsletter.reply_to", &n.reply_to, "", &|s| {
                parse_mailbox(s).map(|m| m.to_string())
            })
        });
        let site_url = check(
            "newsletter.site_url",
            &n.site_url,
            "https://glossary.example",
            &parse_base_url,
        );
        let public_url = check(
            "newsletter.public_url",
            &n.public_url,
            "https://glossary.example/digest",
            &parse_base_url,
        );
        let timezone = check("newsletter.timezone", &n.timezone, "UTC", &|s| {
            parse_timezone(s).map(|tz| tz.name().to_string())
        });
        let from_domain = from
            .parse::<Mailbox>()
            .map(|m| m.email.domain().to_ascii_lowercase())
            .unwrap_or_else(|_| "glossary.example".into());
        let list_id = check(
            "newsletter.list_id",
            &n.list_id,
            &format!("digest.{from_domain}"),
            &parse_list_id,
        );
        let smtp_url = check(
            "smtp.url",
            &raw.smtp.url,
            "smtp://127.0.0.1:25",
            &parse_smtp_url,
        );
        let listen = check("serve.listen", &raw.serve.listen, "127.0.0.1:8080", &|s| {
            SocketAddr::from_str(s.trim())
                .map(|a| a.to_string())
                .map_err(|_| {
                    "not an address to listen on; write IP:PORT, e.g. \"127.0.0.1:8080\"".into()
                })
        });

        let mut positive = |key: &str, value: &Option<Spanned<u32>>, default: u32| -> u32 {
            match value {
                Some(v) if *v.get_ref() == 0 => {
                    problems.push(problem(
                        v.span().start,
                        format!("`{key}` must be at least 1"),
                    ));
                    default
                }
                Some(v) => *v.get_ref(),
                None => default,
            }
        };
        let concurrency = positive("send.concurrency", &raw.send.concurrency, 8);
        let max_attempts = positive("send.max_attempts", &raw.send.max_attempts, 4);
        let bounce_after = positive("send.bounce_after", &raw.send.bounce_after, 2);
        let rate_per_second = match raw.send.rate_per_second {
            Some(v) if !(v.get_ref().is_finite() && *v.get_ref() > 0.0) => {
                problems.push(problem(
                    v.span().start,
                    "`send.rate_per_second` must be a positive number of messages per second, e.g. 14".into(),
                ));
                None
            }
            Some(v) => Some(*v.get_ref()),
            None => None,
        };
        let timeout_secs = match raw.smtp.timeout_secs {
            Some(v) if *v.get_ref() == 0 => {
                problems.push(problem(
                    v.span().start,
                    "`smtp.timeout_secs` must be at least 1".into(),
                ));
                30
            }
            Some(v) => *v.get_ref(),
            None => 30,
        };

        let dkim = match (
            raw.dkim.domain,
            raw.dkim.selector,
            raw.dkim.private_key_file,
        ) {
            (None, None, None) => None,
            (Some(domain), Some(selector), Some(key)) => Some(Dkim {
                domain: domain.into_inner(),
                selector: selector.into_inner(),
                private_key_file: resolve(Some(key), ""),
            }),
            _ => {
                let at = text.find("[dkim]").unwrap_or(0);
                problems.push(problem(
                    at,
                    "`[dkim]` needs all of `domain`, `selector` and `private_key_file`, or none of them".into(),
                ));
                None
            }
        };

        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(Config {
            source: path.map(Path::to_path_buf),
            newsletter: Newsletter {
                name: n.name.unwrap_or_else(|| "The AI Glossary Weekly".into()),
                from: from.parse().expect("validated"),
                reply_to: reply_to.map(|r| r.parse().expect("validated")),
                site_url,
                public_url,
                timezone: timezone.parse().expect("validated"),
                postal_address: n.postal_address.filter(|a| !a.trim().is_empty()),
                list_id,
            },
            paths: Paths {
                content: resolve(raw.paths.content, "content"),
                templates: resolve(raw.paths.templates, "templates"),
                database: resolve(raw.paths.database, "subscribers/digest.db"),
            },
            smtp: Smtp {
                url: smtp_url,
                timeout: Duration::from_secs(timeout_secs),
                ca_file: raw.smtp.ca_file.map(|p| resolve(Some(p), "")),
            },
            send: Send {
                concurrency,
                rate_per_second,
                max_attempts,
                retry_base_ms: raw.send.retry_base_ms.unwrap_or(1000),
                bounce_after,
            },
            dkim,
            serve: Serve {
                listen: listen.parse().expect("validated"),
                confirm_expiry_hours: raw
                    .serve
                    .confirm_expiry_hours
                    .map_or(168, |v| v.into_inner()),
            },
        })
    }
}

fn parse_mailbox(s: &str) -> Result<Mailbox, String> {
    s.parse::<Mailbox>()
        .map_err(|e| format!("not a valid sender ({e}); write it as \"Name <address@domain>\""))
}

fn parse_base_url(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s.trim()).map_err(|e| {
        format!("not an absolute URL ({e}); write it like \"https://glossary.example\"")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(
            "must be an http or https URL with a host, like \"https://glossary.example\"".into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query (?...) or fragment (#...)".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn parse_timezone(s: &str) -> Result<Tz, String> {
    s.trim().parse::<Tz>().map_err(|_| {
        let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
        match nearest(s.trim(), names) {
            Some(near) => format!("not a time zone; did you mean \"{near}\"? Use an IANA name"),
            None => {
                "not a time zone; use an IANA name such as \"Europe/Paris\" or \"America/New_York\""
                    .into()
            }
        }
    })
}

fn parse_list_id(s: &str) -> Result<String, String> {
    let s = s.trim();
    let ok = s.contains('.')
        && !s.starts_with('.')
        && !s.ends_with('.')
        && !s.contains("..")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if ok {
        Ok(s.to_string())
    } else {
        Err("a List-Id is a dotted identifier without angle brackets, e.g. \"weekly.glossary.example\"".into())
    }
}

fn parse_smtp_url(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s.trim())
        .map_err(|e| format!("not a URL ({e}); write it like \"smtp://127.0.0.1:25\" or \"smtps://smtp.example.com:465\""))?;
    if !matches!(url.scheme(), "smtp" | "smtps") || url.host_str().is_none() {
        return Err(
            "use smtp://host:port, smtps://host:465 or smtp://host:587?tls=required".into(),
        );
    }
    if url.password().is_some() {
        return Err("do not put the password in the URL; set DIGEST_SMTP_PASSWORD instead".into());
    }
    Ok(s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> String {
        match Config::parse(text, Some(Path::new("site/digest.toml"))) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_empty_config_gives_the_documented_defaults() {
        let c = Config::parse("", None).unwrap();
        assert_eq!(c.newsletter.name, "The AI Glossary Weekly");
        assert_eq!(
            c.newsletter.from.to_string(),
            "AI Glossary <digest@glossary.example>"
        );
        assert_eq!(c.newsletter.site_url, "https://glossary.example");
        assert_eq!(c.newsletter.public_url, "https://glossary.example/digest");
        assert_eq!(c.newsletter.timezone, chrono_tz::UTC);
        assert_eq!(c.newsletter.list_id, "digest.glossary.example");
        assert_eq!(c.paths.database, PathBuf::from("subscribers/digest.db"));
        assert_eq!(c.smtp.url, "smtp://127.0.0.1:25");
        assert_eq!(c.smtp.timeout, Duration::from_secs(30));
        assert_eq!(c.send.concurrency, 8);
        assert_eq!(c.send.max_attempts, 4);
        assert_eq!(c.send.retry_base_ms, 1000);
        assert_eq!(c.send.bounce_after, 2);
        assert!(c.send.rate_per_second.is_none());
        assert!(c.dkim.is_none());
        assert_eq!(c.serve.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.serve.confirm_expiry_hours, 168);
    }

    #[test]
    fn relative_paths_are_relative_to_the_config_file() {
        let c = Config::parse(
            "[paths]\ncontent = \"terms\"\ndatabase = \"/var/lib/digest.db\"\n",
            Some(Path::new("site/digest.toml")),
        )
        .unwrap();
        assert_eq!(c.paths.content, PathBuf::from("site/terms"));
        assert_eq!(c.paths.templates, PathBuf::from("site/templates"));
        assert_eq!(c.paths.database, PathBuf::from("/var/lib/digest.db"));
    }

    #[test]
    fn list_id_defaults_to_the_from_domain() {
        let c = Config::parse("[newsletter]\nfrom = \"News <news@Example.ORG>\"\n", None).unwrap();
        assert_eq!(c.newsletter.list_id, "digest.example.org");
    }

    #[test]
    fn bad_values_name_the_file_line_key_and_fix() {
        let cases = [
            (
                "[newsletter]\nnme = \"x\"\n",
                "site/digest.toml:2: unknown key `newsletter.nme`; did you mean `name`?",
            ),
            (
                "[smpt]\nurl = \"x\"\n",
                "site/digest.toml:1: unknown key `smpt`; did you mean `smtp`?",
            ),
            (
                "[newsletter]\ntimezone = \"Europe/Pari\"\n",
                "site/digest.toml:2: `newsletter.timezone` = \"Europe/Pari\": not a time zone; did you mean \"Europe/Paris\"?",
            ),
            (
                "[newsletter]\nsite_url = \"glossary.example\"\n",
                "site/digest.toml:2: `newsletter.site_url` = \"glossary.example\": not an absolute URL",
            ),
            (
                "[newsletter]\npublic_url = \"ftp://x.example\"\n",
                "site/digest.toml:2: `newsletter.public_url` = \"ftp://x.example\": must be an http or https URL",
            ),
            (
                "[newsletter]\nfrom = \"not an address\"\n",
                "site/digest.toml:2: `newsletter.from` = \"not an address\": not a valid sender",
            ),
            (
                "[newsletter]\nlist_id = \"<a.b>\"\n",
                "site/digest.toml:2: `newsletter.list_id` = \"<a.b>\": a List-Id is a dotted identifier",
            ),
            (
                "[smtp]\nurl = \"http://x\"\n",
                "site/digest.toml:2: `smtp.url` = \"http://x\": use smtp://host:port",
            ),
            (
                "[send]\nconcurrency = 0\n",
                "site/digest.toml:2: `send.concurrency` must be at least 1",
            ),
            (
                "[send]\nconcurrency = \"8\"\n",
                "site/digest.toml:2: invalid type: string \"8\", expected u32",
            ),
            (
                "[dkim]\ndomain = \"x\"\n",
                "site/digest.toml:1: `[dkim]` needs all of",
            ),
            ("[newsletter\n", "site/digest.toml:1: not valid TOML"),
        ];
        for (text, expected) in cases {
            let got = problems(text);
            assert!(
                got.starts_with(expected),
                "for {text:?}\nexpected {expected:?}\ngot {got:?}"
            );
        }
    }
}
