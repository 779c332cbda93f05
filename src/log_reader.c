/*-------------------------------------------------------------------------
 *
 * log_reader.c
 *	  Reading CloudTrail log files: the rows of trail.events their records
 *	  become.
 *
 * The reading half of trail.import_logs() (import.c writes).  It sends
 * what it reads as messages to a sink (log_reader.h): each file's name,
 * each record's row with its LookupEvents entries, notices, and its totals.
 * The sink is the importing backend itself, or a queue to it when a
 * background worker reads (import_worker.c), so the reader touches no
 * table and no catalog: the row type comes with the target.
 *
 * How a file travels:
 *
 *	- zlib reads it in chunks (gzread; a plain .json file is read as it is),
 *	  and a small scanner finds the text of each record in the chunks: it
 *	  checks the frame {"Records": [ ... ]} itself and, inside a record,
 *	  tracks only strings, escapes and nesting depth to see where the record
 *	  ends.  The record alone is then parsed, so memory never holds more
 *	  than one chunk and one record, whatever the size of the file
 *	  (CloudTrail's reach 50 MB compressed) or the number of files.
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
 *	  renders accordingly).  Records older than the target's retention start
 *	  are counted and left out, as maintenance would drop them.
 *	- Any error (a file that cannot be read, a truncated gzip stream, text
 *	  that is not JSON, a record without eventTime or eventID, an eventID
 *	  that is not a UUID, a top level that is not {"Records": [...]}) names
 *	  the file, and the record's position when there is one.
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
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "event.h"
#include "log_reader.h"
#include "log_validation.h"
#include "record.h"
#include "trail.h"

/* uncompressed bytes read from a file at a time */
#define READ_CHUNK (64 * 1024)

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

/* One call of trail_log_read() */
typedef struct LogReader
{
	const TrailLogTarget *target;
	AttrNumber	attnums[IC_NCOLUMNS];	/* of the target's columns */
	Datum	   *values;			/* the row being built */
	bool	   *nulls;
	Datum		imported_from;	/* the current file's path, as text */
	TrailLogLookup *lookups;	/* the row's LookupEvents entries */
	int			nlookups;
	int			lookups_size;
	MemoryContext record_cxt;	/* reset after each record */
	StringInfoData msg;			/* a message being built */
	TrailLogTotals totals;
	TrailLogSink sink;
	void	   *sink_arg;
} LogReader;

/*
 * Raise an error about a file, naming it, and, in_record, where the record
 * being read starts in it; detail may be NULL.  Called through file_error
 * and record_error.
 */
static void
read_error(const ImportFile *f, int sqlerrcode, const char *detail,
		   bool in_record, const char *fmt,...)
pg_attribute_printf(5, 6) pg_attribute_noreturn();

static void
read_error(const ImportFile *f, int sqlerrcode, const char *detail,
		   bool in_record, const char *fmt,...)
{
	va_list		args;
	char	   *msg;

	va_start(args, fmt);
	msg = trail_vformat(fmt, args);
	va_end(args);
	if (in_record)
		msg = psprintf("record %lld (at byte %lld): %s", (long long) f->record_number,
					   (long long) f->record_offset, msg);
	ereport(ERROR,
			(errcode(sqlerrcode),
			 errmsg("could not import CloudTrail log file \"%s\": %s", f->path, msg),
			 detail ? errdetail_internal("%s", detail) : 0));
}

#define file_error(f, sqlerrcode, ...) \
	read_error(f, sqlerrcode, NULL, false, __VA_ARGS__)
#define record_error(f, detail, ...) \
	read_error(f, ERRCODE_INVALID_TEXT_REPRESENTATION, detail, true, __VA_ARGS__)

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
set_column(LogReader *rd, ImportColumn c, Datum value)
{
	rd->values[rd->attnums[c] - 1] = value;
	rd->nulls[rd->attnums[c] - 1] = false;
}

/*
 * Is a column of the row being built NULL?
 */
