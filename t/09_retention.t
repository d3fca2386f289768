# 09_retention.t -- XportRetention (SPEC section 2): finished jobs older
# than the retention of the virtual host that accepted them are purged
# with their archives, and only those: the main server (7 days) keeps its
# own jobs although both hosts share one job store and one storage.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use XportTest;

my %R = (vhost => 'xport_retention');

my ($res, $rec) = create_export(%R, params => { filter => 'global_properties' });
is $res->code, 202, 'export accepted on xport_retention (XportRetention 2s)'
    or diag $res->as_string;
my ($res2, $keep) = create_export(params => { filter => 'global_properties' });
is $res2->code, 202, 'export accepted on the main server (XportRetention default)';

my $end = wait_job($rec->{id}, %R) || {};
is $end->{status}, 'completed', 'the short-lived export completed';
ok scalar(storage_leftovers($rec->{id})), 'its archive is in storage';
my $kept = wait_job($keep->{id}) || {};
is $kept->{status}, 'completed', 'the main server export completed';

# the worker's maintenance pass runs every few seconds
my $t0 = time;
my $code;
while (time - $t0 < 20) {
    $code = api('GET', "/exports/$rec->{id}", %R)->code;
    last if $code == 404;
    sleep 1;
}
is $code, 404, 'the record is purged after XportRetention';
is_deeply [ storage_leftovers($rec->{id}) ], [], 'its archive is removed with it';
is download($rec->{id}, %R)->code, 404, 'its download answers 404';

is api('GET', "/exports/$keep->{id}")->code, 200,
    'the main server job, under its own 7-day retention, is kept';
ok scalar(storage_leftovers($keep->{id})), 'and so is its archive';

done_testing();
