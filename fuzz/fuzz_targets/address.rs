//! Any string as an address or a name: parsing never panics, a parsed
//! address is stable and fits in an email header, and a parsed name has no
//! control character and cannot start a spreadsheet formula.
#![no_main]

use glossary_digest::address::{SubscriberEmail, SubscriberName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(email) = SubscriberEmail::parse(s) {
        assert!(email.as_str().chars().count() <= 254);
        assert!(!email.as_str().chars().any(char::is_control));
        assert_eq!(SubscriberEmail::parse(email.as_str()).unwrap(), email);
        assert!(email.as_str().parse::<lettre::Address>().is_ok() || !email.as_str().is_ascii());
    }
    if let Ok(Some(name)) = SubscriberName::parse(s) {
        let n = name.as_str();
        assert!(n.chars().count() <= 100);
        assert!(!n.chars().any(char::is_control));
        assert!(!n.starts_with(['=', '+', '-', '@']));
        assert_eq!(n, n.trim());
    }
});
