-- Subscribers. `email` keeps the address as given (domain lower-cased);
-- `email_key` is the whole address lower-cased, so uniqueness ignores case.
CREATE TABLE subscribers (
    id              INTEGER PRIMARY KEY,
    email           TEXT NOT NULL,
    email_key       TEXT NOT NULL UNIQUE,
    name            TEXT,
    role            TEXT CHECK (role IS NULL OR role IN ('technical_lead', 'business_owner', 'executive')),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced')),
    token           TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    confirmed_at    TEXT,
    unsubscribed_at TEXT
);
CREATE INDEX subscribers_by_status ON subscribers (status, id);

-- An issue is frozen when its first send starts: what it featured and
-- announced, and its subject, never change after that.
CREATE TABLE issues (
    week             TEXT PRIMARY KEY,
    subject          TEXT NOT NULL,
    featured         TEXT NOT NULL,
    new_terms        TEXT NOT NULL,  -- JSON array of slugs
    created_at       TEXT NOT NULL,
    sent_started_at  TEXT,
    sent_finished_at TEXT
);

-- The delivery ledger: one row per (issue, subscriber), updated, never
-- deleted. `skipped`: the subscriber left after being queued.
CREATE TABLE deliveries (
    issue         TEXT NOT NULL REFERENCES issues (week),
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id),
    status        TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'skipped')),
    attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error    TEXT,
    permanent     INTEGER NOT NULL DEFAULT 0 CHECK (permanent IN (0, 1)),
    sent_at       TEXT,
    PRIMARY KEY (issue, subscriber_id)
) WITHOUT ROWID;
CREATE INDEX deliveries_by_status ON deliveries (issue, status);

-- Leases: a running `send` holds the lease of its week and renews it; a
-- second run waits or stops, and a lease left by a killed run expires.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
