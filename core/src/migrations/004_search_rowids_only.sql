-- Schema version 4: the search index keeps row ids only (FTS5 `detail = none`).
-- A query of k or more characters is the AND of its grams, and every hit is verified against
-- the stored text anyway (search.rs), so gram positions are not needed; without them the
-- index is smaller and about a third cheaper to write. The tables are made again here and
-- filled from the register by the migration's code step (db.rs, `search::rebuild`).
DROP TABLE household_fts;
DROP TABLE resident_fts;
CREATE VIRTUAL TABLE household_fts USING fts5(
    grams,
    content = '', contentless_delete = 1, detail = none, tokenize = 'ascii'
);
CREATE VIRTUAL TABLE resident_fts USING fts5(
    grams,
    content = '', contentless_delete = 1, detail = none, tokenize = 'ascii'
);
INSERT INTO household_fts (household_fts, rank) VALUES ('hashsize', 8388608);
INSERT INTO resident_fts (resident_fts, rank) VALUES ('hashsize', 8388608);
