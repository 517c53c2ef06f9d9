//! `digest send`: the week's issue delivered over SMTP to the in-process
//! test server of `support/smtp.rs`, against the built binary and a real SQLite file.
//!
//! Every test has its own server and site. The runs that must be stopped
//! in the middle (kill, signals, an unsubscribe, a second run) are spawned
//! as child processes; the server is slowed down so that "the middle" lasts
//! long enough on a small machine, and every wait is a poll with a deadline.

mod check_relays;
mod failover;
mod local_time;
mod pipelining;
mod relays;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use mail_parser::{MessageParser, MimeHeaders as _};
use predicates::prelude::*;

use super::support::db::{DB, db, delivery, status_count, statuses, tokens};
use super::support::dkim::{self, dkim_record};
use super::support::fmt::thousands;
use super::support::mail::{field, header_bytes};
use super::support::ports::{closed_port, silent_listener};
use super::support::run::{PATIENCE, pin_env, to_std};
use super::support::site::{Sub, site_with, subscribers};
use super::support::smtp::{Received, Rule, TestSmtp};
use super::support::{Config, Run, Site, finish, fixture, run};

const WEEK: &str = "2026-W48";
const SUBJECT: &str = "The AI Glossary Weekly: Tokens + 3 new terms";
const FROM: &str = "digest@glossary.example";
const UNSUBSCRIBE: &str = "https://glossary.example/digest/unsubscribe/";
const ARCHIVE: &str = "https://glossary.example/digest/archive/2026-W48";

/// A send site for `smtp` with `n` subscribers.
fn send_site(smtp: &TestSmtp, n: usize) -> (Site, Vec<Sub>) {
    let subs = subscribers(n);
    (site_with(&Config::for_send(&smtp.url()), &subs), subs)
}

// ------------------------------------------------------------- commands --

/// `digest send --week 2026-W48 ARGS`.
fn send(site: &Site, args: &[&str]) -> Run {
    let mut all = vec!["send", "--week", WEEK];
    all.extend_from_slice(args);
    run(site, &all)
}

