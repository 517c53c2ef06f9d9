//! Delivery tags: the name of one delivery (issue and subscriber) that only
//! this list can write.
//!
//! A bounce or a complaint arrives days after the send, from a machine that
//! quotes back whatever the message carried. The tag is what it quotes: it
//! is the VERP part of the envelope sender (`bounces+TAG@…`) and the local
//! part of the Message-ID, so a DSN sent to the tagged address, or one that
//! returns the original headers, names the delivery it is about.
//!
//! A tag is `2026w48-1234-MAC`: the week, the subscriber id, and 80 bits of
//! HMAC-SHA256 over both under a key generated once and kept in the
//! database. Without the key nobody can write a tag that verifies, so a
//! forged bounce cannot mark someone else's address dead. Only lower-case
//! letters, digits and `-` are used: some receivers lower-case the address
//! they reply to.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::week::IssueWeek;

/// The name of the custom field that carries a delivery's tag through a
/// provider and back (`X-PM-Metadata-digest_tag`, `X-Mailgun-Variables`,
/// SendGrid unique args, SES message tags).
pub const TAG_FIELD: &str = "digest_tag";

/// How many bytes of the HMAC a tag keeps (80 bits).
const MAC_BYTES: usize = 10;
/// The same in base32 characters.
const MAC_CHARS: usize = 16;

/// The delivery a verified tag names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryTag {
    pub week: IssueWeek,
    pub subscriber: i64,
}

/// The key that signs tags. Prints as `TagKey(***)`.
#[derive(Clone)]
pub struct TagKey([u8; 32]);

impl fmt::Debug for TagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TagKey(***)")
    }
}

impl TagKey {
    /// A fresh key from the OS random source.
    pub fn generate() -> anyhow::Result<TagKey> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
        Ok(TagKey(key))
    }

    /// A key read back from the database; `None` unless it is 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<TagKey> {
        Some(TagKey(bytes.try_into().ok()?))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn mac(&self, week: IssueWeek, subscriber: i64) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("any key length");
        mac.update(format!("delivery:{week}:{subscriber}").as_bytes());
        mac
    }

    /// The tag of one delivery.
    pub fn tag(&self, week: IssueWeek, subscriber: i64) -> String {
        let mac = self.mac(week, subscriber).finalize().into_bytes();
        format!(
            "{}w{:02}-{subscriber}-{}",
            week.year(),
            week.week(),
            base32(&mac[..MAC_BYTES])
        )
    }

    /// The delivery `tag` names, if this key wrote it. Case does not
    /// matter; anything else that differs does.
    pub fn verify(&self, tag: &str) -> Option<DeliveryTag> {
        let tag = tag.trim().to_ascii_lowercase();
        let mut parts = tag.split('-');
        let (week, id, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let (year, w) = week.split_once('w')?;
        if year.len() != 4 || w.len() != 2 || id.is_empty() || id.len() > 18 {
            return None;
        }
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(year) || !all_digits(w) || !all_digits(id) || id.starts_with('0') {
            return None;
        }
        let week = IssueWeek::new(year.parse().ok()?, w.parse().ok()?)?;
        let subscriber: i64 = id.parse().ok()?;
        if mac.len() != MAC_CHARS {
            return None;
        }
        let claimed = unbase32(mac)?;
        if claimed.len() != MAC_BYTES {
            return None;
        }
        self.mac(week, subscriber)
            .verify_truncated_left(&claimed)
            .ok()?;
        Some(DeliveryTag { week, subscriber })
    }
}

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// RFC 4648 base32, lower case, without padding.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

fn unbase32(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = BASE32.iter().position(|&a| a == c)? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> TagKey {
        TagKey([b; 32])
    }

    #[test]
    fn a_tag_names_its_delivery_and_only_its_key_verifies_it() {
        let week: IssueWeek = "2026-W48".parse().unwrap();
        let tag = key(1).tag(week, 1234);
        assert!(tag.starts_with("2026w48-1234-"), "{tag}");
        assert_eq!(tag.len(), "2026w48-1234-".len() + 16);
        assert!(
            tag.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        );
        let named = DeliveryTag {
            week,
            subscriber: 1234,
        };
        assert_eq!(key(1).verify(&tag), Some(named));
        assert_eq!(key(1).verify(&tag.to_ascii_uppercase()), Some(named));
        assert_eq!(key(2).verify(&tag), None);
    }

    #[test]
    fn tampered_tags_do_not_verify() {
        let k = key(7);
        let week: IssueWeek = "2026-W47".parse().unwrap();
        let tag = k.tag(week, 5);
        let mac = tag.rsplit('-').next().unwrap();
        let cases = [
            format!("2026w47-6-{mac}"),
            format!("2026w48-5-{mac}"),
            format!("2026w47-05-{mac}"),
            format!("2026w47-5-{}", &mac[..15]),
            format!("2026w47-5-{mac}a"),
            format!("2026w47-5-{mac}-x"),
            format!("2026w99-5-{mac}"),
            "2026w47-5-".into(),
            "garbage".into(),
            String::new(),
            "2026w47--aaaaaaaaaaaaaaaa".into(),
            "2026w47-99999999999999999999-aaaaaaaaaaaaaaaa".into(),
        ];
        for case in cases {
            assert_eq!(k.verify(&case), None, "{case}");
        }
    }

    #[test]
    fn base32_round_trips() {
        for n in 0..20u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(unbase32(&base32(&bytes)).unwrap(), bytes);
        }
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
    }

    #[test]
    fn the_key_is_not_printed() {
        assert_eq!(format!("{:?}", key(9)), "TagKey(***)");
    }
}
