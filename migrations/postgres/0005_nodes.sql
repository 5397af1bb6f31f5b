-- PostgreSQL twin of migrations/sqlite/0005_nodes.sql (see 0001_registry.sql).

-- What nodes sharing one database must see alike beyond the tables themselves: failed
-- sign-ins per client address (the throttle), the last report of each background job, and a
-- change counter of the identity tables, which tells every node to reload its in-memory
-- snapshot of them.

CREATE TABLE sign_in_failures (
    client   TEXT COLLATE "C" PRIMARY KEY,
    failures BIGINT NOT NULL,
    since    BIGINT NOT NULL
);

-- JSON, as the job's report type serializes it.
CREATE TABLE job_reports (
    name        TEXT COLLATE "C" PRIMARY KEY,
    report      TEXT COLLATE "C" NOT NULL,
    finished_at BIGINT NOT NULL
);

CREATE TABLE generations (
    name  TEXT COLLATE "C" PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO generations (name, value) VALUES ('identity', 0);

CREATE FUNCTION bump_identity_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE generations SET value = value + 1 WHERE name = 'identity';
    RETURN NULL;
END
$$;
CREATE TRIGGER principals_changed AFTER INSERT OR UPDATE OR DELETE ON principals
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_generation();
CREATE TRIGGER secrets_changed AFTER INSERT OR UPDATE OR DELETE ON secrets
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_generation();
CREATE TRIGGER scope_maps_changed AFTER INSERT OR UPDATE OR DELETE ON scope_maps
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_generation();
CREATE TRIGGER role_assignments_changed AFTER INSERT OR UPDATE OR DELETE ON role_assignments
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_generation();
CREATE TRIGGER settings_changed AFTER INSERT OR UPDATE OR DELETE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_generation();
