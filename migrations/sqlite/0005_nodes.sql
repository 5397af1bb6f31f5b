-- What nodes sharing one database must see alike beyond the tables themselves: failed
-- sign-ins per client address (the throttle), the last report of each background job, and a
-- change counter of the identity tables, which tells every node to reload its in-memory
-- snapshot of them.

CREATE TABLE sign_in_failures (
    client   TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    since    INTEGER NOT NULL
);

-- JSON, as the job's report type serializes it.
CREATE TABLE job_reports (
    name        TEXT PRIMARY KEY,
    report      TEXT NOT NULL,
    finished_at INTEGER NOT NULL
);

CREATE TABLE generations (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO generations (name, value) VALUES ('identity', 0);

-- SQLite triggers fire per row and per event.
CREATE TRIGGER principals_insert AFTER INSERT ON principals
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER principals_update AFTER UPDATE ON principals
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER principals_delete AFTER DELETE ON principals
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER secrets_insert AFTER INSERT ON secrets
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER secrets_update AFTER UPDATE ON secrets
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER secrets_delete AFTER DELETE ON secrets
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER scope_maps_insert AFTER INSERT ON scope_maps
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER scope_maps_update AFTER UPDATE ON scope_maps
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER scope_maps_delete AFTER DELETE ON scope_maps
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER role_assignments_insert AFTER INSERT ON role_assignments
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER role_assignments_update AFTER UPDATE ON role_assignments
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER role_assignments_delete AFTER DELETE ON role_assignments
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER settings_insert AFTER INSERT ON settings
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER settings_update AFTER UPDATE ON settings
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER settings_delete AFTER DELETE ON settings
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
