# test/system/030_trail_delivery.pl: a trail delivers every event it selects
# exactly once, as CloudTrail log files (spec section b), in commit order,
# and announces each file on its topic.
#
# A node delivering every second, at most 50 records per file:
#
#  (a) a trail with a prefix and a topic, under concurrent DDL from three
#      pgbench clients (some transactions roll back), one transaction that
#      stays open across several delivery cycles and one that rolls back:
#      every file is gzip JSON {"Records": [...]} of at most 50 records,
#      named exactly as CloudTrail names them, with no temporary file left;
#      every management event committed from the trail's creation on is in
#      exactly one file, nothing from before it, nothing rolled back; each
#      record is trail.cloudtrail_record() of the stored event; nothing
#      committed after the open transaction took its number was delivered
#      before it committed; trail.delivered_files matches the files; each
#      file is announced by NOTIFY exactly once;
#  (b) stop_logging: delivery goes up to the StopLogging event and no
#      further, though events are stored (a control trail shows delivery
#      passes went by); start_logging delivers the backlog, exactly once;
#  (c) crashes: a backlog of events while stopped (nothing delivered),
#      start_logging, SIGKILL of every server process once the first file
#      of the backlog is in place; after the restart every event is still
#      in exactly one file, trail.delivered_files matches the files, and no
#      temporary file is left.  Twice: with synchronous_commit on (20000
#      events), then off (10000 events; the server may lose its last
#      commits in a crash, which must not make a file in place be delivered
#      again).  The node runs with fsync = on, so that files are really
#      synced and a delivery takes long enough to be cut short;
#  (d) data events: with a data selector for one table the trail delivers
#      one record per row written (eventCategory Data), equal to
#      trail.cloudtrail_record() of the row event, and no management event.
#
# Run by scripts/test.sh (prove, as a non-root user, PostgreSQL::Test::Cluster).
use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use TrailTest;

my $node = trail_node('delivery');
$node->append_conf(
	'postgresql.conf', q{
trail.delivery_interval = 1
trail.digest_interval = 4
trail.max_file_records = 50
fsync = on
});
$node->restart;

my $account = account_id($node);
my $region = 'postgres';
my $trail = 'deliv';
my $bucket = 'deliv-bucket';
my $prefix = 'p1/p2';
my $topic = 'deliv_topic';
my $dir = bucket_dir($node, $bucket);
my $control_dir = bucket_dir($node, 'control-bucket');
my $json = JSON::PP->new->utf8->canonical;
my $tmp = PostgreSQL::Test::Utils::tempdir;

# generous: the CI machine is slow
my $timeout = 180;

# One session for the test's own queries: every connection is an event
# (Login, Logout), and polling with new connections would never let the
# trail fall quiet.
my $q;
sub connect_session
{
	$q = $node->background_psql('postgres');
	$q->set_query_timer_restart;
	$q->query_safe('SET client_min_messages = warning');
	return;
}
connect_session();

sub sql { return $q->query_safe($_[0]); }

# The event id of the management event of a statement (its text exactly).
sub event_of
{
	my ($statement) = @_;
	return sql(qq{SELECT event_id FROM trail.events
	               WHERE request_parameters->>'statement' = \$s\$$statement\$s\$});
}

# The newest event of trail.postgresql named so about a trail.
sub trail_call
{
	my ($event, $name) = @_;
	return sql(qq{SELECT event_id FROM trail.events
	               WHERE event_source = 'trail.postgresql' AND event_name = '$event'
	                 AND resources \@> '[{"name": "$name"}]'
	               ORDER BY commit_seq DESC, event_id DESC LIMIT 1});
}

# Wait until a trail delivered everything up to an event (in delivery
# order): its cursor passed it and every file it recorded that holds events
# up to it is in place; true if that happened in time.
sub wait_delivered
{
	my ($name, $event_id, $secs) = @_;
	return poll_until(
		$secs // $timeout,
		sub {
			sql(qq{
SELECT (s.after_seq, s.after_event_id) >= (m.commit_seq, m.event_id)
   AND NOT EXISTS (SELECT 1 FROM trail.delivered_files f
                    WHERE f.trail_name = s.trail_name AND f.state = 'written'
                      AND (f.from_seq, f.from_event_id) < (m.commit_seq, m.event_id))
  FROM trail.trail_state s, trail.delivery_source m
 WHERE s.trail_name = '$name' AND m.event_id = '$event_id'}) eq 't';
		});
}

