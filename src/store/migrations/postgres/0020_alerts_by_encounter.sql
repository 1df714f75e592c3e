-- A cancellation (A11/A12/A13) reads who was alerted about its visit, so that
-- its retraction reaches them even when their roster no longer lists the
-- patient (`notify::visit_recipients`).
CREATE INDEX alerts_encounter ON alerts(encounter_id, id);
