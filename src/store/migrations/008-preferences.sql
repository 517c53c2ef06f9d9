-- What a reader chose on their preferences page: their time zone (an IANA
-- name; NULL: the newsletter's), a pause (no issue whose Sunday falls
-- before this date is queued for them), and why they left, if they said.
ALTER TABLE subscribers ADD COLUMN timezone TEXT;
ALTER TABLE subscribers ADD COLUMN paused_until TEXT;
ALTER TABLE subscribers ADD COLUMN unsubscribe_reason TEXT;
