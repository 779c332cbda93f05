-- session_events: the settings, functions and privileges of the events a
-- transaction cannot carry (failed statements, logins, logouts), which
-- reach trail.events through the spool (issue 6).
--
-- pgTAP runs inside one database without waiting for the workers, so the
-- events themselves are tested by test/system/050 and 051; here: the
-- settings (sighup, superuser-only), trail.spool_status() (shape, who may
-- call it), trail.spool_progress, the spool's layout for this database, and
-- that an ordinary role can neither read nor forge these events.
--
-- ALTER SYSTEM cannot run inside a transaction (nor inside pgTAP's
-- throws_ok), so it is tried first, in autocommit mode, by psql processes of
-- their own, and the outcome kept in psql variables for the tests below.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS trail;
DROP ROLE IF EXISTS regress_tap_sess_sys;
CREATE ROLE regress_tap_sess_sys;
RESET client_min_messages;

\setenv PGDATABASE :DBNAME
\set alter_system_plain_home `psql -X -q -v VERBOSITY=sqlstate -c 'SET ROLE regress_tap_sess_sys' -c "ALTER SYSTEM SET trail.home_database = 'elsewhere'" 2>&1 | sed -n 's/^.*ERROR: *//p'`
\set alter_system_plain_unknown `psql -X -q -v VERBOSITY=sqlstate -c 'SET ROLE regress_tap_sess_sys' -c 'ALTER SYSTEM SET trail.log_unknown_user_names = on' 2>&1 | sed -n 's/^.*ERROR: *//p'`
\set alter_system_super `psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c 'ALTER SYSTEM SET trail.log_unknown_user_names = on' -c 'ALTER SYSTEM RESET trail.log_unknown_user_names' 2>&1 && echo done`

BEGIN;
SELECT plan(72);

CREATE ROLE regress_tap_sess_plain;
CREATE ROLE regress_tap_sess_reader IN ROLE trail_reader;
CREATE TABLE public.sess_dup (id int);
CREATE TABLE public.sess_secret (id int);

------------------------------------------------------------------------------
-- Settings: trail.home_database and trail.log_unknown_user_names are sighup
-- settings (no SET for anyone), and only a superuser may ALTER SYSTEM them
------------------------------------------------------------------------------
SELECT is((SELECT context FROM pg_settings WHERE name = 'trail.home_database'), 'sighup',
	'trail.home_database is a sighup setting');
SELECT is((SELECT vartype FROM pg_settings WHERE name = 'trail.home_database'), 'string',
	'trail.home_database is a string');
SELECT is((SELECT boot_val FROM pg_settings WHERE name = 'trail.home_database'), 'postgres',
	'trail.home_database defaults to postgres');
SELECT is(current_setting('trail.home_database'), 'postgres',
	'... and is postgres here');
SELECT is((SELECT context FROM pg_settings WHERE name = 'trail.log_unknown_user_names'), 'sighup',
	'trail.log_unknown_user_names is a sighup setting');
SELECT is((SELECT vartype FROM pg_settings WHERE name = 'trail.log_unknown_user_names'), 'bool',
	'trail.log_unknown_user_names is a boolean');
SELECT is((SELECT boot_val FROM pg_settings WHERE name = 'trail.log_unknown_user_names'), 'off',
	'trail.log_unknown_user_names defaults to off');
SELECT is(current_setting('trail.log_unknown_user_names'), 'off',
	'... and is off here');

SELECT throws_ok($$SET trail.home_database = 'elsewhere'$$, '55P02', NULL,
	'a superuser cannot SET trail.home_database');
SELECT throws_ok($$SET LOCAL trail.log_unknown_user_names = on$$, '55P02', NULL,
	'nor SET LOCAL trail.log_unknown_user_names');
SELECT throws_ok($$SELECT set_config('trail.log_unknown_user_names', 'on', false)$$, '55P02', NULL,
	'nor set_config() it');
SELECT throws_ok($$ALTER ROLE regress_tap_sess_plain SET trail.log_unknown_user_names = on$$, '55P02', NULL,
	'trail.log_unknown_user_names cannot be set per role');
SELECT throws_ok(format($$ALTER DATABASE %I SET trail.home_database = 'elsewhere'$$, current_database()),
	'55P02', NULL, 'trail.home_database cannot be set per database');

SET ROLE regress_tap_sess_plain;
SELECT throws_ok($$SET trail.home_database = 'elsewhere'$$, '55P02', NULL,
	'an ordinary role cannot SET trail.home_database');
