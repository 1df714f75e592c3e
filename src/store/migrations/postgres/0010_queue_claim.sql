-- Queue claims answered from the index alone: the lease joins state and due
-- time in each queue's index (the same change as SQLite's 0010, where reading
-- a candidate row's lease was the cost of a claim).
DROP INDEX inbound_queue_ready;
CREATE INDEX inbound_queue_ready ON inbound_queue(state, next_attempt_at, lease_until);
DROP INDEX outbound_queue_ready;
CREATE INDEX outbound_queue_ready ON outbound_queue(state, next_attempt_at, lease_until);
DROP INDEX adt_messages_ready;
CREATE INDEX adt_messages_ready ON adt_messages(state, next_attempt_at, lease_until);
