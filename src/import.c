/*-------------------------------------------------------------------------
 *
 * import.c
 *	  trail.import_logs(path): CloudTrail log files into trail.events.
 *
 * History kept elsewhere (a bucket copied from AWS with `aws s3 sync`, or
 * a trail's own bucket) is read into the event store, in the caller's
 * transaction, with every field of every record as it was: rendered again
 * by trail.cloudtrail_record(), an imported record is the record imported
 * (equal as jsonb).
 *
 * How a file travels:
 *
 *	- zlib reads it in chunks (gzread; a plain .json file is read as it is),
 *	  and a small scanner finds the text of each record in the chunks: it
 *	  checks the frame {"Records": [ ... ]} itself and, inside a record,
 *	  tracks only strings, escapes and nesting depth to see where the record
 *	  ends.  The record alone is then parsed, so memory never holds more
 *	  than one chunk, one record and one batch, whatever the size of the
 *	  file (CloudTrail's reach 50 MB compressed) or the number of files.
 *	- A record is parsed into a JsonbValue exactly as jsonb_in would parse
 *	  it (its builder, pushJsonbValue, orders keys and keeps a repeated
 *	  key's last value), by a parser of its own that takes about a third
 *	  of jsonb_in's time (fast_parse); what that parser does not
 *	  take (an error to report, a \u escape it does not decode, deep
 *	  nesting) is parsed by jsonb_in itself.
 *	- Each record becomes a row of trail.events (columns by name, so the
 *	  table's column order does not matter), its members taken from the
 *	  parsed value: an object or array becomes jsonb once, for its column
 *	  (there is no jsonb of the whole record).  A member trail has no column
 *	  for (the fields of newer formats) is kept in unknown_fields as it was,
 *	  and so is a member whose column would not give it back exactly (a
 *	  value of another JSON type than the column's, an eventTime with a
 *	  fraction, an upper-case eventID, resources with members beyond
 *	  CloudTrail's three, a member cloudtrail_record() does not write for
 *	  the record's category), beside its column's value; a member the record
 *	  lacks although its column needs a value (eventCategory before format
 *	  1.07) gets a stand-in value and is listed as absent there (record.c
 *	  renders accordingly).
 *	- Rows go in batches of up to a thousand, written straight into the
 *	  partition of their day by the table AM's multi-insert, the way COPY
 *	  writes (bulk_write.c), not through an INSERT statement: its executor,
 *	  partition routing and speculative insertion took half of an import's
 *	  time.  Each row is first looked up in the unique indexes on (event_id,
 *	  event_time) its category has (management and insight events, and
 *	  imported data events), as ON CONFLICT DO NOTHING would: a record
 *	  already in the store, or earlier in the batch, is a counted duplicate.
 *	  The LookupEvents entries (trail.event_resources) of the events written
 *	  follow, the same way.  One import runs at a time (a lock on the
 *	  extension), so that no two find the same record absent.  Per-record
 *	  and per-batch memory contexts are reset as they go.
 *	- Before a batch is inserted, the days it covers get their partitions
 *	  (partition.c, as maintenance makes them): history must not pile up in
 *	  the default partition.  Records older than trail.retention_start() are
 *	  counted and left out, as maintenance would drop them.
 *	- Every row takes the transaction's commit sequence number, like any
 *	  other writer, so that later readers that follow commit_seq see
 *	  imported rows in order; imported rows fire no rule and reach no log
 *	  stream (they are history, not activity).
 *	- Any error (a file that cannot be read, a truncated gzip stream, text
 *	  that is not JSON, a record without eventTime or eventID, an eventID
 *	  that is not a UUID, a top level that is not {"Records": [...]}) names
 *	  the file, and the record's position when there is one; the caller's
 *	  transaction aborts and nothing of the import remains.
 *
 * A directory is walked in sorted order (each directory's entries sorted
 * by name), taking *.json.gz and *.json files except *.meta.json sidecars,
 * and nothing under a CloudTrail-Digest directory (digest files are not
 * records).  Symbolic links inside the tree are not followed (a notice
 * names each): the import reads only what lies in the tree it was given.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <zlib.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_extension.h"
#include "storage/lmgr.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/typcache.h"

#include "bulk_write.h"
#include "catalog.h"
#include "commit_order.h"
#include "context.h"
#include "event.h"
#include "log_validation.h"
#include "partition.h"
#include "record.h"
#include "sql.h"
#include "store.h"
#include "trail.h"

PG_FUNCTION_INFO_V1(trail_import_logs);

/* uncompressed bytes read from a file at a time */
#define READ_CHUNK (64 * 1024)

/* a batch is inserted when it holds this many rows or bytes of records */
#define BATCH_ROWS 1000
#define BATCH_BYTES (8 * 1024 * 1024)

/* the longest record accepted (CloudTrail's are at most a few hundred KB) */
#define MAX_RECORD_BYTES (64 * 1024 * 1024)

/* The columns of trail.events an import fills */
typedef enum ImportColumn
{
	IC_COMMIT_SEQ,
	IC_EVENT_TIME,
	IC_EVENT_ID,
	IC_EVENT_VERSION,
	IC_EVENT_CATEGORY,
	IC_EVENT_TYPE,
	IC_EVENT_SOURCE,
	IC_EVENT_NAME,
	IC_READ_ONLY,
	IC_MANAGEMENT_EVENT,
	IC_REGION,
	IC_RECIPIENT_ACCOUNT_ID,
	IC_USER_IDENTITY,
	IC_USER_NAME,
	IC_ACCESS_KEY_ID,
	IC_SOURCE_IP_ADDRESS,
	IC_USER_AGENT,
	IC_REQUEST_ID,
	IC_REQUEST_PARAMETERS,
	IC_RESPONSE_ELEMENTS,
	IC_ADDITIONAL_EVENT_DATA,
	IC_RESOURCES,
	IC_ERROR_CODE,
	IC_ERROR_MESSAGE,
	IC_TLS_DETAILS,
	IC_SHARED_EVENT_ID,
	IC_INSIGHT_DETAILS,
	IC_IS_GLOBAL,
	IC_IMPORTED_FROM,
	IC_UNKNOWN_FIELDS,
	IC_NCOLUMNS
} ImportColumn;

static const char *const import_column_names[IC_NCOLUMNS] = {
	"commit_seq", "event_time", "event_id", "event_version", "event_category",
	"event_type", "event_source", "event_name", "read_only",
	"management_event", "region", "recipient_account_id", "user_identity",
	"user_name", "access_key_id", "source_ip_address", "user_agent",
	"request_id", "request_parameters", "response_elements",
	"additional_event_data", "resources", "error_code", "error_message",
	"tls_details", "shared_event_id", "insight_details", "is_global",
	"imported_from", "unknown_fields"
};

/* How a record member's JSON value becomes its column's */
typedef enum MemberKind
{
	KIND_TEXT,					/* a JSON string */
	KIND_JSON,					/* any JSON value but null */
	KIND_BOOL,					/* true or false */
	KIND_UUID,					/* a UUID as a JSON string */
	KIND_TIME,					/* "YYYY-MM-DDTHH:MM:SSZ" */
	KIND_RESOURCES				/* the resources array */
} MemberKind;

/* the records cloudtrail_record() writes a member in (record.c) */
#define IN_EVENTS	0x01		/* management and data events */
#define IN_INSIGHTS	0x02		/* Insights records */

/* A record member that has a column */
typedef struct RecordMember
{
	const char *key;
	ImportColumn column;
	MemberKind	kind;
	bool		required;		/* its column is NOT NULL */
	uint8		rendered;		/* IN_EVENTS | IN_INSIGHTS */
} RecordMember;

