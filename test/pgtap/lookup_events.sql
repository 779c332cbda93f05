-- lookup_events: CloudTrail LookupEvents semantics (attribute keys, newest
-- first, pages of at most 50, tokens stable while new events arrive) and the
-- errors for bad input.
--
-- Events created in this transaction are newer than now() (the transaction's
-- start), so every lookup that must see them passes end_time => 'infinity'.
BEGIN;
SELECT plan(90);

SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS trail;
RESET client_min_messages;

-- "SQLSTATE: message" of the error a statement raises, or 'no error'
CREATE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.hint_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	h text;
BEGIN
	EXECUTE q;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RETURN h;
END
$$;

-- the event ids a query returns, or NULL if it fails
CREATE FUNCTION pg_temp.ids_of(q text) RETURNS uuid[] LANGUAGE plpgsql AS $$
DECLARE
	result uuid[];
BEGIN
	EXECUTE format('SELECT array_agg(event_id) FROM (%s) q', q) INTO result;
	RETURN result;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END
$$;

-- every page of a lookup, following next_token until it is NULL
CREATE FUNCTION pg_temp.lookup_all(k text, v text, page_size int DEFAULT 7,
                                   start_at timestamptz DEFAULT NULL, end_at timestamptz DEFAULT 'infinity')
RETURNS TABLE (page int, pos int, id uuid, token text) LANGUAGE plpgsql AS $$
DECLARE
	tok text := NULL;
	next_tok text;
	n int;
	r record;
BEGIN
	page := 0;
	LOOP
		page := page + 1;
		IF page > 500 THEN
			RAISE EXCEPTION 'lookup_all: more than 500 pages, the token does not advance';
		END IF;
		n := 0;
		next_tok := NULL;
		FOR r IN SELECT l.event_id, l.next_token
		           FROM trail.lookup_events(k, v, start_at, end_at, page_size, tok) l LOOP
			n := n + 1;
			pos := n;
			id := r.event_id;
			token := r.next_token;
			next_tok := r.next_token;
			RETURN NEXT;
		END LOOP;
		EXIT WHEN n = 0 OR next_tok IS NULL;
		tok := next_tok;
	END LOOP;
END
$$;

-- The events to look up
CREATE TABLE public.orders (id int PRIMARY KEY, customer text);
CREATE INDEX orders_customer_idx ON public.orders (customer);
CREATE TABLE public.customers (id int);
ALTER TABLE public.orders ADD COLUMN total numeric;
SHOW work_mem \g /dev/null
EXPLAIN SELECT 1 \g /dev/null
CREATE ROLE regress_tap_lu_alice;
GRANT CREATE ON SCHEMA public TO regress_tap_lu_alice;
SET SESSION AUTHORIZATION regress_tap_lu_alice;
CREATE TABLE public.alice_t (id int);
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
	FOR i IN 1..60 LOOP
		EXECUTE format('CREATE TABLE public.page_%s ()', i);
	END LOOP;
END
$$;

CREATE TEMP TABLE ids AS
SELECT (SELECT event_id FROM trail.events WHERE request_parameters->>'statement'
          = 'CREATE TABLE public.orders (id int PRIMARY KEY, customer text)') AS orders_event,
       (SELECT access_key_id FROM trail.events WHERE request_parameters->>'statement'
          = 'CREATE TABLE public.orders (id int PRIMARY KEY, customer text)') AS my_key;

-- the management events, newest first, as LookupEvents must list them
CREATE FUNCTION pg_temp.expected(filter text DEFAULT 'true') RETURNS SETOF uuid LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE
		'SELECT e.event_id FROM trail.events e WHERE e.event_category = ''Management'' AND ('
		|| filter || ') ORDER BY e.event_time DESC, e.event_id DESC';
END
$$;

------------------------------------------------------------------------------
-- Pages: at most 50, newest first, one token per page, NULL on the last
------------------------------------------------------------------------------
SELECT is((SELECT count(*)::int FROM trail.lookup_events(end_time => 'infinity')), 50,
	'without max_results a page holds 50 events');
SELECT cmp_ok((SELECT count(*)::int FROM pg_temp.expected()), '>', 60,
	'(there are more than 50 management events)');
SELECT results_eq(
	$$SELECT event_id FROM trail.lookup_events(end_time => 'infinity')$$,
	$$SELECT * FROM pg_temp.expected() LIMIT 50$$,
	'the first page is the 50 newest management events, newest first');
