-- selectors: trail.update_event_data_store() (CloudTrail's
-- UpdateEventDataStore) and what its advanced event selectors record.
--
-- Valid and invalid selector documents (an invalid one names the bad part
-- and changes nothing), the tables the selectors pick (capture triggers),
-- selection by userIdentity.arn, eventName and readOnly, management events
-- excluded by a Management selector, retention_period, the
-- UpdateEventDataStore events, and who may call what.
--
-- Data events are written when their transaction commits (a transaction
-- does not see its own), so this file runs in autocommit mode, in the
-- fresh database test.sh makes for it; the roles it creates are dropped
-- at the end.
\set QUIET 1
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_tap_sel_alice;
DROP ROLE IF EXISTS regress_tap_sel_bob;
DROP ROLE IF EXISTS regress_tap_sel_carol;
DROP ROLE IF EXISTS regress_tap_sel_plain;
DROP ROLE IF EXISTS regress_tap_sel_reader;
RESET client_min_messages;

SELECT plan(112);

SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS trail;
RESET client_min_messages;

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------
-- the ARN prefix of tables of a schema: arn:postgresql:table:<db>:<account>:<schema>.
CREATE FUNCTION pg_temp.prefix(schema text) RETURNS text LANGUAGE sql AS $$
	SELECT 'arn:postgresql:table:' || current_database() || ':'
	       || (SELECT system_identifier::text FROM pg_control_system()) || ':' || schema || '.'
$$;
-- a selector of data events on PG::Table with more field selectors
CREATE FUNCTION pg_temp.ds(name text, more jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('Name', name, 'FieldSelectors',
		'[{"Field": "eventCategory", "Equals": ["Data"]},
		  {"Field": "resources.type", "Equals": ["PG::Table"]}]'::jsonb || more)
$$;
-- set the selectors (and nothing else), returning nothing
CREATE FUNCTION pg_temp.set_selectors(doc jsonb) RETURNS void LANGUAGE sql AS $$
	SELECT NULL::void FROM trail.update_event_data_store(doc)
$$;
-- the data events of a table, in order: Insert,Update,Select(r)...
CREATE FUNCTION pg_temp.events_of(tbl text) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(event_name || CASE WHEN read_only THEN '(r)' ELSE '' END, ','
	                           ORDER BY event_id), '')
	  FROM trail.events
	 WHERE event_category = 'Data' AND request_parameters->>'tableName' = tbl
$$;
-- the captured tables of some schemas
CREATE FUNCTION pg_temp.captured(schemas text[]) RETURNS text[] LANGUAGE sql AS $$
	SELECT coalesce(array_agg(table_id::text ORDER BY table_id::text COLLATE "C"), '{}')
	  FROM trail.captured_tables
	 WHERE (SELECT nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	         WHERE c.oid = table_id) = ANY (schemas)
$$;
-- management events of a statement text
CREATE FUNCTION pg_temp.n_stmt(stmt text) RETURNS int LANGUAGE sql AS $$
	SELECT count(*)::int FROM trail.events
	 WHERE event_category = 'Management' AND request_parameters->>'statement' = stmt
$$;
CREATE FUNCTION pg_temp.n_updates() RETURNS int LANGUAGE sql AS $$
	SELECT count(*)::int FROM trail.events
	 WHERE event_name = 'UpdateEventDataStore' AND event_source = 'trail.postgresql'
$$;

CREATE SCHEMA pick;
CREATE SCHEMA skip;
CREATE TABLE pick.orders (id int PRIMARY KEY, v text);
CREATE TABLE pick.orders_log (id int, v text);
CREATE TABLE pick.customers (id int PRIMARY KEY, v text);
CREATE TABLE skip.t (id int PRIMARY KEY, v text);

------------------------------------------------------------------------------
-- The default store: management events only, 90 days
------------------------------------------------------------------------------
SELECT is(trail.get_event_data_store()->'AdvancedEventSelectors',
	'[{"Name": "Management events", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]'::jsonb,
	'the default selectors: management events');
SELECT is((trail.get_event_data_store()->>'RetentionPeriod')::int, 90, 'the default retention: 90 days');
SELECT is(pg_temp.captured('{pick,skip}'), '{}'::text[], 'no table is captured by default');

------------------------------------------------------------------------------
-- Valid documents
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT trail.update_event_data_store('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]')$$,
	'a selector without a Name');
