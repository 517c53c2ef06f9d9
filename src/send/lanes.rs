//! Several relays in one run: which relay takes the next message.
//!
//! Each relay is a *lane* with its own workers, connections, rate and
//! daily budget. Jobs come from one channel; a lane's worker asks
//! [`Dispatch::take`] for its next one, and gets it only when
//!
//! - the lane is not out, and its priority is the first one with a lane
//!   that is not out (a later priority waits until every earlier lane is
//!   out);
//! - the lane is within its share: relays of the same priority share the
//!   load in proportion to their `rate_per_second` (equal shares when none
//!   has one). A lane may run ahead of its share by at most the group's
//!   largest concurrency, so that all its workers can be busy at once, and
//!   then waits for the others. The split is therefore deterministic,
//!   whatever the relays' speed. When some relays of a priority have a
//!   rate and others not, there is no proportion to keep and each takes
//!   what it can (the rated ones at their rate).
//!
//! A lane that goes out hands its unsent jobs back; they go first to
//! whichever lane asks next, so none is lost and none is sent twice (a job
//! is handed back only when its relay did not accept it).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::{Notify, mpsc};

use crate::delivery::Job;

/// What the dispatch knows of one lane.
#[derive(Debug, Clone)]
pub struct Share {
    pub name: String,
    pub priority: u32,
    pub rate_per_second: Option<f64>,
    pub concurrency: u32,
    /// Messages it may still take in this run; `None`: no cap.
    pub budget: Option<u64>,
    /// Its `max_per_day`, for the reason it gives when the budget is spent.
    pub max_per_day: Option<u64>,
}

struct Lane {
    share: Share,
    /// Jobs taken and not handed back.
    taken: u64,
    /// Why it is out, once it is.
    out: Option<String>,
    /// Out because its budget is spent: it takes no more jobs, but sends
    /// those it took within the budget.
    spent: bool,
}

struct State {
    lanes: Vec<Lane>,
    /// Jobs handed back by a lane that went out: sent before new ones.
    returned: VecDeque<Job>,
    /// Jobs taken and not yet settled or handed back.
    in_flight: u64,
    /// The channel is closed and empty.
    drained: bool,
    stopping: bool,
}

/// How a lane stands.
enum Turn {
    Job(Job),
    /// Nothing for this lane now; something may change.
    Wait,
    /// Try the channel.
    Channel,
    /// Out, stopping, or every job is settled.
    Done,
}

pub struct Dispatch {
    state: Mutex<State>,
    changed: Notify,
    jobs: tokio::sync::Mutex<mpsc::Receiver<Job>>,
}

impl Dispatch {
    pub fn new(shares: Vec<Share>, jobs: mpsc::Receiver<Job>) -> Dispatch {
        Dispatch {
            state: Mutex::new(State {
                lanes: shares
                    .into_iter()
                    .map(|share| Lane {
                        share,
                        taken: 0,
                        out: None,
                        spent: false,
                    })
                    .collect(),
                returned: VecDeque::new(),
                in_flight: 0,
                drained: false,
                stopping: false,
            }),
            changed: Notify::new(),
            jobs: tokio::sync::Mutex::new(jobs),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next job for `lane`; `None` when the lane is out, the run is
    /// stopping, or every job is settled.
    pub async fn take(&self, lane: usize) -> Option<Job> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.turn(lane) {
                Turn::Job(job) => return Some(job),
                Turn::Done => return None,
                Turn::Wait => notified.await,
                Turn::Channel => {
                    let Ok(mut rx) = self.jobs.try_lock() else {
                        // Another worker is waiting on the channel.
                        notified.await;
                        continue;
                    };
                    tokio::select! {
                        job = rx.recv() => {
                            drop(rx);
                            match job {
                                Some(job) => {
                                    if let Some(job) = self.receive(lane, job) {
                                        return Some(job);
                                    }
                                }
                                None => self.drain(),
                            }
                        }
                        _ = &mut notified => {}
                    }
                }
            }
        }
    }

