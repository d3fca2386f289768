# 14_section_options.t -- the section options other APIs are built on
# (SPEC section 2, 8.0), through the native API on both import targets
# (an SQLite and a PostgreSQL database in every phase): fields= (files
# speak the API's names both ways, and the manifest lists them), a section
# on a view written through INSTEAD OF triggers whose refusal is the
# row's error, ref=col:SECTION.col2 and a section referencing itself
# (checked on import, followed by closure, parents first), hash=col:bcrypt
# and JSON array files. Sections and tables: t/conf/sections.inc,
# t/data/notes-*.sql.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use JSON::PP ();
use File::Temp ();
use XportTest;

my $JSON = JSON::PP->new->utf8->canonical;

# ---------------------------------------------------------------- helpers
sub api_reset {
    my ($db) = @_;
    db_exec_in($db, 'DELETE FROM api_posts; DELETE FROM api_room_rows; '
                  . 'DELETE FROM api_accounts');
}

# A bare file into one section of a target; the finished record.
sub import_bare {
    my ($db, $section, $text, %o) = @_;
    my $type = $o{type} // ($text =~ /^\s*\[/ ? 'application/json' : 'application/x-ndjson');
    my %T = (vhost => target_vhost($db));
    my ($res, $rec) = post_import(%T, archive => $text, raw => $type,
                                  fields => [ sections => $section, @{ $o{fields} || [] } ]);
    return { status => 'refused', upload => $res->as_string } unless $rec;
    return wait_import($rec->{id}, %T) || {};
}

sub completed {
    my ($end, $label) = @_;
    is $end->{status}, 'completed', "$label: completed" or diag explain $end;
}

# A failed import whose first message is $msg (a string) or matches it.
sub failed_with {
    my ($end, $msg, $label) = @_;
    is $end->{status}, 'failed', "$label: fails" or diag explain $end;
    my $first = ($end->{error_messages} || [])->[0] // '';
    if (ref $msg) { like $first, $msg, "$label: says why" }
    else { is $first, $msg, "$label: says why" }
}

sub rows_of { my ($db, $sql) = @_; return db_rows_in($db, $sql) }

# Export from a target; the downloaded bytes (undef on failure).
sub export_bytes {
    my ($db, %o) = @_;
    my $e = export_archive(vhost => target_vhost($db), %o);
    return $e;
}

