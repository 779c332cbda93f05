/*-------------------------------------------------------------------------
 *
 * rules.c
 *	  EventBridge-style rules: an event pattern, matched against every event
 *	  trail stores, and a target that reacts to the events it matches.
 *
 * Rules live in trail.rules (PutRule, DeleteRule, EnableRule, DisableRule,
 * each a management event).  Each backend compiles the enabled rules once
 * (event_pattern.c) and keeps them until a relcache invalidation of
 * trail.rules says they changed; with no rule, an event costs one test of a
 * cached counter.  With rules, an event is first checked without its
 * record: a rule that names sources, event names or categories exactly
 * is passed over by comparing strings, and the others are checked against
 * the fields of the envelope the event already has (envelope_field), each
 * looked up once for all rules; only when one of them may match is the
 * record rendered, parsed and wrapped in its envelope.
 *
 * A matched event is seen as EventBridge sees a CloudTrail event: an
 * envelope with version, id, detail-type ("AWS API Call via CloudTrail",
 * "AWS Service Event via CloudTrail", "AWS Console Sign In via CloudTrail",
 * "AWS Insight via CloudTrail"), source ("postgresql.ddl" for eventSource
 * ddl.postgresql, as aws.s3 for s3.amazonaws.com), account, time, region,
 * resources (the ARNs) and detail, the CloudTrail record.
 *
 * Targets:
 *
 *	- notify:<channel>: a NOTIFY of the envelope, queued just before the
 *	  transaction commits (reactions.c): none for rolled-back work
 *	  (subtransactions included) nor for prepared transactions.  A payload must stay under 8000 bytes;
 *	  a larger envelope is trimmed: its detail keeps eventID, eventTime,
 *	  eventSource, eventName, awsRegion, recipientAccountId and
 *	  userIdentity.arn, and "trimmed": true says that the full record is to
 *	  be fetched by eventID (trail.lookup_events or trail.events).
 *	- function:<schema.name>: the function name(jsonb) is called with the
 *	  envelope, in the same transaction, as the role that put the rule, in
 *	  a subtransaction: if it fails, its work is undone, a warning is
 *	  logged and the failure is recorded as an event (eventName
 *	  InvokeRuleTarget with errorCode and errorMessage), and the user's work
 *	  goes on.  Events that targets themselves cause are stored but do not
 *	  trigger rules again (no loops).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/resowner.h"

#include "catalog.h"
#include "context.h"
#include "event.h"
#include "event_pattern.h"
#include "reactions.h"
#include "rules.h"
#include "sql.h"
#include "store.h"
#include "trail.h"

PG_FUNCTION_INFO_V1(trail_put_rule);
PG_FUNCTION_INFO_V1(trail_delete_rule);
PG_FUNCTION_INFO_V1(trail_enable_rule);
PG_FUNCTION_INFO_V1(trail_disable_rule);

/* NOTIFY's payload limit is 8000 bytes, terminator included */
#define NOTIFY_PAYLOAD_MAX 7999

/* A rule, compiled */
typedef struct Rule
{
	char	   *name;
	TrailEventPattern *pattern;
	/* the only sources and event names it accepts (-1: any), to skip it */
	int			nsources;
	char	  **sources;
	int		   *source_lens;
	int			nevent_names;
	char	  **event_names;
	int		   *event_name_lens;
	int			ncategories;
	char	  **categories;
	int		   *category_lens;
	char	   *channel;		/* notify target, or NULL */
	Oid			function;		/* function target, or InvalidOid */
	Oid			owner;			/* who put the rule: runs the function */
} Rule;

/* The enabled rules of this database, compiled; valid until invalidated */
static MemoryContext rules_cxt = NULL;
static bool rules_valid = false;
static Oid	rules_relid = InvalidOid;
static int	nrules = 0;
static Rule *rules = NULL;

/* true while a target runs: events it causes do not trigger rules */
static bool dispatching = false;

/* where the envelope has what rules are most often about */
static const char *const source_path[] = {"source"};
static const char *const event_name_path[] = {"detail", "eventName"};
static const char *const category_path[] = {"detail", "eventCategory"};

