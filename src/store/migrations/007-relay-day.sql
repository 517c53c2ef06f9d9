-- A relay's `max_per_day` is a rolling 24 hours counted across runs: how
-- many deliveries it took since a moment is one range of this index.
CREATE INDEX deliveries_by_relay ON deliveries (relay, sent_at) WHERE relay IS NOT NULL;
