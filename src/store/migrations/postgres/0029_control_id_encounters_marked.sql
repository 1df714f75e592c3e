-- An encounter keyed by its message's control id (no real visit number,
-- no identifier with an admit time) is now keyed `~` + the control id,
-- stored blinded (`adt::encounter_key`, `process::stored_key`), so it can
-- never be the visit of the same number at the facility. Those stored
-- before keep the id, marked so: unmarked, the visit numbered like an old
-- control id would open that other patient's encounter and find its alert
-- taken. Rows of one message each, which nothing else finds. A mark that
-- would take a key already stored (an absurd control id) is left alone.
UPDATE encounters SET visit = '~' || visit
 WHERE keyed_by = 'derived'
   AND visit NOT LIKE '~%'
   AND NOT EXISTS (SELECT 1 FROM encounters e2
                    WHERE e2.facility = encounters.facility
                      AND e2.visit = '~' || encounters.visit);
