//! `digest subscribers list | import | export`.

use std::io::{BufWriter, Write};

use crate::app::{App, Column, print_stdout, table, thousands};
use crate::cli::{ExportFormat, ListFormat, SubscriberFormat, SubscribersCommand};
use crate::status::Status;
use crate::store::{Store, Subscriber};

pub fn run(app: &App, command: &SubscribersCommand) -> anyhow::Result<()> {
    match command {
        SubscribersCommand::List { status, format } => list(app, *status, *format),
        SubscribersCommand::Export { status, format } => {
            let format = match format {
                ExportFormat::Csv => SubscriberFormat::Csv,
                ExportFormat::Json => SubscriberFormat::Json,
            };
            write_rows(app, *status, format)
        }
        SubscribersCommand::Show { email, format } => show(app, email, *format),
        SubscribersCommand::Import {
            file,
            status,
            dry_run,
            from,
        } => super::import::run(app, file, *status, *dry_run, *from),
    }
}

/// The columns of CSV and JSON output, in order. `email` to `created_at` are
/// what another tool needs; `confirmed_at` and `unsubscribed_at` make an
/// export lossless, so moving a list between databases keeps its history.
const CSV_HEADER: [&str; 9] = [
    "email",
    "name",
    "role",
    "status",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
    "timezone",
    "paused_until",
];

fn list(app: &App, status: Option<Status>, format: SubscriberFormat) -> anyhow::Result<()> {
    if format != SubscriberFormat::Table {
        return write_rows(app, status, format);
    }
    let mut rows: Vec<Subscriber> = Vec::new();
    if let Some(store) = app.store_to_read()? {
        store.for_each_subscriber(status, |s| {
            rows.push(s.clone());
            Ok(())
        })?;
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|s| {
            vec![
                s.email.clone(),
                s.name.clone().unwrap_or_default(),
                s.role.map_or("", |r| r.as_str()).to_string(),
                s.status.as_str().to_string(),
                s.created_at.to_string(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            Column::left("EMAIL", 5),
            Column::left("NAME", 4),
            Column::left("ROLE", 14),
            Column::left("STATUS", 12),
            Column::left("CREATED", 0),
        ],
        &cells,
    );
    out += &format!(
        "{} subscriber{}\n",
        thousands(rows.len() as u64),
        if rows.len() == 1 { "" } else { "s" }
    );
    print_stdout(&out)
}

/// CSV or JSON to standard output, streamed row by row from the database.
fn write_rows(app: &App, status: Option<Status>, format: SubscriberFormat) -> anyhow::Result<()> {
    let stdout = std::io::stdout().lock();
    let result = match app.store_to_read()? {
        Some(store) => write_to(
            &store,
            status,
            format,
            BufWriter::with_capacity(64 * 1024, stdout),
        ),
        None => write_to(&Store::in_memory()?, status, format, BufWriter::new(stdout)),
    };
    match result {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn write_to(
    store: &Store,
    status: Option<Status>,
    format: SubscriberFormat,
    mut out: impl Write,
) -> anyhow::Result<()> {
    match format {
        SubscriberFormat::Csv | SubscriberFormat::Table => {
            let mut csv = csv::Writer::from_writer(out);
            csv.write_record(CSV_HEADER)?;
            store.for_each_subscriber(status, |s| {
                csv.write_record([
                    s.email.as_str(),
                    s.name.as_deref().unwrap_or(""),
                    s.role.map_or("", |r| r.as_str()),
                    s.status.as_str(),
                    &s.created_at.to_string(),
                    &s.confirmed_at.map(|t| t.to_string()).unwrap_or_default(),
                    &s.unsubscribed_at.map(|t| t.to_string()).unwrap_or_default(),
                    s.timezone.as_deref().unwrap_or(""),
                    s.paused_until.as_deref().unwrap_or(""),
                ])?;
                Ok(())
            })?;
            csv.flush()?;
        }
        SubscriberFormat::Json => {
            out.write_all(b"[")?;
            let mut first = true;
            store.for_each_subscriber(status, |s| {
                out.write_all(if first { b"\n  " } else { b",\n  " })?;
                first = false;
                serde_json::to_writer(&mut out, s)?;
                Ok(())
            })?;
            out.write_all(if first { b"]\n" } else { b"\n]\n" })?;
            out.flush()?;
        }
    }
    Ok(())
}

/// `subscribers show EMAIL`: the subscriber and their history, newest first.
fn show(app: &App, email: &str, format: ListFormat) -> anyhow::Result<()> {
    let email = super::subscribe::parse_email(email)?;
    let found = match app.store_to_read()? {
        Some(store) => match store.subscriber_by_email(&email)? {
            Some(sub) => {
                let events = if store.schema_version()? >= 4 {
                    store.history_of(&sub)?
                } else {
                    Vec::new()
                };
                Some((sub, events))
            }
            None => None,
        },
        None => None,
    };
    let Some((sub, events)) = found else {
        anyhow::bail!("no subscriber {email}");
    };
    let out = match format {
        ListFormat::Json => {
            #[derive(serde::Serialize)]
            struct Shown<'a> {
                #[serde(flatten)]
                subscriber: &'a Subscriber,
                #[serde(skip_serializing_if = "Option::is_none")]
                unsubscribed_how: Option<&'a str>,
                events: &'a [crate::store::Event],
            }
            serde_json::to_string_pretty(&Shown {
                subscriber: &sub,
                unsubscribed_how: sub.unsubscribed_how.as_deref(),
                events: &events,
            })? + "\n"
        }
        ListFormat::Table => {
            let mut out = format!("{}\n", sub.email);
            let mut line = |key: &str, value: String| out += &format!("  {key:<11} {value}\n");
            if let Some(name) = &sub.name {
                line("name", name.clone());
            }
            line(
                "status",
                match (&sub.status, &sub.unsubscribed_how) {
                    (Status::Unsubscribed, Some(how)) => format!("unsubscribed ({how})"),
                    (status, _) => status.to_string(),
                },
            );
            line("role", sub.role.map_or("-", |r| r.as_str()).to_string());
            if let Some(zone) = &sub.timezone {
                line("timezone", zone.clone());
            }
            if let Some(until) = &sub.paused_until {
                line("paused", format!("until {until}"));
            }
            if let Some(reason) = &sub.unsubscribe_reason {
                line("reason", reason.clone());
            }
            line("created", sub.created_at.to_string());
            line(
                "confirmed",
                sub.confirmed_at
                    .map_or_else(|| "-".into(), |t| t.to_string()),
            );
            out += "\n";
            let cells: Vec<Vec<String>> = events
                .iter()
                .map(|e| {
                    let kind = e.kind.replace('_', " ");
                    let what = match &e.how {
                        Some(how) => format!("{kind} ({how})"),
                        None => kind,
                    };
                    vec![
                        e.at.to_string(),
                        what,
                        e.issue.clone().unwrap_or_else(|| "-".into()),
                        e.detail.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            out += &table(
                &[
                    Column::left("WHEN", 20),
                    Column::left("EVENT", 12),
                    Column::left("ISSUE", 8),
                    Column::left("DETAIL", 0),
                ],
                &cells,
            );
            out
        }
    };
    print_stdout(&out)
}
