#!/bin/sh
# chat-schema.sh -- proves the chat service demo's database rules with
# plain SQL, on SQLite and on a throwaway PostgreSQL (t/pg.sh): each rule
# of conf/chat-sqlite.sql and conf/chat-pgsql.sql broken once is rejected
# with its message, valid inserts (through the rooms_api view too)
# succeed and read back as the API shows them, the seed is what the files
# say, and both backends hold the same rows.
#
#   sh t/chat-schema.sh        both backends
#   CHAT_BACKENDS=sqlite sh t/chat-schema.sh
#
# Prints one line per check and "N passed, N failed"; exits 1 if any
# failed. Started as root it re-runs itself as XPORT_TEST_USER
# (xporttest; initdb refuses root) from a copy that user can read.
set -u

DEMO=chat
BACKENDS_VAR=CHAT_BACKENDS
BACKENDS=${CHAT_BACKENDS:-sqlite pgsql}

# Values the checks share; @NAME@ in a check's SQL becomes its value.
# shellcheck disable=SC2016 # a bcrypt hash, nothing to expand
HASH='$2y$05$49cZDquup18rgJAmnp6GS.1mXoSZnqT.kCrdYd6BzX8uXe3lrPCC2'
ROOM='8b1e4f00-2026-4c5a-9d3e-000000000001'
COMMENT='android_1774000801037'
subst() {
    sed -e "s|@HASH@|$HASH|g" -e "s|@ROOM@|$ROOM|g" -e "s|@COMMENT@|$COMMENT|g"
}

. "$(dirname "$0")/lib/demo-schema.sh"

# --------------------------------------------------------------- users

reject "users: an AuthenticationToken already in use" \
    "UNIQUE constraint failed: users.authentication_token" \
    'violates unique constraint "AuthenticationToken belongs to another user"' <<'SQL'
INSERT INTO users (email, name, avatar_url, authentication_token, password, created_at)
VALUES ('new@chat.example', 'New', '', '05e31bb768d0512400527922', '@HASH@', '2017-05-10T11:46:30Z');
SQL

reject "users: an Email already in use" \
    "UNIQUE constraint failed: users.email" \
    'violates unique constraint "users_pkey"' <<'SQL'
INSERT INTO users (email, name, avatar_url, authentication_token, password, created_at)
VALUES ('ayu.pratama@chat.example', 'Ayu', '', 'fresh-token', '@HASH@', '2017-05-10T11:46:30Z');
SQL

reject "users: a plain password" \
    "Password must be stored as a bcrypt hash" \
    "Password must be stored as a bcrypt hash" <<'SQL'
INSERT INTO users (email, name, avatar_url, authentication_token, password, created_at)
VALUES ('new@chat.example', 'New', '', 'fresh-token', 'password', '2017-05-10T11:46:30Z');
SQL

reject "users: CreateAt not in UTC" \
    "CreateAt must be UTC like 2017-05-10T11:46:30Z" \
    "CreateAt must be UTC like 2017-05-10T11:46:30Z" <<'SQL'
INSERT INTO users (email, name, avatar_url, authentication_token, password, created_at)
VALUES ('new@chat.example', 'New', '', 'fresh-token', '@HASH@', '2017-05-10T18:46:30+07:00');
SQL

accept "users: a new user (updated_at set by the database)" \
    'new@chat.example|New|2017-05-10T11:46:30Z|1' <<'SQL'
INSERT INTO users (email, name, avatar_url, authentication_token, password, created_at)
VALUES ('new@chat.example', 'New', 'https://placehold.it/20x20', 'fresh-token', '@HASH@', '2017-05-10T11:46:30Z');
SELECT email, name, created_at,
       CASE WHEN updated_at LIKE '2___-__-__T__:__:__Z' THEN 1 ELSE 0 END
  FROM users WHERE email = 'new@chat.example';
SQL

# --------------------------------------------------------------- rooms

reject "rooms: a Type other than single or group" \
    "Type must be single or group" \
    'Type must be single or group, not "channel"' <<'SQL'
INSERT INTO rooms_api (unique_id, name, type, options, creator_email, avatar_url, created_at, participant_emails)
VALUES ('r-new', 'x', 'channel', '', 'ayu.pratama@chat.example', '', '2017-05-11T06:35:27Z',
        '["ayu.pratama@chat.example","budi.pratama@chat.example"]');
