//! `digest send`: the Sunday run.
//!
//! The first run for a week freezes the issue (selection and subject) and
//! queues one delivery per active subscriber in one transaction; every run,
//! first or not, then delivers what is still queued. See `crate::send` for
//! how deliveries are made safe against kills, retries and overlapping runs.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::address::SubscriberEmail;
use crate::app::{App, thousands};
use crate::cli::SendArgs;
use crate::clock::Clock;
use crate::delivery::Counts;
use crate::error::{Exit, InputError};
use crate::mail::{MessageFactory, Returns};
use crate::send::{IssueReport, Progress, Settings, Stopped};
use crate::transport::outbox::Outbox;
use crate::transport::smtp::Smtp;
use crate::week::IssueWeek;

pub fn run(app: &App, args: &SendArgs) -> anyhow::Result<()> {
    if args.check_relays {
        return check_relays(app, args.json);
    }
    let week = args.week.unwrap_or_else(|| app.send_week());
    if week.monday() > app.today() && args.test.is_empty() {
        crate::bad_input!(
            "{week} has not started yet (it starts on {}); an issue can be sent from its Monday on, or late",
            week.monday()
        );
    }
    if !args.test.is_empty() {
        return test_send(app, args, week);
    }
    if args.dry_run {
        return dry_run(app, args, week);
    }

    // The relays' settings are checked before anything is written.
    Smtp::relays(&app.config)?;
    let mut store = app.store_for_writing()?;
    let issue =
        crate::issue::Issue::prepare(&app.config, Some(&store), week, args.feature.as_deref())?;
    let queued = issue.freeze(&mut store, app.now_stamp(), args.retry_failed)?;
    if let Some(n) = queued.froze {
        tracing::info!(
            "{week}: froze the issue (featuring {}, {} new terms) and queued {} subscribers",
            issue.selection.featured,
            issue.selection.new_terms.len(),
            thousands(n)
        );
    }
    if queued.requeued > 0 {
        tracing::info!(
            "{week}: {} failed deliveries queued again",
            thousands(queued.requeued)
        );
    }
    if queued.counts.queued == 0 {
        return finish_without_sending(week, queued.counts, args.json);
    }
    // Every delivery's envelope sender and Message-ID carry its tag, so
    // that a bounce or complaint arriving later names it (`digest inbound`).
    let returns = Returns::from_config(&app.config, Some(store.tag_key()?));
    let factory = issue.factory.with_returns(returns);
    let day_ago = app.now() - chrono::Duration::hours(24);
    let sent_today = store.sent_by_relay_since(crate::timestamp::Timestamp::from(day_ago))?;
    let lanes = crate::send::smtp_lanes(&app.config, &sent_today)?;

    // One thread drives every connection and the ledger: the work per
    // message is small and mostly waiting, and a second runtime thread only
    // adds wake-ups and work stealing (measured: about 25 % slower, with
    // more CPU).
    let runtime = runtime()?;
    let progress: Arc<dyn Progress> = if std::io::stderr().is_terminal() && !args.json {
        Arc::new(Bar::new())
    } else {
        Arc::new(LogLines::default())
    };
    let signal = Arc::new(AtomicU8::new(0));
    let clock = Clock::starting_at(app.now());
    let report = runtime.block_on(async {
        watch_signals(signal.clone());
        crate::send::send_issue(
            store,
            week,
            factory,
            lanes,
            settings(app),
            app.config.send.bounce_after,
            app.config
                .send
                .local_time
                .map(|at| (at, app.config.newsletter.timezone)),
            crate::send::Control {
                progress,
                clock,
                stop: signal,
            },
        )
        .await
    })?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    summarize(week, &report, app.config.send.local_time, args.json)
}

/// The engine's settings from `[send]`.
fn settings(app: &App) -> Settings {
    Settings::from_config(&app.config.send)
}

