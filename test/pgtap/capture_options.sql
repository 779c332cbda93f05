-- capture_options: trail.set_capture_options() says how a table's data
-- events are captured (row images none / changed / full, excluded and
-- redacted columns).  Its validation errors, its effects on the events,
-- options that follow a renamed table (and renamed columns), and the
-- SetCaptureOptions management events.
--
-- Data events are written when their transaction commits (a transaction
-- does not see its own), so this file runs in autocommit mode, in the
-- fresh database test.sh makes for it; the roles it creates are dropped
-- at the end.
\set QUIET 1
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_tap_co_owner;
RESET client_min_messages;

SELECT plan(64);

SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS trail;
RESET client_min_messages;

-- the SetCaptureOptions events so far
CREATE FUNCTION pg_temp.n_set() RETURNS int LANGUAGE sql AS $$
	SELECT count(*)::int FROM trail.events WHERE event_name = 'SetCaptureOptions'
$$;
-- the row events of a table's statements: "Insert new=... old=..." in order
CREATE FUNCTION pg_temp.rows_of(tbl text) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(concat_ws(' ', e.event_name, 'key=' || r.row_key::text,
	                                     'old=' || r.old_image::text, 'new=' || r.new_image::text),
	                           E'\n' ORDER BY e.event_id, r.row_number), '')
	  FROM trail.events e JOIN trail.event_rows r
	    ON r.statement_event_id = e.event_id AND r.event_time = e.event_time
	 WHERE e.event_category = 'Data' AND e.request_parameters->>'tableName' = tbl
$$;
-- the statement events of a table: "Insert rows=2 images=changed statement" in order
CREATE FUNCTION pg_temp.stmts_of(tbl text) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(concat_ws(' ', event_name,
	                                     'rows=' || (response_elements->>'rowCount'),
	                                     'images=' || (additional_event_data->>'rowImages'),
	                                     CASE WHEN request_parameters ? 'statement' THEN 'statement' END),
	                           E'\n' ORDER BY event_id), '')
	  FROM trail.events
	 WHERE event_category = 'Data' AND request_parameters->>'tableName' = tbl
$$;
-- "SQLSTATE: message" of the error a statement raises, or 'no error'
CREATE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

CREATE SCHEMA co;
CREATE TABLE co.t (id int PRIMARY KEY, name text, secret text, pin text, note text);
CREATE TABLE co.k2 (a int, b int, v text, PRIMARY KEY (a, b));
CREATE TABLE co.unpicked (id int PRIMARY KEY, v text);
CREATE VIEW co.v AS SELECT id, name FROM co.t;
CREATE SEQUENCE co.s;
CREATE INDEX t_name_idx ON co.t (name);
CREATE TABLE co.parted (id int, v text, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE co.parted_1 PARTITION OF co.parted FOR VALUES FROM (0) TO (100);
SELECT trail.update_event_data_store(jsonb_build_array(jsonb_build_object('Name', 'co',
	'FieldSelectors', jsonb_build_array(
		'{"Field": "eventCategory", "Equals": ["Data"]}'::jsonb,
		'{"Field": "resources.type", "Equals": ["PG::Table"]}'::jsonb,
		jsonb_build_object('Field', 'resources.ARN', 'StartsWith',
			jsonb_build_array(replace(trail.table_arn('co.t'), ':co.t', ':co.')),
			'NotEquals', jsonb_build_array(trail.table_arn('co.unpicked'))))))) \g /dev/null
CREATE TEMP TABLE n0 AS SELECT pg_temp.n_set() AS n;

------------------------------------------------------------------------------
-- Validation
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT trail.set_capture_options('co.t', 'some')$$, '22023',
	'row_images must be none, changed or full, not "some"', 'an unknown row_images');
SELECT throws_ok($$SELECT trail.set_capture_options('co.t', 'FULL')$$, '22023',
	'row_images must be none, changed or full, not "FULL"', 'row_images is case-sensitive');