SQL

reject "rooms: ParticipantEmails not an array" \
    "ParticipantEmails must be a JSON array of user e-mails" \
    "ParticipantEmails must be a JSON array of user e-mails" <<'SQL'
INSERT INTO rooms_api (unique_id, name, type, options, creator_email, avatar_url, created_at, participant_emails)
VALUES ('r-new', 'x', 'group', '', 'ayu.pratama@chat.example', '', '2017-05-11T06:35:27Z',
        '"ayu.pratama@chat.example"');
SQL

reject "rooms: a participant that is not a string" \
    "ParticipantEmails must be a JSON array of user e-mails" \
    "ParticipantEmails must be a JSON array of user e-mails" <<'SQL'
INSERT INTO rooms_api (unique_id, name, type, options, creator_email, avatar_url, created_at, participant_emails)
VALUES ('r-new', 'x', 'group', '', 'ayu.pratama@chat.example', '', '2017-05-11T06:35:27Z',
        '["ayu.pratama@chat.example",42]');
SQL

reject "rooms: a CreatorEmail that is not a user" \
    "CreatorEmail is not a user" \
    'CreatorEmail "nobody@chat.example" is not a user' <<'SQL'
INSERT INTO rooms_api (unique_id, name, type, options, creator_email, avatar_url, created_at, participant_emails)
VALUES ('r-new', 'x', 'group', '', 'nobody@chat.example', '', '2017-05-11T06:35:27Z',
        '["ayu.pratama@chat.example","budi.pratama@chat.example"]');
SQL

reject "rooms: a participant that is not a user" \
    "a participant in ParticipantEmails is not a user" \
    'participant "nobody@chat.example" is not a user' <<'SQL'
INSERT INTO rooms_api (unique_id, name, type, options, creator_email, avatar_url, created_at, participant_emails)
VALUES ('r-new', 'x', 'group', '', 'ayu.pratama@chat.example', '', '2017-05-11T06:35:27Z',
        '["ayu.pratama@chat.example","nobody@chat.example"]');
SQL

reject "rooms: a participant listed twice" \
    "ParticipantEmails lists the same e-mail twice" \
    'ParticipantEmails lists "budi.pratama@chat.example" twice' <<'SQL'
INSERT INTO rooms_api (unique_id, name, type, options, creator_email, avatar_url, created_at, participant_emails)
VALUES ('r-new', 'x', 'group', '', 'ayu.pratama@chat.example', '', '2017-05-11T06:35:27Z',
        '["ayu.pratama@chat.example","budi.pratama@chat.example","budi.pratama@chat.example"]');
SQL

reject "rooms: a single room of 3" \
    "a single room must have exactly 2 participants" \
    "a single room must have exactly 2 participants, not 3" <<'SQL'
INSERT INTO rooms_api (unique_id, name, type, options, creator_email, avatar_url, created_at, participant_emails)
VALUES ('r-new', '', 'single', '', 'ayu.pratama@chat.example', '', '2017-05-11T06:35:27Z',
        '["ayu.pratama@chat.example","budi.pratama@chat.example","citra.pratama@chat.example"]');
SQL

reject "rooms: a single room without its creator" \
    "a single room must have its creator (CreatorEmail) among its 2 participants" \
    'a single room must have its creator "ayu.pratama@chat.example" among its 2 participants' <<'SQL'
INSERT INTO rooms_api (unique_id, name, type, options, creator_email, avatar_url, created_at, participant_emails)
VALUES ('r-new', '', 'single', '', 'ayu.pratama@chat.example', '', '2017-05-11T06:35:27Z',
        '["budi.pratama@chat.example","citra.pratama@chat.example"]');
SQL

reject "rooms: a group without a Name" \
    "a group room needs a Name" \
    "a group room needs a Name" <<'SQL'
INSERT INTO rooms_api (unique_id, name, type, options, creator_email, avatar_url, created_at, participant_emails)
VALUES ('r-new', '', 'group', '', 'ayu.pratama@chat.example', '', '2017-05-11T06:35:27Z',
        '["ayu.pratama@chat.example","budi.pratama@chat.example"]');
SQL

