//! `[[relay]]`: the SMTP relays a run sends through, each with its own
//! limits, or the single `[smtp]` section as one relay named `smtp`.
//!
//! Every number is read signed and checked here, so that `max_per_day =
//! -5` is reported as a problem of that relay and key rather than as a
//! type error of the deserializer.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::SmtpUrl;
use crate::error::Problem;

/// The name the `[smtp]` section's relay is recorded under.
pub const SMTP_RELAY: &str = "smtp";

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawRelay {
    name: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    rate_per_second: Option<Spanned<f64>>,
    max_per_day: Option<Spanned<i64>>,
    max_per_connection: Option<Spanned<i64>>,
    concurrency: Option<Spanned<i64>>,
    priority: Option<Spanned<i64>>,
    timeout_secs: Option<Spanned<i64>>,
    ca_file: Option<PathBuf>,
}

/// One relay, checked.
#[derive(Debug, Clone)]
pub struct Relay {
    /// `[a-z0-9-]+`, unique; recorded with each delivery it takes.
    pub name: String,
    pub url: SmtpUrl,
    pub timeout: Duration,
    /// An extra trusted root certificate (PEM) for a relay with a private CA.
    pub ca_file: Option<PathBuf>,
    pub rate_per_second: Option<f64>,
    /// A rolling 24 hours, counted across runs.
    pub max_per_day: Option<u64>,
    /// A fresh connection after this many messages.
    pub max_per_connection: Option<u32>,
    pub concurrency: u32,
    /// Lower first; a later priority gets messages only while every
    /// earlier relay is out.
    pub priority: u32,
    /// The prefix of the environment variables holding its credentials:
    /// `DIGEST_SMTP` for `[smtp]`, `DIGEST_RELAY_<NAME>` for a `[[relay]]`.
    pub env: String,
}

impl Relay {
    /// `DIGEST_RELAY_<NAME>`: upper-cased, `-` written `_`.
    pub fn env_prefix(name: &str) -> String {
        format!(
            "DIGEST_RELAY_{}",
            name.to_ascii_uppercase().replace('-', "_")
        )
    }
}

/// What the `[[relay]]` entries are read against.
pub(super) struct Defaults {
    pub concurrency: u32,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

/// Check every `[[relay]]`; `at(i)` is the offset of the i-th `[[relay]]`
/// header, for problems about a key that is missing.
pub(super) fn read(
    raw: Vec<RawRelay>,
    defaults: &Defaults,
    problems: &mut Vec<Problem>,
    problem: &dyn Fn(usize, String) -> Problem,
    at: &dyn Fn(usize) -> usize,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
) -> Vec<Relay> {
    let mut relays: Vec<Relay> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let before = problems.len();
        let label = match &r.name {
            Some(n) => format!("[[relay]] {:?}", n.get_ref()),
            None => format!("[[relay]] number {}", i + 1),
        };
        let name = match &r.name {
            None => {
                problems.push(problem(
                    at(i),
                    format!("{label} needs a `name`, e.g. name = \"ses\""),
                ));
                String::new()
            }
            Some(n) => {
                let name = n.get_ref();
                let valid = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !valid {
                    problems.push(problem(
                        n.span().start,
                        format!(
                            "{label}: `name` must be lower-case letters, digits and `-` (it names the relay in the history and its environment variables), e.g. \"ses-eu\""
                        ),
                    ));
                } else if relays.iter().any(|other| other.name == *name) {
                    problems.push(problem(
                        n.span().start,
                        format!("{label}: the name is used by an earlier [[relay]]; give each relay its own name"),
                    ));
                }
                name.clone()
            }
        };
        let url = match &r.url {
            None => {
                problems.push(problem(
                    at(i),
                    format!("{label} needs a `url`, e.g. url = \"smtp://smtp.example.com:587?tls=required\""),
                ));
                None
            }
            Some(u) => match SmtpUrl::parse(u.get_ref()) {
                Ok(url) => Some(url),
                Err(fix) => {
                    problems.push(problem(
                        u.span().start,
                        format!("{label}: `url` = {:?}: {fix}", u.get_ref()),
                    ));
                    None
                }
            },
        };
        let mut whole = |key: &str, value: &Option<Spanned<i64>>, max: i64, unit: &str| {
            value.as_ref().and_then(|v| {
                let n = *v.get_ref();
                if (1..=max).contains(&n) {
                    Some(n as u64)
                } else {
                    problems.push(problem(
                        v.span().start,
                        format!("{label}: `{key}` = {n}: it must be between 1 and {max}{unit}"),
                    ));
                    None
                }
            })
        };
        let max_per_day = whole("max_per_day", &r.max_per_day, 1_000_000_000, " messages");
        let max_per_connection = whole(
            "max_per_connection",
            &r.max_per_connection,
            1_000_000,
            " messages",
        )
        .map(|n| n as u32);
        let concurrency = whole("concurrency", &r.concurrency, 1000, " connections")
            .map_or(defaults.concurrency, |n| n as u32);
        let priority =
            whole("priority", &r.priority, 1000, "; lower goes first").unwrap_or(1) as u32;
        let timeout = whole("timeout_secs", &r.timeout_secs, 3600, " seconds")
            .map_or(defaults.timeout, Duration::from_secs);
        let rate_per_second = r.rate_per_second.as_ref().and_then(|v| {
            let rate = *v.get_ref();
            if rate.is_finite() && (0.01..=1_000_000.0).contains(&rate) {
                Some(rate)
            } else {
                problems.push(problem(
                    v.span().start,
                    format!(
                        "{label}: `rate_per_second` = {rate}: it must be between 0.01 and 1000000 messages per second, e.g. 14"
                    ),
                ));
                None
            }
        });
        if problems.len() > before {
            continue;
        }
        let Some(url) = url else { continue };
        relays.push(Relay {
            env: Relay::env_prefix(&name),
            name,
            url,
            timeout,
            ca_file: r.ca_file.map(resolve).or_else(|| defaults.ca_file.clone()),
            rate_per_second,
            max_per_day,
            max_per_connection,
            concurrency,
            priority,
        });
    }
    relays
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_prefix_is_the_name_upper_cased_with_underscores() {
        for (name, prefix) in [
            ("ses", "DIGEST_RELAY_SES"),
            ("ses-eu-2", "DIGEST_RELAY_SES_EU_2"),
            ("a", "DIGEST_RELAY_A"),
        ] {
            assert_eq!(Relay::env_prefix(name), prefix);
        }
    }
}

