-- transactions: an event is written in the transaction of its command.
-- Committed commands have exactly one event, rolled-back ones (transaction,
-- savepoint, failed statement, failed multi-statement string) have none;
-- statements inside functions, procedures and multi-statement strings each
-- get their own event; request_id is shared by one top-level statement and
-- transaction_id is the transaction's.
--
-- Whole transactions that commit or roll back cannot be tested inside the
-- test's own transaction: they run first, in autocommit mode (the failing
-- ones in a separate psql, so that their errors do not stop this script).
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS trail;
RESET client_min_messages;

BEGIN;
CREATE TABLE public.tx_committed (a int);
COMMIT;
BEGIN;
CREATE TABLE public.tx_rolled_back (a int);
ROLLBACK;
BEGIN;
CREATE TABLE public.tx_sp_kept (a int);
SAVEPOINT s1;
CREATE TABLE public.tx_sp_gone (a int);
ROLLBACK TO SAVEPOINT s1;
SAVEPOINT s2;
CREATE TABLE public.tx_sp_released (a int);
RELEASE SAVEPOINT s2;
COMMIT;
CREATE TABLE public.tx_m1 (a int) \; CREATE TABLE public.tx_m2 (a int);
CREATE PROCEDURE public.tx_proc() LANGUAGE plpgsql AS $$
BEGIN
	CREATE TABLE public.tx_p1 (a int);
	COMMIT;
	CREATE TABLE public.tx_p2 (a int);
	ROLLBACK;
	CREATE TABLE public.tx_p3 (a int);
END
$$;
CALL public.tx_proc();
\setenv PGDATABASE :DBNAME
\! psql -X -q -c 'CREATE TABLE public.tx_before_abort (a int)' -c 'BEGIN' -c 'CREATE TABLE public.tx_aborted_commit (a int)' -c 'SELECT 1/0' -c 'COMMIT' >/dev/null 2>&1
\! psql -X -q -c 'CREATE TABLE public.tx_m3 (a int); CREATE TABLE public.tx_m4 (a int); SELECT 1/0' -c 'CREATE TABLE public.tx_m_after (a int)' >/dev/null 2>&1
\! psql -X -q -c 'CREATE TABLE public.tx_m5 (a int); COMMIT; CREATE TABLE public.tx_m6 (a int); SELECT 1/0' >/dev/null 2>&1

BEGIN;
SELECT plan(49);

-- events of a table, by the statement that created it
CREATE FUNCTION pg_temp.n_events(tbl text) RETURNS int LANGUAGE sql AS $$
	SELECT count(*)::int FROM trail.events
	 WHERE request_parameters->>'statement' ~ ('^CREATE TABLE public\.' || tbl || ' ')
$$;
CREATE FUNCTION pg_temp.ev(tbl text) RETURNS trail.events LANGUAGE sql AS $$
	SELECT * FROM trail.events
	 WHERE request_parameters->>'statement' ~ ('^CREATE TABLE public\.' || tbl || ' ')
$$;

------------------------------------------------------------------------------
-- Committed and rolled-back transactions
------------------------------------------------------------------------------
SELECT is(pg_temp.n_events('tx_committed'), 1, 'a committed CREATE TABLE has one event');
SELECT is(pg_temp.n_events('tx_rolled_back'), 0, 'a rolled-back CREATE TABLE has none');
SELECT is(pg_temp.n_events('tx_sp_kept'), 1, 'before a savepoint: kept');
SELECT is(pg_temp.n_events('tx_sp_gone'), 0, 'ROLLBACK TO SAVEPOINT: no event');
SELECT is(pg_temp.n_events('tx_sp_released'), 1, 'RELEASE SAVEPOINT: kept');
SELECT is((pg_temp.ev('tx_sp_kept')).transaction_id, (pg_temp.ev('tx_sp_released')).transaction_id,
	'the savepoint''s event carries the top-level transaction id');
SELECT is(pg_temp.n_events('tx_before_abort'), 1, '(the session with the aborted transaction ran)');
SELECT is(pg_temp.n_events('tx_aborted_commit'), 0, 'a transaction aborted by an error, then COMMIT: no event');
SELECT is(pg_temp.n_events('tx_m1') + pg_temp.n_events('tx_m2'), 2, 'a multi-statement string: one event per statement');
SELECT is((pg_temp.ev('tx_m1')).request_parameters->>'statement', 'CREATE TABLE public.tx_m1 (a int)',
	'... the first with its own statement text');
SELECT is((pg_temp.ev('tx_m2')).request_parameters->>'statement', 'CREATE TABLE public.tx_m2 (a int)',
	'... the second with its own statement text');
SELECT is((pg_temp.ev('tx_m1')).transaction_id, (pg_temp.ev('tx_m2')).transaction_id,
	'... in one (implicit) transaction');
SELECT isnt((pg_temp.ev('tx_m1')).request_id, (pg_temp.ev('tx_m2')).request_id,
	'... as two requests');