/*
 * Raise EventBridge's ValidationException.
 */
static void
invalid(const char *fmt, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("ValidationException: %s", psprintf(fmt, detail))));
}

/*
 * EventBridge's rule names: 1-64 of letters, digits, '.', '-' and '_'.
 */
static void
check_rule_name(const char *name)
{
	size_t		len = strlen(name);
	size_t		i;

	if (len < 1 || len > 64)
		invalid("rule name \"%s\" must have 1 to 64 characters", name);
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char) name[i]) && strchr(".-_", name[i]) == NULL)
			invalid("rule name \"%s\" may contain only letters, digits, '.', '-' and '_'", name);
}

/*
 * Is s[0..len) an unquoted SQL identifier (lower case, as it is stored)?
 */
static bool
plain_identifier(const char *s, size_t len)
{
	size_t		i;

	if (len == 0 || len >= NAMEDATALEN || !(islower((unsigned char) s[0]) || s[0] == '_'))
		return false;
	for (i = 1; i < len; i++)
		if (!islower((unsigned char) s[i]) && !isdigit((unsigned char) s[i]) &&
			s[i] != '_' && s[i] != '$')
			return false;
	return true;
}

/*
 * Check a target; returns the function of a function target (or
 * InvalidOid), and the channel of a notify target.  With missing_ok, a
 * function that no longer exists gives InvalidOid and no channel.
 */
static Oid
check_target(const char *target, char **channel, bool missing_ok)
{
	*channel = NULL;
	if (strncmp(target, "notify:", 7) == 0)
	{
		const char *c = target + 7;
		size_t		i;

		if (strlen(c) < 1 || strlen(c) >= NAMEDATALEN)
			invalid("target \"%s\": a channel name has 1 to 63 characters", target);
		for (i = 0; c[i]; i++)
			if (!isalnum((unsigned char) c[i]) && c[i] != '_')
				invalid("target \"%s\": a channel name may contain only letters, digits and '_'",
						target);
		*channel = pstrdup(c);
		return InvalidOid;
	}
	if (strncmp(target, "function:", 9) == 0)
	{
		char	   *schema = pstrdup(target + 9);
		char	   *name = strchr(schema, '.');
		Oid			argtype = JSONBOID;
		Oid			fn;

		if (name == NULL)
			invalid("target \"%s\": no function schema.name(jsonb) of that name", target);
		/* two plain identifiers: no quoting, no argument list */
		if (!plain_identifier(schema, name - schema) ||
			!plain_identifier(name + 1, strlen(name + 1)))
			invalid("target \"%s\": a function target is function:<schema>.<name> of plain (unquoted) identifiers",
					target);
		*name++ = '\0';
		fn = LookupFuncName(list_make2(makeString(schema), makeString(name)), 1, &argtype, true);
		if (!OidIsValid(fn) && missing_ok)
			return InvalidOid;
		if (!OidIsValid(fn))
			invalid("target \"%s\": no function schema.name(jsonb) of that name", target);
		return fn;
	}
	invalid("target \"%s\" must be notify:<channel> or function:<schema.name>", target);
	return InvalidOid;			/* keep compiler quiet */
}

/*
 * The ARN of a rule.
 */
static char *
rule_arn(const char *name)
{
	return trail_arn("events", trail_region(), psprintf("rule/%s", name));
}

/*
 * Record a rule call as a management event of the caller.
 */
static void
record_call(const char *event_name, const char *name, const char *params)
{
	trail_store_api_call(event_name, params, "PG::Rule", rule_arn(name), name);
}

/*
 * The text argument i, or an error naming it.
 */
static char *
required_text(FunctionCallInfo fcinfo, int i, const char *what)
{
	if (PG_ARGISNULL(i))
		invalid("%s must not be NULL", what);
	return text_to_cstring(PG_GETARG_TEXT_PP(i));
}

/*
 * trail.put_rule(name, event_pattern, target, description, enabled)
 */
