//! The delivery engine: every message the program sends goes through
//! [`deliver`], whatever the queue and the transport.
//!
//! **Relays.** Each relay is a lane (see `lanes`) with its own
//! `concurrency` workers, rate and daily budget; a relay that cannot be
//! reached at the start, refuses the login, or answers 421/454, drops the
//! connection or cannot be reached again on [`STRIKES_OUT`] messages in a
//! row is out for the rest of the run,
//! and its messages go to the others. The last relay standing is not put
//! out for 421s or drops: it keeps retrying with backoff, as a single
//! relay always has.
//!
//! **Workers.** Each worker keeps one connection open across messages
//! (up to the relay's `max_per_connection`). A worker records its last result in the same queue step that
//! claims its next job, so with the ledger as the queue a result is durable
//! before the next message goes out (see `store::ledger`). On a connection
//! that pipelines, a worker also hands over the job after the current one,
//! whose envelope then travels behind the current message; its text goes
//! out only once it is claimed in turn.
//!
//! **Retries.** Transient failures (4xx, a lost connection, an unreachable
//! server) are retried with exponential backoff and jitter up to
//! `max_attempts`; permanent ones (5xx) are recorded at once and the run
//! goes on. Refused credentials stop the run: every message would fail the
//! same way, and hammering the server would only get the account locked.
//!
//! **Stopping.** A signal, a lost lease or a ledger that cannot be written
//! stops the run: no new job is taken, the messages in flight finish and
//! are recorded, and a job waiting for a retry stays queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::lanes::{Dispatch, Share};
use super::pace::{Limiter, backoff};
use super::queue::Queue;
use crate::clock::Clock;
use crate::delivery::{Delivered, Job, Recorded};
use crate::lease::LEASE_RENEW;
use crate::mail::{MessageFactory, Recipient};
use crate::timestamp::Timestamp;
use crate::transport::{ConnectFailure, Connection, Outcome, Outgoing, Transport};

/// A relay that answers 421/454 or drops the connection on this many
/// messages in a row is out (while another relay can take its messages).
pub const STRIKES_OUT: u32 = 3;

/// How the engine paces and retries.
#[derive(Debug, Clone)]
pub struct Settings {
    pub concurrency: u32,
    pub rate_per_second: Option<f64>,
    pub max_attempts: u32,
    pub retry_base: Duration,
}

impl Settings {
    /// `[send]` as the engine takes it.
    pub fn from_config(send: &crate::config::Send) -> Settings {
        Settings {
            concurrency: send.concurrency,
            rate_per_second: send.rate_per_second,
            max_attempts: send.max_attempts,
            retry_base: send.retry_base,
        }
    }

    /// For a single message (a confirmation mail): one connection, the
    /// same retries, no pacing.
    pub fn for_one(send: &crate::config::Send) -> Settings {
        Settings {
            concurrency: 1,
            rate_per_second: None,
            ..Settings::from_config(send)
        }
    }
}

/// One relay as the engine drives it.
pub struct Lane<T> {
    pub transport: T,
    pub priority: u32,
    pub concurrency: u32,
    pub rate_per_second: Option<f64>,
    /// A fresh connection after this many messages.
    pub max_per_connection: Option<u32>,
    /// What it may still take: its `max_per_day` less what it took in the
    /// last 24 hours.
    pub budget: Option<Budget>,
}

#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub left: u64,
    pub max_per_day: u64,
}

impl<T: Transport> Lane<T> {
    /// The only relay of a run, paced by `settings`.
    pub fn only(transport: T, settings: &Settings) -> Vec<Lane<T>> {
        vec![Lane {
            transport,
            priority: 1,
            concurrency: settings.concurrency,
            rate_per_second: settings.rate_per_second,
            max_per_connection: None,
            budget: None,
        }]
    }

    fn name(&self) -> String {
        self.transport
            .relay()
            .unwrap_or_else(|| self.transport.describe())
    }
}

/// Why a run stopped before the queue was empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// SIGINT (130) or SIGTERM (143).
    Signal(u8),
    Aborted(String),
}

