# 51_cluster.t -- SPEC 10 with three nodes of the test's own: n1 and n2
# run jobs (XportWorkers 2), n3 is API-only, all on one PostgreSQL job
# store (a database of this test) and one storage directory. The gated
# section (t/data/gate-pgsql.sql) holds exports mid-read while the test
# holds the gate, so "mid-job" is a state, not a moment.
#
#  1. 100 exports posted round robin; n2 is killed with SIGKILL (every
#     process of it) while it runs two of them. Every job completes; the
#     logs of all nodes name each job's runs: one run completed each,
#     the killed ones ran twice; no file is left but the 100 archives.
#  2. An event stream on the API-only node follows a job run by n1: its
#     end arrives through the job store's notes, before the stream's
#     first keep-alive (its 15 s safety read).
#  3. Status and downloads are the same from every node (n2 started
#     again).
#  4. A rolling graceful restart of every node with jobs running (held
#     on the gate): every job completes, none fails.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use XportTest;

plan skip_all => 'a PostgreSQL job store only (SQLite serves one node)'
    unless ($ENV{XPORT_STORE_DRIVER} // '') eq 'pgsql';

my $DB = 'xportcluster';
sub admin_sql {
    local $ENV{PGOPTIONS} = '-c client_min_messages=warning';
    XportTest::_run_capture(XportTest::_psql('postgres', '-q', '-c', $_[0]));
}
sub store_rows {
    my ($sql) = @_;
    my $out = XportTest::_run_capture(XportTest::_psql($DB,
        '-c', "SELECT coalesce(json_agg(q), '[]'::json) FROM ($sql) q"));
    return JSON::PP->new->decode($out =~ /\S/ ? $out : '[]');
}
admin_sql("DROP DATABASE IF EXISTS $DB");
admin_sql("CREATE DATABASE $DB");

(my $store = $ENV{XPORT_STORE_PARAMS}) =~ s/dbname=\S+/dbname=$DB/;
my $storage = tempdir(CLEANUP => 1);
chmod 0755, $storage;
my %common = (store => $store, storage => $storage,
              source => [ pgsql => $ENV{XPORT_GATE_PG_PARAMS} ],
              sections => 'XportSection gated table=gated_events key=id types=n:int');
my %node;
for ([ n1 => 2 ], [ n2 => 2 ], [ n3 => 0 ]) {
    my ($name, $workers) = @$_;
    $node{$name} = node_start(%common, name => $name, workers => $workers);
    ok $node{$name}, "$name starts (XportWorkers $workers)"
        or do { done_testing(); exit 1 };
}
END { node_stop($_) for grep { $_ } values %node }
my @names = qw(n1 n2 n3);

sub post_gated {
    my ($name) = @_;
    my $res = api('POST', "$node{$name}{url}/exports", json => { filter => 'gated' });
    return $res->code == 202 ? json_obj($res)->{id} : do { diag $res->as_string; undef };
}

# Jobs of @ids in each status, from the job store.
sub statuses {
    my (@ids) = @_;
    my %n;
    $n{ $_->{status} }++ for @{ store_rows('SELECT status FROM xport_jobs WHERE id IN ('
        . join(',', map { "'$_'" } @ids) . ')') };
    return \%n;
}

# "id" => [lines] of every node's log matching re (the id is the line's).
sub log_lines {
    my ($re) = @_;
    my %by;
    for my $n (values %node) {
        open(my $fh, '<', $n->{log}) or next;
        while (my $l = <$fh>) { push @{ $by{$1} }, $l if $l =~ $re }
        close $fh;
    }
    return \%by;
}

# ------------------------------------------------ 1. a node dies mid-job
ok gate_hold(), 'the test holds the gate' or do { done_testing(); exit 1 };
my @ids = map { post_gated($names[$_ % 3]) } 0 .. 99;
is scalar(grep { defined } @ids), 100, '100 exports accepted, round robin over the three nodes';
ok((wait_for { gate_waiters() >= 4 } 60), 'the four job threads of n1 and n2 wait on the gate');

my $victim = node_worker($node{n2});
my $mine = sub {
    store_rows("SELECT id FROM xport_jobs WHERE status = 'running' AND owner LIKE '%:"
               . ($victim // 0) . "'");
};
ok((wait_for { @{ $mine->() } == 2 } 30), "n2's worker ($victim) runs two of them");
my @killed = map { $_->{id} } @{ $mine->() };

# an event stream on the API-only node, of a job n1 runs
my ($far) = map { $_->{id} } @{ store_rows("SELECT id FROM xport_jobs WHERE status = "
    . "'running' AND owner NOT LIKE '%:" . ($victim // 0) . "' LIMIT 1") };
my ($h3) = $node{n3}{url} =~ m{//([^/]+)/};
my $sse = sse_open("/exports/$far/events", hostport => $h3);
is $sse->{code}, 200, "n3 streams the events of $far, which n1 runs";
my $first = sse_next($sse, 10) || {};
is $first->{data}{status}, 'running', '... it opens with the job running';

ok node_kill($node{n2}), 'n2 killed with SIGKILL, every process of it';
gate_release();

my $t0 = time;
ok((wait_for { (statuses(@ids)->{completed} // 0) == 100 } 110),
   'every job completed') or diag explain statuses(@ids);
diag sprintf '100 jobs ended %.1f s after the gate opened', time - $t0;

# 2. the stream of the far job
my ($end, $keepalive);
while (my $e = sse_next($sse, 30, comments => 1)) {
    $keepalive = 1, last if defined $e->{comment} && $e->{comment} =~ /keep-alive/;
    $end = $e if ($e->{event} // '') eq 'status' && ($e->{data}{status} // '') eq 'completed';
    last if $end;
}
ok $end && !$keepalive, 'its end reached the stream on the API-only node through the '
    . "job store's notes, before the first keep-alive"
    or diag explain $end;
sse_close($sse);

# each job's runs, from the logs of all three nodes
my $started = log_lines(qr/XP0515: job ([0-9a-f]{32}) /);
my $completed = log_lines(qr/XP0514: job ([0-9a-f]{32}) completed/);
is scalar(grep { @{ $completed->{$_} || [] } == 1 } @ids), 100,
   'each archive made exactly once (one completed run each, in all the logs)';
is scalar(grep { @{ $started->{$_} || [] } == 1 } grep { my $k = $_; !grep { $_ eq $k } @killed } @ids),
   98, '... and every job n2 was not running when killed ran once';
for my $id (@killed) {
    my @runs = @{ $started->{$id} || [] };
    is scalar(@runs), 2, "$id, killed mid-run: ran twice";
    is scalar(grep { /attempt 2\) started by/ } @runs), 1, '... the second time as attempt 2';
    is store_rows("SELECT attempts FROM xport_jobs WHERE id = '$id'")->[0]{attempts}, 2,
        '... as the job store says';
}

my @files = glob("$storage/exports/*");
my %made = map { my $f = $_; ((grep { index($f, $_) >= 0 } @ids)[0] // 'stray') => 1 } @files;
is scalar(@files), 100, 'exports/ holds 100 archives' or diag join "\n", @files;
ok !$made{stray} && keys(%made) == 100, '... one per job, nothing else';
is_deeply [ glob("$storage/tmp/*") ], [], 'tmp/ is empty: the killed runs left nothing';

# ------------------------------------------------ 3. the same from every node
$node{n2} = node_start(%{ $node{n2} });
ok $node{n2}, 'n2 starts again';
my $same = 0;
my %seen;
for my $id (grep { !$seen{$_}++ } @ids[0, 1, 2, 50], @killed) {
    my @recs = map { json_obj(api('GET', "$node{$_}{url}/exports/$id")) } @names;
    my @keys = map { join ' ', (map { $_ // '' } @$_{qw(id status sha256 file_size)}),
                             JSON::PP->new->canonical->encode($_->{count} // {}) } @recs;
    my @sums = map { sha256_hex(api('GET', "$node{$_}{url}/exports/$id/download")->content) } @names;
    my $ok = $keys[0] eq $keys[1] && $keys[1] eq $keys[2]
        && ($recs[0]{status} // '') eq 'completed' && !grep { $_ ne ($recs[0]{sha256} // '') } @sums;
    $same++ if $ok;
    diag "$id: @keys / @sums" unless $ok;
}
is $same, scalar(keys %seen), 'status and downloads are the same from all three nodes';

# ------------------------------------------------ 4. a rolling restart
ok gate_hold(), 'the test holds the gate again';
my @held = map { post_gated($names[$_ % 3]) } 0 .. 11;
ok((wait_for { gate_waiters() >= 4 } 60), 'twelve more exports, four of them running');
for my $name (@names) {
    ok node_graceful($node{$name}), "$name: graceful restart, the new generation answers";
}
gate_release();
ok((wait_for { my $s = statuses(@held); ($s->{completed} // 0) == 12 } 110),
   'every job running or queued through the rolling restart completed')
    or diag explain statuses(@held);
is store_rows("SELECT count(*) AS n FROM xport_jobs WHERE status <> 'completed'")->[0]{n}, 0,
   'no job of the cluster failed, none is left running';

done_testing();
