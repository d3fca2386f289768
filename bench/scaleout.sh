#!/bin/sh
# scaleout.sh -- jobs per minute with 1, 2 and 3 httpd nodes sharing one
# PostgreSQL job store and one storage directory (README "Several
# nodes").
#
# One throwaway PostgreSQL cluster (t/pg.sh, as www-data when root, in
# bench/out/scaleout/pg) holds both the job store (database xportjobs)
# and the data source (database src: a table `items` of BENCH_SCALE_ROWS
# rows). One storage directory, bench/out/scaleout/storage, is shared by
# every node. Then BENCH_REPEAT times, for each N in BENCH_SCALE_NODES
# (interleaved: 1 2 3 1 2 3 ..., so a change in the machine's load lands
# on every N alike):
#   1. start N httpd nodes, each on its own free port with its own
#      ServerRoot, pid file and error log (bench/out/scaleout/n<N>r<R>/
#      node<I>), all with the same job store, storage, data source and
#      section, XportWorkers BENCH_SCALE_WORKERS (2, the default);
#   2. POST BENCH_SCALE_JOBS (60) exports of `items` (tar.gz), round
#      robin over the nodes' native API, as one user;
#   3. poll the job store until none of them is queued or running; any
#      that ended otherwise than completed fails the run, with its
#      error; each must have run once (attempts 1) and counted every row;
#      each is then read through the API of the node after the one that
#      took it (completed, an archive);
#   4. jobs/min = jobs / (the last finished_at - the first created_at,
#      both from the job store's records) * 60;
#   5. DELETE every job through the API, stop the nodes, and check that
#      the job store holds no queued or running job and none of them.
# It prints one line per N: jobs, the median jobs/min of the runs and
# its ratio to one node's, every run's figure, the median time a job
# ran, and which node's worker ran how many jobs (summed over the runs),
# then the machine's core count: N nodes' job threads share those cores.
# Nothing asserts a time; it exits non-zero when a job fails or a check
# does not hold.
#
# Variables: BENCH_SCALE_ROWS (200000), BENCH_SCALE_JOBS (60),
# BENCH_SCALE_NODES ("1 2 3"), BENCH_SCALE_WORKERS (2),
# BENCH_SCALE_TIMEOUT (900 s for one run's jobs), BENCH_REPEAT (3),
# HTTPD, PG_BIN.
# shellcheck disable=SC2016,SC2317 # perl/SQL single-quoted on purpose; cleanup runs from traps
set -eu

ME=scaleout.sh
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=$TOP/bench/out
BASE=$OUT/scaleout
RUN=$BASE
TMP=$BASE/tmp
ROWS=${BENCH_SCALE_ROWS:-200000}
JOBS=${BENCH_SCALE_JOBS:-60}
NODES=${BENCH_SCALE_NODES:-1 2 3}
WORKERS=${BENCH_SCALE_WORKERS:-2}
TIMEOUT=${BENCH_SCALE_TIMEOUT:-900}
REPEAT=${BENCH_REPEAT:-3}
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"

[ -f "$TOP/build/mod_xport.so" ] || die "build/mod_xport.so is missing; run make first"
[ -x "$HTTPD" ] || die "$HTTPD not found; install apache2 (conf/deps.sh)"
bench_need curl perl htpasswd
for x in "$ROWS" "$JOBS" "$WORKERS" "$TIMEOUT" "$REPEAT" $NODES; do
    case $x in '' | *[!0-9]*) die "BENCH_SCALE_*, BENCH_REPEAT must be whole numbers, not '$x'" ;; esac
done
if [ "$JOBS" -lt 1 ] || [ "$REPEAT" -lt 1 ] || [ "$WORKERS" -lt 1 ]; then
    die "BENCH_SCALE_JOBS, BENCH_SCALE_WORKERS and BENCH_REPEAT must be at least 1"
fi
for n in $NODES; do [ "$n" -ge 1 ] || die "BENCH_SCALE_NODES: a run needs at least one node"; done

