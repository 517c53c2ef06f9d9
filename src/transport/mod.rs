//! Where a message goes: the one interface every sending path uses.
//!
//! The send engine knows nothing of SMTP, files or tests: it opens a
//! [`Connection`] from a [`Transport`], hands it one message at a time and
//! reads back an [`Outcome`]. What differs between a Sunday run, a dry run,
//! a test send and a confirmation mail is only which transport is plugged
//! in (lettre does the same with its SMTP, file and stub transports).
//!
//! - [`smtp::Smtp`]: the bulk SMTP path, one `TCP_NODELAY` connection per
//!   worker, kept open across messages, pipelined where the server allows
//!   (`smtp/session.rs`).
//! - [`outbox::Outbox`]: writes each message as an `.eml` file, or only
//!   counts it (a dry run).
//! - [`capture::Capture`]: keeps messages in memory and answers as a test
//!   script says (engine tests).

pub mod capture;
pub mod outbox;
pub mod smtp;

use std::future::Future;

use lettre::Message;
use lettre::address::Envelope;

/// One message, ready for the wire.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub envelope: Envelope,
    pub raw: Vec<u8>,
}

impl From<&Message> for Outgoing {
    fn from(message: &Message) -> Outgoing {
        Outgoing {
            envelope: message.envelope().clone(),
            raw: message.formatted(),
        }
    }
}

impl Outgoing {
    /// The first envelope recipient, for messages and file names.
    pub fn recipient(&self) -> String {
        self.envelope
            .to()
            .first()
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server took responsibility for it; its reply, on one line.
    Accepted(String),
    /// Refused for now (4xx): try again later.
    Transient(String),
    /// The relay refuses service for now (421, 454): try again, on
    /// another relay if there is one; several in a row put the relay out.
    Unavailable(String),
    /// Refused for good (5xx): do not try again.
    Permanent(String),
    /// The connection broke before an answer: the message is not known to
    /// be delivered; try again on a new connection.
    Lost(String),
}

/// Why a connection could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    pub kind: ConnectFailure,
    /// Names the destination and the reason.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Not reachable now (refused, reset, timed out): may work later.
    Unreachable,
    /// The server refused our credentials: every attempt would fail alike.
    Auth,
    /// Anything else that will not get better by itself (an outbox folder
    /// that cannot be created).
    Broken,
}

/// A source of connections.
pub trait Transport: Send + Sync + 'static {
    type Connection: Connection;

    /// Where messages go, for messages to a person (`127.0.0.1:2525`).
    fn describe(&self) -> String;

    /// The name of the relay, recorded with each delivery it takes; none
    /// for a transport that is not a relay (an outbox, a capture).
    fn relay(&self) -> Option<String> {
        None
    }

    /// A new connection, ready for its first message.
    fn connect(&self) -> impl Future<Output = Result<Self::Connection, ConnectError>> + Send;
}

/// One open connection. The sender decides when to open, reuse and close.
pub trait Connection: Send + 'static {
    fn send(&mut self, message: &Outgoing) -> impl Future<Output = Outcome> + Send;

    /// Send `message` and, where the connection can, start `next`'s
    /// transaction in the same write (SMTP pipelining), so that `next`
    /// then costs one round trip. The caller's next call is then `send` or
    /// `send_then` of that same `next`, or [`Connection::disarm`]. By
    /// default, only `message` is sent.
    fn send_then(
        &mut self,
        message: &Outgoing,
        next: Option<&Outgoing>,
    ) -> impl Future<Output = Outcome> + Send {
        let _ = next;
        self.send(message)
    }

    /// Whether [`Connection::send_then`] uses its `next` (so that the
    /// sender should find one).
    fn looks_ahead(&self) -> bool {
        false
    }

    /// Forget a `next` started by [`Connection::send_then`] that will not
    /// be sent after all (its claim was refused, or the current message
    /// is to be retried first).
    fn disarm(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// True when the connection can take no further message.
    fn broken(&self) -> bool;

    /// Say goodbye (SMTP `QUIT`); errors are of no interest any more.
    fn close(self) -> impl Future<Output = ()> + Send;
}
