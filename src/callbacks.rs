//! Hearing back from the relays' webhooks: each verified [`Event`] finds
//! its delivery and is recorded through the same store methods as
//! `digest inbound`, so the rules (one hard bounce, `soft_bounce_limit`
//! soft ones in a row, a complaint unsubscribes) and the history are the
//! same whichever way a report arrives.
//!
//! An event is matched by a delivery tag it passed back (the provider's
//! custom field, or our Message-ID) when one verifies against the key;
//! else by its recipient address, and then to the latest issue sent to
//! that address by the time of the event. An event about nobody of ours
//! is answered and ignored: a provider retries an error, forever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use url::Url;

use crate::address::SubscriberEmail;
use crate::config::Config;
use crate::fetch::Fetcher;
use crate::inbound::Heard;
use crate::secret::{Secret, from_env};
use crate::store::{BounceKind, Store};
use crate::tag::TagKey;
use crate::timestamp::Timestamp;
use crate::webhook::{Event, EventKind, Provider};

/// Environment variables holding the providers' secrets.
pub const POSTMARK_USER: &str = "DIGEST_POSTMARK_WEBHOOK_USER";
pub const POSTMARK_PASSWORD: &str = "DIGEST_POSTMARK_WEBHOOK_PASSWORD";
pub const MAILGUN_KEY: &str = "DIGEST_MAILGUN_SIGNING_KEY";

/// Certificates kept at most; SNS uses a handful.
const MAX_CERTS: usize = 64;

/// The webhook routes that are on, with what verifying them takes.
pub struct Relays {
    pub key: TagKey,
    pub soft_bounce_limit: u32,
    pub ses_topic_arns: Vec<String>,
    pub postmark: Option<(Secret, Secret)>,
    pub mailgun: Option<Secret>,
    pub sendgrid: Option<Vec<u8>>,
    pub sns: SnsCerts,
}

impl Relays {
    /// From `[webhooks]` and the environment: a provider that is on
    /// without its secrets is an error naming the variable.
    pub fn from_config(config: &Config, key: TagKey) -> anyhow::Result<Relays> {
        let w = &config.webhooks;
        let need = |name: &str, provider: &str| -> anyhow::Result<Secret> {
            from_env(name)?.ok_or_else(|| {
                crate::error::InputError(format!(
                    "[webhooks] {provider} = true needs {name} (or {name}_FILE) in the environment"
                ))
                .into()
            })
        };
        let postmark = match w.postmark {
            true => Some((
                need(POSTMARK_USER, "postmark")?,
                need(POSTMARK_PASSWORD, "postmark")?,
            )),
            false => None,
        };
        let mailgun = match w.mailgun {
            true => Some(need(MAILGUN_KEY, "mailgun")?),
            false => None,
        };
        let tls = crate::tls::connector(w.sns_ca_file.as_deref(), "[webhooks] sns_ca_file")?;
        Ok(Relays {
            key,
            soft_bounce_limit: config.inbound.soft_bounce_limit,
            ses_topic_arns: w.ses_topic_arns.clone(),
            postmark,
            mailgun,
            sendgrid: w.sendgrid_key.clone(),
            sns: SnsCerts {
                fetcher: Fetcher {
                    tls,
                    connect_to: w.sns_connect_to,
                    timeout: config.smtp.timeout,
                    max_bytes: 64 * 1024,
                },
                cache: Mutex::default(),
            },
        })
    }

    pub fn is_on(&self, provider: Provider) -> bool {
        match provider {
            Provider::Ses => !self.ses_topic_arns.is_empty(),
            Provider::Postmark => self.postmark.is_some(),
            Provider::Mailgun => self.mailgun.is_some(),
            Provider::Sendgrid => self.sendgrid.is_some(),
        }
    }
}

/// SNS signing certificates by URL, each fetched once.
pub struct SnsCerts {
    fetcher: Fetcher,
    cache: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl SnsCerts {
    /// The DER certificate at `url` (already checked against the host
    /// rule), from the cache or fetched.
    pub async fn get(&self, url: &Url) -> anyhow::Result<Arc<Vec<u8>>> {
        if let Some(der) = self.lock().get(url.as_str()) {
            return Ok(der.clone());
        }
        let pem = self
            .fetcher
            .get(url)
            .await
            .context("cannot fetch the SNS signing certificate")?;
        let der = rustls_pemfile::certs(&mut pem.as_slice())
            .next()
            .and_then(Result::ok)
            .context("the SNS signing certificate is not PEM")?;
        let der = Arc::new(der.to_vec());
        let mut cache = self.lock();
        if cache.len() >= MAX_CERTS {
            cache.clear();
        }
        cache.insert(url.to_string(), der.clone());
        Ok(der)
    }

    /// Confirm a subscription by fetching its `SubscribeURL` (checked).
    pub async fn confirm(&self, url: &Url) -> anyhow::Result<()> {
        self.fetcher
            .get(url)
            .await
            .context("cannot confirm the SNS subscription")?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Vec<u8>>>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Record one event, in one transaction.
pub fn apply(
    store: &mut Store,
    key: &TagKey,
    soft_bounce_limit: u32,
    event: &Event,
    now: Timestamp,
) -> anyhow::Result<Heard> {
    let provider = event.provider.as_str();
    let mut found = None;
    for tag in &event.tags {
        if let Some(t) = key.verify(tag)
            && let Some(sub) = store.delivery_subscriber(t.week, t.subscriber)?
        {
            found = Some((sub, Some(t.week)));
            break;
        }
    }
    if found.is_none()
        && let Ok(email) = SubscriberEmail::parse(&event.recipient)
        && let Some(sub) = store.subscriber_by_email(&email)?
    {
        let week = store.delivery_before(sub.id, event.at.map(Timestamp::from))?;
        found = Some((sub, week));
    }
    let Some((sub, week)) = found else {
        return Ok(Heard::NotApplied(format!(
            "a {provider} event about {}, who is not on the list",
            event.recipient
        )));
    };
    let kind = match event.kind {
        EventKind::Complaint => {
            let result = store.record_complaint(sub.id, week, &event.detail, now)?;
            return Ok(Heard::Complaint {
                email: sub.email,
                week,
                result,
            });
        }
        EventKind::Hard => BounceKind::Hard,
        EventKind::Soft => BounceKind::Soft,
        EventKind::Dropped => BounceKind::Event("dropped"),
        EventKind::Notice => BounceKind::Event("notice"),
    };
    let Some(week) = week else {
        return Ok(Heard::NotApplied(format!(
            "a {provider} event about {}, to whom no issue was sent",
            sub.email
        )));
    };
    let result = store.record_bounce(sub.id, week, kind, &event.detail, soft_bounce_limit, now)?;
    Ok(Heard::Bounce {
        email: sub.email,
        week,
        kind,
        reply: event.detail.clone(),
        result,
        limit: soft_bounce_limit,
    })
}
