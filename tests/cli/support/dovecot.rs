//! A private Dovecot IMAP server for the inbound tests: a real mailbox that
//! `digest` logs in to, reads and moves messages in.
//!
//! Why: to check `digest`'s IMAP client against a real server (LOGIN,
//! SELECT, SEARCH UNSEEN, UID MOVE, CREATE), rather than against a fake
//! that agrees with it.
//!
//! [`Dovecot::start`] runs `dovecot -c DIR/dovecot.conf` (Debian's 2.3, from
//! `dovecot-imapd`, installed by `scripts/install-test-deps.sh`) with
//! everything inside one temporary folder, nothing read from `/etc/dovecot`
//! and nothing written outside the folder:
//!
//! - `dovecot.conf`; `run/` (`base_dir`: sockets, `master.pid`); `state/`
//!   (`state_dir`, where Dovecot would register its instance in
//!   `/var/lib/dovecot`); `dovecot.log` (`log_path`, no syslog);
//! - IMAP only, on `127.0.0.1:PORT`, no TLS (`ssl = no`), plaintext LOGIN
//!   and AUTHENTICATE PLAIN allowed; IMAPS off;
//! - one user, from `passwd` (`passwd-file`, `{PLAIN}` password), mail as
//!   uid/gid 65534 (`nobody`/`nogroup`: Dovecot refuses to run mail
//!   processes as root) in the Maildir `mail/USER/Maildir`: INBOX is its
//!   root, another folder `Name` is Maildir++ `.Name` (`A/B` is `.A.B`).
//!
//! [`Dovecot::put`] and [`Dovecot::messages`] work on the Maildir directly,
//! as a delivery agent and an inspector would; Dovecot sees a message put
//! there at the next SELECT, NOOP or STATUS, and its flag changes and moves
//! are in the file names (`:2,S` for `\Seen`) once the command that made
//! them has been answered.
//!
//! Instances are independent (own port, own `base_dir`), so tests may run
//! several at once. Dropping one kills it at once (SIGKILL to its process
//! group: see `stop` for why not a graceful stop) and removes its folder.

#![allow(dead_code)]

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

use super::daemon::{self, alive, output_text, set_mode};
use super::ports::free_port;

const DOVECOT: &str = "/usr/sbin/dovecot";

/// The owner of the mail: Debian's `nobody` and `nogroup`.
const MAIL_UID: u32 = 65534;
const MAIL_GID: u32 = 65534;

/// How long `start` waits for the IMAP port to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// How long `drop` waits for the master process to be gone.
const STOP_DEADLINE: Duration = Duration::from_secs(15);

/// Makes the Maildir file names that `put` writes unique.
static DELIVERIES: AtomicU64 = AtomicU64::new(0);

/// A running Dovecot of the test's own; stopped on drop.
pub struct Dovecot {
    /// The IMAP port on 127.0.0.1.
    pub port: u16,
    /// The IMAPS port (TLS from the first byte), when started with TLS.
    pub tls_port: Option<u16>,
    /// The one user's login name.
    pub user: String,
    dir: TempDir,
}

impl Dovecot {
    /// Starts a server with one user and an empty INBOX, and waits until
    /// its IMAP port accepts connections; panics with Dovecot's output and
    /// log when it doesn't. Neither `user` nor `password` holds `:` or a
    /// line break.
    pub fn start(user: &str, password: &str) -> Dovecot {
        Dovecot::start_with(user, password, false)
    }

    /// The same with TLS: STARTTLS on [`Dovecot::port`] and IMAPS on
    /// [`Dovecot::tls_port`], with the certificate of `tests/fixtures/tls/`
    /// (for `localhost` and `127.0.0.1`); plain-text login only inside TLS.
    pub fn start_tls(user: &str, password: &str) -> Dovecot {
        Dovecot::start_with(user, password, true)
    }

