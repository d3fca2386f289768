# lib.sh -- helpers shared by the benchmarks (POSIX sh, sourced). Set ME
# (the script's name, for messages), TOP (the project) and RUN (the run
# directory, created by the caller) before calling them.
#
#   die MSG / say MSG     message on stderr (die exits 1)
#   free_port             a free 127.0.0.1 port
#   as_run_user CMD...    CMD as $RUN_USER when root, else as the caller
#   httpd_start CONF      httpd -DFOREGROUND in its own process group;
#                         sets HPID and waits until URL answers
#   httpd_stop            TERM to the group, KILL after 10 s
# shellcheck shell=sh

HTTPD=${HTTPD:-/usr/sbin/apache2}
RUN_USER=www-data
# shellcheck disable=SC2034 # used by the scripts that source this
MODULES=$(apxs -q LIBEXECDIR 2>/dev/null || echo /usr/lib/apache2/modules)
HPID=

die() { echo "$ME: $*" >&2; exit 1; }
say() { echo "$ME: $*" >&2; }

free_port() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
                                      Listen => 1, ReuseAddr => 1) or die "no free port: $!\n";
        print $s->sockport'
}

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

# httpd_start CONF URL: check, start, wait up to 10 s for URL to answer
# (any HTTP status) and for the xport-worker process to exist.
httpd_start() {
    unset APACHE_CONFDIR APACHE_RUN_DIR APACHE_LOCK_DIR APACHE_LOG_DIR \
        APACHE_PID_FILE APACHE_RUN_USER APACHE_RUN_GROUP APACHE_ARGUMENTS 2>/dev/null || true
    "$HTTPD" -t -f "$1" >/dev/null 2>"$RUN/configtest.log" || {
        cat "$RUN/configtest.log" >&2
        die "the generated configuration $1 does not load"
    }
    setsid "$HTTPD" -DFOREGROUND -f "$1" &
    HPID=$!
    _i=0
    until curl -s -o /dev/null "$2" && worker_pid >/dev/null; do
        _i=$((_i + 1))
        [ $_i -lt 100 ] || die "httpd or its xport-worker did not come up in 10 s"
        kill -0 "$HPID" 2>/dev/null || die "httpd exited; see $RUN/error.log"
        sleep 0.1
    done
}

httpd_stop() {
    [ -n "$HPID" ] || return 0
    kill -TERM "-$HPID" 2>/dev/null || true
    _i=0
    while kill -0 "-$HPID" 2>/dev/null && [ $_i -lt 50 ]; do
        sleep 0.2
        _i=$((_i + 1))
    done
    kill -KILL "-$HPID" 2>/dev/null || true
    HPID=
}

# the worker: a child of the httpd parent named xport-worker
worker_pid() {
    for d in /proc/[0-9]*; do
        [ "$(cat "$d/comm" 2>/dev/null)" = xport-worker ] || continue
        ppid=$(awk '/^PPid:/ {print $2}' "$d/status" 2>/dev/null) || continue
        [ "$ppid" = "$HPID" ] && { echo "${d#/proc/}"; return 0; }
    done
    return 1
}

# json_field FILE PERL-EXPR: evaluate PERL-EXPR on the decoded $j
json_field() {
    perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>); my $v = eval $ARGV[0];
        print defined $v ? $v : ""' "$2" <"$1"
}
