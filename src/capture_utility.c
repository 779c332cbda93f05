/*-------------------------------------------------------------------------
 *
 * capture_utility.c
 *	  Management events: every utility command becomes a CloudTrail event.
 *
 * The ProcessUtility hook sees every utility command of every database
 * where trail is installed, at every nesting level (top level, inside
 * functions, inside multi-statement strings).  For each one it:
 *
 *	1. refuses commands that would change trail's own tables (protect.c);
 *	2. opens a capture frame, noting the objects the parse tree names
 *	   (roles, databases, tablespaces, GRANT targets: objects that event
 *	   triggers do not report);
 *	3. runs the command; trail's ddl_command_end and sql_drop event triggers
 *	   add every object the command created, altered or dropped, with the
 *	   identities PostgreSQL itself computes (cascaded drops included);
 *	4. once the command has succeeded, writes one event in the same
 *	   transaction (store.c), so a rolled-back command leaves no event.
 *
 * The event: eventName is the command tag in CloudTrail's CamelCase
 * (CREATE TABLE -> CreateTable, GRANT ROLE -> GrantRole); eventSource is
 * iam.postgresql for roles and privileges, ddl.postgresql for the rest;
 * readOnly only for SHOW and EXPLAIN of reads; cluster-wide objects are
 * marked global.  requestParameters hold the statement text, with secrets
 * redacted (redact.c), and the parameters that matter.
 *
 * Commands that are not management events are left to other capturers:
 * transaction control, cursors, prepared statements, LISTEN/NOTIFY, SET,
 * DISCARD, COPY (data), CALL and DO (their inner statements are captured).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "commands/defrem.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parse_type.h"
#include "parser/scansup.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "capture_data.h"
#include "capture_session.h"
#include "capture_utility.h"
#include "reactions.h"
#include "catalog.h"
#include "context.h"
#include "data_store.h"
#include "event.h"
#include "protect.h"
#include "redact.h"
#include "sql.h"
#include "store.h"

PG_FUNCTION_INFO_V1(trail_capture_ddl_command_end);
PG_FUNCTION_INFO_V1(trail_capture_sql_drop);

/* CloudTrail truncates requestParameters at 100 KB */
#define MAX_STATEMENT_BYTES (100 * 1024)

/*
 * One utility command in progress.  Frames nest like the commands do, so
 * that event triggers add objects to the command that fired them.
 */
typedef struct CaptureFrame
{
	struct CaptureFrame *parent;
	bool		capture;		/* will this command be recorded? */
	MemoryContext cxt;			/* where resources are accumulated */
	StringInfoData resources;	/* elements of the "resources" array */
	List	   *arns;			/* ARNs already listed */
	Node	   *parsetree;		/* the command */
	Jsonb	   *caller;			/* a role switch: who switched (before it) */
	char	   *caller_name;	/* and the session user then */
} CaptureFrame;

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static CaptureFrame *current_frame = NULL;

/*
 * Is this a switch of role: SET ROLE, RESET ROLE, SET SESSION
 * AUTHORIZATION (CloudTrail's AssumeRole)?
 */
static bool
is_role_switch(Node *parsetree)
{
	VariableSetStmt *set;

	if (!IsA(parsetree, VariableSetStmt))
		return false;
	set = (VariableSetStmt *) parsetree;
	return (set->kind == VAR_SET_VALUE || set->kind == VAR_SET_DEFAULT ||
			set->kind == VAR_RESET) &&
		set->name != NULL &&
		(strcmp(set->name, "role") == 0 ||
		 strcmp(set->name, "session_authorization") == 0);
}

/*
 * Is this utility command a management event?
 */
static bool
is_management_statement(Node *parsetree)
{
	if (is_role_switch(parsetree))
		return true;
	switch (nodeTag(parsetree))
	{
		case T_TransactionStmt:
		case T_DeclareCursorStmt:
		case T_FetchStmt:
		case T_ClosePortalStmt:
		case T_PrepareStmt:
		case T_ExecuteStmt:
		case T_DeallocateStmt:
		case T_ListenStmt:
		case T_UnlistenStmt:
		case T_NotifyStmt:
		case T_VariableSetStmt:
		case T_DiscardStmt:
		case T_ConstraintsSetStmt:
		case T_LockStmt:
		case T_CopyStmt:
		case T_CallStmt:
		case T_DoStmt:
			return false;
		default:
			return true;
	}
}

/*
 * eventSource: roles, memberships, privileges and policies are IAM's.
 */
static const char *
event_source_for(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_CreateRoleStmt:
		case T_AlterRoleStmt:
		case T_AlterRoleSetStmt:
		case T_DropRoleStmt:
		case T_GrantStmt:
		case T_GrantRoleStmt:
		case T_AlterDefaultPrivilegesStmt:
		case T_ReassignOwnedStmt:
		case T_DropOwnedStmt:
		case T_CreatePolicyStmt:
		case T_AlterPolicyStmt:
		case T_CreateUserMappingStmt:
		case T_AlterUserMappingStmt:
		case T_DropUserMappingStmt:
			return "iam.postgresql";
		case T_DropStmt:
			if (((DropStmt *) parsetree)->removeType == OBJECT_POLICY)
				return "iam.postgresql";
			break;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_ROLE)
				return "iam.postgresql";
			break;
		default:
			break;
	}
	return "ddl.postgresql";
}

