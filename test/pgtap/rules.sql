-- rules: EventBridge-style rules (trail.put_rule, delete_rule, enable_rule,
-- disable_rule, describe_rules) and the trail.log_events setting.
--
-- The API contract (returned JSON, describe_rules rows, state changes,
-- upsert), every invalid input refused with its SQLSTATE and message and
-- nothing changed, the management event each call records, who may call
-- what, function targets (really called with EventBridge's envelope, as
-- the rule's owner; a failing one is undone and recorded as
-- InvokeRuleTarget while the user's statement succeeds; a disabled,
-- deleted, rolled-back or dropped one is not called; events a target
-- causes trigger no rule), the envelope of management, service, IAM, trail
-- and data events, and trail.log_events validation.  Notify targets and the
-- log stream itself are covered by test/system/040_rules_notify.pl.
--
-- Runs in autocommit mode, in the fresh database test.sh makes for it:
-- data events are written when their transaction commits, and some checks
-- need a second session (psql run from here, through \setenv PGDATABASE)
-- that sees committed rules.  Every function target writes what it
-- receives into rt.sink; the roles made here are dropped at the end.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS trail;
DROP ROLE IF EXISTS regress_tap_rules_plain;
DROP ROLE IF EXISTS regress_tap_rules_reader;
DROP ROLE IF EXISTS regress_tap_rules_admin;
DROP ROLE IF EXISTS regress_tap_rules_iam;
RESET client_min_messages;
\setenv PGDATABASE :DBNAME

SELECT plan(152);

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------
CREATE SCHEMA rt;
-- every function target writes here: its tag, the envelope, who ran it
CREATE TABLE rt.sink (n serial PRIMARY KEY, tag text NOT NULL, env jsonb, who name);
-- run a statement: 'ok', or its SQLSTATE and message
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;
-- run a statement: 'ok', or its SQLSTATE
CREATE FUNCTION pg_temp.code(q text) RETURNS text LANGUAGE sql AS $$
	SELECT split_part(pg_temp.err(q), ' ', 1)
$$;
-- the account id and the ARN of a rule
CREATE FUNCTION pg_temp.account() RETURNS text LANGUAGE sql AS $$
	SELECT system_identifier::text FROM pg_control_system()
$$;
CREATE FUNCTION pg_temp.rule_arn(name text) RETURNS text LANGUAGE sql AS $$
	SELECT 'arn:postgresql:events:' || current_database() || ':' || pg_temp.account() || ':rule/' || name
$$;
-- every rule, as one text
CREATE FUNCTION pg_temp.rules() RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s', name, arn, event_pattern, target,
	                                  coalesce(description, '-'), state, owner, updated_time),
	                           E'\n' ORDER BY name), '')
	  FROM trail.describe_rules()
$$;
-- the number of rule API events of trail
CREATE FUNCTION pg_temp.n_calls() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM trail.events
	 WHERE event_source = 'trail.postgresql'
	   AND event_name IN ('PutRule', 'DeleteRule', 'EnableRule', 'DisableRule')
$$;
-- the last event of a name
CREATE FUNCTION pg_temp.last_event(name text) RETURNS trail.events LANGUAGE sql AS $$
	SELECT e FROM trail.events e WHERE e.event_name = name ORDER BY e.event_id DESC LIMIT 1
$$;
-- the management event of a statement
CREATE FUNCTION pg_temp.stmt_event(stmt text) RETURNS trail.events LANGUAGE sql AS $$
	SELECT e FROM trail.events e
	 WHERE e.event_category = 'Management' AND e.request_parameters->>'statement' = stmt
	 ORDER BY e.event_id DESC LIMIT 1
