-- A sure match whose alert only a near miss's opt-out withholds (another
-- practice's roster entry the message nearly matches, whose patient opted
-- out: a twin, a sibling) is held for review rather than dropped: the
-- review names the near misses that withheld it, comma-separated roster
-- entry ids (NULL on a near miss's own review).
ALTER TABLE match_reviews ADD COLUMN withheld_by TEXT;

-- Pairs of roster entries an admin judged to be different people, by
-- confirming such a review (`hisp alert review ID --confirm`): the near
-- miss no longer withholds the sure match's alerts. Entry ids only (the
-- entries hold the patients, sealed), the lower first; removed with either
-- entry.
CREATE TABLE distinct_entries (
    entry_id     BIGINT  NOT NULL,
    other_id     BIGINT  NOT NULL,
    review_id    BIGINT  NOT NULL,
    decided_by   TEXT    NOT NULL,
    decided_at   BIGINT  NOT NULL,
    PRIMARY KEY (entry_id, other_id)
);
CREATE INDEX distinct_entries_other ON distinct_entries (other_id);
