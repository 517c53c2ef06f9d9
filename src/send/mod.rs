//! Sending: the Sunday run, a dry run, a test send and a single mail, all
//! through the one delivery engine ([`engine::deliver`]); only the queue
//! and the transport differ.
//!
//! **One run at a time.** A Sunday run holds the week's lease in the
//! database (see `lease`); a second run waits for it. A holder killed on
//! this machine is taken over at once; elsewhere its lease expires.

pub mod engine;
mod lanes;
pub mod local_time;
pub mod pace;
pub mod queue;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lettre::Message;

pub use engine::{
    Budget, Compose, Control, Lane, Prepared, Progress, Quiet, Report, STRIKES_OUT, Settings,
    StopFlag, Stopped, deliver,
};
use local_time::{LocalTime, Waiting};
use queue::{LedgerQueue, ListQueue, ReadOnlyQueue};

use crate::clock::Clock;
use crate::delivery::{Counts, Delivered, Job, Recorded};
use crate::error::Exit;
use crate::lease::Holder;
use crate::mail::MessageFactory;
use crate::store::{Ledger, Store};
use crate::token::Token;
use crate::transport::outbox::{Outbox, Tally};
use crate::transport::smtp::Smtp;
use crate::transport::{Outgoing, Transport};
use crate::week::IssueWeek;

/// What a Sunday run did, with the ledger's view after it.
#[derive(Debug, Clone)]
pub struct IssueReport {
    pub run: Report,
    /// Subscribers marked bounced by this run.
    pub bounced: u64,
    /// The whole issue's ledger after the run.
    pub totals: Counts,
    /// With `[send] local_time`: the queued readers not yet due.
    pub waiting: Option<Waiting>,
}

/// Deliver every queued row of `week`'s frozen issue, under its lease.
/// `local_time`: `[send] local_time` and the newsletter's zone.
#[allow(clippy::too_many_arguments)]
pub async fn send_issue<C: Compose, T: Transport>(
    store: Store,
    week: IssueWeek,
    factory: C,
    lanes: Vec<Lane<T>>,
    settings: Settings,
    bounce_after: u32,
    local_time: Option<(chrono::NaiveTime, chrono_tz::Tz)>,
    control: Control,
) -> anyhow::Result<IssueReport> {
    let clock = control.clock;
    let ledger = Ledger::spawn(store, week);
    let holder = Holder::this_process()?;
    if let Err(e) = take_lease(&ledger, &holder, &*control.progress, clock, &control.stop).await {
        ledger.close().await?;
        return Err(e);
    }
    let local = local_time.map(|(at, default)| LocalTime {
        at,
        default,
        sunday: week.sunday(),
    });
    let queue = LedgerQueue {
        ledger,
        holder,
        clock,
        local,
        scanned: std::sync::atomic::AtomicI64::new(i64::MIN),
    };
    // The engine checks the server before it starts the queue: an
    // unreachable server or refused credentials leave the issue unstarted.
    let (run, queue) = match deliver(queue, factory, lanes, settings, control).await {
        Ok(done) => done,
        Err((error, queue)) => {
            queue.ledger.release(queue.holder.to_string()).await?;
            queue.ledger.close().await?;
            return Err(error);
        }
    };
    let holder = queue.holder.to_string();
    let local = queue.local;
    let (store, finished) = queue
        .ledger
        .finish(&holder, clock.stamp(), bounce_after)
        .await?;
    let waiting = match &local {
        Some(local) => Some(Waiting::count(
            local,
            &store.queued_by_zone(week)?,
            clock.now(),
        )),
        None => None,
    };
    Ok(IssueReport {
        run,
        bounced: finished.bounced,
        totals: finished.totals,
        waiting,
    })
}

