-- PostgreSQL twin of migrations/sqlite/0002_identity.sql (see 0001_registry.sql).

-- Identity and access: who may sign in (principals and their hashed secrets), what they may do
-- (role assignments, scope maps), registry-wide settings, and the JWT signing key.

-- Before principals, which reference it (PostgreSQL checks references when a table is made).
CREATE TABLE scope_maps (
    name        TEXT COLLATE "C" PRIMARY KEY,
    description TEXT COLLATE "C" NOT NULL,
    -- One "repositories/<repo>/<action>" per line.
    actions     TEXT COLLATE "C" NOT NULL,
    system      BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- The admin user, users, service principals and repository tokens, by login name.
CREATE TABLE principals (
    name       TEXT COLLATE "C" PRIMARY KEY,
    kind       TEXT COLLATE "C" NOT NULL,
    enabled    BIGINT NOT NULL,
    expires_at BIGINT,
    -- Repository tokens only: the scope map that grants their actions.
    scope_map  TEXT COLLATE "C" REFERENCES scope_maps (name),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Passwords as argon2 PHC strings, never in clear. The id changes on every renewal and is
-- carried in the JWTs a password yields, so a renewal revokes them.
CREATE TABLE secrets (
    id         TEXT COLLATE "C" PRIMARY KEY,
    principal  TEXT COLLATE "C" NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    name       TEXT COLLATE "C" NOT NULL,
    hash       TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (principal, name)
);

-- A built-in role for a principal, registry-wide (scope '') or on a repository pattern.
CREATE TABLE role_assignments (
    id         TEXT COLLATE "C" PRIMARY KEY,
    principal  TEXT COLLATE "C" NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    role       TEXT COLLATE "C" NOT NULL,
    scope      TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (principal, role, scope)
);

CREATE TABLE settings (
    name  TEXT COLLATE "C" PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);

-- PKCS#8 DER of the ES256 key that signs access and refresh tokens.
CREATE TABLE signing_keys (
    id          TEXT COLLATE "C" PRIMARY KEY,
    private_key BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
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