reject "rooms: CreatedAt not in UTC" \
    "CreatedAt must be UTC like 2017-05-11T06:35:27Z" \
    "CreatedAt must be UTC like 2017-05-11T06:35:27Z" <<'SQL'
INSERT INTO rooms_api (unique_id, name, type, options, creator_email, avatar_url, created_at, participant_emails)
VALUES ('r-new', 'x', 'group', '', 'ayu.pratama@chat.example', '', '2017-05-11 06:35:27',
        '["ayu.pratama@chat.example","budi.pratama@chat.example"]');
SQL

reject "rooms: a UniqueId already in use" \
    "UNIQUE constraint failed: rooms.unique_id" \
    'violates unique constraint "rooms_pkey"' <<'SQL'
INSERT INTO rooms_api (unique_id, name, type, options, creator_email, avatar_url, created_at, participant_emails)
VALUES ('@ROOM@', 'x', 'group', '', 'ayu.pratama@chat.example', '', '2017-05-11T06:35:27Z',
        '["ayu.pratama@chat.example","budi.pratama@chat.example"]');
SQL

accept "rooms: a single room is named after its participants, in their order" \
    'budi.pratama@chat.example ayu.pratama@chat.example|single|ayu.pratama@chat.example|["budi.pratama@chat.example","ayu.pratama@chat.example"]|1\nbudi.pratama@chat.example|0\nayu.pratama@chat.example|1' <<'SQL'
INSERT INTO rooms_api (unique_id, name, type, options, creator_email, avatar_url, created_at, participant_emails)
VALUES ('r-new', 'whatever the file says', 'single', '', 'ayu.pratama@chat.example', '', '2017-05-11T06:35:27Z',
        '["budi.pratama@chat.example","ayu.pratama@chat.example"]');
SELECT name, type, creator_email, participant_emails,
       CASE WHEN updated_at LIKE '2___-__-__T__:__:__Z' THEN 1 ELSE 0 END
  FROM rooms_api WHERE unique_id = 'r-new';
SELECT user_email, position FROM room_participants
 WHERE room_unique_id = 'r-new' ORDER BY position;
SQL

accept "rooms: a group keeps its Name; two rooms in one statement" \
    'r-g1|Qiscus Family Super|group|["hendra.nugroho@chat.example","ayu.pratama@chat.example","citra.pratama@chat.example"]\nr-g2|Kopi|group|["budi.pratama@chat.example"]' <<'SQL'
INSERT INTO rooms_api (unique_id, name, type, options, creator_email, avatar_url, created_at, participant_emails)
VALUES ('r-g1', 'Qiscus Family Super', 'group', '', 'hendra.nugroho@chat.example', '', '2017-05-11T06:35:27Z',
        '["hendra.nugroho@chat.example","ayu.pratama@chat.example","citra.pratama@chat.example"]'),
       ('r-g2', 'Kopi', 'group', '', 'budi.pratama@chat.example', '', '2017-05-11T06:35:27Z',
        '["budi.pratama@chat.example"]');
SELECT unique_id, name, type, participant_emails FROM rooms_api
 WHERE unique_id IN ('r-g1', 'r-g2') ORDER BY unique_id;
SQL

# ------------------------------------------------------------ comments

reject "comments: a Type other than text or reply" \
    "Type must be text or reply" \
    "Type must be text or reply" <<'SQL'
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id)
VALUES ('hi', '0', 'image', 'c-new', 'ayu.pratama@chat.example', '@ROOM@', '2017-05-11T19:14:24Z', NULL, '');
SQL

reject "comments: a reply without Payload" \
    "a reply's Payload needs text and replied_comment_id" \
    "a reply's Payload needs text and replied_comment_id" <<'SQL'
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id)
VALUES ('hi', '0', 'reply', 'c-new', 'ayu.pratama@chat.example', '@ROOM@', '2017-05-11T19:14:24Z', NULL, '@COMMENT@');
SQL

reject "comments: a reply's Payload without replied_comment_id" \
    "a reply's Payload needs text and replied_comment_id" \
    "a reply's Payload needs text and replied_comment_id" <<'SQL'
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id)
VALUES ('hi', '0', 'reply', 'c-new', 'ayu.pratama@chat.example', '@ROOM@', '2017-05-11T19:14:24Z', '{"text":"hi"}', '@COMMENT@');
SQL

