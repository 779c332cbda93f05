# 010_maintenance_worker.pl: trail's maintenance launcher and its workers.
#
# Covers: partitions made by CREATE EXTENSION; the launcher connected to no
# database; run_maintenance() reports; retention applied by the worker after
# a reload; events moved out of the default partition (by run_maintenance
# and by the worker); DROP DATABASE and CREATE DATABASE ... TEMPLATE while
# the launcher visits every database each second; restart, SIGTERM and a
# crash of the launcher.
#
# Every wait is a poll_query_until; nothing depends on how fast a pass runs.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('maintenance');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'trail'
trail.maintenance_interval = '1s'
restart_after_crash = on
});
$node->start;

# Relation name of the partition of today (UTC) plus $offset days.
sub day_relname
{
	my ($offset) = @_;
	return $node->safe_psql('postgres',
		"SELECT 'events_' || pg_catalog.to_char((now() AT TIME ZONE 'UTC')::date + ($offset), 'YYYYMMDD')"
	);
}

# Partitions of trail.events in a database, sorted, space-separated.
sub partitions
{
	my ($db) = @_;
	return $node->safe_psql($db,
		q{SELECT string_agg(c.relname, ' ' ORDER BY c.relname)
		    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		   WHERE i.inhparent = 'trail.events'::regclass});
}

# pid of the running launcher; waits until there is one.
sub launcher_pid
{
	my ($not_pid) = @_;
	$not_pid //= 0;
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'trail launcher' AND pid <> $not_pid"
	) or die 'no trail launcher';
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'trail launcher'");
}

# Day names are computed once, up front: do not start just before UTC
# midnight (Unix time counts UTC days of exactly 86400 seconds).
my $to_midnight = 86400 - time() % 86400;
sleep($to_midnight + 1) if $to_midnight < 90;

my $today = day_relname(0);

###########################################################################
# 1. CREATE EXTENSION makes today's partition and premake_days (3) more;
#    the launcher runs, connected to no database.
###########################################################################
$node->safe_psql('postgres', 'CREATE EXTENSION trail');
is( partitions('postgres'),
	join(' ', (map { day_relname($_) } 0 .. 3), 'events_default'),
	'CREATE EXTENSION creates the partitions of today and 3 days ahead');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM trail.events
		  WHERE event_name = 'CreateTable'
		    AND request_parameters->>'tableName' = 'trail.$today'
		    AND request_parameters->>'reason' = 'premake'
		    AND user_identity->>'invokedBy' = 'trail.postgresql'"),
	'1',
	'the creation of today\'s partition is recorded, invoked by trail');

my $launcher = launcher_pid();
is( $node->safe_psql(
		'postgres',
		"SELECT datid IS NULL FROM pg_stat_activity WHERE pid = $launcher"),
	't',
	'the launcher is connected to no database');
is($node->safe_psql('postgres', 'SELECT count(*) FROM trail.run_maintenance()'),
	'0', 'a pass with nothing to do reports nothing');

###########################################################################
# 2. Retention: days made in the past are dropped by the worker once a
#    reload shortens the retention period.
###########################################################################
my @old = map { day_relname($_) } -10 .. -7;
is( $node->safe_psql(
		'postgres',
		q{SELECT action || ' ' || partition_name || ' ' || row_count
		    FROM trail.run_maintenance(now() - interval '10 days')}),
	join("\n", map { "created trail.$_ 0" } @old),
	'run_maintenance(as_of) creates the days around as_of, in order');

$node->safe_psql('postgres',
	"ALTER SYSTEM SET trail.retention_period = '1d'; SELECT pg_reload_conf()");
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 0 FROM pg_class WHERE relnamespace = 'trail'::regnamespace
		    AND relname IN ('" . join("', '", @old) . "')"),
	'the worker drops the days past the reloaded retention period');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(request_parameters->>'tableName' || ' ' ||
		                   (request_parameters->>'rowCount') || ' ' ||
		                   (user_identity->>'type') || ' ' || source_ip_address, ','
		                   ORDER BY request_parameters->>'tableName')
		   FROM trail.events
		  WHERE event_name = 'DropTable' AND event_source = 'ddl.postgresql'
		    AND event_type = 'AwsServiceEvent' AND NOT read_only
		    AND request_parameters->>'reason' = 'retention'
		    AND user_identity->>'invokedBy' = 'trail.postgresql'"),
	join(',', map { "trail.$_ 0 PGService trail.postgresql" } @old),
	'each drop is recorded as a DropTable event of the worker');
is(partitions('postgres'),
	join(' ', (map { day_relname($_) } 0 .. 3), 'events_default'),
	'the days within retention are kept');

###########################################################################
# 3. The default partition: events whose day has no partition land there;
#    maintenance moves them into the day's new partition, and purges them
#    once they are past retention.  In one transaction, the worker waits on
#    our lock of the default partition, so the reports are exact.
###########################################################################
my ($drop_report, $purge_report, $in_default, $create_report) = split(
	/\n---\n/,
	$node->safe_psql(
		'postgres',
		q{BEGIN;
		  SELECT action || ' ' || partition_name FROM trail.run_maintenance(now() + interval '5 days');
		  SELECT '---';
		  SELECT action || ' ' || partition_name || ' ' || row_count FROM trail.run_maintenance(now() + interval '5 days');
		  SELECT '---';
		  SELECT count(*) FROM trail.events_default;
		  SELECT '---';
		  SELECT action || ' ' || partition_name || ' ' || row_count FROM trail.run_maintenance(now());
		  COMMIT;}));