# A marker event: everything up to it is compared once it is delivered
# (events that come later, such as Logouts of ended sessions, are not).
my $marks = 0;
sub mark
{
	my $table = 'mark_' . ++$marks;
	sql("CREATE TABLE $table (id int)");
	return event_of("CREATE TABLE $table (id int)");
}

# Delivery order of events: event id => [commit_seq, event_id].
my %order;
sub load_order
{
	%order = map { my ($id, $seq) = split /\|/; ($id => [ $seq, $id ]) } split /\n/,
	  sql('SELECT event_id, commit_seq FROM trail.events');
	return;
}

# Is an event at or before another in delivery order?  (Unknown: no.)
sub up_to
{
	my ($id, $mark) = @_;
	my ($a, $b) = ($order{$id}, $order{$mark});
	return 0 unless $a && $b;
	return $a->[0] < $b->[0] || ($a->[0] == $b->[0] && $a->[1] le $b->[1]);
}

# The management events committed from the trail's creation on, up to a
# marker: sorted event ids.
my $create_seq;
sub expected_management
{
	my ($mark) = @_;
	return [ split /\n/,
		sql(qq{SELECT e.event_id FROM trail.events e, trail.events m
		        WHERE m.event_id = '$mark' AND e.event_category = 'Management'
		          AND e.commit_seq >= $create_seq
		          AND (e.commit_seq, e.event_id) <= (m.commit_seq, m.event_id)
		        ORDER BY 1}) ];
}

# Of a list of event ids: (those committed before the trail was created,
# which none should be; those from its creation up to the marker; those
# not in trail.events at all).
sub split_ids
{
	my ($ids, $mark) = @_;
	my (@early, @upto, @unknown);
	for my $id (@$ids)
	{
		if (!$order{$id}) { push @unknown, $id; }
		elsif ($order{$id}[0] < $create_seq) { push @early, $id; }
		elsif (up_to($id, $mark)) { push @upto, $id; }
	}
	return (\@early, \@upto, \@unknown);
}

# The statement of a record ('' if none), without touching the record
# (autovivification would turn a null requestParameters into {}).
sub statement_of
{
	my ($r) = @_;
	my $p = $r->{requestParameters};
	return ref $p eq 'HASH' && defined $p->{statement} ? $p->{statement} : '';
}

# Event ids of a list of records: (sorted ids, ids seen more than once).
sub ids_of
{
	my (@records) = @_;
	my %n;
	$n{ $_->{eventID} }++ for @records;
	return ([ sort keys %n ], [ sort grep { $n{$_} > 1 } keys %n ]);
}

# Compare two lists of ids; a diagnostic on failure.
sub same_ids
{
	my ($got, $want, $name) = @_;
	my %got = map { $_ => 1 } @$got;
	my %want = map { $_ => 1 } @$want;
	my @missing = grep { !$got{$_} } @$want;
	my @extra = grep { !$want{$_} } @$got;
	ok(!@missing && !@extra, $name)
	  or diag(scalar(@missing) . " missing (e.g. @missing[0 .. ($#missing < 4 ? $#missing : 4)]), "
		  . scalar(@extra) . " not expected (e.g. @extra[0 .. ($#extra < 4 ? $#extra : 4)])");
	return;
}

# The log files of the bucket, read once each (JSON::PP is slow and the
# bucket holds tens of thousands of records): key => { records, raw }, or
# { bad => 1 } for a file that is not gzip JSON with only Records.
my %parsed;
sub read_log
{
	my ($key) = @_;
	my @st = stat("$dir/$key");
	my $id = join(':', $key, $st[7] // '', $st[9] // '');
	return $parsed{$id} //= do {
		my ($doc, $raw) = eval { read_gz_json("$dir/$key") };
		(!$doc || ref $doc ne 'HASH' || join(',', sort keys %$doc) ne 'Records'
			  || ref $doc->{Records} ne 'ARRAY')
		  ? { bad => 1 }
		  : { records => $doc->{Records}, raw => $raw };
	};
}

