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

pub mod feed;
mod finish;
mod view;

use anyhow::Context as _;
use tera::{Context, Kwargs, State, Tera, TeraResult, Value};

pub use finish::{charset_first, inline_css, strip_line_ends, tidy_text};
pub use view::{
    ExampleView, FaqView, FeaturedView, IssueInfo, IssueView, Links, NewsletterView, RoleView,
    TermLink, preheader, preheader_for,
};

use crate::content::markdown;
use crate::role::Role;

/// The templates embedded in the binary, by name: every `.html` and `.txt`
/// file under `templates/`, listed by the build script.
pub const BUILTINS: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_templates.rs"));

/// Column width of the plain-text part.
pub const TEXT_WIDTH: usize = 72;
pub use crate::content::note::PREHEADER_MAX;

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
        ctx.insert("lang", &view.newsletter.lang);
        ctx.insert("note", &view.note);
        ctx.insert("newsletter", &view.newsletter);
        ctx.insert("issue", &view.issue);
        ctx.insert("preheader", &view.preheader);
        ctx.insert("featured", &featured);
        ctx.insert("new_terms", &view.new_terms);
        ctx.insert("role", &role);
        ctx.insert("role_label", &role.map(Role::label));
        ctx.insert("links", links);

        let subject = match &view.fixed_subject {
            Some(subject) => subject.clone(),
            None => self.render("subject.txt", &ctx)?,
        };
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        if subject.is_empty() {
            crate::bad_input!("templates/subject.txt rendered an empty subject; give it some text");
        }
        ctx.insert("subject", &subject);
        let html = inline_css(&self.render("digest.html", &ctx)?)?;
        let html = strip_line_ends(&charset_first(&html));
        let text = tidy_text(&self.render("digest.txt", &ctx)?);
        Ok(Rendered {
            subject,
            html,
            text,
        })
    }
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
}
