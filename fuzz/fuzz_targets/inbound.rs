//! Any bytes as an inbound message: reading never panics, and nothing
//! changes a subscriber without a valid tag or token.
//!
//! The list holds one active reader who was sent an issue; the tag key
//! and the reader's token are random for each fuzzing process. A message
//! that carries neither must be left unapplied, and the reader must stay
//! active with no event. libFuzzer can learn a secret from the comparisons
//! it traces (SQLite's `memcmp` while it looks a token up) and write it into
//! an input; such a message may rightly be applied, so it is let through
//! and the world is built afresh, with new secrets.
#![no_main]

use std::sync::{LazyLock, Mutex};

use glossary_digest::address::SubscriberEmail;
use glossary_digest::classify::Addresses;
use glossary_digest::inbound::{Heard, Hearing, hear};
use glossary_digest::select::Selection;
use glossary_digest::status::Status;
use glossary_digest::store::Store;
use glossary_digest::tag::TagKey;
use glossary_digest::timestamp::Timestamp;
use libfuzzer_sys::fuzz_target;

struct World {
    store: Store,
    hearing: Hearing,
    reader: SubscriberEmail,
}

static WORLD: LazyLock<Mutex<World>> = LazyLock::new(|| Mutex::new(World::new()));

impl World {
    fn new() -> World {
        let now: Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
        let mut store = Store::in_memory().unwrap();
        let reader = SubscriberEmail::parse("ada@example.com").unwrap();
        store.subscribe(&reader, None, None, false, now).unwrap();
        let selection = Selection {
            week: "2026-W48".parse().unwrap(),
            featured: "tokens".into(),
            new_terms: Vec::new(),
        };
        store.freeze(&selection, "subject", now).unwrap();
        let hearing = Hearing {
            addresses: Addresses {
                bounce: Addresses::split("bounces@news.example.com"),
                unsubscribe: Addresses::split("unsubscribe@news.example.com"),
            },
            key: TagKey::generate().unwrap(),
            soft_bounce_limit: 1,
        };
        World {
            store,
            hearing,
            reader,
        }
    }

    /// Whether `data` holds the reader's token or their delivery tag.
    fn carries_a_secret(&self, data: &[u8]) -> bool {
        let sub = self
            .store
            .subscriber_by_email(&self.reader)
            .unwrap()
            .unwrap();
        let tag = self.hearing.key.tag("2026-W48".parse().unwrap(), sub.id);
        [sub.token.as_str(), tag.as_str()]
            .iter()
            .any(|secret| data.windows(secret.len()).any(|w| w == secret.as_bytes()))
    }
}

fuzz_target!(|data: &[u8]| {
    let world = &mut *WORLD.lock().unwrap();
    let now: Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
    if world.carries_a_secret(data) {
        hear(&mut world.store, &world.hearing, data, &[], now).unwrap();
        *world = World::new();
        return;
    }
    let heard = hear(&mut world.store, &world.hearing, data, &[], now).unwrap();
    assert!(matches!(heard, Heard::NotApplied(_)), "{heard:?}");
    let sub = world
        .store
        .subscriber_by_email(&world.reader)
        .unwrap()
        .unwrap();
    assert_eq!(sub.status, Status::Active);
    // Subscribed and confirmed; the issue is still queued.
    assert_eq!(world.store.history_of(&sub).unwrap().len(), 2);
});