SELECT is(pg_temp.n_events('tx_m3') + pg_temp.n_events('tx_m4'), 0,
	'a multi-statement string that fails at the end: no event at all');
SELECT is(pg_temp.n_events('tx_m_after'), 1, '(the session with the failed string ran)');
SELECT is(pg_temp.n_events('tx_m5'), 1, 'a multi-statement string: committed before COMMIT');
SELECT is(pg_temp.n_events('tx_m6'), 0, '... rolled back after it');
SELECT is(pg_temp.n_events('tx_p1') || '/' || pg_temp.n_events('tx_p2') || '/' || pg_temp.n_events('tx_p3'), '1/0/1',
	'a procedure that commits and rolls back: the events follow its transactions');
SELECT isnt((pg_temp.ev('tx_p1')).transaction_id, (pg_temp.ev('tx_p3')).transaction_id,
	'... with the transaction id of each');
SELECT is((pg_temp.ev('tx_p1')).request_id, (pg_temp.ev('tx_p3')).request_id,
	'... and the request id of the CALL');
SELECT is((pg_temp.ev('tx_p1')).additional_event_data->>'topLevel', 'false', '... not at top level');
SELECT is((SELECT count(*)::int FROM trail.events WHERE event_name IN ('Call', 'Do')
             OR request_parameters->>'statement' ~* '^(CALL|DO|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)'), 0,
	'CALL, DO and transaction control are not events');
SELECT is((SELECT count(*)::int FROM trail.events e
            WHERE e.transaction_id IS DISTINCT FROM (e.additional_event_data->>'transactionId')::xid8
              AND e.event_type = 'AwsApiCall'), 0,
	'transaction_id and additionalEventData.transactionId agree');

------------------------------------------------------------------------------
-- Inside this transaction
------------------------------------------------------------------------------
CREATE TABLE public.tx_in (a int);
CREATE TABLE public.tx_in2 (a int);
SAVEPOINT a;
CREATE TABLE public.tx_in_sp_gone (a int);
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
CREATE TABLE public.tx_in_sp_kept (a int);
RELEASE SAVEPOINT b;
SAVEPOINT c;
CREATE TABLE public.tx_in_sp_c (a int);
SAVEPOINT d;
CREATE TABLE public.tx_in_sp_d (a int);
ROLLBACK TO SAVEPOINT c;
SELECT is((pg_temp.ev('tx_in')).transaction_id, pg_current_xact_id(), 'transaction_id is pg_current_xact_id()');
SELECT is((pg_temp.ev('tx_in_sp_kept')).transaction_id, pg_current_xact_id(),
	'also for a command inside a released savepoint');
SELECT is(pg_temp.n_events('tx_in_sp_gone'), 0, 'ROLLBACK TO SAVEPOINT removes the event of this transaction');
SELECT is(pg_temp.n_events('tx_in_sp_c') + pg_temp.n_events('tx_in_sp_d'), 0,
	'rolling back to an outer savepoint removes the events of the inner one too');
SELECT isnt((pg_temp.ev('tx_in')).request_id, (pg_temp.ev('tx_in2')).request_id,
	'two statements of one transaction are two requests');
SELECT matches((pg_temp.ev('tx_in')).request_id, '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
	'request_id is a uuid');
SELECT is((pg_temp.ev('tx_in')).additional_event_data->>'topLevel', 'true', 'a top-level statement is topLevel');

-- a function doing two CREATE TABLEs (static and dynamic): one request
CREATE FUNCTION public.tx_two() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	CREATE TABLE public.tx_f1 (a int);
	EXECUTE 'CREATE TABLE public.tx_f2 (a int)';
END
$$;
CREATE FUNCTION public.tx_outer() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	PERFORM public.tx_two();
	CREATE TABLE public.tx_f3 (a int);
	RETURN 1;
END
$$;
SELECT public.tx_outer() \g /dev/null
CREATE TABLE public.tx_after (a int);
SELECT is(pg_temp.n_events('tx_f1') + pg_temp.n_events('tx_f2') + pg_temp.n_events('tx_f3'), 3,
	'statements inside functions each have an event');
SELECT is((pg_temp.ev('tx_f1')).request_parameters->>'statement', 'CREATE TABLE public.tx_f1 (a int)',
	'... with the statement''s own text (static SQL)');
SELECT is((pg_temp.ev('tx_f2')).request_parameters->>'statement', 'CREATE TABLE public.tx_f2 (a int)',
	'... with the statement''s own text (EXECUTE)');
SELECT is((SELECT count(DISTINCT request_id)::int FROM trail.events
            WHERE request_parameters->>'statement' ~ '^CREATE TABLE public\.tx_f[123] '), 1,
	'all events of one top-level SELECT share its request_id');
SELECT isnt((pg_temp.ev('tx_f1')).request_id, (pg_temp.ev('tx_after')).request_id,
	'the next statement is another request');
SELECT isnt((pg_temp.ev('tx_f1')).request_id,
	(SELECT request_id FROM trail.events WHERE request_parameters->>'statement' LIKE 'CREATE FUNCTION public.tx_outer()%'),
	'the statement before was another request');
