//! An in-memory transport for tests: it keeps every message it accepts and
//! answers each recipient as a script says, so the engine's retries,
//! permanent failures, dropped connections and refused logins are tested
//! without a server or a timing helper.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{ConnectError, ConnectFailure, Connection, Outcome, Outgoing, Transport};

#[derive(Clone, Default)]
pub struct Capture {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("accepted", &self.lock().accepted.len())
            .finish()
    }
}

#[derive(Default)]
struct Inner {
    /// The relay name it answers to, if any.
    name: Option<String>,
    /// Per recipient, the answers to give before accepting.
    script: HashMap<String, VecDeque<Outcome>>,
    /// Answers for the next connection attempts, before they succeed.
    connects: VecDeque<ConnectError>,
    accepted: Vec<Outgoing>,
    attempts: Vec<String>,
    connections: usize,
    /// Called before each answer (lets a test act in the middle of a run).
    on_send: Option<Hook>,
    /// Act as a pipelining connection: take the next message in
    /// `send_then` and hold the sender to the contract.
    look_ahead: bool,
    /// Sends that named a next message.
    started_ahead: usize,
    disarms: usize,
    /// Messages sent while the connection waited for another one.
    out_of_turn: Vec<String>,
}

type Hook = Arc<dyn Fn(&str) + Send + Sync>;

impl Capture {
    pub fn new() -> Capture {
        Capture::default()
    }

    /// A capture that is a relay of this name (recorded with deliveries).
    pub fn named(name: &str) -> Capture {
        let capture = Capture::default();
        capture.lock().name = Some(name.to_string());
        capture
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answer `outcomes` to the next attempts for `recipient`, in order;
    /// accept after that.
    pub fn answer(&self, recipient: &str, outcomes: impl IntoIterator<Item = Outcome>) -> &Self {
        self.lock()
            .script
            .entry(recipient.to_string())
            .or_default()
            .extend(outcomes);
        self
    }

    /// Fail the next connection attempt with `kind`.
    pub fn refuse_connection(&self, kind: ConnectFailure, message: &str) -> &Self {
        self.lock().connects.push_back(ConnectError {
            kind,
            message: message.to_string(),
        });
        self
    }

    /// Run `hook` with the recipient before every answer.
    pub fn on_send(&self, hook: impl Fn(&str) + Send + Sync + 'static) -> &Self {
        self.lock().on_send = Some(Arc::new(hook));
        self
    }

    /// Take the next message as a pipelining connection would, and
    /// note every break of the `send_then` contract.
    pub fn look_ahead(&self) -> &Self {
        self.lock().look_ahead = true;
        self
    }

    /// (sends that started a next message, disarms, messages sent out of
    /// turn).
    pub fn look_ahead_counts(&self) -> (usize, usize, Vec<String>) {
        let inner = self.lock();
        (
            inner.started_ahead,
            inner.disarms,
            inner.out_of_turn.clone(),
        )
    }

    /// The messages accepted, in order.
    pub fn accepted(&self) -> Vec<Outgoing> {
        self.lock().accepted.clone()
    }

    /// The recipients of every attempt, accepted or not, in order.
    pub fn attempts(&self) -> Vec<String> {
        self.lock().attempts.clone()
    }

    /// How many connections were opened.
    pub fn connections(&self) -> usize {
        self.lock().connections
    }
}

impl Transport for Capture {
    type Connection = CaptureConnection;

    fn describe(&self) -> String {
        "the capture transport".into()
    }

    fn relay(&self) -> Option<String> {
        self.lock().name.clone()
    }

    async fn connect(&self) -> Result<CaptureConnection, ConnectError> {
        let mut inner = self.lock();
        if let Some(refusal) = inner.connects.pop_front() {
            return Err(refusal);
        }
        inner.connections += 1;
        Ok(CaptureConnection {
            capture: self.clone(),
            broken: false,
            ahead: None,
        })
    }
}

#[derive(Debug)]
pub struct CaptureConnection {
    capture: Capture,
    broken: bool,
    /// The recipient of the message started ahead, in look-ahead mode.
    ahead: Option<String>,
}

impl Connection for CaptureConnection {
    async fn send_then(&mut self, message: &Outgoing, next: Option<&Outgoing>) -> Outcome {
        if let Some(waiting) = self.ahead.take()
            && waiting != message.recipient()
        {
            self.capture.lock().out_of_turn.push(message.recipient());
        }
        let outcome = self.send(message).await;
        let mut inner = self.capture.lock();
        if inner.look_ahead
            && let Some(next) = next
            && !self.broken
        {
            inner.started_ahead += 1;
            self.ahead = Some(next.recipient());
        }
        outcome
    }

    fn looks_ahead(&self) -> bool {
        self.capture.lock().look_ahead
    }

    async fn disarm(&mut self) {
        if self.ahead.take().is_some() {
            self.capture.lock().disarms += 1;
        }
    }

    async fn send(&mut self, message: &Outgoing) -> Outcome {
        let to = message.recipient();
        let hook = self.capture.lock().on_send.clone();
        if let Some(hook) = hook {
            hook(&to);
        }
        let mut inner = self.capture.lock();
        inner.attempts.push(to.clone());
        if self.broken {
            return Outcome::Lost("the connection was closed".into());
        }
        let scripted = inner.script.get_mut(&to).and_then(VecDeque::pop_front);
        match scripted {
            Some(Outcome::Lost(why)) => {
                self.broken = true;
                Outcome::Lost(why)
            }
            Some(Outcome::Accepted(_)) | None => {
                inner.accepted.push(message.clone());
                Outcome::Accepted("250 2.0.0 captured".into())
            }
            Some(refusal) => refusal,
        }
    }

    fn broken(&self) -> bool {
        self.broken
    }

    async fn close(self) {}
}
