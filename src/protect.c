/*-------------------------------------------------------------------------
 *
 * protect.c
 *	  Append-only events: nobody but trail itself changes trail's tables.
 *
 * Events must be unforgeable and undeletable through SQL, for superusers
 * too: an audit trail that its subject can edit proves nothing.  Three
 * checks together close the SQL paths:
 *
 *	- the executor's permission hook refuses INSERT, UPDATE, DELETE, MERGE
 *	  and COPY FROM on any relation in schema trail (the parent, a partition
 *	  or the default partition), unless trail itself is writing (sql.c);
 *	- the ProcessUtility hook refuses, before they run, the commands that
 *	  event triggers cannot see or cannot attribute to trail's schema:
 *	  TRUNCATE, a table created as a partition or child of trail's tables,
 *	  rules, triggers and policies on them, ALTER EXTENSION trail ADD/DROP,
 *	  disabling or renaming trail's event triggers, dropping or renaming
 *	  schema trail (a cascade would remove the sql_drop trigger before it
 *	  fires; a rename would hide trail from itself), moving trail's objects
 *	  to another schema, and dropping its tables (PostgreSQL refuses to drop
 *	  extension members too, but less clearly); and dropping, renaming,
 *	  replacing or disabling the capture triggers of data events, which a
 *	  table's owner could otherwise use to write unrecorded (changing the
 *	  event selectors is how capture stops);
 *	- trail's event triggers refuse every other DDL whose objects lie in
 *	  schema trail (ALTER TABLE ... DETACH PARTITION, DROP TABLE of a day,
 *	  DROP SCHEMA trail CASCADE, ...), which rolls the command back.
 *
 * GRANT, REVOKE, COMMENT and SECURITY LABEL stay allowed (granting read
 * access is how auditors get in), as do VACUUM, ANALYZE, CLUSTER and
 * REINDEX, which change no event, and DROP EXTENSION trail, which is the
 * documented way to uninstall.  What SQL cannot stop (a superuser editing
 * data files, or restarting without the library) is for the signed digests
 * of delivered log files to expose.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/objectaddress.h"
#include "catalog/namespace.h"
#include "catalog/pg_event_trigger.h"
#include "catalog/pg_trigger.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "catalog.h"
#include "protect.h"
#include "sql.h"

static ExecutorCheckPerms_hook_type prev_ExecutorCheckPerms = NULL;

/*
 * May trail's objects be changed right now?  Only by trail itself: its own
 * SQL, or its extension script (CREATE or ALTER EXTENSION trail).
 */
static bool
change_allowed(void)
{
	const TrailCatalog *cat;

	if (trail_sql_internal())
		return true;
	if (!creating_extension)
		return false;
	cat = trail_catalog();
	return cat == NULL || CurrentExtensionObject == cat->extension_oid;
}

/*
 * Refuse a change to trail's events, naming what was attempted.
 */
static void
refuse(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("trail events are append-only: %s is not allowed", what),
			 errdetail("Events are written only by trail's capture and removed only by its retention, for every role including superusers."),
			 errhint("To read events, grant the trail_reader role; to keep them for less time, set trail.retention_period.")));
}

/*
 * Is this a superuser's plain INSERT (or COPY FROM) into one of the tables
 * of settings that pg_dump dumps with the extension (selectors, capture
 * options)?  That is how pg_restore brings them back; changing them goes
 * through trail.update_event_data_store() and trail.set_capture_options().
 */
static bool
is_settings_restore(RangeTblEntry *rte)
{
	const char *name;

	if (rte->requiredPerms & (ACL_UPDATE | ACL_DELETE) || !superuser())
		return false;
	name = get_rel_name(rte->relid);
	return name != NULL && (strcmp(name, "event_data_store") == 0 ||
							strcmp(name, "capture_options") == 0);
}

/*
 * Executor permission hook: no DML on trail's relations from outside.
 */
static bool
trail_ExecutorCheckPerms(List *rangeTable, bool ereport_on_violation)
{
	ListCell   *lc;

	if (!change_allowed())
	{
		foreach(lc, rangeTable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION &&
				(rte->requiredPerms & (ACL_INSERT | ACL_UPDATE | ACL_DELETE)) != 0 &&
				trail_is_own_relation(rte->relid) &&
				!is_settings_restore(rte))
				refuse(psprintf("%s on %s",
								(rte->requiredPerms & ACL_INSERT) ? "INSERT" :
								(rte->requiredPerms & ACL_DELETE) ? "DELETE" : "UPDATE",
								get_rel_name(rte->relid)));
		}
	}

	if (prev_ExecutorCheckPerms)
		return prev_ExecutorCheckPerms(rangeTable, ereport_on_violation);
	return true;
}

/*
 * Is the RangeVar one of trail's relations?
 */
