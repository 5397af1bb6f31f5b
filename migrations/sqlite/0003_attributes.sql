-- ACR's changeable attributes (locks) on manifests and tags, as repositories have had since
-- 0001; the platform read from an image's config at push; the quarantine state.

ALTER TABLE manifests ADD COLUMN delete_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE manifests ADD COLUMN write_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE manifests ADD COLUMN read_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE manifests ADD COLUMN list_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE manifests ADD COLUMN architecture TEXT;
ALTER TABLE manifests ADD COLUMN os TEXT;
ALTER TABLE manifests ADD COLUMN quarantine_state TEXT;

ALTER TABLE tags ADD COLUMN delete_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tags ADD COLUMN write_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tags ADD COLUMN read_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tags ADD COLUMN list_enabled INTEGER NOT NULL DEFAULT 1;
