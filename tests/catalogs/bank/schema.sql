-- The bank-like application at 1.0: branches, customers, their accounts, and the ledger of every
-- booking on them, the one large table.
CREATE SCHEMA bank;
CREATE TABLE bank.app_meta (version text NOT NULL);
INSERT INTO bank.app_meta VALUES ('1.0');
CREATE TABLE bank.settings (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO bank.settings VALUES ('payment_gateway_url', 'https://payments.bank.example/v1'),
                                 ('statement_sender', 'statements@bank.example');
CREATE TABLE bank.branches (id integer PRIMARY KEY, name text NOT NULL, city text NOT NULL);
CREATE TABLE bank.customers (
  id bigint PRIMARY KEY,
  branch_id integer NOT NULL REFERENCES bank.branches (id),
  name text NOT NULL,
  email text NOT NULL,
  joined_at timestamptz NOT NULL
);
CREATE TABLE bank.accounts (
  id bigint PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES bank.customers (id),
  iban text NOT NULL UNIQUE,
  currency char(3) NOT NULL,
  opened_on date NOT NULL
);
CREATE TABLE bank.ledger_entries (
  id bigint PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES bank.accounts (id),
  booked_at timestamptz NOT NULL,
  amount numeric(14, 2) NOT NULL,
  memo text NOT NULL
);
CREATE TABLE bank.standing_orders (
  id bigint PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES bank.accounts (id),
  amount numeric(14, 2) NOT NULL,
  every_days integer NOT NULL,
  active boolean NOT NULL
);
