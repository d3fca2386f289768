# 12_import_upload.t -- POST /imports as a client meets it (the import
# issue's points 1 and 2, SPEC section 3): multipart and raw uploads
# (gzip, zstd, zip, tar) with their options, the import record (kind,
# dry_run, on_conflict, file_size, sha256 of the upload), GET /imports and
# visibility, PATCH and DELETE; 413 over XportMaxUploadSize with no file
# kept and no job created (with and without Content-Length), 415, 400 for
# malformed multipart bodies and bad options, an aborted upload leaving
# nothing, and a 150 MB upload streamed with the serving children's peak
# memory (VmHWM) measured before and after.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET ();
use Time::HiRes qw(sleep time);
use XportTest;

my $BACKEND = $ENV{XPORT_BACKEND} || 'sqlite';
my %T = (vhost => target_vhost($BACKEND));
my %L = (vhost => 'xport_import_limits');
my $ISO = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

target_reset($BACKEND);
my $small = export_archive(filter => 'global_properties');
ok $small, 'a small export to upload' or do { done_testing(); exit 1 };

# Imports visible to alice, and the upload files kept in storage.
sub total_imports {
    my (%o) = @_;
    my $res = api('GET', '/imports', %T, %o);
    return $res->header('X-Total-Count');
}
# Files under uploads/ and tmp/ (nothing else runs meanwhile).
sub uploads { return (storage_files('uploads'), storage_files('tmp')) }

# ---------------------------------------------------------------- multipart
my ($res, $rec) = post_import(%T, archive => $small->{bytes},
                              fields => [ dry_run => 'false', on_conflict => 'skip',
                                          unknown_columns => 'ignore' ]);
is $res->code, 202, 'multipart upload: 202' or diag $res->as_string;
my $id = $rec->{id} // '';
like $res->header('Location') // '', qr{^(https?://[^/]+)?/xport/imports/\Q$id\E$}, 'Location';
like $res->header('Content-Type') // '', qr{^application/json}, 'a JSON record';
is $rec->{kind}, 'import', 'kind import';
like $rec->{status} // '', qr/^(queued|running|completed)$/, 'queued, running or done';
is $rec->{user_id}, 'alice', 'user_id';
ok defined $rec->{dry_run} && !$rec->{dry_run}, 'dry_run false';
is $rec->{on_conflict}, 'skip', 'on_conflict from the form field';
is $rec->{file_size}, length $small->{bytes}, 'file_size = bytes of the archive part';
is $rec->{sha256}, sha256_hex($small->{bytes}), 'sha256 = SHA-256 of the archive part';
ok $rec->{createdAt} =~ $ISO && $rec->{updatedAt} =~ $ISO, 'timestamps';
my $end = wait_import($id, %T) || {};
is $end->{status}, 'completed', 'the import completes' or diag explain $end;
is $end->{changes}{global_properties}{created}, 20, 'all 20 properties created';
is $end->{count}{global_properties}, 20, 'count: 20 rows read'
    if exists $end->{count};

