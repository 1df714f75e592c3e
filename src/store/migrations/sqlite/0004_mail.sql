-- Mail: the inbound queue (raw messages committed before the MX says 250), the
-- outbound queue (one row per message and recipient: each recipient's copy is
-- encrypted for that recipient), mailboxes, quarantine, and delivery tracking.
-- Message bytes and subjects are sealed under the master key. Workers claim rows
-- with a lease (claimed_by, lease_until).

CREATE TABLE inbound_queue (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at      BIGINT  NOT NULL,
    source           TEXT    NOT NULL,
    peer             TEXT    NOT NULL,
    mail_from        TEXT    NOT NULL,
    rcpts            TEXT    NOT NULL,
    raw_sealed       BLOB    NOT NULL,
    size             BIGINT  NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'new',
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    claimed_by       TEXT,
    lease_until      BIGINT  NOT NULL DEFAULT 0,
    result           TEXT,
    done_at          BIGINT
);
CREATE INDEX inbound_queue_ready ON inbound_queue(state, next_attempt_at);

CREATE TABLE outbound_queue (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL,
    message_id       TEXT    NOT NULL,
    mail_from        TEXT    NOT NULL,
    rcpt             TEXT    NOT NULL,
    domain           TEXT    NOT NULL,
    raw_sealed       BLOB    NOT NULL,
    size             BIGINT  NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'queued',
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL,
    claimed_by       TEXT,
    lease_until      BIGINT  NOT NULL DEFAULT 0,
    last_error       TEXT,
    created_at       BIGINT  NOT NULL,
    done_at          BIGINT
);
CREATE INDEX outbound_queue_ready ON outbound_queue(state, next_attempt_at);

CREATE TABLE mailbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    address_id      BIGINT  NOT NULL REFERENCES addresses(id),
    folder          TEXT    NOT NULL,
    message_id      TEXT,
    from_addr       TEXT    NOT NULL,
    subject_sealed  BLOB    NOT NULL,
    raw_sealed      BLOB    NOT NULL,
    size            BIGINT  NOT NULL,
    date            BIGINT  NOT NULL,
    received_at     BIGINT  NOT NULL,
    seen            BIGINT  NOT NULL DEFAULT 0,
    origin          TEXT    NOT NULL,
    origin_id       BIGINT,
    UNIQUE (address_id, folder, origin, origin_id)
);
CREATE INDEX mailbox_address ON mailbox(address_id, folder, id);

CREATE TABLE quarantine (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    inbound_id   BIGINT  NOT NULL UNIQUE,
    received_at  BIGINT  NOT NULL,
    mail_from    TEXT    NOT NULL,
    rcpts        TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    raw_sealed   BLOB    NOT NULL,
    created_at   BIGINT  NOT NULL
);

CREATE TABLE tracking (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id        TEXT    NOT NULL,
    sender            TEXT    NOT NULL,
    recipient         TEXT    NOT NULL,
    subject_sealed    BLOB    NOT NULL,
    wants_dispatched  BIGINT  NOT NULL,
    wants_notice      BIGINT  NOT NULL,
    state             TEXT    NOT NULL,
    final             TEXT,
    detail            TEXT,
    created_at        BIGINT  NOT NULL,
    sent_at           BIGINT,
    processed_at      BIGINT,
    dispatched_at     BIGINT,
    final_at          BIGINT,
    deadline          BIGINT,
    UNIQUE (message_id, recipient)
);
CREATE INDEX tracking_open ON tracking(final, deadline);

CREATE TABLE tracking_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tracking_id  BIGINT  NOT NULL REFERENCES tracking(id),
    at           BIGINT  NOT NULL,
    event        TEXT    NOT NULL,
    detail       TEXT,
    suppressed   BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX tracking_events_tracking ON tracking_events(tracking_id, id);
