--
-- cloudtrail_record: one row of trail.events rendered as a CloudTrail record
-- (camelCase keys, eventTime format, always-present and omitted fields,
-- userIdentity of a superuser, a role, an assumed role, sourceIdentity).
--
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_trail_carol;
RESET client_min_messages;

CREATE EXTENSION trail;
CREATE ROLE regress_trail_carol;
GRANT CREATE ON SCHEMA public TO regress_trail_carol;

-- the events to render, one per situation
CREATE TABLE public.ct_superuser (id int PRIMARY KEY);
SHOW work_mem;
SET ROLE regress_trail_carol;
CREATE TABLE public.ct_assumed (id int);
SET trail.session_context = 'app-user-42';
CREATE TABLE public.ct_assumed_ctx (id int);
RESET ROLE;
SET SESSION AUTHORIZATION regress_trail_carol;
CREATE TABLE public.ct_role (id int);
RESET SESSION AUTHORIZATION;
RESET trail.session_context;
SET application_name = '';
CREATE TABLE public.ct_no_agent (id int);
RESET application_name;

-- :rec finds the record of the event whose statement mentions a table
\set rec 'SELECT e, trail.cloudtrail_record(e) AS r FROM trail.events e WHERE event_type = ''AwsApiCall'''

-- the keys of a management event record, in CloudTrail's order of appearance;
-- absent: errorCode, errorMessage, sharedEventID, tlsDetails (NULL)
SELECT k.key
  FROM (:rec) x, jsonb_object_keys(x.r) AS k(key)
 WHERE (x.e).request_parameters->>'statement' LIKE 'CREATE TABLE public.ct_superuser%'
 ORDER BY array_position(ARRAY['eventVersion', 'userIdentity', 'eventTime', 'eventSource',
	'eventName', 'awsRegion', 'sourceIPAddress', 'userAgent', 'errorCode', 'errorMessage',
	'requestParameters', 'responseElements', 'additionalEventData', 'requestID', 'eventID',
	'readOnly', 'resources', 'eventType', 'managementEvent', 'recipientAccountId',
	'sharedEventID', 'eventCategory', 'tlsDetails'], k.key), k.key;

-- values and formats of that record
SELECT r->>'eventVersion' AS "eventVersion",
       r->>'eventTime' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$' AS time_format,
       r->>'eventTime' = to_char((e).event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS time_is_event_time,
       r->>'eventSource' AS "eventSource",
       r->>'eventName' AS "eventName",
       r->>'awsRegion' = current_database() AS region_is_db,
       r->>'sourceIPAddress' = coalesce(host(inet_client_addr()), 'local') AS source_ip,
       r->>'userAgent' = current_setting('application_name') AS user_agent,
       jsonb_typeof(r->'requestParameters') AS "requestParameters",
       r->'requestParameters' = (e).request_parameters AS same_parameters,
       r->'responseElements' AS "responseElements",
       r->'additionalEventData' = (e).additional_event_data AS same_additional,
       r->>'requestID' = (e).request_id AS request_id,
       r->>'eventID' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' AS uuid_v7,
       r->>'eventID' = (e).event_id::text AS same_id,
       r->'readOnly' AS "readOnly",
       r->>'eventType' AS "eventType",
       r->'managementEvent' AS "managementEvent",
       r->>'recipientAccountId' = (SELECT system_identifier::text FROM pg_control_system()) AS account,
       r->>'eventCategory' AS "eventCategory"
  FROM (:rec) x
 WHERE (x.e).request_parameters->>'statement' LIKE 'CREATE TABLE public.ct_superuser%';

-- resources carry only accountId, type and ARN (trail's "name" stays in the table)
SELECT ord, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(res) k) AS keys,
       res->>'type' AS type,
       res->>'ARN' = 'arn:postgresql:' || lower(substr(res->>'type', 5)) || ':' || current_database()
                     || ':' || (SELECT system_identifier FROM pg_control_system()) || ':'
                     || ((x.e).resources->(ord::int - 1)->>'name') AS arn_form,
       res->>'accountId' = (x.e).recipient_account_id AS account
  FROM (:rec) x, jsonb_array_elements(x.r->'resources') WITH ORDINALITY AS t(res, ord)
 WHERE (x.e).request_parameters->>'statement' LIKE 'CREATE TABLE public.ct_superuser%'
 ORDER BY ord;

-- SHOW: read-only, no resources (omitted, not null), responseElements null
SELECT r->'readOnly' AS "readOnly", r ? 'resources' AS has_resources,
       r ? 'responseElements' AS has_response, r->'responseElements' AS "responseElements"
  FROM (:rec) x WHERE (x.e).event_name = 'Show';

-- userAgent is omitted when application_name is empty
SELECT r ? 'userAgent' AS has_user_agent
  FROM (:rec) x
 WHERE (x.e).request_parameters->>'statement' LIKE 'CREATE TABLE public.ct_no_agent%';

-- userIdentity: the shape for each kind of caller (carol's oid and the account
-- id masked; the session user is the bootstrap superuser postgres, oid 10)
SELECT substring((x.e).request_parameters->>'statement' from 'public\.(\w+)') AS tbl,
       u->>'type' AS type,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(u) k) AS keys,
       u->>'userName' AS "userName",
       replace(u->>'principalId', (SELECT oid::text FROM pg_roles WHERE rolname = 'regress_trail_carol'), '<carol>') AS "principalId",
       replace(u->>'arn', (x.e).recipient_account_id, '<account>') AS arn,
       u->>'accountId' = (x.e).recipient_account_id AS account,
       u->>'accessKeyId' = (x.e).access_key_id AS access_key
  FROM (:rec) x, LATERAL (SELECT x.r->'userIdentity' AS u) i
 WHERE (x.e).request_parameters->>'statement' ~ '^CREATE TABLE public\.ct_(superuser|assumed|assumed_ctx|role) '
 ORDER BY (x.e).event_id;

