//! Amazon SES events, as Amazon SNS delivers them to `/webhooks/ses`.
//!
//! An SNS message is signed by SNS with the key in the certificate at
//! `SigningCertURL` (SHA1withRSA for `SignatureVersion` 1, SHA256withRSA
//! for 2) over the message's fields in a fixed order. The certificate is
//! trusted because it comes over HTTPS from an SNS host, so the URL's host
//! is checked here before anyone fetches it, and so is a `SubscribeURL`.
//! The SES notification itself is the JSON string in `Message`: a
//! `Bounce` or `Complaint`, in the notification format (`notificationType`)
//! or the event-publishing format (`eventType`).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rustls::pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm, alg_id,
};
use serde::Deserialize;
use url::Url;

use super::{Event, EventKind, Provider, Refusal, TAG_FIELD, detail, malformed, push_message_id};

/// The fields of an SNS message this reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnsMessage {
    #[serde(rename = "Type")]
    pub kind: String,
    pub message_id: String,
    pub topic_arn: String,
    pub message: String,
    pub timestamp: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default, rename = "SubscribeURL")]
    pub subscribe_url: Option<String>,
    pub signature_version: String,
    pub signature: String,
    #[serde(rename = "SigningCertURL")]
    pub signing_cert_url: String,
}

/// What an SNS message asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnsKind {
    Notification,
    /// Confirm by fetching this (checked) URL.
    SubscriptionConfirmation(Url),
    UnsubscribeConfirmation,
}

pub fn parse(body: &[u8]) -> Result<SnsMessage, Refusal> {
    serde_json::from_slice(body).map_err(|e| malformed(format!("not an SNS message: {e}")))
}

impl SnsMessage {
    pub fn kind(&self) -> Result<SnsKind, Refusal> {
        match self.kind.as_str() {
            "Notification" => Ok(SnsKind::Notification),
            "SubscriptionConfirmation" => {
                let url = self
                    .subscribe_url
                    .as_deref()
                    .ok_or_else(|| malformed("a SubscriptionConfirmation without SubscribeURL"))?;
                Ok(SnsKind::SubscriptionConfirmation(sns_url(url).map_err(
                    |e| Refusal::Unauthorized(format!("SubscribeURL {e}")),
                )?))
            }
            "UnsubscribeConfirmation" => Ok(SnsKind::UnsubscribeConfirmation),
            other => Err(malformed(format!("unknown SNS message Type {other:?}"))),
        }
    }

    /// The text SNS signed: each field's name and value on lines of
    /// their own, in the order the signature version fixes.
    pub fn string_to_sign(&self) -> Result<String, Refusal> {
        let mut fields: Vec<(&str, &str)> =
            vec![("Message", &self.message), ("MessageId", &self.message_id)];
        match self.kind.as_str() {
            "Notification" => {
                if let Some(subject) = &self.subject {
                    fields.push(("Subject", subject));
                }
                fields.push(("Timestamp", &self.timestamp));
            }
            "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
                let missing = |f: &str| malformed(format!("a {} without {f}", self.kind));
                fields.push((
                    "SubscribeURL",
                    self.subscribe_url
                        .as_deref()
                        .ok_or_else(|| missing("SubscribeURL"))?,
                ));
                fields.push(("Timestamp", &self.timestamp));
                fields.push((
                    "Token",
                    self.token.as_deref().ok_or_else(|| missing("Token"))?,
                ));
            }
            other => return Err(malformed(format!("unknown SNS message Type {other:?}"))),
        }
        fields.push(("TopicArn", &self.topic_arn));
        fields.push(("Type", &self.kind));
        Ok(fields.iter().map(|(k, v)| format!("{k}\n{v}\n")).collect())
    }

    /// The certificate URL, if it is one SNS would use.
    pub fn cert_url(&self) -> Result<Url, Refusal> {
        let url = sns_url(&self.signing_cert_url)
            .map_err(|e| Refusal::Unauthorized(format!("SigningCertURL {e}")))?;
        if !url.path().ends_with(".pem") {
            return Err(Refusal::Unauthorized(
                "SigningCertURL does not name a .pem certificate".into(),
            ));
        }
        Ok(url)
    }

    /// Check the signature with the certificate (DER) from `cert_url`.
    pub fn verify(&self, cert_der: &[u8]) -> Result<(), Refusal> {
        let alg: &dyn SignatureVerificationAlgorithm = match self.signature_version.as_str() {
            "1" => &RsaSha1,
            "2" => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
            other => {
                return Err(Refusal::Unauthorized(format!(
                    "SignatureVersion {other:?} is not 1 or 2"
                )));
            }
        };
        let signature = base64::engine::general_purpose::STANDARD
            .decode(self.signature.trim())
            .map_err(|_| Refusal::Unauthorized("the Signature is not base64".into()))?;
        let der = CertificateDer::from(cert_der);
        let cert = webpki::EndEntityCert::try_from(&der).map_err(|e| {
            Refusal::Unauthorized(format!("the signing certificate does not parse ({e})"))
        })?;
        cert.verify_signature(alg, self.string_to_sign()?.as_bytes(), &signature)
            .map_err(|_| Refusal::Unauthorized("the signature does not verify".into()))
    }
}

