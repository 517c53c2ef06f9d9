//! One bulk SMTP connection and the way each message goes over it.
//!
//! On a real network every reply costs a round trip, so the commands go
//! out together wherever the server allows it:
//!
//! - **CHUNKING** (RFC 3030) with PIPELINING: `MAIL`, `RCPT` and
//!   `BDAT n LAST` followed by the message, in one write: one round trip
//!   a message.
//! - **PIPELINING** (RFC 2920): `MAIL`, `RCPT` and `DATA` in one write;
//!   then the message, and behind its final dot the next message's
//!   `MAIL`, `RCPT` and `DATA` ([`Connection::send_then`]), so that on a
//!   warm connection a message costs one round trip too.
//! - Neither: one command at a time.
//!
//! Every reply is read, in order, and belongs to its own command: a
//! refused RCPT or DATA is its own message's answer, and the stream is in
//! step again before the next message. lettre writes each command and
//! waits for its reply; it is used here for the connection (TLS, AUTH,
//! reading replies) and each group is written as one raw command.

use std::hash::{Hash as _, Hasher as _};
use std::time::Duration;

use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;

use super::{Failure, SmtpError};
use crate::transport::{Connection, Outcome, Outgoing};

type SmtpResult = Result<Response, lettre::transport::smtp::Error>;

/// What a server offers that changes how a message is sent, read from a
/// second EHLO before AUTH (lettre keeps only the extensions it uses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offers {
    /// RFC 2920: commands may be sent without waiting for each reply.
    pub pipelining: bool,
    /// RFC 3030: `BDAT`, whose byte count lets the message follow its
    /// commands in the same write.
    pub chunking: bool,
    /// RFC 1870: the largest message it takes (`None`: not said; 0: no
    /// limit).
    pub size: Option<u64>,
    /// The AUTH mechanisms it offers.
    pub auth: Vec<String>,
}

impl Offers {
    pub(super) async fn ask(
        conn: &mut AsyncSmtpConnection,
        hello: &ClientId,
    ) -> Result<Offers, SmtpError> {
        let ehlo = conn.command(Ehlo::new(hello.clone())).await?;
        Ok(Offers::from_ehlo(ehlo.message()))
    }

