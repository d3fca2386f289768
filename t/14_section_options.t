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
    my $type = $text =~ /^\s*\[/ ? 'application/json' : 'application/x-ndjson';
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
}

done_testing();
