#!/bin/sh
# export-memory.sh -- speed and memory of exports on a large table, next
# to a baseline (sqlite3 -json piped into gzip / zstd).
#
# The claim it checks: reads are streamed (one statement per section,
# a row at a time), so the
# worker process's memory stays flat whether a table has 100,000 or
# 1,000,000 rows. It builds bench/out/bench.db (tables "small" and
# "large", mixed text / integer / real columns with NULLs), starts its
# own httpd with mod_xport from build/ on a free loopback port (run
# directory bench/out/run), exports each table as tar.gz and tar.zst
# through POST /exports, and samples the worker's memory meanwhile.
#
# Memory: VmRSS of the process named xport-worker (child of the httpd
# parent), read from /proc/<pid>/status every 100 ms. VmHWM is a
# lifetime high-water mark, so before each export it is reset to the
# current RSS by writing 5 to /proc/<pid>/clear_refs (Linux >= 4.0):
# the worker keeps running (no restart, no re-queue, no log noise) and
# the peak is exact, spikes between two samples included. Where
# clear_refs cannot be written the peak is the largest 100 ms sample.
# "idle" is VmRSS just before the POST, "+peak" is peak minus idle.
#
# A third table, "huge" (BENCH_MEM_ROWS_BIG rows, default 10,000,000),
# kept in bench/out/bench-big.db and built once, is exported in each
# format without a baseline; the line "worker memory 1M -> 10M rows"
# compares the worker's peak on it with the peak on "large" (target:
# under 32 MB and flat). zip's baseline is the gzip pipeline. Then the
# tar.gz archives of "large" and "huge" are imported into empty tables
# of a third data source (bench/out/bench-imp.db), with the same memory
# line for imports.
#
# Variables: BENCH_SMALL / BENCH_LARGE (row counts, default 100000 /
# 1000000), BENCH_MEM_ROWS_BIG (10000000; 0 leaves it out), BENCH_FORMATS
# (default "tar.gz tar.zst zip"), BENCH_PORT (default:
# a free port), HTTPD (default /usr/sbin/apache2), BENCH_TIME (GNU time,
# default /usr/bin/time; empty: sample sqlite3's RSS from /proc instead).
# shellcheck disable=SC2016 # the perl expressions are single-quoted on purpose
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=$TOP/bench/out
RUN=$OUT/run
DB=$OUT/bench.db
BIG_DB=$OUT/bench-big.db
SMALL=${BENCH_SMALL:-100000}
LARGE=${BENCH_LARGE:-1000000}
BIG=${BENCH_MEM_ROWS_BIG:-10000000}
FORMATS=${BENCH_FORMATS:-tar.gz tar.zst zip}
IMP_DB=$OUT/bench-imp.db
HTTPD=${HTTPD:-/usr/sbin/apache2}
RUN_USER=www-data
SAMPLE_EVERY=0.1

. "$TOP/bench/lib.sh"

die() { echo "export-memory.sh: $*" >&2; exit 1; }
say() { echo "export-memory.sh: $*" >&2; }

[ -f "$TOP/build/mod_xport.so" ] || die "build/mod_xport.so is missing; run make first"
[ -x "$HTTPD" ] || die "$HTTPD not found; install apache2 (conf/deps.sh)"
for c in sqlite3 curl perl gzip zstd tar unzip; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found; install it (conf/deps.sh)"
done
perl -MJSON::PP -e1 2>/dev/null || die "perl's JSON::PP is missing; apt-get install libjson-pp-perl"
for fmt in $FORMATS; do
    case $fmt in
        tar.gz | tar.zst | zip) ;;
        *) die "BENCH_FORMATS: $fmt is not tar.gz, tar.zst or zip" ;;
    esac
done
MODULES=$(apxs -q LIBEXECDIR 2>/dev/null || echo /usr/lib/apache2/modules)
mkdir -p "$OUT"

