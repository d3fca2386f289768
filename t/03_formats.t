# 03_formats.t -- the archive format (SPEC section 5): tar.gz, tar.zst and
# zip read back with the system's tar, zstd and unzip; manifest first,
# sections in reference order, every row equal to the database's, the
# manifest's per-entry SHA-256/bytes/count right, and the job's SHA-256
# equal to the downloaded file's and to its ETag. ndjson and json give a
# bare file for one section. Exporting unchanged data twice gives
# identical entries.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use XportTest;

my $FILTER = "users\nbots/has:coordinates\nmessages/b17\njobs";
my %WHERE = (users => undef, bots => 'coordinates IS NOT NULL',
             messages => "bot_id = 'b17' OR user_id = 'b17'", jobs => undef);
my @ORDER_OK = (  # parents before children
    [ 'users', 'bots' ], [ 'bots', 'messages' ], [ 'users', 'messages' ],
);
my %CTYPE = ('tar.gz' => qr{^application/(x-)?gzip}, 'tar.zst' => qr{^application/zstd},
             zip => qr{^application/zip}, ndjson => qr{^application/(x-)?ndjson},
             json => qr{^application/json});

# Archive value -> text as the database reports it.
sub norm {
    my ($v) = @_;
    return undef unless defined $v;
    return $v ? '1' : '0' if JSON::PP::is_bool($v);
    return "$v";
}

