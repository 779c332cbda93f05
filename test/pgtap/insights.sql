-- insights: CloudTrail Insights over synthetic history (spec section d).
--
-- Eight days of AWS-style management events are written as CloudTrail log
-- files and imported (trail.import_logs), then trail.run_insights travels
-- in time over them:
--   - rds DeleteDBSnapshot: one call a minute, then a burst of 30 a minute
--     for five minutes (one Start, one End, statistics and attributions), and
--     a second burst of three minutes that spans two cycles;
--   - ec2 StartInstances: a steady rate with noise (0 to 6 a minute): no
--     insight;
--   - ec2 CreateSnapshot: bursts of 40 in the first minute of every hour,
--     the same on the test day: bursty but normal, no insight;
--   - ec2 DescribeInstances (read-only): never failing, then 20 AccessDenied
--     a minute for three minutes: an error-rate insight, and no call-rate
--     one (read-only calls are not counted for it).
-- Also: the insight selectors API (PutInsightSelectors/GetInsightSelectors),
-- its validation and management events, who may run what, how Insight
-- events look (cloudtrail_record, lookup_events, event_history), and that
-- the rollups count every imported write call exactly once.
--
-- The file runs in autocommit mode in a fresh database; the trail it makes
-- is not logging, so the worker runs no cycle of its own meanwhile.
\set QUIET 1
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_tap_insights_plain;
DROP ROLE IF EXISTS regress_tap_insights_admin;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS trail;
RESET client_min_messages;

SELECT plan(67);

------------------------------------------------------------------------------
-- Synthetic history
------------------------------------------------------------------------------
-- D: the test day, two days ago (UTC midnight); the history starts 8 days
-- before it.
CREATE TEMP TABLE clock AS
	SELECT (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') - interval '2 days' AS d;

-- One AWS management record.
CREATE FUNCTION pg_temp.rec(t timestamptz, src text, name text, ro boolean, usr text,
                            agent text, err text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
		'eventVersion', '1.08',
		'userIdentity', jsonb_build_object('type', 'IAMUser', 'principalId', 'AIDA' || upper(usr),
		                                   'arn', 'arn:aws:iam::123456789012:user/' || usr,
		                                   'accountId', '123456789012', 'userName', usr),
		'eventTime', to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
		'eventSource', src, 'eventName', name, 'awsRegion', 'eu-west-1',
		'sourceIPAddress', '203.0.113.7', 'userAgent', agent,
		'errorCode', err, 'errorMessage', CASE WHEN err IS NOT NULL THEN 'not authorized' END,
		'requestID', gen_random_uuid()::text, 'eventID', gen_random_uuid()::text,
		'readOnly', ro, 'eventType', 'AwsApiCall', 'managementEvent', true,
		'recipientAccountId', '123456789012', 'eventCategory', 'Management'))
$$;

-- pg_temp.write_log(path, query), shared with test/system/070_insights.pl
\ir ../system/write_log.sql
\ir ../system/server_shell.sql

-- Days whose totals (sums, sums of squares, busiest minutes) disagree with
-- their minutes: the baselines are made from the totals.
CREATE FUNCTION pg_temp.days_off() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*)
	  FROM trail.insight_days d
	  FULL JOIN (SELECT event_source, event_name, region, account_id,
	                    (minute AT TIME ZONE 'UTC')::date AS day,
	                    sum(calls) AS c, sum(calls::int8 * calls) AS csq, max(calls) AS cmax,
	                    sum(errors) AS e, sum(errors::int8 * errors) AS esq, max(errors) AS emax
	               FROM trail.insight_rollups GROUP BY 1, 2, 3, 4, 5) r
	         USING (event_source, event_name, region, account_id, day)
	 WHERE (d.calls, d.calls_sq, d.calls_max, d.errors, d.errors_sq, d.errors_max)
	       IS DISTINCT FROM (r.c, r.csq, r.cmax, r.e, r.esq, r.emax)
$$;

CREATE TEMP TABLE dir AS SELECT '/tmp/trail_tap_insights_' || current_database() AS path;
DO $$
DECLARE
	p text := (SELECT path FROM dir);
	d timestamptz := (SELECT c.d FROM clock c);
	day int;