$$;
-- how many envelopes a target got, and the last one
CREATE FUNCTION pg_temp.n_sink(t text) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM rt.sink WHERE tag = t
$$;
CREATE FUNCTION pg_temp.last_env(t text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT env FROM rt.sink WHERE tag = t ORDER BY n DESC LIMIT 1
$$;

CREATE FUNCTION rt.t_catch(e jsonb) RETURNS void LANGUAGE sql AS
	$$ INSERT INTO rt.sink (tag, env, who) VALUES ('catch', e, current_user) $$;
CREATE FUNCTION rt.t_trail(e jsonb) RETURNS void LANGUAGE sql AS
	$$ INSERT INTO rt.sink (tag, env, who) VALUES ('trail', e, current_user) $$;
CREATE FUNCTION rt.t_service(e jsonb) RETURNS void LANGUAGE sql AS
	$$ INSERT INTO rt.sink (tag, env, who) VALUES ('service', e, current_user) $$;
CREATE FUNCTION rt.t_iam(e jsonb) RETURNS void LANGUAGE sql AS
	$$ INSERT INTO rt.sink (tag, env, who) VALUES ('iam', e, current_user) $$;
CREATE FUNCTION rt.t_data(e jsonb) RETURNS void LANGUAGE sql AS
	$$ INSERT INTO rt.sink (tag, env, who) VALUES ('data', e, current_user) $$;
CREATE FUNCTION rt.t_other(e jsonb) RETURNS void LANGUAGE sql AS
	$$ INSERT INTO rt.sink (tag, env, who) VALUES ('other', e, current_user) $$;
-- writes, then fails: its write must be undone
CREATE FUNCTION rt.t_fail(e jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO rt.sink (tag, env, who) VALUES ('fail', e, current_user);
	RAISE EXCEPTION 'boom: %', e->'detail'->>'eventName' USING ERRCODE = '22012';
END
$$;
-- writes, then runs DDL that its own rule matches
CREATE FUNCTION rt.t_loop(e jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO rt.sink (tag, env, who) VALUES ('loop', e, current_user);
	EXECUTE 'CREATE TABLE IF NOT EXISTS rt.loop_by_target (id int)';
END
$$;
-- nobody but superusers may execute it; it runs as its owner
CREATE FUNCTION rt.secret(e jsonb) RETURNS void LANGUAGE sql SECURITY DEFINER AS
	$$ INSERT INTO rt.sink (tag, env, who) VALUES ('secret', e, current_user) $$;
REVOKE EXECUTE ON FUNCTION rt.secret(jsonb) FROM PUBLIC;
-- targets of the wrong shape
CREATE FUNCTION public.unqualified(e jsonb) RETURNS void LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION rt.wrong_args(e text) RETURNS void LANGUAGE sql AS $$ SELECT $$;

CREATE ROLE regress_tap_rules_plain;
CREATE ROLE regress_tap_rules_reader IN ROLE trail_reader;
CREATE ROLE regress_tap_rules_admin IN ROLE trail_admin;
GRANT USAGE, CREATE ON SCHEMA rt TO regress_tap_rules_admin;
GRANT INSERT ON rt.sink TO regress_tap_rules_admin;
GRANT USAGE ON SEQUENCE rt.sink_n_seq TO regress_tap_rules_admin;

------------------------------------------------------------------------------
-- The API: put_rule's answer, describe_rules, state changes, upsert, delete
------------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM trail.describe_rules()), 0::bigint, 'no rule at first');
SELECT is(trail.put_rule('api-1.x_Y', '{"source": ["postgresql.ddl"], "detail": {"eventName": [{"prefix": "Drop"}]}}',
                         'notify:api_chan', 'drops of anything', true),
	jsonb_build_object('RuleArn', pg_temp.rule_arn('api-1.x_Y')),
	'put_rule returns {"RuleArn": arn:postgresql:events:<db>:<account>:rule/<name>}');
SELECT results_eq(
	$$SELECT name, arn, event_pattern, target, description, state, owner, updated_time <= now()
	    FROM trail.describe_rules()$$,
	$$VALUES ('api-1.x_Y'::text, pg_temp.rule_arn('api-1.x_Y'),
	          '{"source": ["postgresql.ddl"], "detail": {"eventName": [{"prefix": "Drop"}]}}'::jsonb,
	          'notify:api_chan'::text, 'drops of anything'::text, 'ENABLED'::text, current_user, true)$$,
	'describe_rules shows the rule as put: name, ARN, pattern, target, description, ENABLED, owner');
SELECT is(trail.put_rule('api-2', '{"account": [{"exists": true}]}', 'notify:api_chan'),
	jsonb_build_object('RuleArn', pg_temp.rule_arn('api-2')), 'put_rule with the defaults');
SELECT is((SELECT description IS NULL AND state = 'ENABLED' FROM trail.describe_rules() WHERE name = 'api-2'),
	true, '... has no description and is ENABLED');
SELECT lives_ok($$SELECT trail.put_rule('api-3', '{"region": ["x"]}', 'notify:api_chan', NULL, false)$$,
	'put_rule with enabled => false');
SELECT is((SELECT state FROM trail.describe_rules() WHERE name = 'api-3'), 'DISABLED', '... is DISABLED');
SELECT is((SELECT array_agg(name ORDER BY name) FROM trail.describe_rules()), '{api-1.x_Y,api-2,api-3}',
	'describe_rules lists every rule, by name');

CREATE TEMP TABLE t0 AS SELECT updated_time FROM trail.describe_rules() WHERE name = 'api-2';
SELECT lives_ok($$SELECT trail.disable_rule('api-2')$$, 'disable_rule');
SELECT is((SELECT state FROM trail.describe_rules() WHERE name = 'api-2'), 'DISABLED', '... the rule is DISABLED');
SELECT is((SELECT updated_time > (SELECT updated_time FROM t0) FROM trail.describe_rules() WHERE name = 'api-2'),
	true, '... and its updated_time moved on');
SELECT lives_ok($$SELECT trail.disable_rule('api-2')$$, 'disable_rule again: no error');
SELECT lives_ok($$SELECT trail.enable_rule('api-2')$$, 'enable_rule');
SELECT is((SELECT state FROM trail.describe_rules() WHERE name = 'api-2'), 'ENABLED', '... the rule is ENABLED');
SELECT is((SELECT event_pattern::text || ' ' || target FROM trail.describe_rules() WHERE name = 'api-2'),
	'{"account": [{"exists": true}]} notify:api_chan', '... with its pattern and target unchanged');

-- upsert: a second put of a name replaces everything
SELECT is(trail.put_rule('api-1.x_Y', '{"source": ["postgresql.iam"]}', 'notify:other_chan', 'roles', false),
	jsonb_build_object('RuleArn', pg_temp.rule_arn('api-1.x_Y')), 'put_rule of an existing name');
SELECT results_eq(
	$$SELECT name, event_pattern, target, description, state FROM trail.describe_rules() WHERE name = 'api-1.x_Y'$$,
	$$VALUES ('api-1.x_Y'::text, '{"source": ["postgresql.iam"]}'::jsonb, 'notify:other_chan'::text,
	          'roles'::text, 'DISABLED'::text)$$,
	'... replaces pattern, target, description and state (one rule of that name)');
SELECT lives_ok($$SELECT trail.put_rule('api-1.x_Y', '{"source": ["postgresql.iam"]}', 'notify:other_chan')$$,
	'put_rule again without a description');
SELECT is((SELECT coalesce(description, '(null)') || ' ' || state FROM trail.describe_rules() WHERE name = 'api-1.x_Y'),
	'(null) ENABLED', '... clears the description and enables it');

-- the limits that are allowed
SELECT lives_ok(format($$SELECT trail.put_rule(%L, '{"source": ["x"]}', %L, %L)$$,
                       repeat('n', 64), 'notify:' || repeat('c', 63), repeat('d', 512)),
	'a 64-character name, a 63-character channel and a 512-character description');
SELECT lives_ok($$SELECT trail.put_rule('api-4', '{"source": ["x"]}', 'notify:c', repeat('é', 300))$$,
	'a description of 300 characters (600 bytes) is within 512 characters');
SELECT lives_ok($$SELECT trail.put_rule('api-5', '{"source": ["x"]}', 'function:rt.t_other')$$,
	'a function target: schema.name of a function taking jsonb');

SELECT lives_ok($$SELECT trail.delete_rule('api-3')$$, 'delete_rule');
SELECT is((SELECT count(*) FROM trail.describe_rules() WHERE name = 'api-3'), 0::bigint, '... the rule is gone');
SELECT is(pg_temp.err($$SELECT trail.delete_rule('api-3')$$),
	'42704 ResourceNotFoundException: rule api-3 does not exist', 'delete_rule of a deleted rule: 42704');
SELECT is(pg_temp.err($$SELECT trail.enable_rule('nope')$$),
	'42704 ResourceNotFoundException: rule nope does not exist', 'enable_rule of an unknown rule: 42704');
SELECT is(pg_temp.err($$SELECT trail.disable_rule('nope')$$),
	'42704 ResourceNotFoundException: rule nope does not exist', 'disable_rule of an unknown rule: 42704');

------------------------------------------------------------------------------
-- The events each call records
------------------------------------------------------------------------------
CREATE TEMP TABLE c0 AS SELECT pg_temp.n_calls() AS n;
SELECT lives_ok($$SELECT trail.put_rule('ev-1', '{"detail": {"eventName": ["CreateTable"]}}', 'notify:ev_chan', 'an event')$$,
	'(a rule for the events)');
SELECT is(pg_temp.n_calls(), (SELECT n + 1 FROM c0), 'put_rule records one event');
SELECT results_eq(
	$$SELECT event_category, event_type, event_source, read_only, management_event, user_name, error_code,
	         request_parameters, resources
	    FROM pg_temp.last_event('PutRule')$$,
	$$VALUES ('Management'::text, 'AwsApiCall'::text, 'trail.postgresql'::text, false, true, current_user::text COLLATE "default", NULL::text,
	          '{"name": "ev-1", "eventPattern": {"detail": {"eventName": ["CreateTable"]}}, "target": "notify:ev_chan", "state": "ENABLED"}'::jsonb,
	          jsonb_build_array(jsonb_build_object('ARN', pg_temp.rule_arn('ev-1'), 'name', 'ev-1',
	                                               'type', 'PG::Rule', 'accountId', pg_temp.account())))$$,
	'... PutRule: a management API call of trail.postgresql by the caller, its parameters, the PG::Rule resource');
SELECT lives_ok($$SELECT trail.disable_rule('ev-1')$$, '(disable it)');
SELECT results_eq($$SELECT request_parameters, resources->0->>'ARN', resources->0->>'type' FROM pg_temp.last_event('DisableRule')$$,
	$$VALUES ('{"name": "ev-1"}'::jsonb, pg_temp.rule_arn('ev-1'), 'PG::Rule'::text)$$, '... DisableRule: the name and the rule');
SELECT lives_ok($$SELECT trail.enable_rule('ev-1')$$, '(enable it)');
SELECT results_eq($$SELECT request_parameters, resources->0->>'ARN', event_source FROM pg_temp.last_event('EnableRule')$$,
	$$VALUES ('{"name": "ev-1"}'::jsonb, pg_temp.rule_arn('ev-1'), 'trail.postgresql'::text)$$, '... EnableRule: the name and the rule');
SELECT lives_ok($$SELECT trail.delete_rule('ev-1')$$, '(delete it)');
SELECT results_eq($$SELECT request_parameters, resources->0->>'ARN', event_source FROM pg_temp.last_event('DeleteRule')$$,
	$$VALUES ('{"name": "ev-1"}'::jsonb, pg_temp.rule_arn('ev-1'), 'trail.postgresql'::text)$$, '... DeleteRule: the name and the rule');
SELECT is(pg_temp.n_calls(), (SELECT n + 4 FROM c0), 'four calls, four events');

------------------------------------------------------------------------------
-- Invalid input: refused with its SQLSTATE and message; nothing changes
------------------------------------------------------------------------------
CREATE TEMP TABLE before AS SELECT pg_temp.rules() AS rules, pg_temp.n_calls() AS calls;
CREATE TEMP TABLE bad (n serial, what text, call text, expected text);
INSERT INTO bad (what, call, expected) VALUES
('an empty name', $$SELECT trail.put_rule('', '{"source": ["x"]}', 'notify:c')$$,
	'22023 ValidationException: rule name "" must have 1 to 64 characters'),
('a 65-character name', format($$SELECT trail.put_rule(%L, '{"source": ["x"]}', 'notify:c')$$, repeat('n', 65)),
	format('22023 ValidationException: rule name "%s" must have 1 to 64 characters', repeat('n', 65))),
('a name with a space', $$SELECT trail.put_rule('bad name', '{"source": ["x"]}', 'notify:c')$$,
	'22023 ValidationException: rule name "bad name" may contain only letters, digits, ''.'', ''-'' and ''_'''),
('a name with a slash', $$SELECT trail.put_rule('a/b', '{"source": ["x"]}', 'notify:c')$$,
	'22023 ValidationException: rule name "a/b" may contain only letters, digits, ''.'', ''-'' and ''_'''),
('a name with a non-ASCII letter', $$SELECT trail.put_rule('rüle', '{"source": ["x"]}', 'notify:c')$$,
	'22023 ValidationException: rule name "rüle" may contain only letters, digits, ''.'', ''-'' and ''_'''),
('a NULL name', $$SELECT trail.put_rule(NULL, '{"source": ["x"]}', 'notify:c')$$,
	'22023 ValidationException: name must not be NULL'),
('a NULL pattern', $$SELECT trail.put_rule('x', NULL, 'notify:c')$$,
	'22023 ValidationException: event_pattern must not be NULL'),
('a NULL target', $$SELECT trail.put_rule('x', '{"source": ["x"]}', NULL)$$,
	'22023 ValidationException: target must not be NULL'),
('an empty pattern', $$SELECT trail.put_rule('x', '{}', 'notify:c')$$,
	'22023 InvalidEventPatternException: event pattern: an object in a pattern must name at least one field'),
('a pattern that is an array', $$SELECT trail.put_rule('x', '[{"source": ["x"]}]', 'notify:c')$$,
	'22023 InvalidEventPatternException: event pattern: must be a JSON object, not an array'),
('a leaf that is not an array', $$SELECT trail.put_rule('x', '{"source": "x"}', 'notify:c')$$,
	'22023 InvalidEventPatternException: source: a pattern''s leaves must be arrays, not a string'),
('a bad numeric matcher', $$SELECT trail.put_rule('x', '{"detail": {"y": [{"numeric": [">"]}]}}', 'notify:c')$$,
	'22023 InvalidEventPatternException: detail.y[0].numeric: must be an array of one or two comparisons, like [">", 0, "<=", 5]'),
('an empty channel', $$SELECT trail.put_rule('x', '{"source": ["x"]}', 'notify:')$$,
	'22023 ValidationException: target "notify:": a channel name has 1 to 63 characters'),
('a 64-character channel', format($$SELECT trail.put_rule('x', '{"source": ["x"]}', %L)$$, 'notify:' || repeat('c', 64)),
	format('22023 ValidationException: target "notify:%s": a channel name has 1 to 63 characters', repeat('c', 64))),
('a channel with a dash', $$SELECT trail.put_rule('x', '{"source": ["x"]}', 'notify:a-b')$$,
	'22023 ValidationException: target "notify:a-b": a channel name may contain only letters, digits and ''_'''),
('another kind of target', $$SELECT trail.put_rule('x', '{"source": ["x"]}', 'sns:topic')$$,
	'22023 ValidationException: target "sns:topic" must be notify:<channel> or function:<schema.name>'),
('an upper-case kind', $$SELECT trail.put_rule('x', '{"source": ["x"]}', 'NOTIFY:c')$$,
	'22023 ValidationException: target "NOTIFY:c" must be notify:<channel> or function:<schema.name>'),
('a function without its schema', $$SELECT trail.put_rule('x', '{"source": ["x"]}', 'function:unqualified')$$,
	'22023 ValidationException: target "function:unqualified": no function schema.name(jsonb) of that name'),
('a function that does not exist', $$SELECT trail.put_rule('x', '{"source": ["x"]}', 'function:rt.nope')$$,
	'22023 ValidationException: target "function:rt.nope": no function schema.name(jsonb) of that name'),
('a function in a schema that does not exist', $$SELECT trail.put_rule('x', '{"source": ["x"]}', 'function:nope.nope')$$,
	'22023 ValidationException: target "function:nope.nope": no function schema.name(jsonb) of that name'),
('a function not taking jsonb', $$SELECT trail.put_rule('x', '{"source": ["x"]}', 'function:rt.wrong_args')$$,
	'22023 ValidationException: target "function:rt.wrong_args": no function schema.name(jsonb) of that name'),
('a function target without a name', $$SELECT trail.put_rule('x', '{"source": ["x"]}', 'function:')$$,
	'22023 ValidationException: target "function:"%'),
('a function name of four parts', $$SELECT trail.put_rule('x', '{"source": ["x"]}', 'function:a.b.c.d')$$,
	'22023 ValidationException: target "function:a.b.c.d"%'),
('a function target with its arguments', $$SELECT trail.put_rule('x', '{"source": ["x"]}', 'function:rt.t_catch(jsonb)')$$,
	'22023 ValidationException: target "function:rt.t_catch(jsonb)"%'),
('a 513-character description', $$SELECT trail.put_rule('x', '{"source": ["x"]}', 'notify:c', repeat('d', 513))$$,
	'22023 ValidationException: description must have at most 512 characters'),
('delete_rule(NULL)', $$SELECT trail.delete_rule(NULL)$$, '22023 ValidationException: name must not be NULL'),
('enable_rule(NULL)', $$SELECT trail.enable_rule(NULL)$$, '22023 ValidationException: name must not be NULL'),
('disable_rule(NULL)', $$SELECT trail.disable_rule(NULL)$$, '22023 ValidationException: name must not be NULL');

SELECT alike(pg_temp.err(call), expected, format('refused: %s', what))
  FROM bad ORDER BY n;
SELECT is(pg_temp.rules(), (SELECT rules FROM before), 'after the refused calls, describe_rules is unchanged');
SELECT is(pg_temp.n_calls(), (SELECT calls FROM before), '... and no event was recorded for any of them');

------------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------------
SET ROLE regress_tap_rules_plain;
SELECT is(pg_temp.code(q), '42501', format('an ordinary role cannot %s', d))
  FROM (VALUES
	(1, 'put a rule', $$SELECT trail.put_rule('p', '{"source": ["x"]}', 'notify:c')$$),
	(2, 'delete a rule', $$SELECT trail.delete_rule('api-2')$$),
	(3, 'enable a rule', $$SELECT trail.enable_rule('api-2')$$),
	(4, 'disable a rule', $$SELECT trail.disable_rule('api-2')$$),
	(5, 'describe the rules', $$SELECT * FROM trail.describe_rules()$$),
	(6, 'read trail.rules', $$SELECT * FROM trail.rules$$),
	(7, 'test an event pattern', $$SELECT trail.test_event_pattern('{"a": [1]}', '{"a": 1}')$$)) v(i, d, q)
 ORDER BY i;
RESET ROLE;

CREATE TEMP TABLE names AS SELECT array_agg(name ORDER BY name) AS names FROM trail.describe_rules();
GRANT SELECT ON names TO PUBLIC;
SET ROLE regress_tap_rules_reader;
SELECT is((SELECT array_agg(name ORDER BY name) FROM trail.describe_rules()), (SELECT names FROM names),
	'trail_reader describes the rules');
SELECT is(trail.test_event_pattern('{"a": [1]}', '{"a": 1}'), true, 'trail_reader tests event patterns');
SELECT is(pg_temp.code(q), '42501', format('trail_reader cannot %s', d))
  FROM (VALUES
	(1, 'put a rule', $$SELECT trail.put_rule('p', '{"source": ["x"]}', 'notify:c')$$),
	(2, 'delete a rule', $$SELECT trail.delete_rule('api-2')$$),
	(3, 'enable a rule', $$SELECT trail.enable_rule('api-2')$$),
	(4, 'disable a rule', $$SELECT trail.disable_rule('api-2')$$)) v(i, d, q)
 ORDER BY i;
RESET ROLE;
SELECT is(pg_temp.rules(), (SELECT rules FROM before), '(the rules are unchanged)');

SET ROLE regress_tap_rules_admin;
SELECT lives_ok($$SELECT trail.put_rule('admin-notify', '{"source": ["postgresql.ddl"]}', 'notify:admin_chan')$$,
	'a member of trail_admin puts a rule');
SELECT lives_ok($$SELECT trail.disable_rule('admin-notify')$$, '... disables it');
SELECT lives_ok($$SELECT trail.enable_rule('admin-notify')$$, '... enables it');
SELECT is((SELECT owner || ' ' || state FROM trail.describe_rules() WHERE name = 'admin-notify'),
	'regress_tap_rules_admin ENABLED', '... describes it: the member owns it');
SELECT lives_ok($$SELECT trail.delete_rule('admin-notify')$$, '... deletes it');
SELECT is((SELECT user_identity::text LIKE '%regress_tap_rules_admin%' FROM pg_temp.last_event('PutRule')),
	true, '... and its PutRule names it');
CREATE FUNCTION rt.t_admin(e jsonb) RETURNS void LANGUAGE sql AS
	$$ INSERT INTO rt.sink (tag, env, who) VALUES ('admin', e, current_user) $$;
SELECT lives_ok($$SELECT trail.put_rule('admin-fn',
	'{"detail": {"requestParameters": {"statement": ["CREATE TABLE rt.admin_probe (id int)"]}}}', 'function:rt.t_admin')$$,
	'a member of trail_admin puts a rule with its own function as target');
-- a function the member may not execute (and that runs as its superuser owner)
SELECT pg_temp.err($$SELECT trail.put_rule('admin-secret',
	'{"detail": {"requestParameters": {"statement": ["CREATE TABLE rt.secret_probe (id int)"]}}}', 'function:rt.secret')$$)
	AS admin_secret \gset
RESET ROLE;
CREATE TABLE rt.admin_probe (id int);
SELECT is((SELECT who || ' ' || (env->'detail'->>'eventName') FROM rt.sink WHERE tag = 'admin'),
	'regress_tap_rules_admin CreateTable', 'its function target is called as the member (a superuser ran the DDL)');
CREATE TABLE rt.secret_probe (id int);
SELECT is(pg_temp.n_sink('secret'), 0::bigint,
	format('a rule cannot have trail call a function its owner may not execute (put_rule said: %s)', :'admin_secret'));
SELECT pg_temp.err($$SELECT trail.delete_rule('admin-secret')$$) IS NOT NULL AS x \gset
SELECT trail.delete_rule('admin-fn') IS NULL AS x \gset

------------------------------------------------------------------------------
-- Function targets: called with the envelope, as the rule's owner
------------------------------------------------------------------------------
SELECT trail.put_rule('catch', '{"source": ["postgresql.ddl"], "detail": {"eventName": ["CreateTable"],
	"requestParameters": {"statement": [{"prefix": "CREATE TABLE rt.f_"}]}}}', 'function:rt.t_catch') IS NULL AS x \gset
