# test/system/070_insights.pl: CloudTrail Insights as the background worker
# runs them, and the trail that delivers them (spec sections b and d).
#
# A node delivering every second with a digest every 4 seconds; two logging
# trails: 'ins' (log file validation, a topic) and 'plain' (no insight
# selectors).  Then AWS-style history is imported (trail.import_logs) after
# both trails were created, so that their cursors pass it: eight days of
# rds DeleteDBSnapshot, one call a minute, and a burst of 30 more calls a
# minute from two minutes before the import on (plus a read-only API, one
# call a minute, failing 20 times a minute in the burst's first two minutes:
# an error-rate insight if anything computed that type).  The history is of
# this node's own account and region (the database), so that the folder of
# the files and the records agree.  The burst goes on while the test runs:
# before each step the calls of the next minutes are imported ahead of time
# (committed before their minute ends, as live calls would be), so the
# insight is surely open at each restart whatever the speed of the machine;
# when the test stops adding them the rate is back to one a minute.
#
#  (a) put_insight_selectors('ins', ApiCallRateInsight): within the worker's
#      next cycle (every minute; the test never calls run_insights) a Start
#      event at the first minute of the burst, which came before the
#      selectors (the first cycle looks back up to a day), with the baseline
#      of the imported days; no error-rate insight (no trail selects it);
#  (b) the Start goes out in a file of its own under
#      AWSLogs/<account>/CloudTrail-Insight/<region>/YYYY/MM/DD/, named as
#      CloudTrail names it; {"Records": [...]} with exactly the record
#      trail.cloudtrail_record() renders of the stored event; announced on
#      the trail's topic; listed with its SHA-256 by a digest, and
#      validate_logs finds it valid;
#  (c) a clean restart while the insight is open: the worker goes on
#      examining the next minutes, no second Start; then kill -9 of every
#      server process, still open: after crash recovery, once the burst is
#      over, one End with the Start's sharedEventID at the first minute
#      back to normal, the whole burst's duration and rate; delivered and
#      announced like the Start;
#  (d) at the end: exactly one Start and one End; 'ins' delivered both in
#      CloudTrail-Insight files and never an Insight record in its
#      CloudTrail/ files; 'plain' has no CloudTrail-Insight folder and no
#      Insight record; no imported record is delivered in any file (delivery
#      leaves history out); after stop_logging and its final digest, every
#      digest and log file of 'ins' is valid for trail.validate_logs and for
#      the offline trail-validate (validate_logs also reports digests that
#      do not exist once there are many: a TODO test, see the comment there).
#
# The test waits for the worker's minute cycles: it takes 4 to 6 minutes.
#
# Run by scripts/test.sh (prove, as a non-root user, PostgreSQL::Test::Cluster).
use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use File::Basename qw(dirname);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TrailTest;

my $node = trail_node('insights');
$node->append_conf(
	'postgresql.conf', q{
trail.delivery_interval = 1
trail.digest_interval = 4
});
$node->restart;

my $account = account_id($node);
my $region = 'postgres';
my $topic = 'ins_topic';
my $dir = bucket_dir($node, 'ins-bucket');
my $plain_dir = bucket_dir($node, 'plain-bucket');
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $json = JSON::PP->new->utf8->canonical;

# generous: the worker's cycles come once a minute, and CI machines are slow
my $timeout = 180;

# One session for the test's own queries and one that listens on the
# trail's topic (every connection is an event: polling with new ones would
# never let the trails fall quiet).  Both are opened again after restarts.
my ($q, $listener);
my @notifications;

