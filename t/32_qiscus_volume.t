# 32_qiscus_volume.t -- the chat service API with 100,000 comments: the
# export streams them into its JSON array and the import reads that array
# element by element, so the worker's peak memory stays flat however many
# rows there are (SPEC 5, 6; the chat demo of conf/chat-*.sql).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use XportTest;

plan skip_all => 'the chat demo database is not set up'
    unless $ENV{XPORT_CHAT_DRIVER};

my $N   = 100_000;
my $KEY = 'qs-alpha-4f8e2c91d7b3a605';
my $pg  = $ENV{XPORT_CHAT_DRIVER} eq 'pgsql';

sub chat {
    my ($method, $path, %o) = @_;
    return api($method, $path, base => $o{base} // '/api/v2.1/rest', user => undef,
               vhost => $o{vhost} // 'xport_chat',
               headers => [ 'QISCUS-SDK-SECRET' => $KEY ], %o);
}
sub results { my $j = json_of($_[0]); return ref $j eq 'HASH' ? $j->{results} : undef }

sub wait_done {
    my ($kind, $id, %o) = @_;
    my $end = time + 600;
    my $h;
    while (time < $end) {
        $h = (results(chat('GET', "/$kind/$id", %o)) || {})->{backup_history};
        return $h if !$h || $h->{status} ne 'started';
        select undef, undef, undef, 0.2;
    }
    return $h;
}

# The comments of the volume run: vol<7 digits>, in one room, by one user.
my $room = '8b1e4f00-2026-4c5a-9d3e-000000000001';
my $user = 'ayu.pratama@chat.example';
sub vol_sql {
    my $sel = $pg
        ? "SELECT 'vol' || lpad(i::text, 7, '0'), 'volume message ' || i, false, 'text', "
          . "'$user', '$room', '2026-04-02T10:00:00Z', NULL, '' FROM generate_series(1, $N) i"
        : "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N) "
          . "SELECT 'vol' || substr('0000000' || i, -7), 'volume message ' || i, 0, 'text', "
          . "'$user', '$room', '2026-04-02T10:00:00Z', NULL, '' FROM n";
    return "INSERT INTO comments (unique_id, message, disable_link_preview, type, "
         . "creator_email, room_unique_id, created_at, payload, parent_comment_unique_id) $sel";
}
db_exec_in('chat', "DELETE FROM comments WHERE unique_id LIKE 'vol%'");
db_exec_in('chat', vol_sql());
is db_rows_in('chat', "SELECT count(*) AS n FROM comments WHERE unique_id LIKE 'vol%'")->[0]{n},
    $N, "$N comments in the chat database";

# the empty instance: cleared, then given the users and rooms they need
db_exec_in('chat_empty', 'DELETE FROM comments; DELETE FROM room_participants; '
                       . 'DELETE FROM rooms; DELETE FROM users');
sub export_file {
    my ($type) = @_;
    my $r = chat('POST', '/exports', json => { type => $type });
    my $h = wait_done('exports', results($r)->{unique_id});
    return ($h, api('GET', $h->{download_url}, user => undef)->content);
}
sub import_bytes {
    my ($type, $bytes) = @_;
    my $b = 'vB' . int(rand(1e9));
    my $r = chat('POST', '/imports', vhost => 'xport_chat_empty', base => '/bulk',
                 type => "multipart/form-data; boundary=$b",
                 body => multipart_body($b, { name => 'type', data => $type },
                     { name => 'file', filename => "$type.json", data => $bytes }));
    my $id = (results($r) || {})->{backup_history}{unique_id};
    diag $r->as_string unless $id;
    return wait_done('imports', $id, vhost => 'xport_chat_empty', base => '/bulk');
}
for my $type (qw(users rooms)) {
    my (undef, $bytes) = export_file($type);
    is import_bytes($type, $bytes)->{status}, 'finished', "$type imported first";
}

my $worker = worker_pid();
my $hwm0 = $worker ? vm_hwm($worker) : undef;
my ($h, $file) = export_file('comments');
is $h->{status}, 'finished', 'the comments exported';
ok $h->{total_rows} >= $N, "... all of them ($h->{total_rows})";
my $mb = length($file) / 1048576;
my $hwm1 = $worker ? vm_hwm($worker) : undef;

my $imp = import_bytes('comments', $file);
undef $file;
is $imp->{status}, 'finished', 'the comments imported into the empty instance'
    or diag explain $imp;
is $imp->{total_rows}, $h->{total_rows}, '... every one of them';
is db_rows_in('chat_empty', "SELECT count(*) AS n FROM comments WHERE unique_id LIKE 'vol%'")->[0]{n},
    $N, "... $N volume comments in its database";
my $hwm2 = $worker ? vm_hwm($worker) : undef;

SKIP: {
    skip 'the worker process was not found', 2 unless defined $hwm0 && defined $hwm2;
    # AddressSanitizer's shadow memory and quarantine are not the module's
    skip 'peak memory is not the module\'s under AddressSanitizer', 2
        if $ENV{SANITIZE};
    diag sprintf('worker VmHWM %d kB before, %d kB after the export, %d kB after '
               . 'the import of a %.0f MB JSON array', $hwm0, $hwm1, $hwm2, $mb);
    ok $hwm1 - $hwm0 < 32 * 1024, 'export: the worker grew by less than 32 MB';
    ok $hwm2 - $hwm0 < 32 * 1024, 'import: the worker grew by less than 32 MB';
}

# leave the demo as it was
db_exec_in('chat', "DELETE FROM comments WHERE unique_id LIKE 'vol%'");
db_exec_in('chat_empty', 'DELETE FROM comments; DELETE FROM room_participants; '
                       . 'DELETE FROM rooms; DELETE FROM users');

done_testing();
