-- Paged /acr/v1 listings. What a manifest listing shows that only the manifest's bytes say
-- (its size with the config and layers it names, its config's media type, an index's
-- children's platforms as a JSON list) is recorded when it is stored, so a listing never reads
-- the bytes; rows stored before this migration are filled in at start-up, found through a
-- partial index that is empty once they are. Indexes serve each `orderby`: by name (digest)
-- the primary keys, by last update the two below per table (ties go by name ascending in both
-- directions, which one index cannot serve both ways).
ALTER TABLE manifests ADD COLUMN image_size INTEGER;
ALTER TABLE manifests ADD COLUMN config_media_type TEXT;
ALTER TABLE manifests ADD COLUMN child_platforms TEXT;
CREATE INDEX manifests_unsummarized ON manifests (repository, digest) WHERE image_size IS NULL;

-- A listing of the tags on one manifest (the `digest` filter) goes through tags_by_manifest,
-- which now serves its order by name too.
DROP INDEX tags_by_manifest;
CREATE INDEX tags_by_manifest ON tags (repository, manifest_digest, name);
CREATE INDEX tags_by_time ON tags (repository, updated_at, name);
CREATE INDEX tags_by_time_desc ON tags (repository, updated_at DESC, name);
CREATE INDEX manifests_by_time ON manifests (repository, updated_at, digest);
CREATE INDEX manifests_by_time_desc ON manifests (repository, updated_at DESC, digest);

-- A repository exists while it has a manifest: its row now goes with its last manifest, and
-- those left empty before go now.
DELETE FROM repositories WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository = repositories.name);
