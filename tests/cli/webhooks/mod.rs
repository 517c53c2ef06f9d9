//! `digest serve`'s webhook routes, against the built binary, a real
//! SQLite file and each provider's documented JSON, signed in the test
//! with keys made in the test.
//!
//! Every test starts from the inbound tests' list: five readers sent the
//! issues of 2026-W47 (on 2026-11-22) and 2026-W48 (on 2026-11-29), here
//! with every webhook on, so each message carries its tag in all four
//! providers' custom-data headers.

mod providers;
mod ses;

use std::sync::OnceLock;

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::Value;

use super::inbound::{Sent, hearing_config, sent_with, show};
use super::support::Config;
use super::support::mail::field;
use super::support::server::Server;

pub const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:digest-events";
pub const POSTMARK_USER: &str = "postmark-hook";
pub const POSTMARK_PASSWORD: &str = "pm-pass-Zq81sQ";
pub const MAILGUN_KEY: &str = "mg-key-4f0c9e7d1b";

/// The P-256 key SendGrid would sign with, made once per test run.
pub fn sendgrid_key() -> &'static (EcdsaKeyPair, String) {
    static KEY: OnceLock<(EcdsaKeyPair, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // As SendGrid shows it: base64 of the SubjectPublicKeyInfo.
        let mut spki = glossary_digest::config::P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        let shown = base64::engine::general_purpose::STANDARD.encode(spki);
        (pair, shown)
    })
}

/// `[webhooks]` with every provider on; SNS certificates fetched from
/// `sns` (an address and a CA file) when given.
pub fn webhook_config(smtp_url: &str, sns: Option<(&str, &std::path::Path)>) -> Config {
    let topics: &[&str] = &[TOPIC];
    let mut c = hearing_config(smtp_url)
        .set("inbound", "soft_bounce_limit", 2)
        .set("webhooks", "ses_topic_arns", topics)
        .set("webhooks", "postmark", true)
        .set("webhooks", "mailgun", true)
        .set("webhooks", "sendgrid_public_key", sendgrid_key().1.as_str());
    if let Some((connect_to, ca)) = sns {
        c = c
            .set("webhooks", "sns_connect_to", connect_to)
            .set("webhooks", "sns_ca_file", ca);
    }
    c
}

/// The providers' secrets, as `digest serve` reads them.
pub const SECRETS: [(&str, &str); 3] = [
    ("DIGEST_POSTMARK_WEBHOOK_USER", POSTMARK_USER),
    ("DIGEST_POSTMARK_WEBHOOK_PASSWORD", POSTMARK_PASSWORD),
    ("DIGEST_MAILGUN_SIGNING_KEY", MAILGUN_KEY),
];

/// The list after the two sends, and its server.
pub struct Lab {
    pub sent: Sent,
    pub server: Server,
}

impl Lab {
    pub fn start() -> Lab {
        let sent = sent_with(|url| webhook_config(url, None));
        let server = Server::start(&sent.site, &SECRETS);
        Lab { sent, server }
    }

    /// The delivery tag of `email`'s copy of `week` (its Message-ID's
    /// local part).
    pub fn tag(&self, email: &str, week: &str) -> String {
        let id = &self.sent.of(email, week).message_id;
        id.split('@').next().unwrap().to_string()
    }

    pub fn status(&self, email: &str) -> String {
        show(&self.sent.site, email)["status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `(kind, issue)` of each event in `email`'s history, newest first,
    /// leaving out the deliveries.
    pub fn events(&self, email: &str) -> Vec<(String, String)> {
        show(&self.sent.site, email)["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                !matches!(
                    e["kind"].as_str(),
                    Some("sent" | "subscribed" | "confirmed")
                )
            })
            .map(|e| {
                (
                    e["kind"].as_str().unwrap_or_default().to_string(),
                    e["issue"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    pub fn history(&self, email: &str) -> Value {
        show(&self.sent.site, email)["events"].clone()
    }
}

/// The Unix time of the runs' pinned clock (2026-11-29T12:00:00Z).
pub fn now_secs() -> i64 {
    chrono::DateTime::parse_from_rfc3339(super::support::run::NOW)
        .unwrap()
        .timestamp()
}

#[test]
fn every_message_carries_its_tag_in_each_configured_providers_header() {
    let lab = Lab::start();
    let raw = &lab.sent.of("ada@example.com", "2026-W48").raw;
    let tag = lab.tag("ada@example.com", "2026-W48");
    assert_eq!(field(raw, "X-PM-Metadata-digest_tag"), tag);
    assert_eq!(
        field(raw, "X-SES-MESSAGE-TAGS"),
        format!("digest_tag={tag}")
    );
    let mailgun: Value = serde_json::from_str(&field(raw, "X-Mailgun-Variables")).unwrap();
    assert_eq!(mailgun["digest_tag"], tag.as_str());
    let smtpapi: Value = serde_json::from_str(&field(raw, "X-SMTPAPI")).unwrap();
    assert_eq!(smtpapi["unique_args"]["digest_tag"], tag.as_str());
}

#[test]
fn without_webhooks_no_provider_header_is_added() {
    let sent = super::inbound::sent();
    let raw = &sent.of("ada@example.com", "2026-W48").raw;
    for name in [
        "X-PM-Metadata-digest_tag",
        "X-SES-MESSAGE-TAGS",
        "X-Mailgun-Variables",
        "X-SMTPAPI",
    ] {
        assert!(super::support::mail::fields(raw, name).is_empty(), "{name}");
    }
}
