//! `digest send` against a server that offers PIPELINING (and CHUNKING),
//! one that refuses the third RCPT and fails the fifth DATA of the stream:
//! each refusal lands on its own message, the others are delivered once,
//! and a server without PIPELINING is never sent a command early.

use std::collections::HashMap;
use std::time::Duration;

use super::{WEEK, assert_summary, duplicates, send, spawn};
use crate::support::db::delivery;
use crate::support::db::statuses;
use crate::support::pipelining::{PipeSmtp, Script};
use crate::support::site::{Sub, site_with, subscribers};
use crate::support::{Config, Site};

/// Ten readers on one connection (so the n-th RCPT is the n-th reader's).
fn site(server: &PipeSmtp) -> (Site, Vec<Sub>) {
    let subs = subscribers(10);
    let config = Config::for_send(&server.url()).send("concurrency", 1);
    (site_with(&config, &subs), subs)
}

fn refusing(chunking: bool) -> Script {
    Script {
        pipelining: true,
        chunking,
        refuse_rcpt: vec![3],
        fail_data: vec![5],
        ..Script::default()
    }
}

/// The refusals fell on readers 3 and 5 alone, with their own replies.
fn assert_refusals_on_their_own_messages(server: &PipeSmtp, site: &Site, subs: &[Sub], data: &str) {
    let run = send(site, &[]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_summary(&run.stdout, 8, 2, 0);
    let third = delivery(site, WEEK, &subs[2].email);
    assert_eq!(third.status, "failed");
    let error = third.last_error.unwrap();
    assert!(
        error.contains("550") && error.contains("RCPT number 3"),
        "{error}"
    );
    let fifth = delivery(site, WEEK, &subs[4].email);
    assert_eq!(fifth.status, "failed");
    let error = fifth.last_error.unwrap();
    assert!(
        error.contains("554") && error.contains(&format!("{data} number 5")),
        "{error}"
    );
    let received: Vec<String> =
        server.seen(|s| s.messages.iter().map(|m| m.rcpt_to.join(",")).collect());
    let expected: Vec<String> = subs
        .iter()
        .enumerate()
        .filter(|(i, _)| ![2, 4].contains(i))
        .map(|(_, s)| s.email.clone())
        .collect();
    assert_eq!(received, expected);
    for (i, sub) in subs.iter().enumerate().filter(|(i, _)| ![2, 4].contains(i)) {
        let d = delivery(site, WEEK, &sub.email);
        assert_eq!((d.status.as_str(), d.attempts), ("sent", 1), "reader {i}");
    }
    // Every transaction went out as one group.
    assert_eq!(
        server.seen(|s| (s.pipelined_mails, s.rcpts, s.datas)),
        (10, 10, 10)
    );
}

#[test]
fn pipelined_refusals_land_on_their_own_messages() {
    let server = PipeSmtp::start(refusing(false));
    let (site, subs) = site(&server);
    assert_refusals_on_their_own_messages(&server, &site, &subs, "DATA");
    assert!(server.seen(|s| s.messages.iter().all(|m| !m.chunked)));
    // The next message's commands rode behind a message's data (whenever
    // the next job was already waiting, which it nearly always is).
    assert!(server.seen(|s| s.next_behind_data) >= 1);
}

#[test]
fn with_chunking_the_message_follows_its_commands_in_bdat() {
    let server = PipeSmtp::start(refusing(true));
    let (site, subs) = site(&server);
    assert_refusals_on_their_own_messages(&server, &site, &subs, "BDAT");
    server.seen(|s| {
        assert!(s.messages.iter().all(|m| m.chunked));
        for m in &s.messages {
            let text = String::from_utf8_lossy(&m.raw);
            assert!(
                text.starts_with("From: ") || text.contains("\r\nFrom: "),
                "{text}"
            );
            assert!(
                text.ends_with("\r\n") && !text.contains("\r\n.\r\n"),
                "{text}"
            );
        }
    });
}

#[test]
fn the_same_message_arrives_byte_for_byte_by_data_and_by_bdat() {
    let data = PipeSmtp::start(Script {
        pipelining: true,
        ..Script::default()
    });
    let bdat = PipeSmtp::start(Script {
        pipelining: true,
        chunking: true,
        ..Script::default()
    });
    let (site, _) = site(&data);
    let mut bodies = Vec::new();
    for server in [&data, &bdat] {
        site.config(&Config::for_send(&server.url()));
        let run = crate::support::run(
            &site,
            &["send", "--week", WEEK, "--test", "editor@example.com"],
        );
        assert_eq!(run.code, 0, "{run:#?}");
        let raw = String::from_utf8(server.seen(|s| s.messages[0].raw.clone())).unwrap();
        // A test send's Message-ID, Date and MIME boundary are its own.
        let boundary = raw
            .split("boundary=\"")
            .nth(1)
            .and_then(|b| b.split('"').next())
            .unwrap()
            .to_string();
        let text: Vec<String> = raw
            .replace(&boundary, "BOUNDARY")
            .split("\r\n")
            .filter(|l| !l.starts_with("Message-ID:") && !l.starts_with("Date:"))
            .map(str::to_string)
            .collect();
        bodies.push(text);
    }
    assert!(bodies[0].len() > 100);
    assert_eq!(bodies[0], bodies[1]);
}

#[test]
fn a_server_without_pipelining_gets_one_command_at_a_time() {
    let server = PipeSmtp::start(Script {
        refuse_rcpt: vec![3],
        fail_data: vec![4],
        ..Script::default()
    });
    let (site, subs) = site(&server);
    let run = send(&site, &[]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_summary(&run.stdout, 8, 2, 0);
    // Reader 3's RCPT was refused, so no DATA went with it: the fourth DATA
    // is reader 5's.
    assert!(
        delivery(&site, WEEK, &subs[2].email)
            .last_error
            .unwrap()
            .contains("RCPT number 3")
    );
    assert!(
        delivery(&site, WEEK, &subs[4].email)
            .last_error
            .unwrap()
            .contains("DATA number 4")
    );
    assert_eq!(
        server.seen(|s| (s.unasked_pipelining, s.pipelined_mails)),
        (0, 0)
    );
    assert_eq!(server.seen(|s| s.messages.len()), 8);
}

#[test]
fn a_pipelined_run_killed_in_the_middle_is_finished_with_at_most_concurrency_duplicates() {
    let server = PipeSmtp::start(Script {
        pipelining: true,
        delay: Duration::from_millis(20),
        ..Script::default()
    });
    let subs = subscribers(300);
    let site = site_with(&Config::for_send(&server.url()), &subs);
    let mut first = spawn(&site, &["send", "--week", WEEK], "first");
    server.wait_for(100);
    first.child.kill().expect("SIGKILL");
    let (status, _, _) = first.wait();
    assert_eq!(status.code(), None, "killed by a signal");
    assert!(
        server.seen(|s| s.messages.len()) < 300,
        "the first run finished before the kill"
    );
    let rerun = send(&site, &[]);
    assert_eq!(rerun.code, 0, "{rerun:#?}");
    let duplicates = duplicates(&subs, |email| server.count_for(email));
    // for_send's concurrency: 4.
    assert!(duplicates <= 4, "{duplicates} duplicates");
    assert_eq!(statuses(&site, WEEK), HashMap::from([("sent".into(), 300)]));
}

#[test]
fn a_connection_closed_at_a_final_dot_loses_no_message_and_sends_none_twice() {
    // The fourth message's dot gets 421 and the connection closes, with the
    // fifth message's envelope already sent behind it.
    let server = PipeSmtp::start(Script {
        pipelining: true,
        drop_at_dot: vec![4],
        ..Script::default()
    });
    let (site, subs) = site(&server);
    let run = send(&site, &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    for (i, sub) in subs.iter().enumerate() {
        assert_eq!(server.count_for(&sub.email), 1, "reader {i}");
        let d = delivery(&site, WEEK, &sub.email);
        let attempts = if i == 3 { 2 } else { 1 };
        assert_eq!(
            (d.status.as_str(), d.attempts),
            ("sent", attempts),
            "reader {i}"
        );
    }
}