Datum
trail_put_rule(PG_FUNCTION_ARGS)
{
	char	   *name = required_text(fcinfo, 0, "name");
	Jsonb	   *pattern;
	char	   *target = required_text(fcinfo, 2, "target");
	char	   *description = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	bool		enabled = PG_ARGISNULL(4) || PG_GETARG_BOOL(4);
	char	   *channel;
	Oid			fn;
	Oid			types[6] = {TEXTOID, JSONBOID, TEXTOID, TEXTOID, BOOLOID, OIDOID};
	Datum		values[6];
	char		nulls[6] = "      ";
	StringInfoData params;

	trail_require_catalog();
	check_rule_name(name);
	if (PG_ARGISNULL(1))
		invalid("%s must not be NULL", "event_pattern");
	pattern = PG_GETARG_JSONB_P(1);
	(void) trail_event_pattern_compile(pattern);
	fn = check_target(target, &channel, false);
	/* a rule must not run what its author may not */
	if (OidIsValid(fn) && pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", format_procedure(fn))));
	if (description != NULL && pg_mbstrlen(description) > 512)
		invalid("%s must have at most 512 characters", "description");

	initStringInfo(&params);
	appendStringInfoString(&params, "{\"name\":");
	escape_json(&params, name);
	appendStringInfo(&params, ",\"eventPattern\":%s,\"target\":",
					 JsonbToCString(NULL, &pattern->root, VARSIZE(pattern)));
	escape_json(&params, target);
	appendStringInfo(&params, ",\"state\":\"%s\"}", enabled ? "ENABLED" : "DISABLED");
	record_call("PutRule", name, params.data);

	values[0] = CStringGetTextDatum(name);
	values[1] = JsonbPGetDatum(pattern);
	values[2] = CStringGetTextDatum(target);
	values[3] = description ? CStringGetTextDatum(description) : (Datum) 0;
	nulls[3] = description ? ' ' : 'n';
	values[4] = BoolGetDatum(enabled);
	values[5] = ObjectIdGetDatum(GetUserId());
	(void) trail_sql_run("INSERT INTO trail.rules AS r (name, event_pattern, target,"
						 " description, enabled, owner, updated_time)"
						 " VALUES ($1, $2, $3, $4, $5, $6, pg_catalog.now())"
						 " ON CONFLICT (name) DO UPDATE SET event_pattern = EXCLUDED.event_pattern,"
						 " target = EXCLUDED.target, description = EXCLUDED.description,"
						 " enabled = EXCLUDED.enabled, owner = EXCLUDED.owner,"
						 " updated_time = EXCLUDED.updated_time",
						 6, types, values, nulls, NULL, NULL);
	CacheInvalidateRelcacheByRelid(get_relname_relid("rules", trail_require_catalog()->namespace_oid));

	initStringInfo(&params);
	appendStringInfoString(&params, "{\"RuleArn\":");
	escape_json(&params, rule_arn(name));
	appendStringInfoChar(&params, '}');
	PG_RETURN_JSONB_P(trail_jsonb_from_text(params.data));
}

/*
 * Change one rule (delete it, or set enabled), after recording the call;
 * an error if there is no such rule.
 */
static void
change_rule(FunctionCallInfo fcinfo, const char *event_name, const char *sql)
{
	char	   *name = required_text(fcinfo, 0, "name");
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	StringInfoData params;

	trail_require_catalog();
	(void) trail_sql_run("SELECT 1 FROM trail.rules WHERE name = $1 FOR UPDATE",
						 1, types, values, NULL, CurrentMemoryContext, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("ResourceNotFoundException: rule %s does not exist", name)));
	initStringInfo(&params);
	appendStringInfoString(&params, "{\"name\":");
	escape_json(&params, name);
	appendStringInfoChar(&params, '}');
	record_call(event_name, name, params.data);
	(void) trail_sql_run(sql, 1, types, values, NULL, NULL, NULL);
	CacheInvalidateRelcacheByRelid(get_relname_relid("rules", trail_require_catalog()->namespace_oid));
}

Datum
trail_delete_rule(PG_FUNCTION_ARGS)
{
	change_rule(fcinfo, "DeleteRule", "DELETE FROM trail.rules WHERE name = $1");
	PG_RETURN_VOID();
}

