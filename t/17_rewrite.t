# 17_rewrite.t -- the native API's `rewrite` import option, on this
# phase's import target: rules that change a row's values and its key
# (the bot and message that reference the renamed user follow it), a
# rule that rejects a row (the import fails, nothing changes, the row
# named with section, line and key), rules on a dry run, and rules
# refused with a 400 before any job exists, sent as a form field or in
# the query string of a raw upload.
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
my $JSON = JSON::PP->new->utf8->canonical;

my $archive = make_archive(sections => [
    { name => 'users', rows => [ user_row('u1'), user_row('u2') ] },
    { name => 'bots', rows => [ { id => 'b1', owner_id => 'u2', name => 'bot 1',
                                  coordinates => undef, location => undef,
                                  updated_at => '2026-01-01T00:00:17Z' } ] },
    { name => 'messages', rows => [ map { { id => "m$_", bot_id => 'b1', user_id => 'u2',
                                            body => "hello $_",
                                            created_at => '2026-01-01T00:00:17Z' } } 1 .. 2 ] },
]);

sub rules { return $JSON->encode([@_]) }

# Upload the archive with these fields; the finished record ({} if the
# upload was refused).
sub import_with {
    my ($label, @fields) = @_;
    my ($res, $rec) = post_import(%T, archive => $archive, fields => [@fields]);
    is $res->code, 202, "$label: accepted" or do { diag $res->as_string; return {} };
    return wait_import($rec->{id}, %T) || {};
}

sub rows_of {
    my ($sql) = @_;
    return join ';', map { my $r = $_; join '|', map { $r->{$_} // 'NULL' } sort keys %$r }
        @{ db_rows_in($DB, $sql) };
}

# ---------------------------------------------------------------- set
target_reset($DB);
{
    my $end = import_with('set', rewrite => rules(
        { section => 'users', key => 'u2', set => { id => 'u20', name => 'Bea' } },
        { section => 'messages', key => 'm2', set => { body => 'edited' } }));
    is $end->{status}, 'completed', 'set: completed' or diag explain $end;
    is rows_of('SELECT id, name FROM users ORDER BY id'), 'u1|User u1;u20|Bea',
        'set: the user has its new key and name';
    is rows_of('SELECT id, owner_id FROM bots'), 'b1|u20', 'set: its bot follows it';
    is rows_of('SELECT id, user_id, body FROM messages ORDER BY id'),
        'hello 1|m1|u20;edited|m2|u20', 'set: so do its messages; a message is edited';
    is_deeply(($end->{changes} || {})->{users},
              { created => 2, updated => 0, unchanged => 0, skipped => 0 },
              'set: counted like any row');
}

# ---------------------------------------------------------------- reject
target_reset($DB);
{
    my ($res, $rec) = post_import(%T, archive => $archive, raw => 'application/gzip',
        fields => [ rewrite => rules({ section => 'messages', key => 'm2',
                                       reject => 'this message stays behind' }) ]);
    is $res->code, 202, 'reject (query string): accepted' or diag $res->as_string;
    my $end = wait_import($rec && $rec->{id}, %T) || {};
    is $end->{status}, 'failed', 'reject: the import fails' or diag explain $end;
    is_deeply $end->{error_messages}, [ 'messages line 2 (id=m2): this message stays behind' ],
        'reject: the row named with its section, line and key';
    is target_count($DB, 'users'), 0, 'reject: nothing written';
}

# ---------------------------------------------------------------- dry run
target_reset($DB);
{
    my $end = import_with('dry run', dry_run => 'true', rewrite => rules(
        { section => 'users', key => 'u1', set => { email => undef } }));
    is $end->{status}, 'completed', 'dry run: completed' or diag explain $end;
    is_deeply(($end->{changes} || {})->{messages},
              { created => 2, updated => 0, unchanged => 0, skipped => 0 },
              'dry run: changes say what would have happened');
    is target_count($DB, 'users'), 0, 'dry run: nothing written';
}

# ---------------------------------------------------------------- refused
for my $case (
    [ 'not JSON', '[{', qr/^rewrite: not JSON/ ],
    [ 'an unknown name', rules({ section => 'users', key => 'u1', set => { colour => 'red' } }),
      qr/^rewrite: rule 0: section "users" has no column "colour"/ ],
    [ 'two rules for one key', rules({ section => 'users', key => 'u1', reject => 'no' },
                                     { section => 'users', key => 'u1', reject => 'no' }),
      qr/^rewrite: rule 1: .*has a rule already/ ],
) {
    my ($what, $text, $says) = @$case;
    for my $raw (undef, 'application/gzip') {
        my $how = $raw ? 'query string' : 'form field';
        my ($res) = post_import(%T, archive => $archive, ($raw ? (raw => $raw) : ()),
                                fields => [ rewrite => $text ]);
        ok is_problem($res, 400), "refused ($how): $what is a 400" or diag $res->as_string;
        like json_obj($res)->{detail} // '', $says, "refused ($how): $what: the detail says so";
    }
}

done_testing();
