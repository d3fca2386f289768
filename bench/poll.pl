#!/usr/bin/perl
# poll.pl -- how perf.sh waits for a job: GET one URL every INTERVAL
# seconds over a single keep-alive connection until the answer says the
# job is over, as an SDK's session would.
#
#   perl bench/poll.pl URL OUT INTERVAL TIMEOUT UNTIL [HEADER]
#
# UNTIL is a Perl regexp that the body must match (answers other than
# 2xx fail), or the word 303: poll while the answer is 204 and stop at a
# 303 (redirects are not followed; any other answer fails). HEADER is
# "Name: value", sent with every GET. The last body goes to the file OUT.
# Exit 0 when UNTIL was seen, 1 with a message on stderr otherwise
# (TIMEOUT seconds passed, an answer that was not expected).
#
# One process and one connection for the whole wait: a curl process per
# poll spent CPU of its own on the machine being measured (on two cores,
# 0.5 s of a 2.8 s PostgreSQL export, polled every 50 ms). Only core Perl
# modules are used (HTTP::Tiny, Time::HiRes).
use strict;
use warnings;
use HTTP::Tiny;
use Time::HiRes qw(sleep time);

my ($url, $out, $interval, $timeout, $until, $header) = @ARGV;
die "usage: poll.pl URL OUT INTERVAL TIMEOUT UNTIL [HEADER]\n" unless defined $until;

my %headers;
if (defined $header && $header ne '') {
    my ($name, $value) = $header =~ /^([^:]+):\s*(.*)$/
        or die "poll.pl: the header '$header' is not 'Name: value'\n";
    $headers{$name} = $value;
}
my $http = HTTP::Tiny->new(keep_alive => 1, max_redirect => 0, timeout => 60);
my $end = time + $timeout;

sub keep {
    my ($body) = @_;
    open my $f, '>', $out or die "poll.pl: cannot write $out: $!\n";
    print $f $body;
    close $f or die "poll.pl: cannot write $out: $!\n";
}

while (1) {
    my $r = $http->get($url, { headers => \%headers });
    my $body = defined $r->{content} ? $r->{content} : '';
    keep($body);
    if ($until eq '303') {
        exit 0 if $r->{status} == 303;
        die "poll.pl: GET $url answered $r->{status}: $body\n" unless $r->{status} == 204;
    } else {
        die "poll.pl: GET $url answered $r->{status}: $body\n" unless $r->{success};
        exit 0 if $body =~ /$until/;
    }
    die "poll.pl: $url: not over after $timeout s\n" if time > $end;
    sleep $interval;
}
