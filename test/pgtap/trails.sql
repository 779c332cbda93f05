-- trails: CloudTrail's trail API (spec section g) as SQL functions:
-- trail.create_trail, update_trail, delete_trail, start_logging,
-- stop_logging, put_event_selectors, get_event_selectors, describe_trails,
-- get_trail_status; the names they accept and refuse (a refused call changes
-- nothing, and no bucket or prefix can lead out of trail.log_directory); the
-- management event every call records; who may call what; and the keys that
-- sign digests (list_public_keys, rotate_public_key), whose private halves no
-- function returns.
--
-- The file runs in autocommit mode, in the fresh database test.sh makes for
-- it: every call commits, so a refused call that left a row or an event
-- behind would show.  Delivery is not waited for here (test/system/030 and
-- 031 do that): the assertions hold whether or not the worker delivers
-- meanwhile.  The roles it creates are dropped at the end.
\set QUIET 1
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_tap_trails_plain;
DROP ROLE IF EXISTS regress_tap_trails_admin;
DROP ROLE IF EXISTS regress_tap_trails_reader;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS trail;
RESET client_min_messages;

SELECT plan(246);

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------
-- a trail's ARN: arn:postgresql:trail:<database>:<system identifier>:trail/<name>
-- (and the events before this file ran, which the counts below leave out)
CREATE TEMP TABLE ctx AS
SELECT system_identifier::text AS account,
       (SELECT coalesce(max(commit_seq), 0) FROM trail.events) AS seq0
  FROM pg_control_system();
GRANT SELECT ON ctx TO PUBLIC;
CREATE FUNCTION pg_temp.arn(name text) RETURNS text LANGUAGE sql AS $$
	SELECT 'arn:postgresql:trail:' || current_database() || ':' || (SELECT account FROM ctx) || ':trail/' || name
$$;
-- how a statement fails: '<SQLSTATE> <message>', or 'no error'
CREATE FUNCTION pg_temp.failure(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;
-- the events of trail.postgresql named so, about a trail (since the file began)
CREATE FUNCTION pg_temp.calls(event text, trail text) RETURNS int LANGUAGE sql AS $$
	SELECT count(*)::int FROM trail.events
	 WHERE event_source = 'trail.postgresql' AND event_name = event
	   AND resources @> jsonb_build_array(jsonb_build_object('ARN', pg_temp.arn(trail)))
	   AND commit_seq > (SELECT seq0 FROM ctx)
$$;
-- the newest such event
CREATE FUNCTION pg_temp.last_call(event text, trail text) RETURNS trail.events LANGUAGE sql AS $$
	SELECT e FROM trail.events e
	 WHERE event_source = 'trail.postgresql' AND event_name = event
	   AND resources @> jsonb_build_array(jsonb_build_object('ARN', pg_temp.arn(trail)))
	 ORDER BY commit_seq DESC, event_id DESC LIMIT 1
$$;
-- everything a trail call could change: the trails, their delivery state
-- rows (not the columns the worker moves), and the number of events of
-- trail.postgresql of calls that succeeded (a failed call may be recorded,
-- with its errorCode, as CloudTrail does)
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
	SELECT coalesce((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.name) FROM trail.trails t)::text, '[]')
	       || ' | ' || coalesce((SELECT string_agg(trail_name || '/' || region, ',' ORDER BY trail_name, region)
	                               FROM trail.trail_state), '')
	       || ' | ' || (SELECT count(*) FROM trail.events WHERE event_source = 'trail.postgresql' AND error_code IS NULL)
