-- Nothing at rest that says who asked for a code, or when an entry arrived (PostgreSQL). Kept
-- equivalent to migrations/sqlite/0005_no_traces.sql. What PostgreSQL itself may still keep
-- (dead tuples until VACUUM, WAL segments and archives) is said in the README.

-- One row per code mailed, deleted when used, expired or out of attempts. The row is found by
-- the requester's request token (its SHA-256), so guesses made without that token touch no
-- one's code. No send window is kept: the per-address limit counts the live rows.
DROP TABLE email_codes;
CREATE TABLE email_codes (
    request_hash BYTEA PRIMARY KEY,
    tag          BYTEA NOT NULL,
    code_hash    BYTEA NOT NULL,
    expires_at   BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX email_codes_tag ON email_codes (tag);
CREATE INDEX email_codes_expires ON email_codes (expires_at);

-- The schedule needs only include_by (a batch boundary, shared by the whole batch).
ALTER TABLE pool DROP COLUMN received_at;
