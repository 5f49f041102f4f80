-- undersigned schema (SQLite). Kept equivalent to migrations/postgres/0001_init.sql.
-- Deliberately absent: email addresses, IP addresses, any link from an issuance to a signature.

-- One row per address tag (HMAC of the address). The row outlives the code itself so that
-- the send rate limit still holds after a credential was issued.
CREATE TABLE email_codes (
    tag          BLOB PRIMARY KEY NOT NULL,
    code_hash    BLOB,               -- NULL once consumed by an issuance
    expires_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    window_start INTEGER NOT NULL,
    sends        INTEGER NOT NULL
);

-- No timestamps: when a tag was issued is nobody's business.
CREATE TABLE issued_tags (
    issuer_id TEXT NOT NULL,
    epoch     TEXT NOT NULL,
    tag       BLOB NOT NULL,
    PRIMARY KEY (issuer_id, epoch, tag)
);

CREATE TABLE issued_counts (
    issuer_id TEXT NOT NULL,
    epoch     TEXT NOT NULL,
    org       TEXT NOT NULL,
    role      TEXT NOT NULL,
    age_band  TEXT NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (issuer_id, epoch, org, role, age_band)
);

CREATE TABLE letters (
    handle                TEXT PRIMARY KEY NOT NULL,
    letter_id             TEXT UNIQUE,
    letter_json           TEXT NOT NULL,
    state                 TEXT NOT NULL CHECK (state IN ('draft', 'open', 'closed')),
    organizer_token_hash  BLOB NOT NULL,
    created_at            INTEGER NOT NULL,
    opened_at             INTEGER,
    closed_at             INTEGER,
    deadline              INTEGER NOT NULL,
    publish_interval_secs INTEGER NOT NULL,
    public                INTEGER NOT NULL
);
CREATE INDEX letters_state_created ON letters (state, created_at);

-- The primary key is what makes "one signature per pseudonym" race-free.
CREATE TABLE pseudonyms (
    letter_id TEXT NOT NULL REFERENCES letters (letter_id),
    pseudonym BLOB NOT NULL,
    withdrawn INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (letter_id, pseudonym)
);

-- seq gives acceptance order, so a sign is always batched before its own withdrawal.
CREATE TABLE pool (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    letter_id   TEXT NOT NULL REFERENCES letters (letter_id),
    entry_hash  BLOB NOT NULL,
    leaf        BLOB NOT NULL,
    pseudonym   BLOB NOT NULL,
    withdraw    INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    include_by  INTEGER NOT NULL,
    UNIQUE (letter_id, entry_hash)
);
CREATE INDEX pool_include_by ON pool (include_by);

CREATE TABLE log_leaves (
    letter_id  TEXT NOT NULL REFERENCES letters (letter_id),
    idx        INTEGER NOT NULL,
    entry_hash BLOB NOT NULL,
    leaf       BLOB NOT NULL,
    PRIMARY KEY (letter_id, idx),
    UNIQUE (letter_id, entry_hash)
);

CREATE TABLE checkpoints (
    letter_id  TEXT NOT NULL REFERENCES letters (letter_id),
    size       INTEGER NOT NULL,
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (letter_id, size)
);