BEGIN
	PERFORM pg_temp.server_shell('rm -rf ' || p || ' && mkdir -p ' || p);
	-- one file per day, D - 8 .. D
	FOR day IN -8 .. 0 LOOP
		PERFORM pg_temp.write_log(format('%s/day%s.json.gz', p, day + 8), format($q$
			SELECT pg_temp.rec(m + interval '5 seconds', 'rds.amazonaws.com', 'DeleteDBSnapshot', false,
			                   'alice', 'aws-cli/2.9.19')
			  FROM generate_series(%1$L::timestamptz, %1$L::timestamptz + interval '1 day' - interval '1 minute',
			                       interval '1 minute') m
			UNION ALL
			SELECT pg_temp.rec(m + i * interval '1 second', 'ec2.amazonaws.com', 'StartInstances', false,
			                   'bob', 'terraform/1.6')
			  FROM generate_series(%1$L::timestamptz, %1$L::timestamptz + interval '1 day' - interval '1 minute',
			                       interval '1 minute') m,
			       generate_series(1, (abs(hashtext(m::text)) %% 7)) i
			UNION ALL
			SELECT pg_temp.rec(h + i * interval '1 second', 'ec2.amazonaws.com', 'CreateSnapshot', false,
			                   'backup', 'backup-agent/3')
			  FROM generate_series(%1$L::timestamptz, %1$L::timestamptz + interval '23 hours',
			                       interval '1 hour') h,
			       generate_series(1, 40) i
			UNION ALL
			SELECT pg_temp.rec(m + interval '7 seconds', 'ec2.amazonaws.com', 'DescribeInstances', true,
			                   'carol', 'console')
			  FROM generate_series(%1$L::timestamptz, %1$L::timestamptz + interval '1 day' - interval '1 minute',
			                       interval '1 minute') m $q$, d + day * interval '1 day'));
	END LOOP;
	-- the test day's unusual activity
	PERFORM pg_temp.write_log(p || '/unusual.json.gz', format($q$
		SELECT pg_temp.rec(m + i * interval '1 second', 'rds.amazonaws.com', 'DeleteDBSnapshot', false,
		                   'mallory', 'evil-script/1.0')
		  FROM generate_series(%1$L::timestamptz + interval '12 hours',
		                       %1$L::timestamptz + interval '12 hours 4 minutes', interval '1 minute') m,
		       generate_series(10, 38) i
		UNION ALL
		SELECT pg_temp.rec(m + i * interval '1 second', 'rds.amazonaws.com', 'DeleteDBSnapshot', false,
		                   'mallory', 'evil-script/1.0')
		  FROM generate_series(%1$L::timestamptz + interval '18 hours',
		                       %1$L::timestamptz + interval '18 hours 2 minutes', interval '1 minute') m,
		       generate_series(10, 38) i
		UNION ALL
		SELECT pg_temp.rec(m + i * interval '1 second', 'ec2.amazonaws.com', 'DescribeInstances', true,
		                   'eve', 'python-requests/2.31', 'AccessDenied')
		  FROM generate_series(%1$L::timestamptz + interval '14 hours',
		                       %1$L::timestamptz + interval '14 hours 2 minutes', interval '1 minute') m,
		       generate_series(20, 39) i $q$, d));
END
$$;

-- what was written: every write call of DeleteDBSnapshot, by day
CREATE TEMP TABLE expected_calls AS
	SELECT 9 * 1440 + 5 * 29 + 3 * 29 AS delete_snapshot;

SELECT is((SELECT records_imported FROM trail.import_logs((SELECT path FROM dir))),
          (9 * 1440 * 2 + 9 * 24 * 40 + 5 * 29 + 3 * 29 + 3 * 20)::bigint
            + (SELECT sum(abs(hashtext(m::text)) % 7)
                 FROM clock c, generate_series(c.d - interval '8 days', c.d + interval '1 day' - interval '1 minute',
                                               interval '1 minute') m),
          'the synthetic history is imported');

------------------------------------------------------------------------------
-- Insight selectors
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT trail.create_trail('audit', 'insights-bucket', enable_logging => false)$$,
                'a trail (not logging: the worker stays out of this test)');
SELECT throws_like($$SELECT trail.get_insight_selectors('audit')$$,
                   'InsightNotEnabledException%', 'GetInsightSelectors before any: InsightNotEnabledException');
SELECT is(trail.put_insight_selectors('audit', '[{"InsightType": "ApiCallRateInsight"}, {"InsightType": "ApiErrorRateInsight"}]'),
          jsonb_build_object('TrailARN', trail.trail_arn('audit'),
                             'InsightSelectors', '[{"InsightType": "ApiCallRateInsight"}, {"InsightType": "ApiErrorRateInsight"}]'::jsonb),
          'PutInsightSelectors returns the trail ARN and the selectors');