SELECT trail.put_rule('trail-watch', '{"source": ["postgresql.trail"]}', 'function:rt.t_trail') IS NULL AS x \gset
SELECT trail.put_rule('service', '{"detail-type": ["AWS Service Event via CloudTrail"]}', 'function:rt.t_service') IS NULL AS x \gset
SELECT trail.put_rule('iam', '{"source": ["postgresql.iam"], "detail": {"eventName": ["CreateRole"]}}', 'function:rt.t_iam') IS NULL AS x \gset

CREATE TABLE rt.f_one (id int PRIMARY KEY);
SELECT is(pg_temp.n_sink('catch'), 1::bigint, 'a matching DDL statement: the function target is called once');
SELECT results_eq(
	$$SELECT env->>'version', env->>'detail-type', env->>'source', env->>'account', env->>'region',
	         env->>'time', env->'resources', env->'detail'->>'eventName', who
	    FROM rt.sink WHERE tag = 'catch'$$,
	$$SELECT '0'::text, 'AWS API Call via CloudTrail'::text, 'postgresql.ddl'::text, pg_temp.account(),
	         current_database()::text COLLATE "default", to_char(e.event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
	         (SELECT jsonb_agg(r->'ARN') FROM jsonb_array_elements(e.resources) r), 'CreateTable'::text, current_user
	    FROM pg_temp.stmt_event('CREATE TABLE rt.f_one (id int PRIMARY KEY)') e$$,
	'... with the envelope: version 0, detail-type, source postgresql.ddl, account, region, time, the ARNs, as the owner');
SELECT is((SELECT env->'resources' ? trail.table_arn('rt.f_one') FROM rt.sink WHERE tag = 'catch'), true,
	'... resources holds the ARN of the table');
SELECT is((SELECT env->'detail' FROM rt.sink WHERE tag = 'catch'),
	(SELECT trail.cloudtrail_record(e) FROM pg_temp.stmt_event('CREATE TABLE rt.f_one (id int PRIMARY KEY)') e),
	'... detail is the CloudTrail record of the stored event');
SELECT is((SELECT env->>'id' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                  AND env->>'id' <> env->'detail'->>'eventID' FROM rt.sink WHERE tag = 'catch'),
	true, '... id is a UUID of its own');
CREATE TABLE rt.g_other (id int);
SELECT is(pg_temp.n_sink('catch'), 1::bigint, 'a DDL statement the pattern does not match: not called');

SELECT trail.disable_rule('catch') IS NULL AS x \gset
CREATE TABLE rt.f_two (id int);
SELECT is(pg_temp.n_sink('catch'), 1::bigint, 'a disabled rule: not called');
SELECT trail.enable_rule('catch') IS NULL AS x \gset
CREATE TABLE rt.f_three (id int);
SELECT is(pg_temp.n_sink('catch') || ' ' || (pg_temp.last_env('catch')->'detail'->'requestParameters'->>'statement'),
	'2 CREATE TABLE rt.f_three (id int)', 'enabled again: called');

-- a rule put in a transaction that rolls back
BEGIN;
SELECT trail.put_rule('tx-rule', '{"detail": {"requestParameters": {"statement": [{"prefix": "CREATE TABLE rt.tx_"}]}}}',
                      'function:rt.t_other') IS NULL AS x \gset
CREATE TABLE rt.tx_1 (id int);
SELECT pg_temp.n_sink('other') AS in_tx \gset
ROLLBACK;
CREATE TABLE rt.tx_2 (id int);
SELECT is(:in_tx::bigint, 1::bigint, 'a rule put in a transaction matches in that transaction');
SELECT is(pg_temp.n_sink('other'), 0::bigint, '... and after its ROLLBACK, no more: not called');

-- a rule put by another session, once committed
SELECT format('SELECT trail.put_rule(%L, %L, %L)', 'other-session',
              '{"detail": {"requestParameters": {"statement": ["CREATE TABLE rt.cross_1 (id int)"]}}}',
              'function:rt.t_other') AS put_other \gset
\set other_out `psql -X -q -At -c :'put_other' 2>&1`
SELECT is(:'other_out'::text, format('{"RuleArn": "%s"}', pg_temp.rule_arn('other-session')), '(another session puts a rule)');
CREATE TABLE rt.cross_1 (id int);
SELECT is(pg_temp.n_sink('other'), 1::bigint, 'a rule another session put is matched at this session''s next statement');

------------------------------------------------------------------------------
-- The envelope of other sources: service, IAM, trail, data
------------------------------------------------------------------------------
CREATE TEMP TABLE mark AS SELECT event_id FROM trail.events ORDER BY event_id DESC LIMIT 1;
SELECT count(*) > 0 AS made FROM trail.run_maintenance(now() + interval '40 days') \gset
SELECT is(:'made'::text, 't', '(maintenance made partitions for days ahead)');
SELECT is((SELECT array_agg(env->'detail'->>'eventID' ORDER BY env->'detail'->>'eventID') FROM rt.sink WHERE tag = 'service'),
	(SELECT array_agg(event_id::text ORDER BY event_id::text) FROM trail.events
	  WHERE event_type = 'AwsServiceEvent' AND event_id > (SELECT event_id FROM mark)),
	'a rule on detail-type "AWS Service Event via CloudTrail" gets exactly the service events of maintenance');
SELECT results_eq(
	$$SELECT env->>'detail-type', env->>'source', env->'detail'->>'eventType', env->'detail'->>'eventName', env->'resources'
	    FROM rt.sink WHERE tag = 'service' ORDER BY n LIMIT 1$$,
	$$SELECT 'AWS Service Event via CloudTrail'::text, 'postgresql.ddl'::text, 'AwsServiceEvent'::text, 'CreateTable'::text,
	         (SELECT jsonb_agg(r->'ARN') FROM jsonb_array_elements(e.resources) r)
	    FROM trail.events e WHERE e.event_id::text = (SELECT env->'detail'->>'eventID' FROM rt.sink WHERE tag = 'service' ORDER BY n LIMIT 1)$$,
	'... each with detail-type "AWS Service Event via CloudTrail", its eventType and its two partitions'' ARNs');

CREATE ROLE regress_tap_rules_iam;
SELECT results_eq(
	$$SELECT env->>'source', env->>'detail-type', env->'detail'->>'eventSource', env->'resources' FROM rt.sink WHERE tag = 'iam'$$,
	$$SELECT 'postgresql.iam'::text, 'AWS API Call via CloudTrail'::text, 'iam.postgresql'::text,
	         (SELECT jsonb_agg(r->'ARN') FROM jsonb_array_elements(e.resources) r)
	    FROM pg_temp.stmt_event('CREATE ROLE regress_tap_rules_iam') e$$,
	'CREATE ROLE: source postgresql.iam (eventSource iam.postgresql), the role''s ARN');

SELECT results_eq(
	$$SELECT env->>'source', env->'detail'->>'eventName', env->'resources', env->'detail'->'requestParameters'->>'target'
	    FROM rt.sink WHERE tag = 'trail' AND env->'detail'->'requestParameters'->>'name' = 'iam'$$,
	$$VALUES ('postgresql.trail'::text, 'PutRule'::text, jsonb_build_array(pg_temp.rule_arn('iam')), 'function:rt.t_iam'::text)$$,
	'a rule on source postgresql.trail gets trail''s own API calls (the PutRule of a later rule)');
SELECT is((SELECT count(*) FROM rt.sink WHERE tag = 'trail' AND env->'detail'->'requestParameters'->>'name' = 'other-session'),
	1::bigint, '... also one another session made');

-- data events: statement events, and row events (not the statement heading them)
CREATE TABLE rt.d (id int PRIMARY KEY, v text);
SELECT trail.update_event_data_store(jsonb_build_array(jsonb_build_object('Name', 'rt.d', 'FieldSelectors', jsonb_build_array(
	'{"Field": "eventCategory", "Equals": ["Data"]}'::jsonb,
	'{"Field": "resources.type", "Equals": ["PG::Table"]}'::jsonb,
	jsonb_build_object('Field', 'resources.ARN', 'Equals', jsonb_build_array(trail.table_arn('rt.d'))))))) IS NULL AS x \gset
SELECT trail.set_capture_options('rt.d', 'full') IS NULL AS x \gset
SELECT trail.put_rule('data', '{"source": ["postgresql.table"], "detail": {"requestParameters": {"tableName": ["rt.d"]}}}',
                      'function:rt.t_data') IS NULL AS x \gset
INSERT INTO rt.d VALUES (1, 'a'), (2, 'b');
UPDATE rt.d SET v = 'c' WHERE id = 1;
SELECT count(*) AS x FROM rt.d \gset
SELECT is((SELECT array_agg(env->'detail'->>'eventID' ORDER BY env->'detail'->>'eventID') FROM rt.sink WHERE tag = 'data'),
	(SELECT array_agg(event_id::text ORDER BY event_id::text) FROM trail.data_events WHERE request_parameters->>'tableName' = 'rt.d'),
	'a rule on data events gets exactly the data events of the table (3 row events, 1 read), by eventID');
SELECT is((SELECT string_agg(env->'detail'->>'eventName', ',' ORDER BY n) FROM rt.sink WHERE tag = 'data'),
	'Insert,Insert,Update,Select', '... in the order they happened');
SELECT is((SELECT count(*) FROM rt.sink s JOIN trail.data_events d ON d.event_id::text = s.env->'detail'->>'eventID'
            WHERE s.tag = 'data' AND s.env->'detail' = trail.cloudtrail_record(d)),
	4::bigint, '... each detail the CloudTrail record of its data event');
SELECT results_eq(
	$$SELECT env->>'source', env->>'detail-type', env->'resources', env->'detail'->'requestParameters'->'oldImage'
	    FROM rt.sink WHERE tag = 'data' AND env->'detail'->>'eventName' = 'Update'$$,
	$$VALUES ('postgresql.table'::text, 'AWS API Call via CloudTrail'::text, jsonb_build_array(trail.table_arn('rt.d')),
	          '{"id": 1, "v": "a"}'::jsonb)$$,
	'... source postgresql.table, the table''s ARN, the row images');

------------------------------------------------------------------------------
-- A failing function target: undone, recorded, the user's work goes on
------------------------------------------------------------------------------
SELECT trail.put_rule('fail', '{"detail": {"requestParameters": {"statement": [{"prefix": "CREATE TABLE rt.fail_"}]}}}',
                      'function:rt.t_fail') IS NULL AS x \gset
SET client_min_messages = error;
SELECT lives_ok('CREATE TABLE rt.fail_1 (id int)', 'a DDL statement whose function target fails succeeds');
RESET client_min_messages;
SELECT is((SELECT event_name FROM pg_temp.stmt_event('CREATE TABLE rt.fail_1 (id int)')), 'CreateTable',
	'... the table exists and has its event');
SELECT is(pg_temp.n_sink('fail'), 0::bigint, '... what the function wrote before failing is undone');
SELECT results_eq(
	$$SELECT event_category, event_type, event_source, error_code, error_message, request_parameters->>'rule',
	         request_parameters->>'eventId', request_parameters->>'target' LIKE 'function:rt.t_fail%', resources->0->>'ARN'
	    FROM pg_temp.last_event('InvokeRuleTarget')$$,
	$$SELECT 'Management'::text, 'AwsServiceEvent'::text, 'trail.postgresql'::text, '22012'::text, 'boom: CreateTable'::text,
	         'fail'::text, e.event_id::text, true, pg_temp.rule_arn('fail')
	    FROM pg_temp.stmt_event('CREATE TABLE rt.fail_1 (id int)') e$$,
	'... the failure is an InvokeRuleTarget event: the error code and message, the rule, the target, the event');
SELECT is((SELECT count(*) FROM rt.sink WHERE env->'detail'->>'eventName' = 'InvokeRuleTarget'), 0::bigint,
	'... which triggers no rule (the service rule matches it)');
\set fail_out `psql -X -q -c 'CREATE TABLE rt.fail_2 (id int)' 2>&1`
SELECT matches(:'fail_out'::text, 'WARNING:  trail: the target of rule fail failed: boom: CreateTable',
	'... and is logged as a WARNING (another session)');
SELECT is((SELECT count(*) FROM trail.events WHERE event_name = 'InvokeRuleTarget'), 2::bigint,
	'... one InvokeRuleTarget event per failure');

------------------------------------------------------------------------------
-- Events a target causes trigger no rule; a deleted rule is not called
------------------------------------------------------------------------------
SELECT trail.put_rule('loop', '{"detail": {"eventName": ["CreateTable"], "requestParameters": {"statement":
	[{"prefix": "CREATE TABLE rt.loop"}, {"prefix": "CREATE TABLE IF NOT EXISTS rt.loop"}]}}}', 'function:rt.t_loop') IS NULL AS x \gset
