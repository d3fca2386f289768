# 31_qiscus.t -- the chat service's backup and import API (SPEC 8.1,
# XportAPI qiscus) on the chat demo (conf/chat-*.sql): every route, the
# exact JSON shapes, API keys in both header spellings, signed download
# links, windows, and an export -> download -> import round trip into an
# empty instance that recreates the same rows.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use JSON::PP;
use XportTest;

plan skip_all => 'the chat demo database is not set up'
    unless $ENV{XPORT_CHAT_DRIVER};

my $BASE  = '/api/v2.1/rest';
my $ALPHA = 'qs-alpha-4f8e2c91d7b3a605';
my $BETA  = 'qs-beta-9c1d70e3a28b4f56';
my $UUID  = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
my $TIME  = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/;
my %FIELDS = (
    users    => [qw(Email Name AvatarUrl AuthenticationToken Password CreateAt)],
    rooms    => [qw(Name Type Options CreatorEmail CreatedAt AvatarUrl UniqueId
                    ParticipantEmails)],
    comments => [qw(Message DisableLinkPreview Type UniqueId CreatorEmail
                    RoomUniqueId CreatedAt Payload ParentCommentUniqueId)],
);
my %TABLE = (users => 'users', rooms => 'rooms_api', comments => 'comments');
my %KEY = (users => 'email', rooms => 'unique_id', comments => 'unique_id');

