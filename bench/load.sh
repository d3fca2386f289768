#!/bin/sh
# load.sh -- status and list polling under load while jobs run, then a
# check of the job store for lost updates.
#
# It starts its own httpd (event MPM, Basic authentication, users alice,
# bob, carol, dave) with mod_xport from build/ on a free loopback port,
# run directory bench/out/load. Two databases: load.db (the data source:
# a slow view `slow_events` over `events`, and `items`) and imp.db (an
# empty `items`, the data source of the name-based virtual host
# imp.load, the import target). Then:
#   1. carol exports `items`, downloads the archive, deletes the job;
#   2. alice and bob each start an export of `slow`, carol uploads the
#      archive of step 1 as an import into imp.load;
#   3. for XPORT_LOAD_SECONDS (60) three wrk processes keep
#      XPORT_LOAD_CLIENTS (200) connections busy, one third each on
#        status   GET /exports/<id>     (alice and bob, their own job)
#        list     GET /exports?per_page=20 (alice, bob, carol, dave)
#        import   GET /imports/<id>     (carol)
#      counting socket errors, timeouts (XPORT_LOAD_TIMEOUT, 5s), non-2xx
#      and 5xx, with requests/s and latency p50/p90/p99 per route;
#   4. waits for the three jobs to finish and reads their rows straight
#      from the job store: each must be completed, attempts 1, progress
#      done == total == the sum of its counts, updatedAt >= createdAt,
#      started/finished inside that, and the counts must match the data
#      (the `events` rows; for the import `created` and imp.db's rows).
# It exits non-zero on any error, non-2xx, 5xx or lost update.
#
# Variables: XPORT_LOAD_BACKEND=sqlite|pgsql (job store; pgsql starts a
# throwaway PostgreSQL cluster with t/pg.sh, as www-data when root),
# XPORT_LOAD_CLIENTS, XPORT_LOAD_SECONDS, XPORT_LOAD_TIMEOUT,
# XPORT_LOAD_SLOW_ROWS (rows of `slow`, 10000), XPORT_LOAD_ITEMS
# (rows of `items`, 300000), XPORT_LOAD_PORT, HTTPD.
# shellcheck disable=SC2016,SC2317 # perl single-quoted on purpose; cleanup runs from traps
set -eu

ME=load.sh
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=$TOP/bench/out
RUN=$OUT/load
BACKEND=${XPORT_LOAD_BACKEND:-sqlite}
CLIENTS=${XPORT_LOAD_CLIENTS:-200}
SECONDS_=${XPORT_LOAD_SECONDS:-60}
TIMEOUT=${XPORT_LOAD_TIMEOUT:-5s}
SLOW_ROWS=${XPORT_LOAD_SLOW_ROWS:-10000}
ITEMS=${XPORT_LOAD_ITEMS:-300000}
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"

[ -f "$TOP/build/mod_xport.so" ] || die "build/mod_xport.so is missing; run make first"
[ -x "$HTTPD" ] || die "$HTTPD not found; install apache2 (conf/deps.sh)"
bench_need sqlite3 curl perl wrk htpasswd
case $BACKEND in sqlite | pgsql) ;; *) die "XPORT_LOAD_BACKEND must be sqlite or pgsql" ;; esac
[ "$CLIENTS" -ge 3 ] || die "XPORT_LOAD_CLIENTS must be at least 3"

PG_PORT=
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin} # as in t/pg.sh
cleanup() {
    trap - INT TERM EXIT
    for p in $WRK_PIDS; do kill "$p" 2>/dev/null || true; done
    bench_httpd_stop
    if [ -n "$PG_PORT" ]; then
        as_run_user "$PG_BIN/pg_ctl" -D "$RUN/pg/data" -m fast -w stop \
            >/dev/null 2>&1 || true
    fi
}
WRK_PIDS=
trap 'say interrupted; cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'rc=$?; cleanup; [ $rc = 0 ] || say "failed; httpd log: $RUN/error.log"; exit $rc' EXIT

rm -rf "$RUN"
mkdir -p "$RUN/storage"

# ------------------------------------------------------------------
# Data
# ------------------------------------------------------------------
items_sql() { # rows: the items table, filled with N rows (0: empty)
    cat <<SQL
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER,
                    note TEXT, updated_at TEXT NOT NULL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $1)
