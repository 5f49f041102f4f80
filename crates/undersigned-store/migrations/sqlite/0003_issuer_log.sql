-- The issuer log (SQLite): each signed issuer statement is a leaf of a per-issuer
-- transparency log, with C2SP checkpoints. Kept equivalent to
-- migrations/postgres/0004_issuer_log.sql. A statement holds published counts only (below k
-- as "<k"), never a tag or an issuance time.

CREATE TABLE issuer_log_leaves (
    issuer_id  TEXT NOT NULL,
    idx        INTEGER NOT NULL CHECK (idx >= 0),
    leaf_hash  BLOB NOT NULL,
    leaf       BLOB NOT NULL,
    PRIMARY KEY (issuer_id, idx)
);

CREATE TABLE issuer_log_checkpoints (
    issuer_id  TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size > 0),
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer_id, size)
);
