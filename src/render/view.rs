//! The view model: everything templates see about an issue, built once
//! per issue from the glossary and the selection.

use anyhow::Context as _;
use serde::Serialize;

use crate::config::Newsletter;
use crate::content::{Glossary, Term, markdown};
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
    /// Where a reply goes when it is not the From address; empty when unset.
    pub reply_to: String,
    /// The locale's tag, for `lang`: "en-US".
    pub lang: String,
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
            reply_to: newsletter
                .reply_to
                .as_ref()
                .map(|m| m.email.to_string())
                .unwrap_or_default(),
            lang: newsletter.locale.tag().to_string(),
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
    /// The subject frozen with a sent issue, else the one of the editor's
    /// note; `None` renders `subject.txt`.
    #[serde(skip)]
    pub fixed_subject: Option<String>,
    /// True when the issue was frozen for sending before this view was built.
    #[serde(skip)]
    pub frozen: bool,
    pub newsletter: NewsletterView,
    pub issue: IssueInfo,
    pub preheader: String,
    /// The editor's note for the week (Markdown); empty when there is none.
    pub note: String,
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

/// The default preheader: what else is inside, so that the inbox preview
/// does not repeat the lead sentence the reader sees first on opening.
pub fn preheader_for(featured: &FeaturedView, new_terms: &[TermLink]) -> String {
    let titles: Vec<&str> = new_terms.iter().map(|t| t.title.as_str()).collect();
    if !titles.is_empty() {
        return preheader(&format!("Also new: {}", and_list(&titles)), PREHEADER_MAX);
    }
    let mut inside = Vec::new();
    if featured.example.is_some() {
        inside.push("an example".to_string());
    }
    if !featured.roles.is_empty() {
        inside.push("what it means for your role".to_string());
    }
    match featured.faq.len() {
        0 => {}
        1 => inside.push("one common question".to_string()),
        n => inside.push(format!("{n} common questions")),
    }
    if inside.is_empty() {
        return preheader(&featured.summary, PREHEADER_MAX);
    }
    let inside: Vec<&str> = inside.iter().map(String::as_str).collect();
    let text = format!("{} explained, with {}", featured.title, and_list(&inside));
    preheader(&text, PREHEADER_MAX)
}