static bool
names_own_relation(RangeVar *rv)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);

	return OidIsValid(relid) && trail_is_own_relation(relid);
}

/*
 * Does the named object (a function, type, ...) live in schema trail?
 */
static bool
object_in_trail_schema(ObjectType type, Node *object)
{
	const TrailCatalog *cat = trail_catalog();
	Relation	rel;
	ObjectAddress address;
	Oid			nsp;

	if (cat == NULL || object == NULL)
		return false;
	address = get_object_address(type, object, &rel, AccessShareLock, true);
	if (!OidIsValid(address.objectId))
		return false;
	if (rel != NULL)
		table_close(rel, NoLock);
	nsp = get_object_namespace(&address);
	return nsp == cat->namespace_oid;
}

/*
 * Is the event trigger of this name one of trail's own?
 */
static bool
is_own_event_trigger(const char *name)
{
	const TrailCatalog *cat = trail_catalog();
	Oid			evtoid = get_event_trigger_oid(name, true);

	return cat != NULL && OidIsValid(evtoid) &&
		getExtensionOfObject(EventTriggerRelationId, evtoid) == cat->extension_oid;
}

/*
 * Is the trigger of this name on this table one of trail's capture
 * triggers (its function is trail.capture_change)?
 */
static bool
is_capture_trigger(Oid relid, const char *name)
{
	const TrailCatalog *cat = trail_catalog();
	Relation	pg_trigger;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		capture = false;

	if (cat == NULL || !OidIsValid(relid) || name == NULL)
		return false;
	pg_trigger = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_trigger_tgname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(name));
	scan = systable_beginscan(pg_trigger, TriggerRelidNameIndexId, true,
							  NULL, 2, keys);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		Oid			fn = ((Form_pg_trigger) GETSTRUCT(tup))->tgfoid;
		char	   *fname = get_func_name(fn);

		capture = get_func_namespace(fn) == cat->namespace_oid &&
			fname != NULL && strcmp(fname, "capture_change") == 0;
	}
	systable_endscan(scan);
	table_close(pg_trigger, AccessShareLock);
	return capture;
}

/*
 * Does an ALTER TABLE enable or disable one of trail's capture triggers
 * (by name, or with ALL or USER)?  Any change of their firing mode but to
 * ALWAYS (which they are, and which a restore repeats) would let writes go
 * unrecorded.
 */
static bool
alters_capture_trigger(AlterTableStmt *stmt)
{
	ListCell   *lc;
	Oid			relid = InvalidOid;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		switch (cmd->subtype)
		{
			case AT_EnableTrig:
			case AT_EnableReplicaTrig:
			case AT_DisableTrig:
			case AT_EnableTrigAll:
			case AT_DisableTrigAll:
			case AT_EnableTrigUser:
			case AT_DisableTrigUser:
				if (!OidIsValid(relid))
					relid = RangeVarGetRelid(stmt->relation, NoLock, true);
				if (is_capture_trigger(relid, cmd->name ? cmd->name : "trail_capture_insert"))
					return true;
				break;
			default:
				break;
		}
	}
	return false;
}

/*
 * Does DROP TRIGGER name one of trail's capture triggers?
 */
static bool
drops_capture_trigger(DropStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		List	   *names = lfirst(lc);
		List	   *table = list_truncate(list_copy(names), list_length(names) - 1);
		Oid			relid = RangeVarGetRelid(makeRangeVarFromNameList(table),
											 NoLock, true);

		if (is_capture_trigger(relid, strVal(llast(names))))
			return true;
	}
	return false;
}