reject "comments: a reply's Payload that is an array" \
    "a reply's Payload needs text and replied_comment_id" \
    "a reply's Payload needs text and replied_comment_id" <<'SQL'
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id)
VALUES ('hi', '0', 'reply', 'c-new', 'ayu.pratama@chat.example', '@ROOM@', '2017-05-11T19:14:24Z', '["text","replied_comment_id"]', '@COMMENT@');
SQL

reject "comments: a reply without ParentCommentUniqueId" \
    "a reply needs a ParentCommentUniqueId" \
    "a reply needs a ParentCommentUniqueId" <<'SQL'
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id)
VALUES ('hi', '0', 'reply', 'c-new', 'ayu.pratama@chat.example', '@ROOM@', '2017-05-11T19:14:24Z', '{"text":"hi","replied_comment_id":1}', '');
SQL

reject "comments: a RoomUniqueId that is not a room" \
    "RoomUniqueId is not a room" \
    'RoomUniqueId "no-such-room" is not a room' <<'SQL'
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id)
VALUES ('hi', '0', 'text', 'c-new', 'ayu.pratama@chat.example', 'no-such-room', '2017-05-11T19:14:24Z', NULL, '');
SQL

reject "comments: a CreatorEmail that is not a user" \
    "CreatorEmail is not a user" \
    'CreatorEmail "nobody@chat.example" is not a user' <<'SQL'
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id)
VALUES ('hi', '0', 'text', 'c-new', 'nobody@chat.example', '@ROOM@', '2017-05-11T19:14:24Z', NULL, '');
SQL

reject "comments: a ParentCommentUniqueId that is not a comment" \
    "ParentCommentUniqueId is not a comment" \
    'ParentCommentUniqueId "android_0" is not a comment' <<'SQL'
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id)
VALUES ('hi', '0', 'text', 'c-new', 'ayu.pratama@chat.example', '@ROOM@', '2017-05-11T19:14:24Z', NULL, 'android_0');
SQL

reject "comments: a comment that is its own parent" \
    "ParentCommentUniqueId is not a comment" \
    'ParentCommentUniqueId "c-new" is not a comment' <<'SQL'
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id)
VALUES ('hi', '0', 'reply', 'c-new', 'ayu.pratama@chat.example', '@ROOM@', '2017-05-11T19:14:24Z', '{"text":"hi","replied_comment_id":1}', 'c-new');
SQL

reject "comments: a Payload that is not JSON" \
    "Payload must be JSON" \
    "invalid input syntax for type json" <<'SQL'
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id)
VALUES ('hi', '0', 'text', 'c-new', 'ayu.pratama@chat.example', '@ROOM@', '2017-05-11T19:14:24Z', '{text: hi}', '');
SQL

reject "comments: DisableLinkPreview neither true nor false" \
    "DisableLinkPreview must be true or false" \
    "invalid input syntax for type boolean" <<'SQL'
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id)
VALUES ('hi', '2', 'text', 'c-new', 'ayu.pratama@chat.example', '@ROOM@', '2017-05-11T19:14:24Z', NULL, '');
SQL

reject "comments: CreatedAt not in UTC" \
    "CreatedAt must be UTC like 2017-05-11T19:14:24Z" \
    "CreatedAt must be UTC like 2017-05-11T19:14:24Z" <<'SQL'
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id)
VALUES ('hi', '0', 'text', 'c-new', 'ayu.pratama@chat.example', '@ROOM@', '2017-05-11', NULL, '');
SQL

reject "comments: a UniqueId already in use" \
    "UNIQUE constraint failed: comments.unique_id" \
    'violates unique constraint "comments_pkey"' <<'SQL'
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id)
VALUES ('hi', '0', 'text', '@COMMENT@', 'ayu.pratama@chat.example', '@ROOM@', '2017-05-11T19:14:24Z', NULL, '');
SQL

