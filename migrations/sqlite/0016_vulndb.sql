-- The offline vulnerability database: OSV records as imported (`berth vulndb import`), one row
-- each, with the fields listings and matching read kept beside the record's exact JSON.
-- `modified_at` (Unix ms, from the record's `modified`) decides whether an import replaces a row.
-- `severity` is the record's highest severity as Berth reads it (UNKNOWN … CRITICAL), `aliases`
-- a JSON array of strings.
CREATE TABLE vulns (
    id          TEXT PRIMARY KEY,
    modified    TEXT NOT NULL,
    modified_at INTEGER NOT NULL,
    summary     TEXT NOT NULL,
    severity    TEXT NOT NULL,
    aliases     TEXT NOT NULL,
    record      TEXT NOT NULL,
    imported_at INTEGER NOT NULL
);

-- One row per (ecosystem, package) an `affected[]` entry names: what matching looks up. `base`
-- is the ecosystem without its release (`Debian` for `Debian:12`), `name` the package name as
-- OSV's ecosystem compares it (PyPI names normalized), so a package batch is one indexed lookup.
CREATE TABLE vuln_packages (
    base      TEXT NOT NULL,
    name      TEXT NOT NULL,
    id        TEXT NOT NULL REFERENCES vulns (id) ON DELETE CASCADE,
    PRIMARY KEY (base, name, id)
);
CREATE INDEX vuln_packages_by_id ON vuln_packages (id);

-- One row per import: when, and what it did (the last one is what `vulndb show` reports).
CREATE TABLE vuln_imports (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    imported INTEGER NOT NULL,
    skipped  INTEGER NOT NULL,
    invalid  INTEGER NOT NULL
);
