-- import: trail.import_logs(path) reads CloudTrail log files into
-- trail.events: a .json.gz file, a .json file, a directory tree (digests,
-- .meta.json sidecars and signatures left out); every field of every record
-- kept (trail.cloudtrail_record() gives the record back, members trail has
-- no column for included); files imported twice and eventIDs repeated in a
-- file add nothing, also within a batch that mixes them with new records
-- over several days; JSON read as jsonb_in reads it (escapes, numbers as
-- written, repeated keys, deep nesting); bad input (malformed JSON, truncated gzip, no eventTime,
-- no eventID, an eventID that is no UUID, a top level that is not
-- {"Records": [...]}, a missing path) is an error naming the file that
-- leaves nothing imported, also of the good files before the bad one;
-- records past retention are counted, not imported; who may import; the
-- StartImport management event; LookupEvents finds imported events.
--
-- The files are written by the server (COPY ... TO PROGRAM, as the
-- superuser that runs the file) under a directory of /tmp named after the
-- backend, removed at the end with the roles the file creates.
\set QUIET 1
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_tap_import_plain;
DROP ROLE IF EXISTS regress_tap_import_admin;
DROP ROLE IF EXISTS regress_tap_import_reader;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS trail;
RESET client_min_messages;

SELECT plan(85);

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------
\ir ../system/server_shell.sql
CREATE TEMP TABLE ctx AS
SELECT '/tmp/trail_tap_import_' || pg_backend_pid() AS dir,
       current_setting('data_directory') AS data_dir;
GRANT SELECT ON ctx TO PUBLIC;
CREATE FUNCTION pg_temp.dir() RETURNS text LANGUAGE sql AS $$ SELECT dir FROM ctx $$;

-- write a file (its parent directories made), gzip-compressed when the
-- name ends in .gz; the text is written as it is (CSV with a delimiter and
-- a quote that never occur)
CREATE FUNCTION pg_temp.write(name text, content text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	path text := pg_temp.dir() || '/' || name;
BEGIN
	EXECUTE format('COPY (SELECT %L) TO PROGRAM %L WITH (FORMAT csv, DELIMITER %L, QUOTE %L)',
		content,
		format('mkdir -p "$(dirname %s)" && %s > %s', path,
		       CASE WHEN name LIKE '%.gz' THEN 'gzip' ELSE 'cat' END, path),
		E'\x02', E'\x01');
END
$$;
-- a log file of these records
CREATE FUNCTION pg_temp.log(records jsonb[]) RETURNS text LANGUAGE sql AS $$
	SELECT jsonb_build_object('Records', to_jsonb(records))::text
$$;
-- a CloudTrail time some days ago, as records write it
CREATE FUNCTION pg_temp.ago(days int, seconds int DEFAULT 0) RETURNS text LANGUAGE sql AS $$
	SELECT to_char((date_trunc('second', now()) - make_interval(days => days, secs => seconds))
	               AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;
-- an AWS record (spec section a's example) with its own id and time, and
-- members of a newer format than trail's columns
CREATE FUNCTION pg_temp.aws(id text, event_time text, event_name text DEFAULT 'ModifyDBInstance')
RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object(
	  'eventVersion', '1.09',
	  'userIdentity', '{"type": "AssumedRole", "principalId": "AROAEXAMPLEROLEID0001:deploy-session",
	      "arn": "arn:aws:sts::123456789012:assumed-role/DbAdmin/deploy-session", "accountId": "123456789012",
	      "accessKeyId": "ASIAEXAMPLETEMPKEY01",
	      "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID0001",
	          "arn": "arn:aws:iam::123456789012:role/DbAdmin", "accountId": "123456789012", "userName": "DbAdmin"},
	        "webIdFederationData": {}, "attributes": {"creationDate": "2024-05-01T08:59:00Z", "mfaAuthenticated": "false"}}}'::jsonb,
	  'eventTime', event_time,
	  'eventSource', 'rds.amazonaws.com',
	  'eventName', event_name,
	  'awsRegion', 'eu-west-1',
	  'sourceIPAddress', '198.51.100.23',
	  'userAgent', 'aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64',
	  'errorCode', 'AccessDenied',
	  'errorMessage', 'User is not authorized to perform: rds:ModifyDBInstance',
	  'requestParameters', '{"dBInstanceIdentifier": "orders-db", "applyImmediately": true}'::jsonb,
	  'responseElements', NULL,
	  'requestID', '481bdf7c-aa84-4536-a683-39801d55a891',
	  'eventID', id,
	  'readOnly', false,
	  'resources', '[{"accountId": "123456789012", "type": "AWS::RDS::DBInstance",
	                  "ARN": "arn:aws:rds:eu-west-1:123456789012:db:orders-db"}]'::jsonb,
	  'eventType', 'AwsApiCall',
	  'managementEvent', true,
	  'recipientAccountId', '123456789012',
	  'eventCategory', 'Management',
	  'tlsDetails', '{"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
	                  "clientProvidedHostHeader": "rds.eu-west-1.amazonaws.com"}'::jsonb,
	  'vpcEndpointId', 'vpce-0123456789abcdef0',
	  'eventContext', '{"tagContext": {"resourceTags": [{"arn": "arn:aws:rds:eu-west-1:123456789012:db:orders-db", "tags": {"env": "prod"}}]}}'::jsonb)
