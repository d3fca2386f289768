-- slow.sql -- test-only data loaded after conf/demo.sql: an `events`
-- table and a `slow_events` view whose `burn` column costs CPU per row
-- (a correlated recursive count), so that an export of the `slow`
-- section stays `running` long enough to observe, cancel, restart
-- through and time out -- the same way on SQLite and PostgreSQL. Only
-- rows actually read pay the cost; count(*) and the key scan stay cheap.

DROP VIEW IF EXISTS slow_events;
DROP TABLE IF EXISTS events;

CREATE TABLE events (
    id         TEXT PRIMARY KEY,
    grp        TEXT NOT NULL,
    n          INTEGER NOT NULL,
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL
);

INSERT INTO events (id, grp, n, payload, created_at)
WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 20000)
SELECT 'e' || n, 'g' || (n % 10), n,
       'event payload ' || n || ' lorem ipsum dolor sit amet consectetur',
       '2026-05-01T00:00:17Z'
FROM c;

CREATE VIEW slow_events AS
SELECT e.id, e.grp, e.n, e.payload, e.created_at,
       (WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k
                                WHERE i < 1000 + e.n % 2)
        SELECT sum(i) FROM k) AS burn
FROM events e;

-- The tables and the view of the test-only sections `accounts`, `posts`,
-- `rooms` and `docs` (t/conf/sections.inc), empty: the import targets declare
-- them (t/data/notes-*.sql, with the view's triggers) and xport_small,
-- which shares this data source, does too.
DROP VIEW IF EXISTS api_rooms;
DROP TABLE IF EXISTS api_docs;
DROP TABLE IF EXISTS api_room_rows;
DROP TABLE IF EXISTS api_posts;
DROP TABLE IF EXISTS api_accounts;
CREATE TABLE api_accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE,
                           name TEXT, password TEXT);
CREATE TABLE api_posts (uid TEXT PRIMARY KEY, author TEXT, parent TEXT,
                        body TEXT);
CREATE TABLE api_room_rows (id INTEGER PRIMARY KEY, unique_id TEXT NOT NULL UNIQUE,
                            kind TEXT NOT NULL, name TEXT, creator TEXT);
CREATE VIEW api_rooms AS
SELECT unique_id, kind, name, creator FROM api_room_rows;
-- bytea: SQLite takes any type name
CREATE TABLE api_docs (tenant TEXT NOT NULL, id TEXT NOT NULL, title TEXT,
                       parent TEXT, data BYTEA, PRIMARY KEY (tenant, id));