SELECT throws_ok($$SET trail.log_unknown_user_names = on$$, '55P02', NULL,
	'an ordinary role cannot SET trail.log_unknown_user_names');
SELECT throws_ok($$SELECT set_config('trail.home_database', 'elsewhere', true)$$, '55P02', NULL,
	'an ordinary role cannot set_config() trail.home_database');
SELECT is(current_setting('trail.home_database'), 'postgres',
	'... which stays as it was');
RESET ROLE;

SELECT is(:'alter_system_plain_home'::text, '42501',
	'ALTER SYSTEM SET trail.home_database needs a superuser');
SELECT is(:'alter_system_plain_unknown'::text, '42501',
	'ALTER SYSTEM SET trail.log_unknown_user_names needs a superuser');
SELECT is(:'alter_system_super'::text, 'done',
	'a superuser may ALTER SYSTEM SET and RESET trail.log_unknown_user_names');

------------------------------------------------------------------------------
-- trail.spool_status(): (written, dropped, waiting_files), for trail_reader
------------------------------------------------------------------------------
SELECT has_function('trail', 'spool_status', ARRAY[]::text[], 'trail.spool_status() exists');
SELECT is(pg_get_function_result('trail.spool_status()'::regprocedure), 'record',
	'trail.spool_status() returns a record');
SELECT is(pg_get_function_arguments('trail.spool_status()'::regprocedure),
	'OUT written bigint, OUT dropped bigint, OUT waiting_files bigint',
	'... of written, dropped and waiting_files (bigint)');
SELECT volatility_is('trail', 'spool_status', ARRAY[]::text[], 'volatile',
	'trail.spool_status() is volatile');
SELECT isnt_definer('trail', 'spool_status', ARRAY[]::text[],
	'trail.spool_status() is not security definer');
SELECT is((SELECT count(*)::int FROM trail.spool_status()), 1,
	'trail.spool_status() returns one row');
SELECT ok((SELECT written >= 0 AND dropped >= 0 AND waiting_files >= 0 FROM trail.spool_status()),
	'... of counts that are not negative');
SELECT ok(NOT has_function_privilege('public', 'trail.spool_status()', 'EXECUTE'),
	'PUBLIC may not call trail.spool_status()');
SELECT ok(has_function_privilege('trail_reader', 'trail.spool_status()', 'EXECUTE'),
	'trail_reader may call trail.spool_status()');
SET ROLE regress_tap_sess_plain;
SELECT throws_ok('SELECT * FROM trail.spool_status()', '42501', NULL,
	'an ordinary role cannot call trail.spool_status()');
RESET ROLE;
SET ROLE regress_tap_sess_reader;
SELECT lives_ok('SELECT * FROM trail.spool_status()',
	'a member of trail_reader calls trail.spool_status()');
RESET ROLE;

------------------------------------------------------------------------------
-- trail.spool_progress: trail's own bookkeeping; nobody writes it, not even
-- a superuser (a moved position would skip spooled events)
------------------------------------------------------------------------------
SELECT has_table('trail', 'spool_progress', 'trail.spool_progress exists');
SELECT col_is_pk('trail', 'spool_progress', 'file', 'its key is the spool file''s name');
SELECT col_type_is('trail', 'spool_progress', 'byte_offset', 'bigint', '... with a byte_offset');
SELECT throws_ok($$INSERT INTO trail.spool_progress VALUES ('999_0_0.spool', 1 << 40)$$, '42501', NULL,
	'a superuser cannot insert into trail.spool_progress');
SELECT throws_ok($$UPDATE trail.spool_progress SET byte_offset = byte_offset + 1000000$$, '42501', NULL,
	'nor update it');
SELECT throws_ok($$DELETE FROM trail.spool_progress$$, '42501', NULL,
	'nor delete from it');
SELECT throws_ok($$TRUNCATE trail.spool_progress$$, '42501', NULL,
	'nor truncate it');
SET ROLE regress_tap_sess_plain;
SELECT throws_ok('SELECT * FROM trail.spool_progress', '42501', NULL,
	'an ordinary role cannot read trail.spool_progress');
SELECT throws_ok($$INSERT INTO trail.spool_progress VALUES ('999_0_0.spool', 1 << 40)$$, '42501', NULL,
	'an ordinary role cannot write trail.spool_progress');
RESET ROLE;
SET ROLE regress_tap_sess_reader;
SELECT throws_ok($$UPDATE trail.spool_progress SET byte_offset = 0$$, '42501', NULL,
	'trail_reader cannot write trail.spool_progress');
RESET ROLE;

