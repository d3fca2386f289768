# 16_tenant.t -- tenant= and types=col:bytes (SPEC section 2) through the
# native API's `tenant` option, on both import targets (an SQLite and a
# PostgreSQL database in every phase): the section `docs` (t/conf/
# sections.inc, table api_docs in t/data/notes-*.sql) keeps rows of
# tenants under a key unique per tenant, with a binary column. An import
# for a tenant writes that tenant's rows whatever the file says, finds
# keys and references within it and leaves the other tenant's rows
# alone; an export for a tenant holds its rows only; bytes go out as
# base64 and come back byte for byte. Who may name a tenant: an API key
# the tenants it lists, a Basic user only when a supervisor (carol).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use JSON::PP ();
use MIME::Base64 qw(encode_base64 decode_base64);
use XportTest;

my $JSON = JSON::PP->new->utf8->canonical;

# every byte value, NUL and 0xFF among them
my $ALL = join '', map { chr } reverse 0 .. 255;
my $ALL64 = encode_base64($ALL, '');
my $SMALL = "\x00\xff\x00A";
my $SMALL64 = encode_base64($SMALL, '');

my %CAROL = (user => 'carol');
my %ALICE_KEY = (user => undef, base => '/tok',
                 headers => [ Authorization => 'Bearer alice-secret-key' ]);
my %BOB_KEY = (user => undef, base => '/tok',
               headers => [ Authorization => 'Bearer bob-secret-key' ]);

sub nd { return join '', map { $JSON->encode($_) . "\n" } @_ }

# A bare NDJSON file into docs for a tenant; the finished record, or
# { code, body } when the request was refused.
sub import_docs {
    my ($db, $tenant, $text, %who) = @_;
    my %T = (vhost => target_vhost($db), %who);
    my ($res, $rec) = post_import(%T, archive => $text, raw => 'application/x-ndjson',
                                  fields => [ sections => 'docs',
                                              defined $tenant ? (tenant => $tenant) : () ]);
    return { code => $res->code, body => json_obj($res) } unless $rec;
    return wait_import($rec->{id}, %T) || {};
}

