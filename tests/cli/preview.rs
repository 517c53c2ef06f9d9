//! `digest preview`.

use super::support::{Config, Site, fixture, output, repo, run, shared_smtp};

/// The small fixture site with a config that pins every value the rendered
/// email shows.
fn small_site() -> Site {
    pinned_site(&fixture("small/content"))
}

fn pinned_site(content: &std::path::Path) -> Site {
    let site = Site::with_content(content);
    site.config(
        &Config::new()
            .newsletter("name", "The AI Glossary Weekly")
            .newsletter("site_url", "https://glossary.example")
            .newsletter("public_url", "https://glossary.example/digest")
            .newsletter(
                "postal_address",
                "AI Glossary, 1 Example Street, Springfield",
            )
            .smtp_url(&shared_smtp().url()),
    );
    site
}

fn preview(site: &Site, args: &[&str]) -> (String, String) {
    let mut all = vec!["preview"];
    all.extend_from_slice(args);
    let assert = site.digest(&all).assert().success();
    output(&assert)
}

#[test]
fn preview_writes_html_and_text_and_prints_both_paths() {
    let site = small_site();
    let (stdout, stderr) = preview(&site, &["--week", "2026-W48"]);
    assert_eq!(stdout, "preview/2026-W48.html\npreview/2026-W48.txt\n");
    assert!(
        stderr.contains("2026-W48: The AI Glossary Weekly: Tokens + 3 new terms"),
        "{stderr}"
    );
    assert!(site.path("preview/2026-W48.html").is_file());
    assert!(site.path("preview/2026-W48.txt").is_file());
}

#[test]
fn rendered_issue_matches_the_snapshots() {
    let site = small_site();
    preview(&site, &["--week", "2026-W48"]);
    insta::assert_snapshot!("w48_html", site.read("preview/2026-W48.html"));
    insta::assert_snapshot!("w48_text", site.read("preview/2026-W48.txt"));
    preview(
        &site,
        &["--week", "2026-W48", "--role", "executive", "--out", "exec"],
    );
    insta::assert_snapshot!("w48_executive_text", site.read("exec/2026-W48.txt"));
}

/// The repository's own glossary, as subscribers get it: a change to the
/// content or the templates that makes the real email worse shows here in
/// review. The week has an editor's note and two new terms.
#[test]
fn the_real_issue_matches_the_snapshots() {
    let site = pinned_site(&repo().join("content"));
    preview(&site, &["--week", "2026-W50"]);
    insta::assert_snapshot!("real_w50_html", site.read("preview/2026-W50.html"));
    insta::assert_snapshot!("real_w50_text", site.read("preview/2026-W50.txt"));
}

#[test]
fn the_default_week_is_the_current_one_in_the_configured_time_zone() {
    let site = small_site();
    // Sunday 29 Nov, 23:30 in Los Angeles: already Monday (W49) in UTC.
    let late_sunday = "2026-11-30T07:30:00Z";
    let assert = site
        .digest(&["preview"])
        .env("DIGEST_NOW", late_sunday)
        .assert()
        .success();
    assert_eq!(
        output(&assert).0,
        "preview/2026-W49.html\npreview/2026-W49.txt\n"
    );
    site.config(&Config::new().newsletter("timezone", "America/Los_Angeles"));
    let assert = site
        .digest(&["preview"])
        .env("DIGEST_NOW", late_sunday)
        .assert()
        .success();
    assert_eq!(
        output(&assert).0,
        "preview/2026-W48.html\npreview/2026-W48.txt\n"
    );
}

