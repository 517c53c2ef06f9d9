//! Reading the relays' event callbacks: each provider's JSON shape and
//! signature, down to one [`Event`] per bounced or complaining recipient.
//!
//! Pure, like [`classify`](crate::classify): nothing here fetches, looks up
//! or stores anything. A provider module verifies the request with the key
//! it is given (for SNS, the certificate the caller fetched) and reads the
//! events; the `callbacks` use case finds each event's
//! delivery and records it through the same store methods as
//! `digest inbound`.

pub mod mailgun;
pub mod postmark;
pub mod sendgrid;
pub mod ses;

use chrono::{DateTime, Utc};

pub use crate::tag::TAG_FIELD;

/// Whose webhook an event came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Ses,
    Postmark,
    Mailgun,
    Sendgrid,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Ses,
        Provider::Postmark,
        Provider::Mailgun,
        Provider::Sendgrid,
    ];

    /// The provider whose route segment (`/webhooks/ses`) this is.
    pub fn from_route(segment: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == segment)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Ses => "ses",
            Provider::Postmark => "postmark",
            Provider::Mailgun => "mailgun",
            Provider::Sendgrid => "sendgrid",
        }
    }
}

/// What happened to one recipient, in the store's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Hard,
    Soft,
    Complaint,
    /// The provider would not send (SendGrid `dropped`): recorded only.
    Dropped,
    /// Any other report worth keeping (a Postmark auto-responder, say):
    /// recorded only.
    Notice,
}

/// One recipient's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub provider: Provider,
    pub kind: EventKind,
    pub recipient: String,
    /// Delivery tags the event passed back, best first: the provider's
    /// custom field, then Message-ID local parts. Unverified.
    pub tags: Vec<String>,
    /// When it happened, if the provider says.
    pub at: Option<DateTime<Utc>>,
    /// What the provider said, for the subscriber's history.
    pub detail: String,
}

/// Why a request was refused; the route turns it into a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A missing or wrong signature, credential, certificate or timestamp.
    #[error("not authenticated: {0}")]
    Unauthorized(String),
    /// Not the JSON the provider sends.
    #[error("malformed: {0}")]
    Malformed(String),
}

pub(crate) fn malformed(what: impl std::fmt::Display) -> Refusal {
    Refusal::Malformed(what.to_string())
}

/// Push a Message-ID's local part (`<TAG@domain>` → `TAG`) if it has one.
pub(crate) fn push_message_id(tags: &mut Vec<String>, message_id: &str) {
    let id = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    if let Some((local, _)) = id.split_once('@')
        && !local.is_empty()
        && !tags.iter().any(|t| t == local)
    {
        tags.push(local.to_string());
    }
}

/// `detail` shortened to what a history line can show.
pub(crate) fn detail(parts: &[&str]) -> String {
    let joined = parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    let flat = joined.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

/// Equal in constant time for equal lengths (secrets, signatures).
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_give_their_local_part_once() {
        let mut tags = vec![];
        for id in [
            "<2026w48-1-abc@news.example>",
            "2026w48-1-abc@x",
            "<>",
            "no-at",
        ] {
            push_message_id(&mut tags, id);
        }
        assert_eq!(tags, ["2026w48-1-abc"]);
    }

    #[test]
    fn details_are_flattened_and_bounded() {
        assert_eq!(
            detail(&["ses", " 5.1.1\n user  unknown ", ""]),
            "ses: 5.1.1 user unknown"
        );
        assert_eq!(detail(&[&"x".repeat(400)]).chars().count(), 301);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