    /// The next job for `lane` if one is there now, without waiting.
    pub fn try_take(&self, lane: usize) -> Option<Job> {
        match self.turn(lane) {
            Turn::Job(job) => Some(job),
            Turn::Channel => {
                let job = self.jobs.try_lock().ok()?.try_recv().ok()?;
                self.receive(lane, job)
            }
            Turn::Wait | Turn::Done => None,
        }
    }

    fn turn(&self, lane: usize) -> Turn {
        let mut s = self.lock();
        if s.stopping || s.lanes[lane].out.is_some() {
            return Turn::Done;
        }
        if s.lanes[lane].share.budget == Some(0) {
            let max = s.lanes[lane].share.max_per_day.unwrap_or(0);
            s.lanes[lane].spent = true;
            drop(s);
            self.put_out(
                lane,
                &format!("reached its max_per_day of {max} messages in the last 24 hours"),
                false,
            );
            return Turn::Done;
        }
        if s.drained && s.returned.is_empty() && s.in_flight == 0 {
            return Turn::Done;
        }
        if !s.active(lane) || !s.within_share(lane) {
            return Turn::Wait;
        }
        if let Some(job) = s.returned.pop_front() {
            s.took(lane);
            drop(s);
            self.changed.notify_waiters();
            return Turn::Job(job);
        }
        if s.drained {
            // A job in flight may yet be handed back.
            return Turn::Wait;
        }
        // Checked here rather than waited for: a closed channel is noticed
        // by whoever looks first.
        match self.jobs.try_lock() {
            Ok(mut rx) => match rx.try_recv() {
                Ok(job) => {
                    s.took(lane);
                    drop(s);
                    self.changed.notify_waiters();
                    Turn::Job(job)
                }
                Err(mpsc::error::TryRecvError::Empty) => Turn::Channel,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    s.drained = true;
                    drop(s);
                    self.changed.notify_waiters();
                    Turn::Wait
                }
            },
            Err(_) => Turn::Channel,
        }
    }

    /// A job that arrived on the channel for `lane`: its own unless the
    /// lane went out meanwhile, when it waits for another lane.
    fn receive(&self, lane: usize, job: Job) -> Option<Job> {
        let mut s = self.lock();
        let got = if s.stopping || s.lanes[lane].out.is_some() {
            s.returned.push_back(job);
            None
        } else {
            s.took(lane);
            Some(job)
        };
        drop(s);
        self.changed.notify_waiters();
        got
    }

    fn drain(&self) {
        self.lock().drained = true;
        self.changed.notify_waiters();
    }

    /// A job taken by `lane` is done with: recorded, or left queued by a
    /// stopping run. A job not sent gives its place in the budget back.
    pub fn settle(&self, lane: usize, sent: bool) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if !sent && let Some(budget) = &mut s.lanes[lane].share.budget {
            *budget += 1;
        }
        drop(s);
        self.changed.notify_waiters();
    }

    /// A job `lane` took and will not send: another lane takes it.
    pub fn hand_back(&self, lane: usize, job: Job) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        let l = &mut s.lanes[lane];
        l.taken = l.taken.saturating_sub(1);
        if let Some(budget) = &mut l.share.budget {
            *budget += 1;
        }
        s.returned.push_front(job);
        drop(s);
        self.changed.notify_waiters();
    }

    /// Put `lane` out for the rest of the run. `only_if_others`: not when
    /// it is the last lane standing (its messages would have nowhere to
    /// go; it keeps retrying instead). True when the lane is now out.
    pub fn put_out(&self, lane: usize, why: &str, only_if_others: bool) -> bool {
        let mut s = self.lock();
        if s.lanes[lane].out.is_some() {
            return true;
        }
        let others = s
            .lanes
            .iter()
            .enumerate()
            .any(|(i, l)| i != lane && l.out.is_none());
        if only_if_others && !others {
            return false;
        }
        s.lanes[lane].out = Some(why.to_string());
        let name = s.lanes[lane].share.name.clone();
        let next = s
            .lanes
            .iter()
            .filter(|l| l.out.is_none())
            .map(|l| l.share.priority)
            .min();
        let heirs: Vec<&str> = s
            .lanes
            .iter()
            .filter(|l| l.out.is_none() && Some(l.share.priority) == next)
            .map(|l| l.share.name.as_str())
            .collect();
        if heirs.is_empty() {
            tracing::warn!("relay {name} is out: {why}");
        } else {
            tracing::warn!(
                "relay {name} is out for the rest of the run: {why}; its messages go to {}",
                heirs.join(", ")
            );
        }
        drop(s);
        self.changed.notify_waiters();
        true
    }

    /// Whether `lane`'s jobs in hand are to be handed to another lane: out
    /// for trouble, not merely for a spent budget (its jobs in hand were
    /// taken within it).
    pub fn is_out(&self, lane: usize) -> bool {
        let s = self.lock();
        s.lanes[lane].out.is_some() && !s.lanes[lane].spent
    }

    /// Every lane is out: nothing more can be sent.
    pub fn all_out(&self) -> bool {
        self.lock().lanes.iter().all(|l| l.out.is_some())
    }

    /// Each lane that is out, with why.
    pub fn outs(&self) -> Vec<(String, String)> {
        self.lock()
            .lanes
            .iter()
            .filter_map(|l| l.out.clone().map(|why| (l.share.name.clone(), why)))
            .collect()
    }

    /// Take no more jobs in: the channel's sender fails from now on.
    pub fn close(&self) {
        if let Ok(mut rx) = self.jobs.try_lock() {
            rx.close();
        }
    }

    /// Whether a job is still waiting, handed back or in the channel.
    pub fn left(&self) -> bool {
        !self.lock().returned.is_empty()
            || self
                .jobs
                .try_lock()
                .map_or(true, |mut rx| rx.try_recv().is_ok())
    }

    /// Wake every waiting worker: the run is stopping.
    pub fn stop(&self) {
        self.lock().stopping = true;
        self.changed.notify_waiters();
    }
}

