//! Building the email for each subscriber.
//!
//! An issue is rendered once per role variant with a placeholder where the
//! subscriber's token goes, and each body is quoted-printable encoded once,
//! keeping the placeholder whole on one line. A subscriber's message is then
//! a copy of the encoded bodies with their token written over the
//! placeholder: no template, Markdown or CSS work happens per recipient,
//! which is what lets one process keep an SMTP relay busy.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use lettre::Message;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};

use crate::config::{Dkim, Newsletter};
use crate::delivery::Job;
use crate::render::{IssueView, Links, Templates};
use crate::role::Role;

/// Stands in for a subscriber's token until their message is built: the
/// same length as a real token and made of the same URL-safe characters,
/// so encoding treats both alike.
pub const TOKEN_PLACEHOLDER: &str = "zzTOKENzzPLACEHOLDERzzzz";

/// A body encoded once, with the offsets where a token goes.
#[derive(Debug, Clone)]
struct EncodedBody {
    bytes: Vec<u8>,
    token_at: Vec<usize>,
}

impl EncodedBody {
    fn new(text: &str) -> EncodedBody {
        let (bytes, token_at) = quoted_printable(text, TOKEN_PLACEHOLDER);
        EncodedBody { bytes, token_at }
    }

    fn personalize(&self, token: &str) -> Vec<u8> {
        if token.len() == TOKEN_PLACEHOLDER.len() {
            let mut out = self.bytes.clone();
            for &at in &self.token_at {
                out[at..at + token.len()].copy_from_slice(token.as_bytes());
            }
            return out;
        }
        // A stand-in of another length (`preview` in a test send): splice.
        // Shorter only shortens lines; a token is never longer than the
        // placeholder, so no line grows past the limit.
        let mut out = Vec::with_capacity(self.bytes.len());
        let mut from = 0;
        for &at in &self.token_at {
            out.extend_from_slice(&self.bytes[from..at]);
            out.extend_from_slice(token.as_bytes());
            from = at + TOKEN_PLACEHOLDER.len();
        }
        out.extend_from_slice(&self.bytes[from..]);
        out
    }
}

struct Variant {
    text: EncodedBody,
    html: EncodedBody,
}

/// One subscriber, as the message builder needs them (borrowed: nothing
/// is copied per recipient that the message does not need).
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub role: Option<Role>,
    pub token: &'a str,
}

impl<'a> From<&'a Job> for Recipient<'a> {
    fn from(job: &'a Job) -> Recipient<'a> {
        Recipient {
            email: &job.email,
            name: job.name.as_deref(),
            role: job.role,
            token: job.token.as_str(),
        }
    }
}

/// Builds every subscriber's message for one issue.
pub struct MessageFactory {
    from: Mailbox,
    reply_to: Option<Mailbox>,
    subject: String,
    list_id: String,
    list_unsubscribe_prefix: String,
    /// `<2026-W48.RANDOM.`: random per run, so that with the sequence
    /// number every Message-ID is unique without a syscall per message.
    message_id_prefix: String,
    sequence: std::sync::atomic::AtomicU64,
    domain: String,
    variants: HashMap<Option<Role>, Variant>,
    dkim: Option<DkimConfig>,
}

const SIGNED_HEADERS: [&str; 8] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