SELECT throws_ok($$SELECT trail.set_capture_options('co.t', NULL)$$, '22004', NULL, 'a NULL row_images');
SELECT throws_ok($$SELECT trail.set_capture_options(NULL, 'full')$$, '22004', NULL, 'a NULL table');
SELECT throws_ok($$SELECT trail.set_capture_options('co.nosuch', 'full')$$, '42P01', NULL, 'a table that does not exist');
SELECT throws_ok($$SELECT trail.set_capture_options('co.v', 'full')$$, '42809', '"v" is not a table', 'a view');
SELECT throws_ok($$SELECT trail.set_capture_options('co.s', 'full')$$, '42809', '"s" is not a table', 'a sequence');
SELECT throws_ok($$SELECT trail.set_capture_options('co.t_name_idx', 'full')$$, '42809', '"t_name_idx" is not a table', 'an index');
SELECT throws_like($$SELECT trail.set_capture_options('trail.event_data_store', 'full')$$,
	'"event_data_store" is not a table whose data events trail captures', 'a table of trail itself');
SELECT throws_like($$SELECT trail.set_capture_options('trail.events', 'none')$$,
	'"events" is not a table whose data events trail captures', 'the event store');
SELECT throws_like($$SELECT trail.set_capture_options('pg_catalog.pg_class', 'none')$$,
	'"pg_class" is not a table whose data events trail captures', 'a system catalog');
SELECT throws_ok($$SELECT trail.set_capture_options('co.t', 'changed', exclude_columns => '{note,nope}')$$, '42703',
	'exclude_columns[2]: column "nope" of relation "t" does not exist', 'an unknown column to exclude');
SELECT throws_ok($$SELECT trail.set_capture_options('co.t', 'changed', redact_columns => '{Secret}')$$, '42703',
	'redact_columns[1]: column "Secret" of relation "t" does not exist', 'column names are exact (case matters)');
SELECT throws_ok($$SELECT trail.set_capture_options('co.t', 'changed', exclude_columns => '{ctid}')$$, '42703',
	NULL, 'a system column');
SELECT throws_ok($$SELECT trail.set_capture_options('co.t', 'changed', redact_columns => ARRAY['pin', NULL])$$, '22004',
	'redact_columns[2] is NULL', 'a NULL column name');
SELECT throws_ok($$SELECT trail.set_capture_options('co.t', 'changed', exclude_columns => '{{note},{pin}}')$$, '22023',
	NULL, 'a two-dimensional array');
SELECT throws_ok($$SELECT trail.set_capture_options('co.t', 'changed', exclude_columns => '{note,pin}', redact_columns => '{pin}')$$, '22023',
	'column "pin" is both excluded and redacted', 'a column both excluded and redacted');
SELECT throws_ok($$SELECT trail.set_capture_options('co.t', 'changed', exclude_columns => '{id}')$$, '22023',
	'column "id" is part of the primary key, which identifies each row event; it cannot be excluded',
	'the primary key cannot be excluded');
SELECT throws_ok($$SELECT trail.set_capture_options('co.k2', 'full', exclude_columns => '{b}')$$, '22023',
	'column "b" is part of the primary key, which identifies each row event; it cannot be excluded',
	'... nor a column of a composite primary key');
SELECT is(pg_temp.n_set(), (SELECT n FROM n0), 'no SetCaptureOptions event for the rejected calls');
SELECT is((SELECT count(*)::int FROM trail.capture_options), 0, 'and no options were stored');

------------------------------------------------------------------------------
-- Effects
------------------------------------------------------------------------------
SELECT results_eq($$SELECT table_id::text, row_images, exclude_columns, redact_columns FROM trail.captured_tables
                    WHERE table_id = 'co.t'::regclass$$,
	$$VALUES ('co.t', 'changed', '{}'::text[], '{}'::text[])$$,
	'without options a captured table has changed row images');
INSERT INTO co.t VALUES (1, 'a', 's1', '1111', 'n');
UPDATE co.t SET note = 'n2', pin = '2222';

SELECT lives_ok($$SELECT trail.set_capture_options('co.t', 'none')$$, 'row_images none');
SELECT is((SELECT row_images FROM trail.captured_tables WHERE table_id = 'co.t'::regclass), 'none',
	'captured_tables shows the options');
UPDATE co.t SET note = 'n3';
SELECT lives_ok($$SELECT trail.set_capture_options('co.t', 'full')$$, 'row_images full');
UPDATE co.t SET note = 'n4';
SELECT lives_ok($$SELECT trail.set_capture_options('co.t', 'changed', '{note}', '{secret,pin}')$$,
	'changed, excluding note, redacting secret and pin');
