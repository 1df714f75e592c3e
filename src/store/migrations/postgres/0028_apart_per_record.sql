-- A judgment that two roster entries are different people (confirming a
-- held review, `distinct_entries`) is about the hospital's record the admin
-- looked at: the identifiers of the reviewed message's patient, sealed
-- (JSON list of [value, authority]). It sets the entries apart for
-- messages about that record only; a message about another record (a twin
-- registered under her sibling's name and birth date, with her own number)
-- is held for review again. NULL (judgments recorded before 0028): any
-- record, as then.
--
-- Each review's judgment is its own row, so that a confirmation given back
-- deletes its own and no other review's (before, a pair belonged to the
-- first review that recorded it).
ALTER TABLE distinct_entries ADD COLUMN record_sealed BYTEA;
ALTER TABLE distinct_entries DROP CONSTRAINT distinct_entries_pkey;
ALTER TABLE distinct_entries ADD PRIMARY KEY (entry_id, other_id, review_id);
