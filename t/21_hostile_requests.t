# 21_hostile_requests.t -- requests written to hurt (issue "Hardening",
# point 2): filters crafted as SQL, file names crafted as headers,
# malformed and slow multipart bodies sent over a raw socket, guessable
# job ids, other users' jobs on every route, cross-site requests, and the
# modes of what the module writes. Each answer is checked the way an
# attacker would see it, and the aftermath the way an administrator would.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep time);
use XportTest;

my $BACKEND = $ENV{XPORT_BACKEND} || 'sqlite';
my %T = (vhost => target_vhost($BACKEND));
my $gp_early = make_archive(sections => [ { name => 'global_properties', rows => [] } ]);

sub total {
    my ($kind, %o) = @_;
    my $res = api('GET', "/$kind?per_page=1", %o);
    return $res->header('X-Total-Count');
}

# ================================================================ filters
# Each filter is refused (400, problem+json) or taken literally: the
# export holds exactly the rows whose columns equal / contain the text
# as written (case-insensitive for search terms), usually none.
my @TABLES = qw(users bots messages scripts jobs global_properties);
my %before = map { $_ => scalar @{ section_rows_from_db($_) } } @TABLES;
my $users = section_rows_from_db('users');
my $n_users = scalar @$users;
my %search = (users => [qw(name notes)], scripts => [qw(name body)]);

