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

# a file the purge cannot remove (a directory with something in it
# where the archive was) is named in the error log, not ignored
my ($res3, $stuck) = create_export(%R, params => { filter => 'global_properties' });
my $stuck_end = wait_job($stuck->{id}, %R) || {};
is $stuck_end->{status}, 'completed', 'another short-lived export completed';
my ($file) = grep { index($_, $stuck->{id}) >= 0 } storage_files('exports');
my $path = "$ENV{XPORT_STORAGE}/exports/" . ($file // 'none');
ok $file && unlink($path) && mkdir($path) && open(my $fh, '>', "$path/keep"),
    'its archive replaced by a directory that is not empty';
close $fh if $fh;
my $log = error_log_offset();
ok((wait_for { api('GET', "/exports/$stuck->{id}", %R)->code == 404 } 20),
   'the record is purged');
ok((wait_for { error_log_since($log) =~ /XP0549: job \Q$stuck->{id}\E: cannot remove its file \Q$path\E/ } 10),
   'the error log names the file the purge could not remove')
    or diag error_log_since($log);
unlink "$path/keep";
rmdir $path;

is api('GET', "/exports/$keep->{id}")->code, 200,
    'the main server job, under its own 7-day retention, is kept';
ok scalar(storage_leftovers($keep->{id})), 'and so is its archive';

done_testing();