SELECT is(trail.get_insight_selectors('audit')->'InsightSelectors',
          '[{"InsightType": "ApiCallRateInsight"}, {"InsightType": "ApiErrorRateInsight"}]'::jsonb,
          'GetInsightSelectors returns them');
SELECT is((SELECT has_insight_selectors FROM trail.describe_trails() WHERE name = 'audit'), true,
          'DescribeTrails: HasInsightSelectors');
SELECT is((SELECT count(*) FROM trail.events WHERE event_name = 'PutInsightSelectors'
             AND event_source = 'trail.postgresql'
             AND request_parameters = '{"trailName": "audit", "insightSelectors": [{"InsightType": "ApiCallRateInsight"}, {"InsightType": "ApiErrorRateInsight"}]}'),
          1::bigint, 'PutInsightSelectors is a management event with its parameters');

SELECT throws_like($$SELECT trail.put_insight_selectors('audit', '[{"InsightType": "ApiCallRate"}]')$$,
                   'InvalidInsightSelectorsException%InsightType must be%', 'an unknown insight type is refused');
SELECT throws_like($$SELECT trail.put_insight_selectors('audit', '[{"InsightType": "ApiCallRateInsight"}, {"InsightType": "ApiCallRateInsight"}]')$$,
                   'InvalidInsightSelectorsException%selected twice%', 'a type selected twice is refused');
SELECT throws_like($$SELECT trail.put_insight_selectors('audit', '{"InsightType": "ApiCallRateInsight"}')$$,
                   'InvalidInsightSelectorsException%JSON array%', 'an object instead of a list is refused');
SELECT throws_like($$SELECT trail.put_insight_selectors('audit', '[{"InsightType": "ApiCallRateInsight", "Extra": 1}]')$$,
                   'InvalidInsightSelectorsException%one member%', 'an unknown member is refused');
SELECT throws_like($$SELECT trail.put_insight_selectors('nosuch', '[]')$$,
                   'TrailNotFoundException%', 'an unknown trail is refused');
SELECT is(trail.get_insight_selectors('audit')->'InsightSelectors',
          '[{"InsightType": "ApiCallRateInsight"}, {"InsightType": "ApiErrorRateInsight"}]'::jsonb,
          'refused calls changed nothing');
SELECT is((SELECT count(*) FROM trail.events WHERE event_name = 'PutInsightSelectors'), 1::bigint,
          'refused calls recorded no event');

------------------------------------------------------------------------------
-- Who may do what
------------------------------------------------------------------------------
CREATE ROLE regress_tap_insights_plain;
CREATE ROLE regress_tap_insights_admin IN ROLE trail_admin;
SET ROLE regress_tap_insights_plain;
SELECT throws_ok($$SELECT * FROM trail.run_insights()$$, '42501', NULL, 'an ordinary role cannot run insights');
SELECT throws_ok($$SELECT trail.put_insight_selectors('audit', '[]')$$, '42501', NULL,
                 'an ordinary role cannot put insight selectors');
SELECT throws_ok($$SELECT count(*) FROM trail.insight_rollups$$, '42501', NULL,
                 'an ordinary role cannot read the rollups');
RESET ROLE;
SET ROLE regress_tap_insights_admin;
SELECT lives_ok($$SELECT trail.get_insight_selectors('audit')$$, 'trail_admin reads insight selectors');
SELECT throws_ok($$INSERT INTO trail.insight_rollups VALUES ('x', 'y', 'r', 'a', now(), 1000, 0)$$, '42501', NULL,
                 'trail_admin cannot forge rollups');
RESET ROLE;
SELECT throws_like($$INSERT INTO trail.insight_rollups VALUES ('x', 'y', 'r', 'a', now(), 1000, 0)$$,
                   '%append-only%', 'nor can a superuser: rollups are trail''s own');

