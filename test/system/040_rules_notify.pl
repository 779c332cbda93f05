# test/system/040_rules_notify.pl: rules with notify targets reach a
# listener with exactly the matching committed events; the log stream
# (trail.log_events) writes exactly the committed events to the server log,
# as plain text and as jsonlog.
#
# Notifications.  A listener session LISTENs on the rules' channels and
# runs a periodic SELECT 1 (psql prints the notifications it received after
# each command).  Another session, connected before the rules existed (so
# it must notice them), runs DDL and data changes that match and that do
# not, committed, rolled back and in rolled-back savepoints; a third keeps a
# transaction open for a while before it commits.  Every notification
# received is put into a table, and compared there with what the rules
# should have matched: each enabled notify rule's pattern tested
# (trail.test_event_pattern) against the EventBridge envelope of every
# event stored since the rules were put (trail.events and trail.data_events,
# so committed events only).  Also: nothing arrives before the open
# transaction commits; envelopes carry the stored CloudTrail record; a
# disabled rule and a rule matching nothing send nothing; an envelope too big
# for NOTIFY (a DDL statement of 9 kB, a row of 9 kB) arrives trimmed, with
# its eventID; a transaction whose DDL a notify rule matches can still be
# prepared (two-phase commit), and is notified at COMMIT PREPARED.
#
# Log stream.  trail.log_events = 'management, data' (ALTER SYSTEM +
# reload): the server log gets one "TRAIL: <record>" line per committed
# event of those categories, the record as stored, and none for rolled-back
# work (transactions, savepoints) -- a prepared transaction that commits
# included.  Then with log_destination = jsonlog (logging_collector on): the
# same lines are the "message" of the JSON entries.
#
# Events that the spool writes (logins, failed statements) are not matched
# nor streamed (README), so they are left out of what is expected.
#
# Run by scripts/test.sh (prove, as a non-root user, PostgreSQL::Test::Cluster).
use strict;
use warnings;

use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use TrailTest;

my $node = trail_node('rules_notify');
$node->append_conf('postgresql.conf', "max_prepared_transactions = 4\n");
$node->restart;

my $json = JSON::PP->new->utf8->canonical;

# The listener polls every 0.1 s: keep BackgroundPsql from noting every
# query and its output (9 kB statements included) in the TAP output.
{
	no warnings 'redefine';
	*PostgreSQL::Test::BackgroundPsql::note = sub { };
}

