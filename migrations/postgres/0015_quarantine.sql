-- Quarantine (ACR's model): what the scanner or an AcrQuarantineWriter said when it set a
-- manifest's quarantine_state (0003) to Passed or Failed.
ALTER TABLE manifests ADD COLUMN quarantine_details TEXT;
