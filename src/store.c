/*-------------------------------------------------------------------------
 *
 * store.c
 *	  Writing events into trail.events, inside the caller's transaction.
 *
 * An event is inserted in the same transaction as the command it records,
 * so that a command that rolls back (whole transaction or savepoint) leaves
 * no event and a command that commits always has one.  The insert goes
 * through a saved SPI plan: partition routing, indexes and constraints are
 * the executor's job, and the plan cache revalidates it if trail.events is
 * replaced.  It runs inside trail_sql_begin() (sql.c): as the table's owner,
 * with search_path pinned, and flagged internal so that the append-only
 * protection lets exactly this write through.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "catalog/objectaddress.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"
#include "utils/xid8.h"

#include "catalog.h"
#include "batch.h"
#include "commit_order.h"
#include "context.h"
#include "reactions.h"
#include "record.h"
#include "selectors.h"
#include "sql.h"
#include "store.h"
#include "trail.h"

#define STORE_NARGS (TRAIL_EVENT_NCOLUMNS + 3)

static SPIPlanPtr insert_plan = NULL;

/*
 * One statement writes the event and its LookupEvents entries
 * (trail.event_resources): its EventName, Username, EventSource,
 * AccessKeyId, and each distinct ResourceType and ResourceName once, passed
 * as two parallel arrays (keys, values) worked out here in C.
 */
static const char *const insert_sql =
"WITH ev AS ("
"INSERT INTO trail.events (event_time, event_id, event_version, event_category,"
" event_type, event_source, event_name, read_only, management_event, region,"
" recipient_account_id, user_identity, user_name, access_key_id,"
" source_ip_address, user_agent, request_id, transaction_id,"
" request_parameters, response_elements, additional_event_data, resources,"
" error_code, error_message, is_global, shared_event_id, insight_details, commit_seq)"
" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,"
" $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $30))"
" INSERT INTO trail.event_resources (lookup_key, lookup_value, event_time, event_id)"
" SELECT u.k, u.v, $1, $2"
" FROM ROWS FROM (pg_catalog.unnest($28), pg_catalog.unnest($29)) AS u(k, v)";

static const Oid insert_types[STORE_NARGS] = {
	TIMESTAMPTZOID, UUIDOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, BOOLOID, BOOLOID, TEXTOID,
	TEXTOID, JSONBOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, XID8OID,
	JSONBOID, JSONBOID, JSONBOID, JSONBOID,
	TEXTOID, TEXTOID, BOOLOID, UUIDOID, JSONBOID,
	TEXTARRAYOID, TEXTARRAYOID, INT8OID
};

/* trail.events' columns, in the order of the insert's parameters */
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
 * The LookupEvents entries of a management or insight event (its keyed
 * attributes, and each distinct resource type and name), as the (keys,
 * values) arrays of its rows in trail.event_resources.  Data events have
 * none: LookupEvents does not show them.
 */
static void
lookup_entries(const TrailEvent *ev, Datum *keys, Datum *values)
{
	List	   *key_list = NIL;
	List	   *value_list = NIL;

	if (strcmp(ev->event_category, "Data") != 0)
	{
		add_lookup(&key_list, &value_list, "EventName", ev->event_name);
		add_lookup(&key_list, &value_list, "Username", ev->user_name);
		add_lookup(&key_list, &value_list, "EventSource", ev->event_source);
		add_lookup(&key_list, &value_list, "AccessKeyId", ev->access_key_id);

		/*
		 * An event's id tells the day of its partition (UUIDv7, made from
		 * its time: lookup by EventId reads that day), except an insight's,
		 * whose time is the minute it describes.
		 */
		if (strcmp(ev->event_category, "Insight") == 0)
		{
			char	   *id = palloc(TRAIL_UUID_STRLEN);

			trail_uuid_string(&ev->event_id, id);
			add_lookup(&key_list, &value_list, "EventId", id);
		}
		if (ev->resources != NULL)
			add_resource_lookups(&key_list, &value_list, ev->resources);
	}
	*keys = PointerGetDatum(strlist_to_textarray(key_list));
	*values = PointerGetDatum(strlist_to_textarray(value_list));
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
	Datum		values[STORE_NARGS];
	char		nulls[STORE_NARGS];
	bool		isnull[TRAIL_EVENT_NCOLUMNS];
	int			i;
	TrailSqlScope scope;
	bool		save_read_only = XactReadOnly;

	if (cat == NULL || !selected(ev))
		return;

	trail_event_datums(ev, values, isnull);
	for (i = 0; i < TRAIL_EVENT_NCOLUMNS; i++)
		nulls[i] = isnull[i] ? 'n' : ' ';
	nulls[27] = nulls[28] = nulls[29] = ' ';
	lookup_entries(ev, &values[27], &values[28]);
	values[29] = Int64GetDatum(trail_commit_seq());

	trail_sql_begin(&scope, cat->owner);
	PG_TRY();
	{
		int			rc;

		/*
		 * A read-only transaction still gets its SHOW and EXPLAIN recorded:
		 * READ ONLY restricts what the user may change, not the audit trail.
		 */
		XactReadOnly = false;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "trail: SPI_connect failed");
		if (insert_plan == NULL)
		{
			SPIPlanPtr	plan = SPI_prepare(insert_sql, STORE_NARGS,
										   (Oid *) insert_types);

			if (plan == NULL)
				elog(ERROR, "trail: could not prepare the event insert: %s",
					 SPI_result_code_string(SPI_result));
			SPI_keepplan(plan);
			insert_plan = plan;
		}
		rc = SPI_execute_plan(insert_plan, values, nulls, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "trail: could not store an event: %s",
				 SPI_result_code_string(rc));
		SPI_finish();
	}
	PG_FINALLY();
	{
		XactReadOnly = save_read_only;
		trail_sql_end(&scope);
	}
	PG_END_TRY();

	/* the log stream and the rules see it as the caller stored it */
	if (trail_reactions_wanted(ev->event_category, ev->event_source, ev->event_name, ev))
	{
		StringInfoData record;

		initStringInfo(&record);
		trail_render_record(trail_batch_event_tuple(ev)->t_data, &record);
		trail_react(ev->event_category, ev->event_source, ev->event_name, record.data, ev);
	}
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
