#!/bin/sh
# perf.sh -- mod_xport against the tools a user would reach for instead,
# on the same data, on the same machine, in the same run.
#
# Data: "items" (BENCH_ROWS rows, default 1,000,000, mixed text / integer /
# real columns with NULLs, about 250 MB as JSON) and two smaller tables that
# reference it, "comments" (rows/10) and "tags" (rows/100), built by sqlite3
# WITH RECURSIVE and loaded as the same rows into a throwaway PostgreSQL
# cluster (initdb in bench/out/perf/pg, as the unprivileged user xporttest
# when run as root). A second, smaller data set (BENCH_GROW_ROWS, default
# rows/10) gives the growth lines.
#
# One httpd (event MPM, own config, free loopback ports) serves: the
# export sources (SQLite and PostgreSQL, one port per data set), two import
# targets (empty schemas, emptied before each import) and static files.
# Each pair (module, baseline) runs BENCH_REPEAT times (default 3),
# alternately; the table shows medians. Peak memory: the xport-worker's
# VmHWM after resetting it via /proc/PID/clear_refs (shown above its idle
# RSS in the memory line), the baselines' by GNU time (%M, max over the
# processes of the pipeline), httpd children's VmHWM for status/download.
#
# The dialect rows export through the other APIs (XportAPI qiscus, ocl,
# spark) on scaled-up copies of their demo databases (conf/*-sqlite.sql
# plus BENCH_DIALECT_ROWS generated rows, in bench/out/perf/dialect<rows>),
# each on a virtual host of its own with that API's <Location> and a
# native one, and compare each with a native tar.gz export of the same
# rows on the same host.
#
# A module job that runs longer than BENCH_JOB_TIMEOUT seconds (default 300,
# XportJobTimeout) ends timed_out; it is shown as "> N s", fails its
# target, and the later runs of that job are skipped so that a full run
# stays within about 15 minutes.
#
# Variables: BENCH_ONLY (all pairs), BENCH_ROWS (1000000), BENCH_GROW_ROWS (rows/10), BENCH_REPEAT (3),
# BENCH_GROW_REPEAT (1), BENCH_DIALECT_ROWS (300000), BENCH_JOB_TIMEOUT (300), BENCH_WRK_SECONDS (5),
# HTTPD (/usr/sbin/apache2), PG_BIN (/usr/lib/postgresql/15/bin), BENCH_PG_USER (xporttest when root).
# shellcheck disable=SC2016 # perl expressions on $j are single-quoted on purpose
# shellcheck source=bench/lib.sh
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/bench/lib.sh"
OUT=$TOP/bench/out/perf
RUN=$OUT/run
TMP=$OUT/tmp
ROWS=${BENCH_ROWS:-1000000}
GROWS=${BENCH_GROW_ROWS:-$((ROWS / 10))}
REPEAT=${BENCH_REPEAT:-3}
GREPEAT=${BENCH_GROW_REPEAT:-1}
DROWS=${BENCH_DIALECT_ROWS:-300000}
JOB_TIMEOUT=${BENCH_JOB_TIMEOUT:-300}
WRK_S=${BENCH_WRK_SECONDS:-5}
HTTPD=${HTTPD:-/usr/sbin/apache2}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
RUN_USER=www-data
TIME=/usr/bin/time
POLL=0.05
GZIP='gzip -6'
PIGZ='pigz -6 -p 2'

die() { echo "perf.sh: $*" >&2; exit 1; }
say() { echo "perf.sh: $(date -u +%H:%M:%S) $*" >&2; }

[ -f "$TOP/build/mod_xport.so" ] || die "build/mod_xport.so is missing; run make first"
[ -x "$HTTPD" ] || die "$HTTPD not found; install apache2 (conf/deps.sh)"
[ -x "$PG_BIN/initdb" ] || die "$PG_BIN/initdb not found; install postgresql-15"
bench_need sqlite3 psql curl perl gzip pigz zstd tar wrk
"$TIME" -f %M -o /dev/null true 2>/dev/null || die "GNU time missing; apt-get install time"
perl -MJSON::PP -e1 2>/dev/null || die "perl's JSON::PP is missing; apt-get install libjson-pp-perl"
if [ "$ROWS" -lt 1000 ] || [ "$GROWS" -lt 100 ] || [ "$DROWS" -lt 100 ]; then
    die "BENCH_ROWS >= 1000, BENCH_GROW_ROWS >= 100, BENCH_DIALECT_ROWS >= 100"
fi
MODULES=$(apxs -q LIBEXECDIR 2>/dev/null || echo /usr/lib/apache2/modules)
PG_USER=${BENCH_PG_USER:-$(id -un)}
AS_PG=
if [ "$(id -u)" = 0 ]; then
    PG_USER=${BENCH_PG_USER:-xporttest}
    id "$PG_USER" >/dev/null 2>&1 ||
        useradd --system --create-home --shell /usr/sbin/nologin "$PG_USER"
    AS_PG="runuser -u $PG_USER --"
fi

# ------------------------------------------------------------------ data
LOREM='lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua'

schema_sql() { # sqlite | pg
    if [ "$1" = pg ]; then i=bigint r='double precision' n=integer; else i=INTEGER r=REAL n=INTEGER; fi
    cat <<SQL
CREATE TABLE items (id $i PRIMARY KEY, sku TEXT NOT NULL, name TEXT NOT NULL,
    email TEXT, score $r, qty $n, note TEXT, token TEXT, created_at TEXT NOT NULL);
CREATE TABLE comments (id $i PRIMARY KEY, item_id $i NOT NULL, author TEXT NOT NULL,
    body TEXT, created_at TEXT NOT NULL);
CREATE TABLE tags (id $i PRIMARY KEY, item_id $i NOT NULL, label TEXT NOT NULL);
SQL
}

