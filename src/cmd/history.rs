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
                        r.started_at.map_or_else(|| "-".into(), |t| t.to_string()),
                        r.finished_at.map_or_else(|| "-".into(), |t| t.to_string()),
                    ]
                })
                .collect();
            table(
                &[
                    Column::left("WEEK", 8),
                    Column::left("SUBJECT", 7),
                    Column::left("FEATURED", 8),
                    Column::right("QUEUED", 7),
                    Column::right("SENT", 9),
                    Column::right("FAILED", 7),
                    Column::right("SKIPPED", 7),
                    Column::left("STARTED", 20),
                    Column::left("FINISHED", 0),
                ],
                &cells,
            )
        }
    };
    print_stdout(&out)
}
