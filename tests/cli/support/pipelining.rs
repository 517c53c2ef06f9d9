//! A small SMTP server with PIPELINING and CHUNKING, for the pipelining
//! tests: it can advertise either or neither, refuse the n-th RCPT and
//! fail the n-th DATA (or BDAT) it receives, and it notes how the client
//! sent its commands: a command that arrived while an earlier one was
//! still unanswered is pipelined.
//!
//! One thread per connection, on a free port of 127.0.0.1, alive until the
//! test process ends. Plain SMTP only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What the server offers and which commands it refuses (1-based counts
/// over all connections).
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub pipelining: bool,
    pub chunking: bool,
    pub refuse_rcpt: Vec<usize>,
    pub fail_data: Vec<usize>,
    /// Answer these final dots (1-based, counted over all connections)
    /// with 421 and close the connection, dropping the message.
    pub drop_at_dot: Vec<usize>,
    /// How long to wait before answering each final dot (a slow relay).
    pub delay: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct Accepted {
    pub rcpt_to: Vec<String>,
    pub raw: Vec<u8>,
    /// BDAT rather than DATA.
    pub chunked: bool,
    /// Which connection it came on, counting from 1.
    pub connection: usize,
}

#[derive(Debug, Default)]
pub struct Seen {
    pub messages: Vec<Accepted>,
    /// Connections accepted.
    pub connections: usize,
    pub rcpts: usize,
    pub datas: usize,
    pub dots: usize,
    /// MAIL commands that arrived with the rest of their transaction
    /// already behind them.
    pub pipelined_mails: usize,
    /// Messages whose final dot arrived with the next message's commands
    /// already behind it.
    pub next_behind_data: usize,
    /// Commands that arrived before the reply to the one before them,
    /// on a server that did not offer PIPELINING.
    pub unasked_pipelining: usize,
}

pub struct PipeSmtp {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

impl PipeSmtp {
    pub fn start(script: Script) -> PipeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, script) = (shared.clone(), script.clone());
                std::thread::spawn(move || {
                    let _ = session(stream, &script, &seen);
                });
            }
        });
        PipeSmtp { addr, seen }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// How many messages `email` received.
    pub fn count_for(&self, email: &str) -> usize {
        self.seen(|s| {
            s.messages
                .iter()
                .filter(|m| m.rcpt_to.iter().any(|r| r == email))
                .count()
        })
    }

    /// Wait (up to a minute) until `n` messages have arrived.
    pub fn wait_for(&self, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.seen(|s| s.messages.len()) < n {
            assert!(
                std::time::Instant::now() < deadline,
                "fewer than {n} messages arrived"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

fn session(stream: TcpStream, script: &Script, seen: &Mutex<Seen>) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    let lock = || seen.lock().unwrap_or_else(|e| e.into_inner());
    let connection = {
        let mut seen = lock();
        seen.connections += 1;
        seen.connections
    };
    out.write_all(b"220 pipe.test ESMTP\r\n")?;
    let mut rcpts: Vec<String> = Vec::new();
    let mut in_mail = false;
    loop {
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let buffered = !input.buffer().is_empty();
        let upper = line.trim_end().to_ascii_uppercase();
        let verb = upper.split([' ', ':']).next().unwrap_or("").to_string();
        if buffered && !script.pipelining && verb != "QUIT" {
            lock().unasked_pipelining += 1;
        }
        let reply: String = match verb.as_str() {
            "EHLO" => {
                let mut r = String::from("250-pipe.test\r\n");
                if script.pipelining {
                    r += "250-PIPELINING\r\n";
                }
                if script.chunking {
                    r += "250-CHUNKING\r\n";
                }
                r + "250 8BITMIME\r\n"
            }
            "HELO" | "NOOP" => "250 ok\r\n".into(),
            "MAIL" => {
                if buffered {
                    lock().pipelined_mails += 1;
                }
                rcpts.clear();
                in_mail = true;
                "250 2.1.0 sender ok\r\n".into()
            }
            "RCPT" => {
                let address = line.trim_end()[8..]
                    .trim()
                    .trim_matches(['<', '>'])
                    .to_string();
                let n = {
                    let mut s = lock();
                    s.rcpts += 1;
                    s.rcpts
                };
                if !in_mail {
                    "503 5.5.1 MAIL first\r\n".into()
                } else if script.refuse_rcpt.contains(&n) {
                    format!("550 5.1.1 <{address}> refused as RCPT number {n}\r\n")
                } else {
                    rcpts.push(address);
                    "250 2.1.5 recipient ok\r\n".into()
                }
            }
            "DATA" => {
                let n = next_data(seen);
                if script.fail_data.contains(&n) || rcpts.is_empty() {
                    in_mail = false;
                    let why = if rcpts.is_empty() {
                        "no valid recipients".into()
                    } else {
                        format!("DATA number {n} refused")
                    };
                    format!("554 5.5.0 {why}\r\n")
                } else {
                    out.write_all(b"354 go ahead\r\n")?;
                    let raw = read_data(&mut input)?;
                    std::thread::sleep(script.delay);
                    let dot = {
                        let mut s = lock();
                        s.dots += 1;
                        s.dots
                    };
                    if script.drop_at_dot.contains(&dot) {
                        out.write_all(b"421 4.3.2 closing, try again\r\n")?;
                        return Ok(());
                    }
                    if !input.buffer().is_empty() {
                        lock().next_behind_data += 1;
                    }
                    lock().messages.push(Accepted {
                        rcpt_to: std::mem::take(&mut rcpts),
                        raw,
                        chunked: false,
                        connection,
                    });
                    in_mail = false;
                    "250 2.0.0 queued\r\n".into()
                }
            }
            "BDAT" => {
                let size: usize = upper
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let mut raw = vec![0; size];
                input.read_exact(&mut raw)?;
                let n = next_data(seen);
                in_mail = false;
                if script.fail_data.contains(&n) {
                    format!("554 5.5.0 BDAT number {n} refused\r\n")
                } else if rcpts.is_empty() {
                    "554 5.5.0 no valid recipients\r\n".into()
                } else {
                    lock().messages.push(Accepted {
                        rcpt_to: std::mem::take(&mut rcpts),
                        raw,
                        chunked: true,
                        connection,
                    });
                    "250 2.0.0 queued\r\n".into()
                }
            }
            "RSET" => {
                rcpts.clear();
                in_mail = false;
                "250 2.0.0 reset\r\n".into()
            }
            "QUIT" => {
                out.write_all(b"221 2.0.0 bye\r\n")?;
                return Ok(());
            }
            _ => "500 5.5.2 unknown command\r\n".into(),
        };
        out.write_all(reply.as_bytes())?;
    }
}

fn next_data(seen: &Mutex<Seen>) -> usize {
    let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
    s.datas += 1;
    s.datas
}

/// The message after 354, up to the lone dot, dot-unstuffed.
fn read_data(input: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    loop {
        let mut line = Vec::new();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" {
            return Ok(raw);
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        raw.extend_from_slice(line);
    }
}
