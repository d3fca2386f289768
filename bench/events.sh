#!/bin/sh
# events.sh -- status polling with and without event streams open
# (SPEC 9: "200 pollers meanwhile see no error and no slowdown beyond
# 20 %").
#
# It starts its own httpd (event MPM, XPORT_EVENTS_CHILDREN (2) children
# x XPORT_EVENTS_THREADS (400) threads, XportMaxEventStreams
# XPORT_EVENTS_MAX (100), Basic authentication, user alice, mod_status)
# with mod_xport from build/ on a free loopback port, run directory
# bench/out/events. A child has a thread for every poller and stream,
# however unevenly the connections land on the children; with fewer, a
# child that runs out of threads closes keep-alive connections and the
# pollers see resets that come from the MPM (bench/README.md). The data
# source holds the test suite's `slow_events` view (CPU per row read)
# over XPORT_EVENTS_SLOW_ROWS rows, more than an export reads in a
# phase. Then XPORT_EVENTS_ROUNDS times:
#   A  alice starts an export of `slow`; once it runs, wrk polls
#      GET /exports/<id> over XPORT_EVENTS_POLLERS (200) connections for
#      XPORT_EVENTS_SECONDS (30); the job is cancelled after it;
#   B  the same, while XPORT_EVENTS_STREAMS (default: the bound) event
#      streams are open, half on GET /exports/<id>/events and half on
#      GET /events, read by bench/streams.pl, which counts the events
#      each stream receives. Before wrk starts, server-status?auto must
#      show XportEventStreams equal to the streams opened, and (when the
#      streams fill the bound) one more stream must be answered 503 with
#      Retry-After. Every stream must still be open when wrk ends and
#      have received progress events while it ran.
# It prints one line per phase and the medians of each phase: req/s,
# latency p50/p99/max, socket errors, timeouts, non-2xx, the event MPM's
# "all workers busy" lines, the export's rows/s, the streams and their
# progress events, the connections per child; then the slowdown of B
# against A (req/s and p99, medians) against the target
# "at most 20 % slower". It exits non-zero on any socket error, timeout
# or non-2xx, or a stream that was refused, ended early or got no
# progress, or a wrong count in server-status; the slowdown is printed
# for a person to judge, not asserted.
#
# Variables: XPORT_EVENTS_SECONDS (30), XPORT_EVENTS_POLLERS (200),
# XPORT_EVENTS_MAX (XportMaxEventStreams, 100), XPORT_EVENTS_STREAMS (the
# bound), XPORT_EVENTS_ROUNDS (2: A B A B), XPORT_EVENTS_WARMUP (5 s of
# polling before the first phase), XPORT_EVENTS_CHILDREN (2),
# XPORT_EVENTS_THREADS (400, per child), XPORT_EVENTS_TIMEOUT (wrk, 5s),
# XPORT_EVENTS_SLOW_ROWS (300000), XPORT_EVENTS_PORT, HTTPD.
# shellcheck disable=SC2016,SC2317 # perl single-quoted on purpose; cleanup runs from traps
set -eu

ME=events.sh
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=$TOP/bench/out
RUN=$OUT/events
TMP=$RUN/tmp
SECS=${XPORT_EVENTS_SECONDS:-30}
POLLERS=${XPORT_EVENTS_POLLERS:-200}
CHILDREN=${XPORT_EVENTS_CHILDREN:-2}
THREADS=${XPORT_EVENTS_THREADS:-400}
MAX=${XPORT_EVENTS_MAX:-100}
STREAMS=${XPORT_EVENTS_STREAMS:-$MAX}
ROUNDS=${XPORT_EVENTS_ROUNDS:-2}
WARMUP=${XPORT_EVENTS_WARMUP:-5}
BENCH_WRK_TIMEOUT=${XPORT_EVENTS_TIMEOUT:-5s}
SLOW_ROWS=${XPORT_EVENTS_SLOW_ROWS:-300000}
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"

[ -f "$TOP/build/mod_xport.so" ] || die "build/mod_xport.so is missing; run make first"
[ -x "$HTTPD" ] || die "$HTTPD not found; install apache2 (conf/deps.sh)"
bench_need sqlite3 curl perl wrk htpasswd
[ -f "$MODULES/mod_status.so" ] || die "$MODULES/mod_status.so not found"
for x in "$SECS" "$POLLERS" "$CHILDREN" "$THREADS" "$MAX" "$STREAMS" "$ROUNDS" "$WARMUP" "$SLOW_ROWS"; do
    case $x in '' | *[!0-9]*) die "XPORT_EVENTS_* must be whole numbers, not '$x'" ;; esac