/// `digest send --week 2026-W48` that must succeed.
pub(super) fn send_ok(site: &Site) -> Run {
    let run = send(site, &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    run
}

/// A `digest` running in the background, its output going to files.
struct Spawned {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// Start `digest ARGS` with exactly the harness's program, arguments,
/// environment and folder.
fn spawn(site: &Site, args: &[&str], name: &str) -> Spawned {
    let mut std_cmd = to_std(&site.digest(args));
    let stdout = site.path(&format!("{name}.stdout"));
    let stderr = site.path(&format!("{name}.stderr"));
    std_cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let child = std_cmd.spawn().expect("spawn digest");
    Spawned {
        child,
        stdout,
        stderr,
    }
}

impl Spawned {
    /// Wait for the process to end (killing it after `PATIENCE`).
    fn wait(&mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "digest did not finish within {PATIENCE:?}\nstdout:\n{}\nstderr:\n{}",
                    read(&self.stdout),
                    read(&self.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, read(&self.stdout), read(&self.stderr))
    }

    /// Send a signal with kill(1).
    fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Block until the server has accepted `n` messages.
fn wait_for(smtp: &TestSmtp, n: usize) {
    assert!(
        smtp.wait_for(n, PATIENCE),
        "only {} of {n} messages arrived",
        smtp.messages().len()
    );
}

/// The summary line for this week on standard output.
/// How many messages beyond one each subscriber got, asserting everyone
/// got at least one.
fn duplicates(subs: &[Sub], count_for: impl Fn(&str) -> usize) -> usize {
    let mut duplicates = 0;
    for s in subs {
        let n = count_for(&s.email);
        assert!(n >= 1, "{} got nothing", s.email);
        duplicates += n - 1;
    }
    duplicates
}

fn summary_line(stdout: &str, week: &str) -> String {
    let prefix = format!("{week}: sent ");
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(lines.len(), 1, "one summary line in {stdout:?}");
    lines[0].to_string()
}

/// Assert the summary line says exactly these counts (and a rate).
fn assert_summary(stdout: &str, sent: usize, failed: usize, skipped: usize) {
    let line = summary_line(stdout, WEEK);
    let pattern = format!(
        r"^{WEEK}: sent {}, failed {}, skipped {} unsubscribed, in \d+\.\d s \(\d[\d,]* msg/s\)",
        thousands(sent),
        thousands(failed),
        thousands(skipped)
    );
    assert!(
        predicates::str::is_match(&pattern).unwrap().eval(&line),
        "{line:?} !~ {pattern}"
    );
}

// ------------------------------------------------------------- messages --

/// The message each recipient received, by address; panics on a message
/// with more than one recipient.
fn by_recipient(messages: &[Received]) -> HashMap<String, Vec<&Received>> {
    let mut map: HashMap<String, Vec<&Received>> = HashMap::new();
    for m in messages {
        assert_eq!(
            m.rcpt_to.len(),
            1,
            "one recipient a message: {:?}",
            m.rcpt_to
        );
        map.entry(m.rcpt_to[0].to_lowercase()).or_default().push(m);
    }
    map
}

/// Every subscriber received exactly one message and nobody else any.
fn assert_each_exactly_once(smtp: &TestSmtp, subs: &[Sub]) {
    let messages = smtp.messages();
    let map = by_recipient(&messages);
    for s in subs {
        assert_eq!(smtp.count_for(&s.email), 1, "{}", s.email);
    }
    let expected: HashSet<String> = subs.iter().map(|s| s.email.to_lowercase()).collect();
    let got: HashSet<String> = map.keys().cloned().collect();
    assert_eq!(got, expected, "recipients");
    assert_eq!(messages.len(), subs.len());
}

/// Check one received message against everything the product promises.
fn check_message(raw: &[u8], sub: &Sub, token: &str, message_ids: &mut HashSet<String>) {
    let who = &sub.email;
    // Transport-level form: 7-bit headers, no line over 998 octets.
    assert!(header_bytes(raw).is_ascii(), "{who}: 8-bit header bytes");
    for line in raw.split(|&b| b == b'\n') {
        assert!(line.len() <= 999, "{who}: a line of {} octets", line.len());
    }

    let parsed = MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| panic!("{who}: unparseable"));

    // From: exactly one, the newsletter's address.
    field(raw, "From");
    let from = parsed.from().expect("From");
    assert_eq!(from.iter().count(), 1, "{who}: one From address");
    assert_eq!(from.first().unwrap().address(), Some(FROM));

    // To: the subscriber, with their name.
    let to_raw = field(raw, "To");
    let to = parsed.to().expect("To");
    assert_eq!(to.iter().count(), 1, "{who}: one To address");
    let to = to.first().unwrap();
    assert_eq!(to.address(), Some(who.as_str()));
    assert_eq!(to.name(), sub.name.as_deref(), "{who}: display name");
    if let Some(name) = &sub.name
        && !name.is_ascii()
    {
        assert!(
            to_raw.to_ascii_lowercase().contains("=?utf-8?"),
            "{who}: the name is RFC 2047 encoded: {to_raw}"
        );
    }

    assert_eq!(field(raw, "Subject"), SUBJECT);
    assert_eq!(parsed.subject(), Some(SUBJECT));
    field(raw, "Date");
    assert!(parsed.date().is_some(), "{who}: a parseable Date");

    let id = field(raw, "Message-ID");
    assert!(
        id.starts_with('<') && id.ends_with("@glossary.example>") && !id.contains(' '),
        "{who}: Message-ID {id}"
    );
    assert!(
        message_ids.insert(id.clone()),
        "{who}: Message-ID {id} repeats"
    );

    assert_eq!(field(raw, "List-Id"), "<digest.glossary.example>");
    let unsubscribe = format!("{UNSUBSCRIBE}{token}");
    assert_eq!(field(raw, "List-Unsubscribe"), format!("<{unsubscribe}>"));
    assert_eq!(
        field(raw, "List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );

    // multipart/alternative: text/plain, then text/html, both UTF-8.
    let root = parsed.root_part();
    let ct = root.content_type().expect("Content-Type");
    assert_eq!(
        (ct.ctype(), ct.subtype()),
        ("multipart", Some("alternative")),
        "{who}"
    );
    let children = root.sub_parts().expect("subparts");
    assert_eq!(children.len(), 2, "{who}: two alternatives");
    let part = |i: usize, subtype: &str| {
        let p = &parsed.parts[children[i] as usize];
        let ct = p.content_type().expect("part Content-Type");
        assert_eq!((ct.ctype(), ct.subtype()), ("text", Some(subtype)), "{who}");
        assert!(
            ct.attribute("charset")
                .is_some_and(|c| c.eq_ignore_ascii_case("utf-8")),
            "{who}: charset of text/{subtype}"
        );
        p.text_contents().expect("text").to_string()
    };
    let text = part(0, "plain");
    let html = part(1, "html");
    for (kind, body) in [("text", &text), ("html", &html)] {
        assert!(
            body.contains(&unsubscribe),
            "{who}: the {kind} part has the personal unsubscribe URL"
        );
        assert!(
            body.contains(ARCHIVE),
            "{who}: the {kind} part has the view-in-browser link"
        );
    }
    assert_eq!(
        text.contains("FOR YOU, AS EXECUTIVE"),
        sub.role == Some("executive"),
        "{who} ({:?}): the executive paragraph",
        sub.role
    );
}

// ------------------------------------------------------------ the tests --

#[test]
fn five_hundred_subscribers_each_receive_exactly_one_complete_personal_message() {
    let smtp = TestSmtp::start();
    let (site, subs) = send_site(&smtp, 500);
    let run = send_ok(&site);
    assert_summary(&run.stdout, 500, 0, 0);
    assert_each_exactly_once(&smtp, &subs);

    let tokens = tokens(&site);
    let messages = smtp.messages();
    let map = by_recipient(&messages);
    let mut ids = HashSet::new();
    for s in &subs {
        let m = map[&s.email][0];
        assert_eq!(m.mail_from, FROM);
        check_message(&m.raw, s, &tokens[&s.email], &mut ids);
    }
    assert_eq!(ids.len(), 500, "every Message-ID is unique");
    // The non-ASCII name, on the wire and decoded.
    let zoe = &subs[0];
    assert_eq!(zoe.name.as_deref(), Some("Zoë Ünal"));
    let to = field(&map[&zoe.email][0].raw, "To");
    assert!(to.ends_with("<reader0000@example.org>"), "{to}");
    assert!(!to.contains("Zo"), "{to}");
    assert_eq!(status_count(&site, WEEK, "sent"), 500);
}

#[test]
fn a_rerun_of_a_sent_week_sends_nothing_and_history_shows_the_week() {
    let smtp = TestSmtp::start();
    let (site, subs) = send_site(&smtp, 40);
    send_ok(&site);
    assert_each_exactly_once(&smtp, &subs);

    let again = send_ok(&site);
    assert_eq!(
        again.stdout,
        "2026-W48 already sent: 40 sent, 0 failed, 0 skipped\n"
    );
    assert!(
        !smtp.wait_for(41, Duration::from_millis(300)),
        "nothing new is sent"
    );
    assert_each_exactly_once(&smtp, &subs);

    let history = run(&site, &["history", "--format", "json"]);
    assert_eq!(history.code, 0, "{history:#?}");
    let rows: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let w = &rows[0];
    assert_eq!(w["week"], WEEK);
    assert_eq!(w["subject"], SUBJECT);
    assert_eq!(w["featured"], "tokens");
    assert_eq!(w["sent"], 40);
    assert_eq!(w["queued"], 0);
    assert_eq!(w["failed"], 0);
    assert_eq!(w["skipped"], 0);
    assert!(w["started_at"].is_string(), "{w}");
    assert!(w["finished_at"].is_string(), "{w}");
    // Every delivery records the relay that took it: the [smtp] one.
    assert_eq!(w["relays"], serde_json::json!({"smtp": 40}));

    let table = run(&site, &["history"]);
    assert_eq!(table.code, 0, "{table:#?}");
    let mut lines = table.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "WEEK",
            "SUBJECT",
            "FEATURED",
            "QUEUED",
            "SENT",
            "FAILED",
            "SKIPPED",
            "BOUNCED",
            "COMPLAINED",
            "STARTED",
            "FINISHED"
        ]
    );
    let row = lines.next().expect("one row");
    assert!(row.starts_with("2026-W48  The AI Glossary Weekly"), "{row}");
    assert!(row.contains(" 40 "), "{row}");
}

#[test]
fn transient_failures_are_retried_until_delivered_once_and_the_attempts_are_recorded() {
    let smtp = TestSmtp::start();
    let (site, subs) = send_site(&smtp, 30);
    let flaky: Vec<&str> = [3usize, 11, 27]
        .iter()
        .map(|&i| subs[i].email.as_str())
        .collect();
    for &address in &flaky {
        smtp.rule(address, Rule::TempFail { times: 2 });
    }
    let run = send_ok(&site);
    assert_summary(&run.stdout, 30, 0, 0);
    assert_each_exactly_once(&smtp, &subs);
    for &address in &flaky {
        assert_eq!(smtp.attempts_for(address), 3, "{address}");
        let d = delivery(&site, WEEK, address);
        assert_eq!((d.status.as_str(), d.attempts), ("sent", 3), "{address}");
    }
    let d = delivery(&site, WEEK, &subs[0].email);
    assert_eq!((d.status.as_str(), d.attempts), ("sent", 1));
}

#[test]
fn permanent_failures_are_recorded_the_others_delivered_and_the_run_exits_1() {
    let smtp = TestSmtp::start();
    let (site, subs) = send_site(&smtp, 30);
    let gone: Vec<&str> = [2usize, 14, 29]
        .iter()
        .map(|&i| subs[i].email.as_str())
        .collect();
    for &address in &gone {
        smtp.rule(address, Rule::PermFail);
    }
    let first = send(&site, &[]);
    assert_eq!(first.code, 1, "{first:#?}");
    assert_summary(&first.stdout, 27, 3, 0);
    for &address in &gone {
        assert!(
            first.stderr.contains(address),
            "{address}: {}",
            first.stderr
        );
        assert_eq!(
            smtp.attempts_for(address),
            1,
            "{address}: 5xx is not retried"
        );
        assert_eq!(smtp.count_for(address), 0);
        let d = delivery(&site, WEEK, address);
        assert_eq!(d.status, "failed", "{address}");
        assert!(
            d.last_error.as_deref().is_some_and(|e| e.contains("550")),
            "{address}: {d:?}"
        );
    }
    assert!(first.stderr.contains("550"), "{}", first.stderr);
    for s in subs.iter().filter(|s| !gone.contains(&s.email.as_str())) {
        assert_eq!(smtp.count_for(&s.email), 1, "{}", s.email);
    }
    assert_eq!(smtp.messages().len(), 27);

    // A rerun sends nothing, reports the counts, and still fails.
    let again = send(&site, &[]);
    assert_eq!(again.code, 1, "{again:#?}");
    assert_eq!(
        again.stdout,
        "2026-W48 already sent: 27 sent, 3 failed, 0 skipped\n"
    );
    assert!(again.stderr.contains("--retry-failed"), "{}", again.stderr);
    for &address in &gone {
        assert_eq!(smtp.attempts_for(address), 1, "{address}: not retried");
    }
    assert_eq!(smtp.messages().len(), 27);
    // One failed issue is not enough to bounce with the default (2).
    let bounced = run(&site, &["subscribers", "list", "--status", "bounced"]);
    assert!(bounced.stdout.ends_with("0 subscribers\n"), "{bounced:#?}");
}

#[test]
fn with_bounce_after_1_a_permanent_failure_marks_the_subscriber_bounced() {
    let smtp = TestSmtp::start();
    let subs = subscribers(10);
    let site = site_with(
        &Config::for_send(&smtp.url()).send("bounce_after", 1),
        &subs,
    );
    let gone = [&subs[1].email, &subs[6].email, &subs[8].email];
    for address in gone {
        smtp.rule(address, Rule::PermFail);
    }
    let first = send(&site, &[]);
    assert_eq!(first.code, 1, "{first:#?}");
    let line = summary_line(&first.stdout, WEEK);
    assert!(
        line.contains("sent 7, failed 3,") && line.contains("; 3 subscribers marked bounced"),
        "{line}"
    );
    let list = run(
        &site,
        &[
            "subscribers",
            "list",
            "--status",
            "bounced",
            "--format",
            "json",
        ],
    );
    assert_eq!(list.code, 0, "{list:#?}");
    let rows: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let mut bounced: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["email"].as_str().unwrap())
        .collect();
    bounced.sort_unstable();
    assert_eq!(bounced, gone.map(String::as_str));
    // Their history says when and why.
    let shown = run(&site, &["subscribers", "show", gone[0], "--format", "json"]);
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["events"][0]["kind"], "bounced", "{shown}");
    assert_eq!(
        shown["events"][0]["detail"],
        "refused by the receiving server"
    );
    assert_eq!(shown["events"][1]["kind"], "refused", "{shown}");
    assert_eq!(shown["events"][1]["issue"], WEEK);

    // Retrying the failures never mails a bounced subscriber: their rows
    // stay failed, so the run still reports them and exits 1.
    let retry = send(&site, &["--retry-failed"]);
    assert_eq!(retry.code, 1, "{retry:#?}");
    assert!(retry.stdout.contains("already sent:"), "{retry:#?}");
    assert!(retry.stdout.contains(", 3 failed,"), "{retry:#?}");
    for address in gone {
        assert_eq!(smtp.attempts_for(address), 1, "{address}");
    }
}