/// The command line's runtime: one thread.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `--test ADDRESS`: the issue to those addresses, now, touching nothing.
fn test_send(app: &App, args: &SendArgs, week: IssueWeek) -> anyhow::Result<()> {
    let mut addresses = Vec::new();
    for a in &args.test {
        let email = SubscriberEmail::parse(a).map_err(|e| {
            InputError(format!(
                "--test {a}: {e}; give an address like editor@example.com"
            ))
        })?;
        addresses.push(email.as_str().to_string());
    }
    let lanes = crate::send::smtp_lanes(&app.config, &Default::default())?;
    let store = app.store_to_read()?;
    let issue =
        crate::issue::Issue::prepare(&app.config, store.as_ref(), week, args.feature.as_deref())?;
    drop(store);
    let factory: MessageFactory = issue
        .factory
        .with_returns(Returns::from_config(&app.config, None))
        .for_testing();
    let subject = factory.subject().to_string();
    let runtime = runtime()?;
    let results = runtime.block_on(crate::send::test_send(
        &addresses,
        args.role,
        factory,
        lanes,
        settings(app),
        Clock::starting_at(app.now()),
    ))?;
    let mut refused = 0;
    for r in &results {
        match &r.answer {
            Ok(reply) => println!("sent to {}: {reply}", r.email),
            Err(error) => {
                refused += 1;
                println!("refused {}: {error}", r.email);
            }
        }
    }
    eprintln!("{week}: {subject}");
    if refused > 0 {
        return Err(Exit {
            code: 1,
            message: format!(
                "{refused} of {} test addresses were not accepted",
                results.len()
            ),
        }
        .into());
    }
    Ok(())
}

fn finish_without_sending(week: IssueWeek, counts: Counts, json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string(&Summary::from_counts(week, counts))?
        );
    } else {
        println!(
            "{week} already sent: {} sent, {} failed, {} skipped",
            thousands(counts.sent),
            thousands(counts.failed),
            thousands(counts.skipped)
        );
    }
    if counts.failed > 0 {
        return Err(Exit {
            code: 1,
            message: format!(
                "{} deliveries of {week} failed; `digest history` shows them, `digest send --week {week} --retry-failed` tries them again",
                thousands(counts.failed)
            ),
        }
        .into());
    }
    Ok(())
}

#[derive(Serialize)]
struct Summary {
    week: String,
    sent: u64,
    failed: u64,
    skipped: u64,
    bounced: u64,
    seconds: f64,
    per_second: f64,
    /// The whole issue after this run.
    totals: Counts,
    stopped: Option<String>,
    /// Messages this run sent, by relay.
    relays: std::collections::BTreeMap<String, u64>,
    /// With `[send] local_time`: queued readers whose time has not come.
    waiting: u64,
    /// When the next of them is due (RFC 3339, UTC).
    next_due: Option<String>,
}

impl Summary {
    fn from_counts(week: IssueWeek, totals: Counts) -> Summary {
        Summary {
            week: week.to_string(),
            sent: 0,
            failed: 0,
            skipped: 0,
            bounced: 0,
            seconds: 0.0,
            per_second: 0.0,
            totals,
            stopped: None,
            relays: Default::default(),
            waiting: 0,
            next_due: None,
        }
    }
}

/// `2026-11-29T13:00Z`: when the next readers are due, to the minute.
fn due_text(due: chrono::DateTime<chrono::Utc>) -> String {
    due.format("%Y-%m-%dT%H:%MZ").to_string()
}

