//! `digest subscribers import FILE...`: one or more files, or the zip of
//! Mailchimp's export, read in our format or another tool's, then settled
//! into the list in one transaction (the rules are in `store::import`).

use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::app::{App, thousands};
use crate::error::InputError;
use crate::import::{Format, ImportReader, Skips};
use crate::status::Status;
use crate::store::{ImportOutcome, Store};

/// `subscribers import`: rejected rows on standard error as `FILE:LINE:
/// reason`, the summary on standard output.
pub fn run(
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
    let formats: Vec<Format> = readers.iter().map(ImportReader::format).collect();
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
    println!("{}", summary(&formats, &outcome, &skips, dry_run));
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
            // The sniffed bytes are read again, as the header's start.
            f.rewind().map_err(cannot_read)?;
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

/// The summary line: the format found, what came in by status, what was
/// skipped and why, and how many rows were rejected.
fn summary(formats: &[Format], outcome: &ImportOutcome, skips: &[Skips], dry_run: bool) -> String {
    let verb = if dry_run { "would import" } else { "imported" };
    let mut line = String::new();
    let format = formats[0];
    let one_format = formats.iter().all(|f| *f == format);
    let one_tool = formats
        .iter()
        .all(|f| std::mem::discriminant(f) == std::mem::discriminant(&format));
    if formats.len() == 1 || (one_format && format != Format::Csv) {
        if format != Format::Csv {
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
    if (!plain || format != Format::Csv) && !statuses.is_empty() {
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
    for counts in skips {
        for (why, n) in counts.borrow().iter() {
            *skipped.entry(why).or_default() += n;
        }
    }
    for (why, n) in &skipped {
        line += &format!(", {} {why}", thousands(*n));
    }
    line += &format!(", rejected {}", thousands(outcome.rejected.len() as u64));
    line
}
