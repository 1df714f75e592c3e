-- A near-miss match can be decided. A review keeps what the worker decided
-- for the encounter (its id, the change key and the event), so confirming it
-- sends exactly the alert the worker held back; then who decided what, when.
-- Reviews filed before this migration have no change to send: they can only
-- be rejected.
ALTER TABLE match_reviews ADD COLUMN encounter_id BIGINT;
ALTER TABLE match_reviews ADD COLUMN change_key TEXT;
ALTER TABLE match_reviews ADD COLUMN event TEXT;
ALTER TABLE match_reviews ADD COLUMN status TEXT NOT NULL DEFAULT 'open';
ALTER TABLE match_reviews ADD COLUMN decided_by TEXT;
ALTER TABLE match_reviews ADD COLUMN decided_at BIGINT;
CREATE INDEX match_reviews_status ON match_reviews(status, id);
