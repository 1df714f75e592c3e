-- A digest of each received message (`mllp::content_digest`: SHA-256 of the
-- message in ER7's own form with MSH-7 blanked), so that a message reusing a
-- key already taken is told from a retry of the message that took it.
-- NULL for messages received before: taken as retries, as they were.
ALTER TABLE adt_messages ADD COLUMN content_digest TEXT;
