-- AEGIS durable store, schema version 12: the record chain (`state.store.record_chain`). Same portability rules
-- as 0001.
--
-- Each chained row carries its position in its stream (`chain_seq`), the previous link's hash (`prev_hash`) and
-- its own hash (`row_hash`, over every other stored column). Rows written before this migration hold NULL: they
-- are counted as unchained, not checked.
ALTER TABLE decisions ADD COLUMN chain_seq BIGINT;
ALTER TABLE decisions ADD COLUMN prev_hash TEXT;
ALTER TABLE decisions ADD COLUMN row_hash TEXT;
ALTER TABLE orders ADD COLUMN chain_seq BIGINT;
ALTER TABLE orders ADD COLUMN prev_hash TEXT;
ALTER TABLE orders ADD COLUMN row_hash TEXT;
ALTER TABLE fills ADD COLUMN chain_seq BIGINT;
ALTER TABLE fills ADD COLUMN prev_hash TEXT;
ALTER TABLE fills ADD COLUMN row_hash TEXT;
ALTER TABLE rule_versions ADD COLUMN chain_seq BIGINT;
ALTER TABLE rule_versions ADD COLUMN prev_hash TEXT;
ALTER TABLE rule_versions ADD COLUMN row_hash TEXT;
ALTER TABLE approvals ADD COLUMN chain_seq BIGINT;
ALTER TABLE approvals ADD COLUMN prev_hash TEXT;
ALTER TABLE approvals ADD COLUMN row_hash TEXT;
ALTER TABLE audit_log ADD COLUMN chain_seq BIGINT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN row_hash TEXT;


-- Every link of every stream, never rewritten: a row updated later (an order filled, an approval decided) moves to
-- a new position, and its old entry stays, so the links stay whole and a deleted row is missed by its entry.
-- `row_key` is the row's key as a JSON array.
CREATE TABLE IF NOT EXISTS record_chain (
    stream TEXT NOT NULL,
    chain_seq BIGINT NOT NULL,
    row_key TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    row_hash TEXT NOT NULL,
    PRIMARY KEY (stream, chain_seq)
);
