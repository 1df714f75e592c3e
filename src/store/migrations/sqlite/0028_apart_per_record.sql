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
CREATE TABLE distinct_entries_0028 (
    entry_id      BIGINT  NOT NULL,
    other_id      BIGINT  NOT NULL,
    review_id     BIGINT  NOT NULL,
    decided_by    TEXT    NOT NULL,
    decided_at    BIGINT  NOT NULL,
    record_sealed BLOB,
    PRIMARY KEY (entry_id, other_id, review_id)
);
INSERT INTO distinct_entries_0028 (entry_id, other_id, review_id, decided_by, decided_at)
    SELECT entry_id, other_id, review_id, decided_by, decided_at FROM distinct_entries;
DROP TABLE distinct_entries;
ALTER TABLE distinct_entries_0028 RENAME TO distinct_entries;
CREATE INDEX distinct_entries_other ON distinct_entries (other_id);
