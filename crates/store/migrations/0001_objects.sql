-- The whole persistent state of Nimbus: one table of revisioned objects, the
-- unique keys that guard names, and the event history that watches resume from.
-- Written in the SQL subset that SQLite and PostgreSQL share, so both backends
-- run the same statements.
CREATE TABLE meta (
    id INTEGER PRIMARY KEY,
    revision BIGINT NOT NULL,
    compacted BIGINT NOT NULL
);
INSERT INTO meta (id, revision, compacted) VALUES (1, 0, 0);

CREATE TABLE objects (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_revision BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX objects_by_parent ON objects (kind, parent, id);

CREATE TABLE unique_keys (
    kind TEXT NOT NULL,
    ukey TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (kind, ukey)
);
CREATE INDEX unique_keys_by_object ON unique_keys (kind, id);

CREATE TABLE events (
    revision BIGINT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT NOT NULL,
    op TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (revision, kind, id)
);
