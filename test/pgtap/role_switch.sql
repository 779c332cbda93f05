-- role_switch: SET ROLE, RESET ROLE and SET SESSION AUTHORIZATION are
-- CloudTrail's AssumeRole (eventSource sts.postgresql), recorded with the
-- identity that switched, the role it switched to, and the identity the
-- session acts as afterwards; a switch rolled back leaves no event; the
-- commands that follow carry userIdentity.type AssumedRole, and so do the
-- commands of a SECURITY DEFINER function (its owner is the role assumed).
--
-- The switches run first, in autocommit mode, as a real session would.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS trail;
RESET client_min_messages;

CREATE ROLE regress_rs_app;
CREATE ROLE regress_rs_login LOGIN;
CREATE ROLE regress_rs_other;
GRANT regress_rs_app TO regress_rs_login;
GRANT CREATE ON SCHEMA public TO regress_rs_app;
SELECT (array_agg(event_id ORDER BY event_id DESC))[1] AS before_definer FROM trail.events \gset
-- a SECURITY DEFINER function acts as its owner: its commands show that
-- role as the one assumed, and the caller as the session's user
CREATE FUNCTION public.rs_definer() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = public AS $$BEGIN CREATE TABLE public.rs_sd (a int); END$$;
ALTER FUNCTION public.rs_definer() OWNER TO regress_rs_app;
GRANT EXECUTE ON FUNCTION public.rs_definer() TO regress_rs_other;
SET SESSION AUTHORIZATION regress_rs_other;
SELECT public.rs_definer() \g /dev/null
RESET SESSION AUTHORIZATION;

SELECT (array_agg(event_id ORDER BY event_id DESC))[1] AS before_switches FROM trail.events \gset

SET SESSION AUTHORIZATION regress_rs_login;
SET ROLE regress_rs_app;
CREATE TABLE public.rs_t (a int);
RESET ROLE;
BEGIN;
SET LOCAL ROLE regress_rs_app;
ROLLBACK;
RESET SESSION AUTHORIZATION;


BEGIN;
SELECT plan(15);

CREATE TEMP TABLE ev AS
	SELECT row_number() OVER (ORDER BY event_id) AS n, e.*
	  FROM trail.events e
	 WHERE event_id > :'before_switches'
	   AND (event_name = 'AssumeRole'
	        OR event_name = 'CreateTable' AND resources @> '[{"name": "public.rs_t"}]');

SELECT results_eq(
	$$SELECT event_name, event_source, request_parameters->>'statement' FROM ev ORDER BY n$$,
	$$VALUES ('AssumeRole', 'sts.postgresql', 'SET SESSION AUTHORIZATION regress_rs_login'),
	         ('AssumeRole', 'sts.postgresql', 'SET ROLE regress_rs_app'),
	         ('CreateTable', 'ddl.postgresql', 'CREATE TABLE public.rs_t (a int)'),
	         ('AssumeRole', 'sts.postgresql', 'RESET ROLE'),
	         ('AssumeRole', 'sts.postgresql', 'RESET SESSION AUTHORIZATION')$$,
	'each switch is one AssumeRole event, in order; the rolled-back SET LOCAL ROLE is none');

-- who switched: the identity before the switch
SELECT results_eq(
	$$SELECT user_identity->>'type', user_name, user_identity->>'userName' FROM ev
	   WHERE event_name = 'AssumeRole' ORDER BY n$$,
	$$VALUES ('Superuser', 'postgres', 'postgres'),
	         ('Role', 'regress_rs_login', 'regress_rs_login'),
	         ('AssumedRole', 'regress_rs_login', 'regress_rs_login'),
	         ('Role', 'regress_rs_login', 'regress_rs_login')$$,
	'userIdentity and user_name are the caller''s, before the switch');

-- to what: requestParameters.roleArn and the resource are the role now in effect
SELECT results_eq(
	$$SELECT regexp_replace(request_parameters->>'roleArn', '^.*:', ''),
	         request_parameters->>'roleSessionName',
	         regexp_replace(resources->0->>'ARN', '^.*:', ''), resources->0->>'type'
	    FROM ev WHERE event_name = 'AssumeRole' ORDER BY n$$,
	$$VALUES ('role/regress_rs_login', 'regress_rs_login', 'role/regress_rs_login', 'PG::Role'),
	         ('role/regress_rs_app', 'regress_rs_login', 'role/regress_rs_app', 'PG::Role'),
	         ('role/regress_rs_login', 'regress_rs_login', 'role/regress_rs_login', 'PG::Role'),
	         ('role/postgres', 'postgres', 'role/postgres', 'PG::Role')$$,
	'roleArn, roleSessionName and resources name the role switched to');

