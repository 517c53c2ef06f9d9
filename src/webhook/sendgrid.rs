//! SendGrid's Event Webhook: a JSON array of events a request, signed
//! (when "Signed Event Webhook" is on) with ECDSA P-256 over the
//! `X-Twilio-Email-Event-Webhook-Timestamp` value followed by the raw
//! body; the signature header holds the DER signature in base64.

use base64::Engine as _;
use chrono::DateTime;
use serde::Deserialize;

use super::{Event, EventKind, Provider, Refusal, TAG_FIELD, detail, malformed, push_message_id};

pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";

/// Check the signature with the key's uncompressed point.
pub fn verify(
    point: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
) -> Result<(), Refusal> {
    let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
        return Err(Refusal::Unauthorized(
            "the signature or timestamp header is missing".into(),
        ));
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| Refusal::Unauthorized("the signature is not base64".into()))?;
    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(body);
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
        .verify(&signed, &signature)
        .map_err(|_| Refusal::Unauthorized("the signature does not verify".into()))
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    email: String,
    #[serde(default)]
    event: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    status: String,
    #[serde(default, rename = "smtp-id")]
    smtp_id: String,
    #[serde(flatten)]
    rest: std::collections::HashMap<String, serde_json::Value>,
}

/// The bounces, drops and spam reports in a batch; other events give
/// none.
pub fn events(body: &[u8]) -> Result<Vec<Event>, Refusal> {
    let batch: Vec<Raw> = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("not a SendGrid event batch: {e}")))?;
    Ok(batch
        .into_iter()
        .filter_map(|r| {
            let kind = match (r.event.as_str(), r.kind.as_str()) {
                ("bounce", "blocked") => EventKind::Soft,
                ("bounce", _) => EventKind::Hard,
                ("blocked", _) => EventKind::Soft,
                ("dropped", _) => EventKind::Dropped,
                ("spamreport", _) => EventKind::Complaint,
                _ => return None,
            };
            let mut tags = Vec::new();
            if let Some(serde_json::Value::String(tag)) = r.rest.get(TAG_FIELD) {
                tags.push(tag.clone());
            }
            push_message_id(&mut tags, &r.smtp_id);
            Some(Event {
                provider: Provider::Sendgrid,
                kind,
                recipient: r.email,
                tags,
                at: r.timestamp.and_then(|t| DateTime::from_timestamp(t, 0)),
                detail: detail(&["sendgrid", &r.event, &r.kind, &r.status, &r.reason]),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};

    #[test]
    fn signatures_verify_over_the_timestamp_then_the_body() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let body = br#"[{"email":"a@example.com","event":"bounce"}]"#;
        let mut signed = b"1800000000".to_vec();
        signed.extend_from_slice(body);
        let sig =
            base64::engine::general_purpose::STANDARD.encode(pair.sign(&rng, &signed).unwrap());
        let point = pair.public_key().as_ref();
        assert!(verify(point, Some(&sig), Some("1800000000"), body).is_ok());
        let cases: [(Option<&str>, Option<&str>, &[u8]); 5] = [
            (Some(&sig), Some("1800000001"), body),
            (Some(&sig), Some("1800000000"), b"[]"),
            (None, Some("1800000000"), body),
            (Some(&sig), None, body),
            (Some("!!"), Some("1800000000"), body),
        ];
        for (s, t, b) in cases {
            assert!(
                matches!(verify(point, s, t, b), Err(Refusal::Unauthorized(_))),
                "{t:?}"
            );
        }
    }

    #[test]
    fn events_map_to_kinds_and_the_rest_are_skipped() {
        let body = br#"[
            {"email":"a@example.com","event":"bounce","type":"bounce","status":"5.1.1","reason":"550 no","timestamp":1800000000,"digest_tag":"2026w48-1-x","smtp-id":"<2026w48-1-y@n.example>"},
            {"email":"b@example.com","event":"bounce","type":"blocked","reason":"421 later"},
            {"email":"c@example.com","event":"dropped","reason":"Bounced Address"},
            {"email":"d@example.com","event":"spamreport"},
            {"email":"e@example.com","event":"open"},
            {"email":"f@example.com","event":"delivered"}
        ]"#;
        let events = events(body).unwrap();
        let got: Vec<(&str, EventKind)> = events
            .iter()
            .map(|e| (e.recipient.as_str(), e.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("a@example.com", EventKind::Hard),
                ("b@example.com", EventKind::Soft),
                ("c@example.com", EventKind::Dropped),
                ("d@example.com", EventKind::Complaint),
            ]
        );
        assert_eq!(events[0].tags, ["2026w48-1-x", "2026w48-1-y"]);
        assert!(super::events(br#"{"event":"bounce"}"#).is_err());
    }
}