/// "A", "A and B", "A, B and C".
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
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
        // A term scheduled after the issue's date is not in it anywhere: not
        // as a related term, not as a link in the text.
        let unpublished = |url: &str| {
            let path = url.trim_end_matches('/');
            path.rsplit_once("/glossary/")
                .and_then(|(_, slug)| glossary.get(slug))
                .is_some_and(|t| !t.is_published_on(date))
        };
        let note = glossary.note(selection.week);
        let mut new_terms = Vec::with_capacity(selection.new_terms.len());
        for slug in &selection.new_terms {
            new_terms.push(link(newsletter, lookup(slug)?));
        }
        let related = featured
            .related
            .iter()
            .filter_map(|slug| glossary.get(slug))
            .filter(|t| t.is_published_on(date))
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
        let featured = FeaturedView {
            slug: featured.slug.clone(),
            title: featured.title.clone(),
            summary: featured.summary.clone(),
            url: term_url(newsletter, &featured.slug),
            added: featured.added.to_string(),
            tags: featured.tags.clone(),
            body: markdown::unlink(&featured.body, unpublished),
            example: featured.example.as_ref().map(|e| ExampleView {
                title: e.title.clone(),
                body: markdown::unlink(&e.body, unpublished),
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
        };
        Ok(IssueView {
            fixed_subject: note.and_then(|n| n.subject.clone()),
            frozen: false,
            newsletter: NewsletterView::from(newsletter),
            issue: IssueInfo {
                week: selection.week.to_string(),
                date: date.to_string(),
                date_long: newsletter.locale.date_long(date),
            },
            preheader: match note.and_then(|n| n.preheader.as_deref()) {
                Some(own) => own.to_string(),
                None => preheader_for(&featured, &new_terms),
            },
            note: note.map(|n| n.body.clone()).unwrap_or_default(),
            featured,
            new_terms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::content::IssueNote;
    use crate::week::IssueWeek;

    /// Week 2026-W48 (Sunday the 29th) features `tokens`, which relates to
    /// and links one published and one scheduled term.
    fn view_of(note: Option<IssueNote>, new_terms: &[&str]) -> IssueView {
        let config = Config::parse("", None).unwrap();
        let mut tokens = Term::for_test("tokens", "2026-11-01");
        tokens.related = vec!["embeddings".into(), "lora".into()];
        tokens.body = "See [embeddings](https://glossary.example/glossary/embeddings) and \
                       [LoRA](https://glossary.example/glossary/lora/)."
            .into();
        let mut terms = vec![
            tokens,
            Term::for_test("embeddings", "2026-11-29"),
            Term::for_test("lora", "2026-11-30"),
        ];
        for slug in new_terms {
            let mut t = Term::for_test(slug, "2026-11-25");
            t.title = slug.to_uppercase();
            terms.push(t);
        }
        let glossary = Glossary::from_terms(terms).with_notes(note);
        let selection = Selection {
            week: IssueWeek::new(2026, 48).unwrap(),
            featured: "tokens".into(),
            new_terms: new_terms.iter().map(|s| s.to_string()).collect(),
        };
        IssueView::new(&config.newsletter, &glossary, &selection).unwrap()
    }

    #[test]
    fn a_term_scheduled_after_the_issue_is_nowhere_in_it() {
        let view = view_of(None, &[]);
        let related: Vec<&str> = view
            .featured
            .related
            .iter()
            .map(|t| t.slug.as_str())
            .collect();
        assert_eq!(
            related,
            ["embeddings"],
            "published on the Sunday itself counts"
        );
        assert_eq!(
            view.featured.body,
            "See [embeddings](https://glossary.example/glossary/embeddings) and LoRA."
        );
    }

    #[test]
    fn the_editors_note_sets_subject_preheader_and_note() {
        let note = IssueNote {
            week: IssueWeek::new(2026, 48).unwrap(),
            subject: Some("Before the holidays".into()),
            preheader: Some("A short one this week".into()),
            body: "Hello.".into(),
            source: "content/_issues/2026-W48.md".into(),
        };
        let view = view_of(Some(note.clone()), &[]);
        assert_eq!(view.fixed_subject.as_deref(), Some("Before the holidays"));
        assert_eq!(view.preheader, "A short one this week");
        assert_eq!(view.note, "Hello.");
        let other_week = IssueNote {
            week: IssueWeek::new(2026, 49).unwrap(),
            ..note
        };
        let view = view_of(Some(other_week), &[]);
        assert_eq!((view.fixed_subject, view.note.as_str()), (None, ""));
    }

    #[test]
    fn the_default_preheader_names_what_else_is_inside() {
        let cases: &[(&[&str], &str)] = &[
            (&["lora-x"], "Also new: LORA-X"),
            (&["a", "b"], "Also new: A and B"),
            (&["a", "b", "c"], "Also new: A, B and C"),
        ];
        for (new_terms, expected) in cases {
            assert_eq!(view_of(None, new_terms).preheader, *expected);
        }
        let mut view = view_of(None, &[]);
        assert_eq!(view.preheader, "tokens summary", "nothing else inside");
        view.featured.faq = vec![
            FaqView {
                q: "q".into(),
                a: "a".into(),
            },
            FaqView {
                q: "q".into(),
                a: "a".into(),
            },
        ];
        view.featured.example = Some(ExampleView {
            title: "t".into(),
            body: "b".into(),
        });
        assert_eq!(
            preheader_for(&view.featured, &[]),
            "tokens explained, with an example and 2 common questions"
        );
        let many: Vec<TermLink> = (0..12)
            .map(|i| TermLink {
                slug: format!("t{i}"),
                title: format!("A rather long term title {i}"),
                summary: String::new(),
                url: String::new(),
                added: String::new(),
            })
            .collect();
        let long = preheader_for(&view.featured, &many);
        assert!(
            long.starts_with("Also new: A rather long") && long.ends_with('…'),
            "{long}"
        );
        assert!(long.chars().count() <= PREHEADER_MAX);
    }

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