/// What one run of the engine did.
#[derive(Debug, Clone)]
pub struct Report {
    pub sent: u64,
    pub failed: u64,
    pub skipped: u64,
    pub elapsed: Duration,
    pub stopped: Option<Stopped>,
    /// Messages sent, by relay.
    pub relays: std::collections::BTreeMap<String, u64>,
    /// The relays that went out, with why.
    pub out: Vec<(String, String)>,
}

/// Progress callbacks: a bar on a terminal, log lines under cron.
pub trait Progress: Send + Sync {
    fn start(&self, queued: u64);
    fn delivered(&self, n: u64);
    fn failed(&self, email: &str, error: &str);
    fn waiting_for_lease(&self, holder: &str);
    fn finish(&self);
}

/// Progress nobody watches (a confirmation mail).
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: u64) {}
    fn delivered(&self, _: u64) {}
    fn failed(&self, _: &str, _: &str) {}
    fn waiting_for_lease(&self, _: &str) {}
    fn finish(&self) {}
}

/// A stop request shared with signal handlers: 0 while running, else the
/// exit code the signal asks for.
pub type StopFlag = Arc<AtomicU8>;

/// What the caller watches and steers a run with.
#[derive(Clone)]
pub struct Control {
    pub progress: Arc<dyn Progress>,
    pub clock: Clock,
    pub stop: StopFlag,
}

impl Control {
    /// Nobody watching, no signal: a test send, a single mail, a dry run.
    pub fn quiet(clock: Clock) -> Control {
        Control {
            progress: Arc::new(Quiet),
            clock,
            stop: StopFlag::default(),
        }
    }
}

/// Turns a job into the message to send.
pub trait Compose: Send + Sync + 'static {
    fn compose(&self, job: &Job) -> anyhow::Result<Outgoing>;
}

impl Compose for MessageFactory {
    fn compose(&self, job: &Job) -> anyhow::Result<Outgoing> {
        let (message, envelope) = self.build_with_envelope(&Recipient::from(job))?;
        Ok(Outgoing {
            envelope,
            raw: message.formatted(),
        })
    }
}

/// One message made beforehand (a confirmation mail), for one job.
pub struct Prepared(pub Outgoing);

impl Compose for Prepared {
    fn compose(&self, _: &Job) -> anyhow::Result<Outgoing> {
        Ok(self.0.clone())
    }
}

/// One relay while the run lasts.
struct LaneRun<T: Transport> {
    lane: Lane<T>,
    limiter: Option<Limiter>,
    /// The connection opened to check the relay, for its first worker.
    spare: std::sync::Mutex<Option<T::Connection>>,
    sent: AtomicU64,
    /// Messages in a row answered 421/454 or cut off.
    strikes: AtomicU32,
}

/// Shared between the workers.
struct Run<Q, C, T: Transport> {
    queue: Q,
    compose: C,
    lanes: Vec<LaneRun<T>>,
    dispatch: Dispatch,
    settings: Settings,
    progress: Arc<dyn Progress>,
    clock: Clock,
    stop: AtomicBool,
    stopped: std::sync::Mutex<Option<Stopped>>,
    sent: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
}