# the setup: a captured table, the comparison helpers in schema rx
$node->safe_psql(
	'postgres', q{
CREATE SCHEMA app;
CREATE TABLE app.orders (id int PRIMARY KEY, note text);
CREATE TABLE app.open_t (id int);
SELECT trail.update_event_data_store(jsonb_build_array(jsonb_build_object('Name', 'app.orders',
	'FieldSelectors', jsonb_build_array(
		'{"Field": "eventCategory", "Equals": ["Data"]}'::jsonb,
		'{"Field": "resources.type", "Equals": ["PG::Table"]}'::jsonb,
		jsonb_build_object('Field', 'resources.ARN', 'Equals', jsonb_build_array(trail.table_arn('app.orders')))))));
SELECT trail.set_capture_options('app.orders', 'full');

CREATE SCHEMA rx;
-- what the listener received, and from where to compare
CREATE TABLE rx.received (n serial, channel text, payload jsonb, bytes int);
CREATE TABLE rx.mark (event_id uuid);
-- the EventBridge envelope of a stored CloudTrail record
CREATE FUNCTION rx.envelope(rec jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('version', '0',
		'detail-type', CASE WHEN rec->>'eventCategory' = 'Insight' THEN 'AWS Insight via CloudTrail'
		                    WHEN rec->>'eventType' = 'AwsServiceEvent' THEN 'AWS Service Event via CloudTrail'
		                    WHEN rec->>'eventType' = 'AwsConsoleSignIn' THEN 'AWS Console Sign In via CloudTrail'
		                    ELSE 'AWS API Call via CloudTrail' END,
		'source', split_part(rec->>'eventSource', '.', 2) || '.' || split_part(rec->>'eventSource', '.', 1),
		'account', rec->>'recipientAccountId', 'time', rec->>'eventTime', 'region', rec->>'awsRegion',
		'resources', CASE WHEN jsonb_typeof(rec->'resources') = 'array'
		                  THEN coalesce((SELECT jsonb_agg(r->'ARN') FROM jsonb_array_elements(rec->'resources') r), '[]')
		                  ELSE '[]' END,
		'detail', rec)
$$;
-- the events stored since the mark, as CloudTrail records (spooled ones left out)
CREATE VIEW rx.stored AS
	SELECT e.event_id, e.event_category, trail.cloudtrail_record(e) AS record
	  FROM trail.events e
	 WHERE e.event_category <> 'Data' AND e.event_id > (SELECT event_id FROM rx.mark)
	   AND e.event_source <> 'signin.postgresql' AND e.error_code IS NULL
	UNION ALL
	SELECT d.event_id, d.event_category, trail.cloudtrail_record(d)
	  FROM trail.data_events d
	 WHERE d.event_id > (SELECT event_id FROM rx.mark);
-- what the enabled notify rules match among them
CREATE VIEW rx.expected AS
	SELECT DISTINCT substr(r.target, 8) AS channel, s.event_id
	  FROM trail.rules r JOIN rx.stored s ON trail.test_event_pattern(r.event_pattern, rx.envelope(s.record))
	 WHERE r.enabled AND r.target LIKE 'notify:%';
-- the log records received about events since the mark (older ones may precede it);
-- like rx.stored, without the spooled events (logins, failures), which are
-- streamed when a worker drains them (test/system/050)
CREATE VIEW rx.logged AS
	SELECT * FROM rx.received WHERE (payload->>'eventID')::uuid > (SELECT event_id FROM rx.mark)
	   AND payload->>'eventSource' IS DISTINCT FROM 'signin.postgresql' AND payload->>'errorCode' IS NULL;
CREATE VIEW rx.got AS
	SELECT n, channel, (payload->'detail'->>'eventID')::uuid AS event_id, payload, bytes FROM rx.received;
});

# Puts the last event id (statement or row event) into rx.mark.
sub set_mark
{
	$node->safe_psql(
		'postgres', q{
DELETE FROM rx.mark;
INSERT INTO rx.mark SELECT coalesce((SELECT event_id FROM (SELECT event_id FROM trail.events
                                                           UNION ALL SELECT event_id FROM trail.event_rows) e
                                      ORDER BY event_id DESC LIMIT 1),
                                    '00000000-0000-0000-0000-000000000000');
});
}

###########################################################################
# The sessions, and the rules
###########################################################################
# The writer connects and stores an event before any rule exists: it must
# notice the rules put by another session.
my $writer = $node->background_psql('postgres');
$writer->query_safe('CREATE TABLE app.before_rules (id int)');

$node->safe_psql(
	'postgres', q{
SELECT trail.put_rule('ddl-drops', '{"source": ["postgresql.ddl"], "detail": {"eventName": [{"prefix": "Drop"}]}}',
                      'notify:trail_alerts');
SELECT trail.put_rule('ddl-creates-in-app', '{"source": ["postgresql.ddl"],
	"detail": {"eventName": ["CreateTable", "CreateIndex"], "requestParameters": {"statement": [{"wildcard": "* app.*"}]}}}',
                      'notify:trail_alerts');
SELECT trail.put_rule('iam', '{"source": ["postgresql.iam"]}', 'notify:trail_alerts');
SELECT trail.put_rule('orders-deletes', '{"source": ["postgresql.table"],
	"detail": {"eventName": ["Delete"], "requestParameters": {"tableName": ["app.orders"]}}}', 'notify:trail_data');
SELECT trail.put_rule('big-notes', '{"detail": {"eventCategory": ["Data"],
	"requestParameters": {"newImage": {"note": [{"prefix": "big"}]}}}}', 'notify:trail_data');
SELECT trail.put_rule('never', '{"source": ["postgresql.nothing"]}', 'notify:trail_never');
SELECT trail.put_rule('disabled', '{"version": ["0"]}', 'notify:trail_disabled', 'everything, but disabled', false);
});
is( $node->safe_psql('postgres',
		q{SELECT string_agg(name || ':' || state, ' ' ORDER BY name) FROM trail.describe_rules()}),
	'big-notes:ENABLED ddl-creates-in-app:ENABLED ddl-drops:ENABLED disabled:DISABLED iam:ENABLED never:ENABLED orders-deletes:ENABLED',
	'seven rules, one disabled');

my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN trail_alerts; LISTEN trail_data; LISTEN trail_never; LISTEN trail_disabled;');

my @received;    # [channel, payload] in the order received

# Run a command in the listener and keep the notifications psql printed.
sub collect
{
	my $out = $listener->query_safe('SELECT 1');
	for my $line (split /\n/, $out)
	{
		push @received, [ $1, $2 ]
		  if $line =~
		  /^Asynchronous notification "([^"]+)" with payload "(.*)" received from server process with PID \d+\.$/;
	}
	return scalar @received;
}

