-- AEGIS durable store, schema version 3: trading states and alerts. Same portability rules as 0001.

-- The trading state of the account (scope "account") and of single symbols; one row per scope, replaced
-- by each transition (the audit log keeps the history).
CREATE TABLE IF NOT EXISTS trading_states (
    scope TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    record TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Alerts; at most one unacknowledged alert per dedup key (the application checks it in the insert's
-- transaction, under the table's writer turn).
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    dedup_key TEXT NOT NULL,
    level TEXT NOT NULL,
    raised_at TEXT NOT NULL,
    acknowledged_at TEXT,
    record TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS alerts_open_by_key ON alerts (dedup_key, acknowledged_at);

-- Every delivery attempt of an alert over a channel, successful or not.
CREATE TABLE IF NOT EXISTS alert_deliveries (
    seq BIGINT PRIMARY KEY,
    alert_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT,
    at TEXT NOT NULL
);
