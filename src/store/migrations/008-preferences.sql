-- What a reader chose on their preferences page: their time zone (an IANA
-- name; NULL: the newsletter's), a pause (no issue whose Sunday falls
-- before this date is queued for them), why they left, if they said, and
-- when their welcome email went out (once per subscriber).
ALTER TABLE subscribers ADD COLUMN timezone TEXT;
ALTER TABLE subscribers ADD COLUMN paused_until TEXT;
ALTER TABLE subscribers ADD COLUMN unsubscribe_reason TEXT;
ALTER TABLE subscribers ADD COLUMN welcomed_at TEXT;
