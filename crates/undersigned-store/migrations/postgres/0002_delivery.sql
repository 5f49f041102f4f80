-- Delivery of closed letters and the recipients' responses (PostgreSQL). Kept equivalent to
-- migrations/sqlite/0002_delivery.sql.
-- Deliberately absent: recipient addresses (they live in the letter) and response tokens
-- (only their SHA-256 is stored).

-- SHA-256 of the signer link's token of a recipients-only letter; NULL for public letters.
ALTER TABLE letters ADD COLUMN reader_token_hash BYTEA;

CREATE TABLE deliveries (
    letter_id       TEXT NOT NULL REFERENCES letters (letter_id),
    recipient       BIGINT NOT NULL CHECK (recipient >= 0),
    token_hash      BYTEA,               -- NULL before the first attempt
    revoked         BOOLEAN NOT NULL DEFAULT FALSE,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    delivered_at    BIGINT,
    smtp_reply      TEXT,
    acknowledged_at BIGINT,
    answered_at     BIGINT,
    response_text   TEXT,
    reminders_sent  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (letter_id, recipient)
);
-- A token opens at most one delivery.
CREATE UNIQUE INDEX deliveries_token_hash ON deliveries (token_hash)
    WHERE token_hash IS NOT NULL;
-- The delivery worker's query.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, letter_id, recipient)
    WHERE delivered_at IS NULL;
