# pg.sh -- a throwaway PostgreSQL server for the test suite, sourced by
# t/run-tests.sh (POSIX sh). It runs as the calling (unprivileged) user,
# lives entirely in a temp directory, listens on a unix socket in that
# directory and on 127.0.0.1 at a free port, and is stopped by pg_stop
# (run-tests.sh calls it from its exit trap, so also on failure/Ctrl-C).
#
#   pg_start DIR     sets PG_HOST, PG_PORT, PG_SOCKDIR, PG_USER
#   pg_psql DB ARGS  psql against the server, stopping on the first error
#   pg_stop          fast shutdown; harmless if nothing was started

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DIR=

pg_free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1",
                                     LocalPort => 0, ReuseAddr => 1)->sockport'
}

pg_start() {
    PG_DIR=$1
    PG_USER=$(id -un)
    PG_HOST=127.0.0.1
    PG_SOCKDIR=$PG_DIR
    PG_PORT=$(pg_free_port)
    if [ ! -x "$PG_BIN/initdb" ]; then
        echo "pg.sh: $PG_BIN/initdb not found; install postgresql-15" >&2
        return 1
    fi
    mkdir -p "$PG_DIR"
    "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_USER" -A trust -E UTF8 \
        --locale=C --no-sync >"$PG_DIR/initdb.log" 2>&1 || {
        echo "pg.sh: initdb failed, see below" >&2
        cat "$PG_DIR/initdb.log" >&2
        return 1
    }
    "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-k $PG_SOCKDIR -p $PG_PORT -c listen_addresses=$PG_HOST -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null || {
        echo "pg.sh: PostgreSQL did not start, server log:" >&2
        cat "$PG_DIR/server.log" >&2
        return 1
    }
    export PG_HOST PG_PORT PG_SOCKDIR PG_USER
}

pg_psql() {
    _db=$1
    shift
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKDIR" -p "$PG_PORT" \
        -U "$PG_USER" -d "$_db" "$@"
}

pg_stop() {
    if [ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
        "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}
