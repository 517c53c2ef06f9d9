//! One term file: `+++`, TOML front matter, `+++`, the Markdown body.
//!
//! Parsing collects every problem it can find in the file rather than
//! stopping at the first, because an editor fixing a file wants the whole
//! list. Line numbers are file lines (the first `+++` is line 1).

use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;
use toml::de::DeTable;

use super::term::{Example, Faq, Roles, Term, TermLines};
use crate::error::{Problem, line_of};
use crate::role::Role;
use crate::toml_keys::{Schema, schema_of, unknown_keys};

const DELIMITER: &str = "+++";

/// The front matter's keys, read from [`RawTerm`] itself; `[roles]` takes
/// one key per [`Role`].
static FRONT_MATTER: std::sync::LazyLock<Schema> = std::sync::LazyLock::new(|| {
    let mut schema = schema_of::<RawTerm>();
    for (key, child) in &mut schema.keys {
        if *key == "roles" {
            *child = Some(Schema {
                keys: Role::ALL.iter().map(|r| (r.as_str(), None)).collect(),
            });
        }
    }
    schema
});

#[derive(Deserialize)]
struct RawTerm {
    title: Option<Spanned<String>>,
    slug: Option<Spanned<String>>,
    summary: Option<Spanned<String>>,
    added: Option<Spanned<toml::Value>>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    related: Vec<Spanned<String>>,
    feature_on: Option<Spanned<toml::Value>>,
    /// Keyed by role name; an unknown name is reported by the key check.
    #[serde(default)]
    roles: std::collections::BTreeMap<String, String>,
    example: Option<Spanned<RawExample>>,
    #[serde(default)]
    faq: Vec<Spanned<RawFaq>>,
}

#[derive(Deserialize)]
struct RawExample {
    title: Option<String>,
    body: Option<String>,
}

#[derive(Deserialize)]
struct RawFaq {
    q: Option<String>,
    a: Option<String>,
}

/// Where the front matter and body are in the file.
pub(super) struct Split<'a> {
    pub front_matter: &'a str,
    /// File line of the first front matter line.
    pub fm_first_line: usize,
    pub body: &'a str,
    pub body_first_line: usize,
}

pub(super) fn is_delimiter(line: &str) -> bool {
    line.trim_end() == DELIMITER
}

pub(super) fn split<'a>(text: &'a str, shown: &str) -> Result<Split<'a>, Problem> {
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if !is_delimiter(first) {
        return Err(Problem::new(
            shown,
            1,
            "no front matter: a term file starts with a `+++` line, then TOML \
             (title, summary, added...), then another `+++` line, then the Markdown body",
        ));
    }
    let fm_start = first.len();
    let mut offset = fm_start;
    let mut line_no = 1;
    for line in lines {
        line_no += 1;
        if is_delimiter(line) {
            return Ok(Split {
                front_matter: &text[fm_start..offset],
                fm_first_line: 2,
                body: &text[offset + line.len()..],
                body_first_line: line_no + 1,
            });
        }
        offset += line.len();
    }
    Err(Problem::new(
        shown,
        1,
        "front matter opened here is never closed: add a `+++` line after the TOML, before the body",
    ))
}

fn parse_date(value: &Spanned<toml::Value>, field: &str) -> Result<NaiveDate, String> {
    let fix = format!("write it as a date, e.g. `{field} = 2026-11-24`");
    match value.get_ref() {
        toml::Value::Datetime(dt) => match (dt.date, dt.time) {
            (Some(d), None) => {
                NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                    .ok_or_else(|| format!("`{field}` is not a real date ({dt}); {fix}"))
            }
            _ => Err(format!(
                "`{field}` must be a date without a time, got {dt}; {fix}"
            )),
        },
        toml::Value::String(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|_| format!("`{field}` is not a valid date: \"{s}\"; {fix}")),
        other => Err(format!(
            "`{field}` must be a date, got a {}; {fix}",
            other.type_str()
        )),
    }
}

