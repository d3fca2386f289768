# 07_limits.t -- configured limits end jobs cleanly (SPEC sections 2 and
# 7): an export over XportMaxArchiveSize (16K on xport_limits) fails with
# a message naming the directive and leaves no file; a job running past
# XportJobTimeout (2s on xport_timeout) ends timed_out, also leaving no
# file.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use XportTest;

# XportMaxArchiveSize
{
    my %L = (vhost => 'xport_limits');
    my ($res, $rec) = create_export(%L, params => { filter => 'messages' });
    is $res->code, 202, 'big export accepted on xport_limits' or diag $res->as_string;
    my $end = wait_job($rec->{id}, %L, timeout => 60) || {};
    is $end->{status}, 'failed', 'over XportMaxArchiveSize: failed' or diag explain $end;
    ok $end->{finished} && !$end->{success}, 'finished, not successful';
    my $msgs = join ' | ', @{ $end->{error_messages} || [] };
    like $msgs, qr/XportMaxArchiveSize/, 'the error names XportMaxArchiveSize';
    ok $end->{status} && !defined $end->{sha256} && (($end->{file_size} // -1) <= 0),
        'no sha256 and no size recorded';
    is download($rec->{id}, %L)->code, 410, 'download of the failed export: 410';
    is_deeply [ storage_leftovers($rec->{id}) ], [], 'no file left in exports/ or tmp/';

    # a small export still fits
    ($res, $rec) = create_export(%L, params => { filter => 'global_properties' });
    my $ok = wait_job($rec->{id}, %L) || {};
    is $ok->{status}, 'completed', 'a small export under the limit completes';
}

# XportJobTimeout
{
    my %T = (vhost => 'xport_timeout');
    my ($res, $rec) = create_export(%T, user => 'bob', params => { filter => 'slow' });
    is $res->code, 202, 'slow export accepted on xport_timeout' or diag $res->as_string;
    my $end = wait_job($rec->{id}, %T, user => 'bob', timeout => 60) || {};
    is $end->{status}, 'timed_out', 'past XportJobTimeout: timed_out' or diag explain $end;
    ok $end->{finished} && !$end->{success}, 'finished, not successful';
    ok defined $end->{duration} && $end->{duration} >= 2 && $end->{duration} < 30,
        'it ran about as long as the timeout' or diag explain $end;
    like join(' ', @{ $end->{error_messages} || [] }), qr/XportJobTimeout|time/i,
        'the error says it timed out';
    is download($rec->{id}, %T, user => 'bob')->code, 410, 'download of a timed-out job: 410';
    my $t0 = time;
    sleep 1 while storage_leftovers($rec->{id}) && time - $t0 < 10;
    is_deeply [ storage_leftovers($rec->{id}) ], [], 'no file left in exports/ or tmp/';
}

done_testing();
