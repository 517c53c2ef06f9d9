use super::*;

fn email(s: &str) -> SubscriberEmail {
    SubscriberEmail::parse(s).unwrap()
}

fn now() -> Timestamp {
    "2026-11-29T12:00:00Z".parse().unwrap()
}

/// An import row with only an address and a status.
fn row(file: u32, line: u64, address: &str, status: Status) -> ImportRow {
    ImportRow {
        file,
        line,
        email: email(address),
        name: None,
        role: None,
        status,
        created_at: None,
        confirmed_at: None,
        unsubscribed_at: None,
        changed_at: None,
        timezone: None,
        paused_until: None,
        unsubscribe_reason: None,
    }
}

fn active_row(line: u64, address: &str) -> ImportRow {
    row(0, line, address, Status::Active)
}

fn ok(rows: Vec<ImportRow>) -> impl Iterator<Item = anyhow::Result<Result<ImportRow, Rejected>>> {
    rows.into_iter().map(|r| Ok(Ok(r)))
}

#[test]
fn import_skips_existing_and_names_duplicates() {
    let mut store = Store::in_memory().unwrap();
    store
        .subscribe(&email("old@example.com"), None, None, false, now())
        .unwrap();
    store.unsubscribe(&email("old@example.com"), now()).unwrap();
    let rows = vec![
        Ok(Ok(active_row(2, "a@example.com"))),
        Ok(Ok(active_row(3, "OLD@example.com"))),
        Ok(Ok(active_row(4, "b@example.com"))),
        Ok(Ok(active_row(5, "A@Example.com"))),
        Ok(Ok(active_row(7, "a@example.com"))),
        Ok(Err(Rejected {
            file: 0,
            line: 6,
            reason: "bad".into(),
        })),
    ];
    let outcome = store.import(rows.into_iter(), now(), false).unwrap();
    assert_eq!(outcome.imported, 2);
    assert_eq!(outcome.skipped_existing, 1);
    // The skipped row is not counted among those imported.
    assert_eq!(outcome.by_status, BTreeMap::from([(Status::Active, 2)]));
    assert_eq!(outcome.in_several_files, 0);
    let rejected: Vec<(u64, &str)> = outcome
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(
        rejected,
        [
            (5, "duplicate of line 2 (A@example.com)"),
            (6, "bad"),
            (7, "duplicate of line 2 (a@example.com)"),
        ]
    );
    // The unsubscribed address stays unsubscribed.
    let old = store
        .subscriber_by_email(&email("old@example.com"))
        .unwrap()
        .unwrap();
    assert_eq!(old.status, Status::Unsubscribed);
    // Every imported row has its own token.
    let a = store
        .subscriber_by_email(&email("a@example.com"))
        .unwrap()
        .unwrap();
    let b = store
        .subscriber_by_email(&email("b@example.com"))
        .unwrap()
        .unwrap();
    assert_ne!(a.token, b.token);
    assert_eq!(a.token.as_str().len(), 24);
}

#[test]
fn rows_handed_over_in_batches_and_a_last_short_one_all_arrive() {
    let mut store = Store::in_memory().unwrap();
    let n = 2 * HANDOFF as u64 + 3;
    let mut rows: Vec<ImportRow> = (0..n)
        .map(|i| active_row(i + 2, &format!("r{i}@example.com")))
        .collect();
    // A repeat in the second batch of the first row of the first.
    rows[HANDOFF + 5] = active_row(HANDOFF as u64 + 7, "r0@example.com");
    let outcome = store.import(ok(rows), now(), false).unwrap();
    assert_eq!(outcome.imported, n - 1);
    assert_eq!(outcome.rejected.len(), 1);
    assert_eq!(store.count_subscribers(Status::Active).unwrap(), n - 1);
    let last = format!("r{}@example.com", n - 1);
    assert!(store.subscriber_by_email(&email(&last)).unwrap().is_some());
}

#[test]
fn a_dry_run_import_writes_nothing() {
    let mut store = Store::in_memory().unwrap();
    let outcome = store
        .import(ok(vec![active_row(2, "a@example.com")]), now(), true)
        .unwrap();
    assert_eq!(outcome.imported, 1);
    assert_eq!(store.count_subscribers(Status::Active).unwrap(), 0);
    // The staging table went with the rollback; a second import works.
    let outcome = store
        .import(ok(vec![active_row(2, "a@example.com")]), now(), false)
        .unwrap();
    assert_eq!(outcome.imported, 1);
}

