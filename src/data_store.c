/*-------------------------------------------------------------------------
 *
 * data_store.c
 *	  The event data store's settings: selectors, retention, capture options,
 *	  and the capture triggers they call for.
 *
 * trail.update_event_data_store() is CloudTrail's UpdateEventDataStore: it
 * sets the advanced event selectors and the retention period (days), kept
 * in trail.event_data_store.  trail.set_capture_options() says how one
 * table's data events are captured, kept in trail.capture_options.  Both
 * are management events (eventSource trail.postgresql), and both tell every
 * backend through a relcache invalidation (selectors.c, capture_data.c).
 *
 * Selectors name tables by ARN, so which tables they pick changes with the
 * selectors and with the tables: trail._reconcile_capture() puts the
 * capture triggers on exactly the tables picked (a partition counts as
 * picked when its partitioned table is) and takes them off the others.  It
 * runs for every table when the selectors change, and for one table or
 * schema when a DDL command creates, renames or moves it (ddl_command_end),
 * so selectors apply to tables created later and stop applying to tables
 * renamed away.  The maintenance worker does not need to: nothing else
 * changes what a selector picks.
 *
 * The triggers are ordinary, visible triggers (\d shows them; pg_dump dumps
 * them), enabled ALWAYS so that session_replication_role cannot silence
 * them; protect.c refuses to let anyone drop, rename or disable them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "catalog.h"
#include "context.h"
#include "data_store.h"
#include "event.h"
#include "selectors.h"
#include "sql.h"
#include "store.h"
#include "trail.h"

PG_FUNCTION_INFO_V1(trail_table_arn);
PG_FUNCTION_INFO_V1(trail_selects_table_writes);
PG_FUNCTION_INFO_V1(trail_update_event_data_store);
PG_FUNCTION_INFO_V1(trail_set_capture_options);

char *
trail_table_name(Oid relid)
{
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));
	char	   *relname = get_rel_name(relid);

	if (nspname == NULL || relname == NULL)
		elog(ERROR, "trail: cache lookup failed for relation %u", relid);
	return quote_qualified_identifier(nspname, relname);
}

char *
trail_table_arn_of(Oid relid)
{
	return trail_arn("table", trail_region(), trail_table_name(relid));
}

/*
 * trail.table_arn(regclass)
 */
Datum
trail_table_arn(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	PG_RETURN_TEXT_P(cstring_to_text(trail_table_arn_of(relid)));
}

bool
trail_data_store_selects_writes(Oid relid)
{
	List	   *ancestors;
	ListCell   *lc;

	if (!trail_selects_any_data(false))
		return false;
	if (trail_selects_table(trail_table_arn_of(relid), false))
		return true;
	if (!get_rel_relispartition(relid))
		return false;
	ancestors = get_partition_ancestors(relid);
	foreach(lc, ancestors)
		if (trail_selects_table(trail_table_arn_of(lfirst_oid(lc)), false))
			return true;
	return false;
}

/*
 * trail._selects_table_writes(oid): the same, for _reconcile_capture().
 */
Datum
trail_selects_table_writes(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(trail_data_store_selects_writes(PG_GETARG_OID(0)));
}


void
trail_data_store_options(Oid relid, char **row_images,
						 ArrayType **exclude_columns, ArrayType **redact_columns)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	Datum		options;
	bool		isnull;

	*row_images = NULL;
	*exclude_columns = NULL;
	*redact_columns = NULL;

	/* one composite value: (row_images, exclude_columns, redact_columns) */
	options = trail_sql_run("SELECT ROW(o.row_images, o.exclude_columns, o.redact_columns)"
						   "  FROM trail.capture_options o WHERE o.table_id OPERATOR(pg_catalog.=) $1",
						   1, types, values, NULL, CurrentMemoryContext, &isnull);
	if (!isnull)
	{
		HeapTupleHeader rec = DatumGetHeapTupleHeader(options);
		bool		n;
		Datum		d;

		d = GetAttributeByNum(rec, 1, &n);
		*row_images = TextDatumGetCString(d);
		d = GetAttributeByNum(rec, 2, &n);
		*exclude_columns = DatumGetArrayTypePCopy(d);
		d = GetAttributeByNum(rec, 3, &n);
		*redact_columns = DatumGetArrayTypePCopy(d);
	}
}

/*
 * Put the capture triggers where the selectors want them: on one table (and
 * its partitions), on the tables of one schema, or everywhere.
 */
static void
reconcile(Oid relid, Oid schema)
{
	Oid			types[2] = {OIDOID, OIDOID};
	Datum		values[2] = {ObjectIdGetDatum(relid), ObjectIdGetDatum(schema)};
	char		nulls[2] = {OidIsValid(relid) ? ' ' : 'n', OidIsValid(schema) ? ' ' : 'n'};

	(void) trail_sql_run("SELECT trail._reconcile_capture($1, $2)", 2, types,
						 values, nulls, NULL, NULL);
}

