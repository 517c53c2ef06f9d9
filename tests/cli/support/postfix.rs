//! A private Postfix for the inbound tests: a real MTA that turns mail for
//! an unknown user into a real DSN and pipes it into a command.
//!
//! Why: the in-process SMTP server ([`super::smtp`]) accepts anything and
//! bounces nothing. To check that `digest inbound` understands the bounces
//! that a real mail system writes (multipart/report, delivery-status,
//! VERP-style `bounces+TAG@domain` return paths), these tests let Postfix
//! write them.
//!
//! [`Postfix::start`] runs `postfix -c DIR/etc start` on a configuration of
//! its own, everything inside one temporary folder:
//!
//! - `etc/` (`config_directory`: `main.cf`, `master.cf`, `aliases`),
//!   `queue/` (`queue_directory`), `data/` (`data_directory`, owned by the
//!   `postfix` user), `maillog` ([`Postfix::log`], written by `postlogd`, no
//!   syslog), `spool/` (`mail_spool_directory`), `shared/`
//!   ([`Postfix::shared_dir`]);
//! - SMTP on `127.0.0.1:PORT` only (a `master.cf` entry for that address;
//!   no port 25, no TLS, no AUTH), every service with `chroot = n`;
//! - one local domain (`mydestination`), `recipient_delimiter = +`, empty
//!   `local_recipient_maps`: smtpd accepts any local part and local(8)
//!   bounces an unknown one (5.1.1 "unknown user") to the envelope sender,
//!   at once;
//! - the alias table `etc/aliases` (`texthash:`, so no `postalias` run) from
//!   the `aliases` given to `start`, plus `postmaster` and `MAILER-DAEMON`
//!   into `shared/postmaster.mbox` unless given;
//! - nothing ever leaves: `default_transport` and `relay_transport` are
//!   `error:`, so smtpd refuses a recipient in any other domain at RCPT
//!   (`550 5.1.1 ... no mail leaves this test instance`); no DNS lookups;
//! - deferred mail is retried every 2 s (`queue_run_delay`,
//!   `minimal_backoff_time`), so a pipe that exits 75 (`EX_TEMPFAIL`) is run
//!   again soon; a pipe that exits 0 delivers, any other code bounces.
//!
//! Nothing outside the folder is read or written: no `/etc/postfix/main.cf`
//! is needed (the Debian package, installed with "No configuration" by
//! `scripts/install-test-deps.sh`, does not write one) and none is changed.
//! `alternate_config_directories` matters only to set-gid commands run by
//! a user other than root (`postqueue`, `postdrop`); the tests run as root
//! and inject over SMTP. Instances are independent (own queue, own
//! `master.lock`, own port), so tests may run several at once.
//!
//! Things worth knowing when writing a test against it:
//!
//! - A pipe command from the (root-owned) alias file runs as `nobody`
//!   (`default_privs`), uid 65534, with `PATH=/usr/bin:/bin`, its working
//!   folder the queue folder, umask 077, and no `HOME`/`SHELL`. Every file
//!   it reads and every folder it writes into must be reachable by `nobody`:
//!   the instance folder is made 0755 and [`Postfix::shared_dir`] 0777; a
//!   file the test creates there for the command (a config, a database)
//!   must be readable, or writable, by uid 65534 (chown it, or make it
//!   0666). A root-only temporary folder elsewhere (a `Site`'s) is not.
//! - local(8) gives the command, in its environment: `SENDER` (empty for a
//!   DSN), `RECIPIENT` and `ORIGINAL_RECIPIENT` (as sent:
//!   `bounces+abc123@example.test`), `LOCAL` and `EXTENSION` (lowercased:
//!   `unsubscribe+token`, `token`), `USER`/`LOGNAME` (the alias name),
//!   `DOMAIN`, `MAIL_CONFIG`, and for mail that came in over SMTP
//!   `CLIENT_ADDRESS`, `CLIENT_HOSTNAME`, `CLIENT_HELO`, `CLIENT_PROTOCOL`.
//!   Case is kept in the headers and `RECIPIENT`, not in `EXTENSION`.
//! - What the command reads on standard input starts with an mbox `From `
//!   line (`From MAILER-DAEMON  Tue Dec  1 23:00:55 2026` for a DSN), then
//!   `Return-Path: <>` (the sender), `X-Original-To:` and `Delivered-To:`
//!   (both the full recipient, `bounces+abc123@example.test`), then the
//!   message (Postfix adds `Received:`, and `Date:`/`Message-ID:` if
//!   missing). A mailbox file gets the same, mbox-style.
//! - A DSN is `From: Mail Delivery System <MAILER-DAEMON@DOMAIN>`,
//!   `To:` the envelope sender, `Content-Type: multipart/report;
//!   report-type=delivery-status`, with `Action: failed`, `Status: 5.1.1`,
//!   `Final-Recipient: rfc822; ...`, and the returned message as
//!   `message/rfc822`.
//! - The alias table is read when a local(8) process starts; the aliases are
//!   fixed at [`Postfix::start`].

