-- Plausible data: the setting bank.accounts (SET bank.accounts = 1000) gives the number of accounts,
-- one customer for every two accounts and 40 ledger entries per account (about 4.5 kB per account
-- on disk: 33000 accounts are about 150 MB, 220000 about 1 GB).
INSERT INTO bank.branches (id, name, city)
SELECT i, 'Branch ' || i, (ARRAY['Brussels', 'Ghent', 'Liege', 'Namur', 'Bruges'])[i % 5 + 1]
FROM generate_series(1, 20) AS i;
INSERT INTO bank.customers (id, branch_id, name, email, joined_at)
SELECT i, i % 20 + 1, 'Customer ' || i, 'customer' || i || '@mail.example',
       timestamptz '2015-01-01' + (i % 3000) * interval '1 day'
FROM generate_series(1, (current_setting('bank.accounts')::integer + 1) / 2) AS i;
INSERT INTO bank.accounts (id, customer_id, iban, currency, opened_on)
SELECT i, (i + 1) / 2, 'BE' || lpad((i % 97)::text, 2, '0') || lpad(i::text, 12, '0'),
       CASE WHEN i % 10 = 0 THEN 'USD' ELSE 'EUR' END, date '2015-01-01' + i % 3000
FROM generate_series(1, current_setting('bank.accounts')::integer) AS i;
INSERT INTO bank.ledger_entries (id, account_id, booked_at, amount, memo)
SELECT i, (i - 1) / 40 + 1, timestamptz '2020-01-01' + (i % 100000) * interval '17 minutes',
       round(((i * 7919) % 200000 - 100000) / 100.0, 2),
       (ARRAY['card payment', 'transfer in', 'transfer out', 'salary', 'direct debit'])[i % 5 + 1] || ' #' || i
FROM generate_series(1, current_setting('bank.accounts')::bigint * 40) AS i;
INSERT INTO bank.standing_orders (id, account_id, amount, every_days, active)
SELECT i, i * 3, 25 + i % 400, 30, true FROM generate_series(1, current_setting('bank.accounts')::integer / 3) AS i;
