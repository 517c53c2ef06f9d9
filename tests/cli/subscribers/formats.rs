//! `subscribers import` of other tools' exports: Mailchimp's three audience
//! files (alone, together, or in the zip Mailchimp hands out), listmonk,
//! Substack and Buttondown (fixtures in `tests/fixtures/import/`,
//! written for this project in each tool's shape), recognised from the
//! header or named with `--from`.

use serde_json::Value;

use crate::support::db::{list_json, subscriber};
use crate::support::{Site, fixture, run};

/// `subscribers import` of the fixture `name` (and `extra` arguments).
fn import(site: &Site, name: &str, extra: &[&str]) -> crate::support::Run {
    let path = fixture(&format!("import/{name}"));
    let mut args = vec!["subscribers", "import", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(site, &args)
}

fn get<'a>(row: &'a Value, key: &str) -> Option<&'a str> {
    row[key].as_str()
}

#[test]
fn mailchimps_three_files_import_as_active_unsubscribed_and_bounced() {
    let site = Site::new();
    let r = import(&site, "mailchimp_subscribed.csv", &[]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (
            0,
            "detected a Mailchimp export (subscribed members): imported 3 (3 active), skipped 0 existing, rejected 0\n"
        ),
        "{r:#?}"
    );
    let ines = subscriber(&site, "ines.moreau@example.com");
    assert_eq!(get(&ines, "name"), Some("Ines Moreau"));
    assert_eq!(get(&ines, "status"), Some("active"));
    assert_eq!(get(&ines, "created_at"), Some("2019-04-02T08:15:00Z"));
    assert_eq!(get(&ines, "confirmed_at"), Some("2019-04-02T08:17:41Z"));
    assert_eq!(get(&ines, "timezone"), Some("Europe/Paris"));
    // One name part is a name; a zone that is not an IANA name is left out.
    let kofi = subscriber(&site, "kofi.mensah@example.org");
    assert_eq!(get(&kofi, "name"), Some("Kofi"));
    let yuki = subscriber(&site, "yuki.tanaka@example.net");
    assert_eq!(
        (get(&yuki, "name"), get(&yuki, "timezone")),
        (Some("Tanaka"), None)
    );

    let r = import(&site, "mailchimp_unsubscribed.csv", &[]);
    assert_eq!(
        r.stdout,
        "detected a Mailchimp export (unsubscribed members): imported 2 (2 unsubscribed), skipped 0 existing, rejected 0\n",
        "{r:#?}"
    );
    let maria = subscriber(&site, "maria.silva@example.com");
    assert_eq!(get(&maria, "status"), Some("unsubscribed"));
    assert_eq!(get(&maria, "unsubscribed_at"), Some("2024-01-05T07:30:00Z"));
    assert_eq!(
        get(&maria, "unsubscribe_reason"),
        Some("Other: Reading it on the site instead")
    );

    let r = import(&site, "mailchimp_cleaned.csv", &["--dry-run"]);
    assert_eq!(
        r.stdout,
        "detected a Mailchimp export (cleaned members): would import 1 (1 bounced), skipped 0 existing, rejected 0\n",
        "{r:#?}"
    );
    assert_eq!(list_json(&site, &[]).len(), 5, "a dry run writes nothing");
    let r = import(&site, "mailchimp_cleaned.csv", &[]);
    assert_eq!(r.code, 0, "{r:#?}");
    assert_eq!(
        get(&subscriber(&site, "gone.away@example.com"), "status"),
        Some("bounced")
    );

    // Imported again: everyone is already on the list, nobody re-activated.
    let r = import(&site, "mailchimp_subscribed.csv", &[]);
    assert!(
        r.stdout.contains("imported 0, skipped 3 existing"),
        "{r:#?}"
    );
}