# Collect until there are $n notifications or $timeout seconds passed;
# then go on collecting for $settle seconds (to see any extra).
sub collect_until
{
	my ($n, $timeout, $settle) = @_;
	poll_until($timeout, sub { collect() >= $n });
	my $deadline = Time::HiRes::time() + ($settle // 0);
	while (Time::HiRes::time() < $deadline)
	{
		collect();
		usleep(100_000);
	}
	return scalar @received;
}

# Store what the listener received into rx.received (replacing it).
sub store_received
{
	my $sql = "DELETE FROM rx.received;\n";
	for my $r (@received)
	{
		my ($channel, $payload) = @$r;
		die "a payload holds the quoting tag" if $payload =~ /\$rx\$/;
		$sql .=
		    "INSERT INTO rx.received (channel, payload, bytes) VALUES ('$channel', \$rx\$$payload\$rx\$, "
		  . length($payload) . ");\n";
	}
	$node->safe_psql('postgres', $sql);
}

set_mark();

###########################################################################
# Committed, rolled back, rolled back to a savepoint
###########################################################################
$writer->query_safe($_) for (
	# committed; matching
	'CREATE TABLE app.t1 (id int)',
	'CREATE INDEX t1_id ON app.t1 (id)',
	'DROP TABLE app.t1',
	'CREATE ROLE regress_rules_r1',
	# committed; not matching
	'CREATE TABLE public.nomatch (id int)',
	'ALTER TABLE public.nomatch ADD COLUMN x int',
	'CREATE VIEW public.nomatch_v AS SELECT 1 AS one',
	# rolled back
	'BEGIN',
	'CREATE TABLE app.rb (id int)',
	'DROP TABLE public.nomatch',
	'CREATE ROLE regress_rules_rb',
	'ROLLBACK',
	# a savepoint rolled back
	'BEGIN',
	'CREATE TABLE app.sp_keep (id int)',
	'SAVEPOINT s',
	'CREATE TABLE app.sp_gone (id int)',
	'DROP VIEW public.nomatch_v',
	'ROLLBACK TO SAVEPOINT s',
	'CREATE INDEX sp_keep_id ON app.sp_keep (id)',
	'COMMIT',
	# data: inserts match nothing; deletes of app.orders do
	q{INSERT INTO app.orders SELECT g, 'n' || g FROM generate_series(1, 12) g},
	'DELETE FROM app.orders WHERE id IN (1, 2)',
	'BEGIN',
	'DELETE FROM app.orders WHERE id = 3',
	'ROLLBACK',
	'BEGIN',
	'SAVEPOINT s',
	'DELETE FROM app.orders WHERE id = 4',
	'ROLLBACK TO SAVEPOINT s',
	'DELETE FROM app.orders WHERE id = 5',
	'COMMIT');

my $n_expected = $node->safe_psql('postgres', 'SELECT count(*) FROM rx.expected');
# app.t1, its index and its drop, the role, sp_keep and its index; rows 1, 2, 5
is($n_expected, 9, 'nine events are expected to match (computed from the stored events)');
collect_until($n_expected, 60, 1);
is(scalar @received, $n_expected, 'the listener received as many notifications');

###########################################################################
# A transaction that stays open: nothing before its commit
###########################################################################
my $open = $node->background_psql('postgres');
$open->query_safe($_) for (
	'BEGIN',
	'DROP TABLE app.open_t',
	'DELETE FROM app.orders WHERE id = 10',
	q{INSERT INTO app.orders VALUES (99, 'open')});
my $before_commit = scalar @received;
collect_until(1_000_000, 2.5);
is(scalar @received - $before_commit, 0, 'nothing arrives while the transaction stays open (2.5 s)');
$open->query_safe('COMMIT');
collect_until($before_commit + 2, 60, 1);
is(scalar @received - $before_commit, 2, 'at its commit, its two matching events arrive (DropTable, Delete)');
my @at_commit = map { $json->decode($_->[1])->{detail} } @received[ $before_commit .. $#received ];
is( join(' ',
		sort map { $_->{eventName} . ':' . (($_->{requestParameters}{statement} // '') =~ s/[\s;]+$//r) } @at_commit),
	'Delete:DELETE FROM app.orders WHERE id = 10 DropTable:DROP TABLE app.open_t',
	'... they are those of the open transaction');
$open->quit;

###########################################################################
# Too big for NOTIFY: trimmed, with the event id
###########################################################################
my $long_default = 'x' x 9000;
$writer->query_safe("CREATE TABLE app.huge (id int, c text DEFAULT '$long_default')");
$writer->query_safe(q{INSERT INTO app.orders VALUES (100, 'big' || repeat('y', 9000))});
my $before_big = scalar @received;
collect_until($before_big + 2, 60, 1);
is(scalar @received - $before_big, 2, 'a 9 kB DDL statement and a 9 kB row: two notifications');

###########################################################################
# Exactly the matching committed events
###########################################################################
store_received();
is($node->safe_psql('postgres', 'SELECT count(*) FROM rx.received'),
	scalar @received, '(every notification parsed as JSON)');
is( $node->safe_psql(
		'postgres', q{
SELECT coalesce(string_agg(channel || ' ' || event_id || ' ' || (s.record->>'eventName'), E'\n'), '')
  FROM (SELECT channel, event_id FROM rx.expected EXCEPT SELECT channel, event_id FROM rx.got) x
  LEFT JOIN rx.stored s USING (event_id)}),
	'',
	'every matching committed event was notified');
is( $node->safe_psql(
		'postgres', q{
SELECT coalesce(string_agg(channel || ' ' || coalesce(event_id::text, '?') || ' ' || coalesce(payload->'detail'->>'eventName', '?'), E'\n'), '')
  FROM (SELECT channel, event_id FROM rx.got EXCEPT SELECT channel, event_id FROM rx.expected) x
  LEFT JOIN rx.got USING (channel, event_id)}),
	'',
	'nothing else was notified (no event of rolled-back work, none a rule does not match)');
is($node->safe_psql('postgres', 'SELECT count(*) - count(DISTINCT (channel, event_id)) FROM rx.got'),
	'0', 'each event once');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM rx.got WHERE channel IN ('trail_never', 'trail_disabled')}),
	'0', 'a rule matching nothing and a disabled rule sent nothing');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM rx.got
 WHERE payload::text ~ '(app\.rb|app\.sp_gone|regress_rules_rb|nomatch)'
    OR (payload->'detail'->'requestParameters'->'key'->>'id')::int IN (3, 4)}),
	'0', '... in particular nothing of app.rb, app.sp_gone, the rolled-back role, rows 3 and 4');
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(coalesce(payload->'detail'->'requestParameters'->>'statement', '')
                  || coalesce(' #' || (payload->'detail'->'requestParameters'->'key'->>'id'), ''), ' | ' ORDER BY n)
  FROM rx.got WHERE NOT payload ? 'trimmed' AND channel = 'trail_alerts'}),
	'CREATE TABLE app.t1 (id int) | CREATE INDEX t1_id ON app.t1 (id) | DROP TABLE app.t1 | CREATE ROLE regress_rules_r1 | '
	  . 'CREATE TABLE app.sp_keep (id int) | CREATE INDEX sp_keep_id ON app.sp_keep (id) | DROP TABLE app.open_t',
	'trail_alerts: the committed DDL the rules match, in order');
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg((payload->'detail'->>'eventName') || ' #' || (payload->'detail'->'requestParameters'->'key'->>'id'), ' ' ORDER BY n)
  FROM rx.got WHERE NOT payload ? 'trimmed' AND channel = 'trail_data'}),
	'Delete #1 Delete #2 Delete #5 Delete #10',
	'trail_data: the committed deletes of app.orders');