NODE_PIDS=
rc=0
stop_nodes() {
    for BENCH_HPID in $NODE_PIDS; do bench_httpd_stop; done
    NODE_PIDS=
}
cleanup() {
    trap - INT TERM EXIT
    stop_nodes
    bench_pg_stop
}
trap 'say interrupted; cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'rc=$?; cleanup; [ $rc = 0 ] || say "failed; logs: $BASE/n*/node*/error.log $BASE/pg/server.log"; exit $rc' EXIT

rm -rf "$BASE"
mkdir -p "$BASE/storage" "$TMP"

# ------------------------------------------------------------------
# PostgreSQL: the job store and the data source
# ------------------------------------------------------------------
say "PostgreSQL in $BASE/pg: job store xportjobs, data source src ($ROWS rows of items)"
bench_pg_start "$BASE/pg"
bench_psql postgres -c "CREATE DATABASE xportjobs" -c "CREATE DATABASE src" ||
    die "cannot create the databases"
bench_psql src <<SQL || die "cannot fill the data source"
CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty integer,
                    note text, updated_at text NOT NULL);
INSERT INTO items SELECT i, 'item ' || i, CASE WHEN i % 7 = 0 THEN NULL ELSE i % 1000 END,
    CASE WHEN i % 3 = 0 THEN NULL ELSE 'note ' || (i * 31 % 997) END,
    to_char(to_timestamp(1700000000 + i) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
FROM generate_series(1, $ROWS) AS i;
ANALYZE items;
SQL
store_sql() { bench_psql xportjobs -At -F ' ' -c "$1"; }

bench_users "$BASE/htpasswd" scaleout-secret alice
[ "$(id -u)" != 0 ] || chown -R "$RUN_USER:$RUN_USER" "$BASE/storage" "$BASE/htpasswd"

# ------------------------------------------------------------------
# Nodes
# ------------------------------------------------------------------
# node DIR PORT: one node's configuration in DIR, started; its httpd's
# pid joins NODE_PIDS. The helpers of lib.sh read RUN: the node's own.
start_node() {
    RUN=$1
    mkdir -p "$RUN"
    {
        echo "# generated by bench/scaleout.sh"
        # one client, one request at a time: 2 children x 64 threads (above
        # the head's MinSpareThreads 50, or the event MPM logs AH10159);
        # each child keeps up to 8 job store connections, PostgreSQL's
        # max_connections is 100
        bench_conf_head "$2" 2 64
        cat <<CONF

XportStorage        "$BASE/storage"
XportJobStore       pgsql "$(bench_pg_dsn xportjobs)"
XportInstanceName   scaleout
XportWorkers        $WORKERS
XportMaxJobsPerUser $JOBS
XportDataSource     pgsql "$(bench_pg_dsn src)"
XportSection items  table=items key=id search=name updated=updated_at

<Location /xport>
    SetHandler xport
    AuthType Basic
    AuthName "xport scaleout"
    AuthUserFile "$BASE/htpasswd"
    Require valid-user
</Location>
CONF
    } >"$RUN/httpd.conf"
    [ "$(id -u)" != 0 ] || chown -R "$RUN_USER:$RUN_USER" "$RUN"
    bench_httpd_up "$RUN/httpd.conf" "http://127.0.0.1:$2/xport/exports"
    NODE_PIDS="$NODE_PIDS $BENCH_HPID"
    RUN=$BASE
}

# the base URL of node I (1-based) of the run: the I-th word of PORTS
node_url() {
    # shellcheck disable=SC2086 # the ports, one word each
    set -- "$1" $PORTS
    shift "$1"
    echo "http://127.0.0.1:$1/xport"
}

# ------------------------------------------------------------------
# One run: N nodes, JOBS exports; appends its figures to $TMP/runs
# ------------------------------------------------------------------
run() { # nodes repetition
    n=$1 rep=$2 tag=n$1r$2
    PORTS='' NODE_PIDS='' WPIDS=''
    i=1
    while [ "$i" -le "$n" ]; do
        port=$(bench_free_port)
        start_node "$BASE/$tag/node$i" "$port"
        PORTS="$PORTS $port"
        WPIDS="$WPIDS $(bench_worker_pid)" # of the node just started
        i=$((i + 1))
    done
    say "run $tag: $n node(s) up (ports$PORTS), posting $JOBS exports"

    : >"$TMP/ids-$tag"
    k=0
    while [ "$k" -lt "$JOBS" ]; do
        B=$(node_url $((k % n + 1)))
        echo "$(bench_start_export alice items) $((k % n + 1))" >>"$TMP/ids-$tag"
        k=$((k + 1))
    done
    ids=$(awk '{ printf "%s'\''%s'\''", (NR > 1 ? "," : ""), $1 }' "$TMP/ids-$tag")

    # wait: the job store's states of the run's jobs
    t0=$(bench_now)
    while :; do
        # shellcheck disable=SC2046 # numbers, one word each
        set -- $(store_sql "SELECT count(*) FILTER (WHERE status IN ('queued', 'running')),
                                   count(*) FILTER (WHERE status = 'completed'), count(*)
                            FROM xport_jobs WHERE id IN ($ids)")
        [ "$3" = "$JOBS" ] || die "run $tag: the job store holds $3 of the $JOBS jobs posted"
        [ "$(($1 + $2))" = "$JOBS" ] || {
            store_sql "SELECT id, status, error_messages FROM xport_jobs
                       WHERE id IN ($ids) AND status NOT IN ('queued', 'running', 'completed')" >&2
            die "run $tag: $(($3 - $1 - $2)) job(s) ended otherwise than completed (above)"
        }
        [ "$1" != 0 ] || break
        [ "$(bench_elapsed "$t0" | cut -d. -f1)" -lt "$TIMEOUT" ] ||
            die "run $tag: $1 job(s) still queued or running after $TIMEOUT s"
        sleep 0.5
    done

    # the figures, from the records; each ran once and read every row
    # shellcheck disable=SC2046 # numbers, one word each
    set -- $(store_sql "SELECT count(*) FILTER (WHERE attempts = 1),
                               count(*) FILTER (WHERE (counts::json ->> 'items')::bigint = $ROWS
                                                  AND file_size > 0),
                               max(finished_at) - min(created_at),
                               max(created_at) - min(created_at),
                               percentile_cont(0.5) WITHIN GROUP (ORDER BY finished_at - started_at)
                        FROM xport_jobs WHERE id IN ($ids)")
    [ "$1" = "$JOBS" ] || die "run $tag: only $1 of $JOBS jobs ran once (attempts 1)"
    [ "$2" = "$JOBS" ] || die "run $tag: only $2 of $JOBS jobs counted $ROWS rows and kept an archive"
    span_ms=$3 post_ms=$4 job_ms=$5
    # jobs run per node: the owner is the worker's host:pid
    split=$(store_sql "SELECT owner FROM xport_jobs WHERE id IN ($ids)" |
        awk -v w="$WPIDS" '
            BEGIN { n = split(w, pid, " "); for (i = 1; i <= n; i++) node[pid[i]] = i }
            { p = $0; sub(/.*:/, "", p); c[(p in node) ? node[p] : "?"]++ }
            END { for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? "/" : ""), c[i]
                  if (c["?"]) printf " +%d by another worker", c["?"] }')

    # every record through the API of another node than the one that took it
    while read -r id k; do
        B=$(node_url $((k % n + 1)))
        [ "$(bench_api alice GET "/exports/$id")" = 200 ] || die "run $tag: GET /exports/$id answered non-200"
        [ "$(bench_json_field "$TMP/rec.json" '$j->{status} eq "completed" && $j->{file_size} > 0 ? 1 : 0')" = 1 ] ||
            die "run $tag: node $((k % n + 1)) says of $id: $(cat "$TMP/rec.json")"
    done <"$TMP/ids-$tag"

    jpm=$(awk -v j="$JOBS" -v ms="$span_ms" 'BEGIN { printf "%.1f", j / (ms / 60000) }')
    say "run $tag: $JOBS jobs in $(awk -v ms="$span_ms" 'BEGIN { printf "%.1f", ms / 1000 }') s: $jpm jobs/min; run per node $split"
    echo "$n $rep $jpm $span_ms $job_ms $post_ms $split" >>"$TMP/runs"

    # clean up through the API, stop the nodes, then nothing may be left
    while read -r id k; do
        B=$(node_url "$k")
        [ "$(bench_api alice DELETE "/exports/$id")" = 204 ] || die "run $tag: DELETE /exports/$id failed"
    done <"$TMP/ids-$tag"
    stop_nodes
    # shellcheck disable=SC2046 # numbers, one word each
    set -- $(store_sql "SELECT count(*) FILTER (WHERE status IN ('queued', 'running')),
                               count(*) FILTER (WHERE id IN ($ids))
                        FROM xport_jobs")
    [ "$1" = 0 ] || die "run $tag: $1 job(s) still queued or running after the nodes stopped"
    [ "$2" = 0 ] || die "run $tag: $2 deleted job(s) still in the job store"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$TMP/runs"
r=1
while [ "$r" -le "$REPEAT" ]; do
    for n in $NODES; do run "$n" "$r"; done
    r=$((r + 1))
done
left=$(find "$BASE/storage" -type f \( -name '*.tar.gz' -o -name '*.part' \) | wc -l)
[ "$left" = 0 ] || die "$left archive(s) left in $BASE/storage after every job was deleted"

# ------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------
commit=$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?')
errs=$(cat "$BASE"/n*/node*/error.log | grep -c '\[[a-z_]*:\(error\|crit\|alert\|emerg\)\]' || true)
echo "mod_xport scale-out  $(date -u +%Y-%m-%dT%H:%MZ)  commit $commit"
echo "machine: $(nproc) cores (nproc), $(uname -sr), load at the start $LOAD0, at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "nodes: httpd on one host, one PostgreSQL job store and data source, one storage directory; XportWorkers $WORKERS (the default) per node"
echo "jobs: $JOBS exports of $ROWS rows (tar.gz) per run, posted round robin to the nodes; medians of $REPEAT runs, the N interleaved"
echo
awk -v jobs="$JOBS" '
    function median(a, n,    i, j, t) {
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { n = $1; k = ++cnt[n]; if (k == 1) order[++nn] = n
      jpm[n, k] = $3; job[n, k] = $5 / 1000; post[n, k] = $6 / 1000
      runs[n] = runs[n] (k > 1 ? " " : "") $3
      m = split($7, s, "/"); for (i = 1; i <= m; i++) per[n, i] += s[i]; nodes[n] = m }
    END {
      printf "%5s | %4s | %17s | %7s | %-20s | %6s | %6s | %s\n", "nodes", "jobs", "jobs/min (median)",
          "x1-node", "runs (jobs/min)", "post s", "job s", "jobs run per node (all runs)"
      for (o = 1; o <= nn; o++) {
          n = order[o]
          for (k = 1; k <= cnt[n]; k++) { a[k] = jpm[n, k]; b[k] = job[n, k]; c[k] = post[n, k] }
          med[n] = median(a, cnt[n]); jm = median(b, cnt[n]); pm = median(c, cnt[n])
          sp = ""; for (i = 1; i <= nodes[n]; i++) sp = sp (i > 1 ? "/" : "") per[n, i]
          printf "%5d | %4d | %17.1f | %7s | %-20s | %6.2f | %6.2f | %s\n", n, jobs, med[n],
              (1 in med) ? sprintf("x%.2f", med[n] / med[1]) : "-", runs[n], pm, jm, sp
      }
    }' "$TMP/runs"
echo
echo "jobs/min: jobs / (the last finished_at - the first created_at of the run, job store records) * 60"
echo "x1-node: against the 1-node median; post s: the first to the last created_at of a run (the POSTs, one client, one at a time)"
echo "job s: finished_at - started_at of a job, the median of each run; post s and job s: the median of the runs"
echo "cores: $(nproc); every node runs $WORKERS job threads (each with a compressing thread and a PostgreSQL backend)" \
    "on these same cores, so beyond what they saturate another node adds little"
echo "checks: every job completed, ran once and counted $ROWS rows; read through another node's API;" \
    "none queued or running after the nodes stopped"
echo "error log: $errs lines at level error or worse ($BASE/n*/node*/error.log)"