done
if [ "$STREAMS" -lt 1 ] || [ "$STREAMS" -gt "$MAX" ]; then
    die "XPORT_EVENTS_STREAMS must be 1..XPORT_EVENTS_MAX ($MAX)"
fi
[ "$ROUNDS" -ge 1 ] || die "XPORT_EVENTS_ROUNDS must be at least 1"
# every poller and every stream can have a thread of its own
[ $((POLLERS + STREAMS)) -lt $((CHILDREN * THREADS)) ] ||
    die "XPORT_EVENTS_POLLERS + XPORT_EVENTS_STREAMS must stay below the $((CHILDREN * THREADS)) threads"
# the clients' connections land unevenly on the children; a child whose
# threads are all busy closes keep-alive connections (see bench/README.md)
[ $((POLLERS + STREAMS)) -le "$THREADS" ] ||
    say "note: $POLLERS pollers + $STREAMS streams > $THREADS threads per child:" \
        "a child may run out of threads, and pollers then see resets from httpd's event MPM"

READER=
cleanup() {
    trap - INT TERM EXIT
    [ -z "$READER" ] || kill "$READER" 2>/dev/null || true
    [ -z "$WRK" ] || kill "$WRK" 2>/dev/null || true
    bench_httpd_stop
}
WRK=
rc=0
trap 'say interrupted; cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'rc=$?; cleanup; [ $rc = 0 ] || say "failed; httpd log: $RUN/error.log"; exit $rc' EXIT

rm -rf "$RUN"
mkdir -p "$RUN/storage" "$TMP"

say "data: slow_events over $SLOW_ROWS rows"
{
    echo "PRAGMA journal_mode=WAL;"
    bench_slow_sql "$SLOW_ROWS"
} | sqlite3 -bail "$RUN/events.db" >/dev/null

# ------------------------------------------------------------------
# httpd
# ------------------------------------------------------------------
PORT=${XPORT_EVENTS_PORT:-$(bench_free_port)}
B="http://127.0.0.1:$PORT/xport"
bench_users "$RUN/htpasswd" events-secret alice
AUTH=$(bench_auth alice)

CONF=$RUN/httpd.conf
{
    echo "# generated by bench/events.sh"
    bench_conf_head "$PORT" "$CHILDREN" "$THREADS"
} >"$CONF"
cat >>"$CONF" <<CONF
LoadModule status_module      "$MODULES/mod_status.so"
LoadModule authz_host_module  "$MODULES/mod_authz_host.so"
# mpm_event's "All workers busy, not accepting new conns in this
# process" (debug) and "All workers are busy or dying, will shutdown N
# keep-alive connections" (trace1), counted per phase
LogLevel warn xport:info mpm_event:trace1

XportStorage         "$RUN/storage"
XportInstanceName    events
XportMaxEventStreams $MAX

<VirtualHost 127.0.0.1:$PORT>
    ServerName 127.0.0.1
    XportDataSource sqlite3 "$RUN/events.db"
    XportSection slow table=slow_events key=id involves=grp types=n:int,burn:int
</VirtualHost>

<Location /xport>
    SetHandler xport
    AuthType Basic
    AuthName "xport events"
    AuthUserFile "$RUN/htpasswd"
    Require valid-user
</Location>
<Location /server-status>
    SetHandler server-status
    Require local
</Location>
CONF
[ "$(id -u)" = 0 ] && chown -R "$RUN_USER:$RUN_USER" "$RUN"

bench_httpd_up "$CONF" "$B/exports"

status_line() { # the value of a server-status?auto line
    curl -s "http://127.0.0.1:$PORT/server-status?auto" |
        awk -F': ' -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "?" }'
}
wait_streams() { # N seconds: until XportEventStreams is N; prints what it was
    _i=0
    while :; do
        _v=$(status_line XportEventStreams)
        [ "$_v" = "$1" ] || [ $_i -ge $(($2 * 5)) ] && break
        _i=$((_i + 1))
        sleep 0.2
    done
    echo "$_v"
}
[ "$(status_line XportMaxEventStreams)" = "$MAX" ] ||
    die "server-status shows XportMaxEventStreams $(status_line XportMaxEventStreams), not $MAX"

