# lib.sh -- helpers shared by the benchmarks (POSIX sh, sourced). Set ME
# (the script's name, for messages), TOP (the project) and RUN (the run
# directory, created by the caller) before calling them; the API helpers
# also want B (the base URL of the xport <Location>) and TMP (a scratch
# directory).
#
#   die MSG / say MSG     message on stderr (die exits 1)
#   as_run_user CMD...    CMD as $RUN_USER when root, else as the caller
#   user_lines            User/Group lines for a generated httpd.conf
# shellcheck shell=sh

HTTPD=${HTTPD:-/usr/sbin/apache2}
RUN_USER=www-data
# shellcheck disable=SC2034 # used by the scripts that source this
MODULES=$(apxs -q LIBEXECDIR 2>/dev/null || echo /usr/lib/apache2/modules)
die() { echo "$ME: $*" >&2; exit 1; }
say() { echo "$ME: $*" >&2; }

as_run_user() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$RUN_USER" -- "$@"
    else
        "$@"
    fi
}

# The User/Group lines of a generated httpd.conf; as root it also hands
# the run directory to $RUN_USER, who must be able to reach it.
user_lines() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$RUN_USER" -- test -x "$RUN" ||
            die "user $RUN_USER cannot reach $RUN (a parent directory is private);" \
                "put the project somewhere readable, e.g. under /srv, or run as a normal user"
        chown -R "$RUN_USER:$RUN_USER" "$RUN"
        printf 'User %s\nGroup %s\n' "$RUN_USER" "$RUN_USER"
    else
        echo "# not root: httpd and the worker run as $(id -un)"
    fi
}

# The bench_ helpers (every benchmark):
#
#   bench_free_port               a free 127.0.0.1 TCP port
#   bench_httpd_start CONF        httpd -DFOREGROUND in its own process
#                                 group; sets BENCH_HPID
#   bench_httpd_stop              TERM the group, KILL after 10 s
#   bench_httpd_up CONF URL       configtest, start, wait until URL answers
#   bench_worker_pid              pid of xport-worker, child of BENCH_HPID
#   bench_wait_up URL             until URL answers and the worker exists
#   bench_status_kb PID FIELD     a /proc/PID/status field in kB
#   bench_hwm_reset PID           VmHWM := VmRSS (clear_refs); false if denied
#   bench_json_field FILE EXPR    perl EXPR on the decoded JSON in $j
#   bench_now / bench_elapsed T0  wall clock, seconds since T0 (ms)
#   bench_count N                 N for a label: 1M, 250k, 1500
#
# and those of the load benchmarks (load.sh, events.sh): an httpd with
# Basic authentication, jobs driven through the native API, wrk:
#
#   bench_need CMD...             die unless every CMD is installed
#   bench_slow_sql ROWS           t/data/slow.sql with ROWS rows of `events`
#   bench_users FILE PW USER...   an htpasswd FILE; the users' password is PW
#   bench_auth USER               the Authorization value for USER
#   bench_conf_head PORT [CHILDREN THREADS]  the top of an httpd.conf:
#                                 paths, modules, User/Group, the event MPM
#                                 with CHILDREN (4) x THREADS (100) threads
#   bench_api USER METHOD PATH [CURL ARGS]   $B$PATH as USER; body in
#                                 $TMP/rec.json, prints the HTTP status
#   bench_start_export USER FILTER  POST /exports (tar.gz); prints the id
#   bench_wait_job USER KIND ID SECS [EXPR]  GET /KIND/ID until EXPR (perl
#                                 on the record in $j; default: finished);
#                                 false after SECS
#   bench_wrk NAME CONNS SECS OUT PATH AUTH...  wrk -t1 with bench/load.lua
#                                 on B's origin, timeout BENCH_WRK_TIMEOUT
#                                 (5s); output in OUT ("route NAME ...")
#
# and a throwaway PostgreSQL cluster for the job store or data source
# (load.sh with XPORT_LOAD_BACKEND=pgsql, scaleout.sh):
#
#   bench_pg_start DIR            t/pg.sh's cluster in DIR (unix socket
#                                 there), as $RUN_USER when root; sets
#                                 PG_PORT and PG_USER
#   bench_psql DB [PSQL ARGS]     psql on it as $PG_USER, stopping on the
#                                 first error
#   bench_pg_dsn DB               libpq parameters of DB (XportJobStore,
#                                 XportDataSource)
#   bench_pg_stop                 fast shutdown; harmless when none started

