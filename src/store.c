/*-------------------------------------------------------------------------
 *
 * store.c
 *	  Writing events into trail.events, inside the caller's transaction.
 *
 * An event is inserted in the same transaction as the command it records,
 * so that a command that rolls back (whole transaction or savepoint) leaves
 * no event and a command that commits always has one.  It is written at
 * once, visible to the rest of the transaction, straight into the partition
 * of its day with its index entries (batch.c, bulk_write.c), and so are its
 * LookupEvents entries in trail.event_resources: planning and starting an
 * executor for an INSERT cost a DDL statement more than the write itself.
 * These are trail's own writes into its own append-only tables, which no
 * trigger, rule or permission check has a say in (protect.c keeps everyone
 * else out); there is no SQL, so nothing depends on search_path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/uuid.h"
#include "utils/xid8.h"

#include "catalog.h"
#include "batch.h"
#include "bulk_write.h"
#include "context.h"
#include "reactions.h"
#include "record.h"
#include "selectors.h"
#include "store.h"
#include "trail.h"

PG_FUNCTION_INFO_V1(trail_sql_lookup_hash);

/* trail.events' columns, in the order of trail_event_datums() */
const char *const trail_event_columns[TRAIL_EVENT_NCOLUMNS] = {
	"event_time", "event_id", "event_version", "event_category",
	"event_type", "event_source", "event_name", "read_only",
	"management_event", "region", "recipient_account_id", "user_identity",
	"user_name", "access_key_id", "source_ip_address", "user_agent",
	"request_id", "transaction_id", "request_parameters",
	"response_elements", "additional_event_data", "resources",
	"error_code", "error_message", "is_global", "shared_event_id",
	"insight_details"
};

/*
 * Set one text value, NULL when the string is.
 */
static void
set_text(Datum *values, bool *nulls, int i, const char *s)
{
	nulls[i] = (s == NULL);
	if (s != NULL)
		values[i] = CStringGetTextDatum(s);
}

/*
 * Set one jsonb value, NULL when the value is.
 */
static void
set_jsonb(Datum *values, bool *nulls, int i, Jsonb *j)
{
	nulls[i] = (j == NULL);
	if (j != NULL)
		values[i] = JsonbPGetDatum(j);
}

void
trail_event_datums(const TrailEvent *ev, Datum *values, bool *nulls)
{
	memset(nulls, 0, sizeof(bool) * TRAIL_EVENT_NCOLUMNS);
	values[0] = TimestampTzGetDatum(ev->event_time);
	values[1] = UUIDPGetDatum(&ev->event_id);
	set_text(values, nulls, 2, TRAIL_EVENT_VERSION);
	set_text(values, nulls, 3, ev->event_category);
	set_text(values, nulls, 4, ev->event_type);
	set_text(values, nulls, 5, ev->event_source);
	set_text(values, nulls, 6, ev->event_name);
	values[7] = BoolGetDatum(ev->read_only);
	values[8] = BoolGetDatum(ev->management_event);
	set_text(values, nulls, 9, ev->region ? ev->region : trail_region());
	set_text(values, nulls, 10, ev->account_id ? ev->account_id : trail_account_id());
	set_jsonb(values, nulls, 11, ev->user_identity);
	set_text(values, nulls, 12, ev->user_name);
	set_text(values, nulls, 13, ev->access_key_id);
	set_text(values, nulls, 14, ev->source_ip_address);
	set_text(values, nulls, 15, ev->user_agent);
	set_text(values, nulls, 16, ev->request_id);
	nulls[17] = !FullTransactionIdIsValid(ev->transaction_id);
	if (!nulls[17])
		values[17] = FullTransactionIdGetDatum(ev->transaction_id);
	set_jsonb(values, nulls, 18, ev->request_parameters);
	set_jsonb(values, nulls, 19, ev->response_elements);
	set_jsonb(values, nulls, 20, ev->additional_event_data);
	set_jsonb(values, nulls, 21, ev->resources);
	set_text(values, nulls, 22, ev->error_code);
	set_text(values, nulls, 23, ev->error_message);
	values[24] = BoolGetDatum(ev->is_global);
	nulls[25] = (ev->shared_event_id == NULL);
	if (ev->shared_event_id != NULL)
		values[25] = UUIDPGetDatum(ev->shared_event_id);
	set_jsonb(values, nulls, 26, ev->insight_details);
}

/*
 * Add a value to the lookup entries unless it is there already (or is
 * NULL: the event has no such attribute).
 */
