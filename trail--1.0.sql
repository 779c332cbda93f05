/* trail--1.0.sql: AWS CloudTrail, rebuilt inside PostgreSQL */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION trail" to load this file. \quit

-- trail captures through hooks that exist only when the library is preloaded;
-- refuse to install an extension that would silently record nothing.
CREATE FUNCTION trail._require_preload() RETURNS void
	LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'trail_require_preload';
SELECT trail._require_preload();

------------------------------------------------------------------------------
-- The event store: one row per CloudTrail record, partitioned by UTC day.
------------------------------------------------------------------------------
-- Commit sequence numbers: one per transaction that writes events, taken
-- when it first writes them.  Trails deliver in this order (commit_order.c).
CREATE SEQUENCE trail.commit_seq;

CREATE TABLE trail.events (
	commit_seq            int8        NOT NULL,	-- first: written in place at commit
	event_time            timestamptz NOT NULL,
	event_id              uuid        NOT NULL,
	event_version         text        NOT NULL,
	event_category        text        NOT NULL,	-- Management | Data | Insight
	event_type            text        NOT NULL,
	event_source          text,
	event_name            text,
	read_only             boolean,
	management_event      boolean,
	region                text        NOT NULL,
	recipient_account_id  text        NOT NULL,
	user_identity         jsonb,
	user_name             text,
	access_key_id         text,
	source_ip_address     text,
	user_agent            text,
	request_id            text,
	transaction_id        xid8,
	request_parameters    jsonb,
	response_elements     jsonb,
	additional_event_data jsonb,
	resources             jsonb,
	error_code            text,
	error_message         text,
	tls_details           jsonb,
	shared_event_id       uuid,
	insight_details       jsonb,
	is_global             boolean     NOT NULL DEFAULT false,
	-- events imported from log files (trail.import_logs): the file, and the
	-- record's members that the columns above do not give back as they were
	imported_from         text,
	unknown_fields        jsonb
) PARTITION BY RANGE (event_time);

COMMENT ON TABLE trail.events IS
	'CloudTrail records of this database, partitioned by UTC day; append-only';

-- Events whose day has no partition yet land here; maintenance moves them out.
CREATE TABLE trail.events_default PARTITION OF trail.events DEFAULT;

-- No statistics for the free-form columns, which no lookup plans by: an
-- ANALYZE of a day's partition (autovacuum's, while the day fills) then
-- samples and sorts only the columns lookups filter on (260 ms instead of
-- 930 for a day of 420,000 events).  Day partitions copy these targets
-- (partition.c).
ALTER TABLE trail.events
	ALTER COLUMN user_identity SET STATISTICS 0,
	ALTER COLUMN request_parameters SET STATISTICS 0,
	ALTER COLUMN response_elements SET STATISTICS 0,
	ALTER COLUMN additional_event_data SET STATISTICS 0,
	ALTER COLUMN resources SET STATISTICS 0,
	ALTER COLUMN tls_details SET STATISTICS 0,
	ALTER COLUMN insight_details SET STATISTICS 0,
	ALTER COLUMN unknown_fields SET STATISTICS 0,
	ALTER COLUMN error_message SET STATISTICS 0,
	ALTER COLUMN request_id SET STATISTICS 0;

-- Trails find what they have not yet delivered by commit_seq.  Rows are
-- appended in nearly commit order, so a BRIN index finds the few new blocks
-- at almost no cost to writers.
CREATE INDEX events_commit_seq_idx ON trail.events USING brin (commit_seq);

-- What LookupEvents can see (management and insight events) is indexed by
-- (event_time, event_id), newest-first keyset order: the unfiltered and
-- ReadOnly lookups scan it, and the keyed lookups fetch each event of
-- their page by it (lookup.c); data events, written in bulk, pay for none
-- of it.  It is unique: event_id is time-ordered (UUIDv7), so the pair is
-- unique across partitions as well as within them, and an import finds a
-- record it already has by it.  EventId lookups need no index of their
-- own: an id made by trail names the minute its event lies in (the id's
-- time, or up to a minute earlier), and the few others have an entry in
-- trail.event_resources.  A second index on (event_id, event_time), here
-- before, made an import of management records 16 % slower (11.9 s against
-- 10.3 s for 500,000 records): AWS's ids are random, so every record's
-- entry went to a random leaf page.
CREATE UNIQUE INDEX events_time_idx ON trail.events (event_time, event_id)
	WHERE event_category <> 'Data';

-- Imported data events are unique too, so that importing a file again adds
-- nothing; captured data events keep paying for no index entry.
CREATE UNIQUE INDEX events_imported_data_id_idx ON trail.events (event_time, event_id)
	WHERE event_category = 'Data' AND imported_from IS NOT NULL;

-- LookupEvents' keyed attributes: EventName, Username, EventSource and
-- AccessKeyId (a column each), ResourceType and ResourceName (any element of
-- the resources array).  Each management or insight event has one row here
-- per distinct (key, value) it has, so that a page of any value is a short
-- backward scan of this btree, newest first.  EventId has rows only for the
-- events whose id does not name their time (imported and insight events,
-- and any made after the clock stepped back by more than a minute);
-- the others are found by the time their UUIDv7 names (_lookup_rows).
--
-- The btree is on a 64-bit hash of (key, value), then time, not on the two
-- texts: an entry's descent compares fixed-width columns only, and its
-- index tuple is a third of the size.  With the texts leading, their
-- comparisons under the database's collation and the splits of the bigger
-- pages made an import of management events take 3.0 s per 100,000 records
-- instead of 2.1 (3.1 us per entry instead of 1.8).  The id is left out
-- too: the index is a third smaller again (178 MB instead of 278 for
-- 3.5 M entries), and an import of 500,000 management records 6-9 %
-- faster.  A lookup puts the entries of one time in the order of their
-- ids itself (lookup.c), and checks the texts of each entry it reads,
-- since two values of one hash would share a range.  The index is not
-- unique: an event's writer makes each of its entries once (the import and
-- the spool only for the events they write), and a key made of the hash
-- could not tell two values of one hash apart; deduplication would merge
-- only the entries of one value and time, rare but for imported records
-- (whose times are whole seconds), at the cost of a pass over every page
-- about to split.
--
-- The table is not partitioned, and the keys have no indexes on
-- trail.events: a lookup reads its page's (event_time, event_id) pairs here
-- and fetches each event from the one day partition its time names
-- (lookup.c), so that a session's first lookup opens a few partitions
-- instead of every day and all of its indexes (which took 90-160 ms with
-- a per-key index on every partition).  A GIN index on resources would find
-- the rows of a resource but not in time order (the newest page of a common
-- type would cost a scan of all its rows).  Maintenance deletes the rows
-- together with the days they point to; the rows are appended in nearly time
-- order, so a BRIN index on event_time finds the old ones at almost no cost
-- to writers.
CREATE FUNCTION trail._lookup_hash(lookup_key text, lookup_value text) RETURNS bigint
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'trail_sql_lookup_hash';

CREATE TABLE trail.event_resources (
	lookup_key   text        NOT NULL,	-- EventName | Username | EventSource | AccessKeyId | EventId | ResourceType | ResourceName
	lookup_value text        NOT NULL,
	event_time   timestamptz NOT NULL,
	event_id     uuid        NOT NULL,
	lookup_hash  bigint      NOT NULL
		GENERATED ALWAYS AS (trail._lookup_hash(lookup_key, lookup_value)) STORED
);
CREATE INDEX event_resources_lookup_idx ON trail.event_resources
	(lookup_hash, event_time) WITH (deduplicate_items = off);
CREATE INDEX event_resources_time_idx ON trail.event_resources USING brin (event_time);

COMMENT ON TABLE trail.event_resources IS
	'Lookup index of trail.events by LookupEvents'' keyed attributes; append-only';

------------------------------------------------------------------------------
-- Rendering: one row as the CloudTrail record (spec section a).
------------------------------------------------------------------------------
CREATE FUNCTION trail.cloudtrail_record(trail.events) RETURNS jsonb
	LANGUAGE C STRICT STABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'trail_cloudtrail_record';

COMMENT ON FUNCTION trail.cloudtrail_record(trail.events) IS
	'The CloudTrail record of one event, as delivered in log files';

------------------------------------------------------------------------------
-- Management events: the ProcessUtility hook records every utility command;
-- these event triggers tell it which objects each command touched, and refuse
-- changes to trail's own objects.  ENABLE ALWAYS: they must fire also under
-- session_replication_role = replica.
------------------------------------------------------------------------------
CREATE FUNCTION trail.capture_ddl_command_end() RETURNS event_trigger
	LANGUAGE C AS 'MODULE_PATHNAME', 'trail_capture_ddl_command_end';
CREATE FUNCTION trail.capture_sql_drop() RETURNS event_trigger
	LANGUAGE C AS 'MODULE_PATHNAME', 'trail_capture_sql_drop';

CREATE EVENT TRIGGER trail_ddl_command_end ON ddl_command_end
	EXECUTE FUNCTION trail.capture_ddl_command_end();
CREATE EVENT TRIGGER trail_sql_drop ON sql_drop
	EXECUTE FUNCTION trail.capture_sql_drop();
ALTER EVENT TRIGGER trail_ddl_command_end ENABLE ALWAYS;
ALTER EVENT TRIGGER trail_sql_drop ENABLE ALWAYS;

------------------------------------------------------------------------------
-- Data events (reads and writes of selected tables).
--
-- Every statement on a selected table is one row of trail.events
-- (eventCategory Data, eventName Insert/Update/Delete/Truncate/Copy/Select,
-- responseElements.rowCount).  With row images ("changed" or "full"), each
-- row it changed is a data event of its own, kept compactly in
-- trail.event_rows: what every row of a statement shares is stored once, in
-- the statement's row, which then serves as their header
-- (additionalEventData.rowImages says so).  trail.data_events shows both
-- kinds as complete CloudTrail rows.
------------------------------------------------------------------------------
CREATE TABLE trail.event_rows (
	commit_seq          int8        NOT NULL,	-- its statement's
	event_time          timestamptz NOT NULL,	-- its statement's
	event_id            uuid        NOT NULL,	-- the row event's own id
	statement_event_id  uuid        NOT NULL,	-- its statement's row in trail.events
	row_number          int4        NOT NULL,	-- 1, 2, ... within the statement
	partition_name      text,					-- leaf partition, if not the table named
	-- JSON text, as built by the capture trigger: smaller than jsonb for
	-- small objects and cheaper to write (jsonb would parse it again)
	row_key             json,					-- primary key (NULL: no primary key)
	old_image           json,
	new_image           json
) PARTITION BY RANGE (event_time);

