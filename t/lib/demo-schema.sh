# demo-schema.sh -- what the demo schema tests (t/chat-schema.sh,
# t/ocl-schema.sh) share: run as an unprivileged user (initdb refuses
# root), load conf/$DEMO-<backend>.sql into SQLite and a throwaway
# PostgreSQL (t/pg.sh), run SQL checks on each, compare the backends'
# rows, and print "N passed, N failed".
#
# The test sets, before sourcing this file:
#   DEMO       the demo's name: conf/$DEMO-sqlite.sql, conf/$DEMO-pgsql.sql,
#              conf/$DEMO-sections.inc; its database is called $DEMO
#   BACKENDS   "sqlite pgsql" or one of them
#   BACKENDS_VAR  the variable that set BACKENDS (CHAT_BACKENDS, ...)
# and defines subst (a filter replacing @NAME@ placeholders in checks).
# Sourced, it re-runs the test as XPORT_TEST_USER when started as root,
# sets up the backends, and defines pass, fail, has, sql, reject, accept,
# same_rows and finish.

TOP=$(cd "$(dirname "$0")/.." && pwd)
TEST_USER=${XPORT_TEST_USER:-xporttest}
SCRIPT=$(basename "$0")

if [ "$(id -u)" = 0 ]; then
    if ! id "$TEST_USER" >/dev/null 2>&1; then
        echo "$DEMO-schema: user $TEST_USER is missing (t/run-tests.sh creates it)" >&2
        exit 1
    fi
    COPY=$(mktemp -d "/tmp/$DEMO-schema.XXXXXX")
    mkdir "$COPY/conf" "$COPY/t" "$COPY/t/lib"
    cp "$TOP/conf/$DEMO-sqlite.sql" "$TOP/conf/$DEMO-pgsql.sql" \
        "$TOP/conf/$DEMO-sections.inc" "$COPY/conf/"
    cp "$TOP/t/pg.sh" "$TOP/t/$SCRIPT" "$COPY/t/"
    cp "$TOP/t/lib/demo-schema.sh" "$COPY/t/lib/"
    chown -R "$TEST_USER" "$COPY"
    runuser -u "$TEST_USER" -- env "$BACKENDS_VAR=$BACKENDS" \
        ${PG_BIN:+PG_BIN="$PG_BIN"} sh "$COPY/t/$SCRIPT"
    rc=$?
    rm -rf "$COPY"
    exit $rc
fi

WORK=$(mktemp -d "/tmp/$DEMO-schema-run.XXXXXX")
PASSED=0
FAILED=0
PG_UP=

cleanup() {
    [ -n "$PG_UP" ] && pg_stop
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() {
    PASSED=$((PASSED + 1))
    echo "ok - $1"
}

fail() {
    FAILED=$((FAILED + 1))
    echo "not ok - $1"
    [ -n "${2:-}" ] && sed 's/^/#   /' "$2"
    return 0
}

# ------------------------------------------------------------ backends

has() {
    case " $BACKENDS " in *" $1 "*) return 0 ;; esac
    return 1
}

# sql BACKEND < script: runs it, output and errors on stdout; the status
# says whether every statement succeeded. NULL prints as NULL.
sql() {
    case $1 in
    sqlite)
        { echo ".nullvalue NULL"; cat; } |
            sqlite3 -bail -batch "$WORK/$DEMO.db" 2>&1
        ;;
    pgsql)
        PGCLIENTENCODING=UTF8 pg_psql "$DEMO" -A -t -F '|' -P null=NULL 2>&1
        ;;
    esac
}

# reject NAME SQLITE_MESSAGE PGSQL_MESSAGE < sql: the SQL (run inside a
# transaction that is never committed) must fail with that message.
reject() {
    subst >"$WORK/check.sql"
    for b in $BACKENDS; do
        case $b in sqlite) want=$2 ;; pgsql) want=$3 ;; esac
        if { echo "BEGIN;"; cat "$WORK/check.sql"; echo "ROLLBACK;"; } |
            sql "$b" >"$WORK/out"; then
            fail "$b: $1: accepted, expected \"$want\"" "$WORK/out"
        elif grep -qF -- "$want" "$WORK/out"; then
            pass "$b: $1"
        else
            echo "expected: $want" >>"$WORK/out"
            fail "$b: $1: another error" "$WORK/out"
        fi
    done
}

# accept NAME EXPECTED < sql: the SQL succeeds (and is rolled back) and
# prints EXPECTED (lines separated by \n) on every backend.
accept() {
    subst >"$WORK/check.sql"
    printf '%b\n' "$2" | subst >"$WORK/want"
    for b in $BACKENDS; do
        if ! { echo "BEGIN;"; cat "$WORK/check.sql"; echo "ROLLBACK;"; } |
            sql "$b" >"$WORK/out"; then
            fail "$b: $1: refused" "$WORK/out"
        elif cmp -s "$WORK/want" "$WORK/out"; then
            pass "$b: $1"
        else
            diff "$WORK/want" "$WORK/out" >"$WORK/diff"
            fail "$b: $1: other output (- expected, + got)" "$WORK/diff"
        fi
    done
}

# -------------------------------------------------------------- set up

for b in $BACKENDS; do
    case $b in
    sqlite)
        if sqlite3 -bail "$WORK/$DEMO.db" <"$TOP/conf/$DEMO-sqlite.sql" >"$WORK/load" 2>&1; then
            pass "sqlite: conf/$DEMO-sqlite.sql loads"
        else
            fail "sqlite: conf/$DEMO-sqlite.sql loads" "$WORK/load"
            exit 1
        fi
        ;;
    pgsql)
        . "$TOP/t/pg.sh"
        if pg_start "$WORK/pg" >"$WORK/load" 2>&1; then
            PG_UP=1
        else
            fail "pgsql: a throwaway PostgreSQL starts" "$WORK/load"
            exit 1
        fi
        if pg_psql postgres -c "CREATE DATABASE $DEMO" >"$WORK/load" 2>&1 &&
            pg_psql "$DEMO" -f "$TOP/conf/$DEMO-pgsql.sql" >"$WORK/load" 2>&1; then
            pass "pgsql: conf/$DEMO-pgsql.sql loads"
        else
            fail "pgsql: conf/$DEMO-pgsql.sql loads" "$WORK/load"
            exit 1
        fi
        ;;
    *)
        echo "$DEMO-schema: unknown backend $b (sqlite, pgsql)" >&2
        exit 1
        ;;
    esac
done

# same_rows "NAME|SQL" ...: with both backends, each query prints the
# same rows (and some) on both.
same_rows() {
    has sqlite && has pgsql || return 0
    for q in "$@"; do
        name=${q%%|*}
        echo "${q#*|}" | sql sqlite >"$WORK/a"
        echo "${q#*|}" | sql pgsql >"$WORK/b"
        rows=$(wc -l <"$WORK/a")
        if [ "$rows" -gt 0 ] && cmp -s "$WORK/a" "$WORK/b"; then
            pass "sqlite = pgsql: $name, $rows rows"
        else
            diff "$WORK/a" "$WORK/b" | head -n 20 >"$WORK/diff"
            fail "sqlite = pgsql: $name differs (< sqlite, > pgsql)" "$WORK/diff"
        fi
    done
}

finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
}
