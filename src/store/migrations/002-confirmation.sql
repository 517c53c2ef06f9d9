-- Double opt-in: the token in the confirmation link, and when the last
-- confirmation mail went out (at most one per address per 10 minutes;
-- links expire after `[serve] confirm_expiry_hours`).
ALTER TABLE subscribers ADD COLUMN confirm_token TEXT;
ALTER TABLE subscribers ADD COLUMN confirm_sent_at TEXT;
CREATE UNIQUE INDEX subscribers_by_confirm_token ON subscribers (confirm_token);