bench_free_port() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
                                      Listen => 1, ReuseAddr => 1) or die "no free port: $!\n";
        print $s->sockport'
}

BENCH_HPID=
# Check the generated configuration, start httpd with it and wait until
# URL answers (dies, saying where to look, when either fails).
bench_httpd_up() {
    "$HTTPD" -t -f "$1" >/dev/null 2>"$RUN/configtest.log" || {
        cat "$RUN/configtest.log" >&2
        die "the generated configuration $1 does not load"
    }
    bench_httpd_start "$1"
    bench_wait_up "$2" || die "see $RUN/error.log"
}

bench_httpd_start() {
    # Debian's apache2ctl variables would override the generated config
    unset APACHE_CONFDIR APACHE_RUN_DIR APACHE_LOCK_DIR APACHE_LOG_DIR \
        APACHE_PID_FILE APACHE_RUN_USER APACHE_RUN_GROUP APACHE_ARGUMENTS 2>/dev/null || true
    setsid "${HTTPD:-/usr/sbin/apache2}" -DFOREGROUND -f "$1" &
    BENCH_HPID=$!
}

bench_httpd_stop() {
    [ -n "$BENCH_HPID" ] || return 0
    kill -TERM "-$BENCH_HPID" 2>/dev/null || true
    _i=0
    while kill -0 "-$BENCH_HPID" 2>/dev/null && [ $_i -lt 50 ]; do
        sleep 0.2
        _i=$((_i + 1))
    done
    kill -KILL "-$BENCH_HPID" 2>/dev/null || true
    BENCH_HPID=
}

bench_worker_pid() {
    for _d in /proc/[0-9]*; do
        [ "$(cat "$_d/comm" 2>/dev/null)" = xport-worker ] || continue
        _pp=$(awk '/^PPid:/ {print $2}' "$_d/status" 2>/dev/null) || continue
        [ "$_pp" = "$BENCH_HPID" ] && { echo "${_d#/proc/}"; return 0; }
    done
    return 1
}

bench_wait_up() {
    _i=0
    # any HTTP answer means httpd is up (a location may require a login)
    until curl -s -o /dev/null "$1" && bench_worker_pid >/dev/null; do
        _i=$((_i + 1))
        [ $_i -lt 100 ] || { echo "httpd or its xport-worker did not come up in 10 s" >&2; return 1; }
        kill -0 "$BENCH_HPID" 2>/dev/null || { echo "httpd exited" >&2; return 1; }
        sleep 0.1
    done
}

bench_status_kb() {
    awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

# VmHWM is a lifetime high-water mark; writing 5 to clear_refs (Linux >=
# 4.0) resets it to the current RSS, so one job's peak can be read exactly
bench_hwm_reset() {
    (echo 5 >"/proc/$1/clear_refs") 2>/dev/null
}

bench_json_field() {
    # shellcheck disable=SC2016 # perl code, not shell
    perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>); my $v = eval $ARGV[0];
        print defined $v ? $v : ""' "$2" <"$1"
}

bench_now() { date +%s.%N; }
bench_elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }

bench_need() {
    for _c in "$@"; do
        command -v "$_c" >/dev/null 2>&1 ||
            die "$_c not found; install it (conf/deps.sh, apt-get install $_c)"
    done
}

# the test suite's slow view (CPU per row read) over ROWS rows
bench_slow_sql() {
    sed "s/n < 20000/n < $1/" "$TOP/t/data/slow.sql"
}

BENCH_PW=
bench_users() {
    _f=$1 BENCH_PW=$2
    shift 2
    : >"$_f"
    for _u in "$@"; do
        htpasswd -b -s "$_f" "$_u" "$BENCH_PW" 2>/dev/null # SHA-1: cheap per request
    done
}

bench_auth() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$BENCH_PW" | base64)"; }