COMMENT ON TABLE trail.event_rows IS
	'Row data events, one per changed row, partitioned by UTC day like trail.events; append-only';

CREATE TABLE trail.event_rows_default PARTITION OF trail.event_rows DEFAULT;
CREATE INDEX event_rows_commit_seq_idx ON trail.event_rows USING brin (commit_seq);

-- What the event store records (CloudTrail's UpdateEventDataStore): no row
-- means the defaults, management events only and trail.retention_period.
CREATE TABLE trail.event_data_store (
	singleton                boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	advanced_event_selectors jsonb,
	retention_period         int4 CHECK (retention_period BETWEEN 1 AND 3653),
	updated_time             timestamptz NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('trail.event_data_store', '');

-- How each table's data events are captured (trail.set_capture_options).
CREATE TABLE trail.capture_options (
	table_id        regclass PRIMARY KEY,
	row_images      text   NOT NULL CHECK (row_images IN ('none', 'changed', 'full')),
	exclude_columns text[] NOT NULL,
	redact_columns  text[] NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('trail.capture_options', '');

CREATE FUNCTION trail.table_arn(tbl regclass) RETURNS text
	LANGUAGE C STRICT STABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'trail_table_arn';

COMMENT ON FUNCTION trail.table_arn(regclass) IS
	'ARN of a table, as event selectors and resources name it';

CREATE FUNCTION trail.update_event_data_store(
	advanced_event_selectors jsonb DEFAULT NULL,
	retention_period         int   DEFAULT NULL)
	RETURNS jsonb
	LANGUAGE C VOLATILE
	AS 'MODULE_PATHNAME', 'trail_update_event_data_store';

COMMENT ON FUNCTION trail.update_event_data_store(jsonb, int) IS
	'CloudTrail UpdateEventDataStore: what the store records, and for how many days';

CREATE FUNCTION trail.get_event_data_store() RETURNS jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT jsonb_build_object(
		'Name', current_database(),
		'Status', 'ENABLED',
		'AdvancedEventSelectors', coalesce(s.advanced_event_selectors,
			'[{"Name": "Management events", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]'),
		'RetentionPeriod', coalesce(s.retention_period,
			extract(epoch FROM coalesce(current_setting('trail.retention_period', true), '90d')::interval)::int / 86400),
		'UpdatedTimestamp', s.updated_time)
	  FROM (SELECT 1) one LEFT JOIN trail.event_data_store s ON true
	$$;

COMMENT ON FUNCTION trail.get_event_data_store() IS
	'CloudTrail GetEventDataStore: the selectors and retention in force';

CREATE FUNCTION trail.set_capture_options(
	tbl             regclass,
	row_images      text   DEFAULT 'changed',
	exclude_columns text[] DEFAULT '{}',
	redact_columns  text[] DEFAULT '{}')
	RETURNS void
	LANGUAGE C VOLATILE
	AS 'MODULE_PATHNAME', 'trail_set_capture_options';

COMMENT ON FUNCTION trail.set_capture_options(regclass, text, text[], text[]) IS
	'How a selected table''s data events are captured: row images, excluded and redacted columns';

-- The capture triggers: statement-level, with transition tables, so that a
-- statement's rows are read once, in bulk, after it ran, from tuplestores
-- that spill to disk (bounded memory whatever the statement's size).
CREATE FUNCTION trail.capture_change() RETURNS trigger
	LANGUAGE C AS 'MODULE_PATHNAME', 'trail_capture_change';

-- Does any data selector pick writes on this table (or an ancestor)?
CREATE FUNCTION trail._selects_table_writes(tbl oid) RETURNS boolean
	LANGUAGE C STRICT STABLE
	AS 'MODULE_PATHNAME', 'trail_selects_table_writes';

-- Put the capture triggers on exactly the tables the selectors pick now:
-- one table and its partitions, the tables of one schema, or all tables.
-- Runs as the extension owner, inside trail's internal scope.
CREATE FUNCTION trail._reconcile_capture(p_table oid DEFAULT NULL, p_schema oid DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $fn$
DECLARE
	r record;
	-- the four triggers: their event and what they see of the statement's rows
	ops constant text[] := ARRAY['insert', 'update', 'delete', 'truncate'];
	refs constant text[] := ARRAY['REFERENCING NEW TABLE AS trail_new',
	                              'REFERENCING OLD TABLE AS trail_old NEW TABLE AS trail_new',
	                              'REFERENCING OLD TABLE AS trail_old', ''];
	i int;
BEGIN
	FOR r IN
		SELECT c.oid, c.oid::regclass AS tbl,
		       trail._selects_table_writes(c.oid) AS wanted,
		       EXISTS (SELECT 1 FROM pg_trigger t
		                WHERE t.tgrelid = c.oid AND t.tgname = 'trail_capture_insert') AS present
		  FROM pg_class c
		  JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
		   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'trail')
		   AND n.nspname !~ '^pg_toast'
		   AND (p_table IS NULL OR c.oid = p_table
		        OR c.oid IN (SELECT relid FROM pg_partition_tree(p_table)))
		   AND (p_schema IS NULL OR c.relnamespace = p_schema)
	LOOP
		CONTINUE WHEN r.wanted = r.present;
		FOR i IN 1 .. 4 LOOP
			IF r.wanted THEN
				EXECUTE format('CREATE TRIGGER trail_capture_%s AFTER %s ON %s %s'
				               ' FOR EACH STATEMENT EXECUTE FUNCTION trail.capture_change()',
				               ops[i], upper(ops[i]), r.tbl, refs[i]);
				EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER trail_capture_%s', r.tbl, ops[i]);
			ELSE
				EXECUTE format('DROP TRIGGER trail_capture_%s ON %s', ops[i], r.tbl);
			END IF;
		END LOOP;
	END LOOP;

	-- options of tables that are gone
	DELETE FROM trail.capture_options o
	 WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = o.table_id);
END
$fn$;

-- Tables whose data events are captured now, and how.
CREATE VIEW trail.captured_tables AS
	SELECT c.oid::regclass AS table_id,
	       trail.table_arn(c.oid) AS arn,
	       coalesce(o.row_images, 'changed') AS row_images,
	       coalesce(o.exclude_columns, '{}') AS exclude_columns,
	       coalesce(o.redact_columns, '{}') AS redact_columns
	  FROM pg_catalog.pg_trigger t
	  JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
	  LEFT JOIN trail.capture_options o ON o.table_id = c.oid
	 WHERE t.tgname = 'trail_capture_insert'
	   AND t.tgfoid = 'trail.capture_change()'::pg_catalog.regprocedure;

COMMENT ON VIEW trail.captured_tables IS
	'Tables whose data writes are captured now (the selectors pick them), with their options';

------------------------------------------------------------------------------
-- Retention: partitions ahead, days past the retention period dropped.
------------------------------------------------------------------------------
CREATE FUNCTION trail.retention_start(as_of timestamptz DEFAULT now()) RETURNS timestamptz
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT as_of - coalesce(
		(SELECT pg_catalog.make_interval(days => s.retention_period)
		   FROM trail.event_data_store s WHERE s.retention_period IS NOT NULL),
		pg_catalog.current_setting('trail.retention_period', true)::pg_catalog.interval,
		'90 days') $$;

COMMENT ON FUNCTION trail.retention_start(timestamptz) IS
	'Oldest event time still within the retention period';

CREATE FUNCTION trail.run_maintenance(as_of timestamptz DEFAULT now())
	RETURNS TABLE (action text, partition_name text, row_count bigint)
	LANGUAGE C VOLATILE STRICT
	AS 'MODULE_PATHNAME', 'trail_run_maintenance';

COMMENT ON FUNCTION trail.run_maintenance(timestamptz) IS
	'Create partitions ahead of as_of, move events out of the default partition, drop days past retention';

-- The first partitions exist as soon as the extension does.
SELECT count(*) FROM trail.run_maintenance();

------------------------------------------------------------------------------
-- Event history: management and insight events within the retention period.
------------------------------------------------------------------------------

CREATE VIEW trail.event_history AS
	SELECT e.*
	  FROM trail.events e
	 WHERE e.event_category <> 'Data'
	   AND e.event_time >= trail.retention_start()
	 ORDER BY e.event_time DESC, e.event_id DESC;

COMMENT ON VIEW trail.event_history IS
	'Management and insight events within the retention period, newest first';

-- Every data event as a complete trail.events row: statement events, and the
-- row events of statements captured with row images, each joined to its
-- statement's row for what they share.
-- Every event as trails deliver it: a complete trail.events row, row events
-- included (each joined to its statement's row for what they share), and the
-- statement rows that merely head row events left out.  (Delivery itself
-- renders the same records without this view, from each statement's record
-- made once: delivery.c.)  The join repeats commit_seq, which both sides
-- share, so that a range on it reaches both BRIN indexes.
CREATE VIEW trail.delivery_source AS
	SELECT e.*
	  FROM trail.events e
	 WHERE NOT (e.event_category = 'Data' AND e.additional_event_data ? 'rowImages'
	            AND e.imported_from IS NULL)
	UNION ALL
	SELECT r.commit_seq, r.event_time, r.event_id, e.event_version, e.event_category, e.event_type,
	       e.event_source, e.event_name, e.read_only, e.management_event, e.region,
	       e.recipient_account_id, e.user_identity, e.user_name, e.access_key_id,
	       e.source_ip_address, e.user_agent, e.request_id, e.transaction_id,
	       e.request_parameters || jsonb_strip_nulls(jsonb_build_object(
	           'partitionName', r.partition_name, 'key', r.row_key,
	           'oldImage', r.old_image, 'newImage', r.new_image)),
	       NULL::jsonb,
	       (e.additional_event_data - 'rowImages' - 'rowEvents') || jsonb_build_object(
	           'statementEventId', r.statement_event_id, 'rowNumber', r.row_number),
	       CASE WHEN r.partition_name IS NULL THEN e.resources
	            ELSE e.resources || jsonb_build_array(jsonb_build_object(
	                'accountId', e.recipient_account_id, 'type', 'PG::Table',
	                'ARN', 'arn:postgresql:table:' || e.region || ':' || e.recipient_account_id
	                       || ':' || r.partition_name,
	                'name', r.partition_name)) END,
	       e.error_code, e.error_message, e.tls_details, e.shared_event_id,
	       e.insight_details, e.is_global, e.imported_from, e.unknown_fields
	  FROM trail.event_rows r
	  JOIN trail.events e ON e.event_time = r.event_time AND e.event_id = r.statement_event_id
	                     AND e.commit_seq = r.commit_seq
	 WHERE e.event_category = 'Data';

COMMENT ON VIEW trail.delivery_source IS
	'Every event as trails deliver it: row events as complete rows, in place of their statement rows';

-- Data events as complete rows: statement events and row events.
CREATE VIEW trail.data_events AS
	SELECT d.* FROM trail.delivery_source d WHERE d.event_category = 'Data';

COMMENT ON VIEW trail.data_events IS
	'Data events as complete rows: statement events and row events';

CREATE FUNCTION trail.cloudtrail_record(trail.data_events) RETURNS jsonb
	LANGUAGE C STRICT STABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'trail_cloudtrail_record';

------------------------------------------------------------------------------
-- LookupEvents (spec section e).
--
-- Pages are keyset positions (event_time, event_id), newest first.
--
-- The keyed attributes (EventName, Username, EventSource, AccessKeyId,
-- ResourceType, ResourceName) read their page from the entries of
-- trail.event_resources and fetch each event from its day's partition
-- (trail._lookup_entries, lookup.c): nothing is planned over the partitions,
-- so a session's first lookup of a rare value costs what its later ones do.
--
-- EventId reads its entry or else the minute its id names (see below).
--
-- The others (no attribute, ReadOnly) each have a static query in
-- trail._lookup_rows, so PL/pgSQL keeps one generic plan per attribute for
-- the session: run-time partition pruning then picks the days of the
-- requested window at each call.  With a plan made per call instead, the
-- planner alone would spend ~25 ms examining every daily partition of a
-- 90-day store, on every page.  The branches differ only in their
-- condition, so they are made from one template below.
--
-- The end of the window is also folded into the keyset position
-- (p_after_time, p_after_id).  The scan of trail.event_resources relies on
-- it: its one upper bound on time is where the backward scan starts.  The
-- daily partitions keep "event_time <= p_end" as well, which run-time
-- pruning needs to skip the newer days.
--
-- JIT is off: a generic plan over every partition is estimated above
-- jit_above_cost, and compiling it (300-450 ms, measured) on every call would
-- cost a hundred times the 50-row page it serves.
------------------------------------------------------------------------------
DO $do$
DECLARE
	branches text;
	probes   text;
BEGIN
	-- the conditions again, for the dynamic query on one day (parameter $6)
	SELECT string_agg(format($probe$
		WHEN %L THEN %L$probe$, key, replace(condition, 'p_value', '$6')), '' ORDER BY key)
	  INTO probes
	  FROM (VALUES ('',            'true'),
	               ('ReadOnly',    'e.read_only = p_value::boolean')) AS a(key, condition);

	SELECT string_agg(format($branch$
	WHEN %L THEN
		RETURN QUERY SELECT e.* FROM trail.events e
		 WHERE e.event_category <> 'Data' AND e.event_category = p_category
		   AND e.event_time >= p_start AND e.event_time <= p_end
		   AND (e.event_time, e.event_id) < (p_after_time, p_after_id)
		   AND %s
		 ORDER BY e.event_time DESC, e.event_id DESC LIMIT p_limit;$branch$,
		key, condition), '' ORDER BY key)
	  INTO branches
	  FROM (VALUES ('',            'true'),
	               ('ReadOnly',    'e.read_only = p_value::boolean')) AS a(key, condition);

	EXECUTE format($fn$
CREATE FUNCTION trail._lookup_rows(
	p_key        text,
	p_value      text,
	p_start      timestamptz,
	p_end        timestamptz,
	p_category   text,
	p_limit      int,
	p_after_time timestamptz,
	p_after_id   uuid)
RETURNS SETOF trail.events
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $body$
DECLARE
	v_cond text;
	v_day  date;
	v_last date;
	v_first timestamptz;
	v_end   timestamptz;
	v_row  trail.events;
BEGIN
	-- The keyed attributes read their entries (lookup.c): no plan over the
	-- partitions at all.
	IF p_key IN ('EventName', 'Username', 'EventSource', 'AccessKeyId',
	             'ResourceType', 'ResourceName') THEN
		RETURN QUERY SELECT * FROM trail._lookup_entries(p_key, p_value, p_start,
			p_category, p_limit, p_after_time, p_after_id);
		RETURN;
	END IF;

	-- EventId: an imported or insight event by its entry; any other event by
	-- the time its id names.  trail makes ids as UUIDv7 from the event's
	-- time (an id is never older than its event, and as old but for a clock
	-- that stepped back or 4,096 ids in one millisecond), so the event lies
	-- in the minute before the id's time (_event_id_span): a short range of
	-- the unique (event_time, event_id) index, in the one or two partitions
	-- it names.  An imported id (AWS's are random), an insight's (made when
	-- the insight is found, not at the minute it describes) and one made
	-- after the clock stepped back by more than that (_event_id_names_time)
	-- say nothing of the time: those events have entries.
	IF p_key = 'EventId' THEN
		RETURN QUERY SELECT * FROM trail._lookup_entries(p_key, p_value::uuid::text, p_start,
			p_category, p_limit, p_after_time, p_after_id);
		IF FOUND THEN
			RETURN;
		END IF;
		SELECT * INTO v_first, v_end FROM trail._event_id_span(p_value::uuid);
		IF v_first IS NOT NULL THEN
			RETURN QUERY EXECUTE pg_catalog.format(
				'SELECT e.* FROM trail.events e'
				' WHERE e.event_time >= %%L AND e.event_time < %%L'
				'   AND e.event_category <> ''Data'' AND e.event_category = $1'
				'   AND e.event_time >= $2 AND e.event_time <= $3'
				'   AND (e.event_time, e.event_id) < ($4, $5) AND e.event_id = $6::uuid',
				v_first, v_end)
				USING p_category, p_start, p_end, p_after_time, p_after_id, p_value;
		END IF;
		RETURN;
	END IF;

	-- The newest two days first, each on its own: a page they fill needs no
	-- other partition.  Bounds written into the query as constants let the
	-- planner prune every other day before opening it, so that a session's
	-- first call is spared the metadata of every other day and its indexes
	-- (most of that call's cost).
	v_cond := CASE WHEN pg_catalog.isfinite(p_after_time) THEN
	          CASE coalesce(p_key, '')%s
	          END END;
	v_day := (p_after_time AT TIME ZONE 'UTC')::date;
	v_last := greatest(v_day - 1, (p_start AT TIME ZONE 'UTC')::date);
	WHILE v_cond IS NOT NULL AND p_limit > 0 AND v_day >= v_last LOOP
		FOR v_row IN EXECUTE pg_catalog.format(
			'SELECT e.* FROM trail.events e'
			' WHERE e.event_time >= %%L AND e.event_time < %%L'
			'   AND e.event_category <> ''Data'' AND e.event_category = $1'
			'   AND e.event_time >= $2 AND e.event_time <= $3'
			'   AND (e.event_time, e.event_id) < ($4, $5) AND %%s'
			' ORDER BY e.event_time DESC, e.event_id DESC LIMIT $7',
			v_day::timestamp AT TIME ZONE 'UTC', (v_day + 1)::timestamp AT TIME ZONE 'UTC', v_cond)
			USING p_category, p_start, p_end, p_after_time, p_after_id, p_value, p_limit
		LOOP
			RETURN NEXT v_row;
			p_limit := p_limit - 1;
			p_after_time := v_row.event_time;
			p_after_id := v_row.event_id;
		END LOOP;
		-- the rest starts below that day
		p_after_time := v_day::timestamp AT TIME ZONE 'UTC';
		p_after_id := '00000000-0000-0000-0000-000000000000';
		v_day := v_day - 1;
	END LOOP;
	IF p_limit <= 0 THEN
		RETURN;
	END IF;

	CASE coalesce(p_key, '')%s
	END CASE;
END
$body$$fn$, probes, branches);
END
$do$;

-- The page of a keyed attribute, from its entries (see above)
CREATE FUNCTION trail._lookup_entries(
	p_key        text,
	p_value      text,
	p_start      timestamptz,
	p_category   text,
	p_limit      int,
	p_after_time timestamptz,
	p_after_id   uuid)
RETURNS SETOF trail.events
LANGUAGE C STRICT STABLE ROWS 50
AS 'MODULE_PATHNAME', 'trail_lookup_entries';

-- The times an event id made by trail names (first_time <= event_time <
-- end_time: the minute before the end of the id's millisecond), where
-- _lookup_rows looks for it; NULLs for an id of another layout.
CREATE FUNCTION trail._event_id_span(event_id uuid, OUT first_time timestamptz,
	OUT end_time timestamptz)
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'trail_sql_event_id_span';

-- Whether EventId finds an event by the times its id names (the span
-- above); when not (an id made after the clock stepped back by more than a
-- minute), the event has an EventId entry.  The spool's drain writes
-- entries in SQL.
CREATE FUNCTION trail._event_id_names_time(event_id uuid, event_time timestamptz)
RETURNS boolean
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'trail_sql_event_id_names_time';

-- One page of LookupEvents: CloudTrail's Event members, and the token of
-- the next page.
CREATE TYPE trail.lookup_event AS (
	event_id         uuid,
	event_name       text,
	read_only        boolean,
	access_key_id    text,
	event_time       timestamptz,
	event_source     text,
	username         text,
	resources        jsonb,
	cloudtrail_event jsonb,
	next_token       text);

-- The API: validation, tokens and the page.
CREATE FUNCTION trail.lookup_events(
	attribute_key   text        DEFAULT NULL,
	attribute_value text        DEFAULT NULL,
	start_time      timestamptz DEFAULT NULL,
	end_time        timestamptz DEFAULT NULL,
	max_results     int         DEFAULT 50,
	next_token      text        DEFAULT NULL,
	event_category  text        DEFAULT NULL)
RETURNS SETOF trail.lookup_event
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	keys constant text[] := ARRAY['EventId', 'EventName', 'ReadOnly', 'Username',
		'ResourceType', 'ResourceName', 'EventSource', 'AccessKeyId'];
	v_start   timestamptz := coalesce(start_time, trail.retention_start());
	v_end     timestamptz := coalesce(end_time, pg_catalog.now());
	v_cat     text;
	v_fp      text;
	v_after_t timestamptz;
	v_after_i uuid;
	v_parts   text[];
BEGIN
	-- Validate everything before reading anything (CloudTrail's exceptions).
	IF attribute_key IS NULL AND attribute_value IS NOT NULL THEN
		RAISE EXCEPTION 'InvalidLookupAttributesException: attribute_value given without attribute_key'
			USING ERRCODE = '22023',
			      HINT = 'Valid attribute keys: ' || array_to_string(keys, ', ');
	END IF;
	IF attribute_key IS NOT NULL AND NOT attribute_key = ANY (keys) THEN
		RAISE EXCEPTION 'InvalidLookupAttributesException: unknown attribute key "%"', attribute_key
			USING ERRCODE = '22023',
			      HINT = 'Valid attribute keys: ' || array_to_string(keys, ', ');
	END IF;
	IF attribute_key IS NOT NULL AND attribute_value IS NULL THEN
		RAISE EXCEPTION 'InvalidLookupAttributesException: attribute key "%" needs a value', attribute_key
			USING ERRCODE = '22023';
	END IF;
	IF attribute_key = 'ReadOnly' AND attribute_value NOT IN ('true', 'false') THEN
		RAISE EXCEPTION 'InvalidLookupAttributesException: ReadOnly must be "true" or "false", not "%"', attribute_value
			USING ERRCODE = '22023';
	END IF;
	IF max_results IS NULL OR max_results < 1 OR max_results > 50 THEN
		RAISE EXCEPTION 'InvalidMaxResultsException: max_results must be between 1 and 50, not %',
			coalesce(max_results::text, 'NULL')
			USING ERRCODE = '22023';
	END IF;
	IF v_start > v_end THEN
		RAISE EXCEPTION 'InvalidTimeRangeException: start_time % is after end_time %', v_start, v_end
			USING ERRCODE = '22023';
	END IF;
	IF event_category IS NULL THEN
		v_cat := 'Management';
	ELSIF event_category = 'insight' THEN
		v_cat := 'Insight';
		IF attribute_key IS NOT NULL AND attribute_key NOT IN ('EventId', 'EventName', 'EventSource') THEN
			RAISE EXCEPTION 'InvalidLookupAttributesException: insight lookups accept only EventId, EventName and EventSource'
				USING ERRCODE = '22023';
		END IF;
	ELSE
		RAISE EXCEPTION 'InvalidEventCategoryException: event_category must be NULL or "insight", not "%"', event_category
			USING ERRCODE = '22023';
	END IF;

	-- A token is bound to the exact request it continues (CloudTrail requires
	-- the other parameters to be identical) and to the last row it returned.
	-- Times enter tokens as epoch seconds (exact numerics, infinity allowed):
	-- their text forms would depend on the session's DateStyle and TimeZone.
	v_fp := md5(concat_ws('|', attribute_key, attribute_value,
		extract(epoch FROM start_time), extract(epoch FROM end_time), v_cat));
	IF next_token IS NOT NULL THEN
		BEGIN
			v_parts := string_to_array(convert_from(decode(next_token, 'base64'), 'UTF8'), '|');
			IF array_length(v_parts, 1) <> 4 OR v_parts[1] <> 'v1' THEN
				RAISE EXCEPTION 'malformed';
			END IF;
			v_after_t := timestamptz '1970-01-01 00:00:00+00' + (v_parts[2] || ' microseconds')::interval;
			v_after_i := v_parts[3]::uuid;
		EXCEPTION WHEN OTHERS THEN
			RAISE EXCEPTION 'InvalidNextTokenException: next_token is malformed'
				USING ERRCODE = '22023';
		END;
		IF v_parts[4] <> v_fp THEN
			RAISE EXCEPTION 'InvalidNextTokenException: next_token belongs to a different request'
				USING ERRCODE = '22023',
				      HINT = 'Repeat the request with the same attribute, times and category as the one that returned the token.';
		END IF;
	END IF;

	-- The first page starts just after end_time (inclusive: times are whole
	-- microseconds); a later page after its token's row, if that is earlier.
	IF v_after_t IS NULL OR (v_after_t, v_after_i) > (v_end + interval '1 microsecond', '00000000-0000-0000-0000-000000000000'::uuid) THEN
		v_after_t := v_end + interval '1 microsecond';
		v_after_i := '00000000-0000-0000-0000-000000000000';
	END IF;

	-- CloudTrail answers an EventId that cannot exist with no events, not an error.
	IF attribute_key = 'EventId' AND attribute_value !~* '^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$' THEN
		RETURN;
	END IF;

	-- One row beyond the page tells whether a next page exists.  The token
	-- (the same on every row of the page) is the keyset position of the
	-- page's last row, so paging stays stable while new events arrive.
	RETURN QUERY
	WITH page AS (
		SELECT r AS ev, row_number() OVER (ORDER BY r.event_time DESC, r.event_id DESC) AS n
		  FROM trail._lookup_rows(attribute_key, attribute_value, v_start, v_end, v_cat,
		                          max_results + 1, v_after_t, v_after_i) r),
	     tok AS (
		SELECT replace(encode(convert_to(concat_ws('|', 'v1',
		           (extract(epoch FROM (p.ev).event_time) * 1000000)::bigint, (p.ev).event_id, v_fp), 'UTF8'),
		           'base64'), E'\n', '') AS t
		  FROM page p
		 WHERE p.n = max_results AND EXISTS (SELECT 1 FROM page q WHERE q.n = max_results + 1))
	SELECT (p.ev).event_id, (p.ev).event_name, (p.ev).read_only, (p.ev).access_key_id,
	       (p.ev).event_time, (p.ev).event_source, (p.ev).user_name,
	       (SELECT coalesce(jsonb_agg(jsonb_build_object('ResourceType', x->'type',
	                                                    'ResourceName', x->'name')), '[]')
	          FROM jsonb_array_elements(coalesce((p.ev).resources, '[]')) x),
	       trail.cloudtrail_record(p.ev),
	       (SELECT t FROM tok)
	  FROM page p
	 WHERE p.n <= max_results
	 ORDER BY p.n;
END
$fn$;


COMMENT ON FUNCTION trail.lookup_events(text, text, timestamptz, timestamptz, int, text, text) IS
	'CloudTrail LookupEvents: management (or insight) events, newest first, 50 per page at most';

------------------------------------------------------------------------------
-- Trails (spec sections b, c, g): CloudTrail's unit of delivery.  A trail
-- selects events and a background worker writes them as log files into a
-- bucket (a directory under trail.log_directory), with signed, chained
-- digest files when log file validation is on (delivery.c).
------------------------------------------------------------------------------
CREATE TABLE trail.trails (
	name                          text        PRIMARY KEY,
	s3_bucket_name                text        NOT NULL,
	s3_key_prefix                 text,
	include_global_service_events boolean     NOT NULL,
	is_multi_region_trail         boolean     NOT NULL,
	enable_log_file_validation    boolean     NOT NULL,
	sns_topic_name                text,
	advanced_event_selectors      jsonb,
	insight_selectors             jsonb,	-- NULL: no Insights
	home_region                   text        NOT NULL,
	created_time                  timestamptz NOT NULL,
	is_logging                    boolean     NOT NULL,
	start_logging_time            timestamptz,
	stop_logging_time             timestamptz,
	-- stopped: delivery goes on up to the StopLogging call's own events
	stop_seq                      int8,
	-- a multi-region trail of another database (home_region), mirrored here
	-- by the delivery worker (regions.c): its settings as published there
	home_source                   jsonb
);
SELECT pg_catalog.pg_extension_config_dump('trail.trails', 'WHERE home_source IS NULL');

COMMENT ON TABLE trail.trails IS
	'Trails and their settings (CreateTrail, UpdateTrail, PutEventSelectors)';

-- Where each trail's delivery stands, per region: the position of the last
-- delivered event (commit_seq, event_id), the digest chain, and the status
-- GetTrailStatus reports.
CREATE TABLE trail.trail_state (
	trail_name                   text        NOT NULL REFERENCES trail.trails ON DELETE CASCADE,
	region                       text        NOT NULL,
	after_seq                    int8        NOT NULL,
	after_event_id               uuid        NOT NULL,
	digest_start_time            timestamptz,	-- NULL: no digest period open
	previous_digest_bucket       text,
	previous_digest_object       text,
	previous_digest_hash         text,
	previous_digest_signature    text,
	latest_delivery_time         timestamptz,
	latest_delivery_attempt_time timestamptz,
	latest_delivery_error        text,
	latest_notification_time     timestamptz,
	latest_digest_delivery_time  timestamptz,
	latest_digest_delivery_error text,
	PRIMARY KEY (trail_name, region)
);

-- Every file a trail wrote.  A file is recorded (state 'written') in the
-- transaction that moves the cursor past its events, after its temporary
-- copy is on disk; it becomes 'delivered' once renamed into place.  A crash
-- in between is finished by the next pass, so every event is delivered once.
CREATE TABLE trail.delivered_files (
	s3_bucket         text        NOT NULL,
	s3_object         text        NOT NULL,
	trail_name        text        NOT NULL,
	region            text        NOT NULL,
	file_type         text        NOT NULL CHECK (file_type IN ('log', 'digest')),
	state             text        NOT NULL CHECK (state IN ('written', 'delivered')),
	written_time      timestamptz NOT NULL,
	delivered_time    timestamptz,
	record_count      int4,
	-- log files: the events they hold, (from_seq, from_event_id) excluded
	-- up to (to_seq, to_event_id) included, to write a lost copy again
	from_seq          int8,
	from_event_id     uuid,
	to_seq            int8,
	to_event_id       uuid,
	hash_value        text        NOT NULL,	-- SHA-256 of the uncompressed bytes
	oldest_event_time timestamptz,
	newest_event_time timestamptz,
	digest_object     text,		-- log files: the digest that lists them
	signature         text,		-- digests: hex SHA256withRSA signature
	content           text,		-- digests: their exact uncompressed bytes
	PRIMARY KEY (s3_bucket, s3_object)
);
CREATE INDEX delivered_files_trail_idx ON trail.delivered_files (trail_name, region, file_type, written_time);

COMMENT ON TABLE trail.delivered_files IS
	'Log and digest files delivered by trails, with their hashes';

CREATE FUNCTION trail.create_trail(
	name                          text,
	s3_bucket_name                text,
	s3_key_prefix                 text    DEFAULT NULL,
	include_global_service_events boolean DEFAULT true,
	is_multi_region_trail         boolean DEFAULT false,
	enable_log_file_validation    boolean DEFAULT true,
	sns_topic_name                text    DEFAULT NULL,
	enable_logging                boolean DEFAULT true)
RETURNS jsonb
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'trail_create_trail';

CREATE FUNCTION trail.update_trail(
	name                          text,
	s3_bucket_name                text    DEFAULT NULL,
	s3_key_prefix                 text    DEFAULT NULL,
	include_global_service_events boolean DEFAULT NULL,
	is_multi_region_trail         boolean DEFAULT NULL,
	enable_log_file_validation    boolean DEFAULT NULL,
	sns_topic_name                text    DEFAULT NULL,
	enable_logging                boolean DEFAULT NULL)
RETURNS jsonb
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'trail_update_trail';

CREATE FUNCTION trail.delete_trail(name text) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'trail_delete_trail';

CREATE FUNCTION trail.start_logging(name text) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'trail_start_logging';

CREATE FUNCTION trail.stop_logging(name text) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'trail_stop_logging';

CREATE FUNCTION trail.put_event_selectors(trail_name text, advanced_event_selectors jsonb)
RETURNS jsonb
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'trail_put_event_selectors';

CREATE FUNCTION trail.trail_arn(name text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'arn:postgresql:trail:' || t.home_region || ':'
	       || (SELECT system_identifier::text FROM pg_catalog.pg_control_system())
	       || ':trail/' || t.name
	  FROM trail.trails t WHERE t.name = $1
$$;

CREATE FUNCTION trail._require_trail(p_name text) RETURNS trail.trails
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t trail.trails;
BEGIN
	SELECT * INTO t FROM trail.trails WHERE name = p_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'TrailNotFoundException: unknown trail: %', coalesce(p_name, 'NULL')
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN t;
END
$$;

CREATE FUNCTION trail.get_event_selectors(trail_name text) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object('TrailARN', trail.trail_arn(t.name),
	                          'AdvancedEventSelectors',
	                          coalesce(t.advanced_event_selectors,
	                                   '[{"Name": "Management events selector", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]'))
	  FROM trail._require_trail($1) t
$$;

CREATE FUNCTION trail.describe_trails()
RETURNS TABLE (name text, s3_bucket_name text, s3_key_prefix text,
               include_global_service_events boolean, is_multi_region_trail boolean,
               home_region text, trail_arn text, log_file_validation_enabled boolean,
               sns_topic_name text, has_custom_event_selectors boolean,
               has_insight_selectors boolean, is_organization_trail boolean,
               is_logging boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT t.name, t.s3_bucket_name, t.s3_key_prefix, t.include_global_service_events,
	       t.is_multi_region_trail, t.home_region, trail.trail_arn(t.name),
	       t.enable_log_file_validation, t.sns_topic_name,
	       t.advanced_event_selectors IS NOT NULL, t.insight_selectors IS NOT NULL, false,
	       t.is_logging
	  FROM trail.trails t
	 ORDER BY t.name
$$;

-- CloudTrail's GetTrailStatus: timestamps as epoch seconds, as on the wire;
-- members without a value are left out.
CREATE FUNCTION trail.get_trail_status(name text) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH t AS (SELECT * FROM trail._require_trail($1)),
	s AS (SELECT max(st.latest_delivery_time) AS delivery,
	             max(st.latest_delivery_attempt_time) AS attempt,
	             (array_agg(st.latest_delivery_error) FILTER (WHERE st.latest_delivery_error IS NOT NULL))[1] AS delivery_error,
	             max(st.latest_notification_time) AS notification,
	             max(st.latest_digest_delivery_time) AS digest,
	             (array_agg(st.latest_digest_delivery_error) FILTER (WHERE st.latest_digest_delivery_error IS NOT NULL))[1] AS digest_error
	        FROM trail.trail_state st, t WHERE st.trail_name = t.name)
	SELECT jsonb_strip_nulls(jsonb_build_object(
	       'IsLogging', t.is_logging,
	       'LatestDeliveryTime', extract(epoch FROM s.delivery),
	       'LatestDeliveryError', s.delivery_error,
	       'LatestNotificationTime', extract(epoch FROM s.notification),
	       'LatestDigestDeliveryTime', extract(epoch FROM s.digest),
	       'LatestDigestDeliveryError', s.digest_error,
	       'StartLoggingTime', extract(epoch FROM t.start_logging_time),
	       'StopLoggingTime', extract(epoch FROM t.stop_logging_time),
	       'LatestDeliveryAttemptTime', to_char(s.attempt AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
	       'LatestDeliveryAttemptSucceeded', to_char(s.delivery AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
	       'TimeLoggingStarted', to_char(t.start_logging_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
	       'TimeLoggingStopped', coalesce(to_char(t.stop_logging_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '')))
	  FROM t, s
$$;

-- The keys that sign digests (CloudTrail's ListPublicKeys): DER PKCS#1
-- public keys, their validity and fingerprints.  The private keys stay in
-- the data directory (keys.c).
CREATE FUNCTION trail.list_public_keys(start_time timestamptz DEFAULT NULL,
                                       end_time timestamptz DEFAULT now())
RETURNS TABLE (value bytea, validity_start_time timestamptz,
               validity_end_time timestamptz, fingerprint text)
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'trail_list_public_keys';

-- CloudTrail's validate-logs over the trail's own bucket: one row per digest
-- and log file checked, then a summary row (the same checks as the offline
-- command trail-validate).
CREATE FUNCTION trail.validate_logs(trail_name text, start_time timestamptz,
                                    end_time timestamptz DEFAULT now())
RETURNS TABLE (file_type text, s3_bucket text, s3_object text, status text)
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'trail_validate_logs';

CREATE FUNCTION trail.rotate_public_key() RETURNS text
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'trail_rotate_public_key';

COMMENT ON FUNCTION trail.rotate_public_key() IS
	'Start signing digests with a new key; returns its fingerprint (superuser only)';


------------------------------------------------------------------------------
-- Rules (EventBridge): an event pattern matched against every stored event
-- and a target, notify:<channel> or function:<schema.name> (rules.c); and
-- the log stream, trail.log_events (reactions.c).
------------------------------------------------------------------------------
CREATE TABLE trail.rules (
	name          text        PRIMARY KEY,
	event_pattern jsonb       NOT NULL,
	target        text        NOT NULL,
	description   text,
	enabled       boolean     NOT NULL,
	owner         oid         NOT NULL,	-- who put it: its function target runs as them
	updated_time  timestamptz NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('trail.rules', '');

COMMENT ON TABLE trail.rules IS
	'EventBridge-style rules: what events to react to, and how (PutRule)';

CREATE FUNCTION trail.put_rule(name text, event_pattern jsonb, target text,
                               description text DEFAULT NULL, enabled boolean DEFAULT true)
RETURNS jsonb
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'trail_put_rule';

CREATE FUNCTION trail.delete_rule(name text) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'trail_delete_rule';

CREATE FUNCTION trail.enable_rule(name text) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'trail_enable_rule';

CREATE FUNCTION trail.disable_rule(name text) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'trail_disable_rule';

-- EventBridge's DescribeRule/ListRules, all rules at once
CREATE FUNCTION trail.describe_rules()
RETURNS TABLE (name text, arn text, event_pattern jsonb, target text,
               description text, state text, owner name, updated_time timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.name,
	       'arn:postgresql:events:' || current_database() || ':'
	       || (SELECT system_identifier::text FROM pg_control_system()) || ':rule/' || r.name,
	       r.event_pattern, r.target, r.description,
	       CASE WHEN r.enabled THEN 'ENABLED' ELSE 'DISABLED' END,
	       (SELECT rolname FROM pg_roles WHERE oid = r.owner), r.updated_time
	  FROM trail.rules r
	 ORDER BY r.name
$$;

------------------------------------------------------------------------------
-- The spool (spool.c): events without a committed transaction (failed
-- statements, logins, logouts) wait in pg_trail/spool until a worker moves
-- them into trail.events; this is where it stands in each file.
------------------------------------------------------------------------------
CREATE TABLE trail.spool_progress (
	file        text PRIMARY KEY,
	byte_offset int8 NOT NULL
);

CREATE FUNCTION trail.spool_status(OUT written int8, OUT dropped int8, OUT waiting_files int8)
RETURNS record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'trail_spool_status';

COMMENT ON FUNCTION trail.spool_status() IS
	'Events written to the spool and dropped (spool full or not writable) since the server started, and spool files waiting';

------------------------------------------------------------------------------
-- Insights (spec section d; insights.c runs the cycle).
--
-- Write management events are folded, once each, into per-minute counts
-- per API (event source and name, region and account) and their daily
-- totals: the rollups.  Once a day the baseline of each API is computed
-- from the daily totals of the baseline window with plain aggregates; every
-- minute the newest complete minutes are compared with it, and a rate that
-- leaves the baseline starts an insight, which ends when the rate is back
-- (the rule: README, Insights).
--
-- The cycle's functions run with JIT off: their queries span every daily
-- partition and are estimated above jit_above_cost, and compiling them took
-- ~0.5 s of a cycle whose work takes ~60 ms (bench/insights.sh).
------------------------------------------------------------------------------
CREATE TABLE trail.insight_rollups (
	event_source text        NOT NULL,
	event_name   text        NOT NULL,
	region       text        NOT NULL,
	account_id   text        NOT NULL,
	minute       timestamptz NOT NULL,
	calls        int4        NOT NULL,	-- write management events
	errors       int4        NOT NULL,	-- management events with an errorCode
	PRIMARY KEY (event_source, event_name, region, account_id, minute)
);
-- each cycle reads the few newest minutes of every API
CREATE INDEX insight_rollups_minute_idx ON trail.insight_rollups (minute);

COMMENT ON TABLE trail.insight_rollups IS
	'Write management calls and errors per API and minute (Insights rollups)';

-- Who called and how it failed, per API and UTC day: the baseline side of
-- an insight's attributions (the insight side is read from the events).
CREATE TABLE trail.insight_attributions (
	event_source text NOT NULL,
	event_name   text NOT NULL,
	region       text NOT NULL,
	account_id   text NOT NULL,
	day          date NOT NULL,
	attribute    text NOT NULL,	-- userIdentityArn | userAgent | errorCode
	value        text NOT NULL,
	calls        int4 NOT NULL,
	errors       int4 NOT NULL,
	PRIMARY KEY (event_source, event_name, region, account_id, day, attribute, value)
);
CREATE INDEX insight_attributions_day_idx ON trail.insight_attributions (day);

-- Per API and UTC day, what a baseline needs of the minutes: their sum, sum
-- of squares and busiest minute, of calls and of errors.  Kept up to date
-- with the rollups (a minute's count only grows), so that a baseline is an
-- aggregate over days (APIs x 28 rows), not over every minute of 28 days.
CREATE TABLE trail.insight_days (
	event_source text NOT NULL,
	event_name   text NOT NULL,
	region       text NOT NULL,
	account_id   text NOT NULL,
	day          date NOT NULL,
	calls        int8 NOT NULL,
	calls_sq     int8 NOT NULL,	-- sum over the day's minutes of calls^2
	calls_max    int4 NOT NULL,	-- the day's busiest minute
	errors       int8 NOT NULL,
	errors_sq    int8 NOT NULL,
	errors_max   int4 NOT NULL,
	PRIMARY KEY (event_source, event_name, region, account_id, day)
);

-- The baseline window of each region with enough history (at least a day),
-- and each API's rate over it, per insight type.
CREATE TABLE trail.insight_windows (
	region       text        NOT NULL,
	account_id   text        NOT NULL,
	window_start timestamptz NOT NULL,
	window_end   timestamptz NOT NULL,
	PRIMARY KEY (region, account_id)
);

CREATE TABLE trail.insight_baselines (
	insight_type text   NOT NULL,
	event_source text   NOT NULL,
	event_name   text   NOT NULL,
	region       text   NOT NULL,
	account_id   text   NOT NULL,
	average      float8 NOT NULL,	-- per minute, zero minutes included
	stddev       float8 NOT NULL,
	busy         float8 NOT NULL,	-- a normal day's busiest minute (90th percentile)
	PRIMARY KEY (insight_type, event_source, event_name, region, account_id)
);

-- Where the cycle stands: events folded up to folded_seq (commit order),
-- minutes examined up to checked_until, baselines made for window_end.
CREATE TABLE trail.insight_state (
	singleton     boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
	folded_seq    int8        NOT NULL,
	checked_until timestamptz,
	window_end    timestamptz,
	stale         boolean     NOT NULL DEFAULT true	-- late events fell in the window
);
INSERT INTO trail.insight_state (folded_seq) VALUES (0);

-- Insights started and not yet ended.
CREATE TABLE trail.open_insights (
	insight_type    text        NOT NULL,
	event_source    text        NOT NULL,
	event_name      text        NOT NULL,
	region          text        NOT NULL,
	account_id      text        NOT NULL,
	shared_event_id uuid        NOT NULL,
	start_minute    timestamptz NOT NULL,
	total           int8        NOT NULL,	-- calls (or errors) so far
	PRIMARY KEY (insight_type, event_source, event_name, region, account_id)
);

-- Fold the management events numbered in (p_after, p_below) with times in
-- [p_from, p_to) into the rollups; returns the oldest minute touched (NULL:
-- none).  The events are read twice (for the minutes, then for the
-- attributions), not kept in a tuplestore: after an import of history a
-- range holds millions of them, and the stored copy and the sort of their
-- attribution rows took about 600 bytes of temporary files per event (at
-- that rate 8 GB for the 28 million of bench/insights.sh).  Sorting is
-- off: the aggregates hash,
-- which takes memory by groups (APIs x minutes, APIs x days x values), not
-- by events.  Left to itself the planner sorts whenever its estimates are
-- low, as they are right after an import, before ANALYZE; for the same
-- reason it joined a day's minutes to their deltas in a nested loop (8,000
-- by 8,000 rows: 7 s a day), so nested loops are off too (the lateral
-- VALUES of the attributions still get one: nothing else can run it).
CREATE FUNCTION trail._insights_fold_slice(p_after int8, p_below int8,
                                           p_from timestamptz, p_to timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
SET enable_sort = off
SET enable_nestloop = off
AS $$
DECLARE
	oldest timestamptz;
BEGIN
	WITH ev AS NOT MATERIALIZED (
		SELECT e.event_source, e.event_name, e.region, e.recipient_account_id AS account_id,
		       date_trunc('minute', e.event_time) AS minute,
		       (e.event_time AT TIME ZONE 'UTC')::date AS day,
		       NOT coalesce(e.read_only, false) AS is_call,
		       e.error_code IS NOT NULL AS is_error,
		       e.user_identity->>'arn' AS arn, e.user_agent,
		       coalesce(e.error_code, 'null') AS error_code
		  FROM trail.events e
		 WHERE e.commit_seq > p_after AND e.commit_seq < p_below
		   AND e.event_time >= p_from AND e.event_time < p_to
		   AND e.event_category = 'Management'
		   AND e.event_source IS NOT NULL AND e.event_name IS NOT NULL
		   AND (NOT coalesce(e.read_only, false) OR e.error_code IS NOT NULL)),
	deltas AS MATERIALIZED (
		SELECT ev.event_source, ev.event_name, ev.region, ev.account_id, ev.minute,
		       count(*) FILTER (WHERE ev.is_call) AS calls,
		       count(*) FILTER (WHERE ev.is_error) AS errors
		  FROM ev GROUP BY 1, 2, 3, 4, 5),
	minutes AS (
		INSERT INTO trail.insight_rollups AS r
		SELECT d.event_source, d.event_name, d.region, d.account_id, d.minute, d.calls, d.errors
		  FROM deltas d
		ON CONFLICT (event_source, event_name, region, account_id, minute) DO UPDATE
		   SET calls = r.calls + EXCLUDED.calls, errors = r.errors + EXCLUDED.errors
		RETURNING r.event_source, r.event_name, r.region, r.account_id, r.minute, r.calls, r.errors),
	-- a minute that went from c - delta to c adds c^2 - (c - delta)^2
	day_totals AS (
		INSERT INTO trail.insight_days AS x
		SELECT m.event_source, m.event_name, m.region, m.account_id,
		       (m.minute AT TIME ZONE 'UTC')::date,
		       sum(d.calls), sum(m.calls::int8 * m.calls - (m.calls - d.calls) * (m.calls - d.calls)),
		       max(m.calls),
		       sum(d.errors), sum(m.errors::int8 * m.errors - (m.errors - d.errors) * (m.errors - d.errors)),
		       max(m.errors)
		  FROM minutes m
		  JOIN deltas d ON d.event_source = m.event_source AND d.event_name = m.event_name
		               AND d.region = m.region AND d.account_id = m.account_id AND d.minute = m.minute
		 GROUP BY 1, 2, 3, 4, 5
		ON CONFLICT (event_source, event_name, region, account_id, day) DO UPDATE
		   SET calls = x.calls + EXCLUDED.calls, calls_sq = x.calls_sq + EXCLUDED.calls_sq,
		       calls_max = greatest(x.calls_max, EXCLUDED.calls_max),
		       errors = x.errors + EXCLUDED.errors, errors_sq = x.errors_sq + EXCLUDED.errors_sq,
		       errors_max = greatest(x.errors_max, EXCLUDED.errors_max)),
	days AS (
		INSERT INTO trail.insight_attributions AS r
		SELECT ev.event_source, ev.event_name, ev.region, ev.account_id, ev.day,
		       a.attribute, a.value,
		       count(*) FILTER (WHERE ev.is_call), count(*) FILTER (WHERE ev.is_error)
		  FROM ev
		 CROSS JOIN LATERAL (VALUES ('userIdentityArn', ev.arn), ('userAgent', ev.user_agent),
		                            ('errorCode', ev.error_code)) AS a(attribute, value)
		 WHERE a.value IS NOT NULL
		 GROUP BY 1, 2, 3, 4, 5, 6, 7
		ON CONFLICT (event_source, event_name, region, account_id, day, attribute, value) DO UPDATE
		   SET calls = r.calls + EXCLUDED.calls, errors = r.errors + EXCLUDED.errors)
	SELECT min(d.minute) INTO oldest FROM deltas d;
	RETURN oldest;
END
$$;

-- Fold the management events numbered in (p_after, p_below) into the
-- rollups; returns the oldest minute touched (NULL: none).  A cycle's range
-- (the minute or so since the last one) is folded in one pass.  A range of
-- many events, as after an import of history (one transaction, one number,
-- millions of events), is folded a day at a time, each slice reading one
-- day's partition: folded at once, its per-minute groups (APIs x minutes of
-- every day) outgrew work_mem and went to temporary files (697 MB for 2.8
-- million events).  The slices lie between consecutive bounds of the day
-- partitions, so each is one partition or a stretch of the default one, and
-- together they cover every time.
CREATE FUNCTION trail._insights_fold(p_after int8, p_below int8) RETURNS timestamptz
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
	-- a range past this many events may not fold in work_mem at once
	many    constant int8 := pg_size_bytes(current_setting('work_mem')) / 256;
	oldest  timestamptz;
	slice   record;
BEGIN
	IF (SELECT count(*) FROM (SELECT FROM trail.events e
	                           WHERE e.commit_seq > p_after AND e.commit_seq < p_below
	                           LIMIT many) few) < many THEN
		RETURN trail._insights_fold_slice(p_after, p_below, '-infinity', 'infinity');
	END IF;
	FOR slice IN
		SELECT lag(b.at, 1, '-infinity') OVER (ORDER BY b.at) AS from_time, b.at AS to_time
		  FROM (SELECT d.day::timestamp AT TIME ZONE 'UTC' AS at
		          FROM pg_inherits i
		          JOIN pg_class c ON c.oid = i.inhrelid
		         CROSS JOIN LATERAL (VALUES (to_date(right(c.relname, 8), 'YYYYMMDD')),
		                                    (to_date(right(c.relname, 8), 'YYYYMMDD') + 1)) d(day)
		         WHERE i.inhparent = 'trail.events'::regclass
		           AND c.relname ~ '^events_[0-9]{8}$'
		        UNION
		        SELECT 'infinity') b
	LOOP
		oldest := least(oldest, trail._insights_fold_slice(p_after, p_below,
		                                                    slice.from_time, slice.to_time));
	END LOOP;
	RETURN oldest;
END
$$;

-- Make the baselines of the window ending at p_end (p_days long, shorter
-- where the history is, but at least a day), and drop rollups past the
-- retention period.
CREATE FUNCTION trail._insights_baselines(p_end timestamptz, p_days int) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
	v_retention date := (trail.retention_start(p_end) AT TIME ZONE 'UTC')::date;
BEGIN
	DELETE FROM trail.insight_rollups WHERE minute < trail.retention_start(p_end);
	DELETE FROM trail.insight_attributions WHERE day < v_retention;
	DELETE FROM trail.insight_days WHERE day < v_retention;
	DELETE FROM trail.insight_windows;
	DELETE FROM trail.insight_baselines;

	-- the window starts at the first minute of history, if that is later
	INSERT INTO trail.insight_windows
	SELECT g.region, g.account_id,
	       greatest(p_end - make_interval(days => p_days),
	                (SELECT min(r.minute) FROM trail.insight_rollups r
	                  WHERE r.region = g.region AND r.account_id = g.account_id)),
	       p_end
	  FROM (SELECT DISTINCT d.region, d.account_id FROM trail.insight_days d
	         WHERE d.day < (p_end AT TIME ZONE 'UTC')::date) g;
	DELETE FROM trail.insight_windows WHERE window_end - window_start < interval '1 day';

	-- mean and deviation over every minute of the window (minutes without
	-- calls count as zero), from the days' sums and sums of squares; busy
	-- is the busiest minute of a normal day: the k-th busiest day's, k = 10 %
	-- of the window's days (days without calls count as zero)
	INSERT INTO trail.insight_baselines
	SELECT v.insight_type, v.event_source, v.event_name, v.region, v.account_id,
	       sum(v.n)::float8 / v.minutes,
	       sqrt(greatest(sum(v.sq)::float8 / v.minutes - (sum(v.n)::float8 / v.minutes) ^ 2, 0)),
	       coalesce(max(v.peak) FILTER (WHERE v.rank = v.k), 0)
	  FROM (SELECT t.insight_type, d.event_source, d.event_name, d.region, d.account_id,
	               t.n, t.sq, t.peak,
	               extract(epoch FROM w.window_end - w.window_start) / 60 AS minutes,
	               ceil(extract(epoch FROM w.window_end - w.window_start) / 86400 / 10) AS k,
	               row_number() OVER (PARTITION BY t.insight_type, d.event_source, d.event_name,
	                                               d.region, d.account_id
	                                  ORDER BY t.peak DESC) AS rank
	          FROM trail.insight_days d
	          JOIN trail.insight_windows w ON w.region = d.region AND w.account_id = d.account_id
	         CROSS JOIN LATERAL (VALUES ('ApiCallRateInsight', d.calls, d.calls_sq, d.calls_max),
	                                    ('ApiErrorRateInsight', d.errors, d.errors_sq, d.errors_max))
	                 AS t(insight_type, n, sq, peak)
	         WHERE d.day >= (w.window_start AT TIME ZONE 'UTC')::date
	           AND d.day < (w.window_end AT TIME ZONE 'UTC')::date AND t.n > 0) v
	 GROUP BY v.insight_type, v.event_source, v.event_name, v.region, v.account_id, v.minutes;
END
$$;

-- The attributions of an insight (spec section d): the top 5 user identity
-- ARNs, user agents and error codes of the API's calls (or errors), per
-- minute, in the insight period [p_from, p_to) from the events, and in
-- the baseline window from the daily attribution rollups.
CREATE FUNCTION trail._insight_attributions(p_type text, p_source text, p_name text,
	p_region text, p_account text, p_from timestamptz, p_to timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_agg(jsonb_build_object('attribute', a.attribute, 'insight', i.top, 'baseline', b.top)
	                 ORDER BY a.ord)
	  FROM (VALUES (1, 'userIdentityArn'), (2, 'userAgent'), (3, 'errorCode')) AS a(ord, attribute)
	 CROSS JOIN LATERAL (
		SELECT coalesce(jsonb_agg(jsonb_build_object('value', x.value, 'average',
		                          x.n::float8 / (extract(epoch FROM p_to - p_from) / 60))
		                          ORDER BY x.n DESC, x.value), '[]') AS top
		  FROM (SELECT v.value, count(*) AS n
		          FROM (SELECT CASE a.attribute WHEN 'userIdentityArn' THEN e.user_identity->>'arn'
		                                        WHEN 'userAgent' THEN e.user_agent
		                                        ELSE coalesce(e.error_code, 'null') END AS value
		                  FROM trail.events e
		                 WHERE e.event_source = p_source AND e.event_time >= p_from AND e.event_time < p_to
		                   AND e.event_category = 'Management' AND e.event_name = p_name
		                   AND e.region = p_region AND e.recipient_account_id = p_account
		                   AND CASE p_type WHEN 'ApiCallRateInsight' THEN NOT coalesce(e.read_only, false)
		                                   ELSE e.error_code IS NOT NULL END) v
		         WHERE v.value IS NOT NULL
		         GROUP BY v.value ORDER BY 2 DESC, 1 LIMIT 5) x) i
	 CROSS JOIN LATERAL (
		SELECT coalesce(jsonb_agg(jsonb_build_object('value', x.value, 'average',
		                          x.n::float8 / (extract(epoch FROM w.window_end - w.window_start) / 60))
		                          ORDER BY x.n DESC, x.value) FILTER (WHERE x.value IS NOT NULL),
		                '[]') AS top
		  FROM trail.insight_windows w
		  LEFT JOIN LATERAL (
			SELECT t.value, sum(CASE p_type WHEN 'ApiCallRateInsight' THEN t.calls ELSE t.errors END) AS n
			  FROM trail.insight_attributions t
			 WHERE t.event_source = p_source AND t.event_name = p_name AND t.region = p_region
			   AND t.account_id = p_account AND t.attribute = a.attribute
			   AND t.day >= (w.window_start AT TIME ZONE 'UTC')::date
			   AND t.day < (w.window_end AT TIME ZONE 'UTC')::date
			 GROUP BY t.value
			HAVING sum(CASE p_type WHEN 'ApiCallRateInsight' THEN t.calls ELSE t.errors END) > 0
			 ORDER BY 2 DESC, 1 LIMIT 5) x ON true
		 WHERE w.region = p_region AND w.account_id = p_account) b
$$;

-- An Insight record's insightDetails (spec section d).
CREATE FUNCTION trail._insight_details(p_state text, p_type text, p_source text, p_name text,
	p_region text, p_account text, p_baseline_average float8, p_insight_average float8,
	p_from timestamptz, p_to timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object(
		'state', p_state, 'eventSource', p_source, 'eventName', p_name, 'insightType', p_type,
		'insightContext', jsonb_build_object(
			'statistics', jsonb_build_object(
				'baseline', jsonb_build_object('average', p_baseline_average),
				'insight', jsonb_build_object('average', p_insight_average),
				'insightDuration', (extract(epoch FROM p_to - p_from) / 60)::int,
				'baselineDuration', (SELECT (extract(epoch FROM w.window_end - w.window_start) / 60)::int
				                       FROM trail.insight_windows w
				                      WHERE w.region = p_region AND w.account_id = p_account)),
			'attributions', trail._insight_attributions(p_type, p_source, p_name, p_region,
			                                            p_account, p_from, p_to)))
$$;

-- Examine the minutes [p_from, p_to) of the insight types p_types: start
-- the insights whose rate left the baseline, end those whose rate is back,
-- and return the Insight records to write.  The rule (README, Insights):
-- with s = the larger of the baseline's standard deviation and the square
-- root of its average, a minute is unusual when its count is at least 15,
-- above average + 7 s, and above the busiest minute of a normal day of the
-- baseline (busy); an insight ends at the first minute under 15 or no
-- higher than the larger of average + 3 s and busy.
CREATE FUNCTION trail._insights_detect(p_from timestamptz, p_to timestamptz, p_types text[])
RETURNS TABLE (out_time timestamptz, out_region text, out_account text,
               out_shared_id uuid, out_details jsonb)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
	k       record;
	o       trail.open_insights;
	counts  int4[];
	c       int4;
	m       timestamptz;
	s       float8;
	minutes int;
BEGIN
	FOR k IN
		SELECT x.insight_type, x.event_source, x.event_name, x.region, x.account_id,
		       coalesce(b.average, 0) AS average, coalesce(b.stddev, 0) AS stddev,
		       coalesce(b.busy, 0) AS busy, w.region IS NOT NULL AS has_baseline
		  FROM (SELECT DISTINCT t.insight_type, r.event_source, r.event_name, r.region, r.account_id
		          FROM trail.insight_rollups r
		         CROSS JOIN LATERAL (VALUES ('ApiCallRateInsight', r.calls),
		                                    ('ApiErrorRateInsight', r.errors)) AS t(insight_type, n)
		         WHERE r.minute >= p_from AND r.minute < p_to AND t.n >= 15
		           AND t.insight_type = ANY (p_types)
		        UNION
		        SELECT oi.insight_type, oi.event_source, oi.event_name, oi.region, oi.account_id
		          FROM trail.open_insights oi) x
		  LEFT JOIN trail.insight_windows w
		         ON w.region = x.region AND w.account_id = x.account_id
		  LEFT JOIN trail.insight_baselines b
		         ON b.insight_type = x.insight_type AND b.event_source = x.event_source
		        AND b.event_name = x.event_name AND b.region = x.region AND b.account_id = x.account_id
		 ORDER BY 1, 2, 3, 4, 5
	LOOP
		s := greatest(k.stddev, sqrt(k.average));
		SELECT * INTO o FROM trail.open_insights oi
		 WHERE oi.insight_type = k.insight_type AND oi.event_source = k.event_source
		   AND oi.event_name = k.event_name AND oi.region = k.region AND oi.account_id = k.account_id;
		CONTINUE WHEN o.shared_event_id IS NULL AND NOT k.has_baseline;

		SELECT array_agg(coalesce(CASE k.insight_type WHEN 'ApiCallRateInsight' THEN r.calls
		                                             ELSE r.errors END, 0) ORDER BY g.m)
		  INTO counts
		  FROM generate_series(p_from, p_to - interval '1 minute', interval '1 minute') AS g(m)
		  LEFT JOIN trail.insight_rollups r
		         ON r.event_source = k.event_source AND r.event_name = k.event_name
		        AND r.region = k.region AND r.account_id = k.account_id AND r.minute = g.m;

		FOR i IN 1 .. coalesce(array_length(counts, 1), 0) LOOP
			c := counts[i];
			m := p_from + (i - 1) * interval '1 minute';
			IF o.shared_event_id IS NULL THEN
				IF k.has_baseline AND c >= 15 AND c > k.average + 7 * s AND c > k.busy THEN
					o := ROW(k.insight_type, k.event_source, k.event_name, k.region, k.account_id,
					         gen_random_uuid(), m, c);
					INSERT INTO trail.open_insights VALUES (o.*);
					RETURN QUERY SELECT m, k.region, k.account_id, o.shared_event_id,
						trail._insight_details('Start', k.insight_type, k.event_source, k.event_name,
						                       k.region, k.account_id, k.average, c::float8,
						                       m, m + interval '1 minute');
				END IF;
			ELSIF c < 15 OR c <= greatest(k.average + 3 * s, k.busy) THEN
				minutes := extract(epoch FROM m - o.start_minute) / 60;
				RETURN QUERY SELECT m, k.region, k.account_id, o.shared_event_id,
					trail._insight_details('End', k.insight_type, k.event_source, k.event_name,
					                       k.region, k.account_id, k.average,
					                       o.total::float8 / minutes, o.start_minute, m);
				DELETE FROM trail.open_insights oi
				 WHERE oi.insight_type = k.insight_type AND oi.event_source = k.event_source
				   AND oi.event_name = k.event_name AND oi.region = k.region
				   AND oi.account_id = k.account_id;
				o := NULL;
			ELSE
				o.total := o.total + c;
				UPDATE trail.open_insights oi SET total = o.total
				 WHERE oi.insight_type = k.insight_type AND oi.event_source = k.event_source
				   AND oi.event_name = k.event_name AND oi.region = k.region
				   AND oi.account_id = k.account_id;
			END IF;
		END LOOP;
	END LOOP;
END
$$;

-- One detection cycle on demand (insights.c): the Insight events it wrote.
CREATE FUNCTION trail._run_insights(as_of timestamptz)
RETURNS TABLE (event_id uuid, event_time timestamptz)
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'trail_run_insights';

CREATE FUNCTION trail.run_insights(as_of timestamptz DEFAULT now())
RETURNS SETOF trail.events
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ids   uuid[];
	times timestamptz[];
BEGIN
	SELECT array_agg(r.event_id), array_agg(r.event_time) INTO ids, times
	  FROM trail._run_insights(as_of) r;
	RETURN QUERY SELECT e.* FROM trail.events e
	 WHERE e.event_category = 'Insight' AND e.event_id = ANY (ids) AND e.event_time = ANY (times)
	 ORDER BY e.event_time, e.event_id;
END
$$;

COMMENT ON FUNCTION trail.run_insights(timestamptz) IS
	'One Insights detection cycle as of the given time: fold new events, refresh baselines, write Start/End Insight events; returns them';

-- CloudTrail's PutInsightSelectors / GetInsightSelectors
CREATE FUNCTION trail.put_insight_selectors(trail_name text, insight_selectors jsonb)
RETURNS jsonb
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'trail_put_insight_selectors';

CREATE FUNCTION trail.get_insight_selectors(trail_name text) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t trail.trails;
BEGIN
	t := trail._require_trail(trail_name);
	IF t.insight_selectors IS NULL THEN
		RAISE EXCEPTION 'InsightNotEnabledException: trail % has no insight selectors', t.name
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	RETURN jsonb_build_object('TrailARN', trail.trail_arn(t.name),
	                          'InsightSelectors', t.insight_selectors);
END
$$;

------------------------------------------------------------------------------
-- Privileges: nobody but superusers reads events unless granted; the
-- trail_reader role carries exactly the grants an auditor needs.
------------------------------------------------------------------------------
REVOKE ALL ON ALL TABLES IN SCHEMA trail FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA trail FROM PUBLIC;

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'trail_reader') THEN
		CREATE ROLE trail_reader NOLOGIN;
	END IF;
END
$$;

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'trail_admin') THEN
		CREATE ROLE trail_admin NOLOGIN;
	END IF;
END
$$;

GRANT USAGE ON SCHEMA trail TO trail_reader;
GRANT SELECT ON trail.events, trail.event_resources, trail.event_history,
	trail.event_rows, trail.data_events, trail.captured_tables,
	trail.event_data_store, trail.capture_options TO trail_reader;
GRANT EXECUTE ON FUNCTION
	trail.lookup_events(text, text, timestamptz, timestamptz, int, text, text),
	trail._lookup_rows(text, text, timestamptz, timestamptz, text, int, timestamptz, uuid),
	trail._lookup_entries(text, text, timestamptz, text, int, timestamptz, uuid),
	trail._event_id_span(uuid),
	trail.cloudtrail_record(trail.events),
	trail.cloudtrail_record(trail.data_events),
	trail.table_arn(regclass),
	trail.get_event_data_store(),
	trail.retention_start(timestamptz)
	TO trail_reader;

-- trail_admin manages trails (and may read their settings and status); the
-- functions run trail's own SQL as the extension's owner.
GRANT trail_reader TO trail_admin;
GRANT EXECUTE ON FUNCTION
	trail.create_trail(text, text, text, boolean, boolean, boolean, text, boolean),
	trail.update_trail(text, text, text, boolean, boolean, boolean, text, boolean),
	trail.delete_trail(text),
	trail.start_logging(text),
	trail.stop_logging(text),
	trail.put_event_selectors(text, jsonb),
	trail.put_insight_selectors(text, jsonb),
	trail.run_insights(timestamptz),
	trail._run_insights(timestamptz),
	trail.put_rule(text, jsonb, text, text, boolean),
	trail.delete_rule(text),
	trail.enable_rule(text),
	trail.disable_rule(text)
	TO trail_admin;
GRANT SELECT ON trail.rules, trail.insight_rollups, trail.insight_attributions, trail.insight_days,
	trail.insight_windows, trail.insight_baselines, trail.insight_state, trail.open_insights
	TO trail_reader;
GRANT EXECUTE ON FUNCTION trail.describe_rules() TO trail_reader;
GRANT EXECUTE ON FUNCTION trail.spool_status() TO trail_reader;
GRANT SELECT ON trail.trails, trail.trail_state, trail.delivered_files, trail.delivery_source
	TO trail_reader;
GRANT EXECUTE ON FUNCTION
	trail.trail_arn(text),
	trail._require_trail(text),
	trail.get_event_selectors(text),
	trail.get_insight_selectors(text),
	trail.describe_trails(),
	trail.get_trail_status(text),
	trail.list_public_keys(timestamptz, timestamptz),
	trail.validate_logs(text, timestamptz, timestamptz)
	TO trail_reader;

------------------------------------------------------------------------------
-- EventBridge event patterns (event_pattern.c)
------------------------------------------------------------------------------
CREATE FUNCTION trail.test_event_pattern(event_pattern jsonb, event jsonb) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'trail_test_event_pattern';

COMMENT ON FUNCTION trail.test_event_pattern(jsonb, jsonb) IS
	'EventBridge TestEventPattern: does the event (JSON) match the event pattern? An invalid pattern raises InvalidEventPatternException';

-- created after the schema-wide REVOKE above, so revoked here
REVOKE EXECUTE ON FUNCTION trail.test_event_pattern(jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trail.test_event_pattern(jsonb, jsonb) TO trail_reader;

------------------------------------------------------------------------------
-- Importing CloudTrail log files (import.c): history from AWS buckets or
-- from trails' own buckets, into trail.events with every field as it was.
-- Superusers, or members of both pg_read_server_files and trail_admin (the
-- C function checks): it reads files of the server.
------------------------------------------------------------------------------
CREATE FUNCTION trail.import_logs(path text,
	OUT files bigint, OUT records_imported bigint,
	OUT duplicates_skipped bigint, OUT expired_skipped bigint)
RETURNS record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'trail_import_logs';

COMMENT ON FUNCTION trail.import_logs(text) IS
	'Import CloudTrail log files (.json.gz or .json; a file or a directory tree) into the event store';

REVOKE EXECUTE ON FUNCTION trail.import_logs(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trail.import_logs(text) TO trail_admin;
