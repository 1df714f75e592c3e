-- A processed ADT message is kept only while a review of it is open
-- (confirming sends from it); alerts carry their own sealed copy, and
-- nothing else reads it. Forget the ones kept before that rule.
UPDATE adt_messages SET raw_sealed = NULL
WHERE state = 'done'
  AND raw_sealed IS NOT NULL
  AND id NOT IN (SELECT adt_id FROM match_reviews WHERE status IN ('open', 'confirming'));
