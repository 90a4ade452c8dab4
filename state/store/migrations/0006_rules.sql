-- AEGIS durable store, schema version 6: the rules engine's rules. Same portability rules as 0001.

-- The rules as they stand: one row per rule, replaced by each change (its version counts them).
CREATE TABLE IF NOT EXISTS rules (
    rule_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    enabled INTEGER NOT NULL,
    priority BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    record TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Every version of every rule, never rewritten: an outcome recorded with (rule_id, version) can always be
-- read back as the rule that made it. A second write of one version is refused by the key.
CREATE TABLE IF NOT EXISTS rule_versions (
    rule_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    record TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    PRIMARY KEY (rule_id, version)
);