SELECT lives_ok(format($$SELECT trail.update_event_data_store(%L)$$, jsonb_build_array(
	pg_temp.ds('all fields', jsonb_build_array(
		jsonb_build_object('Field', 'resources.ARN', 'StartsWith', jsonb_build_array(pg_temp.prefix('pick')),
		                   'NotEndsWith', '["_log"]'::jsonb),
		'{"Field": "eventName", "Equals": ["Insert", "Update", "Delete"]}'::jsonb,
		'{"Field": "readOnly", "Equals": ["false"]}'::jsonb,
		'{"Field": "eventSource", "Equals": ["table.postgresql"]}'::jsonb,
		'{"Field": "userIdentity.arn", "NotStartsWith": ["arn:postgresql:iam::0:"], "NotEndsWith": ["/nobody"]}'::jsonb)),
	'{"Name": "mgmt", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
	                                    {"Field": "eventSource", "NotEquals": ["nothing.postgresql"]}]}'::jsonb)),
	'every field and operator in one document');
SELECT is(jsonb_array_length(trail.get_event_data_store()->'AdvancedEventSelectors'), 2,
	'get_event_data_store returns the selectors set');
SELECT is((trail.get_event_data_store()->'AdvancedEventSelectors'->0->>'Name'), 'all fields',
	'... as given');
SELECT is(pg_temp.captured('{pick,skip}'), '{pick.customers,pick.orders}'::text[],
	'StartsWith pick. and NotEndsWith _log pick the two tables of pick not ending in _log');
SELECT is((SELECT array_agg(tgname::text ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'pick.orders'::regclass),
	'{trail_capture_delete,trail_capture_insert,trail_capture_truncate,trail_capture_update}'::text[],
	'a picked table carries the four capture triggers');
SELECT lives_ok($$SELECT trail.update_event_data_store(
	'[{"Name": "x", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data", "Management"]},
	                                  {"Field": "resources.type", "Equals": ["PG::Table"]}]}]')$$,
	'one selector for both categories');

------------------------------------------------------------------------------
-- Invalid documents: the error names the bad part (SQLSTATE 22023)
------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.upd(doc text) RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT trail.update_event_data_store(%L::jsonb)', doc)
$$;
-- a valid starting point: writes of pick.orders and 30 days
SELECT lives_ok(format($$SELECT trail.update_event_data_store(%L, 30)$$, jsonb_build_array(
	pg_temp.ds('orders', jsonb_build_array(jsonb_build_object('Field', 'resources.ARN',
		'Equals', jsonb_build_array(pg_temp.prefix('pick') || 'orders')))))),
	'(a valid store: pick.orders, 30 days)');
CREATE TEMP TABLE before AS
SELECT trail.get_event_data_store() AS store,
       (SELECT array_agg(tgrelid::regclass::text || '.' || tgname ORDER BY 1) FROM pg_trigger
         WHERE tgname LIKE 'trail\_capture\_%') AS triggers,
       pg_temp.n_updates() AS updates;

SELECT throws_like(pg_temp.upd('{"Name": "x"}'),
	'InvalidEventSelectorsException: advanced_event_selectors: must be a JSON array of selectors',
	'not an array');
SELECT throws_like(pg_temp.upd('"x"'),
	'InvalidEventSelectorsException: advanced_event_selectors: must be a JSON array%',
	'a scalar');
SELECT throws_like(pg_temp.upd('[1]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0]: must be an object%',
	'a selector that is no object');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}], "Extra": 1}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0]: unknown member "Extra"',
	'an unknown member of a selector');
SELECT throws_like(pg_temp.upd('[{"Name": 5, "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].Name: must be a string%',
	'a Name that is no string');
SELECT throws_like(pg_temp.upd('[{"Name": "x"}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors: must be a non-empty array',
	'a selector without FieldSelectors');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": []}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors: must be a non-empty array',
	'empty FieldSelectors');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "x", "Equals": ["y"]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[1].Field: unknown field "x"',
	'an unknown field');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventcategory", "Equals": ["Management"]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[0].Field: unknown field "eventcategory"',
	'field names are case-sensitive');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Equals": ["Management"]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[0]: needs a Field%',
	'a field selector without Field');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory"}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[0]: needs an operator%',
	'a field selector without operator');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Contains": ["Management"]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[0]: unknown member "Contains"',
	'an unknown operator');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "eventCategory", "Equals": ["Data"]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[1].Field: field "eventCategory" appears twice%',
	'a field twice in one selector');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "StartsWith": ["Manage"]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[0].StartsWith: eventCategory takes only Equals',
	'eventCategory takes only Equals');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "NotEquals": ["true"]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[1].NotEquals: readOnly takes only Equals',
	'readOnly takes only Equals');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Insight"]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[0].Equals[0]: eventCategory is "Management" or "Data", not "Insight"',
	'an unknown event category');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["false", "yes"]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[1].Equals[1]: readOnly is "true" or "false", not "yes"',
	'readOnly is true or false');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[1].Equals[0]: the resource type of data events is "PG::Table"%',
	'a resource type other than PG::Table');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": "Management"}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[0].Equals: must be an array of strings',
	'values that are no array');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": []}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[0].Equals: must have at least one value',
	'no values');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "eventName", "Equals": ["Insert", 7]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[1].Equals[1]: must be a string',
	'a value that is no string');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "eventName", "Equals": [null]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[1].Equals[0]: must be a string',
	'a null value');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "eventName", "NotStartsWith": [""]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[1].NotStartsWith[0]: must be 1 to 2048 characters long',
	'an empty value');
