-- The portal lists repositories most recently updated first, a page at a time after the last
-- one shown (ties by name): this index serves that order at any depth.
CREATE INDEX repositories_by_time_desc ON repositories (updated_at DESC, name);
