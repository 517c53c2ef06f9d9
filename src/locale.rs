//! The newsletter's locale: how dates are written and the `lang` the email
//! declares, so that screen readers pronounce it and clients hyphenate it
//! the way its readers expect.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

/// `[newsletter] locale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    /// "Sunday, November 29, 2026".
    #[default]
    EnUs,
    /// "Sunday, 29 November 2026".
    EnGb,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::EnUs, Locale::EnGb];

    /// The BCP 47 tag, as in `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::EnUs => "en-US",
            Locale::EnGb => "en-GB",
        }
    }

    /// A date written out in full, weekday first.
    pub fn date_long(self, date: NaiveDate) -> String {
        let format = match self {
            Locale::EnUs => "%A, %B %-d, %Y",
            Locale::EnGb => "%A, %-d %B %Y",
        };
        date.format(format).to_string()
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl FromStr for Locale {
    type Err = String;

    /// Case and `_` or `-` do not matter: `en_gb` is `en-GB`.
    fn from_str(s: &str) -> Result<Locale, String> {
        let wanted = s.trim().replace('_', "-");
        Locale::ALL
            .into_iter()
            .find(|l| l.tag().eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| {
                let known: Vec<String> = Locale::ALL.iter().map(|l| format!("\"{l}\"")).collect();
                format!(
                    "not a locale the digest knows; use one of {}",
                    known.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_parse_and_write_dates_their_way() {
        let sunday = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let cases = [
            ("en-US", "Sunday, November 29, 2026"),
            ("en-GB", "Sunday, 29 November 2026"),
            (" en_gb ", "Sunday, 29 November 2026"),
            ("EN-us", "Sunday, November 29, 2026"),
        ];
        for (input, expected) in cases {
            let locale: Locale = input.parse().unwrap();
            assert_eq!(locale.date_long(sunday), expected, "{input}");
        }
        let err = "fr-FR".parse::<Locale>().unwrap_err();
        assert!(err.contains("\"en-US\", \"en-GB\""), "{err}");
        assert_eq!(Locale::default().tag(), "en-US");
    }
}
