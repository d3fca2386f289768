#!/bin/sh
# run-tests.sh -- what `make test` runs after building: the C unit tests
# (TAP binaries under build/unit/), the fuzz regression inputs, the
# OpenAPI documents (t/openapi-check.sh), then the Apache::Test server
# suite twice, once against SQLite and once against a PostgreSQL server
# this script starts itself (t/pg.sh). Every response the server suite
# gets from an API is checked against its OpenAPI document
# (t/lib/XportTest.pm, openapi_check).
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
#   XPORT_MPMS       MPMs to run under (default "event worker prefork"): the
#                    first runs the whole suite on every backend, the others
#                    run MPM_FILES (process-model sensitive tests) on SQLite
#   XPORT_SMALL_STORAGE  (set here) storage of the xport_small host: a
#                    16 MiB tmpfs mounted by the outer part when run as
#                    root (XPORT_SMALL_TMPFS=1), else XPORT_SMALL_SKIP
#                    says why t/23_disk_full.t skips
#   SANITIZE=1       the module was built with AddressSanitizer (make
#                    SANITIZE=1): httpd runs with libasan preloaded and any
#                    sanitizer report fails the run
set -eu

TEST_USER=${XPORT_TEST_USER:-xporttest}
BACKENDS=${XPORT_BACKENDS:-sqlite pgsql}
HTTPD=${HTTPD:-/usr/sbin/apache2}
APXS=${APXS:-$(command -v apxs || echo /usr/bin/apxs)}
TEST_USERS="alice bob carol dave erin frank gina"
MPMS=${XPORT_MPMS:-event worker prefork}
MPM_FILES=${XPORT_MPM_FILES:-t/00_server.t t/01_api.t t/05_running.t t/08_restart.t t/12_import_upload.t t/31_qiscus.t t/41_events.t}
SANITIZE=${SANITIZE:-}
BUILD=${BUILD:-build}

say() { printf '%s\n' "run-tests: $*" >&2; }

# step NAME CMD...: runs CMD in this shell (what it sets stays set: the
# PostgreSQL server it starts, say), its output shown when it ends; a
# failure is recorded.
step() {
    _name=$1
    shift
    _sout=$(mktemp "$WORK/step.XXXXXX")
    _src=0
    "$@" >"$_sout" 2>&1 || _src=$?
    cat "$_sout" >&2
    [ "$_src" = 0 ] || failed "$_name (exit $_src)" "$_sout"
    rm -f "$_sout"
    return "$_src"
}

# A failed step is recorded in $FAILURES with the lines that say why
# (from its output file $2, if any); main prints them all last, so the
# end of a long log names what failed.
failed() {
    {
        echo "- $1"
        if [ -n "${2:-}" ] && [ -f "$2" ]; then
            grep -E '^((t/[^ ]+\.t|build/unit/[^ ]+) |Dubious|not ok|#[[:space:]]+(Failed test|at |got|expected|  )|[[:space:]]+Failed tests?:|Parse errors|Bail out|Result:|==[0-9]+==ERROR)' "$2" |
                grep -v -E '\.\.\. ?ok$|\.\. ok$|Result: PASS' | head -n 60 | sed 's/^/    /'
        fi
    } >>"$FAILURES"
}