sub lines_of { return [ map { $JSON->decode($_) } grep { length } split /\n/, $_[0] // '' ] }

my $ACCOUNTS = join '', map { "$_\n" }
    '{"id":1,"Email":"ann@example.org","Name":"Ann"}',
    '{"id":2,"Email":"bob@example.org","Name":"Bob"}';

for my $db ('sqlite', 'pgsql') {
    my $L = $db;

    # ------------------------------------------------------------ fields=
    api_reset($db);
    my $end = import_bare($db, 'accounts', $ACCOUNTS);
    completed($end, "$L fields: rows under the API's names");
    is_deeply rows_of($db, 'SELECT id, email, name FROM api_accounts ORDER BY id'),
        [ { id => 1, email => 'ann@example.org', name => 'Ann' },
          { id => 2, email => 'bob@example.org', name => 'Bob' } ],
        "$L fields: Email and Name went into email and name";
    $end = import_bare($db, 'accounts', qq({"id":3,"email":"c\@example.org"}\n));
    failed_with($end, 'accounts line 1 (id=3): unknown column "email" (leave it out, or '
                    . 'import with unknown_columns=ignore)',
                "$L fields: the column's own name is not the file's");
    $end = import_bare($db, 'rooms', qq({"Type":"group"}\n));
    failed_with($end, 'rooms line 1: the key column "UniqueId" is missing or null',
                "$L fields: a message names the key as the file does");

    my $nd = export_bytes($db, filter => 'accounts', format => 'ndjson');
    is_deeply lines_of($nd && $nd->{bytes}),
        [ { id => 1, Email => 'ann@example.org', Name => 'Ann', Password => undef },
          { id => 2, Email => 'bob@example.org', Name => 'Bob', Password => undef } ],
        "$L fields: an NDJSON export writes the API's names";
    like $nd->{bytes} // '', qr/^\{"id":1,"Email":/, "$L fields: ... in column order";
    my $js = export_bytes($db, filter => 'accounts', format => 'json');
    my $arr = eval { $JSON->decode($js->{bytes} // '') } || [];
    is_deeply [ map { $_->{Email} } @$arr ], [ 'ann@example.org', 'bob@example.org' ],
        "$L fields: a JSON array export too";
    $end = import_bare($db, 'accounts', $js->{bytes} // '');
    completed($end, "$L fields: the JSON array imports back");
    is_deeply $end->{changes}{accounts},
        { created => 0, updated => 0, unchanged => 2, skipped => 0 },
        "$L fields: ... unchanged";
    my $tgz = export_bytes($db, filter => 'accounts');
    my $m = eval { $JSON->decode($tgz->{arc}{data}{'manifest.json'}) } || {};
    my ($ms) = @{ $m->{sections} || [] };
    is_deeply [ $ms->{key}, $ms->{columns} ], [ 'id', [qw(id Email Name Password)] ],
        "$L fields: the manifest lists the file's names";
    my ($res, $rec) = post_import(vhost => target_vhost($db), archive => $tgz->{bytes});
    my $back = $rec ? wait_import($rec->{id}, vhost => target_vhost($db)) : {};
    completed($back, "$L fields: the archive imports back");

    # ------------------------------------------------------------ a view
    $end = import_bare($db, 'rooms',
        '[{"UniqueId":"r1","Type":"group","Name":"Team","CreatorEmail":"ann@example.org"},'
      . '{"UniqueId":"r2","Type":"single","CreatorEmail":"bob@example.org"}]');
    completed($end, "$L view: rows through the INSTEAD OF INSERT trigger");
    is_deeply rows_of($db, 'SELECT unique_id, kind, name FROM api_room_rows ORDER BY unique_id'),
        [ { unique_id => 'r1', kind => 'group', name => 'Team' },
          { unique_id => 'r2', kind => 'single', name => undef } ],
        "$L view: ... into the table behind it";
    my $before = rows_of($db, 'SELECT * FROM api_room_rows ORDER BY id');
    $end = import_bare($db, 'rooms',
        '[{"UniqueId":"r3","Type":"group"},{"UniqueId":"r4","Type":"triple"},'
      . '{"UniqueId":"r5","Type":"group"}]');
    failed_with($end, 'rooms line 2 (UniqueId=r4): the database rejected the row: a room is '
                    . 'single or group',
                "$L view: the trigger's message is the row's error");
    is_deeply rows_of($db, 'SELECT * FROM api_room_rows ORDER BY id'), $before,
        "$L view: ... and nothing was written";
    $end = import_bare($db, 'rooms', qq({"UniqueId":"r1","Type":"single"}\n),
                       fields => [ on_conflict => 'fail' ]);
    failed_with($end, 'rooms line 1 (UniqueId=r1): a row with this key already exists and '
                    . 'on_conflict is fail',
                "$L view: on_conflict=fail (insert only)");
    $end = import_bare($db, 'rooms',
                       qq({"UniqueId":"r1","Type":"single"}\n{"UniqueId":"r6","Type":"group"}\n),
                       fields => [ on_conflict => 'skip' ]);
    completed($end, "$L view: on_conflict=skip");
    is_deeply $end->{changes}{rooms}, { created => 1, updated => 0, unchanged => 0, skipped => 1 },
        "$L view: ... keeps r1, creates r6";
    $end = import_bare($db, 'rooms', qq({"UniqueId":"r1","Type":"single"}\n));
    completed($end, "$L view: on_conflict=update");
    is rows_of($db, "SELECT kind FROM api_room_rows WHERE unique_id = 'r1'")->[0]{kind},
        'single', "$L view: ... through the INSTEAD OF UPDATE trigger";
    $nd = export_bytes($db, filter => 'rooms', format => 'ndjson');
    is_deeply [ map { $_->{UniqueId} } @{ lines_of($nd && $nd->{bytes}) } ], [qw(r1 r2 r6)],
        "$L view: exported like a table";

    # ------------------------------------------------------------ refs
    $end = import_bare($db, 'rooms', qq({"UniqueId":"r7","CreatorEmail":"zed\@example.org","Type":"group"}\n));
    failed_with($end, 'rooms line 1 (UniqueId=r7): CreatorEmail "zed@example.org" references '
                    . 'accounts, which has no such row',
                "$L ref .col2: an e-mail no account has");
    my $posts = join '', map { "$_\n" }
        '{"UniqueId":"z1","AuthorEmail":"ann@example.org","Body":"first"}',
        '{"UniqueId":"a1","AuthorEmail":"bob@example.org","ParentUniqueId":"z1"}',
        '{"UniqueId":"m1","AuthorEmail":"","ParentUniqueId":"a1"}',
        '{"UniqueId":"b2","AuthorEmail":null,"ParentUniqueId":""}',
        '{"UniqueId":"c2","ParentUniqueId":"c2"}';
    $end = import_bare($db, 'posts', $posts);
    completed($end, "$L refs: by e-mail, to earlier rows of the file, empty, null and itself");
    $end = import_bare($db, 'posts',
                       qq({"UniqueId":"n1","ParentUniqueId":"n2"}\n{"UniqueId":"n2"}\n));
    failed_with($end, 'posts line 1 (UniqueId=n1): ParentUniqueId "n2" references posts, which '
                    . 'has no such row',
                "$L self ref: a parent later in the file");
    $end = import_bare($db, 'posts', qq({"UniqueId":"n3","ParentUniqueId":"m1"}\n));
    completed($end, "$L self ref: a parent in the database");
    $nd = export_bytes($db, filter => 'posts', format => 'ndjson');
    my @order = map { $_->{UniqueId} } @{ lines_of($nd && $nd->{bytes}) };
    is_deeply \@order, [qw(b2 c2 z1 a1 m1 n3)],
        "$L self ref: exported parents first (by depth, then key)";

    # closure from one post: its ancestors and the accounts they name, by
    # e-mail; imported into the other target (empty), parents first
    my $other = $db eq 'sqlite' ? 'pgsql' : 'sqlite';
    my ($cres, $crec) = create_export(vhost => target_vhost($db),
        params => { filter => 'posts/uid=m1', closure => JSON::PP::true() });
    my $cdone = $crec ? wait_job($crec->{id}, vhost => target_vhost($db)) : {};
    is $cdone->{status}, 'completed', "$L closure: export completed" or diag explain $cdone;
    my $cbytes = download($crec->{id}, vhost => target_vhost($db))->content;
    my $carc = read_archive($cbytes, 'tar.gz');
    is_deeply [ map { $_->{UniqueId} } @{ lines_of($carc->{data}{'data/posts.ndjson'}) } ],
        [qw(z1 a1 m1)], "$L closure: a post with its parent and grandparent, parents first";
    is_deeply [ map { $_->{Email} } @{ lines_of($carc->{data}{'data/accounts.ndjson'}) } ],
        [qw(ann@example.org bob@example.org)], "$L closure: the accounts named by e-mail";
    api_reset($other);
    ($res, $rec) = post_import(vhost => target_vhost($other), archive => $cbytes);
    $back = $rec ? wait_import($rec->{id}, vhost => target_vhost($other)) : {};
    completed($back, "$L closure: imports into the empty $other target");
    is_deeply $back->{changes}{posts}, { created => 3, updated => 0, unchanged => 0, skipped => 0 },
        "$L closure: ... every post created";
    api_reset($other);

    # ------------------------------------------------------------ bcrypt
    $end = import_bare($db, 'accounts',
        qq({"id":5,"Email":"eve\@example.org","Password":"s3cret"}\n)
      . qq({"id":6,"Email":"fay\@example.org","Password":"\$2y\$05\$abcdefghijklmnopqrstuuJ9eQnAmKdxH6Ouv5qGfPyM4LJhCnBDa"}\n));
    completed($end, "$L bcrypt: imported");
    my $pw = rows_of($db, 'SELECT id, password FROM api_accounts WHERE id IN (5, 6) ORDER BY id');
    like $pw->[0]{password} // '', qr/^\$2y\$05\$[.\/A-Za-z0-9]{53}$/,
        "$L bcrypt: a plain password stored as a cost-5 bcrypt hash";
    ok htpasswd_accepts($pw->[0]{password}, 's3cret'),
        "$L bcrypt: htpasswd -v (apr_password_validate) accepts the password";
    ok !htpasswd_accepts($pw->[0]{password}, 's3cre'), "$L bcrypt: ... and no other";
    is $pw->[1]{password}, '$2y$05$abcdefghijklmnopqrstuuJ9eQnAmKdxH6Ouv5qGfPyM4LJhCnBDa',
        "$L bcrypt: a hash stored as it is";
    $nd = export_bytes($db, filter => 'accounts', format => 'ndjson');
    my ($eve) = grep { $_->{id} == 5 } @{ lines_of($nd && $nd->{bytes}) };
    is $eve->{Password}, $pw->[0]{password}, "$L bcrypt: exported as the stored hash";
    $end = import_bare($db, 'accounts', $nd->{bytes} // '');
    completed($end, "$L bcrypt: the export imports back");
    is $end->{changes}{accounts}{unchanged}, 4, "$L bcrypt: ... unchanged";

    # ------------------------------------------------------------ JSON arrays
    my $before_rooms = rows_of($db, 'SELECT * FROM api_room_rows ORDER BY id');
    for my $case (
        [ '{"UniqueId":"x1"}', qr/^the file: a JSON array file must start with '\['/, 'not an array' ],
        [ '[{"UniqueId":"x1","Type":"group"}] trailing', qr/^the file: text after the closing '\]'/,
          'text after it' ],
        [ '[{"UniqueId":"x1","Type":"group"},"x2"]', qr/^rooms line 2: not a JSON object/,
          'an element that is not an object' ],
        [ '[{"UniqueId":"x1","Type":"group","Type":"single"}]',
          qr/^rooms line 1: invalid JSON .*duplicate object key/, 'a duplicate key' ],
        [ '[{"UniqueId":"x1"},{"UniqueId":"x\u0000"}]', qr/^rooms line 2: invalid JSON .*NUL/,
          'a NUL character' ],
        [ '[{"UniqueId":"x1"},{"UniqueId":"x2","Name":' . ('[' x 64) . (']' x 64) . '}]',
          qr/^the file: element 2: nesting deeper than 64 levels/, 'nesting past 64' ],
    ) {
        my ($text, $re, $what) = @$case;
        $end = import_bare($db, 'rooms', $text, type => 'application/json');
        failed_with($end, $re, "$L JSON array: $what");
    }
    is_deeply rows_of($db, 'SELECT * FROM api_room_rows ORDER BY id'), $before_rooms,
        "$L JSON array: nothing written by the refused files";
}

# A bcrypt hash checked the way httpd checks one (htpasswd -v calls
# apr_password_validate).
sub htpasswd_accepts {
    my ($hash, $plain) = @_;
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    open(my $fh, '>', "$dir/pw") or die $!;
    print $fh "u:$hash\n";
    close $fh;
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        open(STDOUT, '>', '/dev/null');
        open(STDERR, '>', '/dev/null');
        exec('htpasswd', '-vb', "$dir/pw", 'u', $plain) or exit 127;
    }
    waitpid($pid, 0);
    return $? == 0;
}

# ---------------------------------------------------------------- memory
# A 64 MB JSON array imported (dry run) on this phase's backend: the
# worker reads it element by element, its peak memory grows by far less
# than the file.
{
    my $db = $ENV{XPORT_BACKEND} || 'sqlite';
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my $file = "$dir/big.json";
    open(my $fh, '>', $file) or die $!;
    print $fh "[\n";
    my $body = 'b' x 300;
    my $n = 200_000;
    for my $i (1 .. $n) {
        printf $fh qq(  {"UniqueId":"big%07d","Body":"%s"}%s\n), $i, $body, $i < $n ? ',' : '';
    }
    print $fh "]\n";
    close $fh;
    my $size = -s $file;
    my $worker = worker_pid();
    my $hwm0 = $worker ? vm_hwm($worker) : undef;
    my $r = post_stream('/imports?sections=posts&dry_run=true', 'application/json',
                        [ { file => $file } ], vhost => target_vhost($db));
    is $r->code, 202, "memory: a ${\ int($size / 1048576)} MB JSON array accepted"
        or diag $r->as_string;
    my $e = wait_import(json_obj($r)->{id}, vhost => target_vhost($db), timeout => 600) || {};
    completed($e, 'memory: the JSON array');
    is $e->{changes}{posts}{created}, $n, "memory: all $n elements read";
    my $hwm1 = $worker ? vm_hwm($worker) : undef;
    SKIP: {
        skip 'the worker process was not found', 1 unless defined $hwm0 && defined $hwm1;
        diag sprintf('worker VmHWM %d kB before, %d kB after a %d MB JSON array',
                     $hwm0, $hwm1, $size / 1048576);
        ok $hwm1 - $hwm0 < 32 * 1024, 'memory: the worker grew by less than 32 MB';
    }
}

done_testing();
