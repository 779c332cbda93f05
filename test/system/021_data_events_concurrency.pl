# test/system/021_data_events_concurrency.pl: concurrent writers on
# captured tables; exactly the committed changes have data events, and the
# events of a transaction follow the order of its statements.
#
# Four pgbench clients run a script of five writes per transaction on three
# captured tables (one with a primary key and changed row images, one
# without a key, full images, and a hot counter row every client updates):
# some transactions roll back a savepoint, some roll back entirely.  Every
# row carries a marker from a sequence (sequences are not transactional:
# every marker handed out is either committed or aborted) and the step of
# the statement that wrote it.  Afterwards:
#
#  - the markers in the row events are exactly the committed markers, and
#    no aborted marker appears in any event;
#  - the counter's value is the number of its Update row events;
#  - within each transaction, its events in event_id order are its
#    statements in the order they ran (steps 1, [2,] 3, 4, 5), each
#    statement event followed by its own row events.
#
# Run by scripts/test.sh (prove, as a non-root user, PostgreSQL::Test::Cluster).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TrailTest;

my $node = trail_node('concurrency');

$node->safe_psql(
	'postgres', q{
CREATE SCHEMA cc;
CREATE SEQUENCE cc.markers;
CREATE TABLE cc.a (marker bigint PRIMARY KEY, step int NOT NULL, client int, note text);
CREATE TABLE cc.b (marker bigint, step int NOT NULL, client int);
CREATE TABLE cc.counter (id int PRIMARY KEY, n bigint NOT NULL, step int NOT NULL, last_marker bigint);
INSERT INTO cc.counter VALUES (1, 0, 0, NULL);
} . select_writes_sql('cc writes', 'cc.a', 'cc.') . q{
SELECT trail.set_capture_options('cc.b', 'full');
SELECT trail.set_capture_options('cc.counter', 'full');
});
is( $node->safe_psql(
		'postgres',
		q{SELECT string_agg(table_id::text || ':' || row_images, ' ' ORDER BY table_id::text)
		    FROM trail.captured_tables}),
	'cc.a:changed cc.b:full cc.counter:full',
	'the three tables are captured');

###########################################################################
# The writers
###########################################################################
# r < 25: the savepoint is rolled back; r >= 80: the transaction is.
my $script = q{
\set r random(0, 99)
BEGIN;
SELECT nextval('cc.markers') AS m1 \gset
INSERT INTO cc.a (marker, step, client, note) VALUES (:m1, 1, :client_id, 'inserted');
SELECT nextval('cc.markers') AS m2 \gset
SAVEPOINT sp;
INSERT INTO cc.b (marker, step, client) VALUES (:m2, 2, :client_id), (:m2, 2, :client_id);
\if :r < 25
ROLLBACK TO SAVEPOINT sp;
\endif
UPDATE cc.a SET step = 3, note = 'updated' WHERE marker = :m1;
INSERT INTO cc.b (marker, step, client) VALUES (:m1, 4, :client_id);
UPDATE cc.counter SET n = n + 1, step = 5, last_marker = :m1 WHERE id = 1;
\if :r >= 80
ROLLBACK;
\else
COMMIT;
\endif
};
$node->pgbench(
	'-n -c 4 -j 4 -T 6',
	0,
	[qr/processed: [1-9]/],
	[qr/^$/],
	'four concurrent writers run for 6 seconds',
	{ '021_writers' => $script });

###########################################################################
# Exactly the committed changes have events
###########################################################################
# the row events of cc, with the marker and step of each row
my $rows = q{
	SELECT e.request_parameters->>'tableName' AS tbl, e.event_name, e.transaction_id,
	       e.event_id AS stmt_id, r.event_id, r.row_number,
	       coalesce(r.new_image, r.old_image) AS image,
	       (coalesce(r.new_image->>'marker', r.row_key->>'marker', r.old_image->>'marker'))::bigint AS marker,
	       (coalesce(r.new_image->>'step', r.old_image->>'step'))::int AS step
	  FROM trail.event_rows r
	  JOIN trail.events e ON e.event_id = r.statement_event_id AND e.event_time = r.event_time
	 WHERE e.request_parameters->>'tableName' LIKE 'cc.%'};

my ($issued, $committed_a, $committed_b, $aborted, $tx) = split /\|/,
  $node->safe_psql(
	'postgres', q{
SELECT (SELECT last_value FROM cc.markers),
       (SELECT count(*) FROM cc.a),
       (SELECT count(*) FROM cc.b),
       (SELECT count(*) FROM generate_series(1, (SELECT last_value FROM cc.markers)) m
         WHERE m NOT IN (SELECT marker FROM cc.a UNION SELECT marker FROM cc.b)),
       (SELECT n FROM cc.counter)});
cmp_ok($committed_a, '>', 100, "transactions committed ($committed_a)");
cmp_ok($aborted, '>', 50, "markers aborted, by ROLLBACK or ROLLBACK TO SAVEPOINT ($aborted)");
is($tx, $committed_a, '(the counter counts the committed transactions)');