CREATE TABLE rt.loop_1 (id int);
SELECT is(pg_temp.n_sink('loop'), 1::bigint, 'a target running DDL its own rule matches is called once');
SELECT is((SELECT event_name FROM pg_temp.stmt_event('CREATE TABLE IF NOT EXISTS rt.loop_by_target (id int)')),
	'CreateTable', '... and the DDL it ran has its event');

SELECT trail.delete_rule('catch') IS NULL AS x \gset
CREATE TABLE rt.f_four (id int);
SELECT is(pg_temp.n_sink('catch'), 2::bigint, 'a deleted rule is not called');

------------------------------------------------------------------------------
-- The target function of a rule is dropped: events still work
------------------------------------------------------------------------------
CREATE FUNCTION rt.t_doomed(e jsonb) RETURNS void LANGUAGE sql AS
	$$ INSERT INTO rt.sink (tag, env, who) VALUES ('doomed', e, current_user) $$;
SELECT trail.put_rule('doomed', '{"detail": {"requestParameters": {"statement": [{"prefix": "CREATE TABLE rt.doomed_"}]}}}',
                      'function:rt.t_doomed') IS NULL AS x \gset
CREATE TABLE rt.doomed_1 (id int);
SELECT is(pg_temp.n_sink('doomed'), 1::bigint, '(the target is called)');
-- a new session drops the function, then runs DDL
\set drop_out `psql -X -q -c 'DROP FUNCTION rt.t_doomed(jsonb)' -c 'CREATE TABLE rt.doomed_same_session (id int)' 2>&1 | grep ERROR`
SELECT is(:'drop_out'::text, '', 'a new session drops the target function of a rule: no error');
SELECT is((to_regclass('rt.doomed_same_session') IS NOT NULL)::text || ' '
          || coalesce((SELECT event_name FROM pg_temp.stmt_event('CREATE TABLE rt.doomed_same_session (id int)')), 'no event'),
	'true CreateTable', '... the next DDL statement of that session runs and is recorded');