$$;
-- an S3 data event of format 1.05: no eventCategory, eventType as AWS
-- wrote it, resources with ARNPrefix, an upper-case eventID
CREATE FUNCTION pg_temp.s3(id text, event_time text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object(
	  'eventVersion', '1.05',
	  'userIdentity', '{"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": "arn:aws:iam::123456789012:user/alice",
	                     "accountId": "123456789012", "userName": "alice"}'::jsonb,
	  'eventTime', event_time, 'eventSource', 's3.amazonaws.com', 'eventName', 'ListObjects',
	  'awsRegion', 'us-east-1', 'sourceIPAddress', '203.0.113.7', 'userAgent', NULL,
	  'requestParameters', '{"bucketName": "logs", "prefix": ""}'::jsonb, 'responseElements', NULL,
	  'additionalEventData', '{"SignatureVersion": "SigV4", "bytesTransferredIn": 0}'::jsonb,
	  'requestID', 'EXAMPLE123', 'eventID', id, 'readOnly', true,
	  'resources', '[{"type": "AWS::S3::Object", "ARNPrefix": "arn:aws:s3:::logs/"},
	                 {"accountId": "123456789012", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::logs"}]'::jsonb,
	  'eventType', 'AwsApiCall', 'managementEvent', false, 'recipientAccountId', '123456789012')
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
-- the detail of a statement's error (NULL: none, or no error)
CREATE FUNCTION pg_temp.failure_detail(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	d text;
BEGIN
	EXECUTE stmt;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN nullif(d, '');
END
$$;
-- an import's result as text: files, imported, duplicates, expired
CREATE FUNCTION pg_temp.import(path text) RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' ', files, records_imported, duplicates_skipped, expired_skipped)
	  FROM trail.import_logs(path)
$$;
-- what imports have left: imported events, their lookup entries, StartImport calls
CREATE FUNCTION pg_temp.store() RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' ',
		(SELECT count(*) FROM trail.events WHERE imported_from IS NOT NULL),
		(SELECT count(*) FROM trail.event_resources r
		  WHERE EXISTS (SELECT 1 FROM trail.events e WHERE e.event_id = r.event_id
		                   AND e.imported_from IS NOT NULL)),
		(SELECT count(*) FROM trail.events WHERE event_name = 'StartImport'))
$$;
-- the record of an imported event, by id
CREATE FUNCTION pg_temp.rendered(id text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT trail.cloudtrail_record(e) FROM trail.events e
	 WHERE e.event_id = id::uuid AND e.imported_from IS NOT NULL
$$;

------------------------------------------------------------------------------
-- One .json.gz file: every field kept
------------------------------------------------------------------------------
CREATE TEMP TABLE recs AS
SELECT pg_temp.aws('fc3af1a1-b707-4de7-be09-0f3f8c6eaa69', pg_temp.ago(1)) AS a,
       pg_temp.s3('0A1B2C3D-0000-4000-8000-00000000C0DE', pg_temp.ago(2, 30) ) AS s,
       -- an Insights record, and one with the members only old formats lack
       jsonb_build_object('eventVersion', '1.07', 'eventTime', pg_temp.ago(1, 60),
         'awsRegion', 'eu-west-1', 'eventID', '7ad31f47-31c4-4f5c-8e55-3a6e0e1f11a1',
         'eventType', 'AwsCloudTrailInsight', 'recipientAccountId', '123456789012',
         'sharedEventID', 'c2e0b5d5-7a8f-4c3b-9a0e-4b1f3f1c2d3e',
         'insightDetails', '{"state": "Start", "eventSource": "rds.amazonaws.com", "eventName": "ModifyDBInstance", "insightType": "ApiCallRateInsight"}'::jsonb,
         'eventCategory', 'Insight') AS i,
       jsonb_build_object('eventVersion', '1.0', 'eventTime', pg_temp.ago(1, 120),
         'userIdentity', '{"type": "Root", "principalId": "123456789012", "arn": "arn:aws:iam::123456789012:root"}'::jsonb,
         'eventSource', 'signin.amazonaws.com', 'eventName', 'ConsoleLogin', 'awsRegion', 'us-east-1',
         'sourceIPAddress', '192.0.2.1', 'eventID', '3b1e5f1c-9a51-4c1e-9b8e-1a2b3c4d5e6f',
         'responseElements', '{"ConsoleLogin": "Success"}'::jsonb) AS o;

SELECT pg_temp.write('one/a.json.gz', pg_temp.log(ARRAY[a, s, i, o])) FROM recs;
SELECT is(pg_temp.import(pg_temp.dir() || '/one/a.json.gz'), '1 4 0 0',
	'a .json.gz file: its 4 records imported');
SELECT is(pg_temp.rendered('fc3af1a1-b707-4de7-be09-0f3f8c6eaa69'), a,
	'an AWS record comes back whole from cloudtrail_record, members trail has no column for included') FROM recs;
SELECT is(pg_temp.rendered('0a1b2c3d-0000-4000-8000-00000000c0de'), s,
	'a data event of format 1.05 comes back whole: no eventCategory, userAgent null, upper-case eventID, ARNPrefix') FROM recs;
SELECT is(pg_temp.rendered('7ad31f47-31c4-4f5c-8e55-3a6e0e1f11a1'), i,
	'an Insights record comes back whole') FROM recs;
SELECT is(pg_temp.rendered('3b1e5f1c-9a51-4c1e-9b8e-1a2b3c4d5e6f'), o,
	'a record of format 1.0 comes back whole (no eventType, recipientAccountId, requestParameters)') FROM recs;
SELECT is((SELECT imported_from FROM trail.events WHERE event_id = 'fc3af1a1-b707-4de7-be09-0f3f8c6eaa69'),
	pg_temp.dir() || '/one/a.json.gz', 'imported_from: the file');
SELECT is((SELECT unknown_fields FROM trail.events WHERE event_id = 'fc3af1a1-b707-4de7-be09-0f3f8c6eaa69'),
	jsonb_build_object('vpcEndpointId', a->'vpcEndpointId', 'eventContext', a->'eventContext',
	                   'responseElements', NULL),
	'unknown_fields: the members without a column, and the null responseElements') FROM recs;
SELECT results_eq(
	$$SELECT event_category, region, recipient_account_id, user_name, access_key_id, event_name,
	         event_time = (SELECT (a->>'eventTime')::timestamptz FROM recs), commit_seq IS NOT NULL
	    FROM trail.events WHERE event_id = 'fc3af1a1-b707-4de7-be09-0f3f8c6eaa69'$$,
	$$VALUES ('Management', 'eu-west-1', '123456789012', 'deploy-session', 'ASIAEXAMPLETEMPKEY01',
	          'ModifyDBInstance', true, true)$$,
	'the columns hold the record''s values (awsRegion -> region; Username from the session name)');
SELECT results_eq(
	$$SELECT event_id::text, event_category FROM trail.events WHERE imported_from IS NOT NULL ORDER BY 1$$,
	$$VALUES ('0a1b2c3d-0000-4000-8000-00000000c0de', 'Data'), ('3b1e5f1c-9a51-4c1e-9b8e-1a2b3c4d5e6f', 'Management'),
	         ('7ad31f47-31c4-4f5c-8e55-3a6e0e1f11a1', 'Insight'), ('fc3af1a1-b707-4de7-be09-0f3f8c6eaa69', 'Management')$$,
	'records without eventCategory get the category their format implies');
SELECT is((SELECT count(*)::int FROM trail.events e WHERE imported_from IS NOT NULL
            AND commit_seq = (SELECT commit_seq FROM trail.events WHERE event_name = 'StartImport'
                               ORDER BY event_time DESC LIMIT 1)), 4,
	'imported rows take the commit number of the importing transaction, like its StartImport event');

------------------------------------------------------------------------------
-- The StartImport event
------------------------------------------------------------------------------
SELECT results_eq(
	$$SELECT event_source, event_type, user_name, request_parameters, resources->0->>'type',
	         trail.cloudtrail_record(e)->'resources'->0 ? 'name'
	    FROM trail.events e WHERE event_name = 'StartImport'$$,
	format($$VALUES ('trail.postgresql', 'AwsApiCall', %L, jsonb_build_object('path', %L), 'PG::EventDataStore', false)$$,
	       session_user, pg_temp.dir() || '/one/a.json.gz'),
	'each import is a StartImport management event of the caller, with the path');

------------------------------------------------------------------------------
-- LookupEvents sees imported management events
------------------------------------------------------------------------------
SELECT is((SELECT array_agg(event_id::text) FROM trail.lookup_events('EventName', 'ModifyDBInstance', now() - interval '10 days')),
	ARRAY['fc3af1a1-b707-4de7-be09-0f3f8c6eaa69'], 'lookup_events by EventName finds the imported event');
SELECT is((SELECT array_agg(event_id::text) FROM trail.lookup_events('Username', 'deploy-session', now() - interval '10 days')),
	ARRAY['fc3af1a1-b707-4de7-be09-0f3f8c6eaa69'], 'by Username (the session name of an assumed role)');
SELECT is((SELECT array_agg(event_id::text) FROM trail.lookup_events('ResourceName', 'orders-db', now() - interval '10 days')),
	ARRAY['fc3af1a1-b707-4de7-be09-0f3f8c6eaa69'], 'by ResourceName (the last segment of the ARN)');
SELECT is((SELECT array_agg(event_id::text) FROM trail.lookup_events('ResourceType', 'AWS::RDS::DBInstance', now() - interval '10 days')),
	ARRAY['fc3af1a1-b707-4de7-be09-0f3f8c6eaa69'], 'by ResourceType');
SELECT is((SELECT resources FROM trail.lookup_events('EventId', 'fc3af1a1-b707-4de7-be09-0f3f8c6eaa69', now() - interval '10 days')),
	'[{"ResourceName": "orders-db", "ResourceType": "AWS::RDS::DBInstance"}]'::jsonb,
	'its Resources as LookupEvents reports them');
SELECT is((SELECT cloudtrail_event FROM trail.lookup_events('EventId', 'fc3af1a1-b707-4de7-be09-0f3f8c6eaa69', now() - interval '10 days')),
	(SELECT a FROM recs), 'its CloudTrailEvent is the imported record');
SELECT is((SELECT count(*)::int FROM trail.lookup_events('EventName', 'ListObjects', now() - interval '10 days')), 0,
	'imported data events are not LookupEvents'' (like captured ones)');

------------------------------------------------------------------------------
-- Importing again, and repeated eventIDs
------------------------------------------------------------------------------
-- how often a repeated management record and a repeated data record are
-- stored: "<management rows> <its lookup entries> <data rows>"
CREATE FUNCTION pg_temp.stored(management uuid, data uuid) RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' ', (SELECT count(*) FROM trail.events WHERE event_id = management),
	                      (SELECT count(*) FROM trail.event_resources WHERE event_id = management),
	                      (SELECT count(*) FROM trail.events WHERE event_id = data))
