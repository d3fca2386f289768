# 15_document.t -- format=document through the native API: one JSON
# document, export.json in a zip. The section the filter names first is
# the root and must select exactly one row (a user of the demo data);
# its fields are the document's first members, then one array per other
# section, in the order the filter names them, rows in key order as the
# other formats write them. Read back with unzip -p (and Python's
# zipfile) and compared with the database's rows; the window narrows the
# arrays, never the root; a root of 0 or 2 rows fails the job saying so.
# The same data exports to the same bytes.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use JSON::PP ();
use XportTest;

my $JSON = JSON::PP->new->utf8;
my $TMP = tempdir(CLEANUP => 1);

# A user with a bot, a script and several messages, last updated early
# in the year (so that a later `since` would leave its row out).
my ($U) = map { $_->{id} } @{ db_rows(
    "SELECT u.id FROM users u WHERE u.updated_at < '2026-06-01'"
  . " AND EXISTS (SELECT 1 FROM bots b WHERE b.owner_id = u.id)"
  . " AND EXISTS (SELECT 1 FROM scripts s WHERE s.owner_id = u.id)"
  . " AND (SELECT count(*) FROM messages m WHERE m.user_id = u.id) >= 3"
  . " ORDER BY u.id LIMIT 1") };
ok $U, 'the demo data has a user with bots, scripts and messages'
    or do { done_testing(); exit 1 };

# scripts before bots: the filter's order, not the reference order
my @MEMBERS = qw(scripts bots messages jobs);
my %WHERE = (users => "id = '$U'", scripts => "owner_id = '$U'",
             bots => "owner_id = '$U'", messages => "user_id = '$U'",
             jobs => "state = 'no such state'");
my $FILTER = join "\n", "users/id='$U'", "scripts/owner_id='$U'",
    "bots/owner_id='$U'", "messages/user_id='$U'", "jobs/state='no such state'";

# A document value as the database's text.
sub norm {
    my ($v) = @_;
    return undef unless defined $v;
    return $v ? '1' : '0' if JSON::PP::is_bool($v);
    return "$v";
}
sub norm_row { my ($r) = @_; return { map { $_ => norm($r->{$_}) } keys %$r } }

# Export with the native API; (record when finished, download response).
sub export_doc {
    my (%p) = @_;
    my ($res, $rec) = create_export(params => { format => 'document', %p });
    return (undef, $res) unless $rec;
    my $done = wait_job($rec->{id}) || {};
    return ($done, $done->{status} eq 'completed' ? download($rec->{id}) : undef);
}

# The zip's entries and export.json, read by the system's unzip.
sub unzip_doc {
    my ($bytes, $name) = @_;
    my $file = "$TMP/$name.zip";
    open(my $fh, '>:raw', $file) or die "$file: $!";
    print $fh $bytes;
    close $fh;
    my @names = split /\n/, `unzip -Z1 '$file'`;
    my $doc = `unzip -p '$file' export.json`;
    my $py = `python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("export.json"))' '$file'`;
    return (\@names, $doc, $py);
}

