//! Which terms go into a week's issue.
//!
//! A pure function of the glossary, the issues already sent, the week and an
//! optional `--feature` pin, so that a preview and the real send agree and
//! the rules can be tested as a table.
//!
//! **New this week** are the terms published after the cut-off of the last
//! issue sent before this one (its Sunday) and on or before this issue's
//! Sunday; with no earlier issue, the ISO week's own seven days. A term added
//! late, or in a week whose issue was skipped, is announced by the next issue
//! instead of being lost, and a term already announced is never announced
//! again.
//!
//! **Featured** is a pinned term if there is one (`--feature`, else a term
//! whose `feature_on` falls in the week), otherwise the published term
//! featured least recently (never-featured first, oldest first), skipping this
//! week's new terms while other candidates remain: they already get a mention.
//! Every term is featured once before any is featured twice.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::content::{Glossary, Term};
use crate::week::IssueWeek;

/// An issue that was frozen for sending: what it featured and announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PastIssue {
    pub week: IssueWeek,
    pub featured: String,
    pub new_terms: Vec<String>,
}

/// What the issue of a week contains: slugs into the glossary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    pub week: IssueWeek,
    pub featured: String,
    /// Published since the last issue, oldest first; never the featured term.
    pub new_terms: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    #[error(
        "no term is published by {date} (the issue date of {week}); every term's `added` date is later"
    )]
    NothingPublished { week: IssueWeek, date: NaiveDate },
    #[error("cannot feature `{slug}`: {reason}")]
    BadFeature { slug: String, reason: String },
}

pub fn select(
    glossary: &Glossary,
    history: &[PastIssue],
    week: IssueWeek,
    feature: Option<&str>,
) -> Result<Selection, SelectError> {
    let issue_date = week.sunday();
    let published: Vec<&Term> = glossary
        .terms()
        .iter()
        .filter(|t| t.is_published_on(issue_date))
        .collect();
    if published.is_empty() {
        return Err(SelectError::NothingPublished {
            week,
            date: issue_date,
        });
    }

    let earlier: Vec<&PastIssue> = history.iter().filter(|i| i.week < week).collect();
    let cut_off = earlier
        .iter()
        .map(|i| i.week)
        .max()
        .map_or(week.monday().pred_opt().expect("in range"), |w| w.sunday());
    let announced: HashSet<&str> = earlier
        .iter()
        .flat_map(|i| i.new_terms.iter().map(String::as_str))
        .collect();
    let mut new: Vec<&Term> = published
        .iter()
        .copied()
        .filter(|t| t.added > cut_off && !announced.contains(t.slug.as_str()))
        .collect();
    new.sort_by(|a, b| (a.added, &a.slug).cmp(&(b.added, &b.slug)));

    let featured = match feature {
        Some(slug) => {
            let term = glossary.get(slug).ok_or_else(|| SelectError::BadFeature {
                slug: slug.to_string(),
                reason: glossary.unknown_slug(slug),
            })?;
            if !term.is_published_on(issue_date) {
                return Err(SelectError::BadFeature {
                    slug: slug.to_string(),
                    reason: format!(
                        "it is scheduled for {}, after this issue's date {issue_date}; pick another term or a later week",
                        term.added
                    ),
                });
            }
            term
        }
        None => pinned(&published, week).unwrap_or_else(|| rotation(&published, &earlier, &new)),
    };

    Ok(Selection {
        week,
        featured: featured.slug.clone(),
        new_terms: new
            .iter()
            .filter(|t| t.slug != featured.slug)
            .map(|t| t.slug.clone())
            .collect(),
    })
}

/// A published term whose `feature_on` falls in `week`.
fn pinned<'a>(published: &[&'a Term], week: IssueWeek) -> Option<&'a Term> {
    published
        .iter()
        .copied()
        .filter(|t| {
            t.feature_on
                .is_some_and(|d| IssueWeek::containing(d) == week)
        })
        .min_by(|a, b| (a.feature_on, &a.slug).cmp(&(b.feature_on, &b.slug)))
}