$$;
SELECT is(pg_temp.import(pg_temp.dir() || '/one/a.json.gz'), '1 0 4 0',
	'the same file again: nothing new, 4 duplicates');
SELECT is((SELECT count(*)::int FROM trail.events WHERE imported_from IS NOT NULL), 4, 'still 4 imported events');

SELECT pg_temp.write('rep/r.json', pg_temp.log(ARRAY[
	pg_temp.aws('11111111-1111-4111-8111-111111111111', pg_temp.ago(1, 5)),
	pg_temp.aws('11111111-1111-4111-8111-111111111111', pg_temp.ago(1, 5)),
	pg_temp.s3('22222222-2222-4222-8222-222222222222', pg_temp.ago(1, 6)),
	pg_temp.s3('22222222-2222-4222-8222-222222222222', pg_temp.ago(1, 6)),
	pg_temp.aws('33333333-3333-4333-8333-333333333333', pg_temp.ago(1, 7))]));
SELECT is(pg_temp.import(pg_temp.dir() || '/rep/r.json'), '1 3 2 0',
	'a .json file repeating a management and a data eventID: 3 imported, 2 duplicates');
SELECT is(pg_temp.stored('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'), '1 7 1',
	'each repeated event once, the management one with its lookup entries once (EventName, EventSource, Username, AccessKeyId, EventId, ResourceType, ResourceName)');

------------------------------------------------------------------------------
-- A directory tree: log files in sorted order; digests, sidecars and
-- signatures left out
------------------------------------------------------------------------------
SELECT pg_temp.write('tree/AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/20/b.json.gz',
	pg_temp.log(ARRAY[pg_temp.aws('44444444-4444-4444-8444-444444444444', pg_temp.ago(1, 8), 'DeleteDBInstance')]));
