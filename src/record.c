/*-------------------------------------------------------------------------
 *
 * record.c
 *	  Rendering one row of trail.events as a CloudTrail record.
 *
 * The record is written as compact JSON text in the key order CloudTrail's
 * own files use (spec section a), with CloudTrail's rules for absent
 * fields: requestParameters and responseElements are always present (null
 * when empty); userAgent, errorCode, errorMessage, additionalEventData,
 * resources, sharedEventID and tlsDetails appear only when they have a
 * value; Insights records carry only their own few fields.  Objects that
 * trail itself builds (userIdentity and its sessionContext) are also
 * written in CloudTrail's key order, and the elements of the record's
 * "resources" carry only CloudTrail's accountId, type and ARN (trail keeps a
 * "name" beside them for LookupEvents' ResourceName).
 *
 * Imported events (imported_from is set: import.c) give back the record
 * they were imported from: a column that is NULL stands for a member the
 * record did not have, so it is left out; unknown_fields holds the members
 * no column gives back as they were (members of newer formats, values of
 * another JSON type than the column's), each written in place of its
 * column's or, for members trail has no column for, at the end; and the
 * members it lists under TRAIL_ABSENT_MEMBERS were not in the record though
 * their column needs a value, so they are left out too.
 *
 * The same text is what log file export writes; trail.cloudtrail_record()
 * returns it as jsonb for SQL users.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "context.h"
#include "event.h"
#include "record.h"

PG_FUNCTION_INFO_V1(trail_cloudtrail_record);

/* the columns the renderer reads, by name (attribute numbers are looked up) */
typedef enum RecordColumn
{
	COL_EVENT_TIME,
	COL_EVENT_ID,
	COL_EVENT_VERSION,
	COL_EVENT_CATEGORY,
	COL_EVENT_TYPE,
	COL_EVENT_SOURCE,
	COL_EVENT_NAME,
	COL_READ_ONLY,
	COL_MANAGEMENT_EVENT,
	COL_REGION,
	COL_RECIPIENT_ACCOUNT_ID,
	COL_USER_IDENTITY,
	COL_SOURCE_IP_ADDRESS,
	COL_USER_AGENT,
	COL_REQUEST_ID,
	COL_REQUEST_PARAMETERS,
	COL_RESPONSE_ELEMENTS,
	COL_ADDITIONAL_EVENT_DATA,
	COL_RESOURCES,
	COL_ERROR_CODE,
	COL_ERROR_MESSAGE,
	COL_TLS_DETAILS,
	COL_SHARED_EVENT_ID,
	COL_INSIGHT_DETAILS,
	COL_IMPORTED_FROM,
	COL_UNKNOWN_FIELDS,
	NUM_RECORD_COLUMNS
} RecordColumn;

static const char *const column_names[NUM_RECORD_COLUMNS] = {
	"event_time", "event_id", "event_version", "event_category",
	"event_type", "event_source", "event_name", "read_only",
	"management_event", "region", "recipient_account_id", "user_identity",
	"source_ip_address", "user_agent", "request_id", "request_parameters",
	"response_elements", "additional_event_data", "resources", "error_code",
	"error_message", "tls_details", "shared_event_id", "insight_details",
	"imported_from", "unknown_fields"
};

/*
 * Key order of the objects trail builds, by the key they appear under: the
 * listed keys first, then the others as stored.
 */
typedef struct KeyOrder
{
	const char *under;
	const char *const *keys;
} KeyOrder;

static const char *const identity_keys[] = {
	"type", "principalId", "arn", "accountId", "accessKeyId", "userName",
	"invokedBy", "sessionContext", NULL
};
static const char *const session_context_keys[] = {
	"sessionIssuer", "webIdFederationData", "attributes", "sourceIdentity", NULL
};
static const char *const issuer_keys[] = {
	"type", "principalId", "arn", "accountId", "userName", NULL
};
static const char *const attributes_keys[] = {
	"creationDate", "mfaAuthenticated", NULL
};
static const char *const resource_keys[] = {
	"accountId", "type", "ARN", NULL
};

static const KeyOrder key_orders[] = {
	{"userIdentity", identity_keys},
	{"sessionContext", session_context_keys},
	{"sessionIssuer", issuer_keys},
	{"attributes", attributes_keys},
};

