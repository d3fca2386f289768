# 20_hostile_archives.t -- hostile uploads to POST /imports (issue point
# 1), on this phase's backend (xport_import_sqlite or _pgsql, plus
# xport_import_limits, whose XportMaxUncompressedSize is 1M). Each one
# must end `failed` with a reason a person understands, leave the target
# database exactly as it was, create nothing outside XportStorage (the
# names evil entries give are looked for afterwards), leave no temp file
# and keep only the stored upload. Covers: `..`, absolute and backslash
# names; symlinks and hard links (tar and `zip -y`); devices, FIFOs,
# directories; duplicates (also by case and Unicode normalisation); names
# outside the allow-list (control characters, NUL, over-long, non-UTF-8);
# unlisted and missing entries, SHA-256 and count, format and version;
# rar, 7z, ISO and cpio under a .tar.gz name; 10 layers of gzip; truncated
# or corrupt gzip, zstd and zip; a gzip trailer's CRC-32 wrong; bombs (a
# gzip expanding to 3 GiB, zstd, overlapping zip entries) with the
# worker's memory and the storage bounded; a 50 MB manifest.json; deep
# JSON nesting; duplicate keys; NUL; numbers out of range; a 100 MB line;
# invalid UTF-8; section and column names written as SQL.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use File::Temp qw(tempdir);
use File::Basename qw(dirname);
use Time::HiRes qw(time);
use Digest::SHA qw(sha256_hex);
use XportTest;

my $B = $ENV{XPORT_BACKEND} || 'sqlite';
my $DB = $B;                    # the import target of this backend
my $VH = target_vhost($B);
my $STORAGE = $ENV{XPORT_STORAGE};
my $WORK = dirname($STORAGE);   # the run's temp directory
my $TAG = sprintf 'xport-evil-%08x%08x', int(rand(2**32)), int(rand(2**32));
my $TMP = tempdir(CLEANUP => 1);
my $CASES = 0;

# The base state, written with SQL: users u1 and u2, bot b1.
target_reset($DB);
db_exec_in($DB, join '; ',
    (map { my $u = user_row("u$_");
           "INSERT INTO users (id, name, email, favorite_color, selected, notes, created_at, "
         . "updated_at) VALUES ('u$_', '$u->{name}', '$u->{email}', 'red', "
         . "0, 'n', '$u->{created_at}', '$u->{updated_at}')" } 1, 2),
    "INSERT INTO bots (id, owner_id, name, updated_at) VALUES ('b1', 'u1', 'bot 1', "
  . "'2026-01-01T00:00:17Z')");

my @ROWS = (user_row('u20'), user_row('u21'));
my $USERS_ND = join '', map { ndjson_line(users => $_) . "\n" } @ROWS;

