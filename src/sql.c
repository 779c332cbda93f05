/*-------------------------------------------------------------------------
 *
 * sql.c
 *	  Running trail's own SQL safely.
 *
 * trail runs SQL on its own behalf (writing events, maintaining partitions)
 * from inside other people's commands.  That SQL must not depend on who the
 * caller is or what they have defined:
 *
 *	- it runs as the owner of trail.events, so that an ordinary role's DDL
 *	  can be recorded without that role being able to write events itself;
 *	- search_path is pinned to pg_catalog, so that a caller's public.lower()
 *	  or a look-alike operator can never be picked up;
 *	- the security context is restricted, as for maintenance commands;
 *	- trail's internal flag is raised, which is what lets these writes past
 *	  the append-only protection (protect.c) and keeps the capture hook from
 *	  recording trail's own plumbing as if a user had done it;
 *	- a snapshot is pushed if none is active, as at ExecutorEnd of a portal,
 *	  where read events are recorded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/datum.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "sql.h"

static bool internal_active = false;

void
trail_sql_begin(TrailSqlScope *scope, Oid run_as)
{
	GetUserIdAndSecContext(&scope->save_userid, &scope->save_sec_context);
	scope->save_internal = internal_active;

	SetUserIdAndSecContext(run_as,
						   scope->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	scope->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	internal_active = true;

	scope->snapshot = NULL;
	if (!ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		scope->snapshot = GetActiveSnapshot();
	}
}

void
trail_sql_end(TrailSqlScope *scope)
{
	/* after an error, abort cleans up whatever the stack holds */
	if (scope->snapshot != NULL && ActiveSnapshotSet() &&
		GetActiveSnapshot() == scope->snapshot)
		PopActiveSnapshot();
	internal_active = scope->save_internal;
	AtEOXact_GUC(false, scope->save_nestlevel);
	SetUserIdAndSecContext(scope->save_userid, scope->save_sec_context);
}

bool
trail_sql_internal(void)
{
	return internal_active;
}

Datum
trail_sql_run(const char *sql, int nargs, Oid *types, Datum *values,
			  const char *nulls, MemoryContext result_cxt, bool *isnull)
{
	const TrailCatalog *cat = trail_catalog();
	TrailSqlScope scope;
	Datum		result = (Datum) 0;

	if (isnull)
		*isnull = true;
	trail_sql_begin(&scope, cat->owner);
	PG_TRY();
	{
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "trail: SPI_connect failed");
		rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
		if (rc < 0)
			elog(ERROR, "trail: statement failed (%s): %s",
				 SPI_result_code_string(rc), sql);
		if (result_cxt != NULL && SPI_tuptable != NULL && SPI_processed > 0)
		{
			Form_pg_attribute att = TupleDescAttr(SPI_tuptable->tupdesc, 0);
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, isnull);

			if (!*isnull)
			{
				MemoryContext oldcxt = MemoryContextSwitchTo(result_cxt);

				result = datumCopy(d, att->attbyval, att->attlen);
				MemoryContextSwitchTo(oldcxt);
			}
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		trail_sql_end(&scope);
	}
	PG_END_TRY();
	return result;
}
