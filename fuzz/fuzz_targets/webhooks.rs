//! Any bytes as each provider's webhook body: reading it never panics,
//! every event has a bounded, single-line detail, and no signature check
//! passes for a body the fuzzer wrote (it holds none of the keys).
#![no_main]

use glossary_digest::secret::Secret;
use glossary_digest::webhook::{Event, mailgun, postmark, sendgrid, ses};
use libfuzzer_sys::fuzz_target;

fn check(events: &[Event]) {
    for e in events {
        assert!(e.detail.chars().count() <= 301, "{}", e.detail);
        assert!(!e.detail.contains(['\n', '\r']), "{}", e.detail);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = ses::parse(data) {
        let _ = m.kind();
        let _ = m.string_to_sign();
        if let Ok(url) = m.cert_url() {
            assert_eq!(url.scheme(), "https");
            assert!(url.host_str().unwrap().starts_with("sns."));
            assert!(url.port().is_none());
        }
        // Any bytes as the "certificate": never a pass.
        assert!(m.verify(data).is_err());
        if let Ok(events) = ses::events(&m.message) {
            check(&events);
        }
    }
    if let Ok(events) = postmark::events(data) {
        check(&events);
    }
    let user = Secret::new("u".into());
    let _ = postmark::authorize(std::str::from_utf8(data).ok(), &user, &user);
    if let Ok(body) = mailgun::parse(data) {
        check(&body.events());
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(body.signature.verify(&Secret::new("k".into()), now).is_err());
    }
    if let Ok(events) = sendgrid::events(data) {
        check(&events);
    }
    // A fixed P-256 point (the generator): no fuzzed signature verifies.
    let g = [
        4u8, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4,
        0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8,
        0x98, 0xc2, 0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a,
        0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40,
        0x68, 0x37, 0xbf, 0x51, 0xf5,
    ];
    let text = String::from_utf8_lossy(data);
    assert!(sendgrid::verify(&g, Some(&text), Some("1"), data).is_err());
});
