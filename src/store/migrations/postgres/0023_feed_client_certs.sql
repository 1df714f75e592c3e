-- The client certificates a feed's messages may come over (`feed add
-- --client-cert`, `feed pin`): SHA-256 fingerprints of the engine's own
-- certificate, lowercase hex, comma-separated (`notify::pins::CertPins`).
-- NULL: any client, as every feed before.
ALTER TABLE feeds ADD COLUMN client_certs TEXT;
