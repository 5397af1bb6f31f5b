-- PostgreSQL twin of migrations/sqlite/0003_attributes.sql (see 0001_registry.sql).

-- ACR's changeable attributes (locks) on manifests and tags, as repositories have had since
-- 0001; the platform read from an image's config at push; the quarantine state.

ALTER TABLE manifests ADD COLUMN delete_enabled BIGINT NOT NULL DEFAULT 1;
ALTER TABLE manifests ADD COLUMN write_enabled BIGINT NOT NULL DEFAULT 1;
ALTER TABLE manifests ADD COLUMN read_enabled BIGINT NOT NULL DEFAULT 1;
ALTER TABLE manifests ADD COLUMN list_enabled BIGINT NOT NULL DEFAULT 1;
ALTER TABLE manifests ADD COLUMN architecture TEXT COLLATE "C";
ALTER TABLE manifests ADD COLUMN os TEXT COLLATE "C";
ALTER TABLE manifests ADD COLUMN quarantine_state TEXT COLLATE "C";

ALTER TABLE tags ADD COLUMN delete_enabled BIGINT NOT NULL DEFAULT 1;
ALTER TABLE tags ADD COLUMN write_enabled BIGINT NOT NULL DEFAULT 1;
ALTER TABLE tags ADD COLUMN read_enabled BIGINT NOT NULL DEFAULT 1;
ALTER TABLE tags ADD COLUMN list_enabled BIGINT NOT NULL DEFAULT 1;
