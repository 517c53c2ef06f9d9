//! `digest preview --serve`: the issue as it stands, for the editor writing it.
//!
//! Every request reads `content/`, the templates and the database afresh, so
//! a page is always what `digest preview` would write at that moment. The
//! issue page polls `/_version`, a fingerprint of the names, sizes and
//! modification times of the files under the content and template folders,
//! and reloads itself when it changes: one small local request every half
//! second, no websocket and no file-watcher thread. A glossary with problems
//! is shown as those problems (what `terms check` prints), never as a blank
//! page, and the polling goes on, so the page comes back once they are
//! fixed. The database is opened read-only per request and never written.

use std::hash::{Hash as _, Hasher as _};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;

use crate::app::App;
use crate::clock::Clock;
use crate::config::Config;
use crate::content::{self, Glossary};
use crate::render::feed::escape;
use crate::role::Role;
use crate::week::IssueWeek;

/// The weeks listed before the current one.
const WEEKS_BEFORE: u32 = 2;
/// The most weeks listed after the current one (as far as terms are
/// scheduled).
const WEEKS_AHEAD: u32 = 12;
/// How often the page asks whether a file changed, in milliseconds.
const POLL_MS: u32 = 500;

struct Preview {
    config: Config,
    clock: Clock,
}

pub fn run(app: &App, listen: SocketAddr) -> anyhow::Result<()> {
    let state = Arc::new(Preview {
        config: app.config.clone(),
        clock: Clock::starting_at(app.now()),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| {
                format!("cannot listen on {listen}; is another server using it? Choose another with --listen")
            })?;
        let local = listener.local_addr()?;
        eprintln!("previewing on http://{local}/ (Ctrl-C to stop)");
        axum::serve(listener, router(state))
            .with_graceful_shutdown(crate::http::shutdown())
            .await
            .context("the preview server stopped")
    })
}

fn router(state: Arc<Preview>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/issue/{week}", get(issue))
        .route("/raw/{file}", get(raw))
        .route("/_version", get(version))
        .fallback(|| async { page(StatusCode::NOT_FOUND, "Not found", NOT_FOUND) })
        .with_state(state)
}

const NOT_FOUND: &str = "<p>No such page. <a href=\"/\">See the weeks</a>.</p>";

#[derive(serde::Deserialize)]
struct RoleQuery {
    role: Option<String>,
}

async fn index(State(state): State<Arc<Preview>>) -> Response {
    blocking(state, |s| Ok(page(StatusCode::OK, "Preview", &s.index()))).await
}

async fn issue(
    State(state): State<Arc<Preview>>,
    UrlPath(week): UrlPath<String>,
    Query(query): Query<RoleQuery>,
) -> Response {
    blocking(state, move |s| {
        let (week, role) = parse(&week, query.role.as_deref())?;
        let title = match role {
            Some(role) => format!("{week} for the {}", role.label().to_lowercase()),
            None => week.to_string(),
        };
        Ok(page(StatusCode::OK, &title, &s.issue(week, role)))
    })
    .await
}

async fn raw(
    State(state): State<Arc<Preview>>,
    UrlPath(file): UrlPath<String>,
    Query(query): Query<RoleQuery>,
) -> Response {
    blocking(state, move |s| {
        let (week, html) = match (file.strip_suffix(".html"), file.strip_suffix(".txt")) {
            (Some(week), _) => (week, true),
            (None, Some(week)) => (week, false),
            (None, None) => return Err(Refused::not_found(NOT_FOUND.to_string())),
        };
        let (week, role) = parse(week, query.role.as_deref())?;
        let rendered = s
            .glossary()
            .and_then(|glossary| super::preview::render(&s.config, &glossary, week, role, None));
        Ok(match (rendered, html) {
            (Ok(rendered), true) => no_store(Html(rendered.html).into_response()),
            (Ok(rendered), false) => no_store(
                (
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    rendered.text,
                )
                    .into_response(),
            ),
            (Err(e), _) => page(StatusCode::OK, "Problems", &problems(&e)),
        })
    })
    .await
}

async fn version(State(state): State<Arc<Preview>>) -> Response {
    blocking(state, |s| {
        let paths = &s.config.paths;
        let print = fingerprint(&[&paths.content, &paths.templates]);
        Ok(no_store(
            ([(header::CONTENT_TYPE, "text/plain")], print).into_response(),
        ))
    })
    .await
}

/// Run `f` off the async threads: it reads files and the database. Its
/// `Err` is the page that says what is wrong with the request.
async fn blocking(
    state: Arc<Preview>,
    f: impl FnOnce(&Preview) -> Result<Response, Refused> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(move || f(&state)).await {
        Ok(response) => response.unwrap_or_else(Refused::page),
        Err(e) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error",
            &format!("<pre>{}</pre>", escape(&e.to_string())),
        ),
    }
}

