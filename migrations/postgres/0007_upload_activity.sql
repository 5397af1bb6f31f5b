-- Repositories receiving uploads, and when one last made progress (a session opened, a chunk,
-- a blob or a manifest pushed, a second of a long body streamed). Garbage collection keeps the
-- blobs of a repository while it is active, so no push that keeps making progress loses a
-- layer it pushed early to the grace period running out.
CREATE TABLE upload_activity (
    repository TEXT COLLATE "C" PRIMARY KEY,
    active_at  BIGINT NOT NULL
);
