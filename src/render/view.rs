//! The view model: everything templates see about an issue, built once
//! per issue from the glossary and the selection.

use anyhow::Context as _;
use serde::Serialize;

use crate::config::Newsletter;
use crate::content::{Glossary, Term};
use crate::role::Role;
use crate::select::Selection;

use super::PREHEADER_MAX;

/// A term as templates see it in lists.
#[derive(Debug, Clone, Serialize)]
pub struct TermLink {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub url: String,
    pub added: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleView {
    pub key: Role,
    pub label: &'static str,
    pub text: String,
    /// The reader's own role: first, and standing out.
    pub mine: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExampleView {
    pub title: String,
    pub body: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FaqView {
    pub q: String,
    pub a: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FeaturedView {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub url: String,
    pub added: String,
    pub tags: Vec<String>,
    /// The full picture, Markdown (use the `markdown` or `markdown_text` filter).
    pub body: String,
    pub example: Option<ExampleView>,
    pub roles: Vec<RoleView>,
    pub faq: Vec<FaqView>,
    pub related: Vec<TermLink>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewsletterView {
    pub name: String,
    pub site_url: String,
    pub public_url: String,
    pub postal_address: Option<String>,
    pub from_name: String,
    pub from_address: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct IssueInfo {
    pub week: String,
    pub date: String,
    pub date_long: String,
}

impl From<&Newsletter> for NewsletterView {
    fn from(newsletter: &Newsletter) -> NewsletterView {
        NewsletterView {
            name: newsletter.name.clone(),
            site_url: newsletter.site_url.to_string(),
            public_url: newsletter.public_url.to_string(),
            postal_address: newsletter.postal_address.clone(),
            from_name: newsletter.from.name.clone().unwrap_or_default(),
            from_address: newsletter.from.email.to_string(),
        }
    }
}

/// Links that differ per recipient (unsubscribe, preferences) or per issue.
#[derive(Debug, Clone, Serialize)]
pub struct Links {
    /// The reader's one-click unsubscribe URL; empty in the web version.
    pub unsubscribe: String,
    /// The reader's preferences page; empty in the web version.
    pub preferences: String,
    /// The subscribe form.
    pub subscribe: String,
    pub web_version: String,
    pub archive: String,
    pub site: String,
    /// The archive's Atom feed, advertised in the head of the web version;
    /// empty in the email, where no client reads it.
    pub feed: String,
}

impl Links {
    /// The links of an issue for the reader with `token`; none: the web
    /// version, which carries no personal link.
    pub fn new(newsletter: &Newsletter, week: &str, token: Option<&str>) -> Links {
        let public = &newsletter.public_url;
        Links {
            unsubscribe: token.map(|t| public.unsubscribe(t)).unwrap_or_default(),
            preferences: token.map(|t| public.preferences(t)).unwrap_or_default(),
            subscribe: public.home(),
            web_version: public.archive_issue(week),
            archive: public.archive(),
            site: newsletter.site_url.to_string(),
            feed: String::new(),
        }
    }

    /// The links of the web version of an issue: no unsubscribe link (it
    /// would be someone's), and the feed advertised.
    pub fn web(newsletter: &Newsletter, week: &str) -> Links {
        Links {
            feed: newsletter.public_url.archive_feed(),
            ..Links::new(newsletter, week, None)
        }
    }
}

/// Everything about an issue that does not depend on the reader: built once.
#[derive(Debug, Clone, Serialize)]
pub struct IssueView {
    /// The subject frozen with a sent issue; `None` renders `subject.txt`.
    #[serde(skip)]
    pub frozen_subject: Option<String>,
    pub newsletter: NewsletterView,
    pub issue: IssueInfo,
    pub preheader: String,
    pub featured: FeaturedView,
    pub new_terms: Vec<TermLink>,
}

fn term_url(newsletter: &Newsletter, slug: &str) -> String {
    format!("{}/glossary/{slug}", newsletter.site_url)
}

fn link(newsletter: &Newsletter, t: &Term) -> TermLink {
    TermLink {
        slug: t.slug.clone(),
        title: t.title.clone(),
        summary: t.summary.clone(),
        url: term_url(newsletter, &t.slug),
        added: t.added.to_string(),
    }
}

/// Cut `text` at a word boundary so it fits in `max` characters, with an
/// ellipsis when cut.
pub fn preheader(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max {
        return text;
    }
    let mut out = String::new();
    for word in text.split(' ') {
        if out.chars().count() + word.chars().count() + 2 > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    let trimmed = out.trim_end_matches([',', ';', ':', '.', ' ']);
    format!("{trimmed}…")
}

impl IssueView {
    pub fn new(
        newsletter: &Newsletter,
        glossary: &Glossary,
        selection: &Selection,
    ) -> anyhow::Result<IssueView> {
        let lookup = |slug: &str| {
            glossary.get(slug).with_context(|| {
                format!(
                    "the issue of {} names term `{slug}`, which is no longer in the glossary",
                    selection.week
                )
            })
        };
        let featured = lookup(&selection.featured)?;
        let date = selection.week.sunday();
        let mut new_terms = Vec::with_capacity(selection.new_terms.len());
        for slug in &selection.new_terms {
            new_terms.push(link(newsletter, lookup(slug)?));
        }
        let related = featured
            .related
            .iter()
            .filter_map(|slug| glossary.get(slug))
            .map(|t| link(newsletter, t))
            .collect();
        let roles = Role::ALL
            .iter()
            .filter_map(|&role| {
                featured.roles.get(role).map(|text| RoleView {
                    key: role,
                    label: role.label(),
                    text: text.to_string(),
                    mine: false,
                })
            })
            .collect();
        Ok(IssueView {
            frozen_subject: None,
            newsletter: NewsletterView::from(newsletter),
            issue: IssueInfo {
                week: selection.week.to_string(),
                date: date.to_string(),
                date_long: date.format("%A, %-d %B %Y").to_string(),
            },
            preheader: preheader(&featured.summary, PREHEADER_MAX),
            featured: FeaturedView {
                slug: featured.slug.clone(),
                title: featured.title.clone(),
                summary: featured.summary.clone(),
                url: term_url(newsletter, &featured.slug),
                added: featured.added.to_string(),
                tags: featured.tags.clone(),
                body: featured.body.clone(),
                example: featured.example.as_ref().map(|e| ExampleView {
                    title: e.title.clone(),
                    body: e.body.clone(),
                }),
                roles,
                faq: featured
                    .faq
                    .iter()
                    .map(|f| FaqView {
                        q: f.q.clone(),
                        a: f.a.clone(),
                    })
                    .collect(),
                related,
            },
            new_terms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preheaders_are_cut_at_a_word() {
        let cases = [
            ("Short.", 99, "Short."),
            ("one two three four", 10, "one two…"),
            ("  spaced   out  ", 99, "spaced out"),
            ("alpha, beta gamma", 14, "alpha, beta…"),
            ("alpha, beta gamma", 9, "alpha…"),
        ];
        for (text, max, expected) in cases {
            let got = preheader(text, max);
            assert_eq!(got, expected);
            assert!(got.chars().count() <= max);
        }
    }
}
