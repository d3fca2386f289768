# 10_import_roundtrip.t -- an export imports back whole (SPEC sections 3,
# 5 and 6). The demo data exported from the main server is uploaded to
# both import targets, an empty SQLite and an empty PostgreSQL copy of the
# demo schema, so every phase does a round trip on its own backend and a
# migration to the other one. Each import completes with every row
# created; the target's tables then equal the source's row by row, and
# exporting them again gives data/*.ndjson entries byte-identical to the
# first export. Importing the same archive again (also as zip and tar.zst,
# sent raw) changes nothing and reports every row unchanged.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use JSON::PP ();
use XportTest;

my $BACKEND = $ENV{XPORT_BACKEND} || 'sqlite';
my @SECTIONS = qw(users bots messages scripts jobs global_properties);
my $HEX32 = qr/^[0-9a-f]{32}$/;

my $src = export_archive(filter => 'all');
ok $src, 'the demo data exports from the main server' or do { done_testing(); exit 1 };
my $m = JSON::PP->new->utf8->decode($src->{arc}{data}{'manifest.json'});
my %count = map { $_->{name} => $_->{count} } @{ $m->{sections} };
is_deeply [ sort keys %count ], [ sort @SECTIONS ], 'the archive holds the six demo sections';

sub label { return $_[0] eq $BACKEND ? "round trip $BACKEND" : "migration $BACKEND -> $_[0]" }

# Every section's changes: all rows in one bucket, the others 0.
sub all_changes {
    my ($changes, $bucket, $label) = @_;
    for my $sec (@SECTIONS) {
        my %want = (created => 0, updated => 0, unchanged => 0, skipped => 0);
        $want{$bucket} = $count{$sec};
        is_deeply $changes->{$sec}, \%want, "$label: $sec changes: $count{$sec} $bucket"
            or diag explain $changes->{$sec};
    }
}

sub rows_equal {
    my ($target, $label) = @_;
    for my $sec (@SECTIONS) {
        my $got = section_rows_in($target, $sec);
        my $want = section_rows_from_db($sec);
        is scalar(@$got), scalar(@$want), "$label: $sec row count";
        is_deeply $got, $want, "$label: $sec rows equal the source's, row by row";
    }
}

for my $target ('sqlite', 'pgsql') {
    my $label = label($target);
    my %T = (vhost => target_vhost($target));
    target_reset($target);
    is target_count($target, 'users'), 0, "$label: the target starts empty";

    my ($res, $rec) = post_import(%T, archive => $src->{bytes});
    is $res->code, 202, "$label: upload accepted" or do { diag $res->as_string; next };
    my $id = $rec->{id} // '';
    like $id, $HEX32, "$label: the record has an id";
    like $res->header('Location') // '', qr{^(https?://[^/]+)?/xport/imports/\Q$id\E$},
        "$label: Location names the import";
    is $rec->{kind}, 'import', "$label: kind import";
    my $end = wait_import($id, %T) || {};
    is $end->{status}, 'completed', "$label: completed" or diag explain $end;
    ok $end->{finished} && $end->{success}, "$label: finished and successful";
    is $end->{errors_total}, 0, "$label: no errors";
    is_deeply $end->{error_messages}, [], "$label: no error messages";
    all_changes($end->{changes} || {}, 'created', $label);
    my $p = $end->{progress} || {};
    my $total = 0;
    $total += $_ for values %count;
    ok(($p->{done} // -1) == $total && ($p->{total} // -1) == $total,
       "$label: progress done = total = $total rows") or diag explain $p;
    rows_equal($target, $label);

    my $again = export_archive(%T, filter => 'all');
    ok $again, "$label: the target exports again" or next;
    for my $name (grep { m{^data/} } @{ $src->{arc}{names} }) {
        my $a = $src->{arc}{data}{$name};
        my $b = $again->{arc}{data}{$name};
        ok defined $b && $a eq $b, "$label: $name byte-identical to the first export"
            or diag "first " . length($a) . " bytes, again " . length($b // '') . ' bytes';
    }
}

# The same archive again, raw this time: nothing changes, every row is
# reported unchanged; zip and tar.zst exports of the same data likewise.
my $before = { map { $_ => section_rows_in($BACKEND, $_) } @SECTIONS };
my @again = (
    [ 'tar.gz (raw)', $src->{bytes}, 'application/gzip' ],
);
for my $f ([ 'zip', 'application/zip' ], [ 'tar.zst', 'application/zstd' ]) {
    my $e = export_archive(filter => 'all', format => $f->[0]);
    push @again, [ "$f->[0] (raw)", $e->{bytes}, $f->[1] ] if $e;
}
for my $a (@again) {
    my ($what, $bytes, $ctype) = @$a;
    my %T = (vhost => target_vhost($BACKEND));
    my ($res, $rec) = post_import(%T, archive => $bytes, raw => $ctype,
                                  fields => [ on_conflict => 'update' ]);
    is $res->code, 202, "re-import $what: accepted" or do { diag $res->as_string; next };
    my $end = wait_import($rec->{id}, %T) || {};
    is $end->{status}, 'completed', "re-import $what: completed" or diag explain $end;
    all_changes($end->{changes} || {}, 'unchanged', "re-import $what");
    is_deeply { map { $_ => section_rows_in($BACKEND, $_) } @SECTIONS }, $before,
        "re-import $what: the data is as the first import left it";
}

done_testing();
