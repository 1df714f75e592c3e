-- The worklist's "not delivered" filter and count (`store::worklist`): the
-- tracking rows that ended failed or expired, by recipient (compared
-- case-insensitively, as the alert's subscriber is). Small: most messages
-- are delivered.
CREATE INDEX tracking_undelivered ON tracking (LOWER(recipient))
    WHERE final IN ('failed', 'expired');