------------------------------------------------------------------------------
-- The first cycle, as of D 16:00: it folds the history, makes the
-- baselines for the window ending at D, and examines the day before.
------------------------------------------------------------------------------
-- It folds ~40,000 events at once, as after an import of history: with
-- 1 MB of work_mem (room for ~4,000 events' groups) it folds them a day at
-- a time, one slice per day partition (and slices of the default
-- partition around and between them), and must not spill to temporary files (it did when it
-- kept them in a tuplestore and sorted their attributions, and when it
-- grouped every day's minutes at once).
SET track_functions = 'pl';
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE temp_files_before AS
	SELECT temp_files FROM pg_stat_database WHERE datname = current_database();
SET work_mem = '1MB';
CREATE TEMP TABLE cycle1 AS
	SELECT * FROM trail.run_insights((SELECT d + interval '16 hours' FROM clock));
RESET work_mem;
SELECT pg_stat_force_next_flush();
SELECT is((SELECT d.temp_files - b.temp_files FROM pg_stat_database d, temp_files_before b
            WHERE d.datname = current_database()), 0::bigint,
          'folding the whole history writes no temporary file');
SELECT cmp_ok((SELECT calls FROM pg_stat_user_functions WHERE funcname = '_insights_fold_slice'), '>',
              (SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'trail.events'::regclass AND c.relname ~ '^events_[0-9]{8}$'),
              'it was folded in slices: one per day partition, and more for the default partition');
RESET track_functions;

SELECT is((SELECT sum(calls) FROM trail.insight_rollups
            WHERE event_source = 'rds.amazonaws.com' AND event_name = 'DeleteDBSnapshot'),
          (SELECT delete_snapshot::bigint FROM expected_calls),
          'the rollups count every imported DeleteDBSnapshot call once');
SELECT is(pg_temp.days_off(), 0::bigint, 'every day''s totals agree with its minutes');
SELECT is((SELECT sum(calls) FROM trail.insight_rollups WHERE event_name = 'DescribeInstances'), 0::bigint,
          'read-only calls are not counted as calls');
SELECT is((SELECT sum(errors) FROM trail.insight_rollups WHERE event_name = 'DescribeInstances'), 60::bigint,
          'their errors are');
SELECT is((SELECT window_end - window_start FROM trail.insight_windows
            WHERE region = 'eu-west-1' AND account_id = '123456789012'),
          interval '8 days', 'the baseline window: the 8 days of history before D');
SELECT is((SELECT round(average::numeric, 6) FROM trail.insight_baselines
            WHERE insight_type = 'ApiCallRateInsight' AND event_name = 'DeleteDBSnapshot'),
          1.000000, 'DeleteDBSnapshot baseline: one call a minute');
SELECT is((SELECT busy FROM trail.insight_baselines
            WHERE insight_type = 'ApiCallRateInsight' AND event_name = 'CreateSnapshot'),
          40::float8, 'CreateSnapshot baseline: a normal day''s busiest minutes are its bursts of 40');

SELECT is((SELECT count(*) FROM cycle1), 4::bigint,
          'the first cycle writes four Insight events (two insights, Start and End each)');
SELECT is((SELECT array_agg(DISTINCT event_name ORDER BY event_name) FROM cycle1),
          '{DeleteDBSnapshot,DescribeInstances}'::text[],
          'no insight for the noisy steady rate nor for the regular bursts');

-- the call-rate insight
CREATE TEMP TABLE call_start AS
	SELECT * FROM cycle1 WHERE insight_details->>'insightType' = 'ApiCallRateInsight'
	   AND insight_details->>'state' = 'Start';
CREATE TEMP TABLE call_end AS
	SELECT * FROM cycle1 WHERE insight_details->>'insightType' = 'ApiCallRateInsight'
	   AND insight_details->>'state' = 'End';
SELECT is((SELECT count(*) FROM call_start) + (SELECT count(*) FROM call_end), 2::bigint,
          'DeleteDBSnapshot: one Start and one End');
SELECT is((SELECT event_time FROM call_start), (SELECT d + interval '12 hours' FROM clock),
          'Start at the first unusual minute');
SELECT is((SELECT event_time FROM call_end), (SELECT d + interval '12 hours 5 minutes' FROM clock),
          'End at the first minute back to normal');
SELECT is((SELECT shared_event_id FROM call_start), (SELECT shared_event_id FROM call_end),
          'Start and End share their sharedEventID');
SELECT isnt((SELECT event_id FROM call_start), (SELECT event_id FROM call_end), 'but not their eventID');
SELECT is((SELECT insight_details #> '{insightContext,statistics}' FROM call_start),
          '{"baseline": {"average": 1.0}, "insight": {"average": 30.0},
            "insightDuration": 1, "baselineDuration": 11520}'::jsonb,
          'Start statistics: baseline 1/min, 30/min in its first minute, 8-day baseline');
SELECT is((SELECT insight_details #> '{insightContext,statistics}' FROM call_end),
          '{"baseline": {"average": 1.0}, "insight": {"average": 30.0},
            "insightDuration": 5, "baselineDuration": 11520}'::jsonb,
          'End statistics: 30/min over the five minutes of the insight');
SELECT is((SELECT insight_details #> '{insightContext,attributions}' FROM call_end),
          '[{"attribute": "userIdentityArn",
             "insight": [{"value": "arn:aws:iam::123456789012:user/mallory", "average": 29.0},
                         {"value": "arn:aws:iam::123456789012:user/alice", "average": 1.0}],
             "baseline": [{"value": "arn:aws:iam::123456789012:user/alice", "average": 1.0}]},
            {"attribute": "userAgent",
             "insight": [{"value": "evil-script/1.0", "average": 29.0}, {"value": "aws-cli/2.9.19", "average": 1.0}],
             "baseline": [{"value": "aws-cli/2.9.19", "average": 1.0}]},
            {"attribute": "errorCode",
             "insight": [{"value": "null", "average": 30.0}],
             "baseline": [{"value": "null", "average": 1.0}]}]'::jsonb,
          'End attributions: who, with what and how it failed, in the insight and in the baseline');
SELECT is((SELECT insight_details - 'insightContext' FROM call_start),
          '{"state": "Start", "eventSource": "rds.amazonaws.com", "eventName": "DeleteDBSnapshot",
            "insightType": "ApiCallRateInsight"}'::jsonb,
          'insightDetails names the API and the type');

