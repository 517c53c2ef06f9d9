//! A private dnsmasq: a real name server on a 127.0.0.1 port, answering
//! for the domains a test names from the records it is given, and
//! NXDOMAIN (not a referral or a refusal) for any other name under them.
//! `digest doctor` reads the sender's records from it through
//! `[dns] nameserver`. dnsmasq is installed by
//! `scripts/install-test-deps.sh`; the tests that use it are `#[ignore]`d
//! outside CI when `build.rs` finds none (cfg `missing_dnsmasq`).

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::ports::free_port;

/// The records a test serves.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    /// Domains answered only from the records below.
    pub domains: Vec<String>,
    /// (name, text): one TXT record each; two with one name are two records.
    pub txt: Vec<(String, String)>,
    /// (domain, exchange, preference).
    pub mx: Vec<(String, String, u16)>,
}

impl Zone {
    pub fn new(domain: &str) -> Zone {
        Zone {
            domains: vec![domain.to_string()],
            ..Zone::default()
        }
    }

    pub fn txt(mut self, name: &str, text: &str) -> Zone {
        self.txt.push((name.to_string(), text.to_string()));
        self
    }

    pub fn mx(mut self, domain: &str, exchange: &str, preference: u16) -> Zone {
        self.mx
            .push((domain.to_string(), exchange.to_string(), preference));
        self
    }

    /// The zone without the TXT records at `name` that start with `prefix`.
    pub fn without_txt(mut self, name: &str, prefix: &str) -> Zone {
        self.txt
            .retain(|(n, t)| !(n == name && t.starts_with(prefix)));
        self
    }

    pub fn without_mx(mut self) -> Zone {
        self.mx.clear();
        self
    }
}

pub struct Dnsmasq {
    child: Child,
    /// `127.0.0.1:PORT`, for `[dns] nameserver`.
    pub addr: String,
}

impl Dnsmasq {
    pub fn start(zone: &Zone) -> Dnsmasq {
        let port = free_port();
        let mut cmd = Command::new("/usr/sbin/dnsmasq");
        cmd.args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--pid-file=",
            "--cache-size=0",
        ])
        .arg(format!("--port={port}"));
        for domain in &zone.domains {
            cmd.arg(format!("--local=/{domain}/"));
        }
        for (name, text) in &zone.txt {
            // One character-string holds at most 255 bytes: a long record
            // (a DKIM key) is given as several, comma-separated.
            let parts: Vec<String> = text
                .as_bytes()
                .chunks(250)
                .map(|c| String::from_utf8(c.to_vec()).unwrap())
                .collect();
            assert!(
                !text.contains(','),
                "dnsmasq splits TXT text at commas: {text}"
            );
            cmd.arg(format!("--txt-record={name},{}", parts.join(",")));
        }
        for (domain, exchange, preference) in &zone.mx {
            cmd.arg(format!("--mx-host={domain},{exchange},{preference}"));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start /usr/sbin/dnsmasq (scripts/install-test-deps.sh installs it)");
        // dnsmasq listens on TCP as well as UDP, and binds both before it
        // answers: a TCP connection means it is ready.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read as _;
                    let _ = e.read_to_string(&mut err);
                }
                panic!("dnsmasq exited at start ({status}): {err}");
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "dnsmasq did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Dnsmasq {
            child,
            addr: format!("127.0.0.1:{port}"),
        }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
