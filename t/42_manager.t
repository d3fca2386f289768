# 42_manager.t -- the dashboard (SPEC 9, `SetHandler xport-manager`):
# over plain HTTP, the page (one self-contained document, its
# Content-Security-Policy, nothing loaded from elsewhere), the native API
# below it, and its guard against cross-site requests (a request that
# changes jobs without the caller's form token in X-Xport-Token is 403,
# with it accepted); then in a real headless Chromium (t/browser/
# manager.mjs, playwright-core): an export started from the page reaches
# 100 % without a reload, its archive downloads, uploads as a dry run
# showing the changes, an import's row errors are listed, a job held by
# the gate (t/22_faults.t) is cancelled, one is deleted, records from the
# event stream update the rows, and the page works behind AuthType
# xport-token and at a phone's width. Screenshots of a failure are kept
# under t/logs/manager/.
#
# Locations (t/conf/extra.conf.in): /xport-manager (Basic, as /xport),
# /xport-manager-tok (AuthType xport-token, t/conf/tokens).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use MIME::Base64 qw(encode_base64);
use File::Temp qw(tempdir);
use XportTest;

my $M = '/xport-manager';
my $TOK = '/xport-manager-tok';

# A request to the dashboard's Location as a user (Basic), with headers.
sub mgr {
    my ($method, $path, %o) = @_;
    my $user = exists $o{user} ? delete $o{user} : 'alice';
    my @h = @{ delete $o{headers} || [] };
    push @h, Authorization => 'Basic ' . encode_base64("$user:$user", '') if defined $user;
    return api($method, $path, %o, base => delete $o{base} // $M, user => undef,
               headers => \@h);
}

# The page's form token (its <body data-token>) for a user.
sub token_of {
    my ($res) = @_;
    my ($t) = ($res->content // '') =~ /<body[^>]*\sdata-token="([^"]+)"/;
    return $t;
}

sub csp_of {
    my ($res) = @_;
    my %d;
    for (split /\s*;\s*/, $res->header('Content-Security-Policy') // '') {
        my ($name, @v) = split ' ';
        $d{$name} = join ' ', @v if $name;
    }
    return \%d;
}

sub total_exports {
    my ($user) = @_;
    return mgr('GET', '/exports?per_page=1', user => $user)->header('X-Total-Count') // -1;
}

# ------------------------------------------------ the page
my $res = mgr('GET', '/');
is $res->code, 200, 'GET <Location>/: 200';
like $res->header('Content-Type') // '', qr{^text/html;\s*charset=utf-8$}i, '... text/html, UTF-8';
my $html = $res->content // '';
like $html, qr{^<!DOCTYPE html>}i, '... an HTML document';
my $csp = csp_of($res);
my ($nonce) = ($csp->{'script-src'} // '') =~ /^'nonce-([A-Za-z0-9+\/=]{16,})'$/;
ok $nonce, "CSP script-src is a nonce and nothing else ($csp->{'script-src'})";
is $csp->{'style-src'}, "'nonce-$nonce'", 'CSP style-src: the same nonce only';
is $csp->{'default-src'}, "'none'", "CSP default-src 'none'";
is $csp->{'connect-src'}, "'self'", "CSP connect-src 'self'";
is $csp->{'frame-ancestors'}, "'none'", "CSP frame-ancestors 'none'";
is $csp->{'base-uri'}, "'none'", "CSP base-uri 'none'";
is $res->header('Cache-Control'), 'no-store', 'not cached (it holds the token)';
is $res->header('X-Content-Type-Options'), 'nosniff', 'X-Content-Type-Options: nosniff';
my @scripts = $html =~ /<script\b([^>]*)>/gi;
is scalar(@scripts), 1, 'one script';
is $scripts[0], qq{ nonce="$nonce"}, '... inline, with the nonce, no src';
my @styles = $html =~ /<style\b([^>]*)>/gi;
is_deeply \@styles, [qq{ nonce="$nonce"}], 'one inline style with the nonce';
my @refs = $html =~ /\b(?:src|href|action|srcset)\s*=\s*"([^"]*)"/gi;
is_deeply [ grep { $_ ne 'data:,' } @refs ], [], 'no src, href or action but the empty icon'
    or diag explain \@refs;
unlike $html, qr{<link\b(?![^>]*rel="icon")}i, 'no <link> but the icon';
unlike $html, qr{\bstyle\s*=}i, 'no style attribute (the CSP would refuse it)';
unlike $html, qr{\{\{[A-Z]+\}\}}, 'every marker filled in';
like $html, qr{<body[^>]*\sdata-base="/xport-manager"}, 'the page knows its Location';
like $html, qr{<strong id="who">alice</strong>}, 'and its user';
like $html, qr{data-sections="users bots messages scripts jobs global_properties"},
    'and the sections';
my $alice = token_of($res);
like $alice, qr/^[A-Za-z0-9_-]{43}$/, 'the page carries a form token';

