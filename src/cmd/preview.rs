//! `digest preview`: render an issue to local files, send nothing.
//!
//! The preview is what `send` would mail for that week, so it runs the same
//! selection against the same history. It reads the database only when it
//! exists, never creates or writes it, and never opens a connection.

use anyhow::Context as _;

use crate::app::App;
use crate::cli::PreviewArgs;
use crate::config::Config;
use crate::content::Glossary;
use crate::render::{Links, Rendered, Templates};
use crate::role::Role;
use crate::store::Store;
use crate::week::IssueWeek;

/// Where `preview --serve` listens by default: beside `serve`'s 8080.
const SERVE_LISTEN: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8081);

pub fn run(app: &App, args: &PreviewArgs) -> anyhow::Result<()> {
    if args.serve {
        let listen = args.listen.unwrap_or(SERVE_LISTEN);
        return super::preview_serve::run(app, listen);
    }
    let week = args.week.unwrap_or_else(|| app.current_week());
    let glossary = app.glossary()?;
    let rendered = render(
        &app.config,
        &glossary,
        week,
        args.role,
        args.feature.as_deref(),
    )?;

    let html_path = args.out.join(format!("{week}.html"));
    let text_path = args.out.join(format!("{week}.txt"));
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    crate::fsutil::write_atomically(&html_path, rendered.html.as_bytes())?;
    crate::fsutil::write_atomically(&text_path, rendered.text.as_bytes())?;
    eprintln!("{week}: {}", rendered.subject);
    println!("{}", html_path.display());
    println!("{}", text_path.display());
    Ok(())
}

/// The issue for `week` as a reader with `role` would get it: what `send`
/// would mail, with the history of the database when it exists (opened
/// read-only), and the preview's inert unsubscribe link. `preview --serve`
/// renders each page with it too.
pub(super) fn render(
    config: &Config,
    glossary: &Glossary,
    week: IssueWeek,
    role: Option<Role>,
    feature: Option<&str>,
) -> anyhow::Result<Rendered> {
    let store = Store::open_read_only(&config.paths.database)?;
    let (_, view) = crate::issue::view(config, store.as_ref(), glossary, week, feature)?;
    let templates = Templates::load(&config.paths.templates)?;
    let links = Links::new(&config.newsletter, &view.issue.week, Some("preview"));
    templates.render_issue(&view, role, &links)
}
