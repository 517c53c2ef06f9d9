//! `[send] local_time`: each reader mailed at 08:00 on the Sunday
//! in their own zone, by whichever run comes first after it.

use serde_json::Value;

use super::WEEK;
use crate::support::db::statuses;
use crate::support::run::run_at;
use crate::support::site::Site;
use crate::support::smtp::TestSmtp;
use crate::support::{Config, run};

const KIRITIMATI: &str = "kiri@example.org";
const PARIS: &str = "paris@example.org";
const LOS_ANGELES: &str = "la@example.org";
const NO_ZONE: &str = "utc@example.org";

fn local_site(smtp: &TestSmtp) -> Site {
    let site = Site::with_content(&crate::support::fixture("small/content"));
    site.config(&Config::for_send(&smtp.url()).send("local_time", "08:00"));
    site.write(
        "readers.csv",
        format!(
            "email,timezone\n{KIRITIMATI},Pacific/Kiritimati\n{PARIS},Europe/Paris\n{LOS_ANGELES},America/Los_Angeles\n{NO_ZONE},\n"
        ),
    );
    let r = run(&site, &["subscribers", "import", "readers.csv"]);
    assert_eq!(r.code, 0, "{r:#?}");
    site
}

/// `digest send --week 2026-W48 --json` with the clock at `now`.
fn send_at(site: &Site, now: &str) -> Value {
    let r = run_at(site, now, &["send", "--week", WEEK, "--json"]);
    assert_eq!(r.code, 0, "{now}: {r:#?}");
    serde_json::from_str(&r.stdout).unwrap()
}

/// Who has received the issue so far, each at most once.
fn mailed(smtp: &TestSmtp) -> Vec<&'static str> {
    let mut got = Vec::new();
    for who in [KIRITIMATI, PARIS, LOS_ANGELES, NO_ZONE] {
        let n = smtp.count_for(who);
        assert!(n <= 1, "{who} got {n}");
        if n == 1 {
            got.push(who);
        }
    }
    got
}

#[test]
fn each_reader_is_mailed_once_at_their_own_sunday_morning() {
    let smtp = TestSmtp::start();
    let site = local_site(&smtp);
    // Saturday noon UTC: the issue is frozen, nobody is due yet.
    let saturday = send_at(&site, "2026-11-28T12:00:00Z");
    assert_eq!(
        (saturday["sent"].as_u64(), saturday["waiting"].as_u64()),
        (Some(0), Some(4))
    );
    assert_eq!(saturday["next_due"], "2026-11-28T18:00:00+00:00");
    assert!(mailed(&smtp).is_empty());

    // Sunday 08:00 in Kiritimati is Saturday 18:00 UTC.
    let kiri = send_at(&site, "2026-11-28T18:30:00Z");
    assert_eq!(kiri["sent"], 1);
    assert_eq!(mailed(&smtp), [KIRITIMATI]);

    // 08:00 in Paris is 07:00 UTC: due at that very minute.
    let paris = send_at(&site, "2026-11-29T07:00:00Z");
    assert_eq!(paris["sent"], 1);
    assert_eq!(mailed(&smtp), [KIRITIMATI, PARIS]);

    // The newsletter's own zone (UTC) for the reader without one.
    let noon = run_at(&site, "2026-11-29T12:00:00Z", &["send", "--week", WEEK]);
    assert_eq!(noon.code, 0, "{noon:#?}");
    assert!(
        noon.stdout
            .contains("sent 1, failed 0, skipped 0 unsubscribed")
            && noon
                .stdout
                .contains("1 waiting for their local 08:00 (next due 2026-11-29T16:00Z)"),
        "{}",
        noon.stdout
    );
    assert_eq!(mailed(&smtp), [KIRITIMATI, PARIS, NO_ZONE]);

    // A run on Monday sends everyone left: without --week, from Monday to
    // Wednesday the default is the week before.
    let r = run_at(&site, "2026-11-30T09:00:00Z", &["send", "--json"]);
    assert_eq!(r.code, 0, "{r:#?}");
    let monday: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(monday["week"], WEEK);
    assert_eq!(
        (monday["sent"].as_u64(), monday["waiting"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(mailed(&smtp), [KIRITIMATI, PARIS, LOS_ANGELES, NO_ZONE]);
    assert_eq!(
        statuses(&site, WEEK),
        std::collections::HashMap::from([("sent".into(), 4)])
    );
}

#[test]
fn a_reader_who_changes_zone_after_being_queued_is_sent_by_the_new_one() {
    let smtp = TestSmtp::start();
    let site = local_site(&smtp);
    let saturday = send_at(&site, "2026-11-28T12:00:00Z");
    assert_eq!(saturday["waiting"], 4);
    // Los Angeles moves to Kiritimati: due at 18:00 UTC on Saturday now.
    let moved = run_at(
        &site,
        "2026-11-28T13:00:00Z",
        &["subscribe", LOS_ANGELES, "--timezone", "Pacific/Kiritimati"],
    );
    assert_eq!(moved.code, 0, "{moved:#?}");
    assert!(
        moved.stdout.contains("(time zone Pacific/Kiritimati)"),
        "{}",
        moved.stdout
    );
    let shown = run(&site, &["subscribers", "show", LOS_ANGELES]);
    assert!(
        shown.stdout.contains("  timezone    Pacific/Kiritimati\n"),
        "{shown:#?}"
    );
    let evening = send_at(&site, "2026-11-28T18:30:00Z");
    assert_eq!(evening["sent"], 2);
    assert_eq!(mailed(&smtp), [KIRITIMATI, LOS_ANGELES]);
}

#[test]
fn a_bad_local_time_or_zone_is_refused_naming_it() {
    let smtp = TestSmtp::start();
    let site = local_site(&smtp);
    site.config(&Config::for_send(&smtp.url()).send("local_time", "8 o'clock"));
    let r = run(&site, &["send", "--week", WEEK]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(
        r.stderr.contains("`send.local_time`") && r.stderr.contains("HH:MM"),
        "{}",
        r.stderr
    );
    site.config(&Config::for_send(&smtp.url()));
    let r = run(
        &site,
        &["subscribe", "x@example.org", "--timezone", "Mars/Olympus"],
    );
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stderr.contains("not a time zone"), "{}", r.stderr);
    site.write(
        "bad.csv",
        "email,timezone,paused_until\na@example.org,Mars/Base,\nb@example.org,,next week\n",
    );
    let r = run(&site, &["subscribers", "import", "bad.csv"]);
    assert!(
        r.stdout.contains("bad timezone for a@example.org")
            || r.stderr.contains("bad timezone for a@example.org"),
        "{r:#?}"
    );
    assert!(
        r.stdout.contains("bad paused_until for b@example.org")
            || r.stderr.contains("bad paused_until for b@example.org"),
        "{r:#?}"
    );
}
