-- Evidence is bounded per log (issue 21): the first conflicting checkpoint of each (origin,
-- size) is kept and later ones only counted (`repeats`); a log keeps at most a fixed number of
-- sizes (witness.rs, MAX_EVIDENCE_PER_LOG), and conflicts beyond them are counted on the log's
-- row (`evidence_dropped`). Before, every distinct note was kept, and a log key's holder could
-- fill the disk with validly signed junk. The table is rebuilt to drop the UNIQUE on the note.
CREATE TABLE witness_evidence_bounded (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    origin  TEXT NOT NULL,
    size    INTEGER,
    note    TEXT NOT NULL,
    reason  TEXT NOT NULL,
    repeats INTEGER NOT NULL DEFAULT 0 CHECK (repeats >= 0)
);

-- A checkpoint's size is the second line of its note.
INSERT INTO witness_evidence_bounded (id, origin, size, note, reason)
SELECT id, origin,
       CAST(substr(substr(note, instr(note, char(10)) + 1), 1,
                   instr(substr(note, instr(note, char(10)) + 1), char(10)) - 1) AS INTEGER),
       note, reason
FROM witness_evidence;

UPDATE witness_evidence_bounded
SET repeats = (SELECT count(*) FROM witness_evidence_bounded AS e
               WHERE e.origin = witness_evidence_bounded.origin
                 AND e.size = witness_evidence_bounded.size) - 1
WHERE size IS NOT NULL
  AND id IN (SELECT min(id) FROM witness_evidence_bounded GROUP BY origin, size);

DELETE FROM witness_evidence_bounded
WHERE size IS NOT NULL
  AND id NOT IN (SELECT min(id) FROM witness_evidence_bounded GROUP BY origin, size);

DROP TABLE witness_evidence;
ALTER TABLE witness_evidence_bounded RENAME TO witness_evidence;
CREATE UNIQUE INDEX witness_evidence_origin_size ON witness_evidence (origin, size);

ALTER TABLE witness_logs ADD COLUMN evidence_dropped INTEGER NOT NULL DEFAULT 0
    CHECK (evidence_dropped >= 0);
