/*-------------------------------------------------------------------------
 *
 * trails.c
 *	  Managing trails: CreateTrail, UpdateTrail, DeleteTrail, StartLogging,
 *	  StopLogging, PutEventSelectors and PutInsightSelectors, as SQL
 *	  functions.
 *
 * A trail's settings live in trail.trails; where its delivery stands, per
 * region, in trail.trail_state (delivery.c moves it on).  Every call is a
 * management event of the caller with eventSource trail.postgresql and
 * CloudTrail's event name.  Everything a call is given is checked before
 * anything is changed.
 *
 * Design notes:
 *
 *	- Names become paths: the bucket is a directory under
 *	  trail.log_directory and the prefix and trail name are parts of file
 *	  names.  They are held to S3's and CloudTrail's naming rules, which
 *	  leave no way to write "..", "/" (outside the prefix) or anything but
 *	  plain characters; delivery checks the resolved path again.
 *	- The functions are not SECURITY DEFINER: EXECUTE is granted to
 *	  trail_admin, and trail's own SQL runs as the extension's owner
 *	  (trail_sql_run), so the event names the caller.
 *	- A new trail delivers from the transaction that creates it: its cursor
 *	  starts just after every event of the commit sequence number below
 *	  that transaction's, so its own CreateTrail event is its first record.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "catalog.h"
#include "commit_order.h"
#include "context.h"
#include "data_store.h"
#include "event.h"
#include "selectors.h"
#include "sql.h"
#include "store.h"
#include "trail.h"

PG_FUNCTION_INFO_V1(trail_create_trail);
PG_FUNCTION_INFO_V1(trail_update_trail);
PG_FUNCTION_INFO_V1(trail_delete_trail);
PG_FUNCTION_INFO_V1(trail_start_logging);
PG_FUNCTION_INFO_V1(trail_stop_logging);
PG_FUNCTION_INFO_V1(trail_put_event_selectors);
PG_FUNCTION_INFO_V1(trail_put_insight_selectors);

/* A trail's settings, as CreateTrail and UpdateTrail take them */
typedef struct TrailSettings
{
	char	   *name;
	char	   *bucket;
	char	   *prefix;			/* NULL: none */
	bool		include_global;
	bool		multi_region;
	bool		validation;
	char	   *topic;			/* NULL: none */
	bool		logging;
} TrailSettings;

/* the arguments of create_trail and update_trail, in order */
enum
{
	ARG_NAME,
	ARG_BUCKET,
	ARG_PREFIX,
	ARG_INCLUDE_GLOBAL,
	ARG_MULTI_REGION,
	ARG_VALIDATION,
	ARG_TOPIC,
	ARG_LOGGING
};

/*
 * Raise CloudTrail's exception for an invalid parameter.
 */
static void
invalid_parameter(const char *exception, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: %s", exception, detail)));
}

/*
 * Is c one of the characters allowed in a name besides letters and digits?
 */