    fn start_with(user: &str, password: &str, tls: bool) -> Dovecot {
        for (what, value) in [("user", user), ("password", password)] {
            assert!(
                !value.is_empty() && !value.contains([':', '\n', '\r']),
                "Dovecot {what} {value:?}: not empty, no colon or line break"
            );
        }
        assert!(
            !user.contains(['/', '%', ' ']),
            "Dovecot user {user:?}: no slash, percent or space"
        );
        let dir = tempfile::Builder::new()
            .prefix("dovecot-")
            .tempdir()
            .expect("a temporary folder for Dovecot");
        let root = dir.path();
        // The login, auth and mail processes run as other users.
        set_mode(root, 0o755);
        for sub in ["run", "state"] {
            fs::create_dir(root.join(sub)).expect("a Dovecot folder");
        }
        let home = root.join("mail").join(user);
        fs::create_dir(root.join("mail")).expect("the Dovecot mail folder");
        chown_mail(&root.join("mail"));
        fs::create_dir(&home).expect("the Dovecot user's home");
        chown_mail(&home);
        maildir(&home.join("Maildir"));
        let passwd = root.join("passwd");
        fs::write(
            &passwd,
            format!(
                "{user}:{{PLAIN}}{password}:{MAIL_UID}:{MAIL_GID}::{}::\n",
                home.display()
            ),
        )
        .expect("write Dovecot's passwd file");
        set_mode(&passwd, 0o644);
        fs::write(root.join("dovecot.log"), "").expect("create Dovecot's log");

        // The free port may be taken by someone else before Dovecot binds
        // it: then try another.
        let mut attempt = 0;
        let (port, tls_port) = loop {
            attempt += 1;
            let port = free_port();
            let tls_port = tls.then(free_port);
            fs::write(root.join("dovecot.conf"), config(root, port, tls_port))
                .expect("write dovecot.conf");
            // A failed attempt's pid file would say "gone" at once.
            let _ = fs::remove_file(root.join("run/master.pid"));
            // Into a file, not a pipe: the daemon keeps the start's
            // standard output and error open, so a pipe would never end.
            let out = run_to_file(
                Command::new(DOVECOT)
                    .arg("-c")
                    .arg(root.join("dovecot.conf")),
                &root.join("start.out"),
            );
            if out.status.success() && wait_for_port(root, port) {
                break (port, tls_port);
            }
            stop(root);
            let log = read_log(root);
            if attempt < 3 && log.contains("Address already in use") {
                continue;
            }
            panic!(
                "Dovecot did not start on 127.0.0.1:{port} ({}):\n{}\n--- dovecot.log:\n{log}",
                out.status,
                output_text(&out),
            );
        };
        Dovecot {
            port,
            tls_port,
            user: user.to_owned(),
            dir,
        }
    }

    /// The server's URL as `digest` takes it: plain IMAP, no TLS.
    pub fn url(&self) -> String {
        format!("imap://127.0.0.1:{}/?tls=none", self.port)
    }

    /// Delivers one raw message into `folder` (`"INBOX"` or another, made
    /// if missing), unseen, as a delivery agent would: written in `tmp/`,
    /// then renamed into `new/`.
    pub fn put(&self, folder: &str, raw: &[u8]) {
        let dir = self.folder(folder);
        maildir(&dir);
        let n = DELIVERIES.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970");
        let name = format!(
            "{}.M{}P{}Q{n}.digest-test",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id()
        );
        let tmp = dir.join("tmp").join(&name);
        fs::write(&tmp, raw).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
        set_mode(&tmp, 0o600);
        chown_mail(&tmp);
        let new = dir.join("new").join(&name);
        fs::rename(&tmp, &new).unwrap_or_else(|e| panic!("rename into {}: {e}", new.display()));
    }

    /// The messages now in `folder`: each one's raw bytes and whether it is
    /// `\Seen`, sorted; none for a folder that does not exist.
    pub fn messages(&self, folder: &str) -> Vec<(Vec<u8>, bool)> {
        let dir = self.folder(folder);
        // Dovecot renames a file when it moves it from new/ to cur/ or
        // changes its flags: a file gone between listing and reading means
        // listing again.
        for _ in 0..20 {
            if let Some(mut messages) = scan(&dir) {
                messages.sort();
                return messages;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("{}: files keep moving under Dovecot", dir.display());
    }

    /// Dovecot's log, for a failed assertion's message.
    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }

    /// The Maildir of `folder`: the root for INBOX, `.Name` for another.
    fn folder(&self, folder: &str) -> PathBuf {
        let root = self
            .dir
            .path()
            .join("mail")
            .join(&self.user)
            .join("Maildir");
        if folder.eq_ignore_ascii_case("INBOX") {
            return root;
        }
        assert!(
            !folder.is_empty() && !folder.contains(['.', '\n', '\r']) && !folder.starts_with('/'),
            "folder name {folder:?}: no dot, not empty"
        );
        root.join(format!(".{}", folder.replace('/', ".")))
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        stop(self.dir.path());
    }
}

/// The messages in a Maildir's `new/` and `cur/`, or `None` when a file
/// listed was gone before it was read.
fn scan(dir: &Path) -> Option<Vec<(Vec<u8>, bool)>> {
    let mut messages = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            // "unique:2,FLAGS", the flags being letters in ASCII order;
            // a file in new/ has none yet.
            let name = entry.file_name().to_string_lossy().into_owned();
            let seen = sub == "cur"
                && name
                    .rsplit_once(":2,")
                    .is_some_and(|(_, flags)| flags.contains('S'));
            match fs::read(entry.path()) {
                Ok(raw) => messages.push((raw, seen)),
                Err(e) if e.kind() == ErrorKind::NotFound => return None,
                Err(e) => panic!("read {}: {e}", entry.path().display()),
            }
        }
    }
    Some(messages)
}