SELECT results_eq($$SELECT table_id::text, row_images, exclude_columns, redact_columns FROM trail.captured_tables
                    WHERE table_id = 'co.t'::regclass$$,
	$$VALUES ('co.t', 'changed', '{note}'::text[], '{secret,pin}'::text[])$$,
	'captured_tables shows them');
UPDATE co.t SET note = 'n5', pin = '3333', name = 'b';
INSERT INTO co.t VALUES (2, 'c', 's2', '1111', 'hidden');
SELECT lives_ok($$SELECT trail.set_capture_options('co.t')$$, 'the defaults: changed, nothing excluded or redacted');
UPDATE co.t SET note = 'n6' WHERE id = 1;

SELECT is(pg_temp.stmts_of('co.t'), concat_ws(E'\n',
	'Insert rows=1 images=changed statement',
	'Update rows=1 images=changed statement',
	'Update rows=1 statement',
	'Update rows=1 images=full statement',
	'Update rows=1 images=changed',
	'Insert rows=1 images=changed',
	'Update rows=1 images=changed statement'),
	'each statement captured with the options in force: none has no row events; the statement text is left out while columns are excluded or redacted');
SELECT is(regexp_replace(pg_temp.rows_of('co.t'), 'sha256:[0-9a-f]{16}', 'sha256:#', 'g'), concat_ws(E'\n',
	'Insert key={"id":1} new={"id":1,"name":"a","secret":"s1","pin":"1111","note":"n"}',
	'Update key={"id":1} old={"pin":"1111","note":"n"} new={"pin":"2222","note":"n2"}',
	'Update key={"id":1} old={"id":1,"name":"a","secret":"s1","pin":"2222","note":"n3"} new={"id":1,"name":"a","secret":"s1","pin":"2222","note":"n4"}',
	'Update key={"id":1} old={"name":"a","pin":"<redacted> sha256:#"} new={"name":"b","pin":"<redacted> sha256:#"}',
	'Insert key={"id":2} new={"id":2,"name":"c","secret":"<redacted> sha256:#","pin":"<redacted> sha256:#"}',
	'Update key={"id":1} old={"note":"n5"} new={"note":"n6"}'),
	'the row events follow the options: changed, full, excluded and redacted columns');
SELECT isnt((SELECT r.old_image->>'pin' FROM trail.event_rows r JOIN trail.events e ON e.event_id = r.statement_event_id
              WHERE e.request_parameters->>'tableName' = 'co.t' AND r.old_image->>'pin' LIKE '<redacted>%' AND r.new_image->>'name' = 'b'),
	(SELECT r.new_image->>'pin' FROM trail.event_rows r JOIN trail.events e ON e.event_id = r.statement_event_id
	  WHERE e.request_parameters->>'tableName' = 'co.t' AND r.old_image->>'pin' LIKE '<redacted>%' AND r.new_image->>'name' = 'b'),
	'a changed redacted value has another hash');
SELECT is((SELECT count(DISTINCT v)::int FROM trail.event_rows r JOIN trail.events e ON e.event_id = r.statement_event_id,
                  LATERAL (VALUES (r.new_image->>'pin'), (r.old_image->>'pin')) x(v)
            WHERE e.request_parameters->>'tableName' = 'co.t' AND v LIKE '<redacted>%'), 3,
	'hashes of pins 2222, 3333 and 1111: three values, three hashes');

-- the primary key may be redacted: row events then carry its hash
SELECT lives_ok($$SELECT trail.set_capture_options('co.k2', 'changed', redact_columns => '{b}')$$,
	'a primary key column may be redacted');
INSERT INTO co.k2 VALUES (1, 42, 'x');
UPDATE co.k2 SET v = 'y';
SELECT is(regexp_replace(pg_temp.rows_of('co.k2'), 'sha256:[0-9a-f]{16}', 'sha256:#', 'g'), concat_ws(E'\n',
	'Insert key={"a":1,"b":"<redacted> sha256:#"} new={"a":1,"b":"<redacted> sha256:#","v":"x"}',
	'Update key={"a":1,"b":"<redacted> sha256:#"} old={"v":"x"} new={"v":"y"}'),
	'... and the key of its row events shows the hash');

