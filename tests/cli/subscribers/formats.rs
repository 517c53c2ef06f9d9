//! `subscribers import` of other tools' exports: Mailchimp's three audience
//! files, listmonk and Substack (fixtures in `tests/fixtures/import/`,
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