accept "comments: a text, a reply to it in the same statement, a reply to a stored one" \
    'c-1|Halo doc|false|text|NULL|\nc-2|Maaf mau tanya..|true|reply|{"text":"Maaf mau tanya..","replied_comment_id":1}|c-1\nc-3|Siap|false|reply|{"text":"Siap","replied_comment_id":1}|@COMMENT@' <<'SQL'
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id)
VALUES ('Halo doc', '0', 'text', 'c-1', 'ayu.pratama@chat.example', '@ROOM@', '2017-05-11T19:14:24Z', NULL, ''),
       ('Maaf mau tanya..', '1', 'reply', 'c-2', 'dewi.santoso@chat.example', '@ROOM@', '2017-05-11T19:14:24Z',
        '{"text":"Maaf mau tanya..","replied_comment_id":1}', 'c-1'),
       ('Siap', '0', 'reply', 'c-3', 'dewi.santoso@chat.example', '@ROOM@', '2017-05-11T19:15:00Z',
        '{"text":"Siap","replied_comment_id":1}', '@COMMENT@');
SELECT unique_id, message, CASE WHEN disable_link_preview THEN 'true' ELSE 'false' END,
       type, payload, parent_comment_unique_id
  FROM comments WHERE unique_id LIKE 'c-%' ORDER BY unique_id;
SQL

accept "comments: leaving out DisableLinkPreview and ParentCommentUniqueId" \
    'c-new|false||1' <<'SQL'
INSERT INTO comments (message, type, unique_id, creator_email, room_unique_id, created_at)
VALUES ('hi', 'text', 'c-new', 'ayu.pratama@chat.example', '@ROOM@', '2017-05-11T19:14:24Z');
SELECT unique_id, CASE WHEN disable_link_preview THEN 'true' ELSE 'false' END,
       parent_comment_unique_id,
       CASE WHEN updated_at LIKE '2___-__-__T__:__:__Z' THEN 1 ELSE 0 END
  FROM comments WHERE unique_id = 'c-new';
SQL

# The module writes PostgreSQL rows with COPY: through the view's trigger
# and with a reply after its parent in the same COPY.
if has pgsql; then
    T=$(printf '\t')
    {
        echo "BEGIN;"
        echo "COPY rooms_api (unique_id, name, type, options, creator_email, avatar_url, created_at, participant_emails) FROM STDIN;"
        echo "r-copy${T}x${T}single${T}${T}ayu.pratama@chat.example${T}${T}2017-05-11T06:35:27Z${T}[\"ayu.pratama@chat.example\",\"budi.pratama@chat.example\"]"
        echo '\.'
        echo "COPY comments (message, disable_link_preview, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id) FROM STDIN;"
        echo "Halo${T}0${T}text${T}c-copy-1${T}ayu.pratama@chat.example${T}r-copy${T}2017-05-11T19:14:24Z${T}\\N${T}"
        echo "Re${T}1${T}reply${T}c-copy-2${T}budi.pratama@chat.example${T}r-copy${T}2017-05-11T19:14:25Z${T}{\"text\":\"Re\",\"replied_comment_id\":1}${T}c-copy-1"
        echo '\.'
        echo "SELECT name, participant_emails FROM rooms_api WHERE unique_id = 'r-copy';"
        echo "SELECT unique_id, parent_comment_unique_id FROM comments WHERE room_unique_id = 'r-copy' ORDER BY unique_id;"
        echo "ROLLBACK;"
    } | sql pgsql >"$WORK/out"
    printf '%s\n' \
        'ayu.pratama@chat.example budi.pratama@chat.example|["ayu.pratama@chat.example","budi.pratama@chat.example"]' \
        'c-copy-1|' 'c-copy-2|c-copy-1' >"$WORK/want"
    if cmp -s "$WORK/want" "$WORK/out"; then
        pass "pgsql: COPY into rooms_api and comments (parent earlier in the same COPY)"
    else
        diff "$WORK/want" "$WORK/out" >"$WORK/diff"
        fail "pgsql: COPY into rooms_api and comments (- expected, + got)" "$WORK/diff"
    fi
fi

# ---------------------------------------------------------------- seed

accept "seed: 40 users, 30 rooms (18 single) of 78 participants, 300 comments (54 replies)" \
    '40|30|18|78|300|54' <<'SQL'
SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM rooms_api),
       (SELECT count(*) FROM rooms WHERE type = 'single'),
       (SELECT count(*) FROM room_participants), (SELECT count(*) FROM comments),
       (SELECT count(*) FROM comments WHERE type = 'reply');
SQL