    /// From the lines of an EHLO reply (the first is the server's name).
    pub fn from_ehlo<'a>(lines: impl Iterator<Item = &'a str>) -> Offers {
        let mut offers = Offers::default();
        for line in lines.skip(1) {
            let upper = line.to_ascii_uppercase();
            let mut words = upper.split([' ', '=']).filter(|w| !w.is_empty());
            match words.next() {
                Some("PIPELINING") => offers.pipelining = true,
                Some("CHUNKING") => offers.chunking = true,
                Some("SIZE") => {
                    offers.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0));
                }
                Some("AUTH") => {
                    for mechanism in words {
                        if !offers.auth.iter().any(|m| m == mechanism) {
                            offers.auth.push(mechanism.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        offers
    }
}

/// A transaction started ahead of its turn, behind the previous message.
struct Ahead {
    /// Which message it is ([`key`]).
    key: u64,
    /// `Ok`: the server waits for its data (it answered 354). `Err`: the
    /// server refused it, and this is its answer.
    state: Result<(), lettre::transport::smtp::Error>,
}

/// One bulk connection, kept open across messages.
pub struct SmtpConnection {
    conn: AsyncSmtpConnection,
    offers: Offers,
    timeout: Duration,
    ahead: Option<Ahead>,
}

impl SmtpConnection {
    pub(super) fn new(conn: AsyncSmtpConnection, offers: Offers, timeout: Duration) -> Self {
        SmtpConnection {
            conn,
            offers,
            timeout,
            ahead: None,
        }
    }

    /// Waiting for a started message's data: the stream is inside DATA,
    /// where any command would become message text.
    fn inside_data(&self) -> bool {
        self.ahead.as_ref().is_some_and(|a| a.state.is_ok())
    }

    /// One SMTP transaction, and `next`'s envelope behind it when
    /// pipelining allows.
    ///
    /// lettre's own `send` escapes the message byte by byte (a fifth of the
    /// CPU of a bulk run) and closes the connection after any refusal.
    /// Here a 7-bit message is dot-stuffed with a fast search and written
    /// whole, and a refusal resets the transaction (`RSET`) so the
    /// connection serves the next message; anything else (8-bit content, an
    /// address that needs SMTPUTF8) goes through lettre's `send`.
    ///
    /// `started`: this message's transaction as it went ahead behind the
    /// previous one, if it did.
    async fn transaction(
        &mut self,
        message: &Outgoing,
        started: Option<Result<(), lettre::transport::smtp::Error>>,
        next: Option<&Outgoing>,
    ) -> SmtpResult {
        let Some(body) = fast_path(message) else {
            return self.conn.send(&message.envelope, &message.raw).await;
        };
        let result = match (self.offers.pipelining, self.offers.chunking) {
            (true, true) => self.chunked(message, body).await,
            (true, false) => self.pipelined(message, body, started, next).await,
            (false, _) => self.lockstep(message, body).await,
        };
        if let Err(e) = &result {
            if e.status().is_none() {
                self.conn.abort().await;
                self.ahead = None;
            } else if !self.inside_data() {
                // The server said no and is still listening: start over.
                // (After a refused final dot the transaction is over, and
                // the next message may already be inside DATA.)
                self.reset().await;
            }
        }
        result
    }

    async fn reset(&mut self) {
        if self.conn.command(Rset).await.is_err() {
            self.conn.abort().await;
            self.ahead = None;
        }
    }

    async fn lockstep(&mut self, message: &Outgoing, body: &str) -> SmtpResult {
        let envelope = &message.envelope;
        self.conn
            .command(Mail::new(envelope.from().cloned(), vec![]))
            .await?;
        for to in envelope.to() {
            self.conn.command(Rcpt::new(to.clone(), vec![])).await?;
        }
        self.conn.command(Data).await?;
        self.conn.command(DataBody(body)).await
    }

    /// MAIL, RCPT and `BDAT n LAST` with the message, in one write.
    async fn chunked(&mut self, message: &Outgoing, body: &str) -> SmtpResult {
        let (mut group, expected) = envelope_group(&message.envelope, false);
        let tail = if body.ends_with("\r\n") { "" } else { "\r\n" };
        group.push_str(&format!(
            "BDAT {} LAST\r\n{body}{tail}",
            body.len() + tail.len()
        ));
        let first = self.conn.command(Raw(&group)).await;
        let mut replies = self.more_replies(first, expected).await?;
        let last = replies.pop().expect("one reply per command");
        match (verdict(replies), last) {
            (Err(refusal), _) => Err(refusal),
            (Ok(()), done) => done,
        }
    }

    /// The envelope (unless it went ahead behind the previous message),
    /// then the message with the next one's envelope behind it.
    async fn pipelined(
        &mut self,
        message: &Outgoing,
        body: &str,
        started: Option<Result<(), lettre::transport::smtp::Error>>,
        next: Option<&Outgoing>,
    ) -> SmtpResult {
        match started {
            Some(state) => state?,
            None => {
                let (group, expected) = envelope_group(&message.envelope, true);
                let first = self.conn.command(Raw(&group)).await;
                let replies = self.more_replies(first, expected).await?;
                self.settle(replies).await?;
            }
        }
        let mut group = DataBody(body).to_string();
        let next = next.filter(|n| fast_path(n).is_some());
        let mut expected = 1;
        if let Some(n) = next {
            let (envelope, count) = envelope_group(&n.envelope, true);
            group.push_str(&envelope);
            expected += count;
        }
        let done = self.conn.command(Raw(&group)).await;
        if let Some(n) = next
            && !done.as_ref().is_err_and(|e| e.status().is_none())
        {
            let mut replies = Vec::with_capacity(expected - 1);
            while replies.len() < expected - 1 {
                match self.conn.read_response().await {
                    Err(e) if e.status().is_none() => {
                        // This message's answer came; the stream broke
                        // after it.
                        self.conn.abort().await;
                        return done;
                    }
                    reply => replies.push(reply),
                }
            }
            let state = self.settle(replies).await;
            self.ahead = Some(Ahead { key: key(n), state });
        }
        done
    }

    /// Read the rest of a group's replies after the first; a failure that
    /// is not a reply (the stream is then unknown) ends it.
    async fn more_replies(
        &mut self,
        first: SmtpResult,
        expected: usize,
    ) -> Result<Vec<SmtpResult>, lettre::transport::smtp::Error> {
        let mut replies = vec![first];
        while replies.len() < expected {
            if let Some(Err(e)) = replies.last()
                && e.status().is_none()
            {
                break;
            }
            replies.push(self.conn.read_response().await);
        }
        if let Some(i) = replies
            .iter()
            .position(|r| r.as_ref().is_err_and(|e| e.status().is_none()))
        {
            return Err(replies.swap_remove(i).expect_err("a failed read"));
        }
        Ok(replies)
    }

    /// The replies to MAIL, each RCPT and DATA: `Ok` when the server waits
    /// for the message. DATA accepted for nobody (a server that should
    /// have refused it) is ended with the lone dot (RFC 2920, 3.1).
    async fn settle(
        &mut self,
        mut replies: Vec<SmtpResult>,
    ) -> Result<(), lettre::transport::smtp::Error> {
        let data = replies.pop().expect("one reply per command");
        match (verdict(replies), data) {
            (Ok(()), Ok(_)) => Ok(()),
            (Err(refusal), Ok(_)) => {
                let _ = self.conn.command(Raw(".\r\n")).await;
                Err(refusal)
            }
            (Err(refusal), Err(_)) => Err(refusal),
            (Ok(()), Err(e)) => Err(e),
        }
    }
}

/// From the replies to MAIL and each RCPT: the refusal that answers the
/// message (MAIL's, else the first RCPT's when no recipient is left).
fn verdict(mut replies: Vec<SmtpResult>) -> Result<(), lettre::transport::smtp::Error> {
    let mail = replies.remove(0);
    mail?;
    if replies.iter().any(Result::is_ok) {
        return Ok(());
    }
    match replies.into_iter().find(Result::is_err) {
        Some(refused) => refused.map(|_| ()),
        None => Ok(()),
    }
}

/// `MAIL FROM`, one `RCPT TO` per recipient and (when `data`) `DATA`, as
/// one string; and how many replies they get.
fn envelope_group(envelope: &lettre::address::Envelope, data: bool) -> (String, usize) {
    let mut group = Mail::new(envelope.from().cloned(), vec![]).to_string();
    for to in envelope.to() {
        group.push_str(&Rcpt::new(to.clone(), vec![]).to_string());
    }
    if data {
        group.push_str("DATA\r\n");
    }
    (group, envelope.to().len() + 2)
}

/// The message as text, when it can go out on the fast path: 7-bit, with
/// 7-bit addresses.
fn fast_path(message: &Outgoing) -> Option<&str> {
    let envelope = &message.envelope;
    let ascii = |a: &lettre::Address| AsRef::<str>::as_ref(a).is_ascii();
    match std::str::from_utf8(&message.raw) {
        Ok(text)
            if text.is_ascii()
                && envelope.from().is_none_or(ascii)
                && envelope.to().iter().all(ascii) =>
        {
            Some(text)
        }
        _ => None,
    }
}

/// Which message a transaction started ahead belongs to: its envelope and
/// size (a run sends one message a recipient; hashing the whole text would
/// cost more than the rest of the check, on every message).
fn key(message: &Outgoing) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    message
        .envelope
        .from()
        .map(AsRef::<str>::as_ref)
        .hash(&mut h);
    for to in message.envelope.to() {
        AsRef::<str>::as_ref(to).hash(&mut h);
    }
    message.raw.len().hash(&mut h);
    h.finish()
}

/// Commands written as they are, in one write.
struct Raw<'a>(&'a str);

impl std::fmt::Display for Raw<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// A message after DATA: dot-stuffed (RFC 5321 §4.5.2) and ended with the
/// lone `.` line, written as one command.
struct DataBody<'a>(&'a str);