static bool
column_is_null(LogReader *rd, ImportColumn c)
{
	return rd->nulls[rd->attnums[c] - 1];
}

/*
 * Add a LookupEvents entry to the row being built, unless the row has it
 * already (from: the first entry to compare with).  The key is a constant;
 * the value lies in the record's memory.
 */
static void
add_lookup(LogReader *rd, int from, const char *key, const char *value,
		   int len)
{
	int			i;

	for (i = from; i < rd->nlookups; i++)
		if (rd->lookups[i].len == len &&
			memcmp(rd->lookups[i].value, value, len) == 0 &&
			strcmp(rd->lookups[i].key, key) == 0)
			return;
	if (rd->nlookups == rd->lookups_size)
	{
		rd->lookups_size *= 2;
		rd->lookups = repalloc(rd->lookups, sizeof(TrailLogLookup) * rd->lookups_size);
	}
	rd->lookups[rd->nlookups].key = key;
	rd->lookups[rd->nlookups].keylen = strlen(key);
	rd->lookups[rd->nlookups].value = value;
	rd->lookups[rd->nlookups].len = len;
	rd->nlookups++;
}

/*
 * Add the LookupEvents entry of one keyed column of the event being built
 * (EventName, EventSource, Username, AccessKeyId), when it has a value.
 */
