//! Hearing back from inbound mail: one message in, at most one change to
//! the list out.
//!
//! [`classify`](crate::classify) reads the message; this finds the delivery
//! it is about and records it through the store: a DSN by the VERP tag in
//! the address it was sent to, else by the returned Message-ID together
//! with the `Final-Recipient`; a complaint by the tag or by the returned
//! headers (Message-ID, `List-Unsubscribe` token); a mailto unsubscribe by
//! its token. Tags are verified against the database's key and tokens
//! looked up on the list, so nothing changes for a message that names
//! nobody of ours. What is not applied is kept: [`keep`] saves it under
//! `[paths] inbound`, named by its hash, so the same message is kept once.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};

use crate::classify::{Addresses, DsnRecipient, Kind, Reading, Severity, classify};
use crate::config::Inbound as InboundConfig;
use crate::store::{BounceKind, Bounced, Complained, How, Store, Subscriber, UnsubscribeOutcome};
use crate::tag::TagKey;
use crate::timestamp::Timestamp;
use crate::week::IssueWeek;

/// What the digest needs to read inbound mail.
#[derive(Debug, Clone)]
pub struct Hearing {
    pub addresses: Addresses,
    pub key: TagKey,
    pub soft_bounce_limit: u32,
}

impl Hearing {
    pub fn new(config: &InboundConfig, key: TagKey) -> Hearing {
        let split = |a: &Option<lettre::Address>| Addresses::split(a.as_ref()?.as_ref());
        Hearing {
            addresses: Addresses {
                bounce: split(&config.bounce_address),
                unsubscribe: split(&config.unsubscribe_address),
            },
            key,
            soft_bounce_limit: config.soft_bounce_limit,
        }
    }
}

/// What one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    Bounce {
        email: String,
        week: IssueWeek,
        kind: BounceKind,
        reply: String,
        result: Bounced,
        limit: u32,
    },
    Complaint {
        email: String,
        week: Option<IssueWeek>,
        result: Complained,
    },
    Unsubscribe {
        email: String,
        result: UnsubscribeOutcome,
    },
    /// Not ours to apply, and why.
    NotApplied(String),
}

impl Heard {
    /// One line for the operator (and the MTA's log).
    pub fn line(&self) -> String {
        match self {
            Heard::Bounce {
                email,
                week,
                kind,
                reply,
                result,
                limit,
            } => {
                let what = match kind {
                    BounceKind::Hard => "hard bounce".to_string(),
                    BounceKind::Soft => "soft bounce".to_string(),
                    BounceKind::Event(action) => format!("{action} notice"),
                };
                match result {
                    Bounced::Repeat => format!("already recorded: {what}: {email} ({week})"),
                    Bounced::Recorded {
                        soft_in_a_row,
                        now_bounced,
                    } => {
                        let tail = match (kind, now_bounced) {
                            (BounceKind::Soft, true) => {
                                format!(" [{soft_in_a_row} issues in a row: now bounced]")
                            }
                            (BounceKind::Soft, false) => {
                                format!(" [{soft_in_a_row} of {limit} issues in a row]")
                            }
                            (BounceKind::Event(_), _) => " [recorded, not counted]".into(),
                            (_, true) => " [now bounced]".into(),
                            (_, false) => String::new(),
                        };
                        format!("{what}: {email} ({week}): {reply}{tail}")
                    }
                }
            }
            Heard::Complaint {
                email,
                week,
                result,
            } => {
                let week = week.map(|w| format!(" ({w})")).unwrap_or_default();
                match result {
                    Complained::Unsubscribed => format!("complaint: {email}{week}: unsubscribed"),
                    Complained::AlreadyGone => {
                        format!("complaint: {email}{week}: had unsubscribed already")
                    }
                    Complained::Repeat => format!("already recorded: complaint: {email}{week}"),
                }
            }
            Heard::Unsubscribe { email, result } => match result {
                UnsubscribeOutcome::AlreadyUnsubscribed => {
                    format!("already unsubscribed: {email} (mailto)")
                }
                _ => format!("unsubscribe: {email} (mailto)"),
            },
            Heard::NotApplied(reason) => format!("kept: {reason}"),
        }
    }
}

