# 00_server.t -- the server under test is the one we mean: the MPM the
# runner asked for (XPORT_MPM, event by default),
# mod_xport loaded from this tree's build/ (not a system path), and the
# XPORT_* environment the configuration expands present.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use XportTest;

my $vars = Apache::Test::config()->{vars};
my $conf = do { local (@ARGV, $/) = $vars->{t_conf_file}; <> } // '';
my $extra = do { local (@ARGV, $/) = "$vars->{t_conf}/extra.conf"; <> } // '';

my $mpm = $ENV{XPORT_MPM} || 'event';
my @others = grep { $_ ne $mpm } qw(event worker prefork);
like $conf, qr/^\s*LoadModule\s+mpm_${mpm}_module\b/m, "the $mpm MPM is loaded";
unlike $conf, qr/^\s*LoadModule\s+mpm_(?:$others[0]|$others[1])_module\b/m, 'no other MPM';
like $extra, qr{^LoadModule xport_module "\Q$vars->{serverroot}\E/\.\./build/mod_xport\.so"}m,
    'mod_xport comes from the source tree';
for my $v (qw(XPORT_STORAGE XPORT_STORE_DRIVER XPORT_STORE_PARAMS
              XPORT_SOURCE_DRIVER XPORT_SOURCE_PARAMS XPORT_BACKEND)) {
    ok defined $ENV{$v} && length $ENV{$v}, "$v is set";
}
diag "backend $ENV{XPORT_BACKEND}: source $ENV{XPORT_SOURCE_DRIVER} \"$ENV{XPORT_SOURCE_PARAMS}\"";

my $res = api('GET', '/exports', user => 'alice');
is $res->code, 200, 'the API answers';
ok -d "$ENV{XPORT_STORAGE}/exports" && -d "$ENV{XPORT_STORAGE}/tmp",
    'XportStorage has exports/ and tmp/';

done_testing();
