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

CREATE FUNCTION directory_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE directory_generation SET generation = generation + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER directory_domains AFTER INSERT OR UPDATE OR DELETE ON domains
    FOR EACH STATEMENT EXECUTE FUNCTION directory_bump();
CREATE TRIGGER directory_addresses AFTER INSERT OR UPDATE OR DELETE ON addresses
    FOR EACH STATEMENT EXECUTE FUNCTION directory_bump();
CREATE TRIGGER directory_certificates AFTER INSERT OR UPDATE OR DELETE ON certificates
    FOR EACH STATEMENT EXECUTE FUNCTION directory_bump();
CREATE TRIGGER directory_anchors AFTER INSERT OR UPDATE OR DELETE ON anchors
    FOR EACH STATEMENT EXECUTE FUNCTION directory_bump();
CREATE TRIGGER directory_ca AFTER INSERT OR UPDATE OF cert_der ON ca
    FOR EACH STATEMENT EXECUTE FUNCTION directory_bump();