/// Read `raw` and apply what it says, each change in one transaction.
/// `envelope`: recipients the MTA passed beside the message.
pub fn hear(
    store: &mut Store,
    hearing: &Hearing,
    raw: &[u8],
    envelope: &[String],
    now: Timestamp,
) -> anyhow::Result<Heard> {
    let reading = classify(raw, &hearing.addresses, envelope);
    apply(store, hearing, &reading, now)
}

fn apply(
    store: &mut Store,
    hearing: &Hearing,
    reading: &Reading,
    now: Timestamp,
) -> anyhow::Result<Heard> {
    match &reading.kind {
        Kind::Unsubscribe { token } => {
            let Some(sub) = store.subscriber_by_token_any_case(token)? else {
                return Ok(Heard::NotApplied(
                    "a mailto unsubscribe with a token that is not on the list".into(),
                ));
            };
            let result = store.unsubscribe_id(sub.id, How::Mailto, now)?;
            Ok(Heard::Unsubscribe {
                email: sub.email,
                result,
            })
        }
        Kind::Dsn(recipients) => {
            let Some((sub, week)) = dsn_delivery(store, &hearing.key, reading, recipients)? else {
                return Ok(Heard::NotApplied(
                    "a delivery report about no delivery of ours (no valid tag, or a Message-ID and recipient that do not match)"
                        .into(),
                ));
            };
            let entry = pick(recipients, &sub.email);
            let kind = match entry.severity() {
                Severity::Hard => BounceKind::Hard,
                Severity::Soft => BounceKind::Soft,
                Severity::Event(action) => BounceKind::Event(action.as_str()),
            };
            let reply = entry.reply();
            let result =
                store.record_bounce(sub.id, week, kind, &reply, hearing.soft_bounce_limit, now)?;
            Ok(Heard::Bounce {
                email: sub.email,
                week,
                kind,
                reply,
                result,
                limit: hearing.soft_bounce_limit,
            })
        }
        Kind::Complaint { feedback_type } => {
            let Some((sub, week)) = complaint_subscriber(store, &hearing.key, reading)? else {
                return Ok(Heard::NotApplied(
                    "a spam complaint about no delivery of ours (no valid tag, Message-ID or token)"
                        .into(),
                ));
            };
            let detail = format!("Feedback-Type: {feedback_type}");
            let result = store.record_complaint(sub.id, week, &detail, now)?;
            Ok(Heard::Complaint {
                email: sub.email,
                week,
                result,
            })
        }
        Kind::Other(reason) => Ok(Heard::NotApplied(if reason.is_empty() {
            "not a bounce, complaint or unsubscribe".into()
        } else {
            reason.clone()
        })),
    }
}

/// The delivery a DSN is about: by a verified tag in an address, else by a
/// verified tag in the returned Message-ID whose subscriber is one of the
/// reported recipients.
fn dsn_delivery(
    store: &Store,
    key: &TagKey,
    reading: &Reading,
    recipients: &[DsnRecipient],
) -> anyhow::Result<Option<(Subscriber, IssueWeek)>> {
    if let Some(found) = tagged(store, key, &reading.address_tags)? {
        return Ok(Some(found));
    }
    for tag in &reading.message_id_tags {
        if let Some((sub, week)) = tagged(store, key, std::slice::from_ref(tag))?
            && recipients.iter().any(|r| reports(r, &sub.email))
        {
            return Ok(Some((sub, week)));
        }
    }
    Ok(None)
}

/// The subscriber a complaint is about, and the issue when it is known.
fn complaint_subscriber(
    store: &Store,
    key: &TagKey,
    reading: &Reading,
) -> anyhow::Result<Option<(Subscriber, Option<IssueWeek>)>> {
    if let Some((sub, week)) = tagged(store, key, &reading.address_tags)? {
        return Ok(Some((sub, Some(week))));
    }
    if let Some((sub, week)) = tagged(store, key, &reading.message_id_tags)? {
        return Ok(Some((sub, Some(week))));
    }
    for token in &reading.returned_tokens {
        if let Some(sub) = store.subscriber_by_token(token)? {
            return Ok(Some((sub, None)));
        }
    }
    Ok(None)
}