/*
 * Does the command act on cluster-wide objects (CloudTrail's global
 * services: roles, databases, tablespaces, server settings)?
 */
static bool
is_global_object_type(ObjectType type)
{
	return type == OBJECT_ROLE || type == OBJECT_DATABASE ||
		type == OBJECT_TABLESPACE || type == OBJECT_PARAMETER_ACL;
}

static bool
is_global_statement(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_CreateRoleStmt:
		case T_AlterRoleStmt:
		case T_AlterRoleSetStmt:
		case T_DropRoleStmt:
		case T_GrantRoleStmt:
		case T_CreatedbStmt:
		case T_DropdbStmt:
		case T_AlterDatabaseStmt:
		case T_AlterDatabaseSetStmt:
		case T_AlterDatabaseRefreshCollStmt:
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
		case T_AlterTableSpaceOptionsStmt:
		case T_AlterSystemStmt:
			return true;
		case T_GrantStmt:
			return is_global_object_type(((GrantStmt *) parsetree)->objtype);
		case T_RenameStmt:
			return is_global_object_type(((RenameStmt *) parsetree)->renameType);
		case T_AlterOwnerStmt:
			return is_global_object_type(((AlterOwnerStmt *) parsetree)->objectType);
		case T_CommentStmt:
			return is_global_object_type(((CommentStmt *) parsetree)->objtype);
		default:
			return false;
	}
}

/*
 * readOnly: true only for commands that change nothing.
 */
static bool
is_read_only_statement(Node *parsetree)
{
	if (IsA(parsetree, VariableShowStmt))
		return true;
	if (IsA(parsetree, ExplainStmt))
	{
		ExplainStmt *stmt = (ExplainStmt *) parsetree;
		Query	   *query = (Query *) stmt->query;
		ListCell   *lc;

		foreach(lc, stmt->options)
		{
			DefElem    *opt = lfirst_node(DefElem, lc);

			/* EXPLAIN ANALYZE runs the statement: a write then writes */
			if (strcmp(opt->defname, "analyze") == 0 && defGetBoolean(opt))
				return IsA(query, Query) && query->commandType == CMD_SELECT &&
					!query->hasModifyingCTE;
		}
		return true;
	}
	return false;
}

char *
trail_camel_case(const char *words)
{
	StringInfoData buf;
	bool		upper = true;
	const char *p;

	initStringInfo(&buf);
	for (p = words; *p; p++)
	{
		if (*p == ' ' || *p == '_' || *p == '-')
		{
			upper = true;
			continue;
		}
		appendStringInfoChar(&buf, upper ? pg_toupper((unsigned char) *p)
							 : pg_tolower((unsigned char) *p));
		upper = false;
	}
	return buf.data;
}

/*
 * Add one resource to the frame, once.  object_type is PostgreSQL's name of
 * the kind ("table", "materialized view", "role"); identity names the
 * object as PostgreSQL's object identity functions do.
 */
static void
add_resource(CaptureFrame *frame, const char *object_type, const char *identity)
{
	MemoryContext old = MemoryContextSwitchTo(frame->cxt);
	char	   *arn;
	char	   *service;
	char	   *p;
	ListCell   *lc;

	if (strcmp(object_type, "role") == 0)
		arn = trail_arn("iam", NULL, psprintf("role/%s", identity));
	else
	{
		bool		global = (strcmp(object_type, "database") == 0 ||
							  strcmp(object_type, "tablespace") == 0 ||
							  strcmp(object_type, "parameter") == 0);

		service = pstrdup(object_type);
		for (p = service; *p; p++)
			if (*p == ' ')
				*p = '-';
		arn = trail_arn(service, global ? NULL : trail_region(), identity);
	}

	foreach(lc, frame->arns)
	{
		if (strcmp((char *) lfirst(lc), arn) == 0)
		{
			MemoryContextSwitchTo(old);
			return;
		}
	}
	frame->arns = lappend(frame->arns, arn);

	if (frame->resources.len > 0)
		appendStringInfoChar(&frame->resources, ',');
	trail_json_resource(&frame->resources,
						psprintf("PG::%s", trail_camel_case(object_type)),
						arn, identity);
	MemoryContextSwitchTo(old);
}

/*
 * The name a RoleSpec stands for: as written (the role may be gone, after
 * DROP ROLE), CURRENT_USER and friends resolved, or PUBLIC.
 */
static const char *
role_spec_name(RoleSpec *spec)
{
	if (spec->roletype == ROLESPEC_PUBLIC)
		return "PUBLIC";
	if (spec->roletype == ROLESPEC_CSTRING)
		return spec->rolename;
	return get_rolespec_name(spec);
}

/*
 * Add a role named by a RoleSpec (PUBLIC is not a role).
 */
static void
add_role_spec(CaptureFrame *frame, RoleSpec *spec)
{
	if (spec != NULL && spec->roletype != ROLESPEC_PUBLIC)
		add_resource(frame, "role", role_spec_name(spec));
}

