-- Two changes to `subscribers` that only a rebuild of the table can make:
-- - The uniqueness of `email_key` becomes a named index instead of a
--   column constraint, so that an import can set it aside while it writes
--   a big list and build it again, sorted, in one pass: a constraint's
--   index cannot be dropped, and filling it a row at a time in the file's
--   order costs a random B-tree insert per row.
-- - The checks on `role` and `status` compare with each value in turn
--   instead of `IN (…)`: SQLite answers an `IN` list in a CHECK by building
--   a little index for it and searching it, per row written, which cost an
--   import of a million rows almost a second. They allow what they did.
-- Ids are kept, so nothing that refers to a subscriber moves.
CREATE TABLE subscribers_new (
    id                 INTEGER PRIMARY KEY,
    email              TEXT NOT NULL,
    email_key          TEXT NOT NULL,
    name               TEXT,
    role               TEXT CHECK (role IS NULL OR role = 'technical_lead' OR role = 'business_owner'
                                   OR role = 'executive'),
    status             TEXT NOT NULL CHECK (status = 'pending' OR status = 'active'
                                            OR status = 'unsubscribed' OR status = 'bounced'),
    token              TEXT NOT NULL UNIQUE,
    created_at         TEXT NOT NULL,
    confirmed_at       TEXT,
    unsubscribed_at    TEXT,
    confirm_token      TEXT,
    confirm_sent_at    TEXT,
    unsubscribed_how   TEXT,
    timezone           TEXT,
    paused_until       TEXT,
    unsubscribe_reason TEXT,
    welcomed_at        TEXT
);
INSERT INTO subscribers_new (id, email, email_key, name, role, status, token, created_at,
        confirmed_at, unsubscribed_at, confirm_token, confirm_sent_at, unsubscribed_how,
        timezone, paused_until, unsubscribe_reason, welcomed_at)
    SELECT id, email, email_key, name, role, status, token, created_at,
        confirmed_at, unsubscribed_at, confirm_token, confirm_sent_at, unsubscribed_how,
        timezone, paused_until, unsubscribe_reason, welcomed_at
    FROM subscribers;
DROP TABLE subscribers;
ALTER TABLE subscribers_new RENAME TO subscribers;
CREATE UNIQUE INDEX subscribers_by_email_key ON subscribers (email_key);
CREATE INDEX subscribers_by_status ON subscribers (status, id);
CREATE UNIQUE INDEX subscribers_by_confirm_token ON subscribers (confirm_token)
    WHERE confirm_token IS NOT NULL;
