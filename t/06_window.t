# 06_window.t -- since/until windows and closure (SPEC section 4):
# `since`/`until` restrict sections that declare updated=, others are
# exported whole and the manifest says so; closure=true adds every row the
# selected rows reference, transitively.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use JSON::PP ();
use XportTest;

# Export, wait, download, read; returns ({section => [sorted keys]}, manifest).
sub export_keys {
    my (%params) = @_;
    my ($res, $rec) = create_export(params => \%params);
    is $res->code, 202, "accepted: " . JSON::PP->new->canonical->encode(\%params)
        or return ({}, {});
    my $done = wait_job($rec->{id}) || {};
    is $done->{status}, 'completed', 'completed' or diag explain $done;
    my $arc = eval { read_archive(download($rec->{id})->content, 'tar.gz') } or return ({}, {});
    my %keys;
    for my $name (keys %{ $arc->{data} }) {
        next unless $name =~ m{^data/(\w+)\.ndjson$};
        my $k = SECTION_TABLES->{$1}{key};
        $keys{$1} = [ sort map { $_->{$k} } @{ ndjson_rows($arc->{data}{$name}) } ];
    }
    my $m = eval { JSON::PP->new->utf8->decode($arc->{data}{'manifest.json'}) } || {};
    return (\%keys, $m);
}

sub msec { my ($m, $n) = @_; (grep { $_->{name} eq $n } @{ $m->{sections} || [] })[0] || {} }

# since
my ($k, $m) = export_keys(filter => "users\nglobal_properties", since => '2026-06-01');
is_deeply $k->{users}, db_keys('users', "updated_at >= '2026-06-01T00:00:00Z'"),
    'since (date): users updated on or after 2026-06-01';
is_deeply $k->{global_properties}, db_keys('global_properties'),
    'a section without updated= is exported whole';
is $m->{since} ? 1 : 0, 1, 'manifest records since';
ok defined msec($m, 'users')->{window}, 'manifest: users has a window';
ok !defined msec($m, 'global_properties')->{window}
   || ref msec($m, 'global_properties')->{window} ne 'HASH'
   || !defined msec($m, 'global_properties')->{window}{since},
   'manifest: global_properties has no window (exported whole)';

# until
($k) = export_keys(filter => 'messages', until => '2026-03-15T12:30:00Z');
is_deeply $k->{messages}, db_keys('messages', "created_at < '2026-03-15T12:30:00Z'"),
    'until (date-time): messages created before 2026-03-15T12:30Z';

# both, with an offset
($k, $m) = export_keys(filter => "bots\nusers/selected=true",
                       since => '2026-04-01T00:00:00+02:00', until => '2026-08-01');
is_deeply $k->{bots},
    db_keys('bots', "updated_at >= '2026-03-31T22:00:00Z' AND updated_at < '2026-08-01T00:00:00Z'"),
    'since+until (offset converted to UTC): bots';
is_deeply $k->{users},
    db_keys('users', "selected = 1 AND updated_at >= '2026-03-31T22:00:00Z'"
                   . " AND updated_at < '2026-08-01T00:00:00Z'"),
    'since+until and a filter term: users';

# bad windows
for my $bad ([ since => '2026-13-01' ], [ until => 'soon' ], [ since => '2026-06-01T25:00:00Z' ]) {
    my $res = api('POST', '/exports', json => { filter => 'users', @$bad });
    is $res->code, 400, "400 for $bad->[0]=$bad->[1]";
    like(json_obj($res)->{detail} // '', qr/\Q$bad->[0]\E/, 'detail names the field');
}

# closure
my $msgs = db_rows("SELECT id, bot_id, user_id FROM messages WHERE bot_id = 'b17' OR user_id = 'b17'");
my %bots = map { $_->{bot_id} => 1 } @$msgs;
my $botrows = @$msgs ? db_rows("SELECT id, owner_id FROM bots WHERE id IN ("
                               . join(',', map { "'$_'" } sort keys %bots) . ')') : [];
my %users = map { $_->{user_id} => 1 } grep { defined $_->{user_id} } @$msgs;
$users{ $_->{owner_id} } = 1 for @$botrows;

($k, $m) = export_keys(filter => 'messages/b17', closure => JSON::PP::true);
is_deeply $k->{messages}, [ sort map { $_->{id} } @$msgs ], 'closure: the selected messages';
is_deeply $k->{bots}, [ sort keys %bots ], 'closure: the bots they reference';
is_deeply $k->{users}, [ sort keys %users ],
    'closure: the users referenced by the messages and (transitively) by the bots';
ok $m->{closure}, 'manifest: closure true';
ok !exists $k->{jobs} || !@{ $k->{jobs} }, 'closure adds no unreferenced section';

($k) = export_keys(filter => 'messages/b17');
is_deeply [ sort keys %$k ], [ 'messages' ], 'without closure only messages';

# a two-level chain: jobs -> scripts -> users and jobs -> bots -> users
my $jobs = db_rows('SELECT script_id, bot_id FROM jobs WHERE priority = 3');
($k) = export_keys(filter => "jobs/priority=3", closure => 'true');
my %sc = map { $_->{script_id} => 1 } @$jobs;
my %bt = map { $_->{bot_id} => 1 } grep { defined $_->{bot_id} } @$jobs;
is_deeply $k->{scripts}, [ sort keys %sc ], 'closure: scripts of the jobs';
is_deeply $k->{bots}, [ sort keys %bt ], 'closure: bots of the jobs';
my %own;
if (%sc) { $own{ $_->{k} } = 1 for @{ db_rows("SELECT owner_id AS k FROM scripts WHERE id IN ("
                                               . join(',', map { "'$_'" } keys %sc) . ')') } }
if (%bt) { $own{ $_->{k} } = 1 for @{ db_rows("SELECT owner_id AS k FROM bots WHERE id IN ("
                                               . join(',', map { "'$_'" } keys %bt) . ')') } }
is_deeply $k->{users}, [ sort keys %own ], 'closure: owners of those scripts and bots';

done_testing();
