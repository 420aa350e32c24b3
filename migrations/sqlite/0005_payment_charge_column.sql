-- Embedded store, version 5: the payments key takes Telegram's name, `telegram_payment_charge_id`, as in
-- the Supabase schema, so both backends share one row mapper (storage/rows.py). SQLite renames the
-- column in place and rewrites what refers to it, including the ledger's `payment_charge_id` foreign key.
ALTER TABLE payments RENAME COLUMN charge_id TO telegram_payment_charge_id;