Datum
trail_enable_rule(PG_FUNCTION_ARGS)
{
	change_rule(fcinfo, "EnableRule",
				"UPDATE trail.rules SET enabled = true, updated_time = pg_catalog.now() WHERE name = $1");
	PG_RETURN_VOID();
}

Datum
trail_disable_rule(PG_FUNCTION_ARGS)
{
	change_rule(fcinfo, "DisableRule",
				"UPDATE trail.rules SET enabled = false, updated_time = pg_catalog.now() WHERE name = $1");
	PG_RETURN_VOID();
}

/*
 * Relcache callback: the rules changed (or everything did).
 */
static void
rules_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == rules_relid)
		rules_valid = false;
}

/*
 * Load and compile the enabled rules if they changed.  The cache counts as
 * valid while loading, so that trail's own query finds no rules instead of
 * loading again; an error leaves it invalid.
 */
static void
load_rules(void)
{
	const TrailCatalog *cat;
	TrailSqlScope scope;

	if (rules_valid)
		return;
	if (rules_cxt == NULL)
		rules_cxt = AllocSetContextCreate(TopMemoryContext, "trail rules",
										  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(rules_cxt);
	nrules = 0;
	rules = NULL;
	cat = trail_catalog();
	if (cat == NULL)
		return;
	rules_relid = get_relname_relid("rules", cat->namespace_oid);
	if (!OidIsValid(rules_relid))
		return;					/* CREATE EXTENSION is still running */

	rules_valid = true;
	trail_sql_begin(&scope, cat->owner);
	PG_TRY();
	{
		uint64		i;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "trail: SPI_connect failed");
		if (SPI_execute("SELECT name, event_pattern, target, owner FROM trail.rules"
						" WHERE enabled ORDER BY name", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "trail: could not read the rules");
		if (SPI_processed > 0)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(rules_cxt);
			Rule	   *loaded = palloc0(sizeof(Rule) * SPI_processed);

			int			n = 0;

			for (i = 0; i < SPI_processed; i++)
			{
				HeapTuple	tup = SPI_tuptable->vals[i];
				TupleDesc	desc = SPI_tuptable->tupdesc;
				bool		isnull;
				Rule	   *r = &loaded[n];

				r->name = SPI_getvalue(tup, desc, 1);
				r->pattern = trail_event_pattern_compile(DatumGetJsonbP(SPI_getbinval(tup, desc, 2, &isnull)));
				r->nsources = trail_event_pattern_required(r->pattern, source_path, 1,
														   &r->sources, &r->source_lens);
				r->nevent_names = trail_event_pattern_required(r->pattern, event_name_path, 2,
															   &r->event_names,
															   &r->event_name_lens);
				r->ncategories = trail_event_pattern_required(r->pattern, category_path, 2,
															  &r->categories,
															  &r->category_lens);
				r->function = check_target(SPI_getvalue(tup, desc, 3), &r->channel, true);
				r->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
				/* its function was dropped: the rule has nothing to do */
				if (r->channel == NULL && !OidIsValid(r->function))
				{
					ereport(WARNING,
							(errmsg("trail: the target function of rule %s no longer exists", r->name)));
					continue;
				}
				n++;
			}
			MemoryContextSwitchTo(oldcxt);
			rules = loaded;
			nrules = n;
		}
		SPI_finish();
	}
	PG_CATCH();
	{
		rules_valid = false;
		trail_sql_end(&scope);
		PG_RE_THROW();
	}
	PG_END_TRY();
	trail_sql_end(&scope);
}

/*
 * The envelope's source of an eventSource: ddl.postgresql -> postgresql.ddl,
 * as s3.amazonaws.com -> aws.s3.
 */
static char *
envelope_source(const char *event_source)
{
	const char *dot = event_source ? strchr(event_source, '.') : NULL;

	if (dot == NULL)
		return pstrdup("postgresql.trail");
	return psprintf("%s.%.*s", dot + 1, (int) (dot - event_source), event_source);
}

/* One event as the rules are checked against it, its parts made as needed */
typedef struct RuleEvent
{
	const char *source;			/* the envelope's source */
	const char *event_name;
	const char *category;
	int			source_len;		/* their lengths, -1 for NULL */
	int			event_name_len;
	int			category_len;
	const TrailEvent *ev;		/* NULL for row events */
	TrailPatternLookups *lookups;	/* in its partial envelope, once made */
} RuleEvent;

