//! A small DNS client for the records a sender is judged by: TXT (DKIM,
//! SPF, DMARC) and MX, asked of one recursive name server.
//!
//! The system's resolver library answers only address lookups, and a full
//! resolver crate costs more build time than four record checks are
//! worth: a query is one UDP datagram (with EDNS, so a 2048-bit DKIM key
//! fits), and a truncated answer is asked again over TCP, as RFC 7766
//! wants. Nothing here is cached or retried beyond one repeat over UDP.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// Record types asked for.
const TXT: u16 = 16;
const MX: u16 = 15;
/// The EDNS payload size offered: the size DNS flag day 2020 settled on.
const EDNS_SIZE: u16 = 1232;

/// Where queries go, and how long an answer may take.
#[derive(Debug, Clone)]
pub struct Resolver {
    pub server: SocketAddr,
    pub timeout: Duration,
}

/// Why a lookup gave no answer. A name without records is not an error:
/// it is an empty answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("no answer from the name server {server} within {secs} s")]
    Timeout { server: SocketAddr, secs: u64 },
    #[error("cannot ask the name server {server}: {why}")]
    Io { server: SocketAddr, why: String },
    #[error("the name server {server} answered {rcode} for {name}")]
    Refused {
        server: SocketAddr,
        name: String,
        rcode: &'static str,
    },
    #[error("the name server {server} sent an answer that cannot be read ({why})")]
    Malformed { server: SocketAddr, why: String },
    #[error("{0:?} is not a domain name")]
    BadName(String),
}

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    pub preference: u16,
    pub exchange: String,
}

impl Resolver {
    /// The system's resolver: the first `nameserver` of
    /// `/etc/resolv.conf`, or 127.0.0.1:53 when it names none (as the C
    /// library does).
    pub fn system(timeout: Duration) -> Resolver {
        let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let ip = first_nameserver(&conf).unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Resolver {
            server: SocketAddr::new(ip, 53),
            timeout,
        }
    }

    /// Every TXT record at `name`, each record's strings joined (a DKIM
    /// key longer than 255 bytes is published as several).
    pub fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let answer = self.ask(name, TXT)?;
        answer
            .records(TXT)
            .map(|rdata| txt_strings(rdata).ok_or_else(|| self.malformed("a TXT record")))
            .collect()
    }

    /// Every MX record of `name`, most preferred first.
    pub fn mx(&self, name: &str) -> Result<Vec<Mx>, DnsError> {
        let answer = self.ask(name, MX)?;
        let mut found = Vec::new();
        for (offset, rdata) in answer.record_offsets(MX) {
            if rdata.len() < 3 {
                return Err(self.malformed("an MX record"));
            }
            let preference = u16::from_be_bytes([rdata[0], rdata[1]]);
            let (exchange, _) = read_name(&answer.message, offset + 2)
                .ok_or_else(|| self.malformed("an MX name"))?;
            found.push(Mx {
                preference,
                exchange,
            });
        }
        found.sort_by_key(|m| m.preference);
        Ok(found)
    }

    fn malformed(&self, why: &str) -> DnsError {
        DnsError::Malformed {
            server: self.server,
            why: why.to_string(),
        }
    }

    /// One question, its answer checked: the same id and question,
    /// NOERROR or NXDOMAIN.
    fn ask(&self, name: &str, qtype: u16) -> Result<Message, DnsError> {
        let id = random_id();
        let query = encode_query(id, name, qtype)?;
        let mut reply = self.over_udp(&query)?;
        if reply.len() > 2 && reply[2] & 0x02 != 0 {
            // Truncated: the whole answer comes over TCP.
            reply = self.over_tcp(&query)?;
        }
        let message = Message::parse(reply, id).map_err(|why| self.malformed(why))?;
        match message.rcode {
            0 | 3 => Ok(message),
            code => Err(DnsError::Refused {
                server: self.server,
                name: name.to_string(),
                rcode: rcode_name(code),
            }),
        }
    }

    fn over_udp(&self, query: &[u8]) -> Result<Vec<u8>, DnsError> {
        let io = |e: std::io::Error| self.io_error(e);
        let local: SocketAddr = if self.server.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(local).map_err(io)?;
        socket.connect(self.server).map_err(io)?;
        // Half the time for each of two tries: a datagram may be lost.
        socket
            .set_read_timeout(Some((self.timeout / 2).max(Duration::from_millis(100))))
            .map_err(io)?;
        let mut buf = vec![0u8; 65535];
        for _ in 0..2 {
            socket.send(query).map_err(io)?;
            loop {
                match socket.recv(&mut buf) {
                    // A stray datagram with another id is not our answer.
                    Ok(n) if n >= 2 && buf[..2] == query[..2] => return Ok(buf[..n].to_vec()),
                    Ok(_) => continue,
                    Err(e) if is_timeout(&e) => break,
                    Err(e) => return Err(io(e)),
                }
            }
        }
        Err(self.timeout_error())
    }

    fn over_tcp(&self, query: &[u8]) -> Result<Vec<u8>, DnsError> {
        let io = |e: std::io::Error| {
            if is_timeout(&e) {
                self.timeout_error()
            } else {
                self.io_error(e)
            }
        };
        let mut stream = TcpStream::connect_timeout(&self.server, self.timeout).map_err(io)?;
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let mut framed = (query.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(query);
        stream.write_all(&framed).map_err(io)?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).map_err(io)?;
        let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut reply).map_err(io)?;
        Ok(reply)
    }

    fn io_error(&self, e: std::io::Error) -> DnsError {
        DnsError::Io {
            server: self.server,
            why: e.to_string(),
        }
    }

    fn timeout_error(&self) -> DnsError {
        DnsError::Timeout {
            server: self.server,
            secs: self.timeout.as_secs().max(1),
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn random_id() -> u16 {
    let mut id = [0u8; 2];
    // A fixed id would do for a client that checks the question too; the
    // random one keeps a stray answer from an earlier query out.
    let _ = getrandom::fill(&mut id);
    u16::from_be_bytes(id)
}

/// The first `nameserver` line's address (an IPv6 scope `%eth0` dropped).
fn first_nameserver(conf: &str) -> Option<IpAddr> {
    conf.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("nameserver"))
            .then(|| words.next())
            .flatten()
            .and_then(|ip| ip.split('%').next()?.parse().ok())
    })
}

