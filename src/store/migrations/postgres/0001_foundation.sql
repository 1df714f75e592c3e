-- Foundation: domains, users, addresses, certificates, the CA, anchors, the audit log.
-- Times are Unix seconds; flags are 0/1 integers (one code path through sqlx::Any).

CREATE TABLE domains (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE users (
    id                    BIGSERIAL PRIMARY KEY,
    username              TEXT    NOT NULL UNIQUE,
    password_hash         TEXT    NOT NULL,
    role                  TEXT    NOT NULL,
    must_change_password  BIGINT  NOT NULL DEFAULT 0,
    totp_sealed           BYTEA,
    enabled               BIGINT  NOT NULL DEFAULT 1,
    created_at            BIGINT  NOT NULL
);

CREATE TABLE addresses (
    id             BIGSERIAL PRIMARY KEY,
    address        TEXT    NOT NULL UNIQUE,
    domain_id      BIGINT  NOT NULL REFERENCES domains(id),
    display_name   TEXT,
    owner_user_id  BIGINT  REFERENCES users(id),
    enabled        BIGINT  NOT NULL DEFAULT 1,
    created_at     BIGINT  NOT NULL
);

CREATE TABLE certificates (
    id                 BIGSERIAL PRIMARY KEY,
    domain_id          BIGINT  NOT NULL REFERENCES domains(id),
    address_id         BIGINT  REFERENCES addresses(id),
    usage              TEXT    NOT NULL,
    source             TEXT    NOT NULL,
    serial             TEXT    NOT NULL,
    fingerprint        TEXT    NOT NULL UNIQUE,
    subject            TEXT    NOT NULL,
    not_before         BIGINT  NOT NULL,
    not_after          BIGINT  NOT NULL,
    cert_der           BYTEA   NOT NULL,
    chain_pem          TEXT,
    key_sealed         BYTEA   NOT NULL,
    revoked_at         BIGINT,
    revocation_reason  TEXT,
    created_at         BIGINT  NOT NULL
);
CREATE INDEX certificates_domain ON certificates(domain_id);
CREATE INDEX certificates_address ON certificates(address_id);

CREATE TABLE ca (
    id               BIGINT  PRIMARY KEY CHECK (id = 1),
    cert_der         BYTEA   NOT NULL,
    key_sealed       BYTEA   NOT NULL,
    crl_number       BIGINT  NOT NULL DEFAULT 0,
    crl_der          BYTEA,
    crl_next_update  BIGINT,
    created_at       BIGINT  NOT NULL
);

-- Our CA's revocations: kept apart from certificates so a removed address's
-- revoked serials stay on the CRL.
CREATE TABLE crl_entries (
    serial      TEXT    PRIMARY KEY,
    revoked_at  BIGINT  NOT NULL,
    reason      TEXT    NOT NULL
);

CREATE TABLE anchors (
    id           BIGSERIAL PRIMARY KEY,
    domain_id    BIGINT  NOT NULL REFERENCES domains(id),
    incoming     BIGINT  NOT NULL,
    outgoing     BIGINT  NOT NULL,
    fingerprint  TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    cert_der     BYTEA   NOT NULL,
    bundle_id    BIGINT,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX anchors_domain ON anchors(domain_id);

CREATE TABLE audit_log (
    seq        BIGINT  PRIMARY KEY,
    at         BIGINT  NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);

-- The chain's head: appenders update it first, which serializes them on both engines.
CREATE TABLE audit_head (
    id    BIGINT  PRIMARY KEY CHECK (id = 1),
    seq   BIGINT  NOT NULL,
    hash  TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