sub contains { my ($sec, $t) = @_; return sub { my $r = shift;
    grep { index(lc($r->{$_} // ''), lc $t) >= 0 } @{ $search{$sec} } } }
sub equals { my ($col, $v) = @_; return sub { ($_[0]{$col} // "\0") eq $v } }

# [filter, section, predicate when it is taken literally]
my @inject = (
    [ q{users/name=x' OR '1'='1},               'users', sub { 0 } ],
    [ q{users/"x' OR '1'='1"},                  'users', contains(users => q{x' OR '1'='1}) ],
    [ q{users/'x'' OR ''1''=''1'},              'users', sub { 0 } ],
    [ q{users/"); DROP TABLE users; --},        'users', sub { 0 } ],
    [ q{users/"\"); DROP TABLE users; --"},     'users', contains(users => q{"); DROP TABLE users; --}) ],
    [ q{users/has:id;DROP},                     'users', sub { 0 } ],
    [ q{users/has:id=1;DROP TABLE users},       'users', sub { 0 } ],
    [ q{users/%' OR 1=1 --},                    'users', sub { 0 } ],
    [ q{users/"%' OR 1=1 --"},                  'users', contains(users => q{%' OR 1=1 --}) ],
    [ q{users/%},                               'users', contains(users => '%') ],
    [ q{users/"_"},                             'users', contains(users => '_') ],
    [ q{users/"%%"},                            'users', contains(users => '%%') ],
    [ "users/name=\x{2019} OR \x{2019}1\x{2019}=\x{2019}1", 'users', sub { 0 } ],
    [ "users/\"\x{2018}) OR 1=1 --\"",          'users', contains(users => "\x{2018}) OR 1=1 --") ],
    [ "users/\x{ff07} OR \x{ff07}1\x{ff07}=\x{ff07}1", 'users',
      sub { my $r = shift; contains(users => "\x{ff07}")->($r) } ],
    [ q{users/"x'/**/OR/**/'1'='1"},            'users', contains(users => q{x'/**/OR/**/'1'='1}) ],
    [ q{users/name=a/**/OR/**/1=1},             'users', equals(name => 'a/**/OR/**/1=1') ],
    [ q{users/"\\' OR 1=1 --"},                 'users', contains(users => q{' OR 1=1 --}) ],
    [ q{users/name='\\' OR '1'='1'},            'users', sub { 0 } ],
    [ q{users/"a\\"},                           'users', sub { 0 } ],
    [ q{users/has:favorite_color='red'; DROP TABLE users},   'users', sub { 0 } ],
    [ q{users/has:favorite_color='red' OR 1=1},  'users', sub { 0 } ],
    [ q{scripts/"'; DELETE FROM scripts; SELECT '"}, 'scripts',
      contains(scripts => q{'; DELETE FROM scripts; SELECT '}) ],
    # quotes and parentheses that are really in the data: found as text
    [ q{scripts/'hello 5")'},                   'scripts', contains(scripts => q{hello 5")}) ],
    [ q{scripts/"(\"hello 1"},                 'scripts', contains(scripts => q{("hello 1}) ],
    [ q{messages/b1' OR '1'='1},                'messages', sub { 0 } ],
    [ q{messages/b1,b2') OR ('1'='1},           'messages', sub { 0 } ],
    [ "users/x\0' OR 1=1",                      'users', sub { 0 } ],
);

my @started;
for my $c (@inject) {
    my ($filter, $sec, $pred) = @$c;
    my $label = $filter =~ s/([^\x20-\x7e])/sprintf('\\x{%x}', ord $1)/ger;
    my ($res, $rec) = create_export(params => { filter => $filter, format => 'ndjson' });
    if ($res->code == 202 && $rec) {
        push @started, [ $rec->{id}, $label, $sec, $pred ];
    }
    else {
        ok is_problem($res, 400), "refused with 400: $label"
            or diag $res->as_string;
    }
}
for my $s (@started) {
    my ($id, $label, $sec, $pred) = @$s;
    my $done = wait_job($id) || {};
    is $done->{status}, 'completed', "taken literally, completed: $label"
        or next;
    my $res = download($id);
    my @got = map { $_->{id} } @{ ndjson_rows($res->content) };
    my $all = section_rows_from_db($sec);
    my @want = map { $_->{id} } grep { $pred->($_) } @$all;
    is_deeply [ sort @got ], [ sort @want ],
        "taken literally: $label exports the " . scalar(@want) . ' matching rows';
    ok @got < @$all, "... not the whole table: $label";
    ok @got > 0, "... and finds the text where it is: $label" if @want;
    api('DELETE', "/exports/$id");
}
is_deeply { map { $_ => scalar @{ section_rows_from_db($_) } } @TABLES }, \%before,
    'every table is intact after the filters (same row counts)';

# The other request values that reach SQL: refused, or stored verbatim.
for my $bad ([ since => q{2026-01-01' OR '1'='1} ], [ until => q{2026-01-01'); DROP TABLE users; --} ],
             [ format => q{tar.gz'; DROP TABLE jobs; --} ]) {
    my $res = api('POST', '/exports', json => { filter => 'users', @$bad });
    ok is_problem($res, 400), "$bad->[0] crafted as SQL: 400";
}
for my $q (q{status=completed' OR '1'='1}, q{per_page=1;DROP TABLE jobs}, q{page=1 OR 1=1}) {
    my $res = api('GET', "/exports?$q");
    ok is_problem($res, 400), "GET /exports?$q: 400";
}
{
    my $n = total('exports');
    my %v = (source_system => q{x'); DROP TABLE jobs; --},
             correlation_id => q{"; DELETE FROM jobs WHERE '1'='1});
    my ($res, $rec) = create_export(params => { filter => 'global_properties', %v });
    is $res->code, 202, 'source_system and correlation_id crafted as SQL: accepted as text';
    my $back = wait_job(($rec || {})->{id}) || {};
    is $back->{source_system}, $v{source_system}, '... source_system stored verbatim';
    is $back->{correlation_id}, $v{correlation_id}, '... correlation_id stored verbatim';
    is total('exports'), $n + 1, '... and every job is still in the store';
    api('DELETE', "/exports/$back->{id}") if $back->{id};
}
{
    my ($res) = post_import(%T, raw => 'application/gzip', archive => $gp_early,
                            fields => [ sections => q{users');DROP TABLE users;--} ]);
    ok is_problem($res, 400), 'import sections= crafted as SQL: 400';
}
is api('GET', '/exports?per_page=1')->code, 200, 'the job store still answers';

# ============================================================== file_name
# Anything outside [A-Za-z0-9._-] is refused before a job exists; no
# response ever carries it in a header.
my @bad_names = (
    "a\r\nX-Injected: 1", "a\nX-Injected: 1", "a\rb", 'a"b', "a';b", 'a;b',
    'x"; filename*=UTF-8\'\'evil.sh', "caf\x{e9}.tar.gz", "\x{202e}zg.rat.exe",
    '../../etc/passwd', '..\\..\\boot.ini', '/abs/name', 'a/b', 'a\\b', '.hidden',
    "a\tb", "a\0b", 'a b', ('n' x 201),
);
my $n0 = total('exports');
for my $name (@bad_names) {
    my $label = $name =~ s/([^\x20-\x7e])/sprintf('\\x{%x}', ord $1)/ger;
    $label = substr($label, 0, 40);
    my $res = api('POST', '/exports', json => { filter => 'global_properties', file_name => $name });
    ok is_problem($res, 400), "file_name refused (JSON): $label"
        or diag $res->as_string;
    ok !$res->header('X-Injected'), "... no injected header: $label";
}
# the same over a raw socket, form-encoded, so that LWP cannot hide a
# split response
for my $name ("a\r\nX-Injected: 1\r\n\r\nHTTP/1.1 200 OK", "a\"\r\nSet-Cookie: x=1") {
    my $enc = $name =~ s/([^A-Za-z0-9_.-])/sprintf('%%%02X', ord $1)/ger;
    my $r = raw_request(method => 'POST', path => '/xport/exports',
                        headers => [ 'Content-Type' => 'application/x-www-form-urlencoded' ],
                        body => "filter=global_properties&file_name=$enc");
    is $r->{status}, 400, 'file_name with CR/LF over a raw socket: 400';
    ok !grep({ $_->[0] =~ /^(X-Injected|Set-Cookie)$/i } @{ $r->{head} || [] }),
        '... no header made of it';
    is scalar(() = $r->{raw} =~ m{(?:^|\n)HTTP/1\.\d \d{3}}g), 1,
        '... one status line in the answer';
}
is total('exports'), $n0, 'no job was created by the refused file names';

# a good name: one Content-Disposition, exactly the name given
{
    my ($res, $rec) = create_export(params => { filter => 'global_properties',
                                                file_name => 'Report_2026-11.v2' });
    my $done = wait_job(($rec || {})->{id}) || {};
    is $done->{status}, 'completed', 'export with a plain file_name completed';
    my $r = raw_request(path => "/xport/exports/$done->{id}/download");
    is $r->{status}, 200, 'download over a raw socket: 200';
    my @cd = grep { lc $_->[0] eq 'content-disposition' } @{ $r->{head} || [] };
    is scalar(@cd), 1, 'exactly one Content-Disposition';
    like $cd[0][1] // '', qr/^attachment; filename="Report_2026-11\.v2\.tar\.gz"$/,
        'Content-Disposition: attachment; filename="Report_2026-11.v2.tar.gz"';
    ok !grep({ $_->[1] =~ /[\r\n\0]/ } @{ $r->{head} || [] }), 'no header holds CR, LF or NUL';
    is sha256_hex($r->{body}), $done->{sha256}, 'the body is the archive';
    api('DELETE', "/exports/$done->{id}");
}

# ============================================================== multipart
my $T = $T{vhost};
my $gp = make_archive(sections => [ { name => 'global_properties',
    rows => [ map { { name => "hostile.$_", value => "v$_", updated_at => '2026-01-01T00:00:17Z' } } 1 .. 3 ] } ]);

sub uploads { return storage_files('uploads') }

# Files in uploads/ not in %$before, once the server had a moment.
sub new_uploads {
    my ($before) = @_;
    my @new;
    for (1 .. 20) {
        @new = grep { !$before->{$_} } uploads();
        last unless @new;
        sleep 0.25;
    }
    return @new;
}

sub mp_req {
    my ($b, $body, %o) = @_;
    my $ct = delete $o{ctype} // "multipart/form-data; boundary=$b";
    return raw_request(method => 'POST', path => '/xport/imports', vhost => $T,
                       headers => [ 'Content-Type' => $ct, @{ delete $o{headers} || [] } ],
                       body => $body, %o);
}

sub part {
    my ($b, $name, $data, %o) = @_;
    my $s = "--$b\r\nContent-Disposition: form-data; name=\"$name\"";
    $s .= qq{; filename="$o{filename}"} if defined $o{filename};
    $s .= "\r\n";
    $s .= "Content-Type: $o{type}\r\n" if $o{type};
    $s .= $o{extra} // '';
    return "$s\r\n$data\r\n";
}

my %up0 = map { $_ => 1 } uploads();
my $i0 = total('imports', %T);
my $B = 'xpHostile7f3a';

# a good body cut into 1..7 byte TCP writes: the boundary lands across
# reads in every possible way, and the file arrives intact
{
    my $body = part($B, 'dry_run', 'true')
             . part($B, 'import', $gp, filename => 'gp.tar.gz', type => 'application/gzip')
             . "--$B--\r\n";
    my $r = mp_req($B, $body, pieces => [ 1, 7 ], delay => 0.001);
    is $r->{status}, 202, 'a body sent in 1-7 byte pieces: 202' or diag $r->{raw};
    my $j = eval { JSON::PP->new->decode($r->{body}) } || {};
    is $j->{sha256}, sha256_hex($gp), '... the stored file is the archive, byte for byte';
    ok $j->{dry_run}, '... the dry_run field was read';
    my $done = wait_import($j->{id}, %T) || {};
    is $done->{status}, 'completed', '... and imports';
    api('DELETE', "/imports/$j->{id}", %T) if $j->{id};
    $i0 = total('imports', %T);
    %up0 = map { $_ => 1 } uploads();
}

# The client's file name goes nowhere: not into a path, not into a header.
for my $fn ('../../../../tmp/xport-escape.tar.gz', '..\\..\\escape.tar.gz',
            'a\\"; X-Injected: 1; b.tar.gz', "caf\xc3\xa9 \xe2\x80\xae.tar.gz", '/etc/passwd') {
    my $body = part($B, 'dry_run', 'true')
             . part($B, 'import', $gp, filename => $fn, type => 'application/gzip') . "--$B--\r\n";
    my $r = mp_req($B, $body);
    my $label = $fn =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ger;
    is $r->{status}, 202, "upload named $label: 202" or diag $r->{raw};
    ok !grep({ $_->[0] =~ /Injected/i || $_->[1] =~ /escape|passwd/ } @{ $r->{head} || [] }),
        "... nothing of the name in a header";
    my $j = eval { JSON::PP->new->decode($r->{body}) } || {};
    my @files = grep { !$up0{$_} } uploads();
    is_deeply \@files, [ "$j->{id}.upload" ], "... stored as uploads/<id>.upload only";
    wait_import($j->{id}, %T);
    api('DELETE', "/imports/$j->{id}", %T);
}
ok !-e '/tmp/xport-escape.tar.gz' && !-e "$ENV{XPORT_STORAGE}/../escape.tar.gz",
    'no file written where the names pointed';
$i0 = total('imports', %T);

my $many = join('', map { part($B, "f$_", 'x') } 1 .. 17)
         . part($B, 'import', $gp, filename => 'a.tar.gz') . "--$B--\r\n";
my @malformed = (
    [ 'no boundary parameter', qr/no boundary/i,
      part($B, 'import', $gp, filename => 'a.tar.gz') . "--$B--\r\n",
      ctype => 'multipart/form-data' ],
    [ 'an empty boundary parameter', qr/no boundary/i,
      part($B, 'import', $gp, filename => 'a.tar.gz') . "--$B--\r\n",
      ctype => 'multipart/form-data; boundary=""' ],
    [ 'a boundary of 71 characters', qr/boundary.*70/i,
      part($B, 'import', $gp) . "--$B--\r\n",
      ctype => 'multipart/form-data; boundary=' . ('b' x 71) ],
    [ 'a boundary that never occurs', qr/boundary.*never occurs/i,
      part('other', 'import', $gp, filename => 'a.tar.gz') . "--other--\r\n" ],
    [ 'part headers over 8 KiB', qr/headers longer than 8 KiB/i,
      part($B, 'import', $gp, filename => 'a.tar.gz', extra => 'X-Pad: ' . ('p' x 9000) . "\r\n")
      . "--$B--\r\n" ],
    [ 'more than 16 parts', qr/more than 16 parts/i, $many ],
    [ 'two file parts', qr/two file parts/i,
      part($B, 'import', $gp, filename => 'a.tar.gz')
      . part($B, 'other', $gp, filename => 'b.tar.gz') . "--$B--\r\n" ],
    [ 'the file part twice', qr/two parts named "import"/i,
      part($B, 'import', $gp) . part($B, 'import', $gp) . "--$B--\r\n" ],
    [ 'no closing boundary', qr/before the closing boundary/i,
      part($B, 'import', $gp, filename => 'a.tar.gz') ],
    [ 'no closing boundary, cut inside the data', qr/before the closing boundary/i,
      substr(part($B, 'import', $gp, filename => 'a.tar.gz'), 0, 150) ],
    [ 'a part without Content-Disposition', qr/part 1: .*Content-Disposition/i,
      "--$B\r\nContent-Type: application/gzip\r\n\r\n$gp\r\n--$B--\r\n" ],
    [ 'no part named import', qr/no part named "import"/i,
      part($B, 'archive', $gp, filename => 'a.tar.gz') . "--$B--\r\n" ],
    [ 'garbage after a boundary', qr/boundary line is followed/i,
      "--${B}garbage\r\n" . part($B, 'import', $gp) . "--$B--\r\n" ],
    [ 'two file parts, in 1-7 byte pieces', qr/two file parts/i,
      part($B, 'import', 'abc', filename => 'a.tar.gz')
      . part($B, 'other', 'def', filename => 'b.tar.gz') . "--$B--\r\n",
      pieces => [ 1, 7 ], delay => 0.001 ],
);
for my $m (@malformed) {
    my ($label, $why, $body, %o) = @$m;
    my $r = mp_req($B, $body, %o);
    my $j = eval { JSON::PP->new->decode($r->{body} // '') } || {};
    is $r->{status}, 400, "multipart, $label: 400" or diag $r->{raw};
    like $j->{detail} // '', $why, "... the detail names the problem: $label";
}

# The server stops reading at the fault: with 50 MB announced, a first
# part whose headers exceed 8 KiB is answered while the client still has
# almost everything to send.
{
    my $head = "--$B\r\nContent-Disposition: form-data; name=\"import\"; filename=\"a\"\r\n"
             . 'X-Pad: ' . ('p' x 9000) . "\r\n\r\n";
    my $r = mp_req($B, $head . ('z' x 65536), timeout => 20,
                   headers => [ 'Content-Length' => 50 * 1024 * 1024, Connection => 'keep-alive' ]);
    is $r->{status}, 400, 'huge part headers with 50 MB announced: 400 at once';
    ok $r->{elapsed} < 15, sprintf('... answered after %.1f s and %d bytes, not after 50 MB',
                                   $r->{elapsed} // 99, $r->{sent});
    like $r->{header}{connection} // '', qr/close/i,
        '... with Connection: close: the rest of the body is not read';
}

# Any early refusal stops there too: 50 MB announced, 64 KiB sent, and
# the answer comes without waiting for (or reading) the rest.
{
    my (undef, $own) = create_export(user => 'bob', params => { filter => 'global_properties' });
    my $bob = ($own || {})->{id} // 'none';
    my @early = (
        [ 'cross-site POST /imports', 403, '/xport/imports',
          [ 'Content-Type' => 'application/gzip', 'Sec-Fetch-Site' => 'cross-site' ] ],
        [ 'POST /imports of an unsupported type', 415, '/xport/imports',
          [ 'Content-Type' => 'text/plain' ] ],
        [ 'POST /exports with a 50 MB body', 413, '/xport/exports',
          [ 'Content-Type' => 'application/json' ] ],
        [ "PATCH of another user's export", 404, "/xport/exports/$bob",
          [ 'Content-Type' => 'application/json' ], 'PATCH' ],
        [ 'POST /imports with a bad option', 400, '/xport/imports?on_conflict=explode',
          [ 'Content-Type' => 'application/gzip' ] ],
    );
    for my $e (@early) {
        my ($label, $code, $path, $h, $method) = @$e;
        my $r = raw_request(method => $method || 'POST', path => $path, vhost => $T,
                            body => 'z' x 65536, timeout => 8,
                            headers => [ @$h, 'Content-Length' => 50 * 1024 * 1024,
                                         Connection => 'keep-alive' ]);
        is $r->{status}, $code, "$label, 50 MB announced: $code before the body is sent"
            or diag sprintf('%.1f s: %s', $r->{elapsed}, $r->{raw});
    }
    wait_job($bob, user => 'bob');
    api('DELETE', "/exports/$bob", user => 'bob');
}

is total('imports', %T), $i0, 'no import job was created by the malformed bodies';
is_deeply [ new_uploads(\%up0) ], [], 'no upload file was kept by the malformed bodies';

# A slow upload that gives up, and one cut in the middle of the file part.
{
    my $big = 'y' x 200_000;
    my $body = part($B, 'import', $big, filename => 'a.tar.gz') . "--$B--\r\n";
    my @during;
    my $r = mp_req($B, $body, rate => 1024, send => 3 * 1024, abort_after => 0.2,
                   before_close => sub { @during = grep { !$up0{$_} } uploads() });
    ok((grep { /\.part$/ } @during), 'while the slow upload arrives, a .part file is in uploads/');
    ok $r->{sent} >= 3 * 1024 && $r->{elapsed} >= 2.5,
        sprintf('slow upload: %d bytes at 1 KB/s over %.1f s, then closed', $r->{sent}, $r->{elapsed});
    $r = mp_req($B, $body, send => 120_000, abort_after => 0.3);
    ok $r->{sent} == 120_000, 'aborted upload: 120000 bytes, then closed';
    $r = raw_request(method => 'POST', path => '/xport/imports', vhost => $T,
                     headers => [ 'Content-Type' => 'application/gzip' ],
                     body => $big, rate => 1024, send => 2048, abort_after => 0.2);
    ok $r->{sent} >= 2048, 'slow raw upload, then closed';
    my $chunks = join '', map { sprintf("%x\r\n%s\r\n", 4096, 'c' x 4096) } 1 .. 20;
    $r = raw_request(method => 'POST', path => '/xport/imports', vhost => $T,
                     headers => [ 'Content-Type' => 'application/gzip',
                                  'Transfer-Encoding' => 'chunked' ],
                     body => $chunks, send => length($chunks) - 100, abort_after => 0.3);
    ok $r->{sent} > 80_000, 'chunked upload cut inside its last chunk, then closed';
}
is_deeply [ new_uploads(\%up0) ], [], 'slow and aborted uploads left no file in uploads/';
is total('imports', %T), $i0, '... and no job';

# =================================================================== ids
# 50 new ids: 128 random bits each, nothing shared, nothing predictable.
{
    my @ids;
    my @who = qw(dave erin frank gina bob);
    for my $i (0 .. 49) {
        my ($res, $rec) = create_export(user => $who[$i % 5],
                                        params => { filter => 'global_properties' });
        push @ids, [ $rec->{id}, $who[$i % 5] ] if $rec && $rec->{id};
    }
    is scalar(@ids), 50, '50 exports created';
    my @hex = map { $_->[0] } @ids;
    is scalar(grep { /^[0-9a-f]{32}$/ } @hex), 50, 'every id is 32 lowercase hex digits';
    my %seen = map { $_ => 1 } @hex;
    is scalar(keys %seen), 50, 'all distinct';
    my %pre = map { substr($_, 0, 8) => 1 } @hex;
    is scalar(keys %pre), 50, 'no two share their first 32 bits (no time or counter prefix)';
    my %suf = map { substr($_, -8) => 1 } @hex;
    is scalar(keys %suf), 50, 'no two share their last 32 bits';
    my @bits = map { unpack('B128', pack('H32', $_)) } @hex;
    my $ones = () = join('', @bits) =~ /1/g;
    ok $ones > 2900 && $ones < 3500, "bits balanced: $ones of 6400 are ones";
    my @fixed = grep { my $p = $_; my $n = grep { substr($_, $p, 1) } @bits; $n < 5 || $n > 45 }
                0 .. 127;
    is_deeply \@fixed, [], 'no bit position is (nearly) fixed, as version bits would be';
    for (@ids) { wait_job($_->[0], user => $_->[1], timeout => 30) }
    api('DELETE', "/exports/$_->[0]", user => $_->[1]) for @ids;
}

# ============================================================ visibility
# bob's export and import against alice: every route answers exactly as
# for an id that does not exist; lists leave them out; carol sees all.
my (undef, $bx) = create_export(user => 'bob', params => { filter => 'global_properties' });
my (undef, $bi) = post_import(%T, user => 'bob', archive => $gp, fields => [ dry_run => 'true' ]);
ok $bx && $bi, "bob has an export and an import" or do { done_testing(); exit 1 };
my $bxd = wait_job($bx->{id}, user => 'bob') || {};
my $bid = wait_import($bi->{id}, %T, user => 'bob') || {};
is $bxd->{status}, 'completed', "bob's export completed";
is $bid->{status}, 'completed', "bob's import (dry run) completed";
my (undef, $ax) = create_export(user => 'alice', params => { filter => 'global_properties' });
wait_job($ax->{id}, user => 'alice');

my $unknown = '0123456789abcdef0123456789abcdef';
is api('GET', '/exports/' . uc($bx->{id}), user => 'alice')->content,
   api('GET', "/exports/$unknown", user => 'alice')->content,
   "bob's id in upper case: the same 404 as an unknown id";
sub shape {
    my ($res) = @_;
    my $j = json_obj($res);
    return join '|', $res->code, $res->header('Content-Type') // '',
        map { "$_=" . ($j->{$_} // '') } sort keys %$j;
}
my @routes = (
    [ GET    => 'exports/%s' ],
    [ HEAD   => 'exports/%s' ],
    [ GET    => 'exports/%s/download' ],
    [ HEAD   => 'exports/%s/download' ],
    [ PATCH  => 'exports/%s', json => { status => 'cancelled' } ],
    [ DELETE => 'exports/%s' ],
    [ GET    => 'imports/%s' ],
    [ HEAD   => 'imports/%s' ],
    [ GET    => 'imports/%s/download' ],
    [ PATCH  => 'imports/%s', json => { status => 'cancelled' } ],
    [ DELETE => 'imports/%s' ],
);
for my $rt (@routes) {
    my ($m, $fmt, %o) = @$rt;
    my $kind = $fmt =~ /^imports/ ? 'imports' : 'exports';
    my $id = $kind eq 'imports' ? $bi->{id} : $bx->{id};
    my %v = $kind eq 'imports' ? %T : ();
    my $theirs = api($m, '/' . sprintf($fmt, $id), %v, %o, user => 'alice');
    my $none   = api($m, '/' . sprintf($fmt, $unknown), %v, %o, user => 'alice');
    is $theirs->code, 404, "alice: $m $fmt of bob's job: 404";
    is shape($theirs), shape($none), "... identical to an unknown id ($m $fmt)";
    is $theirs->content, $none->content, "... byte for byte ($m $fmt)";
}
for my $kind ('exports', 'imports') {
    my $id = $kind eq 'imports' ? $bi->{id} : $bx->{id};
    my %v = $kind eq 'imports' ? %T : ();
    my (%seen, $pages);
    for my $q ('', '?status=completed', '?status=completed&per_page=1',
               '?status=queued', '?status=failed') {
        my $page = 1;
        while (1) {
            my $sep = $q ? '&' : '?';
            my $res = api('GET', "/$kind$q${sep}page=$page", %v, user => 'alice');
            last unless $res->code == 200;
            my $list = json_list($res);
            $seen{ $_->{id} } = 1 for @$list;
            ok !grep({ ($_->{user_id} // '') ne 'alice' } @$list), "alice's $kind$q page $page: hers only"
                if $page == 1;
            $pages++;
            last unless ($res->header('Link') // '') =~ /rel="?next/ && $page < 200;
            $page++;
        }
    }
    ok !$seen{$id}, "bob's $kind is in none of alice's lists (every page, every ?status=)";
    my $res = api('GET', "/$kind?status=completed&per_page=100", %v, user => 'carol');
    ok grep({ $_->{id} eq $id } @{ json_list($res) }), "carol lists bob's $kind with ?status=";
    is api('GET', "/$kind/$id", %v, user => 'carol')->code, 200, "carol reads bob's $kind";
}
# the paging links are made of the validated parameters only: what else
# the query holds never reaches the Link header
{
    my (undef, $a2) = create_export(user => 'alice', params => { filter => 'global_properties' });
    wait_job($a2->{id}, user => 'alice');
    my $r = raw_request(path => '/xport/exports?per_page=1&status=completed'
                              . '&x=">;rel="evil&y=<http://evil.example/>&z=%0d%0aX-Injected:1');
    is $r->{status}, 200, 'a list with hostile extra parameters: 200';
    my $link = $r->{header}{link} // '';
    my @rels = $link =~ /rel="?([^",;]+)/g;
    is_deeply \@rels, ['next'], 'the Link header holds one rel="next" and nothing else'
        or diag $link;
    unlike $link, qr/evil|Injected|%0d/i, '... and none of the extra parameters';
    like $link, qr/per_page=1/, '... but keeps per_page';
    like $link, qr/status=completed/, '... and status';
}
is api('HEAD', "/exports/$bx->{id}/download", user => 'carol')->code, 200,
    "carol: HEAD bob's download";
is api('GET', "/exports/$bx->{id}", user => 'bob')->code, 200, "bob's export survived alice's DELETE";
is api('GET', "/imports/$bi->{id}", %T, user => 'bob')->code, 200, "bob's import survived too";
is api('DELETE', "/imports/$bi->{id}", %T, user => 'carol')->code, 204, 'carol deletes it';

# ================================================================= CSRF
# SPEC 3: state changes refused when Sec-Fetch-Site is cross-site or the
# Origin is another host; same-origin and requests without either pass.
# SELF stands for the Origin of the host the request goes to
my $self = 'http://' . hostport();
my @csrf = (
    [ 'Sec-Fetch-Site: cross-site', 403, [ 'Sec-Fetch-Site' => 'cross-site' ] ],
    [ 'Origin of another host',      403, [ Origin => 'http://evil.example' ] ],
    [ 'Origin with another port',    403, [ Origin => $self =~ s/:(\d+)$/':' . ($1 + 1)/er ] ],
    [ 'Origin: null',                403, [ Origin => 'null' ] ],
    [ 'Origin with the host as a prefix', 403, [ Origin => "$self.evil.example" ] ],
    [ 'Origin with the host as userinfo', 403,
      [ Origin => 'http://' . hostport() . '@evil.example' ] ],
    [ 'Origin hiding another host in userinfo', 403,
      [ Origin => 'http://evil.example@' . hostport() ] ],
    [ 'cross-site with a same-origin Origin', 403,
      [ 'Sec-Fetch-Site' => 'cross-site', Origin => 'SELF' ] ],
    [ 'same-origin Origin',          0,   [ Origin => 'SELF' ] ],
    [ 'no Origin',                   0,   [] ],
    [ 'Sec-Fetch-Site: same-origin', 0,   [ 'Sec-Fetch-Site' => 'same-origin', Origin => 'SELF' ] ],
    [ 'Sec-Fetch-Site: none',        0,   [ 'Sec-Fetch-Site' => 'none' ] ],
);
for my $c (@csrf) {
    my ($label, $refused, $hdr) = @$c;
    my $h = [ map { $_ eq 'SELF' ? $self : $_ } @$hdr ];
    my $ht = [ map { $_ eq 'SELF' ? 'http://' . hostport($T) : $_ } @$hdr ];
    my (undef, $j) = create_export(params => { filter => 'global_properties' });
    wait_job($j->{id});
    my $post = api('POST', '/exports', json => { filter => 'global_properties' }, headers => $h);
    my $patch = api('PATCH', "/exports/$j->{id}", json => { status => 'cancelled' }, headers => $h);
    my $del = api('DELETE', "/exports/$j->{id}", headers => $h);
    my $imp = api('POST', '/imports?dry_run=true', vhost => $T, body => $gp,
                  type => 'application/gzip', headers => $ht);
    if ($refused) {
        ok is_problem($post, 403), "POST with $label: 403";
        ok is_problem($patch, 403), "PATCH with $label: 403";
        ok is_problem($del, 403), "DELETE with $label: 403";
        ok is_problem($imp, 403), "POST /imports with $label: 403";
        is api('GET', "/exports/$j->{id}")->code, 200, "... the job is still there ($label)";
    }
    else {
        is $post->code, 202, "POST with $label: allowed";
        is $patch->code, 409, "PATCH with $label: allowed (409: already finished)";
        is $del->code, 204, "DELETE with $label: allowed";
        is $imp->code, 202, "POST /imports with $label: allowed";
        my $pj = json_obj($post);
        wait_job($pj->{id}) && api('DELETE', "/exports/$pj->{id}") if $pj->{id};
        my $ij = json_obj($imp);
        wait_import($ij->{id}, %T) && api('DELETE', "/imports/$ij->{id}", %T) if $ij->{id};
    }
    api('DELETE', "/exports/$j->{id}");
}
is api('GET', '/exports?per_page=1', headers => [ 'Sec-Fetch-Site' => 'cross-site' ])->code, 200,
    'a cross-site GET still reads';

# ================================================================ modes
{
    my (undef, $j) = create_export(params => { filter => 'global_properties' });
    wait_job($j->{id});
    my ($res, $i) = post_import(%T, archive => $gp, fields => [ dry_run => 'true' ]);
    wait_import($i->{id}, %T);
    my $st = $ENV{XPORT_STORAGE};
    my @files = ((map { "exports/$_" } storage_files('exports')),
                 (map { "uploads/$_" } storage_files('uploads')));
    push @files, grep { -e "$st/$_" } map { "jobs.db$_" } '', '-wal', '-shm', '-journal'
        if $BACKEND eq 'sqlite';
    ok((grep { m{^exports/} } @files) && (grep { m{^uploads/} } @files),
       'there are archives and uploads to check');
    my @loose = grep { ((stat "$st/$_")[2] & 07777) != 0600 } @files;
    is_deeply \@loose, [], 'every archive, upload and job store file is mode 0600'
        or diag join ' ', map { sprintf '%s %o', $_, (stat "$st/$_")[2] & 07777 } @loose;
    my @dirs = grep { -d "$st/$_" } ('.', 'tmp', 'exports', 'uploads');
    is scalar(@dirs), 4, 'storage has tmp/, exports/ and uploads/';
    @loose = grep { ((stat "$st/$_")[2] & 07777) != 0700 } @dirs;
    is_deeply \@loose, [], 'the storage directories are mode 0700';
    api('DELETE', "/exports/$j->{id}");
    api('DELETE', "/imports/$i->{id}", %T);
}

done_testing();