#[test]
fn listmonk_statuses_attributes_and_go_times_are_read() {
    let site = Site::new();
    let r = import(&site, "listmonk.csv", &[]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (
            0,
            "detected a listmonk export: imported 3 (2 active, 1 unsubscribed), skipped 0 existing, 1 disabled in listmonk, rejected 0\n"
        ),
        "{r:#?}"
    );
    let amara = subscriber(&site, "amara.obi@example.com");
    assert_eq!(get(&amara, "role"), Some("technical_lead"));
    assert_eq!(get(&amara, "timezone"), Some("Africa/Lagos"));
    assert_eq!(get(&amara, "created_at"), Some("2024-01-02T15:04:05Z"));
    let lars = subscriber(&site, "lars.nilsson@example.com");
    assert_eq!(get(&lars, "status"), Some("unsubscribed"));
    assert_eq!(get(&lars, "created_at"), Some("2023-06-07T06:09:10Z"));
    let chen = subscriber(&site, "chen.wei@example.com");
    assert_eq!((get(&chen, "role"), get(&chen, "timezone")), (None, None));
    assert!(
        list_json(&site, &[])
            .iter()
            .all(|r| r["email"] != "quiet.reader@example.com")
    );
}

#[test]
fn substack_exports_with_and_without_a_type_column() {
    let site = Site::new();
    let r = import(&site, "substack.csv", &[]);
    assert_eq!(
        r.stdout,
        "detected a Substack export: imported 2 (1 active, 1 unsubscribed), skipped 0 existing, 1 deletion requests, rejected 0\n",
        "{r:#?}"
    );
    assert_eq!(
        get(&subscriber(&site, "tom.reed@example.com"), "status"),
        Some("unsubscribed")
    );
    assert_eq!(
        get(&subscriber(&site, "nadia.haddad@example.com"), "created_at"),
        Some("2021-03-04T05:06:07Z")
    );
    let r = import(&site, "substack_typed.csv", &["--from", "substack"]);
    assert_eq!(
        r.stdout,
        "detected a Substack export: imported 4 (3 active, 1 unsubscribed), skipped 0 existing, rejected 0\n",
        "{r:#?}"
    );
}