SELECT throws_like(pg_temp.upd(format('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "eventName", "Equals": ["%s"]}]}]', repeat('a', 2049))),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[1].Equals[0]: must be 1 to 2048 characters long',
	'a value of 2049 characters');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventName", "Equals": ["Insert"]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors: every selector needs an eventCategory field',
	'a selector without eventCategory');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors: a selector of data events needs a resources.type field%',
	'a data selector without resources.type');
SELECT throws_like(pg_temp.upd('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
                                 {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.ARN", "EndsWith": [".x"]}]}]'),
	'InvalidEventSelectorsException: advanced_event_selectors[1].FieldSelectors: a selector of data events needs a resources.type field%',
	'the path names the second selector');
SELECT throws_like(pg_temp.upd(format('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}%s]',
                                      repeat(', {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}', 500))),
	'InvalidEventSelectorsException: advanced_event_selectors: more than 500 conditions in all',
	'more than 500 conditions in all');
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
SELECT is(ARRAY(SELECT DISTINCT pg_temp.sqlstate_of(pg_temp.upd(d)) FROM unnest(ARRAY[
		'{}', '[1]', '[{"FieldSelectors": []}]',
		'[{"FieldSelectors": [{"Field": "x", "Equals": ["y"]}]}]',
		'[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Insight"]}]}]',
		'[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}]']) AS d),
	ARRAY['22023'], 'invalid documents raise SQLSTATE 22023 (invalid_parameter_value)');

-- nothing changed: an invalid document with a valid retention, a valid
-- document with an invalid retention
SELECT throws_like(format($$SELECT trail.update_event_data_store(%L, 7)$$,
		jsonb_build_array(pg_temp.ds('skip', '[{"Field": "resources.ARN", "StartsWith": ["x"]}, {"Field": "bogus", "Equals": ["1"]}]'))),
	'InvalidEventSelectorsException: advanced_event_selectors[0].FieldSelectors[3].Field: unknown field "bogus"',
	'an invalid document given with a valid retention');
SELECT throws_like(format($$SELECT trail.update_event_data_store(%L, 0)$$,
		jsonb_build_array(pg_temp.ds('skip', jsonb_build_array(jsonb_build_object('Field', 'resources.ARN',
			'StartsWith', jsonb_build_array(pg_temp.prefix('skip'))))))),
	'InvalidParameterException: retention_period must be between 1 and 3653 days, not 0',
	'a valid document given with an invalid retention');
SELECT is(trail.get_event_data_store(), (SELECT store FROM before),
	'after the errors the store is unchanged (selectors, retention, time)');
SELECT is((SELECT array_agg(tgrelid::regclass::text || '.' || tgname ORDER BY 1) FROM pg_trigger
            WHERE tgname LIKE 'trail\_capture\_%'), (SELECT triggers FROM before),
	'... the capture triggers are unchanged');
SELECT is(pg_temp.n_updates(), (SELECT updates FROM before),
	'... and no UpdateEventDataStore event was recorded for them');
INSERT INTO pick.orders VALUES (1, 'a');
INSERT INTO skip.t VALUES (1, 'a');
SELECT is(pg_temp.events_of('pick.orders'), 'Insert', 'this backend still captures by the old selectors');
SELECT is(pg_temp.events_of('skip.t'), '', '... and not by the rejected ones');
SELECT is(trail.retention_start('2030-01-31 00:00:00+00'), '2030-01-01 00:00:00+00'::timestamptz,
	'... and the retention is still 30 days');

------------------------------------------------------------------------------
-- Which tables: the resources.ARN operators, several selectors, and tables
-- created later
------------------------------------------------------------------------------
SELECT pg_temp.set_selectors(jsonb_build_array(pg_temp.ds('logs',
	'[{"Field": "resources.ARN", "EndsWith": ["_log"]}]')));
SELECT is(pg_temp.captured('{pick,skip}'), '{pick.orders_log}'::text[], 'EndsWith _log');
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'pick.orders'::regclass AND tgname LIKE 'trail\_capture\_%'),
	'the triggers of a table no longer picked are gone');