$$;
CREATE TEMP TABLE saved (what text PRIMARY KEY, state text);
CREATE FUNCTION pg_temp.save(what text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO saved VALUES (what, pg_temp.state())
	ON CONFLICT (what) DO UPDATE SET state = EXCLUDED.state
$$;
CREATE FUNCTION pg_temp.saved(what text) RETURNS text LANGUAGE sql AS $$
	SELECT state FROM saved WHERE saved.what = $1
$$;
-- the ISO form of a timestamp, as GetTrailStatus's string members have it
CREATE FUNCTION pg_temp.iso(t timestamptz) RETURNS text LANGUAGE sql AS $$
	SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;
-- the default selectors of a trail
CREATE FUNCTION pg_temp.default_selectors() RETURNS jsonb LANGUAGE sql AS $$
	SELECT '[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]'::jsonb
$$;
-- a selector of the writes of one table
CREATE FUNCTION pg_temp.table_selector(tbl regclass) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('Name', 'writes of ' || tbl::text, 'FieldSelectors', jsonb_build_array(
		'{"Field": "eventCategory", "Equals": ["Data"]}'::jsonb,
		'{"Field": "resources.type", "Equals": ["PG::Table"]}'::jsonb,
		jsonb_build_object('Field', 'resources.ARN', 'Equals', jsonb_build_array(trail.table_arn(tbl)))))
$$;
CREATE FUNCTION pg_temp.captured(tbl regclass) RETURNS boolean LANGUAGE sql AS $$
	SELECT EXISTS (SELECT 1 FROM trail.captured_tables WHERE table_id = tbl)
$$;

CREATE TABLE public.trails_orders (id int PRIMARY KEY, v text);
CREATE TABLE public.trails_other (id int PRIMARY KEY, v text);

------------------------------------------------------------------------------
-- CreateTrail with the defaults
------------------------------------------------------------------------------
SELECT is(trail.create_trail('audit-main', 'audit-bucket'),
	jsonb_build_object('Name', 'audit-main', 'S3BucketName', 'audit-bucket',
	                   'IncludeGlobalServiceEvents', true, 'IsMultiRegionTrail', false,
	                   'TrailARN', pg_temp.arn('audit-main'), 'LogFileValidationEnabled', true,
	                   'IsOrganizationTrail', false),
	'create_trail with the defaults returns the trail: no prefix, no topic, global events, one region, validation on');
SELECT matches(pg_temp.arn('audit-main'),
	'^arn:postgresql:trail:' || current_database() || ':[0-9]+:trail/audit-main$',
	'(the ARN names the database and the system identifier)');
SELECT is((SELECT to_jsonb(d) FROM trail.describe_trails() d WHERE name = 'audit-main'),
	jsonb_build_object('name', 'audit-main', 's3_bucket_name', 'audit-bucket', 's3_key_prefix', NULL,
	                   'include_global_service_events', true, 'is_multi_region_trail', false,
	                   'home_region', current_database(), 'trail_arn', pg_temp.arn('audit-main'),
	                   'log_file_validation_enabled', true, 'sns_topic_name', NULL,
	                   'has_custom_event_selectors', false, 'has_insight_selectors', false,
	                   'is_organization_trail', false, 'is_logging', true),
	'describe_trails shows it, logging, in this database as home region');
SELECT is((SELECT count(*)::int FROM trail.describe_trails()), 1, 'describe_trails lists one trail');

SELECT is(trail.get_trail_status('audit-main')->'IsLogging', 'true'::jsonb,
	'a new trail logs at once (enable_logging defaults to true)');
SELECT is((trail.get_trail_status('audit-main')->>'StartLoggingTime')::numeric,
	(SELECT extract(epoch FROM start_logging_time) FROM trail.trails WHERE name = 'audit-main'),
	'StartLoggingTime: epoch seconds of the start');
SELECT is(jsonb_typeof(trail.get_trail_status('audit-main')->'StartLoggingTime'), 'number',
	'... as a JSON number');
SELECT is(trail.get_trail_status('audit-main')->>'TimeLoggingStarted',
	(SELECT pg_temp.iso(start_logging_time) FROM trail.trails WHERE name = 'audit-main'),
	'TimeLoggingStarted: the same moment as an ISO string');
SELECT is(trail.get_trail_status('audit-main')->>'TimeLoggingStopped', '',
	'TimeLoggingStopped: "" when never stopped');
SELECT ok(NOT (trail.get_trail_status('audit-main') ?| '{StopLoggingTime,LatestDeliveryError,LatestDigestDeliveryError}'),
	'no StopLoggingTime, no delivery error');

SELECT is(trail.get_event_selectors('audit-main')->>'TrailARN', pg_temp.arn('audit-main'),
	'get_event_selectors names the trail');
SELECT is(jsonb_array_length(trail.get_event_selectors('audit-main')->'AdvancedEventSelectors'), 1,
	'a new trail has one selector ...');
SELECT is(trail.get_event_selectors('audit-main')->'AdvancedEventSelectors'->0->'FieldSelectors',
	pg_temp.default_selectors()->0->'FieldSelectors',
	'... the default one: management events');

SELECT is(pg_temp.calls('CreateTrail', 'audit-main'), 1, 'create_trail records one CreateTrail event');
SELECT is((pg_temp.last_call('CreateTrail', 'audit-main')).request_parameters,
	'{"name": "audit-main", "s3BucketName": "audit-bucket", "includeGlobalServiceEvents": true,
	  "isMultiRegionTrail": false, "enableLogFileValidation": true}'::jsonb,
	'... with the request''s settings');
SELECT is((SELECT jsonb_build_array(r->>'type', r->>'ARN', r->>'name')
             FROM jsonb_array_elements((pg_temp.last_call('CreateTrail', 'audit-main')).resources) r),
	jsonb_build_array('PG::Trail', pg_temp.arn('audit-main'), 'audit-main'),
	'... naming the trail as its one resource (PG::Trail)');
SELECT is((SELECT array[event_category, event_type, event_source, read_only::text, management_event::text]
             FROM pg_temp.last_call('CreateTrail', 'audit-main')),
	array['Management', 'AwsApiCall', 'trail.postgresql', 'false', 'true'],
	'... a management API call of trail.postgresql, not read-only');
SELECT is((pg_temp.last_call('CreateTrail', 'audit-main')).user_name, 'postgres',
	'... by the caller');

------------------------------------------------------------------------------
-- CreateTrail with every setting
------------------------------------------------------------------------------
SELECT is(trail.create_trail('audit.second_2', 'audit-bucket-2', 'org/unit-1/pg', false, true, false,
                             'audit_topic-1', false),
	jsonb_build_object('Name', 'audit.second_2', 'S3BucketName', 'audit-bucket-2',
	                   'S3KeyPrefix', 'org/unit-1/pg', 'SnsTopicName', 'audit_topic-1',
	                   'IncludeGlobalServiceEvents', false, 'IsMultiRegionTrail', true,
	                   'TrailARN', pg_temp.arn('audit.second_2'), 'LogFileValidationEnabled', false,
	                   'IsOrganizationTrail', false),
	'create_trail with every setting returns them all');
SELECT is((SELECT to_jsonb(d) FROM trail.describe_trails() d WHERE name = 'audit.second_2'),
	jsonb_build_object('name', 'audit.second_2', 's3_bucket_name', 'audit-bucket-2',
	                   's3_key_prefix', 'org/unit-1/pg', 'include_global_service_events', false,
	                   'is_multi_region_trail', true, 'home_region', current_database(),
	                   'trail_arn', pg_temp.arn('audit.second_2'), 'log_file_validation_enabled', false,
	                   'sns_topic_name', 'audit_topic-1', 'has_custom_event_selectors', false,
	                   'has_insight_selectors', false, 'is_organization_trail', false, 'is_logging', false),
	'describe_trails shows every setting, not logging');
SELECT is(trail.get_trail_status('audit.second_2'), '{"IsLogging": false, "TimeLoggingStopped": ""}'::jsonb,
	'a trail created with enable_logging => false: IsLogging false, nothing else to report');
SELECT is((pg_temp.last_call('CreateTrail', 'audit.second_2')).request_parameters,
	'{"name": "audit.second_2", "s3BucketName": "audit-bucket-2", "s3KeyPrefix": "org/unit-1/pg",
	  "snsTopicName": "audit_topic-1", "includeGlobalServiceEvents": false,
	  "isMultiRegionTrail": true, "enableLogFileValidation": false}'::jsonb,
	'its CreateTrail event has every setting');