/* sorted by key (strcmp), for bsearch */
static const RecordMember record_members[] = {
	{"additionalEventData", IC_ADDITIONAL_EVENT_DATA, KIND_JSON, false, IN_EVENTS},
	{"awsRegion", IC_REGION, KIND_TEXT, true, IN_EVENTS | IN_INSIGHTS},
	{"errorCode", IC_ERROR_CODE, KIND_TEXT, false, IN_EVENTS},
	{"errorMessage", IC_ERROR_MESSAGE, KIND_TEXT, false, IN_EVENTS},
	{"eventCategory", IC_EVENT_CATEGORY, KIND_TEXT, true, IN_EVENTS | IN_INSIGHTS},
	{"eventID", IC_EVENT_ID, KIND_UUID, true, IN_EVENTS | IN_INSIGHTS},
	{"eventName", IC_EVENT_NAME, KIND_TEXT, false, IN_EVENTS},
	{"eventSource", IC_EVENT_SOURCE, KIND_TEXT, false, IN_EVENTS},
	{"eventTime", IC_EVENT_TIME, KIND_TIME, true, IN_EVENTS | IN_INSIGHTS},
	{"eventType", IC_EVENT_TYPE, KIND_TEXT, true, IN_EVENTS | IN_INSIGHTS},
	{"eventVersion", IC_EVENT_VERSION, KIND_TEXT, true, IN_EVENTS | IN_INSIGHTS},
	{"insightDetails", IC_INSIGHT_DETAILS, KIND_JSON, false, IN_INSIGHTS},
	{"managementEvent", IC_MANAGEMENT_EVENT, KIND_BOOL, false, IN_EVENTS},
	{"readOnly", IC_READ_ONLY, KIND_BOOL, false, IN_EVENTS},
	{"recipientAccountId", IC_RECIPIENT_ACCOUNT_ID, KIND_TEXT, true, IN_EVENTS | IN_INSIGHTS},
	{"requestID", IC_REQUEST_ID, KIND_TEXT, false, IN_EVENTS},
	{"requestParameters", IC_REQUEST_PARAMETERS, KIND_JSON, false, IN_EVENTS},
	{"resources", IC_RESOURCES, KIND_RESOURCES, false, IN_EVENTS},
	{"responseElements", IC_RESPONSE_ELEMENTS, KIND_JSON, false, IN_EVENTS},
	{"sharedEventID", IC_SHARED_EVENT_ID, KIND_UUID, false, IN_EVENTS | IN_INSIGHTS},
	{"sourceIPAddress", IC_SOURCE_IP_ADDRESS, KIND_TEXT, false, IN_EVENTS},
	{"tlsDetails", IC_TLS_DETAILS, KIND_JSON, false, IN_EVENTS},
	{"userAgent", IC_USER_AGENT, KIND_TEXT, false, IN_EVENTS},
	{"userIdentity", IC_USER_IDENTITY, KIND_JSON, false, IN_EVENTS},
};

#define NUM_RECORD_MEMBERS lengthof(record_members)

/* the members of a resource that cloudtrail_record() writes (record.c) */
static const char *const resource_members[] = {"accountId", "type", "ARN"};

/* Where the scanner stands in a file's text */
typedef enum FrameState
{
	SCAN_OPEN,					/* before the top-level '{' */
	SCAN_KEY,					/* before the key "Records" */
	SCAN_KEY_TEXT,				/* inside that key */
	SCAN_COLON,					/* after the key */
	SCAN_ARRAY,					/* before '[' */
	SCAN_FIRST,					/* after '[': the first record or ']' */
	SCAN_NEXT,					/* after a record: ',' or ']' */
	SCAN_RECORD,				/* after ',': a record */
	SCAN_IN_RECORD,				/* inside a record */
	SCAN_CLOSE,					/* after ']': the closing '}' */
	SCAN_END					/* after it: white space only */
} FrameState;

/* One file being read */
typedef struct ImportFile
{
	const char *path;
	FrameState	state;
	bool		in_string;		/* inside a JSON string of the record */
	bool		escaped;		/* just after a backslash in it */
	int			depth;			/* of objects and arrays in the record */
	StringInfoData key;			/* the top-level key */
	StringInfoData record;		/* the text of the record being scanned */
	int64		record_number;	/* 1, 2, ... */
	int64		offset;			/* uncompressed bytes before the chunk */
	int64		record_offset;	/* where the record started */
} ImportFile;

/* The unique key of an imported event */
typedef struct BatchKey
{
	pg_uuid_t	id;
	TimestampTz time;
} BatchKey;

/* An event of the batch, and whether it was written (not a duplicate) */
typedef struct BatchEvent
{
	BatchKey	key;
	bool		written;
} BatchEvent;

/* One call of trail.import_logs() */
typedef struct ImportRun
{
	/* what it reports */
	int64		files;
	int64		imported;
	int64		duplicates;
	int64		expired;

	TimestampTz retention_start;
	int64		commit_seq;
	TupleDesc	desc;			/* trail.events' row type */
	AttrNumber	attnums[IC_NCOLUMNS];
	TrailLookupTable lookup_table;	/* trail.event_resources */
	Datum	   *values;			/* one row's, desc->natts of them */
	bool	   *nulls;
	Datum		imported_from;	/* the current file's path, as text */

	/* the batch, in batch_cxt */
	MemoryContext batch_cxt;
	MemoryContext record_cxt;	/* reset after each record */
	HeapTuple  *rows;			/* trail.events rows */
	TimestampTz *row_times;
	pg_uuid_t  *row_ids;
	int			nrows;
	Size		batch_bytes;
	Datum	   *lookup_keys;	/* trail.event_resources entries */
	Datum	   *lookup_values;
	Datum	   *lookup_times;
	Datum	   *lookup_ids;
	int			nlookups;
	int			lookups_size;
	HTAB	   *batch_events;	/* its events, by key */

	/* days known to have their partitions, in the run's context */
	TimestampTz *days;
	int			ndays;
	int			days_size;
} ImportRun;

/* the file being imported, for the error context */
static const ImportFile *current_file = NULL;

/*
 * Raise an error about a file, naming it.
 */
static void
file_error(const ImportFile *f, int sqlerrcode, const char *fmt,...)
pg_attribute_printf(3, 4);

static void
file_error(const ImportFile *f, int sqlerrcode, const char *fmt,...)
{
	va_list		args;
	char	   *msg;

	va_start(args, fmt);
	msg = trail_vformat(fmt, args);
	va_end(args);
	ereport(ERROR,
			(errcode(sqlerrcode),
			 errmsg("could not import CloudTrail log file \"%s\": %s", f->path, msg)));
}

/*
 * Raise an error about the record being read, naming the file and where
 * the record is in it; detail may be NULL.
 */
static void
record_error(const ImportFile *f, const char *detail, const char *fmt,...)
pg_attribute_printf(3, 4);

static void
record_error(const ImportFile *f, const char *detail, const char *fmt,...)
{
	va_list		args;
	char	   *msg;

	va_start(args, fmt);
	msg = trail_vformat(fmt, args);
	va_end(args);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("could not import CloudTrail log file \"%s\": record %lld (at byte %lld): %s",
					f->path, (long long) f->record_number,
					(long long) f->record_offset, msg),
			 detail ? errdetail_internal("%s", detail) : 0));
}

/*
 * Error context: the file being imported (errors raised below trail, e.g.
 * while creating partitions or inserting a batch).
 */
static void
import_error_context(void *arg)
{
	if (current_file != NULL)
		errcontext("importing CloudTrail log file \"%s\"", current_file->path);
}

/*
 * The record member of a key, or NULL when trail has no column for it.
 */
static int
member_cmp(const void *key, const void *member)
{
	return strcmp(key, ((const RecordMember *) member)->key);
}

static const RecordMember *
find_member(const char *key, int keylen)
{
	char		name[32];

	if (keylen >= sizeof(name))
		return NULL;
	memcpy(name, key, keylen);
	name[keylen] = '\0';
	return bsearch(name, record_members, NUM_RECORD_MEMBERS,
				   sizeof(RecordMember), member_cmp);
}

/*
 * Parse a CloudTrail time, "YYYY-MM-DDTHH:MM:SSZ" in UTC (a fraction of a
 * second is accepted); false when the text is not one.
 */
