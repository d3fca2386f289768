-- gate-pgsql.sql -- test-only data for the `gated` section (virtual host
-- xport_gate, t/22_faults.t): 3000 rows whose read stops at row 1501
-- while the test holds PostgreSQL advisory lock 4242, and goes on once it
-- lets go. An export of it is provably still running when the test sends
-- httpd a signal: it has read its first 1000 rows (progress shows them)
-- and waits in pg_locks, whatever the speed of the machine.
--
-- Advisory locks live outside the read's snapshot, so the export's
-- REPEATABLE READ transaction sees the test let go. gate_wait is marked
-- STABLE although it takes a lock: count(*) over the view then leaves it
-- out (the count never waits), while every row read still calls it.

DROP VIEW IF EXISTS gated_events;
DROP TABLE IF EXISTS gate_rows;
DROP FUNCTION IF EXISTS gate_wait(integer);

CREATE TABLE gate_rows (
    id      text PRIMARY KEY,
    n       integer NOT NULL,
    payload text NOT NULL
);

INSERT INTO gate_rows (id, n, payload)
SELECT 'r' || lpad(i::text, 5, '0'), i, 'gated payload ' || i
FROM generate_series(1, 3000) AS i;

CREATE FUNCTION gate_wait(n integer) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF n > 1500 THEN
        PERFORM pg_advisory_xact_lock_shared(4242);
    END IF;
    RETURN n;
END $$;

CREATE VIEW gated_events AS
SELECT id, gate_wait(n) AS n, payload FROM gate_rows;

-- The sink section (t/24_retry.t): an import into gate_sink writes rows
-- 1 to 1500, then waits on the same gate, so the import is provably
-- mid-write (inside its transaction) when the test ends its session.
DROP TABLE IF EXISTS gate_sink;
DROP FUNCTION IF EXISTS gate_sink_wait();

CREATE TABLE gate_sink (
    id      text PRIMARY KEY,
    n       integer NOT NULL,
    payload text NOT NULL
);

CREATE FUNCTION gate_sink_wait() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.n > 1500 THEN
        PERFORM pg_advisory_xact_lock_shared(4242);
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER gate_sink_wait BEFORE INSERT ON gate_sink
    FOR EACH ROW EXECUTE FUNCTION gate_sink_wait();
