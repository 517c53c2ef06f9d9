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

/// Where the big mailbox providers and SES start acting on a sender.
const HARD_BOUNCE_LIMIT: f64 = 0.02;
const COMPLAINT_LIMIT: f64 = 0.001;

/// One line per issue whose hard-bounce or complaint rate is past the
/// limit, naming the rate.
fn warnings(rows: &[crate::store::HistoryRow]) -> String {
    let mut out = String::new();
    for r in rows {
        let delivered = r.sent;
        if delivered == 0 {
            continue;
        }
        let rate = |n: u64| n as f64 / delivered as f64;
        if rate(r.hard_bounced) > HARD_BOUNCE_LIMIT {
            out += &format!(
                "warning: {}: hard-bounce rate {:.1} % ({} of {} sent) is past 2 %, where mailbox providers and SES start acting; the bounced addresses are no longer mailed\n",
                r.week,
                rate(r.hard_bounced) * 100.0,
                thousands(r.hard_bounced),
                thousands(delivered)
            );
        }
        if rate(r.complained) > COMPLAINT_LIMIT {
            out += &format!(
                "warning: {}: complaint rate {:.2} % ({} of {} sent) is past 0.1 %, where mailbox providers and SES start acting; those readers were unsubscribed\n",
                r.week,
                rate(r.complained) * 100.0,
                thousands(r.complained),
                thousands(delivered)
            );
        }
    }
    out
}
