//! `[webhooks]`: which relays' event callbacks `digest serve` answers.
//!
//! A provider is on when its key is set here, so `send` (which adds the
//! provider's tag header) and `serve` (which answers the route) agree from
//! the one file; the provider's secrets stay in the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine as _;
use serde::Deserialize;
use toml::Spanned;

use crate::error::Problem;

/// The DER prefix of every P-256 public key in SubjectPublicKeyInfo form
/// with an uncompressed point: the key's 65 bytes follow it.
pub const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Webhook requests allowed per client per minute, by default.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 6000;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawWebhooks {
    ses_topic_arns: Option<Spanned<Vec<String>>>,
    postmark: Option<bool>,
    mailgun: Option<bool>,
    sendgrid_public_key: Option<Spanned<String>>,
    rate_per_minute: Option<Spanned<u32>>,
    sns_connect_to: Option<Spanned<String>>,
    sns_ca_file: Option<PathBuf>,
}

/// `[webhooks]`, checked.
#[derive(Debug, Clone, Default)]
pub struct Webhooks {
    /// SNS topics whose messages `/webhooks/ses` accepts; none: route off.
    pub ses_topic_arns: Vec<String>,
    /// `/webhooks/postmark` (credentials from the environment).
    pub postmark: bool,
    /// `/webhooks/mailgun` (signing key from the environment).
    pub mailgun: bool,
    /// The uncompressed P-256 point of SendGrid's verification key.
    pub sendgrid_key: Option<Vec<u8>>,
    pub rate_per_minute: u32,
    /// Where connections to `sns.<region>.amazonaws.com` go instead of
    /// the name's own address: for tests, and for an egress proxy. The
    /// host rule and certificate checks are the same either way.
    pub sns_connect_to: Option<SocketAddr>,
    /// An extra trusted root for those connections.
    pub sns_ca_file: Option<PathBuf>,
}

impl Webhooks {
    pub fn ses(&self) -> bool {
        !self.ses_topic_arns.is_empty()
    }

    pub fn sendgrid(&self) -> bool {
        self.sendgrid_key.is_some()
    }

    pub fn any(&self) -> bool {
        self.ses() || self.postmark || self.mailgun || self.sendgrid()
    }
}

pub(super) fn read(
    raw: RawWebhooks,
    problems: &mut Vec<Problem>,
    problem: &dyn Fn(usize, String) -> Problem,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
) -> Webhooks {
    let mut ses_topic_arns = Vec::new();
    if let Some(arns) = &raw.ses_topic_arns {
        for arn in arns.get_ref() {
            match check_topic_arn(arn) {
                Ok(()) => ses_topic_arns.push(arn.clone()),
                Err(fix) => problems.push(problem(
                    arns.span().start,
                    format!("`webhooks.ses_topic_arns`: {arn:?} {fix}"),
                )),
            }
        }
    }
    let sendgrid_key =
        raw.sendgrid_public_key
            .as_ref()
            .and_then(|key| match parse_p256_key(key.get_ref()) {
                Ok(point) => Some(point),
                Err(fix) => {
                    problems.push(problem(
                        key.span().start,
                        format!("`webhooks.sendgrid_public_key`: {fix}"),
                    ));
                    None
                }
            });
    let rate_per_minute = match &raw.rate_per_minute {
        Some(v) if !(1..=1_000_000).contains(v.get_ref()) => {
            problems.push(problem(
                v.span().start,
                "`webhooks.rate_per_minute` must be between 1 and 1000000 requests a minute".into(),
            ));
            DEFAULT_RATE_PER_MINUTE
        }
        Some(v) => *v.get_ref(),
        None => DEFAULT_RATE_PER_MINUTE,
    };
    let sns_connect_to = raw.sns_connect_to.as_ref().and_then(|v| {
        v.get_ref().parse().map_or_else(
            |_| {
                problems.push(problem(
                    v.span().start,
                    format!(
                        "`webhooks.sns_connect_to` = {:?}: not an address and port, e.g. \"127.0.0.1:8443\"",
                        v.get_ref()
                    ),
                ));
                None
            },
            Some,
        )
    });
    Webhooks {
        ses_topic_arns,
        postmark: raw.postmark.unwrap_or(false),
        mailgun: raw.mailgun.unwrap_or(false),
        sendgrid_key,
        rate_per_minute,
        sns_connect_to,
        sns_ca_file: raw.sns_ca_file.map(resolve),
    }
}

/// `arn:aws:sns:REGION:ACCOUNT:NAME` (or the `aws-cn` and `aws-us-gov`
/// partitions).
fn check_topic_arn(arn: &str) -> Result<(), &'static str> {
    let parts: Vec<&str> = arn.split(':').collect();
    let fix = "is not an SNS topic ARN; copy it from the topic's page, e.g. \"arn:aws:sns:us-east-1:123456789012:digest-bounces\"";
    match parts.as_slice() {
        ["arn", partition, "sns", region, account, name]
            if partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && !name.is_empty() =>
        {
            Ok(())
        }
        _ => Err(fix),
    }
}

/// SendGrid's "Verification Key": base64 of a P-256 SubjectPublicKeyInfo.
fn parse_p256_key(text: &str) -> Result<Vec<u8>, String> {
    let compact: String = text.split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| format!("not base64 ({e}); paste the Verification Key SendGrid shows"))?;
    match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
        Some(point) if point.len() == 65 && point[0] == 4 => Ok(point.to_vec()),
        _ => Err("not a P-256 public key; paste the Verification Key from SendGrid's Signed Event Webhook settings".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_arns_are_checked_by_shape() {
        let cases = [
            ("arn:aws:sns:us-east-1:123456789012:digest-bounces", true),
            ("arn:aws-cn:sns:cn-north-1:123456789012:t", true),
            ("arn:aws:sqs:us-east-1:123456789012:q", false),
            ("arn:aws:sns:us-east-1:1234:t", false),
            ("digest-bounces", false),
            ("arn:aws:sns:us-east-1:123456789012:", false),
        ];
        for (arn, ok) in cases {
            assert_eq!(check_topic_arn(arn).is_ok(), ok, "{arn}");
        }
    }

    #[test]
    fn a_sendgrid_key_must_be_a_p256_spki() {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.push(4);
        der.extend([7u8; 64]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        assert_eq!(parse_p256_key(&b64).unwrap().len(), 65);
        assert!(
            parse_p256_key("not base64!")
                .unwrap_err()
                .contains("not base64")
        );
        let short = base64::engine::general_purpose::STANDARD.encode(&der[..60]);
        assert!(parse_p256_key(&short).unwrap_err().contains("P-256"));
    }
}
