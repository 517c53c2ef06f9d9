//! `digest preview`: render an issue to local files, send nothing.
//!
//! The preview is what `send` would mail for that week, so it runs the same
//! selection against the same history. It reads the database only when it
//! exists, never creates or writes it, and never opens a connection.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::app::App;
use crate::cli::PreviewArgs;
use crate::render::{IssueView, Links, Templates};

pub fn run(app: &App, args: &PreviewArgs) -> anyhow::Result<()> {
    let week = args.week.unwrap_or_else(|| app.current_week());
    let glossary = app.glossary()?;
    let store = app.store_to_read()?;
    let (selection, frozen_subject) =
        super::issue_for(store.as_ref(), &glossary, week, args.feature.as_deref())?;
    let newsletter = &app.config.newsletter;
    let templates = Templates::load(&app.config.paths.templates)?;
    let mut view = IssueView::new(newsletter, &glossary, &selection)?;
    view.frozen_subject = frozen_subject;
    let links = Links::new(
        newsletter,
        &view.issue.week,
        Links::unsubscribe_url(newsletter, "preview"),
    );
    let rendered = templates.render_issue(&view, args.role, &links)?;

    let html_path = args.out.join(format!("{week}.html"));
    let text_path = args.out.join(format!("{week}.txt"));
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    write_atomically(&html_path, rendered.html.as_bytes())?;
    write_atomically(&text_path, rendered.text.as_bytes())?;
    eprintln!("{week}: {}", rendered.subject);
    println!("{}", html_path.display());
    println!("{}", text_path.display());
    Ok(())
}

/// Write to a temporary file beside `path`, then rename it over `path`, so a
/// reader never sees half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = PathBuf::from(path);
    tmp.as_mut_os_string()
        .push(format!(".tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
