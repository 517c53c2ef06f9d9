//! The delivery ledger during a run: one task owns the connection and
//! answers the workers' requests in batches.
//!
//! **Nothing lost, nothing twice.** Every (issue, subscriber) row starts
//! `queued` and is marked `sent` as soon as the server has accepted the
//! message. A worker records its last result in the same step that claims
//! its next row, and the reply comes only after the commit, so a kill at
//! any moment leaves at most one accepted but unrecorded message per
//! worker. The task commits whatever requests have arrived in one
//! transaction (group commit), so recording stays cheap at thousands of
//! messages a second.
//!
//! The task runs on the run's own runtime: SQLite's calls are short and the
//! machine has few cores, so a batch is committed in place rather than
//! handed to another OS thread and back (a pair of context switches a
//! batch, measured at a third of the run's CPU at concurrency 8). While a batch commits, the
//! workers' sockets wait; the next batch holds every request that arrived
//! meanwhile.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::Store;
use super::deliveries;
use crate::delivery::{Counts, Job, Recorded};
use crate::lease::LEASE_TTL;
use crate::timestamp::Timestamp;
use crate::week::IssueWeek;

/// Rows handed out per page.
pub const PAGE: u32 = 512;
/// Requests answered in one transaction at most.
const BATCH: usize = 1024;

/// A request: run against the open transaction (or `None` when it could not
/// be opened), returning what sends the reply once the commit is known.
type Request = Box<dyn FnOnce(Option<&Connection>) -> Reply + Send>;
type Reply = Box<dyn FnOnce(Option<&str>) + Send>;

/// What the run's end found.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    /// Subscribers marked bounced by this run.
    pub bounced: u64,
    /// The whole issue's ledger.
    pub totals: Counts,
}

/// The handle the send engine talks to.
pub struct Ledger {
    tx: mpsc::UnboundedSender<Request>,
    task: JoinHandle<Store>,
    week: IssueWeek,
    /// The week as the rows name it, shared by every request.
    issue: std::sync::Arc<str>,
}

impl Ledger {
    /// Take over `store` for the run of `week`. Must be called on the
    /// runtime the run uses.
    pub fn spawn(mut store: Store, week: IssueWeek) -> Ledger {
        let (tx, mut rx) = mpsc::unbounded_channel::<Request>();
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                commit_batch(&mut store.conn, batch);
            }
            store
        });
        Ledger {
            tx,
            task,
            week,
            issue: week.to_string().into(),
        }
    }

    pub fn week(&self) -> IssueWeek {
        self.week
    }

    async fn ask<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection, &str) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let (reply, rx) = oneshot::channel::<anyhow::Result<T>>();
        let week = self.issue.clone();
        let request: Request = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => query(conn, &week),
                None => Err(anyhow::anyhow!("the delivery ledger is unavailable")),
            };
            Box::new(move |commit_error: Option<&str>| {
                let _ = reply.send(match commit_error {
                    Some(error) => Err(anyhow::anyhow!("{error}")),
                    None => result,
                });
            })
        });
        self.tx
            .send(request)
            .map_err(|_| anyhow::anyhow!("the ledger task stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the ledger task stopped"))?
    }

    /// Up to [`PAGE`] queued rows after subscriber `after`, in id order.
    pub async fn page(&self, after: i64) -> anyhow::Result<Vec<Job>> {
        self.ask(move |c, week| deliveries::queued_page(c, week, after, PAGE))
            .await
    }

    /// Record a worker's last result (if any) and claim its next row (if
    /// any) in one transaction: one round trip a message. The claim is
    /// false when the row is no longer queued or its subscriber left (the
    /// row is then `skipped`).
    pub async fn step(&self, record: Option<Recorded>, claim: Option<i64>) -> anyhow::Result<bool> {
        self.ask(move |c, week| {
            if let Some(r) = &record {
                deliveries::record(c, week, r)?;
            }
            match claim {
                Some(id) => deliveries::claim(c, week, id),
                None => Ok(false),
            }
        })
        .await
    }

    /// Take or renew the week's lease for `holder` until [`LEASE_TTL`] from
    /// `now`. Returns the other holder when it is someone else's.
    pub async fn lease(&self, holder: String, now: Timestamp) -> anyhow::Result<Option<String>> {
        self.ask(move |c, week| {
            let until = lease_until(now);
            deliveries::try_lease(c, &lease_name(week), &holder, now, until)
        })
        .await
    }

    /// Take the lease from `from`, who is known to be gone; `false` when
    /// the lease changed hands meanwhile.
    pub async fn take_over(
        &self,
        holder: String,
        from: String,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        self.ask(move |c, week| {
            deliveries::take_over_lease(c, &lease_name(week), &holder, &from, lease_until(now))
        })
        .await
    }

    pub async fn release(&self, holder: String) -> anyhow::Result<()> {
        self.ask(move |c, week| deliveries::release_lease(c, &lease_name(week), &holder))
            .await
    }

    /// Note the first start of sending; how many rows are queued.
    pub async fn start(&self, now: Timestamp) -> anyhow::Result<u64> {
        self.ask(move |c, week| {
            deliveries::mark_started(c, week, now)?;
            Ok(deliveries::counts(c, week)?.queued)
        })
        .await
    }

    /// Stop the task and give the store back, writing nothing more.
    pub async fn close(self) -> anyhow::Result<Store> {
        let Ledger { tx, task, .. } = self;
        drop(tx);
        task.await
            .map_err(|e| anyhow::anyhow!("the ledger task failed: {e}"))
    }

    /// After the workers: mark bounced subscribers, the finish time once
    /// nothing is queued, release the lease, and give the store back.
    pub async fn finish(
        self,
        holder: &str,
        now: Timestamp,
        bounce_after: u32,
    ) -> anyhow::Result<(Store, Finished)> {
        let week = self.week;
        let store = self.close().await?;
        let conn = &store.conn;
        let w = week.to_string();
        let bounced = deliveries::apply_bounces(conn, &w, bounce_after, now)?;
        deliveries::mark_finished_if_done(conn, &w, now)?;
        deliveries::release_lease(conn, &lease_name(&w), holder)?;
        let totals = deliveries::counts(conn, &w)?;
        Ok((store, Finished { bounced, totals }))
    }
}

fn lease_name(week: &str) -> String {
    format!("send:{week}")
}

fn lease_until(now: Timestamp) -> Timestamp {
    Timestamp::from(now.at() + chrono::Duration::from_std(LEASE_TTL).unwrap_or_default())
}

/// Answer a batch of requests in one transaction; replies go out after the
/// commit, so a recorded result is durable before its worker moves on.
fn commit_batch(conn: &mut Connection, batch: Vec<Request>) {
    let tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            let error = format!("cannot write the delivery ledger: {e}");
            for request in batch {
                request(None)(Some(&error));
            }
            return;
        }
    };
    let replies: Vec<Reply> = batch
        .into_iter()
        .map(|request| request(Some(&tx)))
        .collect();
    let committed = tx
        .commit()
        .map_err(|e| format!("cannot commit the delivery ledger: {e}"));
    let error = committed.as_ref().err().map(String::as_str);
    for reply in replies {
        reply(error);
    }
}