SET client_min_messages = error;
DROP FUNCTION IF EXISTS rt.t_doomed(jsonb);
SELECT lives_ok('CREATE TABLE rt.doomed_2 (id int)',
	'a session that loaded the rule before the function was dropped runs DDL the rule matches');
RESET client_min_messages;
SELECT is((SELECT event_name FROM pg_temp.stmt_event('CREATE TABLE rt.doomed_2 (id int)')), 'CreateTable',
	'... recorded');
\set new_out `psql -X -q -c 'CREATE TABLE rt.doomed_3 (id int)' 2>&1 | grep ERROR`
SELECT is(:'new_out'::text, '', 'a new session runs DDL the rule matches after its function was dropped: no error');
SELECT is((SELECT event_name FROM pg_temp.stmt_event('CREATE TABLE rt.doomed_3 (id int)')), 'CreateTable',
	'... the table exists and has its event');
\set del_out `psql -X -q -c "SELECT trail.delete_rule('doomed')" 2>&1 | grep ERROR`
SELECT is(:'del_out'::text, '', 'a new session deletes the rule whose function was dropped');
-- back to a working state, whatever happened
SET client_min_messages = error;
CREATE OR REPLACE FUNCTION rt.t_doomed(e jsonb) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SELECT pg_temp.err($$SELECT trail.delete_rule('doomed')$$) IS NULL AS x \gset
DROP FUNCTION rt.t_doomed(jsonb);
RESET client_min_messages;

