-- AEGIS durable store, schema version 10: the operator's changes of the risk limits. Same portability rules
-- as 0001.

-- Every change of every risk limit, never rewritten: the override set (or its end, back to the setting), the
-- values in force before and after, who, with which role, why and when, as JSON in `record`. A limit's changes
-- are numbered by `version`; a second write of one version is refused by the key, so two operators changing one
-- limit at once cannot both win. `seq` orders the changes of every limit. The override in force of a limit is
-- its latest change that set a value.
CREATE TABLE IF NOT EXISTS risk_limit_changes (
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    seq BIGINT NOT NULL UNIQUE,
    record TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