fn rcode_name(code: u8) -> &'static str {
    match code {
        1 => "FORMERR",
        2 => "SERVFAIL",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "an error code",
    }
}

/// A recursive query for `name`, with an EDNS record offering
/// [`EDNS_SIZE`] bytes.
fn encode_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    let bad = || DnsError::BadName(name.to_string());
    let name = name.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 || !name.is_ascii() {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(name.len() + 30);
    out.extend_from_slice(&id.to_be_bytes());
    // Flags: a standard query, recursion desired. One question, one
    // additional record (EDNS).
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad());
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // class IN
    // OPT: root name, type 41, the payload size as its class, no flags.
    out.push(0);
    out.extend_from_slice(&41u16.to_be_bytes());
    out.extend_from_slice(&EDNS_SIZE.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Ok(out)
}

/// An answer, with where each answer record's data starts.
struct Message {
    message: Vec<u8>,
    rcode: u8,
    /// (type, offset of the data, length of the data), answer section only.
    answers: Vec<(u16, usize, usize)>,
}

impl Message {
    fn parse(message: Vec<u8>, id: u16) -> Result<Message, &'static str> {
        if message.len() < 12 {
            return Err("shorter than a header");
        }
        if u16::from_be_bytes([message[0], message[1]]) != id || message[2] & 0x80 == 0 {
            return Err("not the answer to our question");
        }
        let rcode = message[3] & 0x0f;
        let count = |i: usize| u16::from_be_bytes([message[i], message[i + 1]]) as usize;
        let (questions, answers) = (count(4), count(6));
        let mut at = 12;
        for _ in 0..questions {
            at = read_name(&message, at).ok_or("a question name")?.1 + 4;
        }
        let mut found = Vec::with_capacity(answers);
        for _ in 0..answers {
            let (_, end) = read_name(&message, at).ok_or("an answer name")?;
            let fixed = message.get(end..end + 10).ok_or("an answer record")?;
            let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
            let len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
            let data = end + 10;
            if data + len > message.len() {
                return Err("an answer's data runs past the end");
            }
            found.push((rtype, data, len));
            at = data + len;
        }
        Ok(Message {
            message,
            rcode,
            answers: found,
        })
    }

    /// The data of every answer record of type `rtype` (a CNAME on the
    /// way is followed by the server, and skipped here).
    fn records(&self, rtype: u16) -> impl Iterator<Item = &[u8]> {
        self.record_offsets(rtype).map(|(_, data)| data)
    }

    fn record_offsets(&self, rtype: u16) -> impl Iterator<Item = (usize, &[u8])> {
        self.answers
            .iter()
            .filter(move |(t, _, _)| *t == rtype)
            .map(|&(_, at, len)| (at, &self.message[at..at + len]))
    }
}

