-- AEGIS durable store, schema version 8: approvals, what waits for a person (a deliberation's parked order,
-- an operator workflow's plan). Same portability rules as 0001.
--
-- One row per approval, keyed by what it approves (`order:<event id>`, `workflow:<request id>`), so asking
-- twice never makes two. `record` is the whole `state.approvals.Approval` (JSON); the columns beside it are
-- what the listings filter and sort on. A row's status leaves `pending` once, in a transaction that checks it.
CREATE TABLE IF NOT EXISTS approvals (
    approval_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    record TEXT NOT NULL
);

-- The pending list (and the expiry sweep) read by status, newest first.
CREATE INDEX IF NOT EXISTS approvals_by_status ON approvals (status, created_at);

CREATE INDEX IF NOT EXISTS approvals_by_created ON approvals (created_at);
