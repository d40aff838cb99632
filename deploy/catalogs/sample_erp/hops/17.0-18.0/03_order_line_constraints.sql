-- 18.0 forbids empty order lines and duplicate invoice numbers.
ALTER TABLE sale_order_line ADD CONSTRAINT sale_order_line_quantity_positive CHECK (quantity > 0);
ALTER TABLE account_move ADD CONSTRAINT account_move_name_unique UNIQUE (name);
