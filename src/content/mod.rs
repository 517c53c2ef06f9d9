//! The glossary: one Markdown file per term under `content/`.
//!
//! Loading is pure apart from reading the files: it returns the terms that
//! parsed and every problem found, both within files (front matter) and across
//! them (duplicate slugs, `related` links that go nowhere, two pins on one
//! week). A glossary with problems is never sent.

mod front_matter;
pub mod markdown;
pub mod note;
mod term;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::NaiveDate;

pub use front_matter::{is_valid_slug, parse as parse_term};
pub use note::IssueNote;
pub use term::{Example, Faq, Roles, Term, TermLines};

use crate::error::{Problem, Problems, nearest};
use crate::week::IssueWeek;

#[derive(Debug, Clone, Default)]
pub struct Glossary {
    /// Sorted by slug.
    terms: Vec<Term>,
    /// The editor's notes, by week (`content/_issues/`).
    notes: std::collections::BTreeMap<IssueWeek, IssueNote>,
}

impl Glossary {
    /// Build a glossary from terms already parsed (tests, fixtures).
    pub fn from_terms(mut terms: Vec<Term>) -> Self {
        terms.sort_by(|a, b| a.slug.cmp(&b.slug));
        Glossary {
            terms,
            notes: Default::default(),
        }
    }

    /// The same glossary with the editor's notes.
    pub fn with_notes(mut self, notes: impl IntoIterator<Item = IssueNote>) -> Self {
        self.notes = notes.into_iter().map(|n| (n.week, n)).collect();
        self
    }

    /// The editor's note for `week`, when there is one.
    pub fn note(&self, week: IssueWeek) -> Option<&IssueNote> {
        self.notes.get(&week)
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn get(&self, slug: &str) -> Option<&Term> {
        self.terms
            .binary_search_by(|t| t.slug.as_str().cmp(slug))
            .ok()
            .map(|i| &self.terms[i])
    }

    /// Terms scheduled after `date` (not yet published on it).
    pub fn scheduled_after(&self, date: NaiveDate) -> usize {
        self.terms.iter().filter(|t| t.added > date).count()
    }

    /// The editor's notes, oldest week first.
    pub fn notes(&self) -> impl Iterator<Item = &IssueNote> {
        self.notes.values()
    }

    /// Warnings, not problems: a term published on `date` whose related
    /// terms are all scheduled later shows no related terms at all.
    pub fn warnings(&self, date: NaiveDate) -> Vec<Problem> {
        let mut warnings = Vec::new();
        for term in &self.terms {
            if !term.is_published_on(date) || term.related.is_empty() {
                continue;
            }
            let related: Vec<&Term> = term.related.iter().filter_map(|s| self.get(s)).collect();
            if related.iter().any(|r| r.is_published_on(date)) {
                continue;
            }
            let first = related.iter().map(|r| r.added).min().unwrap_or(date);
            warnings.push(Problem::new(
                term.source.display().to_string(),
                term.lines.related.first().copied().unwrap_or(1),
                format!(
                    "every term in `related` is scheduled (the first on {first}), so `{}` shows \
                     no related terms until then; add a published term to `related`",
                    term.slug
                ),
            ));
        }
        warnings
    }

    /// "did you mean" for an unknown slug.
    pub fn suggest(&self, slug: &str) -> Option<&str> {
        nearest(slug, self.terms.iter().map(|t| t.slug.as_str()))
    }

    /// The error for a slug that names no term, with a suggestion.
    pub fn unknown_slug(&self, slug: &str) -> String {
        match self.suggest(slug) {
            Some(near) => format!("no term with slug `{slug}`; did you mean `{near}`?"),
            None => format!("no term with slug `{slug}`; `digest terms list` shows them all"),
        }
    }
}

/// The result of loading a content folder: the terms that parsed and every
/// problem found.
pub struct Loaded {
    pub glossary: Glossary,
    pub problems: Vec<Problem>,
}

impl Loaded {
    /// The glossary, or every problem as one error (exit code 2).
    pub fn into_result(self, dir: &Path) -> anyhow::Result<Glossary> {
        if self.problems.is_empty() {
            return Ok(self.glossary);
        }
        let n = self.problems.len();
        Err(Problems {
            problems: self.problems,
            summary: format!(
                "{n} problem{} in {}; fix {} and run `digest terms check` again",
                if n == 1 { "" } else { "s" },
                dir.display(),
                if n == 1 { "it" } else { "them" },
            ),
        }
        .into())
    }
}

/// The term files in `dir`: every `*.md` except `README.md` and names
/// starting with `_` or `.`, sorted by name.
fn term_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::bad_input!(
                "the content folder `{}` does not exist; create it with one Markdown file per term, \
                 or point `[paths] content` in digest.toml at it",
                dir.display()
            )
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "cannot read the content folder `{}`",
                dir.display()
            )));
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_term = path.extension().is_some_and(|e| e == "md")
            && !name.starts_with('_')
            && !name.starts_with('.')
            && !name.eq_ignore_ascii_case("README.md");
        if is_term && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Load and validate every term in `dir`. Fails only when the folder itself