SELECT is((SELECT count(DISTINCT next_token)::int FROM trail.lookup_events(end_time => 'infinity')), 1,
	'every row of a page carries the same next_token');
SELECT isnt((SELECT next_token FROM trail.lookup_events(end_time => 'infinity') LIMIT 1), NULL,
	'a page followed by more events has a next_token');
SELECT is((SELECT count(*)::int FROM trail.lookup_events(end_time => 'infinity', max_results => 1)), 1,
	'max_results 1 gives one event');
SELECT is((SELECT count(*)::int FROM trail.lookup_events(end_time => 'infinity', max_results => 50)), 50,
	'max_results 50 gives 50 events');

SELECT results_eq(
	$$SELECT id FROM pg_temp.lookup_all(NULL, NULL, 7) ORDER BY page, pos$$,
	$$SELECT * FROM pg_temp.expected()$$,
	'paging 7 at a time returns every management event once, in order, without gaps');
SELECT is((SELECT count(*)::int FROM pg_temp.lookup_all(NULL, NULL, 7) WHERE token IS NULL),
	(SELECT (count(*) - 7 * ((count(*) - 1) / 7))::int FROM pg_temp.expected()),
	'only the rows of the last page have no next_token');
SELECT is((SELECT count(*)::int FROM (SELECT page FROM pg_temp.lookup_all(NULL, NULL, 7)
                                       GROUP BY page HAVING count(DISTINCT token) > 1) x), 0,
	'each page has a single token');
SELECT is((SELECT count(*)::int FROM (SELECT page FROM pg_temp.lookup_all(NULL, NULL, 7)
                                       GROUP BY page HAVING count(*) <> 7) x
             WHERE x.page < (SELECT max(page) FROM pg_temp.lookup_all(NULL, NULL, 7))), 0,
	'all pages but the last are full');
SELECT results_eq(
	$$SELECT id FROM pg_temp.lookup_all('EventName', 'CreateTable', 50) ORDER BY page, pos$$,
	$$SELECT * FROM pg_temp.expected($f$e.event_name = 'CreateTable'$f$)$$,
	'paging a filtered lookup 50 at a time returns every match once, in order');
SELECT is((SELECT next_token FROM trail.lookup_events('EventName', 'CreateIndex', end_time => 'infinity') LIMIT 1), NULL,
	'a single page has no next_token');

------------------------------------------------------------------------------
-- Paging is stable while new events arrive between pages
------------------------------------------------------------------------------
CREATE TEMP TABLE before_new AS
SELECT row_number() OVER () AS n, id FROM pg_temp.expected($f$e.event_name = 'CreateTable'$f$) AS id;
CREATE TEMP TABLE page1 AS
SELECT row_number() OVER () AS n, event_id, next_token
  FROM trail.lookup_events('EventName', 'CreateTable', NULL, 'infinity', 10);
CREATE TABLE public.arrived_1 (); CREATE TABLE public.arrived_2 (); CREATE TABLE public.arrived_3 ();
CREATE TEMP TABLE page2 AS
SELECT row_number() OVER () AS n, event_id, next_token
  FROM trail.lookup_events('EventName', 'CreateTable', NULL, 'infinity', 10,
                           (SELECT next_token FROM page1 LIMIT 1));
CREATE TABLE public.arrived_4 ();
CREATE TEMP TABLE rest (n int, id uuid);
DO $$
DECLARE
	tok text := (SELECT next_token FROM page2 LIMIT 1);
	nxt text;
	k int := 20;
	r record;
BEGIN
	WHILE tok IS NOT NULL LOOP
		nxt := NULL;
		FOR r IN SELECT * FROM trail.lookup_events('EventName', 'CreateTable', NULL, 'infinity', 10, tok) LOOP
			k := k + 1;
			INSERT INTO rest VALUES (k, r.event_id);
			nxt := r.next_token;
		END LOOP;
		EXECUTE format('CREATE TABLE public.arrived_during_%s ()', k);
		tok := nxt;
	END LOOP;
END
$$;
SELECT results_eq(
	$$SELECT event_id FROM page1 ORDER BY n$$,
	$$SELECT id FROM before_new WHERE n <= 10 ORDER BY n$$,
	'page 1: the 10 newest CreateTable events');
SELECT results_eq(
	$$SELECT event_id FROM page2 ORDER BY n$$,
	$$SELECT id FROM before_new WHERE n BETWEEN 11 AND 20 ORDER BY n$$,
	'page 2, fetched after new events arrived: exactly the next 10 of the original order');