#[test]
fn exhausted_transient_failures_fail_with_451_and_retry_failed_delivers_them_later() {
    let smtp = TestSmtp::start();
    let (site, subs) = send_site(&smtp, 12);
    let slow = subs[5].email.as_str();
    // 3 attempts a run: fails in runs 1 and 2, accepted at the 2nd try of run 3.
    smtp.rule(slow, Rule::TempFail { times: 7 });

    let first = send(&site, &[]);
    assert_eq!(first.code, 1, "{first:#?}");
    assert_summary(&first.stdout, 11, 1, 0);
    let d = delivery(&site, WEEK, slow);
    assert_eq!((d.status.as_str(), d.attempts), ("failed", 3), "{d:?}");
    assert!(d.last_error.as_deref().unwrap().contains("451"), "{d:?}");
    assert_eq!(smtp.attempts_for(slow), 3);

    // A plain rerun does not retry failures.
    let plain = send(&site, &[]);
    assert_eq!(plain.code, 1, "{plain:#?}");
    assert_eq!(smtp.attempts_for(slow), 3);

    let second = send(&site, &["--retry-failed"]);
    assert_eq!(second.code, 1, "{second:#?}");
    assert_summary(&second.stdout, 0, 1, 0);
    assert_eq!(smtp.attempts_for(slow), 6);
    assert_eq!(delivery(&site, WEEK, slow).status, "failed");

    let third = send(&site, &["--retry-failed"]);
    assert_eq!(third.code, 0, "{third:#?}");
    assert_summary(&third.stdout, 1, 0, 0);
    assert_eq!(smtp.attempts_for(slow), 8);
    let d = delivery(&site, WEEK, slow);
    assert_eq!((d.status.as_str(), d.attempts), ("sent", 8), "{d:?}");
    assert_each_exactly_once(&smtp, &subs);
}

