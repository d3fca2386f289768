#!/bin/sh
# run-tests.sh -- what `make test` runs after building: the C unit tests
# (TAP binaries under build/unit/), then the Apache::Test server suite
# twice, once against SQLite and once against a PostgreSQL server this
# script starts itself (t/pg.sh).
#
# The server suite never runs as root: started as root, the script creates
# the system user `xporttest` if needed, copies what the suite needs (the
# built module, t/, conf/demo.sql) into a temp directory that user owns
# (the clone may live under /root, which it cannot read) and re-runs
# itself there as that user with --server. Nothing is left running: the
# exit trap stops httpd and PostgreSQL, also on failure and Ctrl-C.
#
# Environment:
#   XPORT_BACKENDS   "sqlite pgsql" (default) or one of them
#   XPORT_TEST_USER  unprivileged user for the server suite (xporttest)
#   XPORT_KEEP=1     keep the temp directory (server and PostgreSQL logs)
#   TEST_FILES       run only these t/*.t files, e.g. "t/01_api.t"
set -eu

TEST_USER=${XPORT_TEST_USER:-xporttest}
BACKENDS=${XPORT_BACKENDS:-sqlite pgsql}
HTTPD=${HTTPD:-/usr/sbin/apache2}
APXS=${APXS:-$(command -v apxs || echo /usr/bin/apxs)}
TEST_USERS="alice bob carol dave erin frank gina"

say() { printf '%s\n' "run-tests: $*" >&2; }

# ------------------------------------------------------------------ server
# Runs as the unprivileged user inside the temp copy: $1 = work directory.
server_suite() {
    WORK=$1
    SRC=$WORK/src
    cd "$SRC"
    . "$SRC/t/pg.sh"
    trap 'server_cleanup' EXIT
    trap 'exit 130' INT TERM

    : >t/conf/htpasswd
    for u in $TEST_USERS; do
        htpasswd -b -m t/conf/htpasswd "$u" "$u" 2>/dev/null
    done
    perl -MApache::TestMM -e 'Apache::TestMM::generate_script("t/TEST")' >/dev/null

    rc=0
    for backend in $BACKENDS; do
        setup_"$backend" || { say "$backend: setup failed"; rc=1; continue; }
        say "server suite against $backend (storage $XPORT_STORAGE)"
        # shellcheck disable=SC2086
        if ! perl t/TEST -apxs "$APXS" -httpd "$HTTPD" -port select ${TEST_FILES:-}; then
            say "$backend: FAILED (logs: $WORK/logs-$backend)"
            rc=1
        fi
        rm -rf "$WORK/logs-$backend"
        cp -r t/logs "$WORK/logs-$backend" 2>/dev/null || true
        perl t/TEST -clean >/dev/null 2>&1 || true
    done
    return $rc
}

httpd_stop() {
    pidfile=$SRC/t/logs/httpd.pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile" 2>/dev/null || true)
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    kill -KILL "$pid" 2>/dev/null || true
}

server_cleanup() {
    httpd_stop
    pg_stop
}

new_storage() {
    XPORT_STORAGE=$WORK/storage-$1
    rm -rf "$XPORT_STORAGE"
    mkdir -p "$XPORT_STORAGE"
    export XPORT_STORAGE
}

setup_sqlite() {
    new_storage sqlite
    XPORT_SQLITE_DB=$WORK/app-sqlite.db
    rm -f "$XPORT_SQLITE_DB"
    sqlite3 -bail "$XPORT_SQLITE_DB" <"$SRC/conf/demo.sql" || return 1
    sqlite3 -bail "$XPORT_SQLITE_DB" <"$SRC/t/data/slow.sql" || return 1
    XPORT_BACKEND=sqlite
    XPORT_SOURCE_DRIVER=sqlite3
    XPORT_SOURCE_PARAMS=$XPORT_SQLITE_DB
    XPORT_STORE_DRIVER=sqlite3
    XPORT_STORE_PARAMS=$XPORT_STORAGE/jobs.db
    export XPORT_BACKEND XPORT_SQLITE_DB XPORT_SOURCE_DRIVER XPORT_SOURCE_PARAMS \
        XPORT_STORE_DRIVER XPORT_STORE_PARAMS
}