rows_sql() { # rows
    cat <<SQL
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $1)
INSERT INTO items SELECT i, 'SKU-' || printf('%07d', i * 7919 % 10000000),
    'item ' || i || CASE i % 50 WHEN 0 THEN ' "quoted" café' ELSE '' END,
    CASE WHEN i % 7 = 0 THEN NULL ELSE 'u' || i || '@example.org' END,
    CASE WHEN i % 5 = 0 THEN NULL ELSE (i * 37 % 100000) / 100.0 END,
    CASE WHEN i % 11 = 0 THEN NULL ELSE i * 13 % 1000 END,
    CASE WHEN i % 3 = 0 THEN NULL ELSE substr('$LOREM', 1 + i % 23, 20 + i % 60) END,
    printf('%08x%08x%08x', i * 2654435761 % 4294967296, i * 2246822519 % 4294967296,
           i * 3266489917 % 4294967296),
    strftime('%Y-%m-%dT%H:%M:%SZ', 1700000000 + i * 7, 'unixepoch') FROM c;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $1 / 10)
INSERT INTO comments SELECT i, 1 + i * 7919 % $1, 'author ' || (i % 997),
    CASE WHEN i % 4 = 0 THEN NULL ELSE substr('$LOREM', 1 + i % 40, 30 + i % 60) END,
    strftime('%Y-%m-%dT%H:%M:%SZ', 1700000000 + i * 61, 'unixepoch') FROM c;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $1 / 100)
INSERT INTO tags SELECT i, 1 + i * 104729 % $1, 'tag-' || (i % 300) FROM c;
SQL
}

TABLES="items comments tags"

# data set $1 (rows) in $OUT/d$1: src.db, one CSV per table (no header;
# NULL unquoted-empty, which \copy csv reads as NULL)
make_data() {
    d=$OUT/d$1
    stamp="rows=$1 v1"
    [ -f "$d/src.db" ] && [ "$(cat "$d/stamp" 2>/dev/null)" = "$stamp" ] && return 0
    say "building the $1-row data set in $d"
    rm -rf "$d" && mkdir -p "$d"
    { echo "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"; schema_sql sqlite; rows_sql "$1"; } |
        sqlite3 -bail "$d/src.db" >/dev/null
    for t in $TABLES; do
        sqlite3 -csv "$d/src.db" "select * from $t" >"$d/$t.csv"
    done
    echo "$stamp" >"$d/stamp"
}

total_rows() { echo $(($1 + $1 / 10 + $1 / 100)); }