-- a single-region trail again, so that no other database mirrors it
SELECT is(trail.update_trail('audit.second_2', is_multi_region_trail => false)->'IsMultiRegionTrail',
	'false'::jsonb, 'update_trail makes it single-region');

------------------------------------------------------------------------------
-- Names at the limits are accepted
------------------------------------------------------------------------------
SELECT is(trail.create_trail('abc', 'a.b-c', repeat('p', 200), sns_topic_name => repeat('t', 63),
                             enable_logging => false)->>'S3KeyPrefix', repeat('p', 200),
	'a 3-character trail name, a bucket with . and -, a 200-character prefix, a 63-character topic');
SELECT is(trail.create_trail(repeat('n', 128), repeat('b', 63), 'a/b.c/d_e-f/G..H', sns_topic_name => 'A_b-1',
                             enable_logging => false)->>'Name', repeat('n', 128),
	'a 128-character trail name, a 63-character bucket, a prefix of several segments');
SELECT is(trail.create_trail('a1.b2_c3-d4', 'x1y', enable_logging => false)->>'S3BucketName', 'x1y',
	'a trail name with ., _ and - between letters and digits; a 3-character bucket');
SELECT lives_ok($$SELECT trail.delete_trail('abc'), trail.delete_trail(repeat('n', 128)),
                         trail.delete_trail('a1.b2_c3-d4')$$,
	'... and they are deleted again');

------------------------------------------------------------------------------
-- Invalid trail names: 22023 InvalidTrailNameException, nothing changed
------------------------------------------------------------------------------
SELECT pg_temp.save('names');
SELECT matches(pg_temp.failure(format('SELECT trail.create_trail(%L, %L)', t, 'ok-bucket')),
	'^22023 InvalidTrailNameException: ', format('trail name %s is refused', d))
  FROM (VALUES ('ab', '"ab" (too short)'),
               (repeat('n', 129), 'of 129 characters'),
               ('', '"" (empty)'),
               ('-abc', '"-abc" (starts with -)'),
               ('abc-', '"abc-" (ends with -)'),
               ('.abc', '".abc" (starts with .)'),
               ('_abc', '"_abc" (starts with _)'),
               ('abc.', '"abc." (ends with .)'),
               ('ab..c', '"ab..c" (adjacent ..)'),
               ('ab._c', '"ab._c" (adjacent ._)'),
               ('ab-_c', '"ab-_c" (adjacent -_)'),
               ('ab__c', '"ab__c" (adjacent __)'),
               ('a b', '"a b" (a space)'),
               ('ab/c', '"ab/c" (a slash)'),
               ('../abc', '"../abc"'),
               ('ab\c', '"ab\c" (a backslash)'),
               ('tr@il', '"tr@il"'),
               ('trä', '"trä" (not ASCII)'),
               ('192.168.1.10', '"192.168.1.10" (like an IP address)')) AS v(t, d);
SELECT matches(pg_temp.failure($$SELECT trail.create_trail(NULL, 'ok-bucket')$$),
	'^22023 InvalidTrailNameException: ', 'a NULL trail name is refused');
SELECT matches(pg_temp.failure($$SELECT trail.create_trail('audit-main', 'another-bucket')$$),
	'^42710 TrailAlreadyExistsException', 'a trail name in use: 42710 TrailAlreadyExistsException');
SELECT is(pg_temp.state(), pg_temp.saved('names'), 'the refused names changed nothing and recorded no event');

------------------------------------------------------------------------------
-- Invalid buckets: 22023 InvalidS3BucketNameException, nothing changed
------------------------------------------------------------------------------
SELECT pg_temp.save('buckets');
SELECT matches(pg_temp.failure(format('SELECT trail.create_trail(%L, %L)', 'bucket-test', b)),
	'^22023 InvalidS3BucketNameException: ', format('bucket %s is refused', d))
  FROM (VALUES ('ab', '"ab" (too short)'),
               (repeat('b', 64), 'of 64 characters'),
               ('', '"" (empty)'),
               ('Audit', '"Audit" (upper case)'),
               ('a_b', '"a_b" (an underscore)'),
               ('-ab', '"-ab" (starts with -)'),
               ('ab-', '"ab-" (ends with -)'),
               ('.ab', '".ab" (starts with .)'),
               ('ab.', '"ab." (ends with .)'),
               ('a..b', '"a..b"'),
               ('192.168.1.10', '"192.168.1.10" (like an IP address)'),
               ('xn--bucket', '"xn--bucket"'),
               ('bucket-s3alias', '"bucket-s3alias"'),
               ('..', '".."'),
               ('../x', '"../x"'),
               ('../../etc', '"../../etc"'),
               ('/abs', '"/abs"'),
               ('/tmp/abs', '"/tmp/abs"'),
               ('a/b', '"a/b"'),
               ('a\b', '"a\b"'),
               ('bu cket', '"bu cket"')) AS v(b, d);
SELECT matches(pg_temp.failure($$SELECT trail.create_trail('bucket-test', NULL)$$),
	'^22023 InvalidS3BucketNameException: ', 'a NULL bucket is refused');
SELECT matches(pg_temp.failure($$SELECT trail.update_trail('audit-main', s3_bucket_name => '../escape')$$),
	'^22023 InvalidS3BucketNameException: ', 'update_trail refuses bucket "../escape"');
SELECT matches(pg_temp.failure($$SELECT trail.update_trail('audit-main', s3_bucket_name => '/tmp')$$),
	'^22023 InvalidS3BucketNameException: ', 'update_trail refuses bucket "/tmp"');
SELECT is(pg_temp.state(), pg_temp.saved('buckets'), 'the refused buckets changed nothing and recorded no event');

