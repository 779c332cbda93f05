-- privileges: who may read events, who may run maintenance, who may change
-- trail's settings.
--
-- ALTER SYSTEM cannot run inside a transaction (nor inside pgTAP's
-- throws_ok), so it is tried first, in autocommit mode, and its outcome kept
-- in psql variables for the tests below.  The role it needs must be committed
-- for that; it is dropped again at the end.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS trail;
DROP ROLE IF EXISTS regress_tap_priv_sys;
CREATE ROLE regress_tap_priv_sys;
RESET client_min_messages;

\setenv PGDATABASE :DBNAME
\set alter_system_plain_premake `psql -X -q -v VERBOSITY=sqlstate -c 'SET ROLE regress_tap_priv_sys' -c 'ALTER SYSTEM SET trail.premake_days = 5' 2>&1 | sed -n 's/^.*ERROR: *//p'`
\set alter_system_plain_retention `psql -X -q -v VERBOSITY=sqlstate -c 'SET ROLE regress_tap_priv_sys' -c "ALTER SYSTEM SET trail.retention_period = '1d'" 2>&1 | sed -n 's/^.*ERROR: *//p'`
\set alter_system_super `psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c 'ALTER SYSTEM SET trail.premake_days = 5' -c 'ALTER SYSTEM RESET trail.premake_days' 2>&1 && echo done`

BEGIN;
SELECT plan(51);

CREATE ROLE regress_tap_priv_plain;
CREATE ROLE regress_tap_priv_usage;
CREATE ROLE regress_tap_priv_reader IN ROLE trail_reader;
GRANT USAGE ON SCHEMA trail TO regress_tap_priv_usage;
GRANT CREATE ON SCHEMA public TO regress_tap_priv_plain;
CREATE TEMP TABLE days AS
SELECT 'trail.events_' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD') AS today;
GRANT SELECT ON days TO PUBLIC;

------------------------------------------------------------------------------
-- An ordinary role: no events, no history, no lookup, no maintenance
------------------------------------------------------------------------------
SET ROLE regress_tap_priv_plain;
SELECT throws_ok('SELECT count(*) FROM trail.events', '42501', NULL,
	'an ordinary role cannot read trail.events');
SELECT throws_ok('SELECT count(*) FROM trail.event_history', '42501', NULL,
	'an ordinary role cannot read trail.event_history');
SELECT throws_ok('SELECT count(*) FROM trail.lookup_events()', '42501', NULL,
	'an ordinary role cannot call trail.lookup_events');
SELECT throws_ok('SELECT * FROM trail.run_maintenance()', '42501', NULL,
	'an ordinary role cannot call trail.run_maintenance');
SELECT throws_ok('SELECT count(*) FROM trail.events_default', '42501', NULL,
	'an ordinary role cannot read the default partition');
SELECT throws_ok(format('SELECT count(*) FROM %s', (SELECT today FROM days)), '42501', NULL,
	'an ordinary role cannot read a day''s partition');
-- its own DDL is still recorded (trail writes as the extension owner)
SELECT lives_ok('CREATE TABLE public.priv_plain_t (id int)',
	'an ordinary role runs DDL');
RESET ROLE;
SELECT is((SELECT user_identity->>'type' || ':' || (user_identity->'sessionContext'->'sessionIssuer'->>'userName')
             FROM trail.events WHERE request_parameters->>'statement' = 'CREATE TABLE public.priv_plain_t (id int)'),
	'AssumedRole:regress_tap_priv_plain',
	'... and its DDL has an event naming it');

-- USAGE on the schema is not enough either
SET ROLE regress_tap_priv_usage;
SELECT throws_ok('SELECT count(*) FROM trail.events', '42501', NULL,
	'with USAGE on schema trail: still no trail.events');
SELECT throws_ok('SELECT count(*) FROM trail.event_history', '42501', NULL,
	'with USAGE on schema trail: still no trail.event_history');
