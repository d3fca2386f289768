# 22_faults.t -- what happens to the machine mid-job (SPEC section 7), on
# the job store of this phase:
#   - a serving child killed with SIGKILL while it streams a slow
#     download (an export runs meanwhile) and while it receives an upload
#     (an import runs meanwhile);
#   - httpd's signals while an export provably runs (it waits on a gate
#     the test holds, see below): `-k graceful` (SIGUSR1: the job
#     finishes in the old worker while the new one takes new jobs),
#     `-k restart` (SIGHUP) and `-k stop` (SIGTERM: the job is handed
#     back at once, no attempt counted, and runs again), `-k
#     graceful-stop` (SIGWINCH) with no GracefulShutdownTimeout (the job
#     finishes after httpd has gone, a new server's worker takes new jobs
#     meanwhile) and with 2 seconds of it (the job is handed back then,
#     queued with no attempt counted, and completes once a server runs);
#     the test starts the server again with the runner's own command line
#     (once with -D XPORT_SHORT_GRACE), so later files have a server;
#   - the job store locked by another process for 5 seconds;
#   - (PostgreSQL) the database server stopped mid-job and started again.
# After each: no job stays running, the interrupted job completes or
# fails with a reason naming what happened (PostgreSQL: "lost the
# connection to the data source ..."), nothing partial is left under
# exports/ or tmp/, an import is all-or-nothing, and the server answers.
# Kill -9 of the worker itself is in 08 (export) and 13 (import); the disk
# filling up in 23.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use IO::Socket::INET ();
use Socket qw(SOL_SOCKET SO_RCVBUF);
use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep time);
use XportTest;

my $BACKEND = $ENV{XPORT_BACKEND} || 'sqlite';
my $STORAGE = $ENV{XPORT_STORAGE};
my %S = (vhost => 'xport_slow');
my $FILTER = 'slow/g1';    # 2000 slow rows: a few seconds
my $ROWS = 2000;

ok server_answers(), 'the server answers before the faults'
    or do { done_testing(); exit 1 };

# An export on xport_slow (one active job per user there) caught running
# (claimed by the worker: it has just started reading).
sub start_slow {
    my ($user, $label, %o) = @_;
    my ($res, $rec) = create_export(%S, user => $user,
                                    params => { filter => $FILTER, %o });
    is $res->code, 202, "$label: export accepted" or do { diag $res->as_string; return undef };
    my $r = wait_job($rec->{id}, %S, user => $user, timeout => 30,
                     until => sub { $_[0]{finished} || $_[0]{status} eq 'running' }) || {};
    is $r->{status}, 'running', "$label: the export runs" or diag explain $r;
    return $rec->{id};
}