# ------------------------------------------------------------------ server
# Runs as the unprivileged user inside the temp copy: $1 = work directory.
server_suite() {
    WORK=$1
    FAILURES=$WORK/failures
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
    # the xport_small host's storage (a tmpfs when the outer part could
    # mount one, else a plain directory and t/23 skips)
    XPORT_SMALL_STORAGE=$WORK/small-storage
    mkdir -p "$XPORT_SMALL_STORAGE"
    export XPORT_SMALL_STORAGE XPORT_SMALL_TMPFS XPORT_SMALL_SKIP

    sanitizer_setup
    # each file's wall time in the log: what a slow CI machine stretches
    HARNESS_TIMER=1
    export HARNESS_TIMER
    rc=0
    step "unit tests against pgsql" unit_tests_pgsql || rc=1
    if [ -z "${TEST_FILES:-}" ]; then
        # the chat demo's rules, in plain SQL on both backends
        step "chat demo schema (t/chat-schema.sh)" \
            env CHAT_BACKENDS="$BACKENDS" sh "$SRC/t/chat-schema.sh" || rc=1
        step "terminology demo schema (t/ocl-schema.sh)" \
            env OCL_BACKENDS="$BACKENDS" sh "$SRC/t/ocl-schema.sh" || rc=1
    fi
    first_mpm=${MPMS%% *}
    for mpm in $MPMS; do
        if [ "$mpm" = "$first_mpm" ]; then
            backends=$BACKENDS
            files=${TEST_FILES:-}
        else
            # the other process models: what depends on them, on SQLite
            backends=sqlite
            files=${TEST_FILES:-$MPM_FILES}
        fi
        inherit_conf "$mpm"
        for backend in $backends; do
            run_suite "$backend" "$mpm" "$files" || rc=1
        done
    done
    step "sanitizer reports" sanitizer_report || rc=1
    return $rc
}

# The engine's unit tests that talk to a database run once more against
# the throwaway PostgreSQL server (the first run, as root, had SQLite only).
unit_tests_pgsql() {
    case " $BACKENDS " in *" pgsql "*) ;; *) return 0 ;; esac
    pg_ensure || return 1
    pg_fresh_db xportunit || return 1
    say "unit tests against pgsql"
    XPORT_TEST_PG="host=$PG_SOCKDIR port=$PG_PORT dbname=xportunit user=$PG_USER" \
        prove -e '' build/unit/test_store build/unit/test_export build/unit/test_import \
            build/unit/test_rows build/unit/test_tenant
}

# One pass of the Apache::Test suite: $1 backend, $2 MPM, $3 files.
run_suite() {
    if ! setup_"$1"; then
        say "$1: setup failed"
        failed "setting up the $1 backend (see above)"
        return 1
    fi
    say "server suite against $1 under the $2 MPM (storage $XPORT_STORAGE)"
    XPORT_MPM=$2
    export XPORT_MPM
    _rc=0
    _out=$WORK/suite-$1-$2.out
    # shellcheck disable=SC2086
    { perl t/TEST -apxs "$APXS" -httpd "$HTTPD" \
        -httpd_conf "$WORK/inherit-$2.conf" -port select $3
        echo $? >"$_out.rc"; } 2>&1 | tee "$_out"
    if [ "$(cat "$_out.rc")" != 0 ]; then
        say "$1 / $2: FAILED (logs: $WORK/logs-$1-$2)"
        failed "server suite, $1 backend, $2 MPM" "$_out"
        _rc=1
    fi
    # the next pass reuses the port: this server must be gone, whatever
    # the tests did to it (restarts, killed processes)
    httpd_stop
    rm -rf "$WORK/logs-$1-$2"
    cp -r t/logs "$WORK/logs-$1-$2" 2>/dev/null || true
    perl t/TEST -clean >/dev/null 2>&1 || true
    return $_rc
}

# The configuration Apache::Test inherits (its LoadModule lines): the MPM
# under test and the few modules the suite uses, instead of whatever the
# system's /etc/apache2 happens to enable (status: server-status, whose
# <Location> Apache::Test's generated httpd.conf has; t/40).
inherit_conf() {
    _mods=/usr/lib/apache2/modules
    {
        echo "ServerRoot /etc/apache2"
        echo "LoadModule mpm_$1_module $_mods/mod_mpm_$1.so"
        for m in authz_core authn_core authn_file authz_user authz_host \
            auth_basic mime alias dir env status; do
            echo "LoadModule ${m}_module $_mods/mod_$m.so"
        done
    } >"$WORK/inherit-$1.conf"
}