SELECT throws_ok('SELECT count(*) FROM trail.lookup_events()', '42501', NULL,
	'with USAGE on schema trail: still no trail.lookup_events');
SELECT throws_ok('SELECT * FROM trail.run_maintenance()', '42501', NULL,
	'with USAGE on schema trail: still no trail.run_maintenance');
SELECT throws_ok('SELECT count(*) FROM trail.events_default', '42501', NULL,
	'with USAGE on schema trail: still no default partition');
SELECT throws_ok(format('SELECT count(*) FROM %s', (SELECT today FROM days)), '42501', NULL,
	'with USAGE on schema trail: still no day partition');
SELECT throws_ok('SELECT trail.cloudtrail_record(e) FROM trail.events e', '42501', NULL,
	'with USAGE on schema trail: still no cloudtrail_record of events');
RESET ROLE;

------------------------------------------------------------------------------
-- trail_reader: reads everything, changes nothing, runs no maintenance
------------------------------------------------------------------------------
SELECT ok(pg_has_role('regress_tap_priv_reader', 'trail_reader', 'MEMBER'), '(the reader is a member of trail_reader)');
SELECT ok(NOT pg_has_role('regress_tap_priv_plain', 'trail_reader', 'MEMBER'), '(the ordinary role is not)');
SET ROLE regress_tap_priv_reader;
SELECT cmp_ok((SELECT count(*)::int FROM trail.events), '>', 0,
	'trail_reader reads trail.events');
SELECT cmp_ok((SELECT count(*)::int FROM trail.event_history), '>', 0,
	'trail_reader reads trail.event_history');
SELECT cmp_ok((SELECT count(*)::int FROM trail.lookup_events(end_time => 'infinity')), '>', 0,
	'trail_reader calls trail.lookup_events');
SELECT lives_ok('SELECT trail.cloudtrail_record(e) FROM trail.events e',
	'trail_reader renders records');
SELECT lives_ok('SELECT trail.retention_start()',
	'trail_reader calls trail.retention_start');
SELECT throws_ok('SELECT * FROM trail.run_maintenance()', '42501', NULL,
	'trail_reader cannot call trail.run_maintenance');
SELECT throws_ok('INSERT INTO trail.events SELECT * FROM trail.events LIMIT 1', '42501', NULL,
	'trail_reader cannot insert');
SELECT throws_ok('DELETE FROM trail.events', '42501', NULL,
	'trail_reader cannot delete');
SET client_min_messages = error;
DO $$ BEGIN EXECUTE 'GRANT SELECT ON trail.events TO PUBLIC'; EXCEPTION WHEN OTHERS THEN NULL; END $$;
RESET client_min_messages;
RESET ROLE;
SELECT ok(NOT has_table_privilege('regress_tap_priv_plain', 'trail.events', 'SELECT'),
	'trail_reader cannot pass its access on');

------------------------------------------------------------------------------
-- Settings: sighup (no SET for anyone), ALTER SYSTEM for superusers only,
-- trail.session_context for everyone
------------------------------------------------------------------------------
SELECT is(current_setting('trail.retention_period'), '90d', 'trail.retention_period defaults to 90d');
SELECT is(current_setting('trail.premake_days'), '3', 'trail.premake_days defaults to 3');
SELECT is(current_setting('trail.maintenance_interval'), '1h', 'trail.maintenance_interval defaults to 1h');
SELECT is((SELECT context FROM pg_settings WHERE name = 'trail.retention_period'), 'sighup',
	'trail.retention_period is a sighup setting');
SELECT throws_ok($$SET trail.retention_period = '1d'$$, '55P02', NULL,
	'a superuser cannot SET trail.retention_period');
SELECT throws_ok($$SET LOCAL trail.retention_period = '1d'$$, '55P02', NULL,
	'nor SET LOCAL it');
SELECT throws_ok($$SELECT set_config('trail.retention_period', '1d', true)$$, '55P02', NULL,
	'nor set_config() it');
SELECT throws_ok($$SET trail.premake_days = 1$$, '55P02', NULL,
	'a superuser cannot SET trail.premake_days');