INSERT INTO items SELECT i, 'item ' || i, CASE WHEN i % 7 = 0 THEN NULL ELSE i % 1000 END,
    CASE WHEN i % 3 = 0 THEN NULL ELSE 'note ' || (i * 31 % 997) END,
    strftime('%Y-%m-%dT%H:%M:%SZ', 1700000000 + i, 'unixepoch')
FROM c WHERE $1 > 0;
SQL
}
{
    echo "PRAGMA journal_mode=WAL;"
    items_sql "$ITEMS"
    bench_slow_sql "$SLOW_ROWS"
} | sqlite3 -bail "$RUN/load.db" >/dev/null
{ echo "PRAGMA journal_mode=WAL;"; items_sql 0; } | sqlite3 -bail "$RUN/imp.db" >/dev/null

# ------------------------------------------------------------------
# Job store
# ------------------------------------------------------------------
STORE_LINE="# job store: the default, sqlite3 $RUN/storage/jobs.db"
store_sql() { # SQL -> rows, | separated
    sqlite3 -bail "$RUN/storage/jobs.db" "$1"
}
if [ "$BACKEND" = pgsql ]; then
    mkdir -p "$RUN/pg"
    [ "$(id -u)" = 0 ] && chown "$RUN_USER" "$RUN" "$RUN/pg"
    PG_PORT=$(as_run_user sh -c '. "$1/t/pg.sh"; pg_start "$2" >&2 && echo "$PG_PORT"' \
        sh "$TOP" "$RUN/pg") || die "PostgreSQL did not start"
    # one word per argument: $PSQL is split on purpose below
    PSQL="$PG_BIN/psql -X -q -v ON_ERROR_STOP=1 -h $RUN/pg -p $PG_PORT"
    # shellcheck disable=SC2086
    as_run_user $PSQL -d postgres -c "CREATE DATABASE xportjobs" ||
        die "cannot create the job store database"
    PG_USER=$(as_run_user id -un)
    STORE_LINE="XportJobStore pgsql \"host=$RUN/pg port=$PG_PORT user=$PG_USER dbname=xportjobs\""
    # shellcheck disable=SC2086
    store_sql() { as_run_user $PSQL -At -F '|' -d xportjobs -c "$1"; }
fi

# ------------------------------------------------------------------
# httpd
# ------------------------------------------------------------------
PORT=${XPORT_LOAD_PORT:-$(bench_free_port)}
B="http://127.0.0.1:$PORT/xport"
TMP=$RUN/tmp
bench_users "$RUN/htpasswd" load-secret alice bob carol dave

CONF=$RUN/httpd.conf
{
    echo "# generated by bench/load.sh"
    bench_conf_head "$PORT" 4 100 # two threads for every client
} >"$CONF"
cat >>"$CONF" <<CONF

XportStorage        "$RUN/storage"
$STORE_LINE
XportInstanceName   load
XportMaxArchiveSize 1G
XportMaxUploadSize  1G
XportSupervisor     dave
XportWorkers        3

<VirtualHost 127.0.0.1:$PORT>
    ServerName 127.0.0.1
    XportDataSource sqlite3 "$RUN/load.db"
    XportSection slow  table=slow_events key=id involves=grp types=n:int,burn:int
    XportSection items table=items key=id search=name types=qty:int updated=updated_at
</VirtualHost>
<VirtualHost 127.0.0.1:$PORT>
    ServerName imp.load
    XportDataSource sqlite3 "$RUN/imp.db"
    XportSection items table=items key=id search=name types=qty:int updated=updated_at
</VirtualHost>

<Location /xport>
    SetHandler xport
    AuthType Basic
    AuthName "xport load"
    AuthUserFile "$RUN/htpasswd"
    Require valid-user
</Location>
CONF
[ "$(id -u)" = 0 ] && chown -R "$RUN_USER:$RUN_USER" "$RUN"

bench_httpd_up "$CONF" "$B/exports"

# ------------------------------------------------------------------
# Jobs
# ------------------------------------------------------------------
mkdir -p "$TMP"
say "preparing the import archive ($ITEMS rows of items)"
pre=$(bench_start_export carol items)
bench_wait_job carol exports "$pre" 60 || die "the export of items did not finish in 60 s"
[ "$(bench_json_field "$TMP/rec.json" '$j->{status}')" = completed ] ||
    die "the export of items ended: $(cat "$TMP/rec.json")"
