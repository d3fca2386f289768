# 35_surface.t -- what a newcomer meets at each API's <Location> (SPEC 9):
# the index at <Location>/ (and at the Location itself), JSON by default
# and HTML for a browser, with links to the collections, the OpenAPI
# document and the event stream (none for ocl); the document at
# <Location>/openapi.json, byte for byte src/api/openapi/<api>.json, with
# an ETag that a conditional GET gets 304 for; HEAD without a body; any
# other method 405 with Allow in the API's error shape. (Every response
# here is also checked against the API's document, as in every file:
# XportTest.pm.)
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use XportTest;

my $DOCS = "$FindBin::Bin/../src/api/openapi";

# The plain keys from conf/<demo>-tokens' comment lines ("#   user   key").
sub demo_key {
    my ($demo, $re) = @_;
    my $f = Apache::Test::config()->{vars}{serverroot} . "/../conf/$demo-tokens";
    open(my $fh, '<', $f) or return undef;
    while (<$fh>) {
        my ($user, $key) = /^#\s+(\S+)\s+(\S+)\s*$/ or next;
        return $key if $key !~ /:/ && $key =~ $re;
    }
    return undef;
}

my $QISCUS = 'qs-alpha-4f8e2c91d7b3a605';
my $OCL    = demo_key('ocl', qr/./);
my $SPARK  = demo_key('spark', qr/^sk-/);

