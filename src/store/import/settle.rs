//! Which of an import's rows stand, once all of them are in the list.
//!
//! Every address the import wrote, and every address the list held
//! before, is known here by a 64-bit hash. Sorted by hash, an address's
//! rows sit side by side; a hash held by one new row and no old one (all
//! but a few rows of a real list) stands at once, without a look at the
//! database. Rows that share a hash are read back and grouped by their
//! stored address, so two addresses whose hashes collide are still two.

use std::collections::BTreeMap;
use std::hash::{Hash as _, Hasher as _};

use rusqlite::Transaction;

use super::Rejected;
use crate::status::Status;

/// What the import remembers of each row it wrote: enough to find the
/// rows of one address, rank them, and name one it rejects. 40 bytes a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Written {
    pub hash: u64,
    pub id: i64,
    pub line: u64,
    /// See [`super::ImportRow`]'s `rank`.
    pub rank: i64,
    pub file: u32,
    pub status: Status,
}

impl Written {
    /// Among one address's rows of different files the greatest stands:
    /// the later change; at the same rank the leave; then the later file.
    fn standing(&self) -> (i64, bool, u32, i64) {
        (self.rank, self.status.left(), self.file, self.id)
    }
}

/// A row as the list holds it, read back by id.
pub(super) struct Stored {
    pub key: String,
    pub email: String,
}

/// The hash an address is known by.
pub(super) fn hash(key: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// The addresses in the list before the import, as (hash, id), sorted.
pub(super) struct OldKeys(Vec<(u64, i64)>);

impl OldKeys {
    pub fn read(tx: &Transaction<'_>) -> anyhow::Result<OldKeys> {
        let mut select = tx.prepare("SELECT id, email_key FROM subscribers")?;
        let mut rows = select.query([])?;
        let mut keys = Vec::new();
        while let Some(row) = rows.next()? {
            keys.push((hash(row.get_ref(1)?.as_str()?), row.get(0)?));
        }
        keys.sort_unstable();
        Ok(OldKeys(keys))
    }

    #[cfg(test)]
    pub fn new(mut keys: Vec<(u64, i64)>) -> OldKeys {
        keys.sort_unstable();
        OldKeys(keys)
    }

    /// The ids of old rows whose address has this hash.
    fn with_hash(&self, hash: u64) -> impl Iterator<Item = i64> + '_ {
        let start = self.0.partition_point(|&(h, _)| h < hash);
        self.0[start..]
            .iter()
            .take_while(move |&&(h, _)| h == hash)
            .map(|&(_, id)| id)
    }
}

/// What settling decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Settled {
    /// Rows written that do not stand, to be deleted.
    pub delete: Vec<i64>,
    pub rejected: Vec<Rejected>,
    /// The rows that stand, by status.
    pub by_status: BTreeMap<Status, u64>,
    /// Addresses already in the list, whose new rows were all deleted.
    pub skipped_existing: u64,
    /// Addresses with rows in more than one file.
    pub in_several_files: u64,
}

/// Decide, for every address, which written row stands. `lookup` reads a
/// row of the list back by id; it is asked only about rows whose hash is
/// shared.
pub(super) fn settle(
    written: &mut [Written],
    old: &OldKeys,
    lookup: &mut impl FnMut(i64) -> anyhow::Result<Stored>,
) -> anyhow::Result<Settled> {
    written.sort_unstable_by_key(|w| (w.hash, w.id));
    let mut settled = Settled::default();
    for group in written.chunk_by(|a, b| a.hash == b.hash) {
        let old_ids: Vec<i64> = old.with_hash(group[0].hash).collect();
        if let ([only], true) = (group, old_ids.is_empty()) {
            *settled.by_status.entry(only.status).or_default() += 1;
            continue;
        }
        let mut rows = group
            .iter()
            .map(|w| Ok((lookup(w.id)?, *w)))
            .collect::<anyhow::Result<Vec<(Stored, Written)>>>()?;
        let old_keys = old_ids
            .into_iter()
            .map(|id| Ok(lookup(id)?.key))
            .collect::<anyhow::Result<Vec<String>>>()?;
        rows.sort_by(|a, b| (&a.0.key, a.1.id).cmp(&(&b.0.key, b.1.id)));
        for address in rows.chunk_by(|a, b| a.0.key == b.0.key) {
            let existing = old_keys.contains(&address[0].0.key);
            settle_address(address, existing, &mut settled);
        }
    }
    Ok(settled)
}

