-- Hearing back: what became of the mail after it left, one row per event
-- in a subscriber's history (bounces, complaints, unsubscribes and how).
-- Subscribed, confirmed and each issue sent are read from `subscribers`
-- and `deliveries`, where they already are.
CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id),
    at            TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN (
                      'hard_bounce', 'soft_bounce', 'delayed', 'delivered', 'relayed',
                      'expanded', 'complaint', 'unsubscribed', 'bounced', 'resubscribed')),
    -- The issue the event is about, when known.
    issue         TEXT,
    -- For `unsubscribed`: one-click, page, mailto, cli, complaint.
    how           TEXT,
    -- The remote server's reply, or what the report said.
    detail        TEXT
);
CREATE INDEX events_by_subscriber ON events (subscriber_id, id);
CREATE INDEX events_by_issue ON events (issue, kind);
-- One report of a kind per delivery: the same DSN or ARF report applied
-- twice is recognised instead of counted twice.
CREATE UNIQUE INDEX events_once ON events (subscriber_id, issue, kind)
    WHERE issue IS NOT NULL AND kind NOT IN ('unsubscribed', 'bounced', 'resubscribed');

-- Why an unsubscribed subscriber left (the `how` of their last
-- `unsubscribed` event): a complaint is never quietly undone.
ALTER TABLE subscribers ADD COLUMN unsubscribed_how TEXT;

-- Keys generated once per database: `tag` signs the delivery tags in VERP
-- addresses and Message-IDs.
CREATE TABLE keys (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
