-- The worklist's "not delivered" filter and count (`store::worklist`): the
-- tracking rows that ended failed or expired, by recipient (compared
-- case-insensitively, as the alert's subscriber is), and the alerts by the
-- Message-ID they went out as. Small: most messages are delivered, and
-- alerts waiting for the digest have no Message-ID yet.
CREATE INDEX tracking_undelivered ON tracking (LOWER(recipient))
    WHERE final IN ('failed', 'expired');
CREATE INDEX alerts_message ON alerts (message_id) WHERE message_id IS NOT NULL;
