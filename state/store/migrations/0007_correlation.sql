-- AEGIS durable store, schema version 7: correlation ids, so `aegis trace` finds a chain (signal -> decision
-- -> order -> fills -> bracket exit -> what the exit caused) from any of its ids. Same portability rules as 0001.
--
-- Each column names the chain a row belongs to: the id of its root event. Rows written before this migration
-- hold NULL, read as "the chain of the row's own event id" (an event with no correlation id roots its chain).
-- The direct cause of an event, a decision, an order and an alert is in its JSON record (an order's is its
-- event's decision); fills have no record, so their direct cause gets a column of its own.

ALTER TABLE events ADD COLUMN correlation_id TEXT;

ALTER TABLE decisions ADD COLUMN correlation_id TEXT;

ALTER TABLE orders ADD COLUMN correlation_id TEXT;

ALTER TABLE fills ADD COLUMN correlation_id TEXT;

ALTER TABLE fills ADD COLUMN causation_id TEXT;

ALTER TABLE positions ADD COLUMN correlation_id TEXT;

ALTER TABLE alerts ADD COLUMN correlation_id TEXT;

CREATE INDEX IF NOT EXISTS events_by_chain ON events (correlation_id);

CREATE INDEX IF NOT EXISTS decisions_by_chain ON decisions (correlation_id);

CREATE INDEX IF NOT EXISTS orders_by_chain ON orders (correlation_id);

CREATE INDEX IF NOT EXISTS fills_by_chain ON fills (correlation_id);

CREATE INDEX IF NOT EXISTS fills_by_event ON fills (event_id);

CREATE INDEX IF NOT EXISTS alerts_by_chain ON alerts (correlation_id);