# full envelopes: as EventBridge sees the stored record
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FILTER (WHERE g.payload - 'id' = rx.envelope(s.record) AND g.payload->>'id' ~ '^[0-9a-f-]{36}$') || '/' || count(*)
  FROM rx.got g JOIN rx.stored s USING (event_id) WHERE NOT g.payload ? 'trimmed'}),
	(scalar @received - 2) . '/' . (scalar @received - 2),
	'every untrimmed notification is the envelope of the stored event (detail = its CloudTrail record)');

# trimmed ones
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(s.record->>'eventName' || ' ' || (g.bytes <= 7999) || ' ' || (length(rx.envelope(s.record)::text) > 8000), ' | '
                  ORDER BY g.n)
  FROM rx.got g JOIN rx.stored s USING (event_id) WHERE g.payload->'trimmed' = 'true'}),
	'CreateTable true true | Insert true true',
	'the two big events arrive trimmed, under 8000 bytes, with the eventID of the stored event');
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(DISTINCT (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(g.payload->'detail') k)
                  || ' / ' || (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(g.payload) k), ' | ')
  FROM rx.got g WHERE g.payload ? 'trimmed'}),
	'awsRegion,eventID,eventName,eventSource,eventTime,recipientAccountId,userIdentity / account,detail,detail-type,id,region,source,time,trimmed,version',
	'... each keeps its envelope and the identity of the event');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM rx.got g JOIN rx.stored s USING (event_id)
 WHERE g.payload ? 'trimmed'
   AND g.payload->'detail'->'userIdentity' = jsonb_build_object('arn', s.record->'userIdentity'->'arn')
   AND (g.payload->'detail') - 'userIdentity' = (SELECT jsonb_object_agg(k, s.record->k) FROM unnest(ARRAY['eventID', 'eventTime',
          'eventSource', 'eventName', 'awsRegion', 'recipientAccountId']) k)
   AND g.payload - 'detail' - 'id' - 'trimmed' = rx.envelope(s.record) - 'detail' - 'resources'}),
	'2', '... with the values of the stored event');

