-- 17.0 names the ordered quantity plainly.
ALTER TABLE sale_order_line RENAME COLUMN product_uom_qty TO quantity;