/*
 * Is value (of length len, -1: NULL) one of n strings (n < 0: any)?
 */
static bool
accepts(int n, char **values, const int *lens, const char *value, int len)
{
	int			i;

	if (n < 0)
		return true;
	for (i = 0; i < n; i++)
		if (lens[i] == len && memcmp(values[i], value, len) == 0)
			return true;
	return false;
}

/*
 * Could the rule match an event of that source, name and category?  (Most
 * rules name some of them; the others must be matched.)
 */
static bool
candidate(const Rule *r, const RuleEvent *e)
{
	return accepts(r->nsources, r->sources, r->source_lens, e->source, e->source_len) &&
		accepts(r->nevent_names, r->event_names, r->event_name_lens,
				e->event_name, e->event_name_len) &&
		accepts(r->ncategories, r->categories, r->category_lens,
				e->category, e->category_len);
}

/*
 * The detail-type EventBridge gives a CloudTrail record of that
 * eventCategory and eventType.
 */
static const char *
detail_type(const char *category, const char *type)
{
	if (category && strcmp(category, "Insight") == 0)
		return "AWS Insight via CloudTrail";
	if (type && strcmp(type, "AwsServiceEvent") == 0)
		return "AWS Service Event via CloudTrail";
	if (type && strcmp(type, "AwsConsoleSignIn") == 0)
		return "AWS Console Sign In via CloudTrail";
	return "AWS API Call via CloudTrail";
}

/*
 * Push "key": "value" into an object being built.
 */
static void
push_pair(JsonbParseState **st, const char *key, const char *value)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = unconstify(char *, key);
	v.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &v);
	if (value == NULL)
		v.type = jbvNull;
	else
	{
		v.val.string.val = unconstify(char *, value);
		v.val.string.len = strlen(value);
	}
	pushJsonbValue(st, WJB_VALUE, &v);
}

/*
 * Is the key (keylen bytes, not NUL-terminated) name?
 */
static bool
key_is(const char *key, int keylen, const char *name)
{
	return keylen == (int) strlen(name) && memcmp(key, name, keylen) == 0;
}

/* Fields of detail read as they are from the TrailEvent */
static const struct
{
	const char *key;
	size_t		offset;
	bool		jsonb;			/* a Jsonb *, else a char * */
}			detail_fields[] =
{
	{"eventName", offsetof(TrailEvent, event_name), false},
	{"eventSource", offsetof(TrailEvent, event_source), false},
	{"eventCategory", offsetof(TrailEvent, event_category), false},
	{"eventType", offsetof(TrailEvent, event_type), false},
	{"sourceIPAddress", offsetof(TrailEvent, source_ip_address), false},
	{"userAgent", offsetof(TrailEvent, user_agent), false},
	{"errorCode", offsetof(TrailEvent, error_code), false},
	{"userIdentity", offsetof(TrailEvent, user_identity), true},
	{"requestParameters", offsetof(TrailEvent, request_parameters), true}
};

/*
 * The envelope of a stored event as far as it is known before its record
 * is rendered (a TrailPartialField, arg a RuleEvent with its event): at the
 * top, detail-type, source, account, region and detail; in detail, the
 * event's names, category, type, region, account, address, user agent,
 * error code, user identity and request parameters, when set (the record
 * writes the last two as they are).  Each value is exactly the one the full
 * envelope will have; other fields are unknown (event_pattern.c).  Nothing
 * is built: each field is found when a pattern first asks for it.
 */
