# XportTest.pm -- helpers shared by the mod_xport Apache::Test suite:
# requests as a given user against a given virtual host, job polling,
# reading downloaded archives back with the system's tar/zstd/unzip, and
# asking the application database (SQLite or PostgreSQL, whichever this
# run uses) what an export should contain.
#
# The runner (t/run-tests.sh) exports:
#   XPORT_BACKEND      sqlite | pgsql
#   XPORT_STORAGE      the XportStorage directory
#   XPORT_SQLITE_DB    (sqlite) the data source file
#   PG_SOCKDIR PG_PORT PG_USER XPORT_PG_DB   (pgsql) the data source
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
use Digest::SHA qw(sha256_hex sha256);
use MIME::Base64 qw(encode_base64);
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
  api json_of json_obj json_list create_export wait_job wait_status job_of download
  db_rows db_keys read_archive ndjson_rows ndjson_keys_in_order
  storage_files storage_leftovers httpd_parent_pid httpd_children
  worker_pid is_problem base64_sha256 section_rows_from_db
  SECTION_TABLES
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

sub job_of {
    my ($id, %o) = @_;
    return undef unless defined $id;
    my $res = api('GET', "/exports/$id", %o);
    return $res->code == 200 ? json_obj($res) : undef;
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

# Rows of an SQL query as array of hashes (values as text, undef for NULL).
sub db_rows {
    my ($sql) = @_;
    my $out;
    my $backend = $ENV{XPORT_BACKEND} || 'sqlite';
    if ($backend eq 'pgsql') {
        $out = _run_capture(
            'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1',
            '-h', $ENV{PG_SOCKDIR}, '-p', $ENV{PG_PORT}, '-U', $ENV{PG_USER},
            '-d', $ENV{XPORT_PG_DB},
            '-c', "SELECT coalesce(json_agg(q), '[]'::json) FROM ($sql) q");
    }
    else {
        $out = _run_capture('sqlite3', '-json', '-bail', $ENV{XPORT_SQLITE_DB}, $sql);
    }
    $out =~ s/^\s+|\s+$//g;
    my $rows = length $out ? $JSON->decode($out) : [];
    for my $r (@$rows) {
        for my $k (keys %$r) { $r->{$k} = "$r->{$k}" if defined $r->{$k} }
    }
    return $rows;
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
#     process running an export).
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
            return $pid if index($t, "$storage/tmp/") == 0;
        }
        closedir $dh;
    }
    return undef;
}

1;
