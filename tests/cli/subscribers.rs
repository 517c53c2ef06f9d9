//! `digest subscribe`, `digest unsubscribe` and `digest subscribers list |
//! import | export`, against the built binary and a real SQLite file.
//!
//! The broken-CSV corpus lives in `tests/fixtures/bad_csv/`: every file there
//! that does not end in `.expected` is imported into a fresh site whose
//! database already holds `seed@example.com`, and compared with its sibling
//! `<file name>.expected`, which reads:
//!
//! ```text
//! exit: 1                                   <- the exit code (first line)
//! stdout: imported 0, skipped 0 existing, rejected 2
//! ---                                       <- everything after this line
//! FILE:2: reason                               is the exact standard error
//! error: ...
//! ```
//!
//! `stdout:` holds the one summary line (nothing after the colon: nothing on
//! standard output). When nothing was imported the database file must be
//! byte-for-byte unchanged.

mod formats;

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::support::db::{DB, db, list_json, subscriber};
use super::support::run::{NOW, ok, run_at};
use super::support::{Run, Site, finish, fixture, output, run};

fn said(stdout: &str) -> (i32, String, String) {
    (0, stdout.to_string(), String::new())
}

fn failed(code: i32, stderr: &str) -> (i32, String, String) {
    (code, String::new(), stderr.to_string())
}

