-- Schema version 2: the search index of the register (see search.rs for the gram scheme).
-- Contentless FTS5 tables over pre-tokenised grams; the rowid is the rowid of the indexed row.
-- One column of tagged grams per row: `n` name, `r` room, `a` address, `p` phone (so a gram
-- of one field never shares a posting list with another field's).
CREATE VIRTUAL TABLE household_fts USING fts5(
    grams,
    content = '', contentless_delete = 1, tokenize = 'ascii'
);
CREATE VIRTUAL TABLE resident_fts USING fts5(
    grams,
    content = '', contentless_delete = 1, tokenize = 'ascii'
);
-- Bigger in-memory posting buffers (default 1 MiB): bulk inserts flush and merge far less.
INSERT INTO household_fts (household_fts, rank) VALUES ('hashsize', 8388608);
INSERT INTO resident_fts (resident_fts, rank) VALUES ('hashsize', 8388608);
