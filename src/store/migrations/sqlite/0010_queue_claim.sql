-- Queue claims answered from the index alone. A claim filters on state, due
-- time and lease; with the lease outside the index, every candidate row had to
-- be read, and in SQLite a row's columns after a message too large for its
-- page (raw_sealed) are reached only by walking that message's overflow pages:
-- about 50 us per candidate, and a claim looks at the leased rows ahead of the
-- free ones. With the lease in the index, and claims ordered by this index's
-- own order (due time, then lease, then id), a claim reads index entries up to
-- its limit and then only the rows it takes.
DROP INDEX inbound_queue_ready;
CREATE INDEX inbound_queue_ready ON inbound_queue(state, next_attempt_at, lease_until);
DROP INDEX outbound_queue_ready;
CREATE INDEX outbound_queue_ready ON outbound_queue(state, next_attempt_at, lease_until);
DROP INDEX adt_messages_ready;
CREATE INDEX adt_messages_ready ON adt_messages(state, next_attempt_at, lease_until);
