/*-------------------------------------------------------------------------
 *
 * event.c
 *	  The event record: stamping a new event, ids, and JSON building blocks.
 *
 * An event is born in a capture hook with trail_event_init(), which stamps
 * what every event shares; the hook adds what happened and passes it to
 * store.c.  Event ids are UUIDs in the version 7 layout: the first 48 bits
 * are the Unix time in milliseconds, so ids sort by time and index well;
 * the next 12 bits count within a millisecond, so ids made by one backend
 * strictly increase; the rest is random, so backends never collide.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/pg_prng.h"
#include "datatype/timestamp.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "context.h"
#include "event.h"

void
trail_uuid_v7(pg_uuid_t *out, TimestampTz at)
{
	static uint64 last_ms = 0;
	static uint32 counter = 0;
	static pg_prng_state prng;
	static int	seeded_pid = 0;
	uint64		ms;
	int			i;

	ms = (uint64) (at / 1000) +
		(uint64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;

	/* keep ids strictly increasing even if the clock steps back */
	if (ms <= last_ms)
	{
		ms = last_ms;
		if (++counter > 0xFFF)
		{
			ms++;
			counter = 0;
		}
	}
	else
		counter = 0;
	last_ms = ms;

	/*
	 * The random part only has to keep backends apart, not be secret: a
	 * generator seeded once per process from the strong source is enough,
	 * and costs nothing next to a system random call per row event.
	 */
	if (seeded_pid != MyProcPid)
	{
		if (!pg_prng_strong_seed(&prng))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random values for event ids")));
		seeded_pid = MyProcPid;
	}
	{
		uint64		r = pg_prng_uint64(&prng);

		memcpy(out->data + 8, &r, sizeof(r));
	}

	for (i = 0; i < 6; i++)
		out->data[i] = (unsigned char) (ms >> (40 - 8 * i));
	out->data[6] = 0x70 | (unsigned char) (counter >> 8);	/* version 7 */
	out->data[7] = (unsigned char) counter;
	out->data[8] = (out->data[8] & 0x3F) | 0x80;	/* RFC 4122 variant */
}

/*
 * The span of event times in which LookupEvents looks for the event of an id
 * made by trail_uuid_v7 (_lookup_rows): from TRAIL_EVENT_ID_SPAN before the
 * millisecond the id carries in its first 48 bits to the end of that
 * millisecond (*first <= event_time < *end).  An id is never older than
 * its event, and as old but when one backend made more than 4,096 ids in a
 * millisecond or the clock stepped back.  False for an id of another layout
 * (AWS's are random).
 */
bool
trail_event_id_span(const pg_uuid_t *id, TimestampTz *first, TimestampTz *end)
{
	int64		ms = 0;
	TimestampTz id_time;
	int			i;

	if ((id->data[6] & 0xF0) != 0x70)
		return false;
	for (i = 0; i < 6; i++)
		ms = (ms << 8) | id->data[i];
	id_time = ms * 1000 -
		(TimestampTz) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	*first = id_time - TRAIL_EVENT_ID_SPAN;
	*end = id_time + 1000;
	return true;
}

/*
 * Whether LookupEvents finds an event by the span of times its id names
 * (trail_event_id_span).  Not so for an id made after the clock stepped back
 * by more than the span, nor for an id of another layout: such events need
 * an EventId entry in trail.event_resources.
 */
bool
trail_event_id_names_time(const pg_uuid_t *id, TimestampTz event_time)
{
	TimestampTz first;
	TimestampTz end;

	return trail_event_id_span(id, &first, &end) &&
		event_time >= first && event_time < end;
}

void
trail_event_init(TrailEvent *ev, const char *category,
				 const char *event_type, const char *invoked_by)
{
	memset(ev, 0, sizeof(*ev));
	ev->event_time = GetCurrentTimestamp();
	trail_uuid_v7(&ev->event_id, ev->event_time);
	ev->event_category = category;
	ev->event_type = event_type;
	ev->management_event = (strcmp(category, "Management") == 0);

	ev->user_identity = trail_user_identity(invoked_by);
	/* a copy: the cached name changes with the session user */
	ev->user_name = pstrdup(trail_session_user_name());
	ev->access_key_id = trail_access_key_id();
	ev->source_ip_address = trail_source_ip();
	ev->user_agent = trail_user_agent();
	ev->request_id = trail_request_id();
	ev->transaction_id = GetTopFullTransactionId();
}

void
trail_jsonb_begin(TrailJsonb *b)
{
	b->state = NULL;
	(void) pushJsonbValue(&b->state, WJB_BEGIN_OBJECT, NULL);
}

/*
 * Push a key of the object under construction.
 */
static void
push_key(TrailJsonb *b, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	(void) pushJsonbValue(&b->state, WJB_KEY, &k);
}

void
trail_jsonb_add_string(TrailJsonb *b, const char *key, const char *value)
{
	JsonbValue	v;

	push_key(b, key);
	v.type = jbvString;
	v.val.string.val = (char *) value;
	v.val.string.len = strlen(value);
	(void) pushJsonbValue(&b->state, WJB_VALUE, &v);
}

void
trail_jsonb_add_int(TrailJsonb *b, const char *key, int64 value)
{
	JsonbValue	v;

	push_key(b, key);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(value);
	(void) pushJsonbValue(&b->state, WJB_VALUE, &v);
}

Jsonb *
trail_jsonb_end(TrailJsonb *b)
{
	return JsonbValueToJsonb(pushJsonbValue(&b->state, WJB_END_OBJECT, NULL));
}

Jsonb *
trail_jsonb_from_text(const char *json)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

void
trail_json_string(StringInfo buf, const char *s)
{
	if (s == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, s);
}

void
trail_json_time(StringInfo buf, TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;

	/* no time zone argument: the broken-down time is UTC */
	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	appendStringInfo(buf, "\"%04d-%02d-%02dT%02d:%02d:%02dZ\"",
					 tm.tm_year, tm.tm_mon, tm.tm_mday,
					 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *
trail_arn(const char *service, const char *database, const char *resource)
{
	return psprintf("arn:postgresql:%s:%s:%s:%s", service,
					database ? database : "", trail_account_id(), resource);
}

void
trail_json_resource(StringInfo buf, const char *type, const char *arn,
					const char *name)
{
	appendStringInfoString(buf, "{\"accountId\":");
	trail_json_string(buf, trail_account_id());
	appendStringInfoString(buf, ",\"type\":");
	trail_json_string(buf, type);
	appendStringInfoString(buf, ",\"ARN\":");
	trail_json_string(buf, arn);
	appendStringInfoString(buf, ",\"name\":");
	trail_json_string(buf, name);
	appendStringInfoChar(buf, '}');
}

Jsonb *
trail_jsonb_one_resource(const char *type, const char *arn, const char *name)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	trail_json_resource(&buf, type, arn, name);
	appendStringInfoChar(&buf, ']');
	return trail_jsonb_from_text(buf.data);
}

void
trail_uuid_string(const pg_uuid_t *uuid, char *out)
{
	static const char hex[] = "0123456789abcdef";
	int			i;
	char	   *p = out;

	for (i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[uuid->data[i] >> 4];
		*p++ = hex[uuid->data[i] & 0x0f];
	}
	*p = '\0';
}

char *
trail_vformat(const char *fmt, va_list args)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		copy;
		int			needed;

		va_copy(copy, args);
		needed = appendStringInfoVA(&buf, fmt, copy);
		va_end(copy);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	return buf.data;
}

char *
trail_json_member_string(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}