/// A request the preview cannot answer, and the page that says why.
struct Refused {
    status: StatusCode,
    title: &'static str,
    body: String,
}

impl Refused {
    fn not_found(body: String) -> Refused {
        Refused {
            status: StatusCode::NOT_FOUND,
            title: "Not found",
            body,
        }
    }

    fn page(self) -> Response {
        page(self.status, self.title, &self.body)
    }
}

/// The week and role of a request.
fn parse(week: &str, role: Option<&str>) -> Result<(IssueWeek, Option<Role>), Refused> {
    let week = week.parse::<IssueWeek>().map_err(|e| {
        Refused::not_found(format!(
            "<p>{}. <a href=\"/\">See the weeks</a>.</p>",
            escape(&e.to_string())
        ))
    })?;
    let role = match role.filter(|r| !r.is_empty()) {
        None => None,
        Some(role) => Some(role.parse::<Role>().map_err(|e| Refused {
            status: StatusCode::BAD_REQUEST,
            title: "Bad role",
            body: format!("<p>{}.</p>", escape(&e.to_string())),
        })?),
    };
    Ok((week, role))
}

impl Preview {
    fn today(&self) -> NaiveDate {
        self.clock
            .now()
            .with_timezone(&self.config.newsletter.timezone)
            .date_naive()
    }

    fn current_week(&self) -> IssueWeek {
        IssueWeek::current(self.clock.now(), self.config.newsletter.timezone)
    }

    fn glossary(&self) -> anyhow::Result<Glossary> {
        let dir = &self.config.paths.content;
        content::load(dir)?.into_result(dir)
    }

    /// The weeks from two before the current one to the last with a term
    /// scheduled (at most twelve ahead), each with its role variants.
    fn index(&self) -> String {
        let glossary = match self.glossary() {
            Ok(glossary) => glossary,
            Err(e) => return format!("{}{}", problems(&e), reload_script()),
        };
        let current = self.current_week();
        let last = glossary
            .terms()
            .iter()
            .map(|t| IssueWeek::containing(t.added))
            .max()
            .unwrap_or(current);
        let mut first = current;
        for _ in 0..WEEKS_BEFORE {
            first = first.previous();
        }
        let mut end = current;
        for _ in 0..WEEKS_AHEAD {
            if end >= last {
                break;
            }
            end = end.next();
        }
        let mut rows = String::new();
        let mut week = first;
        while week <= end {
            let mut cells = format!("<td><a href=\"/issue/{week}\">{week}</a></td>");
            for role in Role::ALL {
                cells.push_str(&format!(
                    "<td><a href=\"/issue/{week}?role={}\">{}</a></td>",
                    role.as_str(),
                    role.label()
                ));
            }
            let marker = if week == current { " (this week)" } else { "" };
            rows.push_str(&format!(
                "<tr><td>{}{marker}</td>{cells}</tr>\n",
                week.sunday().format("%b %-d")
            ));
            week = week.next();
        }
        format!(
            "{warnings}<table><tr><th>Sunday</th><th>Issue</th><th colspan=\"3\">For a reader who is a</th></tr>\n{rows}</table>{script}",
            warnings = warnings(&glossary.warnings(self.today())),
            script = reload_script(),
        )
    }

    /// The issue's HTML and text side by side, or the problems that stop it.
    fn issue(&self, week: IssueWeek, role: Option<Role>) -> String {
        let query = role.map_or_else(String::new, |r| format!("?role={}", r.as_str()));
        let mut nav = format!(
            "<nav><a href=\"/\">All weeks</a> · <a href=\"/issue/{prev}{query}\">← {prev}</a> · \
             <a href=\"/issue/{next}{query}\">{next} →</a> · Reader: ",
            prev = week.previous(),
            next = week.next()
        );
        let mut variants = vec![format!(
            "<a href=\"/issue/{week}\"{}>no role</a>",
            if role.is_none() { " class=\"on\"" } else { "" }
        )];
        for r in Role::ALL {
            variants.push(format!(
                "<a href=\"/issue/{week}?role={}\"{}>{}</a>",
                r.as_str(),
                if role == Some(r) { " class=\"on\"" } else { "" },
                r.label().to_lowercase()
            ));
        }
        nav.push_str(&variants.join(" | "));
        nav.push_str("</nav>");
        let glossary = match self.glossary() {
            Ok(glossary) => glossary,
            Err(e) => return format!("{nav}{}{}", problems(&e), reload_script()),
        };
        let warnings = warnings(&glossary.warnings(self.today()));
        let body = match super::preview::render(&self.config, &glossary, week, role, None) {
            Ok(rendered) => format!(
                "<p class=\"subject\">Subject: <b>{subject}</b></p>\
                 <div class=\"sides\"><iframe title=\"HTML\" src=\"/raw/{week}.html{query}\"></iframe>\
                 <pre class=\"text\">{text}</pre></div>",
                subject = escape(&rendered.subject),
                text = escape(&rendered.text),
            ),
            Err(e) => problems(&e),
        };
        format!("{nav}{warnings}{body}{}", reload_script())
    }
}

