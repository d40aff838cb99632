-- 18.0 splits products into templates (what is sold) and variants: a new table, backfilled.
CREATE TABLE product_template (
  id         serial PRIMARY KEY,
  name       text NOT NULL,
  list_price numeric(12, 2) NOT NULL DEFAULT 0,
  active     boolean NOT NULL DEFAULT true
);
ALTER TABLE product_product ADD COLUMN product_tmpl_id integer;
INSERT INTO product_template (id, name, list_price, active)
SELECT id, name, list_price, active FROM product_product ORDER BY id;
SELECT setval(pg_get_serial_sequence('product_template', 'id'), greatest(1, (SELECT max(id) FROM product_template)));
UPDATE product_product SET product_tmpl_id = id;
ALTER TABLE product_product
  ALTER COLUMN product_tmpl_id SET NOT NULL,
  ADD CONSTRAINT product_product_tmpl_fk FOREIGN KEY (product_tmpl_id) REFERENCES product_template (id);