SELECT pg_temp.set_selectors(jsonb_build_array(pg_temp.ds('not pick',
	jsonb_build_array(jsonb_build_object('Field', 'resources.ARN', 'NotStartsWith', jsonb_build_array(pg_temp.prefix('pick')))))));
SELECT is(pg_temp.captured('{pick,skip}'), '{skip.t}'::text[], 'NotStartsWith pick.');
SELECT pg_temp.set_selectors(jsonb_build_array(pg_temp.ds('pick but orders',
	jsonb_build_array(jsonb_build_object('Field', 'resources.ARN',
		'StartsWith', jsonb_build_array(pg_temp.prefix('pick')),
		'NotEquals', jsonb_build_array(pg_temp.prefix('pick') || 'orders'))))));
SELECT is(pg_temp.captured('{pick,skip}'), '{pick.customers,pick.orders_log}'::text[],
	'StartsWith pick. and NotEquals pick.orders (operators of one field are ANDed)');
SELECT pg_temp.set_selectors(jsonb_build_array(pg_temp.ds('no logs',
	jsonb_build_array(jsonb_build_object('Field', 'resources.ARN', 'NotEndsWith', '["_log", ".t"]'::jsonb)))));
SELECT is(pg_temp.captured('{pick,skip}'), '{pick.customers,pick.orders}'::text[],
	'NotEndsWith [_log, .t]: none of the values may match');
SELECT pg_temp.set_selectors(jsonb_build_array(
	pg_temp.ds('a', jsonb_build_array(jsonb_build_object('Field', 'resources.ARN', 'Equals', jsonb_build_array(pg_temp.prefix('pick') || 'customers')))),
	pg_temp.ds('b', jsonb_build_array(jsonb_build_object('Field', 'resources.ARN', 'Equals', jsonb_build_array(pg_temp.prefix('skip') || 't'))))));
SELECT is(pg_temp.captured('{pick,skip}'), '{pick.customers,skip.t}'::text[], 'two selectors: either one picks');
CREATE TABLE skip.later (id int);
SELECT is(pg_temp.captured('{pick,skip}'), '{pick.customers,skip.t}'::text[], 'a new table no selector picks is not captured');
SELECT pg_temp.set_selectors(jsonb_build_array(pg_temp.ds('starts',
	jsonb_build_array(jsonb_build_object('Field', 'resources.ARN', 'StartsWith', jsonb_build_array(pg_temp.prefix('skip') || 'lat'))))));
SELECT is(pg_temp.captured('{pick,skip}'), '{skip.later}'::text[], 'StartsWith skip.lat');
CREATE TABLE skip.latest (id int);
SELECT is(pg_temp.captured('{pick,skip}'), '{skip.later,skip.latest}'::text[], 'a new table a selector picks is captured');
ALTER TABLE skip.later RENAME TO renamed;
SELECT is(pg_temp.captured('{pick,skip}'), '{skip.latest}'::text[], 'a table renamed away from the selection is not');
SELECT pg_temp.set_selectors('[{"Name": "m", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]');
SELECT is(pg_temp.captured('{pick,skip}'), '{}'::text[], 'management selectors only: nothing is captured');

------------------------------------------------------------------------------
-- eventName: only Delete events of pick.customers, only Update and Insert
-- of pick.orders
------------------------------------------------------------------------------
SELECT pg_temp.set_selectors(jsonb_build_array(
	pg_temp.ds('deletes', jsonb_build_array(
		jsonb_build_object('Field', 'resources.ARN', 'Equals', jsonb_build_array(pg_temp.prefix('pick') || 'customers')),
		'{"Field": "eventName", "Equals": ["Delete"]}'::jsonb)),
	pg_temp.ds('no deletes', jsonb_build_array(
		jsonb_build_object('Field', 'resources.ARN', 'Equals', jsonb_build_array(pg_temp.prefix('pick') || 'orders')),
		'{"Field": "eventName", "NotEquals": ["Delete", "Truncate"]}'::jsonb))));
