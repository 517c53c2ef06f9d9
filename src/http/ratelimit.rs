//! Rate limits: the subscribe form's, at most [`SUBSCRIBE_PER_MINUTE`]
//! posts a minute from one client, and the webhooks' own, far larger one
//! (`[webhooks] rate_per_minute`), so that a relay's burst of events is
//! never held to the form's limit nor a flood let through unmetered.
//!
//! The client is the peer address, or the last `X-Forwarded-For` address
//! when the peer is a proxy on this machine; an IPv6 client is counted by
//! its /64 network, since one client commonly holds a whole /64.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

/// Requests to `POST /subscribe` allowed per client per minute.
pub const SUBSCRIBE_PER_MINUTE: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);
/// Past this many clients, the ones whose allowance is full again are
/// forgotten.
const MAX_CLIENTS: usize = 10_000;

/// A token bucket per client: `per_minute` requests at once, refilled at
/// `per_minute` a minute. Memory is one entry per client, whatever the
/// limit.
pub struct RateLimit {
    per_minute: u32,
    clients: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit::per_minute(SUBSCRIBE_PER_MINUTE)
    }
}

impl RateLimit {
    pub fn per_minute(per_minute: u32) -> RateLimit {
        RateLimit {
            per_minute: per_minute.max(1),
            clients: Mutex::default(),
        }
    }

    /// Whether `ip` may make another request now. The lock is held for a
    /// few map operations, never across an await.
    pub fn allow(&self, ip: IpAddr) -> bool {
        let ip = rate_key(ip);
        let now = Instant::now();
        let full = f64::from(self.per_minute);
        let refill = |(tokens, at): (f64, Instant)| {
            (tokens + now.duration_since(at).as_secs_f64() * full / WINDOW.as_secs_f64()).min(full)
        };
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() > MAX_CLIENTS {
            clients.retain(|_, bucket| refill(*bucket) < full);
        }
        let bucket = clients.entry(ip).or_insert((full, now));
        let tokens = refill(*bucket);
        if tokens < 1.0 {
            *bucket = (tokens, now);
            return false;
        }
        *bucket = (tokens - 1.0, now);
        true
    }
}

/// The unit the rate limit counts: an IPv4 address, or the /64 network of
/// an IPv6 address.
pub fn rate_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Behind a reverse proxy on the same machine, the client is the last
/// address the proxy appended; a remote peer's header is not trusted.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    if peer.ip().is_loopback()
        && let Some(forwarded) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
        && let Some(ip) = forwarded
            .rsplit(',')
            .next()
            .and_then(|s| s.trim().parse().ok())
    {
        return ip;
    }
    peer.ip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_counts_ipv6_clients_by_their_64_network() {
        let cases = [
            ("192.0.2.7", "192.0.2.7"),
            ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::"),
            ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::"),
            ("::ffff:192.0.2.7", "192.0.2.7"),
        ];
        for (ip, key) in cases {
            assert_eq!(rate_key(ip.parse().unwrap()).to_string(), key, "{ip}");
        }
    }

    #[test]
    fn a_client_gets_ten_posts_a_minute_and_others_are_not_counted_with_it() {
        let limit = RateLimit::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..SUBSCRIBE_PER_MINUTE {
            assert!(limit.allow(a));
        }
        assert!(!limit.allow(a));
        assert!(limit.allow(b));
    }
}
