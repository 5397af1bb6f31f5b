-- Usage as counters: the bytes of every distinct blob (`blob_bytes`) and every distinct
-- manifest digest (`manifest_bytes`, a manifest in two repositories counting once), kept by the
-- transactions that add or remove them, so usage and the quota check read two rows instead of
-- summing the tables. Started from the data already stored; `berth usage check` recounts.
CREATE TABLE usage_counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO usage_counters (name, value)
    SELECT 'blob_bytes', COALESCE(SUM(size), 0) FROM blobs;
INSERT INTO usage_counters (name, value)
    SELECT 'manifest_bytes', COALESCE(SUM(size), 0) FROM (SELECT MAX(size) AS size FROM manifests GROUP BY digest) m;