# All records of all log files of the bucket.
sub all_records
{
	return map { @{ read_log($_)->{records} // [] } } grep { /\.json\.gz$/ } bucket_files($dir);
}

my $log_re = qr{^\Q$prefix\E/AWSLogs/\Q$account\E/CloudTrail/\Q$region\E/(\d{4})/(\d{2})/(\d{2})/
	\Q$account\E_CloudTrail_\Q$region\E_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})Z_[A-Za-z0-9]{16}\.json\.gz$}x;

# Checks of every file of the bucket, and of the trail's record of the
# files that hold nothing after the marker; returns the log files.
sub check_files
{
	my ($what, $mark) = @_;
	# a temporary file of a delivery under way is gone within a pass
	my $no_tmp = poll_until(30, sub { !grep { /\.tmp$/ } bucket_files($dir) });
	ok($no_tmp, "$what: no temporary file is left")
	  or diag(join("\n", grep { /\.tmp$/ } bucket_files($dir)));
	my @files = grep { !/\.tmp$/ } bucket_files($dir);
	my @bad_names = grep {
		!(/$log_re/ && "$1$2$3" eq "$4$5$6" && $7 < 24 && $8 < 60)
	} @files;
	is_deeply(\@bad_names, [],
		"$what: every file is <prefix>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 alnum>.json.gz, dated by its folder"
	);
	my %logs;
	my @not_json;
	for my $key (grep { /\.json\.gz$/ } @files)
	{
		my $l = read_log($key);
		if ($l->{bad})
		{
			push @not_json, $key;
			next;
		}
		$logs{$key} = $l;
	}
	is_deeply(\@not_json, [], "$what: every file is gzip of a JSON object with only Records, an array");
	my @sizes = map { scalar @{ $logs{$_}{records} } } sort keys %logs;
	is(scalar(grep { $_ < 1 || $_ > 50 } @sizes), 0,
		"$what: every file has 1 to 50 records (trail.max_file_records)");

	# trail.delivered_files: a row per file, delivered, with the right
	# record count and hash (files with events after the marker may still
	# be on their way)
	load_order();
	my %row = map { my @f = split /\|/; ($f[0] => [ @f[ 1 .. 4 ] ]) } split /\n/,
	  sql(qq{SELECT s3_object, state, record_count, hash_value, to_event_id FROM trail.delivered_files
	          WHERE trail_name = '$trail' AND file_type = 'log'});
	my @settled = grep {
		my $k = $_;
		!grep { !up_to($_->{eventID}, $mark) } @{ $logs{$k}{records} };
	} sort keys %logs;
	my @mismatch = grep {
		!$row{$_}
		  || $row{$_}[0] ne 'delivered'
		  || $row{$_}[1] != scalar(@{ $logs{$_}{records} })
		  || $row{$_}[2] ne sha256_hex($logs{$_}{raw})
	} @settled;
	push @mismatch, map { "$_ (recorded, not in the bucket)" }
	  grep { !$logs{$_} && up_to($row{$_}[3], $mark) } sort keys %row;
	is_deeply(\@mismatch, [],
		"$what: trail.delivered_files has each file, delivered, with its record count and the SHA-256 of its content, and no other"
	) or diag(scalar(@mismatch) . ' files differ; of them not recorded: ' . scalar(grep { !$row{$_} } @mismatch));
	return \%logs;
}

###########################################################################
# (a) Concurrent load, a long transaction, a rollback
###########################################################################
sql('CREATE SEQUENCE load_markers');
sql('CREATE TABLE before_trail (id int)');
my $before_id = event_of('CREATE TABLE before_trail (id int)');
like($before_id, qr/^[0-9a-f-]{36}$/, 'an event committed just before the trail is created');

my $listener = $node->background_psql('postgres');
$listener->set_query_timer_restart;
$listener->query_safe("LISTEN $topic");
my @notifications;
sub collect_notifications
{
	my $out = $listener->query_safe('SELECT 1');
	while ($out =~ /^Asynchronous notification "\Q$topic\E" with payload "(.*)" received from server process with PID \d+\.$/mg)
	{
		push @notifications, $1;
	}
	return scalar @notifications;
}

