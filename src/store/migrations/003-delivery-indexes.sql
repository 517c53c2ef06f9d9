-- Recording a delivery changes its status: an index on status was rewritten
-- for every message sent. The sender pages through the primary key instead,
-- and bounce detection needs a subscriber's deliveries by issue, an index
-- that a status change never touches.
DROP INDEX deliveries_by_status;
CREATE INDEX deliveries_by_subscriber ON deliveries (subscriber_id, issue);
