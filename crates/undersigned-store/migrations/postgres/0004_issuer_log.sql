-- The issuer log (PostgreSQL): each signed issuer statement is a leaf of a per-issuer
-- transparency log, with C2SP checkpoints. Kept equivalent to
-- migrations/sqlite/0003_issuer_log.sql. A statement holds published counts only (below k
-- as "<k"), never a tag or an issuance time.

CREATE TABLE issuer_log_leaves (
    issuer_id  TEXT NOT NULL,
    idx        BIGINT NOT NULL CHECK (idx >= 0),
    leaf_hash  BYTEA NOT NULL,
    leaf       BYTEA NOT NULL,
    PRIMARY KEY (issuer_id, idx)
);

CREATE TABLE issuer_log_checkpoints (
    issuer_id  TEXT NOT NULL,
    size       BIGINT NOT NULL CHECK (size > 0),
    root       BYTEA NOT NULL,
    note       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer_id, size)
);
