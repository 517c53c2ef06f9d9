//! Reading `digest.toml`: the raw TOML shape, checked key by key, every
//! problem collected with its line before any is reported.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono_tz::Tz;
use lettre::message::Mailbox;
use serde::Deserialize;
use toml::Spanned;
use toml::de::DeTable;

use super::{
    Config, DEFAULT_FILE, Dkim, Imap, ImapUrl, Inbound, Newsletter, Paths, Send, Serve, Smtp,
    SmtpUrl, TlsMode,
};
use crate::error::{Problem, Problems, line_of, nearest};
use crate::locale::Locale;
use crate::toml_keys::{Schema, schema_of, unknown_keys};
use crate::urls::PublicUrl;

/// The keys `digest.toml` may hold, read from [`Raw`] itself.
static CONFIG: std::sync::LazyLock<Schema> = std::sync::LazyLock::new(schema_of::<Raw>);

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
    inbound: RawInbound,
    webhooks: super::webhooks::RawWebhooks,
    relay: Vec<super::relays::RawRelay>,
    dns: RawDns,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawDns {
    nameserver: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawInbound {
    bounce_address: S,
    unsubscribe_address: S,
    soft_bounce_limit: Option<Spanned<u32>>,
    imap: Option<RawImap>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawImap {
    url: S,
    folder: Option<String>,
    processed_folder: Option<String>,
    ca_file: Option<PathBuf>,
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
    locale: S,
    postal_address: Option<String>,
    list_id: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPaths {
    content: Option<PathBuf>,
    templates: Option<PathBuf>,
    database: Option<PathBuf>,
    inbound: Option<PathBuf>,
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
    retry_base_ms: Option<Spanned<u64>>,
    bounce_after: Option<Spanned<u32>>,
    local_time: S,
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

impl Config {
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
        // A value that does not parse is a problem, and the default stands
        // in for it so that every other problem is still found.
        fn check<T>(
            problems: &mut Vec<Problem>,
            problem: &dyn Fn(usize, String) -> Problem,
            key: &str,
            value: &S,
            default: T,
            parse: impl Fn(&str) -> Result<T, String>,
        ) -> T {
            match value {
                None => default,
                Some(v) => match parse(v.get_ref()) {
                    Ok(ok) => ok,
                    Err(fix) => {
                        problems.push(problem(
                            v.span().start,
                            format!("`{key}` = {:?}: {fix}", v.get_ref()),
                        ));
                        default
                    }
                },
            }
        }
        let default_from = Mailbox::new(
            Some("AI Glossary".into()),
            lettre::Address::new("digest", "glossary.example")
                .map_err(|e| anyhow::anyhow!("the built-in sender address: {e}"))?,
        );
        let url = |s: &str| PublicUrl::parse(s).map_err(|e| anyhow::anyhow!("{e}"));
        let from = check(
            &mut problems,
            &problem,
            "newsletter.from",
            &n.from,
            default_from.clone(),
            parse_mailbox,
        );
        let reply_to = match &n.reply_to {
            None => None,
            Some(_) => Some(check(
                &mut problems,
                &problem,
                "newsletter.reply_to",
                &n.reply_to,
                default_from,
                parse_mailbox,
            )),
        };
        let site_url = check(
            &mut problems,
            &problem,
            "newsletter.site_url",
            &n.site_url,
            url("https://glossary.example")?,
            PublicUrl::parse,
        );
        let public_url = check(
            &mut problems,
            &problem,
            "newsletter.public_url",
            &n.public_url,
            url("https://glossary.example/digest")?,
            PublicUrl::parse,
        );
        let timezone = check(
            &mut problems,
            &problem,
            "newsletter.timezone",
            &n.timezone,
            Tz::UTC,
            parse_timezone,
        );
        let locale = check(
            &mut problems,
            &problem,
            "newsletter.locale",
            &n.locale,
            Locale::default(),
            str::parse,
        );
        let from_domain = from.email.domain().to_ascii_lowercase();
        let list_id = check(
            &mut problems,
            &problem,
            "newsletter.list_id",
            &n.list_id,
            format!("digest.{from_domain}"),
            parse_list_id,
        );
        let smtp_url = check(
            &mut problems,
            &problem,
            "smtp.url",
            &raw.smtp.url,
            SmtpUrl {
                host: "127.0.0.1".into(),
                port: 25,
                tls: TlsMode::None,
                user: None,
            },
            SmtpUrl::parse,
        );
        let local_time = check(
            &mut problems,
            &problem,
            "send.local_time",
            &raw.send.local_time,
            None,
            |s| {
                chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M")
                    .map(Some)
                    .map_err(|_| "not a time of day; write it as HH:MM, e.g. \"08:00\"".into())
            },
        );
        let listen = check(
            &mut problems,
            &problem,
            "serve.listen",
            &raw.serve.listen,
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            |s| {
                SocketAddr::from_str(s.trim()).map_err(|_| {
                    "not an address to listen on; write IP:PORT, e.g. \"127.0.0.1:8080\"".into()
                })
            },
        );

        // Numbers must lie in a range that makes sense for a newsletter;
        // outside it they are mistakes (and some would overflow timers).
        fn within<T: Copy + PartialOrd + std::fmt::Display>(
            problems: &mut Vec<Problem>,
            problem: &dyn Fn(usize, String) -> Problem,
            key: &str,
            value: &Option<Spanned<T>>,
            (min, max, default): (T, T, T),
            unit: &str,
        ) -> T {
            match value {
                Some(v) if !(*v.get_ref() >= min && *v.get_ref() <= max) => {
                    problems.push(problem(
                        v.span().start,
                        format!("`{key}` must be between {min} and {max}{unit}"),
                    ));
                    default
                }
                Some(v) => *v.get_ref(),
                None => default,
            }
        }
        let p = &mut problems;
        let concurrency = within(
            p,
            &problem,
            "send.concurrency",
            &raw.send.concurrency,
            (1, 1000, 8),
            " connections",
        );
        let max_attempts = within(
            p,
            &problem,
            "send.max_attempts",
            &raw.send.max_attempts,
            (1, 100, 4),
            "",
        );
        let bounce_after = within(
            p,
            &problem,
            "send.bounce_after",
            &raw.send.bounce_after,
            (1, 1000, 2),
            " issues",
        );
        let retry_base_ms = within(
            p,
            &problem,
            "send.retry_base_ms",
            &raw.send.retry_base_ms,
            (0, 3_600_000, 1000),
            " ms",
        );
        let rate_per_second = raw.send.rate_per_second.as_ref().map(|_| {
            within(
                p,
                &problem,
                "send.rate_per_second",
                &raw.send.rate_per_second,
                (0.01, 1_000_000.0, 1.0),
                " messages per second, e.g. 14",
            )
        });
        let timeout_secs = within(
            p,
            &problem,
            "smtp.timeout_secs",
            &raw.smtp.timeout_secs,
            (1, 3600, 30),
            " seconds",
        );
        let confirm_expiry_hours = within(
            p,
            &problem,
            "serve.confirm_expiry_hours",
            &raw.serve.confirm_expiry_hours,
            (1, 8760, 168),
            " hours (a year)",
        );

        let soft_bounce_limit = within(
            p,
            &problem,
            "inbound.soft_bounce_limit",
            &raw.inbound.soft_bounce_limit,
            (1, 100, 3),
            " issues",
        );
        let bounce_address = check(
            &mut problems,
            &problem,
            "inbound.bounce_address",
            &raw.inbound.bounce_address,
            None,
            |s| parse_base_address(s).map(Some),
        );
        let unsubscribe_address = check(
            &mut problems,
            &problem,
            "inbound.unsubscribe_address",
            &raw.inbound.unsubscribe_address,
            None,
            |s| parse_base_address(s).map(Some),
        );
        if let (Some(b), Some(u), Some(at)) = (
            &bounce_address,
            &unsubscribe_address,
            &raw.inbound.unsubscribe_address,
        ) && b.user().eq_ignore_ascii_case(u.user())
            && b.domain().eq_ignore_ascii_case(u.domain())
        {
            problems.push(problem(
                at.span().start,
                "`inbound.unsubscribe_address` must differ from `inbound.bounce_address`: one \
                 carries delivery tags, the other tokens (e.g. bounces@… and unsubscribe@…)"
                    .into(),
            ));
        }
        let imap = match raw.inbound.imap {
            None => None,
            Some(imap) => {
                let at = text.find("[inbound.imap]").unwrap_or(0);
                match &imap.url {
                    None => {
                        problems.push(problem(
                            at,
                            "`[inbound.imap]` needs `url`, e.g. url = \"imaps://imap.example.com:993\"".into(),
                        ));
                        None
                    }
                    Some(_) => {
                        let url = check(
                            &mut problems,
                            &problem,
                            "inbound.imap.url",
                            &imap.url,
                            None,
                            |s| ImapUrl::parse(s).map(Some),
                        );
                        let folder = imap.folder.unwrap_or_else(|| "INBOX".into());
                        let processed_folder =
                            imap.processed_folder.unwrap_or_else(|| "Processed".into());
                        if folder == processed_folder {
                            problems.push(problem(
                                at,
                                format!("`inbound.imap.processed_folder` must differ from `folder` (both are {folder:?})"),
                            ));
                        }
                        url.map(|url| Imap {
                            url,
                            folder,
                            processed_folder,
                            ca_file: imap.ca_file.map(|p| resolve(Some(p), "")),
                        })
                    }
                }
            }
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

        let relays = if raw.relay.is_empty() {
            vec![super::Relay {
                name: super::relays::SMTP_RELAY.into(),
                url: smtp_url.clone(),
                timeout: Duration::from_secs(timeout_secs),
                ca_file: raw.smtp.ca_file.clone().map(|p| resolve(Some(p), "")),
                rate_per_second,
                max_per_day: None,
                max_per_connection: None,
                concurrency,
                priority: 1,
                env: "DIGEST_SMTP".into(),
            }]
        } else {
            if let Some(u) = &raw.smtp.url {
                problems.push(problem(
                    u.span().start,
                    "`[smtp] url` and `[[relay]]` are both set: write the relay as one more \
                     [[relay]] (with a name) and remove `url` from [smtp]"
                        .into(),
                ));
            }
            if let Some(r) = &raw.send.rate_per_second {
                problems.push(problem(
                    r.span().start,
                    "`[send] rate_per_second` is the single [smtp] relay's rate; with \
                     [[relay]], give each relay its own `rate_per_second`"
                        .into(),
                ));
            }
            let headers: Vec<usize> = text.match_indices("[[relay]]").map(|(at, _)| at).collect();
            super::relays::read(
                raw.relay,
                &super::relays::Defaults {
                    concurrency,
                    timeout: Duration::from_secs(timeout_secs),
                    ca_file: raw.smtp.ca_file.clone().map(|p| resolve(Some(p), "")),
                },
                &mut problems,
                &problem,
                &|i| headers.get(i).copied().unwrap_or(0),
                &|p| resolve(Some(p), ""),
            )
        };

        let nameserver = check(
            &mut problems,
            &problem,
            "dns.nameserver",
            &raw.dns.nameserver,
            None,
            |s| {
                s.trim().parse::<SocketAddr>().map(Some).map_err(|_| {
                    "not a name server address; write IP:PORT, e.g. \"127.0.0.1:53\"".into()
                })
            },
        );

        let webhooks = super::webhooks::read(raw.webhooks, &mut problems, &problem, &|p| {
            resolve(Some(p), "")
        });

        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(Config {
            source: path.map(Path::to_path_buf),
            newsletter: Newsletter {
                name: n.name.unwrap_or_else(|| "The AI Glossary Weekly".into()),
                from,
                reply_to,
                site_url,
                public_url,
                timezone,
                locale,
                postal_address: n.postal_address.filter(|a| !a.trim().is_empty()),
                list_id,
            },
            paths: Paths {
                content: resolve(raw.paths.content, "content"),
                templates: resolve(raw.paths.templates, "templates"),
                database: resolve(raw.paths.database, "subscribers/digest.db"),
                inbound: resolve(raw.paths.inbound, "subscribers/inbound"),
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
                retry_base: Duration::from_millis(retry_base_ms),
                bounce_after,
                local_time,
            },
            dkim,
            serve: Serve {
                listen,
                confirm_expiry_hours,
            },
            inbound: Inbound {
                bounce_address,
                unsubscribe_address,
                soft_bounce_limit,
                imap,
            },
            webhooks,
            relays,
            dns: super::Dns { nameserver },
        })
    }
}

fn parse_mailbox(s: &str) -> Result<Mailbox, String> {
    s.parse::<Mailbox>()
        .map_err(|e| format!("not a valid sender ({e}); write it as \"Name <address@domain>\""))
}

/// A bounce or unsubscribe base address: a plain `local@domain` whose
/// local part has no `+` (the digest adds `+TAG` or `+TOKEN` to it).
fn parse_base_address(s: &str) -> Result<lettre::Address, String> {
    let address: lettre::Address = s.trim().parse().map_err(|e| {
        format!("not an address ({e}); write a bare address such as \"bounces@news.example.com\"")
    })?;
    if address.user().contains('+') {
        return Err(
            "the local part must not contain `+`: the digest adds +TAG to it for every message"
                .into(),
        );
    }
    Ok(address)
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
        assert_eq!(c.newsletter.site_url.as_str(), "https://glossary.example");
        assert_eq!(
            c.newsletter.public_url.as_str(),
            "https://glossary.example/digest"
        );
        assert_eq!(c.newsletter.timezone, chrono_tz::UTC);
        assert_eq!(c.newsletter.list_id, "digest.glossary.example");
        assert_eq!(c.paths.database, PathBuf::from("subscribers/digest.db"));
        assert_eq!(c.smtp.url.host, "127.0.0.1");
        assert_eq!(c.smtp.url.port, 25);
        assert_eq!(c.smtp.url.tls, TlsMode::None);
        assert_eq!(c.smtp.timeout, Duration::from_secs(30));
        assert_eq!(c.send.concurrency, 8);
        assert_eq!(c.send.max_attempts, 4);
        assert_eq!(c.send.retry_base, Duration::from_millis(1000));
        assert_eq!(c.send.bounce_after, 2);
        assert!(c.send.rate_per_second.is_none());
        assert!(c.dkim.is_none());
        assert_eq!(c.serve.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.serve.confirm_expiry_hours, 168);
        assert!(c.inbound.bounce_address.is_none());
        assert!(c.inbound.unsubscribe_address.is_none());
        assert_eq!(c.inbound.soft_bounce_limit, 3);
        assert!(c.inbound.imap.is_none());
        assert!(!c.webhooks.any());
        assert_eq!(c.webhooks.rate_per_minute, 6000);
        assert_eq!(c.paths.inbound, PathBuf::from("subscribers/inbound"));
    }

    #[test]
    fn the_inbound_section_is_read_into_addresses_and_a_mailbox() {
        let c = Config::parse(
            "[inbound]\nbounce_address = \"bounces@news.example.com\"\nunsubscribe_address = \"unsubscribe@news.example.com\"\n\
             soft_bounce_limit = 2\n[inbound.imap]\nurl = \"imap://127.0.0.1:1143/?tls=none\"\n",
            Some(Path::new("site/digest.toml")),
        )
        .unwrap();
        let i = &c.inbound;
        assert_eq!(i.bounce_address.as_ref().unwrap().user(), "bounces");
        assert_eq!(
            i.unsubscribe_address.as_ref().unwrap().domain(),
            "news.example.com"
        );
        assert_eq!(i.soft_bounce_limit, 2);
        let imap = i.imap.as_ref().unwrap();
        assert_eq!(
            (imap.url.port, imap.url.tls),
            (1143, super::super::ImapTls::None)
        );
        assert_eq!(
            (imap.folder.as_str(), imap.processed_folder.as_str()),
            ("INBOX", "Processed")
        );
    }

    #[test]
    fn the_webhooks_section_turns_providers_on() {
        let mut spki = super::super::P256_SPKI_PREFIX.to_vec();
        spki.push(4);
        spki.extend([9u8; 64]);
        let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &spki);
        let text = format!(
            "[webhooks]\nses_topic_arns = [\"arn:aws:sns:eu-west-1:123456789012:t\"]\npostmark = true\n\
             sendgrid_public_key = \"{key}\"\nrate_per_minute = 100\nsns_connect_to = \"127.0.0.1:8443\"\n\
             sns_ca_file = \"ca.pem\"\n"
        );
        let c = Config::parse(&text, Some(Path::new("site/digest.toml"))).unwrap();
        let w = &c.webhooks;
        assert!(w.ses() && w.postmark && !w.mailgun && w.sendgrid());
        assert_eq!(w.sendgrid_key.as_ref().unwrap().len(), 65);
        assert_eq!(w.rate_per_minute, 100);
        assert_eq!(w.sns_connect_to, Some("127.0.0.1:8443".parse().unwrap()));
        assert_eq!(w.sns_ca_file, Some(PathBuf::from("site/ca.pem")));
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
                // A value is echoed escaped: its newline cannot start a
                // line that looks like another problem.
                "[newsletter]\npublic_url = \"ftp://x\\nsite/digest.toml:9: x\"\n",
                "site/digest.toml:2: `newsletter.public_url` = \"ftp://x\\nsite/digest.toml:9: x\": ",
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
                "site/digest.toml:2: `send.concurrency` must be between 1 and 1000 connections",
            ),
            (
                "[send]\nrate_per_second = 1e-300\n",
                "site/digest.toml:2: `send.rate_per_second` must be between 0.01 and 1000000",
            ),
            (
                "[send]\nretry_base_ms = 18446744073709551615\n",
                "site/digest.toml:2: `send.retry_base_ms` must be between 0 and 3600000 ms",
            ),
            (
                "[serve]\nconfirm_expiry_hours = 99999999999\n",
                "site/digest.toml:2: `serve.confirm_expiry_hours` must be between 1 and 8760",
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
            (
                "[inbound]\nbounce_address = \"bounces\"\n",
                "site/digest.toml:2: `inbound.bounce_address` = \"bounces\": not an address",
            ),
            (
                "[inbound]\nbounce_address = \"b+x@news.example.com\"\n",
                "site/digest.toml:2: `inbound.bounce_address` = \"b+x@news.example.com\": the local part must not contain `+`",
            ),
            (
                "[inbound]\nbounce_address = \"x@n.example\"\nunsubscribe_address = \"X@N.example\"\n",
                "site/digest.toml:3: `inbound.unsubscribe_address` must differ from `inbound.bounce_address`",
            ),
            (
                "[inbound]\nsoft_bounce_limit = 0\n",
                "site/digest.toml:2: `inbound.soft_bounce_limit` must be between 1 and 100 issues",
            ),
            (
                "[inbound.imap]\nfolder = \"INBOX\"\n",
                "site/digest.toml:1: `[inbound.imap]` needs `url`",
            ),
            (
                "[inbound.imap]\nurl = \"pop3://x\"\n",
                "site/digest.toml:2: `inbound.imap.url` = \"pop3://x\": use imaps://",
            ),
            (
                "[inbound.imap]\nurl = \"imaps://x.example\"\nfolder = \"A\"\nprocessed_folder = \"A\"\n",
                "site/digest.toml:1: `inbound.imap.processed_folder` must differ from `folder`",
            ),
            (
                "[inbound]\nbounce_adress = \"x@y.z\"\n",
                "site/digest.toml:2: unknown key `inbound.bounce_adress`; did you mean `bounce_address`?",
            ),
            (
                "[webhooks]\nses_topic_arns = [\"digest-events\"]\n",
                "site/digest.toml:2: `webhooks.ses_topic_arns`: \"digest-events\" is not an SNS topic ARN",
            ),
            (
                "[webhooks]\nsendgrid_public_key = \"abc\"\n",
                "site/digest.toml:2: `webhooks.sendgrid_public_key`: not base64",
            ),
            (
                "[webhooks]\nsendgrid_public_key = \"AAAA\"\n",
                "site/digest.toml:2: `webhooks.sendgrid_public_key`: not a P-256 public key",
            ),
            (
                "[dns]\nnameserver = \"dns.example\"\n",
                "site/digest.toml:2: `dns.nameserver` = \"dns.example\": not a name server address; write IP:PORT",
            ),
            (
                "[webhooks]\nrate_per_minute = 0\n",
                "site/digest.toml:2: `webhooks.rate_per_minute` must be between 1 and 1000000",
            ),
            (
                "[webhooks]\nsns_connect_to = \"localhost\"\n",
                "site/digest.toml:2: `webhooks.sns_connect_to` = \"localhost\": not an address and port",
            ),
            (
                "[webhooks]\npostmark = \"yes\"\n",
                "site/digest.toml:2: invalid type",
            ),
            (
                "[webhooks]\nmailgun_key = \"x\"\n",
                "site/digest.toml:2: unknown key `webhooks.mailgun_key`",
            ),
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
