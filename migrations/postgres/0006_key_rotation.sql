-- Token-signing key rotation: a rotated key stays, to verify the tokens it signed, until
-- retires_at (NULL: the current key). Its rows are sealed with the master key (see
-- src/auth/seal.rs), and a change to them tells every node to reload its keys.
ALTER TABLE signing_keys ADD COLUMN retires_at BIGINT;

CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_generation();