#[test]
fn a_format_named_with_from_must_have_its_columns() {
    let site = Site::new();
    for (from, missing) in [
        ("substack", "`email_disabled`"),
        ("listmonk", "`email`, `status`"),
        ("mailchimp", "`Email Address`"),
    ] {
        let file = if from == "listmonk" {
            "mailchimp_cleaned.csv"
        } else {
            "listmonk.csv"
        };
        let r = import(&site, file, &["--from", from]);
        assert_eq!(r.code, 2, "{from}: {r:#?}");
        assert!(
            r.stderr.contains("lacks") && r.stderr.contains(missing),
            "{from}: {}",
            r.stderr
        );
    }
    let r = import(&site, "listmonk.csv", &["--from", "gmail"]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(
        !site.path("subscribers/digest.db").exists(),
        "nothing written"
    );
    // `--from csv` reads a listmonk file as our own columns: its statuses
    // are not ours, and each row says so.
    let r = import(&site, "listmonk.csv", &["--from", "csv", "--dry-run"]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        r.stderr.contains("bad status for amara.obi@example.com"),
        "{}",
        r.stderr
    );
}

#[test]
fn buttondown_types_map_to_statuses_and_the_rest_are_counted() {
    let site = Site::new();
    let r = import(&site, "buttondown.csv", &[]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert_eq!(
        r.stdout,
        "detected a Buttondown export: imported 3 (1 pending, 1 active, 1 unsubscribed), skipped 0 existing, 1 premium in Buttondown, 2 undeliverable in Buttondown, rejected 1\n",
        "{r:#?}"
    );
    assert!(
        r.stderr.contains("buttondown.csv:8: bad subscriber_type for odd.one@example.com: `mystery` is not a Buttondown subscriber type"),
        "{}",
        r.stderr
    );
    let priya = subscriber(&site, "priya.nair@example.com");
    assert_eq!(get(&priya, "status"), Some("active"));
    assert_eq!(get(&priya, "created_at"), Some("2023-02-01T09:30:00Z"));
    assert_eq!(get(&priya, "confirmed_at"), Some("2023-02-01T09:31:10Z"));
    assert_eq!(
        get(&subscriber(&site, "sam.okafor@example.com"), "status"),
        Some("pending")
    );
    let lena = subscriber(&site, "lena.vogel@example.com");
    assert_eq!(get(&lena, "status"), Some("unsubscribed"));
    assert_eq!(get(&lena, "unsubscribed_at"), Some("2024-11-12T13:14:15Z"));
    assert!(
        list_json(&site, &[]).iter().all(
            |r| r["email"] != "paid.reader@example.com" && r["email"] != "dead.box@example.com"
        )
    );
}

/// The addresses of the multi-file fixture and the status each must end
/// with: Ada left after joining, Bo came back after leaving, Gus was
/// cleaned after joining, Eve left at a time Mailchimp did not record.
const SETTLED: [(&str, &str); 5] = [
    ("ada.lind@example.com", "unsubscribed"),
    ("bo.chen@example.com", "active"),
    ("cy.diaz@example.com", "active"),
    ("gus.hale@example.com", "bounced"),
    ("eve.faro@example.com", "unsubscribed"),
];

const SETTLED_SUMMARY: &str = "imported 5 (2 active, 2 unsubscribed, 1 bounced), skipped 0 existing, 3 in several files (the latest change kept), rejected 0\n";

fn assert_settled(site: &Site) {
    for (email, status) in SETTLED {
        assert_eq!(
            get(&subscriber(site, email), "status"),
            Some(status),
            "{email}"
        );
    }
}

#[test]
fn mailchimps_three_files_in_one_import_keep_each_addresses_latest_change() {
    let site = Site::new();
    let dir = fixture("import/mailchimp_export");
    let files: Vec<String> = ["subscribed", "unsubscribed", "cleaned"]
        .iter()
        .map(|f| {
            dir.join(format!("{f}_members_export_4f1c2a.csv"))
                .display()
                .to_string()
        })
        .collect();
    let mut args = vec!["subscribers", "import", "--dry-run"];
    args.extend(files.iter().map(String::as_str));
    let r = run(&site, &args);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (
            0,
            format!(
                "detected a Mailchimp export (3 files): would {}",
                SETTLED_SUMMARY.replacen("imported", "import", 1)
            )
            .as_str()
        ),
        "{r:#?}"
    );
    assert_eq!(list_json(&site, &[]).len(), 0, "a dry run writes nothing");
    args.retain(|a| *a != "--dry-run");
    let r = run(&site, &args);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (
            0,
            format!("detected a Mailchimp export (3 files): {SETTLED_SUMMARY}").as_str()
        ),
        "{r:#?}"
    );
    assert_settled(&site);
    let bo = subscriber(&site, "bo.chen@example.com");
    assert_eq!(get(&bo, "confirmed_at"), Some("2024-06-01T08:02:00Z"));
    // The list keeps the order in which the rows that stand were read.
    let order: Vec<String> = list_json(&site, &[])
        .iter()
        .map(|r| r["email"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        order,
        [
            "bo.chen@example.com",
            "cy.diaz@example.com",
            "ada.lind@example.com",
            "eve.faro@example.com",
            "gus.hale@example.com"
        ]
    );
}

#[test]
fn mailchimps_zip_is_read_directly_as_its_three_files() {
    let site = Site::new();
    let r = import(&site, "mailchimp_export.zip", &[]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (
            0,
            format!("detected a Mailchimp export (3 files): {SETTLED_SUMMARY}").as_str()
        ),
        "{r:#?}"
    );
    assert_settled(&site);
}

#[test]
fn a_damaged_or_foreign_archive_stops_the_import_with_nothing_written() {
    let site = Site::new();
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(fixture("import/mailchimp_export.zip")).unwrap();
    let cut = dir.path().join("cut.zip");
    std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
    // A stored entry with one byte changed fails its checksum at its end.
    let at = 30 + "cleaned_members_export_4f1c2a.csv".len() + 300;
    bytes[at] ^= 0x20;
    let flipped = dir.path().join("flipped.zip");
    std::fs::write(&flipped, &bytes).unwrap();
    for (path, code, says) in [
        (&cut, 2, "cut.zip: it is not a zip archive that can be read"),
        (
            &flipped,
            2,
            "is damaged (its contents do not match its checksum)",
        ),
    ] {
        let r = run(&site, &["subscribers", "import", path.to_str().unwrap()]);
        assert_eq!(r.code, code, "{r:#?}");
        assert!(r.stderr.contains(says), "{}", r.stderr);
        assert!(
            !site.path("subscribers/digest.db").exists() || list_json(&site, &[]).is_empty(),
            "nothing written"
        );
    }
}

#[test]
fn standard_input_is_imported_only_on_its_own() {
    let site = Site::new();
    let csv = fixture("import/listmonk.csv");
    let r = run(
        &site,
        &["subscribers", "import", "-", csv.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(
        r.stderr.contains("can only be imported on its own"),
        "{}",
        r.stderr
    );
}
