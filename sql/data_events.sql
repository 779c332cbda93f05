--
-- data_events: writes and reads of the tables the event data store's
-- selectors pick become Data events: one statement event in trail.events
-- per statement and table, and (row_images changed / full) one row event
-- per changed row in trail.event_rows; trail.data_events shows both as
-- complete rows.  Volatile values (account id, ids, times, transaction ids)
-- are masked or compared instead of printed.
--
CREATE EXTENSION trail;
-- images of dates are checked under other settings below
SET DateStyle = 'ISO, MDY';

CREATE SCHEMA shop;
CREATE SCHEMA elsewhere;

-- :acct is the account id, :arn the ARN prefix of every table of this database
SELECT system_identifier::text AS acct FROM pg_control_system() \gset
SELECT 'arn:postgresql:table:' || current_database() || ':' || :'acct' || ':' AS arn \gset

-- Writes of every table of schema shop, and reads and writes of shop.catalog
-- (no readOnly field: both).
SELECT jsonb_pretty(jsonb_path_query_array(trail.update_event_data_store(format($$[
	{"Name": "writes of shop",
	 "FieldSelectors": [
		{"Field": "eventCategory", "Equals": ["Data"]},
		{"Field": "resources.type", "Equals": ["PG::Table"]},
		{"Field": "readOnly", "Equals": ["false"]},
		{"Field": "resources.ARN", "StartsWith": [%s]}]},
	{"Name": "the catalog",
	 "FieldSelectors": [
		{"Field": "eventCategory", "Equals": ["Data"]},
		{"Field": "resources.type", "Equals": ["PG::Table"]},
		{"Field": "resources.ARN", "Equals": [%s]}]}]$$,
	to_json(:'arn' || 'shop.'), to_json(:'arn' || 'shop.catalog'))::jsonb),
	'$.AdvancedEventSelectors[*].Name')) AS selectors;

--
-- The tables, created after the selectors: each one is captured as it is made.
--
CREATE TABLE shop.plain (id int PRIMARY KEY, v text);
SELECT trail.set_capture_options('shop.plain', 'none');
CREATE TABLE shop.items (id int PRIMARY KEY, name text, price numeric, tags text[],
                         active boolean, meta jsonb, note text);
CREATE TABLE shop.items_full (id int PRIMARY KEY, name text, price numeric);
SELECT trail.set_capture_options('shop.items_full', 'full');
CREATE TABLE shop.nokey (a int, b text, c int);
CREATE TABLE shop.people (id int PRIMARY KEY, name text, ssn text, password text);
SELECT trail.set_capture_options('shop.people', 'changed',
	exclude_columns => '{password}', redact_columns => '{ssn}');
CREATE TABLE shop."Odd ""Name""" ("Key Col" int PRIMARY KEY, "wé ird" text, data bytea);
CREATE TABLE shop.gen (id int PRIMARY KEY, qty int, price numeric,
                       total numeric GENERATED ALWAYS AS (qty * price) STORED);
