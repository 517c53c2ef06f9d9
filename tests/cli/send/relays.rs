//! The relay each delivery went through, as `send --json` and `history`
//! report it.

use super::{WEEK, send, send_site};
use crate::support::db::db;
use crate::support::run;
use crate::support::smtp::{Rule, TestSmtp};

#[test]
fn each_delivery_records_its_relay_and_the_run_reports_it() {
    let smtp = TestSmtp::start();
    let (site, subs) = send_site(&smtp, 12);
    smtp.rule(&subs[3].email, Rule::PermFail);
    let r = send(&site, &["--json"]);
    assert_eq!(r.code, 1, "{r:#?}");
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary["sent"], 11);
    assert_eq!(summary["relays"], serde_json::json!({"smtp": 11}));
    // The refused one has no relay: nobody took it.
    let relays: Vec<(String, Option<String>)> = db(&site)
        .prepare("SELECT status, relay FROM deliveries WHERE issue = ?1 ORDER BY subscriber_id")
        .unwrap()
        .query_map([WEEK], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (i, (status, relay)) in relays.iter().enumerate() {
        match i {
            3 => assert_eq!((status.as_str(), relay.as_deref()), ("failed", None)),
            _ => assert_eq!((status.as_str(), relay.as_deref()), ("sent", Some("smtp"))),
        }
    }
    let again = send(&site, &["--json"]);
    let summary: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(summary["relays"], serde_json::json!({}));
    let history = run(&site, &["history", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(rows[0]["relays"], serde_json::json!({"smtp": 11}));
}