void
trail_data_store_reconcile(void)
{
	CommandCounterIncrement();
	reconcile(InvalidOid, InvalidOid);
}

void
trail_data_store_object_changed(const char *object_type, Oid objid)
{
	if (trail_catalog() == NULL || trail_sql_internal() || creating_extension ||
		object_type == NULL)
		return;

	/* a dropped table's options go with it (its OID may come back) */
	if (strcmp(object_type, "table") == 0 &&
		!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(objid)))
	{
		Oid			types[1] = {OIDOID};
		Datum		values[1] = {ObjectIdGetDatum(objid)};

		(void) trail_sql_run("DELETE FROM trail.capture_options"
							" WHERE table_id OPERATOR(pg_catalog.=) $1",
							1, types, values, NULL, NULL, NULL);
		return;
	}

	if (!trail_selects_any_data(false))
		return;
	if (strcmp(object_type, "table") == 0)
		reconcile(objid, InvalidOid);
	else if (strcmp(object_type, "schema") == 0)
		reconcile(InvalidOid, objid);
}

void
trail_data_store_column_renamed(Oid relid, const char *old_name,
								const char *new_name)
{
	Oid			types[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum		values[3];

	if (trail_catalog() == NULL || trail_sql_internal() || !OidIsValid(relid))
		return;
	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(old_name);
	values[2] = CStringGetTextDatum(new_name);
	(void) trail_sql_run("UPDATE trail.capture_options"
						" SET exclude_columns = pg_catalog.array_replace(exclude_columns, $2, $3),"
						"     redact_columns = pg_catalog.array_replace(redact_columns, $2, $3)"
						" WHERE table_id OPERATOR(pg_catalog.=) $1",
						3, types, values, NULL, NULL, NULL);
}

void
trail_data_store_drop_triggers(void)
{
	(void) trail_sql_run("DO $$DECLARE t record; BEGIN"
						" FOR t IN SELECT tgname, tgrelid::regclass AS tbl FROM pg_trigger"
						"  WHERE tgfoid = pg_catalog.to_regprocedure('trail.capture_change()') LOOP"
						"  EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.tbl);"
						" END LOOP; END$$",
						0, NULL, NULL, NULL, NULL, NULL);
}


/*
 * trail.update_event_data_store(advanced_event_selectors, retention_period)
 */
Datum
trail_update_event_data_store(PG_FUNCTION_ARGS)
{
	Jsonb	   *selectors = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	bool		has_retention = !PG_ARGISNULL(1);
	int32		retention = has_retention ? PG_GETARG_INT32(1) : 0;
	Oid			types[2] = {JSONBOID, INT4OID};
	Datum		values[2];
	char		nulls[2] = {selectors ? ' ' : 'n', has_retention ? ' ' : 'n'};
	StringInfoData params;
	bool		isnull;
	Datum		result;

	trail_require_catalog();
	/* everything is checked before anything is changed */
	if (selectors != NULL)
		trail_selectors_validate(selectors);
	if (has_retention && (retention < 1 || retention > 3653))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("InvalidParameterException: retention_period must be between 1 and 3653 days, not %d",
						retention)));

	values[0] = selectors ? JsonbPGetDatum(selectors) : (Datum) 0;
	values[1] = Int32GetDatum(retention);
	(void) trail_sql_run("INSERT INTO trail.event_data_store AS s"
						" (singleton, advanced_event_selectors, retention_period, updated_time)"
						" VALUES (true, $1, $2, pg_catalog.now())"
						" ON CONFLICT (singleton) DO UPDATE SET"
						" advanced_event_selectors = COALESCE(EXCLUDED.advanced_event_selectors,"
						"                                                s.advanced_event_selectors),"
						" retention_period = COALESCE(EXCLUDED.retention_period, s.retention_period),"
						" updated_time = EXCLUDED.updated_time",
						2, types, values, nulls, NULL, NULL);

	/* every backend, this one included, reloads the selectors */
	CacheInvalidateRelcacheByRelid(get_relname_relid("event_data_store",
													 trail_require_catalog()->namespace_oid));
	CommandCounterIncrement();
	if (selectors != NULL)
		reconcile(InvalidOid, InvalidOid);

	initStringInfo(&params);
	appendStringInfoString(&params, "{\"name\":");
	escape_json(&params, trail_region());
	if (selectors != NULL)
		appendStringInfo(&params, ",\"advancedEventSelectors\":%s",
						 JsonbToCString(NULL, &selectors->root, VARSIZE(selectors)));
	if (has_retention)
		appendStringInfo(&params, ",\"retentionPeriod\":%d", retention);
	appendStringInfoChar(&params, '}');
	trail_store_api_call("UpdateEventDataStore", params.data, "PG::EventDataStore",
				   trail_arn(TRAIL_SERVICE_NAME, trail_region(),
							 psprintf("eventdatastore/%s", trail_region())),
				   trail_region());

	result = trail_sql_run("SELECT trail.get_event_data_store()", 0, NULL, NULL,
						  NULL, CurrentMemoryContext, &isnull);
	PG_RETURN_DATUM(result);
}