-- options of a table no selector picks are kept, and apply once it is picked
SELECT lives_ok($$SELECT trail.set_capture_options('co.unpicked', 'full', '{}', '{v}')$$,
	'options may be set on a table no selector picks');
SELECT is((SELECT count(*)::int FROM trail.captured_tables WHERE table_id = 'co.unpicked'::regclass), 0,
	'(it is not captured)');
INSERT INTO co.unpicked VALUES (1, 'not recorded');
SELECT trail.update_event_data_store(jsonb_build_array(jsonb_build_object('Name', 'co',
	'FieldSelectors', jsonb_build_array(
		'{"Field": "eventCategory", "Equals": ["Data"]}'::jsonb,
		'{"Field": "resources.type", "Equals": ["PG::Table"]}'::jsonb,
		jsonb_build_object('Field', 'resources.ARN', 'StartsWith',
			jsonb_build_array(replace(trail.table_arn('co.t'), ':co.t', ':co.'))))))) \g /dev/null
SELECT results_eq($$SELECT row_images, redact_columns FROM trail.captured_tables WHERE table_id = 'co.unpicked'::regclass$$,
	$$VALUES ('full', '{v}'::text[])$$, 'picked later, it is captured with its options');
UPDATE co.unpicked SET v = 'recorded';
SELECT is(regexp_replace(pg_temp.rows_of('co.unpicked'), 'sha256:[0-9a-f]{16}', 'sha256:#', 'g'),
	'Update key={"id":1} old={"id":1,"v":"<redacted> sha256:#"} new={"id":1,"v":"<redacted> sha256:#"}',
	'... full images, v redacted');

-- a partitioned table
SELECT lives_ok($$SELECT trail.set_capture_options('co.parted', 'none')$$, 'options of a partitioned table');
INSERT INTO co.parted VALUES (1, 'a'), (2, 'b');
SELECT is(pg_temp.stmts_of('co.parted'), 'Insert rows=2 statement', 'writes through it follow its options');

------------------------------------------------------------------------------
-- Options follow the table: renamed, moved to another selected name, and
-- its columns renamed
------------------------------------------------------------------------------
ALTER TABLE co.t RENAME TO people;
SELECT results_eq($$SELECT table_id::text, row_images, exclude_columns, redact_columns FROM trail.captured_tables
                    WHERE table_id = 'co.people'::regclass$$,
	$$VALUES ('co.people', 'changed', '{}'::text[], '{}'::text[])$$,
	'(the table is renamed; its options are the defaults set last)');
SELECT lives_ok($$SELECT trail.set_capture_options('co.people', 'full', '{note}', '{secret}')$$, 'options of the renamed table');
ALTER TABLE co.people RENAME TO persons;
SELECT results_eq($$SELECT table_id::text, row_images, exclude_columns, redact_columns FROM trail.captured_tables
                    WHERE table_id = 'co.persons'::regclass$$,
	$$VALUES ('co.persons', 'full', '{note}'::text[], '{secret}'::text[])$$,
	'options follow a renamed table');
UPDATE co.persons SET name = 'z' WHERE id = 2;
SELECT is(regexp_replace(pg_temp.rows_of('co.persons'), 'sha256:[0-9a-f]{16}', 'sha256:#', 'g'),
	'Update key={"id":2} old={"id":2,"name":"c","secret":"<redacted> sha256:#","pin":"1111"} new={"id":2,"name":"z","secret":"<redacted> sha256:#","pin":"1111"}',
	'... and apply to its events, under its new name');
SELECT is((SELECT request_parameters->>'tableName' || ' ' || (resources->0->>'ARN' = trail.table_arn('co.persons'))::text
             FROM trail.events WHERE event_category = 'Data' AND request_parameters->>'tableName' = 'co.persons'),
	'co.persons true', '... whose name and ARN are the new ones');