static bool
parse_time(const char *s, int len, TimestampTz *out)
{
	static const char layout[] = "dddd-dd-ddTdd:dd:dd";
	struct pg_tm tm;
	fsec_t		fsec = 0;
	int			i;

	if (len < (int) sizeof(layout))
		return false;
	for (i = 0; i < sizeof(layout) - 1; i++)
		if (layout[i] == 'd' ? !isdigit((unsigned char) s[i]) : s[i] != layout[i])
			return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = atoi(s);
	tm.tm_mon = atoi(s + 5);
	tm.tm_mday = atoi(s + 8);
	tm.tm_hour = atoi(s + 11);
	tm.tm_min = atoi(s + 14);
	tm.tm_sec = atoi(s + 17);
	if (s[i] == '.')
	{
		int			scale = 100000;
		int			digits = 0;

		for (i++; i < len && isdigit((unsigned char) s[i]); i++, digits++)
		{
			fsec += (s[i] - '0') * scale;
			scale /= 10;
		}
		if (digits == 0)
			return false;
	}
	if (i != len - 1 || s[i] != 'Z')
		return false;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 ||
		tm.tm_mday < 1 || tm.tm_mday > day_tab[isleap(tm.tm_year)][tm.tm_mon - 1] ||
		tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		return false;
	/* no time zone: the broken-down time is UTC */
	return tm2timestamp(&tm, fsec, NULL, out) == 0;
}

/*
 * Parse a UUID in its 36-character form (either case); false when the
 * text is not one.
 */
static bool
parse_uuid(const char *s, int len, pg_uuid_t *out)
{
	int			i;
	int			n = 0;

	if (len != 36)
		return false;
	for (i = 0; i < 36;)
	{
		int			hi,
					lo;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i++] != '-')
				return false;
			continue;
		}
		hi = tv_hex_value((unsigned char) s[i]);
		lo = tv_hex_value((unsigned char) s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out->data[n++] = (hi << 4) | lo;
		i += 2;
	}
	return true;
}

/*
 * Does a name end with the given suffix?
 */
static bool
ends_with(const char *name, const char *suffix)
{
	size_t		n = strlen(name);
	size_t		s = strlen(suffix);

	return n >= s && strcmp(name + n - s, suffix) == 0;
}

/*
 * Set one column of the row being built.
 */
static void
set_column(ImportRun *run, ImportColumn c, Datum value)
{
	run->values[run->attnums[c] - 1] = value;
	run->nulls[run->attnums[c] - 1] = false;
}

/*
 * Is a column of the row being built NULL?
 */
static bool
column_is_null(ImportRun *run, ImportColumn c)
{
	return run->nulls[run->attnums[c] - 1];
}

/*
 * Add a LookupEvents entry of the event being built to the batch, unless
 * the event has it already (from: its first entry).
 */
static void
add_lookup(ImportRun *run, int from, const char *key, const char *value,
		   int len, TimestampTz t, const pg_uuid_t *id)
{
	MemoryContext oldcxt;
	int			i;

	for (i = from; i < run->nlookups; i++)
		if (VARSIZE_ANY_EXHDR(DatumGetTextPP(run->lookup_values[i])) == len &&
			memcmp(VARDATA_ANY(DatumGetTextPP(run->lookup_values[i])), value, len) == 0 &&
			strcmp(TextDatumGetCString(run->lookup_keys[i]), key) == 0)
			return;

	oldcxt = MemoryContextSwitchTo(run->batch_cxt);
	if (run->nlookups == run->lookups_size)
	{
		int			size = Max(256, run->lookups_size * 2);

		if (run->lookups_size == 0)
		{
			run->lookup_keys = palloc(sizeof(Datum) * size);
			run->lookup_values = palloc(sizeof(Datum) * size);
			run->lookup_times = palloc(sizeof(Datum) * size);
			run->lookup_ids = palloc(sizeof(Datum) * size);
		}
		else
		{
			run->lookup_keys = repalloc(run->lookup_keys, sizeof(Datum) * size);
			run->lookup_values = repalloc(run->lookup_values, sizeof(Datum) * size);
			run->lookup_times = repalloc(run->lookup_times, sizeof(Datum) * size);
			run->lookup_ids = repalloc(run->lookup_ids, sizeof(Datum) * size);
		}
		run->lookups_size = size;
	}
	run->lookup_keys[run->nlookups] = CStringGetTextDatum(key);
	run->lookup_values[run->nlookups] =
		PointerGetDatum(cstring_to_text_with_len(value, len));
	run->lookup_times[run->nlookups] = TimestampTzGetDatum(t);
	run->lookup_ids[run->nlookups] = UUIDPGetDatum(id);
	run->nlookups++;
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Add the LookupEvents entry of one keyed column of the event being built
 * (EventName, EventSource, Username, AccessKeyId), when it has a value.
 */
static void
add_column_lookup(ImportRun *run, ImportColumn c, const char *key,
				  TimestampTz t, const pg_uuid_t *id)
{
	text	   *value;

	if (column_is_null(run, c))
		return;
	value = DatumGetTextPP(run->values[run->attnums[c] - 1]);
	/* no other entry of the event can be this one: from = the end */
	add_lookup(run, run->nlookups, key, VARDATA_ANY(value),
			   VARSIZE_ANY_EXHDR(value), t, id);
}

/*
 * The name of the resource an ARN names, as LookupEvents reports it: the
 * last segment of the ARN's resource part (after its fifth colon, then
 * after the last '/' or ':'), e.g. DbAdmin of
 * arn:aws:iam::123456789012:role/DbAdmin, orders-db of
 * arn:aws:rds:eu-west-1:123456789012:db:orders-db.
 */
static void
arn_resource_name(const char *arn, int len, const char **name, int *namelen)
{
	int			colons = 0;
	int			i;

	*name = arn;
	*namelen = len;
	for (i = 0; i < len; i++)
		if (arn[i] == ':' && ++colons == 5)
		{
			*name = arn + i + 1;
			*namelen = len - i - 1;
			break;
		}
	for (i = *namelen - 2; i >= 0; i--)
		if ((*name)[i] == '/' || (*name)[i] == ':')
		{
			*name += i + 1;
			*namelen -= i + 1;
			break;
		}
}

/*
 * A string member of a resource, or NULL.
 */
static JsonbValue *
resource_string(JsonbContainer *resource, const char *key, JsonbValue *v)
{
	if (getKeyJsonValueFromContainer(resource, key, strlen(key), v) == NULL ||
		v->type != jbvString)
		return NULL;
	return v;
}

/*
 * Push one resource (an object) onto the array being built, with a "name"
 * beside its ARN when it has none (as trail's own resources have it), and
 * add its LookupEvents entries when wanted: ResourceType (its type) and
 * ResourceName (its name).  Returns whether
 * cloudtrail_record() gives it back exactly: it writes only CloudTrail's
 * accountId, type and ARN.
 */
static bool
push_resource(ImportRun *run, JsonbParseState **state, JsonbContainer *resource,
			  bool lookups, int from, TimestampTz t, const pg_uuid_t *id)
{
	JsonbIterator *it = JsonbIteratorInit(resource);
	JsonbIteratorToken tok;
	JsonbValue	v;
	JsonbValue	type;
	JsonbValue	arn;
	JsonbValue	name;
	bool		exact = true;
	bool		has_name;
	bool		has_arn;

	has_name = resource_string(resource, "name", &name) != NULL;
	has_arn = resource_string(resource, "ARN", &arn) != NULL;
	if (!has_name && has_arn)
	{
		name.type = jbvString;
		arn_resource_name(arn.val.string.val, arn.val.string.len,
						  (const char **) &name.val.string.val, &name.val.string.len);
	}

	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			int			i;
			bool		listed = false;

			for (i = 0; i < lengthof(resource_members); i++)
				listed |= (v.val.string.len == strlen(resource_members[i]) &&
						   memcmp(v.val.string.val, resource_members[i],
								  v.val.string.len) == 0);
			exact &= listed;
			pushJsonbValue(state, WJB_KEY, &v);
		}
		else if (tok == WJB_VALUE)
			pushJsonbValue(state, WJB_VALUE, &v);
	}
	if (!has_name && has_arn && name.val.string.len > 0)
	{
		JsonbValue	key;

		key.type = jbvString;
		key.val.string.val = "name";
		key.val.string.len = 4;
		pushJsonbValue(state, WJB_KEY, &key);
		pushJsonbValue(state, WJB_VALUE, &name);
	}
	pushJsonbValue(state, WJB_END_OBJECT, NULL);

	if (lookups)
	{
		if (resource_string(resource, "type", &type) != NULL && type.val.string.len > 0)
			add_lookup(run, from, "ResourceType", type.val.string.val,
					   type.val.string.len, t, id);
		if ((has_name || has_arn) && name.val.string.len > 0)
			add_lookup(run, from, "ResourceName", name.val.string.val,
					   name.val.string.len, t, id);
	}
	return exact;
}

