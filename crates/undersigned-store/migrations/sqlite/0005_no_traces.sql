-- Nothing at rest that says who asked for a code, or when an entry arrived (SQLite). Kept
-- equivalent to migrations/postgres/0005_no_traces.sql. The store also turns on
-- secure_delete and truncates the WAL after deleting such rows, so they are gone physically.

-- One row per code mailed, deleted when used, expired or out of attempts. The row is found by
-- the requester's request token (its SHA-256), so guesses made without that token touch no
-- one's code. No send window is kept: the per-address limit counts the live rows.
DROP TABLE email_codes;
CREATE TABLE email_codes (
    request_hash BLOB PRIMARY KEY NOT NULL,
    tag          BLOB NOT NULL,
    code_hash    BLOB NOT NULL,
    expires_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX email_codes_tag ON email_codes (tag);
CREATE INDEX email_codes_expires ON email_codes (expires_at);

-- The schedule needs only include_by (a batch boundary, shared by the whole batch).
ALTER TABLE pool DROP COLUMN received_at;

-- Ordered by tag only: a rowid would keep the order in which addresses got credentials.
CREATE TABLE issued_tags_new (
    issuer_id TEXT NOT NULL,
    epoch     TEXT NOT NULL,
    tag       BLOB NOT NULL,
    PRIMARY KEY (issuer_id, epoch, tag)
) WITHOUT ROWID;
INSERT INTO issued_tags_new SELECT issuer_id, epoch, tag FROM issued_tags ORDER BY issuer_id, epoch, tag;
DROP TABLE issued_tags;
ALTER TABLE issued_tags_new RENAME TO issued_tags;
