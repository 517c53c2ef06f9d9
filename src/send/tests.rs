//! The engine through its interfaces: an in-memory list or the real ledger
//! (SQLite in memory) as the queue, the capture transport as the server.
//! No timing helper: every scenario is scripted answer by answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{TimeZone as _, Utc};
use lettre::Message;

use super::*;
use crate::address::SubscriberEmail;
use crate::select::Selection;
use crate::transport::capture::Capture;
use crate::transport::{ConnectFailure, Outcome};

/// A small message per job, so the engine is tested without templates.
pub(super) struct Plain;

impl Compose for Plain {
    fn compose(&self, job: &Job) -> anyhow::Result<Outgoing> {
        let message = Message::builder()
            .from("Digest <digest@glossary.example>".parse()?)
            .to(job.email.parse()?)
            .subject("Test")
            .body(format!("token {}", job.token.as_str()))?;
        Ok(Outgoing::from(&message))
    }
}

pub(super) fn settings() -> Settings {
    Settings {
        concurrency: 2,
        rate_per_second: None,
        max_attempts: 3,
        retry_base: Duration::from_millis(1),
    }
}

pub(super) fn clock() -> Clock {
    Clock::starting_at(Utc.with_ymd_and_hms(2026, 11, 29, 7, 0, 0).unwrap())
}

pub(super) fn email(i: usize) -> String {
    format!("reader{i}@example.org")
}