impl State {
    fn took(&mut self, lane: usize) {
        self.in_flight += 1;
        let l = &mut self.lanes[lane];
        l.taken += 1;
        if let Some(budget) = &mut l.share.budget {
            *budget = budget.saturating_sub(1);
        }
    }

    /// The first priority with a lane that is not out.
    fn priority(&self) -> Option<u32> {
        self.lanes
            .iter()
            .filter(|l| l.out.is_none())
            .map(|l| l.share.priority)
            .min()
    }

    fn active(&self, lane: usize) -> bool {
        Some(self.lanes[lane].share.priority) == self.priority()
    }

    fn within_share(&self, lane: usize) -> bool {
        let priority = self.lanes[lane].share.priority;
        let group: Vec<&Lane> = self
            .lanes
            .iter()
            .filter(|l| l.out.is_none() && l.share.priority == priority)
            .collect();
        if group.len() < 2 {
            return true;
        }
        let rated = group
            .iter()
            .filter(|l| l.share.rate_per_second.is_some())
            .count();
        let weight = |l: &Lane| match rated {
            0 => Some(1.0),
            n if n == group.len() => l.share.rate_per_second,
            _ => None,
        };
        let Some(mine) = weight(&self.lanes[lane]) else {
            return true;
        };
        let total: f64 = group.iter().filter_map(|l| weight(l)).sum();
        let taken: u64 = group.iter().map(|l| l.taken).sum();
        let slack = group.iter().map(|l| l.share.concurrency).max().unwrap_or(1);
        (self.lanes[lane].taken as f64) < mine / total * (taken + u64::from(slack)) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Token;

    fn share(name: &str, priority: u32, rate: Option<f64>, budget: Option<u64>) -> Share {
        Share {
            name: name.into(),
            priority,
            rate_per_second: rate,
            concurrency: 2,
            budget,
            max_per_day: budget,
        }
    }

    fn job(id: i64) -> Job {
        Job {
            id,
            email: format!("r{id}@example.org"),
            name: None,
            role: None,
            token: Token::from_stored(format!("t{id}")),
            timezone: None,
        }
    }

    fn dispatch(shares: Vec<Share>, n: i64) -> Dispatch {
        let (tx, rx) = mpsc::channel(n as usize + 1);
        for id in 1..=n {
            tx.try_send(job(id)).unwrap();
        }
        drop(tx);
        Dispatch::new(shares, rx)
    }

    /// Lanes asking in turn, each job settled at once: how many each got.
    fn split(d: &Dispatch, lanes: usize, asks: usize) -> Vec<u64> {
        let mut got = vec![0; lanes];
        for i in 0..asks {
            let lane = i % lanes;
            if d.try_take(lane).is_some() {
                got[lane] += 1;
                d.settle(lane, true);
            }
        }
        got
    }

    #[test]
    fn equal_lanes_share_equally_and_rated_ones_by_rate() {
        let cases = [
            (vec![None, None], 300, vec![150, 150]),
            (vec![Some(200.0), Some(100.0)], 300, vec![200, 100]),
            (
                vec![Some(1.0), Some(1.0), Some(2.0)],
                400,
                vec![100, 100, 200],
            ),
        ];
        for (rates, n, expected) in cases {
            let shares = rates
                .iter()
                .enumerate()
                .map(|(i, r)| share(&format!("r{i}"), 1, *r, None))
                .collect::<Vec<_>>();
            let lanes = shares.len();
            let d = dispatch(shares, n);
            let got = split(&d, lanes, n as usize * 4);
            assert_eq!(got.iter().sum::<u64>(), n as u64, "{rates:?}");
            for (g, e) in got.iter().zip(&expected) {
                assert!(g.abs_diff(*e) <= 2, "{rates:?}: {got:?} vs {expected:?}");
            }
        }
    }

    #[test]
    fn a_lane_ahead_of_its_share_waits_for_the_others() {
        let d = dispatch(
            vec![share("a", 1, None, None), share("b", 1, None, None)],
            20,
        );
        // Slack is the largest concurrency (2): a runs two jobs ahead.
        let mut a = 0;
        while d.try_take(0).is_some() {
            a += 1;
        }
        assert_eq!(a, 2);
        assert!(d.try_take(1).is_some());
        assert!(d.try_take(0).is_some(), "b's job lets a go on");
    }

    #[test]
    fn a_later_priority_waits_until_every_earlier_lane_is_out() {
        let d = dispatch(
            vec![share("a", 1, None, None), share("b", 2, None, None)],
            10,
        );
        assert!(d.try_take(1).is_none());
        let first = d.try_take(0).unwrap();
        assert!(d.put_out(0, "gone", true));
        d.hand_back(0, first);
        assert!(d.try_take(0).is_none());
        assert_eq!(d.try_take(1).map(|j| j.id), Some(1), "handed back first");
        assert_eq!(d.outs(), vec![("a".to_string(), "gone".to_string())]);
    }

    #[test]
    fn the_last_lane_is_not_put_out_for_a_soft_reason_but_is_for_a_hard_one() {
        let d = dispatch(vec![share("a", 1, None, None)], 3);
        assert!(!d.put_out(0, "421s", true));
        assert!(!d.all_out());
        assert!(d.put_out(0, "refused the login", false));
        assert!(d.all_out());
    }

    #[test]
    fn a_spent_budget_puts_the_lane_out_and_the_rest_goes_elsewhere() {
        let d = dispatch(
            vec![share("a", 1, None, Some(3)), share("b", 2, None, None)],
            10,
        );
        let got = split(&d, 2, 100);
        assert_eq!(got, vec![3, 7]);
        let outs = d.outs();
        assert_eq!(outs.len(), 1);
        assert!(outs[0].1.contains("max_per_day of 3"), "{outs:?}");
    }

    #[test]
    fn a_job_not_sent_gives_its_budget_back() {
        let d = dispatch(vec![share("a", 1, None, Some(1))], 3);
        assert!(d.try_take(0).is_some());
        d.settle(0, false);
        assert!(d.try_take(0).is_some());
        d.settle(0, true);
        assert!(d.try_take(0).is_none());
        assert!(d.all_out());
    }

    #[test]
    fn take_ends_when_every_job_is_settled() {
        let d = dispatch(vec![share("a", 1, None, None)], 2);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut ids = Vec::new();
            while let Some(job) = d.take(0).await {
                ids.push(job.id);
                d.settle(0, true);
            }
            assert_eq!(ids, vec![1, 2]);
        });
    }
}
