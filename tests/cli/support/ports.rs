//! Ports on 127.0.0.1.

use std::net::TcpListener;

/// A port nothing listens on right now, for a server a test starts.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A port where nothing listens: connecting to it is refused.
pub fn closed_port() -> u16 {
    free_port()
}

/// A listener that never accepts: a connection attempt to it queues, and
/// `accept` on it (non-blocking) tells whether anyone tried.
pub fn silent_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}
