-- 2.0 books every amount in minor units (cents) as an integer: the ledger is rewritten.
ALTER TABLE bank.ledger_entries ALTER COLUMN amount TYPE bigint USING (amount * 100)::bigint;
ALTER TABLE bank.ledger_entries RENAME COLUMN amount TO amount_minor;
