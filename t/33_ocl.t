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
# the worker's peak memory before any export of this file
my $WORKER = worker_pid();
my $HWM0 = $WORKER ? vm_hwm($WORKER) : undef;

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
is ocl('HEAD', "$vpath/export/")->code, 303, 'HEAD export/: 303';

# the link: no credentials, once
my $dl = api('GET', $loc, user => undef);
is $dl->code, 200, 'the link without credentials: 200';
is $dl->header('Content-Type'), 'application/zip', 'Content-Type exactly application/zip';
ok $dl->header('Date'), 'a Date header';
like $dl->header('Content-Disposition') // '', qr/CIEL_\Q$big->{id}\E\.\d{14}\.zip/, 'Content-Disposition names the file';
is api('GET', $loc, user => undef)->code, 410, 'the link used twice: 410';
my $fresh = ocl('GET', "$vpath/export/")->header('Location');
(my $bad = $fresh) =~ s/sig=(.)/'sig=' . ($1 eq 'A' ? 'B' : 'A')/e;
is api('GET', $bad, user => undef)->code, 404, 'an altered link: 404';
{   # the same link signed as expired (the store's secret signs it)
    my ($job, $file, $user, $n) =
        $fresh =~ m{/files/([0-9a-f]{32})/([^?]+)\?user=([^&]+)&expires=\d+&n=([0-9a-f]+)};
    my $base = $fresh =~ m{^(https?://[^/]+/ocl)/files/} ? $1 : '';
    my $old = signed_link(link_secret(), base => $base, job => $job, file => $file,
                          user => $user, n => $n, expires => time - 5);
    is api('GET', $old, user => undef)->code, 410, 'an expired link: 410';
}
my $once = api('GET', $fresh, user => undef);
is $once->code, 200, 'a fresh link works once more';

# export.json: the version row and its content
my $dir = File::Temp::tempdir(CLEANUP => 1);
open(my $zf, '>', "$dir/e.zip") or die; binmode $zf; print $zf $dl->content; close $zf;
my $json = `unzip -p $dir/e.zip export.json`;
my $doc = eval { JSON::PP->new->decode($json) };
is ref $doc, 'HASH', 'export.json is one JSON object';
is $doc->{url}, $big->{url}, '... the version row';
for my $sec (qw(concepts mappings)) {
    my $view = $sec eq 'concepts' ? 'concepts_in_version' : 'mappings_in_version';
    my $ids = db_rows_in('ocl', "SELECT id FROM $view WHERE version_url = '$big->{url}' ORDER BY uid");
    is_deeply [ map { $_->{id} } @{ $doc->{$sec} || [] } ], [ map { $_->{id} } @$ids ],
        "export.json: the version's " . scalar(@$ids) . " $sec, in order";
}
ok scalar(@{ $doc->{concepts} || [] }) >= 20000, '... 20,000 concepts or more';

# POST once made: 303 with URL, no Location
my $p3 = ocl('POST', "$vpath/export/");
is $p3->code, 303, 'POST once made: 303';
ok $p3->header('URL') && !$p3->header('Location'), '... with URL, without Location';

# DELETE: 403 for a user, 200 for an administrator, then 204
detail(ocl('DELETE', "$vpath/export/"), 403, 'DELETE by a user');
is ocl('DELETE', "$vpath/export/", key => $ADMIN_KEY)->code, 200, 'DELETE by an administrator: 200';
is ocl('DELETE', "$vpath/export", key => $ADMIN_KEY)->code, 204, 'DELETE again: 204';
is ocl('GET', "$vpath/export/")->code, 204, 'GET after DELETE: 204';

# the snapshot of changes since a time: exactly the rows updated since
sub snapshot_doc {
    my ($path, $since) = @_;
    my $r = ocl('GET', "$path?includeConcepts=true&includeMappings=true&includeRetired=true"
                     . "&limit=0&updatedSince=$since", headers => [ Compress => 'true' ]);
    return ($r, undef) unless $r->code == 200;
    open(my $f, '>', "$dir/s.zip") or die; binmode $f; print $f $r->content; close $f;
    return ($r, JSON::PP->new->decode(scalar `unzip -p $dir/s.zip export.json`));
}
my $head = (grep { $_->{id} eq 'HEAD' } @$versions)[0];
my $mid = db_rows_in('ocl', "SELECT updated_on AS u FROM concepts_in_version "
                          . "WHERE version_url = '$head->{url}' ORDER BY updated_on")->[-1]{u};
for my $path ("$repo/HEAD/", "$repo/HEAD", "$repo/", $repo) {
    my ($r, $d) = snapshot_doc($path, $mid);
    is $r->code, 200, "snapshot $path with Compress: true: 200";
    is $r->header('Content-Type'), 'application/zip', '... a zip';
    my $want = db_rows_in('ocl', "SELECT id FROM concepts_in_version WHERE version_url = "
                               . "'$head->{url}' AND updated_on >= '$mid' ORDER BY uid");
    is_deeply [ map { $_->{id} } @{ $d->{concepts} || [] } ], [ map { $_->{id} } @$want ],
        '... exactly the concepts updated since (' . scalar(@$want) . ')';
    is $d->{url}, $head->{url}, '... with the version row';
}

# a subscription client: the newest released version, its export without
# following redirects, the 303 followed by hand without the key, the date
# from the file name; later a sync of the changes only
{
    my @rel = grep { $_->{id} ne 'HEAD' } @{ json_of(ocl('GET', "$repo/versions/")) };
    my $v = $rel[0];
    my $path = "$repo/$v->{id}/export/";
    my $r = ocl('GET', $path);
    if ($r->code == 204) {
        is ocl('POST', $path)->code, 202, 'client: POST starts the export';
        for (1 .. 600) { $r = ocl('GET', $path); last if $r->code == 303; select undef, undef, undef, 0.2 }
    }
    is $r->code, 303, 'client: 303 once made';
    my $zip = api('GET', $r->header('Location'), user => undef);
    is $zip->code, 200, 'client: the Location fetched without the key';
    my ($stamp) = ($zip->header('Content-Disposition') // '') =~ /\.(\d{14})\.zip/;
    ok $stamp, "client: the date from the file name ($stamp)";
    my $iso = $stamp ? sprintf('%s-%s-%sT%s:%s:%sZ', unpack 'A4A2A2A2A2A2', $stamp) : '';
    my ($s, $d) = snapshot_doc("$repo/$v->{id}/", $iso);
    is $s->code, 200, 'client: the sync since that date';
    is_deeply $d->{concepts}, [], '... no concept changed since the version was released'
        if $d && $v->{last_updated} && $v->{last_updated} le $iso;
}

# two POSTs at once: one job
{
    my $v = $named[-1];
    my $path = "$repo/$v->{id}/export/";
    ocl('DELETE', $path, key => $ADMIN_KEY);
    my @pids;
    for my $i (1, 2) {
        my $pid = fork // die;
        if (!$pid) { exit(ocl('POST', $path)->code == 202 ? 0 : 9) }
        push @pids, $pid;
    }
    my @codes = map { waitpid($_, 0); $? >> 8 } @pids;
    is scalar(grep { $_ == 0 } @codes), 1, 'two POSTs at once: one starts the job';
}

# the 20,000-concept version exported with the worker's memory flat
SKIP: {
    my $worker = worker_pid();
    skip 'the worker process was not found', 3
        unless $worker && $WORKER && $worker == $WORKER && defined $HWM0;
    # AddressSanitizer's shadow memory and quarantine are not the module's
    skip 'peak memory is not the module\'s under AddressSanitizer', 3
        if $ENV{SANITIZE};
    my $r;
    for (1 .. 600) { # the client's export of it has been made
        $r = ocl('GET', "$vpath/export/");
        last if $r->code == 303;
        select undef, undef, undef, 0.2;
    }
    is ocl('DELETE', "$vpath/export/", key => $ADMIN_KEY)->code, 200, 'its export deleted';
    is ocl('POST', "$vpath/export/")->code, 202, 'the big version again';
    for (1 .. 600) { $r = ocl('GET', "$vpath/export/"); last if $r->code == 303; select undef, undef, undef, 0.2 }
    my $h1 = vm_hwm($worker);
    diag sprintf 'worker VmHWM %d kB before any export, %d kB after three of '
               . 'the %d-concept version', $HWM0, $h1, scalar @{ $doc->{concepts} || [] };
    ok $h1 - $HWM0 < 32 * 1024, 'the worker grew by less than 32 MB';
}

# a version whose lastUpdated changed has no export until one is made
{
    my $v = $named[0];
    my $path = "$repo/$v->{id}/export/";
    my $r;
    for (1 .. 600) { $r = ocl('GET', $path); last if $r->code == 303; select undef, undef, undef, 0.2 }
    is $r->code, 303, 'an export made';
    db_exec_in('ocl', "UPDATE repository_versions SET last_updated = '2030-01-01T00:00:00Z' "
                    . "WHERE url = '$v->{url}'");
    is ocl('GET', $path)->code, 204, 'the version changed: its export is absent (204)';
    is ocl('POST', $path)->code, 202, '... and POST starts a new one';
    db_exec_in('ocl', "UPDATE repository_versions SET last_updated = '$v->{last_updated}' "
                    . "WHERE url = '$v->{url}'");
}

# the root of a host of its own, as the subscription clients need it
is ocl('GET', "$repo/versions/", base => '')->code, 200, 'at the root: versions/';
is ocl('GET', "$repo/HEAD/export/", base => '')->code, 405, 'at the root: HEAD/export/';

# the caller's own repositories: /user/...
is ocl('GET', '/user/sources/none/versions/')->code, 404, '/user/...: the caller as owner';

done_testing();
