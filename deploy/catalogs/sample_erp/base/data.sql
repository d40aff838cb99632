-- Plausible, deterministic data for the sample ERP at 16.0. psql variables: partners (how many to
-- add) and first (the first partner id: 1 for a new database, the next id when appending).
-- Per partner: 2 sale orders of 3 lines each, and an invoice for every confirmed order.
-- i is a bigint: i * 7919 leaves the integer range from 271 000 partners on.
INSERT INTO res_partner (id, name, email, phone, address, is_company, active, create_date)
SELECT i,
       CASE WHEN i % 10 = 0 THEN 'Company ' || i || ' SA' ELSE 'Partner ' || i END,
       'partner' || i || '@example.com',
       '+32 2 ' || lpad(((i * 7919) % 1000000)::text, 6, '0'),
       (i % 200 + 1) || ' ' || (ARRAY['Rue Royale', 'Rue Neuve', 'Rue de la Loi', 'Avenue Louise', 'Chaussee de Wavre'])[i % 5 + 1]
         || ', ' || (1000 + (i * 37) % 9000) || ' ' || (ARRAY['Brussels', 'Liege', 'Namur', 'Ghent', 'Antwerp', 'Leuven'])[i % 6 + 1],
       i % 10 = 0, i % 50 <> 0,
       timestamp '2020-01-01' + ((i * 13) % 1500) * interval '1 day'
FROM generate_series(:first::bigint, :first + :partners - 1) AS i;

INSERT INTO product_product (id, default_code, name, list_price, active)
SELECT i, 'P' || lpad(i::text, 5, '0'),
       (ARRAY['Desk', 'Chair', 'Lamp', 'Cabinet', 'Monitor', 'Keyboard', 'Cable', 'Service hour'])[i % 8 + 1] || ' ' || i,
       round((5 + (i * 97) % 995)::numeric + ((i % 100)::numeric / 100), 2),
       i % 40 <> 0
FROM generate_series(1, greatest(20, least(2000, :partners / 5))) AS i
WHERE :first = 1;

INSERT INTO sale_order (id, name, partner_id, date_order, state)
SELECT o, 'S' || lpad(o::text, 7, '0'),
       (o - 1) / 2 + 1,
       timestamp '2021-01-01' + ((o * 17) % 1200) * interval '1 day' + ((o * 7) % 86400) * interval '1 second',
       (ARRAY['draft', 'sent', 'sale', 'sale', 'done', 'cancel'])[o % 6 + 1]
FROM generate_series(2 * :first - 1, 2 * (:first + :partners - 1)) AS o;

INSERT INTO sale_order_line (order_id, product_id, product_uom_qty, price_unit, price_subtotal)
SELECT o, p.id, q.qty, p.list_price, round(q.qty * p.list_price, 2)
FROM generate_series(2 * :first - 1, 2 * (:first + :partners - 1)) AS o
CROSS JOIN generate_series(1, 3) AS l
CROSS JOIN LATERAL (SELECT ((o * 31 + l * 7) % 9 + 1)::numeric AS qty) AS q
JOIN product_product p ON p.id = ((o * 3 + l * 11) % (SELECT count(*) FROM product_product)) + 1;

UPDATE sale_order s SET amount_total = t.total
FROM (SELECT order_id, sum(price_subtotal) AS total FROM sale_order_line
      WHERE order_id >= 2 * :first - 1 GROUP BY order_id) AS t
WHERE t.order_id = s.id;

INSERT INTO account_move (name, partner_id, invoice_origin, invoice_date, amount_total, state)
SELECT 'INV/' || extract(year FROM s.date_order) || '/' || lpad(s.id::text, 7, '0'), s.partner_id, s.name,
       s.date_order::date + 3, s.amount_total,
       (ARRAY['posted', 'posted', 'posted', 'draft', 'cancel'])[s.id % 5 + 1]
FROM sale_order s WHERE s.state IN ('sale', 'done') AND s.id >= 2 * :first - 1 ORDER BY s.id;

INSERT INTO ir_cron (name, active, interval_number, interval_type, nextcall)
SELECT * FROM (VALUES
  ('Send invoice reminders', true, 1, 'days', timestamp '2024-01-01 06:00'),
  ('Recompute sale statistics', true, 6, 'hours', timestamp '2024-01-01 00:00'),
  ('Archive old quotations', false, 1, 'weeks', timestamp '2024-01-07 03:00'),
  ('Fetch incoming mail', true, 5, 'minutes', timestamp '2024-01-01 00:05')) AS v
WHERE :first = 1;

INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_user, active)
SELECT * FROM (VALUES
  ('Company mail', 'smtp.customer.example', 587, 'erp@customer.example', true),
  ('Marketing relay', 'relay.customer.example', 25, NULL, true)) AS v
WHERE :first = 1;

INSERT INTO ir_config_parameter (key, value)
SELECT * FROM (VALUES ('web.base.url', 'https://erp.customer.example'), ('database.uuid', md5(:'partners'::text))) AS v
WHERE :first = 1;

-- Rows were given explicit ids: move the sequences past them.
SELECT setval(pg_get_serial_sequence('res_partner', 'id'), (SELECT max(id) FROM res_partner));
SELECT setval(pg_get_serial_sequence('product_product', 'id'), (SELECT max(id) FROM product_product));
SELECT setval(pg_get_serial_sequence('sale_order', 'id'), (SELECT max(id) FROM sale_order));
-- As the database's owner (generate --owner) the shared catalogs are skipped, with a warning each.
SET client_min_messages = error;
ANALYZE;
RESET client_min_messages;