#[test]
fn a_dropped_connection_is_retried_on_a_new_one_and_delivered_once() {
    let smtp = TestSmtp::start();
    let (site, subs) = send_site(&smtp, 20);
    let flaky = subs[7].email.as_str();
    smtp.rule(flaky, Rule::Drop { times: 1 });
    let run = send_ok(&site);
    assert_summary(&run.stdout, 20, 0, 0);
    assert_each_exactly_once(&smtp, &subs);
    assert_eq!(smtp.attempts_for(flaky), 2);
    let d = delivery(&site, WEEK, flaky);
    assert_eq!((d.status.as_str(), d.attempts), ("sent", 2), "{d:?}");
}

#[test]
fn an_unreachable_server_fails_fast_naming_it_and_marks_nothing() {
    let port = closed_port();
    let subs = subscribers(10);
    let site = site_with(
        &Config::for_send(&format!("smtp://127.0.0.1:{port}")),
        &subs,
    );
    let run = send(&site, &[]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.elapsed < Duration::from_secs(5 + 5),
        "took {:?}",
        run.elapsed
    );
    assert!(
        run.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        run.stderr
    );
    assert_eq!(
        statuses(&site, WEEK),
        HashMap::from([("queued".into(), 10)])
    );
}

/// A site for the STARTTLS server, trusting its certificate.
fn tls_site(smtp: &TestSmtp, subs: &[Sub]) -> Site {
    let config = Config::for_send(&smtp.url()).smtp("ca_file", TestSmtp::ca_path());
    site_with(&config, subs)
}

const PASSWORD: &str = "right-Horse-8attery";