# ------------------------------------------------------------------ PostgreSQL
PG_DIR=$OUT/pg
PG_PORT=
pg_up() {
    rm -rf "$PG_DIR" && mkdir -p "$PG_DIR"
    [ -z "$AS_PG" ] || chown "$PG_USER:" "$PG_DIR"
    PG_PORT=$(bench_free_port)
    $AS_PG "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_USER" -A trust -E UTF8 \
        --locale=C --no-sync >"$OUT/initdb.log" 2>&1 || die "initdb failed: $OUT/initdb.log"
    $AS_PG "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-k $PG_DIR -p $PG_PORT -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=4GB" \
        start >/dev/null || die "PostgreSQL did not start: $PG_DIR/server.log"
}
pg_down() {
    [ -n "$PG_PORT" ] && [ -f "$PG_DIR/data/postmaster.pid" ] || return 0
    $AS_PG "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}
psql_() { # db args...
    _db=$1
    shift
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 \
        -h "$PG_DIR" -p "$PG_PORT" -U "$PG_USER" -d "$_db" "$@"
}
pg_params() { echo "host=127.0.0.1 port=$PG_PORT dbname=$1 user=$PG_USER"; }

pg_load() { # rows: database src$rows with the same rows as d$rows/src.db
    psql_ postgres -c "CREATE DATABASE src$1"
    schema_sql pg | psql_ "src$1"
    for t in $TABLES; do
        psql_ "src$1" -c "\\copy $t from '$OUT/d$1/$t.csv' csv"
    done
    psql_ "src$1" -c "VACUUM ANALYZE"
}

# ------------------------------------------------------------------ httpd
SECTIONS='XportSection items    table=items key=id search=name types=id:int,score:real,qty:int
    XportSection comments table=comments key=id ref=item_id:items types=id:int,item_id:int
    XportSection tags     table=tags key=id ref=item_id:items types=id:int,item_id:int'

vhost() { # port driver params
    cat <<CONF
Listen 127.0.0.1:$1
<VirtualHost 127.0.0.1:$1>
    XportDataSource $2 "$3"
    $SECTIONS
</VirtualHost>
CONF
}

# ports: P_SQ / P_PG export sources (ROWS), P_SQG / P_PGG (GROWS),
# P_ISQ / P_IPG import targets; the main server (P_SQ) serves static files
write_conf() {
    mkdir -p "$RUN/storage" "$RUN/htdocs"
    perl -e 'print "x" x 1023, "\n"' >"$RUN/htdocs/static-1k.txt"
    user="# not root: httpd and the worker run as $(id -un)"
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$RUN_USER" -- test -r "$OUT/d$ROWS/src.db" -a -x "$RUN" ||
            die "user $RUN_USER cannot reach $OUT (a parent directory is private)"
        user="User $RUN_USER
Group $RUN_USER"
    fi
    cat >"$RUN/httpd.conf" <<CONF
# generated by bench/perf.sh
ServerRoot        "$RUN"
ServerName        127.0.0.1
PidFile           "$RUN/httpd.pid"
DefaultRuntimeDir "$RUN"
ErrorLog          "$RUN/error.log"
LogLevel          warn
LoadModule mpm_event_module  "$MODULES/mod_mpm_event.so"
LoadModule authz_core_module "$MODULES/mod_authz_core.so"
LoadModule authz_user_module "$MODULES/mod_authz_user.so"
LoadModule authn_core_module "$MODULES/mod_authn_core.so"
<IfModule !mod_unixd.c>
    LoadModule unixd_module  "$MODULES/mod_unixd.so"
</IfModule>
LoadModule xport_module      "$TOP/build/mod_xport.so"
$user
DocumentRoot "$RUN/htdocs"
XportStorage             "$RUN/storage"
XportInstanceName        bench
XportMaxJobsPerUser      20
XportMaxArchiveSize      8G
XportMaxUploadSize       8G
XportMaxUncompressedSize 16G
XportJobTimeout          ${JOB_TIMEOUT}s
Listen 127.0.0.1:$P_SQ
XportDataSource sqlite3 "$OUT/d$ROWS/src.db"
$SECTIONS
<Location /xport>
    SetHandler xport
</Location>
$(vhost "$P_PG" pgsql "$(pg_params "src$ROWS")")
$(vhost "$P_SQG" sqlite3 "$OUT/d$GROWS/src.db")
$(vhost "$P_PGG" pgsql "$(pg_params "src$GROWS")")
$(vhost "$P_ISQ" sqlite3 "$OUT/imp.db")
$(vhost "$P_IPG" pgsql "$(pg_params imp)")
$(dialect_vhosts)
CONF
    "$HTTPD" -t -f "$RUN/httpd.conf" >/dev/null 2>"$RUN/configtest.log" || {
        cat "$RUN/configtest.log" >&2
        die "the generated configuration $RUN/httpd.conf does not load"
    }
}

cleanup() {
    trap - INT TERM EXIT
    bench_httpd_stop
    pg_down
    rm -rf "$TMP"
}
trap 'say interrupted; cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
on_exit() {
    cleanup
    [ "$1" = 0 ] || say "failed; logs: $RUN/error.log $PG_DIR/server.log"
}
trap 'on_exit $?' EXIT

# ------------------------------------------------------------------ measuring
# Each measurement appends its figures to $TMP/res/<key>: "seconds peak_kB"
# (or "rate peak_kB" for status / download); idle/+peak of the worker go
# to $TMP/res/<key>.mem.
record() { echo "$2 $3" >>"$TMP/res/$1"; }

# Around one job: job_begin resets the worker's VmHWM; job_end (once the
# job finished) sets J_PEAK and appends "idle peak" (kB) to
# $TMP/res/$KEY.mem. The time is bench/job.pl's (job_run).
job_begin() {
    wpid=$(bench_worker_pid) || die "no xport-worker under httpd $BENCH_HPID"
    idle=$(bench_status_kb "$wpid" VmRSS)
    bench_hwm_reset "$wpid" || die "cannot write /proc/$wpid/clear_refs (run as root or as the httpd user)"
}
job_end() {
    J_PEAK=$(bench_status_kb "$wpid" VmHWM)
    [ "$(bench_worker_pid)" = "$wpid" ] || die "the worker restarted during a job; see $RUN/error.log"
    echo "$idle $J_PEAK" >>"$TMP/res/$KEY.mem"
}

# One job as a client makes it (bench/job.pl: POST, then poll every POLL
# s over the same keep-alive connection until the Perl regexp $2 matches
# the record, or with $2 = 303 until a 303): $1 the URL to POST to, $3
# the Perl expression of the URL to poll ($j: the POST's answer, $u: the
# URL), then job.pl's options (--type, --data, --file); the header in
# J_HDR goes with every request. Sets J_WALL (POST until the answer that
# said it was over) and J_URL (the URL polled); the last answer is in
# $TMP/rec.json.
job_run() {
    _post=$1 _until=$2 _next=$3
    shift 3
    job_begin
    _r=$(perl "$TOP/bench/job.pl" --post "$_post" --next "$_next" --until "$_until" \
        --out "$TMP/rec.json" --interval "$POLL" --timeout "$((JOB_TIMEOUT + 60))" \
        --header "$J_HDR" "$@") || die "the job POSTed to $_post failed"
    J_WALL=${_r%% *}
    J_URL=${_r#* }
    job_end
}

# One job through the native API: $1 url of the collection (…/exports or
# …/imports), rest: job.pl's options of the POST; J_HDR, when set, is a
# header sent with every request (an API key); sets J_ID, J_WALL,
# J_PEAK, J_STATUS
J_HDR=
run_job() {
    coll=$1
    shift
    job_run "$coll" '"finished": *true' '"$u/$j->{id}"' "$@"
    J_ID=${J_URL##*/}
    J_STATUS=$(bench_json_field "$TMP/rec.json" '$j->{status}')
    [ "$J_STATUS" = completed ] || [ "$J_STATUS" = timed_out ] ||
        die "job $coll/$J_ID ended $(bench_json_field "$TMP/rec.json" \
            '$j->{status} . ": " . join("; ", @{$j->{error_messages}})')"
}

# a job of $KEY timed out before: its later runs are skipped
timed_out_before() {
    [ -f "$TMP/res/$KEY.timeout" ] || return 1
    say "$KEY: skipped (timed out before)"
}
# after run_job: record the figures, note a timeout (false then)
record_job() {
    record "$KEY" "$J_WALL" "$J_PEAK"
    [ "$J_STATUS" = timed_out ] || return 0
    say "$KEY: timed out after $JOB_TIMEOUT s"
    : >"$TMP/res/$KEY.timeout"
    return 1
}

# module export: port format [file to download the archive into]
mod_export() {
    timed_out_before && return 0
    run_job "http://127.0.0.1:$1/xport/exports" --data "{\"filter\": \"all\", \"format\": \"$2\"}"
    if [ -n "${3:-}" ]; then
        curl -sf -o "$3" "http://127.0.0.1:$1/xport/exports/$J_ID/download" || die "download failed"
    fi
    curl -sf -o /dev/null -X DELETE "http://127.0.0.1:$1/xport/exports/$J_ID" || true
    record_job || [ -z "${3:-}" ] || die "the first export timed out; raise BENCH_JOB_TIMEOUT"
}

# module import of archive $2 into the target on port $1 (emptied first)
mod_import() {
    timed_out_before && return 0
    empty_target "$1"
    run_job "http://127.0.0.1:$1/xport/imports" --type application/gzip --file "$2"
    curl -sf -o /dev/null -X DELETE "http://127.0.0.1:$1/xport/imports/$J_ID" || true
    record_job || return 0
    check_rows "$1" "$3"
}

empty_target() {
    if [ "$1" = "$P_ISQ" ]; then
        sqlite3 -bail "$OUT/imp.db" "DROP TABLE IF EXISTS items; DROP TABLE IF EXISTS comments;
            DROP TABLE IF EXISTS tags; VACUUM; $(schema_sql sqlite)"
    else
        psql_ imp -c "TRUNCATE items, comments, tags"
    fi
}

check_rows() { # port expected-total
    q="SELECT (SELECT count(*) FROM items) + (SELECT count(*) FROM comments) + (SELECT count(*) FROM tags)"
    if [ "$1" = "$P_ISQ" ]; then n=$(sqlite3 "$OUT/imp.db" "$q"); else n=$(psql_ imp -Atc "$q"); fi
    [ "$n" = "$2" ] || die "the import left $n rows, not $2"
}

# a baseline: sh -c of $2, whose commands run under GNU time ($(tm NAME)
# writes the peak of one to $TMP/tm.NAME); records the wall time and the
# largest of the peaks
timed() { # key command-string
    t0=$(bench_now)
    sh -c "$2" || die "baseline failed: $2"
    w=$(bench_elapsed "$t0")
    p=$(cat "$TMP"/tm.* | sort -n | tail -n 1)
    rm -f "$TMP"/tm.*
    record "$1" "$w" "$p"
}
tm() { echo "$TIME -f %M -o $TMP/tm.$1"; }
PSQL_CMD() { echo "psql -X -q -v ON_ERROR_STOP=1 -h $PG_DIR -p $PG_PORT -U $PG_USER -d $1"; }

# the export baselines: rows compressor (gzip -6 or pigz -6 -p 2)
base_export_sqlite() {
    c=
    for t in $TABLES; do
        c="$c $(tm "$t.q") sqlite3 -json $OUT/d$1/src.db 'select * from $t' |
            $(tm "$t.z") $2 >$TMP/base.$t.json.gz &&"
    done
    timed "$KEY" "$c true"
}

base_import_sqlite() { # rows
    cp "$OUT/empty.db" "$TMP/base.db"
    c=
    for t in $TABLES; do
        c="$c $(tm "$t") sqlite3 -bail $TMP/base.db '.import --csv $OUT/d$1/$t.csv $t' &&"
    done
    timed "$KEY" "$c true"
    rm -f "$TMP/base.db"
}

base_export_pg() {
    c=
    for t in $TABLES; do
        c="$c $(tm "$t.q") $(PSQL_CMD "src$1") -c '\\copy (select row_to_json(t) from $t t) to stdout' |
            $(tm "$t.z") $2 >$TMP/base.$t.json.gz &&"
    done
    timed "$KEY" "$c true"
}

base_import_pg() { # rows
    psql_ imp -c "TRUNCATE items, comments, tags"
    c=
    for t in $TABLES; do
        c="$c $(tm "$t") $(PSQL_CMD imp) -c '\\copy $t from $OUT/d$1/$t.csv csv' &&"
    done
    timed "$KEY" "$c true"
    check_rows "$P_IPG" "$(total_rows "$1")"
}

# ------------------------------------------------------------------ dialects
# The other APIs' demo databases (conf/<demo>-sqlite.sql) scaled up by
# DROWS generated rows, in $DDIR (rebuilt only when the size changes):
#   chat   DROWS more comments, copies of the demo's 300 (no reference
#          trigger: nothing is imported into it)
#   ocl    a version /orgs/CIEL/sources/CIEL/vbench/ of DROWS concepts
#          and DROWS/5 mappings, copies of v2016-08-22's
#   spark  a tenant "bench": 10 folders, at most SPARK_VERSIONS versions
#          (10 a service) and their files (wasm and xlsx) of DROWS x 250
#          bytes in all (half random). The API turns a folder into one
#          filter line per service and version (SQLite refused more
#          than about 1000 of them until the lines were ORed as a
#          balanced tree); the size grows in bytes, not in versions.
DDIR=$OUT/dialect$DROWS
DIALECTS="qiscus ocl spark"
SPARK_VERSIONS=300
OCL_V=/orgs/CIEL/sources/CIEL/vbench/

chat_more_sql() {
    cat <<SQL
DROP TRIGGER IF EXISTS comments_refs;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ($1 + 299) / 300)
INSERT INTO comments (message, disable_link_preview, type, unique_id, creator_email,
    room_unique_id, created_at, payload, parent_comment_unique_id, updated_at)
SELECT message || ' #' || c.i, disable_link_preview, type, unique_id || '-' || c.i,
       creator_email, room_unique_id, created_at, payload,
       CASE parent_comment_unique_id WHEN '' THEN '' ELSE parent_comment_unique_id || '-' || c.i END,
       updated_at
  FROM c, (SELECT * FROM comments) LIMIT $1;
SQL
}

# copies of the rows of table $1 (key $2) in version v2016-08-22, for vbench
ocl_copy_sql() { # table key member-table rows other-columns
    cat <<SQL
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $4 / 4000 + 1)
INSERT INTO $1 SELECT 10000000 * c.i + $2, source_url, id || '-' || c.i, $5
  FROM c, (SELECT * FROM $1 WHERE $2 IN (SELECT $2 FROM $3
           WHERE version_url = '/orgs/CIEL/sources/CIEL/v2016-08-22/')) LIMIT $4;
INSERT INTO $3 SELECT '$OCL_V', $2 FROM $1 WHERE $2 > 10000000;
SQL
}

ocl_more_sql() {
    echo "INSERT INTO repository_versions VALUES ('$OCL_V', '/orgs/CIEL/sources/CIEL/', 'vbench',
        'a large release', 1, '2016-10-01T08:00:00Z', '2016-10-01T08:00:00Z');"
    ocl_copy_sql concepts concept_id version_concepts "$1" \
        external_id,concept_class,datatype,names,descriptions,retired,updated_on
    ocl_copy_sql mappings mapping_id version_mappings "$(($1 / 5))" \
        external_id,map_type,from_concept,to_concept,retired,updated_on
}