impl std::fmt::Display for DataBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0;
        let mut from = 0;
        if text.starts_with('.') {
            f.write_str(".")?;
        }
        for at in memchr::memmem::find_iter(text.as_bytes(), b"\n.") {
            // Up to and including the line break, then the extra dot.
            f.write_str(&text[from..=at])?;
            f.write_str(".")?;
            from = at + 1;
        }
        f.write_str(&text[from..])?;
        // The line break that ends the last line is the terminator's own.
        if text.ends_with("\r\n") {
            f.write_str(".\r\n")
        } else {
            f.write_str("\r\n.\r\n")
        }
    }
}

impl Connection for SmtpConnection {
    async fn send(&mut self, message: &Outgoing) -> Outcome {
        self.send_then(message, None).await
    }

    async fn send_then(&mut self, message: &Outgoing, next: Option<&Outgoing>) -> Outcome {
        let started = match self.ahead.take() {
            Some(ahead) if ahead.key == key(message) => Some(ahead.state),
            Some(other) => {
                self.ahead = Some(other);
                self.disarm().await;
                if self.conn.has_broken() {
                    return Outcome::Lost("the connection was waiting for another message".into());
                }
                None
            }
            None => None,
        };
        let sent =
            tokio::time::timeout(self.timeout, self.transaction(message, started, next)).await;
        match sent {
            Ok(Ok(response)) => {
                let mut reply = response.code().to_string();
                for line in response.message() {
                    reply.push(' ');
                    reply.push_str(line.trim());
                }
                Outcome::Accepted(reply)
            }
            Ok(Err(e)) => {
                let error = SmtpError::Smtp(e);
                let text = error.to_string();
                match error.failure() {
                    Failure::Permanent => Outcome::Permanent(text),
                    _ if error.unavailable() => Outcome::Unavailable(text),
                    _ if self.conn.has_broken() => Outcome::Lost(text),
                    _ => Outcome::Transient(text),
                }
            }
            Err(_) => {
                // A transaction cut off in the middle leaves the connection
                // in an unknown state: never reuse it.
                self.conn.abort().await;
                self.ahead = None;
                Outcome::Lost("timed out".into())
            }
        }
    }

