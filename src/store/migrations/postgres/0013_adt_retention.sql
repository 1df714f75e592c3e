-- A processed ADT message is kept only while a review of it is open
-- (confirming sends from it); alerts carry their own sealed copy, and
-- nothing else reads it. Forget the ones kept before that rule.
UPDATE adt_messages SET raw_sealed = NULL
WHERE state = 'done'
  AND raw_sealed IS NOT NULL
  AND id NOT IN (SELECT adt_id FROM match_reviews WHERE status IN ('open', 'confirming'));

-- An identifier two people were registered under (a shared member number, a
-- reused MRN) is disputed: it finds no one, and later A28/A31s do not file
-- it again. Folding by such identifiers before this could have merged two
-- people's records into one, so the patient index starts again: hospitals'
-- next A28/A31 messages rebuild it.
ALTER TABLE patient_index ADD COLUMN disputed BIGINT NOT NULL DEFAULT 0;
DELETE FROM patient_index;

-- Finishing a row asks whether a review of it is open.
CREATE INDEX match_reviews_adt ON match_reviews(adt_id);
