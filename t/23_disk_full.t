# 23_disk_full.t -- the storage filling up (SPEC section 7, hardening
# issue point 3) on the xport_small host, whose XportStorage is a 16 MiB
# tmpfs that t/run-tests.sh mounts when it runs as root: filled here up
# to a few KiB, then
#   - an export fails with a message naming the full directory, leaves
#     no partial archive under exports/ and nothing under tmp/;
#   - an upload is refused with 507 and leaves nothing under uploads/;
# each failure leaves a tagged line in the error log. Once space is
# freed the same export completes. Skips (saying why) without the tmpfs.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use Time::HiRes qw(sleep time);
use XportTest;

plan skip_all => 'no small tmpfs for the disk-full tests: '
    . ($ENV{XPORT_SMALL_SKIP} || 'XPORT_SMALL_TMPFS is not set')
    unless ($ENV{XPORT_SMALL_TMPFS} // '') eq '1';

my $SMALL = $ENV{XPORT_SMALL_STORAGE};
my %H = (vhost => 'xport_small', user => 'gina');
my $FILLER = "$SMALL/filler";

sub files_in {
    my ($sub) = @_;
    opendir(my $dh, "$SMALL/$sub") or return ();
    my @f = sort grep { !/^\.\.?$/ } readdir $dh;
    closedir $dh;
    return @f;
}

sub avail {
    my $out = `df -B1 --output=avail '$SMALL'`;
    return $out =~ /(\d+)\s*$/ ? $1 : 0;
}

# Fill the file system up to KEEP bytes left.
sub fill {
    my ($keep) = @_;
    unlink $FILLER;
    my $n = avail() - $keep;
    open(my $fh, '>:raw', $FILLER) or die "$FILLER: $!";
    my $block = "\0" x 65536;
    while ($n > 0) {
        my $w = $n > 65536 ? 65536 : $n;
        print $fh substr($block, 0, $w) or last;
        $n -= $w;
    }
    close $fh;
}

# leftovers of an earlier phase (the tmpfs outlives the phases)
for my $sub (qw(exports tmp uploads)) { unlink map { "$SMALL/$sub/$_" } files_in($sub) }

# ------------------------------------------------------------ export
{
    fill(64 * 1024);
    my $log = error_log_offset();
    # the 3000 demo messages as bare NDJSON: ~300 KB
    my ($res, $rec) = create_export(%H, params => { filter => 'messages', format => 'ndjson' });
    is $res->code, 202, 'export on the full disk accepted' or diag $res->as_string;
    my $end = wait_job(($rec || {})->{id}, %H, timeout => 60) || {};
    is $end->{status}, 'failed', 'the export failed' or diag explain $end;
    my $msg = join ' ', @{ $end->{error_messages} || [] };
    like $msg, qr/No space left on device/, "it says the disk is full: $msg";
    like $msg, qr/\Q$SMALL\E/, 'and names where it was writing';
    is_deeply [ files_in('exports') ], [], 'no partial archive under exports/';
    is_deeply [ files_in('tmp') ], [], 'nothing left under tmp/';
    my $text = error_log_since($log);
    my ($line) = $text =~ /^(.*\bXP\d{4}\b.*No space left on device.*)$/m;
    ok $line, 'the error log has a tagged line for it'
        and note "error log: $line";
    ok server_answers(), 'the server answers';

    unlink $FILLER;
    ($res, $rec) = create_export(%H, params => { filter => 'messages', format => 'ndjson' });
    $end = wait_job(($rec || {})->{id}, %H, timeout => 60) || {};
    is $end->{status}, 'completed', 'with space again, the same export completes'
        or diag explain $end;
    is download($rec->{id}, %H)->code, 200, 'and downloads' if $rec;
    api('DELETE', "/exports/$rec->{id}", %H) if $rec;
}

# ------------------------------------------------------------ upload
{
    fill(256 * 1024);
    my $log = error_log_offset();
    my $body = join '', map { chr(int rand 256) } 1 .. 1_000_000;
    my $t0 = time;
    my ($res) = post_import(%H, archive => $body, raw => 'application/gzip');
    is $res->code, 507, 'an upload that does not fit: 507 Insufficient Storage'
        or diag $res->as_string;
    ok is_problem($res, 507), 'as problem+json';
    is_deeply [ files_in('uploads') ], [], 'nothing left under uploads/';
    my $list = json_list(api('GET', '/imports', %H));
    is scalar(@$list), 0, 'no import job was created';
    my $text = error_log_since($log);
    my ($line) = $text =~ /^(.*\bXP0701\b.*)$/m;
    ok $line, 'the error log has a tagged line (XP0701) for it';
    like $line // '', qr/No space left on device/, 'naming the cause'
        and note "error log: $line";
    ok server_answers(), 'the server answers';
    unlink $FILLER;
}

done_testing();