###########################################################################
# Two-phase commit: a prepared transaction whose DDL a notify rule matches
###########################################################################
$node->safe_psql('postgres',
	q{SELECT trail.put_rule('prepared', '{"detail": {"requestParameters": {"statement": ["CREATE TABLE app.prep_n (id int)"]}}}',
	                        'notify:trail_prep')});
$listener->query_safe('LISTEN trail_prep');
my $before_prep = collect();
my ($prep_rc, $prep_out, $prep_err) =
  $node->psql('postgres', q{BEGIN; CREATE TABLE app.prep_n (id int); PREPARE TRANSACTION 'prep_n';});
is("$prep_rc $prep_err", '0 ', 'a transaction whose DDL a notify rule matches can be prepared');
$node->safe_psql('postgres', q{COMMIT PREPARED 'prep_n'}) if $prep_rc == 0;
collect_until($before_prep + 1, 10, 0.5);
my @prep_notes = map { $json->decode($_->[1])->{detail}{eventID} } grep { $_->[0] eq 'trail_prep' } @received;
is( join(' ', @prep_notes) || 'nothing notified',
	$node->safe_psql('postgres',
		q{SELECT coalesce(string_agg(event_id::text, ' '), 'no event stored') FROM trail.events
		   WHERE request_parameters->>'statement' = 'CREATE TABLE app.prep_n (id int)'}),
	'... and its event is notified once, at COMMIT PREPARED');

###########################################################################
# The log stream: trail.log_events = 'management, data'
###########################################################################
$writer->quit;
$listener->quit;
$node->safe_psql('postgres', q{SELECT count(trail.delete_rule(name)) FROM trail.describe_rules()});
$node->safe_psql('postgres', q{ALTER SYSTEM SET trail.log_events = 'management, data'});
$node->reload;
ok( poll_until(30, sub { $node->safe_psql('postgres', 'SHOW trail.log_events') eq 'management, data' }),
	'trail.log_events = management, data (ALTER SYSTEM, reload)');

# The workload of the log stream; $tag names its tables and rows.
sub log_workload
{
	my ($tag, $id) = @_;
	$node->safe_psql('postgres', $_) for (
		"CREATE TABLE app.${tag}_1 (id int)",
		"INSERT INTO app.orders VALUES ($id, '$tag'), ($id + 1, '$tag')",
		"SELECT count(*) FROM app.orders",
		"BEGIN; CREATE TABLE app.${tag}_rb (id int); INSERT INTO app.orders VALUES ($id + 2, '$tag rb'); ROLLBACK;",
		"BEGIN; CREATE TABLE app.${tag}_keep (id int); SAVEPOINT s; CREATE TABLE app.${tag}_gone (id int);"
		  . " INSERT INTO app.orders VALUES ($id + 3, '$tag gone'); ROLLBACK TO SAVEPOINT s;"
		  . " INSERT INTO app.orders VALUES ($id + 4, '$tag kept'); COMMIT;",
		"BEGIN; CREATE TABLE app.${tag}_prep (id int); INSERT INTO app.orders VALUES ($id + 5, '$tag prep');"
		  . " PREPARE TRANSACTION '${tag}_p'",
		"COMMIT PREPARED '${tag}_p'",
		"CREATE TABLE app.${tag}_last (id int)");
}

# The TRAIL: records in some text, as JSON texts (one per line).
sub trail_lines
{
	my ($text) = @_;
	return map { /TRAIL: (.*)$/ ? ($1) : () } split /\n/, $text;
}