$res = mgr('GET', '');
is $res->code, 200, 'GET <Location> (no slash): the page too';
is token_of($res), $alice, '... the same token for the same user';
my ($nonce2) = (csp_of($res)->{'script-src'} // '') =~ /nonce-([^']+)/;
isnt $nonce2, $nonce, '... under a new nonce';
$res = mgr('HEAD', '/');
is $res->code, 200, 'HEAD: 200';
is $res->content, '', '... no body';
my $bob = token_of(mgr('GET', '/', user => 'bob'));
ok $bob && $bob ne $alice, "bob's token is not alice's";
$res = mgr('GET', '/', user => undef);
is $res->code, 401, 'without credentials: 401 (the Location requires a user)';
$res = mgr('POST', '/', headers => ['X-Xport-Token' => $alice]);
is $res->code, 405, 'POST to the page: 405';
is $res->header('Allow'), 'GET, HEAD', '... Allow: GET, HEAD';

# ------------------------------------------------ the API below the page
$res = mgr('GET', '/exports');
is $res->code, 200, 'GET <Location>/exports: the native list';
is ref(json_of($res)), 'ARRAY', '... an array';
ok is_problem(mgr('GET', '/nothing-here'), 404), 'an unknown path: 404 problem+json';

# ------------------------------------------------ the form token
my $before = total_exports('alice');
$res = mgr('POST', '/exports', json => { filter => 'users' });
ok is_problem($res, 403), 'POST /exports without X-Xport-Token: 403 problem+json';
like json_obj($res)->{detail} // '', qr/X-Xport-Token/, '... saying which header is missing';
is total_exports('alice'), $before, '... and no job made';
$res = mgr('POST', '/exports', json => { filter => 'users' }, headers => ['X-Xport-Token' => $bob]);
ok is_problem($res, 403), "with bob's token as alice: 403";
like json_obj($res)->{detail} // '', qr/not your form token/, '... it is not hers';
$res = mgr('POST', '/exports', json => { filter => 'users' },
           headers => ['X-Xport-Token' => substr($alice, 0, 42)]);
ok is_problem($res, 403), 'with her token cut short: 403';
$res = mgr('POST', '/exports', json => { filter => 'users' },
           headers => ['X-Xport-Token' => $alice, Origin => 'http://evil.example']);
ok is_problem($res, 403), 'with her token but another Origin: 403 (as at every xport Location)';
$res = mgr('POST', '/exports', json => { filter => 'users' },
           headers => ['X-Xport-Token' => $alice, 'Sec-Fetch-Site' => 'cross-site']);
ok is_problem($res, 403), 'with her token but Sec-Fetch-Site: cross-site: 403';
is total_exports('alice'), $before, 'none of them made a job';

$res = mgr('POST', '/exports', json => { filter => 'users' },
           headers => ['X-Xport-Token' => $alice, Origin => 'http://' . hostport()]);
is $res->code, 202, 'with her token (same-origin): 202' or diag $res->as_string;
my $rec = json_obj($res);
like $res->header('Location') // '', qr{^/xport-manager/exports/$rec->{id}$},
    '... Location below the dashboard';
is((wait_job($rec->{id}) || {})->{status}, 'completed', '... and it completes (seen at /xport)');

$res = mgr('PATCH', "/exports/$rec->{id}", json => { status => 'cancelled' });
ok is_problem($res, 403), 'PATCH without the token: 403';
$res = mgr('DELETE', "/exports/$rec->{id}");
ok is_problem($res, 403), 'DELETE without the token: 403';
is mgr('GET', "/exports/$rec->{id}")->code, 200, '... the job is still there';
is mgr('GET', "/exports/$rec->{id}/download")->code, 200, 'GET of its download needs no token';
$res = mgr('DELETE', "/exports/$rec->{id}", headers => ['X-Xport-Token' => $alice]);
is $res->code, 204, 'DELETE with the token: 204';
is mgr('GET', "/exports/$rec->{id}")->code, 404, '... gone';

my $archive = make_archive(sections => [ { name => 'global_properties',
    rows => [ { name => 'mgr1', value => 'v', updated_at => '2026-01-01T00:00:00Z' } ] } ]);
my @up = (base => $M, user => undef, archive => $archive, fields => [dry_run => 'true']);
my $basic = 'Basic ' . encode_base64('alice:alice', '');
($res) = post_import(@up, headers => [Authorization => $basic]);
ok is_problem($res, 403), 'POST /imports (multipart) without the token: 403';
is $res->header('Connection'), 'close', '... the upload not read (connection closed)';
($res, my $imp) = post_import(@up, headers => [Authorization => $basic, 'X-Xport-Token' => $alice]);
is $res->code, 202, 'POST /imports with the token: 202' or diag $res->as_string;
is((wait_import($imp->{id}) || {})->{status}, 'completed', '... the dry run completes');

$res = api('POST', '/exports', json => { filter => 'users' });
is $res->code, 202, 'SetHandler xport (/xport) still needs no token';

# AuthType xport-token: the same page and token for the key's user
$res = mgr('GET', '/', base => $TOK, user => undef,
           headers => [Authorization => 'Bearer alice-secret-key']);
is $res->code, 200, 'the dashboard behind AuthType xport-token';
is token_of($res), $alice, "... alice's form token there too";
$res = mgr('POST', '/exports', base => $TOK, user => undef, json => { filter => 'users' },
           headers => [Authorization => 'Bearer alice-secret-key']);
ok is_problem($res, 403), '... refusing a POST without it';

# ------------------------------------------------ in the browser
my $out = Apache::Test::vars('t_logs') . '/manager';
my $npm = $ENV{XPORT_NPM_BROWSER} // "$FindBin::Bin/../build/npm-browser";
my $chromium = $ENV{CHROMIUM} // '/usr/bin/chromium';
ok -x $chromium, "$chromium is installed (conf/deps.sh)";
ok -f "$npm/node_modules/playwright-core/package.json",
    "playwright-core is installed in $npm (t/browser/install.sh)";
ok system('node --version >/dev/null 2>&1') == 0, 'node is installed';

my $backend = $ENV{XPORT_BACKEND} || 'sqlite';
target_reset($backend);
# bots of users the empty target does not have: each row refused
my $bad = "$out-bad.tar.gz";
mkdir $out;
open(my $fh, '>:raw', $bad) or die "$bad: $!";
print $fh make_archive(sections => [ { name => 'bots', rows => [ map {
    { id => "mb$_", owner_id => "nobody$_", name => "bot $_", coordinates => undef,
      location => undef, updated_at => '2026-01-01T00:00:00Z' } } 1 .. 3 ] } ]);
close $fh;

ok gate_hold(), 'the test holds the gate' or BAIL_OUT('no gate');
my (@downloads, @dry);
{
    local $ENV{XPORT_MGR_URL} = 'http://' . hostport() . "$M/";
    local $ENV{XPORT_MGR_GATE_URL} = 'http://' . hostport('xport_gate') . "$M/";
    local $ENV{XPORT_MGR_TARGET_URL} = 'http://' . hostport(target_vhost($backend)) . "$M/";
    local $ENV{XPORT_MGR_TOK_URL} = 'http://' . hostport() . "$TOK/";
    local $ENV{XPORT_MGR_TOK_KEY} = 'alice-secret-key';
    local $ENV{XPORT_MGR_USER} = 'alice';
    local $ENV{XPORT_MGR_BAD} = $bad;
    local $ENV{XPORT_MGR_OUT} = $out;
    local $ENV{XPORT_NPM_BROWSER} = $npm;
    local $ENV{CHROMIUM} = $chromium;
    # chromium wants a home of its own (runuser keeps root's HOME)
    local $ENV{HOME} = tempdir(CLEANUP => 1);
    local $ENV{XDG_CONFIG_HOME} = "$ENV{HOME}/.config";
    local $ENV{XDG_CACHE_HOME} = "$ENV{HOME}/.cache";
    open(my $node, '-|', 'node', "$FindBin::Bin/browser/manager.mjs")
        or die "cannot run node: $!";
    while (my $line = <$node>) {
        chomp $line;
        if ($line =~ /^(not )?ok - (.*)$/) {
            ok !$1, "browser: $2";
        }
        elsif ($line =~ /^# ?(.*)$/) {
            diag $1;
        }
        elsif ($line =~ /^\@gate-release ([0-9a-f]{32})$/) {
            my $id = $1;
            # the cancel is recorded before the gate opens, so the export
            # stops at its next row instead of completing
            ok wait_for(sub {
                my $r = db_rows_in('jobs', "SELECT cancel_requested AS c FROM xport_jobs "
                                   . "WHERE id = '$id'")->[0];
                $r && $r->{c};
            }, 30), "the page asked the job store to cancel $id";
            gate_release();
        }
        elsif ($line =~ /^\@download (\S+) ([0-9a-f]{32})$/) {
            push @downloads, [ $1, $2 ];
        }
        elsif ($line =~ /^\@import ([0-9a-f]{32})$/) {
            push @dry, $1;
        }
        else {
            diag "browser: $line";
        }
    }
    close $node;
    is $? >> 8, 0, 'the browser run ended well';
}
gate_release();

is scalar(@downloads), 1, 'the browser downloaded one archive';
for (@downloads) {
    my ($file, $id) = @$_;
    my $arc = eval { read_archive(file_bytes($file), 'tar.gz') };
    is_deeply $arc && $arc->{names}, [qw(manifest.json data/users.ndjson data/bots.ndjson)],
        'the download is the export\'s tar.gz (tar reads it)' or diag $@;
}
is scalar(@dry), 1, 'the browser started one dry run';
is target_count($backend, 'users'), 0, '... which wrote nothing to the target';

done_testing();