# chat(METHOD, PATH, key => token | undef, vhost => ..., %api_options)
sub chat {
    my ($method, $path, %o) = @_;
    my $key = exists $o{key} ? delete $o{key} : $ALPHA;
    my $spelling = delete $o{spelling} // 'QISCUS-SDK-SECRET';
    my @h = @{ delete $o{headers} || [] };
    push @h, $spelling => $key if defined $key;
    return api($method, $path, base => $o{base} // $BASE, user => undef,
               vhost => $o{vhost} // 'xport_chat', headers => \@h, %o);
}

sub body { my $j = json_of($_[0]); return ref $j eq 'HASH' ? $j : {} }

# The error shape: {"status": code, "error": {"message": "..."}}.
sub is_error {
    my ($res, $code, $label, $like) = @_;
    my $b = body($res);
    is $res->code, $code, "$label: HTTP $code";
    ok(($res->header('Content-Type') // '') =~ m{^application/json}
       && ($b->{status} // 0) == $code && ref $b->{error} eq 'HASH'
       && length($b->{error}{message} // ''), "$label: the error shape")
        or diag $res->as_string;
    like $b->{error}{message} // '', $like, "$label: the message says why" if $like;
}

sub history { return body($_[0])->{results}{backup_history} }

sub wait_history {
    my ($kind, $id, %o) = @_;
    my $end = time + 120;
    my $h;
    while (time < $end) {
        $h = history(chat('GET', "/$kind/$id", %o));
        return $h if !$h || $h->{status} ne 'started';
        select undef, undef, undef, 0.1;
    }
    return $h;
}

sub start_export {
    my (%o) = @_;
    my $vhost = delete $o{vhost};
    my $res = chat('POST', '/exports', json => \%o, $vhost ? (vhost => $vhost) : ());
    return ($res, body($res)->{results});
}

# The rows of a section in a database: the columns its files carry.
my %COLUMNS = (
    users    => 'email, name, avatar_url, authentication_token, password, created_at',
    rooms    => 'name, type, options, creator_email, created_at, avatar_url, unique_id, '
              . 'participant_emails',
    comments => 'message, disable_link_preview, type, unique_id, creator_email, '
              . 'room_unique_id, created_at, CAST(payload AS TEXT) AS payload, '
              . 'parent_comment_unique_id',
);
sub db_section {
    my ($db, $type) = @_;
    my $rows = db_rows_in($db, "SELECT $COLUMNS{$type} FROM $TABLE{$type}");
    return { map { $_->{ $KEY{$type} } => $_ } @$rows };
}

# ====================================================================== auth
is_error(chat('GET', '/exports', key => undef), 401, 'no key');
is_error(chat('GET', '/exports', key => 'wrong'), 401, 'a wrong key');
ok(chat('GET', '/exports', key => undef)->header('WWW-Authenticate'),
   '401: with a challenge');
is chat('GET', '/exports')->code, 200, 'QISCUS-SDK-SECRET: accepted';
# the underscore spelling, sent as it is (no - for _ rewriting)
is chat('GET', '/exports', spelling => ':QISCUS_SDK_SECRET')->code, 200,
    'QISCUS_SDK_SECRET: accepted';

# ============================================================ POST /exports
my ($res, $rec) = start_export(type => 'users');
is $res->code, 200, 'POST /exports: 200';
is body($res)->{status}, 200, 'body status 200';
is_deeply [sort keys %$rec],
    [sort qw(created_at download_url error_message original_filename percentage
             resource_name size status total_rows unique_id)],
    'the record directly under results, with exactly its fields';
like $rec->{unique_id}, $UUID, 'unique_id is a UUID';
like $rec->{created_at}, $TIME, 'created_at with seconds and an offset';
is $rec->{status}, 'started', 'status started';
is $rec->{download_url}, '', 'download_url empty until finished';
is $rec->{error_message}, '', 'error_message empty';
is $rec->{original_filename}, "$rec->{created_at}_exported_users.json",
    'original_filename <created_at>_exported_<type>.json';
is $rec->{resource_name}, 'users', 'resource_name';
ok !ref $rec->{percentage} && $rec->{percentage} =~ /^\d+$/
    && JSON::PP->new->encode([$rec->{percentage}]) !~ /\./,
    'percentage an integer';
is $rec->{size}, 0, 'size 0 until finished';
my $users_id = $rec->{unique_id};

# form and multipart bodies work as JSON does
for my $how (qw(form multipart)) {
    my $r;
    if ($how eq 'form') {
        $r = chat('POST', '/exports', form => { type => 'rooms' });
    } else {
        my $b = 'qB' . int(rand(1e9));
        $r = chat('POST', '/exports', type => "multipart/form-data; boundary=$b",
               body => multipart_body($b, { name => 'type', data => 'rooms' }));
    }
    is $r->code, 200, "POST /exports as $how: 200";
    is body($r)->{results}{resource_name}, 'rooms', "... $how: its type";
}

is_error(chat('POST', '/exports', json => {}), 400, 'no type', qr/type/);
is_error(chat('POST', '/exports', json => { type => 'bots' }), 400,
         'an unknown type', qr/bots.*users/);
is_error(chat('POST', '/exports', json => { type => 'users', start_date => '2026-13-01' }),
         400, 'a bad start_date', qr/start_date/);
is_error(chat('POST', '/exports', json => { type => 'users', end_date => 'yesterday' }),
         400, 'a bad end_date', qr/end_date/);
is_error(chat('POST', '/exports', json => { type => 'users', start_date => '2026-03-12',
                                          end_date => '2026-03-11' }),
         400, 'end_date before start_date', qr/end_date/);

# ============================================================= GET one, list
my $h = wait_history('exports', $users_id);
is $h->{status}, 'finished', 'the export finished';
is $h->{percentage}, 100, 'percentage 100';
my $nusers = target_count('chat', 'users');
is $h->{total_rows}, $nusers, 'total_rows: every user';
ok $h->{size} > 0, 'size: the file size';
like $h->{download_url}, qr{^http://[^/]+$BASE/files/[0-9a-f]{32}/[^?]+\?.*sig=},
    'download_url: an absolute signed link';
(my $hex = $users_id) =~ s/-//g;
is chat('GET', "/exports/$hex")->code, 200, 'the id without dashes works too';
is_error(chat('GET', '/exports/' . ('0' x 8) . '-0000-0000-0000-' . ('0' x 12)),
         404, 'an unknown id');
is_error(chat('GET', "/exports/$users_id", key => $BETA), 404,
         "another key's export");

my $list = body(chat('GET', '/exports'))->{results}{backup_histories};
ok ref $list eq 'ARRAY' && @$list >= 3 && @$list <= 20, 'list: up to 20';
ok scalar(grep { $_->{unique_id} eq $users_id } @$list), 'list: holds the export';
my @times = map { $_->{created_at} } @$list;
ok !grep({ $times[$_] lt $times[$_ + 1] } 0 .. $#times - 1), 'list: newest first';
is_deeply body(chat('GET', '/exports?page=9999'))->{results}{backup_histories}, [],
    'list: past the end, an empty array';
is_deeply body(chat('GET', '/exports', key => $BETA))->{results}{backup_histories}, [],
    "list: another key's exports are not shown";
is_error(chat('GET', '/exports?page=zero'), 400, 'a bad page', qr/page/);

# =============================================================== download
my $url = $h->{download_url};
my $dl = api('GET', $url, user => undef);
is $dl->code, 200, 'the link works without credentials';
is $dl->header('Content-Type'), 'application/json', 'application/json';
is $dl->header('Content-Disposition'),
    qq{attachment; filename="$h->{original_filename}"},
    'Content-Disposition names original_filename';
my $file = json_of($dl);
is ref $file, 'ARRAY', 'the file is a JSON array';
is scalar @$file, $nusers, 'one element a user';
is_deeply [sort keys %{ $file->[0] }], [sort @{ $FIELDS{users} }],
    "elements carry the API's field names";
my $db = db_section('chat', 'users');
my $same = 1;
for my $u (@$file) {
    my $row = $db->{ $u->{Email} } or do { $same = 0; last };
    $same &&= $u->{Name} eq $row->{name} && $u->{Password} eq $row->{password}
        && $u->{CreateAt} eq $row->{created_at};
}
ok $same, "the file's rows are the database's";

(my $bad = $url) =~ s/sig=(.)/'sig=' . ($1 eq 'A' ? 'B' : 'A')/e;
is_error(api('GET', $bad, user => undef), 404, 'an altered link');
my ($sr, $srec) = (chat('POST', '/exports', base => '/short', json => { type => 'users' }));
my $short = wait_history('exports', body($sr)->{results}{unique_id}, base => '/short');
# /short's links live 1 s: wait (bounded) for the link to have expired
my $exp;
for (1 .. 100) {
    $exp = api('GET', $short->{download_url}, user => undef);
    last if $exp->code != 200;
    select undef, undef, undef, 0.1;
}
is_error($exp, 410, 'an expired link');

# ================================================================ windows
my ($wr, $w) = start_export(type => 'comments', start_date => '2026-03-21',
                            end_date => '2026-03-22');
$w = wait_history('exports', $w->{unique_id});
my $in_window = db_rows_in('chat', "SELECT count(*) AS n FROM comments WHERE "
    . "created_at >= '2026-03-21' AND created_at < '2026-03-23'")->[0]{n};
is $w->{total_rows}, $in_window, 'start_date..end_date: the days inclusive';
ok $in_window > 0 && $in_window < target_count('chat', 'comments'),
    '... a real subset';

# ================================================================ DELETE
my ($dr, $d) = start_export(type => 'users');
my $done = wait_history('exports', $d->{unique_id});
my $del = chat('DELETE', "/exports/$d->{unique_id}");
is $del->code, 200, 'DELETE: 200';
is history($del)->{unique_id}, $d->{unique_id}, 'DELETE: the record as it was';
is history($del)->{status}, 'finished', '... finished';
is chat('GET', "/exports/$d->{unique_id}")->code, 404, 'gone afterwards';
is api('GET', $done->{download_url}, user => undef)->code, 410,
    "its link is gone too";
is_error(chat('PATCH', "/exports/$users_id"), 405, 'PATCH: 405');

# ============================================================== imports
# the upload: multipart with type and file
sub import_file {
    my ($type, $bytes, %o) = @_;
    my $b = 'qB' . int(rand(1e9));
    my @parts = ({ name => 'type', data => $type },
                 { name => 'file', filename => $o{filename} // "$type.json",
                   type => 'application/json', data => $bytes });
    @parts = reverse @parts if $o{reverse};
    return chat('POST', '/imports', vhost => $o{vhost} // 'xport_chat_empty',
             type => "multipart/form-data; boundary=$b",
             body => multipart_body($b, @parts));
}

# the empty instance gets users, rooms and comments back, in that order
my (%exported, @imported);
for my $type (qw(users rooms comments)) {
    my ($r, $e) = start_export(type => $type);
    $e = wait_history('exports', $e->{unique_id});
    $exported{$type} = api('GET', $e->{download_url}, user => undef)->content;
    my $ir = import_file($type, $exported{$type}, filename => "backup-$type.json");
    is $ir->code, 200, "import $type: 200";
    my $ih = history($ir);
    is_deeply [sort keys %$ih],
        [sort qw(created_at errors original_filename resource_name size status
                 total_rows unique_id)], "import $type: the record's fields";
    is $ih->{status}, 'started', "import $type: started";
    is $ih->{total_rows}, 0, "import $type: total_rows 0";
    is_deeply $ih->{errors}, { Message => '', Data => undef },
        "import $type: errors empty";
    is $ih->{original_filename}, "backup-$type.json", "import $type: its file name";
    is $ih->{size}, length $exported{$type}, "import $type: its size";
    push @imported, $ih->{unique_id};
    my $fin = wait_history('imports', $ih->{unique_id}, vhost => 'xport_chat_empty');
    is $fin->{status}, 'finished', "import $type: finished"
        or diag explain $fin;
    is $fin->{total_rows}, target_count('chat', $TABLE{$type}),
        "import $type: every row";
    is_deeply db_section('chat_empty', $type), db_section('chat', $type),
        "import $type: the same rows as the source";
}
my $il = body(chat('GET', '/imports', vhost => 'xport_chat_empty'))->{results}{backup_histories};
my %listed = map { $_->{unique_id} => $_ } @$il;
is scalar(grep { $listed{$_} } @imported), 3, 'imports list: the three imports';
is_deeply $listed{ $imported[0] }{errors}, {}, 'imports list: errors {} when there are none';

# passwords still verify (bcrypt hashes kept as they were)
my $u = db_rows_in('chat_empty',
    "SELECT password FROM users WHERE email = 'ayu.pratama\@chat.example'")->[0];
ok $u && $u->{password} =~ /^\$2[aby]\$/, 'the password is a bcrypt hash';
SKIP: {
    skip 'htpasswd not found', 1 unless -x '/usr/bin/htpasswd';
    my $f = "/tmp/xport-pw-$$";
    open my $fh, '>', $f or die; print $fh "u:$u->{password}\n"; close $fh;
    is system('/usr/bin/htpasswd', '-vb', $f, 'u', 'ayu.pratama-2026') >> 8, 0,
        "a demo user's password still verifies after the round trip";
    unlink $f;
}

# insert-only: the same file again fails on the first row, changes nothing
my $again = import_file('users', $exported{users});
my $ag = wait_history('imports', history($again)->{unique_id}, vhost => 'xport_chat_empty');
is $ag->{status}, 'failed', 'importing existing users again fails';
ok ref $ag->{errors}{Data} eq 'ARRAY' && @{ $ag->{errors}{Data} }
    && $ag->{errors}{Data}[0]{line} == 1 && length $ag->{errors}{Data}[0]{key},
    '... naming line and key' or diag explain $ag->{errors};
like $ag->{errors}{Message}, qr/\S/, '... with a summary';

# a plain password is stored hashed and verifies
my $plain = JSON::PP->new->encode([{ Email => 'new.user@chat.example', Name => 'New',
    AvatarUrl => '', AuthenticationToken => 'tok-new-0001', Password => 'pw-plain-1',
    CreateAt => '2026-04-01T10:00:00Z', Unknown => 'dropped' }]);
my $pi = history(import_file('users', $plain));
is wait_history('imports', $pi->{unique_id}, vhost => 'xport_chat_empty')->{status},
    'finished', 'a new user with a plain password (and an unknown key) imports';
my $stored = db_rows_in('chat_empty',
    "SELECT password FROM users WHERE email = 'new.user\@chat.example'")->[0]{password};
like $stored, qr/^\$2[aby]\$/, 'stored as a bcrypt hash';
SKIP: {
    skip 'htpasswd not found', 1 unless -x '/usr/bin/htpasswd';
    my $f = "/tmp/xport-pw-$$";
    open my $fh, '>', $f or die; print $fh "u:$stored\n"; close $fh;
    is system('/usr/bin/htpasswd', '-vb', $f, 'u', 'pw-plain-1') >> 8, 0,
        'the hash verifies the plain password';
    unlink $f;
}

# each rule of the demo broken once: the job fails naming line and key,
# and the tables are as they were
my %before = map { $_ => db_section('chat_empty', $_) } qw(users rooms comments);
my $e = JSON::PP->new->canonical;
my @broken = (
    [ rooms => 'a participant who is not a user',
      [{ Name => 'x', Type => 'group', Options => '', CreatorEmail => 'ayu.pratama@chat.example',
         CreatedAt => '2026-04-01T10:00:00Z', AvatarUrl => '', UniqueId => 'room-bad-1',
         ParticipantEmails => ['ayu.pratama@chat.example', 'nobody@chat.example'] }] ],
    [ rooms => 'a single room of three',
      [{ Name => 'x', Type => 'single', Options => '', CreatorEmail => 'ayu.pratama@chat.example',
         CreatedAt => '2026-04-01T10:00:00Z', AvatarUrl => '', UniqueId => 'room-bad-2',
         ParticipantEmails => ['ayu.pratama@chat.example', 'budi.pratama@chat.example',
                               'dewi.santoso@chat.example'] }] ],
    [ rooms => 'a creator who is not a user',
      [{ Name => 'x', Type => 'group', Options => '', CreatorEmail => 'ghost@chat.example',
         CreatedAt => '2026-04-01T10:00:00Z', AvatarUrl => '', UniqueId => 'room-bad-3',
         ParticipantEmails => ['ayu.pratama@chat.example'] }] ],
    [ comments => 'a room that does not exist',
      [{ Message => 'hi', DisableLinkPreview => JSON::PP::false, Type => 'text',
         UniqueId => 'c-bad-1', CreatorEmail => 'ayu.pratama@chat.example',
         RoomUniqueId => 'no-such-room', CreatedAt => '2026-04-01T10:00:00Z',
         Payload => undef, ParentCommentUniqueId => '' }] ],
    [ comments => 'a reply without its payload',
      [{ Message => 'hi', DisableLinkPreview => JSON::PP::false, Type => 'reply',
         UniqueId => 'c-bad-2', CreatorEmail => 'ayu.pratama@chat.example',
         RoomUniqueId => '8b1e4f00-2026-4c5a-9d3e-000000000001',
         CreatedAt => '2026-04-01T10:00:00Z', Payload => { text => 'hi' },
         ParentCommentUniqueId => 'android_1774003925185' }] ],
    [ comments => 'a type that is neither text nor reply',
      [{ Message => 'hi', DisableLinkPreview => JSON::PP::false, Type => 'custom',
         UniqueId => 'c-bad-3', CreatorEmail => 'ayu.pratama@chat.example',
         RoomUniqueId => '8b1e4f00-2026-4c5a-9d3e-000000000001',
         CreatedAt => '2026-04-01T10:00:00Z', Payload => undef,
         ParentCommentUniqueId => '' }] ],
    [ users => 'an authentication token twice',
      [{ Email => 'twin1@chat.example', Name => 'T1', AvatarUrl => '',
         AuthenticationToken => 'tok-twin', Password => 'x', CreateAt => '2026-04-01T10:00:00Z' },
       { Email => 'twin2@chat.example', Name => 'T2', AvatarUrl => '',
         AuthenticationToken => 'tok-twin', Password => 'x', CreateAt => '2026-04-01T10:00:00Z' }] ],
);
for my $b (@broken) {
    my ($type, $label, $data) = @$b;
    my $r = import_file($type, $e->encode($data));
    my $fin = $r->code == 200
        ? wait_history('imports', history($r)->{unique_id}, vhost => 'xport_chat_empty')
        : undef;
    is $fin && $fin->{status}, 'failed', "$type, $label: the import failed"
        or diag $r->as_string;
    my $d0 = $fin && ref $fin->{errors}{Data} eq 'ARRAY' ? $fin->{errors}{Data}[0] : undef;
    ok $d0 && $d0->{line} >= 1 && length($d0->{key} // '')
        && length($d0->{message} // ''),
        "$type, $label: an error names the line and the key and says why"
        or diag explain $fin;
    note "$label: " . ($d0 ? "line $d0->{line} key $d0->{key}: $d0->{message}" : '-');
}
my $na = import_file('users', '{"Email": "x@chat.example"}');
my $naf = wait_history('imports', history($na)->{unique_id}, vhost => 'xport_chat_empty');
is $naf->{status}, 'failed', 'a file that is not a JSON array fails';
like $naf->{errors}{Message}, qr/JSON array/, '... and says so';
is_deeply { map { $_ => db_section('chat_empty', $_) } qw(users rooms comments) },
    \%before, 'the failed imports changed nothing';

# bad requests
is_error(import_file('bots', '[]'), 400, 'import: an unknown type', qr/bots/);
is_error(chat('POST', '/imports', vhost => 'xport_chat_empty', json => { type => 'users' }),
         415, 'import: not multipart');
my $big = '[' . join(',', ('{"Email":"' . ('x' x 100) . '"}') x 45000) . ']';
my $leftover_before = scalar storage_files('uploads');
is_error(import_file('users', $big), 413, 'import: over 4 MB', qr/4 MiB|MB/);
is scalar storage_files('uploads'), $leftover_before, '... nothing kept';

# both part orders
my $rev = import_file('users', '[]', reverse => 1);
is $rev->code, 200, 'import: the file part first works too';

# ========================================================== configuration
# XportAPI with a name the module does not speak stops `httpd -t`, and
# the message lists the ones it does.
{
    require File::Temp;
    my $vars = Apache::Test::config()->{vars};
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my $conf_in = do { local (@ARGV, $/) = $vars->{t_conf_file}; <> } // '';
    my @load = grep { /^\s*LoadModule\s+(mpm_\w+|authn_core|authz_core)_module\b/ }
               split /\n/, $conf_in;
    for my $api (qw(qiscus bogus)) {
        open(my $c, '>', "$dir/httpd.conf") or die $!;
        print $c join("\n", "ServerName localhost", "ServerRoot $dir",
                      "Listen 127.0.0.1:1", "PidFile $dir/httpd.pid",
                      "ErrorLog $dir/error_log", @load,
                      "LoadModule xport_module \"$vars->{serverroot}/../build/mod_xport.so\"",
                      "XportStorage $dir/storage", "<Location /c>", "SetHandler xport",
                      "XportAPI $api", "</Location>", '');
        close $c;
        my $out = `$vars->{httpd} -t -f $dir/httpd.conf 2>&1`;
        if ($api eq 'qiscus') {
            is $? >> 8, 0, 'httpd -t: XportAPI qiscus' or diag $out;
        } else {
            isnt $? >> 8, 0, 'httpd -t: XportAPI bogus fails';
            like $out, qr/XportAPI: "bogus" is not an API this module speaks \(.*native.*qiscus|XportAPI: "bogus" is not an API this module speaks \(.*qiscus.*native/,
                '... naming the APIs there are' or diag $out;
        }
    }
}

done_testing();