#[test]
fn refused_credentials_stop_the_run_at_once_without_retrying() {
    let smtp = TestSmtp::start_tls("user", PASSWORD);
    let subs = subscribers(20);
    let site = tls_site(&smtp, &subs);
    let mut cmd = site.digest(&["send", "--week", WEEK]);
    cmd.env("DIGEST_SMTP_USERNAME", "user")
        .env("DIGEST_SMTP_PASSWORD", "wrong-password");
    let run = finish(cmd);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.elapsed < Duration::from_secs(5),
        "took {:?}",
        run.elapsed
    );
    assert!(
        run.stderr.contains("refused the credentials"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrong-password"), "{}", run.stderr);
    let auths = smtp.auth_attempts();
    assert!((1..=3).contains(&auths), "{auths} AUTH attempts");
    assert!(smtp.messages().is_empty());
    assert_eq!(
        statuses(&site, WEEK),
        HashMap::from([("queued".into(), 20)])
    );
}

/// Send to 15 subscribers over STARTTLS with AUTH, `RUST_LOG` set to
/// `rust_log`, and check the password shows nowhere: neither as itself nor
/// base64-encoded as AUTH PLAIN or LOGIN send it.
fn the_password_is_never_printed(rust_log: Option<&str>) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let plain = b64.encode(format!("\0user\0{PASSWORD}"));
    let login = b64.encode(PASSWORD);
    let smtp = TestSmtp::start_tls("user", PASSWORD);
    let subs = subscribers(15);
    let site = tls_site(&smtp, &subs);
    let mut cmd = site.digest(&["send", "--week", WEEK]);
    cmd.env("DIGEST_SMTP_USERNAME", "user")
        .env("DIGEST_SMTP_PASSWORD", PASSWORD);
    if let Some(level) = rust_log {
        cmd.env("RUST_LOG", level);
    }
    let run = finish(cmd);
    assert_eq!(run.code, 0, "RUST_LOG={rust_log:?}: {run:#?}");
    assert_summary(&run.stdout, 15, 0, 0);
    assert_each_exactly_once(&smtp, &subs);
    assert!(smtp.auth_attempts() >= 1);
    for secret in [PASSWORD, plain.as_str(), login.as_str()] {
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            let leaks: Vec<&str> = text.lines().filter(|l| l.contains(secret)).collect();
            assert!(
                leaks.is_empty(),
                "RUST_LOG={rust_log:?}: {secret} in {stream}:\n{}",
                leaks.join("\n")
            );
        }
    }
}

#[test]
fn starttls_and_auth_deliver_to_everyone_and_the_password_is_never_printed() {
    the_password_is_never_printed(None);
}

#[test]
fn the_password_is_never_printed_even_with_trace_logging() {
    // Everything at trace except the HTML parser behind CSS inlining, which
    // alone writes hundreds of megabytes and never sees a credential.
    the_password_is_never_printed(Some("trace,html5ever=info,selectors=info"));
}

#[test]
fn a_run_killed_in_the_middle_is_finished_by_the_next_with_at_most_concurrency_duplicates() {
    let smtp = TestSmtp::start();
    smtp.set_delay(Duration::from_millis(30));
    let (site, subs) = send_site(&smtp, 300);
    let mut first = spawn(&site, &["send", "--week", WEEK], "first");
    wait_for(&smtp, 100);
    first.child.kill().expect("SIGKILL");
    let (status, _, _) = first.wait();
    assert_eq!(status.code(), None, "killed by a signal");
    let at_kill = smtp.messages().len();
    assert!(at_kill < 300, "the first run finished before the kill");

    // The killed run's process is gone from this host: its lease is taken
    // over at once instead of waiting for it to expire.
    let rerun = send(&site, &[]);
    assert_eq!(rerun.code, 0, "{rerun:#?}");
    assert!(
        rerun.stderr.contains("is gone; taking over its lease")
            && !rerun
                .stderr
                .contains("another send of this week is running"),
        "the rerun did not take the dead run's lease over at once: {}",
        rerun.stderr
    );

    let duplicates = duplicates(&subs, |email| smtp.count_for(email));
    assert!(duplicates <= 4, "{duplicates} duplicates");
    assert_eq!(smtp.messages().len(), 300 + duplicates);
    assert_eq!(statuses(&site, WEEK), HashMap::from([("sent".into(), 300)]));
}

#[test]
fn two_runs_at_once_never_mail_anyone_twice() {
    let smtp = TestSmtp::start();
    smtp.set_delay(Duration::from_millis(10));
    let (site, subs) = send_site(&smtp, 200);
    let mut a = spawn(&site, &["send", "--week", WEEK], "a");
    let mut b = spawn(&site, &["send", "--week", WEEK], "b");
    let (status_a, out_a, err_a) = a.wait();
    let (status_b, out_b, err_b) = b.wait();
    assert_eq!(status_a.code(), Some(0), "{out_a}\n{err_a}");
    assert_eq!(status_b.code(), Some(0), "{out_b}\n{err_b}");
    assert_each_exactly_once(&smtp, &subs);
    assert_eq!(statuses(&site, WEEK), HashMap::from([("sent".into(), 200)]));
}

