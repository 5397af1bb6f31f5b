-- The audit log: ACR's two diagnostic categories, login events (who signed in how, from where,
-- with what result) and repository events (push, pull, delete, untag). Append-only but for
-- retention, which deletes the oldest rows. `id` orders rows written in the same millisecond,
-- so pages are found by (at, id) at any depth. `count` > 1: that many identical pulls (same
-- client, identity, manifest and answer) within one batch, stored once, at the first one's time
-- and request id. Secrets are never stored here.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    category   TEXT NOT NULL,
    operation  TEXT NOT NULL,
    result     TEXT NOT NULL,
    identity   TEXT,
    method     TEXT,
    repository TEXT,
    tag        TEXT,
    digest     TEXT,
    size       INTEGER,
    status     INTEGER,
    client_ip  TEXT,
    user_agent TEXT,
    request_id TEXT,
    detail     TEXT,
    count      INTEGER NOT NULL DEFAULT 1
);
-- Newest first: everything, one identity's, one repository's.
CREATE INDEX audit_by_time ON audit_log (at, id);
CREATE INDEX audit_by_identity ON audit_log (identity, at, id);
CREATE INDEX audit_by_repository ON audit_log (repository, at, id);