# A valid archive's entries (manifest listing users, the users data) plus
# extra ones; the tests below break one thing at a time.
sub entries_with {
    my (%o) = @_;
    my $tar = make_archive(sections => [ { name => 'users', rows => \@ROWS } ], format => 'tar',
                           %o);
    return $tar;
}
sub manifest_for { # the manifest text of a valid archive of @ROWS
    my (%over) = @_;
    my $sha = sha256_hex($USERS_ND);
    return JSON::PP->new->canonical->encode({
        format => 'xport-archive', version => 1, generator => 'test', instance => 't',
        created_at => '2026-11-22T10:00:03.417Z', filter => 'users', since => undef,
        until => undef, closure => JSON::PP::false(),
        sections => [ { name => 'users', file => 'data/users.ndjson', key => 'id',
                        columns => SECTION_TABLES->{users}{columns}, count => 2,
                        bytes => length $USERS_ND, sha256 => $sha, window => undef } ],
        %over });
}
sub m_entry { return { name => 'manifest.json', data => $_[0] // manifest_for() } }
sub u_entry { return { name => 'data/users.ndjson', data => $USERS_ND } }
sub tgz { return gzip_bytes(tar_bytes(@_)) }

# $path compressed with gzip or zstd (level 1: the inputs are large);
# returns the new file's path.
sub squeeze {
    my ($path, $tool) = @_;
    my $out = $path . ($tool eq 'gzip' ? '.gz' : '.zst');
    system("$tool -1 -q -c '$path' > '$out'") == 0 or die "$tool failed";
    unlink $path;
    return $out;
}

sub write_file {
    my ($path, $data) = @_;
    open(my $fh, '>:raw', $path) or die "$path: $!";
    print $fh $data;
    close $fh or die "$path: $!";
}

# Files in uploads/ now (name => 1).
sub uploads_now { return { map { $_ => 1 } storage_files('uploads') } }

# Everything an evil entry could have created.
sub evil_paths {
    my @fixed = ("/tmp/$TAG", "$STORAGE/../$TAG", "$STORAGE/../../$TAG", "$WORK/../$TAG",
                 "/$TAG", "$STORAGE/tmp/../../$TAG", "$STORAGE/uploads/../../$TAG");
    return ((grep { -e $_ || -l $_ } @fixed), paths_named($TAG, 3, $WORK),
            paths_named($TAG, 1, '/tmp'), paths_named($TAG, 0, '/'));
}

# Upload an archive and require the import to fail the way the issue
# says. $res: regexes every one of which one error message must match.
# o: archive => bytes | file => path, vhost, fields, raw, filename,
# part_type. Returns the finished record.
sub hostile {
    my ($label, $res, %o) = @_;
    my $vhost = delete $o{vhost} // $VH;
    $CASES++;
    my $file = delete $o{file};
    my $before = target_dump($DB);
    my $uploads = uploads_now();
    my ($resp, $rec);
    if ($file) {
        my $b = 'xpH' . int(rand(1e9));
        my $fname = delete $o{filename} // 'archive.tar.gz';
        my @f = @{ delete $o{fields} || [] };
        my @parts;
        while (my ($k, $v) = splice @f, 0, 2) {
            push @parts, "--$b\r\nContent-Disposition: form-data; name=\"$k\"\r\n\r\n$v\r\n";
        }
        $resp = post_stream('/imports', "multipart/form-data; boundary=$b",
            [ @parts, "--$b\r\nContent-Disposition: form-data; name=\"import\"; "
                    . "filename=\"$fname\"\r\nContent-Type: application/gzip\r\n\r\n",
              { file => $file }, "\r\n--$b--\r\n" ], vhost => $vhost);
        $rec = $resp->code == 202 ? json_obj($resp) : undef;
    }
    else {
        ($resp, $rec) = post_import(vhost => $vhost, %o);
    }
    unless (is $resp->code, 202, "$label: the upload is accepted as a job") {
        diag $resp->as_string;
        return {};
    }
    my $end = wait_import($rec->{id}, vhost => $vhost) || {};
    is $end->{status}, 'failed', "$label: the import fails" or diag explain $end;
    my @msgs = @{ $end->{error_messages} || [] };
    ok((grep { my $m = $_; !grep { $m !~ $_ } @$res } @msgs),
       "$label: the reason says " . join(' + ', @$res))
        or diag explain [ @msgs[0 .. ($#msgs < 2 ? $#msgs : 2)], @msgs > 3 ? @msgs[-2, -1] : () ];
    is target_dump($DB), $before, "$label: the database is unchanged";
    my @evil = evil_paths();
    ok !@evil, "$label: nothing is created outside the storage" or diag explain \@evil;
    is_deeply [ grep { index($_, $rec->{id}) >= 0 } storage_files('tmp') ], [],
        "$label: no temp file is left";
    my @new = grep { !$uploads->{$_} } storage_files('uploads');
    ok @new == 1 && index($new[0], $rec->{id}) >= 0,
       "$label: uploads/ gained only the stored upload" or diag explain \@new;
    return $end;
}

my $LINK = qr/link/i;
my $REFUSED_NAME = qr/not a file an import reads|not allowed|twice|repeats/;

# ---------------------------------------------------------------- entry names
hostile('tar entry ../../evil', [ qr/outside the archive/, qr/\Q$TAG/ ],
        archive => tgz(m_entry(), u_entry(), { name => "../../$TAG", data => "evil\n" }));
hostile('tar entry data/../../evil', [ qr/outside the archive/ ],
        archive => tgz(m_entry(), { name => "data/../../$TAG", data => "evil\n" }));
hostile('tar entry /tmp/evil', [ qr/absolute/ ],
        archive => tgz(m_entry(), u_entry(), { name => "/tmp/$TAG", data => "evil\n" }));
hostile('tar entry ..\\..\\evil', [ qr/backslash/ ],
        archive => tgz(m_entry(), u_entry(), { name => "..\\..\\$TAG", data => "evil\n" }));
hostile('tar entry \\tmp\\evil', [ qr/backslash/ ],
        archive => tgz(m_entry(), u_entry(), { name => "\\tmp\\$TAG", data => "evil\n" }));
hostile('zip entry ../../evil', [ qr/outside the archive/ ],
        archive => zip_bytes(m_entry(), u_entry(), { name => "../../$TAG", data => "evil\n" }),
        filename => 'a.zip', part_type => 'application/zip');
# libarchive reads a zip's backslashes as the separators DOS tools meant
hostile('zip entry C:\\evil', [ qr/C:/, $REFUSED_NAME ],
        archive => zip_bytes(m_entry(), u_entry(), { name => "C:\\$TAG", data => "evil\n" }),
        filename => 'a.zip', part_type => 'application/zip');
{   # system tar: --absolute-names and --transform
    my $d = "$TMP/systar";
    mkdir $d; mkdir "$d/data";
    write_file("$d/manifest.json", manifest_for());
    write_file("$d/data/users.ndjson", $USERS_ND);
    system('tar', '-czf', "$TMP/abs.tar.gz", '-C', $d, '--absolute-names',
           '--transform', "s,^data/users.ndjson\$,/tmp/$TAG,", 'manifest.json',
           'data/users.ndjson') == 0 or die 'tar failed';
    hostile('tar --absolute-names --transform to /tmp/evil', [ qr/absolute/ ],
            archive => file_bytes("$TMP/abs.tar.gz"));
    system('tar', '-czf', "$TMP/dotdot.tar.gz", '-C', $d,
           '--transform', "s,^data/users.ndjson\$,../../$TAG,", 'manifest.json',
           'data/users.ndjson') == 0 or die 'tar failed';
    hostile('tar --transform to ../../evil', [ qr/outside the archive/ ],
            archive => file_bytes("$TMP/dotdot.tar.gz"));
    # a directory with content, as tar writes it
    system('tar', '-czf', "$TMP/dir.tar.gz", '-C', $d, 'manifest.json', 'data') == 0
        or die 'tar failed';
    hostile('tar of a directory with content', [ qr{"data/"}, qr/directories are not allowed/ ],
            archive => file_bytes("$TMP/dir.tar.gz"));
    # zip -y keeps a symbolic link as a link
    symlink('/etc/passwd', "$d/data/bots.ndjson") or die "symlink: $!";
    system("cd '$d' && zip -q -y '$TMP/link.zip' manifest.json data/users.ndjson "
         . "data/bots.ndjson") == 0 or die 'zip failed';
    hostile('zip -y symbolic link to /etc/passwd', [ qr{data/bots\.ndjson}, $LINK ],
            archive => file_bytes("$TMP/link.zip"), filename => 'a.zip',
            part_type => 'application/zip');
    # tar -h would follow it; without -h tar stores the link
    system('tar', '-czf', "$TMP/link.tar.gz", '-C', $d, 'manifest.json',
           'data/users.ndjson', 'data/bots.ndjson') == 0 or die 'tar failed';
    hostile('tar symbolic link to /etc/passwd', [ qr{data/bots\.ndjson}, qr/symbolic link/ ],
            archive => file_bytes("$TMP/link.tar.gz"));
}
hostile('symbolic link to another entry', [ qr{data/bots\.ndjson}, qr/symbolic link/ ],
        archive => tgz(m_entry(), u_entry(),
                       { name => 'data/bots.ndjson', type => '2', link => 'data/users.ndjson' }));
hostile('hard link to /etc/passwd', [ qr{data/bots\.ndjson}, qr/hard link/ ],
        archive => tgz(m_entry(), u_entry(),
                       { name => 'data/bots.ndjson', type => '1', link => '/etc/passwd' }));
hostile('hard link to another entry', [ qr{data/bots\.ndjson}, qr/hard link/ ],
        archive => tgz(m_entry(), u_entry(),
                       { name => 'data/bots.ndjson', type => '1', link => 'data/users.ndjson' }));
hostile('character device', [ qr/device/ ],
        archive => tgz(m_entry(), { name => 'data/users.ndjson', type => '3' }));
hostile('block device', [ qr/device/ ],
        archive => tgz(m_entry(), { name => 'data/users.ndjson', type => '4' }));
hostile('FIFO', [ qr/FIFO/ ],
        archive => tgz(m_entry(), { name => 'data/users.ndjson', type => '6' }));
hostile('directory entry with content after it', [ qr/directories are not allowed/ ],
        archive => tgz(m_entry(), { name => 'data/', type => '5' }, u_entry()));
hostile('the same entry twice', [ qr{data/users\.ndjson}, qr/twice/ ],
        archive => tgz(m_entry(), u_entry(), u_entry()));
hostile('manifest.json twice', [ qr/manifest\.json/, qr/twice/ ],
        archive => tgz(m_entry(), u_entry(), m_entry(manifest_for(filter => 'x'))));
hostile('entries differing only in case', [ qr{MANIFEST\.JSON}, $REFUSED_NAME ],
        archive => tgz(m_entry(), u_entry(), { name => 'MANIFEST.JSON', data => '{}' }));
hostile('data entries differing only in case', [ qr{data/Users\.ndjson}, qr/case/ ],
        archive => tgz(m_entry(), u_entry(), { name => 'data/Users.ndjson', data => $USERS_ND }));
hostile('Unicode normalisation variants', [ qr{caf}, $REFUSED_NAME ],
        archive => tgz(m_entry(), { name => "data/caf\xc3\xa9.ndjson", data => $USERS_ND },
                       { name => "data/cafe\xcc\x81.ndjson", data => $USERS_ND }));
hostile('control character in a name', [ qr/control characters/ ],
        archive => tgz(m_entry(), { name => "data/us\x01ers.ndjson", data => $USERS_ND }));
hostile('newline in a name', [ qr/control characters/ ],
        archive => tgz(m_entry(), { name => "data/users\n.ndjson", data => $USERS_ND }));
hostile('NUL in a zip name', [ $REFUSED_NAME ],
        archive => zip_bytes(m_entry(), { name => "data/\0../../$TAG", data => $USERS_ND }),
        filename => 'a.zip', part_type => 'application/zip');
# libarchive cuts a zip name at its NUL: this one arrived as
# data/users.ndjson and was imported
hostile('NUL after a valid zip name', [ qr/"data\/users\.ndjson\\x00junk": NUL bytes are not allowed in names/,
                                        $REFUSED_NAME ],
        archive => zip_bytes(m_entry(), { name => "data/users.ndjson\0junk", data => $USERS_ND }),
        filename => 'a.zip', part_type => 'application/zip');
hostile('a name over 255 bytes', [ qr/longer than 255/ ],
        archive => zip_bytes(m_entry(), { name => 'data/' . ('a' x 300) . '.ndjson', data => '' }),
        filename => 'a.zip', part_type => 'application/zip');
hostile('a name that is not UTF-8', [ qr/UTF-8/ ],
        archive => tgz(m_entry(), { name => "data/\xff\xfe.ndjson", data => $USERS_ND }));
hostile('a name outside the allow-list', [ qr/not a file an import reads/ ],
        archive => tgz(m_entry(), u_entry(), { name => 'data/users.ndjson.sh', data => "x\n" }));

# ---------------------------------------------------------------- manifest vs entries
hostile('an entry the manifest does not list', [ qr{data/bots\.ndjson}, qr/does not list/ ],
        archive => tgz(m_entry(), u_entry(), { name => 'data/bots.ndjson', data => '' }));
hostile('a listed entry missing', [ qr{data/users\.ndjson}, qr/does not hold/ ],
        archive => tgz(m_entry()));
hostile('wrong SHA-256', [ qr/SHA-256/ ],
        archive => make_archive(sections => [ { name => 'users', rows => \@ROWS,
                                                sha256 => 'f' x 64 } ]));
hostile('wrong count', [ qr/has 2 rows, but manifest\.json says 3/ ],
        archive => make_archive(sections => [ { name => 'users', rows => \@ROWS, count => 3 } ]));
hostile('unknown format', [ qr/format/, qr/xport-archive/ ],
        archive => tgz(m_entry(manifest_for(format => 'zip-archive')), u_entry()));
hostile('unknown version', [ qr/unsupported archive version 7/ ],
        archive => tgz(m_entry(manifest_for(version => 7)), u_entry()));
hostile('manifest names a file outside the archive', [ qr/manifest\.json|file/ ],
        archive => tgz(m_entry(manifest_for(sections => [ { name => 'users',
            file => "../../$TAG", key => 'id', columns => SECTION_TABLES->{users}{columns},
            count => 2, bytes => length $USERS_ND, sha256 => sha256_hex($USERS_ND) } ])),
            u_entry()));

# ---------------------------------------------------------------- disguised formats
my $NOT = qr/not a tar\.gz, tar\.zst, zip or tar archive/;
hostile('rar under a .tar.gz name', [ $NOT ],
        archive => "Rar!\x1A\x07\x00" . ("\x42" x 4000));
hostile('7z under a .tar.gz name', [ $NOT ],
        archive => "7z\xBC\xAF\x27\x1C\x00\x04" . ("\x11" x 4000));
hostile('7z raw as application/gzip', [ $NOT ],
        archive => "7z\xBC\xAF\x27\x1C\x00\x04" . ("\x11" x 4000), raw => 'application/gzip');
{
    my $d = "$TMP/fmt";
    mkdir $d; mkdir "$d/data";
    write_file("$d/manifest.json", manifest_for());
    write_file("$d/data/users.ndjson", $USERS_ND);
    my $iso;
    if (system("genisoimage -quiet -R -o '$TMP/a.iso' '$d' 2>/dev/null") == 0) {
        $iso = file_bytes("$TMP/a.iso");
    }
    else {   # no genisoimage: the signature of an ISO 9660 volume descriptor
        $iso = ("\0" x 0x8000) . "\x01CD001\x01" . ("\0" x 2041) . ("\0" x 2048);
    }
    is substr($iso, 0x8001, 5), 'CD001', 'the ISO image has its signature at 0x8001';
    hostile('ISO 9660 image under a .tar.gz name', [ $NOT ], archive => $iso);
    hostile('gzipped ISO 9660 image', [ $NOT ], archive => gzip_bytes($iso));
    system("cd '$d' && printf 'manifest.json\\ndata/users.ndjson\\n' | "
         . "cpio --quiet -o -H newc > '$TMP/a.cpio'") == 0 or die 'cpio failed';
    hostile('cpio under a .tar.gz name', [ $NOT ], archive => file_bytes("$TMP/a.cpio"));
    hostile('gzipped cpio', [ $NOT ], archive => gzip_bytes(file_bytes("$TMP/a.cpio")));
}

# ---------------------------------------------------------------- layers, damage
{
    my $good = make_archive(sections => [ { name => 'users', rows => \@ROWS } ], format => 'tar');
    my $nested = $good;
    $nested = gzip_bytes($nested) for 1 .. 10;
    hostile('10 layers of gzip', [ $NOT, qr/layers of compression/ ], archive => $nested);
    hostile('zstd over gzip', [ $NOT, qr/layers of compression/ ],
            archive => zstd_bytes(gzip_bytes($good)));
    hostile('a gzipped zip', [ $NOT, qr/layers of compression/ ],
            archive => gzip_bytes(zip_bytes(m_entry(), u_entry())));

    # libarchive never checks a gzip trailer; a valid archive whose CRC-32
    # is flipped must import nothing
    my $crc = make_archive(sections => [ { name => 'users', rows => \@ROWS } ]);
    substr($crc, -8, 1) = chr(ord(substr($crc, -8, 1)) ^ 0xff);
    hostile('a tar.gz with its trailer CRC-32 flipped',
            [ qr/the gzip stream is corrupt: the CRC-32 in its trailer does not match the data/ ],
            archive => $crc);

    # bigger data, so that a cut falls inside the compressed rows
    my @many = map { user_row("m$_", notes => "row $_ " . sha256_hex($_)) } 1 .. 3000;
    my $sec = [ { name => 'users', rows => \@many } ];
    my $gz = make_archive(sections => $sec);
    my $zst = make_archive(sections => $sec, format => 'tar.zst');
    my $zip = make_archive(sections => $sec, format => 'zip');
    # damage inside the rows shows as rows that are not JSON and as the
    # entry's SHA-256 or count no longer matching the manifest
    my $damaged = qr/damaged|cannot be read|truncat|corrupt|SHA-256|rows, but manifest|$NOT/i;
    # 3000 rows: the CRC-32 is found wrong after they went to the database
    my $gzcrc = $gz;
    substr($gzcrc, -8, 1) = chr(ord(substr($gzcrc, -8, 1)) ^ 0xff);
    hostile('3000 rows in a tar.gz with its trailer CRC-32 flipped',
            [ qr/the gzip stream is corrupt: the CRC-32 in its trailer does not match the data/ ],
            archive => $gzcrc);
    hostile('truncated gzip', [ $damaged ], archive => substr($gz, 0, int(length($gz) * 0.6)));
    hostile('truncated zstd', [ $damaged ], archive => substr($zst, 0, int(length($zst) * 0.6)));
    hostile('truncated zip', [ $damaged ], archive => substr($zip, 0, int(length($zip) * 0.6)),
            filename => 'a.zip', part_type => 'application/zip');
    for my $c ([ 'gzip', $gz ], [ 'zstd', $zst ], [ 'zip', $zip ]) {
        my $bad = $c->[1];
        my $at = int(length($bad) / 2);
        substr($bad, $at, 64) = join '', map { chr(($_ * 37 + 11) % 256) } 1 .. 64;
        hostile("corrupt $c->[0]", [ $damaged ], archive => $bad);
    }
}

# ---------------------------------------------------------------- bombs
sub worker_hwm_mb { my $w = worker_pid(); return $w ? (vm_hwm($w) // 0) / 1024 : undef }
{
    # 3 GiB of zeros after a valid users entry, in an entry listed but not
    # selected (sections=users): the reader still decompresses it, and the
    # count stops it at XportMaxUncompressedSize (2 GiB by default).
    my $bomb = "$WORK/bomb-3g.tar.gz";
    my $zeros = 3 * 1024 * 1024 * 1024;
    unless (-s $bomb) {
        my $t0 = time;
        my $m = JSON::PP->new->canonical->decode(manifest_for());
        push @{ $m->{sections} }, { name => 'bots', file => 'data/bots.ndjson', key => 'id',
            columns => SECTION_TABLES->{bots}{columns}, count => 0, bytes => $zeros,
            sha256 => '0' x 64, window => undef };
        my $head = tar_bytes(m_entry(JSON::PP->new->canonical->encode($m)), u_entry());
        $head = substr($head, 0, -1024);   # no end blocks yet
        my $h = substr(tar_bytes({ name => 'data/bots.ndjson', data => '' }), 0, 512);
        substr($h, 124, 12) = sprintf('%011o', $zeros) . "\0";
        substr($h, 148, 8) = ' ' x 8;
        substr($h, 148, 8) = sprintf("%06o\0 ", unpack('%32C*', $h));
        gzip_zero_bomb($bomb, $head . $h, $zeros + 1024);
        diag sprintf 'made a %.1f MB gzip of 3 GiB in %.1f s', (-s $bomb) / 1e6, time - $t0;
    }
    my $size = -s $bomb;
    ok $size < 10 * 1024 * 1024, "the gzip bomb is small ($size bytes)";
    my $disk0 = tree_bytes($STORAGE);
    my $t0 = time;
    hostile('gzip expanding to 3 GiB', [ qr/expands to more than \d+ bytes \(XportMaxUncompressedSize\)/,
                                         qr{data/bots\.ndjson} ],
            file => $bomb, fields => [ sections => 'users' ]);
    my $secs = time - $t0;
    diag sprintf 'the 3 GiB bomb was stopped after %.1f s', $secs;
    my $hwm = worker_hwm_mb();
    ok defined $hwm && $hwm < 100, sprintf('bomb: the worker peaked under 100 MB (%.1f MB)', $hwm // -1);
    my $grew = tree_bytes($STORAGE) - $disk0;
    ok $grew <= $size + 1024 * 1024, "bomb: the storage grew by the upload only ($grew bytes)";
    diag sprintf 'bomb: worker VmHWM %.1f MB, storage grew %d bytes for a %d-byte upload',
        $hwm // -1, $grew, $size;

    # the bomb on its own: gzipped zeros, no tar inside
    my $plain = "$WORK/zeros-3g.gz";
    gzip_zero_bomb($plain, '', $zeros) unless -s $plain;
    hostile('a gzip of 3 GiB of zeros', [ $NOT ], file => $plain);

    # small bombs against xport_import_limits (1M): blank lines, which the
    # reader skips, so only the limit stops it
    my $blank = 64 * 1024 * 1024;
    my $m = manifest_for(sections => [ { name => 'users', file => 'data/users.ndjson', key => 'id',
        columns => SECTION_TABLES->{users}{columns}, count => 0, bytes => $blank,
        sha256 => '0' x 64, window => undef } ]);
    my $lim = [ qr/XportMaxUncompressedSize/, qr{data/users\.ndjson} ];
    for my $tool (qw(gzip zstd)) {
        my $f = squeeze(tar_file("$TMP/blank.tar", m_entry($m),
                                 { name => 'data/users.ndjson', fill => "\n", size => $blank }), $tool);
        ok -s $f < 1024 * 1024, "the $tool bomb is small (" . (-s $f) . ' bytes)';
        hostile("$tool bomb (64 MiB) against a 1M limit", $lim, vhost => 'xport_import_limits',
                file => $f);
    }

    # overlapping zip entries: a central-directory record for each
    # section, all pointing at one local header of 400 KB of blank lines
    my $part = "\n" x (400 * 1024);
    my @secs = qw(users bots messages scripts jobs global_properties);
    my @names = map { "data/$_.ndjson" } @secs;
    my $ov = manifest_for(sections => [ map {
        { name => $_, file => "data/$_.ndjson", key => SECTION_TABLES->{$_}{key},
          columns => SECTION_TABLES->{$_}{columns}, count => 0,
          bytes => length $part, sha256 => sha256_hex($part), window => undef } } @secs ]);
    my $zip = zip_add_overlap(zip_bytes(m_entry($ov), { name => $names[0], data => $part }),
                              $names[0], @names[1 .. $#names]);
    ok length($zip) < 64 * 1024, 'the overlapping zip is small (' . length($zip) . ' bytes)';
    # libarchive reads each local header once (the records after the first
    # are dropped), so the sections they name are missing; a reader that
    # expanded them would hit the 1M limit instead
    hostile('overlapping zip entries',
            [ qr/XportMaxUncompressedSize|manifest\.json lists "data\/\w+\.ndjson", which the archive does not hold/ ],
            vhost => 'xport_import_limits', archive => $zip, filename => 'a.zip',
            part_type => 'application/zip');
}

# ---------------------------------------------------------------- hostile JSON
{
    # the size is checked before any parsing, so 50 MB of one byte will do
    hostile('a 50 MB manifest.json', [ qr/manifest\.json is larger than 4 MiB/ ],
            file => squeeze(tar_file("$TMP/huge.tar",
                { name => 'manifest.json', fill => 'g', size => 50 * 1024 * 1024 }, u_entry()),
                'zstd'));
    hostile('manifest nested 100000 deep', [ qr/manifest\.json/, qr/depth|nest/i ],
            archive => tgz(m_entry(manifest_for() =~ s/"generator":"test"/'"generator":' . ('[' x 100000) . (']' x 100000)/er),
                           u_entry()));
    hostile('manifest with a duplicate key', [ qr/manifest\.json/, qr/duplicate/i, qr/version/ ],
            archive => tgz(m_entry(manifest_for() =~ s/^\{/{"version":1,/r), u_entry()));
    hostile('manifest with NUL in a string', [ qr/manifest\.json/, qr/NUL|U\+0000|\\u0000/i ],
            archive => tgz(m_entry(manifest_for() =~ s/"generator":"test"/"generator":"te\\u0000st"/r),
                           u_entry()));
    hostile('manifest count 1e400', [ qr/manifest\.json/ ],
            archive => tgz(m_entry(manifest_for() =~ s/"count":2/"count":1e400/r), u_entry()));
    hostile('manifest count 2^64', [ qr/manifest\.json/ ],
            archive => tgz(m_entry(manifest_for() =~ s/"count":2/"count":18446744073709551616/r),
                           u_entry()));
    hostile('manifest not UTF-8', [ qr/manifest\.json/ ],
            archive => tgz(m_entry(manifest_for() =~ s/"generator":"test"/"generator":"t\xff\xfe"/r),
                           u_entry()));

    my $row = ndjson_line(users => user_row('u30'));
    my %rowcase = (
        'a row nested 100000 deep' => [ [ qr/^users line 1\b/, qr/depth|nest/i ],
            $row =~ s/"note u30"/('[' x 100000) . (']' x 100000)/er ],
        'a row with a duplicate key' => [ [ qr/^users line 1\b/, qr/duplicate/i ],
            $row =~ s/^\{/{"name":"x",/r ],
        'a row with \\u0000' => [ [ qr/^users line 1\b/, qr/NUL|U\+0000|\\u0000/i ],
            $row =~ s/User u30/User\\u0000u30/r ],
        'a row with invalid UTF-8' => [ [ qr/^users line 1\b/, qr/UTF-8|invalid/i ],
            $row =~ s/User u30/User \xc3\x28 u30/r ],
        'a row with an unknown column written as SQL' => [
            [ qr/^users line 1\b/, qr/unknown column/ ],
            $row =~ s/^\{/{"name\\" = 1; --":"x",/r ],
    );
    for my $label (sort keys %rowcase) {
        my ($res, $line) = @{ $rowcase{$label} };
        hostile($label, $res, archive => make_archive(sections => [ { name => 'users',
            lines => [ $line ] } ]));
    }
    my $job = '{"id":"j1","script_id":null,"bot_id":null,"state":"done","priority":PRIO,'
            . '"updated_at":"2026-01-01T00:00:17Z"}';
    for my $n ('1e400', '18446744073709551616', '-9223372036854775809') {
        hostile("int column $n", [ qr/^jobs line 1\b/ ],
                archive => make_archive(sections => [ { name => 'jobs',
                    lines => [ $job =~ s/PRIO/$n/r ] } ]));
    }
    {
        my $t0 = time;
        # a 100 MB line of one JSON string: '"xxx...' never closed, no newline
        hostile('a 100 MB single line', [ qr/line 1 is longer than 16 MiB/ ],
                file => squeeze(tar_file("$TMP/line.tar", m_entry(),
                    { name => 'data/users.ndjson', fill => 'x', size => 100 * 1024 * 1024 }),
                    'zstd'));
        my $hwm = worker_hwm_mb();
        ok defined $hwm && $hwm < 100,
           sprintf('100 MB line: the worker peaked under 100 MB (%.1f MB)', $hwm // -1);
        diag sprintf '100 MB line: %.1f s, worker VmHWM %.1f MB', time - $t0, $hwm // -1;
    }

    # names written as SQL
    my $m = JSON::PP->new->canonical->decode(manifest_for());
    $m->{sections}[0]{name} = 'users;DROP TABLE users';
    hostile('a section named as SQL', [ qr/manifest\.json: sections\[0\]: "name" must be a name of letters, digits and _/ ],
            archive => tgz(m_entry(JSON::PP->new->canonical->encode($m)), u_entry()));
    $m = JSON::PP->new->canonical->decode(manifest_for());
    push @{ $m->{sections}[0]{columns} }, 'name" = 1; --';
    # a manifest's columns are the file's names (fields=): never SQL, only
    # compared with the section's names, so this one is an unknown column
    hostile('a column named as SQL', [ qr/section "users": the archive has column "name" = 1; --", which this server's section does not/ ],
            archive => tgz(m_entry(JSON::PP->new->canonical->encode($m)), u_entry()));
    $m->{sections}[0]{columns} = [ map { $_ eq 'name' ? 'name" = 1; --' : $_ }
                                   @{ SECTION_TABLES->{users}{columns} } ];
    hostile('a column named as SQL, unknown_columns=ignore', [ qr/users line 1 \(id=\w+\): the database rejected the row: .*name/ ],
            archive => tgz(m_entry(JSON::PP->new->canonical->encode($m)),
                           { name => 'data/users.ndjson', data => join '', map {
                               ndjson_line(users => $_) =~ s/"name":/"name\\" = 1; --":/r . "\n" } @ROWS }),
            fields => [ unknown_columns => 'ignore' ]);
    is target_count($DB, 'users'), 2, 'the users table is intact after the SQL names';
}

diag sprintf "%d hostile uploads on %s in %.0f s", $CASES, $B, time - $^T;
done_testing();