static bool
envelope_field(void *arg, int level, const char *key, int keylen, JsonbValue *out)
{
	const RuleEvent *e = arg;
	const TrailEvent *ev = e->ev;
	const char *s = NULL;
	Jsonb	   *jb = NULL;

	if (level == 0)
	{
		if (key_is(key, keylen, "detail"))
		{
			trail_event_pattern_detail(out);
			return true;
		}
		if (key_is(key, keylen, "detail-type"))
			s = detail_type(ev->event_category, ev->event_type);
		else if (key_is(key, keylen, "source"))
			s = e->source;
		else if (key_is(key, keylen, "account"))
			s = trail_account_id();
		else if (key_is(key, keylen, "region"))
			s = trail_region();
	}
	else if (key_is(key, keylen, "awsRegion"))
		s = ev->region ? ev->region : trail_region();
	else if (key_is(key, keylen, "recipientAccountId"))
		s = ev->account_id ? ev->account_id : trail_account_id();
	else
	{
		int			i;

		for (i = 0; i < lengthof(detail_fields); i++)
		{
			const char *field = (const char *) ev + detail_fields[i].offset;

			if (!key_is(key, keylen, detail_fields[i].key))
				continue;
			if (detail_fields[i].jsonb)
				jb = *(Jsonb *const *) field;
			else
				s = *(const char *const *) field;
			break;
		}
	}

	if (jb != NULL)
	{
		out->type = jbvBinary;
		out->val.binary.data = &jb->root;
		out->val.binary.len = VARSIZE(jb) - VARHDRSZ;
		return true;
	}
	if (s == NULL)
		return false;
	out->type = jbvString;
	out->val.string.val = unconstify(char *, s);
	out->val.string.len = strlen(s);
	return true;
}

/*
 * Make the event into *e when rules are to be checked at all: not while a
 * target runs, and only where trail is installed and has enabled rules.
 */
static bool
rules_apply(RuleEvent *e, const char *category, const char *event_source,
			const char *event_name, const TrailEvent *ev)
{
	if (dispatching || trail_catalog() == NULL)
		return false;
	load_rules();
	if (nrules == 0)
		return false;
	e->source = envelope_source(event_source);
	e->event_name = event_name;
	e->category = category;
	e->source_len = strlen(e->source);
	e->event_name_len = event_name ? strlen(event_name) : -1;
	e->category_len = category ? strlen(category) : -1;
	e->ev = ev;
	e->lookups = NULL;
	return true;
}

/*
 * Could the rule match the event?  First the names it requires, then, when
 * the caller has the event (ev) and it is not an Insight (whose record has
 * other fields), its pattern against what is known of the envelope, made
 * once per event (and each of its paths looked up once).
 */
static bool
rule_may_match(const Rule *r, RuleEvent *e)
{
	if (!candidate(r, e))
		return false;
	if (e->ev == NULL || strcmp(e->ev->event_category, "Insight") == 0)
		return true;
	if (e->lookups == NULL)
		e->lookups = trail_event_pattern_lookups(envelope_field, e);
	return trail_event_pattern_may_match(r->pattern, e->lookups);
}

/*
 * trail_rules_candidates() for an event already made into a RuleEvent.
 */
static bool
any_candidate(RuleEvent *e)
{
	int			i;

	for (i = 0; i < nrules; i++)
		if (rule_may_match(&rules[i], e))
			return true;
	return false;
}

bool
trail_rules_candidates(const char *category, const char *event_source,
					   const char *event_name, const TrailEvent *ev)
{
	RuleEvent	e;

	return rules_apply(&e, category, event_source, event_name, ev) &&
		any_candidate(&e);
}

/*
 * The ARNs of a record's resources.
 */
static List *
resource_arns(JsonbContainer *rec)
{
	JsonbValue *resources = getKeyJsonValueFromContainer(rec, "resources", 9, NULL);
	List	   *arns = NIL;
	int			i;

	if (resources == NULL || resources->type != jbvBinary ||
		!JsonContainerIsArray(resources->val.binary.data))
		return NIL;
	for (i = 0; i < JsonContainerSize(resources->val.binary.data); i++)
	{
		JsonbValue *r = getIthJsonbValueFromContainer(resources->val.binary.data, i);
		char	   *arn;

		if (r->type == jbvBinary && JsonContainerIsObject(r->val.binary.data) &&
			(arn = trail_json_member_string(r->val.binary.data, "ARN")) != NULL)
			arns = lappend(arns, arn);
	}
	return arns;
}

/*
 * The EventBridge envelope of a CloudTrail record, as jsonb (built around
 * the parsed record, not parsed again).
 */