/*
 * A member's value as a container (jbvBinary) to iterate or push: a parsed
 * object or array is converted to jsonb.  False for a scalar.
 */
static bool
as_container(JsonbValue *value, JsonbValue *container)
{
	if (value->type == jbvObject || value->type == jbvArray)
	{
		Jsonb	   *jb = JsonbValueToJsonb(value);

		container->type = jbvBinary;
		container->val.binary.data = &jb->root;
		container->val.binary.len = VARSIZE(jb) - VARHDRSZ;
		return true;
	}
	*container = *value;
	return value->type == jbvBinary;
}

/*
 * Set the resources column from the record's member (see push_resource);
 * returns whether cloudtrail_record() gives the member back exactly.
 */
static bool
set_resources(ImportRun *run, JsonbValue *value, bool lookups,
			  TimestampTz t, const pg_uuid_t *id)
{
	JsonbParseState *state = NULL;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	elem;
	JsonbValue	given;
	JsonbValue *array;
	bool		exact = true;
	int			from = run->nlookups;

	if (value->type == jbvNull)
		return false;
	if (!as_container(value, &given) || !JsonContainerIsArray(given.val.binary.data))
	{
		/* not CloudTrail's shape: kept, and written, as it is */
		set_column(run, IC_RESOURCES, JsonbPGetDatum(JsonbValueToJsonb(value)));
		return true;
	}

	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	it = JsonbIteratorInit(given.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (elem.type == jbvBinary && JsonContainerIsObject(elem.val.binary.data))
			exact &= push_resource(run, &state, elem.val.binary.data, lookups,
								   from, t, id);
		else
			pushJsonbValue(&state, WJB_ELEM, &elem);
	}
	array = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	set_column(run, IC_RESOURCES, JsonbPGetDatum(JsonbValueToJsonb(array)));
	return exact;
}

/*
 * Set a member's column from its JSON value; returns whether
 * cloudtrail_record() gives the member back exactly from the column (if
 * not, the member is kept in unknown_fields as well).  eventTime's column
 * is already set (t); id is the event's id.
 */
static bool
set_member(ImportRun *run, const RecordMember *m, JsonbValue *v,
		   bool lookups, TimestampTz t, const pg_uuid_t *id)
{
	switch (m->kind)
	{
		case KIND_TEXT:
			if (v->type != jbvString)
				return false;
			set_column(run, m->column,
					   PointerGetDatum(cstring_to_text_with_len(v->val.string.val,
																v->val.string.len)));
			return true;
		case KIND_JSON:
			if (v->type == jbvNull)
				return false;
			set_column(run, m->column, JsonbPGetDatum(JsonbValueToJsonb(v)));
			return true;
		case KIND_BOOL:
			if (v->type != jbvBool)
				return false;
			set_column(run, m->column, BoolGetDatum(v->val.boolean));
			return true;
		case KIND_UUID:
			{
				pg_uuid_t  *uuid = palloc(sizeof(pg_uuid_t));
				char		canonical[TRAIL_UUID_STRLEN];

				if (v->type != jbvString ||
					!parse_uuid(v->val.string.val, v->val.string.len, uuid))
					return false;
				set_column(run, m->column, UUIDPGetDatum(uuid));
				trail_uuid_string(uuid, canonical);
				return memcmp(canonical, v->val.string.val, 36) == 0;
			}
		case KIND_TIME:
			{
				StringInfoData canonical;

				initStringInfo(&canonical);
				trail_json_time(&canonical, t);
				/* canonical is quoted */
				return canonical.len == v->val.string.len + 2 &&
					memcmp(canonical.data + 1, v->val.string.val, v->val.string.len) == 0;
			}
		case KIND_RESOURCES:
			return set_resources(run, v, lookups, t, id);
	}
	return false;
}

/*
 * Add a member to unknown_fields (begun on the first).
 */
static void
keep_member(JsonbParseState **unknown, const char *key, int keylen,
			JsonbValue *value)
{
	JsonbValue	k;
	JsonbValue	v;

	if (*unknown == NULL)
		pushJsonbValue(unknown, WJB_BEGIN_OBJECT, NULL);
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = keylen;
	pushJsonbValue(unknown, WJB_KEY, &k);
	(void) as_container(value, &v);
	pushJsonbValue(unknown, WJB_VALUE, &v);
}

/*
 * The value of a record's member, or NULL when it has none.
 */
static JsonbValue *
record_member(JsonbValue *record, const char *key)
{
	int			len = strlen(key);
	int			i;

	for (i = 0; i < record->val.object.nPairs; i++)
	{
		JsonbPair  *pair = &record->val.object.pairs[i];

		if (pair->key.val.string.len == len &&
			memcmp(pair->key.val.string.val, key, len) == 0)
			return &pair->value;
	}
	return NULL;
}

/*
 * The category of a record: its eventCategory, or, in formats before 1.07
 * that have none, what its eventType and managementEvent say.
 */
static const char *
record_category(JsonbValue *record)
{
	JsonbValue *category = record_member(record, "eventCategory");
	JsonbValue *type = record_member(record, "eventType");
	JsonbValue *management = record_member(record, "managementEvent");

	if (category != NULL && category->type == jbvString)
		return pnstrdup(category->val.string.val, category->val.string.len);
	if (type != NULL && type->type == jbvString &&
		type->val.string.len == strlen("AwsCloudTrailInsight") &&
		memcmp(type->val.string.val, "AwsCloudTrailInsight", type->val.string.len) == 0)
		return "Insight";
	if (management != NULL && management->type == jbvBool && !management->val.boolean)
		return "Data";
	return "Management";
}

/*
 * Fill the columns LookupEvents reads from userIdentity: user_name (its
 * userName or, for temporary credentials without one, the session name
 * after the ':' of principalId, as CloudTrail's Event history shows) and
 * access_key_id.
 */
static void
set_identity_columns(ImportRun *run)
{
	JsonbContainer *identity;
	char	   *user;
	char	   *key;

	if (column_is_null(run, IC_USER_IDENTITY))
		return;
	identity = &DatumGetJsonbP(run->values[run->attnums[IC_USER_IDENTITY] - 1])->root;
	if (!JsonContainerIsObject(identity))
		return;
	user = trail_json_member_string(identity, "userName");
	if (user == NULL)
	{
		char	   *principal = trail_json_member_string(identity, "principalId");

		if (principal != NULL && strchr(principal, ':') != NULL)
			user = strchr(principal, ':') + 1;
	}
	if (user != NULL)
		set_column(run, IC_USER_NAME, CStringGetTextDatum(user));
	key = trail_json_member_string(identity, "accessKeyId");
	if (key != NULL)
		set_column(run, IC_ACCESS_KEY_ID, CStringGetTextDatum(key));
}

/*
 * A string member's text for an error message.
 */
static char *
value_text(JsonbValue *v)
{
	if (v->type == jbvString)
		return psprintf("\"%s\"", pnstrdup(v->val.string.val, v->val.string.len));
	return pstrdup("(not a string)");
}

/*
 * The batch's entry of an event (made if new; *found says if it was not).
 */
