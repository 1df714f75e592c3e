-- DNS: extra records an admin adds (SRV for LDAP, TXT, ...), and a serial that every
-- change to what the responder serves bumps (responders reload when it moves).
CREATE TABLE dns_records (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id   BIGINT  NOT NULL REFERENCES domains(id),
    name        TEXT    NOT NULL,
    rtype       TEXT    NOT NULL,
    ttl         BIGINT  NOT NULL,
    data        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX dns_records_domain ON dns_records(domain_id);

CREATE TABLE dns_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    serial  BIGINT  NOT NULL
);
INSERT INTO dns_state (id, serial) VALUES (1, 1);
