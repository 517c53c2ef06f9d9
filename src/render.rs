//! Rendering an issue: Tera templates to subject, HTML and plain text.
//!
//! Templates are user-editable files in the configured templates folder; the
//! defaults are embedded in the binary, and a file of the same name in the
//! folder wins. An issue is rendered once per role variant, not once per
//! subscriber: the only per-recipient part is the unsubscribe link, which the
//! sender swaps into the finished text. CSS is written once, in a `<style>`
//! block, and inlined here, because Gmail and most mail apps ignore or strip
//! stylesheets; only the media queries (phone width, dark mode) stay in
//! `<style>`, where the clients that understand them read them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use tera::{Context, Kwargs, State, Tera, TeraResult, Value};

use crate::config::Newsletter;
use crate::content::{Glossary, Term, markdown};
use crate::role::Role;
use crate::select::Selection;

/// The templates embedded in the binary, by name: every `.html` and `.txt`
/// file under `templates/`, listed by the build script.
pub const BUILTINS: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_templates.rs"));

/// Column width of the plain-text part.
pub const TEXT_WIDTH: usize = 72;
/// The hidden preview line after the subject in an inbox stays under this.
pub const PREHEADER_MAX: usize = 99;

pub struct Templates {
    tera: Tera,
}

impl Templates {
    /// The built-in templates, overridden by any file of the same name in
    /// `dir`; other `.html` / `.txt` files in `dir` (extra partials) are
    /// loaded too. A missing `dir` means built-ins only.
    pub fn load(dir: &Path) -> anyhow::Result<Templates> {
        let mut sources: BTreeMap<String, String> = BUILTINS
            .iter()
            .map(|(name, src)| (name.to_string(), src.to_string()))
            .collect();
        if dir.is_dir() {
            collect_dir(dir, dir, &mut sources)?;
        }
        let mut tera = Tera::new();
        register_filters(&mut tera);
        tera.add_raw_templates(sources.iter().map(|(n, s)| (n.as_str(), s.as_str())))
            .map_err(|e| {
                crate::error::InputError(format!(
                    "a template in {} (or a built-in it includes) does not compile:\n{e}",
                    dir.display()
                ))
            })?;
        Ok(Templates { tera })
    }

    /// Built-ins only. They compile: `the_builtin_templates_compile` checks.
    pub fn builtin() -> anyhow::Result<Templates> {
        Templates::load(Path::new(""))
    }

    /// Render any template by name (web pages, the confirmation mail).
    pub fn render(&self, name: &str, ctx: &Context) -> anyhow::Result<String> {
        self.tera
            .render(name, ctx)
            .map_err(|e| anyhow::anyhow!("rendering template {name} failed:\n{e}"))
    }
}

fn collect_dir(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read templates folder {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            collect_dir(root, &path, out)?;
            continue;
        }
        let is_template = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "html" | "txt"));
        if !is_template {
            continue;
        }
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let name = rel.to_string_lossy().replace('\\', "/");
        let src = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read template {} (is it UTF-8?)", path.display()))?;
        out.insert(name, src);
    }
    Ok(())
}

fn register_filters(tera: &mut Tera) {
    tera.register_filter("markdown", |md: &str, _: Kwargs, _: &State| {
        Value::safe_string(&markdown::to_html(md))
    });
    tera.register_filter(
        "markdown_text",
        |md: &str, kwargs: Kwargs, _: &State| -> TeraResult<String> {
            let width = kwargs.get::<usize>("width")?.unwrap_or(TEXT_WIDTH);
            let indent = kwargs.get::<&str>("indent")?.unwrap_or("");
            let text = markdown::to_text(md, width.saturating_sub(indent.len()).max(20));
            Ok(indent_lines(&text, indent))
        },
    );
    tera.register_filter(
        "wrap",
        |text: &str, kwargs: Kwargs, _: &State| -> TeraResult<String> {
            let width = kwargs.get::<usize>("width")?.unwrap_or(TEXT_WIDTH);
            let indent = kwargs.get::<&str>("indent")?.unwrap_or("");
            let first = kwargs.get::<&str>("first")?.unwrap_or(indent);
            Ok(markdown::wrap_first(text, width, first, indent))
        },
    );
    tera.register_filter(
        "date",
        |date: &str, kwargs: Kwargs, _: &State| -> TeraResult<String> {
            let format = kwargs.get::<&str>("format")?.unwrap_or("%Y-%m-%d");
            let parsed = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| {
                tera::Error::message(format!("date filter: `{date}` is not a YYYY-MM-DD date"))
            })?;
            Ok(parsed.format(format).to_string())
        },
    );
}

