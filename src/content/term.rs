use std::path::PathBuf;

use chrono::NaiveDate;

use crate::role::Role;

/// One glossary entry, loaded and validated from `content/<slug>.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub slug: String,
    pub title: String,
    /// One plain-English sentence.
    pub summary: String,
    /// Publication date; a date in the future means scheduled.
    pub added: NaiveDate,
    pub tags: Vec<String>,
    pub related: Vec<String>,
    /// Pin: feature this term in the issue of the week containing this date.
    pub feature_on: Option<NaiveDate>,
    pub roles: Roles,
    pub example: Option<Example>,
    pub faq: Vec<Faq>,
    /// "The full picture", Markdown.
    pub body: String,
    /// The file it came from, as given to the loader.
    pub source: PathBuf,
    /// Where things are in the source file, for cross-file problems.
    pub lines: TermLines,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TermLines {
    pub slug: usize,
    pub related: Vec<usize>,
    pub feature_on: usize,
}

/// A term's paragraph for each reader role that has one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Roles(pub std::collections::BTreeMap<Role, String>);

impl Roles {
    pub fn get(&self, role: Role) -> Option<&str> {
        self.0.get(&role).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub title: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Faq {
    pub q: String,
    pub a: String,
}

impl Term {
    /// Published on `date`: `added` is on or before it.
    pub fn is_published_on(&self, date: NaiveDate) -> bool {
        self.added <= date
    }
}

#[cfg(test)]
impl Term {
    /// A minimal valid term for tests: `content/{slug}.md`, added on `added`.
    pub fn for_test(slug: &str, added: &str) -> Term {
        Term {
            slug: slug.to_string(),
            title: slug.to_string(),
            summary: format!("{slug} summary"),
            added: added.parse().expect("a YYYY-MM-DD date"),
            tags: vec![],
            related: vec![],
            feature_on: None,
            roles: Roles::default(),
            example: None,
            faq: vec![],
            body: "body".into(),
            source: PathBuf::from(format!("content/{slug}.md")),
            lines: TermLines {
                slug: 1,
                ..TermLines::default()
            },
        }
    }
}
