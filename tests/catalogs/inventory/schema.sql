-- The inventory application at 1.0 (for the tests).
CREATE SCHEMA inv;
CREATE TABLE inv.app_meta (version text NOT NULL);
INSERT INTO inv.app_meta VALUES ('1.0');
CREATE TABLE inv.suppliers (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE inv.items (id serial PRIMARY KEY, name text NOT NULL, warehouse text NOT NULL, quantity integer NOT NULL,
                        supplier_id integer REFERENCES inv.suppliers (id));
CREATE TABLE inv.tool_runs (ran_at timestamptz NOT NULL DEFAULT now());
INSERT INTO inv.suppliers (name) SELECT 'Supplier ' || i FROM generate_series(1, 5) AS i;
INSERT INTO inv.items (name, warehouse, quantity, supplier_id)
SELECT 'Item ' || i, (ARRAY['north', 'south', 'east'])[i % 3 + 1], (i * 7) % 50, i % 5 + 1 FROM generate_series(1, 60) AS i;
