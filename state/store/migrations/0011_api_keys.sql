-- AEGIS durable store, schema version 11: the REST server's API keys. Same portability rules as 0001.

-- One row per key, never deleted: a revoked key keeps its row (revoked_at set) so the audit log's actors stay
-- explained. Only the SHA-256 of a key is stored; `key_id` is its public part. The whole record is JSON in
-- `record`, beside the columns a lookup filters on.
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    record TEXT NOT NULL
);
