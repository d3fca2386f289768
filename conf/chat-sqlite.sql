-- chat-sqlite.sql -- the chat service demo database (SPEC 8.1) on SQLite:
-- users, rooms with their participants, and comments, seeded with a few
-- hundred rows. conf/chat-pgsql.sql is the same model on PostgreSQL; both
-- hold identical rows (same e-mails, ids, timestamps, JSON text).
--
-- The import rules of the chat service's documentation live here, not in
-- the module: constraints whose names are the sentence a client reads when
-- a row breaks them, and triggers for rules that look at other rows. The
-- module's sections (conf/chat-sections.inc) only map columns to the API's
-- field names.
--
--   users     key email; authentication_token unique; password always a
--             bcrypt hash (the section hashes plain passwords on import).
--   rooms     read and written through the view rooms_api, which joins
--             room_participants back into participant_emails (a JSON
--             array, in the order given) and whose INSTEAD OF trigger
--             checks the participants and names single rooms
--             "<participant1_email> <participant2_email>".
--   comments  a table: its room, creator and parent comment must exist
--             (parent_comment_unique_id may be ''), type text or reply, a
--             reply names its parent and its payload is a JSON object with
--             text and replied_comment_id.
--
-- Why it looks like this on SQLite:
-- - The module does not turn PRAGMA foreign_keys on, so the REFERENCES
--   clauses are documentation (and work for connections that do): the
--   triggers are what enforce references.
-- - SQLite before 3.47 takes only a literal as RAISE()'s message, so the
--   messages here say which field is wrong but cannot quote the value;
--   the module reports the row's line and key next to it.
-- - Timestamps are UTC text, 2017-05-10T11:46:30Z as the API writes them:
--   export windows (start_date / end_date) compare them as text.
--   updated_at is set when a row is written (the API's files leave it out).
--
-- Seed data: 40 users created 2026-03-10..14, 30 rooms (18 single, 12
-- group) created 2026-03-15..19, 300 comments (54 of them replies) on
-- 2026-03-20..29, 30 a day; all between 10:00 and 17:00 UTC, so a
-- day's window selects the same rows in any time zone within 7 hours of
-- UTC. updated_at equals created_at in the seed.
--
-- Demo passwords (stored below as bcrypt hashes made with
-- `htpasswd -nbB -C 5 user PASSWORD`): each user's password is the local
-- part of the e-mail followed by -2026, e.g. ayu.pratama@chat.example has
-- ayu.pratama-2026.

DROP VIEW IF EXISTS rooms_api;
DROP TABLE IF EXISTS comments;
DROP TABLE IF EXISTS room_participants;
DROP TABLE IF EXISTS rooms;
DROP TABLE IF EXISTS users;

CREATE TABLE users (
    email                TEXT NOT NULL PRIMARY KEY,
    name                 TEXT,
    avatar_url           TEXT,
    authentication_token TEXT NOT NULL UNIQUE,
    password             TEXT NOT NULL
        CONSTRAINT "Password must be stored as a bcrypt hash"
        CHECK (length(password) = 60
               AND password GLOB '$2[aby]$[0-9][0-9]$*'
               AND password NOT GLOB '*[^./A-Za-z0-9$]*'),
    created_at           TEXT NOT NULL
        DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
        CONSTRAINT "CreateAt must be UTC like 2017-05-10T11:46:30Z"
        CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z'),
    updated_at           TEXT NOT NULL
        DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE rooms (
    unique_id     TEXT NOT NULL PRIMARY KEY,
    name          TEXT NOT NULL,
    type          TEXT NOT NULL
        CONSTRAINT "Type must be single or group"
        CHECK (type IN ('single', 'group')),
    options       TEXT,
    creator_email TEXT NOT NULL REFERENCES users (email),
    avatar_url    TEXT,
    created_at    TEXT NOT NULL
        DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
        CONSTRAINT "CreatedAt must be UTC like 2017-05-11T06:35:27Z"
        CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z'),
    updated_at    TEXT NOT NULL
        DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- position: the participant's index in ParticipantEmails (from 0).
CREATE TABLE room_participants (
    room_unique_id TEXT NOT NULL REFERENCES rooms (unique_id) ON DELETE CASCADE,
    user_email     TEXT NOT NULL REFERENCES users (email),
    position       INTEGER NOT NULL,
    PRIMARY KEY (room_unique_id, user_email),
    UNIQUE (room_unique_id, position)
);
CREATE INDEX room_participants_user ON room_participants (user_email);

-- Columns in the order of the API's example files.
CREATE TABLE comments (
    message                  TEXT NOT NULL,
    disable_link_preview     INTEGER NOT NULL DEFAULT 0
        CONSTRAINT "DisableLinkPreview must be true or false"
        CHECK (disable_link_preview IN (0, 1)),
    type                     TEXT NOT NULL
        CONSTRAINT "Type must be text or reply"
        CHECK (type IN ('text', 'reply')),
    unique_id                TEXT NOT NULL PRIMARY KEY,
    creator_email            TEXT NOT NULL REFERENCES users (email),
    room_unique_id           TEXT NOT NULL REFERENCES rooms (unique_id),
    created_at               TEXT NOT NULL
        DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
        CONSTRAINT "CreatedAt must be UTC like 2017-05-11T19:14:24Z"
        CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z'),
    payload                  TEXT
        CONSTRAINT "Payload must be JSON"
        CHECK (payload IS NULL OR json_valid(payload)),
    parent_comment_unique_id TEXT NOT NULL DEFAULT '',
    updated_at               TEXT NOT NULL
        DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    CONSTRAINT "a reply needs a ParentCommentUniqueId"
        CHECK (type <> 'reply' OR parent_comment_unique_id <> ''),
    -- CASE, not AND: json_type() fails on text that is not JSON
    CONSTRAINT "a reply's Payload needs text and replied_comment_id"
        CHECK (type <> 'reply' OR
               CASE WHEN payload IS NULL OR NOT json_valid(payload) THEN 0
                    ELSE json_type(payload) = 'object'
                         AND json_type(payload, '$.text') IS NOT NULL
                         AND json_type(payload, '$.replied_comment_id') IS NOT NULL
               END)
);
CREATE INDEX comments_room ON comments (room_unique_id);
CREATE INDEX comments_parent ON comments (parent_comment_unique_id);

-- A BEFORE trigger sees the rows an INSERT wrote before this one, so a
-- parent earlier in the same import (even the same statement) counts.
CREATE TRIGGER comments_refs BEFORE INSERT ON comments
BEGIN
    SELECT RAISE(ABORT, 'RoomUniqueId is not a room: give the UniqueId of an existing room')
     WHERE NOT EXISTS (SELECT 1 FROM rooms WHERE unique_id = NEW.room_unique_id);
    SELECT RAISE(ABORT, 'CreatorEmail is not a user: give the e-mail of an existing user')
     WHERE NOT EXISTS (SELECT 1 FROM users WHERE email = NEW.creator_email);
    SELECT RAISE(ABORT, 'ParentCommentUniqueId is not a comment: give "" or the UniqueId of a comment that exists or comes earlier in the file')
     WHERE NEW.parent_comment_unique_id <> ''
       AND NOT EXISTS (SELECT 1 FROM comments
                        WHERE unique_id = NEW.parent_comment_unique_id);
END;

-- updated_at follows changes made by the application, unless the change
-- sets it itself.
CREATE TRIGGER users_touch AFTER UPDATE ON users
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE users SET updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
     WHERE email = NEW.email;
END;
CREATE TRIGGER rooms_touch AFTER UPDATE ON rooms
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE rooms SET updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
     WHERE unique_id = NEW.unique_id;
END;
CREATE TRIGGER comments_touch AFTER UPDATE ON comments
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE comments SET updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
     WHERE unique_id = NEW.unique_id;
END;

-- Rooms as the API shows them. The subquery keeps participants in
-- position order (json_group_array adds them as the rows arrive).
CREATE VIEW rooms_api AS
SELECT r.name,
       r.type,
       r.options,
       r.creator_email,
       r.created_at,
       r.avatar_url,
       r.unique_id,
       (SELECT json_group_array(user_email)
          FROM (SELECT p.user_email FROM room_participants p
                 WHERE p.room_unique_id = r.unique_id
                 ORDER BY p.position)) AS participant_emails,
       r.updated_at
  FROM rooms r;

-- Imports are insert-only, so the view needs no UPDATE or DELETE trigger.
-- The checks run in order and the first broken rule aborts the row.
CREATE TRIGGER rooms_api_insert INSTEAD OF INSERT ON rooms_api
BEGIN
    SELECT RAISE(ABORT, 'Type must be single or group')
     WHERE NEW.type IS NULL OR NEW.type NOT IN ('single', 'group');
    SELECT RAISE(ABORT, 'ParticipantEmails must be a JSON array of user e-mails')
     WHERE CASE WHEN NEW.participant_emails IS NULL
                     OR NOT json_valid(NEW.participant_emails) THEN 1
                WHEN json_type(NEW.participant_emails) <> 'array' THEN 1
                ELSE EXISTS (SELECT 1 FROM json_each(NEW.participant_emails)
                              WHERE type <> 'text')
           END;
    SELECT RAISE(ABORT, 'CreatorEmail is not a user: give the e-mail of an existing user')
     WHERE NOT EXISTS (SELECT 1 FROM users WHERE email = NEW.creator_email);
    SELECT RAISE(ABORT, 'a participant in ParticipantEmails is not a user: every participant must be an existing user''s e-mail')
     WHERE EXISTS (SELECT 1 FROM json_each(NEW.participant_emails) AS p
                    WHERE NOT EXISTS (SELECT 1 FROM users WHERE email = p.value));
    SELECT RAISE(ABORT, 'ParticipantEmails lists the same e-mail twice')
     WHERE (SELECT count(*) FROM json_each(NEW.participant_emails))
        <> (SELECT count(DISTINCT value) FROM json_each(NEW.participant_emails));
    SELECT RAISE(ABORT, 'a single room must have exactly 2 participants')
     WHERE NEW.type = 'single' AND json_array_length(NEW.participant_emails) <> 2;
    SELECT RAISE(ABORT, 'a single room must have its creator (CreatorEmail) among its 2 participants')
     WHERE NEW.type = 'single'
       AND NOT EXISTS (SELECT 1 FROM json_each(NEW.participant_emails)
                        WHERE value = NEW.creator_email);
    SELECT RAISE(ABORT, 'a group room needs a Name')
     WHERE NEW.type = 'group' AND coalesce(NEW.name, '') = '';
    INSERT INTO rooms (unique_id, name, type, options, creator_email,
                       avatar_url, created_at, updated_at)
    VALUES (NEW.unique_id,
            CASE NEW.type
                WHEN 'single' THEN json_extract(NEW.participant_emails, '$[0]')
                                   || ' ' || json_extract(NEW.participant_emails, '$[1]')
                ELSE NEW.name
            END,
            NEW.type, NEW.options, NEW.creator_email, NEW.avatar_url,
            coalesce(NEW.created_at, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
            coalesce(NEW.updated_at, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
    INSERT INTO room_participants (room_unique_id, user_email, position)
    SELECT NEW.unique_id, value, key FROM json_each(NEW.participant_emails);
END;

-- ------------------------------------------------------------------ seed
-- Identical rows in chat-pgsql.sql. Users are numbered 1..40 in creation
-- order; rooms and comments pick users and rooms by those numbers.

INSERT INTO users (email, name, avatar_url, authentication_token, password,
                   created_at, updated_at)
WITH seed (email, name, avatar_url, authentication_token, password,
           created_at) AS (VALUES
    ('ayu.pratama@chat.example', 'Ayu Pratama', 'https://avatars.chat.example/u/ayu.pratama.png', '05e31bb768d0512400527922',
     '$2y$05$49cZDquup18rgJAmnp6GS.1mXoSZnqT.kCrdYd6BzX8uXe3lrPCC2', '2026-03-10T10:07:13Z'),
    ('budi.pratama@chat.example', 'Budi Pratama', 'https://avatars.chat.example/u/budi.pratama.png', '60f58e0b832a9b5f1c904a1c',
     '$2y$05$/PcNm7B8Vc2LVEbvEXNeKu06GHAybLTmRGt.yvhCaQkLRlPy0mZBO', '2026-03-10T11:04:26Z'),
    ('citra.pratama@chat.example', 'Citra Pratama', 'https://avatars.chat.example/u/citra.pratama.png', '1475a06ad28c855ee9b6ad41',
     '$2y$05$Gcf7lZeNcp3paxCkktOaVOBSn7.CTFaWch6.8oHIq78qDbFF9mio2', '2026-03-10T12:01:39Z'),
    ('dewi.pratama@chat.example', 'Dewi Pratama', 'https://avatars.chat.example/u/dewi.pratama.png', '6b4149231787130dee0a4118',
     '$2y$05$.fqUSXESpBri1193E2eAKuqEWa5rcBJ1VDnC7NaHGCZqRZV3..BEC', '2026-03-10T12:58:52Z'),
    ('eko.pratama@chat.example', 'Eko Pratama', 'https://avatars.chat.example/u/eko.pratama.png', '98dbc6e312d575eef2040815',
     '$2y$05$ajG4ICmZ6h9sZ7c/cwbtTOdWBuaKlebPqNmchQLwWrGPuO3hEum0O', '2026-03-10T13:55:05Z'),
    ('fajar.pratama@chat.example', 'Fajar Pratama', '', '9f0670d8d0ae48f18a059b11',
     '$2y$05$/z/v0c29.ZrD0IAakJFRi.D7B2opHx.LSCoC1AokZ5x7wBjyNS46q', '2026-03-10T14:12:18Z'),
    ('gita.pratama@chat.example', 'Gita Pratama', 'https://avatars.chat.example/u/gita.pratama.png', 'a6be5ba70b80b31e9829830a',
     '$2y$05$/1DHU2FeL8GREJLTiEUTr.aNQEhx5spb5MbS4wulwGihtNmXuJahK', '2026-03-10T15:09:31Z'),
    ('hendra.pratama@chat.example', 'Hendra Pratama', 'https://avatars.chat.example/u/hendra.pratama.png', '310a38d63959389140d2f7f1',
     '$2y$05$6LsTKEEgHb0rDzYBzYNgMOjhai0mKkBy4VEr.IhhYC4oUpMJfhcyS', '2026-03-10T16:06:44Z'),
    ('ayu.santoso@chat.example', 'Ayu Santoso', 'https://avatars.chat.example/u/ayu.santoso.png', '802af36f0973106ba913d3e6',
     '$2y$05$8KsfwNsyEKbbH/ggiB5TvOSXvuD4JQFc6sM/Ltek0Q.JJWq16vd/K', '2026-03-11T10:23:57Z'),
    ('budi.santoso@chat.example', 'Budi Santoso', 'https://avatars.chat.example/u/budi.santoso.png', 'd798b9666a9b292473bf4d08',
     '$2y$05$RShFmqg1cOffyAgtPgkV/eb.5qBezEdldR7WFY6k7hE40TMmDlq4.', '2026-03-11T11:20:10Z'),
    ('citra.santoso@chat.example', 'Citra Santoso', 'https://avatars.chat.example/u/citra.santoso.png', '61e8dc7ab6676126ae323487',
     '$2y$05$kXywfvpse.83I6tZc8ngQuXhCgujOulaQtDE7VsR4l6w8fPNu8Bjy', '2026-03-11T12:17:23Z'),
    ('dewi.santoso@chat.example', 'Dewi Santoso', '', '4ca2c422328d42f29d716550',
     '$2y$05$g.wryZSbatcosMwh75J8Zu.3xAE/.PZKdokW40rwCmrFAnQeJYW0a', '2026-03-11T12:34:36Z'),
    ('eko.santoso@chat.example', 'Eko Santoso', 'https://avatars.chat.example/u/eko.santoso.png', '29d5489b4b55ed09d60232fe',
     '$2y$05$lh3wLN1Wi7DB.bwWk.QcHu2N5ucZUz061.AFTgHkISYKX1wqqH7yK', '2026-03-11T13:31:49Z'),
    ('fajar.santoso@chat.example', 'Fajar Santoso', 'https://avatars.chat.example/u/fajar.santoso.png', '7fe08d14e3140cb8bf29f111',
     '$2y$05$ni6lnFw9K5iEvpTVU/WrTegkvTSruVlmiOV69hxbuMFQomtXkl4LC', '2026-03-11T14:28:02Z'),
    ('gita.santoso@chat.example', 'Gita Santoso', 'https://avatars.chat.example/u/gita.santoso.png', 'ff35c9d95dbbe11f9f45e112',
     '$2y$05$WIn17.Ex.2IN22arvz2mKehTRnRgt4jYchC7rkoW0Z1qDTXk1OMZ2', '2026-03-11T15:25:15Z'),
    ('hendra.santoso@chat.example', 'Hendra Santoso', 'https://avatars.chat.example/u/hendra.santoso.png', '20fcf2beec99d5cd8cc6264b',
     '$2y$05$8s7yyBAufoZlDJkh3s33lOcsX2W7VTgilaLm5A0W9hcVaVQlRXc3a', '2026-03-11T16:22:28Z'),
    ('ayu.wijaya@chat.example', 'Ayu Wijaya', 'https://avatars.chat.example/u/ayu.wijaya.png', 'b7c8dd7913c8bd09c64163a4',
     '$2y$05$3C8ULXwEuHGHuJz/npb3z.YuyoC9kIL5LrTdkb5QpDSEhovbC3weu', '2026-03-12T10:39:41Z'),
    ('budi.wijaya@chat.example', 'Budi Wijaya', '', 'ff6a51e861b470033e1a9ba4',
     '$2y$05$hmi85Q55XNnpirThA1osvOWViCCher2QZXJtqaiZQsDyRjwYIS3Te', '2026-03-12T10:56:54Z'),
    ('citra.wijaya@chat.example', 'Citra Wijaya', 'https://avatars.chat.example/u/citra.wijaya.png', '26f091dfc62d78fe7e9a925f',
     '$2y$05$bUmZs/qsgEpNoqR8XmjlpugSQRzP1m36ouV9498y/zTBUHpnrXqxO', '2026-03-12T11:53:07Z'),
    ('dewi.wijaya@chat.example', 'Dewi Wijaya', 'https://avatars.chat.example/u/dewi.wijaya.png', '03e3bdccf577f2d03684b445',
     '$2y$05$EnBof0Kxlj5eqRNCv/sRme1aVt7mu.srT5PRMgDv0tKRszUQTweOS', '2026-03-12T12:50:20Z'),
    ('eko.wijaya@chat.example', 'Eko Wijaya', 'https://avatars.chat.example/u/eko.wijaya.png', 'ab94b4b7707e7e31cf3112d1',
     '$2y$05$mQPQE.J5VkCtcR7vVjpOpeAQyYVHkSY6pBUcmZ9dm85L6HiZaPJmS', '2026-03-12T13:47:33Z'),
    ('fajar.wijaya@chat.example', 'Fajar Wijaya', 'https://avatars.chat.example/u/fajar.wijaya.png', 'dd26c2c1f770ae3b02023665',
     '$2y$05$I9jL/F8xxE0/RPebo6wC9u7JF.ZmdMBOtMJ4qdIU7VPL2JZU84jiW', '2026-03-12T14:44:46Z'),
    ('gita.wijaya@chat.example', 'Gita Wijaya', 'https://avatars.chat.example/u/gita.wijaya.png', 'fda7871888bd2f8564f4a166',
     '$2y$05$0w4apbn2jFYfZ5RgDZrZleaQ8uiP.IZveUhm9m2poQCMHgPkJw8UC', '2026-03-12T15:01:59Z'),
    ('hendra.wijaya@chat.example', 'Hendra Wijaya', '', '2e8e82c711b0bd4a58cdcbc3',
     '$2y$05$IvaJtoxnjkPQPP85W0o8/uHIzps9y7ZOUMDzl8ak8PlBKcb.uVCkm', '2026-03-12T15:58:12Z'),
    ('ayu.lestari@chat.example', 'Ayu Lestari', 'https://avatars.chat.example/u/ayu.lestari.png', '687ca5743da204ff5aa5820c',
     '$2y$05$s1eUDPNfFC.2hfgkMoCCwOTMch2P6dLCgaTkHnSrb3JBZoUDggKsW', '2026-03-13T10:15:25Z'),
    ('budi.lestari@chat.example', 'Budi Lestari', 'https://avatars.chat.example/u/budi.lestari.png', '1234ae85470ebe1a453601d2',
     '$2y$05$6yAshlwc7QeuxK7tedhJve.gt2m74SD.DsM4mHBgtJBBhRvxdwEU2', '2026-03-13T11:12:38Z'),
    ('citra.lestari@chat.example', 'Citra Lestari', 'https://avatars.chat.example/u/citra.lestari.png', '1f3b9c84bbbfdc88123cba48',
     '$2y$05$abDu/8Zht0QOKbjQawssxeOkpeHxAsF.dE6UcmkR0ITcA4L1soaje', '2026-03-13T12:09:51Z'),
    ('dewi.lestari@chat.example', 'Dewi Lestari', 'https://avatars.chat.example/u/dewi.lestari.png', 'd304cddfa8bcb09a1c21e84d',
     '$2y$05$Vzm/hthtmz.VENp/QbqnxunaxFKsSEM927yb0cjeKu2bIxVxlsHHS', '2026-03-13T13:06:04Z'),
    ('eko.lestari@chat.example', 'Eko Lestari', 'https://avatars.chat.example/u/eko.lestari.png', '9de64e6c77f6325a125c759b',
     '$2y$05$OSiIesx.cVpxX9WzRN8WE.ZSajmYxrNaj1x1/AfL8J6IfFxDy8Qs2', '2026-03-13T13:23:17Z'),
    ('fajar.lestari@chat.example', 'Fajar Lestari', '', 'b843aad1f9f4e0d66a971ed7',
     '$2y$05$xYSn8ah7886VbOGu/Jmu9uQyWqZDrUarA2ag0E5Ygkkol15tlHxOi', '2026-03-13T14:20:30Z'),
    ('gita.lestari@chat.example', 'Gita Lestari', 'https://avatars.chat.example/u/gita.lestari.png', 'e44ff693ac63dd726cda6eba',
     '$2y$05$nm7VhJisQW2hN8uamjl5heczS5aye8aXF9sT7zKNTQUlgZr8VyxtG', '2026-03-13T15:17:43Z'),
    ('hendra.lestari@chat.example', 'Hendra Lestari', 'https://avatars.chat.example/u/hendra.lestari.png', '8d3cba16601fce1930087749',
     '$2y$05$FP9NgYS0SmuUtnDLEpmp1OA.63OblnQIgyP2MOPgDhlKF.iFZOFwS', '2026-03-13T16:14:56Z'),
    ('ayu.nugroho@chat.example', 'Ayu Nugroho', 'https://avatars.chat.example/u/ayu.nugroho.png', '033af29e1f7ffaa4f100bcee',
     '$2y$05$uZbfSZsyPQ8HxiqD31bWw.ZvkBZyXGNbqUrK1Mu6QGBjlpbuUcdu6', '2026-03-14T10:31:09Z'),
    ('budi.nugroho@chat.example', 'Budi Nugroho', 'https://avatars.chat.example/u/budi.nugroho.png', '4f97a471c27a5c7f52ee908d',
     '$2y$05$W3QztiNy/gDo6STU9yxUpu6gmzSCE.CGFxvPX5XjHksgPodHG5xa2', '2026-03-14T11:28:22Z'),
    ('citra.nugroho@chat.example', 'Citra Nugroho', 'https://avatars.chat.example/u/citra.nugroho.png', '330d57a552bba1b0327fa882',
     '$2y$05$XVh8MVBb9vQu5k59NU17heXuod9STHxijHUQqnnkzkZboNWczez6.', '2026-03-14T11:45:35Z'),
    ('dewi.nugroho@chat.example', 'Dewi Nugroho', '', 'b206fe68cb3c8d58da22f7e5',
     '$2y$05$GIa17ASR4dy5vrsf6DmpH.jFgs3VT45UO6r0/unffmmHp3xKAodhS', '2026-03-14T12:42:48Z'),
    ('eko.nugroho@chat.example', 'Eko Nugroho', 'https://avatars.chat.example/u/eko.nugroho.png', 'e9e067538121de45bb497216',
     '$2y$05$gFOjHLtvsPNa.t3eIKDox.qMlN4ZFNGLSt6ISRbgHzKQmTPcJk4iq', '2026-03-14T13:39:01Z'),
    ('fajar.nugroho@chat.example', 'Fajar Nugroho', 'https://avatars.chat.example/u/fajar.nugroho.png', '1a22efae846dbe86f9b7fdd8',
     '$2y$05$HnXuTbaF/R.POwZaiKo.k.f8hixDTKyz.AAfFKVGcRj9ZqGcEFXxC', '2026-03-14T14:36:14Z'),
    ('gita.nugroho@chat.example', 'Gita Nugroho', 'https://avatars.chat.example/u/gita.nugroho.png', '84f175f7165fa32cce57135d',
     '$2y$05$zCQVhdb.2zyH0vyotPb.C.2.rt2oEF.h61ozaKDoj2a6jlqD97qZu', '2026-03-14T15:33:27Z'),
    ('hendra.nugroho@chat.example', 'Hendra Nugroho', 'https://avatars.chat.example/u/hendra.nugroho.png', '240b90b399b7579ad60501a0',
     '$2y$05$JSbFGHha50Vnax3fVW8YD.NzvguP6XzCnoSFfKCYkZZXzRHCWoxqu', '2026-03-14T15:50:40Z')
)
SELECT email, name, avatar_url, authentication_token, password, created_at,
       created_at
  FROM seed;

-- Rooms m = 1..30, six a day from 2026-03-15, through the view (so its
-- trigger names the single rooms). m % 5 in (1, 2, 3): single, between
-- user m (the creator) and user m + 11, the creator listed first when m is
-- even. Otherwise group number g (1..12): creator 1 + 3m % 40, listed
-- first, with users 1 + (3m + 5) % 40, 1 + (3m + 11) % 40 and, when m is
-- even, 1 + (3m + 17) % 40.
INSERT INTO rooms_api (unique_id, name, type, options, creator_email,
                       avatar_url, created_at, participant_emails, updated_at)
WITH RECURSIVE c(m) AS (SELECT 1 UNION ALL SELECT m + 1 FROM c WHERE m < 30),
u(n, email) AS (SELECT row_number() OVER (ORDER BY created_at), email FROM users),
shape(m, type, creator, p0, p1, p2, p3) AS (
    SELECT m, 'single', m,
           CASE WHEN m % 2 = 0 THEN m ELSE m + 11 END,
           CASE WHEN m % 2 = 0 THEN m + 11 ELSE m END,
           NULL, NULL
      FROM c WHERE m % 5 IN (1, 2, 3)
    UNION ALL
    SELECT m, 'group', 1 + 3 * m % 40,
           1 + 3 * m % 40, 1 + (3 * m + 5) % 40, 1 + (3 * m + 11) % 40,
           CASE WHEN m % 2 = 0 THEN 1 + (3 * m + 17) % 40 END
      FROM c WHERE m % 5 IN (0, 4)
),
grp(g, name) AS (VALUES
    (1, 'Keluarga Besar'), (2, 'Tim Futsal Kamis'), (3, 'Arisan RT 05'),
    (4, 'Project Atlas'), (5, 'Alumni SMA 3'), (6, 'Book Club'),
    (7, 'Weekend Hikers'), (8, 'Dapur Sehat'), (9, 'Support Shift A'),
    (10, 'Design Review'), (11, 'Kopi Pagi'), (12, 'Qiscus Family Super')
),
-- minutes after midnight: 10:00 plus 70 a slot plus up to 29 (..16:19)
t0(m, mins, secs) AS (
    SELECT m, 600 + (m - 1) % 6 * 70 + m * 11 % 30, m * 17 % 60 FROM c
),
t(m, ts) AS (
    SELECT m,
           '2026-03-' || (15 + (m - 1) / 6) || 'T' || (mins / 60) || ':'
           || CASE WHEN mins % 60 < 10 THEN '0' ELSE '' END || (mins % 60) || ':'
           || CASE WHEN secs < 10 THEN '0' ELSE '' END || secs || 'Z'
      FROM t0
)
SELECT '8b1e4f00-2026-4c5a-9d3e-0000000000'
       || CASE WHEN s.m < 10 THEN '0' ELSE '' END || s.m,
       CASE WHEN s.type = 'group' THEN grp.name END,
       s.type,
       '',
       uc.email,
       CASE WHEN s.type = 'group'
            THEN 'https://avatars.chat.example/rooms/' || s.m || '.png'
            ELSE '' END,
       t.ts,
       '["' || u0.email || '","' || u1.email || '"'
       || CASE WHEN u2.email IS NULL THEN '' ELSE ',"' || u2.email || '"' END
       || CASE WHEN u3.email IS NULL THEN '' ELSE ',"' || u3.email || '"' END
       || ']',
       t.ts
  FROM shape s
  JOIN t ON t.m = s.m
  JOIN u uc ON uc.n = s.creator
  JOIN u u0 ON u0.n = s.p0
  JOIN u u1 ON u1.n = s.p1
  LEFT JOIN u u2 ON u2.n = s.p2
  LEFT JOIN u u3 ON u3.n = s.p3
  LEFT JOIN grp ON grp.g = 2 * (s.m / 5) + CASE WHEN s.m % 5 = 4 THEN 1 ELSE 0 END
 ORDER BY s.m;

-- Comments k = 1..300 in room 1 + (k - 1) % 30, thirty a day from
-- 2026-03-20, 13 minutes apart from 10:00 (..16:17). The unique_id is the
-- creation time in milliseconds, so key order is time order and a parent
-- always comes before its replies in an export. k > 30 with k % 5 = 0 is
-- a reply to comment k - 30 (same room, a day earlier); the others are
-- text with no parent. The creator is one of the room's participants;
-- every seventh comment has DisableLinkPreview. Inserted in k order, so
-- each reply's parent is already there.
INSERT INTO comments (message, disable_link_preview, type, unique_id,
                      creator_email, room_unique_id, created_at, payload,
                      parent_comment_unique_id, updated_at)
WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < 300),
r(m, unique_id) AS (SELECT row_number() OVER (ORDER BY unique_id), unique_id FROM rooms),
phrase(i, text) AS (VALUES
    (0, 'Halo doc'), (1, 'Maaf mau tanya..'), (2, 'Selamat pagi semua'),
    (3, 'Jadwal meeting besok jam 10 ya'), (4, 'Sudah saya kirim lewat email'),
    (5, 'Menu makan siang: https://example.org/menu'),
    (6, 'Terima kasih banyak 🙏'), (7, 'Oke, sampai ketemu di café'),
    (8, 'Bisa dicek lagi dokumennya?'), (9, 'Siap, segera saya update'),
    (10, 'Foto kemarin: https://example.org/p/42'),
    (11, 'Ada yang punya charger laptop?')
),
t(k, id, ts) AS (
    SELECT k,
           'android_' || (1773964800000 + (k - 1) / 30 * 86400000 + 36000000
                          + (k - 1) % 30 * 780000 + k % 60 * 1000 + k * 37 % 1000),
           '2026-03-' || (20 + (k - 1) / 30) || 'T'
           || (10 + (k - 1) % 30 * 13 / 60) || ':'
           || CASE WHEN (k - 1) % 30 * 13 % 60 < 10 THEN '0' ELSE '' END
           || ((k - 1) % 30 * 13 % 60) || ':'
           || CASE WHEN k % 60 < 10 THEN '0' ELSE '' END || (k % 60) || 'Z'
      FROM c
),
msg(k, type, message, parent) AS (
    SELECT t.k,
           CASE WHEN t.k > 30 AND t.k % 5 = 0 THEN 'reply' ELSE 'text' END,
           phrase.text,
           CASE WHEN t.k > 30 AND t.k % 5 = 0 THEN p.id ELSE '' END
      FROM t
      JOIN phrase ON phrase.i = t.k * 7 % 12
      LEFT JOIN t p ON p.k = t.k - 30
)
SELECT msg.message,
       CASE WHEN t.k % 7 = 0 THEN 1 ELSE 0 END,
       msg.type,
       t.id,
       rp.user_email,
       r.unique_id,
       t.ts,
       CASE WHEN msg.type = 'reply' THEN json_object('text', msg.message, 'replied_comment_id', 1) END,
       msg.parent,
       t.ts
  FROM t
  JOIN msg ON msg.k = t.k
  JOIN r ON r.m = 1 + (t.k - 1) % 30
  JOIN room_participants rp
    ON rp.room_unique_id = r.unique_id
   AND rp.position = (t.k - 1) / 30 % (SELECT count(*) FROM room_participants x
                                       WHERE x.room_unique_id = r.unique_id)
 ORDER BY t.k;