# An NDJSON export of docs for a tenant: the rows, or { code, body }.
sub export_docs {
    my ($db, $tenant, %o) = @_;
    my %T = (vhost => target_vhost($db), %{ $o{who} || \%CAROL });
    my ($res, $rec) = create_export(%T, params => { filter => $o{filter} // 'docs',
                                                    format => 'ndjson',
                                                    defined $tenant ? (tenant => $tenant) : (),
                                                    $o{closure} ? (closure => JSON::PP::true) : () });
    return { code => $res->code, body => json_obj($res) } unless $rec;
    my $done = wait_job($rec->{id}, %T) || {};
    return { status => $done->{status} } unless ($done->{status} // '') eq 'completed';
    my $body = download($rec->{id}, %T)->content;
    return [ map { $JSON->decode($_) } grep { length } split /\n/, $body ];
}

# What api_docs holds: "tenant/id title hex-of-data/length", in order.
sub stored {
    my ($db) = @_;
    my $sql = $db eq 'pgsql'
        ? q{SELECT tenant || '/' || id || ' ' || coalesce(title, '-') || ' '
                   || coalesce(upper(encode(data, 'hex')) || '/' || octet_length(data), 'null') AS r
            FROM api_docs ORDER BY tenant, id}
        : q{SELECT tenant || '/' || id || ' ' || coalesce(title, '-') || ' '
                   || coalesce(hex(data) || '/' || length(data) || '/' || typeof(data), 'null') AS r
            FROM api_docs ORDER BY tenant, id};
    return [ map { $_->{r} } @{ db_rows_in($db, $sql) } ];
}

sub hexlen {
    my ($db, $bytes) = @_;
    return uc(unpack('H*', $bytes)) . '/' . length($bytes) . ($db eq 'sqlite' ? '/blob' : '');
}

sub first_msg { return (($_[0]{error_messages} || [])->[0]) // '' }

# The status a refused request answered, or what else happened.
sub code_of { return ref $_[0] eq 'HASH' ? $_[0]{code} // $_[0]{status} : 'it ran' }

for my $db ('sqlite', 'pgsql') {
    my $L = $db;
    db_exec_in($db, 'DELETE FROM api_docs');

    # ------------------------------------------------ importing for tenants
    my $end = import_docs($db, 'acme', nd(
        { id => 'd1', title => 'Acme one', data => $ALL64 },
        { id => 'd2', title => 'Acme two', parent => 'd1', data => undef }), %CAROL);
    is $end->{status}, 'completed', "$L: an import for tenant acme" or diag explain $end;
    $end = import_docs($db, 'globex', nd(
        { tenant => 'acme', id => 'd1', title => 'Globex one', data => $SMALL64 }), %CAROL);
    is $end->{status}, 'completed', "$L: the same key for tenant globex" or diag explain $end;
    is_deeply $end->{changes}{docs}, { created => 1, updated => 0, unchanged => 0, skipped => 0 },
        "$L: ... is a new row of globex, though the line says acme";
    is_deeply stored($db),
        [ 'acme/d1 Acme one ' . hexlen($db, $ALL), 'acme/d2 Acme two null',
          'globex/d1 Globex one ' . hexlen($db, $SMALL) ],
        "$L: each tenant has its d1, the bytes as sent (NUL and 0xFF too)";

    $end = import_docs($db, 'globex', nd(
        { id => 'd1', title => 'Globex renamed', data => $SMALL64 }), %CAROL);
    is_deeply $end->{changes}{docs}, { created => 0, updated => 1, unchanged => 0, skipped => 0 },
        "$L: an update for globex finds globex's d1";
    is_deeply [ grep { m{^acme/d1 } } @{ stored($db) } ], [ 'acme/d1 Acme one ' . hexlen($db, $ALL) ],
        "$L: ... acme's d1 is untouched";

    $end = import_docs($db, 'globex', nd({ id => 'g2', parent => 'd2' }), %CAROL);
    is $end->{status}, 'failed', "$L: a reference is looked for within the tenant";
    is first_msg($end), 'docs line 1 (id=g2): parent "d2" references docs, which has no such row',
        "$L: ... globex has no d2 (acme has)";

    $end = import_docs($db, 'globex', nd({ id => 'g3', title => 'ok' },
                                          { id => 'g4', data => 'not base64!' }), %CAROL);
    is $end->{status}, 'failed', "$L: a value that is not base64 fails the import";
    is first_msg($end), 'docs line 2 (id=g4): column "data": not base64', "$L: ... saying where";
    is scalar(@{ stored($db) }), 3, "$L: ... and writes nothing";

    # ------------------------------------------------ exporting for tenants
    my $rows = export_docs($db, 'acme');
    is_deeply $rows,
        [ { tenant => 'acme', id => 'd1', title => 'Acme one', parent => undef, data => $ALL64 },
          { tenant => 'acme', id => 'd2', title => 'Acme two', parent => 'd1', data => undef } ],
        "$L: an export for acme holds acme's rows, bytes as base64";
    is decode_base64(ref $rows eq 'ARRAY' ? $rows->[0]{data} // '' : ''), $ALL,
        "$L: ... the very bytes";
    is_deeply [ map { "$_->{tenant}/$_->{id}" } @{ export_docs($db, 'globex') } ], [ 'globex/d1' ],
        "$L: an export for globex holds globex's";
    is_deeply [ map { "$_->{tenant}/$_->{id}" } @{ export_docs($db, 'acme', filter => 'docs/id=d2',
                                                             closure => 1) } ],
        [ 'acme/d1', 'acme/d2' ], "$L: closure follows the reference within the tenant";
    is scalar(@{ export_docs($db, undef) }), 3, "$L: without a tenant every row";

    # a tenant's export imports into another tenant
    $end = import_docs($db, 'initech', nd(@{ export_docs($db, 'acme') }), %CAROL);
    is $end->{status}, 'completed', "$L: acme's export imports for initech";
    is_deeply [ grep { m{^initech/} } @{ stored($db) } ],
        [ 'initech/d1 Acme one ' . hexlen($db, $ALL), 'initech/d2 Acme two null' ],
        "$L: ... as initech's rows, bytes intact";
    $end = import_docs($db, 'initech', nd(@{ export_docs($db, 'initech') }), %CAROL);
    is_deeply $end->{changes}{docs}, { created => 0, updated => 0, unchanged => 2, skipped => 0 },
        "$L: importing it again changes nothing";

    # ------------------------------------------------ who may name a tenant
    my $r = export_docs($db, 'acme', who => { user => 'alice' });
    is code_of($r), 403, "$L: a Basic user who is no supervisor may not name a tenant";
    like ref $r eq 'HASH' ? $r->{body}{detail} // '' : '', qr/tenant "acme"/,
        "$L: ... the problem says which";
    is code_of(import_docs($db, 'acme', nd({ id => 'x' }), user => 'alice')), 403,
        "$L: ... to import either";
    $r = export_docs($db, 'acme', who => \%ALICE_KEY);
    is ref $r, 'ARRAY', "$L: alice's API key lists acme: her export for acme runs";
    is scalar(@{ ref $r eq 'ARRAY' ? $r : [] }), 2, "$L: ... with acme's rows";
    is code_of(export_docs($db, 'initech', who => \%ALICE_KEY)), 403,
        "$L: ... not for a tenant her key does not list";
    is code_of(import_docs($db, 'initech', nd({ id => 'x' }), %ALICE_KEY)), 403,
        "$L: ... nor an import for it";
    is code_of(export_docs($db, 'acme', who => \%BOB_KEY)), 403,
        "$L: a key without tenants may not";
    is scalar(@{ stored($db) }), 5, "$L: the refused imports wrote nothing";
}

done_testing();