is( $node->safe_psql(
		'postgres', qq{
WITH rows AS ($rows)
SELECT (SELECT count(*) FROM (SELECT marker, step FROM cc.a
                              EXCEPT SELECT marker, 3 FROM rows WHERE tbl = 'cc.a' AND event_name = 'Update') x)
     || ' ' || (SELECT count(*) FROM (SELECT marker FROM cc.a
                                       EXCEPT SELECT marker FROM rows WHERE tbl = 'cc.a' AND event_name = 'Insert' AND step = 1) x)
     || ' ' || (SELECT count(*) FROM (SELECT marker FROM rows WHERE tbl = 'cc.a'
                                       EXCEPT SELECT marker FROM cc.a) x)
     || ' ' || (SELECT count(*) FROM rows WHERE tbl = 'cc.a')}),
	'0 0 0 ' . (2 * $committed_a),
	'cc.a: an Insert and an Update row event for every committed row, none for any other marker');
is( $node->safe_psql(
		'postgres', qq{
WITH rows AS ($rows)
SELECT (SELECT count(*) FROM ((SELECT marker, step, client FROM cc.b
                               EXCEPT ALL
                               SELECT marker, step, (image->>'client')::int FROM rows WHERE tbl = 'cc.b' AND event_name = 'Insert')
                              UNION ALL
                              (SELECT marker, step, (image->>'client')::int FROM rows WHERE tbl = 'cc.b' AND event_name = 'Insert'
                               EXCEPT ALL
                               SELECT marker, step, client FROM cc.b)) d)
     || ' ' || (SELECT count(*) FROM rows WHERE tbl = 'cc.b' AND event_name <> 'Insert')}),
	'0 0',
	'cc.b (no key): its Insert row events are exactly its committed rows');
is( $node->safe_psql(
		'postgres', qq{
WITH rows AS ($rows)
SELECT count(*) FROM rows WHERE marker IN (
	SELECT m FROM generate_series(1, (SELECT last_value FROM cc.markers)) m
	 WHERE m NOT IN (SELECT marker FROM cc.a UNION SELECT marker FROM cc.b))}),
	'0', 'no row event carries an aborted marker');
is( $node->safe_psql(
		'postgres', qq{
SELECT count(*) FROM trail.events e
 WHERE e.event_category = 'Data' AND e.request_parameters->>'tableName' LIKE 'cc.%'
   AND e.transaction_id NOT IN (SELECT DISTINCT e2.transaction_id FROM trail.events e2
                                  JOIN trail.event_rows r ON r.statement_event_id = e2.event_id
                                 WHERE r.new_image->>'marker' IN (SELECT marker::text FROM cc.a))}),
	'0', 'every statement event belongs to a committed transaction');
is( $node->safe_psql(
		'postgres', qq{
WITH rows AS ($rows)
SELECT count(*) || ' ' || count(DISTINCT image->>'n') || ' ' || max((image->>'n')::int)
  FROM rows WHERE tbl = 'cc.counter' AND event_name = 'Update'}),
	"$tx $tx $tx",
	'the hot counter: one Update row event per committed increment, each with its own value');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM (
	SELECT transaction_id FROM trail.events
	 WHERE event_category = 'Data' AND request_parameters->>'tableName' LIKE 'cc.%'
	 GROUP BY 1) t}),
	$committed_a, 'the events belong to as many transactions as committed');

###########################################################################
# Within a transaction, events follow the statements
###########################################################################
# steps of each transaction's statement events, in event_id order
my $orders = $node->safe_psql(
	'postgres', qq{
WITH rows AS ($rows),
steps AS (
	SELECT stmt_id, min(step) AS step FROM rows GROUP BY 1),
stmts AS (
	SELECT e.transaction_id, e.event_id, s.step
	  FROM trail.events e LEFT JOIN steps s ON s.stmt_id = e.event_id
	 WHERE e.event_category = 'Data' AND e.request_parameters->>'tableName' LIKE 'cc.%')
SELECT steps, count(*) FROM (
	SELECT transaction_id, string_agg(step::text, ',' ORDER BY event_id) AS steps
	  FROM stmts GROUP BY 1) t
 GROUP BY 1 ORDER BY 1});
my %orders = map { split /\|/ } split /\n/, $orders;
is_deeply(
	[ sort keys %orders ],
	[ '1,2,3,4,5', '1,3,4,5' ],
	'every transaction\'s statement events are in statement order (with or without the savepoint\'s)'
) or diag($orders);
cmp_ok($orders{'1,2,3,4,5'} // 0, '>', 0, '(transactions that kept the savepoint)');
cmp_ok($orders{'1,3,4,5'} // 0, '>', 0, '(transactions that rolled it back)');

is( $node->safe_psql(
		'postgres', qq{
WITH rows AS ($rows),
ev AS (
	SELECT e.transaction_id, e.event_id, e.event_id AS stmt_id, 0 AS row_number
	  FROM trail.events e
	 WHERE e.event_category = 'Data' AND e.request_parameters->>'tableName' LIKE 'cc.%'
	UNION ALL
	SELECT transaction_id, event_id, stmt_id, row_number FROM rows),
seq AS (
	SELECT stmt_id, row_number,
	       lag(stmt_id) OVER w AS prev_stmt, lag(row_number) OVER w AS prev_row
	  FROM ev WINDOW w AS (PARTITION BY transaction_id ORDER BY event_id))
SELECT count(*) FILTER (WHERE row_number = 0 AND prev_stmt IS NOT NULL AND prev_row = 0)
       || ' ' ||
       count(*) FILTER (WHERE row_number > 0 AND (prev_stmt IS DISTINCT FROM stmt_id
                                                 OR prev_row IS DISTINCT FROM row_number - 1))
  FROM seq}),
	'0 0',
	'in event_id order each statement event is followed by its own row events, numbered 1, 2, ...');

$node->stop;
done_testing();
