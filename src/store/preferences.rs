//! What a reader chooses on their preferences page: a role, a time zone, a
//! pause; and why they left, when they say.
//!
//! The values are checked here, once, so that the web form, the CLI and an
//! import all store the same few forms (a role from its list, an IANA zone
//! name, a pause as the date it ends).

use chrono::NaiveDate;
use rusqlite::params;

use super::Store;
use super::subscribers::{Subscriber, select_subscriber};
use crate::role::Role;

/// How long a reader pauses the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// Resume (or stay) receiving it.
    None,
    Weeks(u8),
}

impl Pause {
    /// The choices the form offers: `none`, `1`, `4` or `12` (weeks).
    pub fn parse(s: &str) -> Result<Pause, String> {
        match s.trim() {
            "none" | "" => Ok(Pause::None),
            "1" => Ok(Pause::Weeks(1)),
            "4" => Ok(Pause::Weeks(4)),
            "12" => Ok(Pause::Weeks(12)),
            other => Err(format!(
                "`{other}` is not a pause: choose none, 1, 4 or 12 (weeks)"
            )),
        }
    }

    /// The day the pause ends, counted from `today`; none to resume.
    pub fn until(self, today: NaiveDate) -> Option<NaiveDate> {
        match self {
            Pause::None => None,
            Pause::Weeks(n) => today.checked_add_days(chrono::Days::new(7 * u64::from(n))),
        }
    }
}

/// Why a reader leaves: one of a short list, and their own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub code: &'static str,
    pub text: Option<String>,
}

/// The reasons the unsubscribe page offers, with their labels.
pub const REASONS: [(&str, &str); 5] = [
    ("not-relevant", "It is not relevant to my work"),
    ("too-long", "It takes too long to read"),
    ("too-often", "I get too much email"),
    ("never-signed-up", "I never signed up"),
    ("other", "Something else"),
];

/// The longest reason text kept, in characters.
pub const REASON_TEXT_MAX: usize = 500;

impl Reason {
    /// `code` from [`REASONS`] (or empty: no reason), `text` free, at most
    /// [`REASON_TEXT_MAX`] characters; control characters become spaces.
    pub fn parse(code: &str, text: &str) -> Result<Option<Reason>, String> {
        let text = text.trim();
        if text.chars().count() > REASON_TEXT_MAX {
            return Err(format!(
                "the reason is {} characters long; at most {REASON_TEXT_MAX} are kept",
                text.chars().count()
            ));
        }
        let text: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let code = code.trim();
        let found = REASONS.iter().find(|(c, _)| *c == code).map(|(c, _)| *c);
        match (found, code.is_empty()) {
            (Some(code), _) => Ok(Some(Reason {
                code,
                text: Some(text).filter(|t| !t.is_empty()),
            })),
            (None, true) if text.is_empty() => Ok(None),
            (None, true) => Ok(Some(Reason {
                code: "other",
                text: Some(text),
            })),
            (None, false) => Err(format!("`{code}` is not one of the reasons offered")),
        }
    }

    /// As stored and shown: `too-long` or `other: their words`.
    pub fn stored(&self) -> String {
        match &self.text {
            Some(text) => format!("{}: {text}", self.code),
            None => self.code.to_string(),
        }
    }
}

/// Everything the preferences form sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub role: Option<Role>,
    /// A valid IANA name; none: the newsletter's zone.
    pub timezone: Option<chrono_tz::Tz>,
    pub paused_until: Option<NaiveDate>,
}