/* attribute numbers of the columns, for the row type last seen */
static Oid	cached_type = InvalidOid;
static AttrNumber column_attnums[NUM_RECORD_COLUMNS];

static void emit_container(StringInfo buf, JsonbContainer *jc, const char *under);

/*
 * The key order for objects found under the given key, if trail has one.
 */
static const KeyOrder *
key_order_for(const char *under)
{
	int			i;

	if (under == NULL)
		return NULL;
	for (i = 0; i < lengthof(key_orders); i++)
		if (strcmp(key_orders[i].under, under) == 0)
			return &key_orders[i];
	return NULL;
}

/*
 * Is the key (not NUL-terminated) one of the listed ones?
 */
static bool
key_listed(const char *const *keys, const char *key, int len)
{
	for (; *keys != NULL; keys++)
		if ((int) strlen(*keys) == len && memcmp(*keys, key, len) == 0)
			return true;
	return false;
}

/*
 * Write one jsonb value as compact JSON; under is the key it appears under.
 */
static void
emit_value(StringInfo buf, JsonbValue *v, const char *under)
{
	switch (v->type)
	{
		case jbvNull:
			appendStringInfoString(buf, "null");
			break;
		case jbvString:
			escape_json(buf, pnstrdup(v->val.string.val, v->val.string.len));
			break;
		case jbvNumeric:
			appendStringInfoString(buf,
								   DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(v->val.numeric))));
			break;
		case jbvBool:
			appendStringInfoString(buf, v->val.boolean ? "true" : "false");
			break;
		case jbvBinary:
			emit_container(buf, v->val.binary.data, under);
			break;
		default:
			elog(ERROR, "trail: unexpected jsonb value type %d", (int) v->type);
	}
}

/*
 * Write one key and its value, with a comma unless it comes first.
 */
static void
emit_member(StringInfo buf, bool *first, const char *key, int keylen,
			JsonbValue *v)
{
	char	   *k = pnstrdup(key, keylen);

	if (!*first)
		appendStringInfoChar(buf, ',');
	*first = false;
	escape_json(buf, k);
	appendStringInfoChar(buf, ':');
	emit_value(buf, v, k);
}

/*
 * Write a jsonb object or array as compact JSON, objects in the key order
 * trail knows for them (listed keys first, then the others as stored).
 */
static void
emit_container(StringInfo buf, JsonbContainer *jc, const char *under)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	bool		first = true;

	if (JsonContainerIsScalar(jc))
	{
		JsonbValue	scalar;

		if (!JsonbExtractScalar(jc, &scalar))
			elog(ERROR, "trail: could not read a jsonb scalar");
		emit_value(buf, &scalar, under);
		return;
	}

	if (JsonContainerIsArray(jc))
	{
		appendStringInfoChar(buf, '[');
		it = JsonbIteratorInit(jc);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (!first)
				appendStringInfoChar(buf, ',');
			first = false;
			emit_value(buf, &v, under);	/* elements belong to the array's key */
		}
		appendStringInfoChar(buf, ']');
		return;
	}

	appendStringInfoChar(buf, '{');
	{
		const KeyOrder *order = key_order_for(under);
		char	   *key = NULL;
		int			keylen = 0;

		if (order != NULL)
		{
			const char *const *k;

			for (k = order->keys; *k != NULL; k++)
			{
				JsonbValue	found;

				if (getKeyJsonValueFromContainer(jc, *k, strlen(*k), &found))
					emit_member(buf, &first, *k, strlen(*k), &found);
			}
		}
		it = JsonbIteratorInit(jc);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				key = v.val.string.val;
				keylen = v.val.string.len;
			}
			else if (tok == WJB_VALUE &&
					 (order == NULL || !key_listed(order->keys, key, keylen)))
				emit_member(buf, &first, key, keylen, &v);
		}
	}
	appendStringInfoChar(buf, '}');
}

/*
 * Find the attribute numbers of the renderer's columns in a row type.
 */
static void
resolve_columns(TupleDesc tupdesc, Oid typid)
{
	int			c;

	for (c = 0; c < NUM_RECORD_COLUMNS; c++)
	{
		int			i;

		column_attnums[c] = InvalidAttrNumber;
		for (i = 0; i < tupdesc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, i);

			if (!att->attisdropped &&
				strcmp(NameStr(att->attname), column_names[c]) == 0)
			{
				column_attnums[c] = att->attnum;
				break;
			}
		}
		if (column_attnums[c] == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("row type %s has no column \"%s\"",
							format_type_be(typid), column_names[c])));
	}
	cached_type = typid;
}