impl<Q, C, T: Transport> Run<Q, C, T> {
    fn stop(&self, why: Stopped) {
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        if stopped.is_none() {
            *stopped = Some(why);
        }
        self.stop.store(true, Ordering::SeqCst);
        drop(stopped);
        self.dispatch.stop();
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Put `lane` out; when that leaves no relay, stop the run saying why
    /// for each. `hard`: out even when it is the last relay standing.
    fn put_out(&self, lane: usize, why: &str, hard: bool) -> bool {
        if !self.dispatch.put_out(lane, why, !hard) {
            return false;
        }
        if self.dispatch.all_out() {
            self.stop(Stopped::Aborted(all_out(&self.dispatch.outs())));
        }
        true
    }
}

/// Why nothing more can be sent. One relay: its reason as it is.
fn all_out(outs: &[(String, String)]) -> String {
    match outs {
        [(_, why)] => why.clone(),
        _ => format!(
            "every relay is out: {}",
            outs.iter()
                .map(|(name, why)| format!("{name}: {why}"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

/// Deliver every job of `queue`, built by `compose`, through `lanes`.
///
/// Connections to the first priority's relays are opened before the queue
/// is started (and to the next priority's when none of those answers), so
/// when no relay can be reached or every login is refused the call fails
/// (a [`ConnectError`](crate::transport::ConnectError) in the chain for a
/// single relay) with nothing marked; those connections then serve the
/// first workers. Returns the report and the queue (which holds the
/// results of an in-memory list).
pub async fn deliver<Q: Queue, C: Compose, T: Transport>(
    queue: Q,
    compose: C,
    lanes: Vec<Lane<T>>,
    settings: Settings,
    control: Control,
) -> Result<(Report, Q), (anyhow::Error, Q)> {
    let started = Instant::now();
    let Control {
        progress,
        clock,
        stop: signal,
    } = control;
    let workers_total: u32 = lanes.iter().map(|l| l.concurrency).sum();
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>(workers_total.max(1) as usize * 2);
    let shares = lanes
        .iter()
        .map(|l| Share {
            name: l.name(),
            priority: l.priority,
            rate_per_second: l.rate_per_second,
            concurrency: l.concurrency,
            budget: l.budget.map(|b| b.left),
            max_per_day: l.budget.map(|b| b.max_per_day),
        })
        .collect();
    let dispatch = Dispatch::new(shares, jobs_rx);
    let lanes: Vec<LaneRun<T>> = lanes
        .into_iter()
        .map(|lane| LaneRun {
            limiter: lane.rate_per_second.map(Limiter::new),
            lane,
            spare: std::sync::Mutex::new(None),
            sent: AtomicU64::new(0),
            strikes: AtomicU32::new(0),
        })
        .collect();

    // The first priority that answers.
    let mut first_error = None;
    let mut priorities: Vec<u32> = lanes.iter().map(|l| l.lane.priority).collect();
    priorities.sort_unstable();
    priorities.dedup();
    'priorities: for priority in priorities {
        let mut any = false;
        for (i, lane) in lanes.iter().enumerate() {
            if lane.lane.priority != priority || lane.lane.budget.is_some_and(|b| b.left == 0) {
                continue;
            }
            match lane.lane.transport.connect().await {
                Ok(conn) => {
                    *lane.spare.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn);
                    any = true;
                }
                Err(e) => {
                    dispatch.put_out(i, &e.message, false);
                    first_error.get_or_insert(e);
                }
            }
        }
        if any {
            break 'priorities;
        }
    }
    // A relay whose budget is spent goes out on its first turn; one with
    // a spent budget and no other is out from the start.
    if lanes
        .iter()
        .all(|l| l.spare.lock().unwrap_or_else(|e| e.into_inner()).is_none())
    {
        for (i, lane) in lanes.iter().enumerate() {
            if let Some(b) = lane.lane.budget.filter(|b| b.left == 0) {
                dispatch.put_out(
                    i,
                    &format!(
                        "reached its max_per_day of {} messages in the last 24 hours",
                        b.max_per_day
                    ),
                    false,
                );
            }
        }
        let outs = dispatch.outs();
        let error = match (lanes.len(), first_error) {
            (1, Some(e)) => anyhow::Error::from(e),
            _ => anyhow::anyhow!("no relay can take the issue: {}", all_out(&outs)),
        };
        return Err((error, queue));
    }
    match queue.start().await {
        Ok(queued) => progress.start(queued),
        Err(e) => {
            for lane in &lanes {
                let spare = lane.spare.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(conn) = spare {
                    conn.close().await;
                }
            }
            return Err((e, queue));
        }
    }
    let run = Arc::new(Run {
        queue,
        compose,
        lanes,
        dispatch,
        settings,
        progress,
        clock,
        stop: AtomicBool::new(false),
        stopped: std::sync::Mutex::new(None),
        sent: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
    });

    // Signals: stop taking jobs, finish those in flight.
    let watcher = {
        let run = run.clone();
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

    // Keep the run exclusive while it lasts, even while stopping: the
    // task is aborted once the workers are done.
    let renewer = {
        let run = run.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE_RENEW).await;
                if let Err(why) = run.queue.renew().await {
                    run.stop(Stopped::Aborted(why));
                    break;
                }
            }
        })
    };

    // Producer: pages of jobs into a small channel; true when every job
    // went in.
    let producer = {
        let run = run.clone();
        tokio::spawn(async move {
            let mut after = i64::MIN;
            loop {
                if run.stopping() {
                    return false;
                }
                let page = match run.queue.page(after).await {
                    Ok(page) => page,
                    Err(e) => {
                        run.stop(Stopped::Aborted(format!("{e:#}")));
                        return false;
                    }
                };
                let Some(last) = page.last() else { return true };
                after = last.id;
                for job in page {
                    if run.stopping() || jobs_tx.send(job).await.is_err() {
                        return false;
                    }
                }
            }
        })
    };

    let mut workers = Vec::new();
    for (lane, l) in run.lanes.iter().enumerate() {
        for _ in 0..l.lane.concurrency {
            let run = run.clone();
            workers.push(tokio::spawn(async move { work(&run, lane).await }));
        }
    }
    for w in workers {
        let _ = w.await;
    }
    // A relay can also go out on its own (a spent budget) after the
    // others: a run that ends with every relay out stopped short, unless
    // its last message was the queue's last.
    if !run.stopping() && run.dispatch.all_out() {
        run.dispatch.close();
        let complete = producer.await.unwrap_or(false);
        if !complete || run.dispatch.left() {
            run.stop(Stopped::Aborted(all_out(&run.dispatch.outs())));
        }
    } else {
        producer.abort();
        let _ = producer.await;
    }
    for task in [renewer, watcher] {
        task.abort();
        let _ = task.await;
    }
    run.progress.finish();

    let Ok(run) = Arc::try_unwrap(run) else {
        // Every task holding the run was awaited above.
        unreachable!("the engine's tasks are all finished");
    };
    let relays = run
        .lanes
        .iter()
        .filter_map(|l| {
            let sent = l.sent.load(Ordering::SeqCst);
            let name = l.lane.transport.relay()?;
            (sent > 0).then_some((name, sent))
        })
        .collect();
    let report = Report {
        sent: run.sent.load(Ordering::SeqCst),
        relays,
        out: run.dispatch.outs(),
        failed: run.failed.load(Ordering::SeqCst),
        skipped: run.skipped.load(Ordering::SeqCst),
        elapsed: started.elapsed(),
        stopped: run.stopped.into_inner().unwrap_or_else(|e| e.into_inner()),
    };
    Ok((report, run.queue))
}

/// A job taken for a worker and its message, built before its turn
/// when it is the one sent next.
type Composed = (Job, Result<Outgoing, String>);

/// A message that cannot be built fails its own job, even by a panic:
/// a worker that died holding its job would leave the run waiting.
fn composed<C: Compose>(compose: &C, job: Job) -> Composed {
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| compose.compose(&job)));
    let message = match built {
        Ok(message) => message.map_err(|e| format!("{e:#}")),
        Err(_) => Err("building the message failed unexpectedly (a bug: please report it)".into()),
    };
    (job, message)
}