# ------------------------------------------------------------------
# Data: one table per size, regenerated only when the sizes change.
# ------------------------------------------------------------------
gen_schema() { # name
    cat <<SQL
CREATE TABLE $1 (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, score REAL,
    qty INTEGER, note TEXT, created_at TEXT NOT NULL);
SQL
}
gen_table() { # name rows
    gen_schema "$1"
    cat <<SQL
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $2)
INSERT INTO $1
SELECT i,
       'user ' || i || CASE i % 50 WHEN 0 THEN ' "quoted" café' ELSE '' END,
       CASE WHEN i % 7 = 0 THEN NULL ELSE 'u' || i || '@example.org' END,
       CASE WHEN i % 5 = 0 THEN NULL ELSE (i * 37 % 100000) / 100.0 END,
       CASE WHEN i % 11 = 0 THEN NULL ELSE i * 13 % 1000 END,
       CASE WHEN i % 3 = 0 THEN NULL
            ELSE substr('lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do',
                        1 + i % 23, 12 + i % 40) END,
       strftime('%Y-%m-%dT%H:%M:%SZ', 1700000000 + i * 7, 'unixepoch')
FROM c;
SQL
}

STAMP="small=$SMALL large=$LARGE v1"
if [ ! -f "$DB" ] || [ "$(cat "$DB.stamp" 2>/dev/null)" != "$STAMP" ]; then
    say "creating $DB ($SMALL and $LARGE rows)"
    rm -f "$DB" "$DB.stamp"
    t0=$(date +%s.%N)
    { echo "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
      gen_table small "$SMALL"; gen_table large "$LARGE"; } | sqlite3 -bail "$DB" >/dev/null
    echo "$STAMP" >"$DB.stamp"
    say "created in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
fi
# the big table has a file of its own: built once, whatever the other sizes
BIG_STAMP="huge=$BIG v1"
if [ "$BIG" -gt 0 ] && [ "$(cat "$BIG_DB.stamp" 2>/dev/null)" != "$BIG_STAMP" ]; then
    say "creating $BIG_DB ($BIG rows; a few minutes)"
    rm -f "$BIG_DB" "$BIG_DB.stamp"
    t0=$(bench_now)
    { echo "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"; gen_table huge "$BIG"; } |
        sqlite3 -bail "$BIG_DB" >/dev/null
    echo "$BIG_STAMP" >"$BIG_DB.stamp"
    say "created in $(bench_elapsed "$t0") s"
fi

# the import target: empty, rebuilt for each import
rm -f "$IMP_DB"
{ gen_schema large; gen_schema huge; } | sqlite3 -bail "$IMP_DB"

# ------------------------------------------------------------------
# httpd: own configuration, own run directory, own process group.
# ------------------------------------------------------------------
PORT=${BENCH_PORT:-$(bench_free_port)}

rm -rf "$RUN"
mkdir -p "$RUN/storage"
USER_LINES="# not root: httpd and the worker run as $(id -un)"
if [ "$(id -u)" = 0 ]; then
    runuser -u "$RUN_USER" -- test -r "$DB" -a -x "$RUN" ||
        die "user $RUN_USER cannot reach $OUT (a parent directory is private);" \
            "put the project somewhere readable, e.g. under /srv, or run as a normal user"
    chown -R "$RUN_USER:$RUN_USER" "$RUN"
    chown "$RUN_USER:$RUN_USER" "$DB" "$IMP_DB" "$OUT"
    [ "$BIG" = 0 ] || chown "$RUN_USER:$RUN_USER" "$BIG_DB"
    USER_LINES="User $RUN_USER
Group $RUN_USER"
fi

# the big table on a second port (a data source of its own)
BPORT=
big_vhost() {
    [ "$BIG" -gt 0 ] || return 0
    cat <<CONF
Listen 127.0.0.1:$BPORT
<VirtualHost 127.0.0.1:$BPORT>
    XportDataSource  sqlite3 "$BIG_DB"
    XportSection huge table=huge key=id search=name types=score:real,qty:int
</VirtualHost>
CONF
}
[ "$BIG" = 0 ] || BPORT=$(bench_free_port)

# the import target's tables, emptied before each import, a data source
# of its own on a third port
IPORT=$(bench_free_port)
empty_imp() { # table
    sqlite3 -bail "$IMP_DB" "DROP TABLE IF EXISTS $1; VACUUM; $(gen_schema "$1")"
}
imp_vhost() {
    cat <<CONF
Listen 127.0.0.1:$IPORT
<VirtualHost 127.0.0.1:$IPORT>
    XportDataSource  sqlite3 "$IMP_DB"
    XportSection large table=large key=id search=name types=score:real,qty:int
    XportSection huge table=huge key=id search=name types=score:real,qty:int
</VirtualHost>
CONF
}

