-- The listing index SQLite needs (see its 0011: columns after a large value
-- cost an overflow walk there). PostgreSQL keeps large values out of line, so
-- it gains little, but the two schemas stay the same.
DROP INDEX mailbox_address;
CREATE INDEX mailbox_listing ON mailbox(address_id, folder, id, message_id, date, from_addr, subject_sealed, seen, size);
