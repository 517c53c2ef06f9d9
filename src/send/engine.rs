//! The delivery engine: every message the program sends goes through
//! [`deliver`], whatever the queue and the transport.
//!
//! **Workers.** `concurrency` workers each keep one connection open across
//! messages. A worker records its last result in the same queue step that
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
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc};

use super::pace::{Limiter, backoff};
use super::queue::Queue;
use crate::clock::Clock;
use crate::delivery::{Delivered, Job, Recorded};
use crate::lease::LEASE_RENEW;
use crate::mail::{MessageFactory, Recipient};
use crate::timestamp::Timestamp;
use crate::transport::{ConnectFailure, Connection, Outcome, Outgoing, Transport};

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

/// Shared between the workers.
struct Run<Q, C, T: Transport> {
    /// The connection opened to check the server, for the first worker.
    spare: std::sync::Mutex<Option<T::Connection>>,
    queue: Q,
    compose: C,
    transport: T,
    settings: Settings,
    progress: Arc<dyn Progress>,
    clock: Clock,
    stop: AtomicBool,
    stopped: std::sync::Mutex<Option<Stopped>>,
    limiter: Option<Limiter>,
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
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// Deliver every job of `queue`, built by `compose`, through `transport`.
///
/// The first connection is opened before the queue is started, so an
/// unreachable server or refused credentials fail the call (a
/// [`ConnectError`](crate::transport::ConnectError) in the chain) with
/// nothing marked; that connection then serves the first worker. Returns
/// the report and the queue (which holds the results of an in-memory list).
pub async fn deliver<Q: Queue, C: Compose, T: Transport>(
    queue: Q,
    compose: C,
    transport: T,
    settings: Settings,
    control: Control,
) -> Result<(Report, Q), (anyhow::Error, Q)> {
    let started = Instant::now();
    let Control {
        progress,
        clock,
        stop: signal,
    } = control;
    let first = match transport.connect().await {
        Ok(conn) => conn,
        Err(e) => return Err((e.into(), queue)),
    };
    match queue.start().await {
        Ok(queued) => progress.start(queued),
        Err(e) => {
            first.close().await;
            return Err((e, queue));
        }
    }
    let run = Arc::new(Run {
        spare: std::sync::Mutex::new(Some(first)),
        queue,
        compose,
        transport,
        limiter: settings.rate_per_second.map(Limiter::new),
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

    // Producer: pages of jobs into a small channel.
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>(run.settings.concurrency as usize * 2);
    let producer = {
        let run = run.clone();
        tokio::spawn(async move {
            let mut after = i64::MIN;
            loop {
                if run.stopping() {
                    break;
                }
                let page = match run.queue.page(after).await {
                    Ok(page) => page,
                    Err(e) => {
                        run.stop(Stopped::Aborted(format!("{e:#}")));
                        break;
                    }
                };
                let Some(last) = page.last() else { break };
                after = last.id;
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
        workers.push(tokio::spawn(async move { work(&run, &jobs).await }));
    }
    for w in workers {
        let _ = w.await;
    }
    for task in [producer, renewer, watcher] {
        task.abort();
        let _ = task.await;
    }
    run.progress.finish();

    let Ok(run) = Arc::try_unwrap(run) else {
        // Every task holding the run was awaited above.
        unreachable!("the engine's tasks are all finished");
    };
    let sent = run.sent.load(Ordering::SeqCst);
    let relays = match run.transport.relay() {
        Some(relay) if sent > 0 => std::collections::BTreeMap::from([(relay, sent)]),
        _ => Default::default(),
    };
    let report = Report {
        sent,
        relays,
        failed: run.failed.load(Ordering::SeqCst),
        skipped: run.skipped.load(Ordering::SeqCst),
        elapsed: started.elapsed(),
        stopped: run.stopped.into_inner().unwrap_or_else(|e| e.into_inner()),
    };
    Ok((report, run.queue))
}

/// A job taken from the channel and its message, built before its turn
/// when it is the one sent next.
type Composed = (Job, Result<Outgoing, String>);

fn composed<C: Compose>(compose: &C, job: Job) -> Composed {
    let message = compose.compose(&job).map_err(|e| format!("{e:#}"));
    (job, message)
}

/// One worker: take a job, record the last result while claiming it, send.
///
/// When another job is already waiting in the channel, the worker takes
/// it too and hands it to the connection as the next message, which a
/// pipelining SMTP connection starts behind the current one's data. Its
/// claim still comes first: if the claim is refused (an unsubscribe in
/// the meantime), the connection forgets it before anything is sent.
async fn work<Q: Queue, C: Compose, T: Transport>(
    run: &Run<Q, C, T>,
    jobs: &Mutex<mpsc::Receiver<Job>>,
) {
    let mut conn: Option<T::Connection> =
        run.spare.lock().unwrap_or_else(|e| e.into_inner()).take();
    let mut unrecorded: Option<Recorded> = None;
    let mut waiting: Option<Composed> = None;
    loop {
        let job = if run.stopping() {
            None
        } else if let Some(next) = waiting.take() {
            Some(next)
        } else {
            let job = jobs.lock().await.recv().await;
            job.map(|j| composed(&run.compose, j))
        }
        .filter(|_| !run.stopping());
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
                break;
            }
        };
        if recording {
            run.progress.delivered(1);
        }
        let Some((job, message)) = job else { continue };
        if !claimed {
            run.skipped.fetch_add(1, Ordering::Relaxed);
            if let Some(c) = conn.as_mut() {
                c.disarm().await;
            }
            continue;
        }
        waiting = match jobs.try_lock() {
            Ok(mut rx)
                if conn
                    .as_ref()
                    .is_some_and(|c| c.looks_ahead() && !c.broken()) =>
            {
                rx.try_recv().ok().map(|j| composed(&run.compose, j))
            }
            _ => None,
        };
        let next = waiting.as_ref().and_then(|(_, m)| m.as_ref().ok());
        unrecorded = deliver_one(run, &mut conn, &job, message, next).await;
    }
    if let Some(c) = conn {
        c.close().await;
    }
}

/// One try on the worker's connection, opening one when there is none or
/// the last one broke.
async fn attempt<Q, C, T: Transport>(
    run: &Run<Q, C, T>,
    conn: &mut Option<T::Connection>,
    message: &Outgoing,
    next: Option<&Outgoing>,
) -> Attempt {
    if conn.as_ref().is_none_or(|c| c.broken()) {
        *conn = None;
        match run.transport.connect().await {
            Ok(fresh) => *conn = Some(fresh),
            Err(e) if e.kind == ConnectFailure::Auth => return Attempt::Fatal(e.message),
            Err(e) => return Attempt::Outcome(Outcome::Lost(e.message)),
        }
    }
    let Some(c) = conn.as_mut() else {
        return Attempt::Outcome(Outcome::Lost("no connection".into()));
    };
    let outcome = c.send_then(message, next).await;
    if matches!(outcome, Outcome::Lost(_)) || c.broken() {
        *conn = None;
    }
    Attempt::Outcome(outcome)
}

enum Attempt {
    Outcome(Outcome),
    /// The run cannot go on (refused credentials).
    Fatal(String),
}

/// Build and send one claimed job, retrying transient failures. `None`
/// when the run stops before the job is settled: it stays queued.
/// `next`: the job that follows on this connection, if it is known yet.
async fn deliver_one<Q, C: Compose, T: Transport>(
    run: &Run<Q, C, T>,
    conn: &mut Option<T::Connection>,
    job: &Job,
    message: Result<Outgoing, String>,
    next: Option<&Outgoing>,
) -> Option<Recorded> {
    let (attempts, outcome) = match message {
        Ok(message) => {
            let mut attempts = 0;
            loop {
                attempts += 1;
                if let Some(limiter) = &run.limiter {
                    limiter.wait().await;
                }
                // A retry goes first: the next message, if it was
                // started, is forgotten.
                let ahead = if attempts == 1 { next } else { None };
                if attempts > 1
                    && let Some(c) = conn.as_mut()
                {
                    c.disarm().await;
                }
                let error = match attempt(run, conn, &message, ahead).await {
                    Attempt::Fatal(why) => {
                        run.stop(Stopped::Aborted(why));
                        return None;
                    }
                    Attempt::Outcome(Outcome::Accepted(reply)) => {
                        break (
                            attempts,
                            Delivered::Sent {
                                at: Timestamp::from(run.clock.now()),
                                reply,
                                relay: run.transport.relay(),
                            },
                        );
                    }
                    Attempt::Outcome(Outcome::Permanent(error)) => {
                        break (
                            attempts,
                            Delivered::Failed {
                                error,
                                permanent: true,
                            },
                        );
                    }
                    Attempt::Outcome(Outcome::Transient(e) | Outcome::Lost(e)) => e,
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
                        return None;
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
    }
    Some(Recorded {
        id: job.id,
        attempts,
        outcome,
    })
}