    async fn disarm(&mut self) {
        match self.ahead.take() {
            // Inside DATA nothing but the message can be said: the
            // connection goes (the server drops the unfinished message).
            Some(Ahead { state: Ok(()), .. }) => self.conn.abort().await,
            // Refused, but the server may still hold its sender.
            Some(Ahead { state: Err(_), .. }) => self.reset().await,
            None => {}
        }
    }

    fn looks_ahead(&self) -> bool {
        // With CHUNKING a message is one round trip on its own.
        self.offers.pipelining && !self.offers.chunking
    }

    fn broken(&self) -> bool {
        self.conn.has_broken()
    }

    async fn close(mut self) {
        if self.inside_data() {
            self.conn.abort().await;
        } else if !self.conn.has_broken() {
            let _ = tokio::time::timeout(Duration::from_secs(5), self.conn.quit()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_bodies_are_dot_stuffed_and_ended() {
        let cases = [
            ("a\r\nb\r\n", "a\r\nb\r\n.\r\n"),
            ("a\r\nb", "a\r\nb\r\n.\r\n"),
            (".lead\r\n", "..lead\r\n.\r\n"),
            ("x\r\n.\r\n..y\r\nz.\r\n", "x\r\n..\r\n...y\r\nz.\r\n.\r\n"),
            ("", "\r\n.\r\n"),
        ];
        for (body, wire) in cases {
            assert_eq!(DataBody(body).to_string(), wire, "{body:?}");
        }
    }

    #[test]
    fn pipelining_and_chunking_are_read_from_the_ehlo_reply() {
        let offers = |pipelining, chunking, size, auth: &[&str]| Offers {
            pipelining,
            chunking,
            size,
            auth: auth.iter().map(|m| m.to_string()).collect(),
        };
        let cases: [(&[&str], Offers); 6] = [
            (
                &["relay.example", "PIPELINING", "8BITMIME"],
                offers(true, false, None, &[]),
            ),
            (
                &["relay.example", "pipelining", "CHUNKING", "SIZE 1000"],
                offers(true, true, Some(1000), &[]),
            ),
            (
                &["PIPELINING.example", "8BITMIME"],
                offers(false, false, None, &[]),
            ),
            (
                &["relay.example", "XPIPELINING"],
                offers(false, false, None, &[]),
            ),
            (
                &["r", "AUTH PLAIN LOGIN", "AUTH=LOGIN", "SIZE"],
                offers(false, false, Some(0), &["PLAIN", "LOGIN"]),
            ),
            (
                &["r", "auth cram-md5"],
                offers(false, false, None, &["CRAM-MD5"]),
            ),
        ];
        for (lines, expected) in cases {
            assert_eq!(
                Offers::from_ehlo(lines.iter().copied()),
                expected,
                "{lines:?}"
            );
        }
    }
}