SELECT pg_temp.write('tree/AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/20/a.json',
	pg_temp.log(ARRAY[pg_temp.aws('55555555-5555-4555-8555-555555555555', pg_temp.ago(1, 9), 'DeleteDBInstance')]));
-- none of these is a log file: each would fail the import if it were read
SELECT pg_temp.write('tree/AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/20/a.json.meta.json', '{"not": "records"');
SELECT pg_temp.write('tree/AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/20/b.json.gz.sig', 'signature');
SELECT pg_temp.write('tree/AWSLogs/123456789012/CloudTrail-Digest/eu-west-1/2026/11/20/d.json.gz',
	'{"awsAccountId": "123456789012", "logFiles": []}');
SELECT pg_temp.write('tree/AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/20/notes.txt', 'not a log file');
-- a link out of the tree, to a file that is no log file: not followed
SELECT pg_temp.write('outside/x.json.gz', '{"not": "records"}');
DO $$ BEGIN
	PERFORM pg_temp.server_shell(
		format('ln -s %1$s/outside/x.json.gz %1$s/tree/AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/20/c.json.gz',
		       pg_temp.dir()));
END $$;
SET client_min_messages = warning;	-- the NOTICE naming the link
SELECT is(pg_temp.import(pg_temp.dir() || '/tree/'), '2 2 0 0',
	'a directory tree: its 2 log files, nothing else (no digest, sidecar, signature, other file, symbolic link)');
RESET client_min_messages;
SELECT is((SELECT array_agg(regexp_replace(imported_from, '^.*/', '') ORDER BY event_id) FROM trail.events
            WHERE event_id IN ('44444444-4444-4444-8444-444444444444', '55555555-5555-4555-8555-555555555555')),
	ARRAY['b.json.gz', 'a.json'], 'each event names its file');
SELECT is((SELECT array_agg(event_id::text ORDER BY commit_seq, ctid) FROM trail.events
            WHERE event_name = 'DeleteDBInstance'),
	ARRAY['55555555-5555-4555-8555-555555555555', '44444444-4444-4444-8444-444444444444'],
	'files are read in sorted order (a.json before b.json.gz)');

------------------------------------------------------------------------------
-- Strings full of escapes and brackets, across the 64 kB chunks files are
-- read in
------------------------------------------------------------------------------
CREATE TEMP TABLE big AS
SELECT jsonb_set(pg_temp.aws('abababab-abab-4bab-8bab-abababababab', pg_temp.ago(1, 12)),
                 '{requestParameters,policy}',
                 to_jsonb(repeat(E'{"a": ["b\\\"]}"], \\', 20000) || E'\u00e9\t\n')) AS r;
SELECT pg_temp.write('big/b.json.gz', pg_temp.log(ARRAY[r, pg_temp.aws('cdcdcdcd-cdcd-4dcd-8dcd-cdcdcdcdcdcd', pg_temp.ago(1, 13))]))
  FROM big;
SELECT is(pg_temp.import(pg_temp.dir() || '/big/b.json.gz'), '1 2 0 0',
	'a record of 500 kB whose strings hold escaped quotes, backslashes and brackets: it and the next one imported');
SELECT is(pg_temp.rendered('abababab-abab-4bab-8bab-abababababab'), r, 'and it comes back whole') FROM big;

------------------------------------------------------------------------------
-- JSON read as jsonb_in reads it: escapes (\u with surrogate pairs),
-- numbers as written, repeated keys (the last one wins), and nesting deeper
-- than the import's own parser takes (jsonb_in parses that record)
------------------------------------------------------------------------------
CREATE TEMP TABLE odd AS
SELECT replace(replace(pg_temp.aws('b1b1b1b1-b1b1-4b1b-8b1b-b1b1b1b1b1b1', pg_temp.ago(1, 15))::text,
         '"dBInstanceIdentifier": "orders-db"',
         '"dBInstanceIdentifier": "\u006frders-db \u00e9\u20ac\ud83d\ude00 \/ \"q\" \\ \b\f\n\r\t",'
         || ' "n": [1.50, -0, 0.0e0, 1E+3, -12345678901234567890.125e-2, 7], "dup": 1, "dup": {"a": 2, "a": [true, false, null]}'),
         '"eventName": "ModifyDBInstance"', '"eventName": "Ignored", "eventName": "ModifyDBInstance"') AS t,
       replace(pg_temp.aws('b2b2b2b2-b2b2-4b2b-8b2b-b2b2b2b2b2b2', pg_temp.ago(1, 16))::text,
         '"dBInstanceIdentifier": "orders-db"',
         '"dBInstanceIdentifier": "orders-db", "deep": ' || repeat('[', 70) || '"\u00e9"' || repeat(']', 70)) AS deep;
SELECT pg_temp.write('odd/o.json', '{"Records": [' || t || ',' || deep || ']}') FROM odd;
SELECT is(pg_temp.import(pg_temp.dir() || '/odd/o.json'), '1 2 0 0', 'records with escapes, odd numbers, repeated keys, deep nesting: imported');
SELECT is(pg_temp.rendered('b1b1b1b1-b1b1-4b1b-8b1b-b1b1b1b1b1b1')::text, t::jsonb::text,
	'escapes decoded, numbers as written (1.50, 0.0), the last of repeated keys: as jsonb_in reads them') FROM odd;
SELECT is(pg_temp.rendered('b2b2b2b2-b2b2-4b2b-8b2b-b2b2b2b2b2b2')::text, deep::jsonb::text,
	'a record nested 70 deep comes back whole') FROM odd;