SELECT results_eq(
	$$SELECT id FROM rest ORDER BY n$$,
	$$SELECT id FROM before_new WHERE n > 20 ORDER BY n$$,
	'the remaining pages, with events arriving between every page: no gap, no duplicate');
SELECT results_eq(
	$$SELECT event_id FROM trail.lookup_events('EventName', 'CreateTable', NULL, 'infinity', 50) LIMIT 4$$,
	$$SELECT * FROM pg_temp.expected($f$e.event_name = 'CreateTable'$f$) LIMIT 4$$,
	'a new first page starts with the events that arrived meanwhile');
SELECT ok((SELECT bool_and(e.request_parameters->>'statement' LIKE 'CREATE TABLE public.arrived%')
             FROM trail.lookup_events('EventName', 'CreateTable', NULL, 'infinity', 4) l
             JOIN trail.events e USING (event_id)),
	'(those are the arrived_* tables)');

-- a token is a position in the event list, whatever the session's settings:
-- a client (or a connection pool) may continue with another DateStyle or
-- TimeZone, and the same instant is the same start_time
SET DateStyle = 'SQL, DMY';
SELECT next_token AS dmy_token FROM trail.lookup_events('EventName', 'CreateTable', NULL, 'infinity', 3) LIMIT 1 \gset
RESET DateStyle;
SELECT is(pg_temp.ids_of(format($$SELECT event_id FROM trail.lookup_events('EventName', 'CreateTable', NULL, 'infinity', 3, %L)$$, :'dmy_token')),
	ARRAY(SELECT * FROM pg_temp.expected($f$e.event_name = 'CreateTable'$f$) OFFSET 3 LIMIT 3),
	'a next_token made under another DateStyle continues with the next page');
SET TimeZone = 'America/New_York';
SELECT next_token AS ny_token FROM trail.lookup_events('EventName', 'CreateTable', '2000-01-01 00:00:00+00', 'infinity', 3) LIMIT 1 \gset
SET TimeZone = 'Asia/Tokyo';
SELECT is(pg_temp.ids_of(format($$SELECT event_id FROM trail.lookup_events('EventName', 'CreateTable', '2000-01-01 00:00:00+00', 'infinity', 3, %L)$$, :'ny_token')),
	ARRAY(SELECT * FROM pg_temp.expected($f$e.event_name = 'CreateTable'$f$) OFFSET 3 LIMIT 3),
	'a next_token made under another TimeZone continues with the next page');
RESET TimeZone;

------------------------------------------------------------------------------
-- Every attribute key
------------------------------------------------------------------------------
SELECT results_eq(
	$$SELECT event_id FROM trail.lookup_events('EventId', (SELECT orders_event::text FROM ids), end_time => 'infinity')$$,
	$$SELECT orders_event FROM ids$$,
	'EventId: exactly that event');
SELECT results_eq(
	$$SELECT event_id FROM trail.lookup_events('EventId', upper((SELECT orders_event::text FROM ids)), end_time => 'infinity')$$,
	$$SELECT orders_event FROM ids$$,
	'EventId: upper-case hex works too');
SELECT is_empty(
	$$SELECT * FROM trail.lookup_events('EventId', 'not-a-uuid', end_time => 'infinity')$$,
	'EventId: a value that is no uuid finds nothing (no error)');
SELECT is_empty(
	$$SELECT * FROM trail.lookup_events('EventId', '01890a5d-ac96-774b-bcce-b302099a8057', end_time => 'infinity')$$,
	'EventId: an unknown uuid finds nothing');
SELECT results_eq(
	$$SELECT id FROM pg_temp.lookup_all('EventName', 'CreateIndex') ORDER BY page, pos$$,
	$$SELECT * FROM pg_temp.expected($f$e.event_name = 'CreateIndex'$f$)$$,
	'EventName: CreateIndex');
SELECT is((SELECT count(*)::int FROM pg_temp.lookup_all('EventName', 'createindex')), 0,
	'EventName: the value is matched exactly (case matters)');
SELECT results_eq(
	$$SELECT id FROM pg_temp.lookup_all('ReadOnly', 'true') ORDER BY page, pos$$,
	$$SELECT * FROM pg_temp.expected('e.read_only')$$,
	'ReadOnly true: the read-only events');
SELECT set_eq(
	$$SELECT event_name FROM trail.lookup_events('ReadOnly', 'true', end_time => 'infinity')$$,
	ARRAY['Show', 'Explain'],
	'ReadOnly true: SHOW and EXPLAIN');
