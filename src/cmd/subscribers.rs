//! `digest subscribers list | import | export`.

use std::io::{BufWriter, Read, Write};
use std::path::Path;

use crate::app::{App, Column, print_stdout, table, thousands};
use crate::cli::{ExportFormat, ListFormat, SubscriberFormat, SubscribersCommand};
use crate::error::InputError;
use crate::import::ImportReader;
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
        } => import(app, file, *status, *dry_run, *from),
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

fn import(
    app: &App,
    files: &[std::path::PathBuf],
    status: Status,
    dry_run: bool,
    from: Option<crate::import::Source>,
) -> anyhow::Result<()> {
    if files.len() > 1 && files.iter().any(|f| f == Path::new("-")) {
        return Err(InputError(
            "`-` (standard input) can only be imported on its own; name the files instead".into(),
        )
        .into());
    }
    // Every file's header is read before anything is written: a file that
    // cannot be read stops the import with nothing imported.
    let mut names = Vec::new();
    let mut readers = Vec::new();
    for (shown, input) in open_inputs(files)? {
        let reader = ImportReader::from_source(input, status, from)
            .map_err(|e| InputError(format!("{shown}: {e}")))?
            .in_file(readers.len() as u32);
        names.push(shown);
        readers.push(reader);
    }
    let formats: Vec<crate::import::Format> = readers.iter().map(ImportReader::format).collect();
    let skips: Vec<_> = readers.iter().map(ImportReader::skips).collect();
    let shown = names.join(", ");
    let now = app.now_stamp();
    let mut store = match (dry_run, app.store_if_exists()?) {
        (_, Some(store)) => store,
        (true, None) => Store::in_memory()?,
        (false, None) => app.store_for_writing()?,
    };
    let outcome = match store.import(readers.into_iter().flatten(), now, dry_run) {
        Ok(outcome) => outcome,
        // A file whose bytes are not what its archive recorded is bad
        // input, like a file that cannot be read at all.
        Err(e) if damaged_input(&e) => {
            return Err(InputError(format!("{e:#}; nothing was imported")).into());
        }
        Err(e) => return Err(e.context(format!("importing {shown} failed; nothing was imported"))),
    };
    let mut stderr = std::io::stderr().lock();
    for r in &outcome.rejected {
        writeln!(
            stderr,
            "{}:{}: {}",
            names[r.file as usize], r.line, r.reason
        )?;
    }
    let verb = if dry_run { "would import" } else { "imported" };
    let mut line = String::new();
    let format = formats[0];
    let one_format = formats.iter().all(|f| *f == format);
    let one_tool = formats
        .iter()
        .all(|f| std::mem::discriminant(f) == std::mem::discriminant(&format));
    if formats.len() == 1 || (one_format && format != crate::import::Format::Csv) {
        if format != crate::import::Format::Csv {
            line += &format!("detected {}: ", format.describe());
        }
    } else if one_tool {
        line += &format!("detected {} ({} files): ", format.tool(), formats.len());
    } else {
        let described: Vec<&str> = formats.iter().map(|f| f.describe()).collect();
        line += &format!("read {} files ({}): ", formats.len(), described.join(", "));
    }
    line += &format!("{verb} {}", thousands(outcome.imported));
    // The statuses, when there is more to say than "all active".
    let statuses: Vec<String> = outcome
        .by_status
        .iter()
        .map(|(status, n)| format!("{} {status}", thousands(*n)))
        .collect();
    let plain = outcome.by_status.keys().all(|s| *s == Status::Active);
    if (!plain || format != crate::import::Format::Csv) && !statuses.is_empty() {
        line += &format!(" ({})", statuses.join(", "));
    }
    line += &format!(", skipped {} existing", thousands(outcome.skipped_existing));
    if outcome.in_several_files > 0 {
        line += &format!(
            ", {} in several files (the latest change kept)",
            thousands(outcome.in_several_files)
        );
    }
    let mut skipped: std::collections::BTreeMap<&str, u64> = Default::default();
    for counts in &skips {
        for (why, n) in counts.borrow().iter() {
            *skipped.entry(why).or_default() += n;
        }
    }
    for (why, n) in &skipped {
        line += &format!(", {} {why}", thousands(*n));
    }
    line += &format!(", rejected {}", thousands(outcome.rejected.len() as u64));
    println!("{line}");
    if !outcome.rejected.is_empty() {
        let n = outcome.rejected.len() as u64;
        anyhow::bail!(
            "{} row{} of {shown} rejected (listed above); fix {} and import the file again: rows already in the list are skipped",
            thousands(n),
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        );
    }
    Ok(())
}

/// Whether an import stopped on a file's bytes rather than on the
/// database: a zip entry that fails its checksum.
fn damaged_input(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.downcast_ref::<csv::Error>().is_some_and(|csv| {
            matches!(csv.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::InvalidData)
        })
    })
}

/// The files of an import, each named as its rejected rows will name it: a
/// zip archive (Mailchimp's export) stands for the CSV files inside it,
/// `archive.zip:subscribed_members_export_….csv`.
fn open_inputs(files: &[std::path::PathBuf]) -> anyhow::Result<Vec<(String, Box<dyn Read>)>> {
    use crate::import::zip;
    let mut inputs: Vec<(String, Box<dyn Read>)> = Vec::new();
    for file in files {
        if file == Path::new("-") {
            inputs.push(("stdin".into(), Box::new(std::io::stdin().lock())));
            continue;
        }
        let cannot_read =
            |e: std::io::Error| InputError(format!("cannot read {}: {e}", file.display()));
        let mut f = std::fs::File::open(file).map_err(cannot_read)?;
        let mut magic = [0u8; 4];
        let is_zip = match f.read_exact(&mut magic) {
            Ok(()) => magic == zip::MAGIC,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => false,
            Err(e) => return Err(cannot_read(e).into()),
        };
        if !is_zip {
            let f = std::fs::File::open(file).map_err(cannot_read)?;
            inputs.push((
                file.display().to_string(),
                Box::new(std::io::BufReader::with_capacity(256 * 1024, f)),
            ));
            continue;
        }
        let in_archive = |e: zip::ZipError| InputError(format!("{}: {e}", file.display()));
        for entry in zip::csv_entries(file).map_err(in_archive)? {
            let input = zip::open_entry(file, &entry).map_err(in_archive)?;
            inputs.push((format!("{}:{}", file.display(), entry.name), input));
        }
    }
    Ok(inputs)
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
