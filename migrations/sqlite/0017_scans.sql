-- Scans of images: one row per (repository, manifest) the scanner has seen, queued from the
-- outbox's push events (`scan_cursor` in settings is the last event read). A worker claims a
-- row with a lease (`holder`, `lease_until`), so one node scans each image and a dead
-- node's scan is taken over; `attempts` ends an image that keeps failing its scanner.
-- `inventory` is the package list as JSON, kept to match again when the database changes
-- (`db_generation` is the vulnerability database the findings came from).
CREATE TABLE scans (
    repository    TEXT NOT NULL,
    digest        TEXT NOT NULL,
    status        TEXT NOT NULL,
    holder        TEXT,
    lease_until   BIGINT NOT NULL DEFAULT 0,
    attempts      BIGINT NOT NULL DEFAULT 0,
    queued_at     BIGINT NOT NULL,
    scanned_at    BIGINT,
    db_generation BIGINT NOT NULL DEFAULT 0,
    summary       TEXT,
    inventory     TEXT,
    sbom_digest   TEXT,
    report_digest TEXT,
    reason        TEXT,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX scans_due ON scans (status, queued_at);

-- Scan and trust policies per repository pattern, as JSON (trust/policy.rs).
CREATE TABLE policies (
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
);