------------------------------------------------------------------------------
-- A batch that mixes new records, repeated ones and ones already in the
-- store, over several days
------------------------------------------------------------------------------
SELECT pg_temp.write('mix/m.json', pg_temp.log(ARRAY[
	pg_temp.aws('fc3af1a1-b707-4de7-be09-0f3f8c6eaa69', a->>'eventTime'),	-- in the store
	pg_temp.aws('c1c1c1c1-c1c1-4c1c-8c1c-c1c1c1c1c1c1', pg_temp.ago(2, 20)),
	pg_temp.aws('c1c1c1c1-c1c1-4c1c-8c1c-c1c1c1c1c1c1', pg_temp.ago(4, 20)),	-- another time: another event
	pg_temp.aws('c1c1c1c1-c1c1-4c1c-8c1c-c1c1c1c1c1c1', pg_temp.ago(2, 20)),	-- repeated
	pg_temp.s3('c2c2c2c2-c2c2-4c2c-8c2c-c2c2c2c2c2c2', pg_temp.ago(5, 20)),
	pg_temp.s3('c2c2c2c2-c2c2-4c2c-8c2c-c2c2c2c2c2c2', pg_temp.ago(5, 20))]))	-- repeated
  FROM recs;
SELECT is(pg_temp.import(pg_temp.dir() || '/mix/m.json'), '1 3 3 0',
	'a batch mixing new, repeated and stored records: 3 imported, 3 duplicates');
SELECT is((SELECT count(*)::int FROM trail.event_resources WHERE event_id = 'c1c1c1c1-c1c1-4c1c-8c1c-c1c1c1c1c1c1'), 14,
	'lookup entries for each of the two new events once, none for the repeated record');
SELECT is((SELECT count(*)::int FROM trail.event_resources WHERE event_id = 'fc3af1a1-b707-4de7-be09-0f3f8c6eaa69'), 7,
	'none again for the record already in the store');
SELECT is((SELECT count(DISTINCT tableoid)::int FROM trail.events
            WHERE event_id IN ('c1c1c1c1-c1c1-4c1c-8c1c-c1c1c1c1c1c1', 'c2c2c2c2-c2c2-4c2c-8c2c-c2c2c2c2c2c2')
              AND tableoid::regclass::text <> 'trail.events_default'), 3,
	'the batch''s three days, each in its own partition');

------------------------------------------------------------------------------
-- Repeated records a batch apart, in days the import itself makes: their
-- rows are not looked up before they are written (nobody else can write
-- there), the unique indexes report the repeats, which are deleted again
------------------------------------------------------------------------------
SELECT ok(to_regclass('trail.events_' || to_char(now() AT TIME ZONE 'UTC' - interval '12 days', 'YYYYMMDD')) IS NULL,
	'no partition yet for the day 12 days ago');
SELECT pg_temp.write('far/f.json', pg_temp.log(ARRAY[
	pg_temp.aws('d1d1d1d1-d1d1-4d1d-8d1d-d1d1d1d1d1d1', pg_temp.ago(12, 1)),
	pg_temp.s3('d2d2d2d2-d2d2-4d2d-8d2d-d2d2d2d2d2d2', pg_temp.ago(12, 2))]
	|| ARRAY(SELECT pg_temp.s3(gen_random_uuid()::text, pg_temp.ago(12, 10 + i)) FROM generate_series(1, 1000) i)
	|| ARRAY[
	pg_temp.aws('d1d1d1d1-d1d1-4d1d-8d1d-d1d1d1d1d1d1', pg_temp.ago(12, 1)),	-- repeated, in the next batch
	pg_temp.s3('d2d2d2d2-d2d2-4d2d-8d2d-d2d2d2d2d2d2', pg_temp.ago(12, 2)),	-- repeated
	pg_temp.aws('d3d3d3d3-d3d3-4d3d-8d3d-d3d3d3d3d3d3', pg_temp.ago(12, 3))]));
SELECT is(pg_temp.import(pg_temp.dir() || '/far/f.json'), '1 1003 2 0',
	'records repeated a batch of 1,000 later, in a new day: 1,003 imported, 2 duplicates');
SELECT is(pg_temp.stored('d1d1d1d1-d1d1-4d1d-8d1d-d1d1d1d1d1d1', 'd2d2d2d2-d2d2-4d2d-8d2d-d2d2d2d2d2d2'), '1 7 1',
	'each repeated record stored once, the management one with its lookup entries once');
SELECT is((SELECT count(*)::int FROM trail.lookup_events('EventId', 'd1d1d1d1-d1d1-4d1d-8d1d-d1d1d1d1d1d1',
                                                         start_time => now() - interval '13 days')), 1,
	'LookupEvents finds it once');
SELECT is(pg_temp.import(pg_temp.dir() || '/far/f.json'), '1 0 1005 0',
	'the same file again, into the day it made: every record a duplicate');

