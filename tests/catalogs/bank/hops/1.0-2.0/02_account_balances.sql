-- 2.0 keeps each account's balance instead of summing its ledger on every read.
CREATE TABLE bank.account_balances (
  account_id bigint PRIMARY KEY REFERENCES bank.accounts (id),
  balance_minor bigint NOT NULL
);
INSERT INTO bank.account_balances (account_id, balance_minor)
SELECT a.id, coalesce(sum(e.amount_minor), 0)
FROM bank.accounts a LEFT JOIN bank.ledger_entries e ON e.account_id = a.id
GROUP BY a.id;
