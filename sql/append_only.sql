--
-- append_only: nobody, superusers included, can change, remove or forge
-- events through SQL.  Every refused command fails with SQLSTATE 42501 and a
-- message starting "trail events are append-only"; afterwards nothing changed.
--
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_trail_writer;
RESET client_min_messages;

CREATE EXTENSION trail;
CREATE TABLE public.ao_subject (id int);

-- the state to keep: every event so far, trail's relations, its event triggers
CREATE TEMP VIEW trail_state AS
SELECT (SELECT string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname)
          FROM pg_class c WHERE c.relnamespace = 'trail'::regnamespace) AS relations,
       (SELECT string_agg(i.inhrelid::regclass::text, ',' ORDER BY i.inhrelid::regclass::text)
          FROM pg_inherits i WHERE i.inhparent = 'trail.events'::regclass) AS partitions,
       (SELECT string_agg(evtname || ':' || evtenabled::text, ',' ORDER BY evtname)
          FROM pg_event_trigger) AS event_triggers,
       (SELECT count(*) FROM pg_depend d JOIN pg_extension x ON d.refobjid = x.oid
         WHERE x.extname = 'trail' AND d.deptype = 'e') AS extension_members;
CREATE TEMP TABLE state_before AS SELECT * FROM trail_state;
SELECT (array_agg(event_id ORDER BY event_id DESC))[1] AS last_event,
       md5(string_agg(e::text, ',' ORDER BY event_id)) AS events_digest,
       count(*) AS events_before
  FROM trail.events e \gset

-- a partition of today to aim at
SELECT 'trail.events_' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD') AS today \gset

\set VERBOSITY default
-- DML on the parent
INSERT INTO trail.events SELECT * FROM trail.events LIMIT 1;
\set VERBOSITY terse
\echo :SQLSTATE
UPDATE trail.events SET event_name = 'Forged';
\echo :SQLSTATE
DELETE FROM trail.events;
\echo :SQLSTATE
DELETE FROM trail.events WHERE event_name = 'CreateTable' RETURNING event_id;
\echo :SQLSTATE
WITH gone AS (DELETE FROM trail.events RETURNING 1) SELECT count(*) FROM gone;
\echo :SQLSTATE
MERGE INTO trail.events t USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE;
\echo :SQLSTATE
COPY trail.events FROM STDIN;
\.
\echo :SQLSTATE
-- DML on a day partition (its name, a date, is masked) and on the default partition
\set VERBOSITY sqlstate
INSERT INTO :today SELECT * FROM trail.events LIMIT 1;
SELECT regexp_replace(:'LAST_ERROR_MESSAGE', '\d{8}', 'YYYYMMDD') AS message;
UPDATE :today SET user_name = 'someone_else';
SELECT regexp_replace(:'LAST_ERROR_MESSAGE', '\d{8}', 'YYYYMMDD') AS message;
DELETE FROM :today;
SELECT regexp_replace(:'LAST_ERROR_MESSAGE', '\d{8}', 'YYYYMMDD') AS message;
\set VERBOSITY terse
DELETE FROM trail.events_default;
\echo :SQLSTATE
COPY trail.events_default FROM STDIN;
\.
\echo :SQLSTATE
-- session_replication_role does not open a back door
SET session_replication_role = replica;
DELETE FROM trail.events;
\echo :SQLSTATE
RESET session_replication_role;
-- TRUNCATE
TRUNCATE trail.events;
\echo :SQLSTATE
\set VERBOSITY sqlstate
TRUNCATE :today;
SELECT regexp_replace(:'LAST_ERROR_MESSAGE', '\d{8}', 'YYYYMMDD') AS message;
\set VERBOSITY terse
TRUNCATE trail.events_default;
\echo :SQLSTATE
TRUNCATE public.ao_subject, trail.events;
\echo :SQLSTATE
-- dropping or detaching days (only the start of the message is checked)
\set VERBOSITY sqlstate
DROP TABLE :today;
SELECT :'SQLSTATE' AS sqlstate, :'SQLSTATE' <> '00000' AND :'LAST_ERROR_MESSAGE' LIKE 'trail events are append-only%' AS append_only;
DROP TABLE IF EXISTS :today CASCADE;
SELECT :'SQLSTATE' AS sqlstate, :'SQLSTATE' <> '00000' AND :'LAST_ERROR_MESSAGE' LIKE 'trail events are append-only%' AS append_only;
DROP TABLE trail.events_default;
SELECT :'SQLSTATE' AS sqlstate, :'SQLSTATE' <> '00000' AND :'LAST_ERROR_MESSAGE' LIKE 'trail events are append-only%' AS append_only;
ALTER TABLE trail.events DETACH PARTITION :today;
SELECT regexp_replace(:'LAST_ERROR_MESSAGE', '\d{8}', 'YYYYMMDD') AS message;
\set VERBOSITY terse
ALTER TABLE trail.events DETACH PARTITION trail.events_default;
\echo :SQLSTATE
-- forging days: a new partition, a child table
CREATE TABLE public.forged PARTITION OF trail.events FOR VALUES FROM ('2000-01-01') TO ('2000-01-02');
\echo :SQLSTATE
CREATE TABLE public.forged_child () INHERITS (trail.events_default);
\echo :SQLSTATE
-- triggers, rules and policies that would hide, rewrite or filter events
CREATE FUNCTION public.ao_swallow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER ao_swallow BEFORE INSERT ON trail.events FOR EACH ROW EXECUTE FUNCTION public.ao_swallow();
\echo :SQLSTATE
CREATE TRIGGER ao_swallow BEFORE INSERT ON trail.events_default FOR EACH ROW EXECUTE FUNCTION public.ao_swallow();
\echo :SQLSTATE
CREATE RULE ao_nothing AS ON INSERT TO trail.events DO INSTEAD NOTHING;
\echo :SQLSTATE
CREATE POLICY ao_hide ON trail.events USING (false);
\echo :SQLSTATE
-- switching capture off
ALTER EVENT TRIGGER trail_ddl_command_end DISABLE;
\echo :SQLSTATE
ALTER EVENT TRIGGER trail_sql_drop ENABLE REPLICA;
\echo :SQLSTATE
-- taking objects out of the extension
ALTER EXTENSION trail DROP TABLE trail.events_default;
\echo :SQLSTATE
ALTER EXTENSION trail DROP EVENT TRIGGER trail_ddl_command_end;
\echo :SQLSTATE

