-- The sample ERP at version 16.0.
CREATE TABLE ir_module_module (
  id             serial PRIMARY KEY,
  name           text NOT NULL UNIQUE,
  latest_version text NOT NULL,
  state          text NOT NULL DEFAULT 'installed'
);
CREATE TABLE ir_config_parameter (
  id    serial PRIMARY KEY,
  key   text NOT NULL UNIQUE,
  value text NOT NULL
);
CREATE TABLE res_partner (
  id          serial PRIMARY KEY,
  name        text NOT NULL,
  email       text,
  phone       text,
  address     text,            -- "street, zip city"; split in 17.0
  is_company  boolean NOT NULL DEFAULT false,
  active      boolean NOT NULL DEFAULT true,
  create_date timestamp NOT NULL DEFAULT now()
);
CREATE TABLE product_product (
  id           serial PRIMARY KEY,
  default_code text UNIQUE,
  name         text NOT NULL,
  list_price   numeric(12, 2) NOT NULL DEFAULT 0,
  active       boolean NOT NULL DEFAULT true
);
CREATE TABLE sale_order (
  id           serial PRIMARY KEY,
  name         text NOT NULL UNIQUE,
  partner_id   integer NOT NULL REFERENCES res_partner (id),
  date_order   timestamp NOT NULL,
  state        text NOT NULL CHECK (state IN ('draft', 'sent', 'sale', 'done', 'cancel')),
  amount_total numeric(14, 2) NOT NULL DEFAULT 0
);
CREATE TABLE sale_order_line (
  id              serial PRIMARY KEY,
  order_id        integer NOT NULL REFERENCES sale_order (id) ON DELETE CASCADE,
  product_id      integer NOT NULL REFERENCES product_product (id),
  product_uom_qty numeric(12, 3) NOT NULL,   -- renamed to quantity in 17.0
  price_unit      numeric(12, 2) NOT NULL,
  price_subtotal  numeric(14, 2) NOT NULL
);
CREATE INDEX sale_order_line_order_id ON sale_order_line (order_id);
CREATE TABLE account_move (
  id             serial PRIMARY KEY,
  name           text NOT NULL,
  partner_id     integer NOT NULL REFERENCES res_partner (id),
  invoice_origin text,
  invoice_date   date,
  amount_total   numeric(14, 2) NOT NULL,
  state          text NOT NULL CONSTRAINT account_move_state_check CHECK (state IN ('draft', 'posted', 'cancel'))
);
CREATE TABLE ir_cron (
  id              serial PRIMARY KEY,
  name            text NOT NULL,
  active          boolean NOT NULL DEFAULT true,
  interval_number integer NOT NULL,
  interval_type   text NOT NULL,
  nextcall        timestamp NOT NULL
);
CREATE TABLE ir_mail_server (
  id        serial PRIMARY KEY,
  name      text NOT NULL,
  smtp_host text NOT NULL,
  smtp_port integer NOT NULL,
  smtp_user text,
  active    boolean NOT NULL DEFAULT true
);
INSERT INTO ir_module_module (name, latest_version) VALUES ('base', '16.0'), ('sale', '16.0'), ('account', '16.0');
