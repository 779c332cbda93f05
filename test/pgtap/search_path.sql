-- search_path: a user who plants look-alike functions, operators and tables
-- in public and puts public first cannot make trail's capture, lookup,
-- history or maintenance run their code or record something false.
--
-- Every planted object notes its call in the setting evil.calls (so that a
-- call is seen even from read-only or rolled-back contexts) and returns a
-- wrong answer.  pgTAP itself is not immune to such objects, so search_path
-- is set to the hostile value only around trail's calls, whose results are
-- kept in temporary tables and checked afterwards.
BEGIN;
SELECT plan(28);

SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS trail;
RESET client_min_messages;

CREATE ROLE regress_tap_sp_user CREATEROLE;
GRANT CREATE, USAGE ON SCHEMA public TO regress_tap_sp_user;
GRANT trail_reader TO regress_tap_sp_user;

-- the hostile user's objects
SET ROLE regress_tap_sp_user;
CREATE FUNCTION public.evil_note(what text) RETURNS void LANGUAGE sql AS $$
	SELECT pg_catalog.set_config('evil.calls',
		pg_catalog.concat(pg_catalog.current_setting('evil.calls', true), what, ' '), false)
$$;
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS $$
	SELECT public.evil_note('lower'); SELECT 'evil'::text
$$;
CREATE FUNCTION public.upper(text) RETURNS text LANGUAGE sql AS $$
	SELECT public.evil_note('upper'); SELECT 'evil'::text
$$;
CREATE FUNCTION public.md5(text) RETURNS text LANGUAGE sql AS $$
	SELECT public.evil_note('md5'); SELECT 'evil'::text
$$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$
	SELECT public.evil_note('now'); SELECT '2000-01-01'::timestamptz
$$;
CREATE FUNCTION public.current_setting(text) RETURNS text LANGUAGE sql AS $$
	SELECT public.evil_note('current_setting'); SELECT '1'::text
$$;
CREATE FUNCTION public.jsonb_build_object(text, text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT public.evil_note('jsonb_build_object'); SELECT '{}'::jsonb
$$;
CREATE FUNCTION public.jsonb_build_array(jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT public.evil_note('jsonb_build_array'); SELECT '[]'::jsonb
$$;
CREATE FUNCTION public.concat_ws(text, text, text, text, text) RETURNS text LANGUAGE sql AS $$
	SELECT public.evil_note('concat_ws'); SELECT 'evil'::text
$$;
CREATE FUNCTION public.evil_text_eq(text, text) RETURNS boolean LANGUAGE sql AS $$
	SELECT public.evil_note('text ='); SELECT true
$$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.evil_text_eq);
CREATE FUNCTION public.evil_uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE sql AS $$
	SELECT public.evil_note('uuid ='); SELECT true
$$;
CREATE OPERATOR public.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = public.evil_uuid_eq);
CREATE FUNCTION public.evil_jsonb_contains(jsonb, jsonb) RETURNS boolean LANGUAGE sql AS $$
	SELECT public.evil_note('jsonb @>'); SELECT true
$$;
CREATE OPERATOR public.@> (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = public.evil_jsonb_contains);
CREATE FUNCTION public.evil_tstz_ge(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql AS $$
	SELECT public.evil_note('timestamptz >='); SELECT true
$$;
CREATE OPERATOR public.>= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.evil_tstz_ge);
-- a table named like trail's, with every column, ready to receive rows
CREATE TABLE public.events (LIKE trail.events);
-- and a trigger that notes any row written to it
CREATE FUNCTION public.evil_events_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM public.evil_note('public.events');
	RETURN NEW;
END
$$;
CREATE TRIGGER evil_events BEFORE INSERT ON public.events FOR EACH ROW EXECUTE FUNCTION public.evil_events_trigger();
RESET ROLE;

SELECT is((SELECT count(*)::int FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'evil%'), 6,
	'(the hostile objects are in place)');

-- the objects really do take over for the user's own queries
SET search_path = public, pg_catalog;
SELECT set_config('evil.calls', '', false) \g /dev/null
SELECT lower('X') AS probe \gset
RESET search_path;
SELECT is(:'probe'::text, 'evil', '(with search_path = public, pg_catalog, public.lower() wins)');
SELECT set_config('evil.calls', '', false) \g /dev/null

------------------------------------------------------------------------------
-- Capture under the hostile search_path, as the hostile user
------------------------------------------------------------------------------
SET ROLE regress_tap_sp_user;
SET search_path = public, pg_catalog;
CREATE TABLE public.sp_victim (id int PRIMARY KEY, name text);
ALTER TABLE public.sp_victim ADD COLUMN note text;
CREATE INDEX sp_victim_name_idx ON public.sp_victim (name);
COMMENT ON TABLE public.sp_victim IS 'looked at under a hostile search_path';
CREATE ROLE regress_tap_sp_other;
DROP TABLE public.sp_victim;
RESET search_path;
RESET ROLE;
SELECT is(current_setting('evil.calls'), '', 'capture called none of the user''s functions or operators');
SELECT is((SELECT count(*)::int FROM public.events), 0, 'capture wrote nothing into public.events');
SELECT is((SELECT array_agg(event_name ORDER BY event_id) FROM trail.events
            WHERE request_parameters->>'statement' LIKE '%sp_victim%' OR request_parameters->>'statement' LIKE '%regress_tap_sp_other%'),
	ARRAY['CreateTable', 'AlterTable', 'CreateIndex', 'Comment', 'CreateRole', 'DropTable'],
	'each command has its event in trail.events');
