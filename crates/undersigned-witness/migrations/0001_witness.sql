-- The witness's memory: per log origin, the latest checkpoint it cosigned (tlog-witness: "For
-- each log ... the witness is only required to keep track of the latest checkpoint it observed
-- and verified"), and validly signed checkpoints it refused as inconsistent, kept as evidence.
CREATE TABLE witness_logs (
    origin      TEXT PRIMARY KEY NOT NULL,
    size        INTEGER NOT NULL CHECK (size >= 0),
    root        BLOB NOT NULL CHECK (length(root) = 32),
    note        TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
);

CREATE TABLE witness_evidence (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    note   TEXT NOT NULL UNIQUE,
    reason TEXT NOT NULL
);