/*
 * Add a relation named by a RangeVar, with its kind, if it exists.
 */
static void
add_relation(CaptureFrame *frame, RangeVar *rv)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);
	const char *kind;

	if (!OidIsValid(relid))
		return;
	switch (get_rel_relkind(relid))
	{
		case RELKIND_VIEW:
			kind = "view";
			break;
		case RELKIND_MATVIEW:
			kind = "materialized view";
			break;
		case RELKIND_SEQUENCE:
			kind = "sequence";
			break;
		case RELKIND_FOREIGN_TABLE:
			kind = "foreign table";
			break;
		case RELKIND_INDEX:
		case RELKIND_PARTITIONED_INDEX:
			kind = "index";
			break;
		default:
			kind = "table";
			break;
	}
	add_resource(frame, kind,
				 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											get_rel_name(relid)));
}

/*
 * The objects a GRANT or REVOKE names (event triggers report the command
 * but not its objects).
 */
static void
add_grant_objects(CaptureFrame *frame, GrantStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		Node	   *obj = lfirst(lc);

		if (stmt->targtype != ACL_TARGET_OBJECT)
			add_resource(frame, "schema", quote_identifier(strVal(obj)));
		else if (IsA(obj, RangeVar))
			add_relation(frame, (RangeVar *) obj);
		else if (IsA(obj, ObjectWithArgs))
			add_resource(frame, stmt->objtype == OBJECT_PROCEDURE ? "procedure" : "function",
						 NameListToQuotedString(((ObjectWithArgs *) obj)->objname));
		else if (IsA(obj, String))
		{
			const char *kind;

			switch (stmt->objtype)
			{
				case OBJECT_DATABASE:
					kind = "database";
					break;
				case OBJECT_TABLESPACE:
					kind = "tablespace";
					break;
				case OBJECT_SCHEMA:
					kind = "schema";
					break;
				case OBJECT_PARAMETER_ACL:
					kind = "parameter";
					break;
				case OBJECT_LANGUAGE:
					kind = "language";
					break;
				case OBJECT_FDW:
					kind = "foreign-data wrapper";
					break;
				case OBJECT_FOREIGN_SERVER:
					kind = "server";
					break;
				default:
					kind = "object";
					break;
			}
			add_resource(frame, kind, strVal(obj));
		}
		else if (IsA(obj, List))
			add_resource(frame, "type", NameListToQuotedString((List *) obj));
	}
	foreach(lc, stmt->grantees)
		add_role_spec(frame, lfirst_node(RoleSpec, lc));
}

/*
 * Objects named in the parse tree that event triggers do not report:
 * cluster-wide objects, GRANT targets, maintenance targets.  Taken before
 * the command runs, while dropped objects still have their names.
 */