CONF=$RUN/httpd.conf
cat >"$CONF" <<CONF
# generated by bench/export-memory.sh
ServerRoot        "$RUN"
ServerName        127.0.0.1
Listen            127.0.0.1:$PORT
PidFile           "$RUN/httpd.pid"
DefaultRuntimeDir "$RUN"
ErrorLog          "$RUN/error.log"
LogLevel          warn
LoadModule mpm_event_module  "$MODULES/mod_mpm_event.so"
LoadModule authz_core_module "$MODULES/mod_authz_core.so"
<IfModule !mod_unixd.c>
    LoadModule unixd_module  "$MODULES/mod_unixd.so"
</IfModule>
LoadModule xport_module      "$TOP/build/mod_xport.so"
$USER_LINES
XportStorage         "$RUN/storage"
XportDataSource      sqlite3 "$DB"
XportInstanceName    bench
XportMaxArchiveSize  4G
XportMaxUploadSize   4G
XportMaxUncompressedSize 16G
XportSection small   table=small key=id search=name types=score:real,qty:int
XportSection large   table=large key=id search=name types=score:real,qty:int
<Location /xport>
    SetHandler xport
</Location>
$(big_vhost)
$(imp_vhost)
CONF

"$HTTPD" -t -f "$CONF" >/dev/null 2>"$RUN/configtest.log" || {
    cat "$RUN/configtest.log" >&2
    die "the generated configuration $CONF does not load"
}

SPID=
TMP=$OUT/tmp # per-run scratch: records, archives, samples
SAMPLING=$TMP/sampling
rm -rf "$TMP" && mkdir -p "$TMP"
stop() {
    trap - INT TERM EXIT
    rm -f "$SAMPLING"
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
    rm -rf "$TMP"
    bench_httpd_stop
}
trap 'say interrupted; stop; exit 130' INT
trap 'stop; exit 143' TERM
on_exit() {
    stop
    [ "$1" = 0 ] || say "failed; httpd log: $RUN/error.log"
}
trap 'on_exit $?' EXIT

bench_httpd_start "$CONF"
B_MAIN="http://127.0.0.1:$PORT/xport"
bench_wait_up "$B_MAIN/exports" || die "see $RUN/error.log"
WPID=$(bench_worker_pid)

