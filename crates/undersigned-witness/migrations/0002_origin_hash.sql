-- Monitors ask for a log by the SHA-256 of its origin (tlog-witness); logs followed by prefix
-- are known only from this table, so the hash is kept beside the origin and indexed. Rows from
-- before this column get it when the store opens.
ALTER TABLE witness_logs ADD COLUMN origin_hash BLOB;
CREATE UNIQUE INDEX witness_logs_origin_hash ON witness_logs (origin_hash);