static Jsonb *
envelope(Jsonb *record, const char *source, const char *id)
{
	JsonbContainer *rec = &record->root;
	JsonbParseState *st = NULL;
	JsonbValue	v;
	ListCell   *lc;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	push_pair(&st, "version", "0");
	push_pair(&st, "id", id);
	push_pair(&st, "detail-type", detail_type(trail_json_member_string(rec, "eventCategory"),
											  trail_json_member_string(rec, "eventType")));
	push_pair(&st, "source", source);
	push_pair(&st, "account", trail_account_id());
	push_pair(&st, "time", trail_json_member_string(rec, "eventTime"));
	push_pair(&st, "region", trail_region());
	v.type = jbvString;
	v.val.string.val = "resources";
	v.val.string.len = 9;
	pushJsonbValue(&st, WJB_KEY, &v);
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, resource_arns(rec))
	{
		v.type = jbvString;
		v.val.string.val = lfirst(lc);
		v.val.string.len = strlen(lfirst(lc));
		pushJsonbValue(&st, WJB_ELEM, &v);
	}
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	v.type = jbvString;
	v.val.string.val = "detail";
	v.val.string.len = 6;
	pushJsonbValue(&st, WJB_KEY, &v);
	v.type = jbvBinary;
	v.val.binary.data = rec;
	v.val.binary.len = VARSIZE(record) - VARHDRSZ;
	pushJsonbValue(&st, WJB_VALUE, &v);
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/*
 * Append the envelope's first members, "version" to "region", after "{".
 */
static void
append_envelope_head(StringInfo buf, JsonbContainer *e)
{
	static const char *const keys[] = {"id", "detail-type", "source", "account", "time", "region"};
	int			i;

	appendStringInfoString(buf, "{\"version\":\"0\"");
	for (i = 0; i < lengthof(keys); i++)
	{
		appendStringInfo(buf, ",\"%s\":", keys[i]);
		escape_json(buf, trail_json_member_string(e, keys[i]));
	}
}

/*
 * The envelope as JSON text, the record's text as its detail (for NOTIFY).
 */
static char *
envelope_text(Jsonb *env, const char *record_text)
{
	JsonbContainer *e = &env->root;
	StringInfoData buf;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&buf);
	append_envelope_head(&buf, e);
	appendStringInfoString(&buf, ",\"resources\":[");
	foreach(lc, resource_arns(getKeyJsonValueFromContainer(e, "detail", 6, NULL)->val.binary.data))
	{
		if (!first)
			appendStringInfoChar(&buf, ',');
		escape_json(&buf, lfirst(lc));
		first = false;
	}
	appendStringInfo(&buf, "],\"detail\":%s}", record_text);
	return buf.data;
}

/*
 * The envelope trimmed to fit NOTIFY: the event's identity and a flag.
 */
static char *
trimmed_envelope(Jsonb *env)
{
	JsonbContainer *e = &env->root;
	JsonbValue *detail = getKeyJsonValueFromContainer(e, "detail", 6, NULL);
	JsonbContainer *d = detail->val.binary.data;
	static const char *const keep[] = {
		"eventID", "eventTime", "eventSource", "eventName", "awsRegion",
		"recipientAccountId"
	};
	JsonbValue *identity = getKeyJsonValueFromContainer(d, "userIdentity", 12, NULL);
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	append_envelope_head(&buf, e);
	appendStringInfoString(&buf, ",\"trimmed\":true,\"detail\":{");
	for (i = 0; i < lengthof(keep); i++)
	{
		char	   *v = trail_json_member_string(d, keep[i]);

		appendStringInfo(&buf, "%s\"%s\":", i > 0 ? "," : "", keep[i]);
		if (v)
			escape_json(&buf, v);
		else
			appendStringInfoString(&buf, "null");
	}
	if (identity != NULL && identity->type == jbvBinary)
	{
		char	   *arn = trail_json_member_string(identity->val.binary.data, "arn");

		appendStringInfoString(&buf, ",\"userIdentity\":{\"arn\":");
		if (arn)
			escape_json(&buf, arn);
		else
			appendStringInfoString(&buf, "null");
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, "}}");
	return buf.data;
}

