-- Distinct signers of each letter per (issuer, epoch, org), withdrawn ones too: what the
-- bundle verifier holds against the issuer's signed counts. Kept equivalent to
-- migrations/postgres/0007_signer_counts.sql. Raised in the transaction that inserts the
-- signer's pseudonyms row, and refused past the issuer's count, so the server accepts no
-- signature the bundle would refuse. Letters opened before this migration start from zero.
CREATE TABLE signer_counts (
    letter_id TEXT NOT NULL REFERENCES letters (letter_id),
    issuer_id TEXT NOT NULL,
    epoch     TEXT NOT NULL,
    org       TEXT NOT NULL,
    signers   INTEGER NOT NULL,
    PRIMARY KEY (letter_id, issuer_id, epoch, org)
) WITHOUT ROWID;
