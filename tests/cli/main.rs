//! The command line, tested against the built binary: one module per
//! command, and `support` for what they share (the temporary site, config,
//! running the binary, ports, the database, the test SMTP server).

mod support;

mod browser;
mod clients;
mod deliverability;
mod doctor;
mod hostile;
mod inbound;
mod preview;
mod send;
mod serve;
mod subscribers;
mod terms;
mod webhooks;
