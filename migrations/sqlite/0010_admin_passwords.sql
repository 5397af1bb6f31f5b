-- The admin user's passwords, sealed under the master key (see src/auth/seal.rs) beside their
-- argon2 hashes, so that an Owner can read them back as in ACR (`az acr credential show`).
-- Other principals' secrets keep only their hashes.
ALTER TABLE secrets ADD COLUMN sealed TEXT;
