-- AEGIS durable store, schema version 1.
--
-- Portable on purpose: this file runs unchanged on SQLite and on PostgreSQL.
--   * types: TEXT, BIGINT, DOUBLE PRECISION only;
--   * timestamps: TEXT, ISO-8601 in UTC with a fixed width (2024-01-02T21:00:00.000000+00:00),
--     so text order is time order;
--   * JSON: TEXT;
--   * idempotency rules are primary keys and UNIQUE constraints, never application checks;
--   * append-only tables carry a `seq` that the store assigns (max + 1) because the two engines share
--     no auto-increment syntax; `seq` gives a total order where timestamps tie.
-- The runner splits this file on semicolons: no semicolon or double dash inside a statement.

CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
);

-- Every event that arrived, valid or not; first arrival wins.
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    received_at TEXT NOT NULL,
    raw TEXT NOT NULL
);

-- Dead-letter records: one per event id; events without a usable id (NULL) always append.
CREATE TABLE IF NOT EXISTS rejected_events (
    seq BIGINT PRIMARY KEY,
    event_id TEXT UNIQUE,
    raw TEXT NOT NULL,
    errors TEXT NOT NULL,
    rejected_at TEXT NOT NULL
);

-- One decision per event.
CREATE TABLE IF NOT EXISTS decisions (
    event_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    outcome TEXT NOT NULL,
    symbol TEXT,
    decided_at TEXT NOT NULL,
    record TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions (decided_at);

-- One order per event (DESIGN invariant 3); `record` holds the whole Order as JSON.
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    order_type TEXT NOT NULL,
    quantity DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    record TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status, created_at);

CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity DOUBLE PRECISION NOT NULL,
    price DOUBLE PRECISION NOT NULL,
    fee DOUBLE PRECISION NOT NULL,
    reason TEXT NOT NULL,
    filled_at TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS fills_by_order ON fills (order_id);

-- The current book: one row per held symbol, replaced as a whole.
CREATE TABLE IF NOT EXISTS positions (
    symbol TEXT PRIMARY KEY,
    quantity DOUBLE PRECISION NOT NULL,
    avg_price DOUBLE PRECISION NOT NULL,
    stop_loss_price DOUBLE PRECISION,
    take_profit_price DOUBLE PRECISION,
    opened_at TEXT NOT NULL,
    opened_by_event TEXT NOT NULL
);

-- The cash balance: one row per account (the embedded system uses the account 'default').
CREATE TABLE IF NOT EXISTS account (
    account_id TEXT PRIMARY KEY,
    cash DOUBLE PRECISION NOT NULL,
    updated_at TEXT NOT NULL
);

-- Last price seen per symbol (close of its newest bar) and that bar's time: marks equity to market.
CREATE TABLE IF NOT EXISTS marks (
    symbol TEXT PRIMARY KEY,
    price DOUBLE PRECISION NOT NULL,
    as_of TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS posture_history (
    seq BIGINT PRIMARY KEY,
    changed_at TEXT NOT NULL,
    posture TEXT NOT NULL,
    reason TEXT NOT NULL,
    vix DOUBLE PRECISION
);

CREATE TABLE IF NOT EXISTS audit_log (
    seq BIGINT PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);

-- Small named integers, e.g. consecutive session failures.
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