static bool
in_set(char c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

/*
 * Does s look like an IPv4 address (four dot-separated numbers)?
 */
static bool
ip_like(const char *s)
{
	int			parts = 0;
	const char *p = s;

	while (*p)
	{
		if (!isdigit((unsigned char) *p))
			return false;
		while (isdigit((unsigned char) *p))
			p++;
		parts++;
		if (*p == '.')
			p++;
		else if (*p != '\0')
			return false;
	}
	return parts == 4;
}

/*
 * CloudTrail's trail name rules: 3-128 characters, letters, digits, '.',
 * '_' and '-', starting and ending with a letter or digit, no two of '._-'
 * next to each other, not an IP address.
 */
static void
check_trail_name(const char *name)
{
	size_t		len;
	size_t		i;

	if (name == NULL)
		invalid_parameter("InvalidTrailNameException", "the trail name must not be NULL");
	len = strlen(name);
	if (len < 3 || len > 128)
		invalid_parameter("InvalidTrailNameException",
						  psprintf("trail name \"%s\" must have 3 to 128 characters", name));
	for (i = 0; i < len; i++)
	{
		char		c = name[i];

		if (!isalnum((unsigned char) c) && !in_set(c, "._-"))
			invalid_parameter("InvalidTrailNameException",
							  psprintf("trail name \"%s\" may contain only letters, digits, '.', '_' and '-'",
									   name));
		if (i > 0 && in_set(c, "._-") && in_set(name[i - 1], "._-"))
			invalid_parameter("InvalidTrailNameException",
							  psprintf("trail name \"%s\" has adjacent '.', '_' or '-'", name));
	}
	if (!isalnum((unsigned char) name[0]) || !isalnum((unsigned char) name[len - 1]))
		invalid_parameter("InvalidTrailNameException",
						  psprintf("trail name \"%s\" must start and end with a letter or digit", name));
	if (ip_like(name))
		invalid_parameter("InvalidTrailNameException",
						  psprintf("trail name \"%s\" must not look like an IP address", name));
}

/*
 * S3's bucket name rules: 3-63 characters, lowercase letters, digits, '.'
 * and '-', starting and ending with a letter or digit, no "..", not an IP
 * address, not starting with "xn--" nor ending with "-s3alias".
 */
static void
check_bucket_name(const char *name)
{
	size_t		len;
	size_t		i;

	if (name == NULL)
		invalid_parameter("InvalidS3BucketNameException", "s3_bucket_name must not be NULL");
	len = strlen(name);
	if (len < 3 || len > 63)
		invalid_parameter("InvalidS3BucketNameException",
						  psprintf("bucket name \"%s\" must have 3 to 63 characters", name));
	for (i = 0; i < len; i++)
		if (!islower((unsigned char) name[i]) && !isdigit((unsigned char) name[i]) &&
			!in_set(name[i], ".-"))
			invalid_parameter("InvalidS3BucketNameException",
							  psprintf("bucket name \"%s\" may contain only lowercase letters, digits, '.' and '-'",
									   name));
	if (!isalnum((unsigned char) name[0]) || !isalnum((unsigned char) name[len - 1]))
		invalid_parameter("InvalidS3BucketNameException",
						  psprintf("bucket name \"%s\" must start and end with a letter or digit", name));
	if (strstr(name, "..") != NULL || ip_like(name) ||
		strncmp(name, "xn--", 4) == 0 ||
		(len >= 8 && strcmp(name + len - 8, "-s3alias") == 0))
		invalid_parameter("InvalidS3BucketNameException",
						  psprintf("bucket name \"%s\" is not allowed by S3's naming rules", name));
}

/*
 * A key prefix: at most 200 characters, path segments separated by single
 * '/', none of them "." or "..", no control characters or backslashes.
 */
static void
check_prefix(const char *prefix)
{
	const char *seg = prefix;
	size_t		i;

	if (strlen(prefix) > 200)
		invalid_parameter("InvalidS3PrefixException",
						  "s3_key_prefix must have at most 200 characters");
	for (i = 0; prefix[i]; i++)
		if ((unsigned char) prefix[i] < 0x20 || prefix[i] == 0x7f || prefix[i] == '\\')
			invalid_parameter("InvalidS3PrefixException",
							  "s3_key_prefix must not contain control characters or backslashes");
	for (;;)
	{
		const char *end = strchr(seg, '/');
		size_t		len = end ? (size_t) (end - seg) : strlen(seg);

		if (len == 0 || (len == 1 && seg[0] == '.') ||
			(len == 2 && seg[0] == '.' && seg[1] == '.'))
			invalid_parameter("InvalidS3PrefixException",
							  psprintf("s3_key_prefix \"%s\" must be path segments separated by single '/', none of them \".\" or \"..\"",
									   prefix));
		if (end == NULL)
			break;
		seg = end + 1;
	}
}

/*
 * The NOTIFY channel of sns_topic_name: an identifier-like name.
 */
static void
check_topic(const char *topic)
{
	size_t		len = strlen(topic);
	size_t		i;

	if (len < 1 || len >= NAMEDATALEN)
		invalid_parameter("InvalidSnsTopicNameException",
						  psprintf("sns_topic_name must have 1 to %d characters", NAMEDATALEN - 1));
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char) topic[i]) && !in_set(topic[i], "_-"))
			invalid_parameter("InvalidSnsTopicNameException",
							  psprintf("sns_topic_name \"%s\" may contain only letters, digits, '_' and '-'",
									   topic));
}

