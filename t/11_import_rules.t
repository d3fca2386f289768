# 11_import_rules.t -- every import rule of SPEC section 6, on this
# phase's import target (xport_import_append: the demo sections plus
# `notes`, mode=append): on_conflict update/skip/fail, mode=append,
# unknown_columns reject/ignore, sections=, dry_run, re-import, and each
# rejected row or archive named in error_messages the way a person can act
# on (`users line 17 (id=u42): unknown column "colour"`), with the data
# source left exactly as it was: missing key, bad type, duplicate key,
# dangling ref, a constraint of the database, SHA-256 and count
# mismatches, unlisted/duplicate/odd entries, manifest not first, unknown
# format/version, the section 6.6 limits (16 MiB lines, depth 64,
# duplicate JSON keys, NUL, XportMaxUncompressedSize), more than 100
# errors, and bare .ndjson / JSON array files for one section.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use JSON::PP ();
use XportTest;

my %T = (vhost => 'xport_import_append');
my $DB = 'target';

# ---------------------------------------------------------------- helpers
sub q_ { my $v = shift; return 'NULL' unless defined $v; $v =~ s/'/''/g; return "'$v'" }

# The base state, written with SQL (not by an import): users u1..u5, bot
# b1 of u1, script s1 of u1, property p1.
sub base_state {
    target_reset($DB);
    my @sql;
    for my $i (1 .. 5) {
        my $u = user_row("u$i");
        push @sql, 'INSERT INTO users (id, name, email, favorite_color, selected, notes, '
            . 'created_at, updated_at) VALUES ('
            . join(', ', map { q_($u->{$_}) } qw(id name email favorite_color selected notes
                                               created_at updated_at)) . ')';
    }
    push @sql, "INSERT INTO bots (id, owner_id, name, coordinates, location, updated_at) "
             . "VALUES ('b1', 'u1', 'bot 1', NULL, NULL, '2026-01-01T00:00:17Z')";
    push @sql, "INSERT INTO scripts (id, owner_id, name, body, updated_at) "
             . "VALUES ('s1', 'u1', 'script 1', 'print(1)', '2026-01-01T00:00:17Z')";
    push @sql, "INSERT INTO global_properties (name, value, updated_at) "
             . "VALUES ('p1', 'one', '2026-01-01T00:00:17Z')";
    db_exec_in($DB, join('; ', @sql));
}

sub users_archive { return make_archive(sections => [ { name => 'users', @_ } ]) }

# Upload and wait; returns the finished record ({} if not accepted).
sub import_ok {
    my ($label, %o) = @_;
    my ($res, $rec) = post_import(%T, %o);
    is $res->code, 202, "$label: accepted" or do { diag $res->as_string; return {} };
    return wait_import($rec->{id}, %T) || {};
}

# An import that must fail with a message matching every regex in $res,
# leaving the database as it was. Returns the record.
sub rejected {
    my ($label, $res, %o) = @_;
    my $before = target_snapshot($DB);
    my $end = import_ok($label, %o);
    is $end->{status}, 'failed', "$label: the import fails" or diag explain $end;
    ok !$end->{success}, "$label: not successful";
    my @msgs = @{ $end->{error_messages} || [] };
    ok((grep { my $m = $_; !grep { $m !~ $_ } @$res } @msgs),
       "$label: error message " . join(' + ', @$res))
        or diag explain [ @msgs[0 .. ($#msgs < 4 ? $#msgs : 4)] ];
    ok(($end->{errors_total} // 0) >= 1, "$label: errors_total counts it");
    is_deeply target_snapshot($DB), $before, "$label: the database is left exactly as it was";
    return $end;
}

sub changes_of { my ($end, $sec) = @_; return ($end->{changes} || {})->{$sec} || {} }
sub user_name { my $r = db_rows_in($DB, "SELECT name FROM users WHERE id = '$_[0]'"); return @$r ? $r->[0]{name} : undef }

# ---------------------------------------------------------------- on_conflict
base_state();
{
    my $arc = users_archive(rows => [ user_row('u1'), user_row('u2', name => 'Renamed'),
                                      user_row('u6') ]);
    my $end = import_ok('on_conflict=update (default)', archive => $arc);
    is $end->{status}, 'completed', 'update: completed' or diag explain $end;
    is $end->{on_conflict}, 'update', 'update: the record says on_conflict update';
    ok defined $end->{dry_run} && !$end->{dry_run}, 'update: dry_run false';
    is_deeply changes_of($end, 'users'), { created => 1, updated => 1, unchanged => 1, skipped => 0 },
        'update: 1 created, 1 updated, 1 unchanged';
    is user_name('u2'), 'Renamed', 'update: the existing row is updated';
    is user_name('u6'), 'User u6', 'update: the new row is created';
}
base_state();
{
    my $arc = users_archive(rows => [ user_row('u1', name => 'Changed'), user_row('u7') ]);
    my $end = import_ok('on_conflict=skip', archive => $arc, fields => [ on_conflict => 'skip' ]);
    is $end->{status}, 'completed', 'skip: completed' or diag explain $end;
    is $end->{on_conflict}, 'skip', 'skip: the record says on_conflict skip';
    is_deeply changes_of($end, 'users'), { created => 1, updated => 0, unchanged => 0, skipped => 1 },
        'skip: 1 created, 1 skipped';
    is user_name('u1'), 'User u1', 'skip: the existing row is kept';
    is user_name('u7'), 'User u7', 'skip: the new row is created';
}
base_state();
rejected('on_conflict=fail', [ qr/^users line 2 \(id=u2\): /, qr/exist/i ],
         archive => users_archive(rows => [ user_row('u8'), user_row('u2') ]),
         fields => [ on_conflict => 'fail' ]);
{
    my $end = import_ok('on_conflict=fail, only new keys',
                        archive => users_archive(rows => [ user_row('u8') ]),
                        fields => [ on_conflict => 'fail' ]);
    is $end->{status}, 'completed', 'fail: new keys import' or diag explain $end;
}

# ---------------------------------------------------------------- dry_run, re-import
base_state();
{
    my $before = target_snapshot($DB);
    my $arc = users_archive(rows => [ user_row('u1'), user_row('u2', name => 'Dry'), user_row('u9') ]);
    my $end = import_ok('dry_run=true', archive => $arc, fields => [ dry_run => 'true' ]);
    is $end->{status}, 'completed', 'dry run: completed' or diag explain $end;
    ok $end->{dry_run}, 'dry run: the record says dry_run';
    is_deeply changes_of($end, 'users'), { created => 1, updated => 1, unchanged => 1, skipped => 0 },
        'dry run: changes say what would have happened';
    is_deeply target_snapshot($DB), $before, 'dry run: the database is unchanged';

    my $first = import_ok('import', archive => $arc);
    is $first->{status}, 'completed', 'the same archive for real: completed';
    my $after = target_snapshot($DB);
    my $second = import_ok('import again', archive => $arc);
    is $second->{status}, 'completed', 'again: completed';
    is_deeply changes_of($second, 'users'), { created => 0, updated => 0, unchanged => 3, skipped => 0 },
        'again: every row unchanged';
    is_deeply target_snapshot($DB), $after, 'again: the data is as the first import left it';
}

# ---------------------------------------------------------------- mode=append
base_state();
{
    my $arc = make_archive(sections => [ { name => 'notes', rows => [
        { id => 'x1', author_id => 'u1', body => 'first note', created_at => '2026-02-01T00:00:17Z' },
        { id => 'x2', author_id => undef, body => 'second note', created_at => '2026-02-02T00:00:17Z' },
    ] } ]);
    my $one = import_ok('mode=append', archive => $arc);
    is $one->{status}, 'completed', 'append: completed' or diag explain $one;
    is changes_of($one, 'notes')->{created}, 2, 'append: 2 created';
    my $two = import_ok('mode=append again', archive => $arc);
    is $two->{status}, 'completed', 'append again: completed' or diag explain $two;
    is changes_of($two, 'notes')->{created}, 2, 'append again: 2 more created, never updated';
    my $rows = db_rows_in($DB, 'SELECT id, body FROM notes ORDER BY id');
    is scalar(@$rows), 4, 'append: 4 rows after importing 2 rows twice';
    ok !grep({ $_->{id} !~ /^\d+$/ } @$rows), 'append: keys generated by the database'
        or diag explain $rows;
    is_deeply [ sort map { $_->{body} } @$rows ],
        [ 'first note', 'first note', 'second note', 'second note' ], 'append: the bodies';
}

# ---------------------------------------------------------------- unknown_columns
base_state();
{
    my $arc = users_archive(rows => [ user_row('u10', colour => 'teal') ]);
    rejected('unknown column, reject (default)', [ qr/^users line 1 \(id=u10\): unknown column "colour"/ ],
             archive => $arc);
    my $end = import_ok('unknown_columns=ignore', archive => $arc,
                        fields => [ unknown_columns => 'ignore' ]);
    is $end->{status}, 'completed', 'ignore: completed' or diag explain $end;
    is user_name('u10'), 'User u10', 'ignore: the row is imported without the column';
}

# ---------------------------------------------------------------- sections
base_state();
{
    my $arc = make_archive(sections => [
        { name => 'users', rows => [ user_row('u11') ] },
        { name => 'bots', rows => [ { id => 'b2', owner_id => 'u1', name => 'bot 2',
                                      coordinates => undef, location => undef,
                                      updated_at => '2026-01-01T00:00:17Z' } ] },
        { name => 'widgets', key => 'id', columns => ['id'], lines => [ '{"id":"w1"}' ] },
    ]);
    rejected('a section the target does not configure', [ qr/widgets/ ], archive => $arc);
    my $end = import_ok('sections=users', archive => $arc, fields => [ sections => 'users' ]);
    is $end->{status}, 'completed', 'sections=users: completed' or diag explain $end;
    is user_name('u11'), 'User u11', 'sections=users: users imported';
    is target_count($DB, 'bots'), 1, 'sections=users: bots left out';
    ok !exists(($end->{changes} || {})->{bots}), 'sections=users: no changes for bots';
}

# ---------------------------------------------------------------- row checks
base_state();
rejected('missing key', [ qr/^users line 2\b/, qr/missing/i, qr/\bid\b/ ],
         archive => users_archive(lines => [ ndjson_line(users => user_row('u12')),
                                             ndjson_line(users => { %{ user_row('x') }, id => undef }) =~ s/"id":null,//r ]));
rejected('int type', [ qr/^jobs line 1 \(id=j1\): column "priority": "high" is not an int/ ],
         archive => make_archive(sections => [ { name => 'jobs', lines => [
             '{"id":"j1","script_id":"s1","bot_id":null,"state":"done","priority":"high","updated_at":"2026-01-01T00:00:17Z"}' ] } ]));
rejected('bool type', [ qr/^users line 1 \(id=u12\): column "selected": /, qr/bool/ ],
         archive => users_archive(lines => [ ndjson_line(users => user_row('u12')) =~ s/"selected":false/"selected":"maybe"/r ]));
rejected('duplicate key in a section', [ qr/^users line 3 \(id=u13\): /, qr/duplicate|twice|already|line 1/i ],
         archive => users_archive(rows => [ user_row('u13'), user_row('u14'), user_row('u13') ]));
rejected('dangling ref', [ qr/^bots line 1 \(id=b3\): /, qr/owner_id/, qr/u999/, qr/users/ ],
         archive => make_archive(sections => [ { name => 'bots', rows => [
             { id => 'b3', owner_id => 'u999', name => 'bot 3', updated_at => '2026-01-01T00:00:17Z' } ] } ]));
rejected('ref to a row only later in the archive', [ qr/^bots line 1 \(id=b6\): /, qr/u16/ ],
         archive => make_archive(sections => [
             { name => 'bots', rows => [ { id => 'b6', owner_id => 'u16', name => 'bot 6',
                                           updated_at => '2026-01-01T00:00:17Z' } ] },
             { name => 'users', rows => [ user_row('u16') ] } ]));
{
    my $end = import_ok('refs satisfied by the database and by earlier rows',
        archive => make_archive(sections => [
            { name => 'users', rows => [ user_row('u15') ] },
            { name => 'bots', rows => [
                { id => 'b4', owner_id => 'u1', name => 'bot 4', updated_at => '2026-01-01T00:00:17Z' },
                { id => 'b5', owner_id => 'u15', name => 'bot 5', updated_at => '2026-01-01T00:00:17Z' } ] } ]));
    is $end->{status}, 'completed', 'refs: completed' or diag explain $end;
    is target_count($DB, 'bots'), 3, 'refs: both bots created';
}
base_state();
rejected('a constraint the database rejects (NOT NULL)', [ qr/^users line 1 \(id=u18\): / ],
         archive => users_archive(rows => [ user_row('u18', name => undef) ]));
{
    my @rows = map { user_row("v$_", colour => 'x') } 1 .. 150;
    my $end = rejected('150 bad rows', [ qr/^users line 1 \(id=v1\): unknown column "colour"/ ],
                       archive => users_archive(rows => \@rows));
    is $end->{errors_total}, 150, '150 bad rows: errors_total 150';
    is scalar(@{ $end->{error_messages} || [] }), 100, '150 bad rows: the first 100 listed';
    like(($end->{error_messages} || [])->[99] // '', qr/^users line 100 \(id=v100\): /,
         '150 bad rows: in line order');
}

# ---------------------------------------------------------------- archive checks
base_state();
my @ROWS = (user_row('u20'), user_row('u21'));
rejected('sha256 mismatch', [ qr/users/, qr/sha-?256/i ],
         archive => users_archive(rows => \@ROWS, sha256 => '0' x 64));
rejected('count mismatch', [ qr/users/, qr/\b3\b/, qr/\b2\b/ ],
         archive => users_archive(rows => \@ROWS, count => 3));
rejected('an entry the manifest does not list', [ qr{data/bots\.ndjson} ],
         archive => make_archive(sections => [ { name => 'users', rows => \@ROWS } ],
                                 extra => [ { name => 'data/bots.ndjson', data => '' } ]));
rejected('an entry with another name', [ qr{README\.txt} ],
         archive => make_archive(sections => [ { name => 'users', rows => \@ROWS } ],
                                 extra => [ { name => 'README.txt', data => "hi\n" } ]));
rejected('a symbolic link', [ qr{data/bots\.ndjson}, qr/link/i ],
         archive => make_archive(sections => [ { name => 'users', rows => \@ROWS } ],
                                 extra => [ { name => 'data/bots.ndjson', type => '2', link => '/etc/passwd' } ]));
rejected('an entry twice', [ qr{data/users\.ndjson} ],
         archive => make_archive(sections => [ { name => 'users', rows => \@ROWS } ],
                                 extra => [ { name => 'data/users.ndjson', data => ndjson_line(users => $ROWS[0]) . "\n" } ]));
rejected('a listed entry missing', [ qr{users} ],
         archive => make_archive(sections => [ { name => 'users', rows => \@ROWS } ], skip_data => ['users']));
rejected('manifest not first', [ qr/manifest\.json/ ],
         archive => make_archive(sections => [ { name => 'users', rows => \@ROWS } ], manifest_last => 1));
rejected('unknown format', [ qr/"?format"?/, qr/xport-archive/ ],
         archive => make_archive(sections => [ { name => 'users', rows => \@ROWS } ],
                                 manifest => { format => 'other-archive' }));
rejected('unknown version', [ qr/unsupported archive version 2 \(this server reads 1\)/ ],
         archive => make_archive(sections => [ { name => 'users', rows => \@ROWS } ],
                                 manifest => { version => 2 }));
rejected('not an archive', [ qr/not a tar\.gz, tar\.zst, zip or tar archive/ ],
         archive => join('', map { chr(($_ * 7 + 3) % 256) } 1 .. 5000), raw => 'application/gzip');

# ---------------------------------------------------------------- limits (6.6)
{
    my $long = ndjson_line(users => user_row('u22', notes => 'a' x (16 * 1024 * 1024 + 1)));
    rejected('a line over 16 MiB', [ qr/line 1 is longer than 16 MiB/ ],
             archive => users_archive(lines => [ $long ]));
    my $deep64 = ndjson_line(users => user_row('u23')) =~ s/"note u23"/('[' x 63) . (']' x 63)/er;
    my $deep65 = ndjson_line(users => user_row('u24')) =~ s/"note u24"/('[' x 64) . (']' x 64)/er;
    rejected('JSON nested 65 deep', [ qr/^users line 1\b/, qr/depth|nest/i ],
             archive => users_archive(lines => [ $deep65 ]));
    my $end = import_ok('JSON nested 64 deep', archive => users_archive(lines => [ $deep64 ]));
    is $end->{status}, 'completed', 'depth 64 is allowed' or diag explain $end;
    my $dup = ndjson_line(users => user_row('u25')) =~ s/^\{/{"name":"first",/r;
    rejected('duplicate JSON keys', [ qr/^users line 1\b/, qr/duplicate/i, qr/name/ ],
             archive => users_archive(lines => [ $dup ]));
    rejected('NUL escaped', [ qr/^users line 1\b/, qr/NUL|U\+0000|\\u0000/i ],
             archive => users_archive(lines => [ ndjson_line(users => user_row('u26', name => "a\0b")) ]));
    rejected('NUL byte', [ qr/^users line 1\b/ ],
             archive => users_archive(lines => [ ndjson_line(users => user_row('u27')) =~ s/User u27/User\0u27/r ]));
    local $T{vhost} = 'xport_import_limits';
    my $big = users_archive(rows => [ map { user_row("w$_", notes => 'n' x 1000) } 1 .. 1500 ]);
    ok length($big) < 1024 * 1024, 'the archive is small, its entries expand past 1M';
    rejected('XportMaxUncompressedSize', [ qr/XportMaxUncompressedSize/ ], archive => $big);
}

# ---------------------------------------------------------------- bare files
base_state();
{
    my $nd = join '', map { ndjson_line(users => user_row($_)) . "\n" } qw(u30 u31);
    my $end = import_ok('bare .ndjson (raw)', archive => $nd, raw => 'application/x-ndjson',
                        fields => [ sections => 'users' ]);
    is $end->{status}, 'completed', 'bare .ndjson: completed' or diag explain $end;
    is $end->{format}, 'ndjson', 'bare .ndjson: format ndjson';
    is changes_of($end, 'users')->{created}, 2, 'bare .ndjson: 2 users created';

    my $json = '[' . join(',', map { ndjson_line(bots => { id => $_, owner_id => 'u30', name => "bot $_",
        coordinates => undef, location => undef, updated_at => '2026-01-01T00:00:17Z' }) } qw(b30 b31 b32)) . ']';
    $end = import_ok('JSON array (raw)', archive => $json, raw => 'application/json',
                     fields => [ sections => 'bots' ]);
    is $end->{status}, 'completed', 'JSON array: completed' or diag explain $end;
    is $end->{format}, 'json', 'JSON array: format json';
    is changes_of($end, 'bots')->{created}, 3, 'JSON array: 3 bots created';

    $nd = join '', map { ndjson_line(users => user_row($_)) . "\n" } qw(u32 u33);
    $end = import_ok('bare .ndjson (multipart)', archive => $nd, filename => 'users.ndjson',
                     part_type => 'application/x-ndjson', fields => [ sections => 'users' ]);
    is $end->{status}, 'completed', 'bare .ndjson in multipart: completed' or diag explain $end;
    is user_name('u33'), 'User u33', 'bare .ndjson in multipart: imported';

    $nd = join '', map { ndjson_line(users => $_) . "\n" } user_row('u34'), user_row('u35', colour => 'x');
    rejected('bare .ndjson, bad row', [ qr/^users line 2 \(id=u35\): unknown column "colour"/ ],
             archive => $nd, raw => 'application/x-ndjson', fields => [ sections => 'users' ]);
    $json = '[' . ndjson_line(users => user_row('u36')) . ',' . ndjson_line(users => user_row('u36')) . ']';
    rejected('JSON array, duplicate key', [ qr/^users line 2 \(id=u36\): / ],
             archive => $json, raw => 'application/json', fields => [ sections => 'users' ]);

    for my $s ('', 'users,bots') {
        my ($res) = post_import(%T, archive => $nd, raw => 'application/x-ndjson',
                                fields => [ length $s ? (sections => $s) : () ]);
        is $res->code, 400, "bare .ndjson with sections='$s': 400";
        like json_obj($res)->{detail} // '', qr/sections/, "bare .ndjson with sections='$s': names sections";
    }
}

done_testing();
