--
-- management_events: every utility command of a scripted DDL session becomes
-- exactly one Management event with the right name, source, flags, statement
-- text, parameters and resources.  Volatile values (account id, ids, times)
-- are masked or compared instead of printed.
--
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_trail_alice;
DROP ROLE IF EXISTS regress_trail_auditors;
DROP ROLE IF EXISTS regress_trail_auditors2;
RESET client_min_messages;

CREATE EXTENSION trail;

-- The session: tables, indexes, views, functions, comments
CREATE SCHEMA app;
CREATE TABLE app.orders (id serial PRIMARY KEY, customer text NOT NULL, total numeric);
CREATE INDEX orders_customer_idx ON app.orders (customer);
ALTER TABLE app.orders ADD COLUMN note text;
CREATE VIEW app.big_orders AS SELECT id, customer FROM app.orders WHERE total > 100;
CREATE FUNCTION app.order_count() RETURNS bigint LANGUAGE sql
	AS $$ SELECT count(*) FROM app.orders $$;
COMMENT ON TABLE app.orders IS 'customer orders';
CREATE TABLE app.copied AS SELECT 1 AS x UNION ALL SELECT 2;

-- Roles and privileges
CREATE ROLE regress_trail_alice LOGIN;
ALTER ROLE regress_trail_alice CONNECTION LIMIT 5;
CREATE ROLE regress_trail_auditors;
GRANT regress_trail_auditors TO regress_trail_alice;
GRANT USAGE ON SCHEMA app TO regress_trail_alice;
GRANT SELECT, INSERT ON app.orders TO regress_trail_alice WITH GRANT OPTION;
REVOKE INSERT ON app.orders FROM regress_trail_alice CASCADE;
GRANT CONNECT ON DATABASE trail_regress TO regress_trail_alice;
REVOKE regress_trail_auditors FROM regress_trail_alice;
ALTER ROLE regress_trail_auditors RENAME TO regress_trail_auditors2;
ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO regress_trail_alice;
CREATE POLICY orders_own ON app.orders USING (customer = current_user);
ALTER POLICY orders_own ON app.orders TO regress_trail_alice;
DROP POLICY orders_own ON app.orders;
CREATE FOREIGN DATA WRAPPER regress_trail_fdw;
CREATE SERVER regress_trail_srv FOREIGN DATA WRAPPER regress_trail_fdw;
CREATE USER MAPPING FOR regress_trail_alice SERVER regress_trail_srv;
DROP USER MAPPING FOR regress_trail_alice SERVER regress_trail_srv;
DROP SERVER regress_trail_srv;
DROP FOREIGN DATA WRAPPER regress_trail_fdw;

-- A multi-statement query string: one event per statement, each with its own text
CREATE TABLE app.m1 (a int) \; CREATE TABLE app.m2 (b int) \; SELECT 'multi' AS done;

-- Statements inside a function (static and dynamic SQL)
CREATE FUNCTION app.make_archive() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	CREATE TABLE app.archive (LIKE app.orders);
	EXECUTE 'CREATE INDEX archive_id_idx ON app.archive (id)';
END
$$;
SELECT app.make_archive();

-- A savepoint rolled back, and a whole transaction rolled back: no events
BEGIN;
CREATE TABLE app.kept (k int);
SAVEPOINT s1;
CREATE TABLE app.rolled_back (r int);
ROLLBACK TO SAVEPOINT s1;
ALTER TABLE app.kept ADD COLUMN k2 int;
COMMIT;
BEGIN;
CREATE TABLE app.never (n int);
ROLLBACK;

-- Not management events: transaction control, SET, LOCK, DO, CALL, cursors,
-- prepared statements, LISTEN, DISCARD, COPY
BEGIN;
SET LOCAL work_mem = '8MB';
LOCK TABLE app.orders IN SHARE MODE;
DECLARE c CURSOR FOR SELECT 1 AS one;
FETCH c;
CLOSE c;
COMMIT;
DO $$ BEGIN PERFORM 1; END $$;
PREPARE p AS SELECT 2 AS two;
EXECUTE p;
DEALLOCATE p;
LISTEN regress_channel;
UNLISTEN regress_channel;
DISCARD PLANS;
COPY (SELECT 3 AS three) TO STDOUT;
RESET work_mem;

-- Read-only commands and EXPLAIN ANALYZE of a write
SHOW work_mem;
EXPLAIN (COSTS OFF) SELECT * FROM app.orders;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) INSERT INTO app.orders (customer, total) VALUES ('x', 1);
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM app.orders;

-- Maintenance and server settings
VACUUM app.orders;
VACUUM (ANALYZE) app.orders, app.m1;
ANALYZE app.m2;
ALTER SYSTEM SET work_mem = '8MB';
ALTER SYSTEM RESET work_mem;
ALTER DATABASE trail_regress SET statement_timeout = '1min';
ALTER DATABASE trail_regress RESET statement_timeout;

