//! How fast the engine goes: the relay's rate limit, and the backoff
//! between retries.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// Spaces sends evenly so that no second ever sees more than the rate.
pub struct Limiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Limiter {
    pub fn new(per_second: f64) -> Limiter {
        Limiter {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Mutex::new(Instant::now()),
        }
    }

    pub async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
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
