# 30_token.t -- AuthType xport-token and the other capabilities every API
# shares (SPEC 8.0): API keys from t/conf/tokens in each header spelling
# clients use, 401 with a Bearer challenge for a missing or wrong key,
# `Require user` honoured; a signed link standing in for a key (valid,
# expired, altered, another method, another user), signed with the job
# store's secret as read here from the store itself; a bad token file
# line failing `httpd -t` with its file and line; XportMaxUploadSize in
# one <Location> (413) while another accepts the same upload; the token
# file read again, and the link secret kept, by a graceful restart (last:
# it restarts the server).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use Digest::SHA qw(hmac_sha256 sha256_hex);
use MIME::Base64 qw(encode_base64 decode_base64);
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use XportTest;

my %KEY = map { $_ => "$_-secret-key" } qw(alice bob carol);

# A request with no Basic credentials and these headers.
sub keyed {
    my ($method, $path, @headers) = @_;
    return api($method, $path, user => undef, base => '', headers => \@headers);
}

# ------------------------------------------------------------- API keys
for my $case (['Authorization: Bearer', Authorization => "Bearer $KEY{alice}"],
              ['Authorization: bearer (any case)', Authorization => "bearer $KEY{alice}"],
              ['Authorization: Token', Authorization => "Token $KEY{alice}"],
              ['x-synthetic-key', 'x-synthetic-key' => $KEY{alice}],
              ['QISCUS-SDK-SECRET', 'QISCUS-SDK-SECRET' => $KEY{alice}]) {
    my ($what, @h) = @$case;
    my $res = keyed('GET', '/tok/exports', @h);
    is $res->code, 200, "a key in $what is accepted" or diag $res->as_string;
}
# LWP would turn '_' into '-': the underscore spelling goes out as is
my $raw = raw_request(path => '/tok/exports', user => undef,
                      headers => [ QISCUS_SDK_SECRET => $KEY{alice} ]);
is $raw->{status}, 200, 'a key in QISCUS_SDK_SECRET (underscores) is accepted';

my $res = api('POST', '/exports', user => undef, base => '/tok',
              json => { filter => 'global_properties' },
              headers => [ 'x-synthetic-key' => $KEY{bob} ]);
is $res->code, 202, 'a job created with a key' or diag $res->as_string;
my $rec = json_obj($res);
is $rec->{user_id}, 'bob', '... belongs to the key\'s user';
$res = keyed('GET', "/tok/exports/$rec->{id}", Authorization => "Bearer $KEY{alice}");
is $res->code, 404, '... and is not visible to another key\'s user';
$res = keyed('GET', "/tok/exports/$rec->{id}", Authorization => "Bearer $KEY{carol}");
is $res->code, 200, '... but to the supervisor\'s';
wait_job($rec->{id}, base => '/tok', user => undef,
         headers => [ Authorization => "Bearer $KEY{bob}" ]);

sub refused_401 {
    my ($what, @h) = @_;
    my $r = keyed('GET', '/tok/exports', @h);
    is $r->code, 401, "$what: 401";
    is $r->header('WWW-Authenticate'), 'Bearer realm="xport keys"',
        "$what: a Bearer challenge with the AuthName";
}
refused_401('no key');
refused_401('a wrong key', Authorization => 'Bearer alice-wrong-key');
refused_401('a wrong key in x-synthetic-key', 'x-synthetic-key' => 'nope');
refused_401('an empty Bearer', Authorization => 'Bearer ');
refused_401('Basic credentials', Authorization => 'Basic ' . encode_base64('alice:alice', ''));
refused_401('the hash instead of the key',
            Authorization => 'Bearer ' . sha256_hex($KEY{alice}));

# Require user bob
$res = keyed('GET', '/bob-only/exports', Authorization => "Bearer $KEY{bob}");
is $res->code, 200, 'Require user bob: bob\'s key is admitted';
$res = keyed('GET', '/bob-only/exports', Authorization => "Bearer $KEY{alice}");
is $res->code, 401, 'Require user bob: alice\'s valid key is refused';
like $res->header('WWW-Authenticate') // '', qr/^Bearer realm="xport"$/,
    '... with a challenge (realm "xport" without AuthName)';