SELECT is((pg_temp.ev('tx_f1')).additional_event_data->>'topLevel', 'false', 'a statement inside a function is not topLevel');

-- DO: its statements are events, the DO is not
DO $$
BEGIN
	CREATE TABLE public.tx_do1 (a int);
	CREATE TABLE public.tx_do2 (a int);
END
$$;
SELECT is((SELECT count(DISTINCT request_id)::int || '/' || count(*) FROM trail.events
            WHERE request_parameters->>'statement' ~ '^CREATE TABLE public\.tx_do[12] '), '1/2',
	'a DO block: its two statements, one request');

-- failures inside the transaction leave nothing behind
CREATE FUNCTION public.tx_then_fail() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	CREATE TABLE public.tx_failed_later (a int);
	PERFORM 1 / 0;
END
$$;
CREATE FUNCTION public.tx_caught() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		CREATE TABLE public.tx_exc_gone (a int);
		PERFORM 1 / 0;
	EXCEPTION WHEN division_by_zero THEN
		CREATE TABLE public.tx_exc_kept (a int);
	END;
END
$$;
SELECT throws_ok('SELECT public.tx_then_fail()', '22012', NULL, '(a function creates a table, then fails)');
SELECT is(pg_temp.n_events('tx_failed_later'), 0, 'a statement that fails after its DDL leaves no event');
SELECT throws_ok('CREATE TABLE public.tx_dup (a int, a int)', '42701', NULL, '(a CREATE TABLE that fails)');
SELECT is(pg_temp.n_events('tx_dup'), 0, 'a failed DDL has no event');
SELECT public.tx_caught() \g /dev/null
SELECT is(pg_temp.n_events('tx_exc_gone') || '/' || pg_temp.n_events('tx_exc_kept'), '0/1',
	'an exception block: the rolled-back DDL has no event, the handler''s has');

-- subcommands are part of their command's event
CREATE TABLE public.tx_serial (id serial PRIMARY KEY, b int UNIQUE);
CREATE SCHEMA tx_s CREATE TABLE t1 (a int) CREATE VIEW v1 AS SELECT 1 AS one;
SELECT is((SELECT count(*)::int FROM trail.events
            WHERE request_id = (pg_temp.ev('tx_serial')).request_id), 1,
	'CREATE TABLE with serial, primary key and unique: one event');
SELECT is((SELECT array_agg(r->>'type' || ' ' || (r->>'name') ORDER BY r->>'name')
             FROM jsonb_array_elements((pg_temp.ev('tx_serial')).resources) r),
	ARRAY['PG::Table public.tx_serial', 'PG::Index public.tx_serial_b_key',
	      'PG::Sequence public.tx_serial_id_seq', 'PG::Index public.tx_serial_pkey'],
	'... listing the table, its sequence and its indexes');
SELECT is((SELECT string_agg(event_name, ',') || ' ' || jsonb_array_length(resources)
             FROM trail.events WHERE request_parameters->>'statement' LIKE 'CREATE SCHEMA tx_s %'
             GROUP BY resources), 'CreateSchema 3',
	'CREATE SCHEMA with a table and a view: one event, three resources');

-- commands that are not management events leave nothing
SELECT count(*) AS before_count FROM trail.events \gset
SET work_mem = '8MB';
SET LOCAL statement_timeout = '1min';
RESET work_mem;
LOCK TABLE public.tx_in IN SHARE MODE;
DECLARE tx_cur CURSOR FOR SELECT 1;
FETCH tx_cur \g /dev/null
CLOSE tx_cur;
PREPARE tx_prep AS SELECT 1;
EXECUTE tx_prep \g /dev/null
DEALLOCATE tx_prep;
LISTEN tx_channel;
NOTIFY tx_channel;
UNLISTEN tx_channel;
DISCARD PLANS;
SET CONSTRAINTS ALL DEFERRED;
COPY (SELECT 1) TO '/dev/null';
CREATE PROCEDURE pg_temp.tx_noop() LANGUAGE sql AS $$ SELECT 1 $$;
SELECT count(*) AS before_call FROM trail.events \gset
CALL pg_temp.tx_noop();
DO $$ BEGIN PERFORM 1; END $$;
SELECT is(:before_call - :before_count, 1,
	'SET, RESET, LOCK, cursors, PREPARE/EXECUTE, LISTEN/NOTIFY, DISCARD, SET CONSTRAINTS, COPY: no event (only the CREATE PROCEDURE after them)');
SELECT is((SELECT count(*)::int FROM trail.events), :before_call,
	'CALL and DO without DDL inside: no event');

-- every event of this transaction, in the order of its statements
SELECT is((SELECT count(DISTINCT event_id)::int FROM trail.events WHERE transaction_id = pg_current_xact_id()),
	(SELECT count(*)::int FROM trail.events WHERE transaction_id = pg_current_xact_id()),
	'event ids are unique');

SELECT * FROM finish();
ROLLBACK;