static void
add_parse_tree_resources(CaptureFrame *frame, Node *parsetree)
{
	ListCell   *lc;

	switch (nodeTag(parsetree))
	{
		case T_CreateRoleStmt:
			add_resource(frame, "role", ((CreateRoleStmt *) parsetree)->role);
			break;
		case T_AlterRoleStmt:
			add_role_spec(frame, ((AlterRoleStmt *) parsetree)->role);
			break;
		case T_AlterRoleSetStmt:
			{
				AlterRoleSetStmt *stmt = (AlterRoleSetStmt *) parsetree;

				add_role_spec(frame, stmt->role);
				if (stmt->database)
					add_resource(frame, "database", stmt->database);
			}
			break;
		case T_DropRoleStmt:
			foreach(lc, ((DropRoleStmt *) parsetree)->roles)
				add_role_spec(frame, lfirst_node(RoleSpec, lc));
			break;
		case T_GrantRoleStmt:
			{
				GrantRoleStmt *stmt = (GrantRoleStmt *) parsetree;

				foreach(lc, stmt->granted_roles)
					add_resource(frame, "role", lfirst_node(AccessPriv, lc)->priv_name);
				foreach(lc, stmt->grantee_roles)
					add_role_spec(frame, lfirst_node(RoleSpec, lc));
			}
			break;
		case T_GrantStmt:
			add_grant_objects(frame, (GrantStmt *) parsetree);
			break;
		case T_AlterDefaultPrivilegesStmt:
			{
				AlterDefaultPrivilegesStmt *stmt = (AlterDefaultPrivilegesStmt *) parsetree;

				foreach(lc, stmt->options)
				{
					DefElem    *opt = lfirst_node(DefElem, lc);
					ListCell   *item;

					foreach(item, (List *) opt->arg)
					{
						if (strcmp(opt->defname, "schemas") == 0)
							add_resource(frame, "schema", quote_identifier(strVal(lfirst(item))));
						else if (strcmp(opt->defname, "roles") == 0)
							add_role_spec(frame, lfirst_node(RoleSpec, item));
					}
				}
				foreach(lc, stmt->action->grantees)
					add_role_spec(frame, lfirst_node(RoleSpec, lc));
			}
			break;
		case T_DropOwnedStmt:
			foreach(lc, ((DropOwnedStmt *) parsetree)->roles)
				add_role_spec(frame, lfirst_node(RoleSpec, lc));
			break;
		case T_ReassignOwnedStmt:
			foreach(lc, ((ReassignOwnedStmt *) parsetree)->roles)
				add_role_spec(frame, lfirst_node(RoleSpec, lc));
			add_role_spec(frame, ((ReassignOwnedStmt *) parsetree)->newrole);
			break;
		case T_CreatedbStmt:
			add_resource(frame, "database", ((CreatedbStmt *) parsetree)->dbname);
			break;
		case T_DropdbStmt:
			add_resource(frame, "database", ((DropdbStmt *) parsetree)->dbname);
			break;
		case T_AlterDatabaseStmt:
			add_resource(frame, "database", ((AlterDatabaseStmt *) parsetree)->dbname);
			break;
		case T_AlterDatabaseSetStmt:
			add_resource(frame, "database", ((AlterDatabaseSetStmt *) parsetree)->dbname);
			break;
		case T_AlterDatabaseRefreshCollStmt:
			add_resource(frame, "database", ((AlterDatabaseRefreshCollStmt *) parsetree)->dbname);
			break;
		case T_CreateTableSpaceStmt:
			add_resource(frame, "tablespace", ((CreateTableSpaceStmt *) parsetree)->tablespacename);
			break;
		case T_DropTableSpaceStmt:
			add_resource(frame, "tablespace", ((DropTableSpaceStmt *) parsetree)->tablespacename);
			break;
		case T_AlterTableSpaceOptionsStmt:
			add_resource(frame, "tablespace", ((AlterTableSpaceOptionsStmt *) parsetree)->tablespacename);
			break;
		case T_AlterSystemStmt:
			if (((AlterSystemStmt *) parsetree)->setstmt->name)
				add_resource(frame, "parameter", ((AlterSystemStmt *) parsetree)->setstmt->name);
			break;
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) parsetree;

				if (stmt->renameType == OBJECT_ROLE || stmt->renameType == OBJECT_DATABASE ||
					stmt->renameType == OBJECT_TABLESPACE)
				{
					const char *kind = stmt->renameType == OBJECT_ROLE ? "role" :
					stmt->renameType == OBJECT_DATABASE ? "database" : "tablespace";

					add_resource(frame, kind, stmt->subname);
					add_resource(frame, kind, stmt->newname);
				}
			}
			break;
		case T_AlterOwnerStmt:
			{
				AlterOwnerStmt *stmt = (AlterOwnerStmt *) parsetree;

				if (stmt->objectType == OBJECT_DATABASE)
					add_resource(frame, "database", strVal(stmt->object));
				else if (stmt->objectType == OBJECT_TABLESPACE)
					add_resource(frame, "tablespace", strVal(stmt->object));
				add_role_spec(frame, stmt->newowner);
			}
			break;
		case T_VacuumStmt:
			foreach(lc, ((VacuumStmt *) parsetree)->rels)
			{
				VacuumRelation *vrel = lfirst_node(VacuumRelation, lc);

				if (vrel->relation)
					add_relation(frame, vrel->relation);
			}
			break;
		case T_ClusterStmt:
			if (((ClusterStmt *) parsetree)->relation)
				add_relation(frame, ((ClusterStmt *) parsetree)->relation);
			break;
		case T_ReindexStmt:
			if (((ReindexStmt *) parsetree)->relation)
				add_relation(frame, ((ReindexStmt *) parsetree)->relation);
			break;
		case T_CreateExtensionStmt:
			add_resource(frame, "extension",
						 quote_identifier(((CreateExtensionStmt *) parsetree)->extname));
			break;
		case T_CreateEventTrigStmt:
			add_resource(frame, "event trigger",
						 quote_identifier(((CreateEventTrigStmt *) parsetree)->trigname));
			break;
		case T_AlterEventTrigStmt:
			add_resource(frame, "event trigger",
						 quote_identifier(((AlterEventTrigStmt *) parsetree)->trigname));
			break;
		default:
			break;
	}
}

/*
 * Append a JSON value for an option's argument, secrets redacted.
 */
static void
append_option_value(StringInfo buf, DefElem *def)
{
	Node	   *arg = def->arg;

	if (trail_is_secret_name(def->defname) && arg != NULL)
		escape_json(buf, TRAIL_REDACTED);
	else if (arg == NULL)
		appendStringInfoString(buf, "true");
	else if (IsA(arg, Integer))
		appendStringInfo(buf, "%d", intVal(arg));
	else if (IsA(arg, Boolean))
		appendStringInfoString(buf, boolVal(arg) ? "true" : "false");
	else if (IsA(arg, String) || IsA(arg, Float))
		escape_json(buf, IsA(arg, String) ? strVal(arg) : castNode(Float, arg)->fval);
	else if (IsA(arg, TypeName))
		escape_json(buf, TypeNameToString((TypeName *) arg));
	else if (IsA(arg, RoleSpec))
		escape_json(buf, role_spec_name((RoleSpec *) arg));
	else if (IsA(arg, List))
	{
		ListCell   *lc;

		appendStringInfoChar(buf, '[');
		foreach(lc, (List *) arg)
		{
			Node	   *item = lfirst(lc);

			if (foreach_current_index(lc) > 0)
				appendStringInfoChar(buf, ',');
			if (IsA(item, String))
				escape_json(buf, strVal(item));
			else if (IsA(item, RoleSpec))
				escape_json(buf, role_spec_name((RoleSpec *) item));
			else
				escape_json(buf, nodeToString(item));
		}
		appendStringInfoChar(buf, ']');
	}
	else
		escape_json(buf, nodeToString(arg));
}

