-- An identifier two people were registered under (a shared member number, a
-- reused MRN) is disputed: it finds no one, and later A28/A31s do not file
-- it again. Folding by such identifiers before this could have merged two
-- people's records into one, so the patient index starts again: hospitals'
-- next A28/A31 messages rebuild it.
ALTER TABLE patient_index ADD COLUMN disputed BIGINT NOT NULL DEFAULT 0;
DELETE FROM patient_index;

-- Finishing an ADT row asks whether a review of it is open.
CREATE INDEX match_reviews_adt ON match_reviews(adt_id);