bench_conf_head() {
    _ul=$(user_lines) || exit 1
    _ch=${2:-4} _th=${3:-100}
    cat <<CONF
ServerRoot        "$RUN"
ServerName        127.0.0.1
Listen            127.0.0.1:$1
PidFile           "$RUN/httpd.pid"
DefaultRuntimeDir "$RUN"
ErrorLog          "$RUN/error.log"
LogLevel          warn xport:info
LoadModule mpm_event_module   "$MODULES/mod_mpm_event.so"
LoadModule authz_core_module  "$MODULES/mod_authz_core.so"
LoadModule authz_user_module  "$MODULES/mod_authz_user.so"
LoadModule authn_core_module  "$MODULES/mod_authn_core.so"
LoadModule authn_file_module  "$MODULES/mod_authn_file.so"
LoadModule auth_basic_module  "$MODULES/mod_auth_basic.so"
<IfModule !mod_unixd.c>
    LoadModule unixd_module   "$MODULES/mod_unixd.so"
</IfModule>
LoadModule xport_module       "$TOP/build/mod_xport.so"
$_ul
# more threads than connections from the start, and no child stopped or
# started during the run: a child with all its threads busy, or one
# stopping, closes its idle keep-alive connections, which a client that
# has just sent its next request on one sees as a reset connection
StartServers        $_ch
ServerLimit         $_ch
ThreadLimit         $_th
ThreadsPerChild     $_th
MaxRequestWorkers   $((_ch * _th))
MinSpareThreads     50
MaxSpareThreads     $((_ch * _th))
KeepAliveTimeout    5
MaxKeepAliveRequests 0
CONF
}

bench_api() {
    _u=$1 _m=$2 _p=$3
    shift 3
    curl -s -o "$TMP/rec.json" -w '%{http_code}' -X "$_m" -H "Authorization: $(bench_auth "$_u")" \
        "$@" "$B$_p"
}

bench_start_export() {
    _code=$(bench_api "$1" POST /exports -H 'Content-Type: application/json' \
        -d "{\"filter\": \"$2\", \"format\": \"tar.gz\"}")
    [ "$_code" = 202 ] || die "POST /exports as $1 answered $_code: $(cat "$TMP/rec.json")"
    # shellcheck disable=SC2016 # perl code, not shell
    bench_json_field "$TMP/rec.json" '$j->{id}'
}

bench_wait_job() {
    # shellcheck disable=SC2016 # perl code, not shell
    _e='$j->{finished}'
    [ $# -lt 5 ] || _e=$5
    _n=0
    while :; do
        _code=$(bench_api "$1" GET "/$2/$3")
        [ "$_code" = 200 ] || die "GET /$2/$3 answered $_code"
        [ "$(bench_json_field "$TMP/rec.json" "($_e) ? 1 : 0")" = 1 ] && return 0
        _n=$((_n + 1))
        [ $_n -lt $(($4 * 5)) ] || return 1
        sleep 0.2
    done
}

bench_wrk() {
    _name=$1 _c=$2 _s=$3 _o=$4
    shift 4
    # wrk wants the origin; the paths are absolute
    wrk -c"$_c" -t1 -d"${_s}s" --timeout "${BENCH_WRK_TIMEOUT:-5s}" -s "$TOP/bench/load.lua" \
        "$(echo "$B" | sed 's|^\([a-z]*://[^/]*\).*|\1|')" -- "$_name" "$@" >"$_o" 2>&1
}

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin} # as in t/pg.sh
BENCH_PG_DIR=
PG_PORT=
PG_USER=
bench_pg_start() {
    mkdir -p "$1"
    [ "$(id -u)" != 0 ] || chown "$RUN_USER" "$1"
    # shellcheck disable=SC2016 # expanded by the inner shell
    PG_PORT=$(as_run_user sh -c '. "$1/t/pg.sh"; pg_start "$2" >&2 && echo "$PG_PORT"' \
        sh "$TOP" "$1") || die "PostgreSQL did not start"
    BENCH_PG_DIR=$1
    PG_USER=$(as_run_user id -un)
}

bench_psql() {
    _db=$1
    shift
    as_run_user "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$BENCH_PG_DIR" -p "$PG_PORT" \
        -U "$PG_USER" -d "$_db" "$@"
}

bench_pg_dsn() { echo "host=$BENCH_PG_DIR port=$PG_PORT user=$PG_USER dbname=$1"; }

bench_pg_stop() {
    [ -n "$BENCH_PG_DIR" ] || return 0
    as_run_user "$PG_BIN/pg_ctl" -D "$BENCH_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    BENCH_PG_DIR=
}

# a row count for a label: 1000000 -> 1M, 50000 -> 50k, 1500 -> 1500
bench_count() {
    awk -v n="$1" 'BEGIN {
        if (n >= 1e6 && n % 1e5 == 0) printf "%gM", n / 1e6
        else if (n >= 1e4 && n % 1e3 == 0) printf "%gk", n / 1e3
        else printf "%d", n }'
}