is_deeply(
	decode_json(
		sql(qq{SELECT trail.create_trail('$trail', '$bucket', '$prefix', enable_log_file_validation => false,
		                                 sns_topic_name => '$topic')})),
	{
		Name => $trail,
		S3BucketName => $bucket,
		S3KeyPrefix => $prefix,
		SnsTopicName => $topic,
		IncludeGlobalServiceEvents => JSON::PP::true,
		IsMultiRegionTrail => JSON::PP::false,
		TrailARN => "arn:postgresql:trail:$region:$account:trail/$trail",
		LogFileValidationEnabled => JSON::PP::false,
		IsOrganizationTrail => JSON::PP::false,
	},
	'create_trail: a trail with a prefix and a topic');
$create_seq = sql(qq{SELECT commit_seq FROM trail.events WHERE event_id = '@{[trail_call('CreateTrail', $trail)]}'});

# three clients: a transaction of three DDL statements each, one in ten
# rolled back; every transaction comments with a marker of its own
my $script = "$tmp/load.sql";
PostgreSQL::Test::Utils::append_to_file(
	$script, q{
\set r random(0, 9)
SELECT nextval('load_markers') AS m \gset
BEGIN;
CREATE TABLE load_:client_id (id int);
COMMENT ON TABLE load_:client_id IS 'load marker :m';
DROP TABLE load_:client_id;
\if :r = 0
ROLLBACK;
\else
COMMIT;
\endif
});
my ($in, $out, $err) = ('', '', '');
my $pgbench = IPC::Run::start(
	[
		'pgbench', '-n', '-c', '3', '-j', '3', '-T', '10', '-R', '90',
		'-f', $script, '-h', $node->host, '-p', $node->port, 'postgres'
	],
	'<', \$in, '>', \$out, '2>', \$err);

ok(poll_until($timeout, sub { scalar(grep { /\.json\.gz$/ } bucket_files($dir)) > 0 }),
	'log files appear while the load runs');

# a transaction that stays open across several delivery cycles
my $long = $node->background_psql('postgres');
$long->set_query_timer_restart;
$long->query_safe('BEGIN');
$long->query_safe('CREATE TABLE long_txn (id int)');
sleep 6;
my $before_commit = $long->query_safe('SELECT clock_timestamp()');
$long->query_safe('COMMIT');
$long->quit;

# and one that rolls back
sql('BEGIN; CREATE TABLE rolled_back_table (id int); COMMENT ON TABLE rolled_back_table IS $$rolled back$$; ROLLBACK;');

$pgbench->finish;
is($?, 0, 'pgbench ran 10 s of concurrent DDL') or diag($err);
like($out, qr/processed: [1-9]/, '... and committed transactions');

my $mark = mark();
ok(wait_delivered($trail, $mark), 'the trail delivers everything in time');
my $expected = expected_management($mark);

my $logs = check_files('after the load', $mark);
my @records = map { @{ $logs->{$_}{records} } } sort keys %$logs;
my ($ids, $dups) = ids_of(@records);
cmp_ok(scalar(@$expected), '>', 500, 'hundreds of management events committed (' . scalar(@$expected) . ')');
cmp_ok(scalar(grep { scalar(@{ $logs->{$_}{records} }) == 50 } keys %$logs), '>', 0,
	'some files are full (50 records)');
is_deeply($dups, [], 'no event is in two files, nor twice in one');
my ($early, $upto, $unknown) = split_ids($ids, $mark);
same_ids($upto, $expected,
	'the files hold every management event committed from the trail\'s creation on, and no other');
is_deeply($unknown, [], 'no record is of an event that is not in trail.events');
is_deeply($early, [], 'no event committed before the trail\'s creation is delivered')
  or diag('delivered from before: ' . scalar(@$early) . (grep({ $_ eq $before_id } @$early)
	  ? ', among them the event of the last transaction before create_trail' : ''));
ok((grep { $_ eq trail_call('CreateTrail', $trail) } @$ids), 'the trail\'s own CreateTrail event is');

