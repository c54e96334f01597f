-- Schema version 2: the search index of the register (see search.rs for the gram scheme).
-- Contentless FTS5 tables over pre-tokenised grams; the rowid is the rowid of the indexed row.
CREATE VIRTUAL TABLE household_fts USING fts5(
    name, room, address, phone,
    content = '', contentless_delete = 1, tokenize = 'ascii', detail = 'column'
);
CREATE VIRTUAL TABLE resident_fts USING fts5(
    name, phone,
    content = '', contentless_delete = 1, tokenize = 'ascii', detail = 'column'
);
CREATE VIRTUAL TABLE building_fts USING fts5(
    name, address,
    content = '', contentless_delete = 1, tokenize = 'ascii', detail = 'column'
);
