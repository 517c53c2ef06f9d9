//! Delivering an issue: the queued rows of the ledger, over SMTP.
//!
//! **Nothing lost, nothing twice.** Every (issue, subscriber) row starts
//! `queued` and is marked `sent` as soon as the server has accepted the
//! message. A worker takes its next row only after its last result is
//! committed, so a kill at any moment leaves at most one accepted but
//! unrecorded message per worker: at most `concurrency` duplicates after a
//! rerun, and no loss. Results are written by one ledger thread that commits
//! whatever has arrived in one transaction (group commit), so recording stays
//! cheap at thousands of messages a second.
//!
//! **One run at a time.** A run holds the week's lease in SQLite and renews
//! it every few seconds; a second run waits for it, and a lease left behind
//! by a killed run expires within [`LEASE_TTL`], after which the next run
//! takes over the remaining rows.
//!
//! **Retries.** Transient failures (4xx, dropped, refused or timed-out
//! connections) are retried with exponential backoff and jitter up to
//! `max_attempts`; permanent ones (5xx) are recorded at once and the run goes
//! on. Refused credentials stop the run: every message would fail the same
//! way, and hammering the server would only get the account locked.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use rusqlite::Connection;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::mail::{MessageFactory, Recipient};
use crate::smtp::{Failure, Server, SmtpError, backoff};
use crate::store::deliveries::{self, Counts, Delivered, QueuedDelivery};
use crate::store::{Store, timestamp};
use crate::week::IssueWeek;

/// A lease not renewed for this long is considered abandoned.
pub const LEASE_TTL: Duration = Duration::from_secs(20);
const LEASE_RENEW: Duration = Duration::from_secs(5);
const PAGE: u32 = 512;

#[derive(Debug, Clone)]
pub struct Settings {
    pub concurrency: u32,
    pub rate_per_second: Option<f64>,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub bounce_after: u32,
    /// How long the first connection may take before the run gives up.
    pub connect_timeout: Duration,
}

/// Why a run stopped before the queue was empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    Signal(u8),
    Aborted(String),
}

/// What one run did.
#[derive(Debug, Clone)]
pub struct Report {
    pub sent: u64,
    pub failed: u64,
    pub skipped: u64,
    pub bounced: u64,
    pub elapsed: Duration,
    pub stopped: Option<Stopped>,
    /// The whole issue's ledger after the run.
    pub totals: Counts,
}

/// Progress callbacks: a bar on a terminal, log lines under cron.
pub trait Progress: Send + Sync {
    fn start(&self, queued: u64);
    fn delivered(&self, n: u64);
    fn failed(&self, email: &str, error: &str);
    fn waiting_for_lease(&self, holder: &str);
    fn finish(&self);
}

// ---------------------------------------------------------------- ledger --

enum Request {
    Page {
        after: i64,
        reply: oneshot::Sender<anyhow::Result<Vec<QueuedDelivery>>>,
    },
    /// Record the worker's last result (if any) and claim its next row
    /// (if any), in one transaction: one round trip a message.
    Step {
        record: Option<Recorded>,
        claim: Option<i64>,
        reply: oneshot::Sender<anyhow::Result<bool>>,
    },
    Lease {
        owner: String,
        now: String,
        until: String,
        reply: oneshot::Sender<anyhow::Result<Option<String>>>,
    },
}

/// A delivery's result, waiting to be written.
struct Recorded {
    id: i64,
    attempts: u32,
    outcome: Delivered,
}

/// The one thread that touches the database during a run.
struct Ledger {
    tx: std::sync::mpsc::Sender<Request>,
}

impl Ledger {
    fn spawn(mut store: Store, week: String) -> (Ledger, std::thread::JoinHandle<Store>) {
        let (tx, rx) = std::sync::mpsc::channel::<Request>();
        let handle = std::thread::spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while batch.len() < 1024 {
                    match rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                commit_batch(store.connection(), &week, batch);
            }
            store
        });
        (Ledger { tx }, handle)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<anyhow::Result<T>>) -> Request,
    ) -> anyhow::Result<T> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .map_err(|_| anyhow::anyhow!("the ledger thread stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the ledger thread stopped"))?
    }
}