my $long_id = event_of('CREATE TABLE long_txn (id int)');
ok((grep { $_ eq $long_id } @$ids), 'the long transaction\'s event is delivered');
my $long_seq = sql("SELECT commit_seq FROM trail.events WHERE event_id = '$long_id'");
cmp_ok(
	sql(qq{SELECT count(*) FROM trail.events
	        WHERE commit_seq > $long_seq AND event_time < '$before_commit'}),
	'>', 0, '(transactions that took their number after it committed while it was open)');
is( sql(qq{SELECT count(*) FROM trail.delivered_files
            WHERE trail_name = '$trail' AND file_type = 'log'
              AND written_time < '$before_commit' AND to_seq >= $long_seq}),
	'0',
	'nothing that took its number after the open transaction was delivered before it committed');

# rolled back: the whole transaction, and pgbench's one in ten
is(scalar(grep { statement_of($_) =~ /rolled_back_table/ } @records), 0,
	'nothing of the rolled-back transaction is delivered');
my %committed_markers = map { $_ => 1 } split /\n/,
  sql(q{SELECT substring(request_parameters->>'statement' FROM 'load marker ([0-9]+)')
          FROM trail.events WHERE request_parameters->>'statement' LIKE '%load marker %'});
my $issued = sql('SELECT last_value FROM load_markers');
my @aborted = grep { !$committed_markers{$_} } 1 .. $issued;
cmp_ok(scalar(@aborted), '>', 0, 'pgbench rolled back transactions (' . scalar(@aborted) . " of $issued)");
my %delivered_markers;
for (@records)
{
	$delivered_markers{$1}++ if statement_of($_) =~ /'load marker (\d+)'/;
}
is(scalar(grep { $delivered_markers{$_} } @aborted), 0, 'no rolled-back marker is delivered');
is_deeply([ sort { $a <=> $b } keys %delivered_markers ], [ sort { $a <=> $b } keys %committed_markers ],
	'every committed marker is delivered');

# the records are trail.cloudtrail_record() of the stored events
my %stored = map { my ($id, $rec) = split / /, $_, 2; ($id => $rec) } split /\n/,
  sql(qq{SELECT event_id || ' ' || trail.cloudtrail_record(e)::text FROM trail.events e
          WHERE event_category = 'Management'});