/// `https://sns.<region>.amazonaws.com[.cn]/…`, on the default port, or
/// why not.
pub fn sns_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
    let host = url.host_str().unwrap_or_default();
    let region = host.strip_prefix("sns.").and_then(|h| {
        h.strip_suffix(".amazonaws.com")
            .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
    });
    let region_ok = region.is_some_and(|r| {
        !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    if url.scheme() != "https"
        || !region_ok
        || url.port().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(format!(
            "is not on an SNS host (https://sns.<region>.amazonaws.com/): {}",
            url.origin().ascii_serialization()
        ));
    }
    Ok(url)
}

/// SHA1withRSA, which SNS still uses for `SignatureVersion` 1; webpki
/// leaves it out of its certificate algorithms, but ring verifies it.
#[derive(Debug)]
struct RsaSha1;

impl SignatureVerificationAlgorithm for RsaSha1 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            public_key,
        )
        .verify(message, signature)
        .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        // sha1WithRSAEncryption, NULL parameters.
        AlgorithmIdentifier::from_slice(&[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
        ])
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    notification_type: Option<String>,
    event_type: Option<String>,
    #[serde(default)]
    bounce: Option<Bounce>,
    #[serde(default)]
    complaint: Option<Complaint>,
    #[serde(default)]
    mail: Mail,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: String,
    bounced_recipients: Vec<Recipient>,
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    complained_recipients: Vec<Recipient>,
    timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    complaint_feedback_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    diagnostic_code: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Mail {
    tags: std::collections::HashMap<String, Vec<String>>,
    headers: Vec<Header>,
    common_headers: CommonHeaders,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct CommonHeaders {
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    name: String,
    value: String,
}

/// The events in a notification's `Message`; other notification types
/// (deliveries, opens) give none.
pub fn events(message: &str) -> Result<Vec<Event>, Refusal> {
    let n: Notification = serde_json::from_str(message)
        .map_err(|e| malformed(format!("the SNS Message is not an SES notification: {e}")))?;
    let mut tags: Vec<String> = n.mail.tags.get(TAG_FIELD).cloned().unwrap_or_default();
    for h in &n.mail.headers {
        if h.name.eq_ignore_ascii_case("message-id") {
            push_message_id(&mut tags, &h.value);
        }
    }
    if let Some(id) = &n.mail.common_headers.message_id {
        push_message_id(&mut tags, id);
    }
    let what = n.notification_type.or(n.event_type).unwrap_or_default();
    let event = |kind, r: &Recipient, at, said: &[&str]| Event {
        provider: Provider::Ses,
        kind,
        recipient: r.email_address.clone(),
        tags: tags.clone(),
        at,
        detail: detail(said),
    };
    match (what.as_str(), n.bounce, n.complaint) {
        ("Bounce", Some(b), _) => {
            let kind = match b.bounce_type.as_str() {
                "Permanent" => EventKind::Hard,
                "Transient" | "Undetermined" => EventKind::Soft,
                other => return Err(malformed(format!("unknown bounceType {other:?}"))),
            };
            Ok(b.bounced_recipients
                .iter()
                .map(|r| {
                    let status = r.status.as_deref().unwrap_or_default();
                    let diag = r.diagnostic_code.as_deref().unwrap_or_default();
                    let said = [
                        "ses",
                        b.bounce_type.as_str(),
                        b.bounce_sub_type.as_str(),
                        status,
                        diag,
                    ];
                    event(kind, r, b.timestamp, &said)
                })
                .collect())
        }
        ("Complaint", _, Some(c)) => {
            let feedback = c.complaint_feedback_type.as_deref().unwrap_or("complaint");
            Ok(c.complained_recipients
                .iter()
                .map(|r| event(EventKind::Complaint, r, c.timestamp, &["ses", feedback]))
                .collect())
        }
        ("Bounce", None, _) | ("Complaint", _, None) => Err(malformed(format!(
            "a {what} notification without its {what} object"
        ))),
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sns_hosts_on_https_pass_the_host_rule() {
        let cases = [
            (
                "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
                true,
            ),
            ("https://sns.cn-north-1.amazonaws.com.cn/x.pem", true),
            ("http://sns.us-east-1.amazonaws.com/x.pem", false),
            (
                "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
                false,
            ),
            (
                "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
                false,
            ),
            ("https://sns.us-east-1.amazonaws.com:8443/x.pem", false),
            ("https://user@sns.us-east-1.amazonaws.com/x.pem", false),
            ("https://sns..amazonaws.com/x.pem", false),
            ("https://sqs.us-east-1.amazonaws.com/x.pem", false),
            ("https://sns.us_east.amazonaws.com/x.pem", false),
        ];
        for (url, ok) in cases {
            assert_eq!(sns_url(url).is_ok(), ok, "{url}");
        }
    }

    fn message(kind: &str) -> SnsMessage {
        SnsMessage {
            kind: kind.into(),
            message_id: "m-1".into(),
            topic_arn: "arn:aws:sns:us-east-1:123456789012:t".into(),
            message: "hello".into(),
            timestamp: "2026-11-29T10:00:00.000Z".into(),
            subject: None,
            token: Some("tok".into()),
            subscribe_url: Some(
                "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription".into(),
            ),
            signature_version: "2".into(),
            signature: String::new(),
            signing_cert_url: "https://sns.us-east-1.amazonaws.com/a.pem".into(),
        }
    }

    #[test]
    fn the_string_to_sign_follows_the_documented_field_order() {
        let n = message("Notification");
        assert_eq!(
            n.string_to_sign().unwrap(),
            "Message\nhello\nMessageId\nm-1\nTimestamp\n2026-11-29T10:00:00.000Z\nTopicArn\narn:aws:sns:us-east-1:123456789012:t\nType\nNotification\n"
        );
        let with_subject = SnsMessage {
            subject: Some("S".into()),
            ..message("Notification")
        };
        assert!(
            with_subject
                .string_to_sign()
                .unwrap()
                .contains("MessageId\nm-1\nSubject\nS\nTimestamp")
        );
        let c = message("SubscriptionConfirmation");
        assert_eq!(
            c.string_to_sign().unwrap(),
            "Message\nhello\nMessageId\nm-1\nSubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription\nTimestamp\n2026-11-29T10:00:00.000Z\nToken\ntok\nTopicArn\narn:aws:sns:us-east-1:123456789012:t\nType\nSubscriptionConfirmation\n"
        );
        assert!(matches!(
            message("Other").string_to_sign(),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn a_bad_signature_version_or_certificate_is_unauthorized() {
        let mut m = message("Notification");
        m.signature_version = "3".into();
        assert!(matches!(m.verify(b""), Err(Refusal::Unauthorized(_))));
        m.signature_version = "1".into();
        m.signature = "AAAA".into();
        assert!(matches!(
            m.verify(b"not a certificate"),
            Err(Refusal::Unauthorized(_))
        ));
    }

    #[test]
    fn bounces_and_complaints_map_to_their_kinds() {
        let bounce = |t: &str| {
            format!(
                r#"{{"notificationType":"Bounce","bounce":{{"bounceType":"{t}","bounceSubType":"General",
                "bouncedRecipients":[{{"emailAddress":"a@example.com","status":"5.1.1","diagnosticCode":"smtp; 550 no"}},
                {{"emailAddress":"b@example.com"}}],"timestamp":"2026-11-29T10:00:00.000Z"}},
                "mail":{{"tags":{{"digest_tag":["2026w48-1-x"]}},"headers":[{{"name":"Message-ID","value":"<2026w48-1-y@n.example>"}}]}}}}"#
            )
        };
        let cases = [
            ("Permanent", EventKind::Hard),
            ("Transient", EventKind::Soft),
            ("Undetermined", EventKind::Soft),
        ];
        for (t, kind) in cases {
            let events = events(&bounce(t)).unwrap();
            assert_eq!(events.len(), 2, "{t}");
            assert_eq!(events[0].kind, kind, "{t}");
            assert_eq!(events[0].recipient, "a@example.com");
            assert_eq!(events[0].tags, ["2026w48-1-x", "2026w48-1-y"]);
            assert!(events[0].detail.contains("550 no"), "{}", events[0].detail);
        }
        assert!(events(&bounce("Sideways")).is_err());
        let complaint = r#"{"eventType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"c@example.com"}],
            "complaintFeedbackType":"abuse","timestamp":"2026-11-29T10:00:00Z"},"mail":{"commonHeaders":{"messageId":"<t@x>"}}}"#;
        let c = events(complaint).unwrap();
        assert_eq!(
            (c[0].kind, c[0].recipient.as_str(), c[0].tags.clone()),
            (EventKind::Complaint, "c@example.com", vec!["t".to_string()])
        );
        assert!(
            events(r#"{"notificationType":"Delivery","mail":{}}"#)
                .unwrap()
                .is_empty()
        );
        assert!(events(r#"{"notificationType":"Bounce"}"#).is_err());
        assert!(events("not json").is_err());
    }
}