SELECT is((SELECT resources FROM trail.events WHERE request_parameters->>'statement' LIKE 'CREATE TABLE public.sp_victim%')
            @> '[{"name": "public.sp_victim", "type": "PG::Table"}, {"name": "public.sp_victim_pkey", "type": "PG::Index"}]',
	true, 'the resources are right');
SELECT is((SELECT user_identity->>'type' || ' ' || user_name || ' ' || event_source
             FROM trail.events WHERE request_parameters->>'statement' = 'CREATE ROLE regress_tap_sp_other'),
	'AssumedRole postgres iam.postgresql', 'the identity and source are right');

------------------------------------------------------------------------------
-- lookup_events under the hostile search_path, as a trail_reader
------------------------------------------------------------------------------
CREATE TEMP TABLE probe (id uuid, k text, v text);
INSERT INTO probe
SELECT event_id, 'EventId', event_id::text FROM trail.events
 WHERE request_parameters->>'statement' LIKE 'CREATE TABLE public.sp_victim%';
GRANT SELECT ON probe TO PUBLIC;
CREATE TEMP TABLE got (label text, n int, event_id uuid, event_name text, token text);
GRANT ALL ON got TO PUBLIC;
-- (pgTAP's own set_eq creates temporary tables, i.e. new events: expected
-- results are bounded by the last event before the lookups)
SELECT (array_agg(event_id ORDER BY event_id DESC))[1] AS before_lookups FROM trail.events \gset

SET ROLE regress_tap_sp_user;
SET search_path = public, pg_catalog;
SELECT pg_catalog.set_config('evil.calls', '', false) \g /dev/null
INSERT INTO got SELECT 'by id', 0, l.event_id, l.event_name, l.next_token
  FROM trail.lookup_events('EventId', (SELECT v FROM probe), NULL, 'infinity') l;
INSERT INTO got SELECT 'by name', 0, l.event_id, l.event_name, l.next_token
  FROM trail.lookup_events('EventName', 'CreateIndex', NULL, 'infinity') l;
INSERT INTO got SELECT 'by type', 0, l.event_id, l.event_name, l.next_token
  FROM trail.lookup_events('ResourceType', 'PG::Index', NULL, 'infinity') l;
INSERT INTO got SELECT 'by resource', 0, l.event_id, l.event_name, l.next_token
  FROM trail.lookup_events('ResourceName', 'public.sp_victim', NULL, 'infinity') l;
INSERT INTO got SELECT 'by user', 0, l.event_id, l.event_name, l.next_token
  FROM trail.lookup_events('Username', 'nobody-at-all', NULL, 'infinity') l;
INSERT INTO got SELECT 'page 1', 0, l.event_id, l.event_name, l.next_token
  FROM trail.lookup_events('EventSource', 'ddl.postgresql', NULL, 'infinity', 2) l;
INSERT INTO got SELECT 'page 2', 0, l.event_id, l.event_name, l.next_token
  FROM trail.lookup_events('EventSource', 'ddl.postgresql', NULL, 'infinity', 2,
                           (SELECT g.token FROM got g WHERE g.label OPERATOR(pg_catalog.=) 'page 1' LIMIT 1)) l;
INSERT INTO got SELECT 'defaults', 0, l.event_id, l.event_name, l.next_token
  FROM trail.lookup_events() l;
INSERT INTO got SELECT 'history', 0, h.event_id, h.event_name, NULL
  FROM trail.event_history h;
RESET search_path;
RESET ROLE;
SELECT is(current_setting('evil.calls'), '', 'lookup_events and event_history called none of the user''s functions or operators');

SELECT results_eq($$SELECT event_id FROM got WHERE label = 'by id'$$, $$SELECT id FROM probe$$,
	'EventId lookup: exactly the event');
SELECT set_eq($$SELECT event_id FROM got WHERE label = 'by name'$$,
	format($$SELECT event_id FROM trail.events WHERE event_name = 'CreateIndex' AND event_id <= %L$$, :'before_lookups'),
	'EventName lookup: exactly the CreateIndex events');
SELECT set_eq($$SELECT event_id FROM got WHERE label = 'by type'$$,
	format($$SELECT event_id FROM trail.events WHERE resources @> '[{"type": "PG::Index"}]' AND event_id <= %L$$, :'before_lookups'),
	'ResourceType lookup: exactly the events with an index');
SELECT set_eq($$SELECT event_id FROM got WHERE label = 'by resource'$$,
	format($$SELECT event_id FROM trail.events WHERE resources @> '[{"name": "public.sp_victim"}]' AND event_id <= %L$$, :'before_lookups'),
	'ResourceName lookup: exactly the events on public.sp_victim');
