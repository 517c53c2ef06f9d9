//! The engine over several relays, through its interfaces: an in-memory
//! list as the queue and named capture transports as the relays.

use std::sync::Arc;

use super::tests::{Plain, clock, email, runtime, settings};
use super::*;
use crate::transport::Outcome;
use crate::transport::capture::Capture;

/// [`Plain`], except that building a message to `panic@…` panics.
struct Panicky;

impl Compose for Panicky {
    fn compose(&self, job: &Job) -> anyhow::Result<Outgoing> {
        if job.email.starts_with("panic") {
            panic!("a bug in building this message");
        }
        Plain.compose(job)
    }
}

fn lane(capture: &Capture, priority: u32) -> Lane<Capture> {
    Lane {
        transport: capture.clone(),
        priority,
        concurrency: 2,
        rate_per_second: None,
        max_per_connection: None,
        budget: None,
    }
}

fn jobs(emails: &[String]) -> Vec<Job> {
    emails
        .iter()
        .zip(1..)
        .map(|(email, id)| Job {
            id,
            email: email.clone(),
            name: None,
            role: None,
            token: Token::from_stored(format!("token{id}")),
            timezone: None,
        })
        .collect()
}

fn run(lanes: Vec<Lane<Capture>>, emails: &[String]) -> (Report, Vec<(Job, Option<Recorded>)>) {
    runtime().block_on(async {
        let (report, queue) = deliver(
            ListQueue::new(jobs(emails)),
            Panicky,
            lanes,
            settings(),
            Control {
                progress: Arc::new(Quiet),
                clock: clock(),
                stop: StopFlag::default(),
            },
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
        (report, queue.into_results())
    })
}

fn accepted_by(capture: &Capture) -> Vec<String> {
    capture.accepted().iter().map(|m| m.recipient()).collect()
}

#[test]
fn a_relay_dropping_the_connection_on_several_messages_is_out_and_the_other_sends_them() {
    let (a, b) = (Capture::named("a"), Capture::named("b"));
    let emails: Vec<String> = (1..=20).map(email).collect();
    for e in &emails {
        a.answer(e, vec![Outcome::Lost("connection reset".into()); 10]);
    }
    let (report, results) = run(vec![lane(&a, 1), lane(&b, 1)], &emails);
    assert!(report.stopped.is_none(), "{:?}", report.stopped);
    assert!(accepted_by(&a).is_empty());
    let mut got = accepted_by(&b);
    got.sort();
    let mut want = emails.clone();
    want.sort();
    assert_eq!(got, want, "each exactly once, all through b");
    assert_eq!(report.relays, [("b".to_string(), 20)].into());
    assert_eq!(report.out.len(), 1);
    assert!(
        report.out[0].1.contains("messages in a row"),
        "{:?}",
        report.out
    );
    // At most the strikes, plus the attempts in flight when a went out.
    assert!(
        a.attempts().len() <= STRIKES_OUT as usize + 2,
        "{:?}",
        a.attempts()
    );
    assert!(results.iter().all(|(_, r)| matches!(
        r.as_ref().map(|r| &r.outcome),
        Some(Delivered::Sent { relay: Some(relay), .. }) if relay == "b"
    )));
}

#[test]
fn refusals_of_single_messages_never_put_a_relay_out() {
    let (a, b) = (Capture::named("a"), Capture::named("b"));
    let emails: Vec<String> = (1..=12).map(email).collect();
    for e in &emails {
        a.answer(e, [Outcome::Transient("451 4.7.1 greylisted".into())]);
        b.answer(e, [Outcome::Transient("451 4.7.1 greylisted".into())]);
    }
    let (report, _) = run(vec![lane(&a, 1), lane(&b, 1)], &emails);
    assert!(report.out.is_empty(), "{:?}", report.out);
    assert_eq!(report.sent, 12);
}

#[test]
fn the_last_relay_standing_keeps_retrying_a_flaky_connection() {
    let a = Capture::named("a");
    let emails: Vec<String> = (1..=6).map(email).collect();
    for e in &emails {
        a.answer(e, [Outcome::Unavailable("421 4.3.2 shutting down".into())]);
    }
    let (report, _) = run(vec![lane(&a, 1)], &emails);
    assert!(report.out.is_empty() && report.stopped.is_none());
    assert_eq!(report.sent, 6);
}

#[test]
fn a_message_that_cannot_be_built_fails_alone_even_by_a_panic() {
    let a = Capture::named("a");
    let emails = vec![email(1), "panic@example.org".to_string(), email(3)];
    let (report, results) = run(vec![lane(&a, 1)], &emails);
    assert_eq!((report.sent, report.failed), (2, 1));
    let failed = results
        .iter()
        .find(|(j, _)| j.email.starts_with("panic"))
        .and_then(|(_, r)| r.clone())
        .unwrap();
    assert!(matches!(
        failed.outcome,
        Delivered::Failed { permanent: true, ref error } if error.contains("unexpectedly")
    ));
}

#[test]
fn a_budget_is_spent_then_the_next_priority_takes_over() {
    let (a, b) = (Capture::named("a"), Capture::named("b"));
    let emails: Vec<String> = (1..=10).map(email).collect();
    let mut first = lane(&a, 1);
    first.budget = Some(Budget {
        left: 4,
        max_per_day: 100,
    });
    let (report, _) = run(vec![first, lane(&b, 2)], &emails);
    assert_eq!(report.relays, [("a".into(), 4), ("b".into(), 6)].into());
    assert!(report.stopped.is_none());
}

#[test]
fn jobs_taken_within_a_budget_are_all_sent_when_it_runs_out() {
    // Two workers: the one that finds the budget spent must not take the
    // other's last message away from it.
    for _ in 0..20 {
        let a = Capture::named("a");
        let emails: Vec<String> = (1..=10).map(email).collect();
        let mut only = lane(&a, 1);
        only.budget = Some(Budget {
            left: 5,
            max_per_day: 5,
        });
        let (report, _) = run(vec![only], &emails);
        assert_eq!(report.sent, 5, "{:?}", report.stopped);
        assert_eq!(a.accepted().len(), 5);
    }
}