#[cfg(test)]
mod parsing {
    use crate::config::Config;

    fn error(text: &str) -> String {
        format!("{:#}", Config::parse(text, None).unwrap_err())
    }

    const TWO: &str = r#"
[[relay]]
name = "ses"
url = "smtp://email-smtp.eu-west-1.amazonaws.com:587?tls=required"
rate_per_second = 14
max_per_day = 50000
max_per_connection = 100
concurrency = 4
priority = 1

[[relay]]
name = "postmark-2"
url = "smtp://smtp-broadcasts.postmarkapp.com:587?tls=required"
rate_per_second = 2.5
priority = 2
"#;

    #[test]
    fn relays_are_read_with_their_limits_and_defaults() {
        let config = Config::parse(TWO, None).unwrap();
        let [ses, postmark] = config.relays.as_slice() else {
            panic!("{:?}", config.relays)
        };
        assert_eq!(ses.name, "ses");
        assert_eq!(ses.rate_per_second, Some(14.0));
        assert_eq!(ses.max_per_day, Some(50_000));
        assert_eq!(ses.max_per_connection, Some(100));
        assert_eq!((ses.concurrency, ses.priority), (4, 1));
        assert_eq!(ses.env, "DIGEST_RELAY_SES");
        assert_eq!(postmark.rate_per_second, Some(2.5));
        assert_eq!(postmark.max_per_day, None);
        assert_eq!(postmark.concurrency, config.send.concurrency);
        assert_eq!(postmark.priority, 2);
        assert_eq!(postmark.env, "DIGEST_RELAY_POSTMARK_2");
    }

    #[test]
    fn without_relays_the_smtp_section_is_the_one_relay() {
        let config =
            Config::parse("[smtp]\nurl = \"smtp://127.0.0.1:2525\"\n[send]\nconcurrency = 3\nrate_per_second = 7\n", None)
                .unwrap();
        let [smtp] = config.relays.as_slice() else {
            panic!("{:?}", config.relays)
        };
        assert_eq!(smtp.name, "smtp");
        assert_eq!(smtp.url.port, 2525);
        assert_eq!((smtp.concurrency, smtp.rate_per_second), (3, Some(7.0)));
        assert_eq!(smtp.env, "DIGEST_SMTP");
    }

    #[test]
    fn bad_relays_are_named_with_the_key_and_the_fix() {
        let relay =
            |body: &str| format!("[[relay]]\nname = \"ses\"\nurl = \"smtp://a.example\"\n{body}\n");
        let cases = [
            (
                relay("rate_per_second = 0"),
                "[[relay]] \"ses\": `rate_per_second` = 0",
            ),
            (
                relay("rate_per_second = -3"),
                "[[relay]] \"ses\": `rate_per_second` = -3",
            ),
            (
                relay("max_per_day = -5"),
                "[[relay]] \"ses\": `max_per_day` = -5",
            ),
            (
                relay("max_per_day = 0"),
                "[[relay]] \"ses\": `max_per_day` = 0",
            ),
            (relay("max_per_connection = 0"), "`max_per_connection` = 0"),
            (relay("concurrency = 0"), "`concurrency` = 0"),
            (
                relay("rate = 4"),
                "unknown key `rate` in [[relay]] \"ses\"; did you mean `rate_per_second`?",
            ),
            (
                format!("{}{}", relay(""), relay("")),
                "the name is used by an earlier [[relay]]",
            ),
            (
                "[[relay]]\nname = \"SES\"\nurl = \"smtp://a.example\"\n".into(),
                "[[relay]] \"SES\": `name` must be lower-case letters",
            ),
            (
                "[[relay]]\nurl = \"smtp://a.example\"\n".into(),
                "[[relay]] number 1 needs a `name`",
            ),
            (
                "[[relay]]\nname = \"ses\"\n".into(),
                "[[relay]] \"ses\" needs a `url`",
            ),
            (
                format!("[smtp]\nurl = \"smtp://b.example\"\n{}", relay("")),
                "`[smtp] url` and `[[relay]]` are both set",
            ),
            (
                format!("[send]\nrate_per_second = 3\n{}", relay("")),
                "give each relay its own `rate_per_second`",
            ),
        ];
        for (text, expected) in cases {
            let e = error(&text);
            assert!(e.contains(expected), "{text}\n→ {e}");
        }
    }
}
