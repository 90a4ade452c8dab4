-- AEGIS durable store, schema version 5: bots and the attribution of the book to them. Same portability
-- rules as 0001.

-- One row per bot, replaced by each change (registered, stopped, resumed, re-allocated); the audit log
-- keeps the history. `seq` is the order of registration.
CREATE TABLE IF NOT EXISTS bots (
    bot_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    allocation DOUBLE PRECISION NOT NULL,
    record TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Each bot's mark at the start of each trading day: its P&L since it began (realised and unrealised,
-- fees included), its sleeve (allocation times the account's equity) and its allocation. A day's return
-- is the next day's P&L less this one's, over this sleeve: the rebalancing's history, the breaker's base.
CREATE TABLE IF NOT EXISTS bot_days (
    bot_id TEXT NOT NULL,
    day TEXT NOT NULL,
    pnl DOUBLE PRECISION NOT NULL,
    sleeve DOUBLE PRECISION NOT NULL,
    allocation DOUBLE PRECISION NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (bot_id, day)
);

-- Positions and fills belong to a bot; those written before bots existed belong to the default bot.
ALTER TABLE positions ADD COLUMN bot_id TEXT NOT NULL DEFAULT 'default';

ALTER TABLE fills ADD COLUMN bot_id TEXT NOT NULL DEFAULT 'default';