# --------------------------------------------------------- signed links
# The secret every node shares, read from the job store like a node does.
my $secret = link_secret();
is length($secret // ''), 32, 'the job store holds a 32-byte link secret';
my %L = (base => '/tok', job => '0123456789abcdef0123456789abcdef',
         file => 'report one.json', user => 'alice', expires => time + 300);

$res = keyed('GET', signed_link($secret, %L));
is $res->code, 404, 'a valid link passes authentication without a key ...';
like $res->header('Content-Type') // '', qr{^application/problem\+json},
    '... and reaches the API (which has no route for files yet)';
$res = keyed('HEAD', signed_link($secret, %L));
is $res->code, 404, '... also for HEAD';
$res = keyed('GET', signed_link($secret, %L, expires => time - 5));
is $res->code, 410, 'an expired link: 410';
$res = keyed('GET', signed_link($secret, %L, sig => 'A' x 43));
is $res->code, 404, 'an altered signature: 404 ...';
like $res->header('Content-Type') // '', qr{^application/problem\+json},
    '... refused before the API, in its error shape';
my $alice_link = signed_link($secret, %L);
(my $as_bob = $alice_link) =~ s/user=alice/user=bob/;
is keyed('GET', $as_bob)->code, 404, 'another user on a link: 404';
(my $later = $alice_link) =~ s/expires=(\d+)/'expires=' . ($1 + 3600)/e;
is keyed('GET', $later)->code, 404, 'a later expiry on a link: 404';
(my $other = $alice_link) =~ s/report%20one/report%20two/;
is keyed('GET', $other)->code, 404, 'another file on a link: 404';
$res = keyed('DELETE', $alice_link);
is $res->code, 401, 'a link is no credential for DELETE';
$res = keyed('GET', signed_link($secret, %L, base => '/bob-only'));
is $res->code, 401, 'alice\'s link at a location for bob only: 401';
$res = keyed('GET', signed_link($secret, %L, base => '/bob-only', user => 'bob'));
is $res->code, 404, 'bob\'s link there passes';

# --------------------------------------------------- token file checks
my $vars = Apache::Test::config()->{vars};

# `httpd -t` with a minimal configuration using a token file.
sub configtest {
    my ($tokens) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $conf_in = do { local (@ARGV, $/) = $vars->{t_conf_file}; <> } // '';
    my @load = grep { /^\s*LoadModule\s+(mpm_\w+|authn_core|authz_core|authz_user)_module\b/ }
               split /\n/, $conf_in;
    open(my $t, '>', "$dir/tokens") or die $!;
    print $t $tokens;
    close $t;
    open(my $c, '>', "$dir/httpd.conf") or die $!;
    print $c join("\n", "ServerName localhost", "ServerRoot $dir", "Listen 127.0.0.1:1",
                  "PidFile $dir/httpd.pid", "ErrorLog $dir/error_log", @load,
                  "LoadModule xport_module \"$vars->{serverroot}/../build/mod_xport.so\"",
                  "XportStorage $dir/storage", "<Location /k>", "SetHandler xport",
                  "AuthType xport-token", "XportTokenFile tokens",
                  "Require valid-user", "</Location>", '');
    close $c;
    my $out = `$vars->{httpd} -t -f $dir/httpd.conf 2>&1`;
    return ($? >> 8, $out, "$dir/tokens");
}

my ($rc, $out) = configtest("# keys\nalice:" . sha256_hex('k') . ":acme\n");
is $rc, 0, 'httpd -t accepts a good token file' or diag $out;
($rc, $out, my $path) = configtest("alice:" . sha256_hex('k') . "\n\nbob:12345\n");
isnt $rc, 0, 'httpd -t fails on a bad token file line';
like $out, qr/XportTokenFile \Q$path\E line 3: /, '... naming the file and the line'
    or diag $out;
($rc, $out) = configtest("alice:" . sha256_hex('k') . "\nbob:" . sha256_hex('k') . "\n");
like $out, qr/line 2: the same token hash as line 1/, 'one hash for two users fails';

# ------------------------------------------- XportMaxUploadSize per location
my $body = 'x' x 4096;
$res = api('POST', '/imports?dry_run=true', base => '/upload-small', user => undef,
           body => $body, type => 'application/gzip');
is $res->code, 413, '4K at a location with XportMaxUploadSize 2K: 413';
$res = api('POST', '/imports?dry_run=true', base => '/anon', user => undef,
           body => $body, type => 'application/gzip');
is $res->code, 202, '... while a location with the server\'s limit takes it'
    or diag $res->as_string;
my $imp = json_obj($res)->{id};
if ($imp) {
    wait_job($imp, base => '/anon', user => undef, kind => 'imports');
    api('DELETE', "/imports/$imp", base => '/anon', user => undef);
}
$res = api('POST', '/imports?dry_run=true', base => '/upload-small', user => undef,
           body => 'x' x 1024, type => 'application/gzip');
is $res->code, 202, 'under the location\'s limit: accepted';
$imp = json_obj($res)->{id};
if ($imp) {
    wait_job($imp, base => '/upload-small', user => undef, kind => 'imports');
    api('DELETE', "/imports/$imp", base => '/upload-small', user => undef);
}

# ------------------------------------------------------ graceful restart
# The token file is read with the configuration: a key added to it works
# after a graceful restart, and links keep working (the same secret).
my $tokens = "$vars->{t_conf}/tokens";
my $orig = do { local (@ARGV, $/) = $tokens; <> };
my $dave = [ Authorization => 'Bearer dave-secret-key' ];

sub graceful_until {
    my ($code) = @_;
    kill 'USR1', httpd_parent_pid();
    for (1 .. 100) {
        my $r = eval { keyed('GET', '/tok/exports', @$dave) };
        return 1 if $r && $r->code == $code;
        sleep 0.2;
    }
    return 0;
}

is keyed('GET', '/tok/exports', @$dave)->code, 401, 'a key not in the file: 401';
{
    open(my $fh, '>>', $tokens) or die "$tokens: $!";
    print $fh 'dave:' . sha256_hex('dave-secret-key') . "\n";
    close $fh;
}
is keyed('GET', '/tok/exports', @$dave)->code, 401,
    '... still 401 once added to the file: it is not read per request';
ok graceful_until(200), '... and admitted after a graceful restart';
is link_secret(), $secret, 'the link secret is the same after the restart';
is keyed('GET', signed_link($secret, %L))->code, 404,
    'a link made before the restart still passes';
{
    open(my $fh, '>', $tokens) or die "$tokens: $!";
    print $fh $orig;
    close $fh;
}
ok graceful_until(401), 'the key removed again: 401 after the next restart';

done_testing();
