-- Only readers who subscribed through the form have a confirmation token;
-- a list brought in by `subscribers import` has none. Index only the rows
-- that have one: lookups by token (`confirm_token = ?`) use it as before,
-- and importing a million rows no longer writes a million NULL entries.
DROP INDEX subscribers_by_confirm_token;
CREATE UNIQUE INDEX subscribers_by_confirm_token ON subscribers (confirm_token)
    WHERE confirm_token IS NOT NULL;