------------------------------------------------------------------------------
-- An ordinary role can neither read nor forge logins and failed statements
------------------------------------------------------------------------------
SET ROLE regress_tap_sess_plain;
SELECT throws_ok($$SELECT count(*) FROM trail.events WHERE event_source = 'signin.postgresql'$$,
	'42501', NULL, 'an ordinary role cannot read sign-in events');
SELECT throws_ok($$SELECT count(*) FROM trail.events WHERE error_code IS NOT NULL$$,
	'42501', NULL, 'an ordinary role cannot read failed statements');
SELECT throws_ok($$SELECT count(*) FROM trail.lookup_events('EventSource', 'signin.postgresql')$$,
	'42501', NULL, 'an ordinary role cannot look them up');
SELECT throws_ok($$INSERT INTO trail.events (event_time, event_id, event_version, event_category, event_type,
	                                          event_source, event_name, region, recipient_account_id, user_name,
	                                          response_elements, is_global)
	           VALUES (now(), gen_random_uuid(), '1.09', 'Management', 'AwsConsoleSignIn',
	                   'signin.postgresql', 'Login', 'postgres', '0', 'postgres',
	                   '{"Login": "Success"}', true)$$,
	'42501', NULL, 'an ordinary role cannot forge a Login event');
SELECT throws_ok($$UPDATE trail.events SET error_code = NULL WHERE error_code IS NOT NULL$$,
	'42501', NULL, 'an ordinary role cannot clear an errorCode');
SELECT throws_ok($$DELETE FROM trail.events WHERE event_source = 'signin.postgresql'$$,
	'42501', NULL, 'an ordinary role cannot delete sign-in events');
-- the spool files are out of its reach too (reading them needs superuser)
SELECT throws_ok($$SELECT * FROM pg_ls_dir('pg_trail/spool')$$, '42501', NULL,
	'an ordinary role cannot list the spool');
SELECT throws_ok($$SELECT pg_read_binary_file('pg_trail/spool/global/0_0_0.spool')$$, '42501', NULL,
	'an ordinary role cannot read a spool file');
RESET ROLE;
SET ROLE regress_tap_sess_reader;
SELECT lives_ok($$SELECT count(*) FROM trail.events WHERE event_source = 'signin.postgresql'$$,
	'trail_reader reads sign-in events');
SELECT throws_ok($$INSERT INTO trail.events SELECT * FROM trail.events LIMIT 1$$,
	'42501', NULL, 'trail_reader cannot forge events either');
RESET ROLE;
SELECT throws_ok($$INSERT INTO trail.events (event_time, event_id, event_version, event_category, event_type,
	                                          event_source, event_name, region, recipient_account_id, user_name,
	                                          response_elements, is_global)
	           VALUES (now(), gen_random_uuid(), '1.09', 'Management', 'AwsConsoleSignIn',
	                   'signin.postgresql', 'Login', 'postgres', '0', 'postgres',
	                   '{"Login": "Success"}', true)$$,
	'42501', NULL, 'nor can a superuser forge a Login event');

------------------------------------------------------------------------------
-- A failed statement goes to the spool at once (the workers move it into
-- trail.events later): one record per failure, none for a statement that
-- only warns, in a file of this process in pg_trail/spool/<database oid>/.
-- The records of this session are read back from that file: each is a
-- 4-byte length (native order), a 4-byte CRC-32C, and one event as JSON.
------------------------------------------------------------------------------
SELECT ok((pg_stat_file('pg_trail/spool/' || (SELECT oid FROM pg_database WHERE datname = current_database()))).isdir,
	'pg_trail/spool/<database oid> is a directory');
SELECT ok((pg_stat_file('pg_trail/spool/global')).isdir,
	'pg_trail/spool/global is a directory (logins)');
SELECT is((SELECT count(*)::int
             FROM pg_ls_dir('pg_trail/spool/' || (SELECT oid FROM pg_database WHERE datname = current_database())) f
            WHERE f LIKE pg_backend_pid() || '\_%.spool'), 1,
	'the denied statements above are in one spool file of this process');
CREATE TEMP VIEW my_spool AS
WITH RECURSIVE
files AS (
	SELECT pg_read_binary_file(s.d || '/' || f) AS b
	  FROM (SELECT 'pg_trail/spool/' || oid AS d FROM pg_database WHERE datname = current_database()) s,
	       pg_ls_dir(s.d) f
	 WHERE f LIKE pg_backend_pid() || '\_%.spool'),
