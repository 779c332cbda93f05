/*-------------------------------------------------------------------------
 *
 * analysis_failure.c
 *	  Statements that fail before any hook sees them: errors of parse
 *	  analysis (an unknown column or table, a permission error while a name
 *	  is looked up, a value that does not fit a column's type), which come
 *	  before post_parse_analyze_hook and the planner, executor and utility
 *	  hooks that record other failures (capture_session.c).
 *
 * Only emit_log_hook sees such an error, while the server reports it and
 * before the transaction aborts.  That is no place for catalog access (the
 * error may have left a lock held or a cache half-built, and an error
 * raised there would replace the one being reported), so the work is
 * split in two:
 *
 *	- emit_log_hook spools a candidate, fsynced before the client hears of
 *	  the error like every spooled event, with what the session knows
 *	  without its catalog: the statement's text and the error's position
 *	  in it, search_path and standard_conforming_strings (how the text is
 *	  read), the session and current roles (OIDs), the fields every event
 *	  has (time, id, session, source address, user agent, request,
 *	  transaction) and the error.  Candidates are errors with a
 *	  position in the statement (parse analysis says where it failed;
 *	  errors of execution carry no position) and permission errors; not
 *	  syntax errors (the statement cannot be known) and not errors of a
 *	  statement whose failure a hook has recorded already.
 *	- The worker that drains the spool (spool.c) resolves each candidate in
 *	  its transaction: it parses the text again (raw parsing needs no
 *	  catalog) as the session lexed it, takes the statement the position
 *	  falls in, finds the tables it names with the session's search_path
 *	  as the session's current role would, and builds the event the
 *	  statement would have had: a data event (Select, Insert, Update,
 *	  Delete, Merge) with the tables as resources, or a management event
 *	  (CREATE TABLE AS, SELECT INTO, CREATE MATERIALIZED VIEW, whose
 *	  queries are analysed before the utility hook runs).  It is stored
 *	  when it lacked privilege (always), or when the store's selectors pick
 *	  it (a selected table, a management event); any other candidate is
 *	  dropped.
 *
 * Limits (README, Caveats): names are resolved when the spool is drained,
 * a few seconds later, so a table created, dropped or renamed in between is
 * seen as it is then; and a failing query inside a function is known by
 * its own text (the error's internal query), not by the outer statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "libpq/libpq-be.h"
#include "catalog/namespace.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parser.h"
#include "parser/scansup.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "analysis_failure.h"
#include "capture_session.h"
#include "capture_utility.h"
#include "catalog.h"
#include "context.h"
#include "data_store.h"
#include "event.h"
#include "selectors.h"
#include "spool.h"
#include "trail.h"

/* the member of a spooled record that makes it a candidate */
#define CANDIDATE_KEY "analysisFailure"

bool
trail_analysis_failure_spool(ErrorData *edata)
{
	const char *text;
	int			position;
	TrailEvent	ev;
	StringInfoData rec;
	char	   *event;
	bool		top_level;

	if (edata->elevel != ERROR || MyProcPort == NULL || IsBackgroundWorker ||
		!trail_catalog_seen() || edata->sqlerrcode == ERRCODE_SYNTAX_ERROR)
		return false;

	/* an error in a function's query names that query (SPI, SQL functions) */
	top_level = (edata->internalquery == NULL);
	text = top_level ? debug_query_string : edata->internalquery;
	position = top_level ? edata->cursorpos : edata->internalpos;
	if (text == NULL ||
		(position <= 0 && edata->sqlerrcode != ERRCODE_INSUFFICIENT_PRIVILEGE))
		return false;

	/* the fields of trail_event_init() that need no catalog */
	memset(&ev, 0, sizeof(ev));
	ev.event_time = GetCurrentTimestamp();
	trail_uuid_v7(&ev.event_id, ev.event_time);
	ev.event_category = "Data";	/* until the drainer knows */
	ev.event_type = "AwsApiCall";
	ev.region = MyProcPort->database_name;
	ev.access_key_id = trail_access_key_id();
	ev.source_ip_address = trail_source_ip();
	ev.user_agent = trail_user_agent();
	if (top_level)
		trail_begin_request_if_top_level();
	ev.request_id = trail_request_id();
	ev.transaction_id = GetTopFullTransactionIdIfAny();
	ev.error_code = trail_error_code_name(edata->sqlerrcode);
	ev.error_message = edata->message;
	event = trail_spool_record(&ev);

	/* the record is a JSON object: the candidate is one more member */
	initStringInfo(&rec);
	appendBinaryStringInfo(&rec, event, strlen(event) - 1);
	appendStringInfoString(&rec, ",\"" CANDIDATE_KEY "\":{\"statement\":");
	escape_json(&rec, text);
	appendStringInfo(&rec, ",\"position\":\"%d\",\"sqlState\":\"%s\",\"topLevel\":\"%s\","
					 "\"sessionUser\":\"%u\",\"currentUser\":\"%u\",\"sessionStart\":",
					 position, unpack_sql_state(edata->sqlerrcode),
					 top_level ? "true" : "false", GetSessionUserId(), GetUserId());
	trail_json_time(&rec, MyStartTimestamp);
	appendStringInfoString(&rec, ",\"searchPath\":");
	escape_json(&rec, namespace_search_path ? namespace_search_path : "");
	appendStringInfo(&rec, ",\"standardConformingStrings\":\"%s\"",
					 standard_conforming_strings ? "on" : "off");
	if (trail_session_context != NULL)
	{
		appendStringInfoString(&rec, ",\"sessionContext\":");
		escape_json(&rec, trail_session_context);
	}
	appendStringInfoString(&rec, "}}");
	return trail_spool_write(rec.data, MyDatabaseId);
}