spark_more_sql() {
    _v=$(($1 / 2)) && [ "$_v" -le $SPARK_VERSIONS ] || _v=$SPARK_VERSIONS
    _sz=$(($1 * 250 / (2 * _v)))
    cat <<SQL
WITH RECURSIVE f(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM f WHERE i < 9)
INSERT INTO spark_folders SELECT 'bench', 'Folder' || i, 'folder ' || i FROM f;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ($_v + 9) / 10)
INSERT INTO spark_services SELECT 'bench', 'svc-' || i, 'Folder' || (i % 10), 'Service' || i,
    'service ' || i FROM s;
WITH RECURSIVE v(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM v WHERE i < $_v - 1)
INSERT INTO spark_versions SELECT 'bench', 'ver-' || i, 'svc-' || (1 + i / 10),
    (i % 10 / 3) || '.' || (i % 10 % 3) || '.0',
    strftime('%Y-%m-%dT%H:%M:%SZ', 1700000000 + i * 60, 'unixepoch') FROM v;
INSERT INTO spark_files SELECT tenant, version_id, k.kind, k.kind || '.bin',
    k.magic || randomblob($_sz / 2) || zeroblob($_sz / 2)
  FROM spark_versions, (SELECT 'wasm' AS kind, X'0061736D01000000' AS magic
                        UNION ALL SELECT 'xlsx', X'504B030414000000') k
 WHERE tenant = 'bench';
