-- demo.sql -- the demo application database for `make run` and the test
-- suite: a small bot platform (users, bots, messages, scripts, jobs,
-- global_properties) with references between the tables.
--
-- Portable on purpose: the same file loads into SQLite (sqlite3 app.db <
-- demo.sql) and PostgreSQL (psql -f demo.sql), so the tests compare both
-- backends against identical data. Hence only TEXT/INTEGER columns, rows
-- generated with WITH RECURSIVE, timestamps built as ISO 8601 text
-- ('YYYY-MM-DDTHH:MM:SSZ', seconds always 17 so that whole-minute
-- since/until bounds never tie with a row) and zero padding by CASE.

DROP TABLE IF EXISTS jobs;
DROP TABLE IF EXISTS messages;
DROP TABLE IF EXISTS scripts;
DROP TABLE IF EXISTS bots;
DROP TABLE IF EXISTS global_properties;
DROP TABLE IF EXISTS users;

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    email          TEXT,
    favorite_color TEXT,
    selected       INTEGER NOT NULL DEFAULT 0,
    notes          TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE bots (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users(id),
    name        TEXT NOT NULL,
    coordinates TEXT,
    location    TEXT,
    updated_at  TEXT NOT NULL
);

CREATE TABLE messages (
    id         TEXT PRIMARY KEY,
    bot_id     TEXT NOT NULL REFERENCES bots(id),
    user_id    TEXT REFERENCES users(id),
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE scripts (
    id         TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL REFERENCES users(id),
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE jobs (
    id         TEXT PRIMARY KEY,
    script_id  TEXT NOT NULL REFERENCES scripts(id),
    bot_id     TEXT REFERENCES bots(id),
    state      TEXT NOT NULL,
    priority   INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE global_properties (
    name       TEXT PRIMARY KEY,
    value      TEXT,
    updated_at TEXT NOT NULL
);

-- ts(n): a deterministic timestamp in 2026 spread over the year.
-- Written out inline (no functions exist in both dialects):
--   month = 1 + n % 12, day = 1 + (n / 12) % 28, hour = n % 24,
--   minute = (n * 7) % 60, second = 17.

INSERT INTO users (id, name, email, favorite_color, selected, notes, created_at, updated_at)
WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 600),
first(i, fname) AS (VALUES (0, 'James'), (1, 'Mary Ann'), (2, 'Robert'), (3, 'Patricia'),
                           (4, 'John'), (5, 'Jennifer'), (6, 'Michael'), (7, 'Linda'),
                           (8, 'William'), (9, 'Elizabeth'), (10, 'Jameson'), (11, 'Zoe')),
last(i, lname) AS (VALUES (0, 'Smith'), (1, 'Johnson'), (2, 'Williams'), (3, 'Brown'),
                          (4, 'Jones'), (5, 'Garcia'), (6, 'Miller')),
color(i, cname) AS (VALUES (0, 'red'), (1, 'green'), (2, 'blue'), (3, NULL), (4, 'red'))
SELECT 'u' || n,
       fname || ' ' || lname,
       'user' || n || '@example.org',
       cname,
       CASE WHEN n % 3 = 0 THEN 1 ELSE 0 END,
       CASE WHEN n % 10 = 0 THEN NULL
            WHEN n % 7 = 0 THEN 'likes James Bond films'
            ELSE 'note ' || n END,
       '2025-' || CASE WHEN 1 + n % 12 < 10 THEN '0' ELSE '' END || (1 + n % 12)
           || '-' || CASE WHEN 1 + (n / 12) % 28 < 10 THEN '0' ELSE '' END || (1 + (n / 12) % 28)
           || 'T' || CASE WHEN n % 24 < 10 THEN '0' ELSE '' END || (n % 24)
           || ':' || CASE WHEN (n * 7) % 60 < 10 THEN '0' ELSE '' END || ((n * 7) % 60) || ':17Z',
       '2026-' || CASE WHEN 1 + n % 12 < 10 THEN '0' ELSE '' END || (1 + n % 12)
           || '-' || CASE WHEN 1 + (n / 12) % 28 < 10 THEN '0' ELSE '' END || (1 + (n / 12) % 28)
           || 'T' || CASE WHEN n % 24 < 10 THEN '0' ELSE '' END || (n % 24)
           || ':' || CASE WHEN (n * 7) % 60 < 10 THEN '0' ELSE '' END || ((n * 7) % 60) || ':17Z'
FROM c
JOIN first ON first.i = n % 12
JOIN last ON last.i = (n / 12) % 7
JOIN color ON color.i = n % 5;

INSERT INTO bots (id, owner_id, name, coordinates, location, updated_at)
WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 120)
SELECT 'b' || n,
       'u' || (1 + (n * 7) % 600),
       'bot ' || n || CASE WHEN n % 4 = 0 THEN ' helper' ELSE ' worker' END,
       CASE WHEN n % 3 = 0 THEN NULL ELSE (n % 90) || '.' || (n % 10) || ',' || (n % 180) || '.5' END,
       CASE WHEN n % 2 = 0 THEN 'room ' || (n % 13) ELSE NULL END,
       '2026-' || CASE WHEN 1 + n % 12 < 10 THEN '0' ELSE '' END || (1 + n % 12)
           || '-' || CASE WHEN 1 + (n / 12) % 28 < 10 THEN '0' ELSE '' END || (1 + (n / 12) % 28)
           || 'T' || CASE WHEN n % 24 < 10 THEN '0' ELSE '' END || (n % 24)
           || ':' || CASE WHEN (n * 7) % 60 < 10 THEN '0' ELSE '' END || ((n * 7) % 60) || ':17Z'
FROM c;

INSERT INTO messages (id, bot_id, user_id, body, created_at)
WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3000)
SELECT 'm' || n,
       'b' || (1 + n % 120),
       CASE WHEN n % 11 = 0 THEN NULL ELSE 'u' || (1 + (n * 13) % 600) END,
       'message ' || n || ' with "quotes", a backslash \ and unicode caf' || 'é',
       '2026-' || CASE WHEN 1 + n % 12 < 10 THEN '0' ELSE '' END || (1 + n % 12)
           || '-' || CASE WHEN 1 + (n / 12) % 28 < 10 THEN '0' ELSE '' END || (1 + (n / 12) % 28)
           || 'T' || CASE WHEN n % 24 < 10 THEN '0' ELSE '' END || (n % 24)
           || ':' || CASE WHEN (n * 7) % 60 < 10 THEN '0' ELSE '' END || ((n * 7) % 60) || ':17Z'