CREATE TABLE shop.wide (id int PRIMARY KEY, body text, small int);
CREATE TABLE shop.measures (id int, day date, v int, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
CREATE TABLE shop.measures_2024 PARTITION OF shop.measures FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE shop.measures_2025 PARTITION OF shop.measures FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE shop.catalog (id int PRIMARY KEY, title text, price numeric);
CREATE TABLE elsewhere.ignored (id int PRIMARY KEY);

SELECT table_id, replace(arn, :'acct', '<account>') AS arn, row_images, exclude_columns, redact_columns
  FROM trail.captured_tables ORDER BY table_id::text COLLATE "C";

-- the four capture triggers of a table
SELECT tgname, tgenabled, pg_get_triggerdef(oid) AS definition
  FROM pg_trigger WHERE tgrelid = 'shop.items'::regclass ORDER BY tgname;

-- an ARN quotes identifiers as object_identity does
SELECT replace(trail.table_arn('shop."Odd ""Name"""'), :'acct', '<account>') AS odd_arn;

--
-- :stmts shows the statement events of a table in order (event ids grow
-- within a session); :rows the row events of its statements.
--
\set stmts 'SELECT e.event_name, e.read_only AS ro, e.response_elements->''rowCount'' AS n, e.additional_event_data - ''transactionId'' AS extra, e.request_parameters->>''statement'' AS statement FROM trail.events e WHERE e.event_category = ''Data'' AND e.request_parameters->>''tableName'' = :''tbl'' ORDER BY e.event_id'
\set rows 'SELECT e.event_name, r.row_number AS rn, r.row_key, r.old_image, r.new_image FROM trail.events e JOIN trail.event_rows r ON r.statement_event_id = e.event_id AND r.event_time = e.event_time WHERE e.event_category = ''Data'' AND e.request_parameters->>''tableName'' = :''tbl'' ORDER BY e.event_id, r.row_number'

--
-- row_images none: statement events only, for INSERT, UPDATE, DELETE,
-- TRUNCATE and COPY FROM; a statement that changes nothing records nothing.
--
INSERT INTO shop.plain VALUES (1, 'one'), (2, 'two'), (3, 'three');
UPDATE shop.plain SET v = upper(v) WHERE id <= 2;
UPDATE shop.plain SET v = 'none' WHERE id > 100;
DELETE FROM shop.plain WHERE id = 3;
DELETE FROM shop.plain WHERE false;
COPY shop.plain (id, v) FROM STDIN;
10	ten
11	eleven
\.
COPY shop.plain (id, v) FROM STDIN;
\.
TRUNCATE shop.plain;
\set tbl shop.plain
:stmts;
SELECT count(*) AS row_events FROM trail.event_rows r JOIN trail.events e
    ON e.event_id = r.statement_event_id AND e.event_time = r.event_time
 WHERE e.request_parameters->>'tableName' = 'shop.plain';

--
-- row_images changed (the default): INSERT shows the new row, DELETE the old
-- one, UPDATE only the columns that changed, the key always in row_key.
-- Values keep their JSON types (numbers, booleans, arrays as text, jsonb as JSON).
--
INSERT INTO shop.items VALUES
	(1, 'pen', 1.50, '{blue,cheap}', true, '{"w": 10, "tags": ["a"]}', NULL),
	(2, 'ink', 'NaN', NULL, false, NULL, 'it''s "quoted"\ and	tabbed');
UPDATE shop.items SET price = 1.75 WHERE id = 1;
UPDATE shop.items SET note = 'n', active = NULL, meta = '{"w": 11}' WHERE id = 1;
UPDATE shop.items SET name = name WHERE id = 2;
UPDATE shop.items SET id = 3 WHERE id = 2;
DELETE FROM shop.items WHERE id = 3;
\set tbl shop.items
:stmts;
:rows;

-- row_images full: whole rows on both sides
INSERT INTO shop.items_full VALUES (1, 'a', 1), (2, 'b', 2);
UPDATE shop.items_full SET price = price * 10;
DELETE FROM shop.items_full WHERE id = 1;
\set tbl shop.items_full
:stmts;
:rows;

-- no primary key: no row_key, and the old image of an UPDATE is the whole row
INSERT INTO shop.nokey VALUES (1, 'x', 1), (1, 'x', 1);
COPY shop.nokey FROM STDIN;
2	\N	5
\.
UPDATE shop.nokey SET c = 2 WHERE b = 'x';
DELETE FROM shop.nokey;
\set tbl shop.nokey
:stmts;
:rows;

--
-- Excluded and redacted columns: password never appears, ssn only as a
-- hash (equal values, equal hashes), and the statement text is left out.
--
INSERT INTO shop.people VALUES (1, 'ann', '111-22-3333', 'hunter2'),
                               (2, 'bob', '111-22-3333', 'pa55'),
                               (3, 'cy',  '999-88-7777', NULL);
UPDATE shop.people SET password = 'n3wpass' WHERE id = 1;
UPDATE shop.people SET ssn = '000-00-0000', password = 'x9x9' WHERE id = 2;
DELETE FROM shop.people WHERE id = 3;
\set tbl shop.people
:stmts;
SELECT e.event_name, r.row_number AS rn, r.row_key,
       regexp_replace(r.old_image::text, 'sha256:[0-9a-f]{16}', 'sha256:<hash>', 'g') AS old_image,
       regexp_replace(r.new_image::text, 'sha256:[0-9a-f]{16}', 'sha256:<hash>', 'g') AS new_image
  FROM trail.events e JOIN trail.event_rows r ON r.statement_event_id = e.event_id AND r.event_time = e.event_time
 WHERE e.request_parameters->>'tableName' = 'shop.people' ORDER BY e.event_id, r.row_number;
SELECT count(DISTINCT r.new_image->>'ssn') FILTER (WHERE r.row_key->>'id' IN ('1', '2')) AS same_ssn_hashes,
       count(DISTINCT r.new_image->>'ssn') AS distinct_ssn_hashes,
       bool_and(r.new_image->>'ssn' ~ '^<redacted> sha256:[0-9a-f]{16}$') AS all_hashed
  FROM trail.events e JOIN trail.event_rows r ON r.statement_event_id = e.event_id AND r.event_time = e.event_time
 WHERE e.request_parameters->>'tableName' = 'shop.people' AND e.event_name = 'Insert';
-- a changed redacted value changes its hash
SELECT r.old_image->>'ssn' <> r.new_image->>'ssn' AS hash_changed
  FROM trail.events e JOIN trail.event_rows r ON r.statement_event_id = e.event_id AND r.event_time = e.event_time
 WHERE e.request_parameters->>'tableName' = 'shop.people' AND r.row_key->>'id' = '2' AND e.event_name = 'Update';
SELECT count(*) AS events, count(*) FILTER (WHERE
         concat(e.request_parameters, e.additional_event_data, r.row_key, r.old_image, r.new_image)
         ~ '(hunter2|pa55|n3wpass|x9x9|111-22-3333|999-88-7777|000-00-0000|password)') AS leaks
  FROM trail.events e LEFT JOIN trail.event_rows r ON r.statement_event_id = e.event_id AND r.event_time = e.event_time
 WHERE e.request_parameters->>'tableName' = 'shop.people' AND e.event_category = 'Data';

--
-- Odd names and bytea: identifiers quoted as in the ARN, keys as JSON strings.
--
INSERT INTO shop."Odd ""Name""" VALUES (1, 'Grüße ✓ 日本', '\xdeadbeef00'), (2, NULL, '');
UPDATE shop."Odd ""Name""" SET data = '\x01' WHERE "Key Col" = 2;
\set tbl 'shop."Odd ""Name"""'
:stmts;
:rows;
SELECT DISTINCT e.resources->0->>'name' AS name, e.resources->0->>'type' AS type,
       replace(e.resources->0->>'ARN', :'acct', '<account>') AS arn,
       e.resources->0->>'ARN' = trail.table_arn('shop."Odd ""Name"""') AS arn_matches
  FROM trail.events e WHERE e.request_parameters->>'tableName' = 'shop."Odd ""Name"""';

-- a stored generated column appears with its computed value
INSERT INTO shop.gen (id, qty, price) VALUES (1, 2, 2.50);
UPDATE shop.gen SET qty = 4 WHERE id = 1;
UPDATE shop.gen SET price = 2.50 WHERE id = 1;
\set tbl shop.gen
:stmts;
:rows;

-- a TOASTed value is captured whole; an UPDATE that leaves it alone does not repeat it
INSERT INTO shop.wide VALUES (1, repeat('x', 100000), 1);
UPDATE shop.wide SET small = 2;
UPDATE shop.wide SET body = repeat('y', 100000) || 'z';
\set tbl shop.wide
SELECT e.event_name, r.row_key,
       length(r.old_image::text) AS old_len, length(r.new_image::text) AS new_len,
       (SELECT array_agg(k ORDER BY k) FROM json_object_keys(r.new_image) k) AS new_keys,
       r.new_image->>'body' = repeat('x', 100000) AS body_x,
       r.old_image->>'body' = repeat('x', 100000) AS old_body_x,
       r.new_image->>'body' = repeat('y', 100000) || 'z' AS body_yz
  FROM trail.events e JOIN trail.event_rows r ON r.statement_event_id = e.event_id AND r.event_time = e.event_time
 WHERE e.request_parameters->>'tableName' = 'shop.wide' ORDER BY e.event_id, r.row_number;

--
-- Images do not depend on the writer's session settings: a date written
-- under DateStyle 'SQL, DMY' or 'German' must not read as another day.
--
CREATE TABLE shop.dated (id int PRIMARY KEY, d date, ts timestamp, tstz timestamptz);
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'America/New_York';
INSERT INTO shop.dated VALUES (1, '2024-06-01', '2024-06-01 12:30:00', '2024-06-01 12:30:00+00');
SET DateStyle = 'German';
SET TimeZone = 'Asia/Tokyo';
INSERT INTO shop.dated VALUES (2, '2024-06-01', '2024-06-01 12:30:00', '2024-06-01 12:30:00+00');
SET DateStyle = 'ISO, MDY';
RESET TimeZone;
INSERT INTO shop.dated VALUES (3, '2024-06-01', '2024-06-01 12:30:00', '2024-06-01 12:30:00+00');
SELECT r.row_key, r.new_image->>'d' AS d,
       (r.new_image->>'ts')::timestamp = '2024-06-01 12:30:00' AS ts_ok,
       (r.new_image->>'tstz')::timestamptz = '2024-06-01 12:30:00+00' AS tstz_ok
  FROM trail.events e JOIN trail.event_rows r ON r.statement_event_id = e.event_id AND r.event_time = e.event_time
 WHERE e.request_parameters->>'tableName' = 'shop.dated' ORDER BY e.event_id;

--
-- A partitioned table written through its parent: the event is the
-- parent's, its rows those of every partition written.
--
INSERT INTO shop.measures VALUES (1, '2024-06-01', 10), (2, '2025-06-01', 20), (3, '2025-07-01', 30);
UPDATE shop.measures SET v = v + 1 WHERE id IN (1, 2);
UPDATE shop.measures SET day = '2025-01-15' WHERE id = 1;
DELETE FROM shop.measures WHERE id = 3;
\set tbl shop.measures
:stmts;
:rows;
SELECT count(*) AS partition_events FROM trail.events
 WHERE request_parameters->>'tableName' IN ('shop.measures_2024', 'shop.measures_2025');
-- A partition counts as selected when its partitioned table is: written
-- directly, even one whose own name no selector picks is captured.
CREATE TABLE elsewhere.measures_old PARTITION OF shop.measures
	FOR VALUES FROM ('2000-01-01') TO ('2024-01-01');
SELECT table_id FROM trail.captured_tables WHERE table_id::text LIKE '%measures%' ORDER BY 1::text COLLATE "C";
INSERT INTO shop.measures_2025 VALUES (5, '2025-03-01', 50);
INSERT INTO elsewhere.measures_old VALUES (6, '2010-03-01', 60);
SELECT left(request_parameters->>'statement', 38) AS statement, event_name,
       response_elements->'rowCount' AS n, count(*) AS events
  FROM trail.events
 WHERE event_category = 'Data' AND request_parameters->>'statement' ~ '^INSERT INTO (shop.measures_2025|elsewhere.measures_old) '
 GROUP BY 1, 2, 3 ORDER BY 1;
-- TRUNCATE of the partitioned table is one event, its own; of a partition,
-- the partition's.
TRUNCATE shop.measures;
INSERT INTO shop.measures_2024 VALUES (7, '2024-02-01', 70);
TRUNCATE shop.measures_2024;
SELECT request_parameters->>'statement' AS statement, request_parameters->>'tableName' AS "table"
  FROM trail.events
 WHERE event_category = 'Data' AND event_name = 'Truncate' AND request_parameters->>'statement' ~ 'measures'
 ORDER BY event_id;

--
-- MERGE (one event per action it took) and INSERT ... ON CONFLICT DO UPDATE
-- (an Insert for the new rows, an Update for the conflicting ones).
--
MERGE INTO shop.items t
USING (VALUES (1, 'pen', 2.00), (10, 'pad', 3.00), (11, 'cup', 4.00)) AS s(id, name, price)
   ON t.id = s.id
 WHEN MATCHED THEN UPDATE SET price = s.price
 WHEN NOT MATCHED THEN INSERT (id, name, price) VALUES (s.id, s.name, s.price);
MERGE INTO shop.items t USING (VALUES (99)) AS s(id) ON t.id = s.id
 WHEN MATCHED THEN DELETE;
INSERT INTO shop.items (id, name, price) VALUES (10, 'pad', 3.50), (12, 'mug', 5.00)
    ON CONFLICT (id) DO UPDATE SET price = EXCLUDED.price;
INSERT INTO shop.items (id, name) VALUES (12, 'mug') ON CONFLICT DO NOTHING;
SELECT e.event_name, e.response_elements->'rowCount' AS n, e.additional_event_data->>'rowEvents' AS row_events,
       left(e.request_parameters->>'statement', 25) AS statement,
       (SELECT json_agg(json_build_object('key', r.row_key, 'old', r.old_image, 'new', r.new_image)
                        ORDER BY (r.row_key->>'id')::int)
          FROM trail.event_rows r WHERE r.statement_event_id = e.event_id AND r.event_time = e.event_time) AS row_events
  FROM trail.events e
 WHERE e.request_parameters->>'tableName' = 'shop.items'
   AND e.request_parameters->>'statement' ~ '^(MERGE|INSERT INTO shop.items \(id, name)'
 ORDER BY e.event_id;
-- the command tag is that of the statement (MERGE, INSERT), as for
-- management events and for COPY
SELECT e.event_name, e.additional_event_data->>'commandTag' AS command_tag
  FROM trail.events e
 WHERE e.request_parameters->>'tableName' = 'shop.items'
   AND e.request_parameters->>'statement' ~ '^(MERGE|INSERT INTO shop.items \(id, name)'
 ORDER BY e.event_id;

--
-- Tables come and go: a new table that a selector picks is captured, a
-- table renamed within the schema stays captured under its new name, one
-- moved out of the selected schema no longer is, and one moved in is.
--
CREATE TABLE shop.later (id int PRIMARY KEY);
INSERT INTO shop.later VALUES (1);
ALTER TABLE shop.later RENAME TO later2;
INSERT INTO shop.later2 VALUES (2);
ALTER TABLE shop.later2 SET SCHEMA elsewhere;
INSERT INTO elsewhere.later2 VALUES (3);
INSERT INTO elsewhere.ignored VALUES (1);
ALTER TABLE elsewhere.ignored SET SCHEMA shop;
INSERT INTO shop.ignored VALUES (2);
SELECT e.request_parameters->>'tableName' AS tbl, e.event_name, r.new_image,
       replace(e.resources->0->>'ARN', :'acct', '<account>') AS arn
  FROM trail.events e JOIN trail.event_rows r ON r.statement_event_id = e.event_id AND r.event_time = e.event_time
 WHERE e.request_parameters->>'tableName' ~ '(later|ignored)'
 ORDER BY e.event_id;
SELECT c.oid::regclass AS tbl,
       (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname LIKE 'trail\_capture\_%') AS capture_triggers,
       EXISTS (SELECT 1 FROM trail.captured_tables ct WHERE ct.table_id = c.oid) AS captured
  FROM pg_class c WHERE c.relname IN ('later2', 'ignored') ORDER BY c.relname;

--
-- Reads: shop.catalog is selected for reads too.  One Select event per
-- statement and table with the number of rows returned; through a view and
-- through functions as well; COPY TO is a read named Copy.  Reads of the
-- other tables (selected for writes only) are not recorded.
--
INSERT INTO shop.catalog VALUES (1, 'book', 10), (2, 'lamp', 20), (3, 'desk', 30);
CREATE VIEW shop.cheap AS SELECT id, title FROM shop.catalog WHERE price < 25;
CREATE FUNCTION shop.catalog_total() RETURNS numeric LANGUAGE sql STABLE
	AS $$ SELECT sum(price) FROM shop.catalog $$;
CREATE FUNCTION shop.catalog_titles() RETURNS SETOF text LANGUAGE sql STABLE
	AS $$ SELECT title FROM shop.catalog ORDER BY id $$;
SELECT id, title FROM shop.catalog WHERE price > 15 ORDER BY id;
SELECT count(*) FROM shop.catalog;
SELECT * FROM shop.catalog WHERE id = 42;
SELECT * FROM shop.cheap ORDER BY id;
SELECT shop.catalog_total();
SELECT * FROM shop.catalog_titles();
SELECT c.title, i.name FROM shop.catalog c JOIN shop.items i ON i.id = c.id ORDER BY 1;
SELECT count(*) FROM shop.items;
COPY shop.catalog TO STDOUT;
EXPLAIN (COSTS OFF) SELECT * FROM shop.catalog;
\set tbl shop.catalog
:stmts;
-- rows of shop.catalog read by other statements are reads of it too
COPY (SELECT title FROM shop.catalog WHERE id = 1) TO STDOUT;
CREATE TABLE elsewhere.snap AS SELECT * FROM shop.catalog WHERE id <= 2;
CREATE TABLE elsewhere.sink (id int, title text);
INSERT INTO elsewhere.sink SELECT id, title FROM shop.catalog WHERE id <= 2;
SELECT id FROM shop.catalog WHERE id = 3 FOR UPDATE;
SELECT left(statement, 30) AS statement, ro, count(*) AS events
  FROM (:stmts) s WHERE statement ~ '^(COPY \(|CREATE TABLE|INSERT INTO elsewhere|SELECT id FROM shop.catalog WHERE id = 3)'
 GROUP BY 1, 2 ORDER BY 1;
SELECT count(*) AS read_events_of_write_only_tables FROM trail.events
 WHERE event_category = 'Data' AND read_only AND request_parameters->>'tableName' <> 'shop.catalog';

--
-- Events belong to the statement's transaction: rolled back, they are gone.
--
BEGIN;
INSERT INTO shop.plain VALUES (100, 'kept');
SAVEPOINT s;
INSERT INTO shop.plain VALUES (101, 'rolled back to savepoint');
ROLLBACK TO SAVEPOINT s;
UPDATE shop.plain SET v = 'kept, updated' WHERE id = 100;
COMMIT;
BEGIN;
INSERT INTO shop.plain VALUES (102, 'rolled back');
ROLLBACK;
\set tbl shop.plain
SELECT event_name, n, statement FROM (:stmts) s WHERE statement ~ 'kept|rolled back';

--
-- Invariants of every data event.
--
SELECT count(*) > 50 AS many_events,
       count(*) FILTER (WHERE event_source IS DISTINCT FROM 'table.postgresql') AS bad_source,
       count(*) FILTER (WHERE event_type IS DISTINCT FROM 'AwsApiCall') AS bad_type,
       count(*) FILTER (WHERE management_event IS DISTINCT FROM false) AS bad_management_flag,
       count(*) FILTER (WHERE region IS DISTINCT FROM current_database()
                           OR recipient_account_id IS DISTINCT FROM :'acct') AS bad_account,
       count(*) FILTER (WHERE transaction_id IS DISTINCT FROM (additional_event_data->>'transactionId')::xid8) AS bad_txid,
       count(*) FILTER (WHERE NOT (jsonb_array_length(resources) = 1
                          AND resources->0->>'ARN' = :'arn' || (request_parameters->>'tableName')
                          AND resources->0->>'name' = request_parameters->>'tableName'
                          AND resources->0->>'type' = 'PG::Table'
                          AND resources->0->>'accountId' = :'acct')) AS bad_resource,
       count(*) FILTER (WHERE NOT ((response_elements->>'rowCount')::int > 0 OR read_only
                          OR (event_name = 'Truncate' AND response_elements IS NULL))) AS bad_row_count,
       count(*) FILTER (WHERE read_only IS DISTINCT FROM (event_name = 'Select' OR
                                 (event_name = 'Copy' AND additional_event_data->>'commandTag' = 'COPY'
                                  AND request_parameters->>'statement' ~ 'TO STDOUT'))) AS bad_read_only,
       count(*) FILTER (WHERE user_name IS DISTINCT FROM current_user) AS bad_user
  FROM trail.events WHERE event_category = 'Data';
-- rowEvents is the number of row events, numbered 1..n, at the statement's time
SELECT count(*) > 30 AS many_statements_with_rows,
       count(*) FILTER (WHERE NOT ((e.additional_event_data->>'rowEvents')::int = r.n
                          AND r.n = r.max_rn AND r.min_rn = 1
                          AND (e.response_elements->>'rowCount')::int = r.n)
                          OR r.n IS NULL) AS inconsistent
  FROM trail.events e
  LEFT JOIN (SELECT statement_event_id, event_time, count(*) AS n, min(row_number) AS min_rn,
                    max(row_number) AS max_rn
               FROM trail.event_rows GROUP BY 1, 2) r
    ON r.statement_event_id = e.event_id AND r.event_time = e.event_time
 WHERE e.event_category = 'Data' AND e.additional_event_data ? 'rowImages';
SELECT count(*) AS row_images_without_rows FROM trail.events e
 WHERE e.event_category = 'Data' AND NOT e.additional_event_data ? 'rowImages'
   AND EXISTS (SELECT 1 FROM trail.event_rows r WHERE r.statement_event_id = e.event_id);
SELECT count(*) AS orphan_row_events FROM trail.event_rows r
 WHERE NOT EXISTS (SELECT 1 FROM trail.events e WHERE e.event_id = r.statement_event_id
                                                 AND e.event_time = r.event_time);
-- data events are not management events: LookupEvents and event_history do not list them
SELECT count(*) AS in_history FROM trail.event_history WHERE event_category = 'Data';
SELECT count(*) AS in_lookup FROM trail.lookup_events('EventSource', 'table.postgresql', end_time => 'infinity');

--
-- trail.data_events: every data event as a complete row.  Statement events
-- with row images are replaced by their row events.
--
SELECT (SELECT count(*) FROM trail.data_events) =
       (SELECT count(*) FROM trail.events WHERE event_category = 'Data' AND NOT additional_event_data ? 'rowImages')
     + (SELECT count(*) FROM trail.event_rows) AS counts_match,
       (SELECT count(DISTINCT event_id) FROM trail.data_events) = (SELECT count(*) FROM trail.data_events) AS ids_unique;
SELECT d.event_name, d.event_category, d.event_source, d.read_only, d.management_event,
       d.request_parameters, d.response_elements,
       d.additional_event_data - 'transactionId' - 'statementEventId' AS extra,
       d.additional_event_data->>'statementEventId' = r.statement_event_id::text AS stmt_ok,
       d.event_id = r.event_id AS id_ok, d.transaction_id = e.transaction_id AS txid_ok,
       replace(d.resources::text, :'acct', '<account>') AS resources
  FROM trail.data_events d
  JOIN trail.event_rows r ON r.event_id = d.event_id
  JOIN trail.events e ON e.event_id = r.statement_event_id AND e.event_time = r.event_time
 WHERE e.request_parameters->>'tableName' = 'shop.items_full'
 ORDER BY d.event_id;
SELECT d.event_name, d.request_parameters->>'tableName' AS tbl, d.response_elements,
       d.additional_event_data - 'transactionId' AS extra
  FROM trail.data_events d
 WHERE d.request_parameters->>'tableName' = 'shop.plain' AND d.event_name = 'Copy';
-- its CloudTrail record
SELECT jsonb_pretty(regexp_replace(trail.cloudtrail_record(d)::text,
           '"(eventID|eventTime|requestID|accessKeyId|principalId|statementEventId|transactionId|recipientAccountId|sharedEventID)": "[^"]*"',
           '"\1": "<masked>"', 'g')::jsonb
           - 'userIdentity' - 'sourceIPAddress' - 'userAgent' - 'tlsDetails'
           #- '{resources,0,ARN}' #- '{resources,0,accountId}') AS record,
       trail.cloudtrail_record(d)->>'eventID' = d.event_id::text AS id_ok
  FROM trail.data_events d
 WHERE d.request_parameters->>'tableName' = 'shop.items_full' AND d.event_name = 'Update'
   AND d.request_parameters->'key'->>'id' = '2';

-- Dropping the extension takes the capture triggers with it.
SET client_min_messages = warning;
DROP SCHEMA shop CASCADE;
DROP SCHEMA elsewhere CASCADE;
RESET client_min_messages;
DROP EXTENSION trail;
SELECT count(*) AS capture_triggers_left FROM pg_trigger WHERE tgname LIKE 'trail\_capture\_%';