/*
 * Check the column names of an option: each a column of the table; returns
 * the array (empty for NULL).
 */
static ArrayType *
check_columns(Relation rel, ArrayType *names, const char *option)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (names == NULL)
		return construct_empty_array(TEXTOID);
	if (ARR_NDIM(names) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array of column names", option)));
	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *name;
		AttrNumber	attnum;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s[%d] is NULL", option, i + 1)));
		name = TextDatumGetCString(elems[i]);
		attnum = get_attnum(RelationGetRelid(rel), name);
		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s[%d]: column \"%s\" of relation \"%s\" does not exist",
							option, i + 1, name, RelationGetRelationName(rel))));
	}
	return names;
}

bool
trail_array_has_name(ArrayType *names, const char *name)
{
	Datum	   *elems;
	int			n;
	int			i;

	if (names == NULL)
		return false;
	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &n);
	for (i = 0; i < n; i++)
		if (strcmp(TextDatumGetCString(elems[i]), name) == 0)
			return true;
	return false;
}

/*
 * trail.set_capture_options(tbl, row_images, exclude_columns, redact_columns)
 */
Datum
trail_set_capture_options(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Relation	rel;
	char	   *row_images;
	ArrayType  *exclude;
	ArrayType  *redact;
	Bitmapset  *pkey;
	int			i;
	Oid			types[4] = {OIDOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[4];
	StringInfoData params;

	trail_require_catalog();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tbl must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("row_images must be none, changed or full, not NULL")));
	relid = PG_GETARG_OID(0);
	row_images = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strcmp(row_images, "none") != 0 && strcmp(row_images, "changed") != 0 &&
		strcmp(row_images, "full") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("row_images must be none, changed or full, not \"%s\"", row_images)));

	rel = relation_open(relid, ShareUpdateExclusiveLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel))));
	if (trail_is_own_relation(relid) || IsCatalogRelationOid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table whose data events trail captures",
						RelationGetRelationName(rel))));
	exclude = check_columns(rel, PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2),
							"exclude_columns");
	redact = check_columns(rel, PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3),
						   "redact_columns");

	pkey = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	for (i = 0; i < RelationGetDescr(rel)->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), i);
		const char *name = NameStr(att->attname);

		if (att->attisdropped || !trail_array_has_name(exclude, name))
			continue;
		if (trail_array_has_name(redact, name))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" is both excluded and redacted", name)));
		if (bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber, pkey))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" is part of the primary key, which identifies each row event; it cannot be excluded",
							name),
					 errhint("Redact it instead: row events then show a hash of it.")));
	}

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(row_images);
	values[2] = PointerGetDatum(exclude);
	values[3] = PointerGetDatum(redact);
	(void) trail_sql_run("INSERT INTO trail.capture_options AS o"
						" (table_id, row_images, exclude_columns, redact_columns)"
						" VALUES ($1, $2, $3, $4)"
						" ON CONFLICT (table_id) DO UPDATE SET"
						" row_images = EXCLUDED.row_images,"
						" exclude_columns = EXCLUDED.exclude_columns,"
						" redact_columns = EXCLUDED.redact_columns",
						4, types, values, NULL, NULL, NULL);

	/* every backend forgets what it knew of the table */
	CacheInvalidateRelcache(rel);

	initStringInfo(&params);
	appendStringInfoString(&params, "{\"tableName\":");
	escape_json(&params, trail_table_name(relid));
	appendStringInfoString(&params, ",\"rowImages\":");
	escape_json(&params, row_images);
	appendStringInfo(&params, ",\"excludeColumns\":%s,\"redactColumns\":%s}",
					 TextDatumGetCString(DirectFunctionCall1(array_to_json,
															 PointerGetDatum(exclude))),
					 TextDatumGetCString(DirectFunctionCall1(array_to_json,
															 PointerGetDatum(redact))));
	trail_store_api_call("SetCaptureOptions", params.data, "PG::Table",
				   trail_table_arn_of(relid), trail_table_name(relid));

	relation_close(rel, NoLock);
	PG_RETURN_VOID();
}
