//! `digest history`: every issue frozen so far, with its delivery counts.

use crate::app::{App, Column, print_stdout, table, thousands};
use crate::cli::ListFormat;

pub fn run(app: &App, format: ListFormat) -> anyhow::Result<()> {
    let rows = match app.store_to_read()? {
        Some(store) => store.history()?,
        None => Vec::new(),
    };
    let out = match format {
        ListFormat::Json => serde_json::to_string_pretty(&rows)? + "\n",
        ListFormat::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.week.clone(),
                        r.subject.clone(),
                        r.featured.clone(),
                        thousands(r.queued),
                        thousands(r.sent),
                        thousands(r.failed),
                        thousands(r.skipped),
                        thousands(r.bounced),
                        thousands(r.complained),
                        r.started_at.map_or_else(|| "-".into(), |t| t.to_string()),
                        r.finished_at.map_or_else(|| "-".into(), |t| t.to_string()),
                    ]
                })
                .collect();
            let table = table(
                &[
                    Column::left("WEEK", 8),
                    Column::left("SUBJECT", 7),
                    Column::left("FEATURED", 8),
                    Column::right("QUEUED", 7),
                    Column::right("SENT", 9),
                    Column::right("FAILED", 7),
                    Column::right("SKIPPED", 7),
                    Column::right("BOUNCED", 7),
                    Column::right("COMPLAINED", 10),
                    Column::left("STARTED", 20),
                    Column::left("FINISHED", 0),
                ],
                &cells,
            );
            table + &warnings(&rows)
        }
    };
    print_stdout(&out)
}

/// Where the big mailbox providers and SES start acting on a sender:
/// (what, its count in a row, the limit, decimals shown, what was done).
fn limits(r: &crate::store::HistoryRow) -> [(&'static str, u64, f64, usize, &'static str); 2] {
    [
        (
            "hard-bounce",
            r.hard_bounced,
            0.02,
            1,
            "the bounced addresses are no longer mailed",
        ),
        (
            "complaint",
            r.complained,
            0.001,
            2,
            "those readers were unsubscribed",
        ),
    ]
}

/// One line per issue whose hard-bounce or complaint rate is past the
/// limit, naming the rate.
fn warnings(rows: &[crate::store::HistoryRow]) -> String {
    let mut out = String::new();
    for r in rows.iter().filter(|r| r.sent > 0) {
        for (what, n, limit, decimals, done) in limits(r) {
            let rate = n as f64 / r.sent as f64;
            if rate > limit {
                out += &format!(
                    "warning: {}: {what} rate {:.decimals$} % ({} of {} sent) is past {} %, where mailbox providers and SES start acting; {done}\n",
                    r.week,
                    rate * 100.0,
                    thousands(n),
                    thousands(r.sent),
                    limit * 100.0,
                );
            }
        }
    }
    out
}