r(b, pos, len) AS (
	SELECT b, 0, get_byte(b, 0) + (get_byte(b, 1) << 8) + (get_byte(b, 2) << 16) + (get_byte(b, 3) << 24)
	  FROM files WHERE length(b) >= 8
	UNION ALL
	SELECT b, pos + 8 + len,
	       get_byte(b, pos + 8 + len) + (get_byte(b, pos + 9 + len) << 8)
	       + (get_byte(b, pos + 10 + len) << 16) + (get_byte(b, pos + 11 + len) << 24)
	  FROM r WHERE pos + 8 + len + 8 <= length(b))
SELECT pos, convert_from(substring(b FROM pos + 9 FOR len), 'UTF8')::jsonb AS rec
  FROM r WHERE pos + 8 + len <= length(b);
SELECT count(*) AS records_before FROM my_spool \gset
SELECT written AS written_before, dropped AS dropped_before FROM trail.spool_status() \gset
SELECT cmp_ok(:records_before, '>=', 10, '(it holds a record for each statement denied above)');

SELECT throws_ok('CREATE TABLE public.sess_dup (id int)', '42P07', NULL,
	'(a CREATE TABLE of an existing name fails)');
SELECT is((SELECT count(*)::int FROM my_spool), :records_before + 1,
	'the failed CREATE TABLE is one more record in the spool');
SELECT is((SELECT concat_ws('|', rec->>'event_category', rec->>'event_source', rec->>'event_name', rec->>'error_code',
                            rec->'additional_event_data'->>'sqlState', rec->>'error_message')
             FROM my_spool ORDER BY pos DESC LIMIT 1),
	'Management|ddl.postgresql|CreateTable|DuplicateTable|42P07|relation "sess_dup" already exists',
	'... CreateTable with errorCode DuplicateTable, its sqlState and message');
SELECT is((SELECT rec->'request_parameters'->>'statement' FROM my_spool ORDER BY pos DESC LIMIT 1),
	'CREATE TABLE public.sess_dup (id int)', '... and the statement');
SET client_min_messages = warning;
SELECT lives_ok('CREATE TABLE IF NOT EXISTS public.sess_dup (id int)',
	'(CREATE TABLE IF NOT EXISTS of an existing name does not fail)');
RESET client_min_messages;
SELECT is((SELECT count(*)::int FROM my_spool), :records_before + 1,
	'... and writes nothing to the spool');
SELECT throws_ok($$DO $do$ BEGIN EXECUTE 'CREATE TABLE public.sess_dup (id int)'; END $do$ $$, '42P07', NULL,
	'(a CREATE TABLE of an existing name fails inside a DO block)');
SELECT is((SELECT count(*)::int FROM my_spool), :records_before + 2,
	'... which is one record, not two');

GRANT CREATE ON SCHEMA public TO regress_tap_sess_plain;
SET ROLE regress_tap_sess_plain;
SELECT throws_ok('SELECT * FROM public.sess_secret', '42501', NULL,
	'(an ordinary role is denied a table)');
SELECT throws_ok('DROP TABLE public.sess_secret', '42501', NULL,
	'(and denied dropping it)');
SELECT throws_ok('CREATE TABLE no_such_schema_x.t (id int)', '3F000', NULL,
	'(and fails to create a table in a schema that does not exist)');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM my_spool), :records_before + 5,
	'each of these failures is one more record');
SELECT results_eq(
	$$SELECT concat_ws('|', rec->>'event_category', rec->>'event_source', rec->>'event_name', rec->>'error_code',
	                   rec->'additional_event_data'->>'sqlState', rec->>'read_only')
	    FROM (SELECT * FROM my_spool ORDER BY pos DESC LIMIT 3) r ORDER BY pos$$,
	ARRAY['Data|table.postgresql|Select|InsufficientPrivilege|42501|true',
	      'Management|ddl.postgresql|DropTable|InsufficientPrivilege|42501|false',
	      'Management|ddl.postgresql|CreateTable|InvalidSchemaName|3F000|false'],
	'... a denied Select (Data), a denied DropTable, a CreateTable with InvalidSchemaName');
SELECT ok((SELECT rec->'resources' @> '[{"type": "PG::Table", "name": "public.sess_secret"}]'
             FROM my_spool ORDER BY pos DESC OFFSET 2 LIMIT 1),
	'... the denied Select naming its table');
SELECT cmp_ok((SELECT written - :written_before FROM trail.spool_status()), '>=', 4::bigint,
	'trail.spool_status() counts them as written');
SELECT is((SELECT dropped - :dropped_before FROM trail.spool_status()), 0::bigint,
	'... and none as dropped');

SELECT * FROM finish();
ROLLBACK;

\set QUIET 1
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_tap_sess_sys;