# The export ended as it should: completed with every row and a file
# whose SHA-256 is the recorded one, or (with may_fail) failed with a
# message matching it; nothing of it under tmp/, and under exports/ only
# its finished archive. host => {vhost => ...} and rows => N for another
# host than xport_slow.
sub check_export {
    my ($id, $user, $label, %o) = @_;
    my %H = %{ $o{host} || \%S };
    my $rows = $o{rows} || $ROWS;
    my $t0 = time;
    my $end = wait_job($id, %H, user => $user, timeout => $o{timeout} || 60) || {};
    ok $end->{finished}, "$label: finished (" . ($end->{status} // '?') . ') after '
        . sprintf('%.1f s', time - $t0) or diag explain $end;
    is_deeply [ grep { index($_, $id) >= 0 } storage_files('tmp') ], [],
        "$label: nothing of the job left in tmp/";
    if (($end->{status} // '') eq 'completed') {
        pass "$label: completed";
        my $res = download($id, %H, user => $user);
        is sha256_hex($res->content), $end->{sha256}, "$label: the archive is whole";
        is scalar(() = $res->content =~ /\n/g), $rows, "$label: all $rows rows"
            if ($o{format} // '') eq 'ndjson';
    }
    elsif ($o{may_fail} && ($end->{status} // '') eq 'failed') {
        like join(' ', @{ $end->{error_messages} || [] }), $o{may_fail},
            "$label: failed, and says why";
        is_deeply [ grep { index($_, $id) >= 0 } storage_files('exports') ], [],
            "$label: no partial archive under exports/";
    }
    else {
        fail "$label: completed" ; diag explain $end;
    }
    return $end;
}

# A raw HTTP connection to a host with a small receive buffer (set before
# connecting, so the window stays small): the server blocks writing to
# it once a few KiB are in flight.
sub raw_conn {
    my ($vhost) = @_;
    my ($host, $port) = split /:/, hostport($vhost);
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 2048);
    $s->connect(Socket::pack_sockaddr_in($port, Socket::inet_aton($host)))
        or die "connect $host:$port: $!";
    return $s;
}

# The httpd child holding the server end of our connection $sock.
sub child_of_conn {
    my ($sock) = @_;
    my $me = sprintf '%04X', $sock->sockport;
    my %inode;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open(my $fh, '<', $f) or next;
        while (<$fh>) {
            my @c = split;
            $inode{ $c[9] } = 1 if ($c[2] // '') =~ /:$me$/;
        }
    }
    for my $pid (httpd_children()) {
        opendir(my $dh, "/proc/$pid/fd") or next;
        for my $fd (grep { /^\d+$/ } readdir $dh) {
            my $t = readlink("/proc/$pid/fd/$fd") // next;
            return $pid if $t =~ /^socket:\[(\d+)\]$/ && $inode{$1};
        }
    }
    return undef;
}

sub auth { return 'Authorization: Basic ' . encode_base64("$_[0]:$_[0]", '') }

# ------------------------------------------------ serving child, download
# An export runs on xport_slow through both serving-child kills.
my $bob = start_slow('bob', 'serving children killed');
{
    my $label = 'child killed mid-download';
    # a bare ndjson file of the 3000 demo messages (~300 KB) to download
    my ($res, $rec) = create_export(user => 'alice',
                                    params => { filter => 'messages', format => 'ndjson' });
    my $big = wait_job(($rec || {})->{id}, user => 'alice', timeout => 60) || {};
    is $big->{status}, 'completed', "$label: the file to download exists" or diag explain $big;
    my $big_body = download($big->{id}, user => 'alice')->content;
    my $sock = raw_conn(undef);
    print $sock "GET /xport/exports/$big->{id}/download HTTP/1.1\r\nHost: x\r\n"
        . auth('alice') . "\r\nConnection: close\r\n\r\n";
    sysread($sock, my $buf, 1024);    # the headers: it is being served
    like $buf // '', qr{^HTTP/1\.1 200}, "$label: the download started";
    my $child = wait_for { child_of_conn($sock) } 10;
    ok $child, "$label: found the child serving it (pid " . ($child // '?') . ')';
    SKIP: {
        skip 'no serving child', 5 unless $child;
        ok kill('KILL', $child), "$label: SIGKILL sent";
        ok httpd_wait_gone($child, 10), "$label: that child is gone";
        my $rest = '';
        while (sysread($sock, my $b, 65536)) { $rest .= $b }
        # what the kernel had already taken from the child still arrives
        # (a file smaller than the socket buffers arrives almost whole):
        # the client sees a prefix of the file, never other bytes
        my $got = ($buf =~ /\r\n\r\n(.*)\z/s ? $1 : '') . $rest;
        ok length($got) <= length($big_body)
            && $got eq substr($big_body, 0, length $got),
            "$label: the client got a prefix of the file ("
            . length($got) . ' of ' . length($big_body) . ' bytes)';
        ok server_answers(), "$label: the server answers at once";
        my $again = download($big->{id}, user => 'alice');
        is sha256_hex($again->content), $big->{sha256},
            "$label: the file is intact and downloads again";
    }
    close $sock;
}

# ------------------------------------------------ serving child, upload
{
    my $label = 'child killed mid-upload';
    my $N = 10_000;
    my %T = (vhost => target_vhost($BACKEND));
    target_reset($BACKEND);
    my @lines = map { ndjson_line('users', user_row("k$_")) } 1 .. $N;
    my $archive = make_archive(sections => [ { name => 'users', lines => \@lines } ]);
    my ($res, $imp) = post_import(%T, archive => $archive, raw => 'application/gzip');
    is $res->code, 202, "$label: an import accepted" or diag $res->as_string;
    my $before = time;
    my @jobs_before = @{ json_list(api('GET', '/imports?per_page=100', %T, user => 'carol')) };

    # a second upload that stops half-way: 200 KB of a declared 2 MB
    my $sock = raw_conn(target_vhost($BACKEND));
    print $sock "POST /xport/imports HTTP/1.1\r\nHost: x\r\n" . auth('bob')
        . "\r\nContent-Type: application/gzip\r\nContent-Length: 2000000\r\n\r\n";
    print $sock "\0" x 200_000;
    my $child = wait_for { child_of_conn($sock) } 10;
    ok $child, "$label: found the child receiving it (pid " . ($child // '?') . ')';
    # the child creates the .part once its job store checks are done,
    # which on a loaded machine can come after it took the connection
    my $parts = wait_for {
        my @p = grep { /\.part$/ } storage_files('uploads');
        @p ? \@p : undef
    } 10;
    is scalar(@{ $parts || [] }), 1, "$label: its .part file is being written";
    SKIP: {
        skip 'no receiving child', 3 unless $child;
        ok kill('KILL', $child), "$label: SIGKILL sent";
        ok httpd_wait_gone($child, 10), "$label: that child is gone";
        ok server_answers(), "$label: the server answers at once";
    }
    close $sock;
    my $end = wait_import(($imp || {})->{id}, %T, timeout => 120) || {};
    is $end->{status}, 'completed', "$label: the import running meanwhile completed"
        or diag explain $end;
    is target_count($BACKEND, 'users'), $N, "$label: all $N rows imported once";
    my @jobs_after = @{ json_list(api('GET', '/imports?per_page=100', %T, user => 'carol')) };
    is scalar(@jobs_after), scalar(@jobs_before), "$label: no job for the broken upload";
    # the .part of a dead writer is removed by the worker's housekeeping
    my $gone = wait_for { !grep { /\.part$/ } storage_files('uploads') } 30;
    ok $gone, "$label: the partial upload was removed"
        or diag join ' ', storage_files('uploads');
    target_reset($BACKEND);
}
check_export($bob, 'bob', 'the export running through both kills') if $bob;

# ------------------------------------------------ httpd's signals
# Each case signals httpd while an export of host xport_gate provably
# runs: the test takes the gate (gate_hold: the read of that section
# waits at its row 1501 while the test holds a PostgreSQL advisory lock)
# before it starts the export, and sends the signal only once the export
# is `running`, shows its first rows as progress and waits on the gate in
# pg_locks. The gate opens when the test says so; nothing races the
# clock. Workers are named by their XP0515 lines ("started by host:pid").
my %G = (vhost => 'xport_gate');
my %GATED = (host => \%G, rows => 3000, format => 'ndjson', timeout => 90);

sub start_gated {
    my ($user, $label) = @_;
    ok gate_hold(), "$label: the test holds the gate" or return undef;
    my ($res, $rec) = create_export(%G, user => $user,
                                    params => { filter => 'gated', format => 'ndjson' });
    is $res->code, 202, "$label: export accepted" or do { diag $res->as_string; return undef };
    my $r = wait_job($rec->{id}, %G, user => $user, timeout => 60,
                     until => sub { $_[0]{finished} || ($_[0]{progress}{done} // 0) > 0 }) || {};
    is $r->{status}, 'running', "$label: the export runs ("
        . ($r->{progress}{done} // 0) . ' rows read)' or diag explain $r;
    ok wait_for(sub { gate_waiters() > 0 }, 60), "$label: ... and waits on the gate";
    return $rec->{id};
}

# Each start of job $id logged since $log: [{ attempt, owner, pid }].
sub starts_of {
    my ($log, $id) = @_;
    my $text = error_log_since($log);
    my @s;
    while ($text =~ /XP0515: job \Q$id\E \(\w+, attempt (\d+)\) started by (\S+:(\d+))/g) {
        push @s, { attempt => $1, owner => $2, pid => $3 };
    }
    return \@s;
}

sub logged_within {
    my ($log, $re, $timeout) = @_;
    return wait_for(sub { error_log_since($log) =~ $re }, $timeout);
}

sub worker_gone {
    my ($pid) = @_;
    return $pid && httpd_wait_gone($pid, 30);
}

# A new export on the main server, finished; the start that ran it.
sub new_job_meanwhile {
    my ($log, $label) = @_;
    my ($res, $rec) = create_export(user => 'alice', params => { filter => 'users' });
    my $end = wait_job(($rec || {})->{id}, user => 'alice', timeout => 60) || {};
    is $end->{status}, 'completed', "$label: a new export completes meanwhile"
        or diag explain $end;
    return starts_of($log, ($rec || {})->{id})->[0] || {};
}

# graceful restart: the old worker finishes the job, the new one takes
# new jobs meanwhile
{
    my $label = 'graceful restart (SIGUSR1)';
    my $log = error_log_offset();
    my $id = start_gated('dave', $label);
    my $old = ($id && starts_of($log, $id)->[0]) || {};
    my $parent = httpd_parent_pid();
    ok $id && kill('USR1', $parent), "$label: signal sent";
    ok logged_within($log, qr/XP0534: worker \Q$old->{owner}\E draining \(graceful restart\)/, 30),
        "$label: the old worker drains (XP0534)" or diag error_log_since($log);
    ok wait_for(sub { server_answers() }, 30), "$label: the server answers after it";
    is httpd_parent_pid(), $parent, "$label: same parent";
    my $new = new_job_meanwhile($log, $label);
    ok $new->{pid} && $new->{pid} != ($old->{pid} // 0),
        "$label: ... run by the new worker ($new->{owner}, not $old->{owner})";
    is((job_of($id, %G, user => 'dave') || {})->{status}, 'running',
       "$label: the old worker's job still runs");
    ok kill(0, $old->{pid}), "$label: ... in the old worker";
    gate_release();
    check_export($id, 'dave', $label, %GATED);
    like error_log_since($log), qr/XP0518: job $id ended completed while worker \Q$old->{owner}\E drains/,
        "$label: the old worker finished it (XP0518)";
    ok worker_gone($old->{pid}), "$label: the old worker exited after it";
    is scalar(@{ starts_of($log, $id) }), 1, "$label: the job ran once";
}

# restart and stop: the job is handed back at once, the gate still shut
# (the statement it waits on is interrupted), and runs again as attempt 1
for my $s ([ HUP => 'restart (SIGHUP)', 'erin' ], [ TERM => 'stop (SIGTERM)', 'frank' ]) {
    my ($sig, $label, $user) = @$s;
    my $log = error_log_offset();
    my $id = start_gated($user, $label);
    my $old = ($id && starts_of($log, $id)->[0]) || {};
    my $parent = httpd_parent_pid();
    ok $id && kill($sig, $parent), "$label: signal sent";
    ok logged_within($log, qr/XP0516: job $id re-queued \(worker stopping\)/, 30),
        "$label: the job was handed back to the queue at once (XP0516)"
        or diag error_log_since($log);
    ok worker_gone($old->{pid}), "$label: the old worker exited";
    if ($sig eq 'TERM') {
        ok httpd_wait_gone($parent, 30), "$label: httpd stopped";
        my $row = store_job($id) || {};
        is $row->{status}, 'queued', "$label: the job is queued";
        is $row->{attempts}, 0, "$label: ... with no attempt counted";
        gate_release();
        # the next case needs a graceful stop that runs out of time
        ok httpd_start('-D XPORT_SHORT_GRACE'),
            "$label: the server started again (GracefulShutdownTimeout 2)";
    }
    else {
        ok wait_for(sub { server_answers() }, 30), "$label: the server answers after it";
        is httpd_parent_pid(), $parent, "$label: same parent";
        ok wait_for(sub { @{ starts_of($log, $id) } >= 2 }, 30),
            "$label: the new worker took it up";
        gate_release();
    }
    check_export($id, $user, $label, %GATED);
    my $again = starts_of($log, $id)->[1] || {};
    is $again->{attempt}, 1, "$label: it ran again as attempt 1";
    isnt $again->{owner} // '', $old->{owner}, "$label: ... in the new worker";
}

# graceful stop with GracefulShutdownTimeout 2: the job still waits on the
# gate when the 2 seconds are over; it is handed back then
{
    my $label = 'graceful-stop (SIGWINCH), GracefulShutdownTimeout 2';
    my $log = error_log_offset();
    my $id = start_gated('gina', $label);
    my $old = ($id && starts_of($log, $id)->[0]) || {};
    my $parent = httpd_parent_pid();
    my $t0 = time;
    ok $id && kill('WINCH', $parent), "$label: signal sent";
    ok logged_within($log, qr/XP0534: worker \Q$old->{owner}\E draining \(graceful stop\).*within GracefulShutdownTimeout \(2s\)/, 30),
        "$label: the worker drains (XP0534)" or diag error_log_since($log);
    ok logged_within($log, qr/XP0516: job $id re-queued \(GracefulShutdownTimeout is over\)/, 30),
        "$label: the job was handed back (XP0516)" or diag error_log_since($log);
    my $took = time - $t0;
    ok $took >= 1.9, sprintf('%s: ... once the 2 s were over (%.1f s)', $label, $took);
    like error_log_since($log),
        qr/XP0537: worker \Q$old->{owner}\E: GracefulShutdownTimeout \(2s\) is over with 1 job/,
        "$label: the worker said why (XP0537)";
    ok worker_gone($old->{pid}), "$label: the worker exited";
    ok httpd_wait_gone($parent, 30), "$label: httpd stopped";
    my $row = store_job($id) || {};
    is $row->{status}, 'queued', "$label: the job is queued";
    is $row->{attempts}, 0, "$label: ... with no attempt counted";
    gate_release();
    ok httpd_start(), "$label: the server started again";
    check_export($id, 'gina', $label, %GATED);
    is((starts_of($log, $id)->[1] || {})->{attempt}, 1, "$label: it ran again as attempt 1");
}

# graceful stop with no GracefulShutdownTimeout: the job finishes in the
# worker after httpd has gone; a server started meanwhile takes new jobs
{
    my $label = 'graceful-stop (SIGWINCH)';
    my $log = error_log_offset();
    my $id = start_gated('erin', $label);
    my $old = ($id && starts_of($log, $id)->[0]) || {};
    my $parent = httpd_parent_pid();
    ok $id && kill('WINCH', $parent), "$label: signal sent";
    ok httpd_wait_gone($parent, 30), "$label: httpd stopped (its children were idle)";
    ok logged_within($log, qr/XP0534: worker \Q$old->{owner}\E draining \(graceful stop\).*without a time limit/, 30),
        "$label: the worker drains (XP0534)" or diag error_log_since($log);
    ok kill(0, $old->{pid}), "$label: the worker runs on";
    my $row = store_job($id) || {};
    is "$row->{status} $row->{owner}", "running $old->{owner}", "$label: ... with its job";
    ok httpd_start(), "$label: a new server starts meanwhile";
    my $new = new_job_meanwhile($log, $label);
    ok $new->{pid} && $new->{pid} != ($old->{pid} // 0),
        "$label: ... run by the new server's worker ($new->{owner})";
    is((job_of($id, %G, user => 'erin') || {})->{status}, 'running',
       "$label: the old worker's job still runs");
    gate_release();
    check_export($id, 'erin', $label, %GATED);
    like error_log_since($log), qr/XP0518: job $id ended completed while worker \Q$old->{owner}\E drains/,
        "$label: the old worker finished it (XP0518)";
    ok worker_gone($old->{pid}), "$label: the old worker exited after it";
    unlike error_log_since($log), qr/XP0516: job $id/, "$label: it was never handed back";
}

# ------------------------------------------------ the job store locked
{
    my $label = 'job store locked for 5 s';
    my $id = start_slow('gina', $label);
    my $t0 = time;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        if ($BACKEND eq 'pgsql') {
            exec('psql', '-X', '-q', '-h', $ENV{PG_SOCKDIR}, '-p', $ENV{PG_PORT},
                 '-U', $ENV{PG_USER}, '-d', 'xportjobs', '-c',
                 'BEGIN; LOCK TABLE xport_jobs IN ACCESS EXCLUSIVE MODE; '
                 . 'SELECT pg_sleep(5); COMMIT;');
        }
        else {
            open(my $in, '|-', 'sqlite3', "$STORAGE/jobs.db") or exit 1;
            print $in "BEGIN EXCLUSIVE;\n.shell sleep 5\nCOMMIT;\n";
            close $in;
            exit 0;
        }
        exit 1;
    }
    sleep 0.5;
    my ($worst, $bad) = (0, 0);
    while (time - $t0 < 5.5) {
        my $t = time;
        $bad++ unless server_answers();
        $worst = time - $t if time - $t > $worst;
        sleep 0.2;
    }
    waitpid($pid, 0);
    is $? >> 8, 0, "$label: the lock was held";
    is $bad, 0, "$label: GET /exports answered 200 throughout (slowest "
        . sprintf('%.1f s', $worst) . ')';
    my ($res, $rec) = create_export(user => 'alice', params => { filter => 'users' });
    is $res->code, 202, "$label: a new export is accepted after it";
    check_export($id, 'gina', $label) if $id;
}

# ------------------------------------------------ PostgreSQL stopped
SKIP: {
    skip 'PostgreSQL phase only', 1 unless $BACKEND eq 'pgsql';
    my $label = 'PostgreSQL stopped for 10 s';
    my $pg_bin = $ENV{PG_BIN} || '/usr/lib/postgresql/15/bin';
    my $data = "$ENV{PG_SOCKDIR}/data";
    # the import waits on the gate mid-write (the sink section of host
    # xport_gate), so it provably runs when the server stops; the gate's
    # holder goes with the server
    db_exec_in('gate', 'TRUNCATE gate_sink');
    ok gate_hold(), "$label: the test holds the gate";
    my $sink = make_archive(sections => [ { name => 'sink', key => 'id', columns => [qw(id n payload)],
        lines => [ map { sprintf '{"id":"s%05d","n":%d,"payload":"sink %d"}', $_, $_, $_ } 1 .. 3000 ] } ]);
    my ($res, $imp) = post_import(vhost => 'xport_gate', archive => $sink);
    is $res->code, 202, "$label: an import accepted";
    ok wait_for(sub { gate_waiters() >= 1 }, 60), "$label: ... it runs, mid-write";
    my $id = start_slow('bob', $label);    # alice runs the import
    my $log = error_log_offset();
    system("$pg_bin/pg_ctl", '-D', $data, '-m', 'fast', '-w', 'stop') == 0
        or diag 'pg_ctl stop failed';
    gate_release();
    sleep 10; # the outage itself, well inside XportRetryWindow (60 s)
    system("$pg_bin/pg_ctl", '-D', $data, '-l', "$ENV{PG_SOCKDIR}/server.log", '-w', '-o',
           "-k $ENV{PG_SOCKDIR} -p $ENV{PG_PORT} -c listen_addresses=$ENV{PG_HOST} "
           . '-c fsync=off -c synchronous_commit=off -c full_page_writes=off', 'start') == 0
        or diag 'pg_ctl start failed';
    ok wait_for(sub { server_answers() }, 30), "$label: GET /exports answers again";
    # both wait for the database (XportRetryWindow) and run again
    check_export($id, 'bob', $label, timeout => 120);
    my $end = wait_import(($imp || {})->{id}, vhost => 'xport_gate', timeout => 120) || {};
    is $end->{status}, 'completed', "$label: the import completed" or diag explain $end;
    is_deeply db_rows_in('gate', 'SELECT count(*) AS n, count(DISTINCT id) AS d FROM gate_sink')->[0],
        { n => 3000, d => 3000 }, "$label: every row imported once";
    my $text = error_log_since($log);
    my @tags = sort keys %{ { map { $_ => 1 } $text =~ /\b(XP\d{4})\b/g } };
    ok scalar(@tags), "$label: tagged lines in the error log: @tags";
    like $text, qr/XP0548: job \Q$imp->{id}\E/, "$label: the import waited for the database and ran again"
        if $imp;
}

# ------------------------------------------------ job store connections cut
SKIP: {
    skip 'PostgreSQL phase only', 1 unless $BACKEND eq 'pgsql';
    my $label = 'job store sessions ended';
    ok server_answers(), "$label: the children have job store connections";
    # what a database restart does to the connections idle in the pools
    db_exec_in('jobs', 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
               . 'WHERE datname = current_database() AND pid <> pg_backend_pid()');
    my @codes = map { (create_export(user => 'alice', params => { filter => 'users' }))[0]->code } 1 .. 4;
    is_deeply \@codes, [ (202) x 4 ], "$label: POSTs right after are accepted (a dead "
        . 'pooled connection is replaced, not answered with 503)';
}

# no job of this file stays running past the heartbeat window (30 s);
# the last cases' own jobs may still be finishing (carol sees all)
sub running_jobs {
    my $n = 0;
    for my $kind ('exports', 'imports') {
        $n += @{ json_list(api('GET', "/$kind?status=running", user => 'carol')) };
    }
    return $n;
}
ok wait_for(sub { running_jobs() == 0 }, 40), 'no export or import is left running'
    or diag running_jobs() . ' job(s) still running';

done_testing();