impl MessageFactory {
    /// Render the issue's variants (everyone, and each role) once.
    pub fn new(
        newsletter: &Newsletter,
        templates: &Templates,
        view: &IssueView,
        dkim: Option<DkimConfig>,
    ) -> anyhow::Result<MessageFactory> {
        let links = Links::new(
            newsletter,
            &view.issue.week,
            Links::unsubscribe_url(newsletter, TOKEN_PLACEHOLDER),
        );
        let mut variants = HashMap::new();
        let mut subject = String::new();
        for role in std::iter::once(None).chain(Role::ALL.map(Some)) {
            let rendered = templates.render_issue(view, role, &links)?;
            subject = rendered.subject;
            variants.insert(
                role,
                Variant {
                    text: EncodedBody::new(&rendered.text),
                    html: EncodedBody::new(&rendered.html),
                },
            );
        }
        let domain = newsletter.from.email.domain().to_ascii_lowercase();
        Ok(MessageFactory {
            from: newsletter.from.clone(),
            reply_to: newsletter.reply_to.clone(),
            subject,
            list_id: format!("<{}>", newsletter.list_id),
            list_unsubscribe_prefix: format!("<{}", newsletter.public_url.unsubscribe("")),
            message_id_prefix: format!("<{}.{}.", view.issue.week, crate::token::random_id()?),
            sequence: std::sync::atomic::AtomicU64::new(1),
            domain,
            variants,
            dkim,
        })
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Mark every message as a test: `[TEST] ` before the subject.
    pub fn for_testing(mut self) -> MessageFactory {
        self.subject = format!("[TEST] {}", self.subject);
        self
    }

    /// The message for one subscriber.
    pub fn build(&self, r: &Recipient<'_>) -> anyhow::Result<Message> {
        let address = r
            .email
            .parse()
            .with_context(|| format!("stored address {} is not valid", r.email))?;
        let to = Mailbox::new(r.name.map(str::to_string), address);
        let variant = self
            .variants
            .get(&r.role)
            .unwrap_or_else(|| &self.variants[&None]);
        let part = |content_type: ContentType, body: &EncodedBody| {
            SinglePart::builder()
                .header(content_type)
                .body(Body::dangerous_pre_encoded(
                    body.personalize(r.token),
                    ContentTransferEncoding::QuotedPrintable,
                ))
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(self.subject.clone())
            .message_id(Some(format!(
                "{}{}@{}>",
                self.message_id_prefix,
                self.sequence
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                self.domain
            )));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let mut message = builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(part(ContentType::TEXT_PLAIN, &variant.text))
                    .singlepart(part(ContentType::TEXT_HTML, &variant.html)),
            )
            .context("building the message failed")?;
        let headers = message.headers_mut();
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Id"),
            self.list_id.clone(),
        ));
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            format!("{}{}>", self.list_unsubscribe_prefix, r.token),
        ));
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_string(),
        ));
        if let Some(dkim) = &self.dkim {
            message.sign(dkim);
        }
        Ok(message)
    }
}

/// The double opt-in mail: "confirm your subscription", with the link.
pub fn confirmation(
    newsletter: &Newsletter,
    templates: &Templates,
    to_email: &str,
    to_name: Option<&str>,
    confirm_url: &str,
    expiry_days: u64,
    dkim: Option<&DkimConfig>,
) -> anyhow::Result<Message> {
    let mut ctx = tera::Context::new();
    ctx.insert(
        "newsletter",
        &crate::render::NewsletterView::from(newsletter),
    );
    ctx.insert("name", &to_name);
    ctx.insert("confirm_url", confirm_url);
    ctx.insert("expiry_days", &expiry_days);
    let text = crate::render::tidy_text(&templates.render("confirm.txt", &ctx)?);
    let html = crate::render::inline_css(&templates.render("confirm.html", &ctx)?)?;
    let address = to_email
        .parse()
        .with_context(|| format!("{to_email} is not a valid address"))?;
    let domain = newsletter.from.email.domain().to_ascii_lowercase();
    let mut builder = Message::builder()
        .from(newsletter.from.clone())
        .to(Mailbox::new(to_name.map(str::to_string), address))
        .subject(format!("Confirm your subscription to {}", newsletter.name))
        .message_id(Some(format!(
            "<confirm.{}@{domain}>",
            crate::token::random_id()?
        )));
    if let Some(reply_to) = &newsletter.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    let mut message = builder
        .multipart(MultiPart::alternative_plain_html(text, html))
        .context("building the confirmation mail failed")?;
    if let Some(dkim) = dkim {
        message.sign(dkim);
    }
    Ok(message)
}

