# lib.sh -- helpers shared by the benchmarks (POSIX sh, sourced). Set ME
# (the script's name, for messages), TOP (the project) and RUN (the run
# directory, created by the caller) before calling them.
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
#   bench_worker_pid              pid of xport-worker, child of BENCH_HPID
#   bench_wait_up URL             until URL answers and the worker exists
#   bench_status_kb PID FIELD     a /proc/PID/status field in kB
#   bench_hwm_reset PID           VmHWM := VmRSS (clear_refs); false if denied
#   bench_json_field FILE EXPR    perl EXPR on the decoded JSON in $j
#   bench_now / bench_elapsed T0  wall clock, seconds since T0 (ms)

bench_free_port() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
                                      Listen => 1, ReuseAddr => 1) or die "no free port: $!\n";
        print $s->sockport'
}

BENCH_HPID=
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
