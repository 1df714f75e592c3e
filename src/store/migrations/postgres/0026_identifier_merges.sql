-- The sure identifier merges hospitals sent (A40, A39, A34, A36, A18 within
-- one assigning authority, `process::kept_merge`): a retired number and the
-- one that survives it, each pair once. An opt-out recorded after a merge
-- under either number is recorded under every number merged with it
-- (`store::notify::merged_identifiers`), as one recorded before the merge
-- is carried to the survivor. Both numbers
-- are kept blind-hashed for the lookup (the patient index's keys) and
-- sealed together for the record: no name, no demographics.
CREATE TABLE identifier_merges (
    retired_hash    TEXT    NOT NULL,
    survivor_hash   TEXT    NOT NULL,
    pair_sealed     BYTEA   NOT NULL,
    merged_at       BIGINT  NOT NULL,
    PRIMARY KEY (retired_hash, survivor_hash)
);
CREATE INDEX identifier_merges_survivor ON identifier_merges (survivor_hash);

-- Bumped by every rewrite of a decision (a merge adding numbers to it), so
-- that a merge planned against older decisions sees they changed
-- (`store::notify::consent_stamp`): decisions are added, or rewritten, and
-- never deleted.
ALTER TABLE consents ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