/// The least recently featured term, never-featured first, then oldest, then
/// by slug; this week's new terms only when nothing else is left.
fn rotation<'a>(published: &[&'a Term], earlier: &[&PastIssue], new: &[&Term]) -> &'a Term {
    let mut last_featured: HashMap<&str, IssueWeek> = HashMap::new();
    for issue in earlier {
        let entry = last_featured
            .entry(issue.featured.as_str())
            .or_insert(issue.week);
        *entry = (*entry).max(issue.week);
    }
    let is_new = |t: &Term| new.iter().any(|n| n.slug == t.slug);
    let candidates: Vec<&Term> = if published.iter().all(|t| is_new(t)) {
        published.to_vec()
    } else {
        published.iter().copied().filter(|t| !is_new(t)).collect()
    };
    candidates
        .into_iter()
        .min_by(|a, b| {
            let key = |t: &'a Term| {
                (
                    last_featured.get(t.slug.as_str()).copied(),
                    t.added,
                    t.slug.clone(),
                )
            };
            key(a).cmp(&key(b))
        })
        .expect("published is not empty")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(slug: &str, added: &str) -> Term {
        Term::for_test(slug, added)
    }

    fn pinned_term(slug: &str, added: &str, on: &str) -> Term {
        let mut t = term(slug, added);
        t.feature_on = Some(on.parse().unwrap());
        t
    }

    fn w(s: &str) -> IssueWeek {
        s.parse().unwrap()
    }

    fn past(week: &str, featured: &str, new: &[&str]) -> PastIssue {
        PastIssue {
            week: w(week),
            featured: featured.into(),
            new_terms: new.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The fixture glossary: two old terms, two added in W47, two in W48
    /// (one on its Sunday), one scheduled for December.
    fn glossary() -> Glossary {
        Glossary::from_terms(vec![
            term("attention", "2026-09-14"),
            term("tokens", "2026-09-08"),
            term("rlhf", "2026-11-17"),
            term("lora", "2026-11-19"),
            term("pre-training", "2026-11-24"),
            term("evals", "2026-11-29"),
            term("diffusion", "2026-12-15"),
        ])
    }

    struct Case {
        name: &'static str,
        history: Vec<PastIssue>,
        week: &'static str,
        feature: Option<&'static str>,
        featured: &'static str,
        new: &'static [&'static str],
    }

    #[test]
    fn selection_follows_the_rules() {
        let cases = vec![
            Case {
                name: "first issue ever: the week's own days are new; the oldest other term is featured",
                history: vec![],
                week: "2026-W48",
                feature: None,
                featured: "tokens",
                new: &["pre-training", "evals"],
            },
            Case {
                name: "a week with no new terms",
                history: vec![],
                week: "2026-W45",
                feature: None,
                featured: "tokens",
                new: &[],
            },
            Case {
                name: "late additions since the last issue are announced, not lost",
                history: vec![past("2026-W46", "tokens", &[])],
                week: "2026-W48",
                feature: None,
                featured: "attention",
                new: &["rlhf", "lora", "pre-training", "evals"],
            },
            Case {
                name: "nothing is announced twice",
                history: vec![past(
                    "2026-W47",
                    "tokens",
                    &["rlhf", "lora", "pre-training"],
                )],
                week: "2026-W48",
                feature: None,
                featured: "attention",
                new: &["evals"],
            },
            Case {
                name: "--feature wins over rotation, and leaves the new list",
                history: vec![],
                week: "2026-W48",
                feature: Some("pre-training"),
                featured: "pre-training",
                new: &["evals"],
            },
            Case {
                name: "scheduled terms are neither new nor featured before their date",
                history: vec![past("2026-W48", "tokens", &[])],
                week: "2026-W49",
                feature: None,
                featured: "attention",
                new: &[],
            },
            Case {
                name: "a scheduled term is new in the week it is published",
                history: vec![past("2026-W50", "tokens", &[])],
                week: "2026-W51",
                feature: None,
                featured: "attention",
                new: &["diffusion"],
            },
            Case {
                name: "rotation: never-featured first",
                history: vec![
                    past("2026-W45", "tokens", &[]),
                    past("2026-W46", "attention", &[]),
                    past("2026-W47", "rlhf", &["rlhf", "lora"]),
                ],
                week: "2026-W48",
                feature: None,
                featured: "lora",
                new: &["pre-training", "evals"],
            },
            Case {
                name: "rotation exhausted: the cycle restarts with the least recently featured",
                history: vec![
                    past("2026-W43", "attention", &[]),
                    past("2026-W44", "tokens", &[]),
                    past("2026-W45", "lora", &[]),
                    past("2026-W46", "rlhf", &[]),
                    past("2026-W47", "pre-training", &[]),
                    past("2026-W48", "evals", &[]),
                ],
                week: "2026-W49",
                feature: None,
                featured: "attention",
                new: &[],
            },
            Case {
                name: "only new terms published: one of them is featured",
                history: vec![],
                week: "2026-W37",
                feature: None,
                featured: "tokens",
                new: &[],
            },
            Case {
                name: "a later issue in history does not change an earlier week's selection",
                history: vec![past("2026-W48", "tokens", &["pre-training", "evals"])],
                week: "2026-W47",
                feature: None,
                featured: "tokens",
                new: &["rlhf", "lora"],
            },
        ];
        for case in cases {
            let got = select(&glossary(), &case.history, w(case.week), case.feature)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            assert_eq!(got.featured, case.featured, "{}", case.name);
            assert_eq!(got.new_terms, case.new, "{}", case.name);
        }
    }

    #[test]
    fn feature_on_pins_a_term_to_its_week() {
        let mut terms = glossary().terms().to_vec();
        terms.push(pinned_term("agents", "2026-10-01", "2026-11-27"));
        let g = Glossary::from_terms(terms);
        let got = select(&g, &[], w("2026-W48"), None).unwrap();
        assert_eq!(got.featured, "agents");
        // --feature beats the pin.
        let got = select(&g, &[], w("2026-W48"), Some("tokens")).unwrap();
        assert_eq!(got.featured, "tokens");
        // Other weeks ignore it.
        let got = select(&g, &[], w("2026-W47"), None).unwrap();
        assert_ne!(got.featured, "agents");
    }

    #[test]
    fn bad_pins_and_empty_glossaries_are_errors() {
        let g = glossary();
        let err = select(&g, &[], w("2026-W48"), Some("pre-trainin")).unwrap_err();
        assert!(
            err.to_string().contains("did you mean `pre-training`?"),
            "{err}"
        );
        let err = select(&g, &[], w("2026-W48"), Some("diffusion")).unwrap_err();
        assert!(
            err.to_string().contains("scheduled for 2026-12-15"),
            "{err}"
        );
        let err = select(&g, &[], w("2026-W30"), None).unwrap_err();
        assert!(matches!(err, SelectError::NothingPublished { .. }), "{err}");
    }

    #[test]
    fn a_full_cycle_features_every_term_once_before_any_twice() {
        let g = glossary();
        let mut history = Vec::new();
        let mut week = w("2026-W51");
        let published = g.terms().len();
        let mut seen = Vec::new();
        for _ in 0..published * 2 {
            let s = select(&g, &history, week, None).unwrap();
            seen.push(s.featured.clone());
            history.push(PastIssue {
                week,
                featured: s.featured,
                new_terms: s.new_terms,
            });
            week = week.next();
        }
        let first: HashSet<_> = seen[..published].iter().collect();
        assert_eq!(first.len(), published, "{seen:?}");
        assert_eq!(
            seen[..published],
            seen[published..],
            "the cycle repeats in order"
        );
    }
}