static BatchEvent *
batch_event(ImportRun *run, const pg_uuid_t *id, TimestampTz time, bool *found)
{
	BatchKey	key;
	BatchEvent *ev;

	if (run->batch_events == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(BatchKey);
		ctl.entrysize = sizeof(BatchEvent);
		ctl.hcxt = run->batch_cxt;
		run->batch_events = hash_create("trail import batch events", BATCH_ROWS, &ctl,
										HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.id = *id;
	key.time = time;
	ev = hash_search(run->batch_events, &key, HASH_ENTER, found);
	if (!*found)
		ev->written = true;
	return ev;
}

/*
 * Turn one parsed record (an object, see parse_record) into a row of the
 * batch, or count it as expired, or as a duplicate when the batch has it
 * already.  Runs in the per-record context; the row is formed in the
 * batch's.
 */
static void
add_record(ImportRun *run, ImportFile *f, JsonbValue *record)
{
	JsonbParseState *unknown = NULL;
	JsonbValue *v;
	TimestampTz event_time;
	pg_uuid_t	id;
	pg_uuid_t  *event_id;
	const char *category;
	bool		insight;
	bool		lookups;
	bool		seen[NUM_RECORD_MEMBERS];
	bool		repeated;
	char		idtext[TRAIL_UUID_STRLEN];
	int			absent = 0;
	int			i;
	MemoryContext oldcxt;
	HeapTuple	tuple;

	/* what every record must have */
	if ((v = record_member(record, "eventTime")) == NULL)
		record_error(f, NULL, "it has no eventTime");
	if (v->type != jbvString ||
		!parse_time(v->val.string.val, v->val.string.len, &event_time))
		record_error(f, NULL, "eventTime %s is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)",
					 value_text(v));
	if ((v = record_member(record, "eventID")) == NULL)
		record_error(f, NULL, "it has no eventID");
	if (v->type != jbvString ||
		!parse_uuid(v->val.string.val, v->val.string.len, &id))
		record_error(f, NULL, "eventID %s is not a UUID", value_text(v));

	if (event_time < run->retention_start)
	{
		run->expired++;
		return;
	}
	/* a record repeated within the batch is a duplicate at once */
	event_id = &batch_event(run, &id, event_time, &repeated)->key.id;
	if (repeated)
	{
		run->duplicates++;
		return;
	}

	category = record_category(record);
	insight = strcmp(category, "Insight") == 0;
	lookups = strcmp(category, "Data") != 0;

	memset(run->nulls, true, sizeof(bool) * run->desc->natts);
	set_column(run, IC_COMMIT_SEQ, Int64GetDatum(run->commit_seq));
	set_column(run, IC_EVENT_TIME, TimestampTzGetDatum(event_time));
	set_column(run, IC_IS_GLOBAL, BoolGetDatum(false));
	set_column(run, IC_IMPORTED_FROM, run->imported_from);

	/* every member: into its column, and kept as it was if need be */
	memset(seen, false, sizeof(seen));
	for (i = 0; i < record->val.object.nPairs; i++)
	{
		JsonbPair  *pair = &record->val.object.pairs[i];
		const RecordMember *m = find_member(pair->key.val.string.val,
											pair->key.val.string.len);

		if (m != NULL)
			seen[m - record_members] = true;
		if (m == NULL ||
			!set_member(run, m, &pair->value, lookups, event_time, event_id) ||
			!(m->rendered & (insight ? IN_INSIGHTS : IN_EVENTS)))
			keep_member(&unknown, pair->key.val.string.val, pair->key.val.string.len,
						&pair->value);
	}

	/* columns that need a value: a stand-in, and absent members listed */
	for (i = 0; i < NUM_RECORD_MEMBERS; i++)
	{
		const RecordMember *m = &record_members[i];
		JsonbValue	name;

		if (!m->required || !column_is_null(run, m->column))
			continue;
		set_column(run, m->column, CStringGetTextDatum(m->column == IC_EVENT_CATEGORY ?
													   category : ""));
		if (seen[i])
			continue;			/* kept in unknown_fields as it was */
		if (unknown == NULL)
			pushJsonbValue(&unknown, WJB_BEGIN_OBJECT, NULL);
		if (absent++ == 0)
		{
			name.type = jbvString;
			name.val.string.val = TRAIL_ABSENT_MEMBERS;
			name.val.string.len = strlen(TRAIL_ABSENT_MEMBERS);
			pushJsonbValue(&unknown, WJB_KEY, &name);
			pushJsonbValue(&unknown, WJB_BEGIN_ARRAY, NULL);
		}
		name.type = jbvString;
		name.val.string.val = (char *) m->key;
		name.val.string.len = strlen(m->key);
		pushJsonbValue(&unknown, WJB_ELEM, &name);
	}
	if (absent > 0)
		pushJsonbValue(&unknown, WJB_END_ARRAY, NULL);
	if (unknown != NULL)
	{
		JsonbValue *kept = pushJsonbValue(&unknown, WJB_END_OBJECT, NULL);

		set_column(run, IC_UNKNOWN_FIELDS, JsonbPGetDatum(JsonbValueToJsonb(kept)));
	}
	set_identity_columns(run);
	if (lookups)
	{
		add_column_lookup(run, IC_EVENT_NAME, "EventName", event_time, event_id);
		add_column_lookup(run, IC_EVENT_SOURCE, "EventSource", event_time, event_id);
		add_column_lookup(run, IC_USER_NAME, "Username", event_time, event_id);
		add_column_lookup(run, IC_ACCESS_KEY_ID, "AccessKeyId", event_time, event_id);
		/* an imported id says nothing of its event's day: an entry finds it */
		trail_uuid_string(event_id, idtext);
		add_lookup(run, run->nlookups, "EventId", idtext, TRAIL_UUID_STRLEN - 1,
				   event_time, event_id);
	}

	oldcxt = MemoryContextSwitchTo(run->batch_cxt);
	tuple = heap_form_tuple(run->desc, run->values, run->nulls);
	run->rows[run->nrows] = tuple;
	run->row_times[run->nrows] = event_time;
	run->row_ids[run->nrows] = id;
	run->nrows++;
	run->batch_bytes += tuple->t_len;
	MemoryContextSwitchTo(oldcxt);
}

/* the deepest nesting the fast parser takes (deeper records go to jsonb_in) */
#define FAST_MAX_DEPTH 64

/* What the fast parser expects next */
typedef enum FastExpect
{
	EXPECT_VALUE,				/* a value */
	EXPECT_KEY,					/* an object's key, after '{' or ',' */
	EXPECT_MORE					/* after a value: ',' or the container's end */
} FastExpect;

/*
 * Skip JSON white space.
 */
static inline const char *
skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/*
 * Can a token end before p: the text ends or a delimiter follows?
 */
static inline bool
token_ends(const char *p, const char *end)
{
	return p == end || *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' ||
		*p == ',' || *p == '}' || *p == ']' || *p == ':';
}

/*
 * Decode the escapes of a JSON string whose text (after its opening quote)
 * starts at p and whose first escape is at esc, into v; returns where the
 * string ends (after its closing quote), or NULL for what jsonb_in is left
 * to judge: an escape JSON does not have, a lone surrogate, \u0000, a code
 * point beyond ASCII in a database not in UTF-8, a control character, or
 * no closing quote.
 */
static const char *
fast_escaped_string(const char *p, const char *esc, const char *end,
					JsonbValue *v)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, p, esc - p);
	p = esc;
	while (p < end && *p != '"')
	{
		const char *run = p;
		int			ch;

		while (p < end && *p != '"' && *p != '\\' && (unsigned char) *p >= 0x20)
			p++;
		appendBinaryStringInfo(&buf, run, p - run);
		if (p == end || *p == '"')
			break;
		if (*p != '\\' || end - p < 2)
			return NULL;
		switch (p[1])
		{
			case '"':
			case '\\':
			case '/':
				appendStringInfoChar(&buf, p[1]);
				break;
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				/* the control character of the same place in "\b\f\n\r\t" */
				appendStringInfoChar(&buf, "\b\f\n\r\t"[strchr("bfnrt", p[1]) - "bfnrt"]);
				break;
			case 'u':
				ch = tv_json_hex4((const unsigned char *) p + 2, (const unsigned char *) end);
				if (ch >= 0xDC00 && ch <= 0xDFFF)
					return NULL;
				if (ch >= 0xD800 && ch <= 0xDBFF)
				{
					int			low;

					/* a surrogate pair: \uD8xx\uDCxx */
					if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
						return NULL;
					low = tv_json_hex4((const unsigned char *) p + 8, (const unsigned char *) end);
					if (low < 0xDC00 || low > 0xDFFF)
						return NULL;
					ch = 0x10000 + (((ch & 0x3FF) << 10) | (low & 0x3FF));
					p += 6;
				}
				if (ch <= 0)
					return NULL;
				if (GetDatabaseEncoding() == PG_UTF8)
				{
					unsigned char utf8[4];

					unicode_to_utf8(ch, utf8);
					appendBinaryStringInfo(&buf, (char *) utf8, pg_utf_mblen(utf8));
				}
				else if (ch <= 0x7F)
					appendStringInfoChar(&buf, (char) ch);
				else
					return NULL;
				p += 4;
				break;
			default:
				return NULL;
		}
		p += 2;
	}
	if (p == end)
		return NULL;
	v->type = jbvString;
	v->val.string.val = buf.data;
	v->val.string.len = buf.len;
	return p + 1;
}

