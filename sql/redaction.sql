--
-- redaction: passwords and connection strings never reach trail.events, in
-- whatever form the statement spells them.  Every secret below contains
-- "hunter2"; no event may contain that string anywhere.
--
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_trail_r1;
DROP ROLE IF EXISTS regress_trail_r2;
DROP ROLE IF EXISTS regress_trail_r3;
RESET client_min_messages;

CREATE EXTENSION trail;

-- roles: plain, mixed case, dollar quotes, E'' escapes, U&'' escapes,
-- comments, string continuation, extra clauses after the secret
CREATE ROLE regress_trail_r1 LOGIN PASSWORD 'hunter2-plain' VALID UNTIL 'infinity';
CREATE USER regress_trail_r2 WITH ENCRYPTED PaSsWoRd 'hunter2-mixed-case';
ALTER ROLE regress_trail_r1 PASSWORD $$hunter2-dollar$$;
ALTER ROLE regress_trail_r1 WITH PASSWORD $pw$hunter2 'quoted' $$ inside$pw$;
ALTER USER regress_trail_r2 PASSWORD E'hunter2\'escaped\\';
ALTER ROLE regress_trail_r2 PASSWORD U&'hunter2-\0041';
ALTER ROLE regress_trail_r1 PASSWORD /* the new one: */ 'hunter2-after-comment';
ALTER ROLE regress_trail_r1 PASSWORD -- next line
  'hunter2-after-line-comment';
ALTER ROLE regress_trail_r2 PASSWORD 'hunter2-part-one'
  'hunter2-part-two';
ALTER ROLE regress_trail_r2 PASSWORD 'hunter2-with-valid' VALID UNTIL '2100-01-01';
-- several statements in one query string
CREATE ROLE regress_trail_r3 \; ALTER ROLE regress_trail_r3 PASSWORD 'hunter2-multi' \; ALTER ROLE regress_trail_r3 NOLOGIN;
-- inside functions: static SQL, dynamic SQL, a DO block
CREATE FUNCTION pg_temp.set_password(r name, pw text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('ALTER ROLE %I PASSWORD %L', r, pw);
END
$$;
SELECT pg_temp.set_password('regress_trail_r3', 'hunter2-dynamic');
DO $$ BEGIN ALTER ROLE regress_trail_r3 PASSWORD 'hunter2-in-do'; END $$;
DO $$ BEGIN EXECUTE 'ALTER ROLE regress_trail_r3 PASSWORD ''hunter2-in-do-execute'''; END $$;

-- foreign servers and user mappings
CREATE FOREIGN DATA WRAPPER regress_trail_fdw;
CREATE SERVER regress_trail_srv FOREIGN DATA WRAPPER regress_trail_fdw
	OPTIONS (host 'db.example', password 'hunter2-server');
CREATE USER MAPPING FOR regress_trail_r1 SERVER regress_trail_srv
	OPTIONS (user 'remote', password 'hunter2-mapping');
ALTER USER MAPPING FOR regress_trail_r1 SERVER regress_trail_srv
	OPTIONS (SET password 'hunter2-mapping-set');
CREATE USER MAPPING FOR regress_trail_r2 SERVER regress_trail_srv
	OPTIONS ("password" $$hunter2-quoted-name$$, passfile '/nonexistent');
ALTER USER MAPPING FOR regress_trail_r2 SERVER regress_trail_srv
	OPTIONS (DROP passfile, ADD sslpassword 'hunter2-ssl');

-- subscriptions: the connection string
CREATE SUBSCRIPTION regress_trail_sub
	CONNECTION 'host=primary.example dbname=app user=repl password=hunter2-conninfo'
	PUBLICATION regress_trail_pub
	WITH (connect = false, enabled = false, create_slot = false, slot_name = NONE);
ALTER SUBSCRIPTION regress_trail_sub
	CONNECTION $$host=primary.example password='hunter2-conninfo-2'$$;
DROP SUBSCRIPTION regress_trail_sub;

-- server settings holding a connection string
ALTER SYSTEM SET primary_conninfo = 'host=primary.example password=hunter2-system';
ALTER SYSTEM SET primary_conninfo TO E'host=primary.example password=hunter2-system-e';
ALTER SYSTEM SET primary_conninfo = "host=primary.example password=hunter2-system-ident";
ALTER SYSTEM RESET primary_conninfo;

-- a secret in a statement that rolls back leaves nothing at all
BEGIN;
ALTER ROLE regress_trail_r1 PASSWORD 'hunter2-rolled-back';
ROLLBACK;

-- text that is not a secret is kept as written
COMMENT ON ROLE regress_trail_r1 IS 'password rotation: quarterly';

-- What was recorded: the statements, redacted (a secret written as a quoted
-- identifier may come back as "<redacted>" or '<redacted>').  Failed
-- statements of the tests before this one (append_only) reach the store
-- whenever the worker drains the spool: they are left out.
SELECT event_name,
       regexp_replace(request_parameters->>'statement', '"<redacted>"', '''<redacted>''', 'g') AS statement
  FROM trail.events
 WHERE event_type = 'AwsApiCall' AND error_code IS NULL
 ORDER BY event_id;

-- per-command parameters are redacted too
SELECT event_name, request_parameters - 'statement' AS parameters
  FROM trail.events
 WHERE event_type = 'AwsApiCall' AND request_parameters - 'statement' <> '{}'
   AND event_name IN ('CreateRole', 'AlterRole', 'AlterSystem')
 ORDER BY event_id;

-- the secret appears nowhere: not in any column, not in the rendered record
SELECT count(*) AS events_with_secret FROM trail.events e WHERE e::text ILIKE '%hunter2%';
SELECT count(*) AS records_with_secret FROM trail.events e
 WHERE trail.cloudtrail_record(e)::text ILIKE '%hunter2%';
SELECT count(*) AS lookups_with_secret FROM trail.lookup_events(end_time => 'infinity') l
 WHERE l::text ILIKE '%hunter2%';

-- clean up
DROP SERVER regress_trail_srv CASCADE;
DROP FOREIGN DATA WRAPPER regress_trail_fdw;
DROP ROLE regress_trail_r1, regress_trail_r2, regress_trail_r3;
DROP EXTENSION trail;