fn config(root: &Path, port: u16, tls_port: Option<u16>) -> String {
    let tls_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let (ssl, imaps) = match tls_port {
        None => ("ssl = no\ndisable_plaintext_auth = no".to_string(), 0),
        Some(p) => (
            format!(
                "ssl = yes\nssl_cert = <{0}/cert.pem\nssl_key = <{0}/key.pem\ndisable_plaintext_auth = yes",
                tls_dir.display()
            ),
            p,
        ),
    };
    let root = root.display();
    format!(
        "# A test's own Dovecot: see tests/cli/support/dovecot.rs.
instance_name = dovecot-test-{port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = {MAIL_UID}
last_valid_uid = {MAIL_UID}
first_valid_gid = {MAIL_GID}
last_valid_gid = {MAIL_GID}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
"
    )
}

/// Makes `dir` a Maildir (`cur`, `new`, `tmp`) owned by the mail user, if
/// it is not one yet; a folder other than INBOX gets `maildirfolder` too.
fn maildir(dir: &Path) {
    let fresh = !dir.exists();
    for sub in ["", "cur", "new", "tmp"] {
        let path = dir.join(sub);
        if !path.exists() {
            fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
            set_mode(&path, 0o700);
            chown_mail(&path);
        }
    }
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    if fresh && name.is_some_and(|n| n.starts_with('.')) {
        let marker = dir.join("maildirfolder");
        fs::write(&marker, "").expect("write maildirfolder");
        chown_mail(&marker);
    }
}

fn wait_for_port(root: &Path, port: u16) -> bool {
    daemon::wait_for_port(|| master_pid(root), port, START_DEADLINE)
}

/// The master's pid, from `run/master.pid`.
fn master_pid(root: &Path) -> Option<u32> {
    daemon::read_pid(&root.join("run/master.pid"))
}

/// Kills the master's process group (the master, which leads its own
/// session, and every process it started) with SIGKILL, then waits for the
/// master to be gone. Not SIGTERM (`doveadm stop`): a graceful stop takes 1
/// to 6 s (the master waits up to 6 s for children that were just starting,
/// and its log process lingers for a second), and nothing of a test's
/// server needs to outlive it. Does nothing when no master runs. Never
/// panics (it runs in drop).
fn stop(root: &Path) {
    let Some(pid) = master_pid(root).filter(|&pid| alive(pid)) else {
        return;
    };
    daemon::kill_group(pid);
    let deadline = Instant::now() + STOP_DEADLINE;
    while alive(pid) {
        if Instant::now() > deadline {
            eprintln!("Dovecot master {pid} still runs after SIGKILL");
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn read_log(root: &Path) -> String {
    String::from_utf8_lossy(&fs::read(root.join("dovecot.log")).unwrap_or_default()).into_owned()
}

fn chown_mail(path: &Path) {
    std::os::unix::fs::chown(path, Some(MAIL_UID), Some(MAIL_GID))
        .unwrap_or_else(|e| panic!("chown {MAIL_UID}:{MAIL_GID} {}: {e}", path.display()));
}

/// Runs `command` with its standard output and error into `file` (both
/// in one), and gives back its exit status and what it wrote.
fn run_to_file(command: &mut Command, file: &Path) -> Output {
    let out = fs::File::create(file).unwrap_or_else(|e| panic!("create {}: {e}", file.display()));
    let err = out.try_clone().expect("a second handle on the output file");
    let status = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    Output {
        status,
        stdout: fs::read(file).unwrap_or_default(),
        stderr: Vec::new(),
    }
}
