ALTER TABLE inv.items ADD COLUMN sku text;
UPDATE inv.items SET sku = 'SKU-' || lpad(id::text, 6, '0');
ALTER TABLE inv.items ALTER COLUMN sku SET NOT NULL;
