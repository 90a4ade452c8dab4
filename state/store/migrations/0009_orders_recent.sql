-- AEGIS durable store, schema version 9: the account's recent orders (`orders_since`), read by RUNE's
-- market-integrity check before every order. Same portability rules as 0001.
--
-- An order is recent when it was placed or last changed (filled, expired, cancelled) at or after a moment.
-- Each time gets an index of its own, so both engines answer the OR from the two indexes instead of reading
-- the whole order history.

CREATE INDEX IF NOT EXISTS orders_by_update ON orders (updated_at);

CREATE INDEX IF NOT EXISTS orders_by_creation ON orders (created_at);