/// An error as the page shows it: the whole cause chain, as the CLI
/// prints it.
fn problems(e: &anyhow::Error) -> String {
    format!(
        "<div class=\"problems\"><h2>This issue cannot be built</h2><pre>{}</pre></div>",
        escape(&format!("{e:#}"))
    )
}

fn warnings(warnings: &[crate::error::Problem]) -> String {
    if warnings.is_empty() {
        return String::new();
    }
    let lines: Vec<String> = warnings.iter().map(|w| escape(&w.to_string())).collect();
    format!(
        "<div class=\"warnings\"><b>Warnings</b><pre>{}</pre></div>",
        lines.join("\n")
    )
}

fn reload_script() -> String {
    format!(
        "<script>(function () {{\n\
         let seen = null;\n\
         async function poll() {{\n\
           try {{\n\
             const r = await fetch('/_version', {{ cache: 'no-store' }});\n\
             const v = await r.text();\n\
             if (seen !== null && v !== seen) {{ location.reload(); return; }}\n\
             seen = v;\n\
           }} catch (e) {{}}\n\
           setTimeout(poll, {POLL_MS});\n\
         }}\n\
         poll();\n\
         }})();</script>"
    )
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title} · digest preview</title><style>{STYLE}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    );
    no_store((status, Html(html)).into_response())
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:16px;color:#1d2b24}\
h1{font-size:20px;margin:0 0 8px}nav{margin:0 0 8px}a.on{font-weight:bold;color:#1d2b24}\
table{border-collapse:collapse}td,th{padding:4px 10px;text-align:left;border-bottom:1px solid #dde3df}\
.sides{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:12px}\
iframe{width:100%;height:85vh;border:1px solid #c9d2cd}\
pre.text{height:85vh;overflow:auto;margin:0;padding:8px;border:1px solid #c9d2cd;font-size:13px}\
.problems{background:#fdecea;border:1px solid #e0a39c;padding:8px 12px}\
.problems pre,.warnings pre{white-space:pre-wrap}\
.warnings{background:#fff7e0;border:1px solid #e5cf8b;padding:8px 12px;margin:0 0 8px}";

/// A hash of the name, size and modification time of every file under
/// `dirs` (missing folders count as empty): it changes when a file is
/// saved, added, removed or renamed.
fn fingerprint(dirs: &[&Path]) -> String {
    let mut entries = Vec::new();
    for dir in dirs {
        collect(dir, &mut entries);
    }
    entries.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    entries.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn collect(dir: &Path, out: &mut Vec<(String, u64, u128)>) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in read.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            collect(&path, out);
            continue;
        }
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        out.push((path.display().to_string(), meta.len(), modified));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_changes_when_a_file_is_saved_added_or_removed() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let print = || fingerprint(&[dir.path(), &missing]);
        let empty = print();
        assert_eq!(print(), empty, "nothing changed");
        std::fs::write(sub.join("a.md"), "one").unwrap();
        let one = print();
        assert_ne!(one, empty, "a file added in a subfolder");
        std::fs::write(sub.join("a.md"), "three").unwrap();
        let three = print();
        assert_ne!(three, one, "a file saved with a new size");
        std::fs::rename(sub.join("a.md"), sub.join("b.md")).unwrap();
        assert_ne!(print(), three, "a file renamed");
        std::fs::remove_file(sub.join("b.md")).unwrap();
        assert_eq!(print(), empty, "back to nothing");
    }

    #[test]
    fn bad_weeks_and_roles_are_answered_with_a_page() {
        let cases = [
            ("2026-W49", None, Ok(None)),
            ("2026-W49", Some(""), Ok(None)),
            ("2026-W49", Some("executive"), Ok(Some(Role::Executive))),
            ("2026-W49", Some("ceo"), Err(StatusCode::BAD_REQUEST)),
            ("2026-W60", None, Err(StatusCode::NOT_FOUND)),
            ("week", None, Err(StatusCode::NOT_FOUND)),
        ];
        for (week, role, want) in cases {
            let got = parse(week, role).map(|(_, r)| r).map_err(|r| r.status);
            assert_eq!(got, want, "{week} {role:?}");
        }
    }
}
