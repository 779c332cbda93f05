-- bench/lookup_store.sql: the synthetic event generator used by bench/lookup.sh.
--
-- Run once in the bench database while trail is preloaded (so that trail
-- records these few DDL statements like any others).  It creates schema
-- bench_gen with the value distributions and bench_gen.load(lo, hi, n, t0, span),
-- which inserts events lo..hi of n into trail.events, and their entries into
-- trail.event_resources (the lookup index of keyed attributes) where that
-- table exists (trail since 527d96f).  Event i gets the time
-- t0 + span * (i - 1 + random()) / n, so a load is in time order, as trail
-- itself writes events.  The INSERT works only while trail is NOT preloaded
-- (trail.events is append-only otherwise); lookup.sh restarts the server
-- without shared_preload_libraries for the load.
--
-- The rows look like the ones trail's capture writes (see src/capture_utility.c,
-- src/context.c): the same fields, JSON shapes, ARN forms and resource types.
-- Distributions (all skewed, like a real cluster's audit trail):
--   event_name    ~50 names weighted by bench_gen.names.weight; 5% are Data
--                 events (table.postgresql, event_category 'Data'); readOnly
--                 true for Show/Explain/Select (~10% of management events);
--                 AlterSystem and CreateTablespace are rare (~1 in 50,000).
--   sessions      events come in sessions of about n/20000 consecutive events
--                 (so ~20,000 distinct access_key_ids, each a burst in time),
--                 accessKeyId = hex(session start epoch).hex(pid) like %c.
--   user_name     one of 49 users per session, rank skewed (power 2.2);
--                 'breakglass' on ~1 event in 50,000 (rare user).
--   resources     1-3 elements {"accountId","type","ARN","name"}; table names
--                 from 5000 tables, rank skewed (power 3): app.orders is the
--                 most common, reporting.imports_124 one of the rarest.
--   request_parameters  {"statement": ~100 bytes of SQL, ...}.

CREATE SCHEMA bench_gen;

-- eventName -> source, readOnly, global, kind of resource, weight, statement
CREATE TABLE bench_gen.names (
	id        int PRIMARY KEY,
	name      text NOT NULL,
	category  text NOT NULL,
	source    text NOT NULL,
	read_only boolean NOT NULL,
	is_global boolean NOT NULL,
	rkind     text,            -- which resources the event carries
	weight    int NOT NULL,
	stmt      text NOT NULL    -- format() template, %1$s = the object
);

INSERT INTO bench_gen.names (id, name, category, source, read_only, is_global, rkind, weight, stmt)
SELECT row_number() OVER (), v.* FROM (VALUES
 ('CreateTable',            'Management', 'ddl.postgresql', false, false, 'newtable',  14000, 'CREATE TABLE %1$s (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb, created_at timestamptz)'),
 ('DropTable',              'Management', 'ddl.postgresql', false, false, 'table',     13000, 'DROP TABLE IF EXISTS %1$s /* cleanup of staging data after the nightly batch run */'),
 ('Analyze',                'Management', 'ddl.postgresql', false, false, 'table',      9000, 'ANALYZE %1$s /* statistics refresh issued by the scheduled maintenance job */'),
 ('Vacuum',                 'Management', 'ddl.postgresql', false, false, 'table',      8000, 'VACUUM (VERBOSE, ANALYZE) %1$s /* scheduled maintenance job, nightly window */'),
 ('AlterTable',             'Management', 'ddl.postgresql', false, false, 'table',      7000, 'ALTER TABLE %1$s ADD COLUMN IF NOT EXISTS updated_at timestamptz DEFAULT now() NOT NULL'),
 ('CreateIndex',            'Management', 'ddl.postgresql', false, false, 'index',      6000, 'CREATE INDEX CONCURRENTLY IF NOT EXISTS %1$s ON app.orders USING btree (created_at, id)'),
 ('Show',                   'Management', 'ddl.postgresql', true,  false, NULL,         5500, 'SHOW work_mem /* %1$s: application start-up probes its session settings */'),
 ('Explain',                'Management', 'ddl.postgresql', true,  false, NULL,         4500, 'EXPLAIN (FORMAT JSON) SELECT * FROM %1$s WHERE created_at > now() - interval ''1 day'''),
 ('Grant',                  'Management', 'iam.postgresql', false, false, 'grant',      4000, 'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE %1$s TO app_rw /* migration V2024 */'),
 ('RefreshMaterializedView','Management', 'ddl.postgresql', false, false, 'matview',    3000, 'REFRESH MATERIALIZED VIEW CONCURRENTLY %1$s /* hourly dashboard refresh */'),
 ('Comment',                'Management', 'ddl.postgresql', false, false, 'table',      2500, 'COMMENT ON TABLE %1$s IS ''owned by the payments team; contact #payments-oncall'''),
 ('CreateView',             'Management', 'ddl.postgresql', false, false, 'view',       2500, 'CREATE OR REPLACE VIEW %1$s AS SELECT id, created_at, payload->>''status'' AS status FROM app.orders'),
 ('CreateFunction',         'Management', 'ddl.postgresql', false, false, 'function',   2500, 'CREATE OR REPLACE FUNCTION %1$s RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM app.orders $$'),
 ('DropIndex',              'Management', 'ddl.postgresql', false, false, 'index',      2000, 'DROP INDEX CONCURRENTLY IF EXISTS %1$s /* replaced by a covering index, ticket DB-1234 */'),
 ('Revoke',                 'Management', 'iam.postgresql', false, false, 'grant',      1500, 'REVOKE INSERT, UPDATE, DELETE ON TABLE %1$s FROM app_ro /* least privilege review */'),
 ('DropView',               'Management', 'ddl.postgresql', false, false, 'view',       1500, 'DROP VIEW IF EXISTS %1$s CASCADE /* superseded by the reporting schema rewrite */'),
 ('CreateSequence',         'Management', 'ddl.postgresql', false, false, 'sequence',   1000, 'CREATE SEQUENCE IF NOT EXISTS %1$s AS bigint START WITH 1 INCREMENT BY 1 CACHE 20'),
 ('AlterSequence',          'Management', 'ddl.postgresql', false, false, 'sequence',    800, 'ALTER SEQUENCE %1$s RESTART WITH 1000000 /* resync after bulk import from legacy */'),
 ('Reindex',                'Management', 'ddl.postgresql', false, false, 'index',       800, 'REINDEX INDEX CONCURRENTLY %1$s /* bloat above threshold, weekly maintenance job */'),
 ('DropFunction',           'Management', 'ddl.postgresql', false, false, 'function',    800, 'DROP FUNCTION IF EXISTS %1$s /* removed in release 4.2, replaced by a view */'),
 ('DropSequence',           'Management', 'ddl.postgresql', false, false, 'sequence',    600, 'DROP SEQUENCE IF EXISTS %1$s /* identity columns now, sequence unused since 4.0 */'),
 ('GrantRole',              'Management', 'iam.postgresql', false, true,  'role',        500, 'GRANT %1$s TO app_rw /* onboarding request approved by the data owner, ticket IAM-77 */'),
 ('CreateTrigger',          'Management', 'ddl.postgresql', false, false, 'trigger',     500, 'CREATE TRIGGER set_updated_at BEFORE UPDATE ON %1$s FOR EACH ROW EXECUTE FUNCTION app.touch()'),
 ('AlterRole',              'Management', 'iam.postgresql', false, true,  'role',        400, 'ALTER ROLE %1$s SET statement_timeout = ''30s'' /* runaway query protection for apps */'),
 ('CreateRole',             'Management', 'iam.postgresql', false, true,  'role',        300, 'CREATE ROLE %1$s LOGIN PASSWORD <redacted> VALID UNTIL ''2030-01-01'' IN ROLE app_ro'),
 ('CreateSchema',           'Management', 'ddl.postgresql', false, false, 'schema',      300, 'CREATE SCHEMA IF NOT EXISTS %1$s AUTHORIZATION app_migrator /* tenant onboarding */'),
 ('CreateMaterializedView', 'Management', 'ddl.postgresql', false, false, 'matview',     300, 'CREATE MATERIALIZED VIEW %1$s AS SELECT date_trunc(''day'', created_at) d, count(*) FROM app.orders GROUP BY 1'),
 ('DropTrigger',            'Management', 'ddl.postgresql', false, false, 'trigger',     300, 'DROP TRIGGER IF EXISTS set_updated_at ON %1$s /* moved into the application layer */'),
 ('DropSchema',             'Management', 'ddl.postgresql', false, false, 'schema',      200, 'DROP SCHEMA IF EXISTS %1$s CASCADE /* tenant offboarding after the 30 day grace period */'),
 ('DropRole',               'Management', 'iam.postgresql', false, true,  'role',        200, 'DROP ROLE IF EXISTS %1$s /* offboarding: access removed by the quarterly access review */'),
 ('CreateType',             'Management', 'ddl.postgresql', false, false, 'type',        200, 'CREATE TYPE %1$s AS ENUM (''pending'', ''paid'', ''shipped'', ''delivered'', ''refunded'')'),
 ('AlterFunction',          'Management', 'ddl.postgresql', false, false, 'function',    200, 'ALTER FUNCTION %1$s SET search_path = pg_catalog, app /* security review finding */'),
 ('RevokeRole',             'Management', 'iam.postgresql', false, true,  'role',        150, 'REVOKE %1$s FROM app_rw /* access no longer needed according to the quarterly review */'),
 ('Cluster',                'Management', 'ddl.postgresql', false, false, 'table',       100, 'CLUSTER %1$s USING orders_created_at_idx /* physical reorder for range scans */'),
 ('CreatePolicy',           'Management', 'iam.postgresql', false, false, 'policy',      100, 'CREATE POLICY tenant_isolation ON %1$s USING (tenant_id = current_setting(''app.tenant'')::int)'),
 ('AlterDefaultPrivileges', 'Management', 'iam.postgresql', false, false, 'schema',      100, 'ALTER DEFAULT PRIVILEGES IN SCHEMA %1$s GRANT SELECT ON TABLES TO app_ro /* new tables readable */'),
 ('CreateExtension',        'Management', 'ddl.postgresql', false, false, 'extension',    30, 'CREATE EXTENSION IF NOT EXISTS %1$s WITH SCHEMA public /* requested by the analytics team */'),
 ('AlterExtension',         'Management', 'ddl.postgresql', false, false, 'extension',    20, 'ALTER EXTENSION %1$s UPDATE /* minor version upgrade during the maintenance window */'),
 ('CreateDatabase',         'Management', 'ddl.postgresql', false, true,  'database',      5, 'CREATE DATABASE %1$s OWNER app_migrator TEMPLATE template0 ENCODING ''UTF8'' LOCALE ''C.UTF-8'''),
 ('DropDatabase',           'Management', 'ddl.postgresql', false, true,  'database',      3, 'DROP DATABASE IF EXISTS %1$s WITH (FORCE) /* decommissioned tenant, approved by CAB */'),
 ('AlterSystem',            'Management', 'ddl.postgresql', false, true,  NULL,            2, 'ALTER SYSTEM SET log_min_duration_statement = ''250ms'' /* %1$s: slow query logging */'),
 ('CreateTablespace',       'Management', 'ddl.postgresql', false, true,  'tablespace',    1, 'CREATE TABLESPACE %1$s OWNER postgres LOCATION ''/srv/pg/fast_nvme'' /* hot partitions */'),
 -- data events: 5% of all events (weights sum to 5/95 of the management weights above)
 ('Select',                 'Data',       'table.postgresql', true,  false, 'table',    2400, 'SELECT id, payload FROM %1$s WHERE created_at >= $1 AND created_at < $2 ORDER BY id LIMIT 100'),
 ('Insert',                 'Data',       'table.postgresql', false, false, 'table',    1500, 'INSERT INTO %1$s (payload, created_at) VALUES ($1, now()) RETURNING id /* app-server */'),
 ('Update',                 'Data',       'table.postgresql', false, false, 'table',     700, 'UPDATE %1$s SET payload = payload || $1, updated_at = now() WHERE id = $2 /* app-server */'),
 ('Delete',                 'Data',       'table.postgresql', false, false, 'table',     300, 'DELETE FROM %1$s WHERE created_at < now() - interval ''400 days'' /* data retention job */')
) AS v;

-- weighted choice: name i is chosen when a uniform r falls in [bounds[i-1], bounds[i]);
-- width_bucket() finds i by binary search over the cumulative weights
CREATE TABLE bench_gen.slots AS
SELECT array_agg(cum ORDER BY id) AS bounds
  FROM (SELECT id, (sum(weight) OVER (ORDER BY id) - weight)::float8 / sum(weight) OVER () AS cum
          FROM bench_gen.names) c;

-- the table names: rank k in 0..4999, k = 0 the most used
CREATE FUNCTION bench_gen.table_name(k int) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT (ARRAY['app', 'app', 'app', 'staging', 'reporting'])[1 + (k / 40) % 5] || '.' ||
	       (ARRAY['orders', 'customers', 'payments', 'invoices', 'products', 'inventory',
	              'shipments', 'sessions', 'events', 'audit_log', 'accounts', 'users',
	              'addresses', 'carts', 'cart_items', 'order_items', 'refunds', 'coupons',
	              'reviews', 'categories', 'suppliers', 'warehouses', 'employees',
	              'departments', 'tickets', 'messages', 'notifications', 'subscriptions',
	              'plans', 'usage_records', 'metrics', 'logs', 'jobs', 'job_runs',
	              'feature_flags', 'settings', 'api_keys', 'webhooks', 'exports',
	              'imports'])[1 + k % 40] ||
	       CASE WHEN k >= 40 THEN '_' || (k / 40)::text ELSE '' END
$$;

-- the users: rank 0..48 (skewed by session), plus the rare 'breakglass'
CREATE TABLE bench_gen.users (rank int PRIMARY KEY, name text NOT NULL, superuser boolean NOT NULL, oid int NOT NULL);
INSERT INTO bench_gen.users
SELECT r - 1, u, u IN ('postgres', 'dba_alice', 'dba_bob'), 16384 + r
  FROM unnest(ARRAY['app_rw', 'app_migrator', 'etl_loader', 'postgres', 'reporting',
                    'dba_alice', 'scheduler', 'dba_bob', 'analytics', 'app_batch'] ||
              ARRAY(SELECT 'svc_' || lpad(i::text, 2, '0') FROM generate_series(1, 19) i) ||
              ARRAY(SELECT 'dev_' || lpad(i::text, 2, '0') FROM generate_series(1, 20) i))
       WITH ORDINALITY AS x(u, r);

CREATE FUNCTION bench_gen.resource(typ text, service text, global boolean, name text,
                                   acct text, db text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('accountId', acct, 'type', typ,
	                          'ARN', CASE WHEN typ = 'PG::Role'
	                                      THEN 'arn:postgresql:iam::' || acct || ':role/' || name
	                                      ELSE 'arn:postgresql:' || service || ':' ||
	                                           CASE WHEN global THEN '' ELSE db END || ':' || acct || ':' || name END,
	                          'name', name)
$$;

-- Insert events lo..hi of n, spread over [t0, t0 + span); returns what
-- trail's store.c returns from its INSERT (for trail.event_resources).
CREATE FUNCTION bench_gen.load_events(lo bigint, hi bigint, n bigint, t0 timestamptz, span interval)
RETURNS TABLE (event_time timestamptz, event_id uuid, event_category text, resources jsonb,
               event_name text, event_source text, user_name text, access_key_id text)
LANGUAGE sql
SET work_mem = '256MB'
AS $fn$
WITH env AS MATERIALIZED (
	SELECT (SELECT system_identifier::text FROM pg_control_system()) AS acct,
	       current_database()::text AS db,
	       greatest(n / 20000, 1) AS sesslen,
	       (SELECT bounds FROM bench_gen.slots) AS bounds
), base AS (
	SELECT i, env.acct, env.db,
	       t0 + span * ((i - 1 + random()) / n) AS ts,
	       (i + floor(random() * env.sesslen)::bigint) / env.sesslen AS sess,
	       env.sesslen,
	       width_bucket(random(), env.bounds) AS name_id,
	       floor(5000 * power(random(), 3))::int AS k,
	       random() AS r1, random() AS r2, random() AS r3
	  FROM env, generate_series(lo, hi) AS i
), ev AS (
	SELECT b.*, nm.name, nm.category, nm.source, nm.read_only, nm.is_global, nm.rkind, nm.stmt,
	       -- a session's properties derive from its number (Knuth's multiplicative hash)
	       ((b.sess * 2654435761) % 4294967296)::float8 / 4294967296.0 AS h,
	       t0 + span * ((b.sess * b.sesslen)::float8 / n) AS sess_start,
	       bench_gen.table_name(b.k) AS tbl,
	       floor(extract(epoch FROM b.ts) * 1000)::bigint AS ms
	  FROM base b JOIN bench_gen.names nm ON nm.id = b.name_id
), ev2 AS MATERIALIZED (
	SELECT e.*, u.name AS uname, u.superuser, u.oid AS uoid,
	       to_hex(floor(extract(epoch FROM e.sess_start))::bigint) || '.' ||
	           to_hex(1000 + (e.sess * 7919) % 60000) AS akid,
	       lpad(to_hex(e.ms), 12, '0') AS mshex,
	       CASE e.rkind
	         WHEN 'newtable' THEN e.tbl
	         WHEN 'table'    THEN e.tbl
	         WHEN 'grant'    THEN e.tbl
	         WHEN 'index'    THEN e.tbl || '_created_at_idx'
	         WHEN 'view'     THEN 'reporting.v_' || split_part(e.tbl, '.', 2)
	         WHEN 'matview'  THEN 'reporting.mv_' || split_part(e.tbl, '.', 2) || '_daily'
	         WHEN 'function' THEN 'app.fn_' || split_part(e.tbl, '.', 2) || '_count(bigint)'
	         WHEN 'sequence' THEN e.tbl || '_id_seq'
	         WHEN 'schema'   THEN 'tenant_' || (e.k % 300)
	         WHEN 'trigger'  THEN 'set_updated_at on ' || e.tbl
	         WHEN 'policy'   THEN 'tenant_isolation on ' || e.tbl
	         WHEN 'type'     THEN 'app.' || split_part(e.tbl, '.', 2) || '_status'
	         WHEN 'role'     THEN (SELECT u2.name FROM bench_gen.users u2 WHERE u2.rank = e.k % 49)
	         WHEN 'database' THEN 'tenant_db_' || (e.k % 100)
	         WHEN 'extension' THEN (ARRAY['pg_stat_statements', 'pgcrypto', 'postgis', 'pg_trgm', 'hstore'])[1 + e.k % 5]
	         WHEN 'tablespace' THEN 'fast_nvme_' || (e.k % 3)
	         ELSE e.tbl END AS obj
	  FROM ev e
	  JOIN bench_gen.users u ON u.rank = floor(49 * power(e.h, 2.2))::int
)
INSERT INTO trail.events (
	commit_seq, event_time, event_id, event_version, event_category, event_type, event_source,
	event_name, read_only, management_event, region, recipient_account_id,
	user_identity, user_name, access_key_id, source_ip_address, user_agent,
	request_id, transaction_id, request_parameters, resources, is_global)
SELECT
	x.i,	-- commit order: time order, as the load runs
	x.ts,
	(substr(x.mshex, 1, 8) || '-' || substr(x.mshex, 9, 4) || '-7' ||
	 lpad(to_hex((x.i % 4096)::int), 3, '0') || '-' || substr(gen_random_uuid()::text, 20))::uuid,
	'1.08', x.category, 'AwsApiCall', x.source,
	x.name, x.read_only, x.category = 'Management', x.db, x.acct,
	jsonb_build_object(
		'arn', 'arn:postgresql:iam::' || x.acct || ':role/' || x.uname,
		'type', CASE WHEN x.superuser THEN 'Superuser' ELSE 'Role' END,
		'userName', x.uname,
		'accountId', x.acct,
		'accessKeyId', x.akid,
		'principalId', x.uoid::text,
		'sessionContext', jsonb_build_object(
			'attributes', jsonb_build_object(
				'creationDate', to_char(x.sess_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
				'mfaAuthenticated', 'false'),
			'sessionIssuer', '{}'::jsonb,
			'webIdFederationData', '{}'::jsonb)),
	CASE WHEN x.r3 < 0.00002 THEN 'breakglass' ELSE x.uname END,
	x.akid,
	CASE WHEN x.h < 0.2 THEN 'local'
	     ELSE '10.' || (floor(x.h * 1000))::int % 256 || '.' || (x.sess % 256) || '.' || (x.sess * 31 % 254 + 1) END,
	(ARRAY['app-server', 'app-server', 'flyway', 'psql', 'pgAdmin 4', 'airflow', 'pg_dump', 'metabase'])
		[1 + floor(x.h * 8)::int],
	substr(x.mshex, 1, 8) || '-' || substr(x.mshex, 9, 4) || '-7fff-' || substr(gen_random_uuid()::text, 20),
	(1000 + x.i)::text::xid8,
	jsonb_build_object('statement', format(x.stmt, x.obj)) ||
		CASE x.rkind
		  WHEN 'grant' THEN jsonb_build_object('isGrant', x.name = 'Grant', 'grantees', jsonb_build_array('app_rw'),
		                                       'privileges', jsonb_build_array('select', 'insert', 'update', 'delete'),
		                                       'withGrantOption', false)
		  WHEN 'role' THEN jsonb_build_object('roleName', x.obj)
		  ELSE '{}'::jsonb END,
	CASE x.rkind
	  WHEN 'newtable' THEN
		-- CREATE TABLE with an identity pk: table, sequence, index (1 to 3 elements)
		jsonb_build_array(bench_gen.resource('PG::Table', 'table', false, x.obj, x.acct, x.db)) ||
		CASE WHEN x.r1 < 0.6 THEN jsonb_build_array(
			bench_gen.resource('PG::Sequence', 'sequence', false, x.obj || '_id_seq', x.acct, x.db))
		     ELSE '[]'::jsonb END ||
		CASE WHEN x.r2 < 0.7 THEN jsonb_build_array(
			bench_gen.resource('PG::Index', 'index', false, x.obj || '_pkey', x.acct, x.db))
		     ELSE '[]'::jsonb END
	  WHEN 'table' THEN jsonb_build_array(bench_gen.resource('PG::Table', 'table', false, x.obj, x.acct, x.db))
	  WHEN 'grant' THEN jsonb_build_array(
		bench_gen.resource('PG::Table', 'table', false, x.obj, x.acct, x.db),
		bench_gen.resource('PG::Role', 'iam', true, CASE WHEN x.name = 'Grant' THEN 'app_rw' ELSE 'app_ro' END, x.acct, x.db))
	  WHEN 'index' THEN jsonb_build_array(bench_gen.resource('PG::Index', 'index', false, x.obj, x.acct, x.db))
	  WHEN 'view' THEN jsonb_build_array(bench_gen.resource('PG::View', 'view', false, x.obj, x.acct, x.db))
	  WHEN 'matview' THEN jsonb_build_array(bench_gen.resource('PG::MaterializedView', 'materialized-view', false, x.obj, x.acct, x.db))
	  WHEN 'function' THEN jsonb_build_array(bench_gen.resource('PG::Function', 'function', false, x.obj, x.acct, x.db))
	  WHEN 'sequence' THEN jsonb_build_array(bench_gen.resource('PG::Sequence', 'sequence', false, x.obj, x.acct, x.db))
	  WHEN 'schema' THEN jsonb_build_array(bench_gen.resource('PG::Schema', 'schema', false, x.obj, x.acct, x.db))
	  WHEN 'trigger' THEN jsonb_build_array(bench_gen.resource('PG::Trigger', 'trigger', false, x.obj, x.acct, x.db),
	                                        bench_gen.resource('PG::Table', 'table', false, x.tbl, x.acct, x.db))
	  WHEN 'policy' THEN jsonb_build_array(bench_gen.resource('PG::Policy', 'policy', false, x.obj, x.acct, x.db),
	                                       bench_gen.resource('PG::Table', 'table', false, x.tbl, x.acct, x.db))
	  WHEN 'type' THEN jsonb_build_array(bench_gen.resource('PG::Type', 'type', false, x.obj, x.acct, x.db))
	  WHEN 'role' THEN jsonb_build_array(bench_gen.resource('PG::Role', 'iam', true, x.obj, x.acct, x.db))
	  WHEN 'database' THEN jsonb_build_array(bench_gen.resource('PG::Database', 'database', true, x.obj, x.acct, x.db))
	  WHEN 'extension' THEN jsonb_build_array(bench_gen.resource('PG::Extension', 'extension', false, x.obj, x.acct, x.db))
	  WHEN 'tablespace' THEN jsonb_build_array(bench_gen.resource('PG::Tablespace', 'tablespace', true, x.obj, x.acct, x.db))
	  ELSE NULL END,
	x.is_global
  FROM ev2 x
RETURNING event_time, event_id, event_category, resources, event_name, event_source, user_name, access_key_id;
$fn$;

-- Load events lo..hi of n, and, when this version of trail has it, their
-- entries in the lookup index trail.event_resources, exactly as trail's
-- store.c writes them with each event: one row per distinct ResourceType and
-- ResourceName value of a management or insight event, and (trail since
-- the keyed attributes left trail.events' indexes, i.e. when
-- trail.events_event_name_idx is gone) one per EventName, EventSource,
-- Username and AccessKeyId.
CREATE FUNCTION bench_gen.load(lo bigint, hi bigint, n bigint, t0 timestamptz, span interval)
RETURNS bigint LANGUAGE plpgsql
SET work_mem = '256MB'
AS $fn$
DECLARE
	loaded bigint;
BEGIN
	IF to_regclass('trail.event_resources') IS NULL THEN
		SELECT count(*) INTO loaded FROM bench_gen.load_events(lo, hi, n, t0, span);
	ELSE
		EXECUTE $q$
			INSERT INTO trail.event_resources (lookup_key, lookup_value, event_time, event_id)
			SELECT DISTINCT k.key, k.value, ev.event_time, ev.event_id
			  FROM bench_gen.load_events($1, $2, $3, $4, $5) ev,
			       LATERAL (SELECT c.key, c.value
			                  FROM (VALUES ('EventName', ev.event_name), ('EventSource', ev.event_source),
			                               ('Username', ev.user_name), ('AccessKeyId', ev.access_key_id)) c(key, value)
			                 WHERE $6
			                UNION ALL
			                SELECT r.key, r.value
			                  FROM jsonb_array_elements(coalesce(ev.resources, '[]')) e,
			                       LATERAL (VALUES ('ResourceType', e ->> 'type'),
			                                       ('ResourceName', e ->> 'name')) r(key, value)) k(key, value)
			 WHERE k.value IS NOT NULL AND ev.event_category <> 'Data'$q$
			USING lo, hi, n, t0, span, to_regclass('trail.events_event_name_idx') IS NULL;
		loaded := hi - lo + 1;
	END IF;
	RETURN loaded;
END
$fn$;