#[test]
fn rows_of_several_files_for_one_address_keep_the_later_change() {
    let at = |s: &str| Some(s.parse::<Timestamp>().unwrap());
    use Status::{Active, Bounced, Unsubscribed};
    // (files' rows as (status, changed_at), the status that stands)
    type Files<'a> = &'a [(Status, Option<&'a str>)];
    let cases: &[(Files<'_>, Status)] = &[
        // Left after joining; joined again after leaving.
        (
            &[
                (Active, Some("2024-01-01T00:00:00Z")),
                (Unsubscribed, Some("2024-06-01T00:00:00Z")),
            ],
            Unsubscribed,
        ),
        (
            &[
                (Unsubscribed, Some("2024-01-01T00:00:00Z")),
                (Active, Some("2024-06-01T00:00:00Z")),
            ],
            Active,
        ),
        // A leave without a time beats any join.
        (
            &[(Active, Some("2025-01-01T00:00:00Z")), (Unsubscribed, None)],
            Unsubscribed,
        ),
        (
            &[(Unsubscribed, None), (Active, Some("2025-01-01T00:00:00Z"))],
            Unsubscribed,
        ),
        // A leave with a time beats a join without one.
        (
            &[(Active, None), (Bounced, Some("2020-01-01T00:00:00Z"))],
            Bounced,
        ),
        // The same time: the leave.
        (
            &[
                (Bounced, Some("2024-01-01T00:00:00Z")),
                (Active, Some("2024-01-01T00:00:00Z")),
            ],
            Bounced,
        ),
        // Three files: the latest change of the three.
        (
            &[
                (Active, Some("2024-01-01T00:00:00Z")),
                (Unsubscribed, Some("2024-02-01T00:00:00Z")),
                (Bounced, Some("2024-03-01T00:00:00Z")),
            ],
            Bounced,
        ),
    ];
    for (i, (files, expected)) in cases.iter().enumerate() {
        let mut store = Store::in_memory().unwrap();
        let rows = files
            .iter()
            .enumerate()
            .map(|(file, (status, changed))| ImportRow {
                changed_at: changed.and_then(at),
                ..row(file as u32, 2, "ada@example.com", *status)
            })
            .collect();
        let outcome = store.import(ok(rows), now(), false).unwrap();
        assert_eq!(outcome.imported, 1, "case {i}");
        assert_eq!(outcome.in_several_files, 1, "case {i}");
        assert!(outcome.rejected.is_empty(), "case {i}");
        let ada = store
            .subscriber_by_email(&email("ada@example.com"))
            .unwrap()
            .unwrap();
        assert_eq!(ada.status, *expected, "case {i}");
    }
}

#[test]
fn a_duplicate_within_one_file_is_rejected_even_beside_another_file() {
    let mut store = Store::in_memory().unwrap();
    let rows = vec![
        row(0, 2, "ada@example.com", Status::Active),
        row(0, 9, "ada@example.com", Status::Active),
        row(1, 4, "ada@example.com", Status::Unsubscribed),
    ];
    let outcome = store.import(ok(rows), now(), false).unwrap();
    assert_eq!(outcome.imported, 1);
    assert_eq!(outcome.by_status.get(&Status::Unsubscribed), Some(&1));
    assert_eq!(
        outcome.rejected,
        [Rejected {
            file: 0,
            line: 9,
            reason: "duplicate of line 2 (ada@example.com)".into()
        }]
    );
}

#[test]
fn a_row_that_cannot_be_read_stops_the_import_with_nothing_written() {
    let mut store = Store::in_memory().unwrap();
    // More than a batch goes to the writer before the reading fails.
    let rows = (0..HANDOFF as u64 + 10)
        .map(|i| Ok(Ok(active_row(i + 2, &format!("r{i}@example.com")))))
        .chain(std::iter::once(Err(anyhow::anyhow!("the disk went away"))));
    let err = store.import(rows, now(), false).unwrap_err();
    assert_eq!(err.to_string(), "the disk went away");
    assert_eq!(store.count_subscribers(Status::Active).unwrap(), 0);
    // The list is whole again: its address index is back.
    let outcome = store
        .import(
            ok(vec![
                active_row(2, "a@example.com"),
                active_row(3, "A@example.com"),
            ]),
            now(),
            false,
        )
        .unwrap();
    assert_eq!(outcome.imported, 1);
    assert_eq!(outcome.rejected.len(), 1);
    let twice = store.subscribe(&email("a@example.com"), None, None, false, now());
    assert!(
        twice.is_ok(),
        "an address already in is answered, not duplicated"
    );
    assert_eq!(store.count_subscribers(Status::Active).unwrap(), 1);
}