-- a column renamed: still excluded or redacted (never shown in clear).
-- (Refusing the rename would protect the values too: the renames may fail.)
SELECT pg_temp.error_of('ALTER TABLE co.persons RENAME COLUMN secret TO confidential') AS rename1 \gset
SELECT pg_temp.error_of('ALTER TABLE co.persons RENAME COLUMN note TO remark') AS rename2 \gset
CREATE TEMP TABLE renamed_cols AS
SELECT (SELECT attname::text FROM pg_attribute WHERE attrelid = 'co.persons'::regclass AND attnum = 3) AS redacted,
       (SELECT attname::text FROM pg_attribute WHERE attrelid = 'co.persons'::regclass AND attnum = 5) AS excluded;
DO $$
DECLARE
	c renamed_cols;
BEGIN
	SELECT * INTO c FROM renamed_cols;
	EXECUTE format('UPDATE co.persons SET %I = %L, %I = %L WHERE id = 2', c.redacted, 'renamed-secret', c.excluded, 'renamed-note');
	EXECUTE format('INSERT INTO co.persons (id, name, %I, pin, %I) VALUES (3, %L, %L, %L, %L)',
	               c.redacted, c.excluded, 'd', 'clear-secret?', '0000', 'clear-note?');
END
$$;
SELECT is((SELECT count(*)::int FROM trail.events e LEFT JOIN trail.event_rows r
             ON r.statement_event_id = e.event_id AND r.event_time = e.event_time
            WHERE e.request_parameters->>'tableName' = 'co.persons'
              AND concat(e.request_parameters, r.old_image, r.new_image) ~ '(renamed-secret|renamed-note|clear-secret|clear-note)'), 0,
	'renaming an excluded or redacted column does not reveal its values');
SELECT is((SELECT exclude_columns::text || ' ' || redact_columns::text FROM trail.captured_tables WHERE table_id = 'co.persons'::regclass),
	(SELECT ARRAY[excluded]::text || ' ' || ARRAY[redacted]::text FROM renamed_cols),
	'... the options name the columns as they are now called');
SELECT is((SELECT count(*)::int FROM trail.event_rows r JOIN trail.events e ON e.event_id = r.statement_event_id
            WHERE e.request_parameters->>'tableName' = 'co.persons' AND (r.new_image->>'id')::int IN (2, 3)
              AND (r.new_image->>(SELECT redacted FROM renamed_cols)) LIKE '<redacted> sha256:%'
              AND NOT r.new_image::jsonb ? (SELECT excluded FROM renamed_cols)), 2,
	'... the redacted column shows its hash, the excluded one is left out');
-- moved out of the selected schema and back: the options stay
CREATE SCHEMA co_out;
ALTER TABLE co.persons SET SCHEMA co_out;
SELECT is((SELECT count(*)::int FROM trail.captured_tables WHERE table_id = 'co_out.persons'::regclass), 0,
	'moved out of the selection, it is no longer captured');
ALTER TABLE co_out.persons SET SCHEMA co;
SELECT results_eq($$SELECT row_images, exclude_columns, redact_columns FROM trail.captured_tables WHERE table_id = 'co.persons'::regclass$$,
	$$SELECT row_images, exclude_columns, redact_columns FROM trail.capture_options WHERE table_id = 'co.persons'::regclass$$,
	'moved back, it is captured with the options it had');
SELECT is((SELECT row_images FROM trail.captured_tables WHERE table_id = 'co.persons'::regclass), 'full', '... (full)');
-- dropped: its options go too
DROP TABLE co.unpicked;
SELECT is((SELECT count(*)::int FROM trail.capture_options o
            WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = o.table_id)), 0,
	'the options of a dropped table are removed');

------------------------------------------------------------------------------
-- SetCaptureOptions events
------------------------------------------------------------------------------
SELECT is(pg_temp.n_set() - (SELECT n FROM n0), 8, 'one SetCaptureOptions event per successful call');
SELECT is((SELECT request_parameters FROM trail.events WHERE event_name = 'SetCaptureOptions'
             AND request_parameters->>'tableName' = 'co.t' AND request_parameters->>'rowImages' = 'changed'
             AND jsonb_array_length(request_parameters->'redactColumns') > 0),
	'{"tableName": "co.t", "rowImages": "changed", "excludeColumns": ["note"], "redactColumns": ["secret", "pin"]}'::jsonb,
	'requestParameters: table, row images, excluded and redacted columns');