------------------------------------------------------------------------------
-- Rules without names to prefilter on are first tried on what is known of
-- an event before its record is made (source address, user agent, error
-- code, names ignoring case): that must never lose a match, nor invent one.
------------------------------------------------------------------------------
DELETE FROM rt.sink;
SELECT lives_ok($$SELECT trail.put_rule('known-1', '{"detail": {"eventName": [{"equals-ignore-case": "createsequence"}],
                   "sourceIPAddress": [{"anything-but": {"prefix": "10."}}], "errorCode": [{"exists": false}],
                   "userAgent": [{"anything-but": "nobody"}]}}', 'function:rt.t_catch')$$,
                'a rule on fields known before the record: names ignoring case, address, agent, no error');
SELECT lives_ok($$SELECT trail.put_rule('known-2', '{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/8"}]}}',
                   'function:rt.t_other')$$, 'a rule no local session can match (an address range)');
SELECT lives_ok($$SELECT trail.put_rule('known-3', '{"$or": [{"detail": {"userAgent": [{"prefix": "zz-"}]}},
                   {"detail": {"eventName": [{"suffix": "Sequence"}], "requestParameters": {"statement": [{"prefix": "CREATE SEQUENCE rt.known"}]}}}]}',
                   'function:rt.t_service')$$, 'a rule whose $or needs the record for its second alternative');