sub connect_sessions
{
	$q = $node->background_psql('postgres');
	$q->set_query_timer_restart;
	$q->query_safe('SET client_min_messages = warning');

	# One AWS-style management record of this node's account and region.
	$q->query_safe(
		q{
CREATE FUNCTION pg_temp.rec(t timestamptz, name text, ro boolean, usr text, agent text,
                            err text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
		'eventVersion', '1.08',
		'userIdentity', jsonb_build_object('type', 'IAMUser', 'principalId', 'AIDA' || upper(usr),
		                                   'arn', 'arn:aws:iam::' || a.id || ':user/' || usr,
		                                   'accountId', a.id, 'userName', usr),
		'eventTime', to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
		'eventSource', 'rds.amazonaws.com', 'eventName', name, 'awsRegion', current_database(),
		'sourceIPAddress', '203.0.113.7', 'userAgent', agent,
		'errorCode', err, 'errorMessage', CASE WHEN err IS NOT NULL THEN 'not authorized' END,
		'requestID', gen_random_uuid()::text, 'eventID', gen_random_uuid()::text,
		'readOnly', ro, 'eventType', 'AwsApiCall', 'managementEvent', true,
		'recipientAccountId', a.id, 'eventCategory', 'Management'))
	  FROM (SELECT system_identifier::text AS id FROM pg_control_system()) a
$$});

	# pg_temp.write_log(path, query): one gzipped CloudTrail log file
	$q->query_safe(slurp_file(dirname(__FILE__) . '/write_log.sql'));

	$listener = $node->background_psql('postgres');
	$listener->set_query_timer_restart;
	$listener->query_safe("LISTEN $topic");
	return;
}

sub sql { return $q->query_safe($_[0]); }

# The notifications received so far (psql prints them after a query).
sub collect_notifications
{
	my $out = $listener->query_safe('SELECT 1');
	while ($out =~ /^Asynchronous notification "\Q$topic\E" with payload "(.*)" received from server process with PID \d+\.$/mg)
	{
		push @notifications, $1;
	}
	return;
}

# Has a notification named the key, as {"s3Bucket": ..., "s3ObjectKey": [...]}?
sub announced
{
	my ($key) = @_;
	collect_notifications();
	return scalar grep {
		my $p = eval { decode_json($_) };
		$p && ($p->{s3Bucket} // '') eq 'ins-bucket' && ref $p->{s3ObjectKey} eq 'ARRAY'
		  && grep { $_ eq $key } @{ $p->{s3ObjectKey} }
	} @notifications;
}

# Quit both sessions before a restart (after collecting the notifications),
# or drop them after a crash.
sub drop_sessions
{
	my ($crashed) = @_;
	if ($crashed)
	{
		eval { $q->{run}->kill_kill; };
		eval { $listener->{run}->kill_kill; };
	}
	else
	{
		collect_notifications();
		$q->quit;
		$listener->quit;
	}
	return;
}

# Wait until a trail delivered everything up to an event (in delivery
# order): its cursor passed it and every file it recorded is in place.
sub wait_delivered
{
	my ($name, $event_id) = @_;
	return poll_until(
		$timeout,
		sub {
			sql(qq{
SELECT (s.after_seq, s.after_event_id) >= (m.commit_seq, m.event_id)
   AND NOT EXISTS (SELECT 1 FROM trail.delivered_files f
                    WHERE f.trail_name = s.trail_name AND f.state = 'written')
  FROM trail.trail_state s, trail.delivery_source m
 WHERE s.trail_name = '$name' AND m.event_id = '$event_id'}) eq 't';
		});
}

# The gzip JSON log files of a bucket in one folder (CloudTrail or
# CloudTrail-Insight): { key => { records, raw, sha256 } }; a file that is not
# gzip of an object with only Records is { bad => 1 }.
sub files_in
{
	my ($bucket_dir, $folder) = @_;
	my %files;
	for my $key (grep { m{/\Q$folder\E/} && /\.json\.gz$/ } bucket_files($bucket_dir))
	{
		my ($doc, $raw) = eval { read_gz_json("$bucket_dir/$key") };
		$files{$key} =
		  (!$doc || ref $doc ne 'HASH' || join(',', keys %$doc) ne 'Records' || ref $doc->{Records} ne 'ARRAY')
		  ? { bad => 1 }
		  : { records => $doc->{Records}, raw => $raw, sha256 => sha256_hex($raw) };
	}
	return \%files;
}

# trail.cloudtrail_record() of a stored event, decoded.
sub stored_record
{
	my ($event_id) = @_;
	return decode_json(
		sql(qq{SELECT trail.cloudtrail_record(e) FROM trail.events e WHERE e.event_id = '$event_id'}));
}

# The Insight events stored so far: [ { id, state, time, shared, type, details } ] by time.
sub insight_events
{
	return [
		map {
			my ($id, $state, $time, $shared, $type, $details) = split /\t/;
			{ id => $id, state => $state, time => $time, shared => $shared, type => $type, details => decode_json($details) }
		} split /\n/,
		sql(q{SELECT event_id || E'\t' || (insight_details->>'state') || E'\t' || event_time || E'\t'
		             || shared_event_id || E'\t' || (insight_details->>'insightType') || E'\t' || insight_details
		        FROM trail.events WHERE event_category = 'Insight' ORDER BY event_time, event_id})
	];
}

my $insight_re = qr{^AWSLogs/\Q$account\E/CloudTrail-Insight/\Q$region\E/(\d{4})/(\d{2})/(\d{2})/
	\Q$account\E_CloudTrail-Insight_\Q$region\E_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})Z_[A-Za-z0-9]{16}\.json\.gz$}x;