fn db_bytes(site: &Site, rel: &str) -> Vec<u8> {
    std::fs::read(site.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A site whose database exists and holds one active subscriber.
fn seeded_site() -> Site {
    let site = Site::new();
    assert_eq!(
        run(&site, &["subscribe", "seed@example.com"]),
        said("subscribed seed@example.com\n")
    );
    site
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

// ---------------------------------------------------------------- subscribe

#[test]
fn subscribing_a_new_address_makes_it_active_and_subscribing_it_again_changes_nothing() {
    let site = Site::new();
    assert_eq!(
        run(&site, &["subscribe", "ada@example.com"]),
        said("subscribed ada@example.com\n")
    );
    assert_eq!(
        run_at(
            &site,
            "2026-12-01T08:00:00Z",
            &["subscribe", "ada@example.com"]
        ),
        said("already subscribed: ada@example.com\n")
    );
    let ada = subscriber(&site, "ada@example.com");
    assert_eq!(ada["status"], "active");
    assert_eq!(ada["created_at"], NOW);
    assert_eq!(
        ada["confirmed_at"], NOW,
        "a second subscribe must not re-stamp"
    );
    assert_eq!(ada["unsubscribed_at"], Value::Null);
}

#[test]
fn subscribing_with_pending_adds_a_pending_subscriber_that_a_plain_subscribe_confirms() {
    let site = Site::new();
    assert_eq!(
        run(&site, &["subscribe", "bob@example.com", "--pending"]),
        said("added bob@example.com as pending and sent the confirmation email\n")
    );
    let bob = subscriber(&site, "bob@example.com");
    assert_eq!(bob["status"], "pending");
    assert_eq!(bob["confirmed_at"], Value::Null);
    assert_eq!(
        run(&site, &["subscribe", "bob@example.com", "--pending"]),
        said(
            "already pending: a confirmation email went to bob@example.com less than 10 minutes ago\n"
        )
    );
    assert_eq!(
        run_at(
            &site,
            "2026-11-30T10:00:00Z",
            &["subscribe", "bob@example.com"]
        ),
        said("subscribed bob@example.com (was pending confirmation)\n")
    );
    let bob = subscriber(&site, "bob@example.com");
    assert_eq!(bob["status"], "active");
    assert_eq!(bob["created_at"], NOW);
    assert_eq!(bob["confirmed_at"], "2026-11-30T10:00:00Z");
}

#[test]
fn an_unsubscribed_address_subscribed_again_is_re_subscribed_and_says_what_it_was() {
    let site = Site::new();
    ok(&site, &["subscribe", "ada@example.com"]);
    ok(&site, &["unsubscribe", "ada@example.com"]);
    assert_eq!(
        run_at(
            &site,
            "2026-12-02T09:00:00Z",
            &["subscribe", "ada@example.com"]
        ),
        said("re-subscribed: ada@example.com (was unsubscribed)\n")
    );
    let ada = subscriber(&site, "ada@example.com");
    assert_eq!(ada["status"], "active");
    assert_eq!(ada["confirmed_at"], "2026-12-02T09:00:00Z");
    assert_eq!(ada["unsubscribed_at"], Value::Null);

    ok(&site, &["unsubscribe", "ada@example.com"]);
    assert_eq!(
        run(&site, &["subscribe", "ada@example.com", "--pending"]),
        said("pending again: ada@example.com (was unsubscribed); sent the confirmation email\n")
    );
    assert_eq!(subscriber(&site, "ada@example.com")["status"], "pending");
}

#[test]
fn addresses_are_unique_whatever_their_case_and_the_domain_is_stored_lower_cased() {
    let site = Site::new();
    assert_eq!(
        run(&site, &["subscribe", "Ada@Example.COM"]),
        said("subscribed Ada@example.com\n")
    );
    assert_eq!(
        run(&site, &["subscribe", "ada@example.com"]),
        said("already subscribed: ada@example.com\n")
    );
    assert_eq!(
        run(&site, &["subscribe", "ADA@EXAMPLE.COM"]),
        said("already subscribed: ADA@example.com\n")
    );
    let rows = list_json(&site, &[]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(
        rows[0]["email"], "Ada@example.com",
        "the local part keeps its case"
    );
    assert_eq!(
        run(&site, &["unsubscribe", "ada@EXAMPLE.com"]),
        said("unsubscribed ada@example.com\n")
    );
    assert_eq!(
        subscriber(&site, "Ada@example.com")["status"],
        "unsubscribed"
    );
}

#[test]
fn names_with_line_breaks_over_100_characters_or_starting_like_a_formula_are_refused() {
    let site = Site::new();
    let long = "x".repeat(101);
    let cases: &[(&str, &str)] = &[
        (
            "--name=Ada\r\nBcc: evil@example.com",
            "the name contains a control character (such as a line break); names go into email headers",
        ),
        (
            "--name=Ada\nLovelace",
            "the name contains a control character (such as a line break); names go into email headers",
        ),
        (
            &format!("--name={long}"),
            "the name is longer than 100 characters",
        ),
        (
            "--name==cmd|' /C calc'!A0",
            "the name starts with `=`, which a spreadsheet would run as a formula; remove it",
        ),
        (
            "--name=+1 555 0100",
            "the name starts with `+`, which a spreadsheet would run as a formula; remove it",
        ),
        (
            "--name=-2+3",
            "the name starts with `-`, which a spreadsheet would run as a formula; remove it",
        ),
        (
            "--name=@SUM(A1)",
            "the name starts with `@`, which a spreadsheet would run as a formula; remove it",
        ),
    ];
    for (arg, why) in cases {
        assert_eq!(
            run(&site, &["subscribe", "ada@example.com", arg]),
            failed(2, &format!("error: --name: {why}\n")),
            "{arg:?}"
        );
    }
    assert!(
        !site.path("subscribers").exists(),
        "a refused subscribe must not create the database"
    );
    // 100 characters is the limit, not over it.
    let hundred = "y".repeat(100);
    ok(&site, &["subscribe", "ada@example.com", "--name", &hundred]);
    assert_eq!(
        subscriber(&site, "ada@example.com")["name"],
        hundred.as_str()
    );
}

#[test]
fn an_unknown_role_is_refused_with_the_roles_there_are() {
    let site = Site::new();
    for role in ["ceo", "Executive", ""] {
        let Run {
            code,
            stdout,
            stderr,
            ..
        } = run(&site, &["subscribe", "ada@example.com", "--role", role]);
        assert_eq!(code, 2, "{role:?}: {stderr}");
        assert_eq!(stdout, "");
        assert!(
            stderr.starts_with(&format!(
                "error: invalid value '{role}' for '--role <ROLE>': unknown role `{role}`; \
                 use one of technical_lead, business_owner, executive\n"
            )),
            "{role:?}: {stderr}"
        );
    }
    assert!(!site.path("subscribers").exists());
    ok(
        &site,
        &["subscribe", "ada@example.com", "--role", "business_owner"],
    );
    assert_eq!(
        subscriber(&site, "ada@example.com")["role"],
        "business_owner"
    );
}

#[test]
fn invalid_addresses_are_refused_with_the_reason() {
    let site = Site::new();
    let hint = "give an address like ada@example.com";
    let cases = [
        (
            "a@b",
            "`a@b` is not an email address: the domain has no dot (expected something like example.com)",
        ),
        ("ada", "`ada` is not an email address: there is no @"),
        (
            "ada@example.com.",
            "`ada@example.com.` is not an email address: the domain ends with a dot",
        ),
        ("", "the address is empty"),
        ("   ", "the address is empty"),
        (
            "ada@[127.0.0.1]",
            "`ada@[127.0.0.1]` is not an email address: use a domain name, not an IP address",
        ),
    ];
    for (address, why) in cases {
        assert_eq!(
            run(&site, &["subscribe", address]),
            failed(2, &format!("error: {why}; {hint}\n")),
            "{address:?}"
        );
        assert_eq!(
            run(&site, &["unsubscribe", address]),
            failed(2, &format!("error: {why}; {hint}\n")),
            "unsubscribe {address:?}"
        );
    }
    assert!(!site.path("subscribers").exists());
}

#[test]
fn the_database_is_the_db_option_before_or_after_the_subcommand_or_digest_db_or_the_config() {
    let site = Site::new();
    ok(&site, &["--db", "other.db", "subscribe", "a@example.com"]);
    assert!(site.path("other.db").is_file());
    ok(
        &site,
        &["subscribe", "b@example.com", "--db", "deep/dir/x.db"],
    );
    assert!(
        site.path("deep/dir/x.db").is_file(),
        "the folder is created too"
    );

    let mut cmd = site.digest(&["subscribe", "c@example.com"]);
    cmd.env("DIGEST_DB", "env.db");
    assert_eq!(finish(cmd), said("subscribed c@example.com\n"));
    assert!(site.path("env.db").is_file());

    // The option wins over the environment.
    let mut cmd = site.digest(&["--db", "flag.db", "subscribe", "d@example.com"]);
    cmd.env("DIGEST_DB", "env.db");
    assert_eq!(finish(cmd), said("subscribed d@example.com\n"));
    assert!(site.path("flag.db").is_file());
    assert!(
        !site.path("subscribers").exists(),
        "none of these may touch the default database"
    );

    // Each database holds only what was written to it.
    let emails = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["subscribers", "list", "--format", "json"];
        all.extend_from_slice(args);
        let rows: Vec<Value> = serde_json::from_str(&ok(&site, &all)).unwrap();
        rows.iter()
            .map(|r| r["email"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(emails(&["--db", "other.db"]), ["a@example.com"]);
    assert_eq!(emails(&["--db", "deep/dir/x.db"]), ["b@example.com"]);
    assert_eq!(emails(&["--db", "env.db"]), ["c@example.com"]);
    assert_eq!(emails(&["--db", "flag.db"]), ["d@example.com"]);

    // `[paths] database`, relative to the config file's folder.
    site.write("digest.toml", "[paths]\ndatabase = \"data/list.db\"\n");
    ok(&site, &["subscribe", "e@example.com"]);
    assert!(site.path("data/list.db").is_file());
    site.write("conf/digest.toml", "");
    ok(
        &site,
        &["--config", "conf/digest.toml", "subscribe", "f@example.com"],
    );
    assert!(site.path("conf/subscribers/digest.db").is_file());
    assert!(!site.path("subscribers").exists());
}

#[test]
fn the_database_is_created_on_the_first_write_in_wal_mode() {
    let site = Site::new();
    ok(&site, &["subscribe", "ada@example.com"]);
    let conn = db(&site);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert!(version >= 1, "schema version {version}");
}

/// Arguments, then the expected exit code, standard output and error.
type Case<'a> = (&'a [&'a str], (i32, &'a str, &'a str));

#[test]
fn commands_that_only_read_never_create_the_database() {
    let site = Site::new();
    site.write("one.csv", "email\nada@example.com\n");
    site.write("no_email.csv", "name\nAda\n");
    let header =
        "email,name,role,status,created_at,confirmed_at,unsubscribed_at,timezone,paused_until\n";
    let cases: &[Case] = &[
        (
            &["subscribers", "list"],
            (
                0,
                "EMAIL  NAME  ROLE            STATUS        CREATED\n0 subscribers\n",
                "",
            ),
        ),
        (
            &["subscribers", "list", "--status", "active"],
            (
                0,
                "EMAIL  NAME  ROLE            STATUS        CREATED\n0 subscribers\n",
                "",
            ),
        ),
        (&["subscribers", "list", "--format", "csv"], (0, header, "")),
        (
            &["subscribers", "list", "--format", "json"],
            (0, "[]\n", ""),
        ),
        (&["subscribers", "export"], (0, header, "")),
        (
            &["subscribers", "export", "--format", "json"],
            (0, "[]\n", ""),
        ),
        (
            &["unsubscribe", "x@example.com"],
            (1, "", "error: no subscriber x@example.com\n"),
        ),
        (
            &["subscribers", "import", "--dry-run", "one.csv"],
            (0, "would import 1, skipped 0 existing, rejected 0\n", ""),
        ),
        // A file refused before any row is read creates nothing either.
        (
            &["subscribers", "import", "no_email.csv"],
            (
                2,
                "",
                "error: no_email.csv: the header row has no `email` column (found: `name`); \
                 the first row must name the columns, e.g. `email,name,role`\n",
            ),
        ),
        (
            &[
                "--db",
                "elsewhere/x.db",
                "subscribers",
                "list",
                "--format",
                "json",
            ],
            (0, "[]\n", ""),
        ),
    ];
    for (args, (code, stdout, stderr)) in cases {
        assert_eq!(
            run(&site, args),
            (*code, stdout.to_string(), stderr.to_string()),
            "digest {args:?}"
        );
        assert!(
            !site.path("subscribers").exists(),
            "digest {args:?} created subscribers/"
        );
    }
    assert!(!site.path("elsewhere").exists());
    let dbs: Vec<PathBuf> = files_under(site.dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".db"))
        .collect();
    assert!(dbs.is_empty(), "{dbs:?}");
}

#[test]
fn tokens_are_long_url_safe_distinct_and_never_printed() {
    let site = Site::new();
    ok(&site, &["subscribe", "ada@example.com", "--name", "Ada"]);
    ok(&site, &["subscribe", "bob@example.com", "--pending"]);
    ok(&site, &["subscribe", "carl@example.com"]);
    ok(&site, &["unsubscribe", "carl@example.com"]);

    let conn = db(&site);
    let mut stmt = conn.prepare("SELECT token FROM subscribers").unwrap();
    let tokens: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(stmt);
    drop(conn);
    assert_eq!(tokens.len(), 3);
    for token in &tokens {
        assert!(
            token.len() >= 22,
            "{token:?} is too short to be unguessable"
        );
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{token:?} is not URL-safe"
        );
    }
    let mut distinct = tokens.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), tokens.len(), "{tokens:?}");

    let outputs: &[&[&str]] = &[
        &["subscribers", "list"],
        &["subscribers", "list", "--format", "csv"],
        &["subscribers", "list", "--format", "json"],
        &["subscribers", "export"],
        &["subscribers", "export", "--format", "json"],
    ];
    for args in outputs {
        let stdout = ok(&site, args);
        assert!(
            stdout.contains("carl@example.com"),
            "digest {args:?}:\n{stdout}"
        );
        for token in &tokens {
            assert!(
                !stdout.contains(token.as_str()),
                "digest {args:?} printed a token:\n{stdout}"
            );
        }
        assert!(
            !stdout.to_ascii_lowercase().contains("token"),
            "digest {args:?}:\n{stdout}"
        );
    }
}

#[test]
fn a_database_from_a_newer_version_is_refused_by_every_command_and_left_untouched() {
    let site = seeded_site();
    // No command writes a schema version from the future: set it by hand,
    // as a newer digest would have left it.
    let conn = db(&site);
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let before = db_bytes(&site, DB);
    site.write("new.csv", "email\nnew@example.com\n");
    let commands: &[&[&str]] = &[
        &["subscribe", "ada@example.com"],
        &["subscribe", "seed@example.com"],
        &["unsubscribe", "seed@example.com"],
        &["subscribers", "list"],
        &["subscribers", "list", "--format", "csv"],
        &["subscribers", "list", "--format", "json"],
        &["subscribers", "export"],
        &["subscribers", "export", "--format", "json"],
        &["subscribers", "import", "new.csv"],
        &["subscribers", "import", "--dry-run", "new.csv"],
    ];
    for args in commands {
        let Run {
            code,
            stdout,
            stderr,
            ..
        } = run(&site, args);
        assert_eq!(code, 1, "digest {args:?}: {stderr}");
        assert_eq!(stdout, "", "digest {args:?}");
        assert!(
            stderr.starts_with(
                "error: subscribers/digest.db was written by a newer version of glossary-digest (schema version 99,"
            ) && stderr.ends_with("it was left untouched: upgrade digest to use it\n"),
            "digest {args:?}: {stderr}"
        );
        assert!(
            db_bytes(&site, DB) == before,
            "digest {args:?} changed the database file"
        );
    }
}

// -------------------------------------------------------------- unsubscribe

#[test]
fn unsubscribe_marks_the_subscriber_and_stamps_the_time_once() {
    let site = Site::new();
    assert_eq!(
        run_at(
            &site,
            "2026-11-20T09:00:00Z",
            &["subscribe", "ada@example.com"]
        ),
        said("subscribed ada@example.com\n")
    );
    assert_eq!(
        run(&site, &["unsubscribe", "ada@example.com"]),
        said("unsubscribed ada@example.com\n")
    );
    let ada = subscriber(&site, "ada@example.com");
    assert_eq!(ada["status"], "unsubscribed");
    assert_eq!(ada["unsubscribed_at"], NOW);
    assert_eq!(ada["created_at"], "2026-11-20T09:00:00Z");
    assert_eq!(ada["confirmed_at"], "2026-11-20T09:00:00Z");

    assert_eq!(
        run_at(
            &site,
            "2026-12-05T00:00:00Z",
            &["unsubscribe", "ada@example.com"]
        ),
        said("already unsubscribed: ada@example.com\n")
    );
    assert_eq!(
        subscriber(&site, "ada@example.com")["unsubscribed_at"],
        NOW,
        "a second unsubscribe keeps the first time"
    );
}

#[test]
fn unsubscribing_an_unknown_address_fails_with_exit_1() {
    let site = seeded_site();
    let before = db_bytes(&site, DB);
    assert_eq!(
        run(&site, &["unsubscribe", "nobody@example.com"]),
        failed(1, "error: no subscriber nobody@example.com\n")
    );
    assert!(db_bytes(&site, DB) == before);
    assert_eq!(subscriber(&site, "seed@example.com")["status"], "active");
}

// --------------------------------------------------------------------- list

/// ada (named, executive, active), bob (pending), carl (technical lead,
/// unsubscribed).
fn three_subscribers() -> Site {
    let site = Site::new();
    ok(
        &site,
        &[
            "subscribe",
            "ada@example.com",
            "--name",
            "Ada Lovelace",
            "--role",
            "executive",
        ],
    );
    let mut cmd = site.digest(&["subscribe", "bob@example.com", "--pending"]);
    cmd.env("DIGEST_NOW", "2026-11-30T08:15:00Z");
    assert_eq!(finish(cmd).code, 0);
    ok(
        &site,
        &["subscribe", "carl@example.com", "--role", "technical_lead"],
    );
    ok(&site, &["unsubscribe", "carl@example.com"]);
    site
}

#[test]
fn list_prints_a_table_with_a_count_and_filters_by_status() {
    let site = three_subscribers();
    assert_eq!(
        ok(&site, &["subscribers", "list"]),
        "\
EMAIL             NAME          ROLE            STATUS        CREATED
ada@example.com   Ada Lovelace  executive       active        2026-11-29T12:00:00Z
bob@example.com                                 pending       2026-11-30T08:15:00Z
carl@example.com                technical_lead  unsubscribed  2026-11-29T12:00:00Z
3 subscribers
"
    );
    assert_eq!(
        ok(&site, &["subscribers", "list", "--status", "active"]),
        "\
EMAIL            NAME          ROLE            STATUS        CREATED
ada@example.com  Ada Lovelace  executive       active        2026-11-29T12:00:00Z
1 subscriber
"
    );
    assert_eq!(
        ok(&site, &["subscribers", "list", "--status", "bounced"]),
        "EMAIL  NAME  ROLE            STATUS        CREATED\n0 subscribers\n"
    );
    let emails = |status: &str| -> Vec<String> {
        list_json(&site, &["--status", status])
            .iter()
            .map(|r| r["email"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(emails("pending"), ["bob@example.com"]);
    assert_eq!(emails("unsubscribed"), ["carl@example.com"]);

    let Run {
        code,
        stdout,
        stderr,
        ..
    } = run(&site, &["subscribers", "list", "--status", "gone"]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(
        stderr.starts_with(
            "error: invalid value 'gone' for '--status <STATUS>': unknown status `gone`; \
             use pending, active, unsubscribed or bounced\n"
        ),
        "{stderr}"
    );
}

#[test]
fn list_json_is_an_array_of_objects_with_exactly_the_public_keys() {
    let site = three_subscribers();
    let rows = list_json(&site, &[]);
    assert_eq!(rows.len(), 3);
    let keys = [
        "email",
        "name",
        "role",
        "status",
        "created_at",
        "confirmed_at",
        "unsubscribed_at",
        "timezone",
        "paused_until",
        "unsubscribe_reason",
    ];
    let is_time = |v: &Value| {
        v.as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
    };
    for row in &rows {
        let object = row
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {row}"));
        let mut got: Vec<&str> = object.keys().map(String::as_str).collect();
        got.sort_unstable();
        let mut want = keys.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{row}");
        assert!(row["email"].is_string(), "{row}");
        assert!(row["status"].is_string(), "{row}");
        assert!(row["name"].is_string() || row["name"].is_null(), "{row}");
        assert!(row["role"].is_string() || row["role"].is_null(), "{row}");
        assert!(is_time(&row["created_at"]), "{row}");
        for key in ["confirmed_at", "unsubscribed_at"] {
            assert!(row[key].is_null() || is_time(&row[key]), "{key}: {row}");
        }
    }
    assert_eq!(
        rows[0],
        serde_json::json!({
            "email": "ada@example.com", "name": "Ada Lovelace", "role": "executive",
            "status": "active", "created_at": NOW, "confirmed_at": NOW, "unsubscribed_at": null,
            "timezone": null, "paused_until": null, "unsubscribe_reason": null,
        })
    );
    assert_eq!(
        rows[1],
        serde_json::json!({
            "email": "bob@example.com", "name": null, "role": null, "status": "pending",
            "created_at": "2026-11-30T08:15:00Z", "confirmed_at": null, "unsubscribed_at": null,
            "timezone": null, "paused_until": null, "unsubscribe_reason": null,
        })
    );
    assert_eq!(
        rows[2],
        serde_json::json!({
            "email": "carl@example.com", "name": null, "role": "technical_lead",
            "status": "unsubscribed", "created_at": NOW, "confirmed_at": NOW, "unsubscribed_at": NOW,
            "timezone": null, "paused_until": null, "unsubscribe_reason": null,
        })
    );
    // `export --format json` is the same document.
    assert_eq!(
        ok(&site, &["subscribers", "export", "--format", "json"]),
        ok(&site, &["subscribers", "list", "--format", "json"])
    );
}

#[test]
fn list_csv_has_a_header_row_and_one_row_per_subscriber() {
    let site = three_subscribers();
    let csv = "\
email,name,role,status,created_at,confirmed_at,unsubscribed_at,timezone,paused_until
ada@example.com,Ada Lovelace,executive,active,2026-11-29T12:00:00Z,2026-11-29T12:00:00Z,,,
bob@example.com,,,pending,2026-11-30T08:15:00Z,,,,
carl@example.com,,technical_lead,unsubscribed,2026-11-29T12:00:00Z,2026-11-29T12:00:00Z,2026-11-29T12:00:00Z,,
";
    assert_eq!(ok(&site, &["subscribers", "list", "--format", "csv"]), csv);
    assert_eq!(ok(&site, &["subscribers", "export"]), csv);
    assert_eq!(
        ok(&site, &["subscribers", "export", "--status", "pending"]),
        "\
email,name,role,status,created_at,confirmed_at,unsubscribed_at,timezone,paused_until
bob@example.com,,,pending,2026-11-30T08:15:00Z,,,,
"
    );
}

// ------------------------------------------------------------------- import

#[test]
fn a_csv_with_a_bom_crlf_quoted_commas_and_a_trailing_blank_line_imports_every_row() {
    let site = Site::new();
    let file = fixture("csv/bom_crlf_quoted.csv");
    let bytes = std::fs::read(&file).unwrap();
    assert!(
        bytes.starts_with("\u{feff}".as_bytes()),
        "the fixture lost its BOM"
    );
    assert!(
        bytes.ends_with(b"\r\n\r\n"),
        "the fixture lost its CRLF blank last line"
    );
    assert_eq!(
        run(&site, &["subscribers", "import", file.to_str().unwrap()]),
        said("imported 3, skipped 0 existing, rejected 0\n")
    );
    assert_eq!(
        ok(&site, &["subscribers", "export"]),
        "\
email,name,role,status,created_at,confirmed_at,unsubscribed_at,timezone,paused_until
ada@example.com,\"Lovelace, Ada\",executive,active,2026-11-29T12:00:00Z,2026-11-29T12:00:00Z,,,
grace@example.com,\"Hopper, Grace \"\"Amazing\"\"\",technical_lead,active,2026-11-29T12:00:00Z,2026-11-29T12:00:00Z,,,
carl@example.com,,,active,2026-11-29T12:00:00Z,2026-11-29T12:00:00Z,,,
"
    );
}

#[test]
fn import_counts_are_printed_with_thousands_separators() {
    let site = Site::new();
    let mut csv = String::from("email,name\n");
    for i in 1..=1200 {
        csv += &format!("reader{i:04}@example.com,Reader {i}\n");
    }
    site.write("big.csv", &csv);
    assert_eq!(
        run(&site, &["subscribers", "import", "big.csv"]),
        said("imported 1,200, skipped 0 existing, rejected 0\n")
    );
    assert_eq!(
        run(&site, &["subscribers", "import", "big.csv"]),
        said("imported 0, skipped 1,200 existing, rejected 0\n")
    );
    assert_eq!(
        run(&site, &["subscribers", "import", "--dry-run", "big.csv"]),
        said("would import 0, skipped 1,200 existing, rejected 0\n")
    );
    assert!(ok(&site, &["subscribers", "list"]).ends_with("\n1,200 subscribers\n"));
}

#[test]
fn import_skips_existing_addresses_and_never_reactivates_an_unsubscribed_one() {
    let site = Site::new();
    ok(&site, &["subscribe", "ada@example.com"]);
    ok(&site, &["subscribe", "pend@example.com", "--pending"]);
    ok(&site, &["subscribe", "old@example.com"]);
    ok(&site, &["unsubscribe", "old@example.com"]);
    site.write(
        "list.csv",
        "email,name,status\n\
         old@example.com,Old,active\n\
         ADA@example.com,Ada,\n\
         pend@example.com,,active\n\
         new@example.com,New,\n",
    );
    assert_eq!(
        run_at(
            &site,
            "2026-12-01T00:00:00Z",
            &["subscribers", "import", "list.csv"]
        ),
        said("imported 1, skipped 3 existing, rejected 0\n")
    );
    let old = subscriber(&site, "old@example.com");
    assert_eq!(old["status"], "unsubscribed", "the person said no: {old}");
    assert_eq!(
        old["name"],
        Value::Null,
        "skipped rows change nothing: {old}"
    );
    assert_eq!(old["unsubscribed_at"], NOW);
    assert_eq!(subscriber(&site, "pend@example.com")["status"], "pending");
    assert_eq!(subscriber(&site, "ada@example.com")["name"], Value::Null);
    let new = subscriber(&site, "new@example.com");
    assert_eq!(new["status"], "active");
    assert_eq!(new["created_at"], "2026-12-01T00:00:00Z");
    assert_eq!(list_json(&site, &[]).len(), 4);
}

#[test]
fn import_status_pending_is_the_default_for_rows_and_a_status_column_wins() {
    let site = Site::new();
    site.write(
        "list.csv",
        "email,status\n\
         p1@example.com,\n\
         p2@example.com,unsubscribed\n\
         p3@example.com,Active\n\
         p4@example.com,bounced\n",
    );
    assert_eq!(
        run(
            &site,
            &["subscribers", "import", "--status", "pending", "list.csv"]
        ),
        said(
            "imported 4 (1 pending, 1 active, 1 unsubscribed, 1 bounced), skipped 0 existing, rejected 0\n"
        )
    );
    let status = |e: &str| subscriber(&site, e)["status"].as_str().unwrap().to_string();
    assert_eq!(status("p1@example.com"), "pending");
    assert_eq!(status("p2@example.com"), "unsubscribed");
    assert_eq!(status("p3@example.com"), "active");
    assert_eq!(status("p4@example.com"), "bounced");
    assert_eq!(
        subscriber(&site, "p1@example.com")["confirmed_at"],
        Value::Null
    );
    assert_eq!(subscriber(&site, "p3@example.com")["confirmed_at"], NOW);

    let site = Site::new();
    site.write("plain.csv", "email\nq@example.com\n");
    ok(
        &site,
        &["subscribers", "import", "plain.csv", "--status", "pending"],
    );
    assert_eq!(subscriber(&site, "q@example.com")["status"], "pending");

    let Run {
        code,
        stdout,
        stderr,
        ..
    } = run(
        &site,
        &[
            "subscribers",
            "import",
            "--status",
            "unsubscribed",
            "plain.csv",
        ],
    );
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(
        stderr.starts_with(
            "error: invalid value 'unsubscribed' for '--status <STATUS>': an import adds subscribers as `active` or `pending`\n"
        ),
        "{stderr}"
    );
}

#[test]
fn import_reads_standard_input_from_a_dash() {
    let site = Site::new();
    let mut cmd = site.digest(&["subscribers", "import", "-"]);
    cmd.write_stdin("email,name\nada@example.com,Ada\nbob@example.com,Bob\n");
    assert_eq!(
        finish(cmd),
        said("imported 2, skipped 0 existing, rejected 0\n")
    );
    assert_eq!(subscriber(&site, "bob@example.com")["name"], "Bob");

    let mut cmd = site.digest(&["subscribers", "import", "-"]);
    cmd.write_stdin("email\nada@example.com\nnot-an-address\n");
    assert_eq!(
        finish(cmd),
        (
            1,
            "imported 0, skipped 1 existing, rejected 1\n".into(),
            "stdin:3: invalid address: `not-an-address` is not an email address: there is no @\n\
             error: 1 row of stdin rejected (listed above); fix it and import the file again: \
             rows already in the list are skipped\n"
                .into()
        )
    );
}

#[test]
fn a_dry_run_reports_what_would_happen_and_writes_nothing() {
    let site = seeded_site();
    site.write(
        "list.csv",
        "email\nseed@example.com\nada@example.com\nbad\nbob@example.com\n",
    );
    let before = db_bytes(&site, DB);
    assert_eq!(
        run(&site, &["subscribers", "import", "--dry-run", "list.csv"]),
        (
            1,
            "would import 2, skipped 1 existing, rejected 1\n".into(),
            "list.csv:4: invalid address: `bad` is not an email address: there is no @\n\
             error: 1 row of list.csv rejected (listed above); fix it and import the file again: \
             rows already in the list are skipped\n"
                .into()
        )
    );
    site.write("good.csv", "email\nada@example.com\nbob@example.com\n");
    assert_eq!(
        run(&site, &["subscribers", "import", "--dry-run", "good.csv"]),
        said("would import 2, skipped 0 existing, rejected 0\n")
    );
    assert!(
        db_bytes(&site, DB) == before,
        "a dry run changed the database file"
    );
    assert_eq!(list_json(&site, &[]).len(), 1);
}

#[test]
fn rejected_rows_are_listed_by_file_and_starting_line_and_the_valid_rows_are_committed() {
    let site = seeded_site();
    // Line numbers: a quoted field over three lines (2-4) and one with a
    // CRLF inside (6-7) come before the bad rows, so a reader that counted
    // records instead of lines would be off.
    site.write(
        "lists/march.csv",
        "email,notes,name\n\
         ok@example.com,\"first line\n\
         second line\n\
         third line\",Ok\n\
         not-an-address,,\n\
         \"quoted@example.com\",\"a\r\n\
         b\",\n\
         late@example.com,,=formula\n\
         fine@example.com,,Fine\n\
         seed@example.com,,\n\
         ok@example.com,,Again\n",
    );
    assert_eq!(
        run(&site, &["subscribers", "import", "lists/march.csv"]),
        (
            1,
            "imported 3, skipped 1 existing, rejected 3\n".into(),
            "lists/march.csv:5: invalid address: `not-an-address` is not an email address: there is no @\n\
             lists/march.csv:8: bad name for late@example.com: the name starts with `=`, which a spreadsheet \
             would run as a formula; remove it\n\
             lists/march.csv:11: duplicate of line 2 (ok@example.com)\n\
             error: 3 rows of lists/march.csv rejected (listed above); fix them and import the file again: \
             rows already in the list are skipped\n"
                .into()
        )
    );
    let emails: Vec<String> = list_json(&site, &[])
        .iter()
        .map(|r| r["email"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        emails,
        [
            "seed@example.com",
            "ok@example.com",
            "quoted@example.com",
            "fine@example.com"
        ]
    );
    assert_eq!(subscriber(&site, "ok@example.com")["name"], "Ok");

    // The path is shown as given.
    site.write("other.csv", "email\nbad\n");
    let Run { code, stderr, .. } = run(&site, &["subscribers", "import", "./lists/../other.csv"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("./lists/../other.csv:2: invalid address: "),
        "{stderr}"
    );
}

#[test]
fn a_10_mb_line_is_rejected_by_its_line_number_and_the_rows_after_it_are_imported() {
    let site = seeded_site();
    let ten_mb = 10 * 1024 * 1024;
    let mut csv = String::with_capacity(ten_mb + 200);
    csv += "email,name\nada@example.com,";
    csv.extend(std::iter::repeat_n('x', ten_mb));
    csv += "\n";
    csv.extend(std::iter::repeat_n('a', ten_mb));
    csv += "@example.com,Long\nbob@example.com,Bob\n";
    site.write("huge.csv", &csv);
    let shown: String = "a".repeat(80);
    assert_eq!(
        run(&site, &["subscribers", "import", "huge.csv"]),
        (
            1,
            "imported 1, skipped 0 existing, rejected 2\n".into(),
            format!(
                "huge.csv:2: bad name for ada@example.com: the name is longer than 100 characters\n\
                 huge.csv:3: invalid address: `{shown}…` is longer than 254 characters\n\
                 error: 2 rows of huge.csv rejected (listed above); fix them and import the file again: \
                 rows already in the list are skipped\n"
            )
        )
    );
    assert_eq!(subscriber(&site, "bob@example.com")["name"], "Bob");

    // A 10 MB first line without an `email` column: refused, briefly.
    let before = db_bytes(&site, DB);
    site.write(
        "huge_header.csv",
        "h".repeat(ten_mb) + "\nada@example.com\n",
    );
    let shown: String = "h".repeat(40);
    assert_eq!(
        run(&site, &["subscribers", "import", "huge_header.csv"]),
        failed(
            2,
            &format!(
                "error: huge_header.csv: the header row has no `email` column (found: `{shown}`); \
                 the first row must name the columns, e.g. `email,name,role`\n"
            )
        )
    );
    assert!(db_bytes(&site, DB) == before);
}

// --------------------------------------------------------------- round trip

#[test]
fn an_export_imported_into_an_empty_database_lists_identically() {
    let site = Site::new();
    let at = |now: &str, args: &[&str]| {
        let Run {
            code,
            stdout,
            stderr,
            ..
        } = run_at(&site, now, args);
        assert_eq!(code, 0, "digest {args:?}\n{stdout}{stderr}");
    };
    at(
        "2026-01-05T10:00:00Z",
        &[
            "subscribe",
            "ada@example.com",
            "--name",
            "Lovelace, Ada",
            "--role",
            "executive",
        ],
    );
    at(
        "2026-02-06T11:30:00Z",
        &[
            "subscribe",
            "Grace@Example.com",
            "--name",
            "Grace \"Amazing\" Hopper",
            "--role",
            "technical_lead",
        ],
    );
    at(
        "2026-03-07T12:45:00Z",
        &["subscribe", "bob@example.com", "--pending"],
    );
    at(
        "2026-04-08T13:00:00Z",
        &["subscribe", "carl@example.com", "--role", "business_owner"],
    );
    at("2026-05-09T14:15:00Z", &["unsubscribe", "carl@example.com"]);
    at(
        "2026-06-10T15:00:00Z",
        &["subscribe", "dan@example.com", "--pending"],
    );
    at("2026-07-11T16:00:00Z", &["subscribe", "dan@example.com"]);
    site.write(
        "more.csv",
        "email,name,role,status,created_at\n\
         zoë@example.com,Zoë,business_owner,,2025-12-24T18:00:00+01:00\n\
         erin@example.com,,,pending,\n\
         fay@example.com,Fay,,bounced,2025-11-01T00:00:00Z\n",
    );
    at(
        "2026-08-12T17:00:00Z",
        &["subscribers", "import", "more.csv"],
    );

    let export = ok(&site, &["subscribers", "export"]);
    site.write("export.csv", &export);
    assert_eq!(
        run_at(
            &site,
            "2026-11-30T00:00:00Z",
            &["--db", "b.db", "subscribers", "import", "export.csv"]
        ),
        said(
            "imported 8 (2 pending, 4 active, 1 unsubscribed, 1 bounced), skipped 0 existing, rejected 0\n"
        )
    );
    for format in ["table", "json", "csv"] {
        let a = ok(&site, &["subscribers", "list", "--format", format]);
        let b = ok(
            &site,
            &["--db", "b.db", "subscribers", "list", "--format", format],
        );
        assert_eq!(a, b, "--format {format}");
    }
    assert_eq!(
        ok(&site, &["--db", "b.db", "subscribers", "export"]),
        export,
        "exporting the copy gives the same file"
    );
    // The history survived, not just the addresses.
    let carl = subscriber(&site, "carl@example.com");
    assert_eq!(carl["unsubscribed_at"], "2026-05-09T14:15:00Z");
    let dan = subscriber(&site, "dan@example.com");
    assert_eq!(dan["created_at"], "2026-06-10T15:00:00Z");
    assert_eq!(dan["confirmed_at"], "2026-07-11T16:00:00Z");
}

// ------------------------------------------------------------ bad_csv corpus

struct Expected {
    code: i32,
    stdout: String,
    stderr: String,
}

fn parse_expected(path: &Path) -> Expected {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (head, stderr) = text.split_once("\n---\n").unwrap_or_else(|| {
        panic!(
            "{}: no `---` line before the expected stderr",
            path.display()
        )
    });
    let mut code = None;
    let mut stdout = None;
    for (i, line) in head.lines().enumerate() {
        let (key, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{}: `{line}` is not `key: value`", path.display()));
        let value = value.trim();
        match key {
            "exit" if i == 0 => code = Some(value.parse().expect("exit: N")),
            "stdout" => {
                stdout = Some(if value.is_empty() {
                    String::new()
                } else {
                    format!("{value}\n")
                })
            }
            _ => panic!(
                "{}: unexpected `{line}` (exit: must come first)",
                path.display()
            ),
        }
    }
    Expected {
        code: code
            .unwrap_or_else(|| panic!("{}: the first line must be `exit: N`", path.display())),
        stdout: stdout.unwrap_or_else(|| panic!("{}: no `stdout:` line", path.display())),
        stderr: stderr.to_string(),
    }
}

/// Every fixture in `bad_csv/` with its expectation, in name order.
fn bad_csv_fixtures() -> Vec<(PathBuf, Expected)> {
    let dir = fixture("bad_csv");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        if let Some(input) = name.strip_suffix(".expected") {
            assert!(
                dir.join(input).is_file(),
                "bad_csv/{name} has no bad_csv/{input} beside it"
            );
        }
    }
    files
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".expected"))
        .map(|path| {
            let mut expected = path.clone().into_os_string();
            expected.push(".expected");
            let expected = PathBuf::from(expected);
            assert!(
                expected.is_file(),
                "{} has no {} beside it",
                path.display(),
                expected.display()
            );
            let expected = parse_expected(&expected);
            (path, expected)
        })
        .collect()
}

/// Import one fixture into a seeded site; `Err` says every way it differed.
fn check_bad_csv(path: &Path, expected: &Expected) -> Result<(), String> {
    let name = path.file_name().unwrap().to_str().unwrap();
    let site = seeded_site();
    site.write(name, std::fs::read(path).unwrap());
    let before = db_bytes(&site, DB);
    let assert = site.digest(&["subscribers", "import", name]).assert();
    let out = assert.get_output();
    let code = out.status.code();
    let (stdout, stderr) = output(&assert);
    let mut problems = Vec::new();
    if code != Some(expected.code) {
        problems.push(format!("exit code {code:?}, expected {}", expected.code));
    }
    if out.stdout != expected.stdout.as_bytes() {
        problems.push(format!(
            "stdout\n--- expected\n{}--- got\n{stdout}",
            expected.stdout
        ));
    }
    if out.stderr != expected.stderr.as_bytes() {
        problems.push(format!(
            "stderr\n--- expected\n{}--- got\n{stderr}",
            expected.stderr
        ));
    }
    let after = db_bytes(&site, DB);
    let imported: u64 = expected
        .stdout
        .strip_prefix("imported ")
        .and_then(|s| s.split(',').next())
        .map_or(0, |n| n.parse().expect("imported N"));
    if imported == 0 && after != before {
        problems.push("nothing was imported, yet the database file changed".into());
    }
    if problems.is_empty() && imported > 0 {
        let rows = list_json(&site, &[]).len() as u64;
        if rows != 1 + imported {
            problems.push(format!(
                "{rows} subscribers after importing {imported} next to the seed"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("bad_csv/{name}: {}", problems.join("\n")))
    }
}

#[test]
fn every_bad_csv_fixture_fails_as_its_expected_file_says() {
    let fixtures = bad_csv_fixtures();
    assert!(
        fixtures.len() >= 12,
        "expected at least 12 files under bad_csv/, found {}",
        fixtures.len()
    );
    let failures: Vec<String> = fixtures
        .iter()
        .filter_map(|(path, expected)| check_bad_csv(path, expected).err())
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
