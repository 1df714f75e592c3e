-- Notify, continued: a change counter that the worker's in-memory caches of
-- feeds, rosters and consents watch; the patient index (A28/A31 add or update
-- a person, A40 merges), one row per identifier under a keyed hash with the
-- person sealed; each subscriber's delivery mode (real time or daily digest);
-- and which roster entry and event time an alert was for (identical alerts,
-- the same event reported twice, are sent once within [notify]
-- dedup_window_secs).

CREATE TABLE notify_generation (
    id          BIGINT  PRIMARY KEY,
    generation  BIGINT  NOT NULL
);
INSERT INTO notify_generation (id, generation) VALUES (1, 0);

CREATE TABLE patient_index (
    id_hash         TEXT    PRIMARY KEY,
    patient_sealed  BYTEA      NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE subscriptions (
    subscriber      TEXT    PRIMARY KEY,
    mode            TEXT    NOT NULL,
    last_digest_at  BIGINT  NOT NULL DEFAULT 0,
    updated_at      BIGINT  NOT NULL
);

ALTER TABLE alerts ADD COLUMN roster_entry_id BIGINT;
ALTER TABLE alerts ADD COLUMN event_time TEXT;
CREATE INDEX alerts_recent ON alerts(subscriber, roster_entry_id, event, created_at);