#[test]
fn the_html_email_follows_the_email_rules() {
    let site = small_site();
    preview(&site, &["--week", "2026-W48", "--role", "business_owner"]);
    let html = site.read("preview/2026-W48.html");
    assert!(html.len() < 102 * 1024, "{} bytes", html.len());
    assert!(html.contains("<html lang=\"en-US\" dir=\"ltr\""));
    let tables = html.matches("<table").count();
    assert!(tables >= 2);
    assert_eq!(
        tables,
        html.matches("role=\"presentation\"").count(),
        "every table is presentational"
    );
    assert!(html.contains("width=\"600\""));
    // CSS is inlined; only media queries stay in <style>.
    let style = html
        .split("<style>")
        .nth(1)
        .expect("a style block")
        .split("</style>")
        .next()
        .unwrap();
    assert!(style.contains("@media only screen and (max-width: 620px)"));
    assert!(style.contains("@media (prefers-color-scheme: dark)"));
    assert!(style.trim_start().starts_with("@media"), "{style}");
    assert!(
        !style.contains("#eef6f2"),
        "plain rules are inlined, not kept: {style}"
    );
    assert!(
        html.contains("background-color: #eef6f2"),
        "the example box style is inlined"
    );
    assert!(html.contains("style=\""));
    // Preheader: what else is inside, under 100 characters.
    let pre = html.split("class=\"preheader\"").nth(1).unwrap();
    let pre = &pre[pre.find('>').unwrap() + 1..];
    // The other contents, then invisible padding that keeps body text out
    // of the inbox preview.
    let pre_text = &pre[..pre.find(['\u{34f}', '<']).unwrap()];
    assert_eq!(
        pre_text,
        "Also new: Retrieval-augmented generation (RAG), Pre-training and Fine-tuning"
    );
    let padding = &pre[pre_text.len()..pre.find('<').unwrap()];
    assert!(padding.matches('\u{34f}').count() >= 80, "{padding}");
    // The charset first in <head>, lang and dir also inside <body>, which is
    // all Gmail keeps.
    assert!(html.contains("<head><meta charset=\"utf-8\">"));
    assert!(html.contains("<div class=\"wrapper\" dir=\"ltr\" lang=\"en-US\">"));
    // The masthead keeps the brand colour through inlining.
    let brand = html.split("<a class=\"brand\"").nth(1).unwrap();
    let brand = &brand[..brand.find('>').unwrap()];
    assert!(brand.contains("color: #0f5c4a"), "{brand}");
    // Headings a screen reader can jump between; callouts in table cells,
    // whose padding and border Outlook keeps.
    assert!(html.contains("<h3 class=\"question\""));
    assert!(html.contains("<h3 class=\"role-label\""));
    assert!(html.contains("<td class=\"example\""));
    assert!(html.contains("<td class=\"role-mine\""));
    assert!(!html.contains("<div class=\"example\""));
    assert!(html.contains("An illustration: the company and its figures are invented."));
    // Outlook.com's dark mode rules stay as written.
    assert!(html.contains("<style data-css-inline=\"keep\">"));
    assert!(html.contains("[data-ogsc] h1"));
    assert!(html.contains("[data-ogsb] .card"));
    // Every email says how to subscribe, for whoever it was forwarded to.
    assert!(
        html.contains("Forwarded this? Subscribe at <a href=\"https://glossary.example/digest/\"")
    );
    // Links.
    assert!(html.contains("href=\"https://glossary.example/digest/unsubscribe/preview\""));
    assert!(html.contains("href=\"https://glossary.example/digest/archive/2026-W48\""));
    for slug in ["tokens", "embeddings", "pre-training", "rag", "fine-tuning"] {
        assert!(
            html.contains(&format!(
                "href=\"https://glossary.example/glossary/{slug}\""
            )),
            "link to {slug}"
        );
    }
    assert!(html.contains("AI Glossary, 1 Example Street, Springfield"));
    // The reader's role comes first and stands out.
    let mine = html
        .find("For you, as business owner")
        .expect("highlighted role");
    let others = html.find(">Technical lead<").expect("other roles follow");
    assert!(mine < others);
    assert!(!html.contains("<script"));
}

#[test]
fn the_editors_note_opens_both_parts() {
    let site = small_site();
    site.write(
        "content/_issues/2026-W48.md",
        "+++\npreheader = \"Tokens, RAG and a word from us\"\n+++\nA **short** note before the tokens.\n",
    );
    let (_, stderr) = preview(&site, &["--week", "2026-W48"]);
    assert!(
        stderr.contains("The AI Glossary Weekly: Tokens + 3 new terms"),
        "no subject in the note: subject.txt still writes it; {stderr}"
    );
    let html = site.read("preview/2026-W48.html");
    let note = html.find("From the editor").expect("the note's heading");
    assert!(
        note < html.find("Term of the week").unwrap(),
        "the note comes first"
    );
    assert!(html.contains("A <strong>short</strong> note before the tokens."));
    assert!(html.contains(">Tokens, RAG and a word from us"));
    let text = site.read("preview/2026-W48.txt");
    let note = text
        .find("FROM THE EDITOR")
        .expect("the note in the text part");
    assert!(note < text.find("TERM OF THE WEEK").unwrap());
    assert!(text.contains("A short note before the tokens."));

    // Another week has no note.
    preview(&site, &["--week", "2026-W49"]);
    assert!(
        !site
            .read("preview/2026-W49.html")
            .contains("From the editor")
    );
}

