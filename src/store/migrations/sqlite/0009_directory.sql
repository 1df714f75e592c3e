-- The directory's change counter: every write to what the agent and the SMTP
-- listeners look up per message (domains, addresses, certificates, anchors,
-- the CA certificate) bumps it in the same transaction, by trigger, so no
-- write path can forget. Each node memoizes those lookups and drops its memo
-- when the counter moves (ops/directory.rs).
CREATE TABLE directory_generation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  BIGINT  NOT NULL
);
INSERT INTO directory_generation (id, generation) VALUES (1, 0);

CREATE TRIGGER directory_domains_ins AFTER INSERT ON domains BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER directory_domains_upd AFTER UPDATE ON domains BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER directory_domains_del AFTER DELETE ON domains BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER directory_addresses_ins AFTER INSERT ON addresses BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER directory_addresses_upd AFTER UPDATE ON addresses BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER directory_addresses_del AFTER DELETE ON addresses BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER directory_certificates_ins AFTER INSERT ON certificates BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER directory_certificates_upd AFTER UPDATE ON certificates BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER directory_certificates_del AFTER DELETE ON certificates BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER directory_anchors_ins AFTER INSERT ON anchors BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER directory_anchors_upd AFTER UPDATE ON anchors BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER directory_anchors_del AFTER DELETE ON anchors BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER directory_ca_ins AFTER INSERT ON ca BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER directory_ca_upd AFTER UPDATE OF cert_der ON ca BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1; END;
