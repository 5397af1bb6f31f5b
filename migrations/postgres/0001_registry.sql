-- PostgreSQL twin of migrations/sqlite/0001_registry.sql: the same tables and columns, with
-- BIGINT for integers (flags stay 0/1, as on SQLite), BYTEA for bytes, and bytewise ("C")
-- ordering of text, which paginated listings compare against.

-- Core registry metadata: repositories, blobs and their links, manifests, references, tags and
-- upload sessions. Times are Unix milliseconds. Digests are "algorithm:hex" text.

CREATE TABLE repositories (
    name           TEXT COLLATE "C" PRIMARY KEY,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    delete_enabled BIGINT NOT NULL DEFAULT 1,
    write_enabled  BIGINT NOT NULL DEFAULT 1,
    read_enabled   BIGINT NOT NULL DEFAULT 1,
    list_enabled   BIGINT NOT NULL DEFAULT 1
);

-- A row exists only once the blob's bytes were verified against the digest and stored.
CREATE TABLE blobs (
    digest     TEXT COLLATE "C" PRIMARY KEY,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Which repository may read which blob (pushed, mounted or committed there).
CREATE TABLE repository_blobs (
    repository TEXT COLLATE "C" NOT NULL,
    digest     TEXT COLLATE "C" NOT NULL REFERENCES blobs (digest),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest);

CREATE TABLE manifests (
    repository     TEXT COLLATE "C" NOT NULL REFERENCES repositories (name),
    digest         TEXT COLLATE "C" NOT NULL,
    media_type     TEXT COLLATE "C" NOT NULL,
    artifact_type  TEXT COLLATE "C",
    content        BYTEA NOT NULL,
    size           BIGINT NOT NULL,
    config_digest  TEXT COLLATE "C",
    subject_digest TEXT COLLATE "C",
    annotations    TEXT COLLATE "C",
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX manifests_by_subject ON manifests (repository, subject_digest);

-- kind: blob (config or layer), foreign (layer with urls), child (index entry), subject.
CREATE TABLE manifest_refs (
    repository      TEXT COLLATE "C" NOT NULL,
    manifest_digest TEXT COLLATE "C" NOT NULL,
    ref_digest      TEXT COLLATE "C" NOT NULL,
    kind            TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (repository, manifest_digest, ref_digest, kind),
    FOREIGN KEY (repository, manifest_digest) REFERENCES manifests (repository, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_refs_by_target ON manifest_refs (ref_digest);

CREATE TABLE tags (
    repository      TEXT COLLATE "C" NOT NULL,
    name            TEXT COLLATE "C" NOT NULL,
    manifest_digest TEXT COLLATE "C" NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (repository, name),
    FOREIGN KEY (repository, manifest_digest) REFERENCES manifests (repository, digest) ON DELETE CASCADE
);
CREATE INDEX tags_by_manifest ON tags (repository, manifest_digest);

-- An upload session: `size` bytes so far, stored as the part objects named in `parts`
-- (space-separated, in order; each append writes a part under a fresh name, so racing appends
-- never overwrite each other's bytes). `hash_state` is the SHA-256 running state after them,
-- so any node can continue the session.
CREATE TABLE uploads (
    id         TEXT COLLATE "C" PRIMARY KEY,
    repository TEXT COLLATE "C" NOT NULL,
    size       BIGINT NOT NULL,
    parts      TEXT COLLATE "C" NOT NULL,
    hash_state BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