#![allow(dead_code)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use tempfile::TempDir;

use super::daemon::{self, alive, output_text, set_mode};
use super::ports::free_port;

const POSTFIX: &str = "/usr/sbin/postfix";

/// How long `start` waits for the SMTP port to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// How long `wait_until_idle` waits for the queue to empty.
const IDLE_DEADLINE: Duration = Duration::from_secs(60);

/// How long `drop` waits for the master process to exit after `stop`.
const STOP_DEADLINE: Duration = Duration::from_secs(15);

/// The queues where a message waits for delivery (not `hold`, where it
/// would stay).
const QUEUES: [&str; 4] = ["maildrop", "incoming", "active", "deferred"];

/// A running Postfix of the test's own; stopped on drop.
pub struct Postfix {
    /// The instance's folder (see the module docs for what is inside).
    pub dir: TempDir,
    /// The SMTP port on 127.0.0.1.
    pub port: u16,
    /// The one local domain.
    pub domain: String,
}

impl Postfix {
    /// Starts an instance and waits until its SMTP port accepts
    /// connections; panics with Postfix's output and log when it doesn't.
    ///
    /// `domain` is the one local domain (e.g. `"example.test"`); `aliases`
    /// are the lines of the alias table as (local part, target), the target
    /// being a command (`"|/abs/digest --config /abs/digest.toml inbound -"`,
    /// run by `/bin/sh` as `nobody`), a mailbox file (an absolute path in a
    /// folder `nobody` may write to), or an address. A target holds no `"`
    /// and no line break. [`Postfix::shared_dir`] is made here, so a target
    /// cannot name it; a command can, as `"$MAIL_CONFIG/../shared"`.
    pub fn start(domain: &str, aliases: &[(&str, String)]) -> Postfix {
        let dir = tempfile::Builder::new()
            .prefix("postfix-")
            .tempdir()
            .expect("a temporary folder for Postfix");
        let root = dir.path();
        // The daemons (user postfix) and the pipe commands (user nobody)
        // must get through the instance folder.
        set_mode(root, 0o755);
        for sub in ["etc", "queue", "data"] {
            fs::create_dir(root.join(sub)).expect("a Postfix folder");
        }
        for sub in ["shared", "spool"] {
            fs::create_dir(root.join(sub)).expect("a Postfix folder");
            set_mode(&root.join(sub), 0o777);
        }
        let (uid, gid) = user_ids("postfix");
        std::os::unix::fs::chown(root.join("data"), Some(uid), Some(gid))
            .expect("chown the Postfix data folder to postfix");
        fs::write(root.join("maillog"), "").expect("create the Postfix mail log");
        write_config(&root.join("etc/main.cf"), &main_cf(root, domain));
        write_config(&root.join("etc/aliases"), &aliases_table(root, aliases));

        // The free port may be taken by someone else before master binds
        // it: then try another.
        let mut attempt = 0;
        let port = loop {
            attempt += 1;
            let port = free_port();
            write_config(&root.join("etc/master.cf"), &master_cf(port));
            // A failed attempt's pid file would say "gone" at once.
            let _ = fs::remove_file(root.join("queue/pid/master.pid"));
            let out = postfix_command(root, "start")
                .unwrap_or_else(|e| panic!("run {POSTFIX} start: {e}"));
            if out.status.success() && wait_for_port(root, port) {
                break port;
            }
            stop(root);
            let log = read_log(root);
            if attempt < 3 && log.contains("Address already in use") {
                continue;
            }
            panic!(
                "Postfix did not start on 127.0.0.1:{port} ({}):\n{}\n--- maillog:\n{log}\n{}",
                out.status,
                output_text(&out),
                check_on_a_terminal(root),
            );
        };
        Postfix {
            dir,
            port,
            domain: domain.to_owned(),
        }
    }

