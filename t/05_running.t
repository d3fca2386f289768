# 05_running.t -- jobs while they run (SPEC sections 3 and 7), on the
# xport_slow virtual host whose `slow` section takes several seconds to
# export and where XportMaxJobsPerUser is 1: live progress, 409 +
# Retry-After on download, 429 + Retry-After over the per-user limit,
# cancelling a queued and a running job (200, then 410 on download, 409
# on a second cancel, nothing left in storage), DELETE of a running job.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use XportTest;

my %S = (vhost => 'xport_slow');

my ($res, $rec) = create_export(%S, user => 'erin', params => { filter => 'slow' });
is $res->code, 202, 'slow export accepted' or do { done_testing(); exit 1 };
my $id = $rec->{id};

my $run = wait_status($id, 'running', %S, user => 'erin', timeout => 20) || {};
is $run->{status}, 'running', 'the job runs';
$run = wait_job($id, %S, user => 'erin', timeout => 10,
                until => sub { ($_[0]{progress}{done} // 0) > 0 }) || {};
my $p = $run->{progress} || {};
ok(($p->{done} // 0) > 0 && ($p->{total} // 0) == 20000 && $p->{done} <= $p->{total},
   'live progress: done > 0, total = rows to export') or diag explain $p;
ok defined $p->{percentage} && $p->{percentage} >= 0 && $p->{percentage} < 100,
   'percentage between 0 and 100';
ok !$run->{finished} && !$run->{success}, 'not finished, not successful';

$res = download($id, %S, user => 'erin');
is $res->code, 409, 'download while running: 409';
like $res->header('Retry-After') // '', qr/^\d+$/, '409 carries Retry-After';
ok is_problem($res, 409), '409 is problem+json';
is api('HEAD', "/exports/$id/download", %S, user => 'erin')->code, 409, 'HEAD too';

# XportMaxJobsPerUser 1
$res = api('POST', '/exports', %S, user => 'erin', json => { filter => 'slow/g1' });
is $res->code, 429, 'second active job of the same user: 429';
like $res->header('Retry-After') // '', qr/^\d+$/, '429 carries Retry-After';
ok is_problem($res, 429), '429 is problem+json';

# another user is not limited by erin's job; with two workers busy a third
# job waits in the queue
my (undef, $f) = create_export(%S, user => 'frank', params => { filter => 'slow' });
ok $f && $f->{id}, "frank's export accepted";
wait_status($f->{id}, 'running', %S, user => 'frank', timeout => 20);
my ($r3, $g) = create_export(%S, user => 'gina', params => { filter => 'slow' });
is $r3->code, 202, "gina's export accepted";
SKIP: {
    skip 'gina\'s job is not queued (more than two workers?)', 3
        unless $g && $g->{status} eq 'queued'
        && (job_of($g->{id}, %S, user => 'gina') || {})->{status} eq 'queued';
    $res = api('PATCH', "/exports/$g->{id}", %S, user => 'gina',
               json => { status => 'cancelled' });
    is $res->code, 200, 'cancel a queued job: 200';
    is(json_obj($res)->{status}, 'cancelled', 'a queued job is cancelled at once');
    is download($g->{id}, %S, user => 'gina')->code, 410, 'its download is 410';
}

# cancel the running job
$res = api('PATCH', "/exports/$id", %S, user => 'erin', json => { status => 'cancelled' });
is $res->code, 200, 'cancel a running job: 200';
my $c = json_obj($res);
is $c->{id}, $id, 'PATCH answers the record';
my $end = wait_job($id, %S, user => 'erin', timeout => 20) || {};
is $end->{status}, 'cancelled', 'the running job ends cancelled' or diag explain $end;
ok $end->{finished} && !$end->{success}, 'finished, not successful';
$res = download($id, %S, user => 'erin');
is $res->code, 410, 'download of a cancelled job: 410';
ok is_problem($res, 410), '410 is problem+json';
$res = api('PATCH', "/exports/$id", %S, user => 'erin', json => { status => 'cancelled' });
is $res->code, 409, 'cancelling again: 409';
is_deeply [ storage_leftovers($id) ], [], 'no file of the cancelled job in exports/ or tmp/';

# the limit frees up once the job ended
($res, my $again) = create_export(%S, user => 'erin', params => { filter => 'slow/g1' });
is $res->code, 202, 'erin may start a new job after the cancel';

# DELETE of a running job cancels it and removes it
wait_status($f->{id}, 'running', %S, user => 'frank', timeout => 10);
$res = api('DELETE', "/exports/$f->{id}", %S, user => 'frank');
is $res->code, 204, 'DELETE of a running job: 204';
is api('GET', "/exports/$f->{id}", %S, user => 'frank')->code, 404, 'then 404';
my $t0 = time;
sleep 1 while storage_leftovers($f->{id}) && time - $t0 < 15;
is_deeply [ storage_leftovers($f->{id}) ], [], 'no file of the deleted job remains';

# leave nothing running for the next tests
if ($again && $again->{id}) {
    my $r = wait_job($again->{id}, %S, user => 'erin', timeout => 60) || {};
    is $r->{status}, 'completed', 'the slow/g1 export completes';
    is $r->{count}{slow}, 2000, 'slow/g1 holds 2000 rows';
}
$t0 = time;
sleep 1 while storage_files('tmp') && time - $t0 < 15;
is_deeply [ storage_files('tmp') ], [], 'tmp/ is empty when nothing runs';

done_testing();