SELECT is((SELECT request_parameters FROM trail.events WHERE event_name = 'SetCaptureOptions'
             AND request_parameters->>'tableName' = 'co.t' AND request_parameters->>'rowImages' = 'none'),
	'{"tableName": "co.t", "rowImages": "none", "excludeColumns": [], "redactColumns": []}'::jsonb,
	'... empty lists when none are given');
SELECT is((SELECT request_parameters->>'tableName' FROM trail.events WHERE event_name = 'SetCaptureOptions'
             AND request_parameters->>'rowImages' = 'full' AND request_parameters->'excludeColumns' = '["note"]'),
	'co.people', '... the table''s name when the options were set');
SELECT ok((SELECT bool_and(event_category = 'Management' AND management_event AND NOT read_only
                           AND event_source = 'trail.postgresql' AND event_type = 'AwsApiCall'
                           AND jsonb_array_length(resources) = 1
                           AND resources->0->>'type' = 'PG::Table'
                           AND resources->0->>'name' = request_parameters->>'tableName'
                           AND resources->0->>'ARN' = replace(trail.table_arn('co.persons'), 'co.persons', request_parameters->>'tableName'))
             FROM trail.events WHERE event_name = 'SetCaptureOptions'),
	'SetCaptureOptions events: management writes of trail.postgresql on the PG::Table');
SELECT is((SELECT count(*)::int FROM trail.lookup_events('EventName', 'SetCaptureOptions', end_time => 'infinity')),
	pg_temp.n_set(), '... listed by LookupEvents');
SELECT is((SELECT count(*)::int FROM trail.lookup_events('ResourceName', 'co.k2', end_time => 'infinity') l
            WHERE l.event_name = 'SetCaptureOptions'), 1,
	'... and found by their table''s name');

------------------------------------------------------------------------------
-- The commit_seq BRIN indexes find every event of a commit.  The rows of one
-- commit on one heap page get one BRIN entry, not one each (batch.c); with
-- the partitions' first page ranges summarised first, a commit whose rows
-- land there is found through the index only if its entries were written.
------------------------------------------------------------------------------
CREATE TABLE co.brin (id int PRIMARY KEY, v text);
INSERT INTO co.brin VALUES (0, 'the partitions have a first page');
SELECT count(brin_summarize_range(c.oid::regclass, 0))
  FROM pg_class c JOIN pg_am a ON a.oid = c.relam
 WHERE c.relnamespace = 'trail'::regnamespace AND c.relkind = 'i' AND a.amname = 'brin' \g /dev/null
INSERT INTO co.brin SELECT g, 'row ' || g FROM generate_series(1, 300) g;
SELECT max(commit_seq) AS brin_seq FROM trail.event_rows \gset
SET enable_seqscan = off;
SELECT is((SELECT count(*)::int FROM trail.event_rows WHERE commit_seq = :brin_seq), 300,
	'the BRIN index finds every row event of a 300-row commit');
SELECT is((SELECT count(*)::int FROM trail.events WHERE commit_seq = :brin_seq AND event_category = 'Data'), 1,
	'... and its statement event');
RESET enable_seqscan;

------------------------------------------------------------------------------
-- Privileges: the owner of a table may not change how it is audited
------------------------------------------------------------------------------
CREATE ROLE regress_tap_co_owner;
GRANT CREATE, USAGE ON SCHEMA co TO regress_tap_co_owner;
SET ROLE regress_tap_co_owner;
CREATE TABLE co.owned (id int PRIMARY KEY, v text);
SELECT throws_ok($$SELECT trail.set_capture_options('co.owned', 'none')$$, '42501', NULL,
	'a table''s owner cannot call set_capture_options');
RESET ROLE;
SELECT is((SELECT row_images FROM trail.captured_tables WHERE table_id = 'co.owned'::regclass), 'changed',
	'(its table is captured with the defaults)');
SELECT is(pg_temp.error_of($$SELECT trail.set_capture_options('co.owned', 'none')$$), 'no error',
	'a superuser can');

SELECT * FROM finish();

\set QUIET 1
SET client_min_messages = warning;
DROP OWNED BY regress_tap_co_owner;
DROP ROLE IF EXISTS regress_tap_co_owner;