-- a role granted every privilege on the table is refused the same way
CREATE ROLE regress_trail_writer;
GRANT USAGE ON SCHEMA trail TO regress_trail_writer;
GRANT ALL ON trail.events, trail.events_default TO regress_trail_writer;
SET ROLE regress_trail_writer;
INSERT INTO trail.events SELECT * FROM trail.events LIMIT 1;
\echo :SQLSTATE
DELETE FROM trail.events;
\echo :SQLSTATE
DELETE FROM trail.events_default;
\echo :SQLSTATE
TRUNCATE trail.events;
\echo :SQLSTATE
RESET ROLE;
REVOKE ALL ON trail.events, trail.events_default FROM regress_trail_writer;
REVOKE USAGE ON SCHEMA trail FROM regress_trail_writer;
DROP ROLE regress_trail_writer;

-- allowed: granting read access and comments
GRANT SELECT ON trail.events TO trail_reader;
COMMENT ON TABLE trail.events IS 'CloudTrail records of this database, partitioned by UTC day; append-only';
\set VERBOSITY default

-- nothing changed: the old events are all there, unaltered, and trail's
-- tables, partitions, event triggers and extension members are the same
SELECT count(*) = :events_before AS same_count,
       md5(string_agg(e::text, ',' ORDER BY event_id)) = :'events_digest' AS same_events
  FROM trail.events e WHERE event_id <= :'last_event';
SELECT b.relations = s.relations AS same_relations,
       b.partitions = s.partitions AS same_partitions,
       s.event_triggers,
       b.extension_members = s.extension_members AS same_members
  FROM state_before b, trail_state s;
-- and the refused commands left no event; the allowed ones did
SELECT event_name, request_parameters->>'statement' AS statement
  FROM trail.events
 WHERE event_id > :'last_event' AND event_type = 'AwsApiCall'
 ORDER BY event_id;

-- dropping or renaming trail's schema is refused too: it would take every
-- event with it, or hide the events from trail's own protection.  (Each is
-- tried in a transaction rolled back afterwards, so that a failure here
-- leaves the rest of this test intact.)
SET client_min_messages = warning;
\set VERBOSITY sqlstate
BEGIN;
DROP SCHEMA trail CASCADE;
\set sqlstate_drop :SQLSTATE
\set message_drop :LAST_ERROR_MESSAGE
ROLLBACK;
BEGIN;
ALTER SCHEMA trail RENAME TO trail_moved;
\set sqlstate_rename :SQLSTATE
\set message_rename :LAST_ERROR_MESSAGE
ROLLBACK;
RESET client_min_messages;
SELECT 'DROP SCHEMA trail CASCADE' AS command, :'sqlstate_drop' AS sqlstate,
       :'sqlstate_drop' <> '00000' AND :'message_drop' LIKE 'trail events are append-only%' AS append_only
UNION ALL
SELECT 'ALTER SCHEMA trail RENAME', :'sqlstate_rename',
       :'sqlstate_rename' <> '00000' AND :'message_rename' LIKE 'trail events are append-only%';
\set VERBOSITY default
SELECT n.nspname AS schema, x.extname AS extension,
       (SELECT count(*) FROM trail.events e WHERE e.event_id <= :'last_event') = :events_before AS events_kept
  FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
 WHERE x.extname = 'trail';

-- clean up (DROP EXTENSION is the way to uninstall)
DROP VIEW trail_state;
DROP TABLE state_before, public.ao_subject;
DROP FUNCTION public.ao_swallow();
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS trail;
RESET client_min_messages;
