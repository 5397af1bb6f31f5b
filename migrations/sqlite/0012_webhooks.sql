-- The outbox: one row per change users can subscribe to (a manifest pushed, deleted or untagged),
-- written by the transaction that makes the change, so an event exists if and only if its change
-- committed. `seq` orders events as their transactions committed (writes are serialized).
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    at          INTEGER NOT NULL,
    action      TEXT NOT NULL,
    repository  TEXT NOT NULL,
    tag         TEXT,
    digest      TEXT,
    media_type  TEXT,
    size        INTEGER,
    request_id  TEXT,
    host        TEXT,
    method      TEXT,
    user_agent  TEXT
);
CREATE INDEX events_at ON events (at);

-- Webhooks. `config` holds the service URI, custom headers and signing secret, sealed with the
-- master key (they often carry credentials). Delivery state: `done_seq` is the last event handled
-- (delivered, not matching, or given up), `attempts` and `next_attempt_at` describe the retries
-- of the event after it. Deliveries are in order per webhook.
CREATE TABLE webhooks (
    name            TEXT PRIMARY KEY,
    status          TEXT NOT NULL,
    scope           TEXT NOT NULL,
    actions         TEXT NOT NULL,
    config          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    done_seq        INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0
);

-- Every delivery attempt, what `webhook list-events` shows: the request and the response (or
-- the error), as JSON.
CREATE TABLE webhook_deliveries (
    id          TEXT PRIMARY KEY,
    webhook     TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status      INTEGER,
    duration_ms INTEGER NOT NULL,
    request     TEXT NOT NULL,
    response    TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook, at);
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at);