my @differ = grep {
	!defined $stored{ $_->{eventID} }
	  || $json->encode($_) ne $json->encode(decode_json($stored{ $_->{eventID} }))
} @records;
is(scalar(@differ), 0, 'every record equals trail.cloudtrail_record() of its stored event')
  or diag("e.g. in the file:\n" . $json->encode($differ[0]) . "\nstored:\n"
	  . ($stored{ $differ[0]{eventID} } // 'none') . "\nrows of trail.events with its id (commit_seq|event_time|request_parameters):\n"
	  . sql("SELECT commit_seq, event_time, request_parameters FROM trail.events WHERE event_id = '$differ[0]{eventID}'")
	  . "\nthe differing records: " . join(', ', map { "$_->{eventSource} $_->{eventName}" } @differ));
is(scalar(grep { $_->{awsRegion} ne $region || $_->{recipientAccountId} ne $account } @records), 0,
	'every record names the region (database) and account (system identifier)');

# the order of delivery is commit order: in every file, and across files by their ranges
my %seq = map { split /\|/ } split /\n/,
  sql(qq{SELECT event_id, commit_seq FROM trail.events WHERE commit_seq >= $create_seq});
my @unordered = grep {
	my @s = map { $seq{ $_->{eventID} } // 0 } @{ $logs->{$_}{records} };
	grep { $s[$_] < $s[ $_ - 1 ] } 1 .. $#s;
} keys %$logs;
is_deeply(\@unordered, [], 'within each file, records are in commit order');

my $status = decode_json(sql("SELECT trail.get_trail_status('$trail')"));
ok($status->{IsLogging} && defined $status->{LatestDeliveryTime} && !exists $status->{LatestDeliveryError},
	'get_trail_status: logging, LatestDeliveryTime, no LatestDeliveryError');
ok(defined $status->{LatestNotificationTime}, 'get_trail_status: LatestNotificationTime');

###########################################################################
# (b) stop_logging: delivery up to the StopLogging event; start_logging
###########################################################################
sql(q{SELECT trail.create_trail('zz-control', 'control-bucket', enable_log_file_validation => false)});
sql("SELECT trail.stop_logging('$trail')");
my $stop_id = trail_call('StopLogging', $trail);
my $stop_seq = sql("SELECT commit_seq FROM trail.events WHERE event_id = '$stop_id'");
ok(wait_delivered($trail, $stop_id), 'the StopLogging event is delivered');

# two more events, each seen delivered by the control trail: by then the
# stopped trail had a whole delivery pass after the first
sql('CREATE TABLE after_stop_a (id int)');
my $after_a = event_of('CREATE TABLE after_stop_a (id int)');
ok(wait_delivered('zz-control', $after_a), 'the control trail delivers an event after the stop');
sql('CREATE TABLE after_stop_b (id int)');
my $after_b = event_of('CREATE TABLE after_stop_b (id int)');
ok(wait_delivered('zz-control', $after_b), '... and another after that');
ok((grep { $_->{eventID} eq $after_b } log_records($control_dir)), '(in its files)');

($ids) = ids_of(all_records());
ok((grep { $_ eq $stop_id } @$ids), 'the stopped trail delivered its StopLogging event');
my @after_stop = split /\n/,
  sql("SELECT event_id FROM trail.events WHERE commit_seq > $stop_seq AND event_category = 'Management'");
cmp_ok(scalar(@after_stop), '>=', 2, 'events were stored after the stop (' . scalar(@after_stop) . ')');
my %delivered = map { $_ => 1 } @$ids;
is(scalar(grep { $delivered{$_} } @after_stop), 0, '... none of them is delivered');
$status = decode_json(sql("SELECT trail.get_trail_status('$trail')"));
ok(!$status->{IsLogging} && defined $status->{StopLoggingTime} && $status->{TimeLoggingStopped} ne '',
	'get_trail_status: not logging, StopLoggingTime and TimeLoggingStopped');

sql("SELECT trail.start_logging('$trail')");
my $start_id = trail_call('StartLogging', $trail);
$mark = mark();
ok(wait_delivered($trail, $mark), 'after start_logging the trail delivers again');
$logs = check_files('after stop and start', $mark);
@records = map { @{ $logs->{$_}{records} } } sort keys %$logs;
($ids, $dups) = ids_of(@records);
%delivered = map { $_ => 1 } @$ids;
is(scalar(grep { !$delivered{$_} } @after_stop, $start_id), 0,
	'the events stored while it was stopped are delivered, and its StartLogging event');
is_deeply($dups, [], 'still no event in two files');
same_ids((split_ids($ids, $mark))[1], expected_management($mark),
	'still every management event since the trail\'s creation, and no other');

# NOTIFY: every file once, after it is in place
my %announced;
my @bad_payloads;
sub tally_notifications
{
	collect_notifications();
	(%announced, @bad_payloads) = ();
	for my $payload (@notifications)
	{
		my $p = eval { decode_json($payload) };
		if (!$p || ($p->{s3Bucket} // '') ne $bucket || ref $p->{s3ObjectKey} ne 'ARRAY')
		{
			push @bad_payloads, $payload;
			next;
		}
		$announced{$_}++ for @{ $p->{s3ObjectKey} };
	}
	return !grep { !$announced{$_} } keys %$logs;
}
ok(poll_until(60, \&tally_notifications), 'every file is announced on the trail\'s topic');
is_deeply(\@bad_payloads, [], 'every notification is {"s3Bucket": "<bucket>", "s3ObjectKey": [keys]}');
my %in_place = map { $_ => 1 } bucket_files($dir);
is_deeply([ grep { !$in_place{$_} } sort keys %announced ], [], 'every key announced is a file in place');
is(scalar(grep { $announced{$_} != 1 } keys %announced), 0, 'no file is announced twice');
$listener->quit;

###########################################################################
# (c) A crash while a backlog is delivered
###########################################################################
sql('CREATE TABLE backlog_t (id int)');

# One round: stop, a backlog of $n events, start, and a crash of the whole
# server once the first file of the backlog is in place; then every event
# must still be in exactly one file.
sub crash_round
{
	my ($what, $n) = @_;

	sql("SELECT trail.stop_logging('$trail')");
	my $stop_id = trail_call('StopLogging', $trail);
	ok(wait_delivered($trail, $stop_id), "$what: stopped, up to its StopLogging event");
	my @files_before = bucket_files($dir);

	$node->pgbench(
		'-n -c 4 -j 2 -t ' . ($n / 4),
		0,
		[qr{processed: $n/$n}],
		[qr/^$/],
		"$what: a backlog of $n events while the trail is stopped",
		{ "030_backlog_$n" => q{
\set n random(1, 1000000000)
COMMENT ON TABLE backlog_t IS 'backlog :n';
} },
		'postgres');
	is_deeply([ bucket_files($dir) ], \@files_before, "$what: nothing is delivered while the trail is stopped");

	# the folder of today's files (any key's), read in a tight loop
	my %old = map { $_ => 1 } @files_before;
	my ($day_dir) = map { m{^(.*)/[^/]+$} } grep { /\.json\.gz$/ } @files_before;
	$day_dir = "$dir/$day_dir";
	sql("SELECT trail.start_logging('$trail')");
	my $first_new;
	my $deadline = time() + $timeout;
	my $round = 0;
	while (time() < $deadline)
	{
		if (opendir(my $dh, $day_dir))
		{
			($first_new) = grep { /\.json\.gz$/ && !$old{ substr("$day_dir/$_", length($dir) + 1) } } readdir $dh;
			closedir $dh;
		}
		last if $first_new;
		# the date may change meanwhile: now and then, look everywhere
		($first_new) = grep { !$old{$_} && /\.json\.gz$/ } bucket_files($dir) if ++$round % 1000 == 0;
		last if $first_new;
		usleep(1_000);
	}
	ok($first_new, "$what: start_logging: the first file of the backlog appears");
	my @alive = kill9_and_wait($node);
	is(scalar(@alive), 0, "$what: SIGKILL of every server process in the middle of the delivery")
	  or kill('KILL', @alive);
	my $at_crash = scalar(grep { !$old{$_} && /\.json\.gz$/ } bucket_files($dir));
	note("$what: new log files in place at the crash: $at_crash");

	eval { $q->{run}->kill_kill; };
	$node->start;
	connect_session();
	like(slurp_file($node->logfile), qr/database system was interrupted|not properly shut down/,
		"$what: the server went through crash recovery");

	my $mark = mark();
	ok(wait_delivered($trail, $mark, 300), "$what: after the restart the trail delivers the rest of the backlog");
	my $logs = check_files("$what, after the crash", $mark);
	my @records = map { @{ $logs->{$_}{records} } } sort keys %$logs;
	my ($ids, $dups) = ids_of(@records);
	is_deeply($dups, [], "$what: after the crash, no event is in two files")
	  or diag(scalar(@$dups) . ' events delivered twice');
	my $expected = expected_management($mark);
	cmp_ok(
		sql("SELECT count(*) FROM trail.events WHERE request_parameters->>'statement' LIKE 'COMMENT ON TABLE backlog_t IS %'"),
		'>=', $n, "$what: the backlog is in the store");
	same_ids((split_ids($ids, $mark))[1], $expected,
		"$what: after the crash, every management event since the trail's creation, none missing, no other");
	note("$what: new log files at the end: " . scalar(grep { !$old{$_} } keys %$logs));
	is( sql(qq{SELECT count(*) FROM trail.delivered_files f, trail.events m
	            WHERE f.trail_name = '$trail' AND f.state <> 'delivered' AND m.event_id = '$mark'
	              AND (f.from_seq, f.from_event_id) < (m.commit_seq, m.event_id)}),
		'0', "$what: every recorded file is delivered");
	return;
}

# with the defaults (synchronous_commit = on) ...
crash_round('crash 1', 20000);

# ... and with synchronous_commit = off: the server's own commits may be
# lost in a crash, but a file in place must never name events that a lost
# commit gives back to the cursor
sql('ALTER SYSTEM SET synchronous_commit = off');
sql('SELECT pg_reload_conf()');
# the reload reaches sessions asynchronously: wait until a new one sees it
ok($node->poll_query_until('postgres', 'SHOW synchronous_commit', 'off'),
	'(synchronous_commit = off)');
crash_round('crash 2, synchronous_commit = off', 10000);

###########################################################################
# (d) Data events
###########################################################################
sql('CREATE TABLE dt (id int PRIMARY KEY, v text)');
my $selectors = decode_json(
	sql(qq{SELECT trail.put_event_selectors('$trail', jsonb_build_array(jsonb_build_object(
	         'Name', 'dt writes', 'FieldSelectors', jsonb_build_array(
	           '{"Field": "eventCategory", "Equals": ["Data"]}'::jsonb,
	           '{"Field": "resources.type", "Equals": ["PG::Table"]}'::jsonb,
	           jsonb_build_object('Field', 'resources.ARN', 'Equals', jsonb_build_array(trail.table_arn('public.dt')))))))}
	));
is($selectors->{AdvancedEventSelectors}[0]{Name}, 'dt writes', 'put_event_selectors: a data selector for public.dt');
is(sql(q{SELECT count(*) FROM trail.captured_tables WHERE table_id = 'public.dt'::regclass}), '1',
	'the trail\'s selector captures public.dt');
my $put_seq = sql(qq{SELECT commit_seq FROM trail.events WHERE event_id = '@{[trail_call('PutEventSelectors', $trail)]}'});
sql('CREATE TABLE after_selectors (id int)');
my $after_selectors = event_of('CREATE TABLE after_selectors (id int)');
sql(q{INSERT INTO dt SELECT g, 'v' || g FROM generate_series(1, 50) g});
sql(q{INSERT INTO dt SELECT g, 'v' || g FROM generate_series(51, 120) g});
sql(q{UPDATE dt SET v = v || '!' WHERE id <= 10});
sql(q{DELETE FROM dt WHERE id > 115});

my $dt_events = q{d.event_category = 'Data' AND d.request_parameters->>'tableName' = 'public.dt'};
my $last_dt = sql("SELECT event_id FROM trail.data_events d WHERE $dt_events ORDER BY commit_seq DESC, event_id DESC LIMIT 1");
ok(wait_delivered($trail, $last_dt), 'the row events of public.dt are delivered');
my %data_stored = map { my ($id, $rec) = split / /, $_, 2; ($id => $rec) } split /\n/,
  sql(qq{SELECT event_id || ' ' || trail.cloudtrail_record(d)::text FROM trail.data_events d WHERE $dt_events});
is(scalar(keys %data_stored), 135, '135 row events are stored (120 inserts, 10 updates, 5 deletes)');

my @all = all_records();
my @data = grep { $_->{eventCategory} eq 'Data' } @all;
($ids, $dups) = ids_of(@data);
is_deeply($dups, [], 'no row event is delivered twice');
same_ids($ids, [ sort keys %data_stored ], 'one record per row event, each row event delivered');
my %inserted;
$inserted{ ref $_->{requestParameters} eq 'HASH' && ref $_->{requestParameters}{newImage} eq 'HASH' ? $_->{requestParameters}{newImage}{id} // '' : '' }++
  for grep { $_->{eventName} eq 'Insert' } @data;
is_deeply([ sort { $a <=> $b } keys %inserted ], [ 1 .. 120 ], 'the Insert records carry the 120 rows');
is(scalar(grep { $_ != 1 } values %inserted), 0, '... each once');
is(scalar(grep { $_->{eventName} eq 'Update' } @data) . ' ' . scalar(grep { $_->{eventName} eq 'Delete' } @data),
	'10 5', 'one Update record per updated row, one Delete record per deleted row');
@differ = grep {
	!defined $data_stored{ $_->{eventID} }
	  || $json->encode($_) ne $json->encode(decode_json($data_stored{ $_->{eventID} }))
} @data;
is(scalar(@differ), 0, 'every data record equals trail.cloudtrail_record() of its row event')
  or diag('e.g. ' . $json->encode($differ[0]));

my %seq_of = map { split /\|/ } split /\n/,
  sql(qq{SELECT event_id, commit_seq FROM trail.events WHERE commit_seq > $put_seq});
my @mgmt_after = grep { $_->{eventCategory} ne 'Data' && exists $seq_of{ $_->{eventID} } } @all;
is(scalar(@mgmt_after), 0, 'with only a data selector, no management event committed after it is delivered');
ok(!(grep { $_->{eventID} eq $after_selectors } @all), '(CREATE TABLE after_selectors is not)');

$q->quit;
$node->stop;
done_testing();