SELECT results_eq(
	$$SELECT id FROM pg_temp.lookup_all('ReadOnly', 'false', 50) ORDER BY page, pos$$,
	$$SELECT * FROM pg_temp.expected('NOT e.read_only')$$,
	'ReadOnly false: the write events');
SELECT results_eq(
	$$SELECT id FROM pg_temp.lookup_all('Username', 'regress_tap_lu_alice') ORDER BY page, pos$$,
	$$SELECT * FROM pg_temp.expected($f$e.user_name = 'regress_tap_lu_alice'$f$)$$,
	'Username: the session user''s events');
SELECT results_eq(
	$$SELECT event_name || ' by ' || username FROM trail.lookup_events('Username', 'regress_tap_lu_alice', end_time => 'infinity')$$,
	ARRAY['AssumeRole by regress_tap_lu_alice'::text, 'CreateTable by regress_tap_lu_alice'],
	'Username: her two events (CREATE TABLE alice_t, then RESET SESSION AUTHORIZATION), username column set');
SELECT results_eq(
	$$SELECT id FROM pg_temp.lookup_all('ResourceType', 'PG::Index') ORDER BY page, pos$$,
	$$SELECT * FROM pg_temp.expected($f$e.resources @> '[{"type": "PG::Index"}]'$f$)$$,
	'ResourceType: PG::Index');
SELECT cmp_ok((SELECT count(*)::int FROM pg_temp.lookup_all('ResourceType', 'PG::Index')), '>=', 2,
	'(orders_pkey and orders_customer_idx)');
SELECT results_eq(
	$$SELECT id FROM pg_temp.lookup_all('ResourceName', 'public.orders') ORDER BY page, pos$$,
	$$SELECT * FROM pg_temp.expected($f$e.resources @> '[{"name": "public.orders"}]'$f$)$$,
	'ResourceName: public.orders');
SELECT set_eq(
	$$SELECT event_name FROM trail.lookup_events('ResourceName', 'public.orders', end_time => 'infinity')$$,
	ARRAY['CreateTable', 'AlterTable'],
	'ResourceName: CREATE TABLE and ALTER TABLE of public.orders');
SELECT results_eq(
	$$SELECT id FROM pg_temp.lookup_all('EventSource', 'iam.postgresql') ORDER BY page, pos$$,
	$$SELECT * FROM pg_temp.expected($f$e.event_source = 'iam.postgresql'$f$)$$,
	'EventSource: iam.postgresql');
SELECT set_eq(
	$$SELECT event_name FROM trail.lookup_events('EventSource', 'iam.postgresql', end_time => 'infinity')$$,
	ARRAY['CreateRole', 'Grant'],
	'EventSource: CREATE ROLE and GRANT');
SELECT results_eq(
	$$SELECT id FROM pg_temp.lookup_all('AccessKeyId', (SELECT my_key FROM ids), 50) ORDER BY page, pos$$,
	$$SELECT * FROM pg_temp.expected(format('e.access_key_id = %L', (SELECT my_key FROM ids)))$$,
	'AccessKeyId: this session''s events');
SELECT cmp_ok((SELECT count(*)::int FROM trail.events WHERE access_key_id <> (SELECT my_key FROM ids)), '>', 0,
	'(the session that created the extension had another key)');
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_temp.lookup_all('AccessKeyId', (SELECT my_key FROM ids), 50) a
                      JOIN trail.events e ON e.event_id = a.id WHERE e.access_key_id <> (SELECT my_key FROM ids)),
	'AccessKeyId: no event of another session');
SELECT is_empty(
	$$SELECT * FROM trail.lookup_events('AccessKeyId', 'no-such-session', end_time => 'infinity')$$,
	'AccessKeyId: an unknown key finds nothing');

------------------------------------------------------------------------------
-- The columns of a row
------------------------------------------------------------------------------
SELECT results_eq(
	$$SELECT l.event_name, l.read_only, l.access_key_id, l.event_time, l.event_source, l.username,
	         l.cloudtrail_event
	    FROM trail.lookup_events('EventId', (SELECT orders_event::text FROM ids), end_time => 'infinity') l$$,
	$$SELECT e.event_name, e.read_only, e.access_key_id, e.event_time, e.event_source, e.user_name,
	         trail.cloudtrail_record(e)
	    FROM trail.events e WHERE e.event_id = (SELECT orders_event FROM ids)$$,
	'a row carries the event''s name, flags, key, time, source, user and CloudTrail record');
