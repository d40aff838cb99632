-- 17.0 keeps street, zip and city apart: split the single address column.
ALTER TABLE res_partner ADD COLUMN street text, ADD COLUMN zip text, ADD COLUMN city text;
UPDATE res_partner
SET street = split_part(address, ', ', 1),
    zip    = split_part(split_part(address, ', ', 2), ' ', 1),
    city   = substr(split_part(address, ', ', 2), length(split_part(split_part(address, ', ', 2), ' ', 1)) + 2)
WHERE address IS NOT NULL;
ALTER TABLE res_partner DROP COLUMN address;