/*
 * Check every setting; an empty prefix or topic means none.
 */
static void
check_settings(TrailSettings *t)
{
	check_trail_name(t->name);
	check_bucket_name(t->bucket);
	if (t->prefix != NULL && t->prefix[0] == '\0')
		t->prefix = NULL;
	if (t->prefix != NULL)
		check_prefix(t->prefix);
	if (t->topic != NULL && t->topic[0] == '\0')
		t->topic = NULL;
	if (t->topic != NULL)
		check_topic(t->topic);
}

/*
 * The ARN of a trail of this database.
 */
static char *
trail_arn_of(const char *name)
{
	return trail_arn("trail", trail_region(), psprintf("trail/%s", name));
}

/*
 * Read a trail's settings, locking its row; an error if there is none.
 */
static void
read_trail(const char *name, TrailSettings *t)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	Datum		row;
	HeapTupleHeader rec;
	bool		n;
	Datum		d;

	row = trail_sql_run("SELECT ROW(t.s3_bucket_name, t.s3_key_prefix,"
						" t.include_global_service_events, t.is_multi_region_trail,"
						" t.enable_log_file_validation, t.sns_topic_name, t.is_logging,"
						" t.home_region)"
						" FROM trail.trails t WHERE t.name = $1 FOR UPDATE",
						1, types, values, NULL, CurrentMemoryContext, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("TrailNotFoundException: unknown trail: %s", name)));
	rec = DatumGetHeapTupleHeader(row);
	t->name = pstrdup(name);
	t->bucket = TextDatumGetCString(GetAttributeByNum(rec, 1, &n));
	d = GetAttributeByNum(rec, 2, &n);
	t->prefix = n ? NULL : TextDatumGetCString(d);
	t->include_global = DatumGetBool(GetAttributeByNum(rec, 3, &n));
	t->multi_region = DatumGetBool(GetAttributeByNum(rec, 4, &n));
	t->validation = DatumGetBool(GetAttributeByNum(rec, 5, &n));
	d = GetAttributeByNum(rec, 6, &n);
	t->topic = n ? NULL : TextDatumGetCString(d);
	t->logging = DatumGetBool(GetAttributeByNum(rec, 7, &n));

	/* a multi-region trail is changed where it was created, as in CloudTrail */
	d = GetAttributeByNum(rec, 8, &n);
	if (strcmp(TextDatumGetCString(d), trail_region()) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("InvalidHomeRegionException: trail %s can only be changed in its home region, database \"%s\"",
						name, TextDatumGetCString(d))));
}

/*
 * Write a trail's settings (insert or update).
 */