/// Wait for the week's lease: a live run is never overtaken; a holder
/// whose process is gone from this host is taken over at once.
async fn take_lease(
    ledger: &Ledger,
    holder: &Holder,
    progress: &dyn Progress,
    clock: Clock,
    signal: &StopFlag,
) -> anyhow::Result<()> {
    let mut told = false;
    loop {
        let Some(other) = ledger.lease(holder.to_string(), clock.stamp()).await? else {
            return Ok(());
        };
        if Holder::is_gone_from(&other, &holder.host) {
            if ledger
                .take_over(holder.to_string(), other.clone(), clock.stamp())
                .await?
            {
                tracing::info!(
                    "the last run of {} ({other}) is gone; taking over its lease",
                    ledger.week()
                );
                return Ok(());
            }
            continue;
        }
        if !told {
            progress.waiting_for_lease(&other);
            told = true;
        }
        let code = signal.load(Ordering::SeqCst);
        if code != 0 {
            return Err(Exit {
                code,
                message: format!(
                    "interrupted while waiting for the other send of {} ({other})",
                    ledger.week()
                ),
            }
            .into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What a dry run built.
#[derive(Debug, Clone, Copy)]
pub struct DryRun {
    pub messages: u64,
    pub bytes: u64,
}

/// Build every message a run would send and hand it to an outbox (which
/// writes it to a folder or only counts it). `frozen`: the week's queued
/// rows; else every active subscriber; without a store, nobody.
pub async fn dry_run(
    store: Option<Store>,
    frozen: Option<IssueWeek>,
    factory: MessageFactory,
    outbox: Outbox,
    clock: Clock,
) -> anyhow::Result<DryRun> {
    let tally: Arc<Tally> = outbox.tally();
    // One worker: the files come out numbered in id order.
    let settings = Settings {
        concurrency: 1,
        rate_per_second: None,
        max_attempts: 1,
        retry_base: Duration::ZERO,
    };
    let lanes = Lane::only(outbox, &settings);
    let (report, _) = deliver(
        ReadOnlyQueue::new(store, frozen),
        factory,
        lanes,
        settings,
        Control::quiet(clock),
    )
    .await
    .map_err(|(e, _)| e)?;
    if let Some(Stopped::Aborted(why)) = report.stopped {
        anyhow::bail!("the dry run stopped: {why}");
    }
    Ok(DryRun {
        messages: tally.messages(),
        bytes: tally.bytes(),
    })
}

/// One address's answer in a test send.
#[derive(Debug, Clone)]
pub struct TestResult {
    pub email: String,
    /// `Ok(reply)` when accepted, `Err(error)` when not.
    pub answer: Result<String, String>,
}

/// Send the issue now to `addresses` (not subscribers): the editor's look
/// before Sunday. Nothing is read from or written to the database.
pub async fn test_send<C: Compose, T: Transport>(
    addresses: &[String],
    role: Option<crate::role::Role>,
    factory: C,
    lanes: Vec<Lane<T>>,
    settings: Settings,
    clock: Clock,
) -> anyhow::Result<Vec<TestResult>> {
    let preview = Token::from_stored("preview".into());
    let jobs = addresses
        .iter()
        .zip(1..)
        .map(|(email, id)| Job {
            id,
            email: email.clone(),
            name: None,
            role,
            token: preview.clone(),
            timezone: None,
        })
        .collect();
    let results = send_list(jobs, factory, lanes, settings, clock).await?;
    Ok(results
        .into_iter()
        .map(|(job, answer)| TestResult {
            email: job.email,
            answer,
        })
        .collect())
}

/// Send one prepared message (a confirmation or welcome mail) through
/// `transport` and the engine, with its retries; the server's reply, or
/// why it was not accepted.
pub async fn send_one<T: Transport>(
    message: &Message,
    transport: T,
    settings: Settings,
    clock: Clock,
) -> anyhow::Result<String> {
    let lanes = Lane::only(transport, &settings);
    let outgoing = Outgoing::from(message);
    let job = Job {
        id: 1,
        email: outgoing.recipient(),
        name: None,
        role: None,
        token: Token::from_stored(String::new()),
        timezone: None,
    };
    let mut results = send_list(vec![job], Prepared(outgoing), lanes, settings, clock).await?;
    match results.pop() {
        Some((_, answer)) => answer.map_err(anyhow::Error::msg),
        None => anyhow::bail!("the message was not sent"),
    }
}

/// A short list, one message at a time per relay, each with the
/// server's answer.
async fn send_list<C: Compose, T: Transport>(
    jobs: Vec<Job>,
    compose: C,
    mut lanes: Vec<Lane<T>>,
    settings: Settings,
    clock: Clock,
) -> anyhow::Result<Vec<(Job, Result<String, String>)>> {
    for lane in &mut lanes {
        lane.concurrency = 1;
    }
    let (_, queue) = deliver(
        ListQueue::new(jobs),
        compose,
        lanes,
        settings,
        Control::quiet(clock),
    )
    .await
    .map_err(|(e, _)| e)?;
    Ok(queue
        .into_results()
        .into_iter()
        .map(|(job, recorded)| (job, answer(recorded)))
        .collect())
}

/// The configured relays as the engine drives them. `sent`: what each
/// relay took in the last 24 hours, by name, which its `max_per_day` is
/// counted against (empty for a mail that is not counted).
pub fn smtp_lanes(
    config: &crate::config::Config,
    sent: &std::collections::BTreeMap<String, u64>,
) -> anyhow::Result<Vec<Lane<Smtp>>> {
    config
        .relays
        .iter()
        .map(|relay| {
            Ok(Lane {
                transport: Smtp::new(relay)?,
                priority: relay.priority,
                concurrency: relay.concurrency,
                rate_per_second: relay.rate_per_second,
                max_per_connection: relay.max_per_connection,
                budget: relay.max_per_day.map(|max| Budget {
                    left: max.saturating_sub(sent.get(&relay.name).copied().unwrap_or(0)),
                    max_per_day: max,
                }),
            })
        })
        .collect()
}

#[cfg(test)]
mod relay_tests;
#[cfg(test)]
mod tests;

fn answer(recorded: Option<Recorded>) -> Result<String, String> {
    match recorded.map(|r| r.outcome) {
        Some(Delivered::Sent { reply, .. }) => Ok(reply),
        Some(Delivered::Failed { error, .. }) => Err(error),
        None => Err("not sent: the run stopped first".into()),
    }
}
