-- ADT messages of one feed take effect in the order they were received
-- (an A01 before the A11 that cancels it), on every node and after a retry.
-- A claim takes unprocessed rows in id order, skipping any row behind an
-- earlier row of its feed (MSH-4) that is leased or waiting to be retried.
-- Both indexes hold every column those tests read, so a claim reads no
-- row it does not take (see 0010).
DROP INDEX adt_messages_ready;
CREATE INDEX adt_messages_order ON adt_messages(state, id, next_attempt_at, lease_until, sending_facility);
CREATE INDEX adt_messages_feed ON adt_messages(state, sending_facility, id, next_attempt_at, lease_until);