-- the error-rate insight
SELECT is((SELECT array_agg(insight_details->>'state' ORDER BY event_time) FROM cycle1
            WHERE insight_details->>'insightType' = 'ApiErrorRateInsight'),
          '{Start,End}'::text[], 'DescribeInstances: an error-rate Start and End');
SELECT is((SELECT insight_details #> '{insightContext,statistics}' FROM cycle1
            WHERE insight_details->>'insightType' = 'ApiErrorRateInsight' AND insight_details->>'state' = 'End'),
          '{"baseline": {"average": 0}, "insight": {"average": 20.0},
            "insightDuration": 3, "baselineDuration": 11520}'::jsonb,
          'error-rate statistics: no errors before, 20/min for three minutes');
SELECT is((SELECT insight_details #> '{insightContext,attributions,2}' FROM cycle1
            WHERE insight_details->>'insightType' = 'ApiErrorRateInsight' AND insight_details->>'state' = 'End'),
          '{"attribute": "errorCode", "insight": [{"value": "AccessDenied", "average": 20.0}], "baseline": []}'::jsonb,
          'error-rate attributions: the error code');

-- the record
SELECT is((SELECT array_agg(k ORDER BY k) FROM call_start c JOIN trail.events e USING (event_id), jsonb_object_keys(trail.cloudtrail_record(e)) k),
          '{awsRegion,eventCategory,eventID,eventTime,eventType,eventVersion,insightDetails,recipientAccountId,sharedEventID}'::text[],
          'an Insight record has only its own fields (spec section d)');
SELECT is((SELECT trail.cloudtrail_record(e)->>'eventType' FROM call_start c JOIN trail.events e USING (event_id)),
          'AwsCloudTrailInsight',
          'eventType AwsCloudTrailInsight');
SELECT is((SELECT trail.cloudtrail_record(e)->>'awsRegion' = 'eu-west-1'
                  AND trail.cloudtrail_record(e)->>'recipientAccountId' = '123456789012'
                  AND trail.cloudtrail_record(e)->'sharedEventID' = to_jsonb(c.shared_event_id::text)
             FROM call_start c JOIN trail.events e USING (event_id)), true,
          'region and account of the API the insight is about');
SELECT is((SELECT count(*) FROM trail.lookup_events(event_category => 'insight', max_results => 50)), 4::bigint,
          'LookupEvents finds the Insight events');
SELECT is((SELECT count(*) FROM trail.lookup_events('EventName', 'DeleteDBSnapshot', event_category => 'insight')),
          2::bigint, 'by EventName');
SELECT is((SELECT array_agg(l.event_id) FROM call_start c,
                  trail.lookup_events('EventId', c.event_id::text, event_category => 'insight') l),
          (SELECT array_agg(event_id) FROM call_start),
          'by EventId, although its id was made days after the minute it describes');