/* The statement of a candidate, and what resolving it found */
typedef struct Candidate
{
	JsonbContainer *record;		/* the spooled record */
	JsonbContainer *fields;		/* its candidate member */
	RawStmt    *stmt;			/* the statement that failed */
	const char *text;			/* its text */
	List	   *names;			/* RangeVars it names */
	List	   *cte_names;		/* names its WITH clauses define */
} Candidate;

/*
 * raw_expression_tree_walker callback: the tables a statement names (and
 * its WITH queries, whose names are not tables).
 */
static bool
collect_names(Node *node, Candidate *c)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeVar))
	{
		c->names = lappend(c->names, node);
		return false;
	}
	if (IsA(node, CommonTableExpr))
		c->cte_names = lappend(c->cte_names, ((CommonTableExpr *) node)->ctename);
	return raw_expression_tree_walker(node, collect_names, (void *) c);
}

/*
 * A field of the candidate as text, "" when it is missing.
 */
static const char *
field(Candidate *c, const char *key)
{
	char	   *value = trail_json_member_string(c->fields, key);

	return value ? value : "";
}

/*
 * Parse the candidate's text and find the statement the error's position
 * (in characters, from 1) falls in; without a position, the only one.
 * The text is lexed as its session lexed it: with standard_conforming_strings
 * off, 'it\'s' is one string literal, and read with it on, the rest of the
 * text would be a syntax error.
 */