CREATE SEQUENCE rt.known_seq;
SELECT is(pg_temp.n_sink('catch'), 1::bigint, 'the first rule matched CREATE SEQUENCE');
SELECT is(pg_temp.last_env('catch')->'detail'->>'eventName', 'CreateSequence', '... with its record');
SELECT is(pg_temp.n_sink('other'), 0::bigint, 'the address range matched nothing');
SELECT is(pg_temp.n_sink('service'), 1::bigint, 'the $or rule matched through the record');
SELECT is(pg_temp.last_env('service')->'detail'->'requestParameters'->>'statement', 'CREATE SEQUENCE rt.known_seq',
          '... the whole record');
SELECT is(pg_temp.code($$CREATE SEQUENCE rt.known_seq$$), '42P07', 'a failing CREATE SEQUENCE');
SELECT is(pg_temp.n_sink('catch'), 1::bigint, '... does not match a rule that wants no errorCode (nothing stored yet either)');
SELECT lives_ok($$SELECT trail.delete_rule('known-1'), trail.delete_rule('known-2'), trail.delete_rule('known-3')$$,
                'the rules are deleted');

------------------------------------------------------------------------------
-- trail.log_events: a superuser setting, validated
------------------------------------------------------------------------------
SELECT is(current_setting('trail.log_events'), '', 'trail.log_events is empty (nothing logged) by default');
SELECT is(pg_temp.err($$SET trail.log_events = 'bogus'$$),
	'22023 invalid value for parameter "trail.log_events": "bogus"', 'SET trail.log_events = ''bogus'' fails');
