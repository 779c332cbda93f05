/*-------------------------------------------------------------------------
 *
 * context.c
 *	  Who acts, from where, in which request.
 *
 * These are the fields every event shares, mapped from CloudTrail:
 *
 *	userIdentity		session_user / current_user: type Superuser, Role, or
 *						AssumedRole after SET ROLE; principalId the role oid;
 *						arn arn:postgresql:iam::<account>:role/<name>
 *	accessKeyId			the session id, as log_line_prefix %c prints it
 *	sourceIPAddress		client address, or "local" for a Unix socket
 *	userAgent			application_name
 *	requestID			unique per top-level statement
 *	recipientAccountId	the cluster's system identifier
 *	awsRegion			the database
 *
 * requestID must be the same for every event of one top-level statement,
 * also for DDL run inside a function that statement called, so statement
 * nesting is tracked through the executor and ProcessUtility: a statement
 * that starts at nesting level zero begins a new request.  The id itself is
 * made only when the first event of the request needs it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "executor/executor.h"
#include "libpq/libpq-be.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "context.h"
#include "event.h"
#include "trail.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

/* statement nesting depth (executor runs and utility commands) */
static int	nesting_level = 0;

/* the command of the query whose AFTER triggers are firing (ExecutorFinish) */
static CmdType finishing_operation = CMD_UNKNOWN;

/* requestID of the current top-level statement, made on first use */
static char request_id[UUID_LEN * 2 + 5];
static bool request_id_valid = false;

static void identity_cache_callback(Datum arg, int cacheid, uint32 hashvalue);

/* per-session values, computed once */
static char access_key_id[32];
static char account_id[32];

void
trail_begin_request_if_top_level(void)
{
	if (nesting_level == 0)
		request_id_valid = false;
}

static void
trail_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	trail_begin_request_if_top_level();
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
trail_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
				  uint64 count, bool execute_once)
{
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

static void
trail_ExecutorFinish(QueryDesc *queryDesc)
{
	CmdType		outer_operation = finishing_operation;

	nesting_level++;
	finishing_operation = queryDesc->operation;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		nesting_level--;
		finishing_operation = outer_operation;
	}
	PG_END_TRY();
}

void
trail_context_utility_enter(void)
{
	trail_begin_request_if_top_level();
	nesting_level++;
}

void
trail_context_utility_exit(void)
{
	nesting_level--;
}

void
trail_context_init(void)
{
	CacheRegisterSyscacheCallback(AUTHOID, identity_cache_callback, (Datum) 0);

	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = trail_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = trail_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = trail_ExecutorFinish;
}

const char *
trail_request_id(void)
{
	if (!request_id_valid)
	{
		pg_uuid_t	id;

		StaticAssertStmt(sizeof(request_id) >= TRAIL_UUID_STRLEN,
						 "request_id holds a UUID's text");
		trail_uuid_v7(&id, GetCurrentTimestamp());
		/* straight into the buffer: uuid_out would allocate and copy */
		trail_uuid_string(&id, request_id);
		request_id_valid = true;
	}
	return request_id;
}

const char *
trail_access_key_id(void)
{
	if (access_key_id[0] == '\0')
		snprintf(access_key_id, sizeof(access_key_id), "%lx.%x",
				 (long) MyStartTime, MyProcPid);
	return access_key_id;
}

const char *
trail_account_id(void)
{
	if (account_id[0] == '\0')
		snprintf(account_id, sizeof(account_id), UINT64_FORMAT,
				 GetSystemIdentifier());
	return account_id;
}

const char *
trail_region(void)
{
	static char region[NAMEDATALEN];

	/* a database cannot be renamed while we are connected to it */
	if (region[0] == '\0')
	{
		char	   *name = get_database_name(MyDatabaseId);

		if (name == NULL)
			return "";
		strlcpy(region, name, sizeof(region));
	}
	return region;
}

const char *
trail_source_ip(void)
{
	if (MyProcPort == NULL)
		return TRAIL_SERVICE_NAME;	/* background worker: trail itself */
	if (MyProcPort->raddr.addr.ss_family == AF_UNIX)
		return "local";
	return MyProcPort->remote_host ? MyProcPort->remote_host : "unknown";
}

const char *
trail_user_agent(void)
{
	if (MyProcPort == NULL)
		return TRAIL_SERVICE_NAME;
	if (application_name == NULL || application_name[0] == '\0')
		return NULL;
	return application_name;
}

/*
 * Append "key":"value" (value escaped) to an object under construction.
 */
static void
add_string(StringInfo buf, const char *key, const char *value)
{
	appendStringInfoChar(buf, ',');
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
	trail_json_string(buf, value);
}

/*
 * The ARN of a role, as IAM spells a role's.
 */
static char *
role_arn(const char *name)
{
	return trail_arn("iam", NULL, psprintf("role/%s", name));
}

/*
 * The identity of the last event, kept for the next one: most statements of
 * a session act as the same roles with the same session context.  Any change
 * to any role (rename, superuser status) forgets it.
 */
static struct
{
	bool		valid;
	Oid			session_oid;
	Oid			current_oid;
	char	   *session_context;
	Jsonb	   *identity;
	char	   *arn;			/* identity's "arn", for selectors */
}			identity_cache;

/*
 * The session user's name (userName of every event), kept the same way:
 * looking it up is a catalog cache search and a copy per event.
 */
static struct
{
	bool		valid;
	Oid			oid;
	char		name[NAMEDATALEN];
}			session_user_name;

static void
identity_cache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	identity_cache.valid = false;
	session_user_name.valid = false;
}

