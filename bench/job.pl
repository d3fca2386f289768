#!/usr/bin/perl
# job.pl -- how perf.sh runs a module job: one process, as an SDK's
# session would, POSTs the job and then GETs its record every INTERVAL
# seconds over the same keep-alive connection until the answer says the
# job is over. It prints the seconds from just before the POST to that
# answer, and the URL it polled:
#
#   perl bench/job.pl --post URL [--type CT] [--data TEXT | --file PATH]
#       [--header 'Name: value'] --next PERL --until REGEXP|303
#       --out FILE --interval S --timeout S
#
# --next is a Perl expression giving the URL to poll, over $j (the POST's
# answer, decoded JSON; undef when it is not JSON) and $u (the POST's
# URL). --until is a Perl regexp the polled body must match (answers
# other than 2xx fail; the POST's own answer counts too), or the word
# 303: poll while the answer is 204 and stop at a 303 (redirects are not
# followed). --file streams the file as the body (Content-Length given).
# The last body goes to FILE. Exit 0 when --until was seen, 1 with a
# message on stderr otherwise (the POST failed, TIMEOUT seconds passed,
# an answer that was not expected).
#
# The clock is the module's alone: a process per step (curl to POST, perl
# to read the id, perl to poll) spent CPU of its own on the machine
# being measured, inside the timed window, on two cores. Only core Perl
# modules are used (HTTP::Tiny, JSON::PP, Time::HiRes, Getopt::Long).
use strict;
use warnings;
use Getopt::Long;
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(sleep time);

my %o = (type => 'application/json', interval => 0.05, timeout => 360);
GetOptions(\%o, 'post=s', 'type=s', 'data=s', 'file=s', 'header=s', 'next=s',
           'until=s', 'out=s', 'interval=f', 'timeout=f')
    or die "usage: job.pl --post URL --next PERL --until REGEXP|303 --out FILE\n";
defined $o{$_} or die "job.pl: --$_ is missing\n" for qw(post next until out);

my %headers = ('Content-Type' => $o{type});
if (defined $o{header} && $o{header} ne '') {
    my ($name, $value) = $o{header} =~ /^([^:]+):\s*(.*)$/
        or die "job.pl: the header '$o{header}' is not 'Name: value'\n";
    $headers{$name} = $value;
}
my %get_headers = %headers;
delete $get_headers{'Content-Type'};

my $content = defined $o{data} ? $o{data} : '';
if (defined $o{file}) {
    open my $f, '<:raw', $o{file} or die "job.pl: cannot read $o{file}: $!\n";
    $headers{'Content-Length'} = -s $f;
    $content = sub {
        my $n = read $f, my $buf, 1 << 20;
        die "job.pl: reading $o{file}: $!\n" unless defined $n;
        return $n ? $buf : undef;
    };
}

sub keep {
    my ($body) = @_;
    open my $f, '>', $o{out} or die "job.pl: cannot write $o{out}: $!\n";
    print $f $body;
    close $f or die "job.pl: cannot write $o{out}: $!\n";
}

sub over {
    my ($r, $what) = @_;
    my $body = defined $r->{content} ? $r->{content} : '';
    keep($body);
    if ($o{until} eq '303') {
        return 1 if $r->{status} == 303;
        return 0 if $r->{status} == 204 || ($what eq 'POST' && $r->{success});
    } else {
        return $body =~ /$o{until}/ ? 1 : 0 if $r->{success};
    }
    die "job.pl: $what answered $r->{status}: $body\n";
}

my $http = HTTP::Tiny->new(keep_alive => 1, max_redirect => 0, timeout => 60);
my $t0 = time;
my $r = $http->request('POST', $o{post}, { headers => \%headers, content => $content });
my $done = over($r, 'POST');
my $j = eval { decode_json($r->{content}) };
my $u = $o{post};
my $url = eval $o{next};
die "job.pl: --next gave no URL ($@) from: $r->{content}\n" unless defined $url && $url ne '';
my $end = $t0 + $o{timeout};
until ($done) {
    die "job.pl: $url: not over after $o{timeout} s\n" if time > $end;
    sleep $o{interval};
    $done = over($http->get($url, { headers => \%get_headers }), "GET $url");
}
printf "%.3f %s\n", time - $t0, $url;
