//! Mailgun's webhooks: one event a request, signed with the account's
//! HTTP webhook signing key as HMAC-SHA256 over `timestamp` + `token`.
//! A timestamp more than five minutes off is refused here; a token seen
//! before is refused by the caller, which remembers them.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac as _};
use serde::Deserialize;
use sha2::Sha256;

use super::{Event, EventKind, Provider, Refusal, TAG_FIELD, detail, malformed, push_message_id};
use crate::secret::Secret;

/// How far a signature's timestamp may be from our clock.
pub const WINDOW_SECS: i64 = 5 * 60;

#[derive(Deserialize)]
pub struct Body {
    pub signature: Signature,
    #[serde(rename = "event-data")]
    event: EventData,
}

#[derive(Deserialize)]
pub struct Signature {
    pub timestamp: String,
    pub token: String,
    pub signature: String,
}

#[derive(Deserialize)]
struct EventData {
    event: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    recipient: String,
    #[serde(default)]
    timestamp: Option<f64>,
    #[serde(default)]
    reason: String,
    #[serde(default, rename = "delivery-status")]
    delivery_status: DeliveryStatus,
    #[serde(default, rename = "user-variables")]
    user_variables: std::collections::HashMap<String, serde_json::Value>,
    #[serde(default)]
    message: Message,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DeliveryStatus {
    code: Option<serde_json::Value>,
    message: String,
    description: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Message {
    headers: std::collections::HashMap<String, serde_json::Value>,
}

pub fn parse(body: &[u8]) -> Result<Body, Refusal> {
    serde_json::from_slice(body).map_err(|e| malformed(format!("not a Mailgun webhook: {e}")))
}

impl Signature {
    /// The HMAC, and the timestamp within [`WINDOW_SECS`] of `now`.
    pub fn verify(&self, key: &Secret, now: DateTime<Utc>) -> Result<(), Refusal> {
        let sent: i64 = self
            .timestamp
            .parse()
            .map_err(|_| Refusal::Unauthorized("the signature timestamp is not a number".into()))?;
        if (now.timestamp() - sent).abs() > WINDOW_SECS {
            return Err(Refusal::Unauthorized(
                "the signature timestamp is more than 5 minutes off".into(),
            ));
        }
        let given = hex(&self.signature)
            .ok_or_else(|| Refusal::Unauthorized("the signature is not hex".into()))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
            .map_err(|_| Refusal::Unauthorized("the signing key is unusable".into()))?;
        mac.update(self.timestamp.as_bytes());
        mac.update(self.token.as_bytes());
        // hmac's own check compares in constant time.
        mac.verify_slice(&given)
            .map_err(|_| Refusal::Unauthorized("the signature does not verify".into()))
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Body {
    /// `failed` and `complained`; other events (deliveries, opens) give
    /// none.
    pub fn events(&self) -> Vec<Event> {
        let e = &self.event;
        let kind = match (e.event.as_str(), e.severity.as_str()) {
            ("failed", "permanent") => EventKind::Hard,
            ("failed", _) => EventKind::Soft,
            ("complained", _) => EventKind::Complaint,
            _ => return Vec::new(),
        };
        let mut tags = Vec::new();
        if let Some(serde_json::Value::String(tag)) = e.user_variables.get(TAG_FIELD) {
            tags.push(tag.clone());
        }
        if let Some(serde_json::Value::String(id)) = e.message.headers.get("message-id") {
            push_message_id(&mut tags, id);
        }
        let code = match &e.delivery_status.code {
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        vec![Event {
            provider: Provider::Mailgun,
            kind,
            recipient: e.recipient.clone(),
            tags,
            at: e
                .timestamp
                .and_then(|t| DateTime::from_timestamp(t as i64, 0)),
            detail: detail(&[
                "mailgun",
                &e.event,
                &e.severity,
                &e.reason,
                &code,
                &e.delivery_status.message,
                &e.delivery_status.description,
            ]),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(key: &str, timestamp: &str, token: &str) -> Signature {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(token.as_bytes());
        let signature = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Signature {
            timestamp: timestamp.into(),
            token: token.into(),
            signature,
        }
    }

    #[test]
    fn signatures_verify_only_with_the_key_and_within_five_minutes() {
        let key = Secret::new("key-1".into());
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(
            signed("key-1", "1800000000", "tok")
                .verify(&key, now)
                .is_ok()
        );
        assert!(
            signed("key-1", "1799999700", "tok")
                .verify(&key, now)
                .is_ok()
        );
        let cases = [
            signed("key-2", "1800000000", "tok"),
            signed("key-1", "1799999699", "tok"),
            signed("key-1", "1800000301", "tok"),
            signed("key-1", "soon", "tok"),
            Signature {
                signature: "zz".into(),
                ..signed("key-1", "1800000000", "tok")
            },
            Signature {
                token: "other".into(),
                ..signed("key-1", "1800000000", "tok")
            },
        ];
        for s in cases {
            assert!(
                matches!(s.verify(&key, now), Err(Refusal::Unauthorized(_))),
                "{}",
                s.timestamp
            );
        }
    }

    #[test]
    fn failed_and_complained_map_to_kinds() {
        let body = |event: &str, severity: &str| {
            format!(
                r#"{{"signature":{{"timestamp":"1","token":"t","signature":"00"}},"event-data":{{"event":"{event}",
                "severity":"{severity}","recipient":"a@example.com","timestamp":1800000000.5,"reason":"bounce",
                "delivery-status":{{"code":550,"message":"no such user"}},"user-variables":{{"digest_tag":"2026w48-1-x"}},
                "message":{{"headers":{{"message-id":"2026w48-1-y@n.example"}}}}}}}}"#
            )
        };
        let cases = [
            ("failed", "permanent", Some(EventKind::Hard)),
            ("failed", "temporary", Some(EventKind::Soft)),
            ("complained", "", Some(EventKind::Complaint)),
            ("delivered", "", None),
        ];
        for (event, severity, kind) in cases {
            let parsed = parse(body(event, severity).as_bytes()).unwrap();
            let events = parsed.events();
            assert_eq!(events.first().map(|e| e.kind), kind, "{event}");
            if let Some(e) = events.first() {
                assert_eq!(e.tags, ["2026w48-1-x", "2026w48-1-y"]);
                assert!(e.detail.contains("550: no such user"), "{}", e.detail);
            }
        }
        assert!(parse(br#"{"event-data":{}}"#).is_err());
    }
}