fn summarize(
    week: IssueWeek,
    issue: &IssueReport,
    local_time: Option<chrono::NaiveTime>,
    json: bool,
) -> anyhow::Result<()> {
    let report = &issue.run;
    let secs = report.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        report.sent as f64 / secs
    } else {
        0.0
    };
    let stopped = report.stopped.as_ref().map(|s| match s {
        Stopped::Signal(130) => "interrupted (SIGINT)".to_string(),
        Stopped::Signal(143) => "interrupted (SIGTERM)".to_string(),
        Stopped::Signal(code) => format!("interrupted ({code})"),
        Stopped::Aborted(why) => format!("aborted: {why}"),
    });
    if json {
        let summary = Summary {
            week: week.to_string(),
            sent: report.sent,
            failed: report.failed,
            skipped: report.skipped,
            bounced: issue.bounced,
            seconds: (secs * 1000.0).round() / 1000.0,
            per_second: rate.round(),
            totals: issue.totals,
            stopped: stopped.clone(),
            relays: report.relays.clone(),
            waiting: issue.waiting.map_or(0, |w| w.readers),
            next_due: issue
                .waiting
                .and_then(|w| w.next_due)
                .map(|d| d.to_rfc3339()),
        };
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        let mut line = format!(
            "{week}: sent {}, failed {}, skipped {} unsubscribed, in {secs:.1} s ({} msg/s)",
            thousands(report.sent),
            thousands(report.failed),
            thousands(report.skipped),
            thousands(rate.round() as u64)
        );
        if issue.bounced > 0 {
            line += &format!("; {} subscribers marked bounced", thousands(issue.bounced));
        }
        let waiting = issue.waiting.unwrap_or_default();
        if waiting.readers > 0 {
            line += &format!(
                ", {} waiting for their local {}",
                thousands(waiting.readers),
                local_time
                    .map(|t| t.format("%H:%M").to_string())
                    .unwrap_or_default()
            );
            if let Some(due) = waiting.next_due {
                line += &format!(" (next due {})", due_text(due));
            }
        }
        let left = issue.totals.queued.saturating_sub(waiting.readers);
        if left > 0 {
            line += &format!("; {} still queued", thousands(left));
        }
        println!("{line}");
    }
    match &report.stopped {
        Some(Stopped::Signal(code)) => Err(Exit {
            code: *code,
            message: format!(
                "{}: {} deliveries still queued; run `digest send --week {week}` again to finish",
                stopped.unwrap_or_default(),
                thousands(issue.totals.queued)
            ),
        }
        .into()),
        Some(Stopped::Aborted(why)) => Err(Exit {
            code: 1,
            message: format!(
                "the run stopped: {why}; {} deliveries still queued for the next run",
                thousands(issue.totals.queued)
            ),
        }
        .into()),
        None if issue.totals.failed > 0 => Err(Exit {
            code: 1,
            message: format!(
                "{} deliveries of {week} failed; `digest history` shows the counts, `digest send --week {week} --retry-failed` tries them again",
                thousands(issue.totals.failed)
            ),
        }
        .into()),
        None => Ok(()),
    }
}

/// SIGINT → 130, SIGTERM → 143, as a shell would report them.
fn watch_signals(flag: Arc<AtomicU8>) {
    use tokio::signal::unix::{SignalKind, signal};
    for (kind, code) in [
        (SignalKind::interrupt(), 130u8),
        (SignalKind::terminate(), 143u8),
    ] {
        let flag = flag.clone();
        if let Ok(mut stream) = signal(kind) {
            tokio::spawn(async move {
                if stream.recv().await.is_some() {
                    tracing::warn!(
                        "signal received: finishing the messages in flight, then stopping"
                    );
                    let _ = flag.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
                }
            });
        }
    }
}

/// `--dry-run`: everything but the sending and the database writes.
fn dry_run(app: &App, args: &SendArgs, week: IssueWeek) -> anyhow::Result<()> {
    let store = app.store_to_read()?;
    let issue =
        crate::issue::Issue::prepare(&app.config, store.as_ref(), week, args.feature.as_deref())?;
    // A frozen week would go to the rows still queued; an unsent one to
    // every active subscriber; without a database, to nobody.
    let frozen = issue.frozen.then_some(week);
    let subject = issue.factory.subject().to_string();
    // The messages as the send would make them: tagged with the stored key,
    // or with a key made for this run when none is stored yet.
    let stored = match &store {
        Some(store) => store.existing_tag_key()?,
        None => None,
    };
    let key = match stored {
        Some(key) => key,
        None => crate::tag::TagKey::generate()?,
    };
    let factory = issue
        .factory
        .with_returns(Returns::from_config(&app.config, Some(key)));
    let outbox = Outbox::new(args.outbox.clone());
    let runtime = runtime()?;
    let done = runtime.block_on(crate::send::dry_run(
        store,
        frozen,
        factory,
        outbox,
        Clock::starting_at(app.now()),
    ))?;
    let n = done.messages;
    let avg = done.bytes.checked_div(n).unwrap_or(0);
    println!(
        "dry run: {week} would be sent to {} subscriber{} (\"{subject}\", featuring {}, {} new terms; {} bytes a message on average){}",
        thousands(n),
        if n == 1 { "" } else { "s" },
        issue.selection.featured,
        issue.selection.new_terms.len(),
        thousands(avg),
        match &args.outbox {
            Some(dir) => format!("; messages written to {}", dir.display()),
            None => String::new(),
        }
    );
    Ok(())
}

/// A progress bar with rate and ETA, for a person at a terminal.
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Bar {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} {rate} ETA {eta}",
            )
            .expect("valid template")
            .with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{} msg/s", thousands(state.per_sec().round() as u64));
                },
            ),
        );
        Bar(bar)
    }
}

