-- Encounters from before 0015 have no state_at, so their next readmission
-- (after a discharge) or a new ED visit under the same number (48 hours on)
-- could not begin a new episode. The time the state was saved is at or after
-- the event that set it: close enough, and on the side of treating a
-- message as late rather than alerting twice.
UPDATE encounters SET state_at = updated_at WHERE state_at IS NULL AND state IN ('discharged', 'ed');
