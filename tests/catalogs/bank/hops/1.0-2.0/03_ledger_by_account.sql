-- 2.0 lists an account's statement by date.
CREATE INDEX ledger_entries_by_account ON bank.ledger_entries (account_id, booked_at);