SELECT is((SELECT resources FROM trail.lookup_events('EventId', (SELECT orders_event::text FROM ids), end_time => 'infinity')),
	'[{"ResourceName": "public.orders", "ResourceType": "PG::Table"},
	  {"ResourceName": "public.orders_pkey", "ResourceType": "PG::Index"}]'::jsonb,
	'resources: ResourceType and ResourceName of each object');
SELECT is((SELECT resources FROM trail.lookup_events('EventName', 'Show', end_time => 'infinity')),
	'[]'::jsonb,
	'resources: an empty list for an event without resources');

------------------------------------------------------------------------------
-- Time range and event category
------------------------------------------------------------------------------
SELECT is_empty(
	$$SELECT * FROM trail.lookup_events(start_time => clock_timestamp(), end_time => 'infinity')$$,
	'nothing after start_time');
SELECT results_eq(
	$$SELECT event_id FROM trail.lookup_events(start_time => (SELECT event_time FROM trail.events WHERE event_id = (SELECT orders_event FROM ids)),
	                                           end_time => (SELECT event_time FROM trail.events WHERE event_id = (SELECT orders_event FROM ids)))$$,
	$$SELECT e.event_id FROM trail.events e
	   WHERE e.event_time = (SELECT event_time FROM trail.events WHERE event_id = (SELECT orders_event FROM ids))
	   ORDER BY e.event_id DESC$$,
	'start_time and end_time are inclusive');
SELECT ok((SELECT count(*) FROM trail.lookup_events()) >= 1
          AND (SELECT bool_and(event_time <= now()) FROM trail.lookup_events()),
	'by default end_time is now: the committed CreateExtension event is found, later ones are not');
SELECT ok(EXISTS (SELECT 1 FROM trail.lookup_events('EventName', 'CreateExtension')),
	'by default start_time reaches back over the retention period');
SELECT is_empty(
	$$SELECT * FROM trail.lookup_events(end_time => 'infinity', event_category => 'insight')$$,
	'event_category insight: insight events only (there are none)');

------------------------------------------------------------------------------
-- Bad input: CloudTrail's exceptions, SQLSTATE 22023
------------------------------------------------------------------------------
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events('Foo', 'x')$$),
	'22023: InvalidLookupAttributesException%', 'unknown attribute key');
SELECT alike(pg_temp.hint_of($$SELECT * FROM trail.lookup_events('Foo', 'x')$$),
	'%EventId%EventName%ReadOnly%Username%ResourceType%ResourceName%EventSource%AccessKeyId%',
	'the hint lists the valid keys');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events('eventname', 'CreateTable')$$),
	'22023: InvalidLookupAttributesException%', 'attribute keys are case-sensitive');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events(NULL, 'CreateTable')$$),
	'22023: InvalidLookupAttributesException%', 'a value without a key');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events('EventName', NULL)$$),
	'22023: InvalidLookupAttributesException%', 'a key without a value');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events('ReadOnly', 'yes')$$),
	'22023: InvalidLookupAttributesException%', 'ReadOnly must be true or false');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events('Username', 'postgres', event_category => 'insight')$$),
	'22023: InvalidLookupAttributesException%', 'insight lookups take only EventId, EventName, EventSource');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events(max_results => 0)$$),
	'22023: InvalidMaxResultsException%', 'max_results 0');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events(max_results => 51)$$),
	'22023: InvalidMaxResultsException%', 'max_results 51');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events(max_results => -5)$$),
	'22023: InvalidMaxResultsException%', 'max_results negative');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events(max_results => NULL)$$),
	'22023: InvalidMaxResultsException%', 'max_results NULL');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events(start_time => now(), end_time => now() - interval '1 second')$$),
	'22023: InvalidTimeRangeException%', 'start_time after end_time');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events(start_time => now() + interval '1 day')$$),
	'22023: InvalidTimeRangeException%', 'start_time after the default end_time (now)');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events(next_token => 'garbage')$$),
	'22023: InvalidNextTokenException%', 'a garbage next_token');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events(next_token => encode('v1|x|y|z', 'base64'))$$),
	'22023: InvalidNextTokenException%', 'a next_token with garbage inside');
SELECT alike(pg_temp.error_of(format(
	$$SELECT * FROM trail.lookup_events('EventSource', 'ddl.postgresql', NULL, 'infinity', 10, %L)$$,
	(SELECT next_token FROM page1 LIMIT 1))),
	'22023: InvalidNextTokenException%', 'a next_token reused with another attribute');