------------------------------------------------------------------------------
-- Imported events are history: no rule fires for them
------------------------------------------------------------------------------
CREATE TABLE rule_sink (event jsonb);
CREATE FUNCTION public.import_rule_sink(event jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO rule_sink VALUES (event) $$;
SELECT trail.put_rule('import-all', '{"detail": {"eventCategory": ["Management", "Data"]}}',
                      'function:public.import_rule_sink');
SELECT pg_temp.write('rules/r.json', pg_temp.log(ARRAY[pg_temp.aws('efefefef-efef-4fef-8fef-efefefefefef', pg_temp.ago(1, 14)),
                                                       pg_temp.s3('f0f0f0f0-f0f0-4f0f-8f0f-f0f0f0f0f0f0', pg_temp.ago(1, 14))]));
SELECT is(pg_temp.import(pg_temp.dir() || '/rules/r.json'), '1 2 0 0', 'with a rule matching every event: imported');
SELECT is((SELECT array_agg(event->'detail'->>'eventName') FROM rule_sink), ARRAY['StartImport'],
	'the rule saw the StartImport call, not the imported events');
SELECT trail.delete_rule('import-all');

------------------------------------------------------------------------------
-- Retention: older records are counted, not imported
------------------------------------------------------------------------------
SELECT pg_temp.write('old/o.json.gz', pg_temp.log(ARRAY[
	pg_temp.aws('66666666-6666-4666-8666-666666666666', pg_temp.ago(400)),
	pg_temp.aws('77777777-7777-4777-8777-777777777777', pg_temp.ago(3))]));
SELECT is(pg_temp.import(pg_temp.dir() || '/old/o.json.gz'), '1 1 0 1',
	'a record older than the retention period is counted as expired');
SELECT is((SELECT count(*)::int FROM trail.events WHERE event_id = '66666666-6666-4666-8666-666666666666'), 0,
	'and not imported');
SELECT ok((SELECT tableoid::regclass::text <> 'trail.events_default' FROM trail.events
            WHERE event_id = '77777777-7777-4777-8777-777777777777'),
	'an imported day has its own partition, not the default one');
SELECT is((SELECT request_parameters->>'reason' FROM trail.events WHERE event_name = 'CreateTable'
            AND request_parameters->>'tableName' = 'trail.events_' || to_char((now() - interval '3 days') AT TIME ZONE 'UTC', 'YYYYMMDD')),
	'import', 'made by the import, recorded as a CreateTable event');

------------------------------------------------------------------------------
-- Relative paths are the data directory's
------------------------------------------------------------------------------
SELECT pg_temp.write('rel.json', pg_temp.log(ARRAY[pg_temp.aws('88888888-8888-4888-8888-888888888888', pg_temp.ago(1, 10))]));
DO $$ BEGIN
	PERFORM pg_temp.server_shell(
		format('mv %s/rel.json %s/trail_tap_import.json', pg_temp.dir(), (SELECT data_dir FROM ctx)));
END $$;
SELECT is(pg_temp.import('trail_tap_import.json'), '1 1 0 0', 'a relative path is read from the data directory');
SELECT is((SELECT imported_from FROM trail.events WHERE event_id = '88888888-8888-4888-8888-888888888888'),
	(SELECT data_dir FROM ctx) || '/trail_tap_import.json', 'and recorded as the absolute path');
DO $$ BEGIN
	PERFORM pg_temp.server_shell(format('rm %s/trail_tap_import.json', (SELECT data_dir FROM ctx)));
END $$;

------------------------------------------------------------------------------
-- Bad input: an error naming the file, and nothing imported
------------------------------------------------------------------------------
CREATE TEMP TABLE before AS SELECT pg_temp.store() AS s;
GRANT SELECT ON before TO PUBLIC;

SELECT pg_temp.write('bad/json/a.json.gz', pg_temp.log(ARRAY[pg_temp.aws('a0000000-0000-4000-8000-000000000001', pg_temp.ago(1))]));
SELECT pg_temp.write('bad/json/b.json.gz',
	'{"Records": [' || pg_temp.aws('a0000000-0000-4000-8000-000000000002', pg_temp.ago(1))::text
	|| ', {"eventID": "a0000000-0000-4000-8000-000000000003", "eventTime": oops}]}');
SELECT is(pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || '/bad/json')),
	format('22P02 could not import CloudTrail log file "%s": record 2 (at byte %s): invalid input syntax for type json',
	       pg_temp.dir() || '/bad/json/b.json.gz',
	       length('{"Records": [' || pg_temp.aws('a0000000-0000-4000-8000-000000000002', pg_temp.ago(1))::text || ', ')),
	'malformed JSON: an error naming the file, the record and where it starts');
SELECT is(pg_temp.store(), (SELECT s FROM before),
	'nothing imported, not even the good file before it, nor its StartImport event');

-- gzip cut short: the records are complete, the stream is not
DO $$ BEGIN
	EXECUTE format('COPY (SELECT %L) TO PROGRAM %L WITH (FORMAT csv, DELIMITER %L, QUOTE %L)',
		pg_temp.log(ARRAY[pg_temp.aws('a0000000-0000-4000-8000-000000000004', pg_temp.ago(1))]),
		format('mkdir -p %1$s/bad/gz && gzip | head -c -6 > %1$s/bad/gz/t.json.gz', pg_temp.dir()), E'\x02', E'\x01');
END $$;
SELECT is(pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || '/bad/gz/t.json.gz')),
	format('XX001 could not import CloudTrail log file "%s": it is not a complete gzip file (unexpected end of file)',
	       pg_temp.dir() || '/bad/gz/t.json.gz'),
	'truncated gzip: an error naming the file');
SELECT is(pg_temp.store(), (SELECT s FROM before), 'nothing imported');

SELECT pg_temp.write('bad/t/no-time.json', pg_temp.log(ARRAY[
	pg_temp.aws('a0000000-0000-4000-8000-000000000005', pg_temp.ago(1)),
	pg_temp.aws('a0000000-0000-4000-8000-000000000006', pg_temp.ago(1)) - 'eventTime']));
SELECT matches(pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || '/bad/t/no-time.json')),
	'^22P02 could not import CloudTrail log file "[^"]*/bad/t/no-time.json": record 2 \(at byte [0-9]+\): it has no eventTime$',
	'a record without eventTime: an error naming the file and the record');
SELECT pg_temp.write('bad/t/bad-time.json', pg_temp.log(ARRAY[
	pg_temp.aws('a0000000-0000-4000-8000-000000000005', '2026-02-30T00:00:00Z')]));
SELECT matches(pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || '/bad/t/bad-time.json')),
	'^22P02 could not import CloudTrail log file "[^"]*/bad/t/bad-time.json": record 1 \(at byte 13\): eventTime "2026-02-30T00:00:00Z" is not a UTC time',
	'an eventTime that is no time: an error naming it');
SELECT pg_temp.write('bad/i/no-id.json.gz', pg_temp.log(ARRAY[
	pg_temp.aws('a0000000-0000-4000-8000-000000000007', pg_temp.ago(1)) - 'eventID']));
SELECT matches(pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || '/bad/i/no-id.json.gz')),
	'^22P02 could not import CloudTrail log file "[^"]*/bad/i/no-id.json.gz": record 1 \(at byte 13\): it has no eventID$',
	'a record without eventID: an error naming the file and the record');
SELECT pg_temp.write('bad/i/not-uuid.json.gz', pg_temp.log(ARRAY[
	pg_temp.aws('a0000000-0000-4000-8000-000000000008', pg_temp.ago(1)),
	pg_temp.aws('a0000000-0000-4000-8000-000000000009', pg_temp.ago(1)),
	pg_temp.aws('not-a-uuid', pg_temp.ago(1))]));