INSERT INTO pick.customers VALUES (1, 'a'), (2, 'b');
UPDATE pick.customers SET v = 'c';
DELETE FROM pick.customers WHERE id = 1;
TRUNCATE pick.customers;
SELECT is(pg_temp.events_of('pick.customers'), 'Delete', 'eventName Equals Delete: only the DELETE is recorded');
SELECT is((SELECT count(*)::int FROM trail.event_rows r JOIN trail.events e ON e.event_id = r.statement_event_id
            WHERE e.request_parameters->>'tableName' = 'pick.customers'), 1,
	'... with its one row event');
UPDATE pick.orders SET v = 'b';
INSERT INTO pick.orders VALUES (2, 'x');
DELETE FROM pick.orders;
SELECT is(pg_temp.events_of('pick.orders'), 'Insert,Update,Insert',
	'eventName NotEquals Delete, Truncate: the UPDATE and INSERT are recorded, the DELETE is not');

------------------------------------------------------------------------------
-- readOnly: reads only, writes only, both
------------------------------------------------------------------------------
CREATE SCHEMA rw;
CREATE TABLE rw.reads (id int PRIMARY KEY);
CREATE TABLE rw.writes (id int PRIMARY KEY);
CREATE TABLE rw.mixed (id int PRIMARY KEY);
SELECT pg_temp.set_selectors(jsonb_build_array(
	pg_temp.ds('reads', jsonb_build_array(
		jsonb_build_object('Field', 'resources.ARN', 'Equals', jsonb_build_array(pg_temp.prefix('rw') || 'reads')),
		'{"Field": "readOnly", "Equals": ["true"]}'::jsonb)),
	pg_temp.ds('writes', jsonb_build_array(
		jsonb_build_object('Field', 'resources.ARN', 'Equals', jsonb_build_array(pg_temp.prefix('rw') || 'writes')),
		'{"Field": "readOnly", "Equals": ["false"]}'::jsonb)),
	pg_temp.ds('both', jsonb_build_array(
		jsonb_build_object('Field', 'resources.ARN', 'Equals', jsonb_build_array(pg_temp.prefix('rw') || 'mixed'))))));
SELECT is(pg_temp.captured('{rw}'), '{rw.mixed,rw.writes}'::text[],
	'a table selected for reads only has no capture triggers');
INSERT INTO rw.reads VALUES (1), (2);
INSERT INTO rw.writes VALUES (1), (2);
INSERT INTO rw.mixed VALUES (1), (2);
SELECT * FROM rw.reads \g /dev/null
SELECT * FROM rw.writes \g /dev/null
SELECT * FROM rw.mixed \g /dev/null
UPDATE rw.reads SET id = id + 10;
UPDATE rw.writes SET id = id + 10;
SELECT count(*) FROM rw.mixed WHERE id > 0 \g /dev/null
SELECT is(pg_temp.events_of('rw.reads'), 'Select(r)', 'readOnly true: the read, not the writes');
SELECT is(pg_temp.events_of('rw.writes'), 'Insert,Update', 'readOnly false: the writes, not the read');
SELECT is(pg_temp.events_of('rw.mixed'), 'Insert,Select(r),Select(r)', 'no readOnly field: reads and writes');
SELECT is((SELECT string_agg(response_elements->>'rowCount', ',' ORDER BY event_id) FROM trail.events
            WHERE event_category = 'Data' AND request_parameters->>'tableName' = 'rw.mixed' AND read_only),
	'2,1', 'read events count the rows returned');

------------------------------------------------------------------------------
-- userIdentity.arn: writes of one role selected, those of another not
------------------------------------------------------------------------------
CREATE ROLE regress_tap_sel_alice;
CREATE ROLE regress_tap_sel_bob;
CREATE SCHEMA ua;
CREATE TABLE ua.t (id int PRIMARY KEY, who text);
GRANT USAGE ON SCHEMA ua TO regress_tap_sel_alice, regress_tap_sel_bob;
GRANT ALL ON ua.t TO regress_tap_sel_alice, regress_tap_sel_bob;
CREATE TEMP TABLE arns AS
SELECT format('arn:postgresql:sts::%s:assumed-role/regress_tap_sel_alice/%s', acct, session_user) AS alice_assumed,
       format('arn:postgresql:iam::%s:role/regress_tap_sel_alice', acct) AS alice_role
  FROM (SELECT system_identifier::text AS acct FROM pg_control_system()) s;
