# 01_api.t -- the native REST API as a client meets it: every route, its
# status codes and headers (SPEC section 3), HEAD on every GET, 405 +
# Allow, 415, problem+json error bodies, pagination, downloads with
# ETag / Repr-Digest / Range / If-None-Match, cancel and delete.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use Digest::SHA qw(sha256_hex);
use XportTest;

my $HEX32 = qr/^[0-9a-f]{32}$/;
my $ISO   = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

# ---------------------------------------------------------------- create
my $res = api('POST', '/exports', json => { filter => 'users', format => 'tar.gz' });
is $res->code, 202, 'HTTP 202';
my $rec = json_obj($res);
diag($res->as_string) unless $res->code == 202;
my $id = $rec->{id} // '';
ok $id =~ $HEX32;
ok $id ne '' && ($rec->{_id} // '') eq $id;
ok(($res->header('Location') // '') =~ m{^(https?://[^/]+)?/xport/exports/\Q$id\E$});
ok(($res->header('Content-Type') // '') =~ m{^application/json});
ok(($rec->{kind} // '') eq 'export');
ok(($rec->{status} // '') =~ /^(queued|running|completed)$/);
ok(($rec->{filter} // '') eq 'users');
ok(($rec->{format} // '') eq 'tar.gz');
ok(($rec->{user_id} // '') eq 'alice');
ok ref $rec->{error_messages} eq 'ARRAY';
ok(($rec->{createdAt} // '') =~ $ISO && ($rec->{updatedAt} // '') =~ $ISO);
ok(($rec->{path} // '') =~ /^export-xporttest-\d+\.tar\.gz$/);
ok exists $rec->{source_system} && exists $rec->{correlation_id};
is $rec->{api}, 'native', 'record: api names the API that created the job';

# form-urlencoded works too, and carries the optional fields
my $res2 = api('POST', '/exports',
               form => { filter => 'bots', format => 'zip',
                         source_system => 'crm', correlation_id => 'c-42',
                         file_name => 'bots-backup.zip' });
is $res2->code, 202, 'HTTP 202';
my $rec2 = json_obj($res2);
ok(($rec2->{format} // '') eq 'zip' && ($rec2->{source_system} // '') eq 'crm'
   && ($rec2->{correlation_id} // '') eq 'c-42');

# ---------------------------------------------------------------- finished record
my $done = wait_job($id) || {};
ok(($done->{status} // '') eq 'completed');
ok $done->{finished} && $done->{success};
ok(($done->{count}{users} // -1) == 600);
ok(($done->{sha256} // '') =~ /^[0-9a-f]{64}$/);
ok(($done->{file_size} // 0) > 0);
ok defined $done->{duration} && $done->{duration} >= 0;
ok ref $done->{progress} eq 'HASH'
   && $done->{progress}{done} == $done->{progress}{total}
   && $done->{progress}{percentage} == 100;

# the record as text: compact, the keys in SPEC 3's order, reals as reals
my $text = api('GET', "/exports/$id")->content;
my @keys = $text =~ /(?:^\{|,)"(\w+)":/g;
is join(',', @keys),
    '_id,id,kind,api,status,filter,format,user_id,count,progress,total,percentage,'
  . 'duration,file_size,sha256,finished,success,error_messages,errors_total,'
  . 'path,source_system,correlation_id,createdAt,updatedAt',
    'record: keys in order';
like $text, qr/"progress":\{"done":600,"total":600,"percentage":100\.0\},"duration":\d+\.\d+,/,
    'record: progress and duration written as JSON reals';
like $text, qr/\}\n\z/, 'record: one line';

# ---------------------------------------------------------------- download
$res = download($id);
is $res->code, 200, 'HTTP 200';
my $body = $res->content;
ok(($res->header('Content-Type') // '') =~ m{^application/(x-)?gzip});
ok(($res->header('Content-Length') // -1) == length $body);
ok length($body) == $done->{file_size};
ok(($res->header('Content-Disposition') // '') eq qq{attachment; filename="$done->{path}"});
my $etag = $res->header('ETag') // '';
ok $etag eq qq{"$done->{sha256}"};
ok sha256_hex($body) eq $done->{sha256};
ok(($res->header('Repr-Digest') // '') eq 'sha-256=:' . base64_sha256($body) . ':');
ok(($res->header('Accept-Ranges') // '') eq 'bytes');

# the custom file name shows in Content-Disposition
my $d2 = wait_job($rec2->{id}) || {};
$res = download($rec2->{id});
ok $res->code == 200
   && ($res->header('Content-Disposition') // '') eq 'attachment; filename="bots-backup.zip"'
   && ($res->header('Content-Type') // '') =~ m{^application/zip};

# Range
$res = download($id, headers => [Range => 'bytes=0-99']);
is $res->code, 206, 'HTTP 206';
ok $res->content eq substr($body, 0, 100);
ok(($res->header('Content-Range') // '') eq 'bytes 0-99/' . length $body);
$res = download($id, headers => [Range => 'bytes=-50']);
ok $res->code == 206 && $res->content eq substr($body, -50);
$res = download($id, headers => [Range => 'bytes=' . (length($body) + 10) . '-']);
is $res->code, 416, 'HTTP 416';

# conditional GET
$res = download($id, headers => ['If-None-Match' => $etag]);
is $res->code, 304, 'HTTP 304';
ok length($res->content // '') == 0;
$res = download($id, headers => ['If-None-Match' => '"0000"']);
is $res->code, 200, 'HTTP 200';

# ---------------------------------------------------------------- HEAD on every GET
for my $path ('/exports', "/exports/$id", "/exports/$id/download") {
    my $g = api('GET', $path);
    my $h = api('HEAD', $path);
    ok $h->code == $g->code;
    ok length($h->content // '') == 0;
    ok(($h->header('Content-Type') // 'x') eq ($g->header('Content-Type') // 'y'));
}
$res = api('HEAD', "/exports/$id/download");
ok(($res->header('ETag') // '') eq $etag
   && ($res->header('Content-Length') // -1) == length $body);

# ---------------------------------------------------------------- 405 + Allow
sub allow_has {
    my ($r, @m) = @_;
    my $allow = $r->header('Allow') // '';
    for (@m) { return 0 unless $allow =~ /\b$_\b/ }
    return 1;
}
$res = api('PUT', '/exports', json => { filter => 'users' });
ok $res->code == 405 && allow_has($res, qw(GET HEAD POST));
ok is_problem($res, 405);
$res = api('DELETE', '/exports');
ok $res->code == 405 && allow_has($res, qw(GET POST));
$res = api('POST', "/exports/$id", json => { filter => 'users' });
ok $res->code == 405 && allow_has($res, qw(GET HEAD PATCH DELETE));
$res = api('PUT', "/exports/$id/download", body => 'x', type => 'text/plain');
ok $res->code == 405 && allow_has($res, qw(GET HEAD));

# ---------------------------------------------------------------- 415, 400, 404
$res = api('POST', '/exports', body => 'filter=users', type => 'text/plain');
is $res->code, 415, 'HTTP 415';
ok is_problem($res, 415);
$res = api('POST', '/exports', body => '{"filter": ', type => 'application/json');
ok $res->code == 400 && is_problem($res, 400);
$res = api('POST', '/exports', json => { format => 'zip' });
ok $res->code == 400 && is_problem($res, 400);
ok(json_obj($res)->{detail} =~ /filter/);
$res = api('POST', '/exports', json => { filter => 'users', format => 'rar' });
ok $res->code == 400 && json_obj($res)->{detail} =~ /format/;
$res = api('POST', '/exports', json => { filter => "users\nbots", format => 'ndjson' });
ok $res->code == 400 && is_problem($res, 400);
$res = api('POST', '/exports', json => { filter => 'users', since => 'yesterday' });
ok $res->code == 400 && json_obj($res)->{detail} =~ /since/;
$res = api('GET', '/exports/' . ('0' x 32));
ok $res->code == 404 && is_problem($res, 404);
$res = api('GET', '/exports/not-an-id');
is $res->code, 404, 'HTTP 404';
$res = api('GET', '/exports/' . ('0' x 32) . '/download');
is $res->code, 404, 'HTTP 404';
$res = api('GET', '/nothing-here');
is $res->code, 404, 'HTTP 404';

# ---------------------------------------------------------------- CSRF
$res = api('POST', '/exports', json => { filter => 'users' },
           headers => [Origin => 'http://evil.example']);
ok $res->code == 403 && is_problem($res, 403);
$res = api('POST', '/exports', json => { filter => 'users' },
           headers => ['Sec-Fetch-Site' => 'cross-site']);
is $res->code, 403, 'HTTP 403';
$res = api('PATCH', "/exports/$id", json => { status => 'cancelled' },
           headers => ['Sec-Fetch-Site' => 'cross-site']);
is $res->code, 403, 'HTTP 403';

# ---------------------------------------------------------------- PATCH / DELETE
$res = api('PATCH', "/exports/$id", json => { status => 'cancelled' });
is $res->code, 409, 'HTTP 409';
ok is_problem($res, 409);
$res = api('PATCH', "/exports/$id", json => { status => 'running' });
ok $res->code == 400 || $res->code == 409;

my @before = storage_leftovers($id);
ok scalar(@before) == 1;   # the archive, under exports/
$res = api('DELETE', "/exports/$id");
is $res->code, 204, 'HTTP 204';
ok length($res->content // '') == 0;
is api('GET', "/exports/$id")->code, 404, 'HTTP 404';
is download($id)->code, 404, 'HTTP 404';
is api('DELETE', "/exports/$id")->code, 404, 'HTTP 404';
is api('PATCH', "/exports/$id", json => { status => 'cancelled' })->code, 404, 'HTTP 404';
ok !storage_leftovers($id);

# ---------------------------------------------------------------- list + pagination
# dave's jobs only: five exports, newest first. dave starts with none
# (another file of the suite, run first, may have left some of his).
for my $old (@{ json_list(api('GET', '/exports?per_page=100', user => 'dave')) || [] }) {
    wait_job($old->{id}, user => 'dave');
    api('DELETE', "/exports/$old->{id}", user => 'dave');
}
my @ids;
for my $i (1 .. 5) {
    my ($r, $j) = create_export(user => 'dave', params => { filter => 'global_properties' });
    push @ids, $j->{id} if $j;
    sleep 0.01;
}
ok @ids == 5;
wait_job($_, user => 'dave') for @ids;
my @newest = reverse @ids;

$res = api('GET', '/exports?per_page=2', user => 'dave');
is $res->code, 200, 'HTTP 200';
ok(($res->header('X-Total-Count') // -1) == 5);
my $page = json_list($res);
ok ref $page eq 'ARRAY' && @$page == 2;
ok join(',', map { $_->{id} } @$page) eq join(',', @newest[0, 1]);
my $link = $res->header('Link') // '';
ok $link =~ /<[^>]*[?&]page=2[^>]*>\s*;\s*rel="?next"?/;
ok $link !~ /rel="?prev"?/;

$res = api('GET', '/exports?per_page=2&page=2', user => 'dave');
$page = json_list($res);
ok join(',', map { $_->{id} } @$page) eq join(',', @newest[2, 3]);
$link = $res->header('Link') // '';
ok $link =~ /rel="?prev"?/ && $link =~ /rel="?next"?/;

$res = api('GET', '/exports?per_page=2&page=3', user => 'dave');
$page = json_list($res);
ok @$page == 1 && $page->[0]{id} eq $newest[4];
ok(($res->header('Link') // '') !~ /rel="?next"?/);

$res = api('GET', '/exports?status=completed', user => 'dave');
$page = json_list($res);
ok @$page == 5 && !grep { $_->{status} ne 'completed' } @$page;
$res = api('GET', '/exports?status=failed', user => 'dave');
ok $res->code == 200 && @{ json_list($res) } == 0
   && ($res->header('X-Total-Count') // -1) == 0;
$res = api('GET', '/exports?per_page=1000', user => 'dave');
ok $res->code == 200 || $res->code == 400;
$res = api('GET', '/exports?status=bogus', user => 'dave');
ok $res->code == 400 && is_problem($res, 400);
# the default page size is 20
$res = api('GET', '/exports', user => 'dave');
ok @{ json_list($res) } == 5;

# ---------------------------------------------------------------- authentication
$res = api('GET', '/exports', user => undef);
is $res->code, 401, 'HTTP 401';

done_testing();
