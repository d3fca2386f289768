-- notes-pgsql.sql -- the table of the test-only mode=append section
-- `notes` in the PostgreSQL import target; see notes-sqlite.sql.
CREATE TABLE notes (
    id         SERIAL PRIMARY KEY,
    author_id  TEXT REFERENCES users(id),
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