SELECT pg_temp.set_selectors(jsonb_build_array(pg_temp.ds('alice', jsonb_build_array(
	jsonb_build_object('Field', 'resources.ARN', 'StartsWith', jsonb_build_array(pg_temp.prefix('ua'))),
	jsonb_build_object('Field', 'userIdentity.arn', 'Equals',
		(SELECT jsonb_build_array(alice_assumed, alice_role) FROM arns))))));
SELECT is(pg_temp.captured('{ua}'), '{ua.t}'::text[], 'a selector with userIdentity.arn puts the triggers on the table');
INSERT INTO ua.t VALUES (1, 'superuser');
SET ROLE regress_tap_sel_alice;
INSERT INTO ua.t VALUES (2, 'alice');
UPDATE ua.t SET who = 'alice again' WHERE id = 2;
RESET ROLE;
SET ROLE regress_tap_sel_bob;
INSERT INTO ua.t VALUES (3, 'bob');
DELETE FROM ua.t WHERE id = 2;
RESET ROLE;
SET SESSION AUTHORIZATION regress_tap_sel_alice;
INSERT INTO ua.t VALUES (4, 'alice herself');
RESET SESSION AUTHORIZATION;
SELECT is(pg_temp.events_of('ua.t'), 'Insert,Update,Insert', 'only the writes of alice are recorded');
SELECT is((SELECT string_agg((e.user_identity->>'arn') || ' ' || (r.new_image->>'who'), ',' ORDER BY e.event_id)
             FROM trail.events e JOIN trail.event_rows r ON r.statement_event_id = e.event_id AND r.event_time = e.event_time
            WHERE e.request_parameters->>'tableName' = 'ua.t'),
	(SELECT alice_assumed || ' alice,' || alice_assumed || ' alice again,' || alice_role || ' alice herself' FROM arns),
	'... under SET ROLE as the assumed role, under SET SESSION AUTHORIZATION as the role');
SELECT pg_temp.set_selectors(jsonb_build_array(pg_temp.ds('not alice', jsonb_build_array(
	jsonb_build_object('Field', 'resources.ARN', 'StartsWith', jsonb_build_array(pg_temp.prefix('ua'))),
	'{"Field": "userIdentity.arn", "NotEndsWith": ["/regress_tap_sel_alice"], "NotStartsWith": ["arn:postgresql:sts:"]}'::jsonb))));
SET ROLE regress_tap_sel_bob;
INSERT INTO ua.t VALUES (5, 'bob assumed');
RESET ROLE;
SET SESSION AUTHORIZATION regress_tap_sel_alice;
INSERT INTO ua.t VALUES (6, 'alice');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_tap_sel_bob;
INSERT INTO ua.t VALUES (7, 'bob');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT string_agg(r.new_image->>'who', ',' ORDER BY e.event_id)
             FROM trail.events e JOIN trail.event_rows r ON r.statement_event_id = e.event_id AND r.event_time = e.event_time
            WHERE e.request_parameters->>'tableName' = 'ua.t' AND (r.new_image->>'id')::int >= 5),
	'bob', 'NotEndsWith and NotStartsWith on userIdentity.arn: neither alice nor an assumed role');

------------------------------------------------------------------------------
-- Management events: excluded by a Management selector that does not match
------------------------------------------------------------------------------
-- data selectors alone keep every management event
SELECT pg_temp.set_selectors(jsonb_build_array(pg_temp.ds('data only',
	'[{"Field": "resources.ARN", "StartsWith": ["arn:postgresql:table:nowhere:"]}]')));
SHOW trail.premake_days \g /dev/null
CREATE TABLE skip.mgmt1 (id int);
SELECT is(pg_temp.n_stmt('SHOW trail.premake_days'), 1, 'with data selectors only, SHOW is recorded');
SELECT is(pg_temp.n_stmt('CREATE TABLE skip.mgmt1 (id int)'), 1, '... and CREATE TABLE');
-- a Management selector for writes only
SELECT pg_temp.set_selectors('[{"Name": "management writes", "FieldSelectors": [
	{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["false"]}]}]');
SHOW trail.maintenance_interval \g /dev/null
CREATE TABLE skip.mgmt2 (id int);
SELECT is(pg_temp.n_stmt('SHOW trail.maintenance_interval'), 0, 'Management readOnly false: SHOW is not recorded');
SELECT is(pg_temp.n_stmt('CREATE TABLE skip.mgmt2 (id int)'), 1, '... CREATE TABLE is');
-- by event source
SELECT pg_temp.set_selectors('[{"Name": "no iam", "FieldSelectors": [
	{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "eventSource", "NotStartsWith": ["iam."]}]}]');