static void
add_lookup(List **keys, List **values, const char *key, const char *value)
{
	ListCell   *k;
	ListCell   *val;

	if (value == NULL)
		return;
	forboth(k, *keys, val, *values)
	{
		if (strcmp(lfirst(k), key) == 0 && strcmp(lfirst(val), value) == 0)
			return;
	}
	*keys = lappend(*keys, (char *) key);
	*values = lappend(*values, (char *) value);
}

/*
 * A JSON string value as a C string; NULL for anything else.
 */
static const char *
json_string(JsonbValue *v)
{
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * Add each distinct resource type and name of an event's resources array to
 * its lookup entries.
 */
static void
add_resource_lookups(List **keys, List **values, Jsonb *resources)
{
	JsonbIterator *it = JsonbIteratorInit(&resources->root);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM || v.type != jbvBinary)
			continue;
		add_lookup(keys, values, "ResourceType",
				   json_string(getKeyJsonValueFromContainer(v.val.binary.data, "type", 4, NULL)));
		add_lookup(keys, values, "ResourceName",
				   json_string(getKeyJsonValueFromContainer(v.val.binary.data, "name", 4, NULL)));
	}
}

/*
 * Find trail.event_resources and its row type, for forming its rows (here
 * and in the import); an error if the table is not as trail made it.
 */
void
trail_lookup_table(const TrailCatalog *cat, TrailLookupTable *table)
{
	static const char *const columns[lengthof(table->attnums)] = {
		"lookup_key", "lookup_value", "event_time", "event_id", "lookup_hash"
	};
	Relation	rel;
	int			c;

	table->relid = get_relname_relid("event_resources", cat->namespace_oid);
	if (!OidIsValid(table->relid))
		elog(ERROR, "trail: table trail.event_resources is missing");
	rel = table_open(table->relid, AccessShareLock);
	table->desc = CreateTupleDescCopy(RelationGetDescr(rel));
	table_close(rel, AccessShareLock);
	if (table->desc->natts != lengthof(columns))
		elog(ERROR, "trail: trail.event_resources must have the columns %s, %s, %s, %s and %s",
			 columns[0], columns[1], columns[2], columns[3], columns[4]);
	for (c = 0; c < lengthof(columns); c++)
	{
		table->attnums[c] = get_attnum(table->relid, columns[c]);
		if (table->attnums[c] == InvalidAttrNumber)
			elog(ERROR, "trail: column \"%s\" is missing from trail.event_resources",
				 columns[c]);
	}
}

/*
 * The hash of a LookupEvents entry's key and value: the value's bytes hashed
 * with the key's hash as seed, with the function hash partitioning uses for
 * text (hash_bytes_extended), whose results PostgreSQL keeps stable across
 * versions, since stored rows depend on them.
 */
int64
trail_lookup_hash(text *key, text *value)
{
	uint64		seed = hash_bytes_extended((const unsigned char *) VARDATA_ANY(key),
										   VARSIZE_ANY_EXHDR(key), 0);

	return (int64) hash_bytes_extended((const unsigned char *) VARDATA_ANY(value),
									   VARSIZE_ANY_EXHDR(value), seed);
}

/*
 * trail._lookup_hash(key, value): trail_lookup_hash in SQL, the expression
 * of trail.event_resources.lookup_hash (which rows written in SQL compute).
 */
Datum
trail_sql_lookup_hash(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(trail_lookup_hash(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1)));
}

/*
 * One LookupEvents entry as a row of trail.event_resources; its hash column
 * is filled here, as the column's expression would fill it.
 */
HeapTuple
trail_lookup_tuple(const TrailLookupTable *table, Datum key, Datum value,
				   Datum event_time, Datum event_id)
{
	Datum		values[lengthof(table->attnums)];
	bool		nulls[lengthof(table->attnums)] = {false};

	values[table->attnums[0] - 1] = key;
	values[table->attnums[1] - 1] = value;
	values[table->attnums[2] - 1] = event_time;
	values[table->attnums[3] - 1] = event_id;
	values[table->attnums[4] - 1] =
		Int64GetDatum(trail_lookup_hash(DatumGetTextPP(key), DatumGetTextPP(value)));
	return heap_form_tuple(table->desc, values, nulls);
}

/*
 * Write the LookupEvents entries of a management or insight event (its
 * keyed attributes, and each distinct resource type and name) into
 * trail.event_resources.  Data events have none: LookupEvents does not
 * show them.
 */
