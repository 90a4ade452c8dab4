-- AEGIS durable store, schema version 2: the durable copy of the hot market context.
-- Sessions read bars and hot values from Redis first; when Redis is down or a key is missing or stale,
-- they read these tables instead. Same portability rules as 0001.

-- Bars per symbol, newest read first; a redelivered bar (same symbol and time) is ignored.
CREATE TABLE IF NOT EXISTS market_bars (
    symbol TEXT NOT NULL,
    bar_time TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (symbol, bar_time)
);

-- Small named values of the hot context (VIX, day-start equity, mode), with when they were written.
CREATE TABLE IF NOT EXISTS hot_values (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
