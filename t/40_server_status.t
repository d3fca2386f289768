# 40_server_status.t -- mod_xport's section of server-status (SPEC 9),
# on the job store of this phase. mod_status comes from the inherited
# configuration (t/run-tests.sh), /server-status from Apache::Test's
# generated httpd.conf.
#
# Two exports of host xport_gate provably run (the test holds the gate,
# see t/22_faults.t: each has read its first rows and waits in pg_locks),
# so both job threads (XportWorkers 2) are taken and a third export stays
# queued. Then the page and ?auto show the worker, the queue of one and
# both running jobs with the id, kind, user, API, progress and age the
# API reports; once the gate opens all three complete, and neither
# output shows them any more.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use Time::HiRes qw(time);
use XportTest;

my %G = (vhost => 'xport_gate');

ok Apache::Test::have_module('status'), 'mod_status is loaded'
    or do { done_testing(); exit 1 };

sub status_page {
    my ($query) = @_;
    return api('GET', 'http://' . hostport() . '/server-status' . ($query // ''),
               user => undef);
}

# ?auto as { name => value }, workers => [...], jobs => { id => {...} }.
sub auto {
    my $res = status_page('?auto');
    my %a = (code => $res->code, workers => [], jobs => {});
    for (split /\n/, $res->content // '') {
        if (m{^XportJob: (\S+) (\S+) (\S+) (\S+) (\d+)/(\d+) ([\d.]+)% (\d+)s$}) {
            $a{jobs}{$1} = { kind => $2, user => $3, api => $4, done => $5,
                             total => $6, percentage => $7, age => $8 };
        }
        elsif (/^XportWorker: (\d+) (\d+) (\d+)$/) {
            push @{ $a{workers} }, { pid => $1, threads => $2, running => $3 };
        }
        elsif (/^(Xport\w+): (.*)$/) {
            $a{$1} = $2;
        }
    }
    return \%a;
}

# The page's mod_xport section (mod_status's own tables, above it, show
# recent request lines, job ids among them).
sub xport_section {
    my ($html) = (status_page()->content // '') =~ m{<h2>mod_xport</h2>(.*)}s;
    return $html // '';
}

sub queued_in_store {
    return db_rows_in('jobs', "SELECT count(*) AS n FROM xport_jobs WHERE "
                      . "status = 'queued'")->[0]{n};
}

# ------------------------------------------------ idle
my $a = auto();
is $a->{code}, 200, '?auto answers 200';
ok(($a->{XportWorkers} // 0) >= 1, "a worker process is listed ("
   . ($a->{XportWorkers} // 'none') . ')');
is $a->{XportJobThreads}, 2, 'with XportWorkers 2 job threads';
my $wpid = worker_pid();
ok $wpid && grep({ $_->{pid} == $wpid && $_->{threads} == 2 } @{ $a->{workers} }),
    "XportWorker names the worker process ($wpid)" or diag explain $a;
like $a->{XportQueued} // '', qr/^\d+$/, 'XportQueued is a count';
like $a->{XportRunning} // '', qr/^\d+$/, 'XportRunning is a count';

my $res = status_page();
is $res->code, 200, 'the page answers 200';
like $res->content, qr{<h2>mod_xport</h2>}, 'the page has a mod_xport section';

# ------------------------------------------------ two running, one queued
ok gate_hold(), 'the test holds the gate' or do { done_testing(); exit 1 };
my (%run, %rec);
for my $user (qw(dave erin)) {
    my ($r, $j) = create_export(%G, user => $user,
                                params => { filter => 'gated', format => 'ndjson' });
    is $r->code, 202, "$user: gated export accepted" or diag $r->as_string;
    $run{$user} = $j->{id};
}
for my $user (qw(dave erin)) {
    $rec{$user} = wait_job($run{$user}, %G, user => $user, timeout => 60,
        until => sub { $_[0]{finished} || ($_[0]{progress}{done} // 0) > 0 }) || {};
    is $rec{$user}{status}, 'running', "$user: the export runs";
}
ok wait_for(sub { gate_waiters() >= 2 }, 60), 'both wait on the gate';
# the progress they show now stays until the gate opens
$rec{$_} = job_of($run{$_}, %G, user => $_) || {} for qw(dave erin);

my ($r3, $queued) = create_export(user => 'alice', params => { filter => 'users' });
is $r3->code, 202, 'a third export accepted';
is((job_of($queued->{id}, user => 'alice') || {})->{status}, 'queued',
   '... and queued: both job threads are taken');

my $started = time;
$a = auto();
my $store_queued = queued_in_store();
ok $store_queued >= 1, "the job store has $store_queued queued job(s)";
is $a->{XportQueued}, $store_queued, 'XportQueued counts them';
is $a->{XportRunning}, 2, 'XportRunning: 2';
ok grep({ $_->{pid} == $wpid && $_->{running} == 2 } @{ $a->{workers} }),
    'the worker runs both' or diag explain $a->{workers};
ok !$a->{jobs}{ $queued->{id} }, 'the queued job is not listed as running';
for my $user (qw(dave erin)) {
    my $id = $run{$user};
    my $j = $a->{jobs}{$id};
    my $p = $rec{$user}{progress} || {};
    ok $j, "$user: XportJob line for $id" or do { diag explain $a; next };
    is_deeply [ @$j{qw(kind user api done total)} ],
              [ 'export', $user, 'native', $p->{done}, $p->{total} ],
              "$user: kind, user, API and progress as the API has them";
    is $j->{percentage} + 0, $p->{percentage} + 0, "$user: percentage $j->{percentage}";
    ok $j->{age} >= $rec{$user}{duration} - 1 && $j->{age} <= time - $started
        + $rec{$user}{duration} + 2,
        "$user: age $j->{age}s (running for about $rec{$user}{duration}s)";
}

my $html = xport_section();
like $html, qr{<dt>Queued jobs: \Q$store_queued\E</dt>}, 'the page: queued jobs';
like $html, qr{<dt>Running jobs: 2</dt>}, 'the page: running jobs';
like $html, qr{<td>\Q$wpid\E</td><td>2</td><td>2</td>}, 'the page: the worker, its threads and jobs';
for my $user (qw(dave erin)) {
    my $p = $rec{$user}{progress} || {};
    my $pct = sprintf '%.1f', $p->{percentage} // 0;
    like $html, qr{<tr><td>\Q$run{$user}\E</td><td>export</td><td>$user</td>
                   <td>native</td><td>\Q$p->{done}/$p->{total}\E</td>
                   <td>\Q$pct\E</td><td>\d+</td></tr>}x,
        "the page: $user\'s job with its progress";
}

# ------------------------------------------------ all done
gate_release();
for my $user (qw(dave erin)) {
    is((wait_job($run{$user}, %G, user => $user, timeout => 90) || {})->{status},
       'completed', "$user: the export completes once the gate opens");
}
is((wait_job($queued->{id}, user => 'alice', timeout => 60) || {})->{status},
   'completed', 'the queued export completes');
ok wait_for(sub { (auto()->{XportRunning} // -1) == 0 }, 10), 'XportRunning: 0';
$a = auto();
is $a->{XportQueued}, queued_in_store(), 'XportQueued follows the store ('
   . ($a->{XportQueued} // 'none') . ')';
ok !grep({ $a->{jobs}{$_} } values %run, $queued->{id}), 'no XportJob line left';
ok grep({ $_->{pid} == $wpid && $_->{running} == 0 } @{ $a->{workers} }),
    'the worker runs nothing';
$html = xport_section();
ok !grep({ index($html, $_) >= 0 } values %run), 'the page lists none of them';
like $html, qr{<dt>Running jobs: 0</dt>}, 'the page: no running job';

done_testing();
