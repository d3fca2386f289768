#!/usr/bin/perl
# streams.pl -- the event stream readers of bench/events.sh: one process
# that holds N text/event-stream responses open and counts what each
# receives.
#
#   perl bench/streams.pl HOST PORT AUTH N READY PATH...
#
# It opens N connections to HOST:PORT and sends on each a GET of the next
# PATH (cycling through them) with "Authorization: AUTH". HTTP/1.0, so the
# body comes unchunked and the stream can be read line by line. When every
# stream has answered and sent its first event it writes "ready" to the
# file READY. SIGUSR1 marks the start of the measured window, SIGTERM its
# end: the readers stop, and one line per stream goes to stdout:
#
#   stream I path P http S events E status T progress G keepalive K
#       window_progress W window_events V open O
#
# (E, T, G, K over the stream's life; W, V between SIGUSR1 and SIGTERM;
# O 1 when the server had not ended the stream by SIGTERM). A stream that
# cannot connect or is answered other than 200 is still listed (http 0 or
# the status); the script exits 0 whatever the servers answered.
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;

my ($host, $port, $auth, $n, $ready, @paths) = @ARGV;
die "usage: streams.pl HOST PORT AUTH N READY PATH...\n" unless @paths && $n > 0;

my ($stop, $window) = (0, 0);
$SIG{TERM} = $SIG{INT} = sub { $stop = 1 };
$SIG{USR1} = sub { $window = 1 };

my $sel = IO::Select->new;
my (@s, %by_fd);
for my $i (0 .. $n - 1) {
    my $st = {
        i => $i, path => $paths[$i % @paths], http => 0, buf => '', head => 1,
        events => 0, status => 0, progress => 0, keepalive => 0,
        w_progress => 0, w_events => 0, open => 0,
    };
    push @s, $st;
    my $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp');
    unless ($sock) {
        warn "streams.pl: stream $i: cannot connect: $!\n";
        next;
    }
    print $sock "GET $st->{path} HTTP/1.0\r\nHost: $host:$port\r\n"
        . "Authorization: $auth\r\nAccept: text/event-stream\r\n\r\n";
    $sock->blocking(0);
    $st->{sock} = $sock;
    $st->{open} = 1;
    $by_fd{fileno $sock} = $st;
    $sel->add($sock);
}

my $announced = 0;
while (!$stop && $sel->count) {
    for my $sock ($sel->can_read(0.25)) {
        my $st = $by_fd{fileno $sock};
        my $got = sysread($sock, my $chunk, 65536);
        next if !defined $got && $!{EAGAIN};
        if (!$got) {    # the server ended the stream (or an error)
            $sel->remove($sock);
            close $sock;
            $st->{open} = 0;
            next;
        }
        $st->{buf} .= $chunk;
        if ($st->{head}) {
            my $end = index($st->{buf}, "\r\n\r\n");
            next if $end < 0;
            ($st->{http}) = $st->{buf} =~ m{^HTTP/\d\.\d (\d{3})};
            $st->{http} //= 0;
            substr($st->{buf}, 0, $end + 4) = '';
            $st->{head} = 0;
        }
        while ($st->{buf} =~ s/^([^\n]*)\n//) {
            my $line = $1;
            if ($line =~ /^event: (\w+)/) {
                $st->{events}++;
                $st->{w_events}++ if $window;
                if ($1 eq 'progress') {
                    $st->{progress}++;
                    $st->{w_progress}++ if $window;
                } elsif ($1 eq 'status') {
                    $st->{status}++;
                }
            } elsif ($line =~ /^: keep-alive/) {
                $st->{keepalive}++;
            }
        }
    }
    if (!$announced && !grep { $_->{open} && !$_->{events} } @s) {
        $announced = 1;
        open my $f, '>', $ready or die "streams.pl: $ready: $!\n";
        print $f "ready\n";
        close $f;
    }
}
# the loop ends on SIGTERM, or when the server closed every stream: wait
# for the signal either way, so that the counts cover the whole window
sleep 0.25 until $stop;

for my $st (@s) {
    printf "stream %d path %s http %d events %d status %d progress %d keepalive %d "
        . "window_progress %d window_events %d open %d\n",
        $st->{i}, $st->{path}, $st->{http}, $st->{events}, $st->{status},
        $st->{progress}, $st->{keepalive}, $st->{w_progress}, $st->{w_events},
        $st->{open};
}
