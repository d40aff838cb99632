-- 18.0 renames the partner's phone.
ALTER TABLE res_partner RENAME COLUMN phone TO phone_number;