#[test]
fn an_address_unsubscribed_during_the_run_is_skipped() {
    let smtp = TestSmtp::start();
    smtp.set_delay(Duration::from_millis(30));
    let subs = subscribers(200);
    let site = site_with(&Config::for_send(&smtp.url()).send("concurrency", 2), &subs);
    let last: String = db(&site)
        .query_row(
            "SELECT email FROM subscribers ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(last, subs[199].email);
    let mut sender = spawn(&site, &["send", "--week", WEEK], "send");
    wait_for(&smtp, 20);
    let unsubscribe = run(&site, &["unsubscribe", &last]);
    assert_eq!(
        (unsubscribe.code, unsubscribe.stdout.as_str()),
        (0, format!("unsubscribed {last}\n").as_str()),
        "{unsubscribe:#?}"
    );
    assert!(
        smtp.messages().len() < 199,
        "the run was over before the unsubscribe"
    );
    let (status, stdout, stderr) = sender.wait();
    assert_eq!(status.code(), Some(0), "{stdout}\n{stderr}");
    assert_summary(&stdout, 199, 0, 1);
    assert_eq!(smtp.count_for(&last), 0);
    assert_each_exactly_once(&smtp, &subs[..199]);
    assert_eq!(delivery(&site, WEEK, &last).status, "skipped");
}

/// Stop a run with `signal`: it finishes what is in flight, records it,
/// exits with `code`; the rerun sends the rest.
fn a_signal_stops_the_run_gracefully(signal: &str, code: i32, what: &str) {
    let smtp = TestSmtp::start();
    smtp.set_delay(Duration::from_millis(30));
    let (site, subs) = send_site(&smtp, 200);
    let mut sender = spawn(&site, &["send", "--week", WEEK], "send");
    wait_for(&smtp, 20);
    sender.signal(signal);
    let (status, stdout, stderr) = sender.wait();
    assert_eq!(status.code(), Some(code), "{stdout}\n{stderr}");
    let line = summary_line(&stdout, WEEK);
    assert!(line.contains("still queued"), "{line}");
    assert!(stderr.contains(what), "{stderr}");

    let received = smtp.messages().len();
    let counts = statuses(&site, WEEK);
    let sent = counts.get("sent").copied().unwrap_or(0);
    let queued = counts.get("queued").copied().unwrap_or(0);
    assert_eq!(received, sent, "every accepted message is recorded");
    assert!(queued > 0, "{counts:?}");
    assert_eq!(sent + queued, 200, "{counts:?}");
    assert!(
        line.starts_with(&format!("{WEEK}: sent {sent}, failed 0,")),
        "{line}"
    );
    assert!(
        line.ends_with(&format!("; {queued} still queued")),
        "{line}"
    );

    let rerun = send_ok(&site);
    assert_summary(&rerun.stdout, queued, 0, 0);
    assert!(
        rerun.elapsed < Duration::from_secs(20),
        "the stopped run left no lease to wait for: {:?}",
        rerun.elapsed
    );
    assert_each_exactly_once(&smtp, &subs);
}

#[test]
fn sigterm_stops_the_run_gracefully_with_exit_143_and_a_rerun_sends_the_rest() {
    a_signal_stops_the_run_gracefully("TERM", 143, "interrupted (SIGTERM)");
}

#[test]
fn sigint_stops_the_run_gracefully_with_exit_130_and_a_rerun_sends_the_rest() {
    a_signal_stops_the_run_gracefully("INT", 130, "interrupted (SIGINT)");
}

#[test]
fn a_dry_run_writes_nothing_contacts_no_server_and_can_fill_an_outbox() {
    // A listener nobody accepts on: any connection attempt would queue.
    let (listener, port) = silent_listener();
    let subs = subscribers(6);
    let site = site_with(
        &Config::for_send(&format!("smtp://127.0.0.1:{port}")),
        &subs,
    );
    let left = &subs[4].email;
    assert_eq!(run(&site, &["unsubscribe", left]).code, 0);
    let before = std::fs::read(site.path(DB)).unwrap();

    let dry = send(&site, &["--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:#?}");
    assert!(
        dry.stdout
            .starts_with("dry run: 2026-W48 would be sent to 5 subscribers"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains(SUBJECT), "{}", dry.stdout);
    assert!(
        std::fs::read(site.path(DB)).unwrap() == before,
        "the database changed"
    );

    let outbox = site.path("outbox");
    let with_outbox = send(&site, &["--dry-run", "--outbox", outbox.to_str().unwrap()]);
    assert_eq!(with_outbox.code, 0, "{with_outbox:#?}");
    assert!(
        with_outbox
            .stdout
            .contains("would be sent to 5 subscribers"),
        "{}",
        with_outbox.stdout
    );
    assert!(
        std::fs::read(site.path(DB)).unwrap() == before,
        "the database changed"
    );
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a dry run connected to the SMTP server: {other:?}"),
    }

    let tokens = tokens(&site);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 5, "{files:?}");
    let mut seen = HashSet::new();
    let mut ids = HashSet::new();
    for path in &files {
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("eml"));
        let raw = std::fs::read(path).unwrap();
        let to = MessageParser::default()
            .parse(&raw)
            .unwrap_or_else(|| panic!("{}: unparseable", path.display()))
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .expect("To")
            .to_string();
        let sub = subs.iter().find(|s| s.email == to).expect("a subscriber");
        check_message(&raw, sub, &tokens[&to], &mut ids);
        assert!(seen.insert(to));
    }
    assert!(!seen.contains(left.as_str()), "the unsubscribed address");
}

#[test]
fn a_week_not_started_or_malformed_is_refused_and_a_past_week_can_be_sent_late() {
    let smtp = TestSmtp::start();
    let (site, subs) = send_site(&smtp, 3);
    let next = run(&site, &["send", "--week", "2026-W49"]);
    assert_eq!(next.code, 2, "{next:#?}");
    assert!(
        next.stderr.contains("has not started yet"),
        "{}",
        next.stderr
    );
    for bad in ["2026-W60", "banana", "2026-48"] {
        let r = run(&site, &["send", "--week", bad]);
        assert_eq!(r.code, 2, "{bad}: {r:#?}");
        assert!(r.stderr.contains(bad), "{bad}: {}", r.stderr);
    }
    assert!(smtp.messages().is_empty());
    assert!(statuses(&site, "2026-W49").is_empty(), "W49 is not frozen");

    let late = run(&site, &["send", "--week", "2026-W47"]);
    assert_eq!(late.code, 0, "{late:#?}");
    let line = summary_line(&late.stdout, "2026-W47");
    assert!(line.starts_with("2026-W47: sent 3, failed 0,"), "{line}");
    assert_each_exactly_once(&smtp, &subs);
    assert_eq!(
        statuses(&site, "2026-W47"),
        HashMap::from([("sent".into(), 3)])
    );
}