-- sessionContext: issuer (only for an assumed role), attributes, sourceIdentity
SELECT substring((x.e).request_parameters->>'statement' from 'public\.(\w+)') AS tbl,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(c) k) AS keys,
       replace(replace((c->'sessionIssuer')::text, (x.e).recipient_account_id, '<account>'),
               (SELECT oid::text FROM pg_roles WHERE rolname = 'regress_trail_carol'), '<carol>') AS "sessionIssuer",
       c->'webIdFederationData' AS "webIdFederationData",
       c->'attributes'->>'creationDate' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$' AS creation_format,
       (c->'attributes'->>'creationDate')::timestamptz
         = date_trunc('second', (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())) AS creation_is_session_start,
       c->'attributes'->'mfaAuthenticated' AS mfa,
       c->'sourceIdentity' AS "sourceIdentity"
  FROM (:rec) x, LATERAL (SELECT x.r->'userIdentity'->'sessionContext' AS c) i
 WHERE (x.e).request_parameters->>'statement' ~ '^CREATE TABLE public\.ct_(superuser|assumed|assumed_ctx|role) '
 ORDER BY (x.e).event_id;

-- accessKeyId is the session id, as log_line_prefix %c prints it
SELECT count(*) AS events, count(*) FILTER (WHERE access_key_id = (
         SELECT to_hex(trunc(extract(epoch FROM backend_start))::bigint) || '.' || to_hex(pid)
           FROM pg_stat_activity WHERE pid = pg_backend_pid())) AS session_id
  FROM trail.events WHERE event_type = 'AwsApiCall' AND request_parameters->>'statement' LIKE '%public.ct_%';

-- user_name is the session user (also after SET ROLE), as userIdentity.userName
SELECT substring(request_parameters->>'statement' from 'public\.(\w+)') AS tbl, user_name,
       user_identity->>'userName' = user_name AS same_as_identity
  FROM trail.events
 WHERE event_type = 'AwsApiCall' AND request_parameters->>'statement' ~ '^CREATE TABLE public\.ct_'
 ORDER BY event_id;

-- optional fields appear when they have a value: rendered from an edited copy
-- of a row (the table itself cannot be changed)
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(trail.cloudtrail_record(
          jsonb_populate_record(e, '{"error_code": "AccessDenied", "error_message": "permission denied",
             "shared_event_id": "01890a5d-ac96-774b-bcce-b302099a8057",
             "tls_details": {"tlsVersion": "TLSv1.3"}, "user_agent": null,
             "additional_event_data": null, "resources": null, "request_parameters": null}'))) k
         WHERE k IN ('errorCode', 'errorMessage', 'sharedEventID', 'tlsDetails', 'userAgent',
                     'additionalEventData', 'resources', 'requestParameters', 'responseElements')) AS present,
       trail.cloudtrail_record(jsonb_populate_record(e, '{"request_parameters": null}'))->'requestParameters' AS null_parameters,
       trail.cloudtrail_record(jsonb_populate_record(e, '{"tls_details": {"tlsVersion": "TLSv1.3"}}'))->'tlsDetails' AS tls,
       trail.cloudtrail_record(jsonb_populate_record(e, '{"error_code": "AccessDenied"}'))->>'errorCode' AS "errorCode"
  FROM trail.events e
 WHERE event_type = 'AwsApiCall' AND request_parameters->>'statement' LIKE 'CREATE TABLE public.ct_superuser%';

-- an Insight record carries only its own fields
SELECT array_agg(k ORDER BY k) AS insight_keys
  FROM trail.events e,
       jsonb_object_keys(trail.cloudtrail_record(jsonb_populate_record(e,
         '{"event_category": "Insight", "event_type": "AwsCloudTrailInsight",
           "shared_event_id": "01890a5d-ac96-774b-bcce-b302099a8057",
           "insight_details": {"state": "Start"}}'))) k
 WHERE event_type = 'AwsApiCall' AND request_parameters->>'statement' LIKE 'CREATE TABLE public.ct_superuser%';

-- every stored event renders, with eventID and eventTime as required
SELECT count(*) AS events,
       count(*) FILTER (WHERE trail.cloudtrail_record(e)->>'eventID' = e.event_id::text) AS ids,
       count(*) FILTER (WHERE trail.cloudtrail_record(e)->>'eventTime' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$') AS times
  FROM trail.events e WHERE event_type = 'AwsApiCall';

DROP TABLE public.ct_superuser, public.ct_assumed, public.ct_assumed_ctx, public.ct_role, public.ct_no_agent;
REVOKE CREATE ON SCHEMA public FROM regress_trail_carol;
DROP ROLE regress_trail_carol;
DROP EXTENSION trail;