/// The first of `tags` that verifies and names a delivery that exists.
fn tagged(
    store: &Store,
    key: &TagKey,
    tags: &[String],
) -> anyhow::Result<Option<(Subscriber, IssueWeek)>> {
    for tag in tags {
        if let Some(t) = key.verify(tag)
            && let Some(sub) = store.delivery_subscriber(t.week, t.subscriber)?
        {
            return Ok(Some((sub, t.week)));
        }
    }
    Ok(None)
}

fn reports(r: &DsnRecipient, email: &str) -> bool {
    [&r.final_recipient, &r.original_recipient]
        .into_iter()
        .flatten()
        .any(|a| a.eq_ignore_ascii_case(email))
}

/// The recipient entry about `email`, else the first that failed, else
/// the first.
fn pick<'a>(recipients: &'a [DsnRecipient], email: &str) -> &'a DsnRecipient {
    recipients
        .iter()
        .find(|r| reports(r, email))
        .or_else(|| {
            recipients
                .iter()
                .find(|r| matches!(r.severity(), Severity::Hard | Severity::Soft))
        })
        .unwrap_or(&recipients[0])
}

/// Where a kept message went, and whether it was there already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub path: PathBuf,
    pub already: bool,
}

/// Save `raw` under `dir` as `HASH.eml`, durably (the MTA deletes its
/// copy once we exit 0). The same message twice is one file.
pub fn keep(dir: &Path, raw: &[u8]) -> anyhow::Result<Kept> {
    let hash = Sha256::digest(raw);
    let name: String = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("{name}.eml"));
    if path.exists() {
        return Ok(Kept {
            path,
            already: true,
        });
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the inbound folder {}", dir.display()))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(raw)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot save the message as {}", path.display()));
    }
    Ok(Kept {
        path,
        already: false,
    })
}

/// How many messages of each kind a run applied, for its summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub messages: u64,
    pub hard: u64,
    pub soft: u64,
    pub notices: u64,
    pub complaints: u64,
    pub unsubscribes: u64,
    pub repeats: u64,
    pub kept: u64,
}

impl Tally {
    pub fn add(&mut self, heard: &Heard) {
        self.messages += 1;
        match heard {
            Heard::Bounce {
                result: Bounced::Repeat,
                ..
            }
            | Heard::Complaint {
                result: Complained::Repeat,
                ..
            } => self.repeats += 1,
            Heard::Bounce { kind, .. } => match kind {
                BounceKind::Hard => self.hard += 1,
                BounceKind::Soft => self.soft += 1,
                BounceKind::Event(_) => self.notices += 1,
            },
            Heard::Complaint { .. } => self.complaints += 1,
            Heard::Unsubscribe {
                result: UnsubscribeOutcome::AlreadyUnsubscribed,
                ..
            } => self.repeats += 1,
            Heard::Unsubscribe { .. } => self.unsubscribes += 1,
            Heard::NotApplied(_) => self.kept += 1,
        }
    }

    /// `12 messages: 9 bounces (7 hard), 1 complaint, 1 unsubscribe, 1 kept`.
    pub fn summary(&self) -> String {
        let n = |count: u64, one: &str, many: &str| {
            format!("{count} {}", if count == 1 { one } else { many })
        };
        let mut parts = vec![
            format!(
                "{} ({} hard)",
                n(self.hard + self.soft, "bounce", "bounces"),
                self.hard
            ),
            n(self.complaints, "complaint", "complaints"),
            n(self.unsubscribes, "unsubscribe", "unsubscribes"),
        ];
        if self.notices > 0 {
            parts.push(n(self.notices, "delivery notice", "delivery notices"));
        }
        if self.repeats > 0 {
            parts.push(format!("{} already recorded", self.repeats));
        }
        parts.push(format!("{} kept", self.kept));
        format!(
            "{}: {}",
            n(self.messages, "message", "messages"),
            parts.join(", ")
        )
    }
}