static void
write_trail(const TrailSettings *t, bool insert)
{
	Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, BOOLOID, BOOLOID, BOOLOID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = "       ";

	values[0] = CStringGetTextDatum(t->name);
	values[1] = CStringGetTextDatum(t->bucket);
	values[2] = t->prefix ? CStringGetTextDatum(t->prefix) : (Datum) 0;
	nulls[2] = t->prefix ? ' ' : 'n';
	values[3] = BoolGetDatum(t->include_global);
	values[4] = BoolGetDatum(t->multi_region);
	values[5] = BoolGetDatum(t->validation);
	values[6] = t->topic ? CStringGetTextDatum(t->topic) : (Datum) 0;
	nulls[6] = t->topic ? ' ' : 'n';
	if (insert)
	{
		Oid			itypes[8];
		Datum		ivalues[8];
		char		inulls[9];

		memcpy(itypes, types, sizeof(types));
		memcpy(ivalues, values, sizeof(values));
		memcpy(inulls, nulls, sizeof(nulls));
		itypes[7] = TEXTOID;
		ivalues[7] = CStringGetTextDatum(trail_region());
		inulls[7] = ' ';
		inulls[8] = '\0';
		(void) trail_sql_run("INSERT INTO trail.trails (name, s3_bucket_name, s3_key_prefix,"
							 " include_global_service_events, is_multi_region_trail,"
							 " enable_log_file_validation, sns_topic_name, home_region,"
							 " created_time, is_logging)"
							 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, pg_catalog.now(), false)",
							 8, itypes, ivalues, inulls, NULL, NULL);
	}
	else
		(void) trail_sql_run("UPDATE trail.trails SET s3_bucket_name = $2, s3_key_prefix = $3,"
							 " include_global_service_events = $4, is_multi_region_trail = $5,"
							 " enable_log_file_validation = $6, sns_topic_name = $7"
							 " WHERE name = $1",
							 7, types, values, nulls, NULL, NULL);

	/*
	 * Validation switched on opens a digest period where none is open;
	 * switched off, no period is open (files delivered meanwhile are never
	 * digested, as in CloudTrail).
	 */
	(void) trail_sql_run("UPDATE trail.trail_state SET digest_start_time ="
						 " CASE WHEN $2 THEN coalesce(digest_start_time, pg_catalog.now()) END"
						 " WHERE trail_name = $1",
						 2, (Oid[]) {TEXTOID, BOOLOID},
						 (Datum[]) {values[0], BoolGetDatum(t->validation)}, NULL, NULL, NULL);
}

/*
 * Start or stop a trail's logging.  Starting makes sure the trail has its
 * delivery state in this region; stopping lets delivery go on up to this
 * transaction's own events (the StopLogging call is the last delivered).
 */
static void
set_logging(const char *name, bool logging)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2] = {CStringGetTextDatum(name), Int64GetDatum(trail_commit_seq())};

	if (logging)
	{
		(void) trail_sql_run("UPDATE trail.trails SET is_logging = true, stop_seq = NULL,"
							 " start_logging_time = pg_catalog.now()"
							 " WHERE name = $1 AND NOT is_logging",
							 1, types, values, NULL, NULL, NULL);
		(void) trail_sql_run("INSERT INTO trail.trail_state AS s (trail_name, region,"
							 " after_seq, after_event_id, digest_start_time)"
							 " SELECT t.name, t.home_region, $2 - 1,"
							 " 'ffffffff-ffff-ffff-ffff-ffffffffffff',"
							 " CASE WHEN t.enable_log_file_validation THEN pg_catalog.now() END"
							 " FROM trail.trails t WHERE t.name = $1"
							 " ON CONFLICT (trail_name, region) DO UPDATE SET digest_start_time ="
							 " coalesce(s.digest_start_time, EXCLUDED.digest_start_time)",
							 2, types, values, NULL, NULL, NULL);
	}
	else
		(void) trail_sql_run("UPDATE trail.trails SET is_logging = false, stop_seq = $2,"
							 " stop_logging_time = pg_catalog.now()"
							 " WHERE name = $1 AND is_logging",
							 2, types, values, NULL, NULL, NULL);
}

/*
 * Append one member of a trail's JSON: the request names members in
 * camelCase, the response (CloudTrail's Trail structure) in PascalCase.
 */
static void
add_member(StringInfo buf, bool response, const char *key, const char *string,
		   const char *literal)
{
	appendStringInfoString(buf, buf->len > 1 ? ",\"" : "\"");
	appendStringInfoChar(buf, response ? pg_toupper((unsigned char) key[0]) : key[0]);
	appendStringInfo(buf, "%s\":", key + 1);
	if (string != NULL)
		escape_json(buf, string);
	else
		appendStringInfoString(buf, literal);
}

/*
 * A trail's settings as JSON: the requestParameters of CreateTrail and
 * UpdateTrail events, or (response) what those calls return.
 */
