# 50_nodes.t -- SPEC 10 with two nodes: a second httpd, API-only
# (XportWorkers 0), on the test server's PostgreSQL job store and storage
# directory. Exports posted to it are run by the test server's worker,
# which hears of them through NOTIFY (not its 0.5 s poll): the median of
# ten from insert to claim is under 0.1 s. Their status and files are the
# same from both nodes.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use Time::HiRes qw(time sleep);
use Digest::SHA qw(sha256_hex);
use XportTest;

plan skip_all => 'a PostgreSQL job store only (SQLite serves one node)'
    unless ($ENV{XPORT_STORE_DRIVER} // '') eq 'pgsql';

# The second node: the same job store, data source, sections and
# storage, no worker.
my $node = node_start(name => 'node2', workers => 0);
ok $node, 'the second node starts and answers' or do { done_testing(); exit 1 };
END { node_stop($node) if $node }
my $N2 = $node->{url};

# ------------------------------------------------ posted there, run here
my (@lat, @ids);
for my $i (1 .. 10) {
    my $res = api('POST', "$N2/exports", json => { filter => 'users' });
    my $id = json_obj($res)->{id};
    push @ids, $id;
    my $end = wait_job($id) || {};
    last unless ($end->{status} // '') eq 'completed';
    my $row = db_rows_in('jobs', 'SELECT created_at, started_at, owner FROM xport_jobs '
                         . "WHERE id = '$id'")->[0] || {};
    push @lat, ($row->{started_at} // 0) - ($row->{created_at} // 0);
}
is scalar(@lat), 10, 'ten exports posted to the API-only node completed';
my @sorted = sort { $a <=> $b } @lat;
my $median = @sorted == 10 ? ($sorted[4] + $sorted[5]) / 2 : 1e9;
diag "insert to claim across nodes: @lat ms (median $median)";
ok $median < 100, "the worker claimed them $median ms after the insert (median; "
    . "@lat ms): woken by NOTIFY, not at its 0.5 s poll";
my $wpid = worker_pid();
my $owner = db_rows_in('jobs', "SELECT owner FROM xport_jobs WHERE id = '$ids[0]'")->[0]{owner} // '';
like $owner, qr/:\Q$wpid\E$/, "run by the test server's worker ($owner)";

# ------------------------------------------------ the same from both nodes
for my $id (@ids[0, 9]) {
    my $here = job_of($id) || {};
    my $there = json_obj(api('GET', "$N2/exports/$id"));
    is_deeply [ @$there{qw(id status sha256 file_size count)} ],
              [ @$here{qw(id status sha256 file_size count)} ],
        "$id: the same record from both nodes";
    my $file = api('GET', "$N2/exports/$id/download");
    is $file->code, 200, "$id: downloads from the node that did not make it";
    is sha256_hex($file->content), $here->{sha256}, "$id: ... the archive whole";
}

done_testing();