SELECT matches(pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || '/bad/i/not-uuid.json.gz')),
	'^22P02 could not import CloudTrail log file "[^"]*/bad/i/not-uuid.json.gz": record 3 \(at byte [0-9]+\): eventID "not-a-uuid" is not a UUID$',
	'an eventID that is not a UUID: an error naming the file and the record');
SELECT pg_temp.write('bad/u/nul.json', pg_temp.log(ARRAY[
	pg_temp.aws('a0000000-0000-4000-8000-00000000000c', pg_temp.ago(1))]));
DO $$ BEGIN
	PERFORM pg_temp.server_shell(
		format('sed -i ''s/"orders-db"/"orders\\u0000db"/'' %s/bad/u/nul.json', pg_temp.dir()));
END $$;
SELECT matches(pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || '/bad/u/nul.json')),
	'^22P02 could not import CloudTrail log file "[^"]*/bad/u/nul.json": record 1 \(at byte 13\): unsupported Unicode escape sequence$',
	'a \u0000 escape (which jsonb cannot hold): an error naming the file and the record');
SELECT pg_temp.write('bad/top/array.json', '[' || pg_temp.aws('a0000000-0000-4000-8000-00000000000a', pg_temp.ago(1))::text || ']');
SELECT is(pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || '/bad/top/array.json')),
	format('22P02 could not import CloudTrail log file "%s": it is not a CloudTrail log file: the top level is not {"Records": [...]}',
	       pg_temp.dir() || '/bad/top/array.json'),
	'a top level that is an array: not a log file');
SELECT pg_temp.write('bad/top/other.json', '{"records": []}');
SELECT matches(pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || '/bad/top/other.json')),
	'the top level is not \{"Records": \[\.\.\.\]\}$', 'another member than Records: not a log file');
SELECT pg_temp.write('bad/top/scalar.json', '{"Records": [1]}');
SELECT matches(pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || '/bad/top/scalar.json')),
	'record 1 \(at byte 13\): it is not a JSON object$', 'a record that is not an object');
SELECT pg_temp.write('bad/top/open.json', '{"Records": [' || pg_temp.aws('a0000000-0000-4000-8000-00000000000b', pg_temp.ago(1))::text);
SELECT matches(pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || '/bad/top/open.json')),
	'open.json": it ends before its \{"Records": \[\.\.\.\]\} is closed$', 'a file that ends inside Records');
SELECT pg_temp.write('bad/top/trailing.json', '{"Records": []} {}');
SELECT matches(pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || '/bad/top/trailing.json')),
	'trailing.json": it has more text after its \{"Records": \[\.\.\.\]\}$', 'text after the top level');
SELECT is(pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || '/no/such/path')),
	format('58P01 could not import CloudTrail log files from "%s": No such file or directory', pg_temp.dir() || '/no/such/path'),
	'a missing path: an error naming it');
SELECT is(pg_temp.store(), (SELECT s FROM before), 'after all of them: nothing imported');
-- escapes the import's own parser decodes (a BMP \u escape, a surrogate
-- pair, \n, \"): the value stored is the one jsonb_in makes of the text
SELECT pg_temp.write('esc/e.json', replace(pg_temp.log(ARRAY[
	pg_temp.aws('a0000000-0000-4000-8000-00000000000d', pg_temp.ago(1))]),
	'"orders-db"', '"orders\u00e9\ud83d\ude00\n\"db"'));
SELECT is(pg_temp.import(pg_temp.dir() || '/esc/e.json'), '1 1 0 0', 'a record with escapes imported');
SELECT is((SELECT request_parameters->>'dBInstanceIdentifier' FROM trail.events
            WHERE event_id = 'a0000000-0000-4000-8000-00000000000d'),
	'"orders\u00e9\ud83d\ude00\n\"db"'::jsonb #>> '{}',
	'its escapes decoded as jsonb_in decodes them');

------------------------------------------------------------------------------
-- An empty Records array is a log file
------------------------------------------------------------------------------
SELECT pg_temp.write('empty/e.json.gz', E'{ "Records"\t: [ ] }\t');
SELECT is(pg_temp.import(pg_temp.dir() || '/empty'), '1 0 0 0', 'an empty Records array: one file, no record');

------------------------------------------------------------------------------
-- With trail.import_parallel off the backend reads the files itself (above,
-- a background worker read them): the same rows, the same errors
------------------------------------------------------------------------------
SELECT pg_temp.write('serial/s.json.gz', pg_temp.log(ARRAY[
	pg_temp.aws('c0000000-0000-4000-8000-000000000001', pg_temp.ago(1, 13)),
	pg_temp.s3('c0000000-0000-4000-8000-000000000002', pg_temp.ago(1, 13)),
	pg_temp.aws('c0000000-0000-4000-8000-000000000001', pg_temp.ago(1, 13))]));
SET trail.import_parallel = off;
SELECT is(pg_temp.import(pg_temp.dir() || '/serial'), '1 2 1 0',
	'read by the importing backend: one file, two records, one repeat');
CREATE TEMP TABLE serial_failures AS
SELECT p, pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || p)) AS f,
       pg_temp.failure_detail(format('SELECT trail.import_logs(%L)', pg_temp.dir() || p)) AS detail
  FROM unnest(ARRAY['/bad/json', '/bad/gz/t.json.gz', '/bad/t/no-time.json', '/bad/t/bad-time.json',
                    '/bad/i/not-uuid.json.gz', '/bad/u/nul.json', '/bad/top/array.json',
                    '/bad/top/scalar.json', '/bad/top/open.json', '/bad/top/trailing.json']) p;
RESET trail.import_parallel;
SELECT is(pg_temp.rendered('c0000000-0000-4000-8000-000000000001'),
	pg_temp.aws('c0000000-0000-4000-8000-000000000001', pg_temp.ago(1, 13)), 'its management record given back');
SELECT is(pg_temp.rendered('c0000000-0000-4000-8000-000000000002'),
	pg_temp.s3('c0000000-0000-4000-8000-000000000002', pg_temp.ago(1, 13)), 'its data record given back');