static void
add_column_lookup(LogReader *rd, ImportColumn c, const char *key)
{
	text	   *value;

	if (column_is_null(rd, c))
		return;
	value = DatumGetTextPP(rd->values[rd->attnums[c] - 1]);
	/* no other entry of the event can be this one: from = the end */
	add_lookup(rd, rd->nlookups, key, VARDATA_ANY(value),
			   VARSIZE_ANY_EXHDR(value));
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
push_resource(LogReader *rd, JsonbParseState **state, JsonbContainer *resource,
			  bool lookups, int from)
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
			add_lookup(rd, from, "ResourceType", type.val.string.val,
					   type.val.string.len);
		if ((has_name || has_arn) && name.val.string.len > 0)
			add_lookup(rd, from, "ResourceName", name.val.string.val,
					   name.val.string.len);
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
set_resources(LogReader *rd, JsonbValue *value, bool lookups)
{
	JsonbParseState *state = NULL;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	elem;
	JsonbValue	given;
	JsonbValue *array;
	bool		exact = true;
	int			from = rd->nlookups;

	if (value->type == jbvNull)
		return false;
	if (!as_container(value, &given) || !JsonContainerIsArray(given.val.binary.data))
	{
		/* not CloudTrail's shape: kept, and written, as it is */
		set_column(rd, IC_RESOURCES, JsonbPGetDatum(JsonbValueToJsonb(value)));
		return true;
	}

	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	it = JsonbIteratorInit(given.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (elem.type == jbvBinary && JsonContainerIsObject(elem.val.binary.data))
			exact &= push_resource(rd, &state, elem.val.binary.data, lookups,
								   from);
		else
			pushJsonbValue(&state, WJB_ELEM, &elem);
	}
	array = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	set_column(rd, IC_RESOURCES, JsonbPGetDatum(JsonbValueToJsonb(array)));
	return exact;
}

/*
 * Set a member's column from its JSON value; returns whether
 * cloudtrail_record() gives the member back exactly from the column (if
 * not, the member is kept in unknown_fields as well).  eventTime's column
 * is already set (t).
 */
static bool
set_member(LogReader *rd, const RecordMember *m, JsonbValue *v,
		   bool lookups, TimestampTz t)
{
	switch (m->kind)
	{
		case KIND_TEXT:
			if (v->type != jbvString)
				return false;
			set_column(rd, m->column,
					   PointerGetDatum(cstring_to_text_with_len(v->val.string.val,
																v->val.string.len)));
			return true;
		case KIND_JSON:
			if (v->type == jbvNull)
				return false;
			set_column(rd, m->column, JsonbPGetDatum(JsonbValueToJsonb(v)));
			return true;
		case KIND_BOOL:
			if (v->type != jbvBool)
				return false;
			set_column(rd, m->column, BoolGetDatum(v->val.boolean));
			return true;
		case KIND_UUID:
			{
				pg_uuid_t  *uuid = palloc(sizeof(pg_uuid_t));
				char		canonical[TRAIL_UUID_STRLEN];

				if (v->type != jbvString ||
					!parse_uuid(v->val.string.val, v->val.string.len, uuid))
					return false;
				set_column(rd, m->column, UUIDPGetDatum(uuid));
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
			return set_resources(rd, v, lookups);
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
set_identity_columns(LogReader *rd)
{
	JsonbContainer *identity;
	char	   *user;
	char	   *key;

	if (column_is_null(rd, IC_USER_IDENTITY))
		return;
	identity = &DatumGetJsonbP(rd->values[rd->attnums[IC_USER_IDENTITY] - 1])->root;
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
		set_column(rd, IC_USER_NAME, CStringGetTextDatum(user));
	key = trail_json_member_string(identity, "accessKeyId");
	if (key != NULL)
		set_column(rd, IC_ACCESS_KEY_ID, CStringGetTextDatum(key));
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
 * The number of a column of desc by name, or InvalidAttrNumber (the
 * reader has no catalog to ask).
 */
static AttrNumber
column_attnum(TupleDesc desc, const char *name)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return InvalidAttrNumber;
}

/*
 * Send a message of one NUL-ended text (a file's path, a notice).
 */
static void
send_text(LogReader *rd, char kind, const char *text)
{
	resetStringInfo(&rd->msg);
	appendStringInfoChar(&rd->msg, kind);
	appendBinaryStringInfo(&rd->msg, text, strlen(text) + 1);
	rd->sink(rd->sink_arg, rd->msg.data, rd->msg.len);
}

/*
 * Send the row built from a record, with its LookupEvents entries: kind,
 * time, id, tuple length, number of entries, the tuple, then each entry as
 * key length, value length, key, value (trail_log_row_decode reads it).
 */
static void
send_row(LogReader *rd, TimestampTz time, const pg_uuid_t *id, HeapTuple tuple)
{
	StringInfo	msg = &rd->msg;
	uint32		tuple_len = tuple->t_len;
	uint32		n = rd->nlookups;
	int			i;

	resetStringInfo(msg);
	appendStringInfoChar(msg, TRAIL_LOG_ROW);
	appendBinaryStringInfo(msg, (const char *) &time, sizeof(time));
	appendBinaryStringInfo(msg, (const char *) id, sizeof(*id));
	appendBinaryStringInfo(msg, (const char *) &tuple_len, sizeof(tuple_len));
	appendBinaryStringInfo(msg, (const char *) &n, sizeof(n));
	appendBinaryStringInfo(msg, (const char *) tuple->t_data, tuple_len);
	for (i = 0; i < rd->nlookups; i++)
	{
		uint32		lens[2] = {rd->lookups[i].keylen, rd->lookups[i].len};

		appendBinaryStringInfo(msg, (const char *) lens, sizeof(lens));
		appendBinaryStringInfo(msg, rd->lookups[i].key, lens[0]);
		appendBinaryStringInfo(msg, rd->lookups[i].value, lens[1]);
	}
	rd->sink(rd->sink_arg, msg->data, msg->len);
}

/*
 * Read a row message (see send_row).
 */
void
trail_log_row_decode(const char *msg, Size len, TrailLogRow *row)
{
	const char *p = msg + 1;
	uint32		tuple_len;
	uint32		n;
	int			i;

	Assert(msg[0] == TRAIL_LOG_ROW);
	memcpy(&row->time, p, sizeof(row->time));
	p += sizeof(row->time);
	memcpy(&row->id, p, sizeof(row->id));
	p += sizeof(row->id);
	memcpy(&tuple_len, p, sizeof(tuple_len));
	p += sizeof(tuple_len);
	memcpy(&n, p, sizeof(n));
	p += sizeof(n);
	row->tuple.t_len = tuple_len;
	ItemPointerSetInvalid(&row->tuple.t_self);
	row->tuple.t_tableOid = InvalidOid;
	row->tuple.t_data = (HeapTupleHeader) p;
	p += tuple_len;
	row->nlookups = n;
	row->lookups = palloc(sizeof(TrailLogLookup) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		uint32		lens[2];

		memcpy(lens, p, sizeof(lens));
		p += sizeof(lens);
		row->lookups[i].key = p;
		row->lookups[i].keylen = lens[0];
		p += lens[0];
		row->lookups[i].value = p;
		row->lookups[i].len = lens[1];
		p += lens[1];
	}
	if (p != msg + len)
		elog(ERROR, "trail: malformed import row message (%zu bytes, %zu read)",
			 len, (Size) (p - msg));
}

/*
 * Turn one parsed record (an object, see parse_record) into a row of
 * trail.events and send it, or count it as expired.  Runs in the
 * per-record context.
 */
static void
add_record(LogReader *rd, ImportFile *f, JsonbValue *record)
{
	JsonbParseState *unknown = NULL;
	JsonbValue *v;
	TimestampTz event_time;
	pg_uuid_t	id;
	const char *category;
	bool		insight;
	bool		lookups;
	bool		seen[NUM_RECORD_MEMBERS];
	char		idtext[TRAIL_UUID_STRLEN];
	int			absent = 0;
	int			i;

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

	if (event_time < rd->target->retention_start)
	{
		rd->totals.expired++;
		return;
	}

	category = record_category(record);
	insight = strcmp(category, "Insight") == 0;
	lookups = strcmp(category, "Data") != 0;

	memset(rd->nulls, true, sizeof(bool) * rd->target->desc->natts);
	rd->nlookups = 0;
	set_column(rd, IC_COMMIT_SEQ, Int64GetDatum(rd->target->commit_seq));
	set_column(rd, IC_EVENT_TIME, TimestampTzGetDatum(event_time));
	set_column(rd, IC_IS_GLOBAL, BoolGetDatum(false));
	set_column(rd, IC_IMPORTED_FROM, rd->imported_from);
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
			!set_member(rd, m, &pair->value, lookups, event_time) ||
			!(m->rendered & (insight ? IN_INSIGHTS : IN_EVENTS)))
			keep_member(&unknown, pair->key.val.string.val, pair->key.val.string.len,
						&pair->value);
	}

	/* columns that need a value: a stand-in, and absent members listed */
	for (i = 0; i < NUM_RECORD_MEMBERS; i++)
	{
		const RecordMember *m = &record_members[i];
		JsonbValue	name;

		if (!m->required || !column_is_null(rd, m->column))
			continue;
		set_column(rd, m->column, CStringGetTextDatum(m->column == IC_EVENT_CATEGORY ?
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

		set_column(rd, IC_UNKNOWN_FIELDS, JsonbPGetDatum(JsonbValueToJsonb(kept)));
	}
	set_identity_columns(rd);
	if (lookups)
	{
		add_column_lookup(rd, IC_EVENT_NAME, "EventName");
		add_column_lookup(rd, IC_EVENT_SOURCE, "EventSource");
		add_column_lookup(rd, IC_USER_NAME, "Username");
		add_column_lookup(rd, IC_ACCESS_KEY_ID, "AccessKeyId");
		/* an imported id says nothing of its event's day: an entry finds it */
		trail_uuid_string(&id, idtext);
		add_lookup(rd, rd->nlookups, "EventId", idtext, TRAIL_UUID_STRLEN - 1);
	}
	send_row(rd, event_time, &id,
			 heap_form_tuple(rd->target->desc, rd->values, rd->nulls));
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
 * A record's text is complete: send its row.
 */
static void
record_done(LogReader *rd, ImportFile *f)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(rd->record_cxt);

	add_record(rd, f, parse_record(f));
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(rd->record_cxt);
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
scan_chunk(LogReader *rd, ImportFile *f, const char *buf, int len)
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
				record_done(rd, f);
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
 * Read one file.
 */
static void
read_file(LogReader *rd, const char *path)
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
	rd->imported_from = CStringGetTextDatum(path);
	send_text(rd, TRAIL_LOG_FILE, path);

	gz = gzopen(path, "rb");
	if (gz == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not import CloudTrail log file \"%s\": could not open it: %m",
						path)));
	PG_TRY();
	{
		int			n;
		int			zerr;
		const char *zmsg;

		(void) gzbuffer(gz, 4 * READ_CHUNK);
		while ((n = gzread(gz, chunk, READ_CHUNK)) > 0)
		{
			scan_chunk(rd, &f, chunk, n);
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
		gzclose(gz);
	}
	PG_END_TRY();

	rd->totals.files++;
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
 * Read the log files of a directory tree, in sorted order (see the header
 * for what is taken).  What it allocates is freed as it goes: a tree may
 * be deep and hold many files.
 */
static void
read_tree(LogReader *rd, const char *dir)
{
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
		{
			char	   *notice = psprintf("skipping symbolic link \"%s\": the import does not follow links",
										  path);

			send_text(rd, TRAIL_LOG_NOTICE, notice);
			pfree(notice);
		}
		else if (S_ISDIR(st.st_mode))
		{
			/* digest files are not records */
			if (strcmp(name, "CloudTrail-Digest") != 0)
				read_tree(rd, path);
		}
		else if (S_ISREG(st.st_mode) &&
				 (ends_with(name, ".json.gz") || ends_with(name, ".json")) &&
				 !ends_with(name, ".meta.json"))
			read_file(rd, path);
		pfree(path);
	}
	list_free_deep(names);
}

/*
 * Read the log files of path (a file, or a directory tree when is_dir)
 * into rows for target, sending each message to sink.  Errors are raised
 * as they are met: what was sent before stays sent.
 */
void
trail_log_read(const char *path, bool is_dir, const TrailLogTarget *target,
			   TrailLogSink sink, void *arg)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "trail log reader",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	LogReader	rd;
	int			c;

	memset(&rd, 0, sizeof(rd));
	rd.target = target;
	rd.sink = sink;
	rd.sink_arg = arg;
	for (c = 0; c < IC_NCOLUMNS; c++)
	{
		rd.attnums[c] = column_attnum(target->desc, import_column_names[c]);
		if (rd.attnums[c] == InvalidAttrNumber)
			elog(ERROR, "trail: column \"%s\" is missing from trail.events",
				 import_column_names[c]);
	}
	rd.values = palloc(sizeof(Datum) * target->desc->natts);
	rd.nulls = palloc(sizeof(bool) * target->desc->natts);
	rd.lookups_size = 16;
	rd.lookups = palloc(sizeof(TrailLogLookup) * rd.lookups_size);
	initStringInfo(&rd.msg);

	/*
	 * Reset after every record.  Its first block, which a reset keeps, holds
	 * a common record: without it, each reset gave the memory back to the
	 * system and the next record faulted it in again (40,000 page faults for
	 * 50,000 records).
	 */
	rd.record_cxt = AllocSetContextCreate(cxt, "trail import record",
										  256 * 1024, 256 * 1024,
										  ALLOCSET_DEFAULT_MAXSIZE);
	if (is_dir)
		read_tree(&rd, path);
	else
		read_file(&rd, path);

	resetStringInfo(&rd.msg);
	appendStringInfoChar(&rd.msg, TRAIL_LOG_DONE);
	appendBinaryStringInfo(&rd.msg, (const char *) &rd.totals, sizeof(rd.totals));
	sink(arg, rd.msg.data, rd.msg.len);

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
}