/* the row being rendered, and its descriptor */
typedef struct RecordRow
{
	HeapTupleData tuple;
	TupleDesc	tupdesc;
	bool		imported;		/* imported_from is set */
	JsonbContainer *unknown;	/* unknown_fields, or NULL */
	JsonbContainer *absent;		/* its TRAIL_ABSENT_MEMBERS array, or NULL */
	bool		first;			/* no member written yet */
	const char *written[NUM_RECORD_COLUMNS];	/* members written by column */
	int			nwritten;
} RecordRow;

/*
 * A column's value; *isnull says whether it is NULL.
 */
static Datum
column(RecordRow *row, RecordColumn c, bool *isnull)
{
	return heap_getattr(&row->tuple, column_attnums[c], row->tupdesc, isnull);
}

/* writes one non-NULL column value as JSON; key is the member's name */
typedef void (*ValueWriter) (StringInfo buf, Datum value, const char *key);

static void
write_text(StringInfo buf, Datum value, const char *key)
{
	escape_json(buf, TextDatumGetCString(value));
}

static void
write_jsonb(StringInfo buf, Datum value, const char *key)
{
	emit_container(buf, &DatumGetJsonbP(value)->root, key);
}

static void
write_bool(StringInfo buf, Datum value, const char *key)
{
	appendStringInfoString(buf, DatumGetBool(value) ? "true" : "false");
}

static void
write_uuid(StringInfo buf, Datum value, const char *key)
{
	char		text[TRAIL_UUID_STRLEN];

	trail_uuid_string(DatumGetUUIDP(value), text);
	appendStringInfo(buf, "\"%s\"", text);
}

static void
write_time(StringInfo buf, Datum value, const char *key)
{
	trail_json_time(buf, DatumGetTimestampTz(value));
}

/*
 * The record's "resources": each element that is an object with only
 * CloudTrail's members, in their order (trail keeps a "name" beside them);
 * anything else as it is.
 */
static void
write_resources(StringInfo buf, Datum value, const char *key)
{
	JsonbContainer *jc = &DatumGetJsonbP(value)->root;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	bool		first = true;

	if (!JsonContainerIsArray(jc) || JsonContainerIsScalar(jc))
	{
		emit_container(buf, jc, key);
		return;
	}
	appendStringInfoChar(buf, '[');
	it = JsonbIteratorInit(jc);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (!first)
			appendStringInfoChar(buf, ',');
		first = false;
		if (v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data))
		{
			const char *const *k;
			bool		first_key = true;

			appendStringInfoChar(buf, '{');
			for (k = resource_keys; *k != NULL; k++)
			{
				JsonbValue	found;

				if (getKeyJsonValueFromContainer(v.val.binary.data, *k, strlen(*k), &found))
					emit_member(buf, &first_key, *k, strlen(*k), &found);
			}
			appendStringInfoChar(buf, '}');
		}
		else
			emit_value(buf, &v, key);
	}
	appendStringInfoChar(buf, ']');
}

/*
 * Start a member of the record: its key, after a comma unless it is the
 * first.
 */
static void
open_member(StringInfo buf, RecordRow *row, const char *key)
{
	appendStringInfo(buf, "%s\"%s\":", row->first ? "" : ",", key);
	row->first = false;
}

/*
 * Is a member listed as absent from an imported record?
 */
static bool
listed_absent(RecordRow *row, const char *key)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;

	if (row->absent == NULL)
		return false;
	it = JsonbIteratorInit(row->absent);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_ELEM && v.type == jbvString &&
			v.val.string.len == strlen(key) &&
			memcmp(v.val.string.val, key, v.val.string.len) == 0)
			return true;
	return false;
}

/*
 * Write a column as a JSON member: null when NULL, or left out entirely
 * when the field is optional (CloudTrail omits absent optional fields).
 * An imported record's member is written as it was imported (see the
 * header): from unknown_fields when it is kept there, left out when it was
 * absent.
 */
