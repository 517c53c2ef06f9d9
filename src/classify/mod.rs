//! What an inbound message is: a bounce (a DSN), a complaint (an ARF
//! report), a mailto unsubscribe, or something else.
//!
//! Pure: bytes in, a [`Reading`] out, nothing looked up. The reading lists
//! every place the message names one of our deliveries (a tag in an
//! address or a returned Message-ID, a token in a mailto address or a
//! returned `List-Unsubscribe`) without trusting any of them; the caller
//! verifies tags against the key and tokens against the list. Bytes that
//! are not mail at all, or MIME that is broken, read as [`Kind::Other`]:
//! nothing here fails or panics (it is fuzzed).
//!
//! MIME comes from `mail-parser`; the report fields (RFC 3464 for DSNs,
//! RFC 5965 for ARF) from the small reader in [`fields`].

mod dsn;
pub mod fields;

use mail_parser::{MessageParser, MimeHeaders as _, PartType};

pub use dsn::{Action, DsnRecipient, Severity};
use fields::Field;

/// Where the digest hears back: `[inbound] bounce_address` and
/// `unsubscribe_address`, split into local part and domain.
#[derive(Debug, Clone, Default)]
pub struct Addresses {
    pub bounce: Option<(String, String)>,
    pub unsubscribe: Option<(String, String)>,
}

impl Addresses {
    /// `local@domain` into its parts (the local part as written, the domain
    /// lower-cased); `None` without an `@`.
    pub fn split(address: &str) -> Option<(String, String)> {
        let (local, domain) = address.trim().rsplit_once('@')?;
        (!local.is_empty() && !domain.is_empty())
            .then(|| (local.to_string(), domain.to_ascii_lowercase()))
    }

    /// The tag in `bounces+TAG@domain`.
    pub fn tag_in(&self, address: &str) -> Option<String> {
        extension(self.bounce.as_ref()?, address)
    }

    /// The token in `unsubscribe+TOKEN@domain`.
    pub fn token_in(&self, address: &str) -> Option<String> {
        extension(self.unsubscribe.as_ref()?, address)
    }
}

/// The part after `+` when `address` is `local+EXT@domain` for `base`.
fn extension((local, domain): &(String, String), address: &str) -> Option<String> {
    let (l, d) = address.trim().rsplit_once('@')?;
    if !d.eq_ignore_ascii_case(domain) {
        return None;
    }
    let (base, ext) = l.split_once('+')?;
    (base.eq_ignore_ascii_case(local) && !ext.is_empty()).then(|| ext.to_string())
}

/// What the message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A delivery status notification, one entry per recipient it reports.
    Dsn(Vec<DsnRecipient>),
    /// A feedback report of type `abuse`: the reader pressed "spam".
    Complaint { feedback_type: String },
    /// A message to `unsubscribe+TOKEN@…`.
    Unsubscribe { token: String },
    /// Anything else, and why it is not one of the above.
    Other(String),
}

/// A message as read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reading {
    pub kind: Kind,
    /// Tags from VERP addresses: where the message was sent, a report's
    /// `Original-Mail-From`, the returned message's `Return-Path`.
    pub address_tags: Vec<String>,
    /// Local parts of the returned message's Message-ID (a tag when it is
    /// one of ours).
    pub message_id_tags: Vec<String>,
    /// Tokens from the returned message's `List-Unsubscribe`.
    pub returned_tokens: Vec<String>,
}

impl Default for Kind {
    fn default() -> Kind {
        Kind::Other(String::new())
    }
}

/// Header names that carry the address a message was delivered to.
const RECIPIENT_HEADERS: [&str; 7] = [
    "to",
    "cc",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "x-original-recipient",
];

/// Read `raw`. `envelope` adds recipients the MTA passed beside the
/// message (Postfix's `ORIGINAL_RECIPIENT`, for example).
pub fn classify(raw: &[u8], addresses: &Addresses, envelope: &[String]) -> Reading {
    let raw = without_mbox_line(raw);
    let mut reading = Reading::default();
    let head = header_fields(raw);

    let mut recipients: Vec<String> = envelope.to_vec();
    for (name, value) in &head {
        if RECIPIENT_HEADERS.contains(&name.as_str()) {
            recipients.extend(addresses_in(value));
        }
    }
    push_tags(&mut reading, addresses, &recipients);
    if let Some(token) = recipients.iter().find_map(|r| addresses.token_in(r)) {
        reading.kind = Kind::Unsubscribe { token };
        return reading;
    }

    let parsed = MessageParser::default().parse(raw);
    let mut status_text = None;
    let mut feedback_text = None;
    if let Some(message) = &parsed {
        for part in &message.parts {
            let Some(ct) = part.content_type() else {
                continue;
            };
            let ctype = ct.ctype().to_ascii_lowercase();
            let subtype = ct.subtype().unwrap_or_default().to_ascii_lowercase();
            match (ctype.as_str(), subtype.as_str()) {
                ("message", "delivery-status" | "global-delivery-status") => {
                    status_text.get_or_insert_with(|| lossy(part.contents()));
                }
                ("message", "feedback-report") => {
                    feedback_text.get_or_insert_with(|| lossy(part.contents()));
                }
                ("message", "rfc822" | "global") => {
                    if let PartType::Message(inner) = &part.body {
                        read_returned(&header_fields(inner.raw_message()), addresses, &mut reading);
                    }
                }
                ("text" | "message", "rfc822-headers") => {
                    read_returned(&header_fields(part.contents()), addresses, &mut reading);
                }
                _ => {}
            }
        }
    }

    if let Some(text) = status_text {
        let recipients = dsn::recipients(&fields::groups(&text));
        reading.kind = if recipients.is_empty() {
            Kind::Other("a delivery report without a recipient it could read".into())
        } else {
            Kind::Dsn(recipients)
        };
        return reading;
    }
    if let Some(text) = feedback_text {
        let report: Vec<Field> = fields::groups(&text).into_iter().flatten().collect();
        if let Some(from) = fields::get(&report, "original-mail-from") {
            push_tags(&mut reading, addresses, &addresses_in(from));
        }
        let feedback_type = fields::get(&report, "feedback-type")
            .unwrap_or("")
            .to_ascii_lowercase();
        reading.kind = if feedback_type == "abuse" {
            Kind::Complaint { feedback_type }
        } else if feedback_type.is_empty() {
            Kind::Other("a feedback report without a Feedback-Type".into())
        } else {
            Kind::Other(format!(
                "a feedback report of type {}, not a complaint",
                one_line(&feedback_type, 40)
            ))
        };
        return reading;
    }

    reading.kind = Kind::Other(other_reason(raw, &head, parsed.is_some()));
    reading
}

