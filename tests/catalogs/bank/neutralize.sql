-- A test copy moves no money: standing orders stop and the payment gateway is forgotten.
UPDATE bank.standing_orders SET active = false WHERE active;
UPDATE bank.settings SET value = '' WHERE key = 'payment_gateway_url';