/// A request answered, waiting for the commit before its reply is sent.
enum Answered {
    Page(
        oneshot::Sender<anyhow::Result<Vec<QueuedDelivery>>>,
        anyhow::Result<Vec<QueuedDelivery>>,
    ),
    Step(oneshot::Sender<anyhow::Result<bool>>, anyhow::Result<bool>),
    Lease(
        oneshot::Sender<anyhow::Result<Option<String>>>,
        anyhow::Result<Option<String>>,
    ),
}

fn reply<T>(
    to: oneshot::Sender<anyhow::Result<T>>,
    result: anyhow::Result<T>,
    commit: Option<&str>,
) {
    let _ = to.send(match commit {
        Some(error) => Err(anyhow::anyhow!("{error}")),
        None => result,
    });
}

impl Answered {
    fn send(self, commit: Option<&str>) {
        match self {
            Answered::Page(to, r) => reply(to, r, commit),
            Answered::Step(to, r) => reply(to, r, commit),
            Answered::Lease(to, r) => reply(to, r, commit),
        }
    }
}

/// Answer a batch of requests in one transaction; replies go out after the
/// commit, so a recorded result is durable before its worker moves on.
fn commit_batch(conn: &mut Connection, week: &str, batch: Vec<Request>) {
    let mut answered = Vec::with_capacity(batch.len());
    let tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            let error = format!("cannot write the delivery ledger: {e}");
            for request in batch {
                answer(None, week, request).send(Some(&error));
            }
            return;
        }
    };
    for request in batch {
        answered.push(answer(Some(&tx), week, request));
    }
    let committed = tx
        .commit()
        .map_err(|e| format!("cannot commit the delivery ledger: {e}"));
    for a in answered {
        a.send(committed.as_ref().err().map(String::as_str));
    }
}

fn answer(conn: Option<&Connection>, week: &str, request: Request) -> Answered {
    let unavailable = || anyhow::anyhow!("the delivery ledger is unavailable");
    match request {
        Request::Page { after, reply } => Answered::Page(
            reply,
            conn.map_or_else(
                || Err(unavailable()),
                |c| deliveries::queued_page(c, week, after, PAGE),
            ),
        ),
        Request::Step {
            record,
            claim,
            reply,
        } => Answered::Step(
            reply,
            conn.map_or_else(
                || Err(unavailable()),
                |c| {
                    if let Some(r) = record {
                        deliveries::record(c, week, r.id, r.attempts, &r.outcome)?;
                    }
                    match claim {
                        Some(id) => deliveries::claim(c, week, id),
                        None => Ok(false),
                    }
                },
            ),
        ),
        Request::Lease {
            owner,
            now,
            until,
            reply,
        } => Answered::Lease(
            reply,
            conn.map_or_else(
                || Err(unavailable()),
                |c| deliveries::try_lease(c, &lease_name(week), &owner, &now, &until),
            ),
        ),
    }
}

pub fn lease_name(week: &str) -> String {
    format!("send:{week}")
}

// ------------------------------------------------------------- the run --

/// Shared between the workers.
struct Run {
    week: String,
    settings: Settings,
    factory: MessageFactory,
    server: Server,
    ledger: Ledger,
    progress: Arc<dyn Progress>,
    /// 0 running; 1 stop (signal or abort recorded in `stopped`).
    stop: AtomicBool,
    stopped: std::sync::Mutex<Option<Stopped>>,
    limiter: Option<Limiter>,
    sent: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
    clock: Clock,
}

/// The wall clock, or a pinned start plus elapsed time (tests).
#[derive(Clone, Copy)]
pub struct Clock {
    start_wall: DateTime<Utc>,
    start: Instant,
}