    /// The SMTP server's URL, plain (no TLS, no AUTH).
    pub fn smtp_url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Waits (polling) until no message waits in the queue: everything
    /// accepted has been delivered or bounced, and every DSN delivered in
    /// turn. Panics after 60 s with the queue and the log, e.g. when a pipe
    /// keeps exiting 75.
    pub fn wait_until_idle(&self) {
        let deadline = Instant::now() + IDLE_DEADLINE;
        loop {
            let waiting = self.queued();
            if waiting.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "Postfix's queue is not empty after {IDLE_DEADLINE:?}: {}\n--- maillog:\n{}",
                    waiting.join(", "),
                    self.log(),
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The instance's mail log (what Postfix would send to syslog).
    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }

    /// A world-writable folder (0777) for files that a pipe command, running
    /// as `nobody`, reads or writes: its config, its database, what it
    /// saves. Files the test creates here must be made accessible to uid
    /// 65534 too (the test runs as root).
    pub fn shared_dir(&self) -> PathBuf {
        self.dir.path().join("shared")
    }

    /// The configuration folder, for `postfix -c` / `postqueue -c`.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// The queue files that wait for delivery, as paths under `queue/`.
    fn queued(&self) -> Vec<String> {
        let queue = self.dir.path().join("queue");
        let mut files = Vec::new();
        for name in QUEUES {
            list_files(&queue.join(name), &mut files);
        }
        files
            .iter()
            .map(|f| f.strip_prefix(&queue).unwrap_or(f).display().to_string())
            .collect()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        stop(self.dir.path());
    }
}

/// Runs `postfix -c ROOT/etc COMMAND`, its output into `ROOT/COMMAND.out`
/// (a file, not a pipe: a daemon that kept the pipe open would make reading
/// it never end).
fn postfix_command(root: &Path, command: &str) -> io::Result<Output> {
    let file = root.join(format!("{command}.out"));
    let out = fs::File::create(&file)?;
    let err = out.try_clone()?;
    let status = Command::new(POSTFIX)
        .arg("-c")
        .arg(root.join("etc"))
        .arg(command)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()?;
    Ok(Output {
        status,
        stdout: fs::read(&file)?,
        stderr: Vec::new(),
    })
}

fn wait_for_port(root: &Path, port: u16) -> bool {
    daemon::wait_for_port(|| master_pid(root), port, START_DEADLINE)
}

/// The master's pid, from `queue/pid/master.pid`.
fn master_pid(root: &Path) -> Option<u32> {
    daemon::read_pid(&root.join("queue/pid/master.pid"))
}

/// `postfix stop`, then waits for the master to exit; kills its process
/// group when it doesn't. Does nothing when no master runs. Never panics
/// (it runs in drop).
fn stop(root: &Path) {
    let Some(pid) = master_pid(root).filter(|&pid| alive(pid)) else {
        return;
    };
    let out = match postfix_command(root, "stop") {
        Ok(out) => output_text(&out),
        Err(e) => format!("run {POSTFIX} stop: {e}"),
    };
    let deadline = Instant::now() + STOP_DEADLINE;
    while alive(pid) {
        if Instant::now() > deadline {
            eprintln!("postfix stop left master {pid} running: killing it\n{out}");
            daemon::kill_group(pid);
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// What `postfix check` says, run on a pseudo-terminal by `script(1)`:
/// Postfix prints its errors (a bad `main.cf`, say) on standard error only
/// when that is a terminal, and logs them nowhere else before it has read
/// `maillog_file`.
fn check_on_a_terminal(root: &Path) -> String {
    let command = format!("{POSTFIX} -c {} check", root.join("etc").display());
    let said = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .map_or_else(
            |e| format!("(could not run script(1): {e})"),
            |out| String::from_utf8_lossy(&out.stdout).replace('\r', ""),
        );
    format!("--- {command}:\n{said}")
}

fn read_log(root: &Path) -> String {
    String::from_utf8_lossy(&fs::read(root.join("maillog")).unwrap_or_default()).into_owned()
}

fn main_cf(root: &Path, domain: &str) -> String {
    let root = root.display();
    format!(
        "# A test's own Postfix: see tests/cli/support/postfix.rs.
compatibility_level = 3.6
config_directory = {root}/etc
queue_directory = {root}/queue
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
mail_spool_directory = {root}/spool
myhostname = mx.{domain}
mydomain = {domain}
myorigin = {domain}
mydestination = {domain}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
recipient_delimiter = +
local_recipient_maps =
alias_maps = texthash:{root}/etc/aliases
alias_database = texthash:{root}/etc/aliases
forward_path =
biff = no
smtputf8_enable = no
disable_dns_lookups = yes
smtp_dns_support_level = disabled
default_transport = error:no mail leaves this test instance
relay_transport = error:no mail leaves this test instance
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
delay_warning_time = 0
"
    )
}

fn master_cf(port: u16) -> String {
    // service type private unpriv chroot wakeup maxproc command
    format!(
        "# A test's own Postfix: see tests/cli/support/postfix.rs.
127.0.0.1:{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"
    )
}

/// The alias table in `texthash:` form (`name value`, no colon).
fn aliases_table(root: &Path, aliases: &[(&str, String)]) -> String {
    let postmaster = format!("{}/shared/postmaster.mbox", root.display());
    let defaults = [
        ("postmaster", postmaster.clone()),
        ("MAILER-DAEMON", postmaster),
    ];
    let mut table = String::new();
    let given = aliases
        .iter()
        .map(|(name, target)| (*name, target.as_str()));
    let missing = defaults
        .iter()
        .filter(|(name, _)| !aliases.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)))
        .map(|(name, target)| (*name, target.as_str()));
    for (name, target) in given.chain(missing) {
        assert!(
            !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == ':'),
            "alias name {name:?}: no space or colon"
        );
        assert!(
            !target.contains(['"', '\n', '\r']),
            "alias target {target:?}: no double quote or line break"
        );
        // local(8) looks aliases up in lower case.
        table.extend([&name.to_ascii_lowercase(), " \"", target, "\"\n"]);
    }
    table
}

/// Writes a configuration file dated a minute ago: Postfix rereads a file
/// changed in the last second or two, 300 ms apart, until it is older
/// (it might be half written), which made every start take 2 s.
fn write_config(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    let past = SystemTime::now() - Duration::from_secs(60);
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(past))
        .unwrap_or_else(|e| panic!("set the time of {}: {e}", path.display()));
}

/// The uid and gid of a system user, from `/etc/passwd`.
fn user_ids(user: &str) -> (u32, u32) {
    let passwd = fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.len() > 3 && fields[0] == user)
        .and_then(|fields| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
        .unwrap_or_else(|| panic!("no user {user} in /etc/passwd: is Postfix installed?"))
}

/// All regular files under `dir`, recursively (`deferred/` is hashed).
fn list_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => list_files(&path, files),
            Ok(t) if t.is_file() => files.push(path),
            _ => {}
        }
    }
}