static void
write_lookups(const TrailCatalog *cat, const TrailEvent *ev)
{
	List	   *keys = NIL;
	List	   *values = NIL;
	TrailLookupTable table;
	HeapTuple  *tuples;
	ListCell   *k;
	ListCell   *v;
	int			n = 0;

	if (strcmp(ev->event_category, "Data") == 0)
		return;
	add_lookup(&keys, &values, "EventName", ev->event_name);
	add_lookup(&keys, &values, "Username", ev->user_name);
	add_lookup(&keys, &values, "EventSource", ev->event_source);
	add_lookup(&keys, &values, "AccessKeyId", ev->access_key_id);

	/*
	 * An event's id tells its time (UUIDv7, made from it: lookup by EventId
	 * reads the minute before the id's time), except an insight's, whose
	 * time is the minute it describes, and one made after the clock stepped
	 * back.
	 */
	if (strcmp(ev->event_category, "Insight") == 0 ||
		!trail_event_id_names_time(&ev->event_id, ev->event_time))
	{
		char	   *id = palloc(TRAIL_UUID_STRLEN);

		trail_uuid_string(&ev->event_id, id);
		add_lookup(&keys, &values, "EventId", id);
	}
	if (ev->resources != NULL)
		add_resource_lookups(&keys, &values, ev->resources);

	trail_lookup_table(cat, &table);
	tuples = palloc(sizeof(HeapTuple) * list_length(keys));
	forboth(k, keys, v, values)
		tuples[n++] = trail_lookup_tuple(&table, CStringGetTextDatum(lfirst(k)),
										 CStringGetTextDatum(lfirst(v)),
										 TimestampTzGetDatum(ev->event_time),
										 UUIDPGetDatum(&ev->event_id));
	(void) trail_bulk_write(table.relid, TRAIL_ROWS_OTHER, table.desc, tuples, n, NULL);
}

/*
 * Does the event data store record this event (its selectors)?  trail's own
 * events (changes of its settings, work it does itself) always are:
 * selectors must not be able to hide their own change.  So are Insight
 * events, which trails choose by their insight selectors.
 */
static bool
selected(const TrailEvent *ev)
{
	SelectorEvent sel = {
		.event_category = ev->event_category,
		.event_name = ev->event_name,
		.read_only = ev->read_only,
		.event_source = ev->event_source
	};

	if (ev->event_source != NULL && strcmp(ev->event_source, TRAIL_SERVICE_NAME) == 0)
		return true;
	/* Insights are chosen by trails' insight selectors, not by these */
	if (strcmp(ev->event_category, "Insight") == 0)
		return true;
	/* without management selectors, nothing below is needed */
	if (ev->management_event && trail_selects_all_management())
		return true;
	if (ev->user_identity != NULL &&
		trail_json_member_string(&ev->user_identity->root, "invokedBy") != NULL)
		return true;
	if (ev->user_identity != NULL)
		sel.user_arn = trail_json_member_string(&ev->user_identity->root, "arn");
	trail_selector_event_resources(&sel, ev->resources);
	return trail_selects_event(&sel);
}

void
trail_store_event(const TrailEvent *ev)
{
	const TrailCatalog *cat = trail_catalog();
	MemoryContext cxt;
	MemoryContext oldcxt;
	HeapTuple	tuple;
	StringInfoData record;
	bool		react;

	if (cat == NULL || !selected(ev))
		return;

	/* what forming and writing allocate goes when the event is stored */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "trail store event",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	tuple = trail_batch_event_tuple(ev);

	/* the log stream and the rules see it as it is stored (the write takes the tuple) */
	react = trail_reactions_wanted(ev->event_category, ev->event_source, ev->event_name, ev);
	if (react)
	{
		initStringInfo(&record);
		trail_render_record(tuple->t_data, &record);
	}

	/*
	 * As an INSERT would, see what the command did so far: a partition
	 * attached by the maintenance pass that records it is where its events
	 * go.  A read-only transaction still gets its SHOW and EXPLAIN
	 * recorded: READ ONLY restricts what the user may change, not the
	 * audit trail, and the heap does not ask.
	 */
	CommandCounterIncrement();
	trail_batch_write_event(tuple, ev);
	write_lookups(cat, ev);

	if (react)
		trail_react(ev->event_category, ev->event_source, ev->event_name, record.data, ev);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
}

void
trail_store_api_call(const char *event_name, const char *params,
					 const char *resource_type, const char *arn, const char *name)
{
	TrailEvent	ev;

	trail_event_init(&ev, "Management", "AwsApiCall", NULL);
	ev.event_source = TRAIL_SERVICE_NAME;
	ev.event_name = event_name;
	ev.read_only = false;
	ev.request_parameters = trail_jsonb_from_text(params);
	ev.resources = trail_jsonb_one_resource(resource_type, arn, name);
	trail_store_event(&ev);
}