/// Load the DKIM key and build lettre's signing configuration: relaxed
/// canonicalization of headers and body, signing the headers a receiver
/// needs to trust the unsubscribe link. Content-Type is left out: lettre
/// 0.11 canonicalizes it wrongly in multipart messages.
pub fn dkim_config(dkim: &Dkim) -> anyhow::Result<DkimConfig> {
    let pem = std::fs::read_to_string(&dkim.private_key_file).with_context(|| {
        format!(
            "cannot read the DKIM key {} ([dkim] private_key_file)",
            dkim.private_key_file.display()
        )
    })?;
    let (key, algorithm) = signing_key(&pem, &dkim.private_key_file)?;
    let key = DkimSigningKey::new(&key, algorithm).map_err(|e| {
        crate::error::InputError(format!(
            "the DKIM key {} is not usable: {e}",
            dkim.private_key_file.display()
        ))
    })?;
    Ok(DkimConfig::new(
        dkim.selector.clone(),
        dkim.domain.clone(),
        key,
        SIGNED_HEADERS
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect(),
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}

/// The Ed25519 algorithm identifier, 1.3.101.112, as it appears in DER.
const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// A PEM private key in the form lettre takes: PKCS#1 PEM for RSA, the
/// base64 of the 32-byte seed for Ed25519. Accepts `BEGIN RSA PRIVATE KEY`
/// (PKCS#1), `BEGIN PRIVATE KEY` (PKCS#8, RSA or Ed25519) as `openssl genrsa`
/// and `openssl genpkey` write them.
fn signing_key(pem: &str, path: &Path) -> anyhow::Result<(String, DkimSigningAlgorithm)> {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    let bad = |why: String| crate::error::InputError(format!("DKIM key {}: {why}", path.display()));
    if pem.contains("BEGIN RSA PRIVATE KEY") {
        return Ok((pem.to_string(), DkimSigningAlgorithm::Rsa));
    }
    if !pem.contains("BEGIN PRIVATE KEY") {
        return Err(bad(
            "not a PEM private key; expected `BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY` \
             (make one with `openssl genrsa -out dkim.pem 2048`)"
                .into(),
        )
        .into());
    }
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| bad(format!("the PEM body is not base64 ({e})")))?;
    if der.windows(ED25519_OID.len()).any(|w| w == ED25519_OID) {
        // PKCS#8 Ed25519: ... OCTET STRING { OCTET STRING (32 bytes) }.
        let seed = der
            .get(der.len().saturating_sub(32)..)
            .filter(|_| der.len() >= 48)
            .ok_or_else(|| bad("the Ed25519 key is truncated".into()))?;
        return Ok((
            base64::engine::general_purpose::STANDARD.encode(seed),
            DkimSigningAlgorithm::Ed25519,
        ));
    }
    let key = rsa::RsaPrivateKey::from_pkcs8_der(&der)
        .map_err(|e| bad(format!("not an RSA or Ed25519 key ({e})")))?;
    let pkcs1 = key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| bad(format!("cannot convert the RSA key ({e})")))?;
    Ok((pkcs1.to_string(), DkimSigningAlgorithm::Rsa))
}

