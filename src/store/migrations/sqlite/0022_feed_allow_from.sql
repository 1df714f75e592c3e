-- The addresses a feed's messages may come from (`feed add --allow-from`,
-- `feed allow`): network prefixes in CIDR form, comma-separated
-- (`notify::allow::Allowed`). NULL: any address, as every feed before.
ALTER TABLE feeds ADD COLUMN allow_from TEXT;