/// One worker of one lane, with its connection.
struct Worker<'r, Q, C, T: Transport> {
    run: &'r Run<Q, C, T>,
    lane: usize,
    conn: Option<T::Connection>,
    /// Messages sent on `conn`.
    used: u32,
}

/// What became of a claimed job.
enum Settled {
    Recorded(Recorded),
    /// The run stops first: the job stays queued.
    Stopped,
    /// Its relay went out: another relay sends it.
    HandBack,
}

/// One worker: take a job, record the last result while claiming it, send.
///
/// When another job is already there for its relay, the worker takes it
/// too and hands it to the connection as the next message, which a
/// pipelining SMTP connection starts behind the current one's data. Its
/// claim still comes first: if the claim is refused (an unsubscribe in
/// the meantime), the connection forgets it before anything is sent.
async fn work<Q: Queue, C: Compose, T: Transport>(run: &Run<Q, C, T>, lane: usize) {
    let spare = run.lanes[lane]
        .spare
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let mut w = Worker {
        run,
        lane,
        conn: spare,
        used: 0,
    };
    let dispatch = &run.dispatch;
    let mut unrecorded: Option<Recorded> = None;
    let mut waiting: Option<Composed> = None;
    loop {
        let mut job = match waiting.take() {
            Some(next) => Some(next),
            None if run.stopping() => None,
            None => dispatch.take(lane).await.map(|j| composed(&run.compose, j)),
        };
        if (run.stopping() || dispatch.is_out(lane))
            && let Some((j, _)) = job.take()
        {
            dispatch.hand_back(lane, j);
        }
        if job.is_none() && unrecorded.is_none() {
            break;
        }
        let recording = unrecorded.is_some();
        let claim = job.as_ref().map(|(j, _)| j.id);
        let claimed = match run.queue.step(unrecorded.take(), claim).await {
            Ok(claimed) => claimed,
            Err(e) => {
                run.stop(Stopped::Aborted(format!(
                    "recording a delivery failed: {e:#}"
                )));
                if let Some((j, _)) = job {
                    dispatch.hand_back(lane, j);
                }
                break;
            }
        };
        if recording {
            run.progress.delivered(1);
        }
        let Some((job, message)) = job else { continue };
        if !claimed {
            run.skipped.fetch_add(1, Ordering::Relaxed);
            dispatch.settle(lane, false);
            if let Some(c) = w.conn.as_mut() {
                c.disarm().await;
            }
            continue;
        }
        let room = run.lanes[lane]
            .lane
            .max_per_connection
            .is_none_or(|max| w.used + 1 < max);
        waiting = if room
            && w.conn
                .as_ref()
                .is_some_and(|c| c.looks_ahead() && !c.broken())
        {
            dispatch.try_take(lane).map(|j| composed(&run.compose, j))
        } else {
            None
        };
        let next = waiting.as_ref().and_then(|(_, m)| m.as_ref().ok());
        match w.deliver_one(&job, message, next).await {
            Settled::Recorded(recorded) => {
                let sent = matches!(recorded.outcome, Delivered::Sent { .. });
                dispatch.settle(lane, sent);
                unrecorded = Some(recorded);
            }
            Settled::Stopped | Settled::HandBack => {
                dispatch.hand_back(lane, job);
                if let Some((j, _)) = waiting.take() {
                    dispatch.hand_back(lane, j);
                }
                if let Some(c) = w.conn.as_mut() {
                    c.disarm().await;
                }
            }
        }
    }
    if let Some(c) = w.conn {
        c.close().await;
    }
}

