# 34_spark.t -- the rules platform's impex jobs (SPEC 8.3, XportAPI
# spark) on its demo (conf/spark-*.sql, two tenants): every route and
# status value, the exact status record, what an export picks (unions,
# version prefixes, latest, onpremises), the per-tenant job limit, each
# services_existing value and renames on import, both part orders, and an
# SDK client replayed: export, poll, download without credentials, import
# into the other tenant with add_version.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use JSON::PP ();
use MIME::Base64 qw(decode_base64);
use Digest::SHA qw(sha256_hex);
use XportTest;

plan skip_all => 'the rules platform demo database is not set up'
    unless $ENV{XPORT_SPARK_DRIVER};

my %KEY = spark_keys();
my $VH = 'xport_spark';
my $PG = $ENV{XPORT_SPARK_DRIVER} eq 'pgsql';
my $DEV = '/acme-dev/api/v4';
my $PROD = '/acme-prod/api/v4';

# The plain keys from conf/spark-tokens' comment lines ("#   user   key").
sub spark_keys {
    my $f = Apache::Test::config()->{vars}{serverroot} . '/../conf/spark-tokens';
    open(my $fh, '<', $f) or die "$f: $!";
    my %k;
    while (<$fh>) { $k{$1} = $2 if /^#\s+(\S+)\s+(sk-\S+)\s*$/ }
    return %k;
}

# A request with a key (x-synthetic-key, or Bearer with bearer => 1).
sub spark {
    my ($method, $path, %o) = @_;
    my $key = exists $o{key} ? delete $o{key} : $KEY{'ci-promoter'};
    my @h = @{ delete $o{headers} || [] };
    if (defined $key) {
        push @h, delete $o{bearer} ? (Authorization => "Bearer $key")
                                   : ('x-synthetic-key' => $key);
    }
    return api($method, $path, base => $o{base} // '/spark', user => undef,
               vhost => $o{vhost} // $VH, headers => \@h, %o);
}

sub error_is {
    my ($res, $code, $label, $like) = @_;
    is $res->code, $code, "$label: $code";
    my $j = json_obj($res);
    ok $j->{status} && $j->{status} == $code && ($j->{error}{code} // '') =~ /^[A-Z_]+$/
       && length($j->{error}{message} // ''), "$label: {status, error: {code, message}}"
        or diag $res->as_string;
    like $j->{error}{message} // '', $like, "$label: the message names it" if $like;
    like $res->header('Content-Type') // '', qr{^application/json}, "$label: application/json";
}

# Poll a job (its status_url or path) until it is no longer created or
# in_progress; the last record.
sub wait_done {
    my ($url, %o) = @_;
    my $rec;
    for (1 .. 600) {
        my $res = spark('GET', $url, %o);
        $rec = json_obj($res);
        return $rec if $res->code != 200;
        return $rec if ($rec->{status} // '') !~ /^(created|in_progress)$/;
        select(undef, undef, undef, 0.2);
    }
    return $rec;
}

sub post_export {
    my ($tenant_path, $body, %o) = @_;
    my $res = spark('POST', "$tenant_path/export", json => $body, %o);
    return ($res, json_obj($res));
}

my $BOUNDARY = 'sparkBoundary7MA4YWxkTrZu0gW';

# POST .../import: parts in the order given ('entity', 'file'), each with
# or without a content type.
sub post_import_parts {
    my ($tenant_path, $zip, $entity, %o) = @_;
    my %part = (
        entity => { name => 'importRequestEntity', data => JSON::PP->new->encode($entity),
                    ($o{entity_type} ? (type => $o{entity_type}) : ()) },
        file   => { name => 'file', data => $zip, filename => $o{filename} // 'package.zip',
                    ($o{file_type} ? (type => $o{file_type}) : ()) },
    );
    my @order = @{ $o{order} || [qw(entity file)] };
    my $res = spark('POST', "$tenant_path/import", key => $o{key} // $KEY{'ci-promoter'},
                    type => "multipart/form-data; boundary=$BOUNDARY",
                    body => multipart_body($BOUNDARY, map { $part{$_} } @order));
    return ($res, json_obj($res));
}

sub fetch_file {
    my ($url, %o) = @_;
    my $ua = LWP::UserAgent->new(max_redirect => 0, timeout => 60);
    return $ua->get($url, @{ $o{headers} || [] });
}

sub rows { return db_rows_in('spark', $_[0]) }

# A service's versions in a tenant, in semantic version order.
sub versions_of {
    my ($tenant, $folder, $service) = @_;
    my @v = map { $_->{version} } @{ rows(
        "SELECT v.version FROM spark_versions v JOIN spark_services s "
        . "ON s.tenant = v.tenant AND s.service_id = v.service_id "
        . "WHERE v.tenant = '$tenant' AND s.folder = '$folder' AND s.service = '$service'") };
    return [ sort { my @a = split /\./, $a; my @b = split /\./, $b;
                    $a[0] <=> $b[0] || $a[1] <=> $b[1] || $a[2] <=> $b[2] } @v ];
}

sub file_hex {
    my ($tenant, $version_id, $kind) = @_;
    my $hex = $PG ? "encode(content, 'hex')" : 'lower(hex(content))';
    my $r = rows("SELECT $hex AS h FROM spark_files WHERE tenant = '$tenant' "
                 . "AND version_id = '$version_id' AND kind = '$kind'")->[0];
    return $r ? $r->{h} : undef;
}

sub count_in {
    my ($tenant) = @_;
    return rows("SELECT (SELECT count(*) FROM spark_services WHERE tenant = '$tenant') AS s, "
                . "(SELECT count(*) FROM spark_versions WHERE tenant = '$tenant') AS v, "
                . "(SELECT count(*) FROM spark_files WHERE tenant = '$tenant') AS f")->[0];
}

# ------------------------------------------------------------ refusals
error_is(spark('GET', "$DEV/export/status", key => undef), 401, 'no key');
error_is(spark('GET', "$DEV/export/status", key => 'sk-wrong'), 401, 'a wrong key');
error_is(spark('GET', "$PROD/export/status", key => $KEY{'dev-builder'}), 403,
         "a tenant the key does not hold", qr/acme-prod/);
error_is(spark('GET', "$DEV/export/status", headers => ['x-tenant-name' => 'acme-prod']),
         400, 'x-tenant-name not the path\'s', qr/x-tenant-name/);
is spark('GET', "$DEV/export/status", headers => ['x-tenant-name' => 'acme-dev'])->code,
    200, 'x-tenant-name equal to the path\'s: 200';
error_is(spark('GET', "$DEV/export/0123456789abcdef0123456789abcdef/status"), 404,
         'an unknown job');
error_is(spark('GET', "$DEV/export/"), 404, 'a trailing slash is no route');
error_is(spark('DELETE', "$DEV/export"), 405, 'DELETE on export');
for my $case (
    [ { inputs => { folders => ['Nope'] } }, 404, qr/folder: Nope/, 'unknown folder' ],
    [ { inputs => { services => ['Pricing/Nope'] } }, 404, qr{Pricing/Nope}, 'unknown service' ],
    [ { inputs => { services => ['Pricing/Home[9]'] } }, 404, qr{Home\[9\]}, 'no version like 9' ],
    [ { inputs => { version_ids => ['v-none'] } }, 404, qr/v-none/, 'unknown version_id' ],
    [ { inputs => { services => ['ffffffff-0000-4000-8000-000000000000'] } }, 404,
      qr/ffffffff/, 'unknown service_id' ],
    [ { inputs => { folders => ['Sandbox'] } }, 400, qr/Sandbox/, 'a folder without services' ],
    [ { inputs => {} }, 400, qr/inputs/, 'no inputs' ],
    [ { inputs => { services => ['Pricing/Motor[1.1]'] }, version_filter => 'latest' }, 400,
      qr/1\.1\.0.*not its latest/, 'latest with an older explicit version' ],
    [ { inputs => { version_ids => ['d2000000-0000-4000-8000-000000000011'] },
        version_filter => 'latest' }, 400, qr/not its latest/, 'latest with an older version_id' ],
    [ { inputs => { folders => ['Pricing'] }, version_filter => 'some' }, 400,
      qr/version_filter/, 'a bad version_filter' ],
    [ { inputs => { folders => ['Pricing'] }, file_filter => 'all' }, 400, qr/file_filter/,
      'a bad file_filter' ],
) {
    my ($res) = post_export($DEV, $case->[0]);
    error_is($res, $case->[1], "export: $case->[3]", $case->[2]);
}
my $nojson = spark('POST', "$DEV/export", body => 'x', type => 'text/plain');
error_is($nojson, 415, 'export: not JSON');

# ------------------------------------------------------------ one export
# Home[3.2]: the highest 3.2.x (3.2.1), not 3.20.0
my ($res, $rec) = post_export($DEV, { inputs => { services => ['Pricing/Home[3.2]'] },
                                      source_system => 'ci', correlation_id => '456' });
is $res->code, 200, 'POST export: 200';
like $res->header('Content-Type'), qr{^application/json}, '... application/json';
like $res->content, qr/"process_time":\d+[,}]/, '... process_time an integer';
like $res->content, qr/"errors":null/, '... errors null';
is $rec->{object}, 'export', '... object export';
like $rec->{id}, qr/^[0-9a-f]{32}$/, '... an id';
like $rec->{status}, qr/^(created|in_progress|closed)$/, "... status $rec->{status}";
like $rec->{response_timestamp}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
    '... response_timestamp ISO 8601 with ms';
like $rec->{status_url}, qr{^http://[^/]+/spark/acme-dev/api/v4/export/$rec->{id}/status$},
    '... status_url absolute';
is $rec->{source_system}, 'ci', '... source_system';
is $rec->{correlation_id}, '456', '... correlation_id';
is_deeply [ sort keys %$rec ], [ sort qw(object id response_timestamp status status_url
    process_time source_system correlation_id errors outputs) ], '... exactly the record\'s fields';
is_deeply [ map { $_->{service_uri_source} } @{ $rec->{outputs}{services} } ],
    ['Pricing/Home'], '... outputs.services';
is_deeply [ map { $_->{service_uri_source} } @{ $rec->{outputs}{service_versions} } ],
    ['Pricing/Home[3.2.1]'], '... outputs.service_versions: 3.2 took 3.2.1';
my $done = wait_done($rec->{status_url});
is $done->{status}, 'closed', 'the export closes';
ok exists $done->{errors} && !defined $done->{errors}, '... errors null';
my $f = $done->{outputs}{files}[0] || {};
is scalar @{ $done->{outputs}{files} }, 1, '... one file';
like $f->{file}, qr{^http://[^/]+/spark/files/$rec->{id}/package\.zip\?}, '... a signed link';
my $dl = fetch_file($f->{file});
is $dl->code, 200, 'the file without credentials: 200 (no redirect)';
is sha256_hex($dl->content), $f->{file_hash}, '... file_hash is the SHA-256 of the bytes';
my $dl2 = fetch_file($f->{file}, headers => ['x-synthetic-key' => $KEY{'ci-promoter'}]);
is $dl2->code, 200, '... and with them: 200';
is $dl2->content, $dl->content, '... the same bytes';
my $HOME_ZIP = $dl->content;
my $ar = read_archive($HOME_ZIP, 'zip');
is_deeply [ sort @{ $ar->{names} } ], [ sort qw(manifest.json data/spark_folders.ndjson
    data/spark_services.ndjson data/spark_versions.ndjson data/spark_files.ndjson) ],
    'the zip holds the manifest and the four sections';
my @v = @{ ndjson_rows($ar->{data}{'data/spark_versions.ndjson'}) };
is_deeply [ map { $_->{version} } @v ], ['3.2.1'], '... one version, 3.2.1';
my @files = @{ ndjson_rows($ar->{data}{'data/spark_files.ndjson'}) };
is scalar @files, 2, '... its two files';
my ($wasm) = grep { $_->{kind} eq 'wasm' } @files;
is unpack('H*', decode_base64($wasm->{content} // '')),
    file_hex('acme-dev', $v[0]{version_id}, 'wasm'), '... content: base64 of the stored bytes';
ok !grep({ $_->{tenant} ne 'acme-dev' } @v, @files), '... all of acme-dev';

# ------------------------------------------------------------ picking
($res, $rec) = post_export($DEV, { inputs => {
    folders => ['Claims'], services => ['d1000000-0000-4000-8000-000000000001'],
    version_ids => ['d2000000-0000-4000-8000-000000000022'] } });
is $res->code, 200, 'a union of folder, service_id and version_id: 200';
is_deeply [ map { $_->{service_uri_source} } @{ $rec->{outputs}{services} } ],
    [qw(Claims/Triage Pricing/Home Pricing/Motor)], '... services sorted by folder, service';
is_deeply [ map { $_->{service_uri_source} } @{ $rec->{outputs}{service_versions} } ],
    [ 'Claims/Triage[0.9.0]', 'Claims/Triage[1.0.0]', 'Pricing/Home[3.2.0]',
      'Pricing/Motor[1.0.0]', 'Pricing/Motor[1.1.0]', 'Pricing/Motor[1.2.0]',
      'Pricing/Motor[2.0.0]' ], '... versions sorted by folder, service, version';
my $sv = $rec->{outputs}{service_versions}[2];
is_deeply [ @$sv{qw(folder_source service_source version_source service_id_source version_id_source)} ],
    [ 'Pricing', 'Home', '3.2.0', 'd1000000-0000-4000-8000-000000000002',
      'd2000000-0000-4000-8000-000000000022' ], '... an entry\'s fields';
$done = wait_done($rec->{status_url});
is $done->{status}, 'closed', '... closes';
$ar = read_archive(fetch_file($done->{outputs}{files}[0]{file})->content, 'zip');
is_deeply [ sort map { $_->{folder} } @{ ndjson_rows($ar->{data}{'data/spark_folders.ndjson'}) } ],
    [qw(Claims Pricing)], '... with the parent folders';

($res, $rec) = post_export($DEV, { inputs => { folders => ['Pricing'] },
                                   version_filter => 'latest', file_filter => 'onpremises',
                                   file_name => 'latest.zip' });
is_deeply [ map { $_->{service_uri_source} } @{ $rec->{outputs}{service_versions} } ],
    [ 'Pricing/Home[3.20.0]', 'Pricing/Motor[2.0.0]' ], 'latest: each service\'s latest';
$done = wait_done($rec->{status_url});
like $done->{outputs}{files}[0]{file} // '', qr{/latest\.zip\?}, '... file_name';
$ar = read_archive(fetch_file($done->{outputs}{files}[0]{file})->content, 'zip');
is_deeply [ map { $_->{kind} } @{ ndjson_rows($ar->{data}{'data/spark_files.ndjson'}) } ],
    [qw(wasm wasm)], 'onpremises: only the kinds XportSparkOnPremises names';

# ------------------------------------------------------------ tenant view
$res = spark('GET', "$DEV/export/status");
is $res->code, 200, 'the tenant view: 200';
my $view = json_obj($res);
ok ref $view->{in_progress_exports} eq 'ARRAY', '... in_progress_exports';
my @recent = @{ $view->{recent_exports} || [] };
ok scalar(grep { $_->{id} eq $rec->{id} } @recent), '... recent_exports has the last one';
my ($entry) = grep { $_->{id} eq $rec->{id} } @recent;
is $entry->{object}, 'export', '... an entry: object';
is $entry->{data}{export_status}, 'closed', '... export_status';
is $entry->{data}{created_by}, 'ci-promoter', '... created_by';
like $entry->{data}{created_timestamp}, qr/Z$/, '... created_timestamp';
is $view->{tenant}{configuration}{export_api_job_limit}, 1, '... export_api_job_limit 1';
is $view->{tenant}{status}{export_api_jobs_in_progress}, 0, '... none in progress';
is scalar @{ json_obj(spark('GET', "$DEV/export/status",
                            key => $KEY{'dev-builder'}))->{recent_exports} || [] },
    0, 'another user sees none of them';
ok scalar(grep { $_->{id} eq $rec->{id} }
          @{ json_obj(spark('GET', "$DEV/export/status", key => $KEY{'spark-admin'}))
                 ->{recent_exports} || [] }), '... a supervisor sees them';
is scalar @{ json_obj(spark('GET', "$PROD/export/status"))->{recent_exports} || [] },
    0, 'the other tenant\'s view has none';
error_is(spark('GET', "$PROD/export/$rec->{id}/status"), 404,
         'a job through the other tenant\'s path');

# ------------------------------------------------------------ limit, cancel
# Every worker is kept busy by exports waiting on the test's gate (host
# xport_gate), so a spark export stays created until the gate opens.
ok gate_hold(), 'the test holds the gate';
my @gated;
for my $user (qw(dave erin)) {
    my ($r, $g) = create_export(vhost => 'xport_gate', user => $user,
                                params => { filter => 'gated', format => 'ndjson' });
    push @gated, [ $user, $g->{id} ] if $g;
}
my $end = time + 60;
select(undef, undef, undef, 0.1) while gate_waiters() < 2 && time < $end;
is gate_waiters(), 2, 'both workers wait on the gate';
($res, my $first) = post_export($DEV, { inputs => { services => ['Claims/Triage'] } });
is $first->{status}, 'created', 'an export of acme-dev: created';
is json_obj(spark('GET', "$DEV/export/status"))->{tenant}{status}{export_api_jobs_in_progress},
    1, '... in progress in the tenant view';
($res) = post_export($DEV, { inputs => { services => ['Claims/Triage'] } },
                     key => $KEY{'dev-builder'});
error_is($res, 429, 'a second export of the tenant', qr/acme-dev.*XportMaxJobsPerTenant/);
like $res->header('Retry-After') // '', qr/^\d+$/, '... Retry-After';
is $res->header('x-retry-after'), $res->header('Retry-After'), '... and x-retry-after';
($res, my $other) = post_export($PROD, { inputs => { services => ['Pricing/Motor'] } });
is $res->code, 200, '... another tenant is not held up';
$res = api('POST', '/acme-dev/api/v4/export', base => '/spark2', user => undef,
           vhost => $VH, json => { inputs => { services => ['Claims/Triage'] } },
           headers => ['x-synthetic-key' => $KEY{'dev-builder'}]);
is $res->code, 200, '... and XportMaxJobsPerTenant 2 allows a second';
my $second = json_obj($res);
error_is(spark('PATCH', "$DEV/export/$first->{id}", json => { export_status => 'closed' }),
         400, 'PATCH with another status', qr/cancelled/);
$res = spark('PATCH', "$DEV/export/$first->{id}", json => { export_status => 'cancelled' });
is $res->code, 200, 'PATCH export_status cancelled: 200';
is json_obj($res)->{status}, 'cancelled', '... the record says cancelled';
$res = api('PATCH', "/acme-dev/api/v4/export/$second->{id}", base => '/spark2', user => undef,
           vhost => $VH, json => { export_status => 'cancelled' },
           headers => ['x-synthetic-key' => $KEY{'dev-builder'}]);
is json_obj($res)->{status}, 'cancelled', '... and the one of /spark2';
($res, my $third) = post_export($DEV, { inputs => { services => ['Claims/Triage'] } });
is $res->code, 200, 'room again once the first has ended';
gate_release();
wait_job($_->[1], vhost => 'xport_gate', user => $_->[0], timeout => 120) for @gated;
is wait_done($third->{status_url})->{status}, 'closed', '... and it closes';
($res, my $fourth) = post_export($DEV, { inputs => { services => ['Claims/Triage'] } },
                                 key => $KEY{'dev-builder'});
is $res->code, 200, '... after which another user\'s export of the tenant is taken';
wait_done($fourth->{status_url}, key => $KEY{'dev-builder'});
is wait_done($other->{status_url})->{status}, 'closed', 'the other tenant\'s closes';
error_is(spark('PATCH', "$DEV/export/$third->{id}", json => { export_status => 'cancelled' }),
         409, 'cancelling a closed job');

# ------------------------------------------------------------ limits of a job
# a package over XportMaxArchiveSize (1K on xport_spark_small) fails
($res, $rec) = post_export($DEV, { inputs => { folders => ['Pricing'] } },
                           vhost => 'xport_spark_small');
$done = wait_done($rec->{status_url}, vhost => 'xport_spark_small');
is $done->{status}, 'failed', 'a package over XportMaxArchiveSize: failed';
like $done->{errors}[0]{message} // '', qr/XportMaxArchiveSize/, '... and the error says so';

# in_progress, then closed_by_timeout (XportJobTimeout 2s on
# xport_spark_short): the export waits on a table the test locks (a
# PostgreSQL reader waits for the lock; an SQLite one would not)
SKIP: {
    skip 'a read that waits on a lock needs PostgreSQL', 4 unless $PG;
    # (the files: the request itself reads folders, services and versions)
    ok pg_hold('spark', 'BEGIN; LOCK TABLE spark_files IN ACCESS EXCLUSIVE MODE;',
               "SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
               . "WHERE c.relname = 'spark_files' AND l.granted AND l.mode = 'AccessExclusiveLock'"),
        'the test locks spark_files';
    my $t0 = time;
    ($res, $rec) = post_export($DEV, { inputs => { services => ['Claims/Triage'] } },
                               vhost => 'xport_spark_short');
    my $end = time + 60;
    my $r = {};
    while (time < $end) {
        $r = json_obj(spark('GET', $rec->{status_url}, vhost => 'xport_spark_short'));
        last if ($r->{status} // '') ne 'created'
            && rows("SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    . "WHERE c.relname = 'spark_files' AND NOT l.granted")->[0]{n};
        select(undef, undef, undef, 0.1);
    }
    is $r->{status}, 'in_progress', '... the export runs, waiting on it: in_progress';
    # past its 2 s, then let it go on: the job ends at its next check
    sleep 1 while time < $t0 + 3;
    pg_release('spark');
    $done = wait_done($rec->{status_url}, vhost => 'xport_spark_short');
    is $done->{status}, 'closed_by_timeout', '... closed_by_timeout';
    ok !defined $done->{errors}, '... errors null (it did not fail)';
}

# ------------------------------------------------------------ imports
my %prod0 = %{ count_in('acme-prod') };
error_is((post_import_parts($PROD, $HOME_ZIP, { services_existing => 'maybe' }))[0], 400,
         'import: a bad services_existing', qr/services_existing/);
error_is((post_import_parts($PROD, $HOME_ZIP, { services_existing => 'add_version',
                                                 update_version_type => 'huge' }))[0],
         400, 'import: a bad update_version_type', qr/update_version_type/);
error_is((post_import_parts($PROD, $HOME_ZIP, {}, key => $KEY{'dev-builder'}))[0], 403,
         'import into a tenant the key does not hold');
my $noentity = spark('POST', "$PROD/import", type => "multipart/form-data; boundary=$BOUNDARY",
                     body => multipart_body($BOUNDARY, { name => 'file', data => $HOME_ZIP,
                                                         filename => 'p.zip' }));
error_is($noentity, 400, 'import without importRequestEntity', qr/importRequestEntity/);
my $badentity = spark('POST', "$PROD/import", type => "multipart/form-data; boundary=$BOUNDARY",
                      body => multipart_body($BOUNDARY,
                          { name => 'importRequestEntity', data => '{"services_existing": ' },
                          { name => 'file', data => $HOME_ZIP, filename => 'p.zip' }));
error_is($badentity, 400, 'import with an entity that is not JSON', qr/importRequestEntity/);
($res, $rec) = post_import_parts($PROD, "this is not a zip\n", {});
is $res->code, 200, 'import of a file that is no package: 200';
$done = wait_done($rec->{status_url});
is $done->{status}, 'failed', '... then failed';
like $done->{errors}[0]{message} // '', qr/archive|manifest/i, '... saying what is wrong with it';
is_deeply count_in('acme-prod'), \%prod0, '... nothing written';

# new service, abort (the default): added
($res, $rec) = post_import_parts($PROD, $HOME_ZIP, { source_system => 'ci' },
                                 order => [qw(file entity)]);
is $res->code, 200, 'import (file part first, no part types): 200';
is $rec->{object}, 'import', '... object import';
like $res->content, qr/"process_time":\d+[,}]/, '... process_time an integer';
$done = wait_done($rec->{status_url});
is $done->{status}, 'closed', '... closes' or diag explain $done;
ok !defined $done->{errors}, '... errors null';
is $done->{source_system}, 'ci', '... source_system';
is_deeply $done->{outputs}{files}, [], '... no files';
my $so = $done->{outputs}{services}[0] || {};
is_deeply [ @$so{qw(service_uri_source service_uri_destination status)} ],
    [ 'Pricing/Home', 'Pricing/Home', 'added' ], '... the service added';
my $vo = $done->{outputs}{service_versions}[0] || {};
is_deeply [ @$vo{qw(service_uri_source service_uri_destination status)} ],
    [ 'Pricing/Home[3.2.1]', 'Pricing/Home[3.2.1]', 'added' ], '... its version added';
is_deeply versions_of('acme-prod', 'Pricing', 'Home'), ['3.2.1'], 'acme-prod has Home 3.2.1';
is file_hex('acme-prod', $vo->{version_id_destination}, 'wasm'),
    file_hex('acme-dev', 'd2000000-0000-4000-8000-000000000023', 'wasm'),
    '... with the same bytes';
is_deeply versions_of('acme-dev', 'Pricing', 'Home'), [qw(3.1.0 3.2.0 3.2.1 3.20.0)],
    'acme-dev is untouched';

# exists now: abort fails, nothing written
my %prod1 = %{ count_in('acme-prod') };
($res, $rec) = post_import_parts($PROD, $HOME_ZIP, { services_existing => 'abort' },
                                 entity_type => 'application/json', file_type => 'application/zip');
is $res->code, 200, 'import again with abort (part types given): 200';
$done = wait_done($rec->{status_url});
is $done->{status}, 'failed', '... fails';
like $done->{errors}[0]{message} // '', qr{Pricing/Home exists in tenant acme-prod},
    '... errors [{message}] say why';
is_deeply count_in('acme-prod'), \%prod1, '... nothing written';

# replace (and its alias update): the same version overwritten
for my $mode (qw(replace update)) {
    ($res, $rec) = post_import_parts($PROD, $HOME_ZIP, { services_existing => $mode },
                                     entity_type => 'text/plain');
    $done = wait_done($rec->{status_url});
    is $done->{status}, 'closed', "$mode: closes" or diag explain $done;
    is $done->{outputs}{services}[0]{status}, 'replaced', "$mode: the service replaced";
    is $done->{outputs}{service_versions}[0]{status}, 'replaced', "$mode: its version replaced";
    is $done->{outputs}{service_versions}[0]{version_id_destination},
        $vo->{version_id_destination}, "$mode: ... the version already there";
    is_deeply count_in('acme-prod'), \%prod1, "$mode: nothing added";
}

# add_version: above the latest
($res, $rec) = post_import_parts($PROD, $HOME_ZIP, { services_existing => 'add_version',
                                                     update_version_type => 'patch' });
$done = wait_done($rec->{status_url});
is $done->{status}, 'closed', 'add_version: closes';
$vo = $done->{outputs}{service_versions}[0] || {};
is_deeply [ @$vo{qw(version_source version_destination status)} ],
    [ '3.2.1', '3.2.2', 'version_added' ], '... 3.2.1 lands as 3.2.2 (patch)';
is_deeply versions_of('acme-prod', 'Pricing', 'Home'), [qw(3.2.1 3.2.2)],
    '... acme-prod has both';
ok file_hex('acme-prod', $vo->{version_id_destination}, 'xlsx'), '... the new version has its files';

# renames: Claims/Triage into a folder that is new to acme-prod
($res, $rec) = post_export($DEV, { inputs => { services => ['Claims/Triage'] } });
$done = wait_done($rec->{status_url});
my $triage = fetch_file($done->{outputs}{files}[0]{file})->content;
($res, $rec) = post_import_parts($PROD, $triage, { inputs => { services_modify => [
    { service_uri_source => 'Claims/Triage', service_uri_destination => 'Operations/Intake' } ] } });
$done = wait_done($rec->{status_url});
is $done->{status}, 'closed', 'services_modify: closes' or diag explain $done;
is_deeply [ @{ $done->{outputs}{services}[0] || {} }{qw(service_uri_source service_uri_destination)} ],
    [ 'Claims/Triage', 'Operations/Intake' ], '... outputs say where it went';
is_deeply versions_of('acme-prod', 'Operations', 'Intake'), [qw(0.9.0 1.0.0)],
    '... acme-prod has Operations/Intake with its versions';
is rows("SELECT count(*) AS n FROM spark_folders WHERE tenant = 'acme-prod' AND folder = 'Claims'")
    ->[0]{n}, 0, '... and no Claims folder';

# ------------------------------------------------------------ an SDK client
# POST, poll status_url a second apart until closed, download every file
# without auth and check it, import into the other tenant with
# add_version, poll, read errors and outputs.
($res, $rec) = post_export($DEV, { inputs => { services => ['Pricing/Motor'] },
                                   source_system => 'sdk', correlation_id => undef }, bearer => 1);
is $res->code, 200, 'SDK: POST export (Bearer)';
my ($polls, $st) = (0, $rec);
while ($st->{status} ne 'closed' && $polls < 120) {
    sleep 1;
    $polls++;
    $st = json_obj(spark('GET', $rec->{status_url}, bearer => 1));
    last if $st->{status} =~ /^(failed|cancelled|closed_by_timeout)$/;
}
is $st->{status}, 'closed', "SDK: closed after $polls poll(s)";
my @pkgs;
for my $file (@{ $st->{outputs}{files} }) {
    my $r = fetch_file($file->{file});
    is $r->code, 200, 'SDK: file downloaded without auth';
    is sha256_hex($r->content), $file->{file_hash}, 'SDK: ... its file_hash matches';
    push @pkgs, $r->content;
}
is scalar @pkgs, 1, 'SDK: one package';
my $latest0 = versions_of('acme-prod', 'Pricing', 'Motor');
($res, $rec) = post_import_parts($PROD, $pkgs[0], { services_existing => 'add_version',
                                                     source_system => 'sdk' });
is $res->code, 200, 'SDK: POST import';
$st = wait_done($rec->{status_url}, bearer => 1);
is $st->{status}, 'closed', 'SDK: the import closes';
ok exists $st->{errors} && !defined $st->{errors}, 'SDK: errors null';
is_deeply [ map { $_->{status} } @{ $st->{outputs}{service_versions} } ],
    [ ('version_added') x 4 ], 'SDK: four versions added';
is_deeply [ map { $_->{version_destination} } @{ $st->{outputs}{service_versions} } ],
    [qw(1.1.0 1.2.0 1.3.0 1.4.0)], 'SDK: ... each a minor above the last';
is_deeply versions_of('acme-prod', 'Pricing', 'Motor'),
    [ @$latest0, qw(1.1.0 1.2.0 1.3.0 1.4.0) ], 'SDK: acme-prod has them';
is $st->{outputs}{services}[0]{service_id_destination}, 'p1000000-0000-4000-8000-000000000001',
    'SDK: ... under the service acme-prod had';

done_testing();