is( $drop_report,
	join("\n",
		(map { 'created trail.' . day_relname($_) } 5 .. 8),
		(map { 'dropped trail.' . day_relname($_) } 0 .. 3)),
	'as of 5 days later, today to 3 days ahead are past retention');
is( $purge_report,
	'purged trail.events_default 8',
	'the 8 events of that pass, in the default partition, are purged as of 5 days later'
);
is($in_default, '1',
	'the purge event itself waits in the default partition');
is( $create_report,
	join("\n",
		"created trail.$today 0",
		"moved trail.$today 1",
		map { 'created trail.' . day_relname($_) . ' 0' } 1 .. 3),
	'as of now, today is created again and the waiting event moved into it');
is( $node->safe_psql(
		'postgres',
		"SELECT tableoid::regclass || ' ' || (request_parameters->>'rowCount')
		   FROM trail.events WHERE event_name = 'PurgeExpiredEvents'
		    AND event_source = 'trail.postgresql'"),
	"trail.$today 8",
	'the moved event is the PurgeExpiredEvents event');
is( $node->safe_psql(
		'postgres',
		"SELECT request_parameters->>'movedFromDefault' FROM trail.events
		  WHERE event_name = 'CreateTable' AND request_parameters->>'tableName' = 'trail.$today'
		  ORDER BY event_time DESC, event_id DESC LIMIT 1"),
	'1',
	'the CreateTable event says how many events it moved');

# The same done by the worker: drop today again, the worker brings it back
# with the 4 DropTable events that waited in the default partition.
$node->safe_psql('postgres',
	q{SELECT count(*) FROM trail.run_maintenance(now() + interval '5 days')});
ok( $node->poll_query_until(
		'postgres',
		"SELECT to_regclass('trail.$today') IS NOT NULL
		    AND NOT EXISTS (SELECT FROM trail.events_default)"),
	'the worker creates today again and empties the default partition');
is( $node->safe_psql(
		'postgres',
		"SELECT (request_parameters->>'movedFromDefault') || ' ' || (user_identity->>'type')
		   FROM trail.events
		  WHERE event_name = 'CreateTable' AND request_parameters->>'tableName' = 'trail.$today'
		  ORDER BY event_time DESC, event_id DESC LIMIT 1"),
	'4 PGService',
	'the worker moved the 4 DropTable events into today');

###########################################################################
# 4. Databases with trail can be dropped and copied while the launcher
#    visits every database each second.
###########################################################################
for my $i (1 .. 3)
{
	my $db = "dropme_$i";
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION trail');

	# make the worker do something there, and wait until it has
	$node->safe_psql($db,
		q{SELECT count(*) FROM trail.run_maintenance(now() + interval '5 days')});
	$node->poll_query_until($db,
		"SELECT to_regclass('trail.$today') IS NOT NULL")
	  or die "the worker never visited $db";

	my ($ret, $stdout, $stderr) =
	  $node->psql('postgres', "DROP DATABASE $db");
	is($ret, 0, "DROP DATABASE of a trail database succeeds ($i)")
	  or diag $stderr;
}

$node->safe_psql('postgres', 'CREATE DATABASE tpl');
$node->safe_psql('tpl', 'CREATE EXTENSION trail');
$node->safe_psql('tpl',
	q{SELECT count(*) FROM trail.run_maintenance(now() + interval '5 days')});
$node->poll_query_until('tpl', "SELECT to_regclass('trail.$today') IS NOT NULL")
  or die 'the worker never visited tpl';
my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE DATABASE copy TEMPLATE tpl');
is($ret, 0, 'CREATE DATABASE ... TEMPLATE of a trail database succeeds')
  or diag $stderr;
is(partitions('copy'), partitions('tpl'), 'the copy has the same partitions');
$node->safe_psql('postgres', 'DROP DATABASE copy');
$node->safe_psql('postgres', 'DROP DATABASE tpl');

###########################################################################
# 5. Restart, and SIGTERM: the launcher stops promptly and the postmaster
#    starts it again after its restart time.
###########################################################################
$node->restart;
$launcher = launcher_pid();
ok($launcher, 'the launcher runs after a restart');

kill 'TERM', $launcher;
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $launcher"),
	'the launcher exits on SIGTERM');
my $restarted = launcher_pid($launcher);
isnt($restarted, $launcher,
	'the postmaster starts a new launcher after its restart time');

###########################################################################
# 6. A crash: kill -9 of the launcher makes the postmaster reinitialize;
#    the new launcher does its work (a premake_days raised by a reload).
###########################################################################
kill 'KILL', $restarted;
$launcher = launcher_pid($restarted);
ok($node->log_contains(qr/trail launcher.*terminated by signal 9/),
	'the launcher was killed and the server reinitialized');

my $far = day_relname(10);
$node->safe_psql('postgres',
	"ALTER SYSTEM SET trail.premake_days = 10; SELECT pg_reload_conf()");
ok( $node->poll_query_until(
		'postgres', "SELECT to_regclass('trail.$far') IS NOT NULL"),
	'after crash recovery the worker creates the newly needed days');

$node->stop;
done_testing();
