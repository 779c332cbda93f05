/*-------------------------------------------------------------------------
 *
 * lookup.c
 *	  LookupEvents by a keyed attribute, without planning every partition.
 *
 * LookupEvents' keyed attributes (EventName, Username, EventSource,
 * AccessKeyId, ResourceType, ResourceName) are kept as entries (key, value,
 * event_time, event_id) in trail.event_resources, one table for all days,
 * whose index on (hash of key and value, event_time) is in newest-first
 * order for each value.  A page walks that btree backwards from its keyset
 * position, skips the entries of any other value of the same hash, puts the
 * entries of one time in the keyset order of their ids (the index leaves
 * the id out, see trail--1.0.sql), and fetches each event from the one
 * daily partition its time names, through that partition's unique
 * (event_time, event_id) index.
 *
 * Why C and not a join: any query that joins the entries to trail.events
 * must be planned over every partition that the entries might point to,
 * which is all of them, since the entries' times are known only when the
 * query runs.  The first such query of a session then builds the relcache
 * entries of every partition and of all its indexes (about a thousand
 * relations over 90 days), which alone took 90-160 ms, five times the whole
 * budget of a page.  Here a session opens the entries' table and its primary
 * key, and for each day that holds an event of the page, that day's
 * partition and one of its indexes.
 *
 * The access is read-only through the caller's snapshot, so it sees what a
 * SELECT in its place would see; the caller's privileges are checked as a
 * SELECT on the two tables would check them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/tupconvert.h"
#include "catalog/partition.h"
#include "catalog/pg_collation.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "catalog.h"
#include "event.h"
#include "partition.h"
#include "store.h"

PG_FUNCTION_INFO_V1(trail_lookup_entries);
PG_FUNCTION_INFO_V1(trail_sql_event_id_span);
PG_FUNCTION_INFO_V1(trail_sql_event_id_names_time);

/* trail.event_resources' columns (attribute numbers) */
#define ENTRY_KEY		1
#define ENTRY_VALUE		2
#define ENTRY_TIME		3
#define ENTRY_ID		4

/* the columns of its index event_resources_lookup_idx */
#define INDEX_HASH		1
#define INDEX_TIME		2

/* The day partition being read, kept open while entries point into it */
typedef struct DayPartition
{
	Oid			relid;			/* InvalidOid: none open */
	Oid			key_index;		/* events_time_idx, of trail.events */
	Relation	rel;
	Relation	index;			/* its part of key_index */
	TupleTableSlot *slot;
	TupleConversionMap *map;	/* partition row -> trail.events row, or NULL */
	AttrNumber	category_attno; /* event_category in the partition */
} DayPartition;

/*
 * Refuse a caller who could not SELECT from the table, as the executor would.
 */
static void
check_select(Oid relid)
{
	AclResult	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);

	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, get_rel_name(relid));
}

/*
 * The oid of one of trail's relations by name.
 */
static Oid
trail_relid(const char *name)
{
	Oid			relid = get_relname_relid(name, trail_require_catalog()->namespace_oid);

	if (!OidIsValid(relid))
		elog(ERROR, "trail: relation trail.%s is missing", name);
	return relid;
}

/*
 * Close the open day partition, if any.  Locks stay until the end of the
 * transaction, as a query's would.
 */
static void
close_day(DayPartition *day)
{
	if (!OidIsValid(day->relid))
		return;
	ExecDropSingleTupleTableSlot(day->slot);
	if (day->map != NULL)
		free_conversion_map(day->map);
	index_close(day->index, NoLock);
	table_close(day->rel, NoLock);
	day->relid = InvalidOid;
}

/*
 * Make the partition that holds time t (its day's, or the default one) the
 * open one.  False when it is gone: retention dropped the day after the
 * caller's snapshot saw its entries, so there is no event to show.
 */
static bool
open_day(DayPartition *day, TimestampTz t, TupleDesc result_desc)
{
	Oid			relid = trail_partition_for("events", t);
	Oid			indexid;

	if (day->relid == relid)
		return true;
	close_day(day);

	day->rel = try_table_open(relid, AccessShareLock);
	if (day->rel == NULL)
		return false;
	indexid = index_get_partition(day->rel, day->key_index);
	if (!OidIsValid(indexid))
		elog(ERROR, "trail: partition %s has no part of index events_time_idx",
			 RelationGetRelationName(day->rel));
	day->index = index_open(indexid, AccessShareLock);
	day->slot = table_slot_create(day->rel, NULL);
	day->map = convert_tuples_by_name(RelationGetDescr(day->rel), result_desc);
	day->category_attno = get_attnum(relid, "event_category");
	day->relid = relid;
	return true;
}