# One Location of each API: its base, host, credentials and what its index
# lists (collections: the first hrefs, in order).
my @LOCATIONS = (
    { api => 'native', base => '/xport', user => 'alice',
      events => 1, collections => [ '/xport/exports', '/xport/imports' ],
      methods => [ 'GET HEAD POST', 'GET HEAD POST' ] },
    { api => 'qiscus', base => '/api/v2.1/rest', vhost => 'xport_chat',
      headers => [ 'QISCUS-SDK-SECRET' => $QISCUS ], need => 'XPORT_CHAT_DRIVER',
      events => 1,
      collections => [ '/api/v2.1/rest/exports', '/api/v2.1/rest/imports' ] },
    { api => 'ocl', base => '/ocl', vhost => 'xport_ocl',
      headers => [ Authorization => 'Token ' . ($OCL // '') ], need => 'XPORT_OCL_DRIVER',
      events => 0, templated => 1 },
    { api => 'ocl', base => '', vhost => 'xport_ocl', root => 1,
      headers => [ Authorization => 'Token ' . ($OCL // '') ], need => 'XPORT_OCL_DRIVER',
      events => 0, templated => 1 },
    { api => 'spark', base => '/spark', vhost => 'xport_spark',
      headers => [ 'x-synthetic-key' => $SPARK // '' ], need => 'XPORT_SPARK_DRIVER',
      events => 1, templated => 1,
      collections => [ '/spark/{tenant}/api/v4/export' ],
      methods => [ 'POST', 'GET HEAD', 'GET HEAD', 'POST', 'GET HEAD', 'GET HEAD' ] },
);

sub req {
    my ($l, $method, $path, %o) = @_;
    my @h = (@{ $l->{headers} || [] }, @{ delete $o{headers} || [] });
    return api($method, $path, base => $l->{base}, vhost => $l->{vhost},
               user => $l->{user}, headers => \@h, %o);
}

sub file_bytes_of { return file_bytes("$DOCS/$_[0].json") }

for my $l (@LOCATIONS) {
    my $at = "$l->{api} at " . ($l->{base} eq '' ? '/' : $l->{base});
  SKIP: {
        skip "$at: the demo database is not set up", 1
            if $l->{need} && !$ENV{ $l->{need} };

        # the index, JSON by default
        my $res = req($l, 'GET', '/');
        is $res->code, 200, "$at: GET <Location>/ is the index";
        like $res->header('Content-Type') // '', qr{^application/json}, "$at: ... JSON";
        like $res->header('Vary') // '', qr/\bAccept\b/, "$at: ... Vary: Accept";
        my $ix = json_obj($res);
        is $ix->{api}, $l->{api}, "$at: ... naming its API";
        is $ix->{links}{self}, "$l->{base}/", "$at: ... linking itself";
        is $ix->{links}{openapi}, "$l->{base}/openapi.json", "$at: ... the OpenAPI document";
        if ($l->{events}) {
            is $ix->{links}{events}, "$l->{base}/events", "$at: ... and the event stream";
        }
        else {
            ok !exists $ix->{links}{events}, "$at: ... and no event stream (the API has none)";
        }
        my @hrefs = map { $_->{href} } @{ $ix->{collections} || [] };
        ok @hrefs > 0, "$at: ... with collections (@hrefs)";
        is_deeply [ @hrefs[0 .. $#{ $l->{collections} }] ], $l->{collections},
            "$at: ... the collections of the document" if $l->{collections};
        ok !(grep { m{/(events|openapi\.json)$} || $_ eq "$l->{base}/" } @hrefs),
            "$at: ... its own routes are not collections";
        if ($l->{methods}) {
            is_deeply [ map { join ' ', @{ $_->{methods} } } @{ $ix->{collections} } ],
                $l->{methods}, "$at: ... each with its own methods";
        }
        ok !(grep { !length($_->{summary} // '') } @{ $ix->{collections} }),
            "$at: ... and summaries";
        if ($l->{templated}) {
            ok((grep { $_->{templated} && $_->{href} =~ /\{\w+\}/ } @{ $ix->{collections} }),
               "$at: ... as URI templates where every path has a parameter");
        }
        else {
            ok !(grep { $_->{templated} } @{ $ix->{collections} }),
                "$at: ... plain paths, no templates";
        }

        # the Location itself, without the slash (not for a root mount)
        unless ($l->{root}) {
            my $bare = api('GET', "http://" . hostport($l->{vhost}) . $l->{base},
                           user => $l->{user}, base => $l->{base},
                           headers => $l->{headers});
            is $bare->code, 200, "$at: GET <Location> (no slash) is the index too";
            is json_obj($bare)->{links}{self}, "$l->{base}/", "$at: ... the same one";
        }

        # a browser gets HTML with the same links
        $res = req($l, 'GET', '/', headers => [ Accept =>
            'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' ]);
        is $res->code, 200, "$at: the index for a browser";
        like $res->header('Content-Type') // '', qr{^text/html}, "$at: ... is HTML";
        like $res->content, qr{href="\Q$l->{base}\E/openapi\.json"}, "$at: ... linking the document";
        $res = req($l, 'GET', '/', headers => [ Accept => 'application/json, text/html;q=0.5' ]);
        like $res->header('Content-Type') // '', qr{^application/json},
            "$at: JSON preferred over HTML: JSON";

        # HEAD, other methods
        $res = req($l, 'HEAD', '/');
        is $res->code, 200, "$at: HEAD <Location>/";
        is length($res->content), 0, "$at: ... no body";
        $res = req($l, 'POST', '/', json => {});
        is $res->code, 405, "$at: POST <Location>/ is 405";
        is $res->header('Allow'), 'GET, HEAD', "$at: ... Allow: GET, HEAD";

        # the document
        my $want = file_bytes_of($l->{api});
        $res = req($l, 'GET', '/openapi.json');
        is $res->code, 200, "$at: GET openapi.json";
        like $res->header('Content-Type') // '', qr{^application/json}, "$at: ... JSON";
        ok $res->content eq $want, "$at: ... exactly src/api/openapi/$l->{api}.json";
        is json_obj($res)->{openapi}, '3.1.0', "$at: ... OpenAPI 3.1";
        my $etag = $res->header('ETag');
        like $etag // '', qr/^"[0-9a-f]{32}"$/, "$at: ... with a strong ETag";
        $res = req($l, 'GET', '/openapi.json', headers => [ 'If-None-Match' => $etag ]);
        is $res->code, 304, "$at: ... If-None-Match with it: 304";
        is length($res->content), 0, "$at: ... without a body";
        $res = req($l, 'GET', '/openapi.json', headers => [ 'If-None-Match' => '"other"' ]);
        is $res->code, 200, "$at: ... another ETag: 200";
        $res = req($l, 'GET', '/openapi.json', headers => [ 'If-Match' => '"other"' ]);
        is $res->code, 412, "$at: If-Match with another ETag: 412";
        $res = req($l, 'HEAD', '/openapi.json');
        is $res->code, 200, "$at: HEAD openapi.json";
        is length($res->content), 0, "$at: ... no body";
        is $res->header('Content-Length'), length $want, "$at: ... its Content-Length";
        $res = req($l, 'DELETE', '/openapi.json');
        is $res->code, 405, "$at: DELETE openapi.json is 405";
        is $res->header('Allow'), 'GET, HEAD', "$at: ... Allow: GET, HEAD";

        # no credentials: the Location's own 401
        $res = api('GET', '/openapi.json', base => $l->{base}, vhost => $l->{vhost},
                   user => undef);
        is $res->code, 401, "$at: without credentials: 401";
    }
}

done_testing();
