# 08_restart.t -- jobs survive the server's life events (SPEC sections 1
# and 7): an export keeps running through a graceful restart (SIGUSR1 to
# the httpd parent, what `apachectl -k graceful` sends) and completes; a
# worker process killed with SIGKILL is restarted by the parent (a new
# pid) and its job is re-queued and completed. Runs last: it restarts the
# server.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep time);
use XportTest;

my %S = (vhost => 'xport_slow', user => 'alice');
my $parent = httpd_parent_pid();
ok $parent && kill(0, $parent), "httpd parent runs (pid " . ($parent // '?') . ')'
    or do { done_testing(); exit 1 };

sub check_download {
    my ($id, $rows, $label) = @_;
    my $rec = job_of($id, %S) || {};
    my $res = download($id, %S);
    is $res->code, 200, "$label: downloadable";
    is sha256_hex($res->content), $rec->{sha256}, "$label: sha256 matches";
    my $arc = eval { read_archive($res->content, 'tar.gz') } || { data => {} };
    my $lines = () = ($arc->{data}{'data/slow.ndjson'} // '') =~ /\n/g;
    is $lines, $rows, "$label: all $rows rows in the archive";
}

# ------------------------------------------------------------ graceful
{
    my ($res, $rec) = create_export(%S, params => { filter => 'slow/g1,g2,g3,g4,g5' });
    is $res->code, 202, 'export for the graceful restart accepted' or diag $res->as_string;
    my $id = $rec->{id};
    my $r = wait_status($id, 'running', %S, timeout => 20) || {};
    is $r->{status}, 'running', 'running before the restart';
    my $w_before = worker_pid();
    kill 'USR1', $parent;
    sleep 1;
    # the server answers again after the restart
    my $up = 0;
    for (1 .. 50) { $up = 1, last if api('GET', '/exports', %S)->code == 200; sleep 0.2 }
    ok $up, 'the server answers after the graceful restart';
    is httpd_parent_pid(), $parent, 'same parent after a graceful restart';
    my $end = wait_job($id, %S, timeout => 120) || {};
    is $end->{status}, 'completed', 'the export completed through the graceful restart'
        or diag explain $end;
    check_download($id, 10000, 'graceful') if ($end->{status} // '') eq 'completed';
    if ($w_before) {
        my $t0 = time;
        sleep 0.2 while kill(0, $w_before) && time - $t0 < 20;
        ok !kill(0, $w_before), 'the old worker exited once idle';
    }
}

# ------------------------------------------------------------ kill -9
{
    my ($res, $rec) = create_export(%S, params => { filter => 'slow/g1,g2,g3,g4,g5' });
    is $res->code, 202, 'export for the crash accepted' or diag $res->as_string;
    my $id = $rec->{id};
    my $r = wait_job($id, %S, timeout => 20,
                     until => sub { ($_[0]{progress}{done} // 0) > 0 }) || {};
    is $r->{status}, 'running', 'running before the kill';
    my $victim;
    my $t0 = time;
    until ($victim = worker_pid() or time - $t0 > 10) { sleep 0.2 }
    ok $victim, 'found the worker process (pid ' . ($victim // '?') . ')'
        or diag 'children: ' . join(' ', httpd_children());
    SKIP: {
        skip 'no worker pid', 5 unless $victim;
        my %before = map { $_ => 1 } httpd_children();
        ok kill('KILL', $victim), 'SIGKILL sent to the worker';
        # The new worker is the pid worker_pid() finds once it runs the
        # re-queued job, or failing that a child of the parent that was
        # not there before the kill (MPM children stay put when idle).
        my $new;
        $t0 = time;
        while (time - $t0 < 60) {
            my $w = worker_pid();
            $new = $w if $w && $w != $victim;
            ($new) = grep { !$before{$_} } httpd_children() unless $new;
            last if $new;
            sleep 0.3;
        }
        ok !kill(0, $victim) || _zombie($victim), 'the killed worker is gone';
        ok $new && $new != $victim, 'the parent started a new worker (pid ' . ($new // '?') . ')';
        my $end = wait_job($id, %S, timeout => 180) || {};
        is $end->{status}, 'completed', 'the killed job was re-queued and completed'
            or diag explain $end;
        check_download($id, 10000, 'after kill -9') if ($end->{status} // '') eq 'completed';
    }
    is httpd_parent_pid(), $parent, 'the httpd parent survived';
}

sub _zombie {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/stat") or return 1;
    my $s = <$fh>;
    close $fh;
    return $s =~ /\)\s+Z\s/ ? 1 : 0;
}

done_testing();
