-- When an encounter's last episode was closed: the time (event time, Unix
-- seconds) its state was last set before the next episode began. A late
-- message timed at or before it belongs to the closed episode; one timed
-- after it (out of order within the new episode) does not.
ALTER TABLE encounters ADD COLUMN closed_at BIGINT;
-- The digest loop looks for unsent alerts every 30 s on every node.
CREATE INDEX alerts_unsent ON alerts(subscriber) WHERE message_id IS NULL;
