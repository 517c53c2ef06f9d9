//! Any text as `digest.toml`: parsing never panics, every problem names a
//! line inside the file, and every config that parses yields values the
//! program can use without panicking (timers that fit, links that parse,
//! an expiry chrono can hold).
#![no_main]

use std::path::Path;
use std::time::Instant;

use glossary_digest::config::Config;
use glossary_digest::send::Settings;
use glossary_digest::send::pace::{Limiter, backoff};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count().max(1);
    match Config::parse(text, Some(Path::new("site/digest.toml"))) {
        Err(e) => {
            let message = e.to_string();
            for line in message.lines().filter(|l| l.starts_with("site/digest.toml:")) {
                let n: usize = line["site/digest.toml:".len()..]
                    .split(':')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                assert!(n >= 1 && n <= lines + 1, "line {n} of {lines}: {line}");
            }
        }
        Ok(config) => {
            let settings = Settings::from_config(&config.send);
            assert!(settings.concurrency >= 1);
            if let Some(rate) = settings.rate_per_second {
                let _ = Limiter::new(rate);
            }
            for attempt in 1..=settings.max_attempts {
                let _ = Instant::now() + backoff(settings.retry_base, attempt);
            }
            let _ = Instant::now() + config.smtp.timeout;
            let _ = config.serve.confirm_expiry();
            for link in [
                config.newsletter.public_url.unsubscribe("x"),
                config.newsletter.public_url.archive_issue("2026-W48"),
                config.newsletter.site_url.home(),
            ] {
                assert!(url::Url::parse(&link).is_ok(), "{link}");
            }
            assert!(config.newsletter.list_id.contains('.'));
            let _ = glossary_digest::transport::smtp::Smtp::from_config(&config);
            // Never empty, every name its own, every rate usable.
            assert!(!config.relays.is_empty());
            for (i, relay) in config.relays.iter().enumerate() {
                assert!(config.relays[..i].iter().all(|r| r.name != relay.name));
                assert!(relay.concurrency >= 1);
                if let Some(rate) = relay.rate_per_second {
                    let _ = Limiter::new(rate);
                }
                let _ = Instant::now() + relay.timeout;
                let _ = glossary_digest::transport::smtp::Smtp::new(relay);
            }
        }
    }
});