SQL
}

# rows each export holds (the data set's stamp directory keeps them)
dialect_count_sql() {
    case $1 in
        chat) echo "SELECT count(*) FROM comments" ;;
        ocl) echo "SELECT 1 + (SELECT count(*) FROM version_concepts WHERE version_url = '$OCL_V')
                     + (SELECT count(*) FROM version_mappings WHERE version_url = '$OCL_V')" ;;
        spark) echo "SELECT (SELECT count(*) FROM spark_folders WHERE tenant = 'bench')
                     + (SELECT count(*) FROM spark_services WHERE tenant = 'bench')
                     + (SELECT count(*) FROM spark_versions WHERE tenant = 'bench')
                     + (SELECT count(*) FROM spark_files WHERE tenant = 'bench')" ;;
    esac
}

make_dialect_data() {
    # the schemas' checksum: a demo schema that changed rebuilds them
    stamp="rows=$DROWS v2 $(cd "$TOP/conf" && cat chat-sqlite.sql ocl-sqlite.sql spark-sqlite.sql | cksum)"
    [ "$(cat "$DDIR/stamp" 2>/dev/null)" = "$stamp" ] && return 0
    say "building the dialect data sets ($DROWS rows each) in $DDIR"
    rm -rf "$DDIR" && mkdir -p "$DDIR"
    for d in chat ocl spark; do
        { echo "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
          cat "$TOP/conf/$d-sqlite.sql"; "${d}_more_sql" "$DROWS"; } |
            sqlite3 -bail "$DDIR/$d.db" >/dev/null || die "building $DDIR/$d.db failed"
        sqlite3 "$DDIR/$d.db" "$(dialect_count_sql "$d")" >"$DDIR/rows.$d"
    done
    echo "$stamp" >"$DDIR/stamp"
}

want_dialect() { for a in $DIALECTS; do want "$a" && return 0; done; return 1; }

# a virtual host per demo: its data source and sections, the API's
# <Location> and a native one at /xport, both behind the demo's API keys
dialect_vhost() { # port demo api location supervisor
    for loc in "$4 $3" "/xport native"; do
        set -- "$1" "$2" "$3" "$4" "$5" "${loc% *}" "${loc#* }"
        cat <<CONF
    <Location $6>
        SetHandler xport
        XportAPI $7
        AuthType xport-token
        AuthName "$2"
        XportTokenFile "$TOP/conf/$2-tokens"
        Require valid-user
    </Location>
CONF
    done >"$TMP/locations"
    cat <<CONF
Listen 127.0.0.1:$1
<VirtualHost 127.0.0.1:$1>
    XportDataSource sqlite3 "$DDIR/$2.db"
    ${5:+XportSupervisor $5}
    Include "$TOP/conf/$2-sections.inc"
$(cat "$TMP/locations")
</VirtualHost>
CONF
}

dialect_vhosts() {
    want_dialect || return 0
    dialect_vhost "$P_DQ" chat qiscus /api/v2.1/rest ""
    dialect_vhost "$P_DO" ocl ocl /ocl ocl-admin
    dialect_vhost "$P_DS" spark spark /spark spark-admin
}

# the demos' keys (conf/*-tokens): chat app-alpha, the administrators of
# the terminology server and of the rules platform
KEY_QISCUS='QISCUS-SDK-SECRET: qs-alpha-4f8e2c91d7b3a605'
KEY_OCL='Authorization: Token b147dc1c0d32f58b5fe78028f768a9a72f55c1a4'
KEY_SPARK='x-synthetic-key: sk-admin-9e3f1c7b5a2d4086'

# The export's record ($TMP/rec.json) says it ended well (regex ok), and
# the file at its link (perl expression url on $j) is fetched without a
# key into $TMP/dial.out.
dial_fetch() { # api ok url
    grep -Eq "$2" "$TMP/rec.json" || die "$1 export ended: $(cat "$TMP/rec.json")"
    url=$(bench_json_field "$TMP/rec.json" "$3")
    curl -sf -o "$TMP/dial.out" "$url" || die "$1 download $url failed"
}

# chat service: POST /exports type=comments, poll until finished, fetch
# download_url (no key)
dial_qiscus() {
    c="http://127.0.0.1:$P_DQ/api/v2.1/rest/exports"
    J_HDR=$KEY_QISCUS
    job_run "$c" '"status": *"(finished|failed)"' \
        '"$u/$j->{results}{unique_id}"' --data '{"type": "comments"}'
    J_HDR=
    dial_fetch qiscus '"status": *"finished"' '$j->{results}{backup_history}{download_url}'
    curl -sf -o /dev/null -H "$KEY_QISCUS" -X DELETE "$J_URL" || die "DELETE $J_URL failed"
}

# terminology server: POST …/vbench/export/ (202), GET until 303, follow
# the signed link; the administrator deletes it for the next run
dial_ocl() {
    e="http://127.0.0.1:$P_DO/ocl${OCL_V}export/"
    J_HDR=$KEY_OCL
    job_run "$e" 303 '$u'
    J_HDR=
    curl -sfL -o "$TMP/dial.out" -H "$KEY_OCL" "$e" || die "ocl download failed"
    curl -sf -o /dev/null -H "$KEY_OCL" -X DELETE "$e" || die "DELETE $e failed"
}