static void
member(StringInfo buf, RecordRow *row, RecordColumn c, const char *key,
	   bool optional, ValueWriter write)
{
	bool		isnull;
	Datum		d = column(row, c, &isnull);
	JsonbValue	kept;

	row->written[row->nwritten++] = key;
	if (row->unknown != NULL)
	{
		if (getKeyJsonValueFromContainer(row->unknown, key, strlen(key), &kept))
		{
			open_member(buf, row, key);
			emit_value(buf, &kept, key);
			return;
		}
		if (listed_absent(row, key))
			return;
	}
	if (isnull && (optional || row->imported))
		return;
	open_member(buf, row, key);
	if (isnull)
		appendStringInfoString(buf, "null");
	else
		write(buf, d, key);
}

/*
 * Write the members of an imported record that no column wrote: those
 * trail has no column for.
 */
static void
unknown_members(StringInfo buf, RecordRow *row)
{
	JsonbIterator *it = JsonbIteratorInit(row->unknown);
	JsonbIteratorToken tok;
	JsonbValue	v;
	char	   *key = NULL;
	int			keylen = 0;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		written = false;
		int			i;

		if (tok == WJB_KEY)
		{
			key = v.val.string.val;
			keylen = v.val.string.len;
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		for (i = 0; i < row->nwritten && !written; i++)
			written = (strlen(row->written[i]) == keylen &&
					   memcmp(row->written[i], key, keylen) == 0);
		if (!written &&
			!(keylen == strlen(TRAIL_ABSENT_MEMBERS) &&
			  memcmp(key, TRAIL_ABSENT_MEMBERS, keylen) == 0))
			emit_member(buf, &row->first, key, keylen, &v);
	}
}

/*
 * Write a JSON object's members but those listed in skip, without its
 * closing brace; returns whether it wrote any.
 */
static bool
emit_object_open(StringInfo buf, JsonbContainer *jc, const char *const *skip)
{
	JsonbIterator *it = JsonbIteratorInit(jc);
	JsonbIteratorToken tok;
	JsonbValue	v;
	bool		first = true;
	char	   *key = NULL;
	int			keylen = 0;

	appendStringInfoChar(buf, '{');
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = v.val.string.val;
			keylen = v.val.string.len;
		}
		else if (tok == WJB_VALUE && !key_listed(skip, key, keylen))
			emit_member(buf, &first, key, keylen, &v);
	}
	return !first;
}

/*
 * Write a column that holds a JSON object, left open for a row event's own
 * members (see TrailRowTemplate): cut receives where they go, *empty says
 * whether they need no comma before them.
 */
static void
member_open(StringInfo buf, RecordRow *row, RecordColumn c, const char *key,
			const char *const *skip, int *cut, bool *empty)
{
	bool		isnull;
	Datum		d = column(row, c, &isnull);
	Jsonb	   *j = isnull ? NULL : DatumGetJsonbP(d);

	appendStringInfo(buf, ",\"%s\":", key);
	if (j != NULL && JsonContainerIsObject(&j->root))
		*empty = !emit_object_open(buf, &j->root, skip);
	else
	{
		appendStringInfoChar(buf, '{');
		*empty = true;
	}
	*cut = buf->len;
	appendStringInfoChar(buf, '}');
}

/*
 * Render a row (as trail_render_record) or, with a template to fill in,
 * the statement row of row events with their own parts left out.
 */