accept "seed: ParticipantEmails reads back as a JSON array in position order" \
    '8b1e4f00-2026-4c5a-9d3e-000000000001|dewi.santoso@chat.example ayu.pratama@chat.example|["dewi.santoso@chat.example","ayu.pratama@chat.example"]\n8b1e4f00-2026-4c5a-9d3e-000000000004|Keluarga Besar|["eko.santoso@chat.example","budi.wijaya@chat.example","hendra.wijaya@chat.example","fajar.lestari@chat.example"]' <<'SQL'
SELECT unique_id, name, participant_emails FROM rooms_api
 WHERE unique_id IN ('8b1e4f00-2026-4c5a-9d3e-000000000001', '8b1e4f00-2026-4c5a-9d3e-000000000004')
 ORDER BY unique_id;
SQL

accept "seed: every single room is named after its 2 participants and has its creator" \
    '18' <<'SQL'
SELECT count(*) FROM rooms r
  JOIN room_participants a ON a.room_unique_id = r.unique_id AND a.position = 0
  JOIN room_participants b ON b.room_unique_id = r.unique_id AND b.position = 1
 WHERE r.type = 'single' AND r.name = a.user_email || ' ' || b.user_email
   AND r.creator_email IN (a.user_email, b.user_email)
   AND NOT EXISTS (SELECT 1 FROM room_participants c
                    WHERE c.room_unique_id = r.unique_id AND c.position > 1);
SQL

accept "seed: parents sort before their replies; every reply has one; creators are participants" \
    '0|54|300' <<'SQL'
SELECT (SELECT count(*) FROM comments
         WHERE parent_comment_unique_id <> '' AND parent_comment_unique_id >= unique_id),
       (SELECT count(*) FROM comments c JOIN comments p
            ON p.unique_id = c.parent_comment_unique_id
         WHERE c.type = 'reply'),
       (SELECT count(*) FROM comments c JOIN room_participants rp
            ON rp.room_unique_id = c.room_unique_id AND rp.user_email = c.creator_email);
SQL

accept "seed: windows of days select subsets (users 2026-03-11, rooms 2026-03-16..17, comments 2026-03-21..22)" \
    '8|12|60|0' <<'SQL'
SELECT (SELECT count(*) FROM users
         WHERE created_at >= '2026-03-11T00:00:00Z' AND created_at < '2026-03-12T00:00:00Z'),
       (SELECT count(*) FROM rooms_api
         WHERE created_at >= '2026-03-16T00:00:00Z' AND created_at < '2026-03-18T00:00:00Z'),
       (SELECT count(*) FROM comments
         WHERE created_at >= '2026-03-21T00:00:00Z' AND created_at < '2026-03-23T00:00:00Z'),
       (SELECT count(*) FROM comments WHERE updated_at <> created_at);
SQL

# Every seed password is the e-mail's local part and -2026.
b=${BACKENDS%% *}
echo "SELECT email, password FROM users ORDER BY email;" | sql "$b" >"$WORK/hashes"
n=0
bad=
while IFS='|' read -r email hash; do
    printf 'u:%s\n' "$hash" >"$WORK/htpasswd"
    if htpasswd -vb "$WORK/htpasswd" u "${email%@*}-2026" >/dev/null 2>&1; then
        n=$((n + 1))
    else
        bad="$bad $email"
    fi
done <"$WORK/hashes"
if [ "$n" = 40 ] && [ -z "$bad" ]; then
    pass "$b: seed: the 40 password hashes are bcrypt of <local part>-2026"
else
    echo "${bad:-only $n rows}" >"$WORK/out"
    fail "$b: seed: password hashes that do not verify" "$WORK/out"
fi

# ------------------------------------------- both backends, same rows
# Each section read as an export reads it (its columns, ORDER BY key).

same_rows \
        "users|SELECT email, name, avatar_url, authentication_token, password, created_at, updated_at FROM users ORDER BY email;" \
        "rooms_api|SELECT name, type, options, creator_email, created_at, avatar_url, unique_id, participant_emails, updated_at FROM rooms_api ORDER BY unique_id;" \
        "room_participants|SELECT room_unique_id, user_email, position FROM room_participants ORDER BY room_unique_id, position;" \
        "comments|SELECT message, CASE WHEN disable_link_preview THEN 'true' ELSE 'false' END, type, unique_id, creator_email, room_unique_id, created_at, payload, parent_comment_unique_id, updated_at FROM comments ORDER BY unique_id;"

finish
