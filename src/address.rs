//! A subscriber's address and name, parsed once at the edge.
//!
//! Everything inside the program takes these types, so an address that was
//! never validated cannot reach the database or an email header. lettre's
//! `Address` does the RFC 5321/5322 work (quoted local parts, internationalised
//! domains); on top of it we require what a deliverable newsletter address
//! needs: a dotted domain name, no trailing dot, at most 254 characters.

use std::fmt;

use lettre::Address;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscriberEmail(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    #[error("the address is empty")]
    Empty,
    #[error("`{0}` is longer than 254 characters")]
    TooLong(String),
    #[error("`{0}` is not an email address: {1}")]
    Invalid(String, &'static str),
}

impl SubscriberEmail {
    pub fn parse(input: &str) -> Result<SubscriberEmail, AddressError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        let shown = || {
            let mut short: String = s.chars().take(80).collect();
            if short.len() < s.len() {
                short.push('…');
            }
            short.escape_debug().to_string()
        };
        if s.chars().count() > 254 {
            return Err(AddressError::TooLong(shown()));
        }
        if s.chars().any(|c| c.is_control()) {
            return Err(AddressError::Invalid(
                shown(),
                "it contains a control character",
            ));
        }
        let (user, domain) = s
            .rsplit_once('@')
            .ok_or_else(|| AddressError::Invalid(shown(), "there is no @"))?;
        if domain.ends_with('.') {
            return Err(AddressError::Invalid(shown(), "the domain ends with a dot"));
        }
        if domain.starts_with('[') {
            return Err(AddressError::Invalid(
                shown(),
                "use a domain name, not an IP address",
            ));
        }
        if !domain.contains('.') {
            return Err(AddressError::Invalid(
                shown(),
                "the domain has no dot (expected something like example.com)",
            ));
        }
        let domain = domain.to_lowercase();
        Address::new(user, &domain).map_err(|e| {
            let why = match e {
                lettre::address::AddressError::InvalidUser => "the part before @ is not valid",
                lettre::address::AddressError::InvalidDomain => "the domain is not valid",
                _ => "it is not a valid address",
            };
            AddressError::Invalid(shown(), why)
        })?;
        Ok(SubscriberEmail(format!("{user}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key that makes addresses unique: the whole address lower-cased.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// Wrap an address read back from the database (validated on the way in).
    pub fn from_stored(s: String) -> SubscriberEmail {
        SubscriberEmail(s)
    }
}

impl fmt::Display for SubscriberEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An optional display name: at most 100 characters, trimmed, no control
/// characters (names go into the `To` header), and not starting with a
/// character a spreadsheet would run as a formula.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberName(String);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("the name is longer than 100 characters")]
    TooLong,
    #[error(
        "the name contains a control character (such as a line break); names go into email headers"
    )]
    Control,
    #[error("the name starts with `{0}`, which a spreadsheet would run as a formula; remove it")]
    Formula(char),
}

impl SubscriberName {
    /// `Ok(None)` for an empty or blank name.
    pub fn parse(input: &str) -> Result<Option<SubscriberName>, NameError> {
        if input.chars().any(|c| c.is_control() && c != ' ') {
            return Err(NameError::Control);
        }
        let s = input.trim();
        if s.is_empty() {
            return Ok(None);
        }
        if s.chars().count() > 100 {
            return Err(NameError::TooLong);
        }
        if let Some(c) = s
            .chars()
            .next()
            .filter(|c| matches!(c, '=' | '+' | '-' | '@'))
        {
            return Err(NameError::Formula(c));
        }
        Ok(Some(SubscriberName(s.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_or_say_why_not() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("ada@example.com", Ok("ada@example.com")),
            (
                "  Ada.Lovelace@Example.COM ",
                Ok("Ada.Lovelace@example.com"),
            ),
            (
                "user+tag@sub.example.co.uk",
                Ok("user+tag@sub.example.co.uk"),
            ),
            ("jörg@bücher.example", Ok("jörg@bücher.example")),
            ("info@BÜCHER.example", Ok("info@bücher.example")),
            ("\"john doe\"@example.com", Ok("\"john doe\"@example.com")),
            ("", Err("empty")),
            ("   ", Err("empty")),
            ("ada", Err("there is no @")),
            ("a@b", Err("the domain has no dot")),
            ("ada@example.com.", Err("the domain ends with a dot")),
            ("ada@[127.0.0.1]", Err("not an IP address")),
            ("ada@exa mple.com", Err("the domain is not valid")),
            ("a da@example.com", Err("the part before @ is not valid")),
            ("ada@example.com\r\nBcc: x@y.z", Err("control character")),
            ("@example.com", Err("the part before @ is not valid")),
        ];
        for (input, expected) in cases {
            let got = SubscriberEmail::parse(input);
            match (expected, &got) {
                (Ok(want), Ok(email)) => assert_eq!(email.as_str(), *want, "{input:?}"),
                (Err(why), Err(e)) => assert!(e.to_string().contains(why), "{input:?}: {e}"),
                _ => panic!("{input:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn long_addresses_are_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(matches!(
            SubscriberEmail::parse(&long),
            Err(AddressError::TooLong(_))
        ));
    }

    #[test]
    fn uniqueness_ignores_case_on_the_whole_address() {
        let a = SubscriberEmail::parse("Ada@Example.com").unwrap();
        let b = SubscriberEmail::parse("ada@example.COM").unwrap();
        assert_eq!(a.key(), b.key());
    }

    #[test]
    fn names_parse_or_say_why_not() {
        let cases: &[(&str, Result<Option<&str>, NameError>)] = &[
            ("Ada Lovelace", Ok(Some("Ada Lovelace"))),
            ("  Ada  ", Ok(Some("Ada"))),
            ("", Ok(None)),
            ("   ", Ok(None)),
            ("Zoë O'Brien-Smith", Ok(Some("Zoë O'Brien-Smith"))),
            ("Ada\r\nBcc: evil@example.com", Err(NameError::Control)),
            ("Ada\0", Err(NameError::Control)),
            ("Ada\tL", Err(NameError::Control)),
            ("=cmd|' /C calc'!A0", Err(NameError::Formula('='))),
            ("+1 555", Err(NameError::Formula('+'))),
            ("-x", Err(NameError::Formula('-'))),
            ("@home", Err(NameError::Formula('@'))),
        ];
        for (input, expected) in cases {
            let got = SubscriberName::parse(input);
            let got = got.map(|n| n.map(|n| n.as_str().to_string()));
            let expected = expected.clone().map(|n| n.map(str::to_string));
            assert_eq!(got, expected, "{input:?}");
        }
        assert_eq!(
            SubscriberName::parse(&"x".repeat(101)),
            Err(NameError::TooLong)
        );
        assert!(SubscriberName::parse(&"x".repeat(100)).is_ok());
    }
}
