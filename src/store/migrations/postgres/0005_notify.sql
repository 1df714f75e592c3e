-- Notify: registered ADT feeds, received ADT messages (the dedup key, the ACK
-- we gave, the sealed message until processed), rosters and consent (sealed
-- patient data, matched in memory), encounters, alerts and the review queue.

CREATE TABLE feeds (
    id          BIGSERIAL PRIMARY KEY,
    facility    TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    sensitive   BIGINT  NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE adt_messages (
    id                BIGSERIAL PRIMARY KEY,
    sending_app       TEXT    NOT NULL,
    sending_facility  TEXT    NOT NULL,
    control_id        TEXT    NOT NULL,
    received_at       BIGINT  NOT NULL,
    ack               TEXT    NOT NULL,
    raw_sealed        BYTEA,
    state             TEXT    NOT NULL DEFAULT 'new',
    attempts          BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT  NOT NULL,
    claimed_by        TEXT,
    lease_until       BIGINT  NOT NULL DEFAULT 0,
    result            TEXT,
    UNIQUE (sending_app, sending_facility, control_id)
);
CREATE INDEX adt_messages_ready ON adt_messages(state, next_attempt_at);

CREATE TABLE roster_entries (
    id            BIGSERIAL PRIMARY KEY,
    owner         TEXT    NOT NULL,
    patient_sealed BYTEA   NOT NULL,
    program       TEXT,
    end_date      TEXT,
    expires_at    BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL
);
CREATE INDEX roster_entries_owner ON roster_entries(owner);

CREATE TABLE consents (
    id              BIGSERIAL PRIMARY KEY,
    decision        TEXT    NOT NULL,
    patient_sealed  BYTEA    NOT NULL,
    created_at      BIGINT  NOT NULL
);

CREATE TABLE encounters (
    id            BIGSERIAL PRIMARY KEY,
    facility      TEXT    NOT NULL,
    visit         TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    alerted       TEXT    NOT NULL DEFAULT '',
    updated_at    BIGINT  NOT NULL,
    UNIQUE (facility, visit)
);

CREATE TABLE alerts (
    id             BIGSERIAL PRIMARY KEY,
    subscriber     TEXT    NOT NULL,
    encounter_id   BIGINT  NOT NULL,
    change_key     TEXT    NOT NULL,
    event          TEXT    NOT NULL,
    status         TEXT    NOT NULL DEFAULT 'new',
    program        TEXT,
    facility       TEXT    NOT NULL,
    message_id     TEXT,
    summary_sealed BYTEA    NOT NULL,
    created_at     BIGINT  NOT NULL,
    UNIQUE (subscriber, encounter_id, change_key)
);

CREATE TABLE match_reviews (
    id               BIGSERIAL PRIMARY KEY,
    adt_id           BIGINT  NOT NULL,
    roster_entry_id  BIGINT  NOT NULL,
    score            TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL
);
