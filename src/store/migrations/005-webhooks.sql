-- Provider webhooks: two more event kinds that are recorded, never
-- counted ('dropped': the relay would not send; 'notice': any other
-- report worth keeping), which means rebuilding `events` for its CHECK.
CREATE TABLE events_new (
    id            INTEGER PRIMARY KEY,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id),
    at            TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN (
                      'hard_bounce', 'soft_bounce', 'delayed', 'delivered', 'relayed',
                      'expanded', 'complaint', 'unsubscribed', 'bounced', 'resubscribed',
                      'dropped', 'notice')),
    issue         TEXT,
    how           TEXT,
    detail        TEXT
);
INSERT INTO events_new (id, subscriber_id, at, kind, issue, how, detail)
    SELECT id, subscriber_id, at, kind, issue, how, detail FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_by_subscriber ON events (subscriber_id, id);
CREATE INDEX events_by_issue ON events (issue, kind);
CREATE UNIQUE INDEX events_once ON events (subscriber_id, issue, kind)
    WHERE issue IS NOT NULL AND kind NOT IN ('unsubscribed', 'bounced', 'resubscribed');

-- Mailgun signature tokens already accepted: a token seen twice is a
-- replay. Kept well past the five-minute window, then pruned.
CREATE TABLE webhook_tokens (
    token TEXT PRIMARY KEY,
    at    TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX webhook_tokens_by_age ON webhook_tokens (at);