CREATE ROLE regress_tap_sel_carol;
CREATE TABLE skip.mgmt3 (id int);
SHOW trail.retention_period \g /dev/null
SELECT is(pg_temp.n_stmt('CREATE ROLE regress_tap_sel_carol'), 0, 'eventSource NotStartsWith iam.: CREATE ROLE is not recorded');
SELECT is(pg_temp.n_stmt('CREATE TABLE skip.mgmt3 (id int)'), 1, '... CREATE TABLE is');
SELECT is(pg_temp.n_stmt('SHOW trail.retention_period'), 1, '... and SHOW is');
-- by event name
SELECT pg_temp.set_selectors('[{"Name": "no index", "FieldSelectors": [
	{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "eventName", "NotEquals": ["CreateIndex"]}]}]');
CREATE INDEX mgmt3_idx ON skip.mgmt3 (id);
CREATE TABLE skip.mgmt4 (id int);
SELECT is(pg_temp.n_stmt('CREATE INDEX mgmt3_idx ON skip.mgmt3 (id)'), 0, 'eventName NotEquals CreateIndex: CREATE INDEX is not recorded');
SELECT is(pg_temp.n_stmt('CREATE TABLE skip.mgmt4 (id int)'), 1, '... CREATE TABLE is');
-- changes of the store itself are always recorded, whatever the selectors:
-- otherwise a selector could hide its own installation
SELECT is(pg_temp.n_updates(), (SELECT updates FROM before) + 15,
	'every change of the selectors so far is recorded');
CREATE TEMP TABLE updates_before AS SELECT pg_temp.n_updates() AS n;
SELECT pg_temp.set_selectors('[{"Name": "ddl only", "FieldSelectors": [
	{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "eventSource", "Equals": ["ddl.postgresql"]}]}]');
SELECT trail.update_event_data_store(retention_period => 45) \g /dev/null
SELECT is(pg_temp.n_updates(), (SELECT n FROM updates_before) + 2,
	'UpdateEventDataStore is recorded even when the selectors exclude trail.postgresql');
SELECT pg_temp.set_selectors('[{"Name": "back", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]');

------------------------------------------------------------------------------
-- retention_period
------------------------------------------------------------------------------
SELECT throws_like('SELECT trail.update_event_data_store(retention_period => 0)',
	'InvalidParameterException: retention_period must be between 1 and 3653 days, not 0', 'retention 0');
SELECT throws_like('SELECT trail.update_event_data_store(retention_period => 3654)',
	'InvalidParameterException: retention_period must be between 1 and 3653 days, not 3654', 'retention 3654');
SELECT throws_like('SELECT trail.update_event_data_store(retention_period => -1)',
	'InvalidParameterException: retention_period%', 'a negative retention');
SELECT throws_ok('SELECT trail.update_event_data_store(retention_period => 0)', '22023', NULL,
	'... SQLSTATE 22023');
SELECT is((trail.update_event_data_store(retention_period => 1)->>'RetentionPeriod')::int, 1, 'retention 1');
SELECT is(trail.retention_start(), now() - interval '1 day', 'retention_start() is now() - 1 day');
SELECT is((trail.update_event_data_store(retention_period => 3653)->>'RetentionPeriod')::int, 3653, 'retention 3653');
SELECT is(trail.retention_start('2030-01-01 00:00:00+00'), '2030-01-01 00:00:00+00'::timestamptz - interval '3653 days',
	'retention_start(as_of) is as_of - 3653 days');
SELECT is((trail.update_event_data_store(retention_period => 14)->>'RetentionPeriod')::int, 14, 'retention 14');
SELECT is(trail.retention_start(), now() - interval '14 days', 'retention_start() is now() - 14 days');
SELECT is(trail.get_event_data_store()->'AdvancedEventSelectors'->0->>'Name', 'back',
	'a NULL advanced_event_selectors leaves the selectors alone');
SELECT is((trail.update_event_data_store('[{"Name": "again", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]')->>'RetentionPeriod')::int,
	14, 'a NULL retention_period leaves the retention alone');
SELECT is((trail.update_event_data_store()->'AdvancedEventSelectors'->0->>'Name'), 'again',
	'no arguments: nothing changes');

------------------------------------------------------------------------------
-- UpdateEventDataStore events
------------------------------------------------------------------------------
CREATE TEMP TABLE last_update AS
SELECT * FROM trail.events WHERE event_name = 'UpdateEventDataStore' ORDER BY event_id DESC LIMIT 2;
SELECT is((SELECT request_parameters FROM last_update ORDER BY event_id DESC LIMIT 1),
	jsonb_build_object('name', current_database()),
	'an update with no arguments records just the name');