#[test]
fn the_locale_sets_the_date_and_lang_and_reply_to_invites_replies() {
    let site = small_site();
    preview(&site, &["--week", "2026-W48"]);
    let html = site.read("preview/2026-W48.html");
    assert!(html.contains("Sunday, November 29, 2026"));
    assert!(
        !html.contains("Reply to this email"),
        "no reply_to, no invitation"
    );
    site.config(
        &Config::new()
            .newsletter("locale", "en-GB")
            .newsletter("reply_to", "Editor <editor@glossary.example>"),
    );
    preview(&site, &["--week", "2026-W48"]);
    let html = site.read("preview/2026-W48.html");
    assert!(html.contains("Sunday, 29 November 2026"));
    assert!(html.contains("<html lang=\"en-GB\""));
    assert!(html.contains("lang=\"en-GB\">"), "on the wrapper too");
    assert!(html.contains("Reply to this email: it reaches the editor."));
    let text = site.read("preview/2026-W48.txt");
    assert!(text.starts_with("The AI Glossary Weekly | Sunday, 29 November 2026"));
    assert!(text.contains("Reply to this\nemail: it reaches the editor."));

    site.config(&Config::new().newsletter("locale", "fr-FR"));
    let assert = site
        .digest(&["preview", "--week", "2026-W48"])
        .assert()
        .code(2);
    let (_, stderr) = output(&assert);
    assert!(
        stderr.contains("`newsletter.locale` = \"fr-FR\": not a locale the digest knows; use one of \"en-US\", \"en-GB\""),
        "{stderr}"
    );
}

#[test]
fn the_text_part_is_wrapped_at_72_columns_with_full_urls() {
    let site = small_site();
    preview(&site, &["--week", "2026-W48"]);
    let text = site.read("preview/2026-W48.txt");
    for line in text.lines() {
        let fits = line.chars().count() <= 72;
        let unbreakable = !line.trim().contains(' ') || line.contains("https://");
        assert!(fits || unbreakable, "line over 72 columns: {line:?}");
    }
    assert!(text.contains("embeddings (https://glossary.example/glossary/embeddings)"));
    assert!(text.contains("https://glossary.example/digest/unsubscribe/preview"));
    assert!(!text.contains("**"), "Markdown is rendered, not shown");
    assert!(!text.contains('<'), "no HTML in the text part");
}

#[test]
fn feature_overrides_the_rotation() {
    let site = small_site();
    let (_, stderr) = preview(&site, &["--week", "2026-W48", "--feature", "rag"]);
    assert!(
        stderr
            .contains("The AI Glossary Weekly: Retrieval-augmented generation (RAG) + 2 new terms"),
        "{stderr}"
    );
}

#[test]
fn a_user_template_overrides_the_built_in() {
    let site = small_site();
    site.write(
        "templates/subject.txt",
        "Weekly: {{ featured.title }} ({{ issue.week }})",
    );
    let (_, stderr) = preview(&site, &["--week", "2026-W48"]);
    assert!(
        stderr.contains("2026-W48: Weekly: Tokens (2026-W48)"),
        "{stderr}"
    );
}

#[test]
fn a_broken_user_template_is_bad_input() {
    let site = small_site();
    site.write("templates/digest.txt", "{% if %}");
    let assert = site
        .digest(&["preview", "--week", "2026-W48"])
        .assert()
        .code(2);
    let (_, stderr) = output(&assert);
    assert!(stderr.contains("does not compile"), "{stderr}");
    assert!(stderr.contains("digest.txt"), "{stderr}");
    assert!(!site.path("preview").exists(), "nothing half-written");
}

