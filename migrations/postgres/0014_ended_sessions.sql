-- Portal sessions ended by signing out, until they would have expired anyway: a session is a
-- signed token that every node verifies alone, so its end must be shared to hold everywhere.
CREATE TABLE ended_sessions (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ended_sessions_by_expiry ON ended_sessions (expires_at);