fn jobs(n: usize) -> Vec<Job> {
    (1..=n)
        .map(|i| Job {
            id: i as i64,
            email: email(i),
            name: None,
            role: None,
            token: Token::from_stored(format!("token{i}")),
            timezone: None,
        })
        .collect()
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

type Results = Vec<(Job, Option<Recorded>)>;

/// Run the engine over `n` listed jobs; the report and each job's result.
fn run_list(capture: &Capture, n: usize, signal: StopFlag) -> anyhow::Result<(Report, Results)> {
    runtime().block_on(async {
        deliver(
            ListQueue::new(jobs(n)),
            Plain,
            Lane::only(capture.clone(), &settings()),
            settings(),
            Control {
                progress: Arc::new(Quiet),
                clock: clock(),
                stop: signal,
            },
        )
        .await
        .map(|(report, queue)| (report, queue.into_results()))
        .map_err(|(e, _)| e)
    })
}

fn outcome_of(results: &[(Job, Option<Recorded>)], email: &str) -> (u32, Delivered) {
    let (_, r) = results.iter().find(|(j, _)| j.email == email).unwrap();
    let r = r.clone().expect("recorded");
    (r.attempts, r.outcome)
}

#[test]
fn every_job_is_delivered_exactly_once() {
    let capture = Capture::new();
    let (report, results) = run_list(&capture, 20, StopFlag::default()).unwrap();
    assert_eq!((report.sent, report.failed, report.skipped), (20, 0, 0));
    assert!(report.stopped.is_none());
    let mut got: Vec<String> = capture.accepted().iter().map(|m| m.recipient()).collect();
    got.sort();
    let mut want: Vec<String> = (1..=20).map(email).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(results.iter().all(|(_, r)| matches!(
        r,
        Some(Recorded {
            attempts: 1,
            outcome: Delivered::Sent { .. },
            ..
        })
    )));
}

#[test]
fn transient_failures_are_retried_until_accepted_and_counted() {
    let capture = Capture::new();
    capture.answer(
        &email(3),
        vec![Outcome::Transient("451 4.3.0 try later".into()); 2],
    );
    let (report, results) = run_list(&capture, 5, StopFlag::default()).unwrap();
    assert_eq!((report.sent, report.failed), (5, 0));
    let (attempts, outcome) = outcome_of(&results, &email(3));
    assert_eq!(attempts, 3);
    assert!(matches!(outcome, Delivered::Sent { .. }));
    assert_eq!(capture.accepted().len(), 5);
}

#[test]
fn a_permanent_failure_is_recorded_at_once_and_the_run_goes_on() {
    let capture = Capture::new();
    capture.answer(
        &email(2),
        [Outcome::Permanent("550 5.1.1 no such user".into())],
    );
    let (report, results) = run_list(&capture, 4, StopFlag::default()).unwrap();
    assert_eq!((report.sent, report.failed), (3, 1));
    assert_eq!(
        outcome_of(&results, &email(2)),
        (
            1,
            Delivered::Failed {
                error: "550 5.1.1 no such user".into(),
                permanent: true
            }
        )
    );
}

#[test]
fn transient_failures_past_max_attempts_fail_without_being_permanent() {
    let capture = Capture::new();
    capture.answer(&email(1), vec![Outcome::Transient("451 busy".into()); 5]);
    let (report, results) = run_list(&capture, 2, StopFlag::default()).unwrap();
    assert_eq!((report.sent, report.failed), (1, 1));
    assert_eq!(
        outcome_of(&results, &email(1)),
        (
            3,
            Delivered::Failed {
                error: "451 busy".into(),
                permanent: false
            }
        )
    );
}

#[test]
fn looking_ahead_each_message_is_started_behind_the_one_before_it_and_sent_once() {
    let capture = Capture::new();
    capture.look_ahead();
    let (report, results) = run_list(&capture, 60, StopFlag::default()).unwrap();
    assert_eq!((report.sent, report.failed), (60, 0));
    assert!(
        results
            .iter()
            .all(|(_, r)| r.as_ref().is_some_and(|r| r.attempts == 1))
    );
    let mut delivered: Vec<String> = capture.accepted().iter().map(Outgoing::recipient).collect();
    delivered.sort();
    delivered.dedup();
    assert_eq!(delivered.len(), 60);
    let (started, _, out_of_turn) = capture.look_ahead_counts();
    assert!(started > 0, "no message was started ahead");
    assert_eq!(out_of_turn, Vec::<String>::new());
}

#[test]
fn a_retry_forgets_the_message_started_behind_it_first() {
    let capture = Capture::new();
    capture.look_ahead();
    for n in [3, 7, 11] {
        capture.answer(&email(n), [Outcome::Transient("451 later".into())]);
    }
    capture.answer(&email(5), [Outcome::Permanent("550 no".into())]);
    let (report, results) = run_list(&capture, 20, StopFlag::default()).unwrap();
    assert_eq!((report.sent, report.failed), (19, 1));
    for n in [3, 7, 11] {
        assert_eq!(outcome_of(&results, &email(n)).0, 2, "{n}");
    }
    let (_, _, out_of_turn) = capture.look_ahead_counts();
    assert_eq!(out_of_turn, Vec::<String>::new());
    assert_eq!(capture.accepted().len(), 19);
}

#[test]
fn a_dropped_connection_is_retried_on_a_new_one_and_delivered_once() {
    let capture = Capture::new();
    capture.answer(&email(2), [Outcome::Lost("connection reset".into())]);
    let (report, results) = run_list(&capture, 3, StopFlag::default()).unwrap();
    assert_eq!((report.sent, report.failed), (3, 0));
    assert_eq!(outcome_of(&results, &email(2)).0, 2);
    let accepted = capture.accepted();
    assert_eq!(
        accepted
            .iter()
            .filter(|m| m.recipient() == email(2))
            .count(),
        1
    );
    // The check connection (kept by the first worker), one for the second
    // worker, and the replacement after the drop.
    assert_eq!(capture.connections(), 1 + 1 + 1);
}

#[test]
fn an_unreachable_server_fails_before_any_job_is_taken() {
    let capture = Capture::new();
    capture.refuse_connection(ConnectFailure::Unreachable, "cannot reach x: refused");
    let error = run_list(&capture, 3, StopFlag::default()).unwrap_err();
    let refused = error
        .downcast_ref::<crate::transport::ConnectError>()
        .expect("a connect error");
    assert_eq!(refused.kind, ConnectFailure::Unreachable);
    assert_eq!(refused.message, "cannot reach x: refused");
    assert!(capture.attempts().is_empty());
}

#[test]
fn refused_credentials_in_the_middle_stop_the_run_and_leave_the_job_unsettled() {
    let capture = Capture::new();
    // One worker: once the first message's connection drops, the
    // reconnection is refused.
    capture.answer(&email(1), [Outcome::Lost("reset".into())]);
    let refusing = capture.clone();
    capture.on_send(move |to| {
        if to == email(1) {
            refusing.refuse_connection(ConnectFailure::Auth, "535 5.7.8 bad credentials");
        }
    });
    let (report, queue) = runtime()
        .block_on(deliver(
            ListQueue::new(jobs(4)),
            Plain,
            Lane::only(
                capture.clone(),
                &Settings {
                    concurrency: 1,
                    ..settings()
                },
            ),
            Settings {
                concurrency: 1,
                ..settings()
            },
            Control::quiet(clock()),
        ))
        .map_err(|(e, _)| e)
        .unwrap();
    let results = queue.into_results();
    assert_eq!(
        report.stopped,
        Some(Stopped::Aborted("535 5.7.8 bad credentials".into()))
    );
    assert!(capture.accepted().is_empty());
    let (_, first) = results.iter().find(|(j, _)| j.email == email(1)).unwrap();
    assert!(first.is_none(), "the job stays queued: {first:?}");
}

#[test]
fn a_stop_signal_finishes_the_message_in_flight_and_takes_no_new_job() {
    let capture = Capture::new();
    let signal: StopFlag = Arc::new(AtomicU8::new(0));
    let seen = Arc::new(AtomicUsize::new(0));
    {
        let signal = signal.clone();
        let seen = seen.clone();
        capture.on_send(move |_| {
            if seen.fetch_add(1, Ordering::SeqCst) == 3 {
                signal.store(143, Ordering::SeqCst);
            }
        });
    }
    let settings1 = Settings {
        concurrency: 1,
        ..settings()
    };
    let (report, queue) = runtime()
        .block_on(deliver(
            ListQueue::new(jobs(1000)),
            Plain,
            Lane::only(capture.clone(), &settings1),
            settings1.clone(),
            Control {
                progress: Arc::new(Quiet),
                clock: clock(),
                stop: signal,
            },
        ))
        .map_err(|(e, _)| e)
        .unwrap();
    assert_eq!(report.stopped, Some(Stopped::Signal(143)));
    let recorded = queue
        .into_results()
        .into_iter()
        .filter(|(_, r)| r.is_some())
        .count() as u64;
    // Every message accepted was recorded, and the run stopped early.
    assert_eq!(recorded, report.sent);
    assert_eq!(capture.accepted().len() as u64, report.sent);
    assert!(report.sent >= 4 && report.sent < 1000, "{}", report.sent);
}

// ------------------------------------------------------ with the ledger --

const WEEK: &str = "2026-W48";

fn store_with(n: usize) -> Store {
    let mut store = Store::in_memory().unwrap();
    for i in 1..=n {
        let e = SubscriberEmail::parse(&email(i)).unwrap();
        store
            .subscribe(&e, None, None, false, clock().stamp())
            .unwrap();
    }
    let selection = Selection {
        week: WEEK.parse().unwrap(),
        featured: "tokens".into(),
        new_terms: vec![],
    };
    store
        .freeze(&selection, "Subject", clock().stamp())
        .unwrap();
    store
}

fn send_with_ledger(
    store: Store,
    capture: &Capture,
    signal: StopFlag,
) -> anyhow::Result<IssueReport> {
    runtime().block_on(send_issue(
        store,
        WEEK.parse().unwrap(),
        Plain,
        Lane::only(capture.clone(), &settings()),
        settings(),
        1,
        None,
        Control {
            progress: Arc::new(Quiet),
            clock: clock(),
            stop: signal,
        },
    ))
}

#[test]
fn the_ledger_records_every_result_and_marks_a_permanent_failure_bounced() {
    let capture = Capture::new();
    capture.answer(&email(4), [Outcome::Permanent("550 gone".into())]);
    let report = send_with_ledger(store_with(6), &capture, StopFlag::default()).unwrap();
    assert_eq!((report.run.sent, report.run.failed), (5, 1));
    assert_eq!(
        report.totals,
        Counts {
            queued: 0,
            sent: 5,
            failed: 1,
            skipped: 0
        }
    );
    // bounce_after = 1: the one permanent failure bounces the address.
    assert_eq!(report.bounced, 1);
}

#[test]
fn a_subscriber_who_left_after_being_queued_is_skipped() {
    let mut store = store_with(3);
    let gone = SubscriberEmail::parse(&email(2)).unwrap();
    store.unsubscribe(&gone, clock().stamp()).unwrap();
    let capture = Capture::new();
    let report = send_with_ledger(store, &capture, StopFlag::default()).unwrap();
    assert_eq!((report.run.sent, report.run.skipped), (2, 1));
    assert_eq!(report.totals.skipped, 1);
    assert!(capture.attempts().iter().all(|to| *to != email(2)));
}

#[test]
fn a_message_started_ahead_whose_claim_is_refused_is_forgotten() {
    let mut store = store_with(6);
    for n in [2, 4] {
        let gone = SubscriberEmail::parse(&email(n)).unwrap();
        store.unsubscribe(&gone, clock().stamp()).unwrap();
    }
    let capture = Capture::new();
    capture.look_ahead();
    let report = send_with_ledger(store, &capture, StopFlag::default()).unwrap();
    assert_eq!((report.run.sent, report.run.skipped), (4, 2));
    assert!(
        capture
            .attempts()
            .iter()
            .all(|to| *to != email(2) && *to != email(4))
    );
    let (_, _, out_of_turn) = capture.look_ahead_counts();
    assert_eq!(out_of_turn, Vec::<String>::new());
}

/// A store whose week's lease is held by `holder`.
fn store_leased_to(holder: &str) -> Store {
    runtime().block_on(async {
        let ledger = Ledger::spawn(store_with(3), WEEK.parse().unwrap());
        let held = ledger.lease(holder.to_string(), clock().stamp()).await;
        assert_eq!(held.unwrap(), None);
        // Give the store back without releasing the lease, as a kill would.
        ledger.close().await.unwrap()
    })
}

#[test]
fn a_lease_left_by_a_dead_process_on_this_host_is_taken_over_at_once() {
    let dead = format!("{}:4294967295:killed", crate::lease::hostname());
    let capture = Capture::new();
    let report = send_with_ledger(store_leased_to(&dead), &capture, StopFlag::default()).unwrap();
    assert_eq!(report.run.sent, 3);
}

#[test]
fn a_live_holder_is_waited_for_and_a_signal_ends_the_wait() {
    let alive = Holder::this_process().unwrap().to_string();
    let capture = Capture::new();
    let signal: StopFlag = Arc::new(AtomicU8::new(130));
    let error = send_with_ledger(store_leased_to(&alive), &capture, signal).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("interrupted while waiting for the other send of 2026-W48"),
        "{error}"
    );
    assert_eq!(crate::error::exit_code(&error), 130);
    assert!(capture.attempts().is_empty());
}

#[test]
fn a_test_send_reports_each_address_and_never_needs_a_database() {
    let capture = Capture::new();
    capture.answer("b@example.org", [Outcome::Permanent("550 no".into())]);
    let results = runtime()
        .block_on(test_send(
            &["a@example.org".into(), "b@example.org".into()],
            None,
            Plain,
            Lane::only(capture.clone(), &settings()),
            settings(),
            clock(),
        ))
        .unwrap();
    let answers: Vec<(String, Result<String, String>)> =
        results.into_iter().map(|r| (r.email, r.answer)).collect();
    assert_eq!(
        answers,
        vec![
            ("a@example.org".into(), Ok("250 2.0.0 captured".into())),
            ("b@example.org".into(), Err("550 no".into())),
        ]
    );
    let body = String::from_utf8(capture.accepted()[0].raw.clone()).unwrap();
    assert!(body.contains("token preview"), "{body}");
}
