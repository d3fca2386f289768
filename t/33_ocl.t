# 33_ocl.t -- the terminology server's repository-version export (SPEC
# 8.2, XportAPI ocl) on its demo (conf/ocl-*.sql): every row of the
# table, each path with and without its trailing slash, the headers its
# clients read, the single-use link, and a subscription client replayed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use JSON::PP;
use File::Temp ();
use XportTest;

plan skip_all => 'the terminology demo database is not set up'
    unless $ENV{XPORT_OCL_DRIVER};

my ($USER_KEY, $ADMIN_KEY) = ocl_keys();
my $VH = 'xport_ocl';

# The plain keys from conf/ocl-tokens' comment lines ("#   user   key").
sub ocl_keys {
    my $f = Apache::Test::config()->{vars}{serverroot} . '/../conf/ocl-tokens';
    open(my $fh, '<', $f) or die "$f: $!";
    my %k;
    while (<$fh>) { $k{$1} = $2 if /^#\s+(\S+)\s+(\S+)\s*$/ && $2 !~ /:/ }
    my @u = sort keys %k;
    my ($admin) = grep { /admin/ } @u;
    my ($user) = grep { !/admin/ } @u;
    return ($k{$user}, $k{$admin});
}

sub ocl {
    my ($method, $path, %o) = @_;
    my $key = exists $o{key} ? delete $o{key} : $USER_KEY;
    my @h = @{ delete $o{headers} || [] };
    push @h, Authorization => "Token $key" if defined $key;
    return api($method, $path, base => $o{base} // '/ocl', user => undef,
               vhost => $o{vhost} // $VH, headers => \@h, %o);
}

sub detail {
    my ($res, $code, $label) = @_;
    is $res->code, $code, "$label: $code";
    my $j = json_of($res);
    ok ref $j eq 'HASH' && length($j->{detail} // ''), "$label: {\"detail\": ...}"
        or diag $res->as_string;
}

# the versions of a repository, newest first
my $repo = '/orgs/CIEL/sources/CIEL';
my $vl = ocl('GET', "$repo/versions/");
is $vl->code, 200, 'versions/: 200';
my $versions = json_of($vl);
ok ref $versions eq 'ARRAY' && @$versions >= 2, 'versions/: a JSON array';
ok !grep({ !defined $_->{id} || !defined $_->{url} } @$versions), '... each with id and url';
is ocl('GET', "$repo/versions")->code, 200, 'versions (no slash): 200';
my @named = grep { $_->{id} ne 'HEAD' } @$versions;
my $big = $named[0];
ok $big, 'a released version to export';
my $vpath = "$repo/$big->{id}";

# 404s, 405s, 406
for my $p ("/orgs/NOPE/sources/CIEL/$big->{id}/export/", "$repo-x/$big->{id}/export/",
           "$repo/no-such-version/export/") {
    detail(ocl('GET', $p), 404, "GET $p");
}
detail(ocl('GET', "$repo/HEAD/export/"), 405, 'GET HEAD/export/');
detail(ocl('POST', "$repo/HEAD/export/"), 405, 'POST HEAD/export/');
detail(ocl('DELETE', "$repo/HEAD/export/"), 405, 'DELETE HEAD/export/');
detail(ocl('GET', "$repo/$big->{id}/"), 406, 'contents without Compress: true');
detail(ocl('GET', "$repo/versions/", key => 'wrong'), 401, 'a wrong key');

# GET before any export: 204; POST: 202, then 409 while it runs
for my $slash ('/', '') {
    my $r = ocl('GET', "$vpath/export$slash");
    is $r->code, 204, "GET export$slash before: 204";
    is $r->content, '', '... empty';
}
my $post = ocl('POST', "$vpath/export/");
is $post->code, 202, 'POST: 202';
my $again = ocl('POST', "$vpath/export");
ok $again->code == 409 || $again->code == 303, 'POST again: 409 while made (or 303 once made)';

# wait (bounded) for the 303
my $see;
for (1 .. 600) {
    $see = ocl('GET', "$vpath/export/");
    last if $see->code == 303;
    is $see->code, 204, '... 204 while being made' if $_ == 1;
    select undef, undef, undef, 0.2;
}
is $see->code, 303, 'GET once made: 303';
my $loc = $see->header('Location');
like $loc, qr{/files/[0-9a-f]{32}/CIEL_\Q$big->{id}\E\.\d{14}\.zip\?}, 'Location: a link ending with the file name';
like $see->header('Last-Updated') // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/, 'Last-Updated';
is $see->header('Last-Updated-Timezone'), 'UTC', 'Last-Updated-Timezone: UTC';
is $see->header('Cache-Control'), 'no-cache, no-store, must-revalidate', 'Cache-Control';
is ocl('HEAD', "$vpath/export")->code, 303, 'HEAD export (no slash): 303';

# the link: no credentials, once
my $dl = api('GET', $loc, user => undef);
is $dl->code, 200, 'the link without credentials: 200';
is $dl->header('Content-Type'), 'application/zip', 'Content-Type exactly application/zip';
ok $dl->header('Date'), 'a Date header';
like $dl->header('Content-Disposition') // '', qr/CIEL_\Q$big->{id}\E\.\d{14}\.zip/, 'Content-Disposition names the file';
is api('GET', $loc, user => undef)->code, 410, 'the link used twice: 410';
(my $bad = ocl('GET', "$vpath/export/")->header('Location')) =~ s/sig=(.)/'sig=' . ($1 eq 'A' ? 'B' : 'A')/e;
is api('GET', $bad, user => undef)->code, 404, 'an altered link: 404';

# export.json: the version row and its content
my $dir = File::Temp::tempdir(CLEANUP => 1);
open(my $zf, '>', "$dir/e.zip") or die; binmode $zf; print $zf $dl->content; close $zf;
my $json = `unzip -p $dir/e.zip export.json`;
my $doc = eval { JSON::PP->new->decode($json) };
is ref $doc, 'HASH', 'export.json is one JSON object';
is $doc->{url}, $big->{url}, '... the version row';
my $nconcepts = db_rows_in('ocl', "SELECT count(*) AS n FROM concepts_in_version WHERE version_url = '$big->{url}'")->[0]{n};
is scalar @{ $doc->{concepts} || [] }, $nconcepts, "... its $nconcepts concepts";

# POST once made: 303 with URL, no Location
my $p3 = ocl('POST', "$vpath/export/");
is $p3->code, 303, 'POST once made: 303';
ok $p3->header('URL') && !$p3->header('Location'), '... with URL, without Location';

# DELETE: 403 for a user, 200 for an administrator, then 204
detail(ocl('DELETE', "$vpath/export/"), 403, 'DELETE by a user');
is ocl('DELETE', "$vpath/export/", key => $ADMIN_KEY)->code, 200, 'DELETE by an administrator: 200';
is ocl('DELETE', "$vpath/export", key => $ADMIN_KEY)->code, 204, 'DELETE again: 204';
is ocl('GET', "$vpath/export/")->code, 204, 'GET after DELETE: 204';

# the snapshot of changes since a time
my $since = '2020-01-01T00:00:00Z';
my $snap = ocl('GET', "$repo/HEAD/?includeConcepts=true&includeMappings=true&includeRetired=true&limit=0&updatedSince=$since",
               headers => [ Compress => 'true' ]);
is $snap->code, 200, 'snapshot with Compress: true: 200';
is $snap->header('Content-Type'), 'application/zip', '... a zip';

done_testing();
