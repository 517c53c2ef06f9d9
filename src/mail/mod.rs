//! Building the email for each subscriber.
//!
//! An issue is rendered once per role variant with a placeholder where the
//! subscriber's token goes, and each body is quoted-printable encoded once,
//! keeping the placeholder whole on one line. A subscriber's message is then
//! a copy of the encoded bodies with their token written over the
//! placeholder: no template, Markdown or CSS work happens per recipient,
//! which is what lets one process keep an SMTP relay busy.

mod dkim;
mod qp;

use std::collections::HashMap;

use anyhow::Context as _;
use lettre::Message;
use lettre::address::Envelope;
use lettre::message::dkim::DkimConfig;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};

pub use dkim::{PublicKey, dkim_config};
pub use qp::quoted_printable;

use crate::config::Newsletter;
use crate::delivery::Job;
use crate::render::{IssueView, Links, Templates};
use crate::role::Role;
use crate::tag::TagKey;
use crate::week::IssueWeek;

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
    /// The subscriber's id: with the issue, it names the delivery.
    pub id: i64,
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub role: Option<Role>,
    pub token: &'a str,
}

impl<'a> From<&'a Job> for Recipient<'a> {
    fn from(job: &'a Job) -> Recipient<'a> {
        Recipient {
            id: job.id,
            email: &job.email,
            name: job.name.as_deref(),
            role: job.role,
            token: job.token.as_str(),
        }
    }
}

/// Where answers about a message go (`[inbound]`): the envelope sender,
/// the mailto unsubscribe address, and the key that tags each delivery.
#[derive(Debug, Clone, Default)]
pub struct Returns {
    /// Every message's envelope sender is `LOCAL+TAG@DOMAIN` on it.
    pub bounce: Option<lettre::Address>,
    /// `List-Unsubscribe` also carries `mailto:LOCAL+TOKEN@DOMAIN`.
    pub unsubscribe: Option<lettre::Address>,
    /// Signs the tag in the envelope sender and the Message-ID. Without
    /// one (a test send) Message-IDs are random and the envelope sender
    /// is the bare bounce address.
    pub key: Option<TagKey>,
    /// The relays whose webhooks are on: each message also carries its
    /// tag in their custom-data header, so their events name the delivery.
    pub relays: RelayTags,
}

/// Which relays' custom-data headers carry the delivery tag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayTags {
    pub ses: bool,
    pub postmark: bool,
    pub mailgun: bool,
    pub sendgrid: bool,
}

impl RelayTags {
    /// The headers that carry `tag` through the relays that are on.
    fn headers(self, tag: &str) -> Vec<(&'static str, String)> {
        let field = crate::tag::TAG_FIELD;
        let mut out = Vec::new();
        if self.ses {
            out.push(("X-SES-MESSAGE-TAGS", format!("{field}={tag}")));
        }
        if self.postmark {
            out.push(("X-PM-Metadata-digest_tag", tag.to_string()));
        }
        if self.mailgun {
            out.push(("X-Mailgun-Variables", format!("{{\"{field}\": \"{tag}\"}}")));
        }
        if self.sendgrid {
            out.push((
                "X-SMTPAPI",
                format!("{{\"unique_args\": {{\"{field}\": \"{tag}\"}}}}"),
            ));
        }
        out
    }
}

impl Returns {
    pub fn from_config(config: &crate::config::Config, key: Option<TagKey>) -> Returns {
        let w = &config.webhooks;
        Returns {
            bounce: config.inbound.bounce_address.clone(),
            unsubscribe: config.inbound.unsubscribe_address.clone(),
            key,
            relays: RelayTags {
                ses: w.ses(),
                postmark: w.postmark,
                mailgun: w.mailgun,
                sendgrid: w.sendgrid(),
            },
        }
    }
}

