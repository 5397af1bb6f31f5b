-- Tasks (ACR Tasks): a named build or multi-step task with its triggers, run with the rights
-- of the principal who last created or changed it (`owner`, through the credential it signed
-- in with and the token it presented, if any: `credential`, `token_access`). `spec` is the
-- step as JSON (tasks/mod.rs); `secret` is the source webhook's secret, sealed; `next_tick`
-- the timer's next tick (Unix ms), moved on by whichever node queues it.
CREATE TABLE tasks (
    name           TEXT PRIMARY KEY,
    status         TEXT NOT NULL,
    owner          TEXT NOT NULL,
    credential     TEXT NOT NULL,
    token_access   TEXT,
    spec           TEXT NOT NULL,
    secret         TEXT,
    next_tick      BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- The digest each base image of a task was at when last seen (the base image trigger fires
-- when a push moves it).
CREATE TABLE task_bases (
    task       TEXT NOT NULL,
    repository TEXT NOT NULL,
    tag        TEXT NOT NULL,
    digest     TEXT,
    PRIMARY KEY (task, repository, tag)
);
CREATE INDEX task_bases_image ON task_bases (repository, tag);

-- Runs: queued by a request or a trigger, claimed by a worker with a lease (`holder`,
-- `lease_until`). `seq` makes the run id (a registry prefix and the counter in base 36).
-- `trigger_key` is unique, so a timer tick or a pushed commit queues one run across nodes.
-- `source` is where the context comes from: an uploaded archive (`upload:<id>` in the blob
-- store), a git or tarball URL, or nothing.
CREATE TABLE runs (
    id             TEXT PRIMARY KEY,
    seq            BIGINT NOT NULL UNIQUE,
    task           TEXT,
    run_type       TEXT NOT NULL,
    status         TEXT NOT NULL,
    owner          TEXT NOT NULL,
    credential     TEXT NOT NULL,
    token_access   TEXT,
    spec           TEXT NOT NULL,
    source         TEXT,
    platform       TEXT NOT NULL,
    trigger_kind   TEXT NOT NULL,
    trigger_detail TEXT,
    trigger_key    TEXT UNIQUE,
    holder         TEXT,
    lease_until    BIGINT NOT NULL DEFAULT 0,
    cancel         BIGINT NOT NULL DEFAULT 0,
    queued_at      BIGINT NOT NULL,
    started_at     BIGINT,
    finished_at    BIGINT,
    outputs        TEXT,
    reason         TEXT,
    log_size       BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX runs_due ON runs (status, queued_at);
CREATE INDEX runs_task ON runs (task, seq);

-- A run's log in pieces, in order (`start`: the byte offset of the piece).
CREATE TABLE run_logs (
    run   TEXT NOT NULL,
    start BIGINT NOT NULL,
    data  TEXT NOT NULL,
    PRIMARY KEY (run, start)
);
