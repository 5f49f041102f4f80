-- Signatures with several parts (one pseudonym per issuer used), PostgreSQL. Kept equivalent
-- to migrations/sqlite/0007_signature_parts.sql. Each part keeps its own row, keyed by its
-- pseudonym as before (the conflict key is the pseudonym alone), and names its signature by
-- the signature's first pseudonym, so a withdrawal can withdraw every part of it. NULL, as
-- on every row written before this migration, means the row's own pseudonym: such a row is a
-- one-part signature and keeps working unchanged.
ALTER TABLE pseudonyms ADD COLUMN signature BYTEA;
CREATE INDEX pseudonyms_signature ON pseudonyms (letter_id, signature);
