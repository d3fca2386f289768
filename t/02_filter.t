# 02_filter.t -- the export filter language (SPEC section 4): every form
# selects exactly the rows the database says it should, and malformed
# filters answer 400 with the line and column of the fault.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test ();
use Test::More;
use XportTest;

my @all = qw(users bots messages scripts jobs global_properties);

# filter => { section => SQL condition (undef = whole table) }
my @cases = (
    [ 'users'                         => { users => undef } ],
    [ 'jobs scripts'                  => { jobs => undef, scripts => undef } ],
    [ 'all'                           => { map { $_ => undef } @all } ],
    [ 'bots/has:coordinates'          => { bots => 'coordinates IS NOT NULL' } ],
    [ 'bots/has:coordinates has:location'
          => { bots => 'coordinates IS NOT NULL AND location IS NOT NULL' } ],
    [ "bots/has:location\nbots/has:coordinates"
          => { bots => 'coordinates IS NOT NULL OR location IS NOT NULL' } ],
    [ "users/has:favorite_color='red'"  => { users => "favorite_color = 'red'" } ],
    [ 'users/has:favorite_color="blue"' => { users => "favorite_color = 'blue'" } ],
    [ 'users/favorite_color=green'      => { users => "favorite_color = 'green'" } ],
    [ 'users/selected=true'           => { users => 'selected = 1' } ],
    [ 'users/selected=false'          => { users => 'selected = 0' } ],
    [ 'users/james'
          => { users => "lower(name) LIKE '%james%' OR lower(notes) LIKE '%james%'" } ],
    [ 'users/JAMES'
          => { users => "lower(name) LIKE '%james%' OR lower(notes) LIKE '%james%'" } ],
    [ 'users/"mary ann"'
          => { users => "lower(name) LIKE '%mary ann%' OR lower(notes) LIKE '%mary ann%'" } ],
    [ "users/'Mary Ann'"
          => { users => "lower(name) LIKE '%mary ann%' OR lower(notes) LIKE '%mary ann%'" } ],
    [ "users/has:notes='likes James Bond films'"
          => { users => "notes = 'likes James Bond films'" } ],
    [ 'scripts/"(\"hello 5\")"'
          => { scripts => "body LIKE '%(\"hello 5\")%'" } ],
    [ 'messages/b17'                  => { messages => "bot_id = 'b17' OR user_id = 'b17'" } ],
    [ 'messages/b17,b42'
          => { messages => "bot_id IN ('b17','b42') OR user_id IN ('b17','b42')" } ],
    [ 'messages/u66'                  => { messages => "bot_id = 'u66' OR user_id = 'u66'" } ],
    [ "users/selected=true james"
          => { users => "selected = 1 AND (lower(name) LIKE '%james%' OR lower(notes) LIKE '%james%')" } ],
    [ "users/james\r\nbots/has:location\r\n"
          => { users => "lower(name) LIKE '%james%' OR lower(notes) LIKE '%james%'",
               bots  => 'location IS NOT NULL' } ],
    [ "messages/b3\nusers/has:favorite_color='red'\nglobal_properties"
          => { messages => "bot_id = 'b3' OR user_id = 'b3'",
               users => "favorite_color = 'red'", global_properties => undef } ],
);

# Run them in small batches (XportMaxJobsPerUser is 20 on the main host).
my @jobs;
for my $c (@cases) {
    my ($res, $rec) = create_export(params => { filter => $c->[0] });
    is $res->code, 202, "filter accepted: $c->[0]"
        or diag $res->content;
    push @jobs, [ $c, $rec ];
    if (@jobs % 10 == 0) { wait_job($_->[1]{id}) for grep { $_->[1] } @jobs }
}

for my $j (@jobs) {
    my ($c, $rec) = @$j;
    my ($filter, $expect) = @$c;
    SKIP: {
        skip "not created: $filter", 2 unless $rec && $rec->{id};
        my $done = wait_job($rec->{id}) || {};
        is $done->{status}, 'completed', "completed: $filter"
            or diag explain $done;
        my $res = download($rec->{id});
        my $arc = eval { read_archive($res->content, 'tar.gz') };
        my %got;
        for my $name (keys %{ $arc ? $arc->{data} : {} }) {
            next unless $name =~ m{^data/(\w+)\.ndjson$};
            my $sec = $1;
            $got{$sec} = [ sort map { $_->{ SECTION_TABLES->{$sec}{key} } }
                           @{ ndjson_rows($arc->{data}{$name}) } ];
        }
        my %want = map { $_ => db_keys($_, $expect->{$_}) } keys %$expect;
        # a section the filter selects no row of may be listed with 0 rows
        for (keys %got) { delete $got{$_} if !$want{$_} && !@{ $got{$_} } }
        is_deeply \%got, \%want, "rows selected by: $filter";
    }
}

# ------------------------------------------------------------- malformed
# [filter, line of the fault, column of the fault or undef = any column]
my @bad = (
    [ 'nosuch'                          => 1, 1 ],
    [ "users\nnosuch/x"                 => 2, 1 ],
    [ 'users jobs nosuch'               => 1, 12 ],
    [ 'users/has:nosuch'                => 1, undef ],
    [ 'users/has:coordinates'           => 1, undef ],   # a column of bots
    [ "bots/has:coordinates\nusers/has:password" => 2, undef ],
    [ 'users/"mary ann'                 => 1, undef ],
    [ "users/'red"                      => 1, undef ],
    [ 'users/"abc\"'                    => 1, undef ],
    [ 'users/has:'                      => 1, undef ],
    [ 'users/=red'                      => 1, undef ],
    [ "messages/b17\nusers\nbogus"      => 3, 1 ],
    [ "bots/has:location\r\nbots/has:nope" => 2, undef ],
    [ "users jobs\nscripts/has:nosuch"  => 2, undef ],
    [ "global_properties/has:value\nusers/selected='x"  => 2, undef ],
);

for my $b (@bad) {
    my ($filter, $line, $col) = @$b;
    (my $shown = $filter) =~ s/\r?\n/\\n/g;
    my $res = api('POST', '/exports', json => { filter => $filter });
    is $res->code, 400, "400 for bad filter: $shown";
    ok is_problem($res, 400), "problem+json for: $shown";
    my $p = json_obj($res);
    my $detail = $p->{detail} // '';
    my ($l) = $detail =~ /line\s*:?\s*(\d+)/i;
    my ($c) = $detail =~ /col(?:umn)?\s*:?\s*(\d+)/i;
    is $l, $line, "detail names line $line: $shown" or diag $detail;
    my $len = length((split /\r?\n/, $filter)[$line - 1] // '');
    if (defined $col) {
        is $c, $col, "detail names column $col: $shown" or diag $detail;
    }
    else {
        ok defined $c && $c >= 1 && $c <= $len + 1,
           "detail names a column within line $line: $shown" or diag $detail;
    }
}

# an empty filter is a 400 too
for my $f ('', "\n", '   ') {
    my $res = api('POST', '/exports', json => { filter => $f });
    is $res->code, 400, 'empty filter refused';
}

done_testing();