/*
 * Parse the JSON string whose opening quote is at p into v (which points
 * into the text when the string has no escape); returns where it ends, or
 * NULL as fast_escaped_string does.
 */
static inline const char *
fast_string(const char *p, const char *end, JsonbValue *v)
{
	const char *q;

	for (q = ++p; q < end; q++)
	{
		if (*q == '"')
		{
			v->type = jbvString;
			v->val.string.val = (char *) p;
			v->val.string.len = q - p;
			return q + 1;
		}
		if (*q == '\\')
			return fast_escaped_string(p, q, end, v);
		if ((unsigned char) *q < 0x20)
			return NULL;
	}
	return NULL;
}

/*
 * Parse the JSON number at p into v (numeric_in, as jsonb_in does); returns
 * where it ends, or NULL when it is not one JSON allows.
 */
static const char *
fast_number(const char *p, const char *end, JsonbValue *v)
{
	const char *start = p;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
		while (p < end && isdigit((unsigned char) *p))
			p++;
	else
		return NULL;
	if (p < end && *p == '.')
	{
		if (++p == end || !isdigit((unsigned char) *p))
			return NULL;
		while (p < end && isdigit((unsigned char) *p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !isdigit((unsigned char) *p))
			return NULL;
		while (p < end && isdigit((unsigned char) *p))
			p++;
	}
	if (!token_ends(p, end))
		return NULL;
	v->type = jbvNumeric;
	v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
														 CStringGetDatum(pnstrdup(start, p - start)),
														 ObjectIdGetDatum(InvalidOid),
														 Int32GetDatum(-1)));
	return p;
}

/*
 * Parse a record's text (an object) as jsonb_in would, into a JsonbValue:
 * pushJsonbValue, jsonb_in's own builder, sorts each object's keys and
 * keeps a repeated key's last value.  It takes about a third of the time
 * of jsonb_in, whose lexer copies strings a character at a time: here
 * strings without escapes are used where they lie in the text.  Returns NULL when
 * the text is not plain valid JSON (see fast_escaped_string) or is nested
 * deeper than FAST_MAX_DEPTH, for jsonb_in to parse or reject.
 */
static JsonbValue *
fast_parse(const char *p, const char *end)
{
	JsonbParseState *state = NULL;
	JsonbValue *result = NULL;
	bool		in_object[FAST_MAX_DEPTH];
	int			depth = 0;
	FastExpect	expect = EXPECT_VALUE;

	p = skip_space(p, end);
	if (p == end || *p != '{')
		return NULL;
	for (;;)
	{
		JsonbValue	v;
		bool		container_end = false;

		p = skip_space(p, end);
		if (p == end)
			return NULL;
		if (expect == EXPECT_KEY)
		{
			if (*p != '"' || (p = fast_string(p, end, &v)) == NULL)
				return NULL;
			p = skip_space(p, end);
			if (p == end || *p != ':')
				return NULL;
			p++;
			pushJsonbValue(&state, WJB_KEY, &v);
			expect = EXPECT_VALUE;
			continue;
		}
		if (expect == EXPECT_MORE)
		{
			if (*p == ',')
				expect = in_object[depth - 1] ? EXPECT_KEY : EXPECT_VALUE;
			else if (*p == (in_object[depth - 1] ? '}' : ']'))
				container_end = true;
			else
				return NULL;
			p++;
		}
		else if (*p == '{' || *p == '[')
		{
			if (depth == FAST_MAX_DEPTH)
				return NULL;
			in_object[depth++] = (*p == '{');
			pushJsonbValue(&state, *p == '{' ? WJB_BEGIN_OBJECT : WJB_BEGIN_ARRAY, NULL);
			p = skip_space(p + 1, end);
			if (p < end && *p == (in_object[depth - 1] ? '}' : ']'))
			{
				container_end = true;
				p++;
			}
			else
				expect = in_object[depth - 1] ? EXPECT_KEY : EXPECT_VALUE;
		}
		else
		{
			/* a scalar */
			if (*p == '"')
				p = fast_string(p, end, &v);
			else if (*p == '-' || isdigit((unsigned char) *p))
				p = fast_number(p, end, &v);
			else if (end - p >= 4 && memcmp(p, "null", 4) == 0)
			{
				v.type = jbvNull;
				p += 4;
			}
			else if (end - p >= 4 && memcmp(p, "true", 4) == 0)
			{
				v.type = jbvBool;
				v.val.boolean = true;
				p += 4;
			}
			else if (end - p >= 5 && memcmp(p, "false", 5) == 0)
			{
				v.type = jbvBool;
				v.val.boolean = false;
				p += 5;
			}
			else
				return NULL;
			if (p == NULL || !token_ends(p, end))
				return NULL;
			pushJsonbValue(&state, in_object[depth - 1] ? WJB_VALUE : WJB_ELEM, &v);
			expect = EXPECT_MORE;
		}
		if (container_end)
		{
			result = pushJsonbValue(&state, in_object[--depth] ? WJB_END_OBJECT : WJB_END_ARRAY, NULL);
			if (depth == 0)
				return skip_space(p, end) == end ? result : NULL;
			expect = EXPECT_MORE;
		}
	}
}

/*
 * A parsed record as an object whose members are in jsonb's order, from
 * jsonb_in's result: its nested objects and arrays as jbvBinary.
 */
static JsonbValue *
record_from_jsonb(Jsonb *jb)
{
	JsonbValue *record = palloc(sizeof(JsonbValue));
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			n = 0;

	record->type = jbvObject;
	record->val.object.pairs = palloc(sizeof(JsonbPair) * Max(1, JsonContainerSize(&jb->root)));
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			record->val.object.pairs[n].key = v;
		else if (tok == WJB_VALUE)
			record->val.object.pairs[n++].value = v;
	}
	record->val.object.nPairs = n;
	return record;
}

/*
 * Parse the text of the record just scanned into an object (fast_parse,
 * or jsonb_in when it declines), naming the file and the record if it is
 * not valid UTF-8 JSON.
 */
static JsonbValue *
parse_record(ImportFile *f)
{
	MemoryContext cxt = CurrentMemoryContext;
	JsonbValue *record = NULL;

	PG_TRY();
	{
		char	   *text = pg_any_to_server(f->record.data, f->record.len, PG_UTF8);
		int			len = text == f->record.data ? f->record.len : strlen(text);

		record = fast_parse(text, text + len);
		if (record == NULL)
			record = record_from_jsonb(DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																		  CStringGetDatum(text))));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		record_error(f, edata->detail, "%s", edata->message);
	}
	PG_END_TRY();
	return record;
}

/*
 * Days of the batch's rows that may have no partition yet get theirs.
 */
static void
prepare_partitions(ImportRun *run)
{
	TimestampTz *wanted = palloc(sizeof(TimestampTz) * run->nrows);
	int			nwanted = 0;
	int			i;

	for (i = 0; i < run->nrows; i++)
	{
		TimestampTz day = trail_utc_day_start(run->row_times[i]);
		bool		known = false;
		int			j;

		for (j = run->ndays - 1; j >= 0 && !known; j--)
			known = (run->days[j] == day);
		for (j = 0; j < nwanted && !known; j++)
			known = (wanted[j] == day);
		if (known)
			continue;
		if (strcmp(get_rel_name(trail_partition_for("events", day)), "events_default") == 0)
			wanted[nwanted++] = day;
		else
		{
			if (run->ndays == run->days_size)
			{
				run->days_size *= 2;
				run->days = repalloc(run->days, sizeof(TimestampTz) * run->days_size);
			}
			run->days[run->ndays++] = day;
		}
	}
	/* made now, known from the next batch on by the check above */
	trail_partition_days(wanted, nwanted, "import");
	pfree(wanted);
}

/*
 * Write the rows of the batch that fall in one partition (rows[first..],
 * those of the day of rows[first] not yet written), skipping those already
 * in the store, and note which were written in the batch's events.
 */