impl Clock {
    pub fn starting_at(now: DateTime<Utc>) -> Clock {
        Clock {
            start_wall: now,
            start: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.start_wall + chrono::Duration::from_std(self.start.elapsed()).unwrap_or_default()
    }
}

impl Run {
    fn stop(&self, why: Stopped) {
        let mut stopped = self.stopped.lock().expect("not poisoned");
        if stopped.is_none() {
            *stopped = Some(why);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// Spaces sends evenly so that no second ever sees more than the rate.
struct Limiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Limiter {
    fn new(per_second: f64) -> Limiter {
        Limiter {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

/// Deliver every queued row of `week`. The issue must be frozen already.
#[allow(clippy::too_many_arguments)]
pub async fn deliver(
    store: Store,
    week: IssueWeek,
    factory: MessageFactory,
    server: Server,
    settings: Settings,
    progress: Arc<dyn Progress>,
    clock: Clock,
    signal: Arc<AtomicU8>,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let week_s = week.to_string();
    let db_path = store.path().to_path_buf();
    let (ledger, ledger_thread) = Ledger::spawn(store, week_s.clone());
    let owner = format!(
        "{}:{}:{}",
        hostname(),
        std::process::id(),
        crate::store::new_token()?.get(..8).unwrap_or_default()
    );

    // Wait for the lease: a live run is never overtaken.
    let mut told = false;
    loop {
        let now = clock.now();
        let until = now + chrono::Duration::from_std(LEASE_TTL).expect("small");
        let holder = ledger
            .ask(|reply| Request::Lease {
                owner: owner.clone(),
                now: timestamp(now),
                until: timestamp(until),
                reply,
            })
            .await?;
        match holder {
            None => break,
            Some(holder) => {
                if !told {
                    progress.waiting_for_lease(&holder);
                    told = true;
                }
                if signal.load(Ordering::SeqCst) != 0 {
                    let code = signal.load(Ordering::SeqCst);
                    drop(ledger);
                    let _ = ledger_thread.join();
                    return Err(crate::error::Exit {
                        code,
                        message: format!(
                            "interrupted while waiting for the other send of {week_s} ({holder})"
                        ),
                    }
                    .into());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    // Connect once before taking rows: an unreachable server or refused
    // credentials fail fast, with nothing marked.
    let endpoint = server.endpoint.clone();
    let check = tokio::time::timeout(settings.connect_timeout, server.connect()).await;
    let connect_error = match check {
        Err(_) => Some(format!(
            "cannot reach the SMTP server {endpoint}: timed out"
        )),
        Ok(Err(e)) if e.failure() == Failure::Auth => Some(format!(
            "the SMTP server {endpoint} refused the credentials: {e}"
        )),
        Ok(Err(e)) => Some(format!("cannot reach the SMTP server {endpoint}: {e}")),
        Ok(Ok(mut conn)) => {
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.quit()).await;
            None
        }
    };
    if let Some(message) = connect_error {
        release(&db_path, &week_s, &owner);
        drop(ledger);
        let _ = ledger_thread.join();
        anyhow::bail!(message);
    }

    let queued = {
        let conn = Connection::open(&db_path)?;
        deliveries::mark_started(&conn, &week_s, &timestamp(clock.now()))?;
        deliveries::counts(&conn, week)?.queued
    };
    progress.start(queued);

    let run = Arc::new(Run {
        week: week_s.clone(),
        limiter: settings.rate_per_second.map(Limiter::new),
        settings,
        factory,
        server,
        ledger,
        progress: progress.clone(),
        stop: AtomicBool::new(false),
        stopped: std::sync::Mutex::new(None),
        sent: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
        clock,
    });

    // Signals: stop taking rows, finish those in flight.
    let watcher = {
        let run = run.clone();
        let signal = signal.clone();
        tokio::spawn(async move {
            loop {
                let code = signal.load(Ordering::SeqCst);
                if code != 0 {
                    run.stop(Stopped::Signal(code));
                    break;
                }
                if run.stopping() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // Keep the lease while the run lasts.
    let renewer = {
        let run = run.clone();
        let owner = owner.clone();
        tokio::spawn(async move {
            loop {
                // Renewed until the workers are done, even while stopping:
                // the task is aborted after they finish.
                tokio::time::sleep(LEASE_RENEW).await;
                let now = run.clock.now();
                let until = now + chrono::Duration::from_std(LEASE_TTL).expect("small");
                match run
                    .ledger
                    .ask(|reply| Request::Lease {
                        owner: owner.clone(),
                        now: timestamp(now),
                        until: timestamp(until),
                        reply,
                    })
                    .await
                {
                    Ok(None) => {}
                    Ok(Some(holder)) => {
                        run.stop(Stopped::Aborted(format!(
                            "another run ({holder}) took over the lease of {}",
                            run.week
                        )));
                        break;
                    }
                    Err(e) => {
                        run.stop(Stopped::Aborted(format!("{e:#}")));
                        break;
                    }
                }
            }
        })
    };

    // Producer: pages of queued rows into a small channel.
    let (jobs_tx, jobs_rx) = mpsc::channel::<QueuedDelivery>(run.settings.concurrency as usize * 2);
    let producer = {
        let run = run.clone();
        tokio::spawn(async move {
            let mut after = 0i64;
            loop {
                if run.stopping() {
                    break;
                }
                let page = match run.ledger.ask(|reply| Request::Page { after, reply }).await {
                    Ok(page) => page,
                    Err(e) => {
                        run.stop(Stopped::Aborted(format!("{e:#}")));
                        break;
                    }
                };
                let Some(last) = page.last() else { break };
                after = last.subscriber_id;
                for job in page {
                    if run.stopping() || jobs_tx.send(job).await.is_err() {
                        return;
                    }
                }
            }
        })
    };

    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    let mut workers = Vec::new();
    for _ in 0..run.settings.concurrency {
        let run = run.clone();
        let jobs = jobs_rx.clone();
        workers.push(tokio::spawn(async move {
            // Each worker keeps one connection open across messages, and
            // records a result in the same ledger step that claims its next
            // row: the result is committed before the next message is sent.
            let mut conn: Option<AsyncSmtpConnection> = None;
            let mut unrecorded: Option<Recorded> = None;
            loop {
                let job = if run.stopping() {
                    None
                } else {
                    jobs.lock().await.recv().await.filter(|_| !run.stopping())
                };
                if job.is_none() && unrecorded.is_none() {
                    break;
                }
                let recording = unrecorded.is_some();
                let claim = job.as_ref().map(|j| j.subscriber_id);
                let step = run
                    .ledger
                    .ask(|reply| Request::Step {
                        record: unrecorded.take(),
                        claim,
                        reply,
                    })
                    .await;
                let claimed = match step {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        run.stop(Stopped::Aborted(format!(
                            "recording a delivery failed: {e:#}"
                        )));
                        break;
                    }
                };
                if recording {
                    run.progress.delivered(1);
                }
                let Some(job) = job else { continue };
                if !claimed {
                    run.skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                unrecorded = deliver_one(&run, &mut conn, &job).await;
            }
            if let Some(mut c) = conn
                && !c.has_broken()
            {
                let _ = tokio::time::timeout(Duration::from_secs(5), c.quit()).await;
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    for task in [producer, renewer, watcher] {
        task.abort();
        let _ = task.await;
    }
    progress.finish();

    let run = Arc::try_unwrap(run).map_err(|_| anyhow::anyhow!("workers still running"))?;
    let stopped = run.stopped.lock().expect("not poisoned").clone();
    let (sent, failed, skipped) = (
        run.sent.load(Ordering::SeqCst),
        run.failed.load(Ordering::SeqCst),
        run.skipped.load(Ordering::SeqCst),
    );
    let clock = run.clock;
    let bounce_after = run.settings.bounce_after;
    drop(run.ledger);
    let store = ledger_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the ledger thread panicked"))?;
    let mut store = store;
    let conn = store.connection();
    let now = timestamp(clock.now());
    let bounced = deliveries::apply_bounces(conn, &week_s, bounce_after)?;
    deliveries::mark_finished_if_done(conn, &week_s, &now)?;
    deliveries::release_lease(conn, &lease_name(&week_s), &owner)?;
    let totals = deliveries::counts(conn, week)?;
    Ok(Report {
        sent,
        failed,
        skipped,
        bounced,
        elapsed: started.elapsed(),
        stopped,
        totals,
    })
}

fn release(db: &std::path::Path, week: &str, owner: &str) {
    if let Ok(conn) = Connection::open(db) {
        let _ = conn.busy_timeout(Duration::from_secs(10));
        let _ = deliveries::release_lease(&conn, &lease_name(week), owner);
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// One row: claim, build, send with retries, record.
/// Send one message on the worker's connection, opening a new one when
/// there is none or the last one broke.
async fn send_on(
    run: &Run,
    conn: &mut Option<AsyncSmtpConnection>,
    envelope: &Envelope,
    raw: &[u8],
) -> Result<(), SmtpError> {
    let timeout = run.server.timeout();
    if conn.as_ref().is_none_or(|c| c.has_broken()) {
        *conn = None;
        let fresh = tokio::time::timeout(timeout, run.server.connect())
            .await
            .map_err(|_| SmtpError::Timeout)??;
        *conn = Some(fresh);
    }
    let c = conn.as_mut().expect("connected above");
    match tokio::time::timeout(timeout, c.send(envelope, raw)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            if c.has_broken() {
                *conn = None;
            }
            Err(SmtpError::Smtp(e))
        }
        Err(_) => {
            *conn = None;
            Err(SmtpError::Timeout)
        }
    }
}

/// Build and send one claimed row, retrying transient failures. `None`
/// when the run stops before the row is settled: it stays queued.
async fn deliver_one(
    run: &Run,
    conn: &mut Option<AsyncSmtpConnection>,
    job: &QueuedDelivery,
) -> Option<Recorded> {
    let recipient = Recipient::from(job);
    let outcome = match run.factory.build(&recipient) {
        Ok(message) => {
            let envelope = message.envelope().clone();
            let raw = message.formatted();
            let mut attempt = 0;
            loop {
                attempt += 1;
                if let Some(limiter) = &run.limiter {
                    limiter.wait().await;
                }
                match send_on(run, conn, &envelope, &raw).await {
                    Ok(()) => {
                        break (
                            attempt,
                            Delivered::Sent {
                                at: timestamp(run.clock.now()),
                            },
                        );
                    }
                    Err(e) => {
                        let error = e.to_string();
                        match e.failure() {
                            Failure::Auth => {
                                run.stop(Stopped::Aborted(format!(
                                    "the SMTP server refused the credentials: {error}"
                                )));
                                return None;
                            }
                            Failure::Permanent => {
                                break (
                                    attempt,
                                    Delivered::Failed {
                                        error,
                                        permanent: true,
                                    },
                                );
                            }
                            Failure::Transient if attempt >= run.settings.max_attempts => {
                                break (
                                    attempt,
                                    Delivered::Failed {
                                        error,
                                        permanent: false,
                                    },
                                );
                            }
                            Failure::Transient => {
                                tracing::debug!(email = %job.email, attempt, %error, "transient failure, retrying");
                                let wait = backoff(run.settings.retry_base, attempt);
                                let deadline = Instant::now() + wait;
                                while Instant::now() < deadline {
                                    if run.stopping() {
                                        // Not delivered: leave the row queued for the next run.
                                        return None;
                                    }
                                    tokio::time::sleep(
                                        Duration::from_millis(50).min(deadline - Instant::now()),
                                    )
                                    .await;
                                }
                            }
                        }
                    }
                }
            }
        }
        Err(e) => (
            0,
            Delivered::Failed {
                error: format!("{e:#}"),
                permanent: true,
            },
        ),
    };
    let (attempts, outcome) = outcome;
    if let Delivered::Failed { error, .. } = &outcome {
        run.failed.fetch_add(1, Ordering::Relaxed);
        run.progress.failed(&job.email, error);
    } else {
        run.sent.fetch_add(1, Ordering::Relaxed);
    }
    Some(Recorded {
        id: job.subscriber_id,
        attempts,
        outcome,
    })
}