static char *
settings_json(const TrailSettings *t, bool response)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	add_member(&buf, response, "name", t->name, NULL);
	add_member(&buf, response, "s3BucketName", t->bucket, NULL);
	if (t->prefix)
		add_member(&buf, response, "s3KeyPrefix", t->prefix, NULL);
	if (t->topic)
		add_member(&buf, response, "snsTopicName", t->topic, NULL);
	add_member(&buf, response, "includeGlobalServiceEvents", NULL,
			   t->include_global ? "true" : "false");
	add_member(&buf, response, "isMultiRegionTrail", NULL,
			   t->multi_region ? "true" : "false");
	if (response)
	{
		add_member(&buf, response, "trailARN", trail_arn_of(t->name), NULL);
		add_member(&buf, response, "logFileValidationEnabled", NULL,
				   t->validation ? "true" : "false");
		add_member(&buf, response, "isOrganizationTrail", NULL, "false");
	}
	else
		add_member(&buf, response, "enableLogFileValidation", NULL,
				   t->validation ? "true" : "false");
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * What CreateTrail and UpdateTrail return, as jsonb.
 */
static Datum
trail_response(const TrailSettings *t)
{
	return JsonbPGetDatum(trail_jsonb_from_text(settings_json(t, true)));
}

/*
 * Record one call as a management event naming the trail.
 */
static void
record_call(const char *event_name, const char *name, const char *params)
{
	trail_store_api_call(event_name, params, "PG::Trail", trail_arn_of(name), name);
}

/*
 * The request parameters of a call that names only the trail.
 */
static char *
name_params(const char *name)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"name\":");
	escape_json(&buf, name);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * The text argument i, or NULL.
 */
static char *
text_arg(FunctionCallInfo fcinfo, int i)
{
	return PG_ARGISNULL(i) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(i));
}

/*
 * trail.create_trail(name, s3_bucket_name, s3_key_prefix,
 *	include_global_service_events, is_multi_region_trail,
 *	enable_log_file_validation, sns_topic_name, enable_logging)
 */
Datum
trail_create_trail(PG_FUNCTION_ARGS)
{
	TrailSettings t;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;

	trail_require_catalog();
	t.name = text_arg(fcinfo, ARG_NAME);
	t.bucket = text_arg(fcinfo, ARG_BUCKET);
	t.prefix = text_arg(fcinfo, ARG_PREFIX);
	t.include_global = PG_ARGISNULL(ARG_INCLUDE_GLOBAL) || PG_GETARG_BOOL(ARG_INCLUDE_GLOBAL);
	t.multi_region = !PG_ARGISNULL(ARG_MULTI_REGION) && PG_GETARG_BOOL(ARG_MULTI_REGION);
	t.validation = PG_ARGISNULL(ARG_VALIDATION) || PG_GETARG_BOOL(ARG_VALIDATION);
	t.topic = text_arg(fcinfo, ARG_TOPIC);
	t.logging = PG_ARGISNULL(ARG_LOGGING) || PG_GETARG_BOOL(ARG_LOGGING);
	check_settings(&t);

	values[0] = CStringGetTextDatum(t.name);
	(void) trail_sql_run("SELECT 1 FROM trail.trails WHERE name = $1",
						 1, types, values, NULL, CurrentMemoryContext, &isnull);
	if (!isnull)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("TrailAlreadyExistsException: trail %s already exists", t.name)));

	record_call("CreateTrail", t.name, settings_json(&t, false));
	write_trail(&t, true);
	if (t.logging)
		set_logging(t.name, true);
	PG_RETURN_DATUM(trail_response(&t));
}

/*
 * trail.update_trail(name, ...): NULL arguments keep their setting.
 */