setup_pgsql() {
    new_storage pgsql
    pg_start "$WORK/pg" || return 1
    "$PG_BIN/createdb" -h "$PG_SOCKDIR" -p "$PG_PORT" -U "$PG_USER" xportdemo || return 1
    "$PG_BIN/createdb" -h "$PG_SOCKDIR" -p "$PG_PORT" -U "$PG_USER" xportjobs || return 1
    PGOPTIONS='-c client_min_messages=warning' pg_psql xportdemo -f "$SRC/conf/demo.sql" || return 1
    PGOPTIONS='-c client_min_messages=warning' pg_psql xportdemo -f "$SRC/t/data/slow.sql" || return 1
    XPORT_BACKEND=pgsql
    XPORT_PG_DB=xportdemo
    XPORT_SOURCE_DRIVER=pgsql
    XPORT_SOURCE_PARAMS="host=$PG_HOST port=$PG_PORT dbname=xportdemo user=$PG_USER"
    XPORT_STORE_DRIVER=pgsql
    XPORT_STORE_PARAMS="host=$PG_HOST port=$PG_PORT dbname=xportjobs user=$PG_USER"
    export XPORT_BACKEND XPORT_PG_DB XPORT_SOURCE_DRIVER XPORT_SOURCE_PARAMS \
        XPORT_STORE_DRIVER XPORT_STORE_PARAMS
}

# ------------------------------------------------------------------ outer
unit_tests() {
    set -- build/unit/test_*
    if [ ! -x "$1" ]; then
        say "no unit test binaries under build/unit (run make unit)"
        return 1
    fi
    prove -e '' "$@"
}

ensure_user() {
    id "$TEST_USER" >/dev/null 2>&1 && return 0
    say "creating system user $TEST_USER"
    useradd --system --create-home --shell /usr/sbin/nologin "$TEST_USER"
}

# Copy the module, the suite and the demo schema into $1/src.
stage() {
    mkdir -p "$1/src/build" "$1/src/conf"
    cp build/mod_xport.so "$1/src/build/"
    cp conf/demo.sql "$1/src/conf/"
    tar -cf - --exclude=t/logs --exclude=t/TEST --exclude=t/conf/httpd.conf \
        --exclude=t/conf/extra.conf --exclude=t/conf/apache_test_config.pm \
        --exclude=t/htdocs --exclude=t/unit t | tar -xf - -C "$1/src"
}

main() {
    TOP=$(cd "$(dirname "$0")/.." && pwd)
    cd "$TOP"
    rc=0
    unit_tests || rc=1

    if [ ! -f build/mod_xport.so ]; then
        say "build/mod_xport.so is missing (run make)"
        exit 1
    fi
    WORK=$(mktemp -d /tmp/xport-test.XXXXXX)
    trap 'outer_cleanup' EXIT
    trap 'exit 130' INT TERM
    stage "$WORK"
    if [ "$(id -u)" = 0 ]; then
        ensure_user
        chown -R "$TEST_USER:" "$WORK"
        chmod 0700 "$WORK"
        runuser -u "$TEST_USER" -- env XPORT_BACKENDS="$BACKENDS" \
            TEST_FILES="${TEST_FILES:-}" HTTPD="$HTTPD" APXS="$APXS" \
            sh "$WORK/src/t/run-tests.sh" --server "$WORK" || rc=1
    else
        sh "$WORK/src/t/run-tests.sh" --server "$WORK" || rc=1
    fi
    if [ $rc -ne 0 ]; then
        rm -rf t/logs/last-run
        mkdir -p t/logs/last-run
        cp -r "$WORK"/logs-* "$WORK"/pg/server.log t/logs/last-run/ 2>/dev/null || true
        say "FAILED; server logs copied to $TOP/t/logs/last-run/"
    else
        say "all tests passed"
    fi
    exit $rc
}

outer_cleanup() {
    if [ "${XPORT_KEEP:-}" = 1 ]; then
        say "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}

if [ "${1:-}" = --server ]; then
    server_suite "$2"
else
    main
fi
