-- The patient an alert was filed about, as the ADT named them (sealed), kept
-- only until the alert is sent: the daily digest checks consent under it as
-- well as under the roster entry, so an opt-out recorded under the hospital's
-- identifier withdraws a digest alert matched to a practice's own entry.
ALTER TABLE alerts ADD COLUMN patient_sealed BYTEA;