# SANITIZE=1: httpd is not built with ASan, so it gets the runtime
# preloaded through a wrapper; reports go to files checked at the end.
# LeakSanitizer runs in every httpd process that exits normally (the
# parent, each child at clean_child_exit, the worker before its _exit);
# t/conf/lsan.supp names the leaks of httpd and the libraries, never one
# that has a frame in mod_xport (see that file). Allocation stacks use the
# default (frame-pointer) unwinder: the exact one (fast_unwind_on_malloc=0,
# useful to read a report) makes every malloc about 5 times slower and the
# timing-sensitive tests miss their deadlines. The quarantine of freed
# memory is 16 MB instead of 256: the suite bounds the worker's peak
# memory (t/20), and an import frees whole batch pools, which ASan would
# otherwise hold on to (recent frees are still checked).
sanitizer_setup() {
    [ "$SANITIZE" = 1 ] || return 0
    _asan=$(gcc -print-file-name=libasan.so)
    _ubsan=$(gcc -print-file-name=libubsan.so)
    mkdir -p "$WORK/asan"
    cat >"$WORK/httpd-asan" <<EOF2
#!/bin/sh
LD_PRELOAD="$_asan $_ubsan" \
ASAN_OPTIONS="detect_leaks=1:log_path=$WORK/asan/asan:abort_on_error=0:quarantine_size_mb=16" \
LSAN_OPTIONS="suppressions=$SRC/t/conf/lsan.supp:print_suppressions=0" \
UBSAN_OPTIONS="print_stacktrace=1:log_path=$WORK/asan/ubsan" \
exec $HTTPD "\$@"
EOF2
    chmod 0755 "$WORK/httpd-asan"
    HTTPD=$WORK/httpd-asan
    say "sanitizer mode: httpd runs with $_asan preloaded, leak check on"
}