connect_sessions();

###########################################################################
# Trails, then the history
###########################################################################
sql(qq{SELECT trail.create_trail('ins', 'ins-bucket', sns_topic_name => '$topic')});
sql(q{SELECT trail.create_trail('plain', 'plain-bucket', enable_log_file_validation => false)});
is(sql(q{SELECT string_agg(name || ':' || is_logging || ':' || (insight_selectors IS NOT NULL), ' ' ORDER BY name)
           FROM trail.trails}),
	'ins:true:false plain:true:false', 'two logging trails, no insight selectors yet');

# m0: the minute of the import.  Steady calls from 8 days before it to 15
# minutes after it; the burst from m0 - 2 minutes to $burst_end, extended as
# the test goes on (extend_burst).
my $m0 = sql(q{SELECT date_trunc('minute', now())});
my $burst_start = sql(qq{SELECT '$m0'::timestamptz - interval '2 minutes'});
my $burst_end = sql(qq{SELECT '$m0'::timestamptz + interval '2 minutes'});
sql(qq{SELECT pg_temp.write_log('$tmp/history.json.gz', \$q\$
	SELECT pg_temp.rec(m + interval '5 seconds', 'DeleteDBSnapshot', false, 'alice', 'aws-cli/2.9.19')
	  FROM generate_series('$m0'::timestamptz - interval '8 days', '$m0'::timestamptz + interval '15 minutes',
	                       interval '1 minute') m
	UNION ALL
	SELECT pg_temp.rec(m + i * interval '1 second', 'DeleteDBSnapshot', false, 'mallory', 'evil-script/1.0')
	  FROM generate_series('$burst_start'::timestamptz, '$burst_end'::timestamptz, interval '1 minute') m,
	       generate_series(10, 39) i
	UNION ALL
	SELECT pg_temp.rec(m + interval '7 seconds', 'DescribeDBSnapshots', true, 'carol', 'console')
	  FROM generate_series('$m0'::timestamptz - interval '8 days', '$m0'::timestamptz + interval '15 minutes',
	                       interval '1 minute') m
	UNION ALL
	SELECT pg_temp.rec(m + i * interval '1 second', 'DescribeDBSnapshots', true, 'eve', 'python-requests/2.31',
	                   'AccessDenied')
	  FROM generate_series('$burst_start'::timestamptz, '$m0'::timestamptz - interval '1 minute',
	                       interval '1 minute') m,
	       generate_series(20, 39) i \$q\$)});
my $steady = 8 * 1440 + 16;
is( sql(qq{SELECT files || ' ' || records_imported || ' ' || duplicates_skipped
             FROM trail.import_logs('$tmp/history.json.gz')}),
	'1 ' . (2 * $steady + 5 * 30 + 2 * 20) . ' 0',
	'the history is imported: 8 days of two APIs, a burst of calls and one of errors');

# Import the burst's calls (30 a minute) of the minutes after $burst_end up
# to the one that holds the time $ahead seconds from now, committed before
# any cycle can examine them (a cycle examines a minute once it is over).
# The insight then stays open for at least $ahead + 60 s: with $ahead = 70,
# over the next cycle (within a minute) whatever the phase of the cycles.
my $extensions = 0;
sub extend_burst
{
	my ($ahead) = @_;
	my $until = sql(qq{SELECT date_trunc('minute', now() + interval '$ahead seconds')});
	return if sql(qq{SELECT '$until'::timestamptz <= '$burst_end'::timestamptz}) eq 't';
	my $file = "$tmp/burst-" . ++$extensions . '.json.gz';
	sql(qq{SELECT pg_temp.write_log('$file', \$q\$
		SELECT pg_temp.rec(m + i * interval '1 second', 'DeleteDBSnapshot', false, 'mallory', 'evil-script/1.0')
		  FROM generate_series('$burst_end'::timestamptz + interval '1 minute', '$until'::timestamptz,
		                       interval '1 minute') m,
		       generate_series(10, 39) i \$q\$)});
	sql(qq{SELECT trail.import_logs('$file')});
	$burst_end = $until;
	return;
}

