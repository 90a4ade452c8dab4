-- AEGIS durable store, schema version 4: redeliveries that conflict. Same portability rules as 0001.

-- An event id that arrived again with different content. The first arrival stands (its row in `events`,
-- its decision); each different content delivered under the id is kept here once, with the hashes of
-- both contents (sha256 of the canonical JSON the store keeps in `events.raw`), for an operator to find.
CREATE TABLE IF NOT EXISTS event_conflicts (
    seq BIGINT PRIMARY KEY,
    event_id TEXT NOT NULL,
    first_hash TEXT NOT NULL,
    new_hash TEXT NOT NULL,
    raw TEXT NOT NULL,
    detected_at TEXT NOT NULL,
    UNIQUE (event_id, new_hash)
);
