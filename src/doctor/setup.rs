//! The checks of what is on this server: the config file and the
//! newsletter's settings, the glossary, the templates (rendering this
//! week's issue), and the database. All read only.

use chrono::{DateTime, Utc};

use super::Report;
use crate::config::Config;
use crate::content::{self, Glossary};
use crate::render::{Links, Templates};
use crate::role::Role;
use crate::store::Store;
use crate::week::IssueWeek;

pub(super) fn check(config: &Config, now: DateTime<Utc>, week: IssueWeek, report: &mut Report) {
    match &config.source {
        Some(path) => report.ok("config", format!("{} loaded", path.display())),
        None => report.warn(
            "config",
            "no digest.toml: the built-in defaults are in use (sender digest@glossary.example)",
            "copy the repository's digest.toml next to the database, or pass --config PATH",
        ),
    }
    newsletter(config, report);
    let today = now.with_timezone(&config.newsletter.timezone).date_naive();
    let glossary = glossary(config, today, report);
    let store = database(config, report);
    templates(config, glossary.as_ref(), store.as_ref(), week, report);
}

/// The settings receivers and the law look at.
fn newsletter(config: &Config, report: &mut Report) {
    let n = &config.newsletter;
    let public = n.public_url.as_str();
    if n.public_url.is_https() {
        report.ok("public_url", public.to_string());
    } else {
        report.warn(
            "public_url",
            format!("{public} is not https: Gmail offers its one-click unsubscribe only for an https link"),
            "serve `digest serve` behind TLS (see the README, Deploying) and set [newsletter] public_url to its https address",
        );
    }
    match &n.postal_address {
        Some(address) => report.ok("postal_address", address.clone()),
        None => report.warn(
            "postal_address",
            "not set: CAN-SPAM and similar laws require a postal address in every issue",
            "set [newsletter] postal_address",
        ),
    }
    match &n.reply_to {
        Some(reply_to) => report.ok("reply_to", reply_to.to_string()),
        None => report.ok(
            "reply_to",
            format!("not set: replies go to {}", n.from.email),
        ),
    }
}

/// `terms check`, with every problem listed.
fn glossary(config: &Config, today: chrono::NaiveDate, report: &mut Report) -> Option<Glossary> {
    let dir = &config.paths.content;
    let loaded = match content::load(dir) {
        Ok(loaded) => loaded,
        Err(e) => {
            report.fail(
                "content",
                format!("{e:#}"),
                "set [paths] content to the glossary's folder",
            );
            return None;
        }
    };
    if loaded.problems.is_empty() {
        let g = &loaded.glossary;
        report.ok(
            "content",
            format!(
                "{} terms ({} scheduled) in {}",
                g.len(),
                g.scheduled_after(today),
                dir.display()
            ),
        );
        return Some(loaded.glossary);
    }
    let n = loaded.problems.len();
    report.fail(
        "content",
        format!(
            "{n} problem{} in {}",
            if n == 1 { "" } else { "s" },
            dir.display()
        ),
        "correct the files named (`digest terms check` shows the same)",
    );
    if let Some(last) = report.checks.last_mut() {
        last.details = loaded.problems.iter().map(ToString::to_string).collect();
    }
    None
}

/// The database opens read-only (or does not exist yet) and its schema is
/// the one this program writes.
fn database(config: &Config, report: &mut Report) -> Option<Store> {
    let path = &config.paths.database;
    match Store::open_read_only(path) {
        Ok(None) => {
            report.ok(
                "database",
                format!(
                    "{} does not exist yet: the first `digest subscribe`, import or send creates it",
                    path.display()
                ),
            );
            None
        }
        Ok(Some(store)) => {
            let latest = Store::latest_schema();
            match store.schema_version() {
                Ok(v) if v == latest => {
                    report.ok("database", format!("{}, schema {v} (current)", path.display()))
                }
                Ok(v) => report.warn(
                    "database",
                    format!("{}: schema {v}, this program writes {latest}", path.display()),
                    "the next command that writes (send, subscribe, serve) migrates it; back it up first",
                ),
                Err(e) => report.fail(
                    "database",
                    format!("{}: {e:#}", path.display()),
                    "check [paths] database",
                ),
            }
            Some(store)
        }
        Err(e) => {
            report.fail(
                "database",
                format!("{e:#}"),
                "check [paths] database and the file's permissions",
            );
            None
        }
    }
}

/// Every template compiles, and this week's issue renders with them for
/// every kind of reader.
fn templates(
    config: &Config,
    glossary: Option<&Glossary>,
    store: Option<&Store>,
    week: IssueWeek,
    report: &mut Report,
) {
    let dir = &config.paths.templates;
    let fix = "correct the template named (`digest preview` renders the same issue)";
    let templates = match Templates::load(dir) {
        Ok(t) => t,
        Err(e) => return report.fail("templates", format!("{e:#}"), fix),
    };
    let Some(glossary) = glossary else {
        return report.warn(
            "templates",
            format!(
                "{} compile; this week's issue was not rendered (the glossary has problems)",
                dir.display()
            ),
            "correct the content, then run `digest doctor` again",
        );
    };
    let rendered = (|| {
        let (_, view) = crate::issue::view(config, store, glossary, week, None)?;
        let links = Links::new(&config.newsletter, &view.issue.week, Some("doctor"));
        let mut subject = String::new();
        for role in std::iter::once(None).chain(Role::ALL.map(Some)) {
            subject = templates.render_issue(&view, role, &links)?.subject;
        }
        anyhow::Ok(subject)
    })();
    match rendered {
        Ok(subject) => report.ok(
            "templates",
            format!(
                "{week}'s issue renders from {}: \"{subject}\"",
                dir.display()
            ),
        ),
        Err(e) => report.fail("templates", format!("{week}'s issue: {e:#}"), fix),
    }
}