# what the imported history is: its event ids (none may be delivered)
my %imported = map { $_ => 1 } split /\n/,
  sql(q{SELECT event_id FROM trail.events WHERE imported_from IS NOT NULL});

###########################################################################
# (a) The worker's first cycle
###########################################################################
is( sql(q{SELECT checked_until IS NULL AND folded_seq = 0 FROM trail.insight_state}), 't',
	'no cycle has run: no logging trail selects Insights');
sql(q{SELECT trail.put_insight_selectors('ins', '[{"InsightType": "ApiCallRateInsight"}]')});

my $started = poll_until($timeout, sub { scalar(@{ insight_events() }) > 0 });
ok($started, 'the worker writes an Insight event within its next cycle');
extend_burst(70);
my $ev = insight_events();
is(scalar(@$ev), 1, 'one Insight event');
my $start = $ev->[0] // {};
is($start->{state}, 'Start', '... a Start');
is($start->{type}, 'ApiCallRateInsight', '... of the type the trail selects');
is($start->{time}, $burst_start, '... at the first minute of the burst (imported before the selectors)');
is_deeply(
	[ @{ $start->{details} }{qw(eventSource eventName)} ],
	[ 'rds.amazonaws.com', 'DeleteDBSnapshot' ],
	'... about DeleteDBSnapshot');
is(sql(q{SELECT count(*) FROM trail.open_insights}), '1', 'the insight is open');

