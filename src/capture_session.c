/*-------------------------------------------------------------------------
 *
 * capture_session.c
 *	  The events a transaction cannot carry: logins (successful or not),
 *	  logouts, and statements that fail.  They go through the spool
 *	  (spool.c), fsynced before the client hears of the outcome.
 *
 * Logins: ClientAuthentication_hook sees every authentication that gets as
 * far as a method (success, wrong password, unknown role); a success is a
 * login once the session has started (the commit that ends InitPostgres).
 * emit_log_hook sees the connection attempts refused before, during or
 * after it (pg_hba.conf rejects the connection or has no entry for it, a
 * role that does not exist or may not log in, reserved or no free slots, a
 * database that does not exist).  Each attempt is one
 * Login event (signin.postgresql, AwsConsoleSignIn, responseElements
 * {"Login": "Success"|"Failure"}), global, in the home database.  A role
 * that does not exist is recorded as CloudTrail records mistyped names,
 * HIDDEN_DUE_TO_SECURITY_REASONS, unless trail.log_unknown_user_names is
 * on.  A session that logged in gets a Logout event when it ends, with its
 * duration.
 *
 * Failed statements: capture_utility.c builds the event of a management
 * command that fails as it would have recorded it, and passes it here;
 * planner, ExecutorStart and ExecutorRun hooks do the same for a query
 * that fails for lack of privilege (always recorded) or on a table whose
 * data events are selected.  An error of parse analysis, such as an
 * unknown column, comes before any hook: emit_log_hook spools it as a
 * candidate that the spool's drainer resolves (analysis_failure.c).  The
 * event gets errorCode (the SQLSTATE's condition name in
 * CloudTrail's style, InsufficientPrivilege) and errorMessage, and the
 * SQLSTATE in additionalEventData.  An error is recorded once, by the
 * innermost statement that raised it, even when it passes through outer
 * statements (functions, DO blocks).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "executor/executor.h"
#include "optimizer/planner.h"
#include "libpq/auth.h"
#include "libpq/hba.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "analysis_failure.h"
#include "capture_session.h"
#include "catalog.h"
#include "context.h"
#include "data_store.h"
#include "selectors.h"
#include "event.h"
#include "spool.h"
#include "trail.h"

/* SQLSTATE -> condition name, generated from the server's errcodes.txt */
static const struct
{
	const char *sqlstate;
	const char *name;
}			error_names[] = {
#include "error_names.h"
};

static ClientAuthentication_hook_type prev_ClientAuthentication = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static planner_hook_type prev_planner = NULL;

/* login state of this process */
static bool login_recorded = false;
static bool logged_in = false;
static bool auth_ok = false;	/* authenticated; logged in at the next commit */
static const char *auth_method = NULL;
static TimestampTz login_time = 0;
static char *login_user = NULL;

/* an error already recorded by an inner statement (until it is handled) */
static bool failure_recorded = false;

const char *
trail_error_code_name(int sqlerrcode)
{
	const char *state = unpack_sql_state(sqlerrcode);
	int			i;

	for (i = 0; i < lengthof(error_names); i++)
	{
		if (strcmp(error_names[i].sqlstate, state) == 0)
		{
			/* insufficient_privilege -> InsufficientPrivilege */
			const char *p = error_names[i].name;
			char	   *out = palloc(strlen(p) + 1);
			char	   *o = out;
			bool		upper = true;

			for (; *p; p++)
			{
				if (*p == '_')
				{
					upper = true;
					continue;
				}
				*o++ = upper ? pg_toupper((unsigned char) *p) : *p;
				upper = false;
			}
			*o = '\0';
			return out;
		}
	}
	return pstrdup(state);
}

/*
 * The JSON text of a login attempt's additionalEventData.
 */
static char *
login_details(Port *port, const char *method)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"authenticationMethod\":");
	escape_json(&buf, method ? method : "none");
	appendStringInfoString(&buf, ",\"database\":");
	escape_json(&buf, port && port->database_name ? port->database_name : "");
	appendStringInfoString(&buf, ",\"applicationName\":");
	escape_json(&buf, port && port->application_name ? port->application_name : "");
	appendStringInfoString(&buf, ",\"clientPort\":");
	escape_json(&buf, port && port->remote_port[0] ? port->remote_port : "");
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * Write a Login or Logout event of this connection to the global spool.
 * user is NULL when the role does not exist (and is not to be shown).
 */