/// cannot be read; problems in the files are in the result.
pub fn load(dir: &Path) -> anyhow::Result<Loaded> {
    let mut terms = Vec::new();
    let mut problems = Vec::new();
    for path in term_files(dir)? {
        let shown = path.display().to_string();
        let bytes = std::fs::read(&path).with_context(|| format!("cannot read {shown}"))?;
        match front_matter::parse(&path, &shown, &bytes) {
            Ok(term) => terms.push(term),
            Err(mut found) => problems.append(&mut found),
        }
    }
    problems.extend(cross_check(&terms));
    let (notes, mut note_problems) = note::load(dir)?;
    problems.append(&mut note_problems);
    if terms.is_empty() && problems.is_empty() {
        problems.push(Problem::new(
            dir.display().to_string(),
            0,
            "no term files (*.md) here; add one per term, e.g. content/pre-training.md",
        ));
    }
    // Keep the first of duplicated slugs so lookups stay unambiguous.
    let mut seen = std::collections::HashSet::new();
    terms.retain(|t| seen.insert(t.slug.clone()));
    Ok(Loaded {
        glossary: Glossary::from_terms(terms).with_notes(notes.into_values()),
        problems,
    })
}

/// Problems that need every term at once.
fn cross_check(terms: &[Term]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let shown = |t: &Term| t.source.display().to_string();
    let mut by_slug: HashMap<&str, &Term> = HashMap::new();
    for term in terms {
        if let Some(first) = by_slug.get(term.slug.as_str()) {
            problems.push(Problem::new(
                shown(term),
                term.lines.slug,
                format!(
                    "duplicate slug `{}`: {} uses it too; give one of them a different `slug`",
                    term.slug,
                    shown(first)
                ),
            ));
        } else {
            by_slug.insert(&term.slug, term);
        }
    }
    let slugs: Vec<&str> = by_slug.keys().copied().collect();
    let mut pins: HashMap<IssueWeek, &Term> = HashMap::new();
    for term in terms {
        for (i, related) in term.related.iter().enumerate() {
            let line = term.lines.related.get(i).copied().unwrap_or(1);
            if *related == term.slug {
                problems.push(Problem::new(
                    shown(term),
                    line,
                    format!("`related` lists the term itself (`{related}`); remove it"),
                ));
            } else if !by_slug.contains_key(related.as_str()) {
                let hint = match nearest(related, slugs.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => "remove it or add that term".to_string(),
                };
                problems.push(Problem::new(
                    shown(term),
                    line,
                    format!("`related` names `{related}`, which is not a term; {hint}"),
                ));
            }
        }
        if let Some(pin) = term.feature_on {
            if pin < term.added {
                problems.push(Problem::new(
                    shown(term),
                    term.lines.feature_on,
                    format!(
                        "`feature_on` ({pin}) is before the term is published (`added` = {}); \
                         move `feature_on` to the publication week or later",
                        term.added
                    ),
                ));
            }
            let week = IssueWeek::containing(pin);
            if let Some(other) = pins.get(&week) {
                problems.push(Problem::new(
                    shown(term),
                    term.lines.feature_on,
                    format!(
                        "`feature_on` pins this term to {week}, but {} is pinned to that week too; \
                         only one term can be featured per issue, so move one `feature_on` to another week",
                        shown(other)
                    ),
                ));
            } else {
                pins.insert(week, term);
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(slug: &str, added: &str) -> Term {
        Term::for_test(slug, added)
    }

    fn with_related(mut t: Term, related: &[&str]) -> Term {
        t.related = related.iter().map(|s| s.to_string()).collect();
        t.lines.related = (0..related.len()).map(|i| 6 + i).collect();
        t
    }

    #[test]
    fn a_published_term_with_only_scheduled_related_terms_is_warned_about() {
        let glossary = Glossary::from_terms(vec![
            with_related(term("a", "2026-11-01"), &["later", "later-still"]),
            with_related(term("b", "2026-11-01"), &["a", "later"]),
            with_related(term("c", "2026-12-20"), &["later"]),
            term("later", "2026-12-10"),
            term("later-still", "2026-12-12"),
        ]);
        let warnings: Vec<String> = glossary
            .warnings("2026-12-02".parse().unwrap())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("content/a.md:")
                && warnings[0].contains("(the first on 2026-12-10)"),
            "{warnings:?}"
        );
        assert!(glossary.warnings("2026-12-10".parse().unwrap()).is_empty());
    }

    #[test]
    fn cross_file_problems_are_all_reported() {
        let mut dup = term("rlhf", "2026-11-01");
        dup.source = PathBuf::from("content/rlhf-2.md");
        let mut pinned_a = term("a", "2026-11-01");
        pinned_a.feature_on = Some("2026-11-24".parse().unwrap());
        let mut pinned_b = term("b", "2026-11-01");
        pinned_b.feature_on = Some("2026-11-26".parse().unwrap());
        let mut early_pin = term("c", "2026-11-20");
        early_pin.feature_on = Some("2026-11-02".parse().unwrap());
        let terms = vec![
            with_related(term("rlhf", "2026-11-01"), &["rlhf", "fine-tunin"]),
            dup,
            with_related(term("fine-tuning", "2026-11-01"), &["rlhf"]),
            pinned_a,
            pinned_b,
            early_pin,
        ];
        let messages: Vec<String> = cross_check(&terms).iter().map(|p| p.to_string()).collect();
        let expected = [
            "content/rlhf-2.md:1: duplicate slug `rlhf`: content/rlhf.md uses it too",
            "content/rlhf.md:6: `related` lists the term itself (`rlhf`)",
            "content/rlhf.md:7: `related` names `fine-tunin`, which is not a term; did you mean `fine-tuning`?",
            "content/b.md: `feature_on` pins this term to 2026-W48, but content/a.md is pinned to that week too",
            "content/c.md: `feature_on` (2026-11-02) is before the term is published",
        ];
        for e in expected {
            assert!(
                messages.iter().any(|m| m.starts_with(e)),
                "missing {e:?} in {messages:#?}"
            );
        }
        assert_eq!(messages.len(), expected.len(), "{messages:#?}");
    }
}
