-- Identity and access: who may sign in (principals and their hashed secrets), what they may do
-- (role assignments, scope maps), registry-wide settings, and the JWT signing key.

-- The admin user, users, service principals and repository tokens, by login name.
CREATE TABLE principals (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    enabled    INTEGER NOT NULL,
    expires_at INTEGER,
    -- Repository tokens only: the scope map that grants their actions.
    scope_map  TEXT REFERENCES scope_maps (name),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE scope_maps (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    -- One "repositories/<repo>/<action>" per line.
    actions     TEXT NOT NULL,
    system      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Passwords as argon2 PHC strings, never in clear. The id changes on every renewal and is
-- carried in the JWTs a password yields, so a renewal revokes them.
CREATE TABLE secrets (
    id         TEXT PRIMARY KEY,
    principal  TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (principal, name)
);

-- A built-in role for a principal, registry-wide (scope '') or on a repository pattern.
CREATE TABLE role_assignments (
    id         TEXT PRIMARY KEY,
    principal  TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (principal, role, scope)
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- PKCS#8 DER of the ES256 key that signs access and refresh tokens.
CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    private_key BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

-- ACR's system scope maps.
INSERT INTO scope_maps (name, description, actions, system, created_at, updated_at) VALUES
  ('_repositories_pull', 'Can pull any repository of the registry',
   'repositories/*/content/read', 1, 0, 0),
  ('_repositories_pull_metadata_read', 'Can perform all read operations on the registry',
   'repositories/*/content/read
repositories/*/metadata/read', 1, 0, 0),
  ('_repositories_push', 'Can push to any repository of the registry',
   'repositories/*/content/read
repositories/*/content/write', 1, 0, 0),
  ('_repositories_push_metadata_write', 'Can perform all read and write operations on the registry',
   'repositories/*/content/read
repositories/*/metadata/read
repositories/*/content/write
repositories/*/metadata/write', 1, 0, 0),
  ('_repositories_admin', 'Can perform all read, write and delete operations on the registry',
   'repositories/*/content/read
repositories/*/metadata/read
repositories/*/content/write
repositories/*/metadata/write
repositories/*/content/delete', 1, 0, 0);