Datum
trail_update_trail(PG_FUNCTION_ARGS)
{
	TrailSettings t;
	char	   *name = text_arg(fcinfo, ARG_NAME);
	bool		was_logging;

	trail_require_catalog();
	if (name == NULL)
		invalid_parameter("InvalidTrailNameException", "the trail name must not be NULL");
	read_trail(name, &t);
	was_logging = t.logging;
	if (!PG_ARGISNULL(ARG_BUCKET))
		t.bucket = text_arg(fcinfo, ARG_BUCKET);
	if (!PG_ARGISNULL(ARG_PREFIX))
		t.prefix = text_arg(fcinfo, ARG_PREFIX);
	if (!PG_ARGISNULL(ARG_INCLUDE_GLOBAL))
		t.include_global = PG_GETARG_BOOL(ARG_INCLUDE_GLOBAL);
	if (!PG_ARGISNULL(ARG_MULTI_REGION))
		t.multi_region = PG_GETARG_BOOL(ARG_MULTI_REGION);
	if (!PG_ARGISNULL(ARG_VALIDATION))
		t.validation = PG_GETARG_BOOL(ARG_VALIDATION);
	if (!PG_ARGISNULL(ARG_TOPIC))
		t.topic = text_arg(fcinfo, ARG_TOPIC);
	if (!PG_ARGISNULL(ARG_LOGGING))
		t.logging = PG_GETARG_BOOL(ARG_LOGGING);
	check_settings(&t);

	record_call("UpdateTrail", t.name, settings_json(&t, false));
	write_trail(&t, false);
	if (t.logging != was_logging)
	{
		record_call(t.logging ? "StartLogging" : "StopLogging", t.name, name_params(t.name));
		set_logging(t.name, t.logging);
	}
	PG_RETURN_DATUM(trail_response(&t));
}

/*
 * trail.delete_trail(name).  The files it delivered stay, and so does their
 * record in trail.delivered_files.
 */
Datum
trail_delete_trail(PG_FUNCTION_ARGS)
{
	TrailSettings t;
	char	   *name = text_arg(fcinfo, 0);
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	trail_require_catalog();
	if (name == NULL)
		invalid_parameter("InvalidTrailNameException", "the trail name must not be NULL");
	read_trail(name, &t);
	record_call("DeleteTrail", name, name_params(name));
	values[0] = CStringGetTextDatum(name);
	(void) trail_sql_run("DELETE FROM trail.trails WHERE name = $1",
						 1, types, values, NULL, NULL, NULL);
	CacheInvalidateRelcacheByRelid(get_relname_relid("trails", trail_require_catalog()->namespace_oid));
	trail_data_store_reconcile();
	PG_RETURN_VOID();
}

/*
 * start_logging and stop_logging: a no-op call is still recorded, as in
 * CloudTrail.
 */
static void
logging_call(FunctionCallInfo fcinfo, bool logging)
{
	TrailSettings t;
	char	   *name = text_arg(fcinfo, 0);

	trail_require_catalog();
	if (name == NULL)
		invalid_parameter("InvalidTrailNameException", "the trail name must not be NULL");
	read_trail(name, &t);
	record_call(logging ? "StartLogging" : "StopLogging", name, name_params(name));
	set_logging(name, logging);
}

Datum
trail_start_logging(PG_FUNCTION_ARGS)
{
	logging_call(fcinfo, true);
	PG_RETURN_VOID();
}

Datum
trail_stop_logging(PG_FUNCTION_ARGS)
{
	logging_call(fcinfo, false);
	PG_RETURN_VOID();
}

/*
 * What the Put*Selectors calls share once their arguments are checked:
 * record the call, its parameters the trail's name and the selectors under
 * member, then store the selectors in column of the trail (SQL NULL when
 * none is NULL).
 */
static void
store_selectors(const char *api, const char *name, const char *member,
				const char *column, Jsonb *selectors, bool none)
{
	Oid			types[2] = {TEXTOID, JSONBOID};
	Datum		values[2];
	char		nulls[2] = {' ', none ? 'n' : ' '};
	StringInfoData params;

	initStringInfo(&params);
	appendStringInfoString(&params, "{\"trailName\":");
	escape_json(&params, name);
	appendStringInfo(&params, ",\"%s\":%s}", member,
					 selectors ? JsonbToCString(NULL, &selectors->root, VARSIZE(selectors)) : "null");
	record_call(api, name, params.data);

	values[0] = CStringGetTextDatum(name);
	values[1] = none ? (Datum) 0 : JsonbPGetDatum(selectors);
	(void) trail_sql_run(psprintf("UPDATE trail.trails SET %s = $2 WHERE name = $1", column),
						 2, types, values, nulls, NULL, NULL);
}