SELECT is(pg_temp.code($$SET trail.log_events = 'management data'$$), '22023', '... as does a list without commas');
SELECT is(pg_temp.code($$SET trail.log_events = 'management,,data'$$), '22023', '... and an empty element');
SELECT is(pg_temp.code($$SET trail.log_events = 'management, data, insights'$$), '22023', '... and a near miss');
SELECT is(current_setting('trail.log_events'), '', '... which leave it unchanged');
SELECT lives_ok($$SET trail.log_events = 'Management, DATA,insight'$$, 'a superuser sets the three categories (any case)');
SELECT is(current_setting('trail.log_events'), 'Management, DATA,insight', '... and it holds them');
SELECT lives_ok($$SET trail.log_events = ''$$, '... and sets it empty again');
SET ROLE regress_tap_rules_plain;
SELECT is(pg_temp.err($$SET trail.log_events = 'management'$$),
	'42501 permission denied to set parameter "trail.log_events"', 'an ordinary role cannot set trail.log_events');
RESET ROLE;
SET ROLE regress_tap_rules_admin;
SELECT is(pg_temp.code($$SET trail.log_events = 'management'$$), '42501', '... nor can a member of trail_admin');
RESET ROLE;

SELECT * FROM finish();

\set QUIET 1
SET client_min_messages = warning;
SELECT count(trail.delete_rule(name)) AS x FROM trail.describe_rules() \gset
DROP OWNED BY regress_tap_rules_admin;
DROP ROLE IF EXISTS regress_tap_rules_plain;
DROP ROLE IF EXISTS regress_tap_rules_reader;
DROP ROLE IF EXISTS regress_tap_rules_admin;
DROP ROLE IF EXISTS regress_tap_rules_iam;