static void
render(HeapTupleHeader rec, StringInfo buf, TrailRowTemplate *tpl)
{
	static const char *const no_keys[] = {NULL};
	static const char *const row_extra_keys[] = {"rowImages", "rowEvents", NULL};
	Oid			typid = HeapTupleHeaderGetTypeId(rec);
	int32		typmod = HeapTupleHeaderGetTypMod(rec);
	RecordRow	row;
	bool		isnull;
	Datum		d;
	char	   *category;

	row.tupdesc = lookup_rowtype_tupdesc(typid, typmod);
	row.tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&row.tuple.t_self);
	row.tuple.t_tableOid = InvalidOid;
	row.tuple.t_data = rec;

	if (typid != cached_type)
		resolve_columns(row.tupdesc, typid);

	(void) column(&row, COL_IMPORTED_FROM, &isnull);
	row.imported = !isnull;
	d = column(&row, COL_UNKNOWN_FIELDS, &isnull);
	row.unknown = isnull ? NULL : &DatumGetJsonbP(d)->root;
	row.absent = NULL;
	if (row.unknown != NULL)
	{
		JsonbValue	absent;

		if (getKeyJsonValueFromContainer(row.unknown, TRAIL_ABSENT_MEMBERS,
										 strlen(TRAIL_ABSENT_MEMBERS), &absent) &&
			absent.type == jbvBinary)
			row.absent = absent.val.binary.data;
	}
	row.first = true;
	row.nwritten = 0;

	d = column(&row, COL_EVENT_CATEGORY, &isnull);
	category = isnull ? "" : TextDatumGetCString(d);

	appendStringInfoChar(buf, '{');
	member(buf, &row, COL_EVENT_VERSION, "eventVersion", false, write_text);

	if (strcmp(category, "Insight") == 0)
	{
		/* Insights records: only their own fields (spec section d) */
		member(buf, &row, COL_EVENT_TIME, "eventTime", false, write_time);
		member(buf, &row, COL_REGION, "awsRegion", false, write_text);
		member(buf, &row, COL_EVENT_ID, "eventID", false, write_uuid);
		member(buf, &row, COL_EVENT_TYPE, "eventType", false, write_text);
		member(buf, &row, COL_RECIPIENT_ACCOUNT_ID, "recipientAccountId", false, write_text);
		member(buf, &row, COL_SHARED_EVENT_ID, "sharedEventID", false, write_uuid);
		member(buf, &row, COL_INSIGHT_DETAILS, "insightDetails", false, write_jsonb);
	}
	else
	{
		member(buf, &row, COL_USER_IDENTITY, "userIdentity", false, write_jsonb);
		member(buf, &row, COL_EVENT_TIME, "eventTime", false, write_time);
		member(buf, &row, COL_EVENT_SOURCE, "eventSource", false, write_text);
		member(buf, &row, COL_EVENT_NAME, "eventName", false, write_text);
		member(buf, &row, COL_REGION, "awsRegion", false, write_text);
		member(buf, &row, COL_SOURCE_IP_ADDRESS, "sourceIPAddress", false, write_text);
		member(buf, &row, COL_USER_AGENT, "userAgent", true, write_text);
		member(buf, &row, COL_ERROR_CODE, "errorCode", true, write_text);
		member(buf, &row, COL_ERROR_MESSAGE, "errorMessage", true, write_text);
		if (tpl == NULL)
		{
			member(buf, &row, COL_REQUEST_PARAMETERS, "requestParameters", false, write_jsonb);
			member(buf, &row, COL_RESPONSE_ELEMENTS, "responseElements", false, write_jsonb);
			member(buf, &row, COL_ADDITIONAL_EVENT_DATA, "additionalEventData", true, write_jsonb);
			member(buf, &row, COL_REQUEST_ID, "requestID", false, write_text);
			member(buf, &row, COL_EVENT_ID, "eventID", false, write_uuid);
			member(buf, &row, COL_READ_ONLY, "readOnly", true, write_bool);
			member(buf, &row, COL_RESOURCES, "resources", true, write_resources);
		}
		else
		{
			/* a row event: its statement's, with its own parts added */
			member_open(buf, &row, COL_REQUEST_PARAMETERS, "requestParameters", no_keys,
						&tpl->cut[TRAIL_CUT_PARAMS], &tpl->params_empty);
			appendStringInfoString(buf, ",\"responseElements\":null");
			member_open(buf, &row, COL_ADDITIONAL_EVENT_DATA, "additionalEventData",
						row_extra_keys, &tpl->cut[TRAIL_CUT_EXTRA], &tpl->extra_empty);
			member(buf, &row, COL_REQUEST_ID, "requestID", false, write_text);
			appendStringInfoString(buf, ",\"eventID\":");
			tpl->cut[TRAIL_CUT_EVENT_ID] = buf->len;
			member(buf, &row, COL_READ_ONLY, "readOnly", true, write_bool);
			d = column(&row, COL_RESOURCES, &isnull);
			appendStringInfoString(buf, ",\"resources\":");
			if (isnull)
				appendStringInfoString(buf, "[]");
			else
				write_resources(buf, d, "resources");
			tpl->cut[TRAIL_CUT_RESOURCES] = buf->len - 1;
			tpl->resources_empty = (buf->data[buf->len - 2] == '[');
		}
		member(buf, &row, COL_EVENT_TYPE, "eventType", false, write_text);
		member(buf, &row, COL_MANAGEMENT_EVENT, "managementEvent", true, write_bool);
		member(buf, &row, COL_RECIPIENT_ACCOUNT_ID, "recipientAccountId", false, write_text);
		member(buf, &row, COL_SHARED_EVENT_ID, "sharedEventID", true, write_uuid);
	}
	member(buf, &row, COL_EVENT_CATEGORY, "eventCategory", false, write_text);
	if (strcmp(category, "Insight") != 0)
		member(buf, &row, COL_TLS_DETAILS, "tlsDetails", true, write_jsonb);
	if (row.unknown != NULL)
		unknown_members(buf, &row);
	appendStringInfoChar(buf, '}');

	ReleaseTupleDesc(row.tupdesc);
}

