-- PostgreSQL twin of migrations/sqlite/0004_gc.sql (see 0001_registry.sql).

-- Garbage collection: when a blob was last pushed or linked (its grace period runs from then),
-- and object deletions decided in the metadata but not yet done in the blob store (retried
-- after a crash).
ALTER TABLE blobs ADD COLUMN touched_at BIGINT NOT NULL DEFAULT 0;
UPDATE blobs SET touched_at = created_at;
CREATE INDEX blobs_by_touched ON blobs (touched_at);

CREATE TABLE blob_deletions (
    digest     TEXT COLLATE "C" PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- Usage and "is this manifest stored anywhere" read digests and sizes only: a covering index
-- spares them the manifests' content.
CREATE INDEX manifests_by_digest ON manifests (digest, size);

-- Leases on background jobs: the node whose lease is current runs the job; a node that dies
-- loses it when it expires.
CREATE TABLE leases (
    name       TEXT COLLATE "C" PRIMARY KEY,
    holder     TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL
);
