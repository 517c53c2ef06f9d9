//! Where the engine's jobs come from and where their results go.
//!
//! The Sunday run reads the ledger and records every result in it; a dry
//! run reads the same rows without claiming them; a test send and a
//! confirmation mail have a short list of their own and keep the results
//! to print. The engine sees only [`Queue`].

use std::future::Future;
use std::sync::Mutex;

use std::sync::atomic::{AtomicI64, Ordering};

use super::local_time::LocalTime;
use crate::clock::Clock;
use crate::delivery::{Job, Recorded};
use crate::lease::Holder;
use crate::status::Status;
use crate::store::{Ledger, Store};
use crate::week::IssueWeek;

pub trait Queue: Send + Sync + 'static {
    /// Called once the transport answers, before the first job: note the
    /// run's start; how many jobs there are to send.
    fn start(&self) -> impl Future<Output = anyhow::Result<u64>> + Send;

    /// The next jobs after id `after`, in id order; empty when done.
    fn page(&self, after: i64) -> impl Future<Output = anyhow::Result<Vec<Job>>> + Send;

    /// Record a worker's last result (if any) and claim its next job (if
    /// any); false when the job is no longer to be sent.
    fn step(
        &self,
        record: Option<Recorded>,
        claim: Option<i64>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;

    /// Keep whatever makes this run the only one; `Err` says why it was
    /// lost. Called every few seconds while the run lasts.
    fn renew(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// The week's ledger, under the lease this run holds.
pub struct LedgerQueue {
    pub ledger: Ledger,
    pub holder: Holder,
    pub clock: Clock,
    /// With `[send] local_time`: only readers already due are handed out.
    pub local: Option<LocalTime>,
    /// The highest id read so far: rows skipped as not yet due are not
    /// read again in this run.
    pub scanned: AtomicI64,
}

impl Queue for LedgerQueue {
    async fn start(&self) -> anyhow::Result<u64> {
        self.ledger.start(self.clock.stamp()).await
    }

    async fn page(&self, after: i64) -> anyhow::Result<Vec<Job>> {
        let Some(local) = &self.local else {
            return self.ledger.page(after).await;
        };
        let mut from = after.max(self.scanned.load(Ordering::SeqCst));
        loop {
            let page = self.ledger.page(from).await?;
            let Some(last) = page.last() else {
                return Ok(page);
            };
            from = last.id;
            self.scanned.store(from, Ordering::SeqCst);
            let now = self.clock.now();
            let due: Vec<Job> = page
                .into_iter()
                .filter(|job| local.due(job.timezone.as_deref()) <= now)
                .collect();
            if !due.is_empty() {
                return Ok(due);
            }
        }
    }

    async fn step(&self, record: Option<Recorded>, claim: Option<i64>) -> anyhow::Result<bool> {
        self.ledger.step(record, claim).await
    }

    async fn renew(&self) -> Result<(), String> {
        match self
            .ledger
            .lease(self.holder.to_string(), self.clock.stamp())
            .await
        {
            Ok(None) => Ok(()),
            Ok(Some(other)) => Err(format!(
                "another run ({other}) took over the lease of {}",
                self.ledger.week()
            )),
            Err(e) => Err(format!("{e:#}")),
        }
    }
}

/// Jobs kept in memory, their results kept for the caller.
#[derive(Default)]
pub struct ListQueue {
    jobs: Vec<Job>,
    results: Mutex<Vec<Recorded>>,
}

impl ListQueue {
    pub fn new(jobs: Vec<Job>) -> ListQueue {
        ListQueue {
            jobs,
            results: Mutex::default(),
        }
    }

    /// Each job with its result (`None` when the run stopped before it).
    pub fn into_results(self) -> Vec<(Job, Option<Recorded>)> {
        let results = self.results.into_inner().unwrap_or_else(|e| e.into_inner());
        self.jobs
            .into_iter()
            .map(|job| {
                let r = results.iter().find(|r| r.id == job.id).cloned();
                (job, r)
            })
            .collect()
    }
}

impl Queue for ListQueue {
    async fn start(&self) -> anyhow::Result<u64> {
        Ok(self.jobs.len() as u64)
    }

    async fn page(&self, after: i64) -> anyhow::Result<Vec<Job>> {
        Ok(self.jobs.iter().filter(|j| j.id > after).cloned().collect())
    }

    async fn step(&self, record: Option<Recorded>, claim: Option<i64>) -> anyhow::Result<bool> {
        if let Some(r) = record {
            self.results
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(r);
        }
        Ok(claim.is_some())
    }

    async fn renew(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A dry run's view of the database, read-only: the week's queued rows
/// when the issue is frozen, else the active subscribers it would be
/// queued for, paged like the ledger; nothing is claimed or recorded.
/// Without a database, nobody.
pub struct ReadOnlyQueue {
    store: Option<Mutex<Store>>,
    week: Option<IssueWeek>,
}

impl ReadOnlyQueue {
    /// `week`: the frozen issue's rows; `None`: every active subscriber.
    pub fn new(store: Option<Store>, week: Option<IssueWeek>) -> ReadOnlyQueue {
        ReadOnlyQueue {
            store: store.map(Mutex::new),
            week,
        }
    }

    /// Run `read` on the store, if there is one. A short read on the
    /// command line's own runtime: nothing else waits on this lock but the
    /// engine's single producer.
    fn read<T: Default>(
        &self,
        read: impl FnOnce(&Store) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        match &self.store {
            Some(store) => read(&store.lock().unwrap_or_else(|e| e.into_inner())),
            None => Ok(T::default()),
        }
    }
}

impl Queue for ReadOnlyQueue {
    async fn start(&self) -> anyhow::Result<u64> {
        self.read(|store| match self.week {
            Some(week) => Ok(store.counts(week)?.queued),
            None => store.count_subscribers(Status::Active),
        })
    }

    async fn page(&self, after: i64) -> anyhow::Result<Vec<Job>> {
        self.read(|store| match self.week {
            Some(week) => store.queued_page(week, after, crate::store::ledger::PAGE),
            None => store.active_page(after, crate::store::ledger::PAGE),
        })
    }

    async fn step(&self, _: Option<Recorded>, claim: Option<i64>) -> anyhow::Result<bool> {
        Ok(claim.is_some())
    }

    async fn renew(&self) -> Result<(), String> {
        Ok(())
    }
}