static void
write_day(ImportRun *run, int first, bool *done)
{
	TimestampTz day = trail_utc_day_start(run->row_times[first]);
	HeapTuple  *tuples = palloc(sizeof(HeapTuple) * run->nrows);
	int		   *which = palloc(sizeof(int) * run->nrows);
	bool	   *written = palloc(sizeof(bool) * run->nrows);
	int			n = 0;
	int			i;

	for (i = first; i < run->nrows; i++)
	{
		if (done[i] || trail_utc_day_start(run->row_times[i]) != day)
			continue;
		done[i] = true;
		which[n] = i;
		tuples[n++] = run->rows[i];
	}
	run->imported += trail_bulk_write(trail_partition_for("events", day),
									  TRAIL_ROWS_OTHER, run->desc, tuples, n,
									  written);
	for (i = 0; i < n; i++)
	{
		bool		found;

		if (written[i])
			continue;
		run->duplicates++;
		batch_event(run, &run->row_ids[which[i]], run->row_times[which[i]],
					&found)->written = false;
	}
}

/*
 * Write the LookupEvents entries of the batch's events that were written
 * (a duplicate's entries are in the store with it).
 */
static void
write_lookups(ImportRun *run)
{
	HeapTuple  *tuples = palloc(sizeof(HeapTuple) * run->nlookups);
	int			n = 0;
	int			i;

	for (i = 0; i < run->nlookups; i++)
	{
		bool		found;
		TimestampTz t = DatumGetTimestampTz(run->lookup_times[i]);

		if (!batch_event(run, DatumGetUUIDP(run->lookup_ids[i]), t, &found)->written)
			continue;
		tuples[n++] = trail_lookup_tuple(&run->lookup_table, run->lookup_keys[i],
										 run->lookup_values[i], run->lookup_times[i],
										 run->lookup_ids[i]);
	}
	if (n > 0)
		(void) trail_bulk_write(run->lookup_table.relid, TRAIL_ROWS_OTHER,
								run->lookup_table.desc, tuples, n, NULL);
}

/*
 * Write the batch, each day's rows into the day's partition, then the
 * LookupEvents entries of those written; then start a new batch.
 */
static void
insert_batch(ImportRun *run)
{
	MemoryContext oldcxt;
	bool	   *done;
	int			i;

	if (run->nrows == 0)
		return;
	prepare_partitions(run);

	oldcxt = MemoryContextSwitchTo(run->batch_cxt);
	done = palloc0(sizeof(bool) * run->nrows);
	for (i = 0; i < run->nrows; i++)
		if (!done[i])
			write_day(run, i, done);
	write_lookups(run);
	MemoryContextSwitchTo(oldcxt);

	MemoryContextReset(run->batch_cxt);
	run->nrows = 0;
	run->batch_bytes = 0;
	run->nlookups = 0;
	run->lookups_size = 0;
	run->batch_events = NULL;
}

/*
 * A record's text is complete: add it to the batch, which is inserted
 * when full.
 */
static void
record_done(ImportRun *run, ImportFile *f)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(run->record_cxt);

	add_record(run, f, parse_record(f));
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(run->record_cxt);
	if (run->nrows >= BATCH_ROWS || run->batch_bytes >= BATCH_BYTES)
		insert_batch(run);
}

/*
 * Where the run of plain characters of a JSON string that starts at buf[i]
 * ends: the position before the next quote or backslash (or the chunk's
 * last byte).  Records are mostly strings: memchr skips them much faster
 * than a byte at a time.
 */
static int
string_run_end(const char *buf, int i, int len)
{
	const char *quote = memchr(buf + i, '"', len - i);
	const char *backslash = memchr(buf + i, '\\', (quote ? quote - buf : len) - i);
	const char *end = backslash ? backslash : quote;

	return (end ? end - buf : len) - 1;
}

/*
 * The text of the frame is not {"Records": [...]}.
 */
static void
not_a_log_file(ImportFile *f)
{
	file_error(f, ERRCODE_INVALID_TEXT_REPRESENTATION,
			   "it is not a CloudTrail log file: the top level is not {\"Records\": [...]}");
}

/*
 * Scan one chunk of a file's text: the frame around the records is
 * checked here, each record's text is collected and handed on.
 */
static void
scan_chunk(ImportRun *run, ImportFile *f, const char *buf, int len)
{
	int			i = 0;

	while (i < len)
	{
		char		c = buf[i];

		if (f->state == SCAN_IN_RECORD)
		{
			int			start = i;

			for (; i < len; i++)
			{
				c = buf[i];
				if (f->in_string)
				{
					if (f->escaped)
						f->escaped = false;
					else if (c == '\\')
						f->escaped = true;
					else if (c == '"')
						f->in_string = false;
					else
						i = string_run_end(buf, i, len);
				}
				else if (c == '"')
					f->in_string = true;
				else if (c == '{' || c == '[')
					f->depth++;
				else if ((c == '}' || c == ']') && --f->depth == 0)
				{
					i++;
					break;
				}
			}
			if ((Size) f->record.len + (i - start) > MAX_RECORD_BYTES)
				record_error(f, NULL, "it is longer than %d MB", MAX_RECORD_BYTES / (1024 * 1024));
			appendBinaryStringInfo(&f->record, buf + start, i - start);
			if (f->depth == 0)
			{
				record_done(run, f);
				f->state = SCAN_NEXT;
			}
			continue;
		}
		if (f->state == SCAN_KEY_TEXT)
		{
			if (c == '"')
			{
				if (strcmp(f->key.data, "Records") != 0)
					not_a_log_file(f);
				f->state = SCAN_COLON;
			}
			else if (f->key.len > 16)
				not_a_log_file(f);
			else
				appendStringInfoChar(&f->key, c);
			i++;
			continue;
		}
		i++;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		switch (f->state)
		{
			case SCAN_OPEN:
			case SCAN_KEY:
			case SCAN_COLON:
			case SCAN_ARRAY:
				/* the frame's punctuation, one expected character each */
				if (c != (f->state == SCAN_OPEN ? '{' : f->state == SCAN_KEY ? '"' :
						  f->state == SCAN_COLON ? ':' : '['))
					not_a_log_file(f);
				f->state++;
				break;
			case SCAN_FIRST:
			case SCAN_NEXT:
			case SCAN_RECORD:
				if (c == ']' && f->state != SCAN_RECORD)
					f->state = SCAN_CLOSE;
				else if (c == ',' && f->state == SCAN_NEXT)
					f->state = SCAN_RECORD;
				else if (c == '{' && f->state != SCAN_NEXT)
				{
					/* the record starts here: the loop above reads it */
					i--;
					f->record_number++;
					f->record_offset = f->offset + i;
					resetStringInfo(&f->record);
					f->state = SCAN_IN_RECORD;
				}
				else
				{
					f->record_number++;
					f->record_offset = f->offset + i - 1;
					record_error(f, NULL, f->state == SCAN_NEXT ?
								 "a record must be followed by ',' or ']'" :
								 "it is not a JSON object");
				}
				break;
			case SCAN_CLOSE:
				if (c != '}')
					not_a_log_file(f);
				f->state = SCAN_END;
				break;
			case SCAN_END:
				file_error(f, ERRCODE_INVALID_TEXT_REPRESENTATION,
						   "it has more text after its {\"Records\": [...]}");
				break;
			case SCAN_KEY_TEXT:
			case SCAN_IN_RECORD:
				break;			/* handled above */
		}
	}
}

/*
 * Import one file.
 */
