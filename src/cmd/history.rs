//! `digest history`: every issue frozen so far, with its delivery counts.

use crate::app::{App, print_stdout, thousands};
use crate::cli::ListFormat;

pub fn run(app: &App, format: ListFormat) -> anyhow::Result<()> {
    let rows = match app.store_if_exists()? {
        Some(store) => store.history()?,
        None => Vec::new(),
    };
    let out = match format {
        ListFormat::Json => serde_json::to_string_pretty(&rows)? + "\n",
        ListFormat::Table => {
            let sw = rows
                .iter()
                .map(|r| r.subject.chars().count())
                .max()
                .unwrap_or(7)
                .max(7);
            let fw = rows
                .iter()
                .map(|r| r.featured.len())
                .max()
                .unwrap_or(8)
                .max(8);
            let mut out = format!(
                "{:8}  {:sw$}  {:fw$}  {:>7}  {:>9}  {:>7}  {:>7}  {:20}  FINISHED\n",
                "WEEK", "SUBJECT", "FEATURED", "QUEUED", "SENT", "FAILED", "SKIPPED", "STARTED"
            );
            for r in &rows {
                out += &format!(
                    "{:8}  {:sw$}  {:fw$}  {:>7}  {:>9}  {:>7}  {:>7}  {:20}  {}\n",
                    r.week,
                    r.subject,
                    r.featured,
                    thousands(r.queued),
                    thousands(r.sent),
                    thousands(r.failed),
                    thousands(r.skipped),
                    r.started_at.as_deref().unwrap_or("-"),
                    r.finished_at.as_deref().unwrap_or("-"),
                );
            }
            out
        }
    };
    print_stdout(&out)
}