/// How one try went.
enum Attempt {
    Outcome(Outcome),
    /// No connection could be opened.
    Unreachable(String),
    /// The relay refused the credentials.
    Refused(String),
}

impl<Q, C: Compose, T: Transport> Worker<'_, Q, C, T> {
    fn lane(&self) -> &LaneRun<T> {
        &self.run.lanes[self.lane]
    }

    /// One try on the worker's connection, opening one when there is none,
    /// the last one broke, or it has carried `max_per_connection`.
    async fn attempt(&mut self, message: &Outgoing, next: Option<&Outgoing>) -> Attempt {
        let full = self
            .lane()
            .lane
            .max_per_connection
            .is_some_and(|max| self.used >= max);
        if (full || self.conn.as_ref().is_some_and(|c| c.broken()))
            && let Some(old) = self.conn.take()
        {
            old.close().await;
        }
        if self.conn.is_none() {
            match self.lane().lane.transport.connect().await {
                Ok(fresh) => {
                    self.conn = Some(fresh);
                    self.used = 0;
                }
                Err(e) if e.kind == ConnectFailure::Auth => return Attempt::Refused(e.message),
                Err(e) => return Attempt::Unreachable(e.message),
            }
        }
        let Some(c) = self.conn.as_mut() else {
            return Attempt::Unreachable("no connection".into());
        };
        let outcome = c.send_then(message, next).await;
        self.used += 1;
        if matches!(outcome, Outcome::Lost(_)) || c.broken() {
            self.conn = None;
        }
        Attempt::Outcome(outcome)
    }

    /// A strike against the relay; true when that puts it out.
    fn strike(&self, why: &str) -> bool {
        let lane = self.lane();
        let strikes = lane.strikes.fetch_add(1, Ordering::SeqCst) + 1;
        strikes >= STRIKES_OUT
            && self.run.put_out(
                self.lane,
                &format!("answered 421/454 or dropped the connection on {strikes} messages in a row (last: {why})"),
                false,
            )
    }

    /// Build and send one claimed job, retrying transient failures.
    /// `next`: the job that follows on this connection, if it is known yet.
    async fn deliver_one(
        &mut self,
        job: &Job,
        message: Result<Outgoing, String>,
        next: Option<&Outgoing>,
    ) -> Settled {
        let run = self.run;
        let (attempts, outcome) = match message {
            Ok(message) => {
                let mut attempts = 0;
                loop {
                    if run.dispatch.is_out(self.lane) {
                        return Settled::HandBack;
                    }
                    attempts += 1;
                    if let Some(limiter) = &self.lane().limiter {
                        limiter.wait().await;
                    }
                    // A retry goes first: the next message, if it was
                    // started, is forgotten.
                    let ahead = if attempts == 1 { next } else { None };
                    if attempts > 1
                        && let Some(c) = self.conn.as_mut()
                    {
                        c.disarm().await;
                    }
                    let error = match self.attempt(&message, ahead).await {
                        Attempt::Refused(why) => {
                            self.run.put_out(self.lane, &why, true);
                            return Settled::HandBack;
                        }
                        // A relay that answered at the start and fails one
                        // reconnect (a slow greeting on a busy machine) is
                        // struck like a dropped connection, not put out at
                        // once: a relay unreachable at the start already is.
                        Attempt::Unreachable(why) => {
                            if self.strike(&why) {
                                return Settled::HandBack;
                            }
                            why
                        }
                        Attempt::Outcome(Outcome::Accepted(reply)) => {
                            self.lane().strikes.store(0, Ordering::SeqCst);
                            break (
                                attempts,
                                Delivered::Sent {
                                    at: Timestamp::from(run.clock.now()),
                                    reply,
                                    relay: self.lane().lane.transport.relay(),
                                },
                            );
                        }
                        Attempt::Outcome(Outcome::Permanent(error)) => {
                            self.lane().strikes.store(0, Ordering::SeqCst);
                            break (
                                attempts,
                                Delivered::Failed {
                                    error,
                                    permanent: true,
                                },
                            );
                        }
                        Attempt::Outcome(Outcome::Transient(e)) => {
                            self.lane().strikes.store(0, Ordering::SeqCst);
                            e
                        }
                        Attempt::Outcome(Outcome::Unavailable(e) | Outcome::Lost(e)) => {
                            if self.strike(&e) {
                                return Settled::HandBack;
                            }
                            e
                        }
                    };
                    if attempts >= run.settings.max_attempts {
                        break (
                            attempts,
                            Delivered::Failed {
                                error,
                                permanent: false,
                            },
                        );
                    }
                    tracing::debug!(email = %job.email, attempts, %error, "transient failure, retrying");
                    let deadline = Instant::now() + backoff(run.settings.retry_base, attempts);
                    while Instant::now() < deadline {
                        if run.stopping() {
                            // Not delivered: leave the job queued for the next run.
                            return Settled::Stopped;
                        }
                        if run.dispatch.is_out(self.lane) {
                            return Settled::HandBack;
                        }
                        tokio::time::sleep(
                            Duration::from_millis(50)
                                .min(deadline.saturating_duration_since(Instant::now())),
                        )
                        .await;
                    }
                }
            }
            Err(error) => (
                0,
                Delivered::Failed {
                    error,
                    permanent: true,
                },
            ),
        };
        if let Delivered::Failed { error, .. } = &outcome {
            run.failed.fetch_add(1, Ordering::Relaxed);
            run.progress.failed(&job.email, error);
        } else {
            run.sent.fetch_add(1, Ordering::Relaxed);
            self.lane().sent.fetch_add(1, Ordering::Relaxed);
        }
        Settled::Recorded(Recorded {
            id: job.id,
            attempts,
            outcome,
        })
    }
}