------------------------------------------------------------------------------
-- Invalid prefixes: 22023 InvalidS3PrefixException, nothing changed
------------------------------------------------------------------------------
SELECT pg_temp.save('prefixes');
SELECT matches(pg_temp.failure(format('SELECT trail.create_trail(%L, %L, %L)', 'prefix-test', 'ok-bucket', p)),
	'^22023 InvalidS3PrefixException: ', format('prefix %s is refused', d))
  FROM (VALUES ('..', '".."'),
               ('.', '"."'),
               ('../x', '"../x"'),
               ('x/..', '"x/.."'),
               ('x/../y', '"x/../y"'),
               ('x/../../../y', '"x/../../../y"'),
               ('/abs', '"/abs"'),
               ('/', '"/"'),
               ('a//b', '"a//b"'),
               ('x/./y', '"x/./y"'),
               ('./x', '"./x"'),
               ('a/', '"a/" (a trailing slash)'),
               (repeat('p', 201), 'of 201 characters'),
               (repeat('p/', 100) || 'p', 'of 201 characters in segments'),
               ('a\b', '"a\b" (a backslash)'),
               ('..\x', '"..\x"'),
               (E'a\nb', 'with a newline'),
               (E'a\tb', 'with a tab'),
               ('a' || chr(1) || 'b', 'with \x01'),
               ('a' || chr(127) || 'b', 'with DEL')) AS v(p, d);
SELECT matches(pg_temp.failure($$SELECT trail.update_trail('audit-main', s3_key_prefix => '../../escape')$$),
	'^22023 InvalidS3PrefixException: ', 'update_trail refuses prefix "../../escape"');
SELECT matches(pg_temp.failure($$SELECT trail.update_trail('audit-main', s3_key_prefix => '/abs')$$),
	'^22023 InvalidS3PrefixException: ', 'update_trail refuses prefix "/abs"');
SELECT is(pg_temp.state(), pg_temp.saved('prefixes'), 'the refused prefixes changed nothing and recorded no event');

------------------------------------------------------------------------------
-- Invalid topics: 22023 InvalidSnsTopicNameException, nothing changed
------------------------------------------------------------------------------
SELECT pg_temp.save('topics');
SELECT matches(pg_temp.failure(format('SELECT trail.create_trail(%L, %L, sns_topic_name => %L)',
                                      'topic-test', 'ok-bucket', t)),
	'^22023 InvalidSnsTopicNameException: ', format('topic %s is refused', d))
  FROM (VALUES ('a.b', '"a.b"'),
               (repeat('t', 64), 'of 64 characters'),
               ('a b', '"a b"'),
               ('a/b', '"a/b"'),
               ('tö', '"tö"'),
               ('a"b', '"a"b"')) AS v(t, d);
SELECT matches(pg_temp.failure($$SELECT trail.update_trail('audit-main', sns_topic_name => 'no;topic')$$),
	'^22023 InvalidSnsTopicNameException: ', 'update_trail refuses topic "no;topic"');
SELECT is(pg_temp.state(), pg_temp.saved('topics'), 'the refused topics changed nothing and recorded no event');

------------------------------------------------------------------------------
-- Unknown trails: 42704 TrailNotFoundException
------------------------------------------------------------------------------
SELECT pg_temp.save('unknown');
SELECT matches(pg_temp.failure(s), '^42704 TrailNotFoundException: ', format('%s of an unknown trail', d))
  FROM (VALUES ($$SELECT trail.update_trail('no-such-trail', s3_key_prefix => 'x')$$, 'update_trail'),
               ($$SELECT trail.delete_trail('no-such-trail')$$, 'delete_trail'),
               ($$SELECT trail.start_logging('no-such-trail')$$, 'start_logging'),
               ($$SELECT trail.stop_logging('no-such-trail')$$, 'stop_logging'),
               ($$SELECT trail.put_event_selectors('no-such-trail', '[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]')$$, 'put_event_selectors'),
               ($$SELECT trail.get_event_selectors('no-such-trail')$$, 'get_event_selectors'),
               ($$SELECT trail.get_trail_status('no-such-trail')$$, 'get_trail_status'),
               ($$SELECT trail.stop_logging('AUDIT-MAIN')$$, 'stop_logging (names are case-sensitive)')) AS v(s, d);
SELECT is(pg_temp.state(), pg_temp.saved('unknown'), 'calls on unknown trails changed nothing and recorded no event');

------------------------------------------------------------------------------
-- Invalid selectors: 22023 InvalidEventSelectorsException, nothing changed
------------------------------------------------------------------------------
SELECT pg_temp.save('selectors');
SELECT matches(pg_temp.failure(format('SELECT trail.put_event_selectors(%L, %L)', 'audit-main', s)),
	'^22023 InvalidEventSelectorsException: ', format('selectors %s are refused', d))
  FROM (VALUES ('{}', 'that are an object'),
               ('[{"FieldSelectors": []}]', 'with no field selector'),
               ('[{"FieldSelectors": [{"Field": "nope", "Equals": ["x"]}]}]', 'with an unknown field'),
               ('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Insight"]}]}]', 'of category Insight'),
               ('[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}]', 'of data events without resources.type'),
               ('[{"FieldSelectors": [{"Field": "eventCategory", "Contains": ["Data"]}]}]', 'with an unknown operator')) AS v(s, d);
SELECT is(trail.get_event_selectors('audit-main')->'AdvancedEventSelectors'->0->'FieldSelectors',
	pg_temp.default_selectors()->0->'FieldSelectors',
	'the trail keeps its selectors');
SELECT is(pg_temp.state(), pg_temp.saved('selectors'), 'the refused selectors changed nothing and recorded no event');

------------------------------------------------------------------------------
-- UpdateTrail: NULL keeps a setting, '' removes the prefix or topic
------------------------------------------------------------------------------
SELECT is(trail.update_trail('audit-main', s3_key_prefix => 'new/prefix', sns_topic_name => 'main_topic',
                             enable_log_file_validation => false),
	jsonb_build_object('Name', 'audit-main', 'S3BucketName', 'audit-bucket', 'S3KeyPrefix', 'new/prefix',
	                   'SnsTopicName', 'main_topic', 'IncludeGlobalServiceEvents', true,
	                   'IsMultiRegionTrail', false, 'TrailARN', pg_temp.arn('audit-main'),
	                   'LogFileValidationEnabled', false, 'IsOrganizationTrail', false),
	'update_trail sets a prefix, a topic and validation off, keeps the rest');