/*
 * Build userIdentity as JSON text and parse it: the roles of a session (by
 * OID, so that the spool's drainer can build it for another session), when
 * the session started, its access key and its trail.session_context.
 */
static Jsonb *
identity_of(Oid session_oid, Oid current_oid, TimestampTz session_start,
			const char *access_key, const char *session_context,
			const char *invoked_by)
{
	StringInfoData buf;
	char	   *session_name = GetUserNameFromId(session_oid, true);
	char	   *current_name = GetUserNameFromId(current_oid, true);
	bool		assumed = (session_oid != current_oid);
	const char *type;

	if (session_name == NULL)
		session_name = psprintf("%u", session_oid);
	if (current_name == NULL)
		current_name = psprintf("%u", current_oid);

	if (MyProcPort == NULL && invoked_by != NULL)
		type = "PGService";		/* trail's own background worker */
	else if (assumed)
		type = "AssumedRole";
	else if (superuser_arg(session_oid))
		type = "Superuser";
	else
		type = "Role";

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"type\":");
	trail_json_string(&buf, type);

	if (assumed)
	{
		add_string(&buf, "principalId", psprintf("%u:%s", current_oid, session_name));
		add_string(&buf, "arn", trail_arn("sts", NULL,
										  psprintf("assumed-role/%s/%s",
												   current_name, session_name)));
	}
	else
	{
		add_string(&buf, "principalId", psprintf("%u", current_oid));
		add_string(&buf, "arn", role_arn(current_name));
	}
	add_string(&buf, "accountId", trail_account_id());
	add_string(&buf, "accessKeyId", access_key);
	add_string(&buf, "userName", session_name);
	if (invoked_by != NULL)
		add_string(&buf, "invokedBy", invoked_by);

	/* sessionContext: how the session came to be, and whom the app says */
	appendStringInfoString(&buf, ",\"sessionContext\":{\"sessionIssuer\":");
	if (assumed)
	{
		appendStringInfoString(&buf, "{\"type\":\"Role\"");
		add_string(&buf, "principalId", psprintf("%u", current_oid));
		add_string(&buf, "arn", role_arn(current_name));
		add_string(&buf, "accountId", trail_account_id());
		add_string(&buf, "userName", current_name);
		appendStringInfoChar(&buf, '}');
	}
	else
		appendStringInfoString(&buf, "{}");
	appendStringInfoString(&buf, ",\"webIdFederationData\":{},\"attributes\":{\"creationDate\":");
	trail_json_time(&buf, session_start);
	appendStringInfoString(&buf, ",\"mfaAuthenticated\":\"false\"}");
	if (session_context != NULL && session_context[0] != '\0')
	{
		/* CloudTrail truncates caller-supplied strings at 1 KB; so do we */
		char	   *ctx = pnstrdup(session_context,
								   pg_mbcliplen(session_context,
												strlen(session_context), 1024));

		add_string(&buf, "sourceIdentity", ctx);
	}
	appendStringInfoString(&buf, "}}");

	return trail_jsonb_from_text(buf.data);
}

/*
 * userIdentity of this session as it acts now.
 */
static Jsonb *
build_user_identity(const char *invoked_by)
{
	return identity_of(GetSessionUserId(), GetUserId(), MyStartTimestamp,
					   trail_access_key_id(), trail_session_context, invoked_by);
}

Jsonb *
trail_user_identity_of(Oid session_oid, Oid current_oid, TimestampTz session_start,
					   const char *access_key, const char *session_context)
{
	return identity_of(session_oid, current_oid, session_start, access_key,
					   session_context, NULL);
}

Jsonb *
trail_user_identity(const char *invoked_by)
{
	const char *ctx = trail_session_context ? trail_session_context : "";
	MemoryContext old;

	/* trail's own work is rare; only the users' identities are kept */
	if (invoked_by != NULL)
		return build_user_identity(invoked_by);

	if (identity_cache.valid &&
		identity_cache.session_oid == GetSessionUserId() &&
		identity_cache.current_oid == GetUserId() &&
		strcmp(identity_cache.session_context, ctx) == 0)
		return identity_cache.identity;

	old = MemoryContextSwitchTo(TopMemoryContext);
	if (identity_cache.identity)
		pfree(identity_cache.identity);
	if (identity_cache.session_context)
		pfree(identity_cache.session_context);
	if (identity_cache.arn)
		pfree(identity_cache.arn);
	identity_cache.valid = false;
	identity_cache.identity = build_user_identity(NULL);
	{
		JsonbValue *arn = getKeyJsonValueFromContainer(&identity_cache.identity->root,
													   "arn", 3, NULL);

		identity_cache.arn = pnstrdup(arn->val.string.val, arn->val.string.len);
	}
	identity_cache.session_context = pstrdup(ctx);
	identity_cache.session_oid = GetSessionUserId();
	identity_cache.current_oid = GetUserId();
	identity_cache.valid = true;
	MemoryContextSwitchTo(old);
	return identity_cache.identity;
}

const char *
trail_session_user_name(void)
{
	Oid			session = GetSessionUserId();

	if (!session_user_name.valid || session_user_name.oid != session)
	{
		char	   *name = GetUserNameFromId(session, true);

		/* a role dropped under the session is named by its OID */
		if (name != NULL)
			strlcpy(session_user_name.name, name, sizeof(session_user_name.name));
		else
			snprintf(session_user_name.name, sizeof(session_user_name.name),
					 "%u", session);
		session_user_name.oid = session;
		session_user_name.valid = true;
	}
	return session_user_name.name;
}

const char *
trail_user_arn(void)
{
	(void) trail_user_identity(NULL);
	return identity_cache.arn;
}

CmdType
trail_finishing_operation(void)
{
	return finishing_operation;
}