# rules platform: POST /bench/api/v4/export of every folder, poll
# status_url until closed, fetch outputs.files[0].file (no key)
dial_spark() {
    f=$(awk 'BEGIN { for (i = 0; i < 10; i++) printf "%s\"Folder%d\"", i ? ", " : "", i }')
    J_HDR=$KEY_SPARK
    job_run "http://127.0.0.1:$P_DS/spark/bench/api/v4/export" \
        '"status": *"(closed|closed_by_timeout|failed|cancelled)"' '$j->{status_url}' \
        --data "{\"inputs\": {\"folders\": [$f]}, \"source_system\": \"bench\"}"
    J_HDR=
    dial_fetch spark '"status": *"closed"' '$j->{outputs}{files}[0]{file}'
}

# the native tar.gz of the same rows on the same host, with the same key
dial_native() { # api
    case $1 in
        qiscus) p=$P_DQ J_HDR=$KEY_QISCUS b='"filter": "comments"' ;;
        ocl) p=$P_DO J_HDR=$KEY_OCL
             b="\"filter\": \"versions/url='$OCL_V'\\nconcepts/version_url='$OCL_V'\\nmappings/version_url='$OCL_V'\"" ;;
        spark) p=$P_DS J_HDR=$KEY_SPARK b='"filter": "all", "tenant": "bench"' ;;
    esac
    run_job "http://127.0.0.1:$p/xport/exports" --data "{$b, \"format\": \"tar.gz\"}"
    curl -sf -o /dev/null -H "$J_HDR" -X DELETE "http://127.0.0.1:$p/xport/exports/$J_ID" || true
    J_HDR=
    [ "$J_STATUS" = completed ] || die "the native export on the $1 host ended $J_STATUS"
    record "$KEY" "$J_WALL" "$J_PEAK"
}

dial_pair() { # api
    KEY=$1.m "dial_$1"
    record "$1.m" "$J_WALL" "$J_PEAK"
    KEY=$1.b dial_native "$1"
}

# httpd's children other than the worker: their VmHWM is reset before a
# wrk/curl run and the largest is the peak of "the process doing the work"
children() {
    w=$(bench_worker_pid || true)
    for d in /proc/[0-9]*; do
        [ "$(awk '/^PPid:/ {print $2}' "$d/status" 2>/dev/null)" = "$BENCH_HPID" ] || continue
        [ "${d#/proc/}" = "$w" ] || echo "${d#/proc/}"
    done
}
children_reset() { for c in $(children); do bench_hwm_reset "$c" || true; done; }
children_peak() {
    for c in $(children); do bench_status_kb "$c" VmHWM; done | sort -n | tail -n 1
}

# requests/s of wrk on $1 (2 threads, 16 connections, WRK_S seconds)
status_run() {
    children_reset
    wrk -t2 -c16 -d"${WRK_S}s" "$1" >"$TMP/wrk.out" 2>&1 || die "wrk $1 failed: $(cat "$TMP/wrk.out")"
    grep -q 'Non-2xx' "$TMP/wrk.out" && die "wrk $1 got errors: $(cat "$TMP/wrk.out")"
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk.out")
    record "$KEY" "$rps" "$(children_peak)"
}

# bytes/s of 3 sequential downloads of $1 (curl, to /dev/null)
download_run() {
    children_reset
    t0=$(bench_now)
    for _n in 1 2 3; do
        curl -sf -o /dev/null "$1" || die "download $1 failed"
    done
    w=$(bench_elapsed "$t0")
    record "$KEY" "$(awk -v b="$DL_BYTES" -v w="$w" 'BEGIN { printf "%.0f", 3 * b / w }')" \
        "$(children_peak)"
}

# ------------------------------------------------------------------ report
median() { # file [column] -> median of that column
    awk -v c="${2:-1}" '{ print $c }' "$1" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
maxcol() { awk -v c="$2" '$c > m { m = $c } END { print m + 0 }' "$1"; }
plus_peak() { awk '$2 - $1 > m { m = $2 - $1 } END { printf "%.1f", m / 1024 }' "$1"; }

timeout_mark() { if [ -f "$TMP/res/$1.m.timeout" ]; then echo ">"; fi; }

# one line of the table: label key kind(time|rate) target-op target
# [rows, for rows/s; MB/s is left out then]
row() {
    [ -s "$TMP/res/$2.m" ] && [ -s "$TMP/res/$2.b" ] || return 0
    m=$(median "$TMP/res/$2.m") b=$(median "$TMP/res/$2.b")
    to=$(timeout_mark "$2")
    pm=$(maxcol "$TMP/res/$2.m" 2) pb=$(maxcol "$TMP/res/$2.b" 2)
    n=${6:-$(total_rows "$ROWS")} by=$JSON_BYTES
    [ -z "${6:-}" ] || by=0
    awk -v l="$1" -v k="$3" -v op="$4" -v tg="$5" -v m="$m" -v b="$b" -v pm="$pm" -v pb="$pb" \
        -v rows="$n" -v by="$by" -v to="$to" 'BEGIN {
        r = m / b
        met = (op == "<=") ? (r <= tg && to == "") : (r >= tg)
        if (k == "time") {
            mv = sprintf("%s%.2f s", to, m); bv = sprintf("%.2f s", b)
            rs = sprintf("%s%.1fk / %.0fk", to == ">" ? "<" : "", rows / m / 1000, rows / b / 1000)
            ms = by == 0 ? "-" : sprintf("%s%.1f / %.1f", to == ">" ? "<" : "", by / m / 1e6, by / b / 1e6)
        } else if (k == "req") {
            mv = sprintf("%.0f req/s", m); bv = sprintf("%.0f req/s", b); rs = "-"; ms = "-"
        } else {
            mv = sprintf("%.0f MB/s", m / 1e6); bv = sprintf("%.0f MB/s", b / 1e6); rs = "-"
            ms = sprintf("%.0f / %.0f", m / 1e6, b / 1e6)
        }
        printf "%-26s | %12s | %12s | %5s | %s %-4s | %-4s | %-13s | %-11s | %.1f / %.1f\n",
            l, mv, bv, sprintf("%s%.2f", to, r), op, tg, met ? "yes" : "NO", rs, ms, pm / 1024, pb / 1024 }'
}