/// A name at `at`, following compression pointers; and where the name's
/// own bytes end.
fn read_name(message: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut end = None;
    // Each jump goes to an earlier offset in a well-formed message; the
    // bound stops a loop in a hostile one.
    for _ in 0..128 {
        let len = *message.get(at)? as usize;
        match len {
            0 => {
                return Some((name, end.unwrap_or(at + 1)));
            }
            l if l & 0xc0 == 0xc0 => {
                let low = *message.get(at + 1)? as usize;
                end.get_or_insert(at + 2);
                at = ((l & 0x3f) << 8) | low;
            }
            l if l < 64 => {
                let label = message.get(at + 1..at + 1 + l)?;
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(&String::from_utf8_lossy(label));
                at += 1 + l;
            }
            _ => return None,
        }
    }
    None
}

/// A TXT record's character strings, joined.
fn txt_strings(mut rdata: &[u8]) -> Option<String> {
    let mut text = Vec::with_capacity(rdata.len());
    while let Some((&len, rest)) = rdata.split_first() {
        let part = rest.get(..len as usize)?;
        text.extend_from_slice(part);
        rdata = &rest[len as usize..];
    }
    Some(String::from_utf8_lossy(&text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer to `query` with the given rcode and answer records
    /// (type, data), each owned by a pointer to the question's name.
    fn answer(query: &[u8], rcode: u8, records: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let question_end = query.len() - 11; // the OPT record is 11 bytes
        let mut out = query[..question_end].to_vec();
        out[2] = 0x81;
        out[3] = 0x80 | rcode;
        out[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        out[10..12].copy_from_slice(&[0, 0]);
        for (rtype, data) in records {
            out.extend_from_slice(&[0xc0, 12]);
            out.extend_from_slice(&rtype.to_be_bytes());
            out.extend_from_slice(&[0, 1, 0, 0, 1, 0]);
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn queries_are_encoded_with_edns_and_names_checked() {
        let q = encode_query(0xabcd, "_dmarc.Example.com.", TXT).unwrap();
        assert_eq!(&q[..4], &[0xab, 0xcd, 0x01, 0x00]);
        assert_eq!(&q[12..32], b"\x06_dmarc\x07Example\x03com\x00");
        assert_eq!(&q[32..36], &[0, 16, 0, 1]);
        assert_eq!(q.len(), 36 + 11);
        for bad in [
            "",
            "a..b",
            &"x".repeat(64),
            "caf\u{e9}.fr",
            &"a.".repeat(130),
        ] {
            assert!(
                matches!(encode_query(1, bad, TXT), Err(DnsError::BadName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn answers_are_read_with_their_records() {
        let q = encode_query(7, "sel._domainkey.example.com", TXT).unwrap();
        // A key split in two strings, and a CNAME on the way (skipped).
        let mut txt = vec![5];
        txt.extend_from_slice(b"v=DKI");
        txt.push(9);
        txt.extend_from_slice(b"M1; p=abc");
        let reply = answer(&q, 0, &[(5, vec![0xc0, 12]), (TXT, txt)]);
        let m = Message::parse(reply, 7).unwrap();
        let got: Vec<_> = m.records(TXT).map(|r| txt_strings(r).unwrap()).collect();
        assert_eq!(got, ["v=DKIM1; p=abc"]);

        let q = encode_query(8, "example.com", MX).unwrap();
        // `10 mx` + a pointer to `example.com` in the question.
        let reply = answer(&q, 0, &[(MX, vec![0, 10, 2, b'm', b'x', 0xc0, 12])]);
        let m = Message::parse(reply, 8).unwrap();
        let (at, _) = m.record_offsets(MX).next().unwrap();
        assert_eq!(read_name(&m.message, at + 2).unwrap().0, "mx.example.com");
    }

    #[test]
    fn broken_answers_are_errors_not_panics() {
        let q = encode_query(9, "example.com", TXT).unwrap();
        let good = answer(&q, 0, &[(TXT, b"\x03abc".to_vec())]);
        assert!(Message::parse(good.clone(), 10).is_err(), "another id");
        for cut in 0..good.len() {
            // Every prefix either parses or is refused; none panics.
            let _ = Message::parse(good[..cut].to_vec(), 9);
        }
        assert_eq!(txt_strings(b"\x05ab"), None);
        // A pointer to itself.
        assert_eq!(read_name(&[0xc0, 0], 0), None);
        assert_eq!(read_name(&[0x80], 0), None);
    }

    #[test]
    fn the_system_resolver_is_the_first_nameserver() {
        for (conf, want) in [
            (
                "# local\nsearch x\nnameserver 10.0.0.2\nnameserver 1.1.1.1\n",
                Some("10.0.0.2"),
            ),
            ("nameserver fe80::1%eth0\n", Some("fe80::1")),
            ("options ndots:2\n", None),
            ("nameserver\n", None),
        ] {
            assert_eq!(
                first_nameserver(conf),
                want.map(|w| w.parse().unwrap()),
                "{conf}"
            );
        }
    }
}
