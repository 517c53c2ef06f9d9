//! The corpus `tests/fixtures/inbound/`: every message applied to a fresh
//! copy of a list that was really sent two issues, its outcome checked as
//! `expected.toml` says, then applied again to change nothing; and the
//! DSNs checked against an independent parser, Python's `flufl.bounce`.

use std::path::Path;

use serde_json::Value;

use super::{READERS, Sent, inbound_stdin, sent, show, status_of};
use crate::support::fixture;

/// The fixture's bytes with its placeholders filled.
fn message(sent: &Sent, path: &Path) -> Vec<u8> {
    sent.fill(&std::fs::read(path).unwrap())
}

#[derive(serde::Deserialize, Debug)]
struct Manifest {
    message: Vec<Expected>,
}

#[derive(serde::Deserialize, Debug, Clone)]
struct Expected {
    file: String,
    outcome: String,
    subscriber: Option<String>,
    issue: Option<String>,
    status_after: Option<String>,
    flufl: Option<bool>,
    why: String,
}

fn manifest() -> Vec<Expected> {
    let text = std::fs::read_to_string(fixture("inbound/expected.toml")).unwrap();
    toml::from_str::<Manifest>(&text).unwrap().message
}

/// The start of the line `digest inbound` prints for an outcome.
fn line_start(e: &Expected) -> String {
    let who = e.subscriber.clone().unwrap_or_default();
    let issue = e.issue.clone().unwrap_or_default();
    match e.outcome.as_str() {
        "hard" => format!("hard bounce: {who} ({issue}): "),
        "soft" => format!("soft bounce: {who} ({issue}): "),
        "event" => String::new(),
        "complaint" => format!("complaint: {who}"),
        "unsubscribe" => format!("unsubscribe: {who} (mailto)"),
        "kept" => "kept: ".into(),
        other => panic!("{}: unknown outcome {other}", e.file),
    }
}

#[test]
fn every_message_of_the_corpus_has_its_outcome_and_the_second_time_changes_nothing() {
    let sent = sent();
    let expected = manifest();
    assert!(expected.len() >= 25, "{} messages", expected.len());
    let mut files: Vec<String> = std::fs::read_dir(fixture("inbound"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    files.sort();
    let listed: Vec<String> = expected.iter().map(|e| e.file.clone()).collect();
    assert_eq!(
        files,
        {
            let mut l = listed.clone();
            l.sort();
            l
        },
        "every fixture is in expected.toml"
    );

    let mut wrong = Vec::new();
    for e in &expected {
        let site = sent.fresh_copy();
        let raw = message(&sent, &fixture(&format!("inbound/{}", e.file)));
        let first = inbound_stdin(&site, &raw);
        let start = line_start(e);
        let line_ok = first.code == 0
            && first.stderr.is_empty()
            && first.stdout.lines().count() == 1
            && first.stdout.starts_with(&start)
            && (e.outcome != "event" || first.stdout.contains("[recorded, not counted]"));
        if !line_ok {
            wrong.push(format!(
                "{}: expected `{start}…` ({})\n  got {first:?}",
                e.file, e.why
            ));
            continue;
        }
        // Everyone else is untouched; the subscriber is as expected.
        for reader in READERS {
            let want = match (&e.subscriber, &e.status_after) {
                (Some(s), Some(after)) if s == reader => after.as_str(),
                _ => "active",
            };
            let got = status_of(&site, reader);
            if got != want {
                wrong.push(format!("{}: {reader} is {got}, expected {want}", e.file));
            }
        }
        if e.outcome == "kept" {
            let kept: Vec<_> = std::fs::read_dir(site.path("subscribers/inbound"))
                .map(|d| d.flatten().collect())
                .unwrap_or_default();
            if kept.len() != 1 || std::fs::read(kept[0].path()).unwrap() != raw {
                wrong.push(format!(
                    "{}: not kept as it came ({} files)",
                    e.file,
                    kept.len()
                ));
            }
        } else if let Some(who) = &e.subscriber {
            let events = show(&site, who)["events"].clone();
            let recorded =
                events.as_array().unwrap().iter().any(|ev| {
                    ev["issue"].as_str() == e.issue.as_deref() || e.outcome == "unsubscribe"
                });
            if !recorded {
                wrong.push(format!("{}: no event for {who}: {events}", e.file));
            }
        }
        let before = show(&site, e.subscriber.as_deref().unwrap_or(READERS[0]));
        let second = inbound_stdin(&site, &raw);
        let again_ok = second.code == 0
            && (second.stdout.starts_with("already ")
                || (e.outcome == "kept" && second.stdout.contains(": already saved as ")));
        if !again_ok {
            wrong.push(format!("{}: the second time said {second:?}", e.file));
        }
        if show(&site, e.subscriber.as_deref().unwrap_or(READERS[0])) != before {
            wrong.push(format!("{}: the second time changed the history", e.file));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
#[cfg_attr(
    missing_flufl,
    ignore = "python3 -m pip install flufl.bounce (scripts/test.sh does)"
)]
fn an_independent_parser_agrees_with_every_dsn_it_has_an_opinion_on() {
    let out = std::process::Command::new("python3")
        .arg(fixture("inbound/flufl_check.py"))
        .arg(fixture("inbound"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).expect("JSON from flufl_check.py");
    let mut checked = 0;
    for e in manifest() {
        if e.flufl != Some(true) {
            continue;
        }
        let set = match e.outcome.as_str() {
            "hard" => "permanent",
            "soft" => "temporary",
            other => panic!("{}: flufl = true on a {other}", e.file),
        };
        let who = e.subscriber.clone().unwrap().to_lowercase();
        let found = seen[&e.file][set]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(who.as_str())));
        assert!(found, "{}: flufl.bounce says {}", e.file, seen[&e.file]);
        checked += 1;
    }
    assert!(
        checked >= 8,
        "only {checked} DSNs checked against flufl.bounce"
    );
}