code=$(curl -s -o "$TMP/items.tar.gz" -w '%{http_code}' -H "Authorization: $(bench_auth carol)" \
    "$B/exports/$pre/download")
[ "$code" = 200 ] || die "download of $pre answered $code"
[ "$(bench_api carol DELETE "/exports/$pre")" = 204 ] || die "DELETE /exports/$pre failed"

E1=$(bench_start_export alice slow)
E2=$(bench_start_export bob slow)
code=$(bench_api carol POST /imports -H 'Host: imp.load' -H 'Content-Type: application/gzip' \
    --data-binary "@$TMP/items.tar.gz")
[ "$code" = 202 ] || die "POST /imports answered $code: $(cat "$TMP/rec.json")"
I1=$(bench_json_field "$TMP/rec.json" '$j->{id}')
say "jobs: export $E1 (alice), export $E2 (bob), import $I1 (carol)"

# ------------------------------------------------------------------
# Load
# ------------------------------------------------------------------
c_status=$((CLIENTS / 3))
c_list=$((CLIENTS / 3))
c_import=$((CLIENTS - c_status - c_list))
BENCH_WRK_TIMEOUT=$TIMEOUT
run_wrk() { # name connections pairs...
    _name=$1 _c=$2
    shift 2
    bench_wrk "$_name" "$_c" "$SECONDS_" "$TMP/wrk-$_name.out" "$@"
}
say "load: $CLIENTS clients for $SECONDS_ s (status $c_status, list $c_list, import $c_import)"
L0=$(date +%s%3N)
run_wrk status "$c_status" "/xport/exports/$E1" "$(bench_auth alice)" \
    "/xport/exports/$E2" "$(bench_auth bob)" &
WRK_PIDS="$!"
run_wrk list "$c_list" "/xport/exports?per_page=20" "$(bench_auth alice)" \
    "/xport/exports?per_page=20" "$(bench_auth bob)" "/xport/exports?per_page=20" "$(bench_auth carol)" \
    "/xport/exports?per_page=20" "$(bench_auth dave)" &
WRK_PIDS="$WRK_PIDS $!"
run_wrk import "$c_import" "/xport/imports/$I1" "$(bench_auth carol)" &
WRK_PIDS="$WRK_PIDS $!"
rc=0
for p in $WRK_PIDS; do wait "$p" || rc=1; done
WRK_PIDS=
L1=$(date +%s%3N)
[ $rc = 0 ] || { cat "$TMP"/wrk-*.out >&2; die "wrk failed"; }

# ------------------------------------------------------------------
# Jobs finished? Then the job store, read directly.
# ------------------------------------------------------------------
for j in "alice exports $E1" "bob exports $E2" "carol imports $I1"; do
    # shellcheck disable=SC2086 # three words on purpose
    set -- $j
    bench_wait_job "$1" "$2" "$3" 60 || die "$2/$3 still not finished 60 s after the load"
done
store_sql "SELECT id, kind, status, attempts, progress_done, progress_total,
                  created_at, updated_at, started_at, finished_at, heartbeat_at,
                  counts, changes, file_size, path, errors_total
           FROM xport_jobs ORDER BY created_at" >"$TMP/jobs.txt" ||
    die "cannot read the job store"
N_EVENTS=$(sqlite3 "$RUN/load.db" "SELECT count(*) FROM events")
N_IMPORTED=$(sqlite3 "$RUN/imp.db" "SELECT count(*) FROM items")