SELECT alike(pg_temp.error_of(format(
	$$SELECT * FROM trail.lookup_events('EventName', 'CreateTable', NULL, '2100-01-01', 10, %L)$$,
	(SELECT next_token FROM page1 LIMIT 1))),
	'22023: InvalidNextTokenException%', 'a next_token reused with another end_time');
SELECT alike(pg_temp.error_of(format(
	$$SELECT * FROM trail.lookup_events('EventName', 'CreateTable', NULL, 'infinity', 10, %L, 'insight')$$,
	(SELECT next_token FROM page1 LIMIT 1))),
	'22023: InvalidNextTokenException%', 'a next_token reused with another event category');
SELECT is(pg_temp.error_of(format(
	$$SELECT * FROM trail.lookup_events('EventName', 'CreateTable', NULL, 'infinity', 5, %L)$$,
	(SELECT next_token FROM page1 LIMIT 1))),
	'no error', 'a next_token may be used with another max_results');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events(event_category => 'data')$$),
	'22023: InvalidEventCategoryException%', 'event_category other than insight');
SELECT alike(pg_temp.error_of($$SELECT * FROM trail.lookup_events(event_category => '')$$),
	'22023: InvalidEventCategoryException%', 'an empty event_category');

------------------------------------------------------------------------------
-- event_history: management and insight events within retention, newest first
------------------------------------------------------------------------------
SELECT results_eq(
	$$SELECT event_id FROM trail.event_history$$,
	$$SELECT e.event_id FROM trail.events e WHERE e.event_category IN ('Management', 'Insight')
	   ORDER BY e.event_time DESC, e.event_id DESC$$,
	'event_history lists the events newest first');
SELECT ok((SELECT bool_and(event_time >= now() - interval '90 days') FROM trail.event_history),
	'event_history stays within the retention period');

