//! The editor's note of a week: `content/_issues/YYYY-Www.md`.
//!
//! Optional, one file per ISO week: TOML front matter with an optional
//! `subject` and `preheader` (both optional, the front matter too), then a
//! short Markdown note that opens that week's issue as a word from the
//! editor. It is checked with the terms, so a typo in a key or a week that
//! does not exist stops a send the same way a broken term does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;
use toml::Spanned;
use toml::de::DeTable;

use super::front_matter::{is_delimiter, split, utf8_text};
use crate::error::{Problem, line_of};
use crate::toml_keys::{Schema, schema_of, unknown_keys};
use crate::week::IssueWeek;

/// The folder under the content folder that holds the notes.
pub const FOLDER: &str = "_issues";

/// A subject longer than this is cut off by every inbox.
const SUBJECT_MAX: usize = 150;

/// The hidden preview line after the subject in an inbox stays under this.
pub const PREHEADER_MAX: usize = 99;

static KEYS: std::sync::LazyLock<Schema> = std::sync::LazyLock::new(schema_of::<RawNote>);

#[derive(Deserialize)]
struct RawNote {
    subject: Option<Spanned<String>>,
    preheader: Option<Spanned<String>>,
}

/// One week's word from the editor.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueNote {
    pub week: IssueWeek,
    /// Replaces `subject.txt` for that week (a frozen week keeps its own).
    pub subject: Option<String>,
    /// Replaces the default preheader.
    pub preheader: Option<String>,
    /// Markdown.
    pub body: String,
    pub source: PathBuf,
}

/// Every note under `content/_issues/`, by week, and the problems found.
/// A missing folder means no notes.
pub fn load(content: &Path) -> anyhow::Result<(BTreeMap<IssueWeek, IssueNote>, Vec<Problem>)> {
    let dir = content.join(FOLDER);
    let mut notes = BTreeMap::new();
    let mut problems = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((notes, problems)),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("cannot read {}", dir.display())));
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_note = path.extension().is_some_and(|e| e == "md")
            && !name.starts_with('.')
            && !name.eq_ignore_ascii_case("README.md");
        if is_note && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    for path in files {
        let shown = path.display().to_string();
        let bytes = std::fs::read(&path).with_context(|| format!("cannot read {shown}"))?;
        match parse(&path, &shown, &bytes) {
            Ok(note) => {
                notes.insert(note.week, note);
            }
            Err(mut found) => problems.append(&mut found),
        }
    }
    Ok((notes, problems))
}

/// The week a note's file name names.
fn week_of(path: &Path, shown: &str) -> Result<IssueWeek, Problem> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    stem.parse::<IssueWeek>().map_err(|e| {
        Problem::new(
            shown,
            0,
            format!(
                "the file name does not name an ISO week ({e}); name a note after the week of \
                 its issue, e.g. content/{FOLDER}/2026-W49.md"
            ),
        )
    })
}

/// Parse one note. `shown` is the path as it appears in messages.
pub fn parse(path: &Path, shown: &str, bytes: &[u8]) -> Result<IssueNote, Vec<Problem>> {
    let mut problems = Vec::new();
    let week = week_of(path, shown).map_err(|p| problems.push(p)).ok();
    let text = utf8_text(bytes, shown).map_err(|p| vec![p])?;
    let first_line = text.lines().next().unwrap_or("");
    let (raw, body, body_line) = if is_delimiter(first_line) {
        let split = split(text, shown).map_err(|p| vec![p])?;
        let fm = split.front_matter;
        let fm_line = |offset: usize| line_of(fm, offset) + split.fm_first_line - 1;
        let table = DeTable::parse(fm).map_err(|err| {
            let line = err.span().map_or(split.fm_first_line, |s| fm_line(s.start));
            let message = err.message().trim_end().replace('\n', " ");
            vec![Problem::new(
                shown,
                line,
                format!("front matter is not valid TOML: {message}"),
            )]
        })?;
        for unknown in unknown_keys(table.get_ref(), &KEYS, "") {
            problems.push(Problem::new(
                shown,
                fm_line(unknown.offset),
                unknown.message,
            ));
        }
        let raw: RawNote = toml::from_str(fm).map_err(|err| {
            let at = err.span().map_or(0, |s| s.start);
            let message = err.message().trim_end().replace('\n', " ");
            vec![Problem::new(
                shown,
                fm_line(at),
                format!(
                    "{message}; write it as a string, e.g. subject = \"A word before the holidays\""
                ),
            )]
        })?;
        let subject = one_line(
            &raw.subject,
            "subject",
            SUBJECT_MAX,
            shown,
            &fm_line,
            &mut problems,
        );
        let preheader = one_line(
            &raw.preheader,
            "preheader",
            PREHEADER_MAX,
            shown,
            &fm_line,
            &mut problems,
        );
        ((subject, preheader), split.body, split.body_first_line)
    } else {
        ((None, None), text, 1)
    };
    let body = body.trim();
    if body.is_empty() {
        problems.push(Problem::new(
            shown,
            body_line,
            "the note is empty; write a few lines for the top of the issue after the front \
             matter, or delete the file to send the issue without a note",
        ));
    }
    match (week, problems.is_empty()) {
        (Some(week), true) => Ok(IssueNote {
            week,
            subject: raw.0,
            preheader: raw.1,
            body: body.to_string(),
            source: path.to_path_buf(),
        }),
        _ => Err(problems),
    }
}