/// One address's rows, in the order they were read.
fn settle_address(rows: &[(Stored, Written)], existing: bool, settled: &mut Settled) {
    // The first row of each file.
    let mut firsts: Vec<&Written> = Vec::new();
    for (stored, row) in rows {
        if let Some(first) = firsts.iter().find(|f| f.file == row.file) {
            settled.rejected.push(Rejected {
                file: row.file,
                line: row.line,
                reason: format!("duplicate of line {} ({})", first.line, stored.email),
            });
            settled.delete.push(row.id);
            continue;
        }
        firsts.push(row);
    }
    settled.in_several_files += u64::from(firsts.len() > 1);
    let Some(winner) = firsts.iter().max_by_key(|w| w.standing()).copied() else {
        return;
    };
    settled
        .delete
        .extend(firsts.iter().filter(|w| w.id != winner.id).map(|w| w.id));
    if existing {
        settled.skipped_existing += 1;
        settled.delete.push(winner.id);
    } else {
        *settled.by_status.entry(winner.status).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A written row with this hash, as `file`'s row at `line`.
    fn row(id: i64, hash: u64, file: u32, line: u64, status: Status, rank: i64) -> Written {
        Written {
            hash,
            id,
            line,
            rank,
            file,
            status,
        }
    }

    /// Settle `written` against the old list `old` (id, key), where the
    /// keys of the written rows are `keys[id]`.
    fn run(written: &mut [Written], keys: &BTreeMap<i64, &str>, old: &[(u64, i64)]) -> Settled {
        let mut lookup = |id: i64| {
            let key = keys
                .get(&id)
                .copied()
                .expect("only known ids are looked up");
            Ok(Stored {
                key: key.into(),
                email: key.to_uppercase(),
            })
        };
        let mut settled = settle(written, &OldKeys::new(old.to_vec()), &mut lookup).unwrap();
        settled.delete.sort_unstable();
        settled
    }

    #[test]
    fn addresses_that_share_a_hash_are_still_told_apart() {
        use Status::{Active, Unsubscribed};
        // Every row hashes alike, as if all collided.
        let keys = BTreeMap::from([
            (1, "ada@example.com"),
            (2, "bob@example.com"),
            (3, "ada@example.com"),
            (4, "cy@example.com"),
            (5, "bob@example.com"),
            (9, "cy@example.com"),
        ]);
        let mut written = [
            row(1, 7, 0, 2, Active, i64::MIN),
            row(2, 7, 0, 3, Active, i64::MIN),
            // A second row of ada's in the same file.
            row(3, 7, 0, 4, Active, i64::MIN),
            // cy was in the list before (id 9).
            row(4, 7, 0, 5, Active, i64::MIN),
            // bob left in the second file, later than he joined.
            row(5, 7, 1, 2, Unsubscribed, 100),
        ];
        let settled = run(&mut written, &keys, &[(7, 9)]);
        assert_eq!(settled.delete, [2, 3, 4]);
        assert_eq!(
            settled.rejected,
            [Rejected {
                file: 0,
                line: 4,
                reason: "duplicate of line 2 (ADA@EXAMPLE.COM)".into()
            }]
        );
        assert_eq!(
            settled.by_status,
            BTreeMap::from([(Active, 1), (Unsubscribed, 1)])
        );
        assert_eq!(settled.skipped_existing, 1);
        assert_eq!(settled.in_several_files, 1);
    }

    #[test]
    fn a_row_with_a_hash_of_its_own_is_never_looked_up() {
        let mut written = [
            row(1, 1, 0, 2, Status::Active, i64::MIN),
            row(2, 2, 0, 3, Status::Pending, i64::MIN),
        ];
        // An old address with another hash does not touch them either.
        let settled = run(&mut written, &BTreeMap::new(), &[(3, 50)]);
        assert!(settled.delete.is_empty());
        assert_eq!(
            settled.by_status,
            BTreeMap::from([(Status::Active, 1), (Status::Pending, 1)])
        );
    }
}