static bool
find_statement(Candidate *c)
{
	const char *text = field(c, "statement");
	int			position = atoi(field(c, "position"));
	const char *scs = field(c, "standardConformingStrings");
	int			nestlevel = NewGUCNestLevel();
	int			offset = 0;
	List	   *stmts;
	ListCell   *lc;

	/* spooled before the setting was: the default */
	(void) set_config_option("standard_conforming_strings", *scs ? scs : "on",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	/* the session was warned of its backslashes already */
	(void) set_config_option("escape_string_warning", "off",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	stmts = raw_parser(text, RAW_PARSE_DEFAULT);
	AtEOXact_GUC(true, nestlevel);
	while (--position > 0 && text[offset] != '\0')
		offset += pg_mblen(text + offset);
	foreach(lc, stmts)
	{
		RawStmt    *rs = lfirst_node(RawStmt, lc);
		int			len = rs->stmt_len > 0 ? rs->stmt_len :
			strlen(text + rs->stmt_location);

		if ((offset >= rs->stmt_location && offset < rs->stmt_location + len) ||
			(position <= 0 && list_length(stmts) == 1))
		{
			const char *start = text + rs->stmt_location;

			/* a statement after another begins with the space between */
			while (len > 0 && scanner_isspace(*start))
				start++, len--;
			c->stmt = rs;
			c->text = pnstrdup(start, len);
			return true;
		}
	}
	return false;
}

/*
 * The relation a name means to the failed session: schema-qualified, or
 * the first on its search_path (set by the caller, as its role).
 */
static Oid
resolve_name(Candidate *c, RangeVar *rv)
{
	ListCell   *lc;
	Oid			nsp;

	if (rv->schemaname == NULL)
	{
		foreach(lc, c->cte_names)
			if (strcmp(lfirst(lc), rv->relname) == 0)
				return InvalidOid;
		return RelnameGetRelid(rv->relname);
	}
	nsp = get_namespace_oid(rv->schemaname, true);
	return OidIsValid(nsp) ? get_relname_relid(rv->relname, nsp) : InvalidOid;
}

/*
 * The resources of the tables the statement names, as the session would
 * have found them: its search_path, its current role (for "$user" and the
 * schemas it may use); NULL for none.
 */
static char *
statement_resources(Candidate *c)
{
	Oid			current = atooid(field(c, "currentUser"));
	int			nestlevel = NewGUCNestLevel();
	Oid			save_user;
	int			save_sec;
	StringInfoData buf;
	ListCell   *lc;

	GetUserIdAndSecContext(&save_user, &save_sec);
	if (SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(current)))
		SetUserIdAndSecContext(current, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	(void) set_config_option("search_path", field(c, "searchPath"), PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	initStringInfo(&buf);
	foreach(lc, c->names)
	{
		Oid			relid = resolve_name(c, lfirst_node(RangeVar, lc));
		char	   *arn;

		if (!OidIsValid(relid) || trail_is_own_relation(relid))
			continue;
		arn = trail_table_arn_of(relid);
		if (buf.len > 0)
			appendStringInfoChar(&buf, ',');
		trail_json_resource(&buf, "PG::Table", arn, trail_table_name(relid));
	}

	AtEOXact_GUC(true, nestlevel);
	SetUserIdAndSecContext(save_user, save_sec);
	return buf.len > 0 ? psprintf("[%s]", buf.data) : NULL;
}

/*
 * The event of the failed statement, as the members that complete the
 * spooled record, or NULL when it is not one to record.
 */
static char *
candidate_event(Candidate *c)
{
	Node	   *stmt = c->stmt->stmt;
	const char *name;
	bool		management = false;
	bool		read_only = false;
	char	   *resources;
	Jsonb	   *identity;
	char	   *user_name;
	const char *source;
	const char *sql_state = field(c, "sqlState");
	SelectorEvent sel = {0};
	StringInfoData buf;

	switch (nodeTag(stmt))
	{
		case T_InsertStmt:
			name = "Insert";
			break;
		case T_UpdateStmt:
			name = "Update";
			break;
		case T_DeleteStmt:
			name = "Delete";
			break;
		case T_MergeStmt:
			name = "Merge";
			break;
		case T_SelectStmt:
			management = (((SelectStmt *) stmt)->intoClause != NULL);
			name = management ? "SelectInto" : "Select";
			read_only = !management;
			break;
		case T_CreateTableAsStmt:
			management = true;
			name = trail_camel_case(GetCommandTagName(CreateCommandTag(stmt)));
			stmt = ((CreateTableAsStmt *) stmt)->query;
			break;
		default:
			return NULL;		/* analysed elsewhere, or not recorded */
	}
	source = management ? "ddl.postgresql" : "table.postgresql";
	(void) collect_names(stmt, c);
	resources = statement_resources(c);
	identity = trail_user_identity_of(atooid(field(c, "sessionUser")),
									  atooid(field(c, "currentUser")),
									  DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
																			  CStringGetDatum(field(c, "sessionStart")),
																			  ObjectIdGetDatum(InvalidOid),
																			  Int32GetDatum(-1))),
									  trail_json_member_string(c->record, "access_key_id"),
									  trail_json_member_string(c->fields, "sessionContext"));
	user_name = trail_json_member_string(&identity->root, "userName");

	/* a permission error always counts; anything else as selectors say */
	sel.event_category = management ? "Management" : "Data";
	sel.event_name = name;
	sel.read_only = read_only;
	sel.event_source = source;
	sel.user_arn = trail_json_member_string(&identity->root, "arn");
	if (resources != NULL)
		trail_selector_event_resources(&sel, trail_jsonb_from_text(resources));
	if (strcmp(sql_state, "42501") != 0 && !trail_selects_event(&sel))
		return NULL;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"event_category\":\"%s\",\"event_source\":\"%s\","
					 "\"management_event\":%s,\"read_only\":%s,\"event_name\":",
					 sel.event_category, source, management ? "true" : "false",
					 read_only ? "true" : "false");
	escape_json(&buf, name);
	appendStringInfoString(&buf, ",\"user_identity\":");
	appendStringInfoString(&buf, JsonbToCString(NULL, &identity->root, VARSIZE(identity)));
	appendStringInfoString(&buf, ",\"user_name\":");
	escape_json(&buf, user_name ? user_name : "");
	appendStringInfoString(&buf, ",\"request_parameters\":{\"statement\":");
	escape_json(&buf, c->text);
	appendStringInfo(&buf, "},\"resources\":%s,\"additional_event_data\":{",
					 resources && !management ? resources : "null");
	if (management)
	{
		appendStringInfoString(&buf, "\"commandTag\":");
		escape_json(&buf, GetCommandTagName(CreateCommandTag(c->stmt->stmt)));
		appendStringInfo(&buf, ",\"topLevel\":%s,", field(c, "topLevel"));
	}
	appendStringInfo(&buf, "\"sqlState\":\"%s\"}}", sql_state);
	return buf.data;
}

Jsonb *
trail_analysis_failure_resolve(Jsonb *record)
{
	JsonbValue *member = getKeyJsonValueFromContainer(&record->root, CANDIDATE_KEY,
													  strlen(CANDIDATE_KEY), NULL);
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Candidate	c = {0};
	char	   *event = NULL;

	if (member == NULL)
		return record;
	if (member->type != jbvBinary)
		return NULL;
	c.record = &record->root;
	c.fields = member->val.binary.data;

	/*
	 * A subtransaction: text that no longer parses (a session's lexer
	 * settings), or anything else that goes wrong, costs this candidate,
	 * with a warning, and never the spool behind it.
	 */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		if (find_statement(&c))
			event = candidate_event(&c);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ereport(WARNING,
				(errmsg("trail: a failed statement could not be resolved and is not recorded: %s",
						edata->message)));
		event = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;

	if (event == NULL)
		return NULL;
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
											  DirectFunctionCall2(jsonb_delete,
																  JsonbPGetDatum(record),
																  CStringGetTextDatum(CANDIDATE_KEY)),
											  JsonbPGetDatum(trail_jsonb_from_text(event))));
}