export L0 L1 N_EVENTS N_IMPORTED ITEMS E1 E2 I1
perl -MJSON::PP -e '
    my ($bad, $n, @ran) = (0, 0);
    my %want = ($ENV{E1} => "export", $ENV{E2} => "export", $ENV{I1} => "import");
    sub fail { print STDERR "load.sh: lost update? job $_[0]: $_[1]\n"; $bad++ }
    while (my $l = <STDIN>) {
        chomp $l;
        my ($id, $kind, $st, $att, $done, $total, $cr, $up, $sa, $fa, $hb, $counts,
            $changes, $size, $path, $errs) = split /\|/, $l, -1;
        $n++;
        fail($id, "not one of the three jobs started") unless $want{$id};
        delete $want{$id};
        fail($id, "status $st, not completed") unless $st eq "completed";
        fail($id, "attempts $att, not 1") unless $att == 1;
        my $c = eval { decode_json($counts) } || {};
        my $sum = 0; $sum += $_ for values %$c;
        fail($id, "progress $done/$total, counts sum $sum")
            unless $done == $total && $total == $sum && $sum > 0;
        fail($id, "updatedAt $up before createdAt $cr") unless $up >= $cr;
        fail($id, "started $sa / finished $fa outside $cr..$up")
            unless $sa ne "" && $fa ne "" && $cr <= $sa && $sa <= $fa && $fa <= $up;
        fail($id, "errors_total $errs") if $errs;
        if ($kind eq "export") {
            fail($id, "counts $counts, but events has $ENV{N_EVENTS} rows")
                unless ($c->{slow} // -1) == $ENV{N_EVENTS};
            fail($id, "no archive (file_size $size)") unless $size > 0;
        } else {
            my $ch = eval { decode_json($changes) } || {};
            my $cr2 = $ch->{items}{created} // -1;
            fail($id, "counts $counts, created $cr2, imp.db has $ENV{N_IMPORTED}, archive $ENV{ITEMS}")
                unless ($c->{items} // -1) == $ENV{ITEMS} && $cr2 == $ENV{ITEMS}
                    && $ENV{N_IMPORTED} == $ENV{ITEMS};
        }
        # how much of the load window the job was running
        my $o = (($fa < $ENV{L1} ? $fa : $ENV{L1}) - ($sa > $ENV{L0} ? $sa : $ENV{L0})) / 1000;
        push @ran, sprintf("%s %.1f s", $kind, $o < 0 ? 0 : $o);
    }
    fail($_, "missing from the job store") for keys %want;
    printf "jobs running during the load: %s\n", join(", ", @ran);
    printf "job store: %d jobs, %s\n", $n, $bad ? "$bad inconsistencies" : "no lost update";
    exit($bad ? 1 : 0);
' <"$TMP/jobs.txt" >"$TMP/store.out" || STORE_BAD=1

# ------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------
echo "mod_xport load  $(date -u +%Y-%m-%dT%H:%MZ)  job store: $BACKEND"
echo "machine: $(nproc) CPUs, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg); httpd event MPM, wrk timeout $TIMEOUT"
cat "$TMP"/wrk-status.out "$TMP"/wrk-list.out "$TMP"/wrk-import.out | grep '^route ' >"$TMP/routes" ||
    { cat "$TMP"/wrk-*.out >&2; die "wrk printed no figures"; }
STORE_LINE_OUT=$(tail -n 1 "$TMP/store.out")
awk -v clients="$CLIENTS" -v secs="$SECONDS_" -v store="$STORE_LINE_OUT" '
    { for (i = 1; i < NF; i += 2) v[$i] = $(i + 1)
      r = v["route"]; req += v["requests"]; err += v["errors"] + v["timeouts"]
      n2 += v["non2xx"]; f5 += v["5xx"]
      if (v["p99"] > p99) p99 = v["p99"]
      printf "%-7s %9d requests %8.0f req/s  p50 %7.1f ms  p90 %7.1f ms  p99 %7.1f ms  max %7.1f ms  errors %d timeouts %d non-2xx %d 5xx %d\n",
          r, v["requests"], v["requests"] / (v["duration_us"] / 1e6), v["p50"] / 1000,
          v["p90"] / 1000, v["p99"] / 1000, v["max"] / 1000, v["errors"], v["timeouts"],
          v["non2xx"], v["5xx"] }
    END {
      printf "load: %d clients, %d s: %d requests, %d errors, %d non-2xx, %d 5xx, p99 %.1f ms; %s\n",
          clients, secs, req, err, n2, f5, p99 / 1000, store
      exit (err + n2 + f5) ? 1 : 0 }' "$TMP/routes" || LOAD_BAD=1
head -n 1 "$TMP/store.out"
errs=$(grep -c '\[[a-z]*:\(error\|crit\|alert\|emerg\)\]' "$RUN/error.log" || true)
echo "error log: $errs lines at level error or worse ($RUN/error.log)"
[ -z "${STORE_BAD:-}" ] || { cat "$TMP/store.out" >&2; exit 1; }
[ -z "${LOAD_BAD:-}" ] || exit 1
exit 0