# the baseline: the imported calls before the window's end (today, UTC), from
# the events themselves
my ($window_end, $window_ok) = split /\|/,
  sql(q{SELECT window_end, window_end = date_trunc('day', window_end AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                           AND window_end <= now() AND window_end > now() - interval '1 day'
          FROM trail.insight_state});
is($window_ok, 't', 'the baselines are made for the window ending at the start of today (UTC)');
my $stats = $start->{details}{insightContext}{statistics};
is( $stats->{baselineDuration},
	sql(qq{SELECT extract(epoch FROM '$window_end'::timestamptz - ('$m0'::timestamptz - interval '8 days'))::int / 60}),
	'baselineDuration: the minutes from the oldest imported call to the window\'s end');
my $expected_average =
  sql(qq{SELECT count(*)::float8 / (extract(epoch FROM '$window_end'::timestamptz
                                                  - ('$m0'::timestamptz - interval '8 days')) / 60)
           FROM trail.events
          WHERE imported_from IS NOT NULL AND event_name = 'DeleteDBSnapshot' AND event_time < '$window_end'});
ok(abs(($stats->{baseline}{average} // -1) - $expected_average) < 1e-9,
	'baseline.average: the imported calls of the window per minute')
  or diag("baseline.average $stats->{baseline}{average}, expected $expected_average");
is($stats->{insight}{average}, 31, 'insight.average: the first minute\'s 31 calls');
is_deeply(
	$start->{details}{insightContext}{attributions}[0],
	{
		attribute => 'userIdentityArn',
		insight => [
			{ value => "arn:aws:iam::$account:user/mallory", average => 30 },
			{ value => "arn:aws:iam::$account:user/alice", average => 1 }
		],
		baseline => $start->{details}{insightContext}{attributions}[0]{baseline},
	},
	'attributions: who made the first minute\'s calls');
is(sql(q{SELECT count(*) FROM trail.events WHERE event_category = 'Insight'
           AND insight_details->>'insightType' = 'ApiErrorRateInsight'}),
	'0', 'no error-rate insight: no logging trail selects that type');
is( sql(qq{SELECT checked_until >= '$m0'::timestamptz AND folded_seq > 0 FROM trail.insight_state}), 't',
	'the cycle folded the events and examined the minutes up to its own');

###########################################################################
# (b) Its file, notification and digest
###########################################################################
my ($start_key, $start_file);
ok( poll_until(
		$timeout,
		sub {
			my $files = files_in($dir, 'CloudTrail-Insight');
			($start_key) = grep { !$files->{$_}{bad} && grep { $_->{eventID} eq $start->{id} } @{ $files->{$_}{records} } }
			  keys %$files;
			$start_file = $start_key ? $files->{$start_key} : undef;
			return $start_key;
		}),
	'the Start is delivered in a CloudTrail-Insight file');
$start_key //= '';
like($start_key, $insight_re,
	'named <bucket>/AWSLogs/<account>/CloudTrail-Insight/<region>/YYYY/MM/DD/<account>_CloudTrail-Insight_<region>_<YYYYMMDDTHHmmZ>_<16 alnum>.json.gz'
);
ok($start_key =~ $insight_re && "$1$2$3" eq "$4$5$6", '... dated by its folder');
is_deeply($start_file->{records} // [], [ stored_record($start->{id}) ],
	'its Records: exactly the Start, equal to trail.cloudtrail_record() of the stored event');
is_deeply(
	[ sort keys %{ $start_file->{records}[0] // {} } ],
	[ sort qw(eventVersion eventTime awsRegion eventID eventType recipientAccountId sharedEventID insightDetails eventCategory) ],
	'... with only the fields of an Insight record');
is_deeply(
	[ @{ $start_file->{records}[0] // {} }{qw(eventType eventCategory awsRegion recipientAccountId sharedEventID)} ],
	[ 'AwsCloudTrailInsight', 'Insight', $region, $account, $start->{shared} ],
	'... AwsCloudTrailInsight, Insight, the region and account of the API, the sharedEventID');
ok(poll_until(60, sub { announced($start_key) }), 'the file is announced on the trail\'s topic');

my $digest_key;
ok( poll_until(
		$timeout,
		sub {
			$digest_key = sql(qq{SELECT f.digest_object FROM trail.delivered_files f, trail.delivered_files d
			                      WHERE f.s3_bucket = 'ins-bucket' AND f.s3_object = '$start_key'
			                        AND d.s3_bucket = 'ins-bucket' AND d.s3_object = f.digest_object
			                        AND d.state = 'delivered'});
			return $digest_key ne '';
		}),
	'a digest lists the Insight file');
my $digest = digest_files($dir)->{$digest_key}{json} // {};
my @entries = grep { $_->{s3Object} eq $start_key } @{ $digest->{logFiles} // [] };
is(scalar(@entries), 1, '... once');
is_deeply(
	[ @{ $entries[0] // {} }{qw(s3Bucket hashValue hashAlgorithm oldestEventTime newestEventTime)} ],
	[ 'ins-bucket', $start_file->{sha256}, 'SHA-256', ($start_file->{records}[0]{eventTime}) x 2 ],
	'... with the SHA-256 of its content and its event time');

# trail.validate_logs: { "<type> <key>" => status } and the summary
sub validate
{
	my %status;
	for (split /\n/,
		sql(q{SELECT file_type || E'\t' || coalesce(s3_object, '') || E'\t' || status
		        FROM trail.validate_logs('ins', now() - interval '1 hour')}))
	{
		my ($type, $key, $s) = split /\t/, $_, 3;
		$status{ $type eq 'summary' ? 'summary' : "$type $key" } = $s;
	}
	return \%status;
}
is(validate()->{"log $start_key"}, 'valid', 'validate_logs: the Insight file is valid');

###########################################################################
# (c) A restart and a crash while the insight is open
###########################################################################
extend_burst(70);
is(sql(q{SELECT count(*) FROM trail.open_insights}), '1', 'before the restart: the insight is open');
my $checked = sql(q{SELECT checked_until FROM trail.insight_state});
drop_sessions(0);
$node->restart;
connect_sessions();
ok(poll_until($timeout, sub { sql(qq{SELECT checked_until > '$checked' FROM trail.insight_state}) eq 't' }),
	'after the restart the worker examines the next minutes');
$ev = insight_events();
is_deeply([ map { $_->{state} } @$ev ], ['Start'], '... and writes no second Start');
is( sql(q{SELECT count(*) || ' ' || min(shared_event_id::text) FROM trail.open_insights}),
	"1 $start->{shared}",
	'the insight is still open, with its sharedEventID');

# the last minutes of the burst: open over the crash, and over soon after
extend_burst(20);
is(sql(q{SELECT count(*) FROM trail.open_insights}), '1', 'before the crash: the insight is open');
my $last_burst = $burst_end;    # no more extensions: the rate is back after this minute
drop_sessions(1);
my @alive = kill9_and_wait($node);
is(scalar(@alive), 0, 'SIGKILL of every server process') or kill('KILL', @alive);
$node->start;
like(slurp_file($node->logfile), qr/database system was interrupted|not properly shut down/,
	'the server went through crash recovery');
connect_sessions();

ok(poll_until(2 * $timeout, sub { scalar(grep { $_->{state} eq 'End' } @{ insight_events() }) > 0 }),
	'after the burst the worker writes an End');
$ev = insight_events();
is_deeply([ map { $_->{state} } @$ev ], [ 'Start', 'End' ], 'one Start and one End, no other Insight event');
my $end = $ev->[1] // {};
is($end->{shared}, $start->{shared}, 'the End has the Start\'s sharedEventID');
isnt($end->{id}, $start->{id}, '... and an eventID of its own');
is($end->{time}, sql(qq{SELECT '$last_burst'::timestamptz + interval '1 minute'}),
	'the End is at the first minute back to normal');
is( $end->{details}{insightContext}{statistics}{insightDuration},
	sql(qq{SELECT extract(epoch FROM '$last_burst'::timestamptz + interval '1 minute' - '$burst_start'::timestamptz)::int / 60}),
	'insightDuration: every minute of the burst');
is($end->{details}{insightContext}{statistics}{insight}{average}, 31, 'insight.average: 31 calls a minute throughout');
is(sql(q{SELECT count(*) FROM trail.open_insights}), '0', 'nothing stays open');

my ($end_key, $end_file);
ok( poll_until(
		$timeout,
		sub {
			my $files = files_in($dir, 'CloudTrail-Insight');
			($end_key) = grep { !$files->{$_}{bad} && grep { $_->{eventID} eq $end->{id} } @{ $files->{$_}{records} } }
			  keys %$files;
			$end_file = $end_key ? $files->{$end_key} : undef;
			return $end_key;
		}),
	'the End is delivered in a CloudTrail-Insight file');
$end_key //= '';
like($end_key, $insight_re, '... named as CloudTrail names them');
is_deeply($end_file->{records} // [], [ stored_record($end->{id}) ],
	'its Records: exactly the End, equal to trail.cloudtrail_record() of the stored event');
ok(poll_until(60, sub { announced($end_key) }), 'the file is announced on the trail\'s topic');

###########################################################################
# (d) Everything the trails delivered
###########################################################################
ok(wait_delivered('ins', $end->{id}), 'ins delivered everything up to the End');
ok(wait_delivered('plain', $end->{id}), 'plain had its chance to deliver it too');

my $insight_files = files_in($dir, 'CloudTrail-Insight');
is_deeply([ grep { $insight_files->{$_}{bad} } sort keys %$insight_files ], [],
	'every CloudTrail-Insight file is gzip of {"Records": [...]}');
is_deeply(
	[ sort map { $_->{eventID} } map { @{ $_->{records} // [] } } values %$insight_files ],
	[ sort $start->{id}, $end->{id} ],
	'the CloudTrail-Insight files hold the Start and the End, once each, and nothing else');
is_deeply([ grep { !/$insight_re/ } sort keys %$insight_files ], [],
	'... all named as CloudTrail names them');

my $logs = files_in($dir, 'CloudTrail');
my @records = map { @{ $_->{records} // [] } } values %$logs;
cmp_ok(scalar(@records), '>', 0, 'ins delivered management events in CloudTrail/ files (' . scalar(@records) . ')');
is(scalar(grep { ($_->{eventCategory} // '') eq 'Insight' } @records), 0, '... and no Insight record there');

my @plain_files = bucket_files($plain_dir);
my $plain_logs = files_in($plain_dir, 'CloudTrail');
my @plain_records = map { @{ $_->{records} // [] } } values %$plain_logs;
cmp_ok(scalar(@plain_records), '>', 0, 'plain delivered management events (' . scalar(@plain_records) . ')');
is_deeply([ grep { m{CloudTrail-Insight} } @plain_files ], [],
	'plain, without insight selectors, has no CloudTrail-Insight folder');
is(scalar(grep { ($_->{eventCategory} // '') eq 'Insight' } @plain_records), 0, '... and no Insight record');

my @redelivered = grep { $imported{ $_->{eventID} } } @records, @plain_records;
is(scalar(@redelivered), 0, 'no imported record is delivered again, though both cursors passed the imports')
  or diag('e.g. ' . $json->encode($redelivered[0]));
cmp_ok(
	sql(qq{SELECT count(*) FROM trail.events e, trail.trail_state s
	        WHERE e.imported_from IS NOT NULL AND s.trail_name = 'plain'
	          AND e.commit_seq > (SELECT commit_seq FROM trail.events
	                               WHERE event_name = 'CreateTrail' AND resources \@> '[{"name": "plain"}]')
	          AND (e.commit_seq, e.event_id) <= (s.after_seq, s.after_event_id)}),
	'>', 2 * $steady, '(the imports came after the trails were created)');

# Validation of everything ins delivered: stop it, so that its final digest
# lists its last files and nothing more arrives, then both validators.
sql(q{SELECT trail.stop_logging('ins')});
ok( poll_until(
		$timeout,
		sub {
			sql(q{
SELECT (SELECT s.after_seq >= t.stop_seq AND s.digest_start_time IS NULL
          FROM trail.trail_state s WHERE s.trail_name = t.name)
   AND NOT EXISTS (SELECT 1 FROM trail.delivered_files f WHERE f.trail_name = t.name
                    AND (f.state = 'written' OR (f.file_type = 'log' AND f.digest_object IS NULL)))
  FROM trail.trails t WHERE t.name = 'ins'}) eq 't';
		}),
	'stop_logging: ins delivers its last files and a final digest');
my %expected = (
	(map { ("digest $_" => 'valid') } keys %{ digest_files($dir) }),
	(map { ("log $_" => 'valid') } keys %{ files_in($dir, 'CloudTrail') }, keys %{ files_in($dir, 'CloudTrail-Insight') }));
ok($expected{"log $start_key"} && $expected{"log $end_key"}, '(the Insight files are among the files to validate)');
my $status = validate();
is_deeply({ map { ($_ => $status->{$_} // 'no row') } keys %expected }, \%expected,
	'validate_logs: every digest and log file of ins is valid, across the restart and the crash');
# (validate_logs once kept the expected digests and keys in memory that
# SPI_finish had freed: with a few dozen digests it reported garbage)
is_deeply([ grep { $_ ne 'summary' && !$expected{$_} } sort keys %$status ], [],
	'validate_logs reports no other file');
my ($nd, $nl) = (scalar(grep { /^digest / } keys %expected), scalar(grep { /^log / } keys %expected));
is($status->{summary}, "$nd/$nd digest files valid, $nl/$nl log files valid", '... and says so in its summary');

# the offline validator (its own process, the same checks)
my $pg_config = $ENV{PG_CONFIG} // '/usr/lib/postgresql/15/bin/pg_config';
my $bindir = `$pg_config --bindir`;
chomp $bindir;
my $tv = $ENV{TRAIL_VALIDATE} // "$bindir/trail-validate";
SKIP:
{
	skip "no $tv", 2 unless -x $tv;
	my @keys;
	for (split /\n/, sql(q{SELECT encode(value, 'hex') FROM trail.list_public_keys()}))
	{
		my $file = "$tmp/key-" . scalar(@keys) . '.der';
		open my $fh, '>:raw', $file or die "open $file: $!";
		print $fh pack('H*', $_);
		close $fh or die "close $file: $!";
		push @keys, '--public-key', $file;
	}
	my ($out, $err) = ('', '');
	IPC::Run::run([ $tv, '--trail', 'ins', @keys, '--verbose', $dir ], '<', \undef, '>', \$out, '2>', \$err);
	is($? >> 8, 0, 'trail-validate: exit 0') or diag("$out$err");
	my %tv_status;
	$tv_status{ lc($1) . " $2" } = $3 while $out =~ m{^(Digest|Log) file\tins-bucket/(\S+)\t(.*)$}mg;
	is_deeply(\%tv_status, \%expected, 'trail-validate: every digest and log file valid, and no other');
}

$q->quit;
$listener->quit;
$node->stop;
done_testing();