------------------------------------------------------------------------------
-- The lookup entries (trail.event_resources): every management and insight
-- event has exactly one per keyed attribute value it has, whichever way it
-- was written (captured, rolled back, imported) and whatever retention
-- dropped, and a lookup by each key lists what a filtered SELECT lists
------------------------------------------------------------------------------
-- the entries there are and the ones the events call for, both read by one
-- statement (pgTAP's own temporary tables are events too): what is in one
-- and not the other, '+' missing, '-' extra (or there twice: the index
-- does not refuse a second one), '!' an entry whose hash is not its
-- key's and value's (written by C, not by the column's expression)
CREATE FUNCTION pg_temp.wanted_entries() RETURNS TABLE (k text, v text, t timestamptz, id uuid)
LANGUAGE sql AS $$
	SELECT x.k, x.v, e.event_time, e.event_id
	  FROM trail.events e,
	       LATERAL (VALUES ('EventName', e.event_name), ('Username', e.user_name),
	                       ('EventSource', e.event_source), ('AccessKeyId', e.access_key_id)
	                UNION
	                -- ids that do not name their day: imported events' and insights'
	                SELECT 'EventId', e.event_id::text
	                 WHERE e.imported_from IS NOT NULL OR e.event_category = 'Insight'
	                UNION
	                SELECT y.k, y.v FROM jsonb_array_elements(coalesce(e.resources, '[]')) r,
	                       LATERAL (VALUES ('ResourceType', r->>'type'), ('ResourceName', r->>'name')) y(k, v)) x(k, v)
	 WHERE x.v IS NOT NULL AND e.event_category <> 'Data'
$$;
CREATE FUNCTION pg_temp.entries_diff() RETURNS text[] LANGUAGE sql AS $$
	WITH stored AS (SELECT lookup_key, lookup_value, event_time, event_id FROM trail.event_resources),
	     wanted AS (SELECT * FROM pg_temp.wanted_entries())
	SELECT coalesce(array_agg(d ORDER BY d), '{}')
	  FROM (SELECT '+' || w::text FROM (SELECT * FROM wanted EXCEPT ALL SELECT * FROM stored) w
	        UNION ALL
	        SELECT '-' || s::text FROM (SELECT * FROM stored EXCEPT ALL SELECT * FROM wanted) s
	        UNION ALL
	        SELECT '!' || r.lookup_key || '=' || r.lookup_value FROM trail.event_resources r
	         WHERE r.lookup_hash <> trail._lookup_hash(r.lookup_key, r.lookup_value)) x(d)
$$;
-- the (key, value) pairs of the management events whose lookup lists other
-- events than a filtered SELECT of trail.events does (all pages, 50 each)
CREATE FUNCTION pg_temp.lookup_mismatches() RETURNS text[] LANGUAGE sql AS $$
	SELECT coalesce(array_agg(w.k || '=' || w.v ORDER BY w.k, w.v), '{}')
	  FROM (SELECT DISTINCT s.k, s.v FROM pg_temp.wanted_entries() s
	         JOIN trail.events e ON e.event_id = s.id AND e.event_time = s.t
	        WHERE e.event_category = 'Management') w
	 WHERE ARRAY(SELECT id FROM pg_temp.lookup_all(w.k, w.v, 50) ORDER BY page, pos)
	       IS DISTINCT FROM
	       ARRAY(SELECT * FROM pg_temp.expected(CASE w.k
	           WHEN 'EventName' THEN format('e.event_name = %L', w.v)
	           WHEN 'Username' THEN format('e.user_name = %L', w.v)
	           WHEN 'EventSource' THEN format('e.event_source = %L', w.v)
	           WHEN 'AccessKeyId' THEN format('e.access_key_id = %L', w.v)
	           WHEN 'EventId' THEN format('e.event_id = %L', w.v)
	           WHEN 'ResourceType' THEN format('e.resources @> %L', jsonb_build_array(jsonb_build_object('type', w.v)))
	           ELSE format('e.resources @> %L', jsonb_build_array(jsonb_build_object('name', w.v))) END))
$$;

SELECT is(pg_temp.entries_diff(), '{}',
	'captured events: each has its entries, nothing else is there');
SELECT is(pg_temp.lookup_mismatches(), '{}',
	'captured events: a lookup by each key and value lists what a filtered SELECT lists');

-- a rolled-back subtransaction leaves no entries; a released one keeps them
SAVEPOINT doomed;
CREATE ROLE regress_tap_lu_doomed;
CREATE TABLE public.doomed_t (id int);
ROLLBACK TO SAVEPOINT doomed;
SAVEPOINT kept;
CREATE TABLE public.kept_t (id int);
RELEASE SAVEPOINT kept;
SELECT is(pg_temp.entries_diff(), '{}',
	'after a rollback: no entry of the rolled-back events, the kept ones have theirs');
SELECT is_empty(
	$$SELECT * FROM trail.lookup_events('ResourceName', 'public.doomed_t', end_time => 'infinity')$$,
	'after a rollback: its table is not found');
SELECT is((SELECT resources->0->>'ResourceName' FROM trail.lookup_events('EventName', 'CreateTable', end_time => 'infinity', max_results => 1)),
	'public.kept_t', 'after a rollback: the released CREATE TABLE is the newest CreateTable');

-- imported management events of past days, and an insight event with the
-- same eventName: the insight is found by insight lookups only
\ir ../system/write_log.sql
\ir ../system/server_shell.sql
CREATE TEMP TABLE imported_log AS SELECT '/tmp/trail_tap_lookup_' || pg_backend_pid() || '.json.gz' AS path;
CREATE FUNCTION pg_temp.record(id text, days int, name text, usr text, category text DEFAULT 'Management')
RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object(
	  'eventVersion', '1.09', 'eventTime',
	  to_char((date_trunc('second', now()) - make_interval(days => days)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
	  'eventSource', 'rds.amazonaws.com', 'eventName', name, 'awsRegion', 'eu-west-1',
	  'userIdentity', jsonb_build_object('type', 'IAMUser', 'principalId', 'AIDAEXAMPLE',
	      'arn', 'arn:aws:iam::123456789012:user/' || usr, 'accountId', '123456789012',
	      'userName', usr, 'accessKeyId', 'AKIA' || upper(usr)),
	  'sourceIPAddress', '198.51.100.23', 'userAgent', 'aws-cli/2.15.0',
	  'requestParameters', jsonb_build_object('dBInstanceIdentifier', 'orders-db'),
	  'eventID', id, 'readOnly', false, 'eventType', 'AwsApiCall', 'managementEvent', true,
	  'recipientAccountId', '123456789012', 'eventCategory', category,
	  'resources', jsonb_build_array(jsonb_build_object('accountId', '123456789012',
	      'type', 'AWS::RDS::DBInstance', 'ARN', 'arn:aws:rds:eu-west-1:123456789012:db:orders-db')))
$$;
SELECT pg_temp.write_log((SELECT path FROM imported_log), $q$
	VALUES (pg_temp.record('d1d1d1d1-0000-4000-8000-000000000001', 86, 'ModifyDBInstance', 'carol')),
	       (pg_temp.record('d1d1d1d1-0000-4000-8000-000000000002', 40, 'ModifyDBInstance', 'dave')),
	       (pg_temp.record('d1d1d1d1-0000-4000-8000-000000000003', 3, 'RebootDBInstance', 'carol')),
	       (pg_temp.record('d1d1d1d1-0000-4000-8000-000000000004', 2, 'ModifyDBInstance', 'carol', 'Insight'))$q$);
SELECT is((SELECT records_imported FROM trail.import_logs((SELECT path FROM imported_log))), 4::bigint,
	'imported: 3 management events over 3 past days and an insight event');
DO $$
BEGIN
	PERFORM pg_temp.server_shell('rm -f ' || (SELECT path FROM imported_log));
END
$$;
SELECT is(pg_temp.entries_diff(), '{}',
	'after the import: each imported event has its entries (the insight event too)');
SELECT is(pg_temp.lookup_mismatches(), '{}',
	'after the import: a lookup by each key and value lists what a filtered SELECT lists');
SELECT results_eq(
	$$SELECT username FROM trail.lookup_events('EventName', 'ModifyDBInstance', end_time => 'infinity')$$,
	ARRAY['dave', 'carol'],
	'a Management lookup by EventName finds the imported events of days 40 and 86 back, not the insight');
SELECT results_eq(
	$$SELECT event_id FROM trail.lookup_events('EventName', 'ModifyDBInstance', end_time => 'infinity', event_category => 'insight')$$,
	ARRAY['d1d1d1d1-0000-4000-8000-000000000004'::uuid],
	'an insight lookup by EventName finds only the insight event');
SELECT results_eq(
	$$SELECT event_id FROM trail.lookup_events('Username', 'carol', end_time => 'infinity', max_results => 1)
	  UNION ALL
	  SELECT event_id FROM trail.lookup_events('Username', 'carol', end_time => 'infinity', max_results => 1,
	      next_token => (SELECT next_token FROM trail.lookup_events('Username', 'carol', end_time => 'infinity', max_results => 1)))$$,
	ARRAY['d1d1d1d1-0000-4000-8000-000000000003'::uuid, 'd1d1d1d1-0000-4000-8000-000000000001'],
	'pages of one event each over days 3 and 86 back: the token continues on the older day');
SELECT results_eq(
	$$SELECT event_id FROM trail.lookup_events('ResourceName', 'orders-db', now() - interval '50 days', now() - interval '30 days')$$,
	ARRAY['d1d1d1d1-0000-4000-8000-000000000002'::uuid],
	'start_time and end_time bound a keyed lookup (ResourceName, named after the ARN)');

-- retention drops the day 86 back (maintenance as of 5 days ahead keeps 90
-- days from there): its entries go with it
SELECT ok((SELECT count(*) FROM trail.run_maintenance(now() + interval '5 days')
            WHERE action = 'dropped') >= 1,
	'retention dropped at least one day');
SELECT is((SELECT count(*)::int FROM trail.event_resources
            WHERE event_id = 'd1d1d1d1-0000-4000-8000-000000000001'), 0,
	'after retention: the dropped event has no entries left');
SELECT is(pg_temp.entries_diff(), '{}',
	'after retention: the entries are those of the events left');
SELECT is(pg_temp.lookup_mismatches(), '{}',
	'after retention: a lookup by each key and value lists what a filtered SELECT lists');

-- ANALYZE of a day skips the free-form columns: the parent sets no
-- statistics for them, and every partition, the days maintenance made
-- included, has the parent's targets (CREATE TABLE ... LIKE copies none)
SELECT is((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute
            WHERE attrelid = 'trail.events'::regclass AND attnum > 0 AND attstattarget = 0),
	'{user_identity,request_id,request_parameters,response_elements,additional_event_data,resources,error_message,tls_details,insight_details,unknown_fields}'::text[],
	'trail.events keeps no statistics of its free-form columns');
SELECT is((SELECT array_agg(DISTINCT i.inhrelid::regclass::text)
             FROM pg_inherits i
             JOIN pg_attribute a ON a.attrelid = i.inhrelid AND a.attnum > 0
             JOIN pg_attribute p ON p.attrelid = i.inhparent AND p.attname = a.attname
            WHERE i.inhparent = 'trail.events'::regclass AND a.attstattarget <> p.attstattarget),
	NULL,
	'every partition of it, those maintenance made included, has the same targets');

SELECT * FROM finish();
ROLLBACK;
