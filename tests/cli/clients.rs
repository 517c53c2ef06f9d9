//! The issue against the mail clients' support tables: doiuse-email (npm,
//! the caniemail data) checks the HTML `preview` writes for Gmail (every
//! app), Apple Mail, Outlook on Windows (the desktop app and Windows Mail)
//! and Yahoo. Everything it reports must be in [`ACCEPTED`], with the
//! fallback that covers it; an accepted line it no longer reports must go.
//!
//! The package's client list has no Outlook.com entry; Windows Mail, which
//! runs the same web engine, stands in for it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use super::support::{Site, copy_dir, output, repo};

const CLIENTS: [&str; 5] = [
    "gmail.*",
    "apple-mail.*",
    "outlook.windows",
    "outlook.windows-mail",
    "yahoo.*",
];

/// What a client lacks and why the email still reads well there: feature,
/// the clients that lack it, the fallback.
const ACCEPTED: &[(&str, &[&str], &str)] = &[
    (
        "@media",
        &[
            "gmail.mobile-webmail",
            "outlook.windows",
            "outlook.windows-mail",
        ],
        "the phone layout and dark mode refine a layout that is whole without them: \
         widths are inline and the 600px table shrinks to fit",
    ),
    (
        "Attribute selector",
        &[
            "gmail.mobile-webmail",
            "outlook.windows",
            "outlook.windows-mail",
        ],
        "only the [data-ogsc]/[data-ogsb] rules use it, and only Outlook.com's dark mode sets them",
    ),
    (
        "Class selector",
        &["gmail.mobile-webmail"],
        "every rule is also inlined; the <style> block only carries media queries",
    ),
    (
        "Descendant combinator",
        &["gmail.mobile-webmail"],
        "every rule is also inlined; the <style> block only carries media queries",
    ),
    (
        "Type selector",
        &["gmail.mobile-webmail"],
        "every rule is also inlined; the <style> block only carries media queries",
    ),
    (
        "<body> element",
        &["yahoo.android", "yahoo.ios"],
        "the body's background and font are repeated on the .page table",
    ),
    (
        "border-radius",
        &["outlook.windows", "outlook.windows-mail"],
        "square corners",
    ),
    (
        "display:none",
        &["gmail.mobile-webmail"],
        "the preheader is also hidden by 1px font, zero max-height, opacity and overflow",
    ),
    (
        "opacity",
        &[
            "gmail.mobile-webmail",
            "outlook.windows",
            "outlook.windows-mail",
            "yahoo.android",
            "yahoo.desktop-webmail",
            "yahoo.ios",
        ],
        "the preheader is also hidden by display:none, mso-hide and zero max-height",
    ),
    (
        "overflow",
        &["outlook.windows", "outlook.windows-mail", "yahoo.android"],
        "the preheader is also hidden by display:none and mso-hide",
    ),
    (
        "role attribute",
        &["outlook.windows-mail"],
        "the tables are layout either way; the attribute only helps screen readers elsewhere",
    ),
    (
        "white-space",
        &["outlook.windows", "outlook.windows-mail"],
        "related-term links and code wrap like any text",
    ),
];

/// "`opacity` is not supported by `yahoo.ios`" → ("opacity", "yahoo.ios").
fn parse_error(line: &str) -> (String, String) {
    let parts: Vec<&str> = line.split('`').collect();
    match parts.as_slice() {
        [_, feature, " is not supported by ", client, ..] => {
            (feature.to_string(), client.to_string())
        }
        _ => panic!("doiuse-email wrote an error of an unknown shape: {line}"),
    }
}

#[test]
#[cfg_attr(
    missing_doiuse_email,
    ignore = "doiuse-email not installed: run scripts/install-test-deps.sh"
)]
fn the_issue_uses_nothing_a_client_lacks_without_a_fallback() {
    let module =
        repo().join("target/test-tools/node_modules/@jsx-email/doiuse-email/dist/index.mjs");
    assert!(
        module.exists(),
        "doiuse-email is missing at {}: run scripts/install-test-deps.sh",
        module.display()
    );
    // The real glossary, with every part an issue can have: the editor's
    // note, the reader's role, the reply invitation.
    let site = Site::new();
    copy_dir(&repo().join("content"), &site.path("content"));
    site.write(
        "content/_issues/2026-W48.md",
        "A short word before the tokens.\n",
    );
    site.write(
        "digest.toml",
        "[newsletter]\nreply_to = \"Editor <editor@glossary.example>\"\n",
    );
    let assert = site
        .digest(&["preview", "--week", "2026-W48", "--role", "business_owner"])
        .assert()
        .success();
    output(&assert);

    let out = Command::new("node")
        .arg(repo().join("tests/fixtures/email/doiuse.mjs"))
        .arg(&module)
        .arg(site.path("preview/2026-W48.html"))
        .args(CLIENTS)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "doiuse-email failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let mut reported: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in found["errors"].as_array().expect("errors") {
        let (feature, client) = parse_error(line.as_str().expect("a string"));
        reported.entry(feature).or_default().insert(client);
    }

    let accepted: BTreeMap<&str, &[&str]> = ACCEPTED.iter().map(|(f, c, _)| (*f, *c)).collect();
    let mut unaccepted = Vec::new();
    for (feature, clients) in &reported {
        for client in clients {
            let ok = accepted
                .get(feature.as_str())
                .is_some_and(|list| list.contains(&client.as_str()));
            if !ok {
                unaccepted.push(format!("`{feature}` in {client}"));
            }
        }
    }
    assert!(
        unaccepted.is_empty(),
        "the issue uses what these clients lack; give it a fallback and list it in ACCEPTED, \
         or stop using it:\n{}",
        unaccepted.join("\n")
    );
    let stale: Vec<&str> = accepted
        .keys()
        .filter(|f| !reported.contains_key(**f))
        .copied()
        .collect();
    assert!(
        stale.is_empty(),
        "no longer reported, so remove from ACCEPTED: {stale:?}"
    );
}
