# test/system/001_preload.pl: trail needs shared_preload_libraries, and its
# events are as durable as the transactions that made them.
#
#  (a) without shared_preload_libraries, CREATE EXTENSION trail is refused and
#      the error says why;
#  (b) preloaded, it installs and a CREATE TABLE records one CreateTable event;
#  (c) a clean restart keeps the event;
#  (d) after a crash (immediate stop, then recovery) committed events are there
#      and the event of a transaction that was still open is not.
#
# Run by scripts/test.sh (prove, as a non-root user, PostgreSQL::Test::Cluster).
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('preload');
$node->init;
$node->start;

# CreateTable events of user statements; trail's own maintenance (the daily
# partitions of trail.events) records CreateTable events invoked by trail itself.
my $user_create_table = q{event_name = 'CreateTable'
	AND coalesce(user_identity->>'invokedBy', '') <> 'trail.postgresql'};

sub create_table_events
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM trail.events WHERE $user_create_table");
}

# (a) Not preloaded: refused, with the reason.
my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE EXTENSION trail');
isnt($ret, 0, 'CREATE EXTENSION trail fails without shared_preload_libraries');
like($stderr, qr/shared_preload_libraries/,
	'the error mentions shared_preload_libraries');
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'trail'"),
	'0',
	'nothing is left installed');

# (b) Preloaded: installs, and records DDL.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'trail'");
$node->restart;
($ret, $stdout, $stderr) = $node->psql('postgres', 'CREATE EXTENSION trail');
is($ret, 0, 'CREATE EXTENSION trail succeeds once preloaded')
  or diag($stderr);
like($node->safe_psql('postgres', '\dx trail'),
	qr/^trail\|1\.0\|trail\|/m, '\dx trail lists the extension');

$node->safe_psql('postgres', 'CREATE TABLE t(i int)');
is(create_table_events(), '1', 'CREATE TABLE t records one CreateTable event');
like(
	$node->safe_psql(
		'postgres', "SELECT resources FROM trail.events WHERE $user_create_table"),
	qr/[.:"]t"/,
	'the event names table t as its resource');

# (c) A clean restart keeps it.
$node->restart;
is(create_table_events(), '1', 'the event survives a restart');

# (d) Crash recovery.  One more event is committed after the last checkpoint
# (only the WAL has it); another belongs to a transaction still open at the crash.
$node->safe_psql('postgres', 'CREATE TABLE committed_before_crash(i int)');
is(create_table_events(), '2', 'a second CreateTable event is committed');

my ($in, $out, $err) = ('', '', '');
my $timer = IPC::Run::timer($PostgreSQL::Test::Utils::timeout_default);
my $open_tx = IPC::Run::start(
	[
		'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres'), '-f', '-'
	],
	'<', \$in, '>', \$out, '2>', \$err, $timer);
$in .= "BEGIN;\nCREATE TABLE open_at_crash();\n"
  . "SELECT 'in-tx:' || count(*) FROM trail.events WHERE $user_create_table;\n";
$open_tx->pump until $out =~ /in-tx:\d+/ || $timer->is_expired;
like($out, qr/in-tx:3/,
	'inside the open transaction its CreateTable event is visible');
is(create_table_events(), '2',
	'other sessions do not see the uncommitted event');

$node->stop('immediate');
$open_tx->kill_kill;
$node->start;

like(slurp_file($node->logfile), qr/database system was not properly shut down/,
	'the server went through crash recovery');
is(create_table_events(), '2', 'committed events survive the crash');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM pg_class WHERE relname IN ('t', 'committed_before_crash')}),
	'2',
	'committed tables survive the crash');
is($node->safe_psql('postgres', q{SELECT to_regclass('open_at_crash') IS NULL}),
	't', 'the table of the open transaction is gone');

$node->stop;
done_testing();
