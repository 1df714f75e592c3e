-- When (the event time) an encounter entered its state: a visit number
-- reused after a discharge (a readmission, a recurring account) begins a new
-- episode that alerts afresh, and an ED visit with no discharge closes after
-- 48 hours (STANDARDS §7). NULL for encounters from before, which then keep
-- what they alerted until their next state change.
ALTER TABLE encounters ADD COLUMN state_at BIGINT;