SELECT is((SELECT count(*) FROM trail.event_history WHERE event_category = 'Insight'), 4::bigint,
          'and so does the event history');

------------------------------------------------------------------------------
-- Later cycles: minutes are examined once; an insight spans cycles.
------------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM trail.run_insights((SELECT d + interval '16 hours' FROM clock))), 0::bigint,
          'the same minutes are not examined twice');
CREATE TEMP TABLE cycle2 AS
	SELECT * FROM trail.run_insights((SELECT d + interval '18 hours 2 minutes' FROM clock));
SELECT is((SELECT array_agg(insight_details->>'state') FROM cycle2), '{Start}'::text[],
          'a cycle in the middle of a burst: Start only');
SELECT is((SELECT count(*) FROM trail.open_insights), 1::bigint, 'the insight stays open');
CREATE TEMP TABLE cycle3 AS
	SELECT * FROM trail.run_insights((SELECT d + interval '18 hours 10 minutes' FROM clock));
SELECT is((SELECT array_agg(insight_details->>'state') FROM cycle3), '{End}'::text[],
          'the next cycle ends it');
SELECT is((SELECT shared_event_id FROM cycle3), (SELECT shared_event_id FROM cycle2),
          'with the Start''s sharedEventID');
SELECT is((SELECT insight_details #> '{insightContext,statistics,insightDuration}' FROM cycle3), '3'::jsonb,
          'and the whole duration (three minutes)');
SELECT is((SELECT event_time FROM cycle3), (SELECT d + interval '18 hours 3 minutes' FROM clock),
          'End at the minute the rate came back');
SELECT is((SELECT count(*) FROM trail.open_insights), 0::bigint, 'nothing stays open');

------------------------------------------------------------------------------
-- Folding is incremental: new events are added, old ones never again.
------------------------------------------------------------------------------
SELECT lives_ok(format($$SELECT pg_temp.write_log(%L, %L)$$,
                       (SELECT path FROM dir) || '-late.json.gz',
                       format($q$SELECT pg_temp.rec(%L::timestamptz + interval '30 seconds', 'rds.amazonaws.com',
                                                    'DeleteDBSnapshot', false, 'alice', 'aws-cli/2.9.19')$q$,
                              (SELECT d - interval '3 days' FROM clock))),
                'a late record of the baseline window');
SELECT is((SELECT records_imported FROM trail.import_logs((SELECT path FROM dir) || '-late.json.gz')), 1::bigint,
          'imported');
SELECT is((SELECT count(*) FROM trail.run_insights((SELECT d + interval '18 hours 11 minutes' FROM clock))), 0::bigint,
          'a cycle');
SELECT is((SELECT sum(calls) FROM trail.insight_rollups
            WHERE event_source = 'rds.amazonaws.com' AND event_name = 'DeleteDBSnapshot'),
          (SELECT delete_snapshot::bigint + 1 FROM expected_calls),
          'folds the one new call, and nothing twice');
SELECT is((SELECT calls FROM trail.insight_rollups
            WHERE event_name = 'DeleteDBSnapshot' AND minute = (SELECT d - interval '3 days' FROM clock)),
          2, 'into its minute');
SELECT is(pg_temp.days_off(), 0::bigint, '... and still do after a minute grew (1 to 2 calls)');
SELECT is((SELECT stale FROM trail.insight_state), false,
          'the baselines were made again: a late event fell into their window');
SELECT cmp_ok((SELECT average FROM trail.insight_baselines
                WHERE insight_type = 'ApiCallRateInsight' AND event_name = 'DeleteDBSnapshot'), '>', 1::float8,
              'and count it');

------------------------------------------------------------------------------
-- The worker computes nothing while no logging trail selects Insights
------------------------------------------------------------------------------
SELECT is((SELECT checked_until FROM trail.insight_state),
          (SELECT d + interval '18 hours 11 minutes' FROM clock),
          'only the on-demand cycles ran (the worker left the state alone)');

DO $$ BEGIN
	PERFORM pg_temp.server_shell(
	               'rm -rf ' || (SELECT path FROM dir) || ' ' || (SELECT path FROM dir) || '-late.json.gz');
END $$;
DROP ROLE regress_tap_insights_plain;
DROP ROLE regress_tap_insights_admin;
SELECT * FROM finish();
