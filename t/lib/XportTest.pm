# XportTest.pm -- helpers shared by the mod_xport Apache::Test suite:
# requests as a given user against a given virtual host, job polling,
# reading downloaded archives back with the system's tar/zstd/unzip, and
# asking the application database (SQLite or PostgreSQL, whichever this
# run uses) what an export should contain. For the import tests: uploads
# (multipart or raw, also streamed from a file), archives built here byte
# by byte (tar/gzip/zstd/zip, manifests with chosen faults) and the import
# target databases (read, compared, emptied). For the faults: the gate that
# holds exports of host xport_gate, the job store read directly. And every
# response from an API <Location> checked against the API's OpenAPI
# document (openapi_check, at the end of this file).
#
# The runner (t/run-tests.sh) exports:
#   XPORT_BACKEND      sqlite | pgsql
#   XPORT_STORAGE      the XportStorage directory
#   XPORT_SQLITE_DB    (sqlite) the data source file
#   PG_SOCKDIR PG_PORT PG_USER XPORT_PG_DB   (pgsql) the data source
#   XPORT_IMPORT_SQLITE_DB, XPORT_IMPORT_PG_DB   the import targets (empty
#                      copies of the demo schema, both in every phase)
#   XPORT_GATE_PG_DB   the gated section's database (PostgreSQL, every phase)
#   XPORT_STORE_DRIVER XPORT_STORE_PARAMS   the job store
# Every user's password is its name (t/conf/htpasswd).
package XportTest;

use strict;
use warnings;

use Exporter 'import';
use Apache::Test ();
use Apache::TestRequest ();
use LWP::UserAgent ();
use URI ();
use HTTP::Request ();
use JSON::PP ();
use Digest::SHA qw(sha256_hex sha256 hmac_sha256);
use MIME::Base64 qw(encode_base64 decode_base64);
use File::Temp qw(tempdir);
use File::Spec ();
use File::Basename qw(dirname);
use IPC::Open2 qw(open2);
use Time::HiRes qw(sleep time);
use IO::Socket::INET ();
use IO::Select ();

our @EXPORT = qw(
  api json_of json_obj json_list create_export wait_job wait_status job_of download
  db_rows db_keys read_archive ndjson_rows ndjson_keys_in_order
  storage_files storage_leftovers httpd_parent_pid httpd_children
  worker_pid is_problem base64_sha256 section_rows_from_db
  SECTION_TABLES
  hostport import_of wait_import post_import multipart_body post_stream
  tar_bytes gzip_bytes zstd_bytes zip_bytes make_archive ndjson_line
  user_row export_archive target_vhost db_rows_in section_rows_in
  target_reset target_snapshot target_count db_exec_in vm_hwm
  TARGET_TABLES
  tree_bytes paths_named zip_add_overlap gzip_zero_bomb file_bytes target_dump
  tar_file
  TARGET_TABLES raw_request
  httpd_start httpd_wait_gone serving_child_with error_log_offset error_log_since
  server_answers
  gate_hold gate_release gate_waiters store_job pg_hold pg_release wait_for
  link_secret signed_link openapi_check openapi_target
  sse_open sse_next sse_close
  node_start node_pids node_worker node_stop node_kill node_graceful
);

my $JSON = JSON::PP->new->utf8->canonical;

# Section name -> [table, key, columns in table order, types] as configured
# in t/conf/extra.conf.in and created by conf/demo.sql.
use constant SECTION_TABLES => {
    users => {
        table   => 'users', key => 'id',
        columns => [qw(id name email favorite_color selected notes created_at updated_at)],
        types   => { selected => 'bool' },
    },
    bots => {
        table   => 'bots', key => 'id',
        columns => [qw(id owner_id name coordinates location updated_at)],
        types   => {},
    },
    messages => {
        table   => 'messages', key => 'id',
        columns => [qw(id bot_id user_id body created_at)],
        types   => {},
    },
    scripts => {
        table   => 'scripts', key => 'id',
        columns => [qw(id owner_id name body updated_at)],
        types   => {},
    },
    jobs => {
        table   => 'jobs', key => 'id',
        columns => [qw(id script_id bot_id state priority updated_at)],
        types   => { priority => 'int' },
    },
    global_properties => {
        table   => 'global_properties', key => 'name',
        columns => [qw(name value updated_at)],
        types   => {},
    },
    notes => {   # the mode=append section of xport_import_append
        table   => 'notes', key => 'id',
        columns => [qw(id author_id body created_at)],
        types   => {},
    },
    slow => {
        table   => 'slow_events', key => 'id',
        columns => [qw(id grp n payload created_at burn)],
        types   => { n => 'int', burn => 'int' },
    },
};

my $UA;

sub _ua {
    $UA ||= LWP::UserAgent->new(timeout => 60, keep_alive => 0,
                                max_redirect => 0);
    return $UA;
}

# Base URL of a virtual host ('default' = the main server).
sub hostport { return _hostport(@_) }

sub _hostport {
    my ($vhost) = @_;
    local $Apache::TestRequest::Module = $vhost || 'default';
    return Apache::TestRequest::hostport(Apache::Test::config());
}