FROM c;

INSERT INTO scripts (id, owner_id, name, body, updated_at)
WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 60)
SELECT 's' || n,
       'u' || (1 + (n * 17) % 600),
       'script ' || n,
       'print("hello ' || n || '")',
       '2026-' || CASE WHEN 1 + n % 12 < 10 THEN '0' ELSE '' END || (1 + n % 12)
           || '-' || CASE WHEN 1 + (n / 12) % 28 < 10 THEN '0' ELSE '' END || (1 + (n / 12) % 28)
           || 'T' || CASE WHEN n % 24 < 10 THEN '0' ELSE '' END || (n % 24)
           || ':' || CASE WHEN (n * 7) % 60 < 10 THEN '0' ELSE '' END || ((n * 7) % 60) || ':17Z'
FROM c;

INSERT INTO jobs (id, script_id, bot_id, state, priority, updated_at)
WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 400)
SELECT 'j' || n,
       's' || (1 + n % 60),
       CASE WHEN n % 5 = 0 THEN NULL ELSE 'b' || (1 + (n * 3) % 120) END,
       CASE n % 3 WHEN 0 THEN 'done' WHEN 1 THEN 'queued' ELSE 'failed' END,
       n % 10,
       '2026-' || CASE WHEN 1 + n % 12 < 10 THEN '0' ELSE '' END || (1 + n % 12)
           || '-' || CASE WHEN 1 + (n / 12) % 28 < 10 THEN '0' ELSE '' END || (1 + (n / 12) % 28)
           || 'T' || CASE WHEN n % 24 < 10 THEN '0' ELSE '' END || (n % 24)
           || ':' || CASE WHEN (n * 7) % 60 < 10 THEN '0' ELSE '' END || ((n * 7) % 60) || ':17Z'
FROM c;

INSERT INTO global_properties (name, value, updated_at)
WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 20)
SELECT 'prop_' || n,
       CASE WHEN n % 4 = 0 THEN NULL ELSE 'value ' || n END,
       '2026-01-' || CASE WHEN n < 10 THEN '0' ELSE '' END || n || 'T12:00:17Z'
FROM c;