SELECT throws_ok($$SET trail.maintenance_interval = 1$$, '55P02', NULL,
	'a superuser cannot SET trail.maintenance_interval');
SELECT throws_ok($$ALTER ROLE regress_tap_priv_plain SET trail.retention_period = '1d'$$, '55P02', NULL,
	'trail.retention_period cannot be set per role');
SELECT throws_ok(format($$ALTER DATABASE %I SET trail.premake_days = 1$$, current_database()), '55P02', NULL,
	'trail.premake_days cannot be set per database');
SELECT throws_ok($$SET trail.no_such_setting = 'x'$$, '42602', NULL,
	'the trail. prefix is reserved');
SELECT is((SELECT array_agg(name ORDER BY name) FROM pg_settings
            WHERE name LIKE 'trail.%' AND context NOT IN ('superuser', 'sighup', 'postmaster')),
	ARRAY['trail.session_context'], 'every setting but trail.session_context is a superuser''s');
SET ROLE regress_tap_priv_plain;
SELECT throws_ok($$SET trail.retention_period = '1d'$$, '55P02', NULL,
	'an ordinary role cannot SET trail.retention_period');
SELECT lives_ok($$SET trail.session_context = 'app-user-7'$$,
	'an ordinary role sets trail.session_context');
SELECT is(current_setting('trail.session_context'), 'app-user-7', '... and it holds');
RESET ROLE;
RESET trail.session_context;
SELECT is(:'alter_system_plain_premake'::text, '42501',
	'ALTER SYSTEM SET trail.premake_days needs a superuser');
SELECT is(:'alter_system_plain_retention'::text, '42501',
	'ALTER SYSTEM SET trail.retention_period needs a superuser');
SELECT is(:'alter_system_super'::text, 'done',
	'a superuser may ALTER SYSTEM SET and RESET trail.premake_days');

------------------------------------------------------------------------------
-- run_maintenance (superuser): days ahead created, days past retention dropped
------------------------------------------------------------------------------
SELECT results_eq(
	$$SELECT action, partition_name, row_count FROM trail.run_maintenance(now() + interval '10 days') ORDER BY 1, 2$$,
	$$SELECT 'created', 'trail.events_' || to_char((now() AT TIME ZONE 'UTC')::date + 10 + d, 'YYYYMMDD'), 0::bigint
	    FROM generate_series(0, 3) d ORDER BY 1, 2$$,
	'run_maintenance creates as_of .. as_of + premake_days');
SELECT is_empty($$SELECT * FROM trail.run_maintenance(now() + interval '10 days')$$,
	'a second pass has nothing to do');
-- (counted with \gset, not CREATE TABLE AS, which would add an event)
SELECT count(*) AS today_count, array_agg(event_id)::text AS old_ids
  FROM trail.events
 WHERE event_time < (date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC' \gset
SELECT is((SELECT count(*)::int FROM trail.events
            WHERE event_time >= (date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC'),
	0, '(no event lies in the days after today)');
SELECT results_eq(
	$$SELECT partition_name, row_count FROM trail.run_maintenance(now() + interval '100 days')
	   WHERE action = 'dropped' ORDER BY 1$$,
	format($$SELECT 'trail.events_' || to_char((now() AT TIME ZONE 'UTC')::date + d, 'YYYYMMDD'),
	                CASE d WHEN 0 THEN %s ELSE 0 END::bigint
	           FROM generate_series(0, 3) d ORDER BY 1$$, :today_count),
	'100 days on, the days older than 90 days are dropped, with their event counts');
SELECT is((SELECT count(*)::int FROM trail.events WHERE event_id = ANY (:'old_ids'::uuid[])), 0,
	'the events of the dropped days are gone');
SET ROLE regress_tap_priv_reader;
SELECT lives_ok('SELECT count(*) FROM trail.events', 'trail_reader still reads after partitions changed');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

\set QUIET 1
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_tap_priv_sys;