SELECT is((SELECT regexp_replace(response_elements->'assumedRoleUser'->>'arn', '^.*:', '')
             FROM ev WHERE request_parameters->>'statement' = 'SET ROLE regress_rs_app'),
	'assumed-role/regress_rs_app/regress_rs_login',
	'responseElements.assumedRoleUser.arn is the STS identity of the session after SET ROLE');
SELECT is((SELECT response_elements->'assumedRoleUser'->>'assumedRoleId'
             FROM ev WHERE request_parameters->>'statement' = 'SET ROLE regress_rs_app'),
	(SELECT oid::text || ':regress_rs_login' FROM pg_roles WHERE rolname = 'regress_rs_app'),
	'assumedRoleId is the role''s oid and the session user');
SELECT is((SELECT regexp_replace(response_elements->'assumedRoleUser'->>'arn', '^.*:', '')
             FROM ev WHERE request_parameters->>'statement' = 'RESET ROLE'),
	'role/regress_rs_login',
	'after RESET ROLE the session acts as its login role again');

-- what follows a switch carries it
SELECT is((SELECT user_identity->>'type' FROM ev WHERE event_name = 'CreateTable'),
	'AssumedRole', 'a command after SET ROLE: userIdentity.type AssumedRole');
SELECT is((SELECT user_identity->'sessionContext'->'sessionIssuer'->>'userName' FROM ev
            WHERE event_name = 'CreateTable'),
	'regress_rs_app', 'its sessionContext.sessionIssuer is the role assumed');
SELECT is((SELECT user_name FROM ev WHERE event_name = 'CreateTable'),
	'regress_rs_login', 'its user_name is the login (session) user');

SELECT ok((SELECT bool_and(NOT is_global AND NOT read_only AND event_category = 'Management')
             FROM ev WHERE event_name = 'AssumeRole'),
	'AssumeRole events are regional, not read-only, management events');

SELECT is((SELECT user_identity->>'type' FROM trail.events
            WHERE event_id > :'before_definer' AND event_name = 'CreateTable'
              AND request_parameters->>'statement' LIKE 'CREATE TABLE public.rs_sd%'),
	'AssumedRole', 'a command inside a SECURITY DEFINER function: userIdentity.type AssumedRole');
SELECT is((SELECT user_identity->'sessionContext'->'sessionIssuer'->>'userName' FROM trail.events
            WHERE event_id > :'before_definer' AND event_name = 'CreateTable'
              AND request_parameters->>'statement' LIKE 'CREATE TABLE public.rs_sd%'),
	'regress_rs_app', '... its sessionContext.sessionIssuer is the function''s owner (the effective role)');
SELECT is((SELECT user_name FROM trail.events
            WHERE event_id > :'before_definer' AND event_name = 'CreateTable'
              AND request_parameters->>'statement' LIKE 'CREATE TABLE public.rs_sd%'),
	'regress_rs_other', '... and its user_name the caller');

-- a switch that fails is refused and, like any failed statement, leaves
-- nothing (failed statements are recorded by a later capability)
SET SESSION AUTHORIZATION regress_rs_login;
SELECT throws_ok($$SET ROLE regress_rs_other$$, '42501', NULL,
	'SET ROLE to a role the session may not assume fails');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*)::int FROM trail.events
            WHERE event_id > :'before_switches'
              AND request_parameters->>'statement' = 'SET ROLE regress_rs_other'), 0,
	'the failed switch has no event');

SELECT * FROM finish();
ROLLBACK;

DROP TABLE public.rs_t;
DROP TABLE public.rs_sd;
DROP FUNCTION public.rs_definer();
REVOKE CREATE ON SCHEMA public FROM regress_rs_app;
DROP ROLE regress_rs_login;
DROP ROLE regress_rs_app;
DROP ROLE regress_rs_other;
