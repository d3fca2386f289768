# 41_events.t -- the event streams of SPEC 9: a job's stream sees every
# state in order and its progress, ends after the last event, resumes
# with Last-Event-ID without a gap; <Location>/events follows every job
# the caller may see; XportMaxEventStreams (4 in t/conf/extra.conf.in,
# as server-status reports it) answers 503 + Retry-After over the bound
# while polling goes on; a
# graceful restart ends open streams and completes; the chat and rules
# APIs stream their own records.
#
# Jobs are held with the gate (host xport_gate, t/data/gate-pgsql.sql):
# two gated exports take both job threads, so a third is provably queued
# until the test lets the gate go. Progress is watched on host xport_slow,
# whose export reports progress for several seconds.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use Time::HiRes qw(time sleep);
use XportTest;

my %G = (vhost => 'xport_gate');
# server-status ?auto: XportEventStreams and XportMaxEventStreams
sub streams_auto {
    my $res = api('GET', 'http://' . hostport() . '/server-status?auto', user => undef);
    my %a = ($res->content // '') =~ /^(XportEventStreams|XportMaxEventStreams): (\d+)$/mg;
    return \%a;
}
my $MAX_STREAMS = streams_auto()->{XportMaxEventStreams} // 0;
ok $MAX_STREAMS > 0, "server-status reports XportMaxEventStreams $MAX_STREAMS";

# Every event until the stream ends (or timeout seconds pass).
sub drain {
    my ($s, $timeout) = @_;
    my @ev;
    my $end = time + ($timeout // 60);
    while (time < $end) {
        my $e = sse_next($s, $end - time) or last;
        push @ev, $e;
    }
    return @ev;
}

# Read until cond->(event) holds; the events read (the last one matched).
sub until_event {
    my ($s, $cond, $timeout) = @_;
    my @ev;
    my $end = time + ($timeout // 60);
    while (time < $end) {
        my $e = sse_next($s, $end - time) or last;
        push @ev, $e;
        return @ev if $cond->($e);
    }
    return @ev;
}

sub statuses { return map { $_->{data}{status} } grep { $_->{event} eq 'status' } @_ }

# Two gated exports running (both job threads taken), then a third
# queued behind them: returns (the third's id, the running ids).
sub queued_behind_gate {
    my ($user) = @_;
    ok gate_hold(), 'the test holds the gate' or return;
    my @run;
    for my $u (qw(dave erin)) {
        my ($r, $j) = create_export(%G, user => $u,
                                    params => { filter => 'gated', format => 'ndjson' });
        is $r->code, 202, "$u: gated export accepted" or return;
        push @run, $j->{id};
    }
    ok wait_for(sub { gate_waiters() >= 2 }, 60), 'both wait on the gate';
    my ($r, $j) = create_export(%G, user => $user,
                                params => { filter => 'gated', format => 'ndjson' });
    is $r->code, 202, "$user: a third export accepted";
    is((job_of($j->{id}, %G, user => $user) || {})->{status}, 'queued',
       '... and queued behind them');
    return ($j->{id}, @run);
}

# ------------------------------------------------ refusals
{
    my $s = sse_open('/exports/0123456789abcdef0123456789abcdef/events');
    is $s->{code}, 404, 'an unknown job: 404';
    ok is_problem(bless({ _s => $s }, 'SseRes'), 404), '... problem+json';
    $s = sse_open('/exports/not-an-id/events');
    is $s->{code}, 404, 'a malformed id: 404';
    $s = sse_open('/exports/0123456789abcdef0123456789abcdef/events',
                  method => 'POST');
    is $s->{code}, 405, 'POST: 405';
    like $s->{headers}{allow} // '', qr/GET/, '... Allow names GET';
    $s = sse_open('/events', user => undef);
    is $s->{code}, 401, 'no credentials: 401';
}

# ------------------------------------------------ a job's stream, in order
my ($id, @gated) = queued_behind_gate('alice');
my (@first, $s, $queued_id);
{
    $s = sse_open("/exports/$id/events", %G);
    is $s->{code}, 200, 'the stream answers 200';
    like $s->{headers}{'content-type'} // '', qr{^text/event-stream}, 'text/event-stream';
    like $s->{headers}{'cache-control'} // '', qr/no-store|no-cache/, 'not cached';
    my $e = sse_next($s, 10);
    ok $e, 'an event at once' or diag explain $s;
    is $e->{event}, 'status', 'it is a status event';
    is $e->{data}{id}, $id, 'with the job\'s record';
    is $e->{data}{status}, 'queued', 'queued';
    like $e->{id}, qr/^\d+$/, "its id is a number ($e->{id})";
    $queued_id = $e->{id};
    push @first, $e;
    # another user's job is not there for this one
    my $other = sse_open("/exports/$gated[0]/events", %G);
    is $other->{code}, 404, "another user's job: 404";
    my $sup = sse_open("/exports/$gated[0]/events", %G, user => 'carol');
    is $sup->{code}, 200, 'a supervisor may follow it';
    sse_close($sup);
}
# the first connection is dropped after "queued"; a second one stays
my $s2 = sse_open("/exports/$id/events", %G);
is((sse_next($s2, 10) || {})->{data}{status}, 'queued', 'a second stream opens queued too');
sse_close($s);

gate_release();
my @ev = drain($s2, 120);
ok $s2->{ended}, 'the stream ended after the last event';
my @st = statuses(@ev);
is_deeply \@st, [qw(running completed)], 'then every state in order: running, completed'
    or diag explain [ map { "$_->{event} $_->{id} " . ($_->{data}{status} // '') } @ev ];
my @ids = map { $_->{id} } @ev;
ok !grep({ $ids[$_] <= $ids[$_ - 1] } 1 .. $#ids) && $ids[0] > $queued_id,
    'event ids increase' or diag "@ids";
is $ev[-1]{event}, 'status', 'the last event is a status';
is $ev[-1]{data}{status}, 'completed', '... completed';
ok $ev[-1]{data}{finished} && $ev[-1]{data}{file_size} > 0,
    '... with the finished record (file_size ' . ($ev[-1]{data}{file_size} // '?') . ')';
is_deeply $ev[-1]{data}, job_of($id, %G), 'the last record is the one GET shows';
wait_job($_, %G, user => $_ eq $gated[0] ? 'dave' : 'erin') for @gated;

# ------------------------------------------------ resume
{
    my $r = sse_open("/exports/$id/events", %G, last_id => $queued_id);
    my @again = drain($r, 30);
    is_deeply [ statuses(@again) ], [qw(running completed)],
        'Last-Event-ID after "queued": running and completed, nothing missed';
    is_deeply [ map { $_->{id} } grep { $_->{event} eq 'status' } @again ],
              [ map { $_->{id} } grep { $_->{event} eq 'status' } @ev ],
        '... with the same ids as the first time';
    ok $r->{ended}, '... and the stream ends';
    $r = sse_open("/exports/$id/events", %G, last_id => $ev[-1]{id});
    my @none = drain($r, 30);
    is scalar(@none), 0, 'Last-Event-ID of the last event: nothing more';
    ok $r->{ended}, '... and it ends at once';
}

# ------------------------------------------------ progress at least once a second
{
    my ($r, $j) = create_export(vhost => 'xport_slow', user => 'bob',
                                params => { filter => 'slow', format => 'ndjson' });
    is $r->code, 202, 'a slow export accepted';
    my $p = sse_open("/exports/$j->{id}/events", vhost => 'xport_slow', user => 'bob');
    # poll the job beside the stream: whenever its progress moved, a
    # progress event with at least that much must follow within a second
    my (@polled, @seen);
    my $next_poll = 0;
    while (1) {
        my $e = sse_next($p, 0.1);
        push @seen, $e if $e;
        last if $p->{ended};
        if (time >= $next_poll) {
            my $rec = job_of($j->{id}, vhost => 'xport_slow', user => 'bob') || {};
            push @polled, [ time, $rec->{progress}{done} // 0 ]
                if ($rec->{status} // '') eq 'running';
            $next_poll = time + 0.3;
        }
        last if @seen > 5000;
    }
    my @prog = grep { $_->{event} eq 'progress' } @seen;
    ok @prog >= 2, scalar(@prog) . ' progress events';
    my @late;
    for my $pl (@polled) {
        my ($t, $done) = @$pl;
        next unless $done > 0;
        my ($got) = grep { ($_->{data}{progress}{done} // 0) >= $done } @seen;
        push @late, sprintf('%d at +%.2fs', $done, $got ? $got->{at} - $t : -1)
            if !$got || $got->{at} - $t > 1.0 + 0.3; # + the poll's own latency
    }
    is scalar(@late), 0, 'every progress the job showed was streamed within a second ('
        . scalar(@polled) . ' polls)' or diag "@late";
    my @done = map { $_->{data}{progress}{done} } @prog;
    ok !grep({ $done[$_] < $done[$_ - 1] } 1 .. $#done), 'progress never goes back';
    is((grep { $_->{event} eq 'status' } @seen)[-1]{data}{status}, 'completed',
       'the slow export completed');
}

# ------------------------------------------------ /events: every job the caller may see
{
    my $all = sse_open('/events', user => 'erin');
    is $all->{code}, 200, '/events answers 200';
    my ($r, $mine) = create_export(user => 'erin', params => { filter => 'users' });
    my ($r2, $theirs) = create_export(user => 'frank', params => { filter => 'users' });
    my @evs = until_event($all, sub {
        ($_[0]{data}{id} // '') eq $mine->{id} && ($_[0]{data}{status} // '') eq 'completed'
    }, 60);
    ok @evs && $evs[-1]{data}{status} eq 'completed', "erin sees her export complete";
    like $evs[-1]{id}, qr/^\Q$mine->{id}\E:\d+$/, 'ids are <job id>:<n>';
    my @mine = map { $_->{data}{status} }
               grep { $_->{data}{id} eq $mine->{id} && $_->{event} eq 'status' } @evs;
    is $mine[0], 'queued', '... from queued on';
    wait_job($theirs->{id}, user => 'frank');
    my ($r3, $later) = create_export(user => 'erin', params => { filter => 'users' });
    push @evs, until_event($all, sub {
        ($_[0]{data}{id} // '') eq $later->{id} && ($_[0]{data}{status} // '') eq 'completed'
    }, 60);
    ok !grep({ ($_->{data}{id} // '') eq $theirs->{id} } @evs),
        "not frank's export, which ran in between";
    # (on PostgreSQL every change is also heard back from the job store)
    is_deeply [ map { $_->{data}{status} }
                grep { $_->{data}{id} eq $mine->{id} && $_->{event} eq 'status' } @evs ],
              [qw(queued running completed)],
        '... each state of her first export once, also after it ended';
    sse_close($all);

    # resume after erin's first export completed: the second one's states
    my ($done_ev) = grep { $_->{data}{id} eq $mine->{id} && $_->{data}{status} eq 'completed' } @evs;
    my $again = sse_open('/events', user => 'erin', last_id => $done_ev->{id});
    my @res = until_event($again, sub {
        ($_[0]{data}{id} // '') eq $later->{id} && ($_[0]{data}{status} // '') eq 'completed'
    }, 20);
    is_deeply [ map { $_->{data}{status} } grep { $_->{event} eq 'status' && $_->{data}{id} eq $later->{id} } @res ],
              [ map { $_->{data}{status} } grep { $_->{event} eq 'status' && $_->{data}{id} eq $later->{id} } @evs ],
        '/events with Last-Event-ID: the later export\'s states again';
    ok !grep({ $_->{data}{id} eq $mine->{id} && $_->{data}{status} eq 'completed' } @res),
        '... not the event it resumed after';
    sse_close($again);

    my $sup = sse_open('/events', user => 'carol');
    my ($r4, $f2) = create_export(user => 'frank', params => { filter => 'users' });
    my @sv = until_event($sup, sub {
        ($_[0]{data}{id} // '') eq $f2->{id} && ($_[0]{data}{status} // '') eq 'completed'
    }, 60);
    ok @sv && $sv[-1]{data}{status} eq 'completed', 'a supervisor sees every user\'s jobs';
    sse_close($sup);
}

# ------------------------------------------------ the bound
{
    # (the streams above end as the server notices their clients gone)
    ok((wait_for { (streams_auto()->{XportEventStreams} // -1) == 0 } 10),
       'server-status: no stream open') or diag explain streams_auto();
    my @open;
    wait_for {
        my $o = sse_open('/events', user => 'alice');
        push @open, $o if $o && $o->{code} == 200;
        return @open == $MAX_STREAMS;
    } 10;
    is scalar(@open), $MAX_STREAMS, "$MAX_STREAMS streams open";
    is streams_auto()->{XportEventStreams}, $MAX_STREAMS, '... as server-status says';
    my $over = sse_open('/events', user => 'alice');
    is $over->{code}, 503, 'one more: 503';
    like $over->{headers}{'retry-after'} // '', qr/^\d+$/, '... with Retry-After';
    like $over->{body} // '', qr/XportMaxEventStreams/, '... saying why';
    my $res = api('GET', '/exports', user => 'alice');
    is $res->code, 200, 'polling goes on meanwhile';
    my $job_s = sse_open("/exports/$id/events");
    is $job_s->{code}, 503, "a job's stream counts too";
    sse_close(pop @open);
    my $back;
    my $reopened = wait_for {
        my $o = sse_open('/events', user => 'alice');
        $back = $o if $o->{code} == 200;
        return $o->{code} == 200;
    } 10;
    ok $reopened, 'once one closes, another opens';
    sse_close($_) for @open, $back;
}

# ------------------------------------------------ a graceful restart ends streams
{
    my $parent = httpd_parent_pid();
    my @before = grep { $_ != (worker_pid() // 0) } httpd_children();
    my $g = sse_open('/events', user => 'alice');
    is $g->{code}, 200, 'a stream open before the restart';
    ok kill('USR1', $parent), 'graceful restart (SIGUSR1)';
    drain($g, 30);
    ok $g->{ended}, 'the stream was ended by the restart';
    ok((wait_for { !grep { kill(0, $_) } @before } 30),
       'every child of the old generation exited');
    ok((wait_for { server_answers() } 30), 'the server answers');
    my ($r, $j) = create_export(user => 'alice', params => { filter => 'users' });
    my $n = sse_open("/exports/$j->{id}/events");
    my @after = drain($n, 60);
    is((statuses(@after))[-1], 'completed', 'streams work in the new generation');
}

# ------------------------------------------------ the other APIs' records
SKIP: {
    skip 'the chat demo is not set up', 5 unless $ENV{XPORT_CHAT_DRIVER};
    my %C = (vhost => 'xport_chat', base => '/api/v2.1/rest', user => undef,
             headers => [ 'QISCUS-SDK-SECRET' => 'qs-alpha-4f8e2c91d7b3a605' ]);
    my $res = api('POST', '/exports', %C, json => { type => 'users' });
    my $uid = json_obj($res)->{results}{unique_id} // '';
    like $uid, qr/^[0-9a-f]{8}-[0-9a-f]{4}-/, 'chat: a backup started';
    my $c = sse_open("/exports/$uid/events", %C);
    is $c->{code}, 200, 'chat: its stream by the unique_id the client has';
    my @e = drain($c, 60);
    my @st = map { $_->{data}{status} } grep { $_->{event} eq 'status' } @e;
    is $st[-1], 'finished', 'chat: the last event is the finished backup';
    is $e[-1]{data}{unique_id}, $uid, 'chat: in the chat record (unique_id)';
    my $h = json_obj(api('GET', "/exports/$uid", %C))->{results}{backup_history} || {};
    is_deeply [ sort keys %{ $e[-1]{data} } ], [ sort keys %$h ],
        'chat: the fields of backup_history';
}
SKIP: {
    skip 'the rules demo is not set up', 4 unless $ENV{XPORT_SPARK_DRIVER};
    my %S = (vhost => 'xport_spark', base => '/spark', user => undef,
             headers => [ 'x-synthetic-key' => 'sk-promote-7c1e4a9b2d8f3605' ]);
    my $res = api('POST', '/acme-dev/api/v4/export', %S,
                  json => { inputs => { services => ['Pricing/Home[3.2]'] } });
    my $sid = json_obj($res)->{id} // '';
    like $sid, qr/^[0-9a-f]{32}$/, 'rules: an export started' or diag $res->as_string;
    my $c = sse_open("/exports/$sid/events", %S);
    is $c->{code}, 200, 'rules: its stream';
    my @e = drain($c, 60);
    is((grep { $_->{event} eq 'status' } @e)[-1]{data}{status}, 'closed',
       'rules: the last event is the closed job');
    is $e[-1]{data}{object}, 'export', 'rules: in the rules record (object, status_url)';
    my $other = sse_open("/exports/$sid/events", %S,
                         headers => [ 'x-synthetic-key' => 'sk-dev-1b5d9e2c7a4f8360' ]);
    is $other->{code}, 404, "rules: another key's user does not see it";
}

done_testing();

# is_problem() takes an HTTP::Response; this wraps a stream's answer.
package SseRes;
sub header { my ($self, $k) = @_; return $self->{_s}{headers}{lc $k} }
sub content { return $_[0]{_s}{body} }
sub code { return $_[0]{_s}{code} }
