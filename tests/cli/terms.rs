//! `digest terms check` and `digest terms list`.
//!
//! Every folder under `tests/fixtures/invalid_sites/` is a broken glossary
//! with an `expected.txt` beside its term files: the exact standard error of
//! `terms check` on it. A new folder is picked up without touching this file.

use std::path::PathBuf;

use crate::support::{Site, fixture, output, repo};

/// The broken glossaries, sorted by folder name.
fn invalid_sites() -> Vec<PathBuf> {
    let root = fixture("invalid_sites");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_invalid_site_reports_its_problems_exactly() {
    let sites = invalid_sites();
    assert!(
        sites.len() >= 16,
        "expected at least 16 fixture folders under invalid_sites/, found {}",
        sites.len()
    );
    let mut failures = Vec::new();
    for dir in &sites {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected_path = dir.join("expected.txt");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("invalid_sites/{name}: {}: {e}", expected_path.display()));
        let site = Site::with_content(dir);
        let assert = site.digest(&["terms", "check"]).assert();
        let code = assert.get_output().status.code();
        let (stdout, stderr) = output(&assert);
        if code != Some(2) {
            failures.push(format!(
                "invalid_sites/{name}: exit code {code:?}, expected 2\nstdout:\n{stdout}\nstderr:\n{stderr}"
            ));
            continue;
        }
        if !stdout.is_empty() {
            failures.push(format!(
                "invalid_sites/{name}: expected nothing on stdout, got:\n{stdout}"
            ));
        }
        let want = expected.strip_suffix('\n').unwrap_or(&expected);
        let got = stderr.strip_suffix('\n').unwrap_or(&stderr);
        if got != want {
            failures.push(format!(
                "invalid_sites/{name}: stderr differs from expected.txt\n--- expected\n{want}\n--- got\n{got}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} invalid sites failed:\n\n{}",
        failures.len(),
        sites.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_real_glossary_checks_clean() {
    let site = Site::with_content(&repo().join("content"));
    let assert = site.digest(&["terms", "check"]).assert().success();
    let (stdout, stderr) = output(&assert);
    assert_eq!(
        stdout.trim_end(),
        "61 terms, 18 scheduled, 1 editor's note, ok",
        "stderr: {stderr}"
    );
}

#[test]
fn the_small_fixture_checks_clean_with_one_term_scheduled() {
    let site = Site::with_content(&fixture("small/content"));
    let assert = site.digest(&["terms", "check"]).assert().success();
    let (stdout, stderr) = output(&assert);
    assert_eq!(
        stdout.trim_end(),
        "6 terms, 1 scheduled, ok",
        "stderr: {stderr}"
    );
    assert!(stderr.is_empty(), "unexpected stderr: {stderr}");
}

#[test]
fn listing_as_json_gives_every_slug_date_and_status() {
    let site = Site::with_content(&fixture("small/content"));
    let assert = site
        .digest(&["terms", "list", "--format", "json"])
        .assert()
        .success();
    let (stdout, stderr) = output(&assert);
    assert!(stderr.is_empty(), "unexpected stderr: {stderr}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"));
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|row| {
            (
                row["slug"].as_str().expect("slug"),
                row["added"].as_str().expect("added"),
                row["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("tokens", "2026-11-02", "published"),
            ("embeddings", "2026-11-10", "published"),
            ("rag", "2026-11-24", "published"),
            ("pre-training", "2026-11-26", "published"),
            ("fine-tuning", "2026-11-29", "published"),
            ("agents", "2026-12-02", "scheduled"),
        ]
    );
}

#[test]
fn listing_as_a_table_starts_with_a_header_row() {
    let site = Site::with_content(&fixture("small/content"));
    let assert = site.digest(&["terms", "list"]).assert().success();
    let (stdout, _) = output(&assert);
    let header: Vec<&str> = stdout
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["SLUG", "TITLE", "ADDED", "STATUS", "TAGS"],
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().count(),
        7,
        "a header and six terms:\n{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("agents ") && l.contains("scheduled")),
        "{stdout}"
    );
}

#[test]
fn an_empty_content_folder_is_an_input_error() {
    let site = Site::new();
    let assert = site.digest(&["terms", "check"]).assert().code(2);
    let (stdout, stderr) = output(&assert);
    assert!(stdout.is_empty(), "unexpected stdout: {stdout}");
    assert!(stderr.contains("no term files (*.md) here"), "{stderr}");
}

#[test]
fn a_missing_content_folder_is_named_in_the_error() {
    let site = Site::new();
    site.write("digest.toml", "[paths]\ncontent = \"nope\"\n");
    let assert = site.digest(&["terms", "check"]).assert().code(2);
    let (_, stderr) = output(&assert);
    assert!(
        stderr.contains("the content folder `nope` does not exist"),
        "the error should name the folder: {stderr}"
    );
}