SELECT is(pg_temp.import(pg_temp.dir() || '/serial'), '1 0 3 0', 'read again by a worker: all three duplicates');
SELECT is((SELECT count(*) FROM serial_failures
            WHERE f LIKE '22P02 %' OR f LIKE 'XX001 %'), 10::bigint,
	'each bad file fails the backend''s own reading');
SELECT is((SELECT array_agg(p) FROM serial_failures
            WHERE f IS DISTINCT FROM pg_temp.failure(format('SELECT trail.import_logs(%L)', pg_temp.dir() || p))),
	NULL, 'with the same error as a worker''s reading');
SELECT is((SELECT detail FROM serial_failures WHERE p = '/bad/json'),
	'Token "oops" is invalid.', 'the backend''s own reading: the parser''s detail');
SELECT is(pg_temp.failure_detail(format('SELECT trail.import_logs(%L)', pg_temp.dir() || '/bad/json')),
	'Token "oops" is invalid.', 'a worker''s reading: the same detail, carried over');

------------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------------
CREATE ROLE regress_tap_import_plain IN ROLE trail_reader, pg_read_server_files;
CREATE ROLE regress_tap_import_admin IN ROLE trail_admin;
CREATE ROLE regress_tap_import_reader IN ROLE trail_admin, pg_read_server_files;
SELECT pg_temp.write('priv/p.json', pg_temp.log(ARRAY[pg_temp.aws('99999999-9999-4999-8999-999999999999', pg_temp.ago(1, 11))]));

SELECT ok(NOT has_function_privilege('public', 'trail.import_logs(text)', 'EXECUTE'), 'PUBLIC may not execute import_logs');
SET ROLE regress_tap_import_plain;
SELECT throws_ok(format('SELECT trail.import_logs(%L)', (SELECT dir FROM ctx) || '/priv/p.json'),
	'42501', 'permission denied for function import_logs', 'a role without trail_admin cannot execute it (even with pg_read_server_files)');
RESET ROLE;
SET ROLE regress_tap_import_admin;
SELECT throws_ok(format('SELECT trail.import_logs(%L)', (SELECT dir FROM ctx) || '/priv/p.json'),
	'42501', 'permission denied to import CloudTrail log files', 'trail_admin alone is refused');
RESET ROLE;
SET ROLE regress_tap_import_reader;
SELECT throws_ok('SET trail.import_parallel = off', '42501', NULL,
	'only superusers choose who reads an import''s files');
SELECT is((SELECT records_imported FROM trail.import_logs((SELECT dir FROM ctx) || '/priv/p.json')), 1::bigint,
	'pg_read_server_files and trail_admin together may import');
RESET ROLE;
SELECT matches((SELECT user_identity->>'arn' FROM trail.events WHERE event_name = 'StartImport'
                 ORDER BY commit_seq DESC LIMIT 1),
	':assumed-role/regress_tap_import_reader/', 'its StartImport event names it');
SELECT is((SELECT count(*)::int FROM trail.events WHERE event_id = '99999999-9999-4999-8999-999999999999'), 1,
	'its import is in the store');

------------------------------------------------------------------------------
-- Imported events stay append-only
------------------------------------------------------------------------------
SELECT throws_ok($$DELETE FROM trail.events WHERE imported_from IS NOT NULL$$, '42501', NULL,
	'imported events cannot be deleted');
SELECT throws_ok($$UPDATE trail.events SET unknown_fields = '{}' WHERE imported_from IS NOT NULL$$, '42501', NULL,
	'nor changed');

------------------------------------------------------------------------------
-- LookupEvents pages through records of one second: CloudTrail times are
-- whole seconds, and the lookup index holds the entries of one value and
-- time in the order they were written, not by id
------------------------------------------------------------------------------
-- 25 records in one second and 10 in the second before, their ids random
-- and the records shuffled in the file
CREATE TEMP TABLE same_second AS
SELECT gen_random_uuid()::text AS id, CASE WHEN n <= 25 THEN 0 ELSE 1 END AS back
  FROM generate_series(1, 35) n;
SELECT pg_temp.write('second/s.json',
	pg_temp.log(ARRAY(SELECT pg_temp.aws(id, pg_temp.ago(3, back), 'SameSecondCall')
	                    FROM same_second ORDER BY random())));
SELECT is(pg_temp.import(pg_temp.dir() || '/second/s.json'), '1 35 0 0',
	'35 records of two seconds imported');
-- the ids of all pages of 4, in order
CREATE FUNCTION pg_temp.pages_of_4(k text, v text) RETURNS uuid[] LANGUAGE plpgsql AS $$
DECLARE
	ids uuid[] := '{}';
	tok text;
	next_tok text;
	r record;
BEGIN
	FOR page IN 1..100 LOOP
		next_tok := NULL;
		FOR r IN SELECT * FROM trail.lookup_events(k, v, now() - interval '10 days',
		                                            max_results => 4, next_token => tok) LOOP
			ids := ids || r.event_id;
			next_tok := r.next_token;
		END LOOP;
		IF next_tok IS NULL THEN
			RETURN ids;
		END IF;
		tok := next_tok;
	END LOOP;
	RAISE EXCEPTION 'more than 100 pages';
END
$$;
SELECT is(pg_temp.pages_of_4('EventName', 'SameSecondCall'),
	ARRAY(SELECT e.event_id FROM trail.events e WHERE e.event_name = 'SameSecondCall'
	       ORDER BY e.event_time DESC, e.event_id DESC),
	'pages of 4 list each of them once, newest second first, by id within a second');

------------------------------------------------------------------------------
-- Cleanup
------------------------------------------------------------------------------
DO $$ BEGIN
	PERFORM pg_temp.server_shell(format('rm -rf %s', pg_temp.dir()));
END $$;
DROP TABLE rule_sink;
DROP FUNCTION public.import_rule_sink(jsonb);
DROP ROLE regress_tap_import_plain;
DROP ROLE regress_tap_import_admin;
DROP ROLE regress_tap_import_reader;

SELECT * FROM finish();