/*
 * trail.put_event_selectors(trail_name, advanced_event_selectors)
 */
Datum
trail_put_event_selectors(PG_FUNCTION_ARGS)
{
	TrailSettings t;
	char	   *name = text_arg(fcinfo, 0);
	Jsonb	   *selectors = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	Datum		result;

	trail_require_catalog();
	if (name == NULL)
		invalid_parameter("InvalidTrailNameException", "the trail name must not be NULL");
	read_trail(name, &t);
	if (selectors != NULL)
		trail_selectors_validate(selectors);
	store_selectors("PutEventSelectors", name, "advancedEventSelectors",
					"advanced_event_selectors", selectors, selectors == NULL);

	/* the union of all selectors decides capture: every backend reloads */
	CacheInvalidateRelcacheByRelid(get_relname_relid("trails", trail_require_catalog()->namespace_oid));
	trail_data_store_reconcile();

	values[0] = CStringGetTextDatum(name);
	result = trail_sql_run("SELECT trail.get_event_selectors($1)", 1, types, values, NULL,
						   CurrentMemoryContext, &isnull);
	PG_RETURN_DATUM(result);
}

/*
 * Check CloudTrail's InsightSelectors: a list of {"InsightType": ...}
 * naming each of ApiCallRateInsight and ApiErrorRateInsight at most once.
 */
static void
check_insight_selectors(Jsonb *selectors)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0;
	bool		seen[2] = {false, false};
	static const char *const types[2] = {"ApiCallRateInsight", "ApiErrorRateInsight"};

	if (!JB_ROOT_IS_ARRAY(selectors) || JB_ROOT_IS_SCALAR(selectors))
		invalid_parameter("InvalidInsightSelectorsException",
						  "insight_selectors must be a JSON array");
	it = JsonbIteratorInit(&selectors->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *type;
		int			i;

		if (tok != WJB_ELEM)
			continue;
		n++;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data) ||
			JsonContainerSize(v.val.binary.data) != 1)
			invalid_parameter("InvalidInsightSelectorsException",
							  psprintf("insight_selectors[%d] must be an object with one member, InsightType", n - 1));
		type = trail_json_member_string(v.val.binary.data, "InsightType");
		for (i = 0; i < 2; i++)
			if (type != NULL && strcmp(type, types[i]) == 0)
				break;
		if (i == 2)
			invalid_parameter("InvalidInsightSelectorsException",
							  psprintf("insight_selectors[%d].InsightType must be ApiCallRateInsight or ApiErrorRateInsight", n - 1));
		if (seen[i])
			invalid_parameter("InvalidInsightSelectorsException",
							  psprintf("insight_selectors[%d]: %s is selected twice", n - 1, types[i]));
		seen[i] = true;
	}
}

/*
 * trail.put_insight_selectors(trail_name, insight_selectors): an empty list
 * turns Insights off for the trail.
 */
Datum
trail_put_insight_selectors(PG_FUNCTION_ARGS)
{
	TrailSettings t;
	char	   *name = text_arg(fcinfo, 0);
	Jsonb	   *selectors = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;

	trail_require_catalog();
	if (name == NULL)
		invalid_parameter("InvalidTrailNameException", "the trail name must not be NULL");
	if (selectors == NULL)
		invalid_parameter("InvalidInsightSelectorsException", "insight_selectors must not be NULL");
	read_trail(name, &t);
	check_insight_selectors(selectors);
	/* an empty list turns Insights off: no selectors */
	store_selectors("PutInsightSelectors", name, "insightSelectors", "insight_selectors",
					selectors, JB_ROOT_COUNT(selectors) == 0);

	values[0] = CStringGetTextDatum(name);
	PG_RETURN_DATUM(trail_sql_run("SELECT pg_catalog.jsonb_build_object('TrailARN',"
								  " trail.trail_arn($1), 'InsightSelectors',"
								  " coalesce(t.insight_selectors, '[]'))"
								  " FROM trail.trails t WHERE t.name = $1",
								  1, types, values, NULL, CurrentMemoryContext, &isnull));
}