/// A value of the wrong type: name the key on that line and show the
/// right form.
fn type_problem(fm: &str, at: usize, message: &str) -> String {
    let line_start = fm[..at.min(fm.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = fm[line_start..].lines().next().unwrap_or("");
    let key = line.split('=').next().unwrap_or("").trim();
    let example = match key {
        "tags" => Some("`tags = [\"training\", \"foundations\"]`"),
        "related" => Some("`related = [\"fine-tuning\", \"rlhf\"]`"),
        "title" | "summary" | "slug" | "q" | "a" | "body" => Some("a quoted string"),
        _ if key.parse::<Role>().is_ok() => Some("a quoted string"),
        _ => None,
    };
    let is_key = !key.is_empty() && !line.trim_start().starts_with('[');
    match (is_key, example) {
        (true, Some(example)) => {
            format!("`{key}` has the wrong type ({message}); write it as {example}")
        }
        (true, None) => format!("`{key}` has the wrong type ({message})"),
        _ => format!("front matter: {message}"),
    }
}

pub fn is_valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--")
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The file's text without a byte-order mark, or the line where it stops
/// being UTF-8.
pub(super) fn utf8_text<'a>(bytes: &'a [u8], shown: &str) -> Result<&'a str, Problem> {
    let text = std::str::from_utf8(bytes).map_err(|err| {
        let line = bytes[..err.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        Problem::new(
            shown,
            line,
            "the file is not valid UTF-8; save it as UTF-8 (it looks like another encoding, \
             such as Latin-1 or Windows-1252)",
        )
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// The title a missing `title` is told to start from: the slug in words,
/// `large-language-model` → "Large language model".
fn title_from(slug: &str) -> String {
    let words = slug.replace('-', " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Pre-training".to_string(),
    }
}

/// Parse one term file. `shown` is the path as it appears in messages.
pub fn parse(path: &Path, shown: &str, bytes: &[u8]) -> Result<Term, Vec<Problem>> {
    let text = utf8_text(bytes, shown).map_err(|p| vec![p])?;
    let split = split(text, shown).map_err(|p| vec![p])?;
    let fm = split.front_matter;
    let fm_line = |offset: usize| line_of(fm, offset) + split.fm_first_line - 1;
    let mut problems = Vec::new();

    let table = match DeTable::parse(fm) {
        Ok(table) => table,
        Err(err) => {
            let line = err.span().map_or(split.fm_first_line, |s| fm_line(s.start));
            let message = err.message().trim_end().replace('\n', " ");
            return Err(vec![Problem::new(
                shown,
                line,
                format!("front matter is not valid TOML: {message}"),
            )]);
        }
    };
    for unknown in unknown_keys(table.get_ref(), &FRONT_MATTER, "") {
        problems.push(Problem::new(
            shown,
            fm_line(unknown.offset),
            unknown.message,
        ));
    }

    let raw: RawTerm = match toml::from_str(fm) {
        Ok(raw) => raw,
        Err(err) => {
            let at = err.span().map_or(0, |s| s.start);
            let message = err.message().trim_end().replace('\n', " ");
            problems.push(Problem::new(
                shown,
                fm_line(at),
                type_problem(fm, at, &message),
            ));
            problems.sort_by_key(|p| p.line);
            return Err(problems);
        }
    };

    let close_line = split.body_first_line - 1;
    let missing = |problems: &mut Vec<Problem>, field: &str, example: &str| {
        problems.push(Problem::new(
            shown,
            close_line,
            format!(
                "missing required field `{field}`; add `{field} = {example}` to the front matter"
            ),
        ));
    };

    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let title = match raw.title {
        Some(t) if !t.get_ref().trim().is_empty() => t.get_ref().trim().to_string(),
        Some(t) => {
            problems.push(Problem::new(
                shown,
                fm_line(t.span().start),
                "`title` is empty; give the term its name",
            ));
            String::new()
        }
        None => {
            let slug = raw.slug.as_ref().map_or(stem.as_str(), |s| s.get_ref());
            missing(&mut problems, "title", &format!("{:?}", title_from(slug)));
            String::new()
        }
    };

    let summary = match raw.summary {
        Some(s) if !s.get_ref().trim().is_empty() => s.into_inner().trim().to_string(),
        Some(s) => {
            problems.push(Problem::new(
                shown,
                fm_line(s.span().start),
                "`summary` is empty; write one plain-English sentence",
            ));
            String::new()
        }
        None => {
            missing(&mut problems, "summary", "\"One plain-English sentence.\"");
            String::new()
        }
    };

    let added = match &raw.added {
        Some(value) => match parse_date(value, "added") {
            Ok(d) => Some(d),
            Err(msg) => {
                problems.push(Problem::new(shown, fm_line(value.span().start), msg));
                None
            }
        },
        None => {
            missing(&mut problems, "added", "2026-11-24");
            None
        }
    };

    let mut lines = TermLines::default();
    let feature_on = match &raw.feature_on {
        Some(value) => {
            lines.feature_on = fm_line(value.span().start);
            match parse_date(value, "feature_on") {
                Ok(d) => Some(d),
                Err(msg) => {
                    problems.push(Problem::new(shown, lines.feature_on, msg));
                    None
                }
            }
        }
        None => None,
    };

    let slug = match &raw.slug {
        Some(s) => {
            lines.slug = fm_line(s.span().start);
            if !is_valid_slug(s.get_ref()) {
                problems.push(Problem::new(
                    shown,
                    lines.slug,
                    format!(
                        "slug `{}` is not valid; use lower-case letters, digits and single hyphens, e.g. `pre-training`",
                        s.get_ref()
                    ),
                ));
            }
            s.get_ref().clone()
        }
        None => {
            lines.slug = 1;
            if !is_valid_slug(&stem) {
                problems.push(Problem::new(
                    shown,
                    1,
                    format!(
                        "the file name `{stem}` is not a valid slug; rename the file (lower-case letters, digits \
                         and single hyphens) or set `slug = \"...\"` in the front matter"
                    ),
                ));
            }
            stem
        }
    };

    let mut related = Vec::with_capacity(raw.related.len());
    for r in raw.related {
        lines.related.push(fm_line(r.span().start));
        related.push(r.into_inner());
    }

    let example = match raw.example {
        None => None,
        Some(ex) => {
            let line = fm_line(ex.span().start);
            let ex = ex.into_inner();
            let title = ex.title.filter(|t| !t.trim().is_empty());
            let body = ex.body.filter(|b| !b.trim().is_empty());
            match (title, body) {
                (Some(title), Some(body)) => Some(Example { title, body }),
                (title, body) => {
                    let which = if title.is_none() { "title" } else { "body" };
                    let _ = body;
                    problems.push(Problem::new(
                        shown,
                        line,
                        format!(
                            "`[example]` has no `{which}`; give the example a title and a body"
                        ),
                    ));
                    None
                }
            }
        }
    };

    let mut faq = Vec::with_capacity(raw.faq.len());
    for entry in raw.faq {
        let line = fm_line(entry.span().start);
        let entry = entry.into_inner();
        match (
            entry.q.filter(|q| !q.trim().is_empty()),
            entry.a.filter(|a| !a.trim().is_empty()),
        ) {
            (Some(q), Some(a)) => faq.push(Faq { q, a }),
            (q, _) => {
                let which = if q.is_none() { "q" } else { "a" };
                problems.push(Problem::new(
                    shown,
                    line,
                    format!("a `[[faq]]` entry has no `{which}`; each question needs `q` and `a`"),
                ));
            }
        }
    }

    if split.body.trim().is_empty() {
        problems.push(Problem::new(
            shown,
            close_line,
            "the body is empty; write the full picture in Markdown after the closing `+++`",
        ));
    }

    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Err(problems);
    }
    Ok(Term {
        slug,
        title,
        summary,
        added: added.expect("checked above"),
        tags: raw.tags,
        related,
        feature_on,
        roles: Roles(
            raw.roles
                .into_iter()
                .filter_map(|(key, text)| Some((key.parse::<Role>().ok()?, text)))
                .collect(),
        ),
        example,
        faq,
        body: split.body.trim().to_string(),
        source: path.to_path_buf(),
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "+++\ntitle = \"Tokens\"\nsummary = \"Pieces of text.\"\nadded = 2026-11-24\n+++\nBody text.\n";

    fn messages(src: &str) -> Vec<String> {
        match parse(
            Path::new("content/tokens.md"),
            "content/tokens.md",
            src.as_bytes(),
        ) {
            Ok(_) => vec![],
            Err(problems) => problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn a_minimal_term_parses() {
        let term = parse(Path::new("content/tokens.md"), "x", GOOD.as_bytes()).unwrap();
        assert_eq!(term.slug, "tokens");
        assert_eq!(term.added, NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
        assert_eq!(term.body, "Body text.");
    }

    #[test]
    fn problems_name_the_line_and_the_fix() {
        let cases: &[(&str, &str)] = &[
            ("title = \"x\"\n", "content/tokens.md:1: no front matter"),
            (
                "+++\ntitle = \"x\"\n",
                "content/tokens.md:1: front matter opened here is never closed",
            ),
            (
                "+++\ntitle = \"x\nsummary = \"s\"\n+++\nb\n",
                "content/tokens.md:2: front matter is not valid TOML",
            ),
            (
                "+++\ntitle = \"T\"\nsumary = \"s\"\nsummary = \"s\"\nadded = 2026-11-24\n+++\nb\n",
                "content/tokens.md:3: unknown field `sumary`; did you mean `summary`?",
            ),
            (
                "+++\ntitle = \"T\"\nadded = 2026-11-24\n+++\nb\n",
                "content/tokens.md:4: missing required field `summary`",
            ),
            (
                "+++\ntitle = \"T\"\nsummary = \"  \"\nadded = 2026-11-24\n+++\nb\n",
                "content/tokens.md:3: `summary` is empty",
            ),
            (
                "+++\ntitle = \"T\"\nsummary = \"s\"\nadded = \"2026-02-30\"\n+++\nb\n",
                "content/tokens.md:4: `added` is not a valid date: \"2026-02-30\"",
            ),
            (
                "+++\ntitle = \"T\"\nsummary = \"s\"\nadded = 2026-11-24\n+++\n \n",
                "content/tokens.md:5: the body is empty",
            ),
            (
                "+++\ntitle = \"T\"\nsummary = \"s\"\nadded = 2026-11-24\n[roles]\nceo = \"x\"\n+++\nb\n",
                "content/tokens.md:6: unknown field `roles.ceo`",
            ),
            (
                "+++\ntitle = \"T\"\nsummary = \"s\"\nadded = 2026-11-24\ntags = \"x\"\n+++\nb\n",
                "content/tokens.md:5: `tags` has the wrong type (invalid type: string \"x\", expected a sequence); write it as `tags = [",
            ),
            (
                "+++\ntitle = \"T\"\nsummary = \"s\"\nadded = 2026-11-24\n[[faq]]\nq = \"Why?\"\n+++\nb\n",
                "content/tokens.md:5: a `[[faq]]` entry has no `a`",
            ),
        ];
        for (src, expected) in cases {
            let got = messages(src);
            assert!(
                got.iter().any(|m| m.starts_with(expected)),
                "for {src:?}\nexpected a message starting {expected:?}\ngot {got:#?}"
            );
        }
    }

    #[test]
    fn non_utf8_names_the_line() {
        let mut bytes = b"+++\ntitle = \"Caf".to_vec();
        bytes.push(0xE9);
        bytes.extend_from_slice(b"\"\n+++\n");
        let problems = parse(Path::new("a.md"), "a.md", &bytes).unwrap_err();
        assert_eq!(problems[0].line, 2);
        assert!(problems[0].message.contains("not valid UTF-8"));
    }

    #[test]
    fn crlf_and_bom_are_accepted() {
        let src = format!("\u{feff}{}", GOOD.replace('\n', "\r\n"));
        let term = parse(Path::new("tokens.md"), "tokens.md", src.as_bytes()).unwrap();
        assert_eq!(term.title, "Tokens");
    }

    #[test]
    fn a_missing_title_is_suggested_from_the_slug() {
        for (slug, want) in [
            ("tokens", "Tokens"),
            ("large-language-model", "Large language model"),
            ("rlhf", "Rlhf"),
            ("", "Pre-training"),
        ] {
            assert_eq!(title_from(slug), want, "{slug:?}");
        }
    }

    #[test]
    fn slugs_are_lowercase_words_joined_by_single_hyphens() {
        for (slug, ok) in [
            ("rlhf", true),
            ("pre-training", true),
            ("a1", true),
            ("Pre", false),
            ("a--b", false),
            ("-a", false),
            ("", false),
            ("a_b", false),
        ] {
            assert_eq!(is_valid_slug(slug), ok, "{slug}");
        }
    }
}