# ------------------------------------------------------------------
# Measurements
# ------------------------------------------------------------------
json_field() { bench_json_field "$@"; }
elapsed() { bench_elapsed "$1"; }
status_kb() { bench_status_kb "$@"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# samples field $3 (default VmRSS) of pid $1 into file $2 while $SAMPLING
# exists; the shell's read keeps a sample to one fork-free pass
sampler() {
    while [ -f "$SAMPLING" ]; do
        while read -r k v _; do
            [ "$k" = "${3:-VmRSS}:" ] && { echo "$v"; break; }
        done <"/proc/$1/status" || break
        sleep "$SAMPLE_EVERY"
    done >"$2"
}

# the worker's memory around one job: mem_begin before the POST,
# mem_end once the record says finished -> M_IDLE, M_PEAK (kB)
mem_begin() {
    WPID=$(bench_worker_pid) || die "no xport-worker process under httpd $BENCH_HPID"
    sleep 0.5 # let the worker finish the previous job's cleanup
    M_IDLE=$(status_kb "$WPID" VmRSS)
    if bench_hwm_reset "$WPID"; then
        M_METHOD="VmHWM after clear_refs"
    else
        M_METHOD="max of 100 ms VmRSS samples"
    fi
    : >"$SAMPLING"
    sampler "$WPID" "$TMP/samples" &
    SPID=$!
}
mem_end() {
    rm -f "$SAMPLING"
    wait "$SPID" 2>/dev/null || true
    SPID=
    hwm=$(status_kb "$WPID" VmHWM)
    smax=$(sort -n "$TMP/samples" | tail -n 1)
    M_PEAK=${smax:-$M_IDLE}
    if [ "$M_METHOD" = "VmHWM after clear_refs" ] && [ "$hwm" -gt "$M_PEAK" ]; then
        M_PEAK=$hwm
    fi
    rm -f "$TMP/samples"
    [ "$(bench_worker_pid)" = "$WPID" ] || die "the worker restarted during the job (crash?); see $RUN/error.log"
}

# poll $1 (a job's URL) until finished; die unless it completed ($2 says what)
wait_done() {
    while :; do
        curl -sf -o "$TMP/rec.json" "$1" || die "GET $1 failed"
        grep -q '"finished": *true' "$TMP/rec.json" && break
        sleep "$SAMPLE_EVERY"
    done
    M_WALL=$(elapsed "$t0")
    [ "$(json_field "$TMP/rec.json" '$j->{status}')" = completed ] ||
        die "$2 ended $(json_field "$TMP/rec.json" \
            '$j->{status} . ": " . join("; ", @{$j->{error_messages}})')"
    M_JOB=$(json_field "$TMP/rec.json" '$j->{duration}')
}

# one export: section format [base URL [keep-as]] -> sets M_* variables;
# keep-as: where the archive stays (for an import)
measure_export() {
    sec=$1 fmt=$2 B=${3:-$B_MAIN}
    mem_begin
    t0=$(date +%s.%N)
    curl -sf -o "$TMP/rec.json" -X POST "$B/exports" -H 'Content-Type: application/json' \
        -d "{\"filter\": \"$sec\", \"format\": \"$fmt\"}" ||
        die "POST /exports for $sec as $fmt failed"
    id=$(json_field "$TMP/rec.json" '$j->{id}')
    wait_done "$B/exports/$id" "export of $sec as $fmt"
    mem_end
    curl -sf -o "$TMP/archive" "$B/exports/$id/download" || die "download of $id failed"
    case $fmt in
        tar.gz) tar -xzOf "$TMP/archive" manifest.json >"$TMP/manifest.json" ;;
        tar.zst) zstd -dcq "$TMP/archive" | tar -xOf - manifest.json >"$TMP/manifest.json" ;;
        zip) unzip -p "$TMP/archive" manifest.json >"$TMP/manifest.json" ;;
    esac
    M_ROWS=$(json_field "$TMP/manifest.json" '$j->{sections}[0]{count}')
    M_BYTES=$(json_field "$TMP/manifest.json" '$j->{sections}[0]{bytes}')
    curl -sf -o /dev/null -X DELETE "$B/exports/$id" || say "could not delete export $id"
    if [ -n "${4:-}" ]; then mv "$TMP/archive" "$4"; else rm -f "$TMP/archive"; fi
}

# one import of archive $2 into the empty table $1 -> M_* variables
measure_import() {
    empty_imp "$1"
    [ "$(id -u)" != 0 ] || chown "$RUN_USER:$RUN_USER" "$IMP_DB"
    B="http://127.0.0.1:$IPORT/xport"
    mem_begin
    t0=$(date +%s.%N)
    curl -sf -o "$TMP/rec.json" -X POST "$B/imports" -H 'Content-Type: application/gzip' \
        --data-binary "@$2" || die "POST /imports of $2 failed"
    id=$(json_field "$TMP/rec.json" '$j->{id}')
    wait_done "$B/imports/$id" "import of $2"
    mem_end
    M_ROWS=$(sqlite3 "$IMP_DB" "select count(*) from $1")
    M_BYTES=$(stat -c %s "$2")
    curl -sf -o /dev/null -X DELETE "$B/imports/$id" || say "could not delete import $id"
}

# GNU time (Debian package "time") measures sqlite3's peak exactly;
# BENCH_TIME= (empty) forces the /proc sampling used without it
GNU_TIME=${BENCH_TIME-/usr/bin/time}
if [ -n "$GNU_TIME" ] && ! "$GNU_TIME" -f %M -o /dev/null true 2>/dev/null; then GNU_TIME=; fi