#[test]
fn bad_arguments_exit_2_with_the_accepted_forms() {
    let site = small_site();
    let cases: &[(&[&str], &str)] = &[
        (&["--week", "2026-W54"], "2026 has weeks 01 to 53"),
        (
            &["--week", "last week"],
            "write an ISO week as YYYY-Www, e.g. 2026-W48",
        ),
        (
            &["--role", "ceo"],
            "use one of technical_lead, business_owner, executive",
        ),
        (&["--feature", "fine-tunin"], "did you mean `fine-tuning`?"),
        (
            &["--feature", "agents", "--week", "2026-W48"],
            "scheduled for 2026-12-02",
        ),
        (
            &["--week", "2026-W40"],
            "no term is published by 2026-10-04",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["preview"];
        all.extend_from_slice(args);
        let assert = site.digest(&all).assert().code(2);
        let (_, stderr) = output(&assert);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert!(!site.path("preview").exists());
}

#[test]
fn a_bad_config_names_the_file_the_key_and_the_fix() {
    let site = small_site();
    site.write("digest.toml", "[newsletter]\ntimezone = \"Europe/Pari\"\n");
    let assert = site.digest(&["preview"]).assert().code(2);
    let (_, stderr) = output(&assert);
    assert!(stderr.contains("digest.toml:2: `newsletter.timezone` = \"Europe/Pari\": not a time zone; did you mean \"Europe/Paris\"?"), "{stderr}");

    let assert = site
        .digest(&["--config", "missing.toml", "preview"])
        .assert()
        .code(2);
    assert!(
        output(&assert)
            .1
            .contains("config file missing.toml does not exist")
    );
    // The global flag works after the subcommand too.
    let assert = site
        .digest(&["preview", "--config", "missing.toml"])
        .assert()
        .code(2);
    assert!(
        output(&assert)
            .1
            .contains("config file missing.toml does not exist")
    );
}

#[test]
fn broken_content_blocks_the_preview() {
    let site = small_site();
    site.write("content/bad.md", "no front matter\n");
    let assert = site
        .digest(&["preview", "--week", "2026-W48"])
        .assert()
        .code(2);
    let (_, stderr) = output(&assert);
    assert!(
        stderr.contains("content/bad.md:1: no front matter"),
        "{stderr}"
    );
}

#[test]
fn preview_never_creates_the_database() {
    let site = small_site();
    preview(&site, &["--week", "2026-W48"]);
    assert!(!site.path("subscribers").exists());
}

#[test]
fn every_past_week_of_the_real_glossary_has_new_terms() {
    let site = Site::with_content(&repo().join("content"));
    for week in 37..=48 {
        let week = format!("2026-W{week:02}");
        preview(&site, &["--week", &week]);
        let text = site.read(&format!("preview/{week}.txt"));
        assert!(text.contains("NEW THIS WEEK"), "{week} has no new terms");
        let html = site.read(&format!("preview/{week}.html"));
        assert!(html.len() < 102 * 1024, "{week}: {} bytes", html.len());
    }
}

/// Send `week` featuring `featured` to one subscriber, the way a user does,
/// with `subject` as the subject template (removed again afterwards): the
/// issue is frozen in the site's database.
fn send_issue(site: &Site, week: &str, subject: &str, featured: &str) {
    let subscribe = run(site, &["subscribe", "preview-reader@example.com"]);
    assert_eq!(subscribe.code, 0, "{subscribe:#?}");
    site.write("templates/subject.txt", subject);
    let send = run(site, &["send", "--week", week, "--feature", featured]);
    std::fs::remove_file(site.path("templates/subject.txt")).unwrap();
    assert_eq!(send.code, 0, "{send:#?}");
    assert!(
        send.stdout
            .starts_with(&format!("{week}: sent 1, failed 0,")),
        "{send:#?}"
    );
}

#[test]
fn preview_honours_the_issues_already_sent() {
    let site = small_site();
    send_issue(&site, "2026-W47", "Old subject", "tokens");
    let before = std::fs::read(site.path("subscribers/digest.db")).unwrap();
    // W48 follows W47: tokens was featured, so the rotation moves on, and
    // everything added since W47's Sunday is new.
    let (_, stderr) = preview(&site, &["--week", "2026-W48"]);
    assert!(
        stderr.contains("2026-W48: The AI Glossary Weekly: Embeddings + 3 new terms"),
        "{stderr}"
    );
    // A week already sent shows what was sent, subject included.
    let (_, stderr) = preview(&site, &["--week", "2026-W47"]);
    assert!(stderr.contains("2026-W47: Old subject"), "{stderr}");
    let text = site.read("preview/2026-W47.txt");
    assert!(text.contains("TERM OF THE WEEK: TOKENS"));
    let assert = site
        .digest(&["preview", "--week", "2026-W47", "--feature", "rag"])
        .assert()
        .code(2);
    assert!(
        output(&assert)
            .1
            .contains("was already sent, featuring `tokens`")
    );
    // Preview only reads the database.
    assert_eq!(
        std::fs::read(site.path("subscribers/digest.db")).unwrap(),
        before
    );
}

#[test]
fn serve_options_that_do_not_go_together_exit_2() {
    let site = small_site();
    for (args, says) in [
        (
            vec!["preview", "--listen", "127.0.0.1:0"],
            "the following required arguments were not provided:\n  --serve",
        ),
        (
            vec!["preview", "--serve", "--week", "2026-W48"],
            "the argument '--serve' cannot be used with '--week <WEEK>'",
        ),
        (
            vec!["preview", "--serve", "--role", "executive"],
            "the argument '--serve' cannot be used with '--role <ROLE>'",
        ),
        (
            vec!["preview", "--serve", "--out", "elsewhere"],
            "the argument '--serve' cannot be used with '--out <DIR>'",
        ),
    ] {
        let assert = site.digest(&args).assert().code(2);
        let (_, stderr) = output(&assert);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert!(!site.path("elsewhere").exists());
}