# GET /imports lists it, /exports does not
$res = api('GET', '/imports', %T);
is $res->code, 200, 'GET /imports: 200';
ok((grep { ($_->{id} // '') eq $id } @{ json_list($res) }), 'GET /imports lists the import');
ok(!(grep { ($_->{id} // '') eq $id } @{ json_list(api('GET', '/exports', %T)) }),
   'GET /exports does not');
is api('GET', "/exports/$id", %T)->code, 404, 'an import is not an export';
is api('GET', "/imports/$id", %T, user => 'bob')->code, 404, "bob does not see alice's import";
is api('GET', "/imports/$id", %T, user => 'carol')->code, 200, 'the supervisor does';
is api('HEAD', "/imports/$id", %T)->code, 200, 'HEAD /imports/<id>';
$res = api('PATCH', "/imports/$id", %T, json => { status => 'cancelled' });
is $res->code, 409, 'cancel a finished import: 409';

# ---------------------------------------------------------------- raw uploads
my $tar = do {
    require IO::Uncompress::Gunzip;
    my $in = $small->{bytes};
    # a tar.gz is a run of gzip members: read them all
    IO::Uncompress::Gunzip::gunzip(\$in => \my $out, MultiStream => 1) or die 'gunzip';
    $out;
};
my %raw = ('application/gzip' => $small->{bytes}, 'application/x-tar' => $tar);
for my $f ([ 'zip', 'application/zip' ], [ 'tar.zst', 'application/zstd' ]) {
    my $e = export_archive(filter => 'global_properties', format => $f->[0]);
    $raw{ $f->[1] } = $e->{bytes} if $e;
}
for my $ctype (sort keys %raw) {
    target_reset($BACKEND);
    ($res, $rec) = post_import(%T, archive => $raw{$ctype}, raw => $ctype,
                               fields => [ dry_run => 'true', on_conflict => 'fail' ]);
    is $res->code, 202, "raw $ctype: 202" or do { diag $res->as_string; next };
    ok $rec->{dry_run} && $rec->{on_conflict} eq 'fail', "raw $ctype: options from the query string";
    is $rec->{sha256}, sha256_hex($raw{$ctype}), "raw $ctype: sha256 of the body";
    $end = wait_import($rec->{id}, %T) || {};
    is $end->{status}, 'completed', "raw $ctype: completed" or diag explain $end;
    is(($end->{changes}{global_properties} || {})->{created}, 20, "raw $ctype: 20 would be created");
    is target_count($BACKEND, 'global_properties'), 0, "raw $ctype: dry run left nothing";
}

# ---------------------------------------------------------------- refused uploads
my $n0 = total_imports();
ok defined $n0, 'X-Total-Count on GET /imports';
my @up0 = uploads();

sub refused {
    my ($label, $code, $res, $detail) = @_;
    is $res->code, $code, "$label: $code" or diag $res->as_string;
    ok is_problem($res, $code), "$label: problem+json";
    like json_obj($res)->{detail} // '', $detail, "$label: detail says what is wrong" if $detail;
}

refused('text/plain', 415, api('POST', '/imports', %T, body => 'x', type => 'text/plain'));
my $B = 'bNd42';
refused('multipart without boundary', 400,
        api('POST', '/imports', %T, type => 'multipart/form-data',
            body => multipart_body($B, { name => 'import', filename => 'a.tar.gz', data => $small->{bytes} })),
        qr/boundary/);
refused('multipart without an import part', 400,
        api('POST', '/imports', %T, type => "multipart/form-data; boundary=$B",
            body => multipart_body($B, { name => 'dry_run', data => 'true' })),
        qr/import/);
refused('multipart with two file parts', 400,
        api('POST', '/imports', %T, type => "multipart/form-data; boundary=$B",
            body => multipart_body($B, { name => 'import', filename => 'a.tar.gz', data => $small->{bytes} },
                                       { name => 'other', filename => 'b.tar.gz', data => $small->{bytes} })),
        qr/two|more than one|second/i);
refused('multipart cut before its closing boundary', 400,
        api('POST', '/imports', %T, type => "multipart/form-data; boundary=$B",
            body => substr(multipart_body($B, { name => 'import', filename => 'a.tar.gz',
                                                data => $small->{bytes} }), 0, -10)));
for my $bad ([ on_conflict => 'merge' ], [ dry_run => 'maybe' ], [ unknown_columns => 'keep' ],
             [ sections => 'nosuch' ]) {
    refused("$bad->[0]=$bad->[1]", 400,
            (post_import(%T, archive => $small->{bytes}, fields => $bad))[0], qr/\Q$bad->[0]\E|\Q$bad->[1]\E/);
    refused("$bad->[0]=$bad->[1] (raw)", 400,
            (post_import(%T, archive => $small->{bytes}, raw => 'application/gzip', fields => $bad))[0],
            qr/\Q$bad->[0]\E|\Q$bad->[1]\E/);
}

# XportMaxUploadSize 1M on xport_import_limits
my $dir = File::Temp::tempdir(CLEANUP => 1);
my $two_mb = "$dir/two-mb";
{
    open(my $fh, '>:raw', $two_mb) or die $!;
    print $fh pack('N', $_ * 2654435761 % 4294967291) x 16 for 1 .. 32768;
    close $fh;
}
refused('raw upload over XportMaxUploadSize', 413,
        post_stream('/imports', 'application/gzip', [ { file => $two_mb } ], %L), qr/XportMaxUploadSize|1M|large/i);
refused('chunked upload over XportMaxUploadSize', 413,
        post_stream('/imports', 'application/gzip', [ { file => $two_mb } ], %L, chunked => 1));
refused('multipart upload over XportMaxUploadSize', 413,
        post_stream('/imports', "multipart/form-data; boundary=$B",
                    [ "--$B\r\nContent-Disposition: form-data; name=\"import\"; filename=\"a.tar.gz\"\r\n\r\n",
                      { file => $two_mb }, "\r\n--$B--\r\n" ], %L));
($res, my $ok) = post_import(%L, archive => $small->{bytes});
is $res->code, 202, 'a small upload on the same host: 202';
my $ok_id = ($ok || {})->{id} // 'none';
wait_import($ok_id, %L);
my $n1 = total_imports();

# An aborted upload: the client sends half the body and goes away.
{
    my $sock = IO::Socket::INET->new(PeerAddr => hostport($T{vhost}), Timeout => 10);
    ok $sock, 'connected for the aborted upload';
    if ($sock) {
        my $auth = MIME::Base64::encode_base64('alice:alice', '');
        print $sock "POST /xport/imports HTTP/1.1\r\nHost: " . hostport($T{vhost})
            . "\r\nAuthorization: Basic $auth\r\nContent-Type: application/gzip\r\n"
            . "Content-Length: 1000000\r\n\r\n" . ('z' x 300000);
        sleep 0.5;
        close $sock;
    }
    sleep 1;
}
is total_imports(), $n1, 'no job was created by the refused and aborted uploads';
is $n1, $n0 + 1, '... only the small one';
my %had = map { $_ => 1 } @up0;
my @new = grep { !$had{$_} && index($_, $ok_id) < 0 } uploads();
my $t0 = time;
while (@new && time - $t0 < 10) {
    sleep 0.3;
    @new = grep { !$had{$_} && index($_, $ok_id) < 0 } uploads();
}
is_deeply \@new, [], 'no upload file kept by the refused and aborted uploads';

# ---------------------------------------------------------------- DELETE
($res, $rec) = post_import(%T, archive => $small->{bytes});
$end = wait_import($rec->{id}, %T) || {};
my @with = grep { index($_, $rec->{id}) >= 0 } storage_files('uploads');
$res = api('DELETE', "/imports/$rec->{id}", %T);
is $res->code, 204, 'DELETE /imports/<id>: 204';
is api('GET', "/imports/$rec->{id}", %T)->code, 404, 'then 404';
ok !grep({ index($_, $rec->{id}) >= 0 } storage_files('uploads')), 'its upload file is gone';

# ---------------------------------------------------------------- 150 MB
# The body streams to storage: the serving children's peak memory stays
# flat. The upload is random bytes sent as multipart; it is stored (202)
# and its import then fails as "not a tar.gz ..." archive.
{
    my $big = "$dir/big";
    my $size = 150 * 1024 * 1024;
    system("head -c $size /dev/urandom > '$big'") == 0 or die "cannot write $big";
    my $worker = worker_pid() // 0;
    my %hwm0 = map { $_ => vm_hwm($_) } grep { $_ != $worker } httpd_children();
    my $t = time;
    my $r = post_stream('/imports', "multipart/form-data; boundary=$B",
        [ "--$B\r\nContent-Disposition: form-data; name=\"dry_run\"\r\n\r\ntrue\r\n"
          . "--$B\r\nContent-Disposition: form-data; name=\"import\"; filename=\"big.tar.gz\"\r\n"
          . "Content-Type: application/gzip\r\n\r\n",
          { file => $big }, "\r\n--$B--\r\n" ], %T);
    my $secs = time - $t;
    is $r->code, 202, '150 MB multipart upload: 202' or diag $r->as_string;
    my $rec150 = json_obj($r);
    is $rec150->{file_size}, $size, '150 MB: file_size';
    my $sha = Digest::SHA->new(256);
    $sha->addfile($big);
    is $rec150->{sha256}, $sha->hexdigest, '150 MB: sha256 computed while streaming';
    my ($grew, $who) = (0, '');
    my $base = 0;
    $base = $_ > $base ? $_ : $base for grep { defined } values %hwm0;
    for my $pid (grep { $_ != $worker } httpd_children()) {
        my $after = vm_hwm($pid) // next;
        my $g = $after - ($hwm0{$pid} // $base);
        ($grew, $who) = ($g, $pid) if $g > $grew;
    }
    diag sprintf('150 MB upload in %.1f s; VmHWM of the serving children before: %s; '
                 . 'largest growth: %d kB (pid %s)', $secs,
                 join(' ', map { "$_=" . ($hwm0{$_} // '?') . 'kB' } sort keys %hwm0),
                 $grew, $who || '-');
    ok $grew < 32 * 1024, 'the serving child memory grew by less than 32 MB';
    my $e = wait_import($rec150->{id}, %T) || {};
    is $e->{status}, 'failed', '150 MB of random bytes: the import fails';
    like join(' ', @{ $e->{error_messages} || [] }), qr/not a tar\.gz, tar\.zst, zip or tar archive/,
        '... as not an archive';
    is api('DELETE', "/imports/$rec150->{id}", %T)->code, 204, '150 MB: deleted';
    unlink $big;
}

done_testing();