static void
import_file(ImportRun *run, const char *path)
{
	MemoryContext file_cxt = AllocSetContextCreate(CurrentMemoryContext,
												   "trail import file",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(file_cxt);
	ImportFile	f;
	char	   *chunk = palloc(READ_CHUNK);
	gzFile		gz;

	memset(&f, 0, sizeof(f));
	f.path = path;
	f.state = SCAN_OPEN;
	initStringInfo(&f.key);
	initStringInfo(&f.record);
	run->imported_from = CStringGetTextDatum(path);

	gz = gzopen(path, "rb");
	if (gz == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not import CloudTrail log file \"%s\": could not open it: %m",
						path)));
	current_file = &f;
	PG_TRY();
	{
		int			n;
		int			zerr;
		const char *zmsg;

		(void) gzbuffer(gz, 4 * READ_CHUNK);
		while ((n = gzread(gz, chunk, READ_CHUNK)) > 0)
		{
			scan_chunk(run, &f, chunk, n);
			f.offset += n;
			CHECK_FOR_INTERRUPTS();
		}
		zmsg = gzerror(gz, &zerr);
		if (n < 0 || zerr != Z_OK)
		{
			if (zerr == Z_ERRNO)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not import CloudTrail log file \"%s\": could not read it: %m",
								path)));
			/* zlib's message starts with the path, which ours names */
			if (strncmp(zmsg, path, strlen(path)) == 0 &&
				strncmp(zmsg + strlen(path), ": ", 2) == 0)
				zmsg += strlen(path) + 2;
			file_error(&f, ERRCODE_DATA_CORRUPTED,
					   "it is not a complete gzip file (%s)", zmsg);
		}
		if (f.state == SCAN_IN_RECORD)
			record_error(&f, NULL, "the file ends inside it");
		if (f.state == SCAN_OPEN && f.offset == 0)
			file_error(&f, ERRCODE_INVALID_TEXT_REPRESENTATION, "it is empty");
		if (f.state != SCAN_END)
			file_error(&f, ERRCODE_INVALID_TEXT_REPRESENTATION,
					   "it ends before its {\"Records\": [...]} is closed");
	}
	PG_FINALLY();
	{
		current_file = NULL;
		gzclose(gz);
	}
	PG_END_TRY();

	run->files++;
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(file_cxt);
}

/*
 * list_sort comparator for names.
 */
static int
name_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/*
 * Import the log files of a directory tree, in sorted order (see the
 * header for what is taken).
 */
static void
import_tree(ImportRun *run, const char *dir)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "trail import directory",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	List	   *names = NIL;
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;
	ListCell   *lc;

	while ((de = ReadDir(d, dir)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			names = lappend(names, pstrdup(de->d_name));
	FreeDir(d);
	list_sort(names, name_cmp);

	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		char	   *path = psprintf("%s/%s", dir, name);
		struct stat st;

		if (lstat(path, &st) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not import CloudTrail log files: could not stat \"%s\": %m",
							path)));
		if (S_ISLNK(st.st_mode))
			ereport(NOTICE,
					(errmsg("skipping symbolic link \"%s\": the import does not follow links",
							path)));
		else if (S_ISDIR(st.st_mode))
		{
			/* digest files are not records */
			if (strcmp(name, "CloudTrail-Digest") != 0)
				import_tree(run, path);
		}
		else if (S_ISREG(st.st_mode) &&
				 (ends_with(name, ".json.gz") || ends_with(name, ".json")) &&
				 !ends_with(name, ".meta.json"))
			import_file(run, path);
		pfree(path);
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
}

/*
 * Superusers may import, and members of both pg_read_server_files (the
 * files are the server's) and trail_admin (it writes the event store).
 */
static void
check_privileges(void)
{
	Oid			admin = get_role_oid("trail_admin", true);

	if (superuser())
		return;
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES) ||
		!OidIsValid(admin) || !has_privs_of_role(GetUserId(), admin))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to import CloudTrail log files"),
				 errdetail("Only superusers and members of both pg_read_server_files and trail_admin may import log files.")));
}

/*
 * Set up a run: the row types of trail.events and trail.event_resources
 * and where their columns are, the retention start, the commit sequence
 * number, memory, and the lock that keeps other imports out.
 */
static void
start_run(ImportRun *run)
{
	const TrailCatalog *cat = trail_require_catalog();
	bool		isnull;
	int			c;

	/*
	 * One import at a time: a record two imports both found absent would
	 * make the second fail on the unique index instead of skipping it
	 * (bulk_write.c).  The extension's own lock, so that nothing else waits.
	 */
	LockDatabaseObject(ExtensionRelationId, cat->extension_oid, 0,
					   ShareUpdateExclusiveLock);

	memset(run, 0, sizeof(*run));
	run->retention_start = DatumGetTimestampTz(trail_sql_run("SELECT trail.retention_start()",
															  0, NULL, NULL, NULL,
															  CurrentMemoryContext, &isnull));
	run->commit_seq = trail_commit_seq();

	run->desc = lookup_rowtype_tupdesc_copy(get_rel_type_id(cat->events_relid), -1);
	for (c = 0; c < IC_NCOLUMNS; c++)
	{
		run->attnums[c] = get_attnum(cat->events_relid, import_column_names[c]);
		if (run->attnums[c] == InvalidAttrNumber)
			elog(ERROR, "trail: column \"%s\" is missing from trail.events",
				 import_column_names[c]);
	}
	run->values = palloc(sizeof(Datum) * run->desc->natts);
	run->nulls = palloc(sizeof(bool) * run->desc->natts);
	trail_lookup_table(cat, &run->lookup_table);
	run->rows = palloc(sizeof(HeapTuple) * BATCH_ROWS);
	run->row_times = palloc(sizeof(TimestampTz) * BATCH_ROWS);
	run->row_ids = palloc(sizeof(pg_uuid_t) * BATCH_ROWS);
	run->days_size = 16;
	run->days = palloc(sizeof(TimestampTz) * run->days_size);
	/*
	 * Both are reset again and again.  Their first block, which a reset
	 * keeps, holds a common batch or record: without it, each reset gave the
	 * memory back to the system and the next record faulted it in again
	 * (40,000 page faults for 50,000 records).
	 */
	run->batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "trail import batch",
										   BATCH_BYTES, BATCH_BYTES, ALLOCSET_DEFAULT_MAXSIZE);
	run->record_cxt = AllocSetContextCreate(CurrentMemoryContext, "trail import record",
											256 * 1024, 256 * 1024, ALLOCSET_DEFAULT_MAXSIZE);
}

/*
 * SQL: trail.import_logs(path) RETURNS (files, records_imported,
 * duplicates_skipped, expired_skipped).
 */
Datum
trail_import_logs(PG_FUNCTION_ARGS)
{
	char	   *given = text_to_cstring(PG_GETARG_TEXT_PP(0));
	MemoryContext import_cxt;
	MemoryContext oldcxt;
	ImportRun	run;
	ErrorContextCallback errcb;
	TupleDesc	result_desc;
	Datum		result[4];
	bool		result_nulls[4] = {false, false, false, false};
	StringInfoData params;
	struct stat st;
	char	   *path;

	(void) trail_require_catalog();
	check_privileges();
	PreventCommandIfReadOnly("trail.import_logs()");
	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "trail: import_logs must return a record");

	/* relative paths are the data directory's, like the server's own */
	path = is_absolute_path(given) ? pstrdup(given) : psprintf("%s/%s", DataDir, given);
	canonicalize_path(path);
	if (stat(path, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not import CloudTrail log files from \"%s\": %m", path)));
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("could not import CloudTrail log files from \"%s\": it is neither a file nor a directory",
						path)));

	/* the call is an event of its own, before the events it imports */
	initStringInfo(&params);
	appendStringInfoString(&params, "{\"path\":");
	escape_json(&params, given);
	appendStringInfoChar(&params, '}');
	trail_store_api_call("StartImport", params.data, "PG::EventDataStore",
						 trail_arn(TRAIL_SERVICE_NAME, trail_region(),
								   psprintf("eventdatastore/%s", trail_region())),
						 trail_region());

	import_cxt = AllocSetContextCreate(CurrentMemoryContext, "trail import",
									   ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(import_cxt);
	start_run(&run);

	errcb.callback = import_error_context;
	errcb.arg = NULL;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	if (S_ISDIR(st.st_mode))
		import_tree(&run, path);
	else
		import_file(&run, path);
	insert_batch(&run);

	error_context_stack = errcb.previous;
	MemoryContextSwitchTo(oldcxt);

	result[0] = Int64GetDatum(run.files);
	result[1] = Int64GetDatum(run.imported);
	result[2] = Int64GetDatum(run.duplicates);
	result[3] = Int64GetDatum(run.expired);
	MemoryContextDelete(import_cxt);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(result_desc),
													  result, result_nulls)));
}