# baseline: sqlite3 -json TABLE | compressor; sets B_WALL, B_PEAK (kB)
measure_baseline() {
    tbl=$1 comp=$2
    q="select * from $tbl"
    t0=$(date +%s.%N)
    if [ -n "$GNU_TIME" ]; then
        { $GNU_TIME -f %M -o "$TMP/time.out" sqlite3 -json "$DB" "$q"; } | $comp >/dev/null
        B_WALL=$(elapsed "$t0")
        B_PEAK=$(tail -n 1 "$TMP/time.out")
    else
        # no GNU time: sample the sqlite3 process like the worker
        rm -f "$TMP/fifo" && mkfifo "$TMP/fifo"
        $comp <"$TMP/fifo" >/dev/null &
        cpid=$!
        sqlite3 -json "$DB" "$q" >"$TMP/fifo" &
        qpid=$!
        : >"$SAMPLING"
        sampler "$qpid" "$TMP/samples" VmHWM & # sqlite3's lifetime is the run
        SPID=$!
        wait "$qpid"
        wait "$cpid"
        B_WALL=$(elapsed "$t0")
        rm -f "$SAMPLING" "$TMP/fifo"
        wait "$SPID" 2>/dev/null || true
        SPID=
        B_PEAK=$(sort -n "$TMP/samples" | tail -n 1)
        rm -f "$TMP/samples"
    fi
}

# a line without baseline from the M_* variables: table label
job_line() {
    awk -v t="$1" -v f="$2" -v r="$M_ROWS" -v w="$M_WALL" -v j="$M_JOB" -v by="$M_BYTES" \
        -v i="$M_IDLE" -v p="$M_PEAK" 'BEGIN {
        printf "%-7s %-8s | %8d %7.2f %7.2f %9.0f %7.1f %8.1f %8.1f %7.1f | %7s %9s %7s %8s\n",
            t, f, r, w, j, r / j, by / 1048576 / j, i / 1024, p / 1024, (p - i) / 1024,
            "-", "-", "-", "-" }'
}

# the worker's peak (VmHWM) at LARGE and BIG rows, target < 32 MB and
# flat (at most 8 MB more): label peak-large peak-big
mem_line() {
    awk -v f="$1" -v a="$2" -v b="$3" -v rl="$(bench_count "$LARGE")" \
        -v rb="$(bench_count "$BIG")" 'BEGIN {
        flat = (b - a <= 8192); met = flat && a < 32768 && b < 32768
        printf "worker memory %s %s -> %s rows: %.1f MB -> %.1f MB (target < 32 MB, flat): %s%s\n",
            f, rl, rb, a / 1024, b / 1024, met ? "met" : "NOT MET", flat ? "" : " (grows)" }'
}

# the big table in format $1 (no baseline), then the memory line against
# "large"; a tar.gz is kept for the import
big_export() {
    keep=
    [ "$1" != tar.gz ] || keep=$TMP/huge.tar.gz
    measure_export huge "$1" "http://127.0.0.1:$BPORT/xport" "$keep"
    [ "$M_ROWS" = "$BIG" ] || die "export of huge as $1 has $M_ROWS rows, not $BIG"
    job_line huge "$1"
    mem_line "$1" "$P_large" "$M_PEAK"
}

# the tar.gz archives of "large" and "huge" imported into empty tables
imports() {
    [ -f "$TMP/large.tar.gz" ] || return 0
    measure_import large "$TMP/large.tar.gz"
    [ "$M_ROWS" = "$LARGE" ] || die "the import of large left $M_ROWS rows, not $LARGE"
    job_line large import
    p_large=$M_PEAK
    [ -f "$TMP/huge.tar.gz" ] || return 0
    measure_import huge "$TMP/huge.tar.gz"
    [ "$M_ROWS" = "$BIG" ] || die "the import of huge left $M_ROWS rows, not $BIG"
    job_line huge import
    mem_line import "$p_large" "$M_PEAK"
}

CPU=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "mod_xport export benchmark  $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) CPUs, ${CPU:-unknown CPU}, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
if bench_hwm_reset "$WPID"; then
    how="VmHWM, reset before each export by writing 5 to /proc/PID/clear_refs"
else
    how="the largest of the 100 ms VmRSS samples (clear_refs not writable)"
fi
echo "worker: xport-worker pid $WPID (parent httpd $BENCH_HPID), rows streamed by one statement per section; peak = $how"
echo "baseline: sqlite3 -json DB 'select * from T' | gzip -6 (tar.gz) or zstd -1 -T1 (tar.zst);" \
    "(zip: the gzip pipeline too); sqlite3 peak by $( [ -n "$GNU_TIME" ] && echo "GNU time %M" || echo "100 ms VmRSS samples")"