/*
 * Fetch the event (t, id) from the open day partition into its slot.  False
 * when it is not there, or is not of the category asked for (an entry of an
 * Insight event seen by a Management lookup, or the other way round).
 */
static bool
fetch_event(DayPartition *day, TimestampTz t, Datum id, text *category)
{
	ScanKeyData keys[2];
	IndexScanDesc scan;
	bool		found;

	/* the index is (event_time, event_id) */
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_TIMESTAMPTZ_EQ,
				TimestampTzGetDatum(t));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_UUID_EQ, id);
	scan = index_beginscan(day->rel, day->index, GetActiveSnapshot(), 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, day->slot);
	index_endscan(scan);
	if (found)
	{
		bool		isnull;
		Datum		cat = slot_getattr(day->slot, day->category_attno, &isnull);

		found = !isnull && DatumGetBool(DirectFunctionCall2Coll(texteq,
																DEFAULT_COLLATION_OID,
																cat,
																PointerGetDatum(category)));
	}
	return found;
}

/*
 * Add the event in the open day partition's slot to the result, as a row of
 * trail.events.
 */
static void
put_event(DayPartition *day, ReturnSetInfo *rsinfo)
{
	if (day->map == NULL)
		tuplestore_puttupleslot(rsinfo->setResult, day->slot);
	else
	{
		HeapTuple	tuple = ExecFetchSlotHeapTuple(day->slot, false, NULL);

		tuplestore_puttuple(rsinfo->setResult, execute_attr_map_tuple(tuple, day->map));
	}
}

/*
 * Is a stored text byte for byte the one given?  (The equality of the
 * database's deterministic collations.)
 */
static bool
text_equals(Datum stored, text *given)
{
	text	   *t = DatumGetTextPP(stored);

	return VARSIZE_ANY_EXHDR(t) == VARSIZE_ANY_EXHDR(given) &&
		memcmp(VARDATA_ANY(t), VARDATA_ANY(given), VARSIZE_ANY_EXHDR(given)) == 0;
}

/* The entries of one time, gathered before their events are fetched */
typedef struct TimeGroup
{
	TimestampTz time;
	pg_uuid_t  *ids;
	int			n;
	int			size;
} TimeGroup;

/*
 * qsort comparator: event ids in descending order (uuid_cmp's order,
 * reversed).
 */
static int
id_desc_cmp(const void *a, const void *b)
{
	return memcmp(b, a, UUID_LEN);
}

/*
 * Add the events of a time's entries to the result, their ids in keyset
 * order (descending), at most max of them; how many were added.  The index
 * holds a time's entries in the order they were written, not by id.
 */
static int
put_group(TimeGroup *group, DayPartition *day, text *category, int max,
		  ReturnSetInfo *rsinfo)
{
	int			added = 0;
	int			j;

	qsort(group->ids, group->n, sizeof(pg_uuid_t), id_desc_cmp);
	for (j = 0; j < group->n && added < max; j++)
	{
		if (!open_day(day, group->time, rsinfo->setDesc) ||
			!fetch_event(day, group->time, UUIDPGetDatum(&group->ids[j]), category))
			continue;
		put_event(day, rsinfo);
		added++;
	}
	group->n = 0;
	return added;
}

/*
 * trail._lookup_entries(key, value, start, category, limit, after_time,
 * after_id): the events of category with that attribute value, at or after
 * start and before the keyset position (after_time, after_id), newest first,
 * limit of them at most.  The page body of trail._lookup_rows for the keyed
 * attributes; see the top of this file.
 */