impl Progress for Bar {
    fn start(&self, queued: u64) {
        self.0.set_length(queued);
    }
    fn delivered(&self, n: u64) {
        self.0.inc(n);
    }
    fn failed(&self, email: &str, error: &str) {
        self.0.println(format!("failed: {email}: {error}"));
    }
    fn waiting_for_lease(&self, holder: &str) {
        self.0.println(format!(
            "another send of this week is running ({holder}); waiting for it to finish"
        ));
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// Plain log lines for cron: one per 1,000 messages, one per failure.
#[derive(Default)]
struct LogLines {
    done: std::sync::atomic::AtomicU64,
    total: std::sync::atomic::AtomicU64,
}

impl Progress for LogLines {
    fn start(&self, queued: u64) {
        self.total.store(queued, Ordering::Relaxed);
        tracing::info!("sending to {} queued subscribers", thousands(queued));
    }
    fn delivered(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if done.is_multiple_of(1000) {
            tracing::info!(
                "{} of {} done",
                thousands(done),
                thousands(self.total.load(Ordering::Relaxed))
            );
        }
    }
    fn failed(&self, email: &str, error: &str) {
        tracing::warn!("delivery to {email} failed: {error}");
    }
    fn waiting_for_lease(&self, holder: &str) {
        tracing::warn!("another send of this week is running ({holder}); waiting for it to finish");
    }
    fn finish(&self) {}
}

/// `send --check-relays`: each relay reached, greeted, encrypted and
/// logged into as a send would; exit 1 when one fails.
fn check_relays(app: &App, json: bool) -> anyhow::Result<()> {
    let relays = Smtp::relays(&app.config)?;
    let runtime = runtime()?;
    let checked: Vec<_> = relays
        .iter()
        .map(|relay| runtime.block_on(relay.check()))
        .collect();
    if json {
        let value: Vec<_> = checked.iter().map(check_json).collect();
        println!("{}", serde_json::Value::Array(value));
    } else {
        for c in &checked {
            print_check(c);
        }
    }
    let failed: Vec<String> = checked
        .iter()
        .filter(|c| !c.ok())
        .map(|c| format!("{} ({})", c.name, c.relay))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Exit {
            code: 1,
            message: format!(
                "{} of {} relays failed the check: {}",
                failed.len(),
                checked.len(),
                failed.join(", ")
            ),
        }
        .into())
    }
}

fn login_text(login: &crate::transport::smtp::Login) -> String {
    use crate::transport::smtp::Login;
    match login {
        Login::Ok => "ok".to_string(),
        Login::Refused(why) => format!("refused: {why}"),
        Login::NoCredentials => "no credentials set (sending without AUTH)".into(),
        Login::NotTried => "not tried".into(),
    }
}

fn check_json(checked: &crate::transport::smtp::Checked) -> serde_json::Value {
    serde_json::json!({
        "name": checked.name,
        "relay": checked.relay,
        "reached": checked.reached,
        "error": checked.error,
        "starttls": checked.starttls_offered,
        "tls": checked.encrypted,
        "auth": checked.offers.auth,
        "pipelining": checked.offers.pipelining,
        "chunking": checked.offers.chunking,
        "size": checked.offers.size,
        "login": login_text(&checked.login),
        "ok": checked.ok(),
    })
}

fn print_check(checked: &crate::transport::smtp::Checked) {
    let yes = |b: bool| if b { "yes" } else { "no" };
    println!("{} ({})", checked.name, checked.relay);
    match &checked.error {
        Some(why) => println!("  reached:     no: {why}"),
        None => {
            println!("  reached:     yes");
            println!(
                "  STARTTLS:    {} (the connection is {})",
                if checked.starttls_offered {
                    "offered"
                } else {
                    "not offered"
                },
                if checked.encrypted {
                    "encrypted"
                } else {
                    "NOT encrypted"
                }
            );
            let auth = if checked.offers.auth.is_empty() {
                "none offered".to_string()
            } else {
                checked.offers.auth.join(" ")
            };
            println!("  AUTH:        {auth}");
            println!("  PIPELINING:  {}", yes(checked.offers.pipelining));
            println!("  CHUNKING:    {}", yes(checked.offers.chunking));
            let size = match checked.offers.size {
                None => "not said".to_string(),
                Some(0) => "no limit".to_string(),
                Some(n) => format!("{} bytes", thousands(n)),
            };
            println!("  SIZE:        {size}");
            println!("  login:       {}", login_text(&checked.login));
        }
    }
}
