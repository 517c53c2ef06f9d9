//! The delivery-status part of a DSN (RFC 3464): one entry per reported
//! recipient, and what its action and status mean for the subscriber.

use super::fields::{self, Field};
use super::one_line;

/// One per-recipient group of a DSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    pub final_recipient: Option<String>,
    pub original_recipient: Option<String>,
    pub action: Action,
    /// The enhanced status code, e.g. `5.1.1`.
    pub status: Option<String>,
    /// The remote server's words (`Diagnostic-Code` without its type).
    pub diagnostic: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Failed,
    Delayed,
    Delivered,
    Relayed,
    Expanded,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        let word = s.split_whitespace().next()?.to_ascii_lowercase();
        Some(match word.as_str() {
            "failed" => Action::Failed,
            "delayed" => Action::Delayed,
            "delivered" => Action::Delivered,
            "relayed" => Action::Relayed,
            "expanded" => Action::Expanded,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
            Action::Expanded => "expanded",
        }
    }
}

/// What a DSN recipient means for the subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Hard,
    Soft,
    /// Recorded, never counted.
    Event(Action),
}

impl DsnRecipient {
    /// `failed` with a 5.x.x status (or none given) is hard; with 4.x.x,
    /// soft; every other action is only an event.
    pub fn severity(&self) -> Severity {
        match self.action {
            Action::Failed => match self.status.as_deref().and_then(|s| s.bytes().next()) {
                Some(b'4') => Severity::Soft,
                _ => Severity::Hard,
            },
            other => Severity::Event(other),
        }
    }

    /// What the remote server said, on one line, for the operator.
    pub fn reply(&self) -> String {
        let text = match (&self.diagnostic, &self.status) {
            (Some(d), _) => d.clone(),
            (None, Some(s)) => s.clone(),
            (None, None) => self.action.as_str().to_string(),
        };
        one_line(&text, 300)
    }
}

/// The per-recipient groups of a delivery-status part.
pub(super) fn recipients(groups: &[Vec<Field>]) -> Vec<DsnRecipient> {
    groups
        .iter()
        .filter_map(|g| {
            let action = Action::parse(fields::get(g, "action")?)?;
            let diagnostic = fields::get(g, "diagnostic-code").map(|d| {
                let words = d.split_once(';').map_or(d, |(_, rest)| rest);
                one_line(&unrepeat(words.trim()), 300)
            });
            let status = fields::get(g, "status")
                .and_then(fields::status_code)
                .or_else(|| diagnostic.as_deref().and_then(fields::status_code));
            Some(DsnRecipient {
                final_recipient: fields::get(g, "final-recipient").and_then(fields::address),
                original_recipient: fields::get(g, "original-recipient").and_then(fields::address),
                action,
                status,
                diagnostic,
            })
        })
        .take(100)
        .collect()
}

/// A multi-line SMTP reply folded into one: `550-5.1.1 The account …
/// 550-5.1.1 double-check …` loses the codes repeated at each line start.
pub(super) fn unrepeat(text: &str) -> String {
    let digits = |w: &str| w.len() == 3 && w.bytes().all(|b| b.is_ascii_digit());
    let status =
        |w: Option<&&str>| w.is_some_and(|w| w.contains('.') && fields::status_code(w).is_some());
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let b = w.as_bytes();
        let continued = b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b'-';
        if i > 0 && continued {
            i += 1;
            continue;
        }
        if i > 0 && digits(w) && status(words.get(i + 1)) {
            i += 2;
            continue;
        }
        out.push(w);
        i += 1;
    }
    out.join(" ")
}