Datum
trail_lookup_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *key = PG_GETARG_TEXT_PP(0);
	text	   *value = PG_GETARG_TEXT_PP(1);
	TimestampTz start = PG_GETARG_TIMESTAMPTZ(2);
	text	   *category = PG_GETARG_TEXT_PP(3);
	int32		limit = PG_GETARG_INT32(4);
	TimestampTz after_time = PG_GETARG_TIMESTAMPTZ(5);
	Datum		after_id = PG_GETARG_DATUM(6);
	const TrailCatalog *cat = trail_require_catalog();
	Oid			entries_relid = trail_relid("event_resources");
	Relation	entries;
	Relation	entries_index;
	ScanKeyData keys[3];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	DayPartition day = {InvalidOid, trail_relid("events_time_idx")};
	TimeGroup	group;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	check_select(cat->events_relid);
	check_select(entries_relid);
	if (limit <= 0 || start > after_time)
		return (Datum) 0;

	entries = table_open(entries_relid, AccessShareLock);
	entries_index = index_open(trail_relid("event_resources_lookup_idx"), AccessShareLock);

	/*
	 * (hash, event_time >= start, event_time <= after_time), walked
	 * backwards: the upper bound on time positions the scan at the page's
	 * start; the few entries at after_time itself are sorted out by id below,
	 * and those of another value with the same hash by their texts.
	 */
	ScanKeyInit(&keys[0], INDEX_HASH, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(trail_lookup_hash(key, value)));
	ScanKeyInit(&keys[1], INDEX_TIME, BTGreaterEqualStrategyNumber, F_TIMESTAMPTZ_GE,
				TimestampTzGetDatum(start));
	ScanKeyInit(&keys[2], INDEX_TIME, BTLessEqualStrategyNumber, F_TIMESTAMPTZ_LE,
				TimestampTzGetDatum(after_time));

	slot = table_slot_create(entries, NULL);
	scan = index_beginscan(entries, entries_index, GetActiveSnapshot(), lengthof(keys), 0);
	index_rescan(scan, keys, lengthof(keys), NULL, 0);
	i = 0;
	group.size = 16;
	group.ids = palloc(sizeof(pg_uuid_t) * group.size);
	group.n = 0;
	for (;;)
	{
		bool		more = index_getnext_slot(scan, BackwardScanDirection, slot);
		bool		isnull;
		TimestampTz t = 0;
		Datum		id;

		if (more)
			t = DatumGetTimestampTz(slot_getattr(slot, ENTRY_TIME, &isnull));
		/* a time's entries are all read: their events, in order of id */
		if (group.n > 0 && (!more || t != group.time))
		{
			i += put_group(&group, &day, category, limit - i, rsinfo);
			if (i >= limit)
				break;
		}
		if (!more)
			break;

		CHECK_FOR_INTERRUPTS();
		id = slot_getattr(slot, ENTRY_ID, &isnull);
		/* the keyset position is exclusive: (t, id) < (after_time, after_id) */
		if (t == after_time &&
			DatumGetInt32(DirectFunctionCall2(uuid_cmp, id, after_id)) >= 0)
			continue;
		if (!text_equals(slot_getattr(slot, ENTRY_KEY, &isnull), key) ||
			!text_equals(slot_getattr(slot, ENTRY_VALUE, &isnull), value))
			continue;
		if (group.n == group.size)
		{
			group.size *= 2;
			group.ids = repalloc_huge(group.ids, sizeof(pg_uuid_t) * group.size);
		}
		group.time = t;
		group.ids[group.n++] = *DatumGetUUIDP(id);
	}
	index_endscan(scan);
	pfree(group.ids);
	ExecDropSingleTupleTableSlot(slot);
	close_day(&day);
	index_close(entries_index, NoLock);
	table_close(entries, NoLock);
	return (Datum) 0;
}

/*
 * trail._event_id_span(event_id, OUT first_time, OUT end_time): the times
 * an event id made by trail names (trail_event_id_span), where lookup by
 * EventId reads when the event has no entry; NULLs for an id of another
 * layout.
 */
Datum
trail_sql_event_id_span(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	TimestampTz first;
	TimestampTz end;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "trail: _event_id_span must return a record");
	if (trail_event_id_span(PG_GETARG_UUID_P(0), &first, &end))
	{
		values[0] = TimestampTzGetDatum(first);
		values[1] = TimestampTzGetDatum(end);
	}
	else
		nulls[0] = nulls[1] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * trail._event_id_names_time(event_id, event_time): trail_event_id_names_time
 * for the spool's drain, which writes its events' entries in SQL (spool.c).
 */
Datum
trail_sql_event_id_names_time(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(trail_event_id_names_time(PG_GETARG_UUID_P(0),
											 PG_GETARG_TIMESTAMPTZ(1)));
}