# ------------------------------------------------------------------
# Phases
# ------------------------------------------------------------------
FAIL=0
fail() {
    say "$*"
    FAIL=1
}
conns_per_child() { # established connections of each httpd child, most first: 80/75/0/0
    ss -tnpH state established "( sport = :$PORT )" 2>/dev/null | grep -o 'pid=[0-9]*' |
        sort | uniq -c | sort -rn | awk -v n="$CHILDREN" '
            { printf "%s%d", (NR > 1 ? "/" : ""), $1 }
            END { for (i = NR + 1; i <= n; i++) printf "%s0", (i > 1 ? "/" : "") }'
}
busy_lines() {
    grep -c '\[mpm_event:[a-z0-9]*\] .*All workers \(are \)\{0,1\}busy' "$RUN/error.log" || true
}
progress_done() { # job -> progress done now, or "" when it is not running
    [ "$(bench_api alice GET "/exports/$1")" = 200 ] || return 0
    bench_json_field "$TMP/rec.json" '$j->{status} eq "running" ? $j->{progress}{done} : ""'
}

# phase A|B round: one measurement; appends its figures to $TMP/phases
phase() {
    _tag=$1$2
    job=$(bench_start_export alice slow)
    bench_wait_job alice exports "$job" 60 '$j->{status} eq "running"' ||
        die "the export $job did not start running in 60 s"
    if [ "$1$2" = A1 ] && [ "$WARMUP" -gt 0 ]; then
        bench_wrk warmup "$POLLERS" "$WARMUP" "$TMP/wrk-warmup.out" "/xport/exports/$job" "$AUTH" ||
            { cat "$TMP/wrk-warmup.out" >&2; die "wrk failed"; }
    fi
    open0=$(status_line XportEventStreams)
    over=- per_child=
    if [ "$1" = B ]; then
        rm -f "$TMP/ready"
        perl "$TOP/bench/streams.pl" 127.0.0.1 "$PORT" "$AUTH" "$STREAMS" "$TMP/ready" \
            "/xport/exports/$job/events" /xport/events \
            >"$TMP/streams-$_tag.out" 2>"$TMP/streams-$_tag.err" &
        READER=$!
        _i=0
        until [ -f "$TMP/ready" ]; do
            _i=$((_i + 1))
            [ $_i -lt 300 ] || die "the $STREAMS streams did not all open in 60 s"
            kill -0 "$READER" 2>/dev/null || die "streams.pl exited: $(cat "$TMP/streams-$_tag.err")"
            sleep 0.2
        done
        open0=$(wait_streams "$STREAMS" 10)
        # no poller yet: the connections of httpd's children are the streams
        per_child=$(conns_per_child)
        [ "$open0" = "$STREAMS" ] ||
            fail "phase $_tag: $STREAMS streams opened, server-status shows XportEventStreams $open0"
        if [ "$STREAMS" = "$MAX" ]; then
            _code=$(curl -s -o /dev/null -D "$TMP/over.h" -w '%{http_code}' --max-time 5 \
                -H "Authorization: $AUTH" "$B/exports/$job/events" || true)
            _ra=$(tr -d '\r' <"$TMP/over.h" | awk 'tolower($1) == "retry-after:" { print $2 }')
            over="$_code Retry-After ${_ra:-none}"
            if [ "$_code" != 503 ] || [ -z "$_ra" ]; then
                fail "phase $_tag: a stream over the bound got HTTP $_code, Retry-After '${_ra:-none}'"
            fi
        fi
        kill -USR1 "$READER"
    fi
    done0=$(progress_done "$job")
    busy0=$(busy_lines)
    t0=$(bench_now)
    bench_wrk status "$POLLERS" "$SECS" "$TMP/wrk-$_tag.out" "/xport/exports/$job" "$AUTH" &
    WRK=$!
    sleep $((SECS / 2))
    mid=$(conns_per_child)
    wait "$WRK" || { cat "$TMP/wrk-$_tag.out" >&2; die "wrk failed"; }
    WRK=
    secs=$(bench_elapsed "$t0")
    busy=$(($(busy_lines) - busy0))
    open1=$(status_line XportEventStreams)
    done1=$(progress_done "$job")
    if [ -n "$READER" ]; then
        kill -TERM "$READER"
        wait "$READER" || die "streams.pl failed: $(cat "$TMP/streams-$_tag.err")"
        READER=
    fi
    if [ -z "$done0" ] || [ -z "$done1" ]; then
        fail "phase $_tag: the export $job was not running all through the phase"
    fi
    [ "$(bench_api alice PATCH "/exports/$job" -H 'Content-Type: application/json' \
        -d '{"status": "cancelled"}')" = 200 ] || die "cancelling $job failed: $(cat "$TMP/rec.json")"
    bench_wait_job alice exports "$job" 30 || die "the export $job did not stop in 30 s"
    _left=$(wait_streams 0 10)
    [ "$_left" = 0 ] || fail "phase $_tag: XportEventStreams still $_left after the streams closed"

    _route=$(grep '^route ' "$TMP/wrk-$_tag.out") ||
        { cat "$TMP/wrk-$_tag.out" >&2; die "wrk printed no figures"; }
    # the streams: opened, answered 200, still open at the end, events
    _st="n 0 ok 0 open 0 noprog 0 wmin 0 wmax 0 ev 0 job 0 all 0"
    if [ "$1" = B ]; then
        _st=$(awk '{ for (i = 1; i < NF; i += 2) v[$i] = $(i + 1)
                     n++; ok += v["http"] == 200; open += v["open"]
                     noprog += v["window_progress"] == 0; ev += v["events"]
                     if (v["path"] ~ /\/exports\//) job++; else all++
                     w = v["window_progress"]
                     if (n == 1 || w < wmin) wmin = w
                     if (w > wmax) wmax = w }
                   END { printf "n %d ok %d open %d noprog %d wmin %d wmax %d ev %d job %d all %d",
                         n, ok, open, noprog, wmin, wmax, ev, job, all }' "$TMP/streams-$_tag.out")
        # shellcheck disable=SC2086 # word pairs on purpose
        set -- "$1" $_st
        [ "$2 $3 $5 $7 $9" = "n $STREAMS $STREAMS $STREAMS 0" ] ||
            fail "phase $_tag: of $STREAMS streams $5 answered 200, $7 stayed open, $9 got no progress event during the load ($TMP/streams-$_tag.out)"
    fi
    echo "$_route phase $_tag secs $secs open0 $open0 open1 $open1 done0 ${done0:-0} done1 ${done1:-0} over $(echo "$over" | tr ' ' _) per_child ${per_child:-?} mid ${mid:-?} busy $busy $_st" >>"$TMP/phases"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
say "$ROUNDS x (A: $POLLERS pollers for $SECS s; B: the same with $STREAMS event streams open)"
: >"$TMP/phases"
r=1
while [ $r -le "$ROUNDS" ]; do
    say "round $r: A"
    phase A $r
    say "round $r: B"
    phase B $r
    r=$((r + 1))
done

# ------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------
commit=$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?')
echo "mod_xport event streams  $(date -u +%Y-%m-%dT%H:%MZ)  commit $commit"
echo "machine: $(nproc) CPUs, $(uname -sr), load at the start $LOAD0, at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "httpd: event MPM, $CHILDREN children x $THREADS threads (MaxRequestWorkers $((CHILDREN * THREADS))), XportMaxEventStreams $MAX; wrk $POLLERS connections x $SECS s, timeout $BENCH_WRK_TIMEOUT"
echo "polled: GET /xport/exports/<id> (alice, Basic) of a running export of slow_events, a new one per phase"
echo "streams: half GET /xport/exports/<id>/events, half GET /xport/events, open before wrk starts"
echo
awk -v streams="$STREAMS" -v max="$MAX" -v children="$CHILDREN" '
    function median(a, n,    i, j, t) {
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function row(name, rps, p50, p99, mx, err, to, n2, busy, rows, st, ev, pc) {
        printf "%-8s | %6.0f | %6.1f | %6.1f | %6.1f | %6s | %8s | %7s | %4s | %8.0f | %7s | %8s | %s\n",
            name, rps, p50, p99, mx, err, to, n2, busy, rows, st, ev, pc
    }
    BEGIN {
        printf "%-8s | %6s | %6s | %6s | %6s | %6s | %8s | %7s | %4s | %8s | %7s | %8s | %s\n", "phase",
            "req/s", "p50 ms", "p99 ms", "max ms", "errors", "timeouts", "non-2xx", "busy",
            "job row/s", "streams", "progress", "connections per child (streams)"
    }
    { delete v
      for (i = 1; i < NF; i += 2) v[$i] = $(i + 1)
      ph = substr(v["phase"], 1, 1); k = ++cnt[ph]
      rps[ph, k] = v["requests"] / (v["duration_us"] / 1e6)
      p50[ph, k] = v["p50"] / 1000; p99[ph, k] = v["p99"] / 1000; mx[ph, k] = v["max"] / 1000
      rows[ph, k] = (v["done1"] - v["done0"]) / v["secs"]
      err[ph] += v["errors"]; to[ph] += v["timeouts"]; n2[ph] += v["non2xx"]; busy[ph] += v["busy"]
      pc = v["mid"]
      if (ph == "B") {
          ev = v["wmin"] == v["wmax"] ? v["wmin"] : v["wmin"] "-" v["wmax"]
          pc = pc " (" v["per_child"] ")"
          over = v["over"]; gsub(/_/, " ", over)
      } else
          ev = "-"
      row(v["phase"], rps[ph, k], p50[ph, k], p99[ph, k], mx[ph, k], v["errors"], v["timeouts"],
          v["non2xx"], v["busy"], rows[ph, k], v["open0"] "/" v["open1"], ev, pc)
      bad += v["errors"] + v["timeouts"] + v["non2xx"]
    }
    END {
      for (p = 0; p < 2; p++) {
          ph = p ? "B" : "A"; n = cnt[ph]
          for (k = 1; k <= n; k++) { a1[k] = rps[ph, k]; a2[k] = p50[ph, k]; a3[k] = p99[ph, k]; a4[k] = mx[ph, k]; a5[k] = rows[ph, k] }
          m_rps[ph] = median(a1, n); m_p99[ph] = median(a3, n)
          if (n > 1)
              row(ph " median", m_rps[ph], median(a2, n), m_p99[ph], median(a4, n), "(" err[ph] ")",
                  "(" to[ph] ")", "(" n2[ph] ")", "(" busy[ph] ")", median(a5, n), "", "", "")
      }
      print ""
      if (cnt["A"] > 1)
          print "median: the median of the rounds; (n): the sum over the rounds"
      print "streams: XportEventStreams in server-status when wrk started / ended; progress: progress events"
      print "  each stream received while wrk ran (fewest-most); every stream answered 200 and was still open at the end"
      printf "connections per child: established connections of each of the %d httpd children (most first) half-way\n", children
      print "  through the phase, and the streams alone before wrk started"
      print "busy: lines of the event MPM saying that a child had no idle thread left (it stops accepting, closes idle keep-alive connections)"
      print "job row/s: rows the export read per second during the phase (its progress)"
      if (streams != max)
          printf "over the bound: not tried (%d streams, XportMaxEventStreams %d)\n", streams, max
      else
          printf "over the bound: stream %d of XportMaxEventStreams %d answered %s\n", streams + 1, max, over
      r = m_rps["B"] / m_rps["A"]; q = m_p99["B"] / m_p99["A"]
      verdict = "met"
      if (r < 0.8 || q > 1.2)
          verdict = "NOT met" (r < 0.8 ? " (req/s)" : "") (q > 1.2 ? " (p99)" : "")
      printf "slowdown B vs A%s: req/s x%.2f (%+.1f %%), p99 x%.2f (%+.1f %%); target <= 20 %% slower: %s\n",
          (cnt["A"] > 1 ? " (medians)" : ""), r, (r - 1) * 100, q, (q - 1) * 100, verdict
      printf "errors: %d socket errors, timeouts and non-2xx in all phases\n", bad
      exit bad ? 1 : 0
    }' "$TMP/phases" || FAIL=1
errs=$(grep -c '\[[a-z_]*:\(error\|crit\|alert\|emerg\)\]' "$RUN/error.log" || true)
echo "error log: $errs lines at level error or worse ($RUN/error.log)"
exit $FAIL
