-- 17.0 spells the cancelled state out and adds a state for invoices being reviewed.
ALTER TABLE account_move DROP CONSTRAINT account_move_state_check;
UPDATE account_move SET state = 'cancelled' WHERE state = 'cancel';
ALTER TABLE account_move ADD CONSTRAINT account_move_state_check
  CHECK (state IN ('draft', 'to_review', 'posted', 'cancelled'));
