-- Which number keys an encounter: 'visit' (PV1-19), 'account' (PID-18,
-- when the message gave no real PV1-19) or 'derived' (from the patient and
-- admit time, or the control id); NULL for encounters from before this
-- column until their next message (`notify::renumber_encounter`: A45/A50
-- move only visit numbers, A35/A49 only account numbers).
ALTER TABLE encounters ADD COLUMN keyed_by TEXT;
