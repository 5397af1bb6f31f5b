-- Token-signing key rotation: a rotated key stays, to verify the tokens it signed, until
-- retires_at (NULL: the current key). Its rows are sealed with the master key (see
-- src/auth/seal.rs), and a change to them tells every node to reload its keys.
ALTER TABLE signing_keys ADD COLUMN retires_at INTEGER;

CREATE TRIGGER signing_keys_insert AFTER INSERT ON signing_keys
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER signing_keys_update AFTER UPDATE ON signing_keys
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
CREATE TRIGGER signing_keys_delete AFTER DELETE ON signing_keys
BEGIN UPDATE generations SET value = value + 1 WHERE name = 'identity'; END;