SELECT is(pg_temp.calls('UpdateTrail', 'audit-main'), 1, 'it records an UpdateTrail event');
SELECT is((pg_temp.last_call('UpdateTrail', 'audit-main')).request_parameters,
	'{"name": "audit-main", "s3BucketName": "audit-bucket", "s3KeyPrefix": "new/prefix",
	  "snsTopicName": "main_topic", "includeGlobalServiceEvents": true, "isMultiRegionTrail": false,
	  "enableLogFileValidation": false}'::jsonb,
	'... with the settings');
SELECT is((SELECT jsonb_build_array(s3_bucket_name, s3_key_prefix, sns_topic_name, log_file_validation_enabled, is_logging)
             FROM trail.describe_trails() WHERE name = 'audit-main'),
	'["audit-bucket", "new/prefix", "main_topic", false, true]'::jsonb,
	'describe_trails shows the new settings');
SELECT is(trail.update_trail('audit-main'),
	jsonb_build_object('Name', 'audit-main', 'S3BucketName', 'audit-bucket', 'S3KeyPrefix', 'new/prefix',
	                   'SnsTopicName', 'main_topic', 'IncludeGlobalServiceEvents', true,
	                   'IsMultiRegionTrail', false, 'TrailARN', pg_temp.arn('audit-main'),
	                   'LogFileValidationEnabled', false, 'IsOrganizationTrail', false),
	'update_trail with only the name changes nothing');
SELECT is(pg_temp.calls('UpdateTrail', 'audit-main'), 2, '... and is still recorded');
SELECT is(trail.update_trail('audit-main', s3_bucket_name => 'audit-bucket-new',
                             include_global_service_events => false) - 'TrailARN',
	'{"Name": "audit-main", "S3BucketName": "audit-bucket-new", "S3KeyPrefix": "new/prefix",
	  "SnsTopicName": "main_topic", "IncludeGlobalServiceEvents": false, "IsMultiRegionTrail": false,
	  "LogFileValidationEnabled": false, "IsOrganizationTrail": false}'::jsonb,
	'update_trail moves the trail to another bucket and drops global events');
SELECT is(trail.update_trail('audit-main', s3_key_prefix => '', sns_topic_name => '',
                             include_global_service_events => true, s3_bucket_name => 'audit-bucket',
                             enable_log_file_validation => true) - 'TrailARN',
	'{"Name": "audit-main", "S3BucketName": "audit-bucket", "IncludeGlobalServiceEvents": true,
	  "IsMultiRegionTrail": false, "LogFileValidationEnabled": true, "IsOrganizationTrail": false}'::jsonb,
	'an empty prefix and an empty topic remove them');
SELECT is((SELECT jsonb_build_array(s3_key_prefix, sns_topic_name) FROM trail.trails WHERE name = 'audit-main'),
	'[null, null]'::jsonb,
	'... they are NULL in trail.trails');

SELECT is(trail.update_trail('audit-main', enable_logging => false)->>'Name', 'audit-main',
	'update_trail with enable_logging => false');
SELECT is(trail.get_trail_status('audit-main')->'IsLogging', 'false'::jsonb, '... stops the trail');
SELECT is(pg_temp.calls('StopLogging', 'audit-main'), 1, '... and records StopLogging');
SELECT is(trail.update_trail('audit-main', enable_logging => true)->>'Name', 'audit-main',
	'update_trail with enable_logging => true');
SELECT is(trail.get_trail_status('audit-main')->'IsLogging', 'true'::jsonb, '... starts it again');
SELECT is(pg_temp.calls('StartLogging', 'audit-main'), 1, '... and records StartLogging');

------------------------------------------------------------------------------
-- StopLogging and StartLogging
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT trail.stop_logging('audit-main')$$, 'stop_logging');
SELECT is((SELECT is_logging FROM trail.describe_trails() WHERE name = 'audit-main'), false,
	'describe_trails: not logging');
SELECT is(trail.get_trail_status('audit-main')->'IsLogging', 'false'::jsonb, 'get_trail_status: IsLogging false');
SELECT is((trail.get_trail_status('audit-main')->>'StopLoggingTime')::numeric,
	(SELECT extract(epoch FROM stop_logging_time) FROM trail.trails WHERE name = 'audit-main'),
	'StopLoggingTime: epoch seconds of the stop');
SELECT cmp_ok((trail.get_trail_status('audit-main')->>'StopLoggingTime')::numeric, '>=',
	(trail.get_trail_status('audit-main')->>'StartLoggingTime')::numeric,
	'... not before the start');
SELECT is(trail.get_trail_status('audit-main')->>'TimeLoggingStopped',
	(SELECT pg_temp.iso(stop_logging_time) FROM trail.trails WHERE name = 'audit-main'),
	'TimeLoggingStopped: the stop as an ISO string');
SELECT is(pg_temp.calls('StopLogging', 'audit-main'), 2, 'stop_logging records StopLogging');
SELECT is((pg_temp.last_call('StopLogging', 'audit-main')).request_parameters, '{"name": "audit-main"}'::jsonb,
	'... with the trail''s name');
SELECT lives_ok($$SELECT trail.stop_logging('audit-main')$$, 'stop_logging of a stopped trail');
SELECT is(pg_temp.calls('StopLogging', 'audit-main'), 3, '... is recorded too');
SELECT lives_ok($$SELECT trail.start_logging('audit-main')$$, 'start_logging');
SELECT is(trail.get_trail_status('audit-main')->'IsLogging', 'true'::jsonb, 'get_trail_status: IsLogging true');
SELECT cmp_ok((trail.get_trail_status('audit-main')->>'StartLoggingTime')::numeric, '>=',
	(trail.get_trail_status('audit-main')->>'StopLoggingTime')::numeric,
	'StartLoggingTime: the new start, not before the stop');
SELECT is(pg_temp.calls('StartLogging', 'audit-main'), 2, 'start_logging records StartLogging');
SELECT is((SELECT array_agg(region) FROM trail.trail_state WHERE trail_name = 'audit.second_2'), NULL,
	'a trail that never logged has no delivery state');