/// `raw` without the mbox `From sender date` line an MTA's local delivery
/// puts before the headers (Postfix's pipe does).
fn without_mbox_line(raw: &[u8]) -> &[u8] {
    match raw.strip_prefix(b"From ") {
        Some(rest) if !rest.starts_with(b":") => match memchr::memchr(b'\n', rest) {
            Some(end) => &rest[end + 1..],
            None => &[],
        },
        _ => raw,
    }
}

/// Why a message that is no report is kept, in a few words.
fn other_reason(raw: &[u8], head: &[Field], parsed: bool) -> String {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return "an empty message".into();
    }
    if !parsed || head.is_empty() {
        return "not an email message".into();
    }
    let auto = |name: &str| fields::get(head, name).map(|v| v.to_ascii_lowercase());
    let from = auto("from").unwrap_or_default();
    if from.contains("mailer-daemon") || from.contains("postmaster") {
        return "a bounce that is not a delivery report (DSN)".into();
    }
    if let Some(v) = auto("auto-submitted").filter(|v| !v.starts_with("no")) {
        return format!("an automatic reply (Auto-Submitted: {})", one_line(&v, 40));
    }
    if auto("x-autoreply").is_some() || auto("x-autorespond").is_some() {
        return "an automatic reply (X-Autoreply)".into();
    }
    if let Some(p) = auto("precedence").filter(|p| p.contains("auto_reply")) {
        return format!("an automatic reply (Precedence: {})", one_line(&p, 40));
    }
    "not a bounce, complaint or unsubscribe".into()
}

/// What a returned message (or its headers) says about the delivery.
fn read_returned(head: &[Field], addresses: &Addresses, reading: &mut Reading) {
    for (name, value) in head {
        match name.as_str() {
            "message-id" => {
                let id = value.trim().trim_start_matches('<').trim_end_matches('>');
                if let Some((local, _)) = id.rsplit_once('@') {
                    push_unique(&mut reading.message_id_tags, local.trim().to_string());
                }
            }
            "return-path" | "x-original-mail-from" => {
                push_tags(reading, addresses, &addresses_in(value));
            }
            "list-unsubscribe" => {
                for link in value.split(',') {
                    let link = link.trim().trim_start_matches('<').trim_end_matches('>');
                    let token = if let Some(mailto) = link.strip_prefix("mailto:") {
                        let address = mailto.split('?').next().unwrap_or_default();
                        addresses.token_in(address)
                    } else {
                        link.rsplit_once("/unsubscribe/")
                            .map(|(_, t)| t.split(['?', '#', '/']).next().unwrap_or_default())
                            .filter(|t| !t.is_empty())
                            .map(str::to_string)
                    };
                    if let Some(token) = token {
                        push_unique(&mut reading.returned_tokens, token);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The header fields at the top of `raw` (up to the first blank line).
fn header_fields(raw: &[u8]) -> Vec<Field> {
    let end = memchr::memmem::find(raw, b"\n\n")
        .or_else(|| memchr::memmem::find(raw, b"\n\r\n"))
        .unwrap_or(raw.len().min(256 * 1024));
    let text = lossy(&raw[..end.min(raw.len())]);
    fields::groups(&text).into_iter().next().unwrap_or_default()
}

/// Every `local@domain` in a header value.
pub fn addresses_in(value: &str) -> Vec<String> {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    let mut out = Vec::new();
    for (at, _) in value.match_indices('@') {
        let local: String = value[..at]
            .chars()
            .rev()
            .take_while(|&c| atext(c))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let domain: String = value[at + 1..]
            .chars()
            .take_while(|&c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            .collect();
        let domain = domain.trim_end_matches('.');
        if !local.is_empty() && !domain.is_empty() && out.len() < 50 {
            out.push(format!("{local}@{domain}"));
        }
    }
    out
}

/// The tags of those of `found` that are VERP addresses on the bounce
/// address, into the reading.
fn push_tags(reading: &mut Reading, addresses: &Addresses, found: &[String]) {
    for a in found {
        if let Some(tag) = addresses.tag_in(a) {
            push_unique(&mut reading.address_tags, tag);
        }
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) && list.len() < 20 {
        list.push(item);
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `text` on one line of at most `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests;
