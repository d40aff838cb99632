-- 18.0 forbids empty order lines and duplicate invoice numbers. The check is added NOT VALID, as
-- one does on large tables (no full scan under an exclusive lock); the migrator validates every
-- NOT VALID constraint after the plan and reports it.
ALTER TABLE sale_order_line ADD CONSTRAINT sale_order_line_quantity_positive CHECK (quantity > 0) NOT VALID;
ALTER TABLE account_move ADD CONSTRAINT account_move_name_unique UNIQUE (name);
