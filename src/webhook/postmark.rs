//! Postmark's Bounce and SpamComplaint webhooks: one JSON object a
//! request, authenticated by the HTTP basic credentials written into the
//! webhook's URL settings.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Event, EventKind, Provider, Refusal, TAG_FIELD, detail, malformed, same};
use crate::secret::Secret;

/// Check an `Authorization: Basic …` header against the credentials.
pub fn authorize(header: Option<&str>, user: &Secret, password: &Secret) -> Result<(), Refusal> {
    let unauthorized = || Refusal::Unauthorized("wrong or missing basic-auth credentials".into());
    let encoded = header
        .and_then(|h| {
            h.strip_prefix("Basic ")
                .or_else(|| h.strip_prefix("basic "))
        })
        .ok_or_else(unauthorized)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| unauthorized())?;
    let expected = format!("{}:{}", user.expose(), password.expose());
    if same(&decoded, expected.as_bytes()) {
        Ok(())
    } else {
        Err(unauthorized())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Record {
    record_type: String,
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    bounced_at: Option<DateTime<Utc>>,
}

/// The event in one webhook body; Postmark's other record types (opens,
/// deliveries) give none.
pub fn events(body: &[u8]) -> Result<Vec<Event>, Refusal> {
    let r: Record = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("not a Postmark webhook: {e}")))?;
    let kind = match (r.record_type.as_str(), r.kind.as_str()) {
        ("SpamComplaint", _) | ("Bounce", "SpamComplaint") => EventKind::Complaint,
        ("Bounce", "HardBounce") => EventKind::Hard,
        ("Bounce", "SoftBounce" | "Transient") => EventKind::Soft,
        ("Bounce", _) => EventKind::Notice,
        _ => return Ok(Vec::new()),
    };
    if r.email.is_empty() {
        return Err(malformed(format!(
            "a {} record without Email",
            r.record_type
        )));
    }
    Ok(vec![Event {
        provider: Provider::Postmark,
        kind,
        recipient: r.email,
        tags: r.metadata.get(TAG_FIELD).cloned().into_iter().collect(),
        at: r.bounced_at,
        detail: detail(&["postmark", &r.kind, &r.description, &r.details]),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_kinds_and_others_are_only_recorded() {
        let body = |record: &str, t: &str| {
            format!(
                r#"{{"RecordType":"{record}","Type":"{t}","Email":"a@example.com","Metadata":{{"digest_tag":"2026w48-1-x"}},
                "Description":"d","Details":"550 no","BouncedAt":"2026-11-29T10:00:00.123Z"}}"#
            )
        };
        let cases = [
            ("Bounce", "HardBounce", Some(EventKind::Hard)),
            ("Bounce", "SoftBounce", Some(EventKind::Soft)),
            ("Bounce", "Transient", Some(EventKind::Soft)),
            ("Bounce", "AutoResponder", Some(EventKind::Notice)),
            ("SpamComplaint", "SpamComplaint", Some(EventKind::Complaint)),
            ("Delivery", "", None),
        ];
        for (record, t, kind) in cases {
            let events = events(body(record, t).as_bytes()).unwrap();
            assert_eq!(events.first().map(|e| e.kind), kind, "{record} {t}");
            if let Some(e) = events.first() {
                assert_eq!(e.tags, ["2026w48-1-x"]);
                assert!(e.at.is_some());
            }
        }
        assert!(matches!(events(b"[]"), Err(Refusal::Malformed(_))));
    }

    #[test]
    fn only_the_right_credentials_pass() {
        let (user, pass) = (Secret::new("hook".into()), Secret::new("s3cret".into()));
        let b64 = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert!(authorize(Some(&b64("hook:s3cret")), &user, &pass).is_ok());
        for bad in [
            Some(b64("hook:wrong")),
            Some(b64("hook")),
            Some("Bearer x".into()),
            Some("Basic !!".into()),
            None,
        ] {
            assert!(authorize(bad.as_deref(), &user, &pass).is_err(), "{bad:?}");
        }
    }
}