SELECT lives_ok($$SELECT trail.start_logging('audit.second_2')$$, 'start_logging of a trail created stopped');
SELECT is((SELECT array_agg(region) FROM trail.trail_state WHERE trail_name = 'audit.second_2'),
	array[current_database()::text], '... gives it a delivery state in this region');
SELECT is(trail.get_trail_status('audit.second_2')->'IsLogging', 'true'::jsonb, '... and it logs');

------------------------------------------------------------------------------
-- PutEventSelectors / GetEventSelectors; a trail's data selectors decide
-- capture too
------------------------------------------------------------------------------
SELECT is(pg_temp.captured('public.trails_orders'), false, '(public.trails_orders is not captured yet)');
SELECT is(trail.put_event_selectors('audit-main', jsonb_build_array(
              pg_temp.table_selector('public.trails_orders'),
              '{"Name": "mgmt", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}'::jsonb)),
	jsonb_build_object('TrailARN', pg_temp.arn('audit-main'), 'AdvancedEventSelectors', jsonb_build_array(
	    pg_temp.table_selector('public.trails_orders'),
	    '{"Name": "mgmt", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}'::jsonb)),
	'put_event_selectors returns the trail''s ARN and the selectors');
SELECT is(trail.get_event_selectors('audit-main'),
	jsonb_build_object('TrailARN', pg_temp.arn('audit-main'), 'AdvancedEventSelectors', jsonb_build_array(
	    pg_temp.table_selector('public.trails_orders'),
	    '{"Name": "mgmt", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}'::jsonb)),
	'get_event_selectors returns them');
SELECT is((SELECT has_custom_event_selectors FROM trail.describe_trails() WHERE name = 'audit-main'), true,
	'describe_trails: has_custom_event_selectors');
SELECT is(pg_temp.captured('public.trails_orders'), true, 'the trail''s data selector captures public.trails_orders');
SELECT is(pg_temp.captured('public.trails_other'), false, '... and no other table');
SELECT is(pg_temp.calls('PutEventSelectors', 'audit-main'), 1, 'put_event_selectors records PutEventSelectors');
SELECT is((pg_temp.last_call('PutEventSelectors', 'audit-main')).request_parameters,
	jsonb_build_object('trailName', 'audit-main', 'advancedEventSelectors', jsonb_build_array(
	    pg_temp.table_selector('public.trails_orders'),
	    '{"Name": "mgmt", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}'::jsonb)),
	'... with the selectors');
SELECT is(trail.put_event_selectors('audit-main', '[{"Name": "mgmt", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]')->'AdvancedEventSelectors',
	'[{"Name": "mgmt", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]'::jsonb,
	'put_event_selectors replaces the selectors');
SELECT is(pg_temp.captured('public.trails_orders'), false, '... and the table is no longer captured');
SELECT is(pg_temp.calls('PutEventSelectors', 'audit-main'), 2, '... recorded');
SELECT is(trail.put_event_selectors('audit.second_2', jsonb_build_array(pg_temp.table_selector('public.trails_other')))->>'TrailARN',
	pg_temp.arn('audit.second_2'), 'a data selector on the other trail');
SELECT is(pg_temp.captured('public.trails_other'), true, '... captures its table');

------------------------------------------------------------------------------
-- DeleteTrail
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT trail.delete_trail('audit.second_2')$$, 'delete_trail');
SELECT is((SELECT count(*)::int FROM trail.describe_trails() WHERE name = 'audit.second_2'), 0,
	'describe_trails no longer lists it');
SELECT is((SELECT count(*)::int FROM trail.trail_state WHERE trail_name = 'audit.second_2'), 0,
	'its delivery state is gone');
SELECT matches(pg_temp.failure($$SELECT trail.get_trail_status('audit.second_2')$$),
	'^42704 TrailNotFoundException: ', 'get_trail_status: TrailNotFoundException');
SELECT is(pg_temp.captured('public.trails_other'), false, 'its data selector no longer captures its table');
SELECT is(pg_temp.calls('DeleteTrail', 'audit.second_2'), 1, 'delete_trail records DeleteTrail');
SELECT is((pg_temp.last_call('DeleteTrail', 'audit.second_2')).request_parameters,
	'{"name": "audit.second_2"}'::jsonb, '... with the trail''s name');
SELECT is(pg_temp.calls('CreateTrail', 'audit.second_2') + pg_temp.calls('StartLogging', 'audit.second_2')
          + pg_temp.calls('PutEventSelectors', 'audit.second_2') + pg_temp.calls('UpdateTrail', 'audit.second_2'), 4,
	'the events of the deleted trail stay');
SELECT is(trail.create_trail('audit.second_2', 'audit-bucket-3', enable_logging => false)->>'S3BucketName',
	'audit-bucket-3', 'a deleted trail''s name can be used again');
SELECT lives_ok($$SELECT trail.delete_trail('audit.second_2')$$, '... and deleted again');

------------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------------
CREATE ROLE regress_tap_trails_plain;
CREATE ROLE regress_tap_trails_admin IN ROLE trail_admin;
CREATE ROLE regress_tap_trails_reader IN ROLE trail_reader;
GRANT USAGE ON SCHEMA trail TO regress_tap_trails_plain;
SELECT pg_temp.save('privileges');