SELECT is((SELECT count(*)::int FROM got WHERE label = 'by user'), 0,
	'Username lookup of an unknown user: nothing');
SELECT results_eq($$SELECT event_id FROM got WHERE label IN ('page 1', 'page 2') ORDER BY label$$,
	format($$SELECT event_id FROM trail.events WHERE event_source = 'ddl.postgresql' AND event_id <= %L
	   ORDER BY event_time DESC, event_id DESC LIMIT 4$$, :'before_lookups'),
	'paging with a token (md5, concat_ws inside) works');
SELECT ok((SELECT count(*) > 0 AND bool_and(event_id IN (SELECT event_id FROM trail.events WHERE event_time <= now()))
             FROM got WHERE label = 'defaults'),
	'default time range: now() is pg_catalog.now(), not the user''s');
SELECT results_eq($$SELECT event_id FROM got WHERE label = 'history'$$,
	-- the history also holds the SET ROLE that the lookups ran under
	format($$SELECT event_id FROM trail.events WHERE event_category <> 'Data'
	           AND (event_id <= %L OR event_id = (SELECT event_id FROM trail.events
	                                              WHERE event_name = 'AssumeRole' AND event_id > %L
	                                              ORDER BY event_id LIMIT 1))
	   ORDER BY event_time DESC, event_id DESC$$, :'before_lookups', :'before_lookups'),
	'event_history: every event, newest first (retention_start used pg_catalog.current_setting)');

------------------------------------------------------------------------------
-- The same, as a superuser
------------------------------------------------------------------------------
SET search_path = public, pg_catalog;
CREATE TABLE public.sp_super (id int);
RESET search_path;
SELECT (array_agg(event_id ORDER BY event_id DESC))[1] AS last_id FROM trail.events \gset
SET search_path = public, pg_catalog;
TRUNCATE got;
INSERT INTO got SELECT 'by name', 0, l.event_id, l.event_name, l.next_token
  FROM trail.lookup_events('EventName', 'CreateTable', NULL, 'infinity') l;
CREATE TEMP TABLE maint AS SELECT * FROM trail.run_maintenance(pg_catalog.now() OPERATOR(pg_catalog.+) interval '20 days');
SELECT trail.cloudtrail_record(e) FROM trail.events e \g /dev/null
RESET search_path;
SELECT is(current_setting('evil.calls'), '', 'superuser: capture, lookup, maintenance and rendering called none of them');
SELECT is((SELECT count(*)::int FROM public.events), 0, 'superuser: nothing written into public.events');
SELECT set_eq($$SELECT event_id FROM got WHERE label = 'by name'$$,
	format($$SELECT event_id FROM trail.events WHERE event_name = 'CreateTable' AND event_id <= %L$$, :'last_id'),
	'superuser: EventName lookup exact');
SELECT is((SELECT count(*)::int FROM maint WHERE action = 'created'), 4, 'superuser: maintenance created its 4 days');
SELECT ok(EXISTS (SELECT 1 FROM trail.events WHERE request_parameters->>'statement' = 'CREATE TABLE public.sp_super (id int)'),
	'superuser: the DDL was recorded');

------------------------------------------------------------------------------
-- trail's own functions pin their search_path
------------------------------------------------------------------------------
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'trail.lookup_events'::regproc),
	ARRAY['search_path=pg_catalog, pg_temp'], 'lookup_events pins search_path');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'trail.retention_start'::regproc),
	ARRAY['search_path=pg_catalog, pg_temp'], 'retention_start pins search_path');
SELECT is((SELECT count(*)::int FROM pg_proc p
            WHERE p.pronamespace = 'trail'::regnamespace AND p.prolang NOT IN (SELECT oid FROM pg_language WHERE lanname IN ('c', 'internal'))
              AND (p.proconfig IS NULL OR NOT p.proconfig::text LIKE '%search_path=pg_catalog%')), 0,
	'every SQL or PL/pgSQL function of trail pins search_path');

-- temporary objects shadow relations first unless pg_temp is listed last
CREATE TEMP TABLE events (LIKE trail.events);
SET search_path = pg_temp, public, pg_catalog;
CREATE TABLE public.sp_temp_probe (id int);
INSERT INTO got SELECT 'temp', 0, l.event_id, l.event_name, l.next_token
  FROM trail.lookup_events('EventName', 'CreateTable', NULL, 'infinity', 1) l;
RESET search_path;
SELECT is((SELECT count(*)::int FROM pg_temp.events), 0, 'a temporary table named events receives nothing');
SELECT is((SELECT event_name FROM got WHERE label = 'temp'), 'CreateTable', 'lookup still reads trail.events');
SELECT ok(EXISTS (SELECT 1 FROM trail.events WHERE request_parameters->>'statement' = 'CREATE TABLE public.sp_temp_probe (id int)'),
	'capture still writes trail.events');
SELECT is(current_setting('evil.calls'), '', 'and still none of the user''s functions or operators ran');

SELECT * FROM finish();
ROLLBACK;