/// Quoted-printable (RFC 2045) with CRLF line ends and lines of at most 76
/// characters. `keep` is never split across a soft line break, and its
/// offsets in the output are returned.
pub fn quoted_printable(text: &str, keep: &str) -> (Vec<u8>, Vec<usize>) {
    const MAX: usize = 75; // plus the `=` of a soft break
    let mut out = Vec::with_capacity(text.len() + text.len() / 20);
    let mut found = Vec::new();
    let mut line_len = 0;
    let input = text.as_bytes();
    let keep = keep.as_bytes();
    let mut i = 0;
    let soft_break = |out: &mut Vec<u8>, line_len: &mut usize| {
        out.extend_from_slice(b"=\r\n");
        *line_len = 0;
    };
    while i < input.len() {
        let b = input[i];
        if !keep.is_empty() && input[i..].starts_with(keep) {
            if line_len + keep.len() > MAX {
                soft_break(&mut out, &mut line_len);
            }
            found.push(out.len());
            out.extend_from_slice(keep);
            line_len += keep.len();
            i += keep.len();
            continue;
        }
        if b == b'\n' || (b == b'\r' && input.get(i + 1) == Some(&b'\n')) {
            // Trailing whitespace before a line break must be encoded.
            if let Some(&last) = out.last()
                && (last == b' ' || last == b'\t')
                && line_len > 0
            {
                out.pop();
                if line_len - 1 + 3 > MAX {
                    soft_break(&mut out, &mut line_len);
                }
                out.extend_from_slice(format!("={last:02X}").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            line_len = 0;
            i += if b == b'\r' { 2 } else { 1 };
            continue;
        }
        let literal = (b == b'\t' || (b' '..=b'~').contains(&b)) && b != b'=';
        // A line must not start with "." alone or "From " ambiguity is
        // handled by SMTP dot-stuffing; nothing to do here.
        let width = if literal { 1 } else { 3 };
        if line_len + width > MAX {
            soft_break(&mut out, &mut line_len);
        }
        if literal {
            out.push(b);
        } else {
            out.extend_from_slice(format!("={b:02X}").as_bytes());
        }
        line_len += width;
        i += 1;
    }
    // Trailing whitespace at the very end.
    if let Some(&last) = out.last()
        && (last == b' ' || last == b'\t')
    {
        out.pop();
        out.extend_from_slice(format!("={last:02X}").as_bytes());
    }
    (out, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode quoted-printable, to check the encoder.
    fn decode_quoted_printable(encoded: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(encoded.len());
        let mut i = 0;
        while i < encoded.len() {
            match encoded[i] {
                b'=' if encoded[i + 1..].starts_with(b"\r\n") => i += 3,
                b'=' if encoded[i + 1..].starts_with(b"\n") => i += 2,
                b'=' if i + 3 <= encoded.len() => {
                    let hex = std::str::from_utf8(&encoded[i + 1..i + 3]).unwrap_or("");
                    match u8::from_str_radix(hex, 16) {
                        Ok(v) => out.push(v),
                        Err(_) => out.extend_from_slice(&encoded[i..i + 3]),
                    }
                    i += 3;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        out
    }

    #[test]
    fn quoted_printable_round_trips_and_keeps_lines_short() {
        let long = "word ".repeat(60);
        let cases = [
            "plain ascii",
            "café — naïve “quotes”",
            "a=b and 100% = done",
            "trailing space \nnext line\t\nend ",
            long.as_str(),
            "line one\r\nline two\r\n",
        ];
        for text in cases {
            let (enc, _) = quoted_printable(text, TOKEN_PLACEHOLDER);
            let expected = text.replace("\r\n", "\n").replace('\n', "\r\n");
            assert_eq!(
                String::from_utf8(decode_quoted_printable(&enc)).unwrap(),
                expected,
                "{text:?}"
            );
            for line in enc.split(|&b| b == b'\n') {
                assert!(line.len() <= 77, "{:?}", String::from_utf8_lossy(line));
                assert!(line.iter().all(|b| b.is_ascii()), "7-bit only");
            }
        }
    }

    #[test]
    fn the_token_placeholder_is_never_split_and_can_be_overwritten() {
        let text = format!(
            "{}https://g.example/unsubscribe/{TOKEN_PLACEHOLDER} and again {TOKEN_PLACEHOLDER}",
            "x".repeat(70)
        );
        let body = EncodedBody::new(&text);
        assert_eq!(body.token_at.len(), 2);
        let token = "Abc-_0123456789abcdefghi";
        assert_eq!(token.len(), TOKEN_PLACEHOLDER.len());
        let personal = body.personalize(token);
        let decoded = String::from_utf8(decode_quoted_printable(&personal)).unwrap();
        assert_eq!(decoded, text.replace(TOKEN_PLACEHOLDER, token));
    }

    #[test]
    fn pem_keys_of_every_form_are_recognised() {
        let err = signing_key("hello", Path::new("k.pem"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a PEM private key"), "{err}");
        let (key, alg) = signing_key(
            "-----BEGIN RSA PRIVATE KEY-----\nAAA\n-----END RSA PRIVATE KEY-----\n",
            Path::new("k.pem"),
        )
        .unwrap();
        assert!(matches!(alg, DkimSigningAlgorithm::Rsa));
        assert!(key.contains("BEGIN RSA PRIVATE KEY"));
        // An Ed25519 PKCS#8 key as `openssl genpkey -algorithm ed25519` writes it.
        let ed = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
        let (seed, alg) = signing_key(ed, Path::new("k.pem")).unwrap();
        assert!(matches!(alg, DkimSigningAlgorithm::Ed25519));
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(seed)
                .unwrap()
                .len(),
            32
        );
    }
}
