-- The portal and the API: signed-in sessions (the cookie carries a random
-- token; only its SHA-256 is stored), the last TOTP step a user spent (a code
-- is never accepted twice), API keys (stored hashed, scoped to a role and to
-- addresses), and each user's personal address book.

CREATE TABLE web_sessions (
    token_hash   TEXT    PRIMARY KEY,
    user_id      BIGINT  NOT NULL REFERENCES users(id),
    csrf         TEXT    NOT NULL,
    mfa_done     BIGINT  NOT NULL DEFAULT 0,
    created_at   BIGINT  NOT NULL,
    last_seen    BIGINT  NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);

ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    key_hash      TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    addresses     TEXT    NOT NULL,
    created_by    TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    revoked_at    BIGINT,
    last_used_at  BIGINT
);

CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     BIGINT  NOT NULL REFERENCES users(id),
    name        TEXT    NOT NULL,
    address     TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    UNIQUE (user_id, address)
);
