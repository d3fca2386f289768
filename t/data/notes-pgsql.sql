-- notes-pgsql.sql -- the table of the test-only mode=append section
-- `notes` in the PostgreSQL import target; see notes-sqlite.sql.
CREATE TABLE notes (
    id         SERIAL PRIMARY KEY,
    author_id  TEXT REFERENCES users(id),
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- The tables, view and triggers of the test-only sections `accounts`,
-- `posts` and `rooms`; see notes-sqlite.sql.
CREATE TABLE api_accounts (
    id       INTEGER PRIMARY KEY,
    email    TEXT NOT NULL UNIQUE,
    name     TEXT,
    password TEXT
);
CREATE TABLE api_posts (
    uid    TEXT PRIMARY KEY,
    author TEXT,
    parent TEXT,
    body   TEXT
);
CREATE TABLE api_room_rows (
    id        SERIAL PRIMARY KEY,
    unique_id TEXT NOT NULL UNIQUE,
    kind      TEXT NOT NULL,
    name      TEXT,
    creator   TEXT
);
CREATE VIEW api_rooms AS
SELECT unique_id, kind, name, creator FROM api_room_rows;
CREATE FUNCTION api_rooms_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind NOT IN ('single', 'group') THEN
        RAISE EXCEPTION 'a room is single or group';
    END IF;
    INSERT INTO api_room_rows (unique_id, kind, name, creator)
    VALUES (NEW.unique_id, NEW.kind, NEW.name, NEW.creator);
    RETURN NEW;
END
$$;
CREATE FUNCTION api_rooms_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind NOT IN ('single', 'group') THEN
        RAISE EXCEPTION 'a room is single or group';
    END IF;
    UPDATE api_room_rows SET kind = NEW.kind, name = NEW.name,
           creator = NEW.creator
    WHERE unique_id = OLD.unique_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER api_rooms_ins INSTEAD OF INSERT ON api_rooms
    FOR EACH ROW EXECUTE FUNCTION api_rooms_ins();
CREATE TRIGGER api_rooms_upd INSTEAD OF UPDATE ON api_rooms
    FOR EACH ROW EXECUTE FUNCTION api_rooms_upd();

-- The table of the test-only section `docs`; see notes-sqlite.sql.
CREATE TABLE api_docs (
    tenant TEXT NOT NULL,
    id     TEXT NOT NULL,
    title  TEXT,
    parent TEXT,
    data   BYTEA,
    PRIMARY KEY (tenant, id)
);