/*
 * Append ,"key":{option: value, ...} for a DefElem list, if not empty.
 */
static void
append_options(StringInfo buf, const char *key, List *options)
{
	ListCell   *lc;

	if (options == NIL)
		return;
	appendStringInfo(buf, ",\"%s\":{", key);
	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(buf, ',');
		escape_json(buf, def->defname);
		appendStringInfoChar(buf, ':');
		append_option_value(buf, def);
	}
	appendStringInfoChar(buf, '}');
}

/*
 * Append ,"key":"value".
 */
static void
append_string(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, ",\"%s\":", key);
	trail_json_string(buf, value);
}

/*
 * Append ,"key":[names of roles].
 */
static void
append_roles(StringInfo buf, const char *key, List *roles)
{
	ListCell   *lc;

	appendStringInfo(buf, ",\"%s\":[", key);
	foreach(lc, roles)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(buf, ',');
		escape_json(buf, role_spec_name(lfirst_node(RoleSpec, lc)));
	}
	appendStringInfoChar(buf, ']');
}

/*
 * Append what a GRANT or REVOKE (or a default-privileges one) gives to whom.
 */
static void
append_grant_parameters(StringInfo buf, GrantStmt *stmt)
{
	ListCell   *lc;

	appendStringInfo(buf, ",\"isGrant\":%s,\"withGrantOption\":%s,\"privileges\":[",
					 stmt->is_grant ? "true" : "false",
					 stmt->grant_option ? "true" : "false");
	if (stmt->privileges == NIL)
		escape_json(buf, "ALL");
	foreach(lc, stmt->privileges)
	{
		AccessPriv *priv = lfirst_node(AccessPriv, lc);

		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(buf, ',');
		escape_json(buf, priv->priv_name ? priv->priv_name : "ALL");
	}
	appendStringInfoChar(buf, ']');
	append_roles(buf, "grantees", stmt->grantees);
}

/*
 * The parameters that matter, per command, beyond the statement text.
 */
static void
append_command_parameters(StringInfo buf, Node *parsetree)
{
	ListCell   *lc;

	/* AssumeRole, recorded after the switch: the role now in effect */
	if (is_role_switch(parsetree))
	{
		append_string(buf, "roleArn",
					  trail_arn("iam", NULL,
								psprintf("role/%s", GetUserNameFromId(GetUserId(), false))));
		append_string(buf, "roleSessionName",
					  GetUserNameFromId(GetSessionUserId(), false));
		return;
	}

	switch (nodeTag(parsetree))
	{
		case T_CreateRoleStmt:
			{
				CreateRoleStmt *stmt = (CreateRoleStmt *) parsetree;

				append_string(buf, "roleName", stmt->role);
				append_string(buf, "roleType", stmt->stmt_type == ROLESTMT_USER ? "user" :
							  stmt->stmt_type == ROLESTMT_GROUP ? "group" : "role");
				append_options(buf, "options", stmt->options);
			}
			break;
		case T_AlterRoleStmt:
			append_options(buf, "options", ((AlterRoleStmt *) parsetree)->options);
			break;
		case T_DropRoleStmt:
			append_roles(buf, "roleNames", ((DropRoleStmt *) parsetree)->roles);
			break;
		case T_GrantRoleStmt:
			{
				GrantRoleStmt *stmt = (GrantRoleStmt *) parsetree;

				appendStringInfo(buf, ",\"isGrant\":%s,\"withAdminOption\":%s,\"grantedRoles\":[",
								 stmt->is_grant ? "true" : "false",
								 stmt->admin_opt ? "true" : "false");
				foreach(lc, stmt->granted_roles)
				{
					if (foreach_current_index(lc) > 0)
						appendStringInfoChar(buf, ',');
					escape_json(buf, lfirst_node(AccessPriv, lc)->priv_name);
				}
				appendStringInfoChar(buf, ']');
				append_roles(buf, "grantees", stmt->grantee_roles);
			}
			break;
		case T_GrantStmt:
			append_grant_parameters(buf, (GrantStmt *) parsetree);
			break;
		case T_AlterDefaultPrivilegesStmt:
			append_grant_parameters(buf, ((AlterDefaultPrivilegesStmt *) parsetree)->action);
			break;
		case T_CreatedbStmt:
			append_string(buf, "databaseName", ((CreatedbStmt *) parsetree)->dbname);
			append_options(buf, "options", ((CreatedbStmt *) parsetree)->options);
			break;
		case T_AlterDatabaseStmt:
			append_options(buf, "options", ((AlterDatabaseStmt *) parsetree)->options);
			break;
		case T_AlterSystemStmt:
			{
				VariableSetStmt *set = ((AlterSystemStmt *) parsetree)->setstmt;

				append_string(buf, "name", set->name ? set->name : "ALL");
				if (set->kind == VAR_SET_VALUE)
				{
					char	   *value = ExtractSetVariableArgs(set);

					append_string(buf, "value",
								  trail_is_secret_name(set->name) ? TRAIL_REDACTED : value);
				}
				else
					appendStringInfoString(buf, ",\"reset\":true");
			}
			break;
		case T_CreateExtensionStmt:
			append_string(buf, "extensionName", ((CreateExtensionStmt *) parsetree)->extname);
			append_options(buf, "options", ((CreateExtensionStmt *) parsetree)->options);
			break;
		case T_DropStmt:
			appendStringInfo(buf, ",\"cascade\":%s,\"ifExists\":%s",
							 ((DropStmt *) parsetree)->behavior == DROP_CASCADE ? "true" : "false",
							 ((DropStmt *) parsetree)->missing_ok ? "true" : "false");
			break;
		case T_RenameStmt:
			append_string(buf, "newName", ((RenameStmt *) parsetree)->newname);
			break;
		case T_VacuumStmt:
			append_options(buf, "options", ((VacuumStmt *) parsetree)->options);
			break;
		default:
			break;
	}
}

