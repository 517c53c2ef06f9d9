//! Reading a site's database, for assertions. Tests write to it only
//! through commands (the few that corrupt it on purpose say why).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::run::ok;
use super::site::Site;

/// The database of a site with the default configuration.
pub const DB: &str = "subscribers/digest.db";

/// A connection to the database file at `path`, waiting for a running
/// command's lock rather than failing.
pub fn open(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path)
        .unwrap_or_else(|e| panic!("open the database {}: {e}", path.display()));
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

/// The site's default database.
pub fn db(site: &Site) -> rusqlite::Connection {
    open(&site.path(DB))
}

/// Every subscriber's token, by email.
pub fn tokens(site: &Site) -> HashMap<String, String> {
    let conn = db(site);
    let mut stmt = conn
        .prepare("SELECT email, token FROM subscribers")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Delivery rows of the week by status.
pub fn statuses(site: &Site, week: &str) -> HashMap<String, usize> {
    let conn = db(site);
    let mut stmt = conn
        .prepare("SELECT status, count(*) FROM deliveries WHERE issue = ?1 GROUP BY status")
        .unwrap();
    stmt.query_map([week], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// How many delivery rows of the week have this status.
pub fn status_count(site: &Site, week: &str, status: &str) -> usize {
    statuses(site, week).get(status).copied().unwrap_or(0)
}

/// One delivery row.
#[derive(Debug)]
pub struct Delivery {
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// The delivery row of `email` for `week`.
pub fn delivery(site: &Site, week: &str, email: &str) -> Delivery {
    db(site)
        .query_row(
            "SELECT d.status, d.attempts, d.last_error
             FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.issue = ?1 AND s.email = ?2",
            [week, email],
            |r| {
                Ok(Delivery {
                    status: r.get(0)?,
                    attempts: r.get(1)?,
                    last_error: r.get(2)?,
                })
            },
        )
        .unwrap_or_else(|e| panic!("delivery row of {email}: {e}"))
}

/// `subscribers list --format json` (plus `extra` args), which must succeed
/// with nothing on standard error, parsed.
pub fn list_json(site: &Site, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["subscribers", "list", "--format", "json"];
    args.extend_from_slice(extra);
    let stdout = ok(site, &args);
    match serde_json::from_str(&stdout) {
        Ok(Value::Array(rows)) => rows,
        other => panic!("not a JSON array: {other:?}\n{stdout}"),
    }
}

/// The one subscriber with this exact stored address, as
/// `subscribers list --format json` shows it.
pub fn subscriber(site: &Site, email: &str) -> Value {
    let rows = list_json(site, &[]);
    let found: Vec<&Value> = rows.iter().filter(|r| r["email"] == email).collect();
    assert_eq!(found.len(), 1, "{email} in {rows:#?}");
    found[0].clone()
}
