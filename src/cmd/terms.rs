//! `digest terms check` and `digest terms list`.

use serde::Serialize;

use crate::app::{App, Column, table};
use crate::cli::{ListFormat, TermsCommand};
use crate::content;

pub fn run(app: &App, command: &TermsCommand) -> anyhow::Result<()> {
    match command {
        TermsCommand::Check => check(app),
        TermsCommand::List { format } => list(app, *format),
    }
}

fn check(app: &App) -> anyhow::Result<()> {
    let glossary = app.glossary()?;
    let today = app.today();
    let warnings = glossary.warnings(today);
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let scheduled = glossary.scheduled_after(today);
    let notes = glossary.notes().count();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut line = format!(
        "{} term{}, {scheduled} scheduled",
        glossary.len(),
        plural(glossary.len())
    );
    if notes > 0 {
        line.push_str(&format!(", {notes} editor's note{}", plural(notes)));
    }
    match warnings.len() {
        0 => println!("{line}, ok"),
        n => println!("{line}, ok with {n} warning{}", plural(n)),
    }
    Ok(())
}

#[derive(Serialize)]
struct Row<'a> {
    slug: &'a str,
    title: &'a str,
    added: String,
    tags: &'a [String],
    status: &'static str,
}

fn list(app: &App, format: ListFormat) -> anyhow::Result<()> {
    let dir = app.content_dir();
    // Listing works on a glossary with problems too: it shows what loaded,
    // and says how many files did not.
    let loaded = content::load(dir)?;
    let today = app.today();
    let mut terms: Vec<_> = loaded.glossary.terms().iter().collect();
    terms.sort_by(|a, b| (a.added, &a.slug).cmp(&(b.added, &b.slug)));
    let rows: Vec<Row> = terms
        .iter()
        .map(|t| Row {
            slug: &t.slug,
            title: &t.title,
            added: t.added.to_string(),
            tags: &t.tags,
            status: if t.is_published_on(today) {
                "published"
            } else {
                "scheduled"
            },
        })
        .collect();
    let out = match format {
        ListFormat::Json => serde_json::to_string_pretty(&rows)? + "\n",
        ListFormat::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.slug.to_string(),
                        r.title.to_string(),
                        r.added.clone(),
                        r.status.to_string(),
                        r.tags.join(", "),
                    ]
                })
                .collect();
            table(
                &[
                    Column::left("SLUG", 4),
                    Column::left("TITLE", 5),
                    Column::left("ADDED", 10),
                    Column::left("STATUS", 9),
                    Column::left("TAGS", 0),
                ],
                &cells,
            )
        }
    };
    crate::app::print_stdout(&out)?;
    if !loaded.problems.is_empty() {
        eprintln!(
            "warning: {} problem{} in {}; run `digest terms check` to see them",
            loaded.problems.len(),
            if loaded.problems.len() == 1 { "" } else { "s" },
            dir.display()
        );
    }
    Ok(())
}