/*
 * The text of this one statement out of a possibly multi-statement string.
 */
static char *
statement_text(const char *query, int location, int len)
{
	if (location < 0 || location > (int) strlen(query))
	{
		location = 0;
		len = strlen(query);
	}
	else if (len <= 0)
		len = strlen(query + location);
	query += location;

	while (len > 0 && scanner_isspace(query[0]))
		query++, len--;
	while (len > 0 && scanner_isspace(query[len - 1]))
		len--;
	return pnstrdup(query, len);
}

/*
 * The statement with secrets redacted.  Should the lexer fail (it parsed a
 * moment ago, so it should not), fail closed: record no text at all.
 */
static char *
redacted_statement(const char *text)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *result = NULL;

	PG_TRY();
	{
		result = trail_redact_statement(text);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		result = pstrdup(TRAIL_REDACTED);
	}
	PG_END_TRY();
	return result;
}

/*
 * responseElements of AssumeRole: the identity the session now acts as.
 */
static Jsonb *
assumed_role_user(void)
{
	char	   *session = GetUserNameFromId(GetSessionUserId(), false);
	char	   *current = GetUserNameFromId(GetUserId(), false);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"assumedRoleUser\":{\"assumedRoleId\":");
	escape_json(&buf, psprintf("%u:%s", GetUserId(), session));
	appendStringInfoString(&buf, ",\"arn\":");
	if (GetUserId() != GetSessionUserId())
		escape_json(&buf, trail_arn("sts", NULL,
									psprintf("assumed-role/%s/%s", current, session)));
	else
		escape_json(&buf, trail_arn("iam", NULL, psprintf("role/%s", current)));
	appendStringInfoString(&buf, "}}");
	return trail_jsonb_from_text(buf.data);
}

/*
 * Build the event of a utility command that has just succeeded (or, with
 * qc NULL, failed).
 */
static void
statement_event(TrailEvent *ev_out, PlannedStmt *pstmt, const char *query_string,
				ProcessUtilityContext context, QueryCompletion *qc,
				CaptureFrame *frame)
{
	Node	   *parsetree = pstmt->utilityStmt;
	CommandTag	tag = CreateCommandTag(parsetree);
	char	   *text;
	int			cut;
	TrailEvent	ev;
	StringInfoData buf;

	trail_event_init(&ev, "Management", "AwsApiCall", NULL);
	ev.event_source = event_source_for(parsetree);
	ev.event_name = trail_camel_case(GetCommandTagName(tag));
	ev.read_only = is_read_only_statement(parsetree);
	ev.is_global = is_global_statement(parsetree);
	if (frame->caller != NULL)
	{
		/* STS names who called, not the role the call produced */
		ev.event_source = "sts.postgresql";
		ev.event_name = "AssumeRole";
		ev.user_identity = frame->caller;
		ev.user_name = frame->caller_name;
	}

	text = redacted_statement(statement_text(query_string, pstmt->stmt_location,
											 pstmt->stmt_len));
	cut = pg_mbcliplen(text, strlen(text), MAX_STATEMENT_BYTES);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"statement\":");
	escape_json(&buf, pnstrdup(text, cut));
	if (text[cut] != '\0')
		appendStringInfoString(&buf, ",\"statementTruncated\":true");
	append_command_parameters(&buf, parsetree);
	appendStringInfoChar(&buf, '}');
	ev.request_parameters = trail_jsonb_from_text(buf.data);

	if (qc != NULL && command_tag_display_rowcount(qc->commandTag))
		ev.response_elements =
			trail_jsonb_from_text(psprintf("{\"rowCount\":" UINT64_FORMAT "}", qc->nprocessed));
	if (frame->caller != NULL)
	{
		ev.response_elements = assumed_role_user();
		add_resource(frame, "role", GetUserNameFromId(GetUserId(), false));
	}

	resetStringInfo(&buf);
	appendStringInfoString(&buf, "{\"commandTag\":");
	escape_json(&buf, GetCommandTagName(tag));
	appendStringInfo(&buf, ",\"transactionId\":\"" UINT64_FORMAT "\",\"topLevel\":%s}",
					 U64FromFullTransactionId(ev.transaction_id),
					 context == PROCESS_UTILITY_TOPLEVEL ? "true" : "false");
	ev.additional_event_data = trail_jsonb_from_text(buf.data);

	if (frame->resources.len > 0)
		ev.resources = trail_jsonb_from_text(psprintf("[%s]", frame->resources.data));
	*ev_out = ev;
}

