-- Trust bundles (a .p7b of anchors, optionally CMS-signed, fetched from a URL or file).
CREATE TABLE bundles (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id     BIGINT  NOT NULL REFERENCES domains(id),
    url           TEXT    NOT NULL,
    incoming      BIGINT  NOT NULL,
    outgoing      BIGINT  NOT NULL,
    refresh_secs  BIGINT  NOT NULL,
    signer_der    BLOB,
    thumbprint    TEXT,
    status        TEXT    NOT NULL,
    last_attempt  BIGINT,
    last_success  BIGINT,
    created_at    BIGINT  NOT NULL,
    UNIQUE (domain_id, url)
);
