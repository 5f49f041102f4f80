-- undersigned schema (PostgreSQL). Kept equivalent to migrations/sqlite/0001_init.sql.
-- Deliberately absent: email addresses, IP addresses, any link from an issuance to a signature.

-- One row per address tag (HMAC of the address). The row outlives the code itself so that
-- the send rate limit still holds after a credential was issued.
CREATE TABLE email_codes (
    tag          BYTEA PRIMARY KEY,
    code_hash    BYTEA,              -- NULL once consumed by an issuance
    expires_at   BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    window_start BIGINT NOT NULL,
    sends        BIGINT NOT NULL
);

-- No timestamps: when a tag was issued is nobody's business.
CREATE TABLE issued_tags (
    issuer_id TEXT NOT NULL,
    epoch     TEXT NOT NULL,
    tag       BYTEA NOT NULL,
    PRIMARY KEY (issuer_id, epoch, tag)
);

CREATE TABLE issued_counts (
    issuer_id TEXT NOT NULL,
    epoch     TEXT NOT NULL,
    org       TEXT NOT NULL,
    role      TEXT NOT NULL,
    age_band  TEXT NOT NULL,
    count     BIGINT NOT NULL,
    PRIMARY KEY (issuer_id, epoch, org, role, age_band)
);

CREATE TABLE letters (
    handle                TEXT PRIMARY KEY,
    letter_id             TEXT UNIQUE,
    letter_json           TEXT NOT NULL,
    state                 TEXT NOT NULL CHECK (state IN ('draft', 'open', 'closed')),
    organizer_token_hash  BYTEA NOT NULL,
    created_at            BIGINT NOT NULL,
    opened_at             BIGINT,
    closed_at             BIGINT,
    deadline              BIGINT NOT NULL,
    publish_interval_secs BIGINT NOT NULL,
    public                BOOLEAN NOT NULL
);
CREATE INDEX letters_state_created ON letters (state, created_at);

-- The primary key is what makes "one signature per pseudonym" race-free.
CREATE TABLE pseudonyms (
    letter_id TEXT NOT NULL REFERENCES letters (letter_id),
    pseudonym BYTEA NOT NULL,
    withdrawn BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (letter_id, pseudonym)
);

-- seq gives acceptance order, so a sign is always batched before its own withdrawal.
CREATE TABLE pool (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    letter_id   TEXT NOT NULL REFERENCES letters (letter_id),
    entry_hash  BYTEA NOT NULL,
    leaf        BYTEA NOT NULL,
    pseudonym   BYTEA NOT NULL,
    withdraw    BOOLEAN NOT NULL,
    received_at BIGINT NOT NULL,
    include_by  BIGINT NOT NULL,
    UNIQUE (letter_id, entry_hash)
);
CREATE INDEX pool_include_by ON pool (include_by);

CREATE TABLE log_leaves (
    letter_id  TEXT NOT NULL REFERENCES letters (letter_id),
    idx        BIGINT NOT NULL,
    entry_hash BYTEA NOT NULL,
    leaf       BYTEA NOT NULL,
    PRIMARY KEY (letter_id, idx),
    UNIQUE (letter_id, entry_hash)
);

CREATE TABLE checkpoints (
    letter_id  TEXT NOT NULL REFERENCES letters (letter_id),
    size       BIGINT NOT NULL,
    root       BYTEA NOT NULL,
    note       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (letter_id, size)
);