fn indent_lines(text: &str, indent: &str) -> String {
    if indent.is_empty() {
        return text.to_string();
    }
    text.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{indent}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

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

/// Links that differ per recipient (unsubscribe) or per issue.
#[derive(Debug, Clone, Serialize)]
pub struct Links {
    /// The reader's one-click unsubscribe URL; empty in the web version.
    pub unsubscribe: String,
    /// The subscribe form.
    pub subscribe: String,
    pub web_version: String,
    pub archive: String,
    pub site: String,
}

impl Links {
    /// The links of an issue, with the given unsubscribe URL.
    pub fn new(newsletter: &Newsletter, week: &str, unsubscribe: String) -> Links {
        let public = &newsletter.public_url;
        Links {
            unsubscribe,
            subscribe: public.home(),
            web_version: public.archive_issue(week),
            archive: public.archive(),
            site: newsletter.site_url.to_string(),
        }
    }

    /// The unsubscribe URL for a subscriber's token.
    pub fn unsubscribe_url(newsletter: &Newsletter, token: &str) -> String {
        newsletter.public_url.unsubscribe(token)
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

/// A rendered issue: what goes into the email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

impl Templates {
    /// Render `view` for a reader with `role` (or none), with `links`.
    pub fn render_issue(
        &self,
        view: &IssueView,
        role: Option<Role>,
        links: &Links,
    ) -> anyhow::Result<Rendered> {
        let mut featured = view.featured.clone();
        if let Some(role) = role
            && let Some(i) = featured.roles.iter().position(|r| r.key == role)
        {
            let mut mine = featured.roles.remove(i);
            mine.mine = true;
            featured.roles.insert(0, mine);
        }
        let mut ctx = Context::new();
        ctx.insert("lang", "en");
        ctx.insert("newsletter", &view.newsletter);
        ctx.insert("issue", &view.issue);
        ctx.insert("preheader", &view.preheader);
        ctx.insert("featured", &featured);
        ctx.insert("new_terms", &view.new_terms);
        ctx.insert("role", &role);
        ctx.insert("role_label", &role.map(Role::label));
        ctx.insert("links", links);

        let subject = match &view.frozen_subject {
            Some(subject) => subject.clone(),
            None => self.render("subject.txt", &ctx)?,
        };
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        if subject.is_empty() {
            crate::bad_input!("templates/subject.txt rendered an empty subject; give it some text");
        }
        ctx.insert("subject", &subject);
        let html = strip_line_ends(&inline_css(&self.render("digest.html", &ctx)?)?);
        let text = tidy_text(&self.render("digest.txt", &ctx)?);
        Ok(Rendered {
            subject,
            html,
            text,
        })
    }
}

/// Inline the `<style>` rules into `style` attributes, keeping only the
/// `@media` rules in a `<style>` block.
pub fn inline_css(html: &str) -> anyhow::Result<String> {
    let inliner = css_inline::CSSInliner::options()
        .keep_style_tags(false)
        .keep_at_rules(true)
        .load_remote_stylesheets(false)
        .build();
    inliner
        .inline(html)
        .context("inlining the CSS of the HTML template failed")
}

/// Spaces left at line ends by indented template tags: bytes for nothing.
pub fn strip_line_ends(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    for line in html.lines() {
        out.push_str(line.trim_end_matches([' ', '\t']));
        out.push('\n');
    }
    out
}

/// Templates are easier to read with blank lines around their tags; the
/// email is not. Runs of blank lines become one, trailing spaces go (except
/// in the `-- ` signature separator), and the text ends with one newline.
pub fn tidy_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = if line == "-- " { line } else { line.trim_end() };
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_in_the_folder_is_built_in_and_compiles() {
        let names: Vec<&str> = BUILTINS.iter().map(|(n, _)| *n).collect();
        for expected in [
            "digest.html",
            "digest.txt",
            "subject.txt",
            "partials/footer.txt",
            "web/form.html",
            "confirm.html",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
        assert!(!names.iter().any(|n| n.ends_with(".md")));
        Templates::builtin().unwrap();
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

    #[test]
    fn tidy_text_collapses_blank_runs() {
        assert_eq!(tidy_text("a  \n\n\n\nb\n-- \nc\n\n"), "a\n\nb\n-- \nc\n");
    }

    #[test]
    fn inlining_keeps_only_media_queries_in_style() {
        let html = "<html><head><style>p { color: red; } @media (max-width: 600px) { p { color: blue !important; } }</style></head><body><p>x</p></body></html>";
        let out = inline_css(html).unwrap();
        assert!(out.contains("<p style=\"color: red;\">"), "{out}");
        assert!(out.contains("@media (max-width: 600px)"), "{out}");
        assert!(!out.contains("p { color: red; }"), "{out}");
    }
}