# Compare log records with the stored events since the mark; $what names them.
sub check_records
{
	my ($what, @records) = @_;
	is(scalar(grep { !eval { $json->decode($_); 1 } || /\$rx\$/ } @records), 0, "$what: every TRAIL line holds JSON");
	$node->safe_psql('postgres',
		"DELETE FROM rx.received;\n"
		  . join('', map { "INSERT INTO rx.received (channel, payload) VALUES ('log', \$rx\$$_\$rx\$);\n" } @records));
	is( $node->safe_psql(
			'postgres', q{
SELECT coalesce(string_agg(s.event_id || ' ' || (s.record->>'eventName'), E'\n'), '')
  FROM rx.stored s
 WHERE NOT EXISTS (SELECT 1 FROM rx.logged r WHERE r.payload->>'eventID' = s.event_id::text)}),
		'', "$what: every committed management and data event has a TRAIL line");
	is( $node->safe_psql(
			'postgres', q{
SELECT coalesce(string_agg(coalesce(r.payload->>'eventID', '?') || ' ' || coalesce(r.payload->>'eventName', '?'), E'\n'), '')
  FROM rx.logged r
 WHERE NOT EXISTS (SELECT 1 FROM rx.stored s WHERE r.payload->>'eventID' = s.event_id::text)}),
		'', "$what: no other TRAIL line (none of rolled-back work)");
	is( $node->safe_psql(
			'postgres', q{SELECT count(*) - count(DISTINCT payload->>'eventID') FROM rx.logged}),
		'0', "$what: one line per event");
	is( $node->safe_psql(
			'postgres', q{
SELECT count(*) FROM rx.logged r JOIN rx.stored s ON r.payload->>'eventID' = s.event_id::text
 WHERE r.payload <> s.record}),
		'0',
		"$what: each line is the CloudTrail record of its event");
	is( $node->safe_psql(
			'postgres', q{
SELECT string_agg(DISTINCT s.record->>'eventCategory', ',')
       || ' ' || count(*) FILTER (WHERE s.record->>'eventCategory' = 'Data')
  FROM rx.logged r JOIN rx.stored s ON r.payload->>'eventID' = s.event_id::text}),
		'Data,Management 5',
		"$what: the management events and the 5 committed data events (4 rows, one of them prepared, and 1 read)");
	is( $node->safe_psql(
			'postgres', q{
SELECT count(*) FROM rx.logged
 WHERE payload::text ~ '(_rb|_gone)' OR payload->'requestParameters'->'newImage'->>'note' ~ '(rb|gone)$'}),
		'0', "$what: nothing of the rolled-back transaction and savepoint");
}

set_mark();
my $log_offset = -s $node->logfile;
log_workload('l', 200);
my @records = trail_lines(slurp_file($node->logfile, $log_offset));
check_records('stderr log', @records);
is( scalar(grep { ($json->decode($_)->{requestParameters}{statement} // '') eq 'CREATE TABLE app.l_prep (id int)' } @records),
	1, 'stderr log: the DDL of the prepared transaction, committed with COMMIT PREPARED, has its line');
like(slurp_file($node->logfile, $log_offset), qr/^\S+ \S+ \S+ \[\d+\] .*LOG:  TRAIL: \{"eventVersion"/m,
	'stderr log: the lines are LOG messages starting with "TRAIL: "');

###########################################################################
# The log stream as jsonlog
###########################################################################
$node->append_conf(
	'postgresql.conf', q{
logging_collector = on
log_destination = 'jsonlog'
log_directory = 'log'
});
$node->restart;

set_mark();
log_workload('j', 300);
my @entries;
poll_until(
	60,
	sub {
		@entries = ();
		for my $file (glob($node->data_dir . '/log/*.json'))
		{
			for my $line (split /\n/, slurp_file($file))
			{
				my $entry = eval { $json->decode($line) } or next;
				push @entries, $entry if ($entry->{message} // '') =~ /^TRAIL: /;
			}
		}
		# wait for the line of the last statement (the syslogger writes in order)
		return scalar(grep { $_->{message} =~ /CREATE TABLE app\.j_last / } @entries);
	});
ok(scalar(@entries) > 0, 'jsonlog: TRAIL entries in the .json log file');
is(scalar(grep { ($_->{error_severity} // '') ne 'LOG' } @entries), 0, 'jsonlog: each at severity LOG');
check_records('jsonlog', trail_lines(join("\n", map { $_->{message} } @entries)));

done_testing();
