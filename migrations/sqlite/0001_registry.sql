-- Core registry metadata: repositories, blobs and their links, manifests, references, tags and
-- upload sessions. Times are Unix milliseconds. Digests are "algorithm:hex" text.

CREATE TABLE repositories (
    name           TEXT PRIMARY KEY,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    delete_enabled INTEGER NOT NULL DEFAULT 1,
    write_enabled  INTEGER NOT NULL DEFAULT 1,
    read_enabled   INTEGER NOT NULL DEFAULT 1,
    list_enabled   INTEGER NOT NULL DEFAULT 1
);

-- A row exists only once the blob's bytes were verified against the digest and stored.
CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- Which repository may read which blob (pushed, mounted or committed there).
CREATE TABLE repository_blobs (
    repository TEXT NOT NULL,
    digest     TEXT NOT NULL REFERENCES blobs (digest),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest);

CREATE TABLE manifests (
    repository     TEXT NOT NULL REFERENCES repositories (name),
    digest         TEXT NOT NULL,
    media_type     TEXT NOT NULL,
    artifact_type  TEXT,
    content        BLOB NOT NULL,
    size           INTEGER NOT NULL,
    config_digest  TEXT,
    subject_digest TEXT,
    annotations    TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX manifests_by_subject ON manifests (repository, subject_digest);

-- kind: blob (config or layer), foreign (layer with urls), child (index entry), subject.
CREATE TABLE manifest_refs (
    repository      TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    ref_digest      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    PRIMARY KEY (repository, manifest_digest, ref_digest, kind),
    FOREIGN KEY (repository, manifest_digest) REFERENCES manifests (repository, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_refs_by_target ON manifest_refs (ref_digest);

CREATE TABLE tags (
    repository      TEXT NOT NULL,
    name            TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (repository, name),
    FOREIGN KEY (repository, manifest_digest) REFERENCES manifests (repository, digest) ON DELETE CASCADE
);
CREATE INDEX tags_by_manifest ON tags (repository, manifest_digest);

-- An upload session: `size` bytes so far, stored as the part objects named in `parts`
-- (space-separated, in order; each append writes a part under a fresh name, so racing appends
-- never overwrite each other's bytes). `hash_state` is the SHA-256 running state after them,
-- so any node can continue the session.
CREATE TABLE uploads (
    id         TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    size       INTEGER NOT NULL,
    parts      TEXT NOT NULL,
    hash_state BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