void
trail_render_record(HeapTupleHeader rec, StringInfo buf)
{
	render(rec, buf, NULL);
}

void
trail_render_row_template(HeapTupleHeader statement, TrailRowTemplate *tpl)
{
	StringInfoData buf;

	initStringInfo(&buf);
	render(statement, &buf, tpl);
	tpl->text = buf.data;
	tpl->len = buf.len;
}

/*
 * Append text[from, to) of a template.
 */
static void
append_span(StringInfo buf, const TrailRowTemplate *tpl, int from, int to)
{
	appendBinaryStringInfo(buf, tpl->text + from, to - from);
}

/*
 * Append ,"key":<JSON text> (the comma only when *first is false).
 */
static void
append_json_member(StringInfo buf, bool *first, const char *key, const char *json)
{
	if (json == NULL)
		return;
	appendStringInfo(buf, "%s\"%s\":%s", *first ? "" : ",", key, json);
	*first = false;
}

void
trail_render_row_record(const TrailRowTemplate *tpl, const TrailRowParts *row,
						StringInfo buf)
{
	bool		first;
	char		uuid[TRAIL_UUID_STRLEN];

	append_span(buf, tpl, 0, tpl->cut[TRAIL_CUT_PARAMS]);
	first = tpl->params_empty;
	if (row->partition_name != NULL)
	{
		appendStringInfoString(buf, first ? "\"partitionName\":" : ",\"partitionName\":");
		escape_json(buf, row->partition_name);
		first = false;
	}
	append_json_member(buf, &first, "key", row->row_key);
	append_json_member(buf, &first, "oldImage", row->old_image);
	append_json_member(buf, &first, "newImage", row->new_image);

	append_span(buf, tpl, tpl->cut[TRAIL_CUT_PARAMS], tpl->cut[TRAIL_CUT_EXTRA]);
	trail_uuid_string(row->statement_event_id, uuid);
	appendStringInfo(buf, "%s\"statementEventId\":\"%s\",\"rowNumber\":%d",
					 tpl->extra_empty ? "" : ",", uuid, row->row_number);

	append_span(buf, tpl, tpl->cut[TRAIL_CUT_EXTRA], tpl->cut[TRAIL_CUT_EVENT_ID]);
	trail_uuid_string(row->event_id, uuid);
	appendStringInfo(buf, "\"%s\"", uuid);

	append_span(buf, tpl, tpl->cut[TRAIL_CUT_EVENT_ID], tpl->cut[TRAIL_CUT_RESOURCES]);
	if (row->partition_name != NULL)
	{
		if (!tpl->resources_empty)
			appendStringInfoChar(buf, ',');
		appendStringInfoString(buf, "{\"accountId\":");
		escape_json(buf, trail_account_id());
		appendStringInfoString(buf, ",\"type\":\"PG::Table\",\"ARN\":");
		escape_json(buf, row->partition_arn);
		appendStringInfoChar(buf, '}');
	}
	append_span(buf, tpl, tpl->cut[TRAIL_CUT_RESOURCES], tpl->len);
}

/*
 * SQL: trail.cloudtrail_record(trail.events) RETURNS jsonb
 */
Datum
trail_cloudtrail_record(PG_FUNCTION_ARGS)
{
	HeapTupleHeader rec = PG_GETARG_HEAPTUPLEHEADER(0);
	StringInfoData buf;

	initStringInfo(&buf);
	trail_render_record(rec, &buf);
	PG_RETURN_JSONB_P(trail_jsonb_from_text(buf.data));
}
