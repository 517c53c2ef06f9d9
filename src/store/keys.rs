//! What the store keeps besides the list: the key that signs delivery
//! tags, made once per database, and the lease of a run that is not a
//! send (`inbound --imap`), so two overlapping cron runs never work at once.

use rusqlite::OptionalExtension as _;

use super::Store;
use crate::lease::Holder;
use crate::tag::TagKey;
use crate::timestamp::Timestamp;

impl Store {
    /// The key that signs delivery tags, made on first use.
    pub fn tag_key(&mut self) -> anyhow::Result<TagKey> {
        if let Some(key) = self.existing_tag_key()? {
            return Ok(key);
        }
        let key = TagKey::generate()?;
        self.conn.execute(
            "INSERT INTO keys (name, value) VALUES ('tag', ?1) ON CONFLICT (name) DO NOTHING",
            [key.bytes().as_slice()],
        )?;
        // Another process may have written its key first: theirs stands.
        self.existing_tag_key()?
            .ok_or_else(|| anyhow::anyhow!("the tag key was not stored"))
    }

    /// The tag key, if one was made (for read-only commands).
    pub fn existing_tag_key(&self) -> anyhow::Result<Option<TagKey>> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT value FROM keys WHERE name = 'tag'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match bytes {
            None => Ok(None),
            Some(b) => TagKey::from_bytes(&b)
                .map(Some)
                .ok_or_else(|| anyhow::anyhow!("the stored tag key is damaged (not 32 bytes)")),
        }
    }
}

impl Store {
    /// The lease `name` for a run that is not a send (`inbound --imap`),
    /// for `ttl`: taken when it is free, expired, or held by a process gone
    /// from this host. `Some(holder)` when a live run holds it.
    pub fn take_run_lease(
        &self,
        name: &str,
        holder: &Holder,
        now: Timestamp,
        ttl: std::time::Duration,
    ) -> anyhow::Result<Option<String>> {
        let until =
            Timestamp::from(now.at() + chrono::Duration::seconds(ttl.as_secs().min(86_400) as i64));
        let me = holder.to_string();
        let Some(other) = super::deliveries::try_lease(&self.conn, name, &me, now, until)? else {
            return Ok(None);
        };
        if Holder::is_gone_from(&other, &holder.host)
            && super::deliveries::take_over_lease(&self.conn, name, &me, &other, until)?
        {
            return Ok(None);
        }
        Ok(Some(other))
    }

    pub fn release_run_lease(&self, name: &str, holder: &Holder) -> anyhow::Result<()> {
        super::deliveries::release_lease(&self.conn, name, &holder.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_key_is_made_once() {
        let mut store = Store::in_memory().unwrap();
        assert!(store.existing_tag_key().unwrap().is_none());
        let first = store.tag_key().unwrap();
        let again = store.tag_key().unwrap();
        assert_eq!(first.bytes(), again.bytes());
    }
}