/// A one-line text field: trimmed, not empty, not over `max` characters.
fn one_line(
    value: &Option<Spanned<String>>,
    field: &str,
    max: usize,
    shown: &str,
    fm_line: &dyn Fn(usize) -> usize,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let value = value.as_ref()?;
    let line = fm_line(value.span().start);
    let text = value
        .get_ref()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let len = text.chars().count();
    if text.is_empty() {
        problems.push(Problem::new(
            shown,
            line,
            format!("`{field}` is empty; write it, or remove the line to keep the default"),
        ));
        None
    } else if len > max {
        problems.push(Problem::new(
            shown,
            line,
            format!(
                "`{field}` is {len} characters; inboxes cut it off, so keep it to {max} or fewer"
            ),
        ));
        None
    } else {
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(name: &str, src: &str) -> Result<IssueNote, Vec<String>> {
        let path = PathBuf::from(format!("content/_issues/{name}"));
        parse(&path, &path.display().to_string(), src.as_bytes())
            .map_err(|ps| ps.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn notes_parse_with_or_without_front_matter() {
        let note = parsed(
            "2026-W49.md",
            "+++\nsubject = \"  Before the   holidays \"\npreheader = \"Two new terms\"\n+++\nHello, **readers**.\n",
        )
        .unwrap();
        assert_eq!(note.week.to_string(), "2026-W49");
        assert_eq!(note.subject.as_deref(), Some("Before the holidays"));
        assert_eq!(note.preheader.as_deref(), Some("Two new terms"));
        assert_eq!(note.body, "Hello, **readers**.");

        let plain = parsed("2026-W50.md", "Just a note.\n").unwrap();
        assert_eq!((plain.subject, plain.preheader), (None, None));
        assert_eq!(plain.body, "Just a note.");
    }

    #[test]
    fn problems_name_the_line_and_the_fix() {
        let long = "x".repeat(PREHEADER_MAX + 1);
        let cases: &[(&str, &str, &str)] = &[
            (
                "2026-W60.md",
                "A note.",
                "_issues/2026-W60.md: the file name does not name an ISO week",
            ),
            ("2025-W53.md", "A note.", "does not name an ISO week"),
            ("holidays.md", "A note.", "e.g. content/_issues/2026-W49.md"),
            (
                "2026-W49.md",
                "+++\nsubjet = \"x\"\n+++\nA note.",
                "2026-W49.md:2: unknown field `subjet`; did you mean `subject`?",
            ),
            (
                "2026-W49.md",
                "+++\ncolour = \"x\"\n+++\nA note.",
                "`subject`, `preheader`",
            ),
            (
                "2026-W49.md",
                "+++\nsubject = \"x\"\n+++\n\n  \n",
                "2026-W49.md:4: the note is empty",
            ),
            ("2026-W49.md", "", "2026-W49.md:1: the note is empty"),
            (
                "2026-W49.md",
                "+++\nsubject = \" \"\n+++\nA note.",
                ":2: `subject` is empty",
            ),
            (
                "2026-W49.md",
                "+++\nsubject = 3\n+++\nA note.",
                "write it as a string",
            ),
            (
                "2026-W49.md",
                "+++\nsubject = \"x\"\nA note.",
                "never closed",
            ),
        ];
        for (name, src, expected) in cases {
            let problems = parsed(name, src).unwrap_err();
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{name} {src:?}: expected {expected:?} in {problems:#?}"
            );
        }
        let src = format!("+++\npreheader = \"{long}\"\n+++\nA note.");
        let problems = parsed("2026-W49.md", &src).unwrap_err();
        assert!(
            problems[0].contains(":2: `preheader` is 100 characters"),
            "{problems:?}"
        );
    }
}