static void
spool_session_event(const char *event_name, const char *user, bool role_exists,
					const char *method, const char *outcome, const char *error_message,
					const char *extra)
{
	TrailEvent	ev;
	StringInfoData buf;
	Port	   *port = MyProcPort;
	const char *shown = role_exists || trail_log_unknown_user_names ?
		(user ? user : "") : "HIDDEN_DUE_TO_SECURITY_REASONS";

	memset(&ev, 0, sizeof(ev));
	ev.event_time = GetCurrentTimestamp();
	trail_uuid_v7(&ev.event_id, ev.event_time);
	ev.event_category = "Management";
	ev.event_type = "AwsConsoleSignIn";
	ev.event_source = "signin.postgresql";
	ev.event_name = event_name;
	ev.management_event = true;
	ev.is_global = true;
	ev.user_name = shown;
	ev.access_key_id = trail_access_key_id();
	ev.source_ip_address = port == NULL ? "local" :
		(port->raddr.addr.ss_family == AF_UNIX ? "local" : port->remote_host);
	ev.user_agent = port && port->application_name && port->application_name[0] ?
		port->application_name : NULL;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"type\":");
	escape_json(&buf, role_exists ? "Role" : "Unknown");
	if (role_exists)
	{
		appendStringInfoString(&buf, ",\"arn\":");
		escape_json(&buf, trail_arn("iam", NULL, psprintf("role/%s", shown)));
	}
	appendStringInfoString(&buf, ",\"accountId\":");
	escape_json(&buf, trail_account_id());
	appendStringInfoString(&buf, ",\"userName\":");
	escape_json(&buf, shown);
	appendStringInfoChar(&buf, '}');
	ev.user_identity = trail_jsonb_from_text(buf.data);

	ev.response_elements = trail_jsonb_from_text(psprintf("{\"%s\":\"%s\"}",
														  event_name, outcome));
	ev.additional_event_data = trail_jsonb_from_text(extra ? extra :
													 login_details(port, method));
	/*
	 * As CloudTrail: no errorCode, errorMessage "Failed authentication",
	 * here followed by the server's reason unless that would show a name
	 * that is to stay hidden.
	 */
	if (error_message != NULL)
		ev.error_message = role_exists || trail_log_unknown_user_names ?
			psprintf("Failed authentication: %s", error_message) :
			"Failed authentication";
	(void) trail_spool_write(trail_spool_record(&ev), InvalidOid);
}

/*
 * Does a role of that name exist?  (Shared catalog: readable during
 * authentication.)
 */
static bool
role_exists(const char *name)
{
	return name != NULL &&
		SearchSysCacheExists1(AUTHNAME, CStringGetDatum(name));
}

/*
 * Logout at the end of a session that logged in.
 */
static void
logout_callback(int code, Datum arg)
{
	long		secs;
	int			usecs;

	if (!logged_in)
		return;
	logged_in = false;
	TimestampDifference(login_time, GetCurrentTimestamp(), &secs, &usecs);
	spool_session_event("Logout", login_user, true, NULL, "Success", NULL,
						psprintf("{\"sessionDuration\":\"%ld.%03d\",\"database\":\"%s\"}",
								 secs, usecs / 1000,
								 MyProcPort && MyProcPort->database_name ?
								 MyProcPort->database_name : ""));
}

/*
 * ClientAuthentication hook: the outcome of an authentication.  A success
 * is a login only once the server has accepted the session (the role may
 * not log in, its database may not exist, the slots may be reserved): it
 * is recorded at the commit that ends the session's start (InitPostgres),
 * and a refusal before that by emit_log_hook.
 */
static void
trail_ClientAuthentication(Port *port, int status)
{
	auth_method = port->hba ? hba_authname(port->hba->auth_method) : NULL;
	if (status == STATUS_OK)
		auth_ok = true;
	else
	{
		spool_session_event("Login", port->user_name, role_exists(port->user_name),
							auth_method, "Failure", "authentication failed", NULL);
		login_recorded = true;
	}
	if (prev_ClientAuthentication)
		prev_ClientAuthentication(port, status);
}

/*
 * The session has started: its login succeeded.
 */
static void
login_succeeded(void)
{
	Port	   *port = MyProcPort;

	auth_ok = false;
	login_recorded = true;
	spool_session_event("Login", port->user_name, true, auth_method, "Success", NULL, NULL);
	logged_in = true;
	login_time = GetCurrentTimestamp();
	login_user = MemoryContextStrdup(TopMemoryContext, port->user_name);
	before_shmem_exit(logout_callback, (Datum) 0);
}

/*
 * emit_log_hook: connection attempts refused outside the authentication
 * hook (they end in FATAL before the session starts), and statements that
 * failed before any hook saw them.
 */
