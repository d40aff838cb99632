-- A test copy must never act on the outside world: no outgoing mail, no scheduled jobs, and a
-- marker the application reads (as Odoo's neutralized databases do).
UPDATE ir_mail_server SET active = false;
UPDATE ir_cron SET active = false;
INSERT INTO ir_config_parameter (key, value) VALUES ('database.is_neutralized', 'true')
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
