-- Indexes for the admin dashboard's per-day counts (messages in and out,
-- alerts, failures over the last 14 days) and for ending idle portal
-- sessions, so none of them scans a whole table as the store grows.

CREATE INDEX mailbox_day ON mailbox(folder, origin, received_at);
CREATE INDEX alerts_created ON alerts(created_at);
CREATE INDEX tracking_final_at ON tracking(final, final_at);
CREATE INDEX web_sessions_idle ON web_sessions(last_seen);
