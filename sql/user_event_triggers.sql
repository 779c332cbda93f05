--
-- user_event_triggers: trail lives beside the database's own event triggers.
-- A user's event trigger neither stops CREATE EXTENSION trail nor is
-- disturbed by trail; renaming it works; renaming trail's is refused.
--
-- The rename of an event trigger runs in a separate psql (a backend that
-- crashed would take this session down with it); this session waits until
-- the server accepts connections again and reconnects.
--
SET client_min_messages = warning;
DROP EVENT TRIGGER IF EXISTS regress_user_ddl;
DROP EVENT TRIGGER IF EXISTS regress_user_ddl_renamed;
DROP EXTENSION IF EXISTS trail;
RESET client_min_messages;

CREATE TABLE public.uet_log (tag text, identity text);
CREATE FUNCTION public.uet_log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.uet_log
	SELECT command_tag, object_identity FROM pg_catalog.pg_event_trigger_ddl_commands();
END
$$;
CREATE EVENT TRIGGER regress_user_ddl ON ddl_command_end EXECUTE FUNCTION public.uet_log_ddl();

-- installing trail where the database already has an event trigger
CREATE EXTENSION trail;
-- (should the line above have failed, install trail without the trigger so
-- that the rest of this test still runs)
SET client_min_messages = warning;
ALTER EVENT TRIGGER regress_user_ddl DISABLE;
CREATE EXTENSION IF NOT EXISTS trail;
ALTER EVENT TRIGGER regress_user_ddl ENABLE;
RESET client_min_messages;

-- both see the same command
CREATE TABLE public.uet_t (id int);
SELECT tag, identity FROM public.uet_log WHERE identity = 'public.uet_t';
SELECT event_name, resources->0->>'name' AS resource
  FROM trail.events WHERE request_parameters->>'statement' = 'CREATE TABLE public.uet_t (id int)';

-- renaming trail's own event triggers is refused, renaming the user's works
\setenv PGDATABASE :DBNAME
\! psql -X -q -v VERBOSITY=terse -c 'ALTER EVENT TRIGGER trail_sql_drop RENAME TO regress_renamed' 2>&1 | sed -e 's/^psql:[^:]*:[0-9]*: //'
\! for i in $(seq 1 100); do psql -X -q -At -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
\c
\! psql -X -q -v VERBOSITY=terse -c 'ALTER EVENT TRIGGER regress_user_ddl RENAME TO regress_user_ddl_renamed' 2>&1 | sed -e 's/^psql:[^:]*:[0-9]*: //'
\! for i in $(seq 1 100); do psql -X -q -At -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
\c
SELECT evtname, evtenabled FROM pg_event_trigger ORDER BY evtname;
SELECT event_name, request_parameters->>'statement' AS statement
  FROM trail.events
 WHERE event_type = 'AwsApiCall' AND event_name = 'AlterEventTrigger'
 ORDER BY event_id;

-- clean up
SET client_min_messages = warning;
DROP EVENT TRIGGER IF EXISTS regress_user_ddl;
DROP EVENT TRIGGER IF EXISTS regress_user_ddl_renamed;
RESET client_min_messages;
DROP FUNCTION public.uet_log_ddl();
DROP TABLE public.uet_log, public.uet_t;
DROP EXTENSION trail;
