//! How fast the engine goes: the relay's rate limit, and the backoff
//! between retries.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// Spaces sends evenly, and never lets more than the rate start within
/// any one second.
///
/// Even spacing alone is not enough for that: a worker woken a little
/// late leaves the next slot closer than the interval, and a second can
/// then hold one send too many. So every start is also logged, and a new
/// one waits until the start `rate` places back is more than a second
/// (plus a margin) old. A relay counts arrivals, which reach it some
/// milliseconds after our starts and not all equally late; the margin of
/// 50 ms keeps its count within the rate too (measured by
/// `scripts/bench-relays`: 10 ms was not enough on a busy machine).
pub struct Limiter {
    interval: Duration,
    /// Starts allowed in any window of [`WINDOW`].
    per_window: usize,
    state: Mutex<Log>,
}

/// The window the rate is kept over: a second, and a margin for the way
/// to the relay.
pub const WINDOW: Duration = Duration::from_millis(1050);

struct Log {
    next: Instant,
    starts: VecDeque<Instant>,
}

impl Limiter {
    pub fn new(per_second: f64) -> Limiter {
        Limiter {
            interval: Duration::from_secs_f64(1.0 / per_second),
            per_window: (per_second.floor() as usize).max(1),
            state: Mutex::new(Log {
                next: Instant::now(),
                starts: VecDeque::new(),
            }),
        }
    }

    /// Wait for a turn; the moment it was granted.
    pub async fn wait(&self) -> Instant {
        loop {
            let at = {
                let mut log = self.state.lock().await;
                let now = Instant::now();
                while log
                    .starts
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    log.starts.pop_front();
                }
                let full = log.starts.len() >= self.per_window;
                if now >= log.next && !full {
                    // Late by less than an interval keeps the rhythm;
                    // after a pause the rhythm starts again from now.
                    let late = now.duration_since(log.next);
                    log.next = if late < self.interval {
                        log.next + self.interval
                    } else {
                        now + self.interval
                    };
                    log.starts.push_back(now);
                    return now;
                }
                match log.starts.front() {
                    Some(oldest) if full => (*oldest + WINDOW).max(log.next),
                    _ => log.next,
                }
            };
            tokio::time::sleep_until(at.into()).await;
        }
    }
}

/// Exponential backoff with jitter: `base * 2^(attempt-1)`, times a random
/// factor between 0.5 and 1.5, so retries from many workers spread out.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    let jitter = 0.5 + f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX);
    exp.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_window_of_a_second_holds_more_starts_than_the_rate() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let starts = runtime.block_on(async {
            let limiter = std::sync::Arc::new(Limiter::new(50.0));
            let starts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let (limiter, starts) = (limiter.clone(), starts.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..10 {
                        let at = limiter.wait().await;
                        starts.lock().unwrap().push(at);
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            std::sync::Arc::try_unwrap(starts)
                .unwrap()
                .into_inner()
                .unwrap()
        });
        let mut starts = starts;
        starts.sort();
        assert_eq!(starts.len(), 80);
        for (i, t) in starts.iter().enumerate() {
            let within = starts[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < Duration::from_secs(1))
                .count();
            assert!(within <= 50, "{within} starts in the second from start {i}");
        }
        let span = starts.last().unwrap().duration_since(starts[0]);
        // Evenly spaced: never faster than the rate.
        assert!(span >= Duration::from_millis(1550), "{span:?}");
    }

    #[test]
    fn backoff_grows_and_jitters_within_bounds() {
        let base = Duration::from_millis(100);
        for attempt in 1..=5u32 {
            let nominal = 100.0 * f64::from(1u32 << (attempt - 1));
            for _ in 0..20 {
                let ms = backoff(base, attempt).as_secs_f64() * 1000.0;
                assert!(
                    ms >= nominal * 0.5 - 1.0 && ms <= nominal * 1.5 + 1.0,
                    "{attempt}: {ms}"
                );
            }
        }
    }
}