#[test]
fn the_first_run_freezes_the_issue_for_the_week() {
    let smtp = TestSmtp::start();
    let (site, subs) = send_site(&smtp, 5);
    let first = send(&site, &["--feature", "rag"]);
    assert_eq!(first.code, 0, "{first:#?}");
    let rag_subject = "The AI Glossary Weekly: Retrieval-augmented generation (RAG) + 2 new terms";
    for m in smtp.messages() {
        assert_eq!(field(&m.raw, "Subject"), rag_subject);
    }
    assert_each_exactly_once(&smtp, &subs);

    let other = send(&site, &["--feature", "tokens"]);
    assert_eq!(other.code, 2, "{other:#?}");
    assert!(other.stderr.contains("`rag`"), "{}", other.stderr);

    // Subscribers who join after the freeze get the next issue, not this one.
    let join = run(&site, &["subscribe", "late@example.org"]);
    assert_eq!(join.code, 0, "{join:#?}");
    let again = send(&site, &["--feature", "rag"]);
    assert_eq!(again.code, 0, "{again:#?}");
    assert_eq!(
        again.stdout,
        "2026-W48 already sent: 5 sent, 0 failed, 0 skipped\n"
    );
    assert_eq!(smtp.count_for("late@example.org"), 0);
    assert_each_exactly_once(&smtp, &subs);
    let history = run(&site, &["history", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(rows[0]["featured"], "rag");
    assert_eq!(rows[0]["subject"], rag_subject);
}

#[test]
fn the_editors_subject_is_frozen_with_the_issue() {
    let smtp = TestSmtp::start();
    let (site, subs) = send_site(&smtp, 2);
    site.write(
        "content/_issues/2026-W48.md",
        "+++\nsubject = \"Tokens, and a word before December\"\n+++\nThank you for reading.\n",
    );
    send_ok(&site);
    for m in smtp.messages() {
        assert_eq!(
            field(&m.raw, "Subject"),
            "Tokens, and a word before December"
        );
        assert!(String::from_utf8_lossy(&m.raw).contains("Thank you for reading."));
    }
    assert_each_exactly_once(&smtp, &subs);
    // Editing the note after the freeze changes nothing of the sent week.
    site.write(
        "content/_issues/2026-W48.md",
        "+++\nsubject = \"Another subject\"\n+++\nThank you.\n",
    );
    let history = run(&site, &["history", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(rows[0]["subject"], "Tokens, and a word before December");
    let preview = run(&site, &["preview", "--week", WEEK]);
    assert_eq!(preview.code, 0, "{preview:#?}");
    assert!(
        preview
            .stderr
            .contains("Tokens, and a word before December"),
        "{}",
        preview.stderr
    );
}

// ------------------------------------------------------------------ DKIM --

const SIGNED: [&str; 8] = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
];

/// Send to three subscribers with DKIM signing by `private_pem`: each
/// message carries one signature with the right domain, selector,
/// algorithm and signed headers. The messages, written to files.
fn dkim_signed_messages(private_pem: &str, ed25519: bool) -> (Site, Vec<PathBuf>) {
    let smtp = TestSmtp::start();
    let subs = subscribers(3);
    let key = fixture(&format!("dkim/{private_pem}"));
    let site = site_with(&Config::for_send(&smtp.url()).dkim(&key), &subs);
    let run = send_ok(&site);
    assert_summary(&run.stdout, 3, 0, 0);
    assert_each_exactly_once(&smtp, &subs);

    let mut paths = Vec::new();
    for (i, m) in smtp.messages().iter().enumerate() {
        let signature = field(&m.raw, "DKIM-Signature");
        let tags: HashMap<String, String> = signature
            .split(';')
            .filter_map(|t| t.split_once('='))
            .map(|(k, v)| {
                (
                    k.trim().to_string(),
                    v.chars().filter(|c| !c.is_whitespace()).collect(),
                )
            })
            .collect();
        assert_eq!(tags["d"], "glossary.example", "{signature}");
        assert_eq!(tags["s"], "digest", "{signature}");
        let algorithm = if ed25519 {
            "ed25519-sha256"
        } else {
            "rsa-sha256"
        };
        assert_eq!(tags["a"], algorithm, "{signature}");
        let signed: Vec<String> = tags["h"].split(':').map(str::to_ascii_lowercase).collect();
        for h in SIGNED {
            assert!(signed.iter().any(|s| s == h), "{h} not in h={}", tags["h"]);
        }
        assert!(
            !signed.iter().any(|s| s == "content-type"),
            "h= has content-type: {}",
            tags["h"]
        );
        let path = site.path(&format!("signed-{i}.eml"));
        std::fs::write(&path, &m.raw).unwrap();
        paths.push(path);
    }
    (site, paths)
}

/// The signatures of [`dkim_signed_messages`], verified by dkimpy.
fn dkim_signed_messages_verify(private_pem: &str, public_pem: &str, ed25519: bool) {
    let (site, paths) = dkim_signed_messages(private_pem, ed25519);
    if ed25519 {
        dkim::require_python("dkim, nacl");
    }
    let out = dkim::verify(&site, &dkim_record(public_pem, ed25519), &paths);
    assert!(
        out.status.success(),
        "dkimpy rejects the signatures made with {private_pem}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Without dkimpy (the tests below are then ignored) the signatures are
/// still checked for their tags.
#[test]
fn dkim_signatures_carry_the_domain_selector_algorithm_and_headers_for_every_key_form() {
    dkim_signed_messages("rsa.pem", false);
    dkim_signed_messages("rsa-pkcs1.pem", false);
    dkim_signed_messages("ed25519.pem", true);
}

#[test]
#[cfg_attr(
    missing_dkimpy,
    ignore = "dkimpy not installed: run scripts/install-test-deps.sh"
)]
fn dkim_signatures_made_with_a_pkcs8_rsa_key_verify() {
    dkim_signed_messages_verify("rsa.pem", "rsa.pub.pem", false);
}

#[test]
#[cfg_attr(
    missing_dkimpy,
    ignore = "dkimpy not installed: run scripts/install-test-deps.sh"
)]
fn dkim_signatures_made_with_a_pkcs1_rsa_key_verify() {
    dkim_signed_messages_verify("rsa-pkcs1.pem", "rsa.pub.pem", false);
}

#[test]
#[cfg_attr(
    any(missing_dkimpy, missing_pynacl),
    ignore = "dkimpy or pynacl not installed: run scripts/install-test-deps.sh"
)]
fn dkim_signatures_made_with_an_ed25519_key_verify() {
    dkim_signed_messages_verify("ed25519.pem", "ed25519.pub.pem", true);
}