# Any report fails the run: ASan/UBSan errors and unsuppressed leaks.
sanitizer_report() {
    [ "$SANITIZE" = 1 ] || return 0
    set -- "$WORK"/asan/*
    [ -e "$1" ] || { say "sanitizers: no report"; return 0; }
    say "sanitizers reported errors:"
    cat "$@" >&2
    return 1
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
    setup_import_targets sqlite || return 1
    setup_chat sqlite || return 1
    setup_demo ocl sqlite || return 1
    setup_demo spark sqlite || return 1
    setup_gate || return 1
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
    pg_ensure || return 1
    pg_fresh_db xportdemo || return 1
    pg_fresh_db xportjobs || return 1
    PGOPTIONS='-c client_min_messages=warning' pg_psql xportdemo -f "$SRC/conf/demo.sql" || return 1
    PGOPTIONS='-c client_min_messages=warning' pg_psql xportdemo -f "$SRC/t/data/slow.sql" || return 1
    setup_import_targets pgsql || return 1
    setup_chat pgsql || return 1
    setup_demo ocl pgsql || return 1
    setup_demo spark pgsql || return 1
    setup_gate || return 1
    XPORT_BACKEND=pgsql
    XPORT_PG_DB=xportdemo
    XPORT_SOURCE_DRIVER=pgsql
    XPORT_SOURCE_PARAMS="host=$PG_HOST port=$PG_PORT dbname=xportdemo user=$PG_USER"
    XPORT_STORE_DRIVER=pgsql
    XPORT_STORE_PARAMS="host=$PG_HOST port=$PG_PORT dbname=xportjobs user=$PG_USER"
    export XPORT_BACKEND XPORT_PG_DB XPORT_SOURCE_DRIVER XPORT_SOURCE_PARAMS \
        XPORT_STORE_DRIVER XPORT_STORE_PARAMS
}

# PostgreSQL is started once, by the first phase that needs it, and kept
# for the later ones (the import tests migrate across backends in every
# phase); its databases are dropped and created again per phase.
pg_ensure() {
    [ -n "$PG_DIR" ] || pg_start "$WORK/pg"
}

pg_fresh_db() {
    PGOPTIONS='-c client_min_messages=warning' \
        "$PG_BIN/dropdb" -h "$PG_SOCKDIR" -p "$PG_PORT" -U "$PG_USER" --if-exists "$1" &&
        "$PG_BIN/createdb" -h "$PG_SOCKDIR" -p "$PG_PORT" -U "$PG_USER" "$1"
}

# Import targets (t/1x_import_*.t): an empty copy of the demo schema in
# SQLite and one in PostgreSQL, both present in every phase so that each
# phase imports across backends. The schema is conf/demo.sql up to its
# first INSERT, so it cannot drift from the demo; t/data/notes-*.sql adds
# the table of the mode=append section (keys generated by the database
# need dialect-specific DDL). $1 = this phase's backend, whose target the
# xport_import_append/_limits hosts use (XPORT_IMPORT_DRIVER/_PARAMS).
setup_import_targets() {
    pg_ensure || return 1
    sed '/^INSERT INTO/,$d' "$SRC/conf/demo.sql" >"$WORK/schema.sql" || return 1
    XPORT_IMPORT_SQLITE_DB=$WORK/import-sqlite.db
    rm -f "$XPORT_IMPORT_SQLITE_DB"
    sqlite3 -bail "$XPORT_IMPORT_SQLITE_DB" <"$WORK/schema.sql" || return 1
    sqlite3 -bail "$XPORT_IMPORT_SQLITE_DB" <"$SRC/t/data/notes-sqlite.sql" || return 1
    XPORT_IMPORT_PG_DB=xportimport
    pg_fresh_db "$XPORT_IMPORT_PG_DB" || return 1
    PGOPTIONS='-c client_min_messages=warning' \
        pg_psql "$XPORT_IMPORT_PG_DB" -f "$WORK/schema.sql" || return 1
    pg_psql "$XPORT_IMPORT_PG_DB" -f "$SRC/t/data/notes-pgsql.sql" || return 1
    XPORT_IMPORT_PG_PARAMS="host=$PG_HOST port=$PG_PORT dbname=$XPORT_IMPORT_PG_DB user=$PG_USER"
    if [ "$1" = sqlite ]; then
        XPORT_IMPORT_DRIVER=sqlite3
        XPORT_IMPORT_PARAMS=$XPORT_IMPORT_SQLITE_DB
    else
        XPORT_IMPORT_DRIVER=pgsql
        XPORT_IMPORT_PARAMS=$XPORT_IMPORT_PG_PARAMS
    fi
    export XPORT_IMPORT_SQLITE_DB XPORT_IMPORT_PG_DB XPORT_IMPORT_PG_PARAMS \
        XPORT_IMPORT_DRIVER XPORT_IMPORT_PARAMS
}

# The chat service demo (t/31_qiscus*.t): its database with the demo rows
# and an empty one of the same schema (conf/chat-<backend>.sql up to its
# first INSERT) to import into. $1 = this phase's backend.
setup_chat() {
    _schema=$WORK/chat-schema-$1.sql
    sed '/^INSERT INTO/,$d' "$SRC/conf/chat-$1.sql" >"$_schema" || return 1
    if [ "$1" = sqlite ]; then
        rm -f "$WORK/chat.db" "$WORK/chat-empty.db"
        sqlite3 -bail "$WORK/chat.db" <"$SRC/conf/chat-sqlite.sql" || return 1
        sqlite3 -bail "$WORK/chat-empty.db" <"$_schema" || return 1
        XPORT_CHAT_DRIVER=sqlite3
        XPORT_CHAT_PARAMS=$WORK/chat.db
        XPORT_CHAT_EMPTY_PARAMS=$WORK/chat-empty.db
    else
        pg_fresh_db xportchat && pg_fresh_db xportchatempty || return 1
        PGOPTIONS='-c client_min_messages=warning' \
            pg_psql xportchat -f "$SRC/conf/chat-pgsql.sql" || return 1
        PGOPTIONS='-c client_min_messages=warning' \
            pg_psql xportchatempty -f "$_schema" || return 1
        XPORT_CHAT_DRIVER=pgsql
        XPORT_CHAT_PARAMS="host=$PG_HOST port=$PG_PORT dbname=xportchat user=$PG_USER"
        XPORT_CHAT_EMPTY_PARAMS="host=$PG_HOST port=$PG_PORT dbname=xportchatempty user=$PG_USER"
    fi
    export XPORT_CHAT_DRIVER XPORT_CHAT_PARAMS XPORT_CHAT_EMPTY_PARAMS
}

# A demo of one database (conf/$1-<backend>.sql) for backend $2:
# XPORT_<DEMO>_DRIVER and XPORT_<DEMO>_PARAMS name it for the test
# httpd. The terminology server (t/33_ocl.t) and the rules platform
# (t/34_spark.t).
setup_demo() {
    up=$(echo "$1" | tr '[:lower:]' '[:upper:]')
    if [ "$2" = sqlite ]; then
        rm -f "$WORK/$1.db"
        sqlite3 -bail "$WORK/$1.db" <"$SRC/conf/$1-sqlite.sql" || return 1
        driver=sqlite3
        params=$WORK/$1.db
    else
        pg_fresh_db "xport$1" || return 1
        PGOPTIONS='-c client_min_messages=warning' \
            pg_psql "xport$1" -f "$SRC/conf/$1-pgsql.sql" || return 1
        driver=pgsql
        params="host=$PG_HOST port=$PG_PORT dbname=xport$1 user=$PG_USER"
    fi
    eval "XPORT_${up}_DRIVER=\$driver XPORT_${up}_PARAMS=\$params"
    export "XPORT_${up}_DRIVER" "XPORT_${up}_PARAMS"
}

# The gated section (t/data/gate-pgsql.sql, host xport_gate): exports
# that wait while a test holds a lock, on PostgreSQL in every phase (only
# there can a read wait on something outside its snapshot); the job store
# stays this phase's.
setup_gate() {
    pg_ensure || return 1
    XPORT_GATE_PG_DB=xportgate
    pg_fresh_db "$XPORT_GATE_PG_DB" || return 1
    PGOPTIONS='-c client_min_messages=warning' \
        pg_psql "$XPORT_GATE_PG_DB" -f "$SRC/t/data/gate-pgsql.sql" || return 1
    XPORT_GATE_PG_PARAMS="host=$PG_HOST port=$PG_PORT dbname=$XPORT_GATE_PG_DB user=$PG_USER"
    export XPORT_GATE_PG_DB XPORT_GATE_PG_PARAMS
}

# ------------------------------------------------------------------ outer
unit_tests() {
    set -- "$BUILD"/unit/test_*
    if [ ! -x "$1" ]; then
        say "no unit test binaries under $BUILD/unit (run make unit)"
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
    cp "$BUILD/mod_xport.so" "$1/src/build/"
    mkdir -p "$1/src/build/unit"
    cp "$BUILD"/unit/test_store "$BUILD"/unit/test_export \
        "$BUILD"/unit/test_import "$BUILD"/unit/test_rows \
        "$BUILD"/unit/test_tenant "$1/src/build/unit/"
    # the browser tests' driver (t/browser/install.sh), when installed
    if [ -d build/npm-browser/node_modules ]; then
        cp -r build/npm-browser "$1/src/build/"
    fi
    cp conf/demo.sql conf/chat-sqlite.sql conf/chat-pgsql.sql \
        conf/chat-sections.inc conf/chat-tokens conf/ocl-sqlite.sql \
        conf/ocl-pgsql.sql conf/ocl-sections.inc conf/ocl-tokens \
        conf/spark-sqlite.sql conf/spark-pgsql.sql conf/spark-sections.inc \
        conf/spark-tokens "$1/src/conf/"
    # the APIs' OpenAPI documents and the validator every response of
    # the suite is checked with (t/lib/openapi-responses.js)
    mkdir -p "$1/src/src/api/openapi" "$1/src/build/npm"
    cp src/api/openapi/*.json "$1/src/src/api/openapi/"
    cp -r build/npm/node_modules "$1/src/build/npm/" 2>/dev/null ||
        say "no build/npm/node_modules (t/openapi-check.sh installs it): the server suite's response checks will fail"
    tar -cf - --exclude=t/logs --exclude=t/TEST --exclude=t/conf/httpd.conf \
        --exclude=t/conf/extra.conf --exclude=t/conf/apache_test_config.pm \
        --exclude=t/htdocs --exclude=t/unit t | tar -xf - -C "$1/src"
}

main() {
    TOP=$(cd "$(dirname "$0")/.." && pwd)
    cd "$TOP"
    if [ ! -f "$BUILD/mod_xport.so" ]; then
        say "$BUILD/mod_xport.so is missing (run make)"
        exit 1
    fi
    WORK=$(mktemp -d /tmp/xport-test.XXXXXX)
    FAILURES=$WORK/failures
    : >"$FAILURES"
    trap 'outer_cleanup' EXIT
    trap 'exit 130' INT TERM
    rc=0
    step "unit tests" unit_tests || rc=1
    # fuzz: replay fuzz/regress/ + corpus (fuzz/README.md)
    step "fuzz regression inputs" sh fuzz/run.sh regress || rc=1
    # the OpenAPI documents against the 3.1 schema and the lint rules;
    # installs the validators (and Ajv, for the server suite) from npm
    step "OpenAPI documents (t/openapi-check.sh)" sh t/openapi-check.sh || rc=1
    # playwright-core from npm for the dashboard's browser test
    case " ${TEST_FILES:-t/42_manager.t} " in
        *42_manager*)
            step "browser test driver (t/browser/install.sh)" \
                sh t/browser/install.sh "$TOP/build/npm-browser" || rc=1
            ;;
    esac
    stage "$WORK"
    if [ "$(id -u)" = 0 ]; then
        ensure_user
        chown -R "$TEST_USER:" "$WORK"
        chmod 0700 "$WORK"
        small_storage_mount
        { runuser -u "$TEST_USER" -- env XPORT_BACKENDS="$BACKENDS" \
            TEST_FILES="${TEST_FILES:-}" HTTPD="$HTTPD" APXS="$APXS" \
            XPORT_MPMS="$MPMS" XPORT_MPM_FILES="$MPM_FILES" SANITIZE="$SANITIZE" \
            XPORT_SMALL_TMPFS="$XPORT_SMALL_TMPFS" XPORT_SMALL_SKIP="$XPORT_SMALL_SKIP" \
            sh "$WORK/src/t/run-tests.sh" --server "$WORK"
            echo $? >"$WORK/server.rc"; } 2>&1 | tee "$WORK/server.out"
    else
        XPORT_SMALL_SKIP="not run as root: cannot mount a small tmpfs"
        export XPORT_SMALL_SKIP
        { sh "$WORK/src/t/run-tests.sh" --server "$WORK"
            echo $? >"$WORK/server.rc"; } 2>&1 | tee "$WORK/server.out"
    fi
    [ "$(cat "$WORK/server.rc" 2>/dev/null)" = 0 ] || rc=1
    if [ $rc -ne 0 ]; then
        rm -rf t/logs/last-run
        mkdir -p t/logs/last-run
        cp -r "$WORK"/logs-* "$WORK"/asan "$WORK"/pg/server.log t/logs/last-run/ 2>/dev/null || true
        say "FAILED; server logs copied to $TOP/t/logs/last-run/"
        # the server suites' checks as they failed: the harness lets the
        # test files' diagnostics through to the terminal only
        failed "server suites: the failed checks" "$WORK/server.out"
        say "what failed:"
        cat "$FAILURES" >&2
    else
        say "all tests passed"
    fi
    exit $rc
}

# The disk-full tests (t/23_disk_full.t) need a storage directory that
# fills up: a 16 MiB tmpfs at $WORK/small-storage, owned by the test
# user (mounting needs root). Without it they skip, saying why.
XPORT_SMALL_TMPFS=${XPORT_SMALL_TMPFS:-0}
XPORT_SMALL_SKIP=${XPORT_SMALL_SKIP:-}
small_storage_mount() {
    mkdir -p "$WORK/small-storage"
    if mount -t tmpfs -o size=16m,mode=0700 tmpfs "$WORK/small-storage" 2>/dev/null; then
        chown "$TEST_USER:" "$WORK/small-storage"
        XPORT_SMALL_TMPFS=1
    else
        XPORT_SMALL_SKIP="cannot mount a tmpfs at $WORK/small-storage (no mount privilege in this container?)"
        chown "$TEST_USER:" "$WORK/small-storage"
        say "$XPORT_SMALL_SKIP: the disk-full tests skip"
    fi
}

outer_cleanup() {
    if [ "$XPORT_SMALL_TMPFS" = 1 ]; then
        umount "$WORK/small-storage" 2>/dev/null || umount -l "$WORK/small-storage" 2>/dev/null || true
    fi
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