/// Builds every subscriber's message for one issue.
pub struct MessageFactory {
    week: IssueWeek,
    returns: Returns,
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

impl MessageFactory {
    /// Render the issue's variants (everyone, and each role) once.
    pub fn new(
        newsletter: &Newsletter,
        templates: &Templates,
        view: &IssueView,
        dkim: Option<DkimConfig>,
    ) -> anyhow::Result<MessageFactory> {
        let links = Links::new(newsletter, &view.issue.week, Some(TOKEN_PLACEHOLDER));
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
        let week: IssueWeek = view
            .issue
            .week
            .parse()
            .map_err(|e| anyhow::anyhow!("the issue's week: {e}"))?;
        Ok(MessageFactory {
            week,
            returns: Returns::default(),
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

    /// Mark every message as a test: `[TEST] ` before the subject, and
    /// no delivery tag (a test send is no delivery).
    pub fn for_testing(mut self) -> MessageFactory {
        self.subject = format!("[TEST] {}", self.subject);
        self.returns.key = None;
        self
    }

    /// Where answers about the messages go.
    pub fn with_returns(mut self, returns: Returns) -> MessageFactory {
        self.returns = returns;
        self
    }

    /// The tag of `r`'s delivery, when messages are tagged.
    fn tag(&self, r: &Recipient<'_>) -> Option<String> {
        Some(self.returns.key.as_ref()?.tag(self.week, r.id))
    }

    /// The message for one subscriber and its envelope: the sender is the
    /// tagged bounce address when there is one, else the From address.
    pub fn build_with_envelope(&self, r: &Recipient<'_>) -> anyhow::Result<(Message, Envelope)> {
        let tag = self.tag(r);
        let message = self.build(r, tag.as_deref())?;
        let mut envelope = message.envelope().clone();
        if let Some(bounce) = &self.returns.bounce {
            let sender = match &tag {
                Some(tag) => {
                    lettre::Address::new(format!("{}+{tag}", bounce.user()), bounce.domain())
                        .context("the tagged bounce address is not valid")?
                }
                None => bounce.clone(),
            };
            envelope = Envelope::new(Some(sender), envelope.to().to_vec())
                .context("the envelope is not valid")?;
        }
        Ok((message, envelope))
    }

    /// The message for one subscriber, with the delivery's tag (if any) as
    /// its Message-ID.
    fn build(&self, r: &Recipient<'_>, tag: Option<&str>) -> anyhow::Result<Message> {
        let address = r
            .email
            .parse()
            .with_context(|| format!("stored address {} is not valid", r.email))?;
        let to = Mailbox::new(r.name.map(display_name), address);
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
            .message_id(Some(match tag {
                Some(tag) => format!("<{tag}@{}>", self.domain),
                None => format!(
                    "{}{}@{}>",
                    self.message_id_prefix,
                    self.sequence
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                    self.domain
                ),
            }));
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
        let list_unsubscribe = match &self.returns.unsubscribe {
            Some(mailto) => format!(
                "{}{}>, <mailto:{}+{}@{}?subject=unsubscribe>",
                self.list_unsubscribe_prefix,
                r.token,
                mailto.user(),
                r.token,
                mailto.domain()
            ),
            None => format!("{}{}>", self.list_unsubscribe_prefix, r.token),
        };
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            list_unsubscribe,
        ));
        if let Some(tag) = tag {
            for (name, value) in self.returns.relays.headers(tag) {
                headers.insert_raw(HeaderValue::new(
                    HeaderName::new_from_ascii_str(name),
                    value,
                ));
            }
        }
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
    single(
        newsletter,
        templates,
        &ctx,
        Single {
            template: "confirm",
            to_email,
            to_name,
            subject: format!("Confirm your subscription to {}", newsletter.name),
            list_unsubscribe: None,
        },
        dkim,
    )
}

/// The latest sent issue, as the welcome email links to it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Latest {
    pub subject: String,
    /// Its web version.
    pub url: String,
}

/// The welcome email sent once a subscription is confirmed: what the
/// digest is and when it comes, the latest issue (or that the first comes
/// on Sunday), and the reader's preferences and unsubscribe links.
pub fn welcome(
    newsletter: &Newsletter,
    templates: &Templates,
    to_email: &str,
    to_name: Option<&str>,
    token: &str,
    latest: Option<&Latest>,
    dkim: Option<&DkimConfig>,
) -> anyhow::Result<Message> {
    let mut ctx = tera::Context::new();
    ctx.insert(
        "newsletter",
        &crate::render::NewsletterView::from(newsletter),
    );
    ctx.insert("name", &to_name);
    ctx.insert("latest", &latest);
    let unsubscribe_url = newsletter.public_url.unsubscribe(token);
    ctx.insert("preferences_url", &newsletter.public_url.preferences(token));
    ctx.insert("unsubscribe_url", &unsubscribe_url);
    single(
        newsletter,
        templates,
        &ctx,
        Single {
            template: "welcome",
            to_email,
            to_name,
            subject: format!("Welcome to {}", newsletter.name),
            list_unsubscribe: Some(unsubscribe_url),
        },
        dkim,
    )
}

/// What differs between the mails to one reader outside an issue.
struct Single<'a> {
    /// `confirm`: `confirm.txt` and `confirm.html`; also the Message-ID's
    /// first part.
    template: &'static str,
    to_email: &'a str,
    to_name: Option<&'a str>,
    subject: String,
    /// A one-click unsubscribe URL for the List-Unsubscribe headers.
    list_unsubscribe: Option<String>,
}

/// One mail to one reader (a confirmation, a welcome): the newsletter as
/// sender, its reply-to, a fresh Message-ID, both parts from the
/// templates, and the DKIM signature last.
fn single(
    newsletter: &Newsletter,
    templates: &Templates,
    ctx: &tera::Context,
    mail: Single<'_>,
    dkim: Option<&DkimConfig>,
) -> anyhow::Result<Message> {
    let name = mail.template;
    let text = crate::render::tidy_text(&templates.render(&format!("{name}.txt"), ctx)?);
    let html = crate::render::inline_css(&templates.render(&format!("{name}.html"), ctx)?)?;
    let html = crate::render::charset_first(&html);
    let address = mail
        .to_email
        .parse()
        .with_context(|| format!("{} is not a valid address", mail.to_email))?;
    let domain = newsletter.from.email.domain().to_ascii_lowercase();
    let mut builder = Message::builder()
        .from(newsletter.from.clone())
        .to(Mailbox::new(mail.to_name.map(display_name), address))
        .subject(mail.subject)
        .message_id(Some(format!(
            "<{name}.{}@{domain}>",
            crate::token::random_id()?
        )));
    if let Some(reply_to) = &newsletter.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    let mut message = builder
        .multipart(MultiPart::alternative_plain_html(text, html))
        .with_context(|| format!("building the {name} mail failed"))?;
    if let Some(url) = mail.list_unsubscribe {
        let headers = message.headers_mut();
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            format!("<{url}>"),
        ));
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_string(),
        ));
    }
    if let Some(dkim) = dkim {
        message.sign(dkim);
    }
    Ok(message)
}

/// A name as a `To:` display name: a control character (a line break
/// from a database edited by hand) becomes a space, so it can neither
/// break the header nor stop the message from being built.
fn display_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::qp::tests::decode_quoted_printable;
    use super::*;

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
}