grow_line() { # label key-of-1M key-of-growth-set
    [ -s "$TMP/res/$2.m" ] && [ -s "$TMP/res/$3.m" ] || return 0
    tl=$(timeout_mark "$2") ts=$(timeout_mark "$3")
    awk -v l="$1" -v rs="$(total_rows "$GROWS")" -v rl="$(total_rows "$ROWS")" -v tol="$tl" -v tos="$ts" \
        -v ts="$(median "$TMP/res/$3.m")" -v tl="$(median "$TMP/res/$2.m")" \
        -v ps="$(plus_peak "$TMP/res/$3.m.mem")" -v pl="$(plus_peak "$TMP/res/$2.m.mem")" 'BEGIN {
        x = rl / rs; tx = tl / ts
        printf "%-26s | rows x%.1f: time %s%.2f -> %s%.2f s (x%.1f: %s) | worker +peak %.1f -> %.1f MB (%s)\n",
            l, x, tos, ts, tol, tl, tx, (tx > 1.3 * x && tos == "") ? "GROWS FASTER THAN LINEAR" : (tos tol != "") ? "? (timed out)" : "linear",
            ps, pl, (pl - ps <= 8) ? "flat" : "GROWS" }'
}

report() {
    cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    mem=$(awk '/^MemTotal:/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
    echo "mod_xport performance  $(date -u +%Y-%m-%dT%H:%MZ)  commit $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $mem, $(uname -sr), load now $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "data: items $ROWS + comments $((ROWS / 10)) + tags $((ROWS / 100)) rows," \
        "$(awk -v b="$JSON_BYTES" 'BEGIN { printf "%.0f", b / 1e6 }') MB as NDJSON;" \
        "tar.gz archive $(awk -v b="$ARCH_BYTES" 'BEGIN { printf "%.0f", b / 1e6 }') MB;" \
        "download $(awk -v b="$DL_BYTES" 'BEGIN { printf "%.0f", b / 1e6 }') MB;" \
        "medians of $REPEAT runs ($GREPEAT for the $GROWS-row growth set); job timeout $JOB_TIMEOUT s"
    echo
    printf '%-26s | %12s | %12s | %5s | %-7s | %-4s | %-13s | %-11s | %s\n' \
        work module baseline ratio target met? "rows/s m / b" "MB/s m / b" "peak MB m / b"
    row "export SQLite, tar.gz" exp_gz time "<=" 0.4
    row "export SQLite vs pigz" exp_gzp time "<=" 0.9
    row "export SQLite, tar.zst" exp_zst time "<=" 0.15
    row "import SQLite" imp_sq time "<=" 0.7
    row "export PostgreSQL, tar.gz" exp_pg time "<=" 0.4
    row "export PostgreSQL vs pigz" exp_pgp time "<=" 0.9
    row "import PostgreSQL" imp_pg time "<=" 1.4
    row "status" status req ">=" 0.5
    row "download" dl rate ">=" 0.9
    row "qiscus JSON array" qiscus time "<=" 1.1 "$(cat "$DDIR/rows.chat" 2>/dev/null)"
    row "ocl document zip" ocl time "<=" 1.1 "$(cat "$DDIR/rows.ocl" 2>/dev/null)"
    row "spark zip" spark time "<=" 1.1 "$(cat "$DDIR/rows.spark" 2>/dev/null)"
    worst=0 worst_job=
    for k in exp_gz.m exp_zst.m imp_sq.m exp_pg.m imp_pg.m qiscus.m qiscus.b ocl.m ocl.b spark.m spark.b; do
        [ -s "$TMP/res/$k.mem" ] || continue
        p=$(plus_peak "$TMP/res/$k.mem")
        if awk -v a="$p" -v b="$worst" 'BEGIN { exit !(a > b) }'; then worst=$p worst_job=$k; fi
    done
    printf '%-26s | %12s | %12s | %5s | %-7s | %-4s |\n' "worker memory, any job" \
        "+$worst MB" - - "< 32 MB" "$(awk -v p="$worst" 'BEGIN { print (p < 32) ? "yes" : "NO" }')"
    echo "  (largest VmHWM - idle VmRSS of the xport-worker over all jobs above: $worst_job)"
    echo
    grow_line "export SQLite, tar.gz" exp_gz g_exp_gz
    grow_line "export SQLite, tar.zst" exp_zst g_exp_zst
    grow_line "import SQLite" imp_sq g_imp_sq
    grow_line "export PostgreSQL, tar.gz" exp_pg g_exp_pg
    grow_line "import PostgreSQL" imp_pg g_imp_pg
    echo
    echo "module: one client process (bench/job.pl), from just before its POST until a 50 ms poll over the same keep-alive connection saw the job over; baseline: the command(s) for all three tables."
    echo "ratio: module time / baseline time (export, import), module rate / baseline rate (status, download)."
    echo "tar.zst is compared with the gzip pipeline of the tar.gz row (the same runs); \"vs pigz\": the same module runs"
    echo "      against the same pipeline with pigz -6 -p 2 instead of gzip -6."
    if want_dialect; then
        echo "qiscus / ocl / spark: an export through that API as its client makes it (POST, poll until the file is"
        echo "      ready) against a native tar.gz export of the same rows on the same host ($(bench_count "$DROWS") generated rows"
        echo "      each: chat comments, a terminology version's concepts (+ mappings); spark: a tenant of at most"
        echo "      $SPARK_VERSIONS versions whose files hold $(bench_count "$DROWS") x 250 bytes)."
    fi
    echo "peak: xport-worker VmHWM (exports, imports), httpd children's VmHWM (status, download);"
    echo "      baselines: GNU time %M, the largest process of the pipeline (psql: the client, not the server)."
}

# ------------------------------------------------------------------ main
setup() {
    mkdir -p "$OUT"
    rm -rf "$TMP" "$RUN" && mkdir -p "$TMP/res" "$RUN"
    make_data "$ROWS"
    make_data "$GROWS"
    rm -f "$OUT/empty.db" "$OUT/imp.db"
    schema_sql sqlite | sqlite3 -bail "$OUT/empty.db"
    cp "$OUT/empty.db" "$OUT/imp.db"
    say "starting PostgreSQL as $PG_USER and loading the same rows"
    pg_up
    pg_load "$ROWS"
    pg_load "$GROWS"
    psql_ postgres -c "CREATE DATABASE imp"
    schema_sql pg | psql_ imp
    if want_dialect; then make_dialect_data; fi
    P_SQ=$(bench_free_port) P_PG=$(bench_free_port) P_SQG=$(bench_free_port)
    P_PGG=$(bench_free_port) P_ISQ=$(bench_free_port) P_IPG=$(bench_free_port)
    P_DQ=$(bench_free_port) P_DO=$(bench_free_port) P_DS=$(bench_free_port)
    write_conf
    if [ "$(id -u)" = 0 ]; then
        chown -R "$RUN_USER:" "$RUN"
        chown "$RUN_USER:" "$OUT" "$OUT/imp.db"
    fi
    bench_httpd_start "$RUN/httpd.conf"
    bench_wait_up "http://127.0.0.1:$P_SQ/xport/exports" || die "see $RUN/error.log"
}

# the archives the imports read, the NDJSON size, the download file
first_exports() {
    KEY=warm
    mod_export "$P_SQ" tar.gz "$OUT/arch$ROWS.tar.gz"
    mod_export "$P_SQG" tar.gz "$OUT/arch$GROWS.tar.gz"
    ARCH_BYTES=$(wc -c <"$OUT/arch$ROWS.tar.gz")
    tar -xzOf "$OUT/arch$ROWS.tar.gz" manifest.json >"$TMP/manifest.json"
    JSON_BYTES=$(bench_json_field "$TMP/manifest.json" 'my $s = 0; $s += $_->{bytes} for @{$j->{sections}}; $s')
    # ~100 MB at 1M rows: the items whose name starts with 1, 2, 3 or 4
    run_job "http://127.0.0.1:$P_SQ/xport/exports" -H 'Content-Type: application/json' \
        -d '{"filter": "items/\"item 1\"\nitems/\"item 2\"\nitems/\"item 3\"\nitems/\"item 4\"", "format": "ndjson"}'
    DL_URL="http://127.0.0.1:$P_SQ/xport/exports/$J_ID/download"
    curl -sf -o "$RUN/htdocs/download.ndjson" "$DL_URL" || die "download failed"
    [ "$(id -u)" != 0 ] || chown "$RUN_USER:" "$RUN/htdocs/download.ndjson"
    DL_BYTES=$(wc -c <"$RUN/htdocs/download.ndjson")
    STATUS_URL="http://127.0.0.1:$P_SQ/xport/exports/$J_ID"
}

# BENCH_ONLY="exp_gz imp_pg ...": run only these pairs (keys of the table:
# exp_gz exp_gzp exp_zst imp_sq exp_pg exp_pgp imp_pg status dl qiscus ocl
# spark; exp_gzp / exp_pgp are the pigz baselines of exp_gz / exp_pg);
# the report leaves out the others.
want() {
    [ -z "${BENCH_ONLY:-}" ] && return 0
    for w in $BENCH_ONLY; do [ "$w" = "$1" ] && return 0; done
    return 1
}

one_round() {
    all=$(total_rows "$ROWS")
    say "round $1/$REPEAT"
    if want exp_gz || want exp_gzp; then KEY=exp_gz.m mod_export "$P_SQ" tar.gz; fi
    if want exp_gz || want exp_zst; then KEY=exp_gz.b base_export_sqlite "$ROWS" "$GZIP"; fi
    if want exp_gzp; then KEY=exp_gzp.b base_export_sqlite "$ROWS" "$PIGZ"; fi
    if want exp_zst; then KEY=exp_zst.m mod_export "$P_SQ" tar.zst; fi
    if want imp_sq; then
        KEY=imp_sq.m mod_import "$P_ISQ" "$OUT/arch$ROWS.tar.gz" "$all"
        KEY=imp_sq.b base_import_sqlite "$ROWS"
    fi
    if want exp_pg || want exp_pgp; then KEY=exp_pg.m mod_export "$P_PG" tar.gz; fi
    if want exp_pg; then KEY=exp_pg.b base_export_pg "$ROWS" "$GZIP"; fi
    if want exp_pgp; then KEY=exp_pgp.b base_export_pg "$ROWS" "$PIGZ"; fi
    if want imp_pg; then
        KEY=imp_pg.m mod_import "$P_IPG" "$OUT/arch$ROWS.tar.gz" "$all"
        KEY=imp_pg.b base_import_pg "$ROWS"
    fi
    if want status; then
        KEY=status.m status_run "$STATUS_URL"
        KEY=status.b status_run "http://127.0.0.1:$P_SQ/static-1k.txt"
    fi
    if want dl; then
        KEY=dl.m download_run "$DL_URL"
        KEY=dl.b download_run "http://127.0.0.1:$P_SQ/download.ndjson"
    fi
    for a in $DIALECTS; do
        if want "$a"; then dial_pair "$a"; fi
    done
}

grow_round() {
    all=$(total_rows "$GROWS")
    if want exp_gz; then KEY=g_exp_gz.m mod_export "$P_SQG" tar.gz; fi
    if want exp_zst; then KEY=g_exp_zst.m mod_export "$P_SQG" tar.zst; fi
    if want imp_sq; then KEY=g_imp_sq.m mod_import "$P_ISQ" "$OUT/arch$GROWS.tar.gz" "$all"; fi
    if want exp_pg; then KEY=g_exp_pg.m mod_export "$P_PGG" tar.gz; fi
    if want imp_pg; then KEY=g_imp_pg.m mod_import "$P_IPG" "$OUT/arch$GROWS.tar.gz" "$all"; fi
}

T_START=$(bench_now)
setup
say "setup took $(bench_elapsed "$T_START") s; first exports"
first_exports
r=1
while [ $r -le "$REPEAT" ]; do
    one_round $r
    r=$((r + 1))
done
say "growth set: $GROWS rows"
r=1
while [ $r -le "$GREPEAT" ]; do
    grow_round
    r=$((r + 1))
done
# the rows that share the module's runs or a baseline's
share() { [ ! -f "$TMP/res/$1" ] || cp "$TMP/res/$1" "$TMP/res/$2"; }
share exp_gz.b exp_zst.b
share exp_gz.m exp_gzp.m
share exp_pg.m exp_pgp.m
say "done in $(bench_elapsed "$T_START") s"
report