# --------------------------------------------------------- the document
my ($done, $res) = export_doc(filter => $FILTER);
is $done && $done->{status}, 'completed', 'document: completed'
    or do { diag explain($done // $res->as_string); done_testing(); exit 1 };
is $done->{format}, 'document', 'document: the record says format document';
like $done->{path} // '', qr/^export-xporttest-\d+\.zip$/, 'document: the file name ends .zip';
is $res->code, 200, 'document: downloaded';
is $res->header('Content-Type'), 'application/zip', 'document: Content-Type application/zip';
like $res->header('Content-Disposition') // '', qr/filename="\Q$done->{path}\E"/,
    'document: Content-Disposition names the .zip';
is sha256_hex($res->content), $done->{sha256}, 'document: the job sha256 is the file\'s';
is $res->header('ETag'), qq{"$done->{sha256}"}, 'document: ETag = sha256';

my ($names, $text, $py) = unzip_doc($res->content, 'first');
is_deeply $names, ['export.json'], 'document: the zip holds export.json alone';
ok length($text) && $py eq $text, 'document: Python\'s zipfile reads the same bytes';
my $doc = eval { $JSON->decode($text) };
ok ref $doc eq 'HASH', 'document: export.json is one JSON object' or diag $@;
$doc ||= {};

my $users = SECTION_TABLES->{users};
my ($root_line) = $text =~ /\A(\{[^\n]*),\n/;
is_deeply ndjson_keys_in_order(($root_line // '{') . '}'),
    $users->{columns}, 'document: the root\'s fields first, in column order';
my @pos = map { index($text, qq{\n"$_":[}) } @MEMBERS;
ok !grep({ $_ < 0 } @pos) && join(',', @pos) eq join(',', sort { $a <=> $b } @pos),
    'document: then one array per section, in the filter\'s order' or diag "@pos";
my %root = map { $_ => $doc->{$_} } @{ $users->{columns} };
is_deeply norm_row(\%root), section_rows_from_db('users', $WHERE{users})->[0],
    'document: the root is the user\'s row';
ok JSON::PP::is_bool($doc->{selected}), 'document: typed values (selected is a bool)';
is_deeply [ sort keys %$doc ], [ sort(@{ $users->{columns} }, @MEMBERS) ],
    'document: nothing else at the top';
my %want_count = (users => 1);
for my $sec (@MEMBERS) {
    my $want = section_rows_from_db($sec, $WHERE{$sec});
    $want_count{$sec} = scalar @$want;
    is_deeply [ map { norm_row($_) } @{ $doc->{$sec} || [] } ], $want,
        "document: $sec: the database's " . scalar(@$want) . ' rows, in key order';
}
cmp_ok scalar @{ $doc->{messages} || [] }, '>=', 3, 'document: ... several messages';
like $text, qr/\n"jobs":\[\]\n\}\n\z/, 'document: a section without rows is []';
is_deeply $done->{count}, \%want_count, 'document: counts per section';
my ($row1) = $text =~ /\n"messages":\[\n([^\n]*?),?\n/;
is_deeply ndjson_keys_in_order($row1 // '{}'), SECTION_TABLES->{messages}{columns},
    'document: rows as the other formats write them (columns in order)';

my ($again) = export_doc(filter => $FILTER);
is $again && $again->{sha256}, $done->{sha256}, 'document: the same data, the same zip';

# ----------------------------------------------------------- the window
# since: the middle one of the user's messages (inclusive), later than
# the user's own row
my @dates = sort map { $_->{created_at} }
    @{ db_rows("SELECT created_at FROM messages WHERE $WHERE{messages}") };
my $SINCE = $dates[ int(@dates / 2) ];
my $urow = section_rows_from_db('users', $WHERE{users})->[0];
ok $urow->{updated_at} lt $SINCE, "window: the user was updated before $SINCE";
($done, $res) = export_doc(filter => $FILTER, since => $SINCE);
is $done && $done->{status}, 'completed', 'window: completed' or diag explain $done;
(undef, $text) = unzip_doc($res ? $res->content : '', 'window');
$doc = eval { $JSON->decode($text) } || {};
is $doc->{id}, $U, 'window: the root row is there although updated before since';
for my $sec (qw(scripts bots messages)) {
    my $col = $sec eq 'messages' ? 'created_at' : 'updated_at';
    my $want = section_rows_from_db($sec, "($WHERE{$sec}) AND $col >= '$SINCE'");
    is_deeply [ map { norm_row($_) } @{ $doc->{$sec} || [] } ], $want,
        "window: $sec: only the " . scalar(@$want) . " rows updated since $SINCE";
}
cmp_ok scalar @{ $doc->{messages} || [] }, '<', scalar @dates,
    'window: ... fewer messages than without it';

# --------------------------------------------------------------- faults
my $OTHER = $U eq 'u1' ? 'u2' : 'u1';
for my $case (
    [ "users/id='nobody'\nbots/owner_id='nobody'", 0 ],
    [ "users/id='$U'\nusers/id='$OTHER'\nbots/owner_id='$U'", 2 ],
) {
    my ($filter, $n) = @$case;
    ($done) = export_doc(filter => $filter);
    is $done && $done->{status}, 'failed', "root of $n rows: the job fails";
    like $done && $done->{error_messages}[0], qr/root section "users".*selects $n rows/,
        "root of $n rows: saying so";
    is_deeply [ storage_leftovers($done && $done->{id}) ], [], "root of $n rows: no file left";
}
my ($r) = create_export(params => { filter => 'users', format => 'documents' });
is $r->code, 400, 'an unknown format is still refused';
like json_obj($r)->{detail} // '', qr/document/, '... naming document among the formats';

done_testing();