/// On a terminal, `send` draws a progress bar (rate and ETA) instead of log
/// lines; `script` gives it one.
#[test]
fn on_a_terminal_the_run_shows_a_progress_bar() {
    let smtp = TestSmtp::start();
    // Slow enough for the bar to be drawn more than once.
    smtp.set_delay(Duration::from_millis(10));
    let (site, subs) = send_site(&smtp, 50);
    let bin = assert_cmd::cargo::cargo_bin("digest");
    let out = pin_env(&mut std::process::Command::new("script"))
        .args([
            "-qec",
            &format!("{} send --week {WEEK}", bin.display()),
            "/dev/null",
        ])
        .current_dir(site.dir.path())
        .output()
        .expect("script(1) from util-linux");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(screen.contains("msg/s ETA"), "no progress bar:\n{screen}");
    assert!(
        !screen.contains(" INFO "),
        "log lines on a terminal:\n{screen}"
    );
    assert!(
        screen.contains("2026-W48: sent 50, failed 0, skipped 0 unsubscribed"),
        "{screen}"
    );
    assert_each_exactly_once(&smtp, &subs);
}

// ------------------------------------------------------------ --test --

#[test]
fn a_test_send_mails_only_the_given_addresses_and_leaves_the_database_as_it_was() {
    let smtp = TestSmtp::start();
    let (site, _) = send_site(&smtp, 5);
    let before = std::fs::read(site.path(DB)).unwrap();
    let run = send(
        &site,
        &[
            "--test",
            "editor@example.com",
            "--test",
            "Boss@Example.com",
            "--role",
            "executive",
        ],
    );
    assert_eq!(run.code, 0, "{run:#?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(
        lines[0].starts_with("sent to editor@example.com: 250"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("sent to Boss@example.com: 250"),
        "{}",
        lines[1]
    );

    let messages = smtp.messages();
    let mut to: Vec<String> = messages.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    assert_eq!(to, ["Boss@example.com", "editor@example.com"]);
    for m in &messages {
        assert_eq!(field(&m.raw, "Subject"), format!("[TEST] {SUBJECT}"));
        assert_eq!(
            field(&m.raw, "List-Unsubscribe"),
            format!("<{UNSUBSCRIBE}preview>")
        );
        let parsed = MessageParser::default().parse(&m.raw).unwrap();
        let text = parsed.body_text(0).unwrap();
        assert!(text.contains(&format!("{UNSUBSCRIBE}preview")), "{text}");
    }
    // Not frozen, nothing queued, not a byte of the database changed.
    assert_eq!(std::fs::read(site.path(DB)).unwrap(), before);
    assert_eq!(run_history(&site), "[]");
}

fn run_history(site: &Site) -> String {
    let history = run(site, &["history", "--format", "json"]);
    assert_eq!(history.code, 0, "{history:#?}");
    history.stdout.trim().to_string()
}

#[test]
fn a_test_send_works_without_a_database_and_creates_none() {
    let smtp = TestSmtp::start();
    let site = Site::with_content(&fixture("small/content"));
    site.config(&Config::for_send(&smtp.url()));
    let run = send(&site, &["--test", "editor@example.com"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(
        run.stdout.starts_with("sent to editor@example.com: 250"),
        "{}",
        run.stdout
    );
    assert_eq!(smtp.messages().len(), 1);
    assert!(!site.path(DB).exists(), "a test send created the database");
}

#[test]
fn a_refused_test_address_is_named_with_the_reply_and_exits_1() {
    let smtp = TestSmtp::start();
    smtp.rule("nobody@example.com", Rule::PermFail);
    let site = Site::with_content(&fixture("small/content"));
    site.config(&Config::for_send(&smtp.url()));
    let run = send(
        &site,
        &[
            "--test",
            "editor@example.com",
            "--test",
            "nobody@example.com",
        ],
    );
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stdout.contains("sent to editor@example.com: 250"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("refused nobody@example.com: ") && run.stdout.contains("550"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("1 of 2 test addresses were not accepted"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_test_send_to_a_bad_address_is_bad_input() {
    let site = Site::with_content(&fixture("small/content"));
    let run = send(&site, &["--test", "not-an-address"]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr.contains("--test not-an-address: "),
        "{}",
        run.stderr
    );
    let both = send(&site, &["--test", "a@example.com", "--dry-run"]);
    assert_eq!(both.code, 2, "{both:#?}");
}