impl Store {
    /// Save a reader's preferences by their token; the subscriber as it is
    /// now, or `None` for an unknown token.
    pub fn set_preferences(
        &mut self,
        token: &str,
        prefs: &Preferences,
    ) -> anyhow::Result<Option<Subscriber>> {
        let changed = self.conn.execute(
            "UPDATE subscribers SET role = ?2, timezone = ?3, paused_until = ?4 WHERE token = ?1",
            params![
                token,
                prefs.role,
                prefs.timezone.map(|tz| tz.name().to_string()),
                prefs.paused_until.map(|d| d.to_string()),
            ],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        select_subscriber(&self.conn, "token = ?1", token)
    }

    /// `digest subscribe EMAIL --timezone ZONE`.
    pub fn set_timezone(
        &mut self,
        email: &crate::address::SubscriberEmail,
        zone: chrono_tz::Tz,
    ) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE subscribers SET timezone = ?2 WHERE email_key = ?1",
            params![email.key(), zone.name()],
        )?;
        Ok(())
    }

    /// Keep why the reader with `token` left.
    pub fn set_unsubscribe_reason(&mut self, token: &str, reason: &Reason) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE subscribers SET unsubscribe_reason = ?2 WHERE token = ?1",
            params![token, reason.stored()],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::SubscriberEmail;
    use crate::select::Selection;

    fn frozen(store: &mut Store, week: &str) -> u64 {
        let selection = Selection {
            week: week.parse().unwrap(),
            featured: "tokens".into(),
            new_terms: vec![],
        };
        let now = "2026-12-01T12:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap();
        store
            .freeze(&selection, "Subject", now.into())
            .unwrap()
            .queued_now
    }

    #[test]
    fn a_paused_reader_is_not_queued_before_the_pause_ends_and_is_after() {
        let mut store = Store::in_memory().unwrap();
        let now = "2026-12-01T12:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap();
        for who in ["ada@example.com", "bob@example.com"] {
            let e = SubscriberEmail::parse(who).unwrap();
            store.subscribe(&e, None, None, false, now.into()).unwrap();
        }
        let ada = store
            .subscriber_by_email(&SubscriberEmail::parse("ada@example.com").unwrap())
            .unwrap()
            .unwrap();
        // Paused on Wednesday 2026-12-02 for one week: until 2026-12-09.
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let prefs = Preferences {
            role: Some(Role::Executive),
            timezone: Some(chrono_tz::Tz::Europe__Paris),
            paused_until: Pause::Weeks(1).until(today),
        };
        let saved = store
            .set_preferences(ada.token.as_str(), &prefs)
            .unwrap()
            .unwrap();
        assert_eq!(saved.paused_until.as_deref(), Some("2026-12-09"));
        assert_eq!(saved.timezone.as_deref(), Some("Europe/Paris"));
        assert_eq!(saved.role, Some(Role::Executive));
        // The issue of Sunday 2026-12-06 skips her; that of 12-13 does not.
        assert_eq!(frozen(&mut store, "2026-W49"), 1);
        assert_eq!(frozen(&mut store, "2026-W50"), 2);
        // Resuming clears the pause.
        let resumed = Preferences {
            paused_until: Pause::None.until(today),
            ..prefs
        };
        let saved = store
            .set_preferences(ada.token.as_str(), &resumed)
            .unwrap()
            .unwrap();
        assert_eq!(saved.paused_until, None);
        assert!(
            store
                .set_preferences("no-such-token", &resumed)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn pauses_are_the_offered_choices_and_end_whole_weeks_later() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let cases = [
            ("none", Some(None)),
            ("1", Some(Some("2026-12-09"))),
            ("4", Some(Some("2026-12-30"))),
            ("12", Some(Some("2027-02-24"))),
            ("2", None),
            ("forever", None),
        ];
        for (input, expected) in cases {
            let got = Pause::parse(input)
                .ok()
                .map(|p| p.until(today).map(|d| d.to_string()));
            assert_eq!(got, expected.map(|e| e.map(String::from)), "{input}");
        }
    }

    #[test]
    fn reasons_are_from_the_list_with_at_most_500_characters_of_text() {
        let long = "x".repeat(REASON_TEXT_MAX + 1);
        type Expected<'a> = Result<Option<&'a str>, &'a str>;
        let cases: [(&str, &str, Expected); 6] = [
            ("too-long", "", Ok(Some("too-long"))),
            ("other", "moved\r\nto RSS", Ok(Some("other: moved  to RSS"))),
            ("", "", Ok(None)),
            ("", "just words", Ok(Some("other: just words"))),
            ("spam", "", Err("not one of the reasons")),
            ("other", &long, Err("at most 500")),
        ];
        for (code, text, expected) in cases {
            match (Reason::parse(code, text), expected) {
                (Ok(got), Ok(want)) => {
                    assert_eq!(got.map(|r| r.stored()).as_deref(), want, "{code}")
                }
                (Err(e), Err(want)) => assert!(e.contains(want), "{code}: {e}"),
                (got, want) => panic!("{code}: {got:?} vs {want:?}"),
            }
        }
    }
}
