//! Several `[[relay]]`s: the load split between them, priorities, each way
//! a relay goes out and fails over, the daily cap across runs, a fresh
//! connection after `max_per_connection`, and a killed run. Every test
//! checks that each reader got the issue exactly once (or, after a kill,
//! at most the run's concurrency twice).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::{WEEK, duplicates, send, spawn};
use crate::support::db::{db, statuses};
use crate::support::pipelining::{PipeSmtp, Script};
use crate::support::ports::closed_port;
use crate::support::run::run_at;
use crate::support::site::{Sub, site_with, subscribers};
use crate::support::smtp::{Rule, TestSmtp};
use crate::support::{Config, Run, Site, finish, run};

/// Deliveries of `week` by relay, from the database.
fn by_relay(site: &Site, week: &str) -> HashMap<String, usize> {
    db(site)
        .prepare(
            "SELECT relay, count(*) FROM deliveries WHERE issue = ?1 AND status = 'sent' GROUP BY relay",
        )
        .unwrap()
        .query_map([week], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Each subscriber got exactly one message from the two servers together.
fn each_once(subs: &[Sub], count_for: impl Fn(&str) -> usize) {
    for s in subs {
        assert_eq!(count_for(&s.email), 1, "{}", s.email);
    }
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:#?}"))
}

#[test]
fn relays_of_one_priority_share_the_load_equally_or_by_their_rates() {
    for (rates, n, expected) in [(None, 40, (20, 20)), (Some((40.0, 20.0)), 45, (30, 15))] {
        let (a, b) = (TestSmtp::start(), TestSmtp::start());
        let subs = subscribers(n);
        let config = match rates {
            Some((ra, rb)) => Config::for_relays()
                .relay("a", &a.url(), &[("rate_per_second", &ra)])
                .relay("b", &b.url(), &[("rate_per_second", &rb)]),
            None => Config::for_relays()
                .relay("a", &a.url(), &[])
                .relay("b", &b.url(), &[]),
        };
        let site = site_with(&config, &subs);
        let r = send(&site, &["--json"]);
        assert_eq!(r.code, 0, "{r:#?}");
        each_once(&subs, |e| a.count_for(e) + b.count_for(e));
        let (got_a, got_b) = (a.messages().len(), b.messages().len());
        // A relay runs at most the largest concurrency (2) ahead of its
        // share.
        assert!(
            got_a.abs_diff(expected.0) <= 2 && got_a + got_b == n,
            "{rates:?}: a {got_a}, b {got_b}, expected {expected:?}"
        );
        assert_eq!(
            json(&r)["relays"],
            json!({"a": got_a, "b": got_b}),
            "{rates:?}"
        );
        let history = run(&site, &["history", "--format", "json"]);
        assert_eq!(
            serde_json::from_str::<Value>(&history.stdout).unwrap()[0]["relays"],
            json!({"a": got_a, "b": got_b})
        );
    }
}

#[test]
fn a_later_priority_gets_nothing_while_the_first_relay_works() {
    let (a, b) = (TestSmtp::start(), TestSmtp::start());
    let subs = subscribers(12);
    let config =
        Config::for_relays()
            .relay("a", &a.url(), &[])
            .relay("b", &b.url(), &[("priority", &2)]);
    let site = site_with(&config, &subs);
    let r = send(&site, &[]);
    assert_eq!(r.code, 0, "{r:#?}");
    each_once(&subs, |e| a.count_for(e));
    assert!(b.messages().is_empty());
    assert_eq!(by_relay(&site, WEEK), HashMap::from([("a".into(), 12)]));
}

#[test]
fn an_unreachable_relay_is_out_and_the_next_priority_sends_everything() {
    let b = TestSmtp::start();
    let subs = subscribers(10);
    let dead = format!("smtp://127.0.0.1:{}", closed_port());
    let config =
        Config::for_relays()
            .relay("a", &dead, &[])
            .relay("b", &b.url(), &[("priority", &2)]);
    let site = site_with(&config, &subs);
    let r = send(&site, &[]);
    assert_eq!(r.code, 0, "{r:#?}");
    each_once(&subs, |e| b.count_for(e));
    assert!(r.stderr.contains("relay a is out"), "{}", r.stderr);
    assert_eq!(by_relay(&site, WEEK), HashMap::from([("b".into(), 10)]));
}

#[test]
fn a_relay_that_refuses_the_login_is_out_and_its_password_is_never_printed() {
    const SECRET: &str = "not-the-Right-0ne";
    let a = TestSmtp::start_tls("user", "the-right-one");
    let b = TestSmtp::start();
    let subs = subscribers(10);
    let ca = TestSmtp::ca_path();
    let config = Config::for_relays()
        .relay("ses-eu", &a.url(), &[("ca_file", &ca)])
        .relay("b", &b.url(), &[]);
    let site = site_with(&config, &subs);
    let mut cmd = site.digest(&["send", "--week", WEEK]);
    cmd.env("DIGEST_RELAY_SES_EU_USERNAME", "user")
        .env("DIGEST_RELAY_SES_EU_PASSWORD", SECRET);
    let r = finish(cmd);
    assert_eq!(r.code, 0, "{r:#?}");
    each_once(&subs, |e| b.count_for(e));
    assert!(a.messages().is_empty());
    assert!(
        r.stderr.contains("relay ses-eu is out") && r.stderr.contains("refused the credentials"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(SECRET) && !r.stdout.contains(SECRET));
    assert!(a.auth_attempts() <= 2, "{} logins", a.auth_attempts());
}

#[test]
fn a_relay_answering_421_on_several_messages_in_a_row_is_out_and_its_messages_go_to_the_other() {
    let (a, b) = (TestSmtp::start(), TestSmtp::start());
    let subs = subscribers(30);
    for s in &subs {
        a.rule(&s.email, Rule::Drop { times: 1000 });
    }
    let config = Config::for_relays()
        .relay("a", &a.url(), &[])
        .relay("b", &b.url(), &[]);
    let site = site_with(&config, &subs);
    let r = send(&site, &["--json"]);
    assert_eq!(r.code, 0, "{r:#?}");
    each_once(&subs, |e| b.count_for(e));
    assert!(a.messages().is_empty());
    assert!(
        r.stderr.contains("relay a is out") && r.stderr.contains("messages in a row"),
        "{}",
        r.stderr
    );
    assert_eq!(json(&r)["relays"], json!({"b": 30}));
    assert_eq!(statuses(&site, WEEK), HashMap::from([("sent".into(), 30)]));
}

#[test]
fn when_every_relay_is_out_the_run_stops_with_exit_1_naming_each_and_the_rest_stays_queued() {
    let (a, b) = (TestSmtp::start(), TestSmtp::start());
    let subs = subscribers(20);
    for s in &subs {
        a.rule(&s.email, Rule::Drop { times: 1000 });
    }
    let config =
        Config::for_relays()
            .relay("a", &a.url(), &[])
            .relay("b", &b.url(), &[("max_per_day", &6)]);
    let site = site_with(&config, &subs);
    let r = send(&site, &[]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        r.stderr.contains("every relay is out")
            && r.stderr.contains("a: answered 421/454")
            && r.stderr.contains("b: reached its max_per_day of 6"),
        "{}",
        r.stderr
    );
    assert_eq!(b.messages().len(), 6);
    assert_eq!(
        statuses(&site, WEEK),
        HashMap::from([("sent".into(), 6), ("queued".into(), 14)])
    );
}

#[test]
fn a_daily_cap_is_counted_across_runs_over_a_rolling_24_hours() {
    let (a, b) = (TestSmtp::start(), TestSmtp::start());
    let subs = subscribers(8);
    let config = Config::for_relays()
        .relay("a", &a.url(), &[("max_per_day", &5)])
        .relay("b", &b.url(), &[("priority", &2)]);
    let site = site_with(&config, &subs);
    let first = send(&site, &[]);
    assert_eq!(first.code, 0, "{first:#?}");
    assert_eq!(
        by_relay(&site, WEEK),
        HashMap::from([("a".into(), 5), ("b".into(), 3)])
    );
    // The same day, another issue: a has nothing left.
    let second = run(&site, &["send", "--week", "2026-W47"]);
    assert_eq!(second.code, 0, "{second:#?}");
    assert_eq!(
        by_relay(&site, "2026-W47"),
        HashMap::from([("b".into(), 8)])
    );
    // A day later a's budget is back.
    let third = run_at(
        &site,
        "2026-11-30T12:05:00Z",
        &["send", "--week", "2026-W46"],
    );
    assert_eq!(third.code, 0, "{third:#?}");
    assert_eq!(
        by_relay(&site, "2026-W46"),
        HashMap::from([("a".into(), 5), ("b".into(), 3)]),
        "{}",
        third.stderr
    );
    for s in &subs {
        assert_eq!(
            a.count_for(&s.email) + b.count_for(&s.email),
            3,
            "{}",
            s.email
        );
    }
}

#[test]
fn the_only_relay_at_its_daily_cap_stops_the_run_and_a_rerun_sends_nothing() {
    let a = TestSmtp::start();
    let subs = subscribers(8);
    let config = Config::for_relays().relay("a", &a.url(), &[("max_per_day", &5)]);
    let site = site_with(&config, &subs);
    let first = send(&site, &[]);
    assert_eq!(first.code, 1, "{first:#?}");
    assert!(
        first.stderr.contains("reached its max_per_day of 5"),
        "{}",
        first.stderr
    );
    let again = send(&site, &[]);
    assert_eq!(again.code, 1, "{again:#?}");
    assert!(
        again.stderr.contains("no relay can take the issue"),
        "{}",
        again.stderr
    );
    assert_eq!(a.messages().len(), 5);
    assert_eq!(
        statuses(&site, WEEK),
        HashMap::from([("sent".into(), 5), ("queued".into(), 3)])
    );
}

#[test]
fn max_per_connection_opens_a_fresh_connection_after_that_many_messages() {
    for pipelining in [false, true] {
        let server = PipeSmtp::start(Script {
            pipelining,
            ..Script::default()
        });
        let subs = subscribers(10);
        let config = Config::for_relays().relay(
            "a",
            &server.url(),
            &[("max_per_connection", &3), ("concurrency", &1)],
        );
        let site = site_with(&config, &subs);
        let r = send(&site, &[]);
        assert_eq!(r.code, 0, "{r:#?}");
        each_once(&subs, |e| server.count_for(e));
        let per_connection = server.seen(|s| {
            let mut counts: HashMap<usize, usize> = HashMap::new();
            for m in &s.messages {
                *counts.entry(m.connection).or_default() += 1;
            }
            counts
        });
        assert_eq!(
            per_connection.len(),
            4,
            "pipelining {pipelining}: {per_connection:?}"
        );
        assert!(
            per_connection.values().all(|&n| n <= 3),
            "{per_connection:?}"
        );
    }
}

#[test]
fn a_run_over_two_relays_killed_in_the_middle_is_finished_with_at_most_concurrency_duplicates() {
    let (a, b) = (TestSmtp::start(), TestSmtp::start());
    a.set_delay(Duration::from_millis(30));
    b.set_delay(Duration::from_millis(30));
    let subs = subscribers(200);
    let config = Config::for_relays()
        .relay("a", &a.url(), &[])
        .relay("b", &b.url(), &[]);
    let site = site_with(&config, &subs);
    let mut first = spawn(&site, &["send", "--week", WEEK], "first");
    let deadline = std::time::Instant::now() + crate::support::run::PATIENCE;
    while a.messages().len() + b.messages().len() < 60 {
        assert!(std::time::Instant::now() < deadline, "nothing arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    first.child.kill().expect("SIGKILL");
    let (status, _, _) = first.wait();
    assert_eq!(status.code(), None, "killed by a signal");
    let rerun = send(&site, &[]);
    assert_eq!(rerun.code, 0, "{rerun:#?}");
    // Two relays at concurrency 2: at most four messages were in flight.
    let duplicates = duplicates(&subs, |e| a.count_for(e) + b.count_for(e));
    assert!(duplicates <= 4, "{duplicates} duplicates");
    assert_eq!(statuses(&site, WEEK), HashMap::from([("sent".into(), 200)]));
    let relays = by_relay(&site, WEEK);
    assert_eq!(relays.values().sum::<usize>(), 200);
}

#[test]
fn bad_relay_config_exits_2_naming_the_relay_and_the_key() {
    let relay =
        |extra: &str| format!("[[relay]]\nname = \"ses\"\nurl = \"smtp://127.0.0.1:1\"\n{extra}\n");
    let cases = [
        (
            relay("rate_per_second = -1"),
            "[[relay]] \"ses\": `rate_per_second` = -1",
        ),
        (
            relay("max_per_day = 0"),
            "[[relay]] \"ses\": `max_per_day` = 0",
        ),
        (relay("rate = 3"), "unknown key `rate` in [[relay]] \"ses\""),
        (
            format!("{}{}", relay(""), relay("")),
            "the name is used by an earlier [[relay]]",
        ),
        (
            "[[relay]]\nname = \"Ses 1\"\nurl = \"smtp://127.0.0.1:1\"\n".into(),
            "`name` must be lower-case letters, digits and `-`",
        ),
        (
            format!("[smtp]\nurl = \"smtp://127.0.0.1:2\"\n\n{}", relay("")),
            "`[smtp] url` and `[[relay]]` are both set",
        ),
    ];
    for (text, expected) in cases {
        let site = Site::new();
        site.write("digest.toml", &text);
        let r = run(&site, &["send", "--week", WEEK, "--dry-run"]);
        assert_eq!(r.code, 2, "{text}: {r:#?}");
        assert!(r.stderr.contains(expected), "{text}: {}", r.stderr);
        assert!(
            r.stderr.contains("digest.toml:"),
            "names the file and line: {}",
            r.stderr
        );
    }
}

#[test]
fn check_relays_reports_every_relay_and_exits_1_naming_the_ones_that_failed() {
    let good = PipeSmtp::start(Script {
        pipelining: true,
        ..Script::default()
    });
    let port = closed_port();
    let config = Config::new().relay("good", &good.url(), &[]).relay(
        "dead",
        &format!("smtp://127.0.0.1:{port}"),
        &[("priority", &2)],
    );
    let site = Site::new();
    site.config(&config);
    let r = run(&site, &["send", "--check-relays"]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        r.stdout
            .contains(&format!("good ({})\n  reached:     yes", good.addr))
            && r.stdout
                .contains(&format!("dead (127.0.0.1:{port})\n  reached:     no: ")),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains(&format!(
            "1 of 2 relays failed the check: dead (127.0.0.1:{port})"
        )),
        "{}",
        r.stderr
    );
    let j = run(&site, &["send", "--check-relays", "--json"]);
    let v = json(&j);
    assert_eq!(
        (
            v[0]["name"].clone(),
            v[0]["ok"].clone(),
            v[1]["name"].clone(),
            v[1]["ok"].clone()
        ),
        (json!("good"), json!(true), json!("dead"), json!(false))
    );
}

#[test]
fn a_daily_cap_reached_with_the_last_message_is_a_finished_run() {
    let a = TestSmtp::start();
    let subs = subscribers(5);
    let config = Config::for_relays().relay("a", &a.url(), &[("max_per_day", &5)]);
    let site = site_with(&config, &subs);
    let r = send(&site, &[]);
    assert_eq!(r.code, 0, "{r:#?}");
    each_once(&subs, |e| a.count_for(e));
}