/* What a failed command's event needs (record_failed_statement) */
typedef struct FailedStatement
{
	PlannedStmt *pstmt;
	const char *query_string;
	ProcessUtilityContext context;
	CaptureFrame *frame;
	bool		installed;
} FailedStatement;

/*
 * Record a utility command that failed: the event it would have had, with
 * the error, through the spool (a trail_on_failure() callback).
 */
static void
record_failed_statement(void *arg, ErrorData *edata)
{
	FailedStatement *f = arg;
	TrailEvent	ev;

	statement_event(&ev, f->pstmt, f->query_string, f->context, NULL, f->frame);
	trail_record_failure(&ev, edata, f->installed ? MyDatabaseId : InvalidOid);
}

/*
 * Is the command DROP EXTENSION trail?
 */
static bool
is_drop_of_trail(Node *parsetree)
{
	DropStmt   *drop;
	ListCell   *lc;

	if (!IsA(parsetree, DropStmt))
		return false;
	drop = (DropStmt *) parsetree;
	if (drop->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, drop->objects)
		if (strcmp(strVal(lfirst(lc)), "trail") == 0)
			return true;
	return false;
}

/*
 * Is the command run by trail itself, or by an extension script?  Neither
 * is a user's management event (CREATE EXTENSION itself is).
 */
static bool
is_plumbing(void)
{
	return trail_sql_internal() || creating_extension;
}

/*
 * ProcessUtility hook: protect, capture, run, record.
 */
static void
trail_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		installed = (trail_catalog() != NULL);
	CaptureFrame frame;
	Oid			copy_relid = InvalidOid;
	bool		copy_from = false;
	Oid			outer_copy_from;

	if (installed)
	{
		trail_protect_utility(pstmt);

		/* COPY of a table moves data: its rows are data events */
		if (IsA(parsetree, CopyStmt) && ((CopyStmt *) parsetree)->relation != NULL)
		{
			copy_relid = RangeVarGetRelid(((CopyStmt *) parsetree)->relation,
										  NoLock, true);
			copy_from = ((CopyStmt *) parsetree)->is_from;
		}

		/* the capture triggers go before the functions they call */
		if (is_drop_of_trail(parsetree) && !is_plumbing())
			trail_data_store_drop_triggers();
	}

	memset(&frame, 0, sizeof(frame));
	frame.parent = current_frame;
	frame.parsetree = parsetree;
	/*
	 * Subcommands (the sequence of a serial column, the index of a primary
	 * key) are part of their parent's event, which lists their objects.
	 */
	frame.capture = (installed || IsA(parsetree, CreateExtensionStmt) ||
					 is_global_statement(parsetree)) &&
		context != PROCESS_UTILITY_SUBCOMMAND &&
		is_management_statement(parsetree) &&
		!is_plumbing() && !RecoveryInProgress() && !IsParallelWorker();
	if (frame.capture)
	{
		frame.cxt = CurrentMemoryContext;
		initStringInfo(&frame.resources);
		add_parse_tree_resources(&frame, parsetree);
		if (is_role_switch(parsetree))
		{
			/* a copy: the cached identity is rebuilt after the switch */
			Jsonb	   *caller = trail_user_identity(NULL);

			frame.caller = palloc(VARSIZE(caller));
			memcpy(frame.caller, caller, VARSIZE(caller));
			frame.caller_name = GetUserNameFromId(GetSessionUserId(), false);
		}
	}

	/* the reactions of a transaction wait with it when it is prepared */
	if (IsA(parsetree, TransactionStmt) &&
		((TransactionStmt *) parsetree)->kind == TRANS_STMT_PREPARE)
		trail_reactions_preparing(((TransactionStmt *) parsetree)->gid);

	current_frame = &frame;
	trail_context_utility_enter();
	outer_copy_from = trail_capture_copy_from_begin(copy_from ? copy_relid : InvalidOid);
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		FailedStatement failed = {pstmt, queryString, context, &frame, installed};

		trail_capture_copy_from_end(outer_copy_from);
		trail_context_utility_exit();
		current_frame = frame.parent;
		if (frame.capture)
			trail_on_failure(record_failed_statement, &failed, frame.cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	trail_capture_copy_from_end(outer_copy_from);
	trail_context_utility_exit();
	current_frame = frame.parent;

	if (IsA(parsetree, TransactionStmt) &&
		(((TransactionStmt *) parsetree)->kind == TRANS_STMT_COMMIT_PREPARED ||
		 ((TransactionStmt *) parsetree)->kind == TRANS_STMT_ROLLBACK_PREPARED))
		trail_reactions_finish_prepared(((TransactionStmt *) parsetree)->gid,
										((TransactionStmt *) parsetree)->kind ==
										TRANS_STMT_COMMIT_PREPARED);
	if (OidIsValid(copy_relid) && !copy_from)
		trail_capture_copy_to(copy_relid, qc != NULL ? qc->nprocessed : 0);
	if (installed && IsA(parsetree, RenameStmt) &&
		((RenameStmt *) parsetree)->renameType == OBJECT_COLUMN &&
		((RenameStmt *) parsetree)->relation != NULL)
	{
		RenameStmt *rename = (RenameStmt *) parsetree;

		trail_data_store_column_renamed(RangeVarGetRelid(rename->relation, NoLock, true),
										rename->subname, rename->newname);
	}

	/*
	 * DROP EXTENSION trail leaves nowhere to write; CREATE EXTENSION does.
	 * A cluster-wide command where trail is not installed reaches the home
	 * database through the spool, once it has committed.
	 */
	if (frame.capture)
	{
		TrailEvent	ev;

		statement_event(&ev, pstmt, queryString, context, qc, &frame);
		if (trail_catalog() != NULL)
			trail_store_event(&ev);
		else if (ev.is_global)
			trail_spool_at_commit(&ev);
	}
}

