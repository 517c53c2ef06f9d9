//! Who holds a week's send lease, and whether they are still alive.
//!
//! A run holds the week's lease in the database and renews it every
//! [`LEASE_RENEW`]; a second run waits. A run killed with `kill -9` cannot
//! release its lease, so a lease expires [`LEASE_TTL`] after its last
//! renewal. On the machine the holder ran on we can do better than wait:
//! the holder is recorded as `host:pid:nonce`, and a holder whose process
//! is gone from this host is taken over at once. Across machines (a
//! database on shared storage) only the expiry can tell.

use std::fmt;
use std::time::Duration;

/// A lease not renewed for this long is considered abandoned.
pub const LEASE_TTL: Duration = Duration::from_secs(20);
/// How often a run renews its lease.
pub const LEASE_RENEW: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    pub nonce: String,
}

impl Holder {
    /// This process, on this host, with a fresh nonce (so that two runs in
    /// one process, as in tests, are different holders).
    pub fn this_process() -> anyhow::Result<Holder> {
        let nonce = crate::token::random_id()?;
        Ok(Holder {
            host: hostname(),
            pid: std::process::id(),
            nonce: nonce.get(..8).unwrap_or_default().to_string(),
        })
    }

    /// `host:pid:nonce` as stored; `None` for anything else (a holder
    /// written by an older version, say), which is then only ever expired.
    pub fn parse(s: &str) -> Option<Holder> {
        let mut parts = s.rsplitn(3, ':');
        let nonce = parts.next()?.to_string();
        let pid = parts.next()?.parse().ok()?;
        let host = parts.next()?.to_string();
        Some(Holder { host, pid, nonce })
    }

    /// True when `holder` ran on this host and its process no longer
    /// exists. A reused process id only means we wait for the expiry.
    pub fn is_gone_from(holder: &str, this_host: &str) -> bool {
        match Holder::parse(holder) {
            Some(h) if h.host == this_host => !process_exists(h.pid),
            _ => false,
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.host, self.pid, self.nonce)
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether a process with this id exists. Where `/proc` is missing (not
/// Linux), every process is assumed alive and leases simply expire.
fn process_exists(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_round_trip_and_strange_ones_are_not_parsed() {
        let h = Holder {
            host: "mail-1".into(),
            pid: 4242,
            nonce: "AbCd-_12".into(),
        };
        assert_eq!(Holder::parse(&h.to_string()), Some(h));
        for bad in ["", "x", "host:notapid:n", "a:b"] {
            assert_eq!(Holder::parse(bad), None, "{bad}");
        }
        // Host names with colons stay whole.
        assert_eq!(Holder::parse("a:b:7:n").unwrap().host, "a:b");
    }

    #[test]
    fn only_a_dead_holder_on_this_host_is_gone() {
        let me = Holder::this_process().unwrap();
        assert!(!Holder::is_gone_from(&me.to_string(), &me.host));
        // A pid beyond the kernel's maximum cannot exist.
        let dead = format!("{}:4294967295:x", me.host);
        assert!(Holder::is_gone_from(&dead, &me.host));
        // The same dead pid on another host: only the expiry can tell.
        assert!(!Holder::is_gone_from("elsewhere:4294967295:x", &me.host));
        assert!(!Holder::is_gone_from("garbage", &me.host));
    }
}
