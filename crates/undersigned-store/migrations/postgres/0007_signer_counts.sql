-- Distinct signers of each letter per (issuer, epoch, org), withdrawn ones too: what the
-- bundle verifier holds against the issuer's signed counts. Kept equivalent to
-- migrations/sqlite/0006_signer_counts.sql. Raised in the transaction that inserts the
-- signer's pseudonyms row, under that counter row's lock, so of two servers racing for an
-- organization's last credential only one passes. Letters opened before this migration start
-- from zero.
CREATE TABLE signer_counts (
    letter_id TEXT NOT NULL REFERENCES letters (letter_id),
    issuer_id TEXT NOT NULL,
    epoch     TEXT NOT NULL,
    org       TEXT NOT NULL,
    signers   BIGINT NOT NULL,
    PRIMARY KEY (letter_id, issuer_id, epoch, org)
);
