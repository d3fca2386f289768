# 04_visibility.t -- who sees which job (SPEC section 3, Visibility):
# alice and bob cannot see, download, cancel or delete each other's jobs
# (404 exactly like an unknown id, absent from lists); carol, an
# XportSupervisor, sees and manages both; without authentication every
# caller is "anonymous" and shares one view.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use XportTest;

my (undef, $ja) = create_export(user => 'alice', params => { filter => 'scripts' });
my (undef, $jb) = create_export(user => 'bob', params => { filter => 'scripts' });
ok $ja && $ja->{id} && $jb && $jb->{id}, 'alice and bob each created an export'
    or do { done_testing(); exit 1 };
is $jb->{user_id}, 'bob', "bob's job carries his user id";
wait_job($ja->{id}, user => 'alice');
wait_job($jb->{id}, user => 'bob');

sub list_ids {
    my ($user, %o) = @_;
    my $res = api('GET', '/exports?per_page=100', user => $user, %o);
    return { map { $_->{id} => 1 } @{ json_list($res) } };
}

for my $pair ([ 'alice', $ja, $jb ], [ 'bob', $jb, $ja ]) {
    my ($me, $mine, $theirs) = @$pair;
    my $id = $theirs->{id};
    is api('GET', "/exports/$mine->{id}", user => $me)->code, 200, "$me sees own job";
    is api('GET', "/exports/$id", user => $me)->code, 404, "$me: other's job is 404";
    is api('HEAD', "/exports/$id", user => $me)->code, 404, "$me: HEAD other's job is 404";
    is download($id, user => $me)->code, 404, "$me: other's download is 404";
    is api('PATCH', "/exports/$id", user => $me, json => { status => 'cancelled' })->code,
        404, "$me: PATCH other's job is 404";
    is api('DELETE', "/exports/$id", user => $me)->code, 404, "$me: DELETE other's job is 404";
    my $ids = list_ids($me);
    ok $ids->{ $mine->{id} } && !$ids->{$id}, "$me lists own job, not the other's";
    my $res = api('GET', '/exports?per_page=100', user => $me);
    my @users = map { $_->{user_id} } @{ json_list($res) };
    ok !grep({ $_ ne $me } @users), "the list of $me holds only jobs of $me";
}

# the other's job still exists after those attempts
is api('GET', "/exports/$jb->{id}", user => 'bob')->code, 200, "bob's job survived alice's DELETE";

# carol, the supervisor
my $ids = list_ids('carol');
ok $ids->{ $ja->{id} } && $ids->{ $jb->{id} }, 'carol lists both jobs';
is api('GET', "/exports/$ja->{id}", user => 'carol')->code, 200, "carol sees alice's job";
is download($jb->{id}, user => 'carol')->code, 200, "carol downloads bob's archive";
my ($res, $c) = create_export(user => 'carol', params => { filter => 'global_properties' });
is $res->code, 202, 'carol creates her own export';
ok !list_ids('alice')->{ $c->{id} }, "alice does not see carol's job";
wait_job($c->{id}, user => 'carol');
is api('DELETE', "/exports/$jb->{id}", user => 'carol')->code, 204, "carol deletes bob's job";
is api('GET', "/exports/$jb->{id}", user => 'bob')->code, 404, "bob's job is gone";

# anonymous callers share one view, separate from authenticated users
($res, my $n) = create_export(base => '/anon', user => undef,
                              params => { filter => 'global_properties' });
is $res->code, 202, 'anonymous export created';
SKIP: {
    skip 'no anonymous job', 4 unless $n && $n->{id};
    ok list_ids(undef, base => '/anon')->{ $n->{id} }, 'anonymous list shows it';
    is api('GET', "/exports/$n->{id}", base => '/anon', user => undef)->code, 200,
        'anonymous caller sees it';
    is api('GET', "/exports/$n->{id}", user => 'alice')->code, 404, 'alice does not';
    wait_job($n->{id}, base => '/anon', user => undef);
    is api('DELETE', "/exports/$n->{id}", base => '/anon', user => undef)->code, 204,
        'anonymous caller deletes it';
}

# Access to the API is a matter of <Location>: the <Directory> that
# denies the DocumentRoot's anon/ (t/conf/extra.conf.in) applies to files
# served from there, not to the API's /anon URIs
my $anon_dir = Apache::Test::vars('documentroot') . '/anon';
mkdir $anon_dir unless -d $anon_dir;
is api('GET', '/exports', base => '/anon', user => undef)->code, 200,
    'a <Directory> denying where /anon would map to: the API still answers';
my $files = LWP::UserAgent->new->get('http://' . hostport() . '/anon-files/');
is $files->code, 403, '... while the same <Directory> denies its files';

done_testing();