-- an ordinary role (even with USAGE on the schema): nothing
SET ROLE regress_tap_trails_plain;
SELECT throws_ok(s, '42501', NULL, format('an ordinary role cannot %s', d))
  FROM (VALUES ($$SELECT trail.create_trail('plain-trail', 'plain-bucket')$$, 'create_trail'),
               ($$SELECT trail.update_trail('audit-main', s3_key_prefix => 'x')$$, 'update_trail'),
               ($$SELECT trail.delete_trail('audit-main')$$, 'delete_trail'),
               ($$SELECT trail.start_logging('audit-main')$$, 'start_logging'),
               ($$SELECT trail.stop_logging('audit-main')$$, 'stop_logging'),
               ($$SELECT trail.put_event_selectors('audit-main', '[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]')$$, 'put_event_selectors'),
               ($$SELECT * FROM trail.describe_trails()$$, 'describe_trails'),
               ($$SELECT trail.get_trail_status('audit-main')$$, 'get_trail_status'),
               ($$SELECT trail.get_event_selectors('audit-main')$$, 'get_event_selectors'),
               ($$SELECT * FROM trail.list_public_keys()$$, 'list_public_keys'),
               ($$SELECT trail.rotate_public_key()$$, 'rotate_public_key'),
               ($$SELECT * FROM trail.validate_logs('audit-main', now() - interval '1 hour')$$, 'validate_logs'),
               ($$SELECT * FROM trail.trails$$, 'read trail.trails'),
               ($$SELECT * FROM trail.trail_state$$, 'read trail.trail_state'),
               ($$SELECT * FROM trail.delivered_files$$, 'read trail.delivered_files'),
               ($$UPDATE trail.trails SET s3_bucket_name = 'x'$$, 'update trail.trails')) AS v(s, d);
RESET ROLE;
SELECT is(pg_temp.state(), pg_temp.saved('privileges'), 'the ordinary role changed nothing');

-- trail_admin: manages trails
SET ROLE regress_tap_trails_admin;
SELECT is(trail.create_trail('admin-trail', 'admin-bucket')->>'TrailARN', pg_temp.arn('admin-trail'),
	'a member of trail_admin creates a trail');
SELECT lives_ok($$SELECT trail.stop_logging('admin-trail')$$, '... stops it');
SELECT lives_ok($$SELECT trail.update_trail('admin-trail', s3_key_prefix => 'admin')$$, '... updates it');
SELECT lives_ok($$SELECT trail.put_event_selectors('admin-trail', '[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]')$$,
	'... puts its selectors');
SELECT is((SELECT array_agg(name ORDER BY name) FROM trail.describe_trails()), array['admin-trail', 'audit-main'],
	'... describes the trails');
SELECT is(trail.get_trail_status('admin-trail')->'IsLogging', 'false'::jsonb, '... reads their status');
SELECT throws_ok($$SELECT trail.rotate_public_key()$$, '42501', NULL,
	'... but cannot rotate the signing key (superusers only)');
RESET ROLE;
SELECT is((SELECT is_logging FROM trail.trails WHERE name = 'admin-trail'), false, 'the admin''s trail is stopped');
SELECT is((SELECT string_agg(event_name || ':' || (user_identity->'sessionContext'->'sessionIssuer'->>'userName'), ' ' ORDER BY commit_seq, event_id)
             FROM trail.events WHERE event_source = 'trail.postgresql'
              AND resources @> jsonb_build_array(jsonb_build_object('ARN', pg_temp.arn('admin-trail')))
              AND commit_seq > (SELECT seq0 FROM ctx)),
	'CreateTrail:regress_tap_trails_admin StopLogging:regress_tap_trails_admin UpdateTrail:regress_tap_trails_admin PutEventSelectors:regress_tap_trails_admin',
	'the events of the admin''s calls name the admin');

-- trail_reader: reads, changes nothing
SELECT pg_temp.save('reader');
SET ROLE regress_tap_trails_reader;
SELECT is((SELECT array_agg(name ORDER BY name) FROM trail.describe_trails()), array['admin-trail', 'audit-main'],
	'a member of trail_reader describes the trails');
SELECT is(trail.get_trail_status('audit-main')->'IsLogging', 'true'::jsonb, '... reads their status');
SELECT is(trail.get_event_selectors('admin-trail')->>'TrailARN', pg_temp.arn('admin-trail'), '... and selectors');
SELECT cmp_ok((SELECT count(*)::int FROM trail.list_public_keys()), '>=', 1, '... lists the public keys');
SELECT is((SELECT count(*)::int FROM trail.trails), 2, '... reads trail.trails');
SELECT lives_ok($$SELECT * FROM trail.trail_state, trail.delivered_files LIMIT 1$$,
	'... and trail.trail_state, trail.delivered_files');
SELECT throws_ok(s, '42501', NULL, format('a member of trail_reader cannot %s', d))
  FROM (VALUES ($$SELECT trail.create_trail('reader-trail', 'reader-bucket')$$, 'create_trail'),
               ($$SELECT trail.stop_logging('audit-main')$$, 'stop_logging'),
               ($$SELECT trail.start_logging('admin-trail')$$, 'start_logging'),
               ($$SELECT trail.update_trail('audit-main', s3_bucket_name => 'reader-bucket')$$, 'update_trail'),
               ($$SELECT trail.delete_trail('admin-trail')$$, 'delete_trail'),
               ($$SELECT trail.put_event_selectors('audit-main', '[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]')$$, 'put_event_selectors'),
               ($$SELECT trail.rotate_public_key()$$, 'rotate_public_key'),
               ($$DELETE FROM trail.trails$$, 'delete from trail.trails')) AS v(s, d);
RESET ROLE;
SELECT is(pg_temp.state(), pg_temp.saved('reader'), 'the reader changed nothing');

SET ROLE regress_tap_trails_admin;
SELECT lives_ok($$SELECT trail.delete_trail('admin-trail')$$, 'a member of trail_admin deletes a trail');
RESET ROLE;

------------------------------------------------------------------------------
-- The public keys: DER PKCS#1 RSA public keys, fingerprint = MD5 of the DER
------------------------------------------------------------------------------
SELECT is((SELECT count(*)::int FROM trail.list_public_keys() WHERE validity_end_time IS NULL), 1,
	'list_public_keys: exactly one current key (no end of validity)');
SELECT is((SELECT count(*)::int FROM trail.list_public_keys() WHERE fingerprint IS DISTINCT FROM md5(value)), 0,
	'every fingerprint is the MD5 of the key''s DER bytes');
SELECT is((SELECT count(*)::int FROM trail.list_public_keys() WHERE fingerprint !~ '^[0-9a-f]{32}$'), 0,
	'... as 32 lowercase hex digits');
SELECT is((SELECT count(*)::int FROM trail.list_public_keys() WHERE validity_start_time > clock_timestamp()), 0,
	'every key became valid in the past');