# api(METHOD, PATH, user => 'alice', vhost => 'xport_slow', base => '/xport',
#     json => {...} | form => {...} | body => '...', type => 'ctype',
#     headers => [name => value, ...])
# PATH is relative to the <Location> (base). user => undef sends no
# credentials. Returns the HTTP::Response.
sub api {
    my ($method, $path, %o) = @_;
    my $base = exists $o{base} ? $o{base} : '/xport';
    my $url  = $path =~ m{^https?://} ? $path
             : 'http://' . _hostport($o{vhost}) . $base . $path;
    my $req = HTTP::Request->new($method => $url);
    my $user = exists $o{user} ? $o{user} : 'alice';
    $req->authorization_basic($user, $user) if defined $user && $base eq '/xport';
    if ($o{json}) {
        $req->content($JSON->encode($o{json}));
        $req->header('Content-Type' => 'application/json');
    }
    elsif ($o{form}) {
        my $u = URI->new('http:');
        $u->query_form(%{ $o{form} });
        $req->content($u->query);
        $req->header('Content-Type' => 'application/x-www-form-urlencoded');
    }
    elsif (defined $o{body}) {
        $req->content($o{body});
    }
    $req->header('Content-Type' => $o{type}) if $o{type};
    $req->header('Content-Length' => length($req->content // ''))
        if $method =~ /^(POST|PUT|PATCH)$/;
    my @h = @{ $o{headers} || [] };
    while (my ($k, $v) = splice @h, 0, 2) { $req->header($k => $v) }
    return _ua()->request($req);
}

sub json_of {
    my ($res) = @_;
    my $c = $res->content;
    return undef unless defined $c && length $c;
    my $v = eval { $JSON->decode($c) };
    return $v;
}

# The body as a JSON object / array, or an empty one (never dies).
sub json_obj { my $v = json_of($_[0]); return ref $v eq 'HASH' ? $v : {} }
sub json_list { my $v = json_of($_[0]); return ref $v eq 'ARRAY' ? $v : [] }

# A problem+json body as RFC 9457 describes it, with the given status.
sub is_problem {
    my ($res, $status) = @_;
    my $ct = $res->header('Content-Type') // '';
    return 0 unless $ct =~ m{^application/problem\+json};
    my $p = json_obj($res);
    for (qw(type title status detail)) { return 0 unless defined $p->{$_} }
    return 0 unless $p->{status} =~ /^\d+$/ && $p->{status} == $status
        && $res->code == $status;
    return 1;
}

# POST /exports with a JSON body; returns (response, record).
sub create_export {
    my (%o) = @_;
    my $params = delete $o{params};
    my $res = api('POST', '/exports', %o, json => $params);
    return ($res, $res->code == 202 ? json_obj($res) : undef);
}

# kind => 'imports' reads an import (default: exports).
sub job_of {
    my ($id, %o) = @_;
    return undef unless defined $id;
    my $kind = delete $o{kind} || 'exports';
    my $res = api('GET', "/$kind/$id", %o);
    return $res->code == 200 ? json_obj($res) : undef;
}

# Poll cond->() until it is true (up to timeout seconds); its last value.
sub wait_for (&$) {
    my ($cond, $timeout) = @_;
    my $end = time + $timeout;
    while (time < $end) { my $v = $cond->(); return $v if $v; sleep 0.1 }
    return $cond->();
}

# Poll until the job is finished (or cond->(record) is true); returns the
# last record (undef if it vanished). timeout in seconds.
sub wait_job {
    my ($id, %o) = @_;
    my $timeout = delete $o{timeout} || 60;
    my $cond = delete $o{until} || sub { $_[0]{finished} };
    my $end = time + $timeout;
    my $rec;
    while (1) {
        $rec = job_of($id, %o);
        return $rec if !$rec || $cond->($rec);
        return $rec if time > $end;
        sleep 0.1;
    }
}

sub wait_status {
    my ($id, $status, %o) = @_;
    return wait_job($id, %o, until => sub { $_[0]{status} eq $status });
}

sub download {
    my ($id, %o) = @_;
    return api('GET', '/exports/' . ($id // 'none') . '/download', %o);
}

sub base64_sha256 {
    my $b = encode_base64(sha256($_[0]), '');
    return $b;
}

# ------------------------------------------------------------------
# The application database
# ------------------------------------------------------------------

sub _run_capture {
    my (@cmd) = @_;
    open(my $fh, '-|', @cmd) or die "cannot run $cmd[0]: $!";
    local $/;
    my $out = <$fh>;
    close $fh or die "$cmd[0] failed (exit " . ($? >> 8) . "): @cmd\n";
    return $out // '';
}

# A database by name: 'main' (the data source of this phase), 'sqlite' or
# 'pgsql' (the import target of that backend), 'target' (the import target
# of this phase's backend, behind xport_import_append/_limits), 'gate'
# (the gated section's), 'jobs' (the job store).
sub _db {
    my ($which) = @_;
    my $backend = $ENV{XPORT_BACKEND} || 'sqlite';
    return [ pgsql => $ENV{XPORT_GATE_PG_DB} ] if ($which // '') eq 'gate';
    if (($which // '') eq 'jobs') {
        return [ sqlite => $ENV{XPORT_STORE_PARAMS} ]
            if ($ENV{XPORT_STORE_DRIVER} // '') eq 'sqlite3';
        my ($db) = ($ENV{XPORT_STORE_PARAMS} // '') =~ /dbname=(\S+)/;
        return [ pgsql => $db ];
    }
    $which = $backend if ($which // 'main') eq 'target';
    return $backend eq 'pgsql' ? [ pgsql => $ENV{XPORT_PG_DB} ]
                               : [ sqlite => $ENV{XPORT_SQLITE_DB} ]
        if !defined $which || $which eq 'main';
    if ($which eq 'chat' || $which eq 'chat_empty') { # the chat service demo
        my $pg = ($ENV{XPORT_CHAT_DRIVER} // '') eq 'pgsql';
        my $name = $which eq 'chat' ? 'xportchat' : 'xportchatempty';
        return $pg ? [ pgsql => $name ]
                   : [ sqlite => $ENV{ $which eq 'chat' ? 'XPORT_CHAT_PARAMS'
                                                        : 'XPORT_CHAT_EMPTY_PARAMS' } ];
    }
    if ($which eq 'ocl') { # the terminology server demo
        return ($ENV{XPORT_OCL_DRIVER} // '') eq 'pgsql' ? [ pgsql => 'xportocl' ]
                                                         : [ sqlite => $ENV{XPORT_OCL_PARAMS} ];
    }
    if ($which eq 'spark') { # the rules platform demo
        return ($ENV{XPORT_SPARK_DRIVER} // '') eq 'pgsql' ? [ pgsql => 'xportspark' ]
                                                           : [ sqlite => $ENV{XPORT_SPARK_PARAMS} ];
    }
    return [ pgsql => $ENV{XPORT_IMPORT_PG_DB} ] if $which eq 'pgsql';
    return [ sqlite => $ENV{XPORT_IMPORT_SQLITE_DB} ] if $which eq 'sqlite';
    die "no database named $which";
}

sub _psql {
    my ($db, @args) = @_;
    return ('psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', $ENV{PG_SOCKDIR},
            '-p', $ENV{PG_PORT}, '-U', $ENV{PG_USER}, '-d', $db, @args);
}

# Rows of an SQL query as array of hashes (values as text, undef for NULL).
sub db_rows { return db_rows_in('main', @_) }

sub db_rows_in {
    my ($which, $sql) = @_;
    my ($kind, $db) = @{ _db($which) };
    my $out;
    if ($kind eq 'pgsql') {
        $out = _run_capture(_psql($db,
            '-c', "SELECT coalesce(json_agg(q), '[]'::json) FROM ($sql) q"));
    }
    else {
        $out = _run_capture('sqlite3', '-json', '-bail', '-cmd', '.timeout 20000',
                            $db, $sql);
    }
    $out =~ s/^\s+|\s+$//g;
    my $rows = length $out ? $JSON->decode($out) : [];
    for my $r (@$rows) {
        for my $k (keys %$r) { $r->{$k} = "$r->{$k}" if defined $r->{$k} }
    }
    return $rows;
}

# Run SQL statements (no result) on a database named as for db_rows_in.
sub db_exec_in {
    my ($which, $sql) = @_;
    my ($kind, $db) = @{ _db($which) };
    my @cmd = $kind eq 'pgsql'
        ? _psql($db, '-q', '-c', $sql)
        : ('sqlite3', '-bail', '-cmd', '.timeout 20000', $db, $sql);
    _run_capture(@cmd);
    return 1;
}

# Tables of the import targets, children first (the order to empty them).
use constant TARGET_TABLES => [qw(notes jobs messages scripts bots users global_properties)];

# Empty every table of an import target ('sqlite', 'pgsql' or 'target').
sub target_reset {
    my ($which) = @_;
    db_exec_in($which, join '; ', map { "DELETE FROM $_" } @{ +TARGET_TABLES });
}

# Rows of a section in a database named as for db_rows_in, in key order.
sub section_rows_in {
    my ($which, $section) = @_;
    my $s = SECTION_TABLES->{$section} or die "no section $section";
    my $cols = join ', ', @{ $s->{columns} };
    my $rows = db_rows_in($which, "SELECT $cols FROM $s->{table}");
    return [ sort { $a->{ $s->{key} } cmp $b->{ $s->{key} } } @$rows ];
}

# Every row of every target table: { table => [rows in key order] }, to
# show that a failed import left the database exactly as it was.
sub target_snapshot {
    my ($which) = @_;
    my %snap;
    for my $sec (qw(users bots messages scripts jobs global_properties notes)) {
        $snap{$sec} = section_rows_in($which, $sec);
    }
    return \%snap;
}

sub target_count {
    my ($which, $table) = @_;
    return db_rows_in($which, "SELECT count(*) AS n FROM $table")->[0]{n};
}

# Sorted keys of a section's rows matching an SQL condition.
sub db_keys {
    my ($section, $where) = @_;
    my $s = SECTION_TABLES->{$section} or die "no section $section";
    my $sql = "SELECT $s->{key} AS k FROM $s->{table}"
            . ($where ? " WHERE $where" : '');
    return [ sort map { $_->{k} } @{ db_rows($sql) } ];
}

# Full rows (in key order, as the archive holds them) of a section.
sub section_rows_from_db {
    my ($section, $where) = @_;
    my $s = SECTION_TABLES->{$section} or die "no section $section";
    my $cols = join ', ', @{ $s->{columns} };
    my $rows = db_rows("SELECT $cols FROM $s->{table}"
                       . ($where ? " WHERE $where" : ''));
    return [ sort { $a->{ $s->{key} } cmp $b->{ $s->{key} } } @$rows ];
}

# ------------------------------------------------------------------
# Archives
# ------------------------------------------------------------------

# Read a downloaded archive back with the system tools. Returns
# { names => [entry names in archive order], data => { name => bytes } }.
sub read_archive {
    my ($bytes, $format) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $file = "$dir/archive.$format";
    open(my $fh, '>:raw', $file) or die "$file: $!";
    print $fh $bytes;
    close $fh;
    my $out = "$dir/x";
    mkdir $out or die "$out: $!";
    my @names;
    if ($format eq 'tar.gz') {
        @names = split /\n/, _run_capture('tar', '-tzf', $file);
        system('tar', '-xzf', $file, '-C', $out) == 0 or die "tar -x failed";
    }
    elsif ($format eq 'tar.zst') {
        system("zstd -q -d -c '$file' > '$dir/archive.tar'") == 0
            or die "zstd -d failed";
        @names = split /\n/, _run_capture('tar', '-tf', "$dir/archive.tar");
        system('tar', '-xf', "$dir/archive.tar", '-C', $out) == 0
            or die "tar -x failed";
    }
    elsif ($format eq 'zip') {
        @names = split /\n/, _run_capture('unzip', '-Z1', $file);
        system('unzip', '-q', $file, '-d', $out) == 0 or die "unzip failed";
    }
    else {
        die "read_archive: not an archive format: $format";
    }
    my %data;
    for my $n (@names) {
        next if $n =~ m{/$};
        open(my $in, '<:raw', "$out/$n") or die "$n: $!";
        local $/;
        $data{$n} = <$in>;
        close $in;
    }
    return { names => [ grep { !m{/$} } @names ], data => \%data };
}

# Decode NDJSON bytes into an array of hashes (dies on a bad line).
sub ndjson_rows {
    my ($bytes) = @_;
    my @rows;
    for my $line (split /\n/, $bytes) {
        push @rows, $JSON->decode($line);
    }
    return \@rows;
}

# The keys of one NDJSON line's top-level object, in the order written.
sub ndjson_keys_in_order {
    my ($line) = @_;
    my @keys;
    my $str = qr/"(?:[^"\\]|\\.)*"/s;
    my $val = qr/$str|\{.*?\}|\[.*?\]|[^,}\]]+/s;
    while ($line =~ /\G\s*[{,]\s*($str)\s*:\s*(?:$val)\s*/gc) {
        push @keys, JSON::PP->new->allow_nonref->decode($1);
    }
    return \@keys;
}

# ------------------------------------------------------------------
# Storage and processes
# ------------------------------------------------------------------

# Files (not directories) under XportStorage/<sub>, relative names.
sub storage_files {
    my ($sub) = @_;
    my $dir = "$ENV{XPORT_STORAGE}/$sub";
    return () unless -d $dir;
    opendir(my $dh, $dir) or return ();
    my @f = grep { !/^\.\.?$/ && -f "$dir/$_" } readdir $dh;
    closedir $dh;
    return sort @f;
}

# Files in exports/ and tmp/ whose name contains the job id.
sub storage_leftovers {
    my ($id) = @_;
    return ('(no job id)') unless defined $id && length $id;
    return grep { index($_, $id) >= 0 }
           (storage_files('exports'), storage_files('tmp'));
}

sub httpd_parent_pid {
    my $file = Apache::Test::vars('t_pid_file')
            || Apache::Test::vars('t_logs') . '/httpd.pid';
    open(my $fh, '<', $file) or return undef;
    my $pid = <$fh>;
    close $fh;
    chomp $pid if defined $pid;
    return $pid;
}

sub _ppid_of {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/stat") or return -1;
    my $stat = <$fh>;
    close $fh;
    # pid (comm) state ppid ...; comm may contain spaces
    return $stat =~ /\)\s+\S+\s+(\d+)/ ? $1 : -1;
}

sub _zombie {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/stat") or return 1;
    my $stat = <$fh> // '';
    close $fh;
    return $stat =~ /\)\s+Z\s/ ? 1 : 0;
}

# Live (not zombie) children of the httpd parent.
sub httpd_children {
    my $parent = httpd_parent_pid() or return ();
    opendir(my $dh, '/proc') or return ();
    my @kids = grep { /^\d+$/ && _ppid_of($_) == $parent && !_zombie($_) } readdir $dh;
    closedir $dh;
    return sort { $a <=> $b } @kids;
}

# The mod_xport worker process. Tried in order:
#  1. <XportStorage>/worker.pid, if the module writes one;
#  2. the httpd child whose process name (comm, set with prctl; the
#     module names it "xport-worker") mentions xport;
#  3. the httpd child holding a file under <XportStorage>/tmp open (the
#     process running an export) or under uploads/ (running an import;
#     call it when no upload is being received).
sub worker_pid {
    my $storage = $ENV{XPORT_STORAGE};
    my @kids = httpd_children();
    my %kid = map { $_ => 1 } @kids;
    if (open(my $fh, '<', "$storage/worker.pid")) {
        my $pid = <$fh>;
        close $fh;
        if (defined $pid && $pid =~ /(\d+)/ && $kid{$1}) { return $1 }
    }
    for my $pid (@kids) {
        open(my $fh, '<', "/proc/$pid/comm") or next;
        my $name = <$fh> // '';
        close $fh;
        return $pid if $name =~ /xport/i;
    }
    for my $pid (@kids) {
        opendir(my $dh, "/proc/$pid/fd") or next;
        for my $fd (grep { /^\d+$/ } readdir $dh) {
            my $t = readlink("/proc/$pid/fd/$fd") // next;
            return $pid if index($t, "$storage/tmp/") == 0
                        || index($t, "$storage/uploads/") == 0;
        }
        closedir $dh;
    }
    return undef;
}

# An httpd child other than the worker holding open a file whose path
# starts with PREFIX (the child serving a download or receiving an
# upload), or undef.
sub serving_child_with {
    my ($prefix) = @_;
    my $worker = worker_pid() // 0;
    for my $pid (httpd_children()) {
        next if $pid == $worker;
        opendir(my $dh, "/proc/$pid/fd") or next;
        for my $fd (grep { /^\d+$/ } readdir $dh) {
            my $t = readlink("/proc/$pid/fd/$fd") // next;
            return $pid if index($t, $prefix) == 0;
        }
        closedir $dh;
    }
    return undef;
}

# Does the main server answer GET /exports with 200?
sub server_answers {
    my $res = eval { api('GET', '/exports', user => 'alice') };
    return $res && $res->code == 200 ? 1 : 0;
}

# Wait (up to TIMEOUT s) until process PID is gone; true if it is.
sub httpd_wait_gone {
    my ($pid, $timeout) = @_;
    my $end = time + ($timeout || 30);
    while (time < $end) {
        return 1 unless kill(0, $pid) && !_zombie($pid);
        sleep 0.2;
    }
    return 0;
}

# Start the test server again after a test stopped it, with the command
# line the runner used (Apache::TestServer's start_cmd: same httpd, same
# configuration, same environment) and any further arguments ('-D NAME');
# true once it answers.
sub httpd_start {
    my $cmd = join ' ', Apache::Test::config()->server->start_cmd, @_;
    my $out = `$cmd 2>&1`;
    if ($? != 0) {
        print STDERR "# httpd_start: $cmd: exit " . ($? >> 8) . "\n# $out\n";
        return 0;
    }
    my $end = time + 30;
    while (time < $end) { return 1 if server_answers(); sleep 0.2 }
    return 0;
}

# The server's error_log: its current size, and what was written to it
# since an offset.
sub _error_log { return Apache::Test::vars('t_logs') . '/error_log' }

sub error_log_offset { return -s _error_log() || 0 }

sub error_log_since {
    my ($offset) = @_;
    open(my $fh, '<', _error_log()) or return '';
    seek($fh, $offset, 0);
    local $/;
    my $text = <$fh> // '';
    close $fh;
    return $text;
}

# ------------------------------------------------------------------
# More nodes (SPEC 10): httpd instances of a test's own beside the test
# server, on a PostgreSQL job store and a storage directory they share
# ------------------------------------------------------------------

sub _free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0)
        or die "no free port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# node_start(name => 'n2', workers => 0, store => PARAMS, storage => DIR,
#            source => [DRIVER, PARAMS], sections => TEXT, conf => TEXT,
#            instance => NAME, dir => DIR, port => N)
# Writes DIR/httpd.conf (the modules the suite loads, the store, data
# source, sections and storage: by default this phase's; LogLevel
# xport:info, so the log names every job's start and end) and starts it.
# Returns { name, dir, port, url (…/xport), log } once it answers, undef
# (its error_log shown) if it does not. Started again with the same
# hash: node_start(%$node).
sub node_start {
    my (%o) = @_;
    my $vars = Apache::Test::config()->{vars};
    my $dir = $o{dir} // tempdir(CLEANUP => 1);
    my $port = $o{port} // _free_port();
    my ($inherit) = grep { -f } glob("$vars->{serverroot}/../../inherit-event.conf");
    my ($sdrv, $sparams) = @{ $o{source} // [ $ENV{XPORT_SOURCE_DRIVER}, $ENV{XPORT_SOURCE_PARAMS} ] };
    my $store = $o{store} // $ENV{XPORT_STORE_PARAMS};
    my $storage = $o{storage} // $ENV{XPORT_STORAGE};
    my $sections = $o{sections} // qq{Include "$vars->{serverroot}/conf/sections.inc"};
    my $name = $o{name} // 'node';
    open(my $fh, '>', "$dir/httpd.conf") or die "$dir/httpd.conf: $!";
    print $fh 'Include "' . ($inherit // '/dev/null') . qq{"\n} . <<"CONF";
ServerName $name.test
TypesConfig /etc/mime.types
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error_log"
DefaultRuntimeDir "$dir"
Mutex file:$dir
LogLevel warn xport:info
LoadModule xport_module "$vars->{serverroot}/../build/mod_xport.so"
XportStorage "$storage"
XportJobStore pgsql "$store"
XportDataSource $sdrv "$sparams"
XportInstanceName @{[ $o{instance} // 'xporttest' ]}
XportWorkers @{[ $o{workers} // 0 ]}
XportMaxJobsPerUser 1000
$sections
<Location /xport>
    SetHandler xport
    AuthType Basic
    AuthName "xport"
    AuthUserFile "$vars->{serverroot}/conf/htpasswd"
    Require valid-user
</Location>
@{[ $o{conf} // '' ]}
CONF
    close $fh;
    my $node = { %o, name => $name, dir => $dir, port => $port,
                 url => "http://127.0.0.1:$port/xport", log => "$dir/error_log" };
    my $out = `$vars->{httpd} -f "$dir/httpd.conf" -k start 2>&1`;
    if ($? == 0) {
        my $end = time + 30;
        while (time < $end) {
            my $res = eval { api('GET', "$node->{url}/exports") };
            return $node if $res && $res->code == 200;
            sleep 0.2;
        }
    }
    print STDERR "# node $name did not start: $out\n";
    print STDERR "# $_" for `cat "$dir/error_log" 2>&1`;
    return undef;
}

# The pids of a node: its parent first, then every child (the MPM's and
# the worker, which leads a process group of its own).
sub node_pids {
    my ($node) = @_;
    open(my $fh, '<', "$node->{dir}/httpd.pid") or return ();
    my $parent = <$fh> // '';
    close $fh;
    ($parent) = $parent =~ /(\d+)/ or return ();
    return () unless kill 0, $parent;
    opendir(my $dh, '/proc') or return ($parent);
    my @kids = grep { /^\d+$/ && _ppid_of($_) == $parent && !_zombie($_) } readdir $dh;
    closedir $dh;
    return ($parent, sort { $a <=> $b } @kids);
}

# A node's worker process (named xport-worker), or undef.
sub node_worker {
    my ($node) = @_;
    my (undef, @kids) = node_pids($node);
    for my $pid (@kids) {
        open(my $fh, '<', "/proc/$pid/comm") or next;
        my $name = <$fh> // '';
        close $fh;
        return $pid if $name =~ /xport/;
    }
    return undef;
}

# Stop a node (SIGTERM to its parent), true once all of it is gone.
sub node_stop {
    my ($node) = @_;
    my @pids = node_pids($node) or return 1;
    kill 'TERM', $pids[0];
    return !grep { !httpd_wait_gone($_, 30) } @pids;
}

# Kill every process of a node with SIGKILL, as a machine that dies
# would; true once they are gone.
sub node_kill {
    my ($node) = @_;
    my @pids = node_pids($node);
    kill 'KILL', @pids;
    return !grep { !httpd_wait_gone($_, 30) } @pids;
}

# A graceful restart of a node (SIGUSR1, what apachectl -k graceful
# sends); true once its log says the new generation runs and it answers.
sub node_graceful {
    my ($node) = @_;
    my ($parent) = node_pids($node) or return 0;
    my $from = -s $node->{log} || 0;
    kill 'USR1', $parent;
    return wait_for {
        open(my $fh, '<', $node->{log}) or return 0;
        seek($fh, $from, 0);
        local $/;
        my $text = <$fh> // '';
        close $fh;
        my $res = $text =~ /resuming normal operations/
            ? eval { api('GET', "$node->{url}/exports") } : undef;
        $res && $res->code == 200;
    } 60;
}

# ------------------------------------------------------------------
# The gate and the job store
# ------------------------------------------------------------------

# Exports of host xport_gate read 1500 rows, then wait while the test
# holds PostgreSQL advisory lock 4242 (t/data/gate-pgsql.sql). The lock
# is held by a psql session of its own, which gate_release ends.

sub _gate_locks {
    my ($which) = @_;
    return db_rows_in('gate', "SELECT count(*) AS n FROM pg_locks WHERE "
        . "locktype = 'advisory' AND objid = 4242 AND $which")->[0]{n};
}

# Run $sql in a psql session of its own on database $which (as for
# db_rows_in, PostgreSQL) that stays open, holding what it locked, until
# pg_release; true once $held (a query answering n) says n > 0.
my %HOLD;

sub pg_hold {
    my ($which, $sql, $held) = @_;
    pg_release($which);
    my ($kind, $db) = @{ _db($which) };
    my $pid = open(my $fh, '|-') // die "fork: $!";
    if (!$pid) {
        open(STDOUT, '>', '/dev/null');
        exec(_psql($db, '-q')) or exit 1;
    }
    my $old = select $fh;
    $| = 1;
    select $old;
    print $fh "$sql\n";
    $HOLD{$which} = $fh;
    my $end = time + 30;
    while (time < $end) { return 1 if db_rows_in($which, $held)->[0]{n}; sleep 0.1 }
    return 0;
}

# End the session of pg_hold: what waited on its locks goes on.
sub pg_release {
    my ($which) = @_;
    close $HOLD{$which} if $HOLD{$which};
    delete $HOLD{$which};
    return 1;
}

# Take the gate; true once PostgreSQL shows it held.
sub gate_hold {
    return pg_hold('gate', 'SELECT pg_advisory_lock(4242);', 'SELECT count(*) AS n FROM '
                   . "pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted");
}

# Let go: the reads waiting on the gate go on.
sub gate_release { return pg_release('gate') }

# How many reads wait on the gate (pg_locks: requests not granted).
sub gate_waiters { return _gate_locks('NOT granted') }

# (close sets $?, which at END is the test's exit status)
END { local $?; pg_release($_) for keys %HOLD }

# A job's row in the job store, read directly (what the API does not
# show): { status, attempts, owner }, or undef.
sub store_job {
    my ($id) = @_;
    return undef unless ($id // '') =~ /^[0-9a-f]+$/;
    return db_rows_in('jobs', "SELECT status, attempts, owner FROM xport_jobs "
                      . "WHERE id = '$id'")->[0];
}

# ------------------------------------------------------------------
# Imports
# ------------------------------------------------------------------

# The virtual host in front of an import target: 'sqlite' or 'pgsql'.
sub target_vhost { return "xport_import_$_[0]" }

sub import_of { my ($id, %o) = @_; return job_of($id, %o, kind => 'imports') }

sub wait_import {
    my ($id, %o) = @_;
    return wait_job($id, timeout => 120, %o, kind => 'imports');
}

# A multipart/form-data body: parts are { name, data, filename, type }.
sub multipart_body {
    my ($boundary, @parts) = @_;
    my $body = '';
    for my $p (@parts) {
        $body .= "--$boundary\r\nContent-Disposition: form-data; name=\"$p->{name}\"";
        $body .= qq{; filename="$p->{filename}"} if defined $p->{filename};
        $body .= "\r\n";
        $body .= "Content-Type: $p->{type}\r\n" if $p->{type};
        $body .= "\r\n$p->{data}\r\n";
    }
    return $body . "--$boundary--\r\n";
}

# POST /imports. archive => bytes; raw => media type sends them as the
# body with fields in the query string, else multipart/form-data with the
# archive in part `import` (filename, part_type) and fields as parts.
# fields => [name => value, ...]. Returns (response, record or undef).
sub post_import {
    my (%o) = @_;
    my @fields = @{ delete $o{fields} || [] };
    my $archive = delete $o{archive};
    my $raw = delete $o{raw};
    my $filename = delete $o{filename} // 'archive.tar.gz';
    my $ptype = delete $o{part_type} // 'application/gzip';
    my $res;
    if ($raw) {
        my $u = URI->new('http:');
        $u->query_form(@fields);
        my $q = $u->query;
        $res = api('POST', '/imports' . (defined $q && length $q ? "?$q" : ''),
                   %o, body => $archive, type => $raw);
    }
    else {
        my $b = 'xpB' . int(rand(1e9)) . 'x';
        my @parts;
        while (my ($k, $v) = splice @fields, 0, 2) { push @parts, { name => $k, data => $v } }
        push @parts, { name => 'import', filename => $filename, type => $ptype,
                       data => $archive };
        $res = api('POST', '/imports', %o, body => multipart_body($b, @parts),
                   type => "multipart/form-data; boundary=$b");
    }
    return ($res, $res->code == 202 ? json_obj($res) : undef);
}

# POST a body streamed in 64 KiB pieces (never whole in this process):
# pieces are strings or { file => path }. chunked => 1 sends no
# Content-Length (Transfer-Encoding: chunked). Returns the response.
sub post_stream {
    my ($path, $ctype, $pieces, %o) = @_;
    my $url = 'http://' . _hostport($o{vhost}) . '/xport' . $path;
    my $req = HTTP::Request->new(POST => $url);
    my $user = exists $o{user} ? $o{user} : 'alice';
    $req->authorization_basic($user, $user) if defined $user;
    $req->header('Content-Type' => $ctype);
    my $len = 0;
    $len += ref $_ ? -s $_->{file} : length $_ for @$pieces;
    $req->header('Content-Length' => $len) unless $o{chunked};
    my @todo = @$pieces;
    my $fh;
    $req->content(sub {
        while (1) {
            if ($fh) {
                my $n = read($fh, my $buf, 65536);
                return $buf if $n;
                close $fh;
                undef $fh;
            }
            my $p = shift @todo;
            return '' unless defined $p;
            return $p unless ref $p;
            open($fh, '<:raw', $p->{file}) or die "$p->{file}: $!";
        }
    });
    return _ua()->request($req);
}

# A ustar archive of entries { name, data, type ('0' file, '1' hard link,
# '2' symlink, '5' directory), link }, written here so that tests control
# order, duplicates and entry types.
sub tar_bytes {
    my (@entries) = @_;
    my $out = '';
    for my $e (@entries) {
        my $type = $e->{type} // '0';
        my $data = $type eq '0' ? $e->{data} // '' : '';
        my $h = pack('a100 a8 a8 a8 a12 a12 a8 a1 a100 a6 a2 a32 a32 a8 a8 a155 x12',
                     $e->{name}, sprintf('%07o', $type eq '5' ? 0755 : 0644),
                     sprintf('%07o', 0), sprintf('%07o', 0),
                     sprintf('%011o', length $data), sprintf('%011o', 1763800000),
                     ' ' x 8, $type, $e->{link} // '', 'ustar', '00', 'root', 'root',
                     '', '', '');
        substr($h, 148, 8) = sprintf("%06o\0 ", unpack('%32C*', $h));
        $out .= $h . $data . ("\0" x ((512 - length($data) % 512) % 512));
    }
    return $out . ("\0" x 1024);
}

sub gzip_bytes {
    my ($in) = @_;
    require IO::Compress::Gzip;
    IO::Compress::Gzip::gzip(\$in => \my $out) or die "gzip failed";
    return $out;
}

sub zstd_bytes {
    my ($in) = @_;
    my $dir = tempdir(CLEANUP => 1);
    open(my $fh, '>:raw', "$dir/in") or die $!;
    print $fh $in;
    close $fh;
    system('zstd', '-q', '-f', "$dir/in", '-o', "$dir/in.zst") == 0 or die "zstd failed";
    open($fh, '<:raw', "$dir/in.zst") or die $!;
    local $/;
    my $out = <$fh>;
    close $fh;
    return $out;
}

# A zip of entries { name, data } (deflated).
sub zip_bytes {
    my (@entries) = @_;
    require IO::Compress::Zip;
    my $out;
    my $z;
    for my $e (@entries) {
        if ($z) { $z->newStream(Name => $e->{name}) or die "zip failed" }
        else {
            $z = IO::Compress::Zip->new(\$out, Name => $e->{name},
                                        Method => IO::Compress::Zip::ZIP_CM_DEFLATE())
                or die "zip failed";
        }
        print $z $e->{data};
    }
    $z->close;
    return $out;
}

# One NDJSON line of a section from a hash: keys in column order, values
# typed per the section's types (bool true/false, int a number), undef
# null; keys that are not columns follow, sorted.
sub ndjson_line {
    my ($section, $row) = @_;
    my $s = SECTION_TABLES->{$section} or die "no section $section";
    my $enc = JSON::PP->new->utf8->allow_nonref->canonical;
    my %col = map { $_ => 1 } @{ $s->{columns} };
    my @parts;
    for my $k (@{ $s->{columns} }, sort grep { !$col{$_} } keys %$row) {
        next unless exists $row->{$k};
        my $v = $row->{$k};
        my $t = $s->{types}{$k} // '';
        my $json = !defined $v     ? 'null'
                 : ref $v          ? $enc->encode($v)
                 : $t eq 'bool'    ? ($v ? 'true' : 'false')
                 : $t eq 'int'     ? 0 + $v
                 : $enc->encode("$v");
        push @parts, $enc->encode($k) . ':' . $json;
    }
    return '{' . join(',', @parts) . '}';
}

# A users row like the demo's, with fields overridden.
sub user_row {
    my ($id, %over) = @_;
    return { id => $id, name => "User $id", email => "$id\@example.org",
             favorite_color => 'red', selected => 0, notes => "note $id",
             created_at => '2025-01-01T00:00:17Z', updated_at => '2026-01-01T00:00:17Z',
             %over };
}

# An archive for the import tests. sections => [ { name, lines => [text]
# or rows => [hash], and any manifest field to override (count, sha256,
# columns, key, file, bytes) } ]; manifest => { top-level overrides };
# manifest_text => raw manifest; extra => [entries after the data],
# manifest_last => 1; skip_data => [section names whose entry is left
# out]; format => tar.gz (default) | tar | tar.zst | zip.
sub make_archive {
    my (%o) = @_;
    my (@msecs, @data);
    my %skip = map { $_ => 1 } @{ $o{skip_data} || [] };
    for my $sec (@{ $o{sections} || [] }) {
        my %sec = %$sec;
        my $name = delete $sec{name};
        my $lines = delete $sec{lines}
            || [ map { ndjson_line($name, $_) } @{ delete $sec{rows} || [] } ];
        my $bytes = join '', map { "$_\n" } @$lines;
        my $st = SECTION_TABLES->{$name} || { key => 'id', columns => [] };
        push @msecs, { name => $name, file => "data/$name.ndjson", key => $st->{key},
                       columns => $st->{columns}, count => scalar(@$lines),
                       bytes => length $bytes, sha256 => sha256_hex($bytes),
                       window => undef, %sec };
        push @data, { name => "data/$name.ndjson", data => $bytes } unless $skip{$name};
    }
    my $manifest = $o{manifest_text} // $JSON->encode({
        format => 'xport-archive', version => 1, generator => 'mod_xport/test',
        created_at => '2026-11-22T10:00:03.417Z', instance => 'testgen',
        filter => join("\n", map { $_->{name} } @msecs), since => undef, until => undef,
        closure => JSON::PP::false(), sections => \@msecs, %{ $o{manifest} || {} } });
    my @entries = (@data, @{ $o{extra} || [] });
    if ($o{manifest_last}) { push @entries, { name => 'manifest.json', data => $manifest } }
    else { unshift @entries, { name => 'manifest.json', data => $manifest } }
    my $format = $o{format} // 'tar.gz';
    return zip_bytes(@entries) if $format eq 'zip';
    my $tar = tar_bytes(@entries);
    return $tar if $format eq 'tar';
    return zstd_bytes($tar) if $format eq 'tar.zst';
    return gzip_bytes($tar);
}

# Export from a host and read the archive back: returns { rec, bytes,
# arc } (arc as read_archive gives it), or undef with a diagnostic.
sub export_archive {
    my (%o) = @_;
    my $format = delete $o{format} // 'tar.gz';
    my $filter = delete $o{filter};
    my ($res, $rec) = create_export(%o, params => { filter => $filter, format => $format });
    unless ($rec) { Test::More::diag('export: ' . $res->as_string); return undef }
    my $done = wait_job($rec->{id}, %o) || {};
    unless (($done->{status} // '') eq 'completed') {
        Test::More::diag('export did not complete: ' . $JSON->encode($done));
        return undef;
    }
    $res = download($rec->{id}, %o);
    return undef unless $res->code == 200;
    my $arc = $format =~ /^(tar\.gz|tar\.zst|zip)$/ ? read_archive($res->content, $format) : undef;
    return { rec => $done, bytes => $res->content, arc => $arc };
}

# Peak resident memory (VmHWM, kB) of a process, undef if gone.
sub vm_hwm {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/status") or return undef;
    while (my $line = <$fh>) { return $1 if $line =~ /^VmHWM:\s+(\d+)\s+kB/ }
    return undef;
}

# ------------------------------------------------------------------
# Hostile archives (t/20_hostile_archives.t)
# ------------------------------------------------------------------

# The bytes of a file.
sub file_bytes {
    my ($path) = @_;
    open(my $fh, '<:raw', $path) or die "$path: $!";
    local $/;
    my $b = <$fh>;
    close $fh;
    return $b // '';
}

# Total size in bytes of the regular files under a directory.
sub tree_bytes {
    my ($dir) = @_;
    my $n = 0;
    require File::Find;
    File::Find::find({ no_chdir => 1, wanted => sub { $n += -s $_ if -f $_ } }, $dir);
    return $n;
}

# Paths in the given directories, or up to `depth` levels below them,
# whose name contains $tag: what an evil entry would have created.
# Globs, not a walk: a PostgreSQL cluster or /proc below must cost
# nothing.
sub paths_named {
    my ($tag, $depth, @dirs) = @_;
    my %hits;
    for my $top (@dirs) {
        my $pat = $top eq '/' ? '' : $top;
        for (0 .. $depth) {
            $hits{$_} = 1 for grep { -e $_ || -l $_ } glob("$pat/*$tag*");
            $pat .= '/*';
        }
    }
    return sort keys %hits;
}

# Every row of every target table as text, in one client process (what
# target_snapshot gives, at a fraction of the cost, for tests that compare
# before and after many times).
sub target_dump {
    my ($which) = @_;
    my ($kind, $db) = @{ _db($which) };
    my @q = map { "SELECT '$_', * FROM $_ ORDER BY 2" } @{ +TARGET_TABLES };
    return $kind eq 'pgsql'
        ? _run_capture(_psql($db, map { ('-c', $_) } @q))
        : _run_capture('sqlite3', '-bail', '-cmd', '.timeout 20000', $db, join '; ', @q);
}

# Write a tar of entries { name, data } or { name, fill, size } (size
# bytes of the string fill repeated, written piece by piece so that a
# 100 MB entry never sits in memory) to $path.
sub tar_file {
    my ($path, @entries) = @_;
    open(my $fh, '>:raw', $path) or die "$path: $!";
    for my $e (@entries) {
        my $size = defined $e->{fill} ? $e->{size} : length($e->{data} // '');
        my $h = substr(tar_bytes({ name => $e->{name}, data => '' }), 0, 512);
        substr($h, 124, 12) = sprintf('%011o', $size) . "\0";
        substr($h, 148, 8) = ' ' x 8;
        substr($h, 148, 8) = sprintf("%06o\0 ", unpack('%32C*', $h));
        print $fh $h;
        if (defined $e->{fill}) {
            my $piece = $e->{fill} x int(1048576 / length $e->{fill});
            my $left = $size;
            while ($left > 0) {
                my $n = $left < length $piece ? $left : length $piece;
                print $fh substr($piece, 0, $n);
                $left -= $n;
            }
        }
        else { print $fh $e->{data} // '' }
        print $fh "\0" x ((512 - $size % 512) % 512);
    }
    print $fh "\0" x 1024;
    close $fh or die "$path: $!";
    return $path;
}

# A zip whose central directory gets, for each of @names, one more record
# pointing at the local header of entry $from: entries that overlap (the
# same compressed bytes expand once per record).
sub zip_add_overlap {
    my ($zip, $from, @names) = @_;
    my $eocd = rindex($zip, "PK\x05\x06");
    die "no end of central directory" if $eocd < 0;
    my ($ndisk, $ntotal, $cdsize, $cdoff) = unpack('v v V V', substr($zip, $eocd + 8, 12));
    my ($pos, $rec) = ($cdoff, undef);
    while ($pos < $cdoff + $cdsize) {
        my ($nlen, $xlen, $clen) = unpack('v v v', substr($zip, $pos + 28, 6));
        my $len = 46 + $nlen + $xlen + $clen;
        $rec = substr($zip, $pos, $len) if substr($zip, $pos + 46, $nlen) eq $from;
        $pos += $len;
    }
    die "no entry $from" unless defined $rec;
    my ($nlen) = unpack('v', substr($rec, 28, 2));
    my $more = '';
    for my $n (@names) {
        my $r = $rec;
        substr($r, 46, $nlen) = $n;
        substr($r, 28, 2) = pack('v', length $n);
        $more .= $r;
    }
    my $cd = substr($zip, $cdoff, $cdsize) . $more;
    my $tail = substr($zip, $eocd);
    substr($tail, 8, 12) = pack('v v V V', $ndisk + @names, $ntotal + @names,
                                length $cd, $cdoff);
    return substr($zip, 0, $cdoff) . $cd . $tail;
}

# Write to $path a gzip file that expands to $head followed by $zeros
# zero bytes, made of concatenated gzip members (RFC 1952 allows them):
# one for $head, then copies of one member of 64 MiB of zeros, so that a
# multi-GB bomb costs a second to make instead of a minute of gzip -1.
# $zeros must be a multiple of 64 MiB plus at most 64 MiB.
sub gzip_zero_bomb {
    my ($path, $head, $zeros) = @_;
    require IO::Compress::Gzip;
    my $chunk = 64 * 1024 * 1024;
    my $zero_member;
    my $z = "\0" x $chunk;
    IO::Compress::Gzip::gzip(\$z => \$zero_member, -Level => 9, Minimal => 1)
        or die "gzip failed";
    undef $z;
    open(my $fh, '>:raw', "$path.part") or die "$path: $!";
    print $fh gzip_bytes($head);
    while ($zeros >= $chunk) { print $fh $zero_member; $zeros -= $chunk }
    if ($zeros > 0) {
        my $rest = "\0" x $zeros;
        IO::Compress::Gzip::gzip(\$rest => \my $m, -Level => 9, Minimal => 1) or die;
        print $fh $m;
    }
    close $fh or die "$path: $!";
    rename "$path.part", $path or die "$path: $!";
    return -s $path;
}

# ------------------------------------------------------------------
# Raw HTTP over a socket
# ------------------------------------------------------------------

# raw_request(method => 'POST', path => '/xport/imports', vhost => ...,
#   user => 'alice' (undef: no credentials), headers => [name => value],
#   body => bytes, pieces => [min, max] (send the body in pieces of
#   min..max bytes, delay seconds apart), send => N (send only the first N
#   body bytes, then wait for the answer), abort_after => s (send, wait s
#   seconds, call before_close, close without reading), rate => bytes per
#   second, timeout => s)
# For what LWP would hide or refuse: header bytes as the server wrote
# them, bodies cut in tiny TCP writes, answers that come before the body
# has been sent. Returns { raw, status, head => [[name, value], ...],
# header => { lc name => value }, body, sent => body bytes written,
# all_sent, elapsed }; status 0 if no answer came.
sub raw_request {
    my (%o) = @_;
    require IO::Socket::INET;
    require IO::Select;
    require Socket;
    my $hp = _hostport($o{vhost});
    my $t0 = time;
    my $sock = IO::Socket::INET->new(PeerAddr => $hp, Timeout => 10)
        or die "connect $hp: $!";
    setsockopt($sock, Socket::IPPROTO_TCP(), Socket::TCP_NODELAY(), 1);
    binmode $sock;
    my $body = $o{body} // '';
    my $user = exists $o{user} ? $o{user} : 'alice';
    my $head = ($o{method} || 'GET') . " $o{path} HTTP/1.1\r\nHost: $hp\r\n";
    $head .= 'Authorization: Basic ' . encode_base64("$user:$user", '') . "\r\n"
        if defined $user;
    my @h = @{ $o{headers} || [] };
    my %has;
    while (my ($k, $v) = splice @h, 0, 2) { $head .= "$k: $v\r\n"; $has{ lc $k } = 1 }
    $head .= 'Content-Length: ' . length($body) . "\r\n"
        if length $body && !$has{'content-length'};
    $head .= "Connection: close\r\n" unless $has{connection};
    local $SIG{PIPE} = 'IGNORE';
    my $sel = IO::Select->new($sock);
    my $answered = sub { $sel->can_read(0) };
    syswrite($sock, "$head\r\n") or return { status => 0, sent => 0 };
    my $limit = defined $o{send} ? $o{send} : length $body;
    my $sent = 0;
    my ($min, $max) = @{ $o{pieces} || [] };
    while ($sent < $limit) {
        my $n = $o{rate} ? int($o{rate} / 10) || 1
              : $min    ? $min + int(rand($max - $min + 1))
              : 65536;
        $n = $limit - $sent if $n > $limit - $sent;
        my $w = syswrite($sock, substr($body, $sent, $n));
        last unless $w;
        $sent += $w;
        last if $answered->();   # the server has answered: stop sending
        sleep($o{rate} ? 0.1 : $o{delay}) if $o{rate} || $o{delay};
    }
    if (defined $o{abort_after}) {
        sleep $o{abort_after};
        $o{before_close}->() if $o{before_close};
        close $sock;
        return { status => 0, sent => $sent, all_sent => $sent == length $body,
                 elapsed => time - $t0 };
    }
    my $raw = '';
    my $end = time + ($o{timeout} || 20);
    while (time < $end) {
        last unless $sel->can_read($end - time);
        my $n = sysread($sock, my $buf, 65536);
        last unless $n;
        $raw .= $buf;
    }
    close $sock;
    my $r = { raw => $raw, status => 0, sent => $sent,
              all_sent => $sent == length $body, elapsed => time - $t0 };
    my ($h, $b) = split /\r\n\r\n/, $raw, 2;
    return $r unless defined $h && $h =~ m{^HTTP/1\.\d (\d{3})};
    $r->{status} = $1;
    for my $line ((split /\r\n/, $h)[1 .. 1000]) {
        last unless defined $line;
        my ($k, $v) = $line =~ /^([^:]+):[ \t]*(.*)$/ or next;
        push @{ $r->{head} }, [ $k, $v ];
        $r->{header}{ lc $k } = $v;
    }
    $b //= '';
    if (($r->{header}{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($b =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr($b, 0, $n, '');
            $b =~ s/^\r\n//;
        }
        $b = $out;
    }
    $r->{body} = $b;
    my %hv;
    for (@{ $r->{head} || [] }) {
        my $k = lc $_->[0];
        $hv{$k} = exists $hv{$k} ? "$hv{$k}, $_->[1]" : $_->[1];
    }
    openapi_check((split /:/, $hp)[1], $o{path}, $o{method} || 'GET', $r->{status},
                  \%hv, $b);
    return $r;
}

# ------------------------------------------------------------------
# Signed links
# ------------------------------------------------------------------

# The job store's link secret (32 bytes), to sign links as the server does.
sub link_secret {
    my $sql = "SELECT value FROM xport_settings WHERE name = 'secret:link'";
    my @cmd = $ENV{XPORT_STORE_DRIVER} eq 'pgsql'
        ? ('psql', '-X', '-At', '-d', $ENV{XPORT_STORE_PARAMS}, '-c', $sql)
        : ('sqlite3', '-cmd', '.timeout 20000', $ENV{XPORT_STORE_PARAMS}, $sql);
    open(my $fh, '-|', @cmd) or return undef;
    local $/;
    my $out = <$fh> // '';
    close $fh;
    $out =~ s/\s+//g;
    return length $out ? decode_base64($out) : undef;
}

# A link signed as the server signs them: base, job, file, user, expires
# (sig to override the signature).
sub signed_link {
    my ($key, %l) = @_;
    my $sig = encode_base64(
        hmac_sha256(join("\0", 'xport-link-1', @l{qw(job file user expires)},
                         defined $l{n} ? ($l{n}) : ()), $key), '');
    $sig =~ tr{+/}{-_};
    $sig =~ s/=+$//;
    (my $file = $l{file}) =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ge;
    return "$l{base}/files/$l{job}/$file?user=$l{user}&expires=$l{expires}"
        . (defined $l{n} ? "&n=$l{n}" : '') . '&sig='
        . ($l{sig} // $sig);
}


# ------------------------------------------------------------------
# Every response against its API's OpenAPI document
# ------------------------------------------------------------------
# SPEC 9: the API tests check every response they receive against the
# OpenAPI document of the API that answered. Every LWP::UserAgent made
# after this file is loaded (this file's, Apache::TestRequest's, a
# test's own) gets a response_done handler, and raw_request calls
# openapi_check itself, so no test has to ask. The API of a response is
# read from t/conf/extra.conf.in: the port says the virtual host, the last
# <Location> with `SetHandler xport` covering the path (the main server's
# first, then the host's own, as httpd merges them) says the Location and
# its XportAPI (native when none). Responses from anything else (files,
# server-status, a refused connection) are not checked.
#
# The checks themselves are t/lib/openapi-responses.js (Node.js, Ajv for
# the JSON Schema 2020-12 of OpenAPI 3.1; that file says what is checked
# and why not JSON::Validator), one process per test file, fed one
# response per line. A response the document does not describe is one
# failing test, "OpenAPI (<api>): <method> <path template> -> <status>",
# with what did not match as diagnostics; a response that matches adds no
# test, so the files' counts stay as they are. Requests made in a forked
# child are not checked (the checker belongs to the parent).
#
#   XPORT_OPENAPI_CHECK=0   no checks
#   XPORT_OPENAPI_DIR       the documents (default src/api/openapi)
#   XPORT_NPM_DIR           where t/openapi-check.sh installed Ajv
#                           (default build/npm)

my $T_DIR = dirname(dirname(File::Spec->rel2abs(__FILE__)));
my ($OA_MAP, $OA_PID, $OA_OWNER, $OA_IN, $OA_OUT, $OA_DEAD);
my %OA_COUNT;
my $OA_MAX_BODY = 8 * 1024 * 1024; # larger JSON bodies: status and headers only

{
    no warnings 'redefine';
    my $new = \&LWP::UserAgent::new;
    *LWP::UserAgent::new = sub {
        my $ua = $new->(@_);
        $ua->add_handler(response_done => \&_openapi_response_done);
        return $ua;
    };
}

# { port => vhost name ('' for the main server), loc => { vhost => [
# { path, api } in file order ] } }
sub _openapi_map {
    return $OA_MAP if $OA_MAP;
    my $cfg = Apache::Test::config();
    my (%loc, $vhost, $cur);
    open(my $fh, '<', "$T_DIR/conf/extra.conf.in") or die "extra.conf.in: $!";
    while (my $line = <$fh>) {
        next if $line =~ /^\s*#/;
        if ($line =~ /^\s*<VirtualHost\s+([^\s>]+)/i) { $vhost = $1; next }
        if ($line =~ m{^\s*</VirtualHost>}i) { $vhost = undef; next }
        if ($line =~ /^\s*<Location\s+"?([^">\s]+)"?\s*>/i) {
            $cur = { path => $1 };
            next;
        }
        next unless $cur;
        if ($line =~ m{^\s*</Location>}i) {
            push @{ $loc{ $vhost // '' } }, $cur if $cur->{xport};
            $cur = undef;
        }
        $cur->{xport} = 1 if $line =~ /^\s*SetHandler\s+xport(-manager)?\s*$/i; # the dashboard: the native API below its page
        $cur->{api} = $1 if $line =~ /^\s*XportAPI\s+(\S+)/i;
    }
    close $fh;
    my %port = ($cfg->{vars}{port} => '');
    my $vh = $cfg->{vhosts} || {};
    $port{ $vh->{$_}{port} } = $_ for grep { $vh->{$_}{port} } keys %$vh;
    return $OA_MAP = { port => \%port, loc => \%loc };
}

# openapi_target(port, path) -> (api, base, path below it), or () when no
# API Location of this server answers it.
sub openapi_target {
    my ($port, $path) = @_;
    my $map = _openapi_map();
    return () unless defined $port && exists $map->{port}{$port};
    my $vh = $map->{port}{$port};
    my @locs = (@{ $map->{loc}{''} || [] }, $vh ne '' ? @{ $map->{loc}{$vh} || [] } : ());
    my ($base, $api);
    (my $p = $path) =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    for my $l (@locs) {
        (my $lp = $l->{path}) =~ s{/+$}{};
        next unless $p eq $lp || index($p, "$lp/") == 0;
        $base = $lp;
        $api = $l->{api} if $l->{api};
    }
    return () unless defined $base;
    my $below = substr($path, length $base);
    return ($api // 'native', $base, length $below ? $below : '/');
}

sub _openapi_response_done {
    my ($res) = @_;
    my $req = $res->request or return;
    return if ($res->header('Client-Warning') // '') eq 'Internal response';
    my $uri = $req->uri;
    return unless $uri->can('port');
    my %h;
    $res->headers->scan(sub {
        my $k = lc $_[0];
        return if $k =~ /^client-/; # LWP's own notes
        $h{$k} = exists $h{$k} ? "$h{$k}, $_[1]" : $_[1];
    });
    openapi_check($uri->port, $uri->path, $req->method, $res->code, \%h, $res->content);
    return;
}

# openapi_check(port, path, method, status, {lc header => value}, body):
# 1 if the response is one the document describes (or not an API's), else
# a failing test has been added.
sub openapi_check {
    my ($port, $path, $method, $status, $headers, $body) = @_;
    return 1 if ($ENV{XPORT_OPENAPI_CHECK} // '1') eq '0' || !$status;
    $path =~ s/[?#].*//s;
    my ($api, $base, $below) = openapi_target($port, $path) or return 1;
    return 1 if $OA_OWNER && $OA_OWNER != $$; # a forked child
    (my $mt = lc($headers->{'content-type'} // '')) =~ s/\s*;.*//s;
    $body //= '';
    my $send = length $body <= $OA_MAX_BODY && $mt =~ m{^application/([\w.-]+\+)?json$};
    my $ans = _openapi_ask($JSON->encode({
        api => $api, method => uc $method, path => $below, status => 0 + $status,
        headers => $headers, body_length => length $body,
        body_b64 => $send ? encode_base64($body, '') : undef }));
    return 1 unless $ans;
    $OA_COUNT{$api}++;
    return 1 if $ans->{ok};
    # reported at the test file's line that made the request
    my $k = 0;
    while (my @c = caller($k)) { last if $c[1] =~ /\.t$/; $k++ }
    local $Test::Builder::Level = $Test::Builder::Level + 1 + $k;
    Test::More::ok(0, "OpenAPI ($api): $ans->{op} at $base$below");
    Test::More::diag("    $_") for @{ $ans->{problems} || [] };
    return 0;
}

# One response to the checker, its answer back (undef when it cannot run:
# that is one failing test, once).
sub _openapi_ask {
    my ($line) = @_;
    return undef if $OA_DEAD;
    local $SIG{PIPE} = 'IGNORE';
    if (!$OA_PID) {
        my $docs = $ENV{XPORT_OPENAPI_DIR} // "$T_DIR/../src/api/openapi";
        my $npm = $ENV{XPORT_NPM_DIR} // "$T_DIR/../build/npm";
        $OA_PID = eval {
            open2($OA_OUT, $OA_IN, 'node', "$T_DIR/lib/openapi-responses.js", $docs,
                  "$npm/node_modules");
        };
        $OA_OWNER = $$;
    }
    my $ans;
    if ($OA_PID && print { $OA_IN } "$line\n") {
        $OA_IN->flush;
        $ans = readline $OA_OUT;
    }
    return $JSON->decode($ans) if defined $ans;
    $OA_DEAD = 1;
    Test::More::ok(0, 'the OpenAPI response checker runs (node t/lib/openapi-responses.js; '
                      . 'sh t/openapi-check.sh installs what it needs)');
    return undef;
}

END {
    if ($OA_PID && $OA_OWNER && $OA_OWNER == $$) {
        close $OA_IN;
        waitpid($OA_PID, 0);
        Test::More::diag("OpenAPI: $OA_COUNT{$_} responses of API $_ checked")
            for sort keys %OA_COUNT;
    }
}


# ------------------------------------------------------------------
# Event streams (SPEC 9): a client reading text/event-stream
# ------------------------------------------------------------------

# sse_open(PATH, user => 'alice', vhost => ... (or hostport => 'h:p', a
#          node's), base => '/xport',
#          last_id => 'n', headers => [name => value, ...], method => 'GET')
# Opens a connection, sends the request and reads the response head.
# Returns { code, headers => { lc name => value }, body (a non-stream
# answer, read whole) } with the socket kept for sse_next.
sub sse_open {
    my ($path, %o) = @_;
    my $base = exists $o{base} ? $o{base} : '/xport';
    my ($host, $port) = split /:/, $o{hostport} // _hostport($o{vhost});
    my $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                     Timeout => 10) or return undef;
    my $user = exists $o{user} ? $o{user} : 'alice';
    my @h = ("Host: $host:$port", 'Accept: text/event-stream');
    push @h, 'Authorization: Basic ' . encode_base64("$user:$user", '')
        if defined $user && $base eq '/xport';
    push @h, "Last-Event-ID: $o{last_id}" if defined $o{last_id};
    my @extra = @{ $o{headers} || [] };
    while (my ($k, $v) = splice @extra, 0, 2) { push @h, "$k: $v" }
    my $method = $o{method} || 'GET';
    print $sock "$method $base$path HTTP/1.1\r\n" . join('', map { "$_\r\n" } @h)
        . "Connection: close\r\n\r\n";
    my $s = { sock => $sock, raw => '', buf => '', events => [], ended => 0,
              head => $method eq 'HEAD' };
    my $head = '';
    my $sel = IO::Select->new($sock);
    while ($head !~ /\r\n\r\n/) {
        last unless $sel->can_read($o{timeout} // 30); # code 0: no answer
        my $n = sysread($sock, my $chunk, 4096);
        if (!$n) { $s->{ended} = 1; last }
        $head .= $chunk;
    }
    my ($status, $rest) = split /\r\n\r\n/, $head, 2;
    my @lines = split /\r\n/, $status // '';
    ($s->{code}) = (shift(@lines) // '') =~ m{^HTTP/\S+ (\d+)};
    $s->{code} //= 0;
    for (@lines) { my ($k, $v) = /^([^:]+):\s*(.*)$/ or next; $s->{headers}{lc $k} = $v }
    $s->{chunked} = ($s->{headers}{'transfer-encoding'} // '') =~ /chunked/i;
    $s->{raw} = $rest // '';
    if ($s->{code} != 200 || $s->{head}) { # read the whole answer
        while (!$s->{ended} && !$s->{head}) { _sse_fill($s, 5) }
        $s->{body} = $s->{buf};
    }
    return $s;
}

# Move what arrived into buf (de-chunked); false when nothing came within
# timeout seconds. ended is set once the response is complete or the
# connection closed.
sub _sse_fill {
    my ($s, $timeout) = @_;
    _sse_dechunk($s);
    return 1 if $s->{ended};
    my $sel = IO::Select->new($s->{sock});
    return 0 unless $sel->can_read($timeout);
    my $n = sysread($s->{sock}, my $chunk, 65536);
    if (!$n) { $s->{ended} = 1; _sse_dechunk($s); return 1 }
    $s->{raw} .= $chunk;
    _sse_dechunk($s);
    return 1;
}

sub _sse_dechunk {
    my ($s) = @_;
    if (!$s->{chunked}) { $s->{buf} .= $s->{raw}; $s->{raw} = ''; return }
    while ($s->{raw} =~ /^([0-9a-fA-F]+)[^\r\n]*\r\n/) {
        my ($size, $hl) = (hex $1, length $&);
        if ($size == 0) { $s->{ended} = 1; $s->{raw} = ''; return }
        last if length($s->{raw}) < $hl + $size + 2;
        $s->{buf} .= substr($s->{raw}, $hl, $size);
        substr($s->{raw}, 0, $hl + $size + 2) = '';
    }
}

# The next event (or comment, with comments => 1), waiting up to timeout
# seconds: { event, id, data (decoded JSON, or the text), text, comment,
# at (time it was read) }; undef on timeout or once the stream ended
# ($s->{ended}).
sub sse_next {
    my ($s, $timeout, %o) = @_;
    my $end = time + ($timeout // 10);
    while (1) {
        while ($s->{buf} =~ s/^(.*?)\n\n//s) {
            my $block = $1;
            my %e = (at => time);
            for my $line (split /\n/, $block) {
                if ($line =~ /^:\s?(.*)$/) { $e{comment} = $1; next }
                my ($k, $v) = $line =~ /^([^:]+):\s?(.*)$/ or next;
                if ($k eq 'data') { $e{text} = defined $e{text} ? "$e{text}\n$v" : $v }
                else { $e{$k} = $v }
            }
            next if !defined $e{event} && !defined $e{text}
                    && !(defined $e{comment} && $o{comments});
            $e{data} = defined $e{text} ? (eval { $JSON->decode($e{text}) } // $e{text})
                                        : undef;
            return \%e;
        }
        return undef if $s->{ended};
        my $left = $end - time;
        return undef if $left <= 0;
        _sse_fill($s, $left);
    }
}

sub sse_close {
    my ($s) = @_;
    close $s->{sock} if $s && $s->{sock};
    $s->{ended} = 1 if $s;
}

1;