# Compare the rows of one section's NDJSON with the database.
sub check_rows {
    my ($sec, $bytes, $where, $label, $raw_first) = @_;
    my $s = SECTION_TABLES->{$sec};
    my $want = section_rows_from_db($sec, $where);
    my $got = ndjson_rows($bytes);
    is scalar(@$got), scalar(@$want), "$label: $sec row count";
    my @lines = split /\n/, $bytes;
    is_deeply ndjson_keys_in_order($raw_first // $lines[0] // '{}'), $s->{columns},
        "$label: $sec keys in column order";
    my @g = map { my $r = $_; +{ map { $_ => norm($r->{$_}) } keys %$r } } @$got;
    is_deeply \@g, $want, "$label: $sec rows equal the database, ordered by key";
    if ($sec eq 'users') {
        ok !grep({ !/"selected":(true|false)[,}]/ } @lines), "$label: selected is a JSON bool";
        ok !grep({ !/"favorite_color":(null|"[^"]*")/ } @lines), "$label: NULL is null";
    }
    if ($sec eq 'jobs') {
        ok !grep({ !/"priority":\d+[,}]/ } @lines), "$label: priority is a JSON number";
        ok !grep({ !/"id":"j\d+"/ } @lines), "$label: untyped values are strings";
    }
}

my %first_data;
for my $format ('tar.gz', 'tar.zst', 'zip') {
    my ($res, $rec) = create_export(params => { filter => $FILTER, format => $format });
    is $res->code, 202, "$format: created" or next;
    my $done = wait_job($rec->{id}) || {};
    is $done->{status}, 'completed', "$format: completed" or diag explain $done;
    like $done->{path} // '', qr/^export-xporttest-\d+\.\Q$format\E$/, "$format: file name";
    $res = download($rec->{id});
    is $res->code, 200, "$format: downloaded";
    like $res->header('Content-Type') // '', $CTYPE{$format}, "$format: Content-Type";
    my $body = $res->content;
    is sha256_hex($body), $done->{sha256}, "$format: job sha256 = sha256 of the file";
    is $res->header('ETag'), qq{"$done->{sha256}"}, "$format: ETag = sha256";

    my $arc = eval { read_archive($body, $format) };
    ok $arc, "$format: readable by the system tools" or do { diag $@; next };
    my @names = @{ $arc->{names} };
    is $names[0], 'manifest.json', "$format: manifest.json first";
    my %pos = map { $names[$_] => $_ } 0 .. $#names;
    for my $o (@ORDER_OK) {
        ok $pos{"data/$o->[0].ndjson"} < $pos{"data/$o->[1].ndjson"},
            "$format: $o->[0] before $o->[1]";
    }
    is_deeply [ sort @names ],
        [ sort('manifest.json', map { "data/$_.ndjson" } keys %WHERE) ],
        "$format: exactly the manifest and one entry per section";

    my $m = eval { JSON::PP->new->utf8->decode($arc->{data}{'manifest.json'}) } || {};
    is $m->{format}, 'xport-archive', "$format: manifest format";
    is $m->{version}, 1, "$format: manifest version";
    like $m->{generator} // '', qr{^mod_xport/\d}, "$format: generator";
    is $m->{instance}, 'xporttest', "$format: instance";
    is $m->{filter}, $FILTER, "$format: filter";
    ok !$m->{closure}, "$format: closure false";
    like $m->{created_at} // '', qr/^\d{4}-\d\d-\d\dT[\d:.]+Z$/, "$format: created_at";
    my @msecs = @{ $m->{sections} || [] };
    is_deeply [ map { "data/$_->{name}.ndjson" } @msecs ], [ grep { m{^data/} } @names ],
        "$format: manifest lists the entries in archive order";
    my %counts = %{ $done->{count} || {} };
    for my $ms (@msecs) {
        my $sec = $ms->{name};
        my $data = $arc->{data}{ $ms->{file} // '' } // '';
        is $ms->{file}, "data/$sec.ndjson", "$format: $sec file";
        is $ms->{key}, SECTION_TABLES->{$sec}{key}, "$format: $sec key";
        is_deeply $ms->{columns}, SECTION_TABLES->{$sec}{columns}, "$format: $sec columns";
        is $ms->{sha256}, sha256_hex($data), "$format: $sec entry sha256";
        is $ms->{bytes}, length $data, "$format: $sec entry bytes";
        my $lines = () = $data =~ /\n/g;
        is $ms->{count}, $lines, "$format: $sec count = lines";
        is $counts{$sec}, $ms->{count}, "$format: job count = manifest count";
        check_rows($sec, $data, $WHERE{$sec}, $format);
        if (exists $first_data{$sec}) {
            is $ms->{sha256}, $first_data{$sec}, "$format: $sec identical to the first export";
        }
        else {
            $first_data{$sec} = $ms->{sha256};
        }
    }
}

# ndjson and json: one section, a bare file
{
    my ($res, $rec) = create_export(params => { filter => 'users/james', format => 'ndjson' });
    is $res->code, 202, 'ndjson: created';
    my $done = wait_job($rec->{id}) || {};
    is $done->{status}, 'completed', 'ndjson: completed';
    like $done->{path} // '', qr/\.ndjson$/, 'ndjson: file name';
    $res = download($rec->{id});
    like $res->header('Content-Type') // '', $CTYPE{ndjson}, 'ndjson: Content-Type';
    is sha256_hex($res->content), $done->{sha256}, 'ndjson: sha256';
    check_rows('users', $res->content,
               "lower(name) LIKE '%james%' OR lower(notes) LIKE '%james%'", 'ndjson');
}
{
    my ($res, $rec) = create_export(params => { filter => 'bots', format => 'json' });
    is $res->code, 202, 'json: created';
    my $done = wait_job($rec->{id}) || {};
    is $done->{status}, 'completed', 'json: completed';
    like $done->{path} // '', qr/\.json$/, 'json: file name';
    $res = download($rec->{id});
    like $res->header('Content-Type') // '', $CTYPE{json}, 'json: Content-Type';
    is sha256_hex($res->content), $done->{sha256}, 'json: sha256';
    my $arr = eval { JSON::PP->new->utf8->decode($res->content) };
    ok ref $arr eq 'ARRAY', 'json: a JSON array';
    my $nd = join '', map { JSON::PP->new->utf8->canonical->encode($_) . "\n" } (ref $arr eq "ARRAY" ? @$arr : ());
    my $raw = $res->content;
    $raw =~ s/^[^{]*//;
    check_rows('bots', $nd, undef, 'json', $raw);
}

done_testing();