/*
 * Shared body of the event trigger functions: read the objects PostgreSQL
 * reports for the command, refuse changes to trail's own objects, and add
 * the objects to the command's frame.  The queries run in the caller's
 * session, so every function, operator and type in them is qualified; their
 * plans are kept for the session, as they run for every DDL command.
 */
static void
collect_objects(FunctionCallInfo fcinfo, const char *query, SPIPlanPtr *plan,
				bool changed)
{
	EventTriggerData *trigdata;
	const char *tag;
	uint64		i;
	List	   *changed_types = NIL;
	List	   *changed_oids = NIL;
	ListCell   *t;
	ListCell   *o;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function can only be called by the event trigger manager")));
	trigdata = (EventTriggerData *) fcinfo->context;
	tag = GetCommandTagName(trigdata->tag);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "trail: SPI_connect failed");
	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(query, 0, NULL);

		if (prepared == NULL)
			elog(ERROR, "trail: could not prepare \"%s\": %s", query,
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(prepared);
		*plan = prepared;
	}
	if (SPI_execute_plan(*plan, NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "trail: could not read the objects of %s", tag);

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *object_type = SPI_getvalue(tup, desc, 1);
		char	   *schema_name = SPI_getvalue(tup, desc, 2);
		char	   *identity = SPI_getvalue(tup, desc, 3);
		bool		isnull;
		bool		listed = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));

		trail_protect_object(tag, object_type, schema_name, identity);
		if (current_frame != NULL && current_frame->capture && listed &&
			object_type != NULL && identity != NULL)
			add_resource(current_frame, object_type, identity);
		if (changed && object_type != NULL)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

			changed_types = lappend(changed_types, pstrdup(object_type));
			changed_oids = lappend_oid(changed_oids,
									   DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull)));
			MemoryContextSwitchTo(oldcxt);
		}
	}
	SPI_finish();

	/* new, renamed or moved tables may be picked by the data selectors now */
	forboth(t, changed_types, o, changed_oids)
		trail_data_store_object_changed(lfirst(t), lfirst_oid(o));
	list_free_deep(changed_types);
	list_free(changed_oids);
}

/*
 * Event trigger on ddl_command_end: the objects a command created or altered.
 */
Datum
trail_capture_ddl_command_end(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;

	collect_objects(fcinfo,
					"SELECT object_type, schema_name, object_identity, true, objid"
					"  FROM pg_catalog.pg_event_trigger_ddl_commands()", &plan, true);
	PG_RETURN_NULL();
}

/*
 * Event trigger on sql_drop: the objects a command dropped, cascades
 * included.  Relations dropped with their owner (a serial's sequence, a
 * table's indexes) are listed; other internal objects (a table's row type,
 * a column default, a view's rewrite rule, TOAST storage) are not.
 */
Datum
trail_capture_sql_drop(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;

	collect_objects(fcinfo,
					"SELECT object_type, schema_name, object_identity,"
					" original OR normal OR (object_type OPERATOR(pg_catalog.=) ANY"
					"   ('{table,index,sequence,view,materialized view,foreign table}'::pg_catalog.text[])"
					"   AND schema_name OPERATOR(pg_catalog.<>) 'pg_toast')"
					"  , objid FROM pg_catalog.pg_event_trigger_dropped_objects()", &plan, true);
	PG_RETURN_NULL();
}

void
trail_capture_utility_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = trail_ProcessUtility;
}

Oid
trail_truncating_ancestor_of(Oid relid)
{
	List	   *ancestors;
	ListCell   *lc;

	if (current_frame == NULL || !IsA(current_frame->parsetree, TruncateStmt) ||
		!get_rel_relispartition(relid))
		return InvalidOid;
	ancestors = get_partition_ancestors(relid);
	foreach(lc, ((TruncateStmt *) current_frame->parsetree)->relations)
	{
		RangeVar   *rv = lfirst_node(RangeVar, lc);
		Oid			named = RangeVarGetRelid(rv, NoLock, true);

		if (OidIsValid(named) && named != relid && list_member_oid(ancestors, named))
			return named;
	}
	return InvalidOid;
}