/*
 * Call a function target in a subtransaction, as the rule's owner; a
 * failure is undone, logged and recorded, and does not reach the caller.
 */
static void
call_function(const Rule *r, Jsonb *env)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Oid			save_userid;
	int			save_sec_context;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		LOCAL_FCINFO(fcinfo, 1);
		FmgrInfo	flinfo;

		if (pg_proc_aclcheck(r->function, r->owner, ACL_EXECUTE) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the owner of rule %s may no longer execute %s",
							r->name, format_procedure(r->function))));
		SetUserIdAndSecContext(r->owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		/* called directly: a function returning void returns NULL */
		fmgr_info(r->function, &flinfo);
		InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, NULL, NULL);
		fcinfo->args[0].value = JsonbPGetDatum(env);
		fcinfo->args[0].isnull = false;
		(void) FunctionCallInvoke(fcinfo);
		SetUserIdAndSecContext(save_userid, save_sec_context);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		TrailEvent	ev;
		StringInfoData params;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		SetUserIdAndSecContext(save_userid, save_sec_context);

		ereport(WARNING,
				(errmsg("trail: the target of rule %s failed: %s", r->name, edata->message)));
		trail_event_init(&ev, "Management", "AwsServiceEvent", TRAIL_SERVICE_NAME);
		ev.event_source = TRAIL_SERVICE_NAME;
		ev.event_name = "InvokeRuleTarget";
		ev.read_only = false;
		initStringInfo(&params);
		appendStringInfoString(&params, "{\"rule\":");
		escape_json(&params, r->name);
		appendStringInfoString(&params, ",\"target\":");
		escape_json(&params, psprintf("function:%s", format_procedure_qualified(r->function)));
		appendStringInfoString(&params, ",\"eventId\":");
		escape_json(&params, trail_json_member_string(getKeyJsonValueFromContainer(&env->root, "detail", 6,
																		NULL)->val.binary.data,
										   "eventID"));
		appendStringInfoChar(&params, '}');
		ev.request_parameters = trail_jsonb_from_text(params.data);
		ev.resources = trail_jsonb_one_resource("PG::Rule", rule_arn(r->name), r->name);
		ev.error_code = unpack_sql_state(edata->sqlerrcode);
		ev.error_message = edata->message;
		trail_store_event(&ev);
	}
	PG_END_TRY();
}

/*
 * Match and run the targets of the rules that could match (the envelope is
 * made for the first one).
 */
static void
dispatch(const char *record_text, RuleEvent *e)
{
	Jsonb	   *env = NULL;
	char	   *env_text = NULL;
	int			i;

	for (i = 0; i < nrules; i++)
	{
		const Rule *r = &rules[i];

		if (!rule_may_match(r, e))
			continue;
		if (env == NULL)
		{
			Jsonb	   *record = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																	CStringGetDatum(record_text)));
			pg_uuid_t	id;
			char		idtext[TRAIL_UUID_STRLEN];

			trail_uuid_v7(&id, GetCurrentTimestamp());
			trail_uuid_string(&id, idtext);
			env = envelope(record, e->source, idtext);
		}
		if (!trail_event_pattern_matches(r->pattern, env))
			continue;
		if (r->channel != NULL)
		{
			if (env_text == NULL)
				env_text = envelope_text(env, record_text);
			trail_notify_at_commit(r->channel, strlen(env_text) <= NOTIFY_PAYLOAD_MAX ?
								   env_text : trimmed_envelope(env));
		}
		else
			call_function(r, env);
	}
}

void
trail_rules_dispatch(const char *record_text, const char *category,
					 const char *event_source, const char *event_name,
					 const TrailEvent *ev)
{
	RuleEvent	e;

	if (!rules_apply(&e, category, event_source, event_name, ev) ||
		!any_candidate(&e))
		return;
	dispatching = true;
	PG_TRY();
	{
		dispatch(record_text, &e);
	}
	PG_FINALLY();
	{
		dispatching = false;
	}
	PG_END_TRY();
}

void
trail_rules_init(void)
{
	CacheRegisterRelcacheCallback(rules_relcache_callback, (Datum) 0);
}