static void
trail_emit_log(ErrorData *edata)
{
	/* any refusal of a connection before its session started */
	if (edata->elevel == FATAL && !login_recorded && !logged_in &&
		MyProcPort != NULL && MyProcPort->user_name != NULL && !IsBackgroundWorker)
	{
		Port	   *port = MyProcPort;
		bool		exists;

		/*
		 * No PG_TRY here: this runs while edata is being reported, and
		 * catching an error would have to flush the error stack that holds
		 * edata itself.  Nothing below throws but a failed allocation or a
		 * broken catalog; such an error is raised to FATAL (elog.c lifts a
		 * nested error to the level of the one being reported) and ends
		 * the connection attempt, which this FATAL was ending anyway, and
		 * login_recorded keeps the hook from coming back here for it.
		 */
		login_recorded = true;
		/* the catalog is readable once the session's start has begun */
		exists = !IsTransactionState() || role_exists(port->user_name);
		spool_session_event("Login", port->user_name, exists,
							port->hba ? hba_authname(port->hba->auth_method) : auth_method,
							"Failure", edata->message, NULL);
	}
	else if (edata->elevel == ERROR && !failure_recorded &&
			 trail_analysis_failure_spool(edata))
		failure_recorded = true;
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
trail_record_failure(TrailEvent *ev, ErrorData *edata, Oid dboid)
{
	StringInfoData extra;

	if (failure_recorded)
		return;
	failure_recorded = true;
	ev->error_code = trail_error_code_name(edata->sqlerrcode);
	ev->error_message = edata->message;
	initStringInfo(&extra);
	if (ev->additional_event_data != NULL)
	{
		char	   *old = JsonbToCString(NULL, &ev->additional_event_data->root,
										 VARSIZE(ev->additional_event_data));

		appendBinaryStringInfo(&extra, old, strlen(old) - 1);
		appendStringInfoChar(&extra, ',');
	}
	else
		appendStringInfoChar(&extra, '{');
	appendStringInfo(&extra, "\"sqlState\":\"%s\"}", unpack_sql_state(edata->sqlerrcode));
	ev->additional_event_data = trail_jsonb_from_text(extra.data);
	ev->response_elements = NULL;
	(void) trail_spool_write(trail_spool_record(ev), dboid);
}

/*
 * A query failed: record it when it lacked privilege or touched a table
 * whose data events are selected.  Called in PG_CATCH, before the
 * transaction aborts, with the error.
 */
static void
query_failed(List *rtable, CmdType operation, const char *source_text, ErrorData *edata)
{
	bool		denied = (edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE);
	ListCell   *lc;
	StringInfoData resources;
	bool		selected = false;
	const char *event_name;
	TrailEvent	ev;
	StringInfoData params;

	if (failure_recorded || trail_catalog() == NULL || IsParallelWorker())
		return;

	initStringInfo(&resources);
	foreach(lc, rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		char	   *arn;

		if (rte->rtekind != RTE_RELATION || rte->requiredPerms == 0 ||
			trail_is_own_relation(rte->relid))
			continue;
		arn = trail_table_arn_of(rte->relid);
		selected |= trail_selects_table(arn, operation == CMD_SELECT);
		if (resources.len > 0)
			appendStringInfoChar(&resources, ',');
		trail_json_resource(&resources, "PG::Table", arn, trail_table_name(rte->relid));
	}
	if (!denied && !selected)
		return;

	switch (operation)
	{
		case CMD_INSERT:
			event_name = "Insert";
			break;
		case CMD_UPDATE:
			event_name = "Update";
			break;
		case CMD_DELETE:
			event_name = "Delete";
			break;
		case CMD_MERGE:
			event_name = "Merge";
			break;
		default:
			event_name = "Select";
			break;
	}
	trail_event_init(&ev, "Data", "AwsApiCall", NULL);
	ev.event_source = "table.postgresql";
	ev.event_name = event_name;
	ev.read_only = (operation == CMD_SELECT);
	ev.management_event = false;
	initStringInfo(&params);
	appendStringInfoString(&params, "{\"statement\":");
	escape_json(&params, source_text ? source_text : "");
	appendStringInfoChar(&params, '}');
	ev.request_parameters = trail_jsonb_from_text(params.data);
	if (resources.len > 0)
		ev.resources = trail_jsonb_from_text(psprintf("[%s]", resources.data));
	trail_record_failure(&ev, edata, MyDatabaseId);
}

void
trail_on_failure(void (*record) (void *arg, ErrorData *edata), void *arg,
				 MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	PG_TRY();
	{
		record(arg, edata);
	}
	PG_CATCH();
	{
		/* recording failed too: the statement's own error goes on */
		FlushErrorState();
		ReThrowError(edata);
	}
	PG_END_TRY();
	PG_RE_THROW();
}

/*
 * query_failed() as a trail_on_failure() callback, for the executor.
 */
static void
record_query_failure(void *arg, ErrorData *edata)
{
	QueryDesc  *queryDesc = (QueryDesc *) arg;

	query_failed(queryDesc->plannedstmt->rtable, queryDesc->operation,
				 queryDesc->sourceText, edata);
}

/* What planning a query knows of it (record_planning_failure) */
typedef struct PlanningQuery
{
	Query	   *parse;
	const char *query_string;
} PlanningQuery;

/*
 * query_failed() as a trail_on_failure() callback, for the planner: errors
 * found while planning (constant folding) are failures of the query too.
 */
static void
record_planning_failure(void *arg, ErrorData *edata)
{
	PlanningQuery *q = (PlanningQuery *) arg;

	query_failed(q->parse->rtable, q->parse->commandType, q->query_string, edata);
}

/*
 * planner_hook: errors while planning.
 */
static PlannedStmt *
trail_session_planner(Query *parse, const char *query_string, int cursorOptions,
					  ParamListInfo boundParams)
{
	MemoryContext cxt = CurrentMemoryContext;
	PlannedStmt *volatile result = NULL;
	PlanningQuery q = {parse, query_string};

	PG_TRY();
	{
		if (prev_planner)
			result = prev_planner(parse, query_string, cursorOptions, boundParams);
		else
			result = standard_planner(parse, query_string, cursorOptions, boundParams);
	}
	PG_CATCH();
	{
		trail_on_failure(record_planning_failure, &q, cxt);
	}
	PG_END_TRY();
	return result;
}

/*
 * ExecutorStart hook: permission checks happen here.
 */
static void
trail_session_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		if (prev_ExecutorStart)
			prev_ExecutorStart(queryDesc, eflags);
		else
			standard_ExecutorStart(queryDesc, eflags);
	}
	PG_CATCH();
	{
		trail_on_failure(record_query_failure, queryDesc, cxt);
	}
	PG_END_TRY();
}

