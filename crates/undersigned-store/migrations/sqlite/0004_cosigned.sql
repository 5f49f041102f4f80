-- Cosigned checkpoints (SQLite): a log's checkpoint (letter log or issuer log, named by its
-- origin) with the witnesses' cosignature lines appended, stored once it carries its quorum.
-- With witnesses named, the newest row per origin is the published checkpoint. Kept
-- equivalent to migrations/postgres/0005_cosigned.sql.

CREATE TABLE cosigned_checkpoints (
    origin     TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL,
    PRIMARY KEY (origin, size)
);