SELECT is((SELECT request_parameters FROM last_update ORDER BY event_id LIMIT 1),
	jsonb_build_object('name', current_database(), 'advancedEventSelectors',
		'[{"Name": "again", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]'::jsonb),
	'an update of the selectors records them (and no retention)');
SELECT is((SELECT request_parameters FROM trail.events WHERE event_name = 'UpdateEventDataStore'
             AND request_parameters ? 'retentionPeriod' ORDER BY event_id DESC LIMIT 1),
	jsonb_build_object('name', current_database(), 'retentionPeriod', 14),
	'an update of the retention records it (and no selectors)');
SELECT ok((SELECT bool_and(event_category = 'Management' AND management_event AND NOT read_only
                           AND event_source = 'trail.postgresql' AND event_type = 'AwsApiCall'
                           AND resources->0->>'type' = 'PG::EventDataStore'
                           AND resources->0->>'name' = current_database()
                           AND resources->0->>'ARN' LIKE '%:eventdatastore/' || current_database()
                           AND user_name = session_user)
             FROM trail.events WHERE event_name = 'UpdateEventDataStore'),
	'UpdateEventDataStore events: management writes of trail.postgresql on the PG::EventDataStore');
SELECT is((SELECT count(*)::int FROM trail.lookup_events('EventName', 'UpdateEventDataStore', end_time => 'infinity', max_results => 50)),
	LEAST(pg_temp.n_updates(), 50), '... listed by LookupEvents');

------------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------------
CREATE ROLE regress_tap_sel_plain;
CREATE ROLE regress_tap_sel_reader IN ROLE trail_reader;
GRANT USAGE ON SCHEMA pick TO regress_tap_sel_plain;
GRANT ALL ON pick.orders TO regress_tap_sel_plain;
SET ROLE regress_tap_sel_plain;
SELECT throws_ok($$SELECT trail.update_event_data_store(retention_period => 5)$$, '42501', NULL,
	'an ordinary role cannot call update_event_data_store');
SELECT throws_ok($$SELECT trail.set_capture_options('pick.orders', 'full')$$, '42501', NULL,
	'an ordinary role cannot call set_capture_options, even on its own table''s data');
SELECT throws_ok('SELECT count(*) FROM trail.event_rows', '42501', NULL,
	'an ordinary role cannot read trail.event_rows');
SELECT throws_ok('SELECT count(*) FROM trail.data_events', '42501', NULL,
	'an ordinary role cannot read trail.data_events');
SELECT throws_ok('SELECT trail.get_event_data_store()', '42501', NULL,
	'an ordinary role cannot read the store''s settings');
RESET ROLE;
SELECT is((trail.get_event_data_store()->>'RetentionPeriod')::int, 14, '(the store is unchanged)');
SET ROLE regress_tap_sel_reader;
SELECT lives_ok('SELECT count(*) FROM trail.event_rows', 'trail_reader reads trail.event_rows');
SELECT lives_ok('SELECT count(*) FROM trail.data_events', 'trail_reader reads trail.data_events');
SELECT lives_ok('SELECT count(*) FROM trail.captured_tables', 'trail_reader reads trail.captured_tables');
SELECT lives_ok('SELECT trail.get_event_data_store()', 'trail_reader reads the store''s settings');
SELECT throws_ok($$SELECT trail.update_event_data_store(retention_period => 5)$$, '42501', NULL,
	'trail_reader cannot call update_event_data_store');
SELECT throws_ok('DELETE FROM trail.event_rows', '42501', NULL, 'trail_reader cannot delete row events');
RESET ROLE;

SELECT * FROM finish();

\set QUIET 1
SET client_min_messages = warning;
DROP OWNED BY regress_tap_sel_alice;
DROP ROLE IF EXISTS regress_tap_sel_alice;
DROP OWNED BY regress_tap_sel_bob;
DROP ROLE IF EXISTS regress_tap_sel_bob;
DROP OWNED BY regress_tap_sel_carol;
DROP ROLE IF EXISTS regress_tap_sel_carol;
DROP OWNED BY regress_tap_sel_plain;
DROP ROLE IF EXISTS regress_tap_sel_plain;
DROP OWNED BY regress_tap_sel_reader;
DROP ROLE IF EXISTS regress_tap_sel_reader;