void
trail_protect_utility(PlannedStmt *pstmt)
{
	Node	   *parsetree = pstmt->utilityStmt;
	ListCell   *lc;

	if (change_allowed())
		return;

	switch (nodeTag(parsetree))
	{
		case T_TruncateStmt:
			foreach(lc, ((TruncateStmt *) parsetree)->relations)
				if (names_own_relation(lfirst_node(RangeVar, lc)))
					refuse("TRUNCATE");
			break;
		case T_CreateStmt:
			foreach(lc, ((CreateStmt *) parsetree)->inhRelations)
				if (names_own_relation(lfirst_node(RangeVar, lc)))
					refuse("a table attached to trail's tables");
			break;
		case T_RuleStmt:
			if (names_own_relation(((RuleStmt *) parsetree)->relation))
				refuse("a rule on trail's tables");
			break;
		case T_CreateTrigStmt:
			{
				CreateTrigStmt *stmt = (CreateTrigStmt *) parsetree;

				if (names_own_relation(stmt->relation))
					refuse("a trigger on trail's tables");
				if (stmt->replace &&
					is_capture_trigger(RangeVarGetRelid(stmt->relation, NoLock, true),
									   stmt->trigname))
					refuse("replacing trail's capture triggers");
			}
			break;
		case T_AlterTableStmt:
			if (alters_capture_trigger((AlterTableStmt *) parsetree))
				refuse("enabling or disabling trail's capture triggers (change the event selectors instead)");
			break;
		case T_CreatePolicyStmt:
			if (names_own_relation(((CreatePolicyStmt *) parsetree)->table))
				refuse("a policy on trail's tables");
			break;
		case T_AlterPolicyStmt:
			if (names_own_relation(((AlterPolicyStmt *) parsetree)->table))
				refuse("a policy on trail's tables");
			break;
		case T_AlterExtensionContentsStmt:
			if (strcmp(((AlterExtensionContentsStmt *) parsetree)->extname, "trail") == 0)
				refuse("ALTER EXTENSION trail ADD or DROP");
			break;
		case T_AlterEventTrigStmt:
			if (is_own_event_trigger(((AlterEventTrigStmt *) parsetree)->trigname))
				refuse("ALTER EVENT TRIGGER on trail's event triggers");
			break;
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) parsetree;

				/* an event trigger's name is in object; subname is NULL */
				if (stmt->renameType == OBJECT_EVENT_TRIGGER &&
					is_own_event_trigger(strVal(stmt->object)))
					refuse("renaming trail's event triggers");
				/* trail finds its schema by name: renaming it hides it */
				if (stmt->renameType == OBJECT_SCHEMA &&
					strcmp(stmt->subname, "trail") == 0)
					refuse("renaming schema trail");
				if (stmt->renameType == OBJECT_TRIGGER &&
					is_capture_trigger(RangeVarGetRelid(stmt->relation, NoLock, true),
									   stmt->subname))
					refuse("renaming trail's capture triggers");
			}
			break;
		case T_DropStmt:
			{
				DropStmt   *stmt = (DropStmt *) parsetree;

				if (stmt->removeType == OBJECT_TRIGGER && drops_capture_trigger(stmt))
					refuse("dropping trail's capture triggers (change the event selectors instead)");

				/*
				 * DROP SCHEMA trail CASCADE removes trail's own sql_drop
				 * trigger before it could fire; dropping a day is retention's
				 * job (PostgreSQL would refuse it too, less clearly).
				 */
				foreach(lc, stmt->objects)
				{
					if (stmt->removeType == OBJECT_SCHEMA &&
						strcmp(strVal(lfirst(lc)), "trail") == 0)
						refuse("DROP SCHEMA trail");
					if ((stmt->removeType == OBJECT_TABLE ||
						 stmt->removeType == OBJECT_INDEX) &&
						names_own_relation(makeRangeVarFromNameList(lfirst(lc))))
						refuse("DROP of trail's tables");
				}
			}
			break;
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *stmt = (AlterObjectSchemaStmt *) parsetree;

				/* event triggers would report the object in its new schema */
				if (stmt->relation ? names_own_relation(stmt->relation) :
					object_in_trail_schema(stmt->objectType, stmt->object))
					refuse("moving trail's objects to another schema");
			}
			break;
		case T_AlterOwnerStmt:
			if (((AlterOwnerStmt *) parsetree)->objectType == OBJECT_EVENT_TRIGGER &&
				is_own_event_trigger(strVal(((AlterOwnerStmt *) parsetree)->object)))
				refuse("changing the owner of trail's event triggers");
			break;
		default:
			break;
	}
}

void
trail_protect_object(const char *command_tag, const char *object_type,
					 const char *schema_name, const char *object_identity)
{
	const TrailCatalog *cat;
	bool		own;

	if (change_allowed())
		return;
	if (strcmp(command_tag, "GRANT") == 0 || strcmp(command_tag, "REVOKE") == 0 ||
		strcmp(command_tag, "COMMENT") == 0 ||
		strcmp(command_tag, "SECURITY LABEL") == 0 ||
		strcmp(command_tag, "DROP EXTENSION") == 0 ||
		strcmp(command_tag, "CREATE EXTENSION") == 0 ||
		strcmp(command_tag, "ALTER EXTENSION") == 0)
		return;

	cat = trail_catalog();
	if (cat == NULL)
		return;
	own = (schema_name != NULL && strcmp(schema_name, "trail") == 0) ||
		(object_type != NULL && strcmp(object_type, "schema") == 0 &&
		 object_identity != NULL && strcmp(object_identity, "trail") == 0);
	if (own)
		refuse(psprintf("%s on %s", command_tag,
						object_identity ? object_identity : "trail's objects"));
}

void
trail_protect_init(void)
{
	prev_ExecutorCheckPerms = ExecutorCheckPerms_hook;
	ExecutorCheckPerms_hook = trail_ExecutorCheckPerms;
}