SELECT is((SELECT count(*)::int FROM trail.list_public_keys()
            WHERE length(value) <> 270
               OR substring(value FROM 1 FOR 9) <> '\x3082010a0282010100'::bytea
               OR substring(value FROM 266) <> '\x0203010001'::bytea), 0,
	'every value is a DER PKCS#1 RSAPublicKey of 2048 bits, exponent 65537 (270 bytes, nothing private)');
SELECT is((SELECT count(*)::int FROM trail.list_public_keys() k
            WHERE k::text ILIKE '%PRIVATE%' OR encode(k.value, 'escape') ILIKE '%PRIVATE%'), 0,
	'no result of list_public_keys contains PRIVATE');
SELECT is((SELECT count(*)::int FROM trail.list_public_keys() k1, trail.list_public_keys() k2
            WHERE k1.validity_end_time IS NOT NULL AND k2.validity_start_time > k1.validity_start_time
              AND k2.validity_start_time < k1.validity_end_time), 0,
	'the keys'' validity periods follow each other');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE pronamespace = 'trail'::regnamespace
            AND (proname ~* 'private|secret' OR prosrc ~* 'pg_read_(binary_)?file|pg_trail/keys')), 0,
	'no function of schema trail is about private keys or reads the key files');

-- rotation needs the current key to be at least a second old
DO $$
BEGIN
	WHILE clock_timestamp() < (SELECT max(validity_start_time) FROM trail.list_public_keys()) + interval '1.05 second' LOOP
		PERFORM pg_sleep(0.1);
	END LOOP;
END
$$;
CREATE TEMP TABLE old_keys AS SELECT * FROM trail.list_public_keys();
CREATE TEMP TABLE rotated AS SELECT trail.rotate_public_key() AS fingerprint, clock_timestamp() AS at;
GRANT SELECT ON old_keys, rotated TO PUBLIC;
SELECT matches((SELECT fingerprint FROM rotated), '^[0-9a-f]{32}$', 'rotate_public_key returns the new fingerprint');
SELECT is((SELECT count(*)::int FROM trail.list_public_keys()), (SELECT count(*)::int + 1 FROM old_keys),
	'after a rotation there is one key more');
SELECT is((SELECT fingerprint FROM trail.list_public_keys() WHERE validity_end_time IS NULL),
	(SELECT fingerprint FROM rotated), 'the new key is the current one');
SELECT ok((SELECT fingerprint FROM rotated) NOT IN (SELECT fingerprint FROM old_keys), '... a key not seen before');
SELECT is((SELECT count(*)::int FROM trail.list_public_keys() WHERE validity_end_time IS NULL), 1,
	'still exactly one current key');
SELECT is((SELECT validity_end_time FROM trail.list_public_keys()
            WHERE fingerprint = (SELECT fingerprint FROM old_keys WHERE validity_end_time IS NULL)),
	(SELECT validity_start_time FROM trail.list_public_keys() WHERE validity_end_time IS NULL),
	'the old key''s validity ends where the new key''s begins');
SELECT ok((SELECT validity_start_time FROM trail.list_public_keys() WHERE validity_end_time IS NULL)
            <= (SELECT at FROM rotated),
	'the new key is valid from the rotation on');
SELECT ok((SELECT validity_start_time FROM trail.list_public_keys() WHERE validity_end_time IS NULL)
            > (SELECT max(validity_start_time) FROM old_keys),
	'... after the old key became valid');
SELECT is((SELECT count(*)::int FROM trail.list_public_keys() WHERE fingerprint IS DISTINCT FROM md5(value)), 0,
	'the new fingerprint is the MD5 of its DER bytes too');
SELECT is((SELECT array_agg(fingerprint) FROM trail.list_public_keys(now() + interval '1 day')),
	array[(SELECT fingerprint FROM rotated)], 'list_public_keys(start_time in the future): the current key only');
SELECT is((SELECT count(*)::int FROM trail.list_public_keys(NULL,
             (SELECT min(validity_start_time) FROM old_keys) - interval '1 day')), 0,
	'list_public_keys(end_time before every key): none');
SELECT is((SELECT array_agg(fingerprint ORDER BY validity_start_time) FROM trail.list_public_keys(
             (SELECT validity_start_time + interval '0.5 second' FROM old_keys WHERE validity_end_time IS NULL),
             (SELECT validity_start_time + interval '0.5 second' FROM old_keys WHERE validity_end_time IS NULL))),
	array[(SELECT fingerprint FROM old_keys WHERE validity_end_time IS NULL)],
	'list_public_keys of a moment before the rotation: the key valid then');
SELECT is((SELECT count(*)::int FROM trail.events
            WHERE event_source = 'trail.postgresql' AND event_name = 'RotatePublicKey'
              AND request_parameters->>'fingerprint' = (SELECT fingerprint FROM rotated)), 1,
	'the rotation records a RotatePublicKey event naming the new fingerprint');
SELECT is((SELECT count(*)::int FROM trail.events e
            WHERE event_source = 'trail.postgresql' AND event_name = 'RotatePublicKey'
              AND (e::text ILIKE '%PRIVATE%' OR e::text LIKE '%MII%')), 0,
	'... that holds no key material');
SET ROLE regress_tap_trails_admin;
SELECT throws_ok($$SELECT trail.rotate_public_key()$$, '42501', NULL,
	'a member of trail_admin cannot rotate the key');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM trail.list_public_keys()), (SELECT count(*)::int + 1 FROM old_keys),
	'... and no key was added');

------------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT trail.delete_trail('audit-main')$$, 'the last trail is deleted');
SELECT is((SELECT count(*)::int FROM trail.trails), 0, 'no trail is left');

SELECT * FROM finish();

SET client_min_messages = warning;
DROP TABLE public.trails_orders, public.trails_other;
REVOKE USAGE ON SCHEMA trail FROM regress_tap_trails_plain;
DROP ROLE regress_tap_trails_plain;
DROP ROLE regress_tap_trails_admin;
DROP ROLE regress_tap_trails_reader;