-- Drops that cascade list every object they remove
DROP TABLE app.orders CASCADE;
SET client_min_messages = warning;
DROP SCHEMA app CASCADE;
RESET client_min_messages;
REVOKE CONNECT ON DATABASE trail_regress FROM regress_trail_alice;
DROP OWNED BY regress_trail_alice;
DROP ROLE regress_trail_alice, regress_trail_auditors2;

-- Databases are global.  DROP DATABASE must work as it does without trail
-- (a background worker that ignores the barrier DROP DATABASE waits for would
-- block it forever; the timeout turns that hang into a failure).
SET statement_timeout = '20s';
CREATE DATABASE regress_trail_db;
DROP DATABASE regress_trail_db;
RESET statement_timeout;

--
-- What was recorded.  :ev numbers the user's events (trail's own maintenance
-- events, AwsServiceEvent, are not part of the session) in the order they
-- happened.
--
\set ev 'SELECT row_number() OVER (ORDER BY event_id) AS n, e.* FROM trail.events e WHERE event_type = ''AwsApiCall'''

SELECT n, event_name, event_source AS source, read_only AS ro, is_global AS global,
       additional_event_data->'topLevel' AS top,
       request_parameters->>'statement' AS statement
  FROM (:ev) e ORDER BY n;

-- the parameters beyond the statement text, and responseElements
SELECT n, event_name, request_parameters - 'statement' AS parameters, response_elements
  FROM (:ev) e
 WHERE request_parameters - 'statement' <> '{}' OR response_elements IS NOT NULL
 ORDER BY n;

-- resources, account id masked (drops are checked below)
SELECT n, event_name, r.ord, r.res->>'type' AS type,
       replace(r.res->>'ARN', e.recipient_account_id, '<account>') AS arn,
       r.res->>'name' AS name
  FROM (:ev) e, jsonb_array_elements(e.resources) WITH ORDINALITY AS r(res, ord)
 WHERE event_name NOT IN ('DropTable', 'DropSchema', 'CreateForeignDataWrapper', 'DropForeignDataWrapper')
 ORDER BY n, r.ord;

-- a resource type is PascalCase like the others: PG::ForeignDataWrapper
SELECT n, event_name, r->>'type' AS type,
       replace(r->>'ARN', e.recipient_account_id, '<account>') AS arn
  FROM (:ev) e, jsonb_array_elements(e.resources) r
 WHERE event_name IN ('CreateForeignDataWrapper', 'DropForeignDataWrapper')
 ORDER BY n;

-- a cascading drop lists every table, sequence, index, view, function and
-- schema it removed (the sequence and indexes of a table too, as its
-- CreateTable listed them); PostgreSQL's internal sub-objects (row types,
-- default values, a view's rule) may or may not be listed
SELECT n, event_name, r->>'type' AS type,
       replace(r->>'ARN', e.recipient_account_id, '<account>') AS arn
  FROM (:ev) e, jsonb_array_elements(e.resources) r
 WHERE event_name IN ('DropTable', 'DropSchema')
   AND r->>'type' IN ('PG::Table', 'PG::Sequence', 'PG::Index', 'PG::View',
                      'PG::Function', 'PG::Schema')
 ORDER BY n, type, arn;

-- every resource carries the cluster's account id
SELECT count(*) AS resources_with_wrong_account
  FROM trail.events e, jsonb_array_elements(e.resources) r
 WHERE r->>'accountId' IS DISTINCT FROM e.recipient_account_id
    OR e.recipient_account_id <> (SELECT system_identifier::text FROM pg_control_system());

-- invariants of every management event
SELECT count(*) AS events,
       count(*) FILTER (WHERE event_category = 'Management') AS management,
       count(*) FILTER (WHERE management_event) AS management_event,
       count(*) FILTER (WHERE region = current_database()) AS in_region,
       count(*) FILTER (WHERE transaction_id = (additional_event_data->>'transactionId')::xid8) AS txid_matches,
       count(*) FILTER (WHERE additional_event_data->>'commandTag' IS NOT NULL) AS with_tag,
       count(DISTINCT event_id) AS distinct_ids,
       count(DISTINCT request_id) AS distinct_requests
  FROM (:ev) e;

-- the two statements of the multi-statement string ran in one transaction but
-- are two requests; the two statements inside make_archive() are one request
SELECT count(DISTINCT transaction_id) AS transactions, count(DISTINCT request_id) AS requests
  FROM trail.events WHERE request_parameters->>'statement' IN ('CREATE TABLE app.m1 (a int)', 'CREATE TABLE app.m2 (b int)');
SELECT count(DISTINCT transaction_id) AS transactions, count(DISTINCT request_id) AS requests
  FROM trail.events WHERE request_parameters->>'statement' IN ('CREATE TABLE app.archive (LIKE app.orders)', 'CREATE INDEX archive_id_idx ON app.archive (id)');

-- nothing of the rolled-back work was recorded
SELECT count(*) AS rolled_back_events FROM trail.events
 WHERE request_parameters->>'statement' ~ '(rolled_back|never)';

DROP EXTENSION trail;