/*
 * ExecutorRun hook: errors while the query runs.
 */
static void
trail_session_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
						  uint64 count, bool execute_once)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_CATCH();
	{
		trail_on_failure(record_query_failure, queryDesc, cxt);
	}
	PG_END_TRY();
}

/*
 * Records that wait for their transaction to commit (global events of a
 * database without trail: written when the commit is done).
 */
typedef struct PendingRecord
{
	SubTransactionId subid;
	char	   *record;
} PendingRecord;

static List *pending_records = NIL; /* in TopTransactionContext */

void
trail_spool_at_commit(const TrailEvent *ev)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	PendingRecord *p = palloc(sizeof(PendingRecord));

	p->subid = GetCurrentSubTransactionId();
	p->record = trail_spool_record(ev);
	pending_records = lappend(pending_records, p);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Transaction callbacks: a handled (or finished) error may be followed by
 * another one, which is recorded again.
 */
static void
session_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	/*
	 * The session's start is committing: look for trail here while the
	 * catalog may be read, for the errors of its first statement.
	 */
	if (event == XACT_EVENT_PRE_COMMIT && auth_ok && !login_recorded)
		(void) trail_catalog();
	if (event == XACT_EVENT_COMMIT && auth_ok && !login_recorded)
		login_succeeded();

	if (event == XACT_EVENT_COMMIT)
		foreach(lc, pending_records)
			(void) trail_spool_write(((PendingRecord *) lfirst(lc))->record, InvalidOid);
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PREPARE)
	{
		failure_recorded = false;
		pending_records = NIL;	/* its memory goes with the transaction */
	}
}

static void
session_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (event == SUBXACT_EVENT_ABORT_SUB)
		failure_recorded = false;
	foreach(lc, pending_records)
	{
		PendingRecord *p = lfirst(lc);

		if (p->subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			p->subid = parentSubid;
		else if (event == SUBXACT_EVENT_ABORT_SUB)
			pending_records = foreach_delete_current(pending_records, lc);
	}
}

void
trail_capture_session_init(void)
{
	prev_ClientAuthentication = ClientAuthentication_hook;
	ClientAuthentication_hook = trail_ClientAuthentication;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = trail_emit_log;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = trail_session_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = trail_session_ExecutorRun;
	prev_planner = planner_hook;
	planner_hook = trail_session_planner;
	RegisterXactCallback(session_xact_callback, NULL);
	RegisterSubXactCallback(session_subxact_callback, NULL);
}