echo
printf '%-7s %-8s | %-42s %25s | %-25s %8s\n' \
    "" "" "mod_xport export (NDJSON MiB/s)" "worker RSS, MiB" "baseline" "sqlite3"
printf '%-7s %-8s | %8s %7s %7s %9s %7s %8s %8s %7s | %7s %9s %7s %8s\n' \
    table format rows wall_s job_s rows/s MiB/s idle peak +peak wall_s rows/s MiB/s peak

for fmt in $FORMATS; do
    case $fmt in
        tar.gz) comp="gzip -6" ;;
        tar.zst) comp="zstd -1 -T1 -q -c" ;;
        zip) comp="gzip -6" ;;
    esac
    for tbl in small large; do
        keep=
        [ "$fmt.$tbl" != tar.gz.large ] || keep=$TMP/large.tar.gz
        measure_export "$tbl" "$fmt" "$B_MAIN" "$keep"
        measure_baseline "$tbl" "$comp"
        jbytes=$(sqlite3 -json "$DB" "select * from $tbl" | wc -c)
        [ "$M_ROWS" = "$(sqlite3 "$DB" "select count(*) from $tbl")" ] ||
            die "export of $tbl as $fmt has $M_ROWS rows, the table has more or fewer"
        if [ "$tbl" = small ]; then
            J_small=$M_JOB P_small=$M_PEAK D_small=$((M_PEAK - M_IDLE))
            BW_small=$B_WALL BP_small=$B_PEAK
        else
            J_large=$M_JOB P_large=$M_PEAK D_large=$((M_PEAK - M_IDLE))
            BW_large=$B_WALL BP_large=$B_PEAK
        fi
        awk -v t="$tbl" -v f="$fmt" -v r="$M_ROWS" -v w="$M_WALL" -v j="$M_JOB" \
            -v by="$M_BYTES" -v i="$M_IDLE" -v p="$M_PEAK" -v bw="$B_WALL" \
            -v bb="$jbytes" -v bp="$B_PEAK" 'BEGIN {
            printf "%-7s %-8s | %8d %7.2f %7.2f %9.0f %7.1f %8.1f %8.1f %7.1f | %7.2f %9.0f %7.1f %8.1f\n",
                t, f, r, w, j, r / j, by / 1048576 / j, i / 1024, p / 1024, (p - i) / 1024,
                bw, r / bw, bb / 1048576 / bw, bp / 1024 }'
    done
    awk -v f="$fmt" -v js="$J_small" -v jl="$J_large" -v ds="$D_small" -v dl="$D_large" \
        -v qs="$P_small" -v ql="$P_large" -v bs="$BW_small" -v bl="$BW_large" \
        -v ps="$BP_small" -v pl="$BP_large" -v rs="$SMALL" -v rl="$LARGE" 'BEGIN {
        # flat: the larger table raises neither the peak nor the peak
        # above idle by more than 8 MiB over the smaller one (allocator
        # noise, zlib/zstd windows), however many more rows it has. Both,
        # because the large export runs in the same process after the
        # small one, whose freed memory the allocator may keep (idle up).
        flat = (dl - ds <= 8192 && ql - qs <= 8192) ? "FLAT" : "GROWS"
        printf "growth  %-8s | rows x%.0f: time x%.1f; worker peak %.1f -> %.1f MiB, +peak %.1f -> %.1f MiB: %s | baseline time x%.1f, sqlite3 peak %.1f -> %.1f MiB\n",
            f, rl / rs, jl / js, qs / 1024, ql / 1024, ds / 1024, dl / 1024, flat,
            bl / bs, ps / 1024, pl / 1024 }'
    [ "$BIG" = 0 ] || big_export "$fmt"
done
imports
echo
echo "MiB/s: NDJSON bytes (manifest sections[].bytes; for the baseline the sqlite3 -json text) per second of job_s (mod_xport) or wall_s (baseline)."
echo "job_s: the job's own duration from its record; wall_s: POST until the record said finished, polled every 100 ms."
echo "import: the tar.gz export of the table imported into an empty table of the same shape (MiB/s: of the archive)."
