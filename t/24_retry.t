# 24_retry.t -- SPEC 7: a job whose data source connection is lost
# waits for it to come back (XportRetryWindow) and runs again from the
# start, ending completed with every row once; when it does not come
# back within the window, the job fails saying so, and nothing stays
# running. The same for an import into the sink section (its rows wait
# on the gate mid-write): run again after the loss, every row imported
# once; past the window, failed and nothing written.
#
# The export is held on the gate (t/data/gate-pgsql.sql), so the test
# knows it is mid-read when it ends the export's PostgreSQL backend
# (pg_terminate_backend: what a database restart does to a session). To
# keep the data source away, the test closes its database to new
# connections (ALLOW_CONNECTIONS false) and opens it again afterwards.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use XportTest;

my $GATE_DB = $ENV{XPORT_GATE_PG_DB};

# As the cluster's administrator (from its postgres database).
sub admin_sql {
    XportTest::_run_capture(XportTest::_psql('postgres', '-q', '-c', $_[0]));
}

# End the sessions of the gate's database that wait on the gate (the
# export's read); first, if asked, close the database to new ones.
sub cut_export {
    my ($close) = @_;
    admin_sql(($close ? "ALTER DATABASE $GATE_DB WITH ALLOW_CONNECTIONS false; " : '')
        . "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
        . "datname = '$GATE_DB' AND wait_event_type = 'Lock'");
}

sub open_gate_db { admin_sql("ALTER DATABASE $GATE_DB WITH ALLOW_CONNECTIONS true") }
END { open_gate_db() if $GATE_DB }

sub gated_export {
    my ($vhost) = @_;
    my ($r, $j) = create_export(vhost => $vhost, user => 'alice',
                                params => { filter => 'gated', format => 'ndjson' });
    is $r->code, 202, "$vhost: a gated export accepted" or diag $r->as_string;
    ok((wait_for { gate_waiters() >= 1 } 60), '... it waits on the gate, mid-read');
    return $j->{id};
}

# ------------------------------------------------ the connection comes back
ok gate_hold(), 'the test holds the gate' or do { done_testing(); exit 1 };
my $log = error_log_offset();
my $id = gated_export('xport_gate');
cut_export(0);
ok((wait_for { error_log_since($log) =~ /XP0548: job \Q$id\E/ } 30),
   'the worker waited for the data source and runs the job again')
    or diag error_log_since($log);
like error_log_since($log), qr/XP0547: job \Q$id\E: lost the connection to the data source/,
    '... having logged the loss and the wait';
is((job_of($id, vhost => 'xport_gate') || {})->{status}, 'running', 'the job is running, not failed');
ok((wait_for { gate_waiters() >= 1 } 60), '... on the gate again, from the start');
gate_release();
my $end = wait_job($id, vhost => 'xport_gate', timeout => 120) || {};
is $end->{status}, 'completed', 'it completes' or diag explain $end;
is((store_job($id) || {})->{attempts}, 1, 'as one attempt');
my $res = download($id, vhost => 'xport_gate');
is $res->code, 200, 'its file downloads';
my @lines = grep { length } split /\n/, $res->content // '';
my %ids = map { /"id":"([^"]+)"/ ? ($1 => 1) : () } @lines;
is scalar(@lines), 3000, 'with every row';
is scalar(keys %ids), 3000, '... each once';

# ------------------------------------------------ it does not come back in time
ok gate_hold(), 'the test holds the gate again';
$log = error_log_offset();
$id = gated_export('xport_gate_short');
cut_export(1);
$end = wait_job($id, vhost => 'xport_gate_short', timeout => 60) || {};
open_gate_db();
is $end->{status}, 'failed', 'with XportRetryWindow 2s the job fails';
like join(' ', @{ $end->{error_messages} || [] }),
    qr/lost the connection to the data source.*did not come back within XportRetryWindow \(2s\)/,
    '... saying it lost the data source and waited 2 s' or diag explain $end;
ok !$end->{file_size}, '... and leaves no file';
gate_release();
my ($r, $again) = create_export(vhost => 'xport_gate', user => 'alice',
                                params => { filter => 'gated', format => 'ndjson' });
my $fin = wait_job($again->{id}, vhost => 'xport_gate', timeout => 120) || {};
is $fin->{status}, 'completed', 'with the database open again, an export completes';

# ------------------------------------------------ an import, the same two ways
my $SINK = make_archive(sections => [ { name => 'sink', key => 'id', columns => [qw(id n payload)],
    lines => [ map { sprintf '{"id":"s%05d","n":%d,"payload":"sink %d"}', $_, $_, $_ } 1 .. 3000 ] } ]);
sub sink_rows {
    return db_rows_in('gate', 'SELECT count(*) AS n, count(DISTINCT id) AS d FROM gate_sink')->[0];
}
sub gated_import {
    my ($vhost) = @_;
    db_exec_in('gate', 'TRUNCATE gate_sink');
    my ($r, $j) = post_import(vhost => $vhost, user => 'alice', archive => $SINK);
    is $r->code, 202, "$vhost: an import into the sink accepted" or diag $r->as_string;
    ok((wait_for { gate_waiters() >= 1 } 60), '... it waits on the gate, mid-write');
    return $j->{id};
}

ok gate_hold(), 'the test holds the gate for an import';
$log = error_log_offset();
$id = gated_import('xport_gate');
cut_export(0);
ok((wait_for { error_log_since($log) =~ /XP0548: job \Q$id\E/ } 30),
   'the worker waited for the data source and runs the import again')
    or diag error_log_since($log);
is((import_of($id, vhost => 'xport_gate') || {})->{status}, 'running', 'the import is running, not failed');
ok((wait_for { gate_waiters() >= 1 } 60), '... on the gate again, from the start');
gate_release();
$end = wait_import($id, vhost => 'xport_gate') || {};
is $end->{status}, 'completed', 'it completes' or diag explain $end;
is((store_job($id) || {})->{attempts}, 1, 'as one attempt');
is_deeply sink_rows(), { n => 3000, d => 3000 }, 'every row imported, each once';

ok gate_hold(), 'the test holds the gate again';
$id = gated_import('xport_gate_short');
cut_export(1);
$end = wait_import($id, vhost => 'xport_gate_short', timeout => 60) || {};
open_gate_db();
is $end->{status}, 'failed', 'with XportRetryWindow 2s the import fails';
like join(' ', @{ $end->{error_messages} || [] }),
    qr/did not come back within XportRetryWindow \(2s\)/, '... saying it waited 2 s'
    or diag explain $end;
gate_release();
is_deeply sink_rows(), { n => 0, d => 0 }, '... and nothing was written';
is((store_job($id) || {})->{status}, 'failed', 'nothing stays running');

done_testing();
